# Net ticks: an idle connection stays up; a peer that goes silent is dropped ("tick timeout").
CnodeTest.watchdog(150, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.TickTest do
  use ExUnit.Case
  import CnodeTest

  @ticktime 4

  # A cnode and a BEAM peer, both with net_ticktime 4, connected to each other. The peer talks to
  # us through stdio (not distribution), and we never connect to the cnode: only these two nodes
  # and their ticks are involved.
  setup do
    c = start_cnode(args: ["--net-ticktime", "#{@ticktime}"])
    p = start_peer(net_ticktime: @ticktime, connection: :standard_io)
    %{c: c, p: p}
  end

  test "an idle connection stays up for three tick times on both sides", %{c: c, p: p} do
    # a process on the peer that records every nodeup/nodedown it is told about
    :ok =
      peer_eval(p, """
      Mon = spawn(fun() ->
                ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
                Loop = fun L(Acc) ->
                           receive
                               {get, From} -> From ! {events, lists:reverse(Acc)}, L(Acc);
                               Ev -> L([Ev | Acc])
                           end
                       end,
                Loop([])
            end),
      true = register(cnode_test_monitor, Mon),
      ok.
      """)

    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    wait_log(c, "connection up: #{p.node}")

    Process.sleep(3 * @ticktime * 1_000)

    # checked before anything else is sent, so that a reconnect cannot hide a drop
    assert c.node in peer_call(p, :erlang, :nodes, [])

    events =
      peer_eval(p, """
      cnode_test_monitor ! {get, self()},
      receive {events, E} -> E after 5000 -> no_answer end.
      """)

    assert events == [{:nodeup, c.node, []}], "the peer saw: #{inspect(events)}"
    refute_log(c, "connection down: #{p.node}")
    assert length(log_lines(c, "connection up: #{p.node}")) == 1
    assert peer_call(p, :net_adm, :ping, [c.node]) == :pong
  end

  test "a peer that stops responding (SIGSTOP) is dropped with a tick timeout", %{c: c, p: p} do
    assert peer_call(p, :net_adm, :ping, [c.node]) == :pong
    wait_log(c, "connection up: #{p.node}")

    mark = log_mark(c)
    t0 = System.monotonic_time(:millisecond)
    :ok = sigstop(p)

    line =
      try do
        wait_log(c, "connection down: #{p.node}", 15_000, after: mark)
      after
        sigcont(p)
      end

    took = System.monotonic_time(:millisecond) - t0
    assert line =~ "tick timeout", "expected a tick timeout, got: #{line}"
    IO.puts("    dropped after #{took} ms (net_ticktime #{@ticktime} s)")

    # once the peer runs again, it can reconnect
    eventually(fn -> peer_call(p, :net_adm, :ping, [c.node]) == :pong end, 15_000,
      what: "the resumed peer to ping the cnode"
    )
  end
end
