# Node life (issue 5): a node leaving — kill -9, graceful :init.stop, SIGTERM, a network cut
# (SIGSTOP with a short net_ticktime) — is seen correctly everywhere: the :pg memberships of its
# processes go on every node and monitors of its processes fire with :noconnection; --connect
# peers are redialled with back-off after they restart or drop us. Every wait is bounded.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.NodeLifeTest do
  use ExUnit.Case
  import CnodeTest

  defp pg_peer(opts \\ []) do
    p = start_peer(opts)
    assert {:ok, _} = peer_call(p, :pg, :start, [:pg])
    p
  end

  defp link_up(%CnodeTest.Peer{} = p, node),
    do: assert(peer_call(p, :net_kernel, :connect_node, [node]) == true)

  defp probe(node), do: Node.spawn(node, :probe, :start, [self()])
  defp beam_proc(p), do: peer_eval(p, "spawn(fun() -> receive stop -> ok end end).")
  defp members_on(p, g), do: Enum.sort(peer_call(p, :pg, :get_members, [:pg, g]))
  defp members_c(node, g), do: Enum.sort(:erpc.call(node, :pg, :get_members, [:pg, g]))

  # A process on peer p that monitors pid and keeps the DOWN reason until asked (peer_down/2).
  # Asked rather than told: OTP 25's global may drop the runner's link to the peer while a node
  # leaves ("prevent overlapping partitions"), and a message in flight would be lost with it.
  defp peer_monitor(p, pid) do
    name = :"mon_#{System.unique_integer([:positive])}"

    :ok =
      peer_eval(
        p,
        "Me = self(), spawn(fun() -> register(Name, self()), R = erlang:monitor(process, Pid), " <>
          "Me ! {mon, R}, receive {'DOWN', R, process, _, Why} -> " <>
          "Answer = fun A() -> receive {get, From} -> From ! {down, Why}, A() end end, Answer() end end), " <>
          "receive {mon, _} -> ok after 5000 -> timeout end.",
        10_000,
        Pid: pid,
        Name: name
      )

    name
  end

  # The DOWN reason the peer's monitor got, waiting up to timeout ms for it.
  defp peer_down(p, name, timeout) do
    eventually(
      fn ->
        r = peer_eval(p, "case whereis(N) of undefined -> gone; W -> W ! {get, self()}, " <>
                           "receive {down, Why} -> Why after 2000 -> false end end.", 10_000, N: name)
        r != false && r
      end,
      timeout,
      what: "the peer's monitor to fire"
    )
  end

  test "kill -9 of a C node: its members vanish everywhere, monitors fire noconnection" do
    c1 = connect!(start_cnode())
    c2 = connect!(start_cnode(args: ["--connect", c1.node]))
    peers = for _ <- 1..3, do: pg_peer()
    for p <- peers, n <- [c1.node, c2.node], do: link_up(p, n)
    eventually(fn -> c2.node in :erpc.call(c1.node, :erlang, :nodes, []) end, 10_000, what: "c1-c2 link")

    doomed = for _ <- 1..3, do: probe(c2.node)
    survivor = probe(c1.node)
    for pid <- doomed, do: assert(GenServer.call(pid, {:pg_join, :pg, :life}) == :ok)
    assert GenServer.call(survivor, {:pg_join, :pg, :life}) == :ok
    all = Enum.sort([survivor | doomed])

    for p <- peers, do: eventually(fn -> members_on(p, :life) == all end, 10_000, what: "members on #{p.node}")
    eventually(fn -> members_c(c1.node, :life) == all end, 10_000, what: "c2's members on c1")

    # monitors of a doomed process: from this node, from a peer, and from a C process on c1
    d = hd(doomed)
    ref = Process.monitor(d)
    p1 = hd(peers)
    pm = peer_monitor(p1, d)
    cref = GenServer.call(survivor, {:monitor, d})

    # traffic into c2 from a peer while it dies: casts to its echo, calls to a doomed member
    peer_eval(
      p1,
      "F = fun L(0) -> ok; L(N) -> gen_server:cast({echo, C}, ping), " <>
        "catch gen_server:call(D, {monitor, self()}, 1000), L(N - 1) end, spawn(fun() -> F(100000) end), ok.",
      10_000,
      C: c2.node,
      D: List.last(doomed)
    )

    Process.sleep(200)
    :ok = :net_kernel.monitor_nodes(true)
    on_exit(fn -> :net_kernel.monitor_nodes(false) end)
    kill9(c2)
    c2n = c2.node
    assert_receive {:nodedown, ^c2n}, 15_000
    assert_receive {:DOWN, ^ref, :process, ^d, :noconnection}, 15_000
    assert peer_down(p1, pm, 15_000) == :noconnection
    assert_receive {:probe, ^survivor, {:DOWN, ^cref, :process, ^d, :noconnection}}, 15_000
    for p <- peers,
        do: eventually(fn -> members_on(p, :life) == [survivor] end, 15_000, what: "c2's members gone on #{p.node}")

    eventually(fn -> members_c(c1.node, :life) == [survivor] end, 15_000, what: "c2's members gone on c1")
  end

  test "kill -9 of a BEAM node mid-traffic: its members vanish on the C node" do
    c = connect!(start_cnode())
    p = pg_peer()
    link_up(p, c.node)
    watcher = probe(c.node)
    assert GenServer.call(watcher, {:monitor_nodes, true, :visible}) == :ok
    bps = for _ <- 1..3, do: beam_proc(p)
    for bp <- bps, do: assert(peer_call(p, :pg, :join, [:pg, :beam_life, bp]) == :ok)
    a = probe(c.node)
    assert GenServer.call(a, {:pg_join, :pg, :beam_life}) == :ok
    eventually(fn -> members_c(c.node, :beam_life) == Enum.sort([a | bps]) end, 10_000, what: "BEAM members on C")

    # traffic: the peer casts to the C node's echo while it dies
    peer_eval(
      p,
      "F = fun L(0) -> ok; L(N) -> gen_server:cast({echo, C}, ping), timer:sleep(1), L(N - 1) end, " <>
        "spawn(fun() -> F(100000) end), ok.",
      10_000,
      C: c.node
    )

    bp = hd(bps)
    cref = GenServer.call(a, {:monitor, bp})
    Process.sleep(200)
    kill9(p)
    pn = p.node
    assert_receive {:probe, ^a, {:DOWN, ^cref, :process, ^bp, :noconnection}}, 15_000
    assert_receive {:probe, ^watcher, {:nodedown, ^pn}}, 15_000
    eventually(fn -> members_c(c.node, :beam_life) == [a] end, 10_000, what: "the dead node's members gone on C")
    # the C node goes on serving
    assert echo(c, :still_here) == :still_here
  end

  test "graceful :init.stop of a BEAM node and SIGTERM of a C node" do
    c1 = connect!(start_cnode())
    c2 = connect!(start_cnode(args: ["--connect", c1.node]))
    p = pg_peer()
    q = pg_peer()
    for x <- [p, q], n <- [c1.node, c2.node], do: link_up(x, n)
    bp = beam_proc(p)
    assert peer_call(p, :pg, :join, [:pg, :grace, bp]) == :ok
    a = probe(c1.node)
    b = probe(c2.node)
    assert GenServer.call(a, {:pg_join, :pg, :grace}) == :ok
    assert GenServer.call(b, {:pg_join, :pg, :grace}) == :ok
    all = Enum.sort([a, b, bp])
    eventually(fn -> members_c(c1.node, :grace) == all and members_on(q, :grace) == all end, 10_000,
      what: "everyone's members everywhere")

    # :init.stop on the BEAM peer: its member goes on the C node
    cref = GenServer.call(a, {:monitor, bp})
    :ok = peer_call(p, :init, :stop, [])
    assert_receive {:probe, ^a, {:DOWN, ^cref, :process, ^bp, why}}, 15_000
    assert why in [:noconnection, :shutdown, :killed]
    eventually(fn -> members_c(c1.node, :grace) == Enum.sort([a, b]) end, 15_000, what: "the stopped node's member gone")

    # SIGTERM on c2: its member goes on the BEAM peer and on this node
    ref = Process.monitor(b)
    sigterm(c2)
    assert_receive {:DOWN, ^ref, :process, ^b, why}, 15_000
    assert why in [:noconnection, :shutdown]
    assert wait_exit(c2, 10_000) == 0
    eventually(fn -> members_on(q, :grace) == [a] end, 15_000, what: "the terminated C node's member gone")
    eventually(fn -> Enum.sort(:erpc.call(c1.node, :pg, :get_members, [:grace])) == [a] end, 15_000)
  end

  test "a network cut (SIGSTOP, short net_ticktime) drops the C node's members; they return after" do
    c = connect!(start_cnode(args: ["--net-ticktime", "4"]))
    p = pg_peer(net_ticktime: 4)
    link_up(p, c.node)
    a = probe(c.node)
    assert GenServer.call(a, {:pg_join, :pg, :cut}) == :ok
    eventually(fn -> members_on(p, :cut) == [a] end, 10_000, what: "the member before the cut")
    pm = peer_monitor(p, a)

    sigstop(c)
    on_exit(fn -> sigcont(c) end)
    # ticktime 4 s: the peer gives up on the connection within about 5 s
    assert peer_down(p, pm, 20_000) == :noconnection
    eventually(fn -> members_on(p, :cut) == [] end, 5_000, what: "the cut node's members gone")
    refute c.node in peer_call(p, :erlang, :nodes, [])
    sigcont(c)

    # back: reconnected, the scopes sync again and the member is visible once more
    eventually(fn -> peer_call(p, :net_kernel, :connect_node, [c.node]) == true end, 20_000, what: "reconnect")
    eventually(fn -> members_on(p, :cut) == [a] end, 15_000, what: "the member after the cut")
  end

  test "--connect peers are redialled with back-off: after disconnect_node and after a restart" do
    name = unique_name("rp")
    p = pg_peer(name: name)
    c = start_cnode(args: ["--connect", p.node, "--reconnect-max-ms", "1000"])
    eventually(fn -> c.node in peer_call(p, :erlang, :nodes, []) end, 10_000, what: "the first connection")
    bp = beam_proc(p)
    assert peer_call(p, :pg, :join, [:pg, :redial, bp]) == :ok
    connect!(c)
    eventually(fn -> members_c(c.node, :redial) == [bp] end, 10_000, what: "the member over the --connect link")

    # the peer drops us: we dial again (and the scopes resync); a C process sees both events
    watcher = probe(c.node)
    assert GenServer.call(watcher, {:monitor_nodes, true, :visible}) == :ok
    pn = p.node
    assert peer_call(p, :erlang, :disconnect_node, [c.node]) == true
    assert_receive {:probe, ^watcher, {:nodedown, ^pn}}, 10_000
    assert_receive {:probe, ^watcher, {:nodeup, ^pn}}, 10_000
    eventually(fn -> c.node in peer_call(p, :erlang, :nodes, []) end, 10_000, what: "redialled after disconnect_node")
    eventually(fn -> members_c(c.node, :redial) == [bp] end, 10_000, what: "the member after the redial")

    # the peer restarts under the same name: found again once it is back
    stop_peer(p)
    eventually(fn -> members_c(c.node, :redial) == [] end, 10_000, what: "members gone with the peer")
    Process.sleep(1500)
    p2 = pg_peer(name: name)
    eventually(fn -> c.node in peer_call(p2, :erlang, :nodes, []) end, 15_000, what: "redialled after the restart")
    wait_log(c, "reconnect: #{p2.node} is back", 5_000)
    assert os_alive?(c.os_pid)
  end

  # ---- epmd restart ----------------------------------------------------------------------

  test "an epmd restart is survived: old links stay, a node started later finds the C node" do
    port = free_port()
    epmd = start_epmd(port)
    c = start_cnode(args: ["--epmd-port", "#{port}"])
    # peers on that epmd only, reached through their stdio (this runner uses another epmd)
    on_epmd = [{"ERL_EPMD_PORT", "#{port}"}]
    p1 = pg_peer(connection: :standard_io, env: on_epmd)
    link_up(p1, c.node)
    a = peer_call(p1, :erlang, :spawn, [c.node, :probe, :start, [[]]])
    assert peer_call(p1, :erpc, :call, [c.node, :pg, :join, [:pg, :epmd_grp, a]]) == :ok
    eventually(fn -> members_on(p1, :epmd_grp) == [a] end, 10_000, what: "the member before the restart")

    kill_epmd(port, epmd)
    wait_log(c, "re-registering", 5000)
    start_epmd(port)
    wait_log(c, "registered with epmd again", 10_000)

    assert c.node in peer_call(p1, :erlang, :nodes, [])
    p2 = pg_peer(connection: :standard_io, env: on_epmd)
    link_up(p2, c.node)
    eventually(fn -> members_on(p2, :epmd_grp) == [a] end, 10_000, what: "the member seen by a node started later")
  end
end
