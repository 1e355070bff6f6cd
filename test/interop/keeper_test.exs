# The keeper (cnode/services/keeper.c): cnoded's named system processes come back under the
# same name when they exit while the node runs, as kernel_safe_sup brings pg back on a BEAM
# node (where rex, global_name_server and net_kernel take the whole node down instead). Each
# test kills a process from the BEAM side and checks that the name is registered again, to a
# new pid, and works; past the restart intensity (4 restarts of a name within 3600 s, as
# kernel_safe_sup) a name stays down with an error in the log; shutdown restarts nothing.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 90_000)

defmodule Interop.KeeperTest do
  use ExUnit.Case
  import CnodeTest

  defp whereis(c, name), do: :erpc.call(c.node, :erlang, :whereis, [name], 5_000)

  # Kill the process registered as name; wait until another pid holds the name and the restart
  # is logged (the line may come after the name is back). Returns the new pid.
  defp kill_and_wait(c, name) do
    mark = log_mark(c)
    old = whereis(c, name)
    assert is_pid(old), "#{name} is not registered on #{c.node}"
    ref = Process.monitor(old)
    Process.exit(old, :kill)
    assert_receive {:DOWN, ^ref, :process, ^old, reason}, 5_000
    assert reason in [:killed, :noproc]

    eventually(
      fn ->
        case whereis(c, name) do
          p when is_pid(p) and p != old -> p
          _ -> nil
        end
      end,
      10_000,
      what: "#{name} registered again to a new pid"
    )
    |> tap(fn _ -> wait_log(c, "keeper: *** started a fresh #{name} ", 5_000, after: mark) end)
  end

  test "echo comes back after a kill and answers the health check" do
    c = connect!(start_cnode())
    assert GenServer.call({:echo, c.node}, :before) == :before
    new = kill_and_wait(c, :echo)
    assert GenServer.call({:echo, c.node}, {:hi, [1, 2]}, 5_000) == {:hi, [1, 2]}
    assert GenServer.call({:echo, c.node}, :count, 5_000) == 0, "a fresh echo starts at count 0"
    wait_log(c, ~r/keeper: \*\*\* echo <[\d.]+> exited \(killed\)/, 5_000)
    wait_log(c, "keeper: *** started a fresh echo", 5_000)
    assert node(new) == c.node
  end

  test "echo killed through a link to a crashing BEAM process comes back" do
    c = connect!(start_cnode())
    echo = whereis(c, :echo)
    ref = Process.monitor(echo)

    {pid, mref} =
      spawn_monitor(fn ->
        Process.link(echo)
        exit(:crash)
      end)

    assert_receive {:DOWN, ^mref, :process, ^pid, :crash}, 5_000
    assert_receive {:DOWN, ^ref, :process, ^echo, :crash}, 5_000

    eventually(fn -> GenServer.call({:echo, c.node}, :back, 2_000) == :back end, 10_000,
      what: "echo answering again"
    )
  end

  test "rex comes back: rpc:block_call, rex calls and erpc work" do
    c = connect!(start_cnode())
    kill_and_wait(c, :rex)
    assert :rpc.block_call(c.node, :demo, :add, [1, 2], 5_000) == 3
    assert GenServer.call({:rex, c.node}, {:call, :demo, :add, [2, 3], :user}, 5_000) == 5
    assert :erpc.call(c.node, :demo, :add, [3, 4], 5_000) == 7
    assert :rpc.call(c.node, :demo, :add, [4, 5], 5_000) == 9
  end

  test "net_kernel comes back: ping gives :pong on a new connection, connections stay up" do
    c = connect!(start_cnode())
    :erlang.monitor_node(c.node, true)
    kill_and_wait(c, :net_kernel)
    # the connections do not belong to the net_kernel process in cnoded: they stay up
    refute_receive {:nodedown, _}, 500
    assert ping(c.node) == :pong
    :erlang.monitor_node(c.node, false)
    Node.disconnect(c.node)
    eventually(fn -> c.node not in Node.list() end, 5_000, what: "disconnected")
    eventually(fn -> ping(c.node) == :pong end, 10_000, what: "ping answered again")
    assert GenServer.call({:net_kernel, c.node}, {:is_auth, node()}, 5_000) == :yes
  end

  test "past 4 restarts of a name within the hour it stays down, with an error; other names still come back" do
    c = connect!(start_cnode())
    for _ <- 1..4, do: kill_and_wait(c, :echo)
    mark = log_mark(c)
    echo = whereis(c, :echo)
    Process.exit(echo, :kill)
    wait_log(c, "keeper: echo exited more than 4 times within 3600 s: not restarted again", 10_000,
      after: mark
    )
    Process.sleep(500)
    assert whereis(c, :echo) == :undefined
    refute_log(c, "started a fresh echo", after: mark)
    # the limit is per name
    kill_and_wait(c, :rex)
    assert :rpc.block_call(c.node, :demo, :add, [1, 2], 5_000) == 3
  end

  test "cnode_sup is never given up on: past 3 restarts in 5 s the next start waits a second" do
    c = connect!(start_cnode())
    # three restarts in a row (well within 5 s even on a loaded machine)
    for _ <- 1..3, do: kill_and_wait(c, :cnode_sup)
    mark = log_mark(c)
    old = whereis(c, :cnode_sup)
    Process.exit(old, :kill)
    wait_log(c, "keeper: cnode_sup exits too often; next start in 1000 ms", 5_000, after: mark)
    new =
      eventually(fn -> match?(p when is_pid(p) and p != old, whereis(c, :cnode_sup)) && whereis(c, :cnode_sup) end,
        15_000, what: "cnode_sup back after the pause")
    wait_log(c, "started a fresh cnode_sup", 5_000, after: mark)
    assert {:ok, kv} = DynamicSupervisor.start_child({:cnode_sup, c.node}, %{id: :kv, start: {:kv, :start_link, [:a]}})
    assert node(kv) == c.node and node(new) == c.node
  end

  # ---- :pg ---------------------------------------------------------------------------------

  defp pg_peer(scopes) do
    p = start_peer()
    for s <- scopes, do: assert({:ok, _} = peer_call(p, :pg, :start, [s]))
    p
  end

  defp sorted(l), do: Enum.sort(l)

  test "a pg scope comes back empty and resyncs with its peers; --pg-scope scopes too" do
    c = connect!(start_cnode(args: ["--pg-scope", "extra"]))
    p = pg_peer([:pg, :extra])
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    bp = peer_eval(p, "spawn(fun() -> receive stop -> ok end end).")
    :ok = peer_call(p, :pg, :join, [:pg, :g, bp])
    old_member = Node.spawn(c.node, :kv, :start, [])
    :ok = :erpc.call(c.node, :pg, :join, [:pg, :g, old_member])
    eventually(fn -> sorted(peer_call(p, :pg, :get_members, [:pg, :g])) == sorted([bp, old_member]) end,
      10_000, what: "the peer sees the C member")
    eventually(fn -> sorted(:erpc.call(c.node, :pg, :get_members, [:pg, :g])) == sorted([bp, old_member]) end,
      10_000, what: "the C node sees both")

    kill_and_wait(c, :pg)
    # as a restarted BEAM scope: the local members are gone (they were joined to the old
    # process), on every node; the peer's members come back by discover/sync
    eventually(fn -> peer_call(p, :pg, :get_members, [:pg, :g]) == [bp] end, 10_000,
      what: "the peer forgets the members of the killed scope")
    eventually(fn -> :erpc.call(c.node, :pg, :get_members, [:pg, :g]) == [bp] end, 10_000,
      what: "the fresh scope has the peer's members again")
    new_member = Node.spawn(c.node, :kv, :start, [])
    :ok = :erpc.call(c.node, :pg, :join, [:pg, :g, new_member])
    eventually(fn -> sorted(peer_call(p, :pg, :get_members, [:pg, :g])) == sorted([bp, new_member]) end,
      10_000, what: "a join in the fresh scope reaches the peer")
    assert :erpc.call(c.node, :pg, :get_local_members, [:pg, :g]) == [new_member]

    # a scope given with --pg-scope is kept too
    kill_and_wait(c, :extra)
    :ok = :erpc.call(c.node, :pg, :join, [:extra, :h, new_member])
    eventually(fn -> peer_call(p, :pg, :get_members, [:extra, :h]) == [new_member] end, 10_000,
      what: "the fresh extra scope talks to the peer")
  end

  # ---- :global ------------------------------------------------------------------------------

  defp gwhere(c, name), do: :erpc.call(c.node, :global, :whereis_name, [name], 5_000)

  test "global_name_server comes back with its table; registration, whereis, DOWN and a new peer's sync work" do
    c = connect!(start_cnode())
    :global.sync()
    old_c = Node.spawn(c.node, :kv, :start, [])
    assert :global.register_name(:keep_old_c, old_c) == :yes
    assert :global.register_name(:keep_beam, self()) == :yes
    eventually(fn -> gwhere(c, :keep_old_c) == old_c and gwhere(c, :keep_beam) == self() end, 10_000,
      what: "names on the C node before the kill")

    # a lock on both nodes, held by a BEAM process
    me = self()

    holder =
      spawn(fn ->
        send(me, {:locked, :global.set_lock({:keep_res, self()}, [node(), c.node], 0)})
        receive do: (:stop -> :ok)
      end)

    assert_receive {:locked, true}, 10_000

    kill_and_wait(c, :global_name_server)
    wait_log(c, "global: global_name_server restarted with 2 names", 5_000)
    # the fresh server monitors the lock's holder again: its death frees the lock on C too
    assert :global.set_lock({:keep_res, self()}, [node(), c.node], 0) == false
    Process.exit(holder, :kill)
    eventually(fn -> :global.set_lock({:keep_res, self()}, [node(), c.node], 0) end, 10_000,
      what: "the lock free on both nodes after its holder died"
    )
    :global.del_lock({:keep_res, self()}, [node(), c.node])
    # the table outlived the process
    assert gwhere(c, :keep_old_c) == old_c
    assert gwhere(c, :keep_beam) == self()
    # registrations made after the restart, from BEAM for a BEAM and a C pid
    bp = spawn(fn -> receive do: (:stop -> :ok) end)
    assert :global.register_name(:keep_new_beam, bp) == :yes
    new_c = Node.spawn(c.node, :kv, :start, [])
    assert :global.register_name(:keep_new_c, new_c) == :yes
    eventually(fn -> gwhere(c, :keep_new_beam) == bp and gwhere(c, :keep_new_c) == new_c end, 10_000,
      what: "new names on the C node")
    assert :global.whereis_name(:keep_new_c) == new_c
    # the fresh server monitors the pids of the names it kept: a death removes the name everywhere
    Process.exit(old_c, :kill)
    eventually(fn -> gwhere(c, :keep_old_c) == :undefined end, 10_000, what: "dead C pid's name gone on C")
    eventually(fn -> :global.whereis_name(:keep_old_c) == :undefined end, 10_000,
      what: "dead C pid's name gone on BEAM")
    # a node that connects now syncs with the fresh server
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert peer_call(p, :global, :sync, []) == :ok
    eventually(fn -> peer_call(p, :global, :whereis_name, [:keep_new_c]) == new_c end, 15_000,
      what: "the new peer sees the C name")
    pp = peer_eval(p, "spawn(fun() -> receive stop -> ok end end).")
    assert peer_call(p, :global, :register_name, [:keep_peer, pp]) == :yes
    eventually(fn -> gwhere(c, :keep_peer) == pp end, 15_000, what: "the peer's name on the C node")
    # (C may learn the peer from the runner's new_nodes as well as by its own session)
    assert :erpc.call(c.node, :global, :sync, [], 20_000) == :ok
    from_c = Node.spawn(c.node, :kv, :start, [])
    assert :erpc.call(c.node, :global, :register_name, [:keep_from_c, from_c], 10_000) == :yes
    eventually(fn -> peer_call(p, :global, :whereis_name, [:keep_from_c]) == from_c end, 15_000,
      what: "a name registered on the C node reaches the peer")
  end

  # The kill comes right after the connection, while the C node's first :global session with
  # the runner is under way (it takes at least the locker's 200 ms): the fresh server starts
  # that session over.
  test "killing the global locker takes global_name_server with it; both come back" do
    c = connect!(start_cnode())
    gns = whereis(c, :global_name_server)
    {:links, links} = :erpc.call(c.node, :erlang, :process_info, [gns, :links])
    assert [locker] = Enum.filter(links, &(node(&1) == c.node))
    ref = Process.monitor(gns)
    Process.exit(locker, :kill)
    assert_receive {:DOWN, ^ref, :process, ^gns, :killed}, 5_000
    eventually(fn -> match?(p when is_pid(p) and p != gns, whereis(c, :global_name_server)) end, 10_000,
      what: "global_name_server back")
    assert :erpc.call(c.node, :global, :sync, [], 20_000) == :ok
    assert :global.register_name(:keep_after_locker, self()) == :yes
    eventually(fn -> gwhere(c, :keep_after_locker) == self() end, 10_000, what: "registration after the restart")
    assert :global.trans({:keep_res, self()}, fn -> :locked end, [node(), c.node], 5) == :locked
  end

  test "SIGTERM: nothing is restarted, the node exits 0 promptly" do
    c = connect!(start_cnode())
    kill_and_wait(c, :echo)
    mark = log_mark(c)
    sigterm(c)
    assert wait_exit(c, 8_000) == 0
    refute_log(c, "keeper:", after: mark)
  end

  test ":init.stop: nothing is restarted, the node exits 0 promptly" do
    c = connect!(start_cnode())
    mark = log_mark(c)
    :erpc.cast(c.node, :init, :stop, [])
    assert wait_exit(c, 8_000) == 0
    refute_log(c, "keeper:", after: mark)
  end
end
