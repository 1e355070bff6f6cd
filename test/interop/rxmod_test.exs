# Receive moderation (README "Performance", `--rx-coalesce-us`): while a BEAM node streams
# messages to the cnode, the cnode reads that connection once per nap instead of on every
# arrival. What a user sees must not change: every cast arrives, in order with what the same
# process sends next, calls in the middle of a stream are answered, a caller making one call
# at a time almost never waits for a nap while 64 callers are read many calls at a time, and
# a connection closed during a nap is cleaned up.
# cnode:info/0 counts each connection's reads and those that came after a nap.
CnodeTest.watchdog(200, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.RxmodTest do
  use ExUnit.Case
  import CnodeTest

  setup ctx do
    c = start_cnode(ctx[:cnode] || [])
    %{c: connect!(c)}
  end

  defp conn_stats(c) do
    info = :erpc.call(c.node, :cnode, :info, [], 10_000)
    [conn] = Enum.filter(info.connections, &(&1.node == node()))
    conn
  end

  defp count(c), do: GenServer.call({:echo, c.node}, :count, 30_000)

  # n senders each cast k times to echo, then each calls :count: a call queued behind its own
  # casts, so its answer counts at least those (the order of one sender's messages).
  defp stream(c, n, k) do
    base = count(c)

    1..n
    |> Enum.map(fn _ ->
      Task.async(fn ->
        for _ <- 1..k, do: GenServer.cast({:echo, c.node}, {:c, 1})
        GenServer.call({:echo, c.node}, :count, 30_000)
      end)
    end)
    |> Enum.map(&Task.await(&1, 60_000))
    |> Enum.each(fn seen -> assert seen - base >= k end)

    # every cast arrived, none twice
    assert count(c) - base == n * k
  end

  test "a stream of casts is read in naps, and every cast arrives in order", %{c: c} do
    before = conn_stats(c)
    assert before.longest_nap_us == 0
    stream(c, 4, 50_000)
    later = conn_stats(c)
    assert later.coalesced_reads > before.coalesced_reads
    # fewer reads than messages: the point of it
    assert later.reads - before.reads < 200_000 / 4
    # the senders do not wait for us: the naps grew past the first one (150 us)
    assert later.longest_nap_us > 150
  end

  test "one call at a time rarely waits for a nap: a try that does not pay backs off", %{c: c} do
    before = conn_stats(c)
    t0 = System.monotonic_time(:millisecond)
    for i <- 1..3_000, do: assert(GenServer.call({:echo, c.node}, {:n, i}) == {:n, i})
    elapsed = System.monotonic_time(:millisecond) - t0
    later = conn_stats(c)
    # tries after 1, 2, 4 ... 64 ms, then one every 100 ms at most; each ends at its first
    # nap, which brings one request
    assert later.coalesced_reads - before.coalesced_reads <= 8 + div(elapsed, 100) + 1
    assert later.reads - before.reads >= 3_000
  end

  test "64 callers calling back to back: their calls are read many at a time", %{c: c} do
    before = conn_stats(c)
    stop = System.monotonic_time(:millisecond) + 1_500
    me = self()

    callers =
      for k <- 1..64 do
        spawn_link(fn ->
          n = call_until(c, k, stop, 0)
          send(me, {:calls, n})
        end)
      end

    calls = Enum.sum(for _ <- callers, do: receive(do: ({:calls, n} -> n)))
    later = conn_stats(c)
    reads = later.reads - before.reads
    # read on arrival, each read brings about one call, or less (monitors and demonitors
    # come apart); in naps, several
    assert later.coalesced_reads - before.coalesced_reads > 0
    assert calls > 2 * reads,
           "#{calls} calls in #{reads} reads, #{later.coalesced_reads - before.coalesced_reads} after a nap"
  end

  defp call_until(c, k, stop, n) do
    if System.monotonic_time(:millisecond) >= stop do
      n
    else
      assert GenServer.call({:echo, c.node}, {k, n}, 30_000) == {k, n}
      call_until(c, k, stop, n + 1)
    end
  end

  test "calls made while another process streams are answered", %{c: c} do
    streamer = Task.async(fn -> stream(c, 2, 100_000) end)

    answers =
      for i <- 1..200 do
        GenServer.call({:echo, c.node}, {:mid, i}, 30_000)
      end

    assert answers == for(i <- 1..200, do: {:mid, i})
    Task.await(streamer, 90_000)
  end

  test "a connection dropped during a stream: the cnode stays up and takes the next one", %{c: c} do
    for _ <- 1..3 do
      sender = spawn(fn -> for _ <- 1..1_000_000, do: GenServer.cast({:echo, c.node}, {:c, 1}) end)
      Process.sleep(100)
      # the stream still in flight, most likely mid-nap: the nap's end must not touch the
      # closed connection (a sender left running would only dial again)
      Process.exit(sender, :kill)
      assert :erlang.disconnect_node(c.node)
      assert Node.connect(c.node)
      assert is_integer(count(c))
    end

    assert exit_status(c) == nil
  end

  @tag cnode: [args: ["--rx-coalesce-us", "0"]]
  test "--rx-coalesce-us 0: every read on arrival, and the same delivery", %{c: c} do
    before = conn_stats(c)
    stream(c, 4, 20_000)
    later = conn_stats(c)
    assert later.coalesced_reads == before.coalesced_reads
    assert later.reads > before.reads
    assert later.longest_nap_us == 0
  end

  test "a bad --rx-coalesce-us is a usage error (status 2)" do
    for v <- ["-1", "abc", "100001", ""] do
      c = start_cnode(args: ["--rx-coalesce-us", v], wait: false, fail_fast: false)
      status = wait_exit(c)
      wait_log(c, ~r/^cnoded: .*--rx-coalesce-us/, 2_000)

      unless status == 1 and log_lines(c, "LeakSanitizer has encountered a fatal error") != [],
        do: assert(status == 2, "exit status #{inspect(status)} for #{inspect(v)}")
    end
  end
end
