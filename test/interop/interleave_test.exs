# Fairness on a connection (README "Architecture": trains): while a C process sends one large
# message to a node, the frames of other processes get in between its fragments, as on the
# BEAM, instead of waiting for all of it. What a user notices: a BEAM process calling the
# cnode's echo server keeps getting quick answers during the transfer. Each process's own
# messages and signals still arrive whole and in the order it sent them.
CnodeTest.watchdog(300, __ENV__.file)
ExUnit.start(trace: true, timeout: 180_000)

defmodule Interop.InterleaveTest do
  use ExUnit.Case
  import CnodeTest

  @mib 1024 * 1024
  @big 256 * @mib

  setup do
    %{c: connect!(start_cnode())}
  end

  defp now, do: System.monotonic_time(:millisecond)

  # A process here that reports every message it gets, in arrival order, with its arrival
  # time; large flood binaries are reported by size and whether they are intact (all zero).
  defp start_sink(report) do
    spawn_link(fn ->
      Process.flag(:trap_exit, true)
      sink_loop(report)
    end)
  end

  defp sink_loop(report) do
    receive do
      {:flood, i, bin} ->
        t = now()
        intact = bin == :binary.copy(<<0>>, byte_size(bin))
        send(report, {:sink, self(), {:flood, i, byte_size(bin), intact}, t})

      other ->
        send(report, {:sink, self(), other, now()})
    end

    sink_loop(report)
  end

  defp probe(c), do: Node.spawn(c.node, :probe, :start, [self()])

  # Calls {:echo, node} in a loop, keeping {start, end} of each, until told to stop.
  defp echo_loop(node, acc) do
    receive do
      {:stop, to} -> send(to, {:calls, Enum.reverse(acc)})
    after
      0 ->
        t = now()
        {:n, _} = GenServer.call({:echo, node}, {:n, t}, 120_000)
        Process.sleep(1)
        echo_loop(node, [{t, now()} | acc])
    end
  end

  # The time the bytes read from node's connection first pass base + 1 MiB: when the large
  # message is on the wire (its encoding on the cnode comes before).
  defp wire_watch(port, base, report) do
    {:input, n} = :erlang.port_info(port, :input)

    if n - base > @mib do
      send(report, {:wire, now()})
    else
      Process.sleep(1)
      wire_watch(port, base, report)
    end
  end

  test "echo calls are answered quickly while a large message goes out", %{c: c} do
    sink = start_sink(self())
    p = probe(c)
    assert GenServer.call(p, {:send, sink, :hello}) == :ok
    assert_receive {:sink, ^sink, :hello, _}, 5_000

    me = self()
    caller = spawn_link(fn -> echo_loop(c.node, []) end)
    Process.sleep(300)

    {_, port} = List.keyfind(:erlang.system_info(:dist_ctrl), c.node, 0)
    {:input, base} = :erlang.port_info(port, :input)
    spawn_link(fn -> wire_watch(port, base, me) end)
    # the probe gets the message first (its flood stops at 64 MiB), then sends it back here
    big = {:flood, 1, :binary.copy(<<0>>, @big)}
    t0 = now()
    flood = Task.async(fn -> GenServer.call(p, {:send, sink, big}, 120_000) end)
    assert_receive {:sink, ^sink, {:flood, 1, @big, true}, t1}, 120_000
    send(caller, {:stop, me})
    assert_receive {:calls, calls}, 130_000
    assert_receive {:wire, tw}, 5_000
    assert Task.await(flood, 60_000) == :ok

    # The transfer on the wire: from its first MiB read to the message's arrival. A call in
    # progress when it arrives also waits for this node to decode 64 MiB: not counted.
    transfer = t1 - tw
    on_wire = Enum.filter(calls, fn {s, e} -> s >= tw and e < t1 end)
    answered = Enum.filter(calls, fn {_s, e} -> e > tw and e < t1 end)
    slowest = answered |> Enum.map(fn {s, e} -> e - s end) |> Enum.max(fn -> 0 end)

    IO.puts(
      "    #{div(@big, @mib)} MiB: #{t1 - t0} ms from the call, #{transfer} ms on the wire; " <>
        "#{length(on_wire)} echo calls made and answered meanwhile, slowest answered #{slowest} ms"
    )

    assert length(on_wire) >= 5,
           "#{length(on_wire)} echo calls answered while the large message was on the wire " <>
             "(#{transfer} ms)"

    assert slowest * 3 < transfer,
           "an echo call took #{slowest} ms during a #{transfer} ms transfer"
  end

  test "one process's big and small messages and its exit signal arrive in order", %{c: c} do
    sink = start_sink(self())
    p = probe(c)
    assert GenServer.call(p, {:link, sink}) == :ok
    assert GenServer.call(p, {:flood, sink, 1, 40 * @mib}, 60_000) == :ok
    assert GenServer.call(p, {:send, sink, :small1}) == :ok
    assert GenServer.call(p, {:flood, sink, 1, 24 * @mib}, 60_000) == :ok
    assert GenServer.call(p, {:send, sink, :small2}) == :ok
    assert GenServer.call(p, {:stop, :bye}, 60_000) == :ok

    got =
      for _ <- 1..5 do
        assert_receive {:sink, ^sink, m, _}, 60_000
        m
      end

    assert got == [
             {:flood, 1, 40 * @mib, true},
             :small1,
             {:flood, 1, 24 * @mib, true},
             :small2,
             {:EXIT, p, :bye}
           ]
  end

  test "two processes sending large messages at once: both arrive intact", %{c: c} do
    s1 = start_sink(self())
    s2 = start_sink(self())
    p1 = probe(c)
    p2 = probe(c)

    tasks =
      for {p, s, n} <- [{p1, s1, 48}, {p2, s2, 32}] do
        Task.async(fn -> GenServer.call(p, {:flood, s, 2, n * @mib}, 120_000) end)
      end

    assert Task.await_many(tasks, 120_000) == [:ok, :ok]

    for {s, n} <- [{s1, 48}, {s2, 32}], i <- 1..2 do
      assert_receive {:sink, ^s, {:flood, ^i, size, intact}, _}, 60_000
      assert {size, intact} == {n * @mib, true}
    end

    # the connection still works for small messages afterwards
    assert echo(c, :after) == :after
  end

  test "a peer that goes away while a large message waits for it: the sender is released", %{c: c} do
    p = start_peer(prefix: "gone")
    sink = peer_eval(p, "spawn(fun() -> receive stop -> ok end end).")
    pr = probe(c)
    assert GenServer.call(pr, {:send, sink, :hello}) == :ok
    assert sigstop(p) == :ok

    try do
      # the first goes out as a train the stopped peer never reads; the second waits in it,
      # counted, so the probe waits too
      assert GenServer.call(pr, {:flood, sink, 1, 48 * @mib}, 60_000) == :ok
      held = Task.async(fn -> GenServer.call(pr, {:flood, sink, 1, 32 * @mib}, 60_000) end)
      Process.sleep(1_000)
      assert Task.yield(held, 0) == nil, "the probe did not wait behind its own large message"
      assert kill9(p) == :ok
      assert Task.await(held, 30_000) == :ok
    after
      sigcont(p)
    end

    assert GenServer.call(pr, {:send, self(), :after}) == :ok
    assert_receive :after, 5_000
    assert echo(c, :still_here) == :still_here
  end

  # ---- the same over TLS (the write queue is shared; only the transport differs) ----------------

  @certs_script Path.expand("../../scripts/gen-test-certs.sh", __DIR__)

  defp certs do
    case System.get_env("CNODE_TLS_CERTS") do
      d when d not in [nil, ""] ->
        d

      _ ->
        d = Path.join(System.get_env("CNODE_TEST_TMP") || System.tmp_dir!(), "certs")
        {out, rc} = System.cmd("bash", [@certs_script, d], stderr_to_stdout: true)
        if rc != 0, do: flunk("#{@certs_script} failed (#{rc}):\n#{out}")
        d
    end
  end

  # The BEAM side runs in a TLS peer (this runner is plain TCP): a sink, a process calling
  # echo in a loop, and the flood call; it returns the times.
  @tls_scenario """
  Self = self(),
  Probe = spawn(CNode, probe, start, [Self]),
  Sink = spawn(fun() ->
                   receive {flood, 1, Bin} ->
                       T = erlang:monotonic_time(millisecond),
                       Self ! {arrived, T, byte_size(Bin), Bin =:= binary:copy(<<0>>, byte_size(Bin))}
                   end
               end),
  ok = gen_server:call(Probe, {send, Sink, hello}, 20000),
  Now = fun() -> erlang:monotonic_time(millisecond) end,
  Loop = fun L(Acc) ->
             receive {stop, To} -> To ! {calls, lists:reverse(Acc)}
             after 0 ->
                 T = Now(),
                 {n, _} = gen_server:call({echo, CNode}, {n, T}, 120000),
                 timer:sleep(1),
                 L([{T, Now()} | Acc])
             end
         end,
  Caller = spawn(fun() -> Loop([]) end),
  timer:sleep(300),
  T0 = Now(),
  ok = gen_server:call(Probe, {flood, Sink, 1, Size}, 120000),
  Arrived = receive {arrived, T1, Got, Intact} -> {T1, Got, Intact} after 120000 -> timeout end,
  Caller ! {stop, Self},
  receive {calls, Calls} -> {T0, Arrived, Calls} after 130000 -> timeout end.
  """

  test "over TLS too, echo calls are answered while a large message goes out", %{c: c0} do
    stop_cnode(c0)
    dir = certs()
    f = fn name -> String.to_charlist(Path.join(dir, name)) end
    side = [certfile: f.("node.pem"), keyfile: f.("node.key"), cacertfile: f.("ca.pem"),
            verify: :verify_peer]
    opt = Path.join(System.get_env("CNODE_TEST_TMP") || System.tmp_dir!(), "#{unique_name("opt")}.conf")
    File.write!(opt, :io_lib.format(~c"~p.~n", [[server: side, client: side]]))

    c =
      start_cnode(
        args: ["--proto-dist", "inet_tls", "--tls-certfile", Path.join(dir, "node.pem"),
               "--tls-keyfile", Path.join(dir, "node.key"), "--tls-cacertfile", Path.join(dir, "ca.pem")]
      )

    p = start_peer(connection: :standard_io, args: ["-proto_dist", "inet_tls", "-ssl_dist_optfile", opt])
    size = 64 * @mib
    {t0, {t1, got, intact}, calls} =
      peer_eval(p, @tls_scenario, 200_000, [{:CNode, c.node}, {:Size, size}])

    assert {got, intact} == {size, true}
    transfer = t1 - t0
    # the second half of the transfer is on the wire whatever the encoding took before it
    late = Enum.filter(calls, fn {s, e} -> s >= t0 + div(transfer, 2) and e < t1 end)
    slowest = calls |> Enum.filter(fn {_s, e} -> e > t0 and e < t1 end)
              |> Enum.map(fn {s, e} -> e - s end) |> Enum.max(fn -> 0 end)

    IO.puts(
      "    TLS, #{div(size, @mib)} MiB in #{transfer} ms; #{length(late)} echo calls made and " <>
        "answered in its second half, slowest answered #{slowest} ms"
    )

    assert length(late) >= 2,
           "#{length(late)} echo calls answered in the second half of a #{transfer} ms transfer"

    assert slowest * 3 < transfer
  end
end
