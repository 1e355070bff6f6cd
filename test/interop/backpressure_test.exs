# Back-pressure (README "Architecture": busy connections): a C process that sends to a node
# faster than that node reads waits, as a BEAM process does on a busy distribution port,
# instead of queueing without bound in the cnode. The peer here is a BEAM node stopped with
# SIGSTOP: it reads nothing until SIGCONT. While it is stopped the flooding C process stays
# blocked, the cnode's memory stays bounded and its other processes keep answering; once the
# peer runs again every message arrives, in order.
CnodeTest.watchdog(200, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.BackpressureTest do
  use ExUnit.Case
  import CnodeTest

  @count 400
  @size 256 * 1024

  setup do
    c = start_cnode() |> connect!()
    p = start_peer(prefix: "slow")
    %{c: c, p: p}
  end

  # cnoded's resident memory in KiB, as its erlang:memory(total) reports it (the peak where
  # /proc is missing, as in the OTP 27 root: growth is then bounded all the more)
  defp rss_kb(c), do: div(:erpc.call(c.node, :erlang, :memory, [:total], 10_000), 1024)

  # A process on the peer that counts {flood, I, Bin} messages, checking they come in order.
  defp start_sink(p) do
    peer_eval(p, """
    spawn(fun() ->
              Loop = fun L(N, Bytes) ->
                         receive
                             {flood, I, Bin} when I =:= N + 1 -> L(I, Bytes + byte_size(Bin));
                             {flood, I, _} -> exit({out_of_order, I, N});
                             {count, From} -> From ! {count, N, Bytes}, L(N, Bytes)
                         end
                     end,
              Loop(0, 0)
          end).
    """)
  end

  # A sink on the peer and a probe on the cnode, the probe already connected to the peer
  # (before the peer is stopped).
  defp sink_and_probe(c, p) do
    sink = start_sink(p)
    probe = Node.spawn(c.node, :probe, :start, [self()])
    assert GenServer.call(probe, {:send, sink, {:count, self()}}) == :ok
    assert_receive {:count, 0, 0}, 5_000
    {sink, probe}
  end

  defp sink_count(p, sink) do
    peer_eval(p, "Sink ! {count, self()}, receive {count, N, B} -> {N, B} after 5000 -> timeout end.",
      10_000, [{:Sink, sink}])
  end

  test "a C process flooding a stopped node waits; the cnode's memory stays bounded", %{c: c, p: p} do
    {sink, probe} = sink_and_probe(c, p)

    rss0 = rss_kb(c)
    assert sigstop(p) == :ok

    try do
      flood = Task.async(fn -> GenServer.call(probe, {:flood, sink, @count, @size}, 60_000) end)
      Process.sleep(2_000)

      # 100 MiB to send: without back-pressure all of it would sit in the cnode by now
      grown = rss_kb(c) - rss0
      assert grown < 32 * 1024, "cnoded grew by #{grown} KiB while the peer read nothing"
      assert Task.yield(flood, 0) == nil, "the flood finished although the peer reads nothing"

      # the node is not stalled: other processes answer
      assert GenServer.call({:echo, c.node}, {:still, :here}, 5_000) == {:still, :here}

      assert sigcont(p) == :ok
      assert Task.await(flood, 60_000) == :ok
      eventually(fn -> sink_count(p, sink) == {@count, @count * @size} end, 30_000,
        what: "all #{@count} messages to arrive at the peer")
    after
      sigcont(p)
    end
  end

  test "a sender waiting on a busy connection can still be killed", %{c: c, p: p} do
    {sink, probe} = sink_and_probe(c, p)
    ref = Process.monitor(probe)

    assert sigstop(p) == :ok

    try do
      spawn(fn -> catch_exit(GenServer.call(probe, {:flood, sink, @count, @size}, 60_000)) end)
      Process.sleep(1_000)
      refute_received {:DOWN, ^ref, _, _, _}
      # the peer still reads nothing: the kill must not wait for it
      Process.exit(probe, :kill)
      assert_receive {:DOWN, ^ref, :process, ^probe, :killed}, 5_000
      assert GenServer.call({:echo, c.node}, :ping, 5_000) == :ping
    after
      sigcont(p)
    end

    # what it sent before the kill arrives, in order, and nothing after a gap
    eventually(fn ->
      {n, _} = sink_count(p, sink)
      n > 0 and n < @count
    end, 30_000, what: "the messages sent before the kill to arrive")
  end

  test "a sender waiting on a node that goes away is released", %{c: c, p: p} do
    {sink, probe} = sink_and_probe(c, p)

    assert sigstop(p) == :ok
    flood = Task.async(fn -> GenServer.call(probe, {:flood, sink, @count, @size}, 60_000) end)
    Process.sleep(1_000)
    assert Task.yield(flood, 0) == nil
    # the peer dies: its connection closes, what was queued is dropped, the sender goes on
    assert kill9(p) == :ok
    assert Task.await(flood, 30_000) == :ok
    assert GenServer.call(probe, {:send, self(), :after}) == :ok
    assert_receive :after, 5_000
  end
end
