# :global participation (issue 5, PROTOCOL.md §7.2): the C node runs a global_name_server that
# takes part in the whole sync, so :global.sync() returns on every BEAM node, nodes are meshed
# transitively, names are shared both ways and clashes resolve as OTP does.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.GlobalTest do
  use ExUnit.Case
  import CnodeTest

  # :global.sync() on a BEAM node (ours when p is nil), bounded
  defp sync(p \\ nil, timeout \\ 20_000) do
    f = fn -> if p, do: peer_call(p, :global, :sync, [], timeout), else: :global.sync() end

    case bounded(f, timeout) do
      {:ok, :ok} -> :ok
      other -> flunk("global:sync() on #{inspect(p && p.node)} gave #{inspect(other)}")
    end
  end

  defp probe(c), do: Node.spawn(c.node, :probe, :start, [self()])

  test "global:sync returns on BEAM nodes connected to a C node" do
    c = connect!(start_cnode())
    assert sync() == :ok
    wait_log(c, "global: in sync with #{node()}", 10_000)
    assert c.node in GenServer.call(:global_name_server, :get_known)
    # and the C node's server answers the same introspection calls
    assert node() in GenServer.call({:global_name_server, c.node}, :get_known)
    assert node() in GenServer.call({:global_name_server, c.node}, :get_synced)
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert sync(p) == :ok
    assert sync() == :ok
  end

  test "a name registered from BEAM for a C pid is seen on every node, and goes with the process" do
    c = connect!(start_cnode())
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert sync(p) == :ok
    pr = probe(c)
    assert :global.register_name(:gx, pr) == :yes
    assert :global.whereis_name(:gx) == pr
    eventually(fn -> peer_call(p, :global, :whereis_name, [:gx]) == pr end, 10_000)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:gx]) == pr end, 10_000)
    assert GenServer.call(pr, {:global_whereis, :gx}) == pr
    GenServer.stop(pr)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:gx]) == :undefined end, 10_000)
    eventually(fn -> :global.whereis_name(:gx) == :undefined end, 10_000)
  end

  test "a name registered from C is seen on every BEAM node" do
    c = connect!(start_cnode())
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert sync(p) == :ok
    pr = probe(c)
    assert GenServer.call(pr, {:global_register, :cx}, 30_000) == :yes
    assert :global.whereis_name(:cx) == pr
    assert peer_call(p, :global, :whereis_name, [:cx]) == pr
    assert GenServer.call(pr, {:global_register, :cx}, 30_000) == :no
    :global.send(:cx, :hello)
    assert_receive {:probe, ^pr, :hello}, 5_000
  end

  # Peers reached through their stdio: not connected to this runner, so that the cluster is
  # only what the test builds.
  defp iso_peer, do: start_peer(connection: :standard_io)

  defp nodes_of(%CnodeTest.Peer{} = p), do: peer_call(p, :erlang, :nodes, [])
  # the C node's nodes(), asked through a peer connected to it
  defp c_nodes(via, c), do: peer_call(via, :erpc, :call, [c.node, :erlang, :nodes, []])

  defp connected?(p, node), do: node in nodes_of(p)

  test "transitive mesh: BEAM joins C's partition, then a C node joins a BEAM member" do
    c1 = start_cnode()
    a = iso_peer()
    b = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [c1.node]) == true
    assert sync(a) == :ok
    # b joins a: it is meshed to c1 by global
    assert peer_call(b, :net_kernel, :connect_node, [a.node]) == true
    eventually(fn -> connected?(b, c1.node) end, 20_000, what: "b meshed to c1")
    assert sync(b) == :ok
    assert sync(a) == :ok
    # a C node joins b: meshed to a and to c1
    c2 = start_cnode(args: ["--connect", b.node])
    eventually(fn -> connected?(a, c2.node) end, 20_000, what: "a meshed to c2")
    eventually(fn -> c2.node in c_nodes(a, c1) end, 20_000, what: "c1 meshed to c2")
    for p <- [a, b], do: assert(sync(p) == :ok)
    assert Enum.sort(c_nodes(a, c2)) == Enum.sort([a.node, b.node, c1.node])
  end

  test "transitive mesh: a C node joins a C node that is in a BEAM cluster" do
    c1 = start_cnode()
    a = iso_peer()
    b = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [b.node]) == true
    assert peer_call(a, :net_kernel, :connect_node, [c1.node]) == true
    eventually(fn -> connected?(b, c1.node) end, 20_000, what: "b meshed to c1")
    c2 = start_cnode(args: ["--connect", c1.node])
    eventually(fn -> connected?(a, c2.node) and connected?(b, c2.node) end, 20_000,
      what: "a and b meshed to c2")
    for p <- [a, b], do: assert(sync(p) == :ok)
  end

  test "transitive mesh: a BEAM cluster joins a C node by the C node dialling" do
    a = iso_peer()
    b = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [b.node]) == true
    assert sync(a) == :ok
    # a name on b, which the C node learns from a before it is connected to b
    bp = peer_named(b, :on_b)
    c = start_cnode(args: ["--connect", a.node])
    eventually(fn -> connected?(b, c.node) end, 20_000, what: "b meshed to c")
    for p <- [a, b], do: assert(sync(p) == :ok)
    eventually(fn -> peer_call(a, :erpc, :call, [c.node, :global, :whereis_name, [:on_b]]) == bp end, 10_000)
    # and it goes from the C node's table when b goes
    stop_peer(b)
    eventually(fn -> peer_call(a, :erpc, :call, [c.node, :global, :whereis_name, [:on_b]]) == :undefined end,
      15_000)
  end

  # A process on peer p that registers Name (with the standard method, or notify) and reports
  # what it receives to us... through the peer's stdio we cannot receive, so it only lives.
  # A process on peer p that keeps what it receives (see received/2); with name, registered
  # globally with the given method.
  defp collector(p) do
    peer_eval(p, """
    spawn(fun() ->
      Loop = fun Loop(Acc) ->
        receive
          {'$get', F} -> F ! {'$msgs', lists:reverse(Acc)}, Loop(Acc);
          M -> Loop([M | Acc])
        end
      end,
      Loop([])
    end).
    """)
  end

  defp received(p, col) do
    peer_eval(p, "Col ! {'$get', self()}, receive {'$msgs', L} -> L after 5000 -> timeout end.",
      10_000, [{:Col, col}])
  end

  defp peer_named(p, name, method \\ :random_exit_name) do
    col = collector(p)
    assert peer_call(p, :global, :register_name, [name, col, Function.capture(:global, method, 3)]) == :yes
    col
  end

  defp alive_on(p, pid), do: peer_call(p, :erlang, :is_process_alive, [pid])

  # Is a remote (C) pid alive, asked from peer p with a monitor: no DOWN within 300 ms.
  defp remote_alive?(p, pid) do
    peer_eval(p, """
    R = erlang:monitor(process, Pid),
    receive {'DOWN', R, process, _, _} -> false after 300 -> erlang:demonitor(R, [flush]), true end.
    """, 10_000, [{:Pid, pid}])
  end

  test "name clash resolved by the C node (smaller name): the BEAM process is killed" do
    c = start_cnode(prefix: "a")
    a = iso_peer()
    pr = peer_call(a, :erlang, :spawn, [c.node, :probe, :start, [[]]])
    assert is_pid(pr)
    assert peer_call(a, :erpc, :call, [c.node, :global, :registered_names, []]) == []
    # the C side registers :dup before it knows a's partition... a is connected already, so
    # take a separate peer for the other side
    b = iso_peer()
    bp = peer_named(b, :dup)
    assert peer_call(a, :gen_server, :call, [pr, {:global_register, :dup}, 30_000]) == :yes
    assert peer_call(b, :global, :whereis_name, [:dup]) == bp
    # join the partitions: c (name "a…") is smaller than b ("p…"), so c resolves with its
    # entry's method, random_exit_name: the pid on the larger node is killed
    assert peer_call(b, :net_kernel, :connect_node, [c.node]) == true
    assert sync(b) == :ok
    eventually(fn -> peer_call(b, :global, :whereis_name, [:dup]) == pr end, 15_000,
      what: "the C pid to win :dup on b")
    eventually(fn -> alive_on(b, bp) == false end, 10_000, what: "the loser killed")
    assert peer_call(a, :global, :whereis_name, [:dup]) == pr
  end

  test "name clash resolved by a BEAM node (smaller name): the C process is killed" do
    c = start_cnode(prefix: "z")
    a = iso_peer()
    pr = peer_call(a, :erlang, :spawn, [c.node, :probe, :start, [[]]])
    assert peer_call(a, :gen_server, :call, [pr, {:global_register, :dup2}, 30_000]) == :yes
    b = iso_peer()
    bp = peer_named(b, :dup2)
    assert peer_call(b, :net_kernel, :connect_node, [c.node]) == true
    assert sync(b) == :ok
    eventually(fn -> peer_call(b, :global, :whereis_name, [:dup2]) == bp end, 15_000)
    eventually(fn -> peer_call(a, :global, :whereis_name, [:dup2]) == bp end, 15_000)
    eventually(fn -> peer_call(b, :erpc, :call, [c.node, :global, :whereis_name, [:dup2]]) == bp end, 15_000)
    # the C process lost: killed by exit(Pid, kill) over the wire
    eventually(fn -> remote_alive?(a, pr) == false end,
      10_000, what: "the C loser killed")
  end

  test "name clash with random_notify_name resolved by BEAM: the C loser is told, not killed" do
    c = start_cnode(prefix: "z")
    a = iso_peer()
    col = collector(a)
    # a C pid registered by a BEAM node with random_notify_name, then a clash on join
    pr = peer_call(a, :erlang, :spawn, [c.node, :probe, :start, [col]])
    assert peer_call(a, :global, :register_name, [:dup3, pr, &:global.random_notify_name/3]) == :yes
    b = iso_peer()
    bp = peer_named(b, :dup3, :random_notify_name)
    assert peer_call(b, :net_kernel, :connect_node, [c.node]) == true
    assert sync(b) == :ok
    # b ("p…") resolves; the pid on the smaller node (b) wins, the C pid is told
    eventually(fn -> peer_call(b, :global, :whereis_name, [:dup3]) == bp end, 15_000)
    eventually(fn -> peer_call(b, :erpc, :call, [c.node, :global, :whereis_name, [:dup3]]) == bp end, 15_000)
    eventually(fn -> peer_call(a, :global, :whereis_name, [:dup3]) == bp end, 15_000)
    eventually(fn -> {:probe, pr, {:global_name_conflict, :dup3}} in received(a, col) end, 10_000)
    assert remote_alive?(a, pr) == true
  end

  test "name clash with random_notify_name resolved by the C node: the BEAM loser is told" do
    c = start_cnode(prefix: "a")
    a = iso_peer()
    pr = peer_call(a, :erlang, :spawn, [c.node, :probe, :start, [[]]])
    assert peer_call(a, :global, :register_name, [:dup4, pr, &:global.random_notify_name/3]) == :yes
    b = iso_peer()
    bp = peer_named(b, :dup4, :random_notify_name)
    assert peer_call(b, :net_kernel, :connect_node, [c.node]) == true
    assert sync(b) == :ok
    # c ("a…") resolves with its entry's method: the C pid (smaller node) wins, bp is told
    eventually(fn -> peer_call(b, :global, :whereis_name, [:dup4]) == pr end, 15_000)
    assert peer_call(a, :global, :whereis_name, [:dup4]) == pr
    eventually(fn -> {:global_name_conflict, :dup4} in received(b, bp) end, 10_000)
    assert alive_on(b, bp)
  end

  test "global:trans and global:set_lock that include a C node" do
    c = connect!(start_cnode())
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert sync() == :ok
    me = self()
    r =
      bounded(fn ->
        :global.trans({:res, me}, fn ->
          # while we hold it, nobody else can take the resource on the C node
          peer_call(p, :global, :set_lock, [{:res, :other}, [c.node], 0])
        end)
      end, 30_000)
    assert r == {:ok, false}
    assert peer_call(p, :global, :set_lock, [{:res, :other}, [c.node], 0]) == true
    assert peer_call(p, :global, :del_lock, [{:res, :other}, [c.node]]) == true
    # (the caller holds the lock: not from a task)
    assert :global.set_lock({:r2, me}) == true
    assert peer_call(p, :global, :set_lock, [{:r2, :x}, [c.node], 0]) == false
    assert :global.del_lock({:r2, me}) == true
    assert peer_call(p, :global, :set_lock, [{:r2, :x}, [c.node], 0]) == true
    # a lock whose holder dies is released on the C node
    holder = spawn(fn -> :global.set_lock({:r3, :h}, [c.node]); receive do: (:stop -> :ok) end)
    eventually(fn -> peer_call(p, :global, :set_lock, [{:r3, :y}, [c.node], 0]) == false end, 10_000)
    Process.exit(holder, :kill)
    eventually(fn -> peer_call(p, :global, :set_lock, [{:r3, :y}, [c.node], 0]) == true end, 10_000)
  end

  test "kill -9 of a C node: its names go everywhere and sync still returns" do
    c = connect!(start_cnode())
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert sync(p) == :ok
    pr = probe(c)
    assert GenServer.call(pr, {:global_register, :kx}, 30_000) == :yes
    eventually(fn -> peer_call(p, :global, :whereis_name, [:kx]) == pr end, 10_000)
    kill9(c)
    eventually(fn -> peer_call(p, :global, :whereis_name, [:kx]) == :undefined end, 15_000)
    eventually(fn -> :global.whereis_name(:kx) == :undefined end, 15_000)
    assert sync(p) == :ok
    assert sync() == :ok
  end

  test "kill -9 of a BEAM node mid-traffic: the C node and the rest stay consistent" do
    c = connect!(start_cnode())
    a = start_peer()
    b = start_peer()
    for p <- [a, b], do: assert(peer_call(p, :net_kernel, :connect_node, [c.node]) == true)
    assert sync() == :ok
    ap = peer_named(a, :ka)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:ka]) == ap end, 10_000)
    # traffic: registrations from b and the C node while a dies
    pr = probe(c)
    t = Task.async(fn -> for i <- 1..20, do: peer_named(b, :"kb#{i}") end)
    kill9(a)
    assert GenServer.call(pr, {:global_register, :kc}, 60_000) == :yes
    Task.await(t, 60_000)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:ka]) == :undefined end, 15_000)
    assert sync(b) == :ok
    assert sync() == :ok
    names = Enum.sort(:erpc.call(c.node, :global, :registered_names, []))
    assert names == Enum.sort(peer_call(b, :global, :registered_names, []))
    assert :kc in names and :kb20 in names
  end

  test "prevent overlapping partitions: a BEAM node dropping the C node makes the others drop it" do
    c = start_cnode()
    a = iso_peer()
    b = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [b.node]) == true
    assert peer_call(a, :net_kernel, :connect_node, [c.node]) == true
    eventually(fn -> connected?(b, c.node) end, 20_000)
    assert sync(a) == :ok
    assert peer_call(a, :erlang, :disconnect_node, [c.node]) == true
    # b hears that a lost c: it asks c to disconnect (c does) and forgets it. (c reports that
    # it lost a too, so b may drop a as well: OTP's rule takes down more than the minimum.)
    eventually(fn -> not connected?(b, c.node) end, 20_000, what: "b disconnected from c")
    assert sync(a) == :ok
    assert sync(b) == :ok
    # the C node can join again
    assert peer_call(b, :net_kernel, :connect_node, [c.node]) == true
    assert sync(b) == :ok
    eventually(fn -> c.node in peer_call(b, :gen_server, :call, [:global_name_server, :get_known]) end,
      20_000, what: "c known to b's global again")
  end

  test "malformed :global traffic is refused without harm" do
    c = connect!(start_cnode())
    to = {:global_name_server, c.node}
    for m <- [
          {:"$gen_cast", {:init_connect, :bad, :x, :y}},
          {:"$gen_cast", {:init_connect, {8, 1}, node(), {:locker, 1, 2, :notapid}}},
          {:"$gen_cast", {:exchange, node(), :notalist, [], 1}},
          {:"$gen_cast", {:exchange, node(), [1, 2 | 3], [], 1}},
          {:"$gen_cast", {:resolved, node(), [{:insert, :bad}], :x, :unused, [], 1}},
          {:"$gen_cast", {:new_nodes, node(), [{:insert, {:n}}, {:delete}], [], [:a, {1, 2}], :x}},
          {:"$gen_cast", {:lock_set, :notapid, true, [], 1}},
          {:lost_connection, 1, 2, 3},
          {:remove_connection, "x"},
          {:init_connect_ack, node(), :a, :b},
          :garbage
        ],
        do: send(to, m)
    assert {:timeout, _} = catch_exit(GenServer.call(to, {:set_lock, :bad}, 300))
    assert {:timeout, _} = catch_exit(GenServer.call(to, {:register, :n}, 300))
    assert sync() == :ok
    pr = probe(c)
    assert :global.register_name(:after_garbage, pr) == :yes
    assert :erpc.call(c.node, :global, :whereis_name, [:after_garbage]) == pr
    assert Process.alive?(c.collector) and exit_status(c) == nil
  end

  test "two C nodes sync with each other alone, then share names with a BEAM node that joins" do
    c1 = start_cnode()
    c2 = start_cnode(args: ["--connect", c1.node])
    wait_log(c2, "global: in sync with #{c1.node}", 20_000)
    wait_log(c1, "global: in sync with #{c2.node}", 20_000)
    a = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [c2.node]) == true
    eventually(fn -> connected?(a, c1.node) end, 20_000, what: "a meshed to c1")
    assert sync(a) == :ok
    pr = peer_call(a, :erlang, :spawn, [c1.node, :probe, :start, [[]]])
    assert peer_call(a, :gen_server, :call, [pr, {:global_register, :cc}, 30_000]) == :yes
    assert peer_call(a, :erpc, :call, [c2.node, :global, :whereis_name, [:cc]]) == pr
    assert peer_call(a, :global, :whereis_name, [:cc]) == pr
    # a C process sends to a global name through its own table
    q = peer_call(a, :erlang, :spawn, [c2.node, :probe, :start, [[]]])
    assert peer_call(a, :gen_server, :call, [q, {:global_send, :cc, :ping}]) == :ok
    assert peer_call(a, :gen_server, :call, [q, {:global_send, :nobody, :ping}]) == :undefined
    assert peer_call(a, :gen_server, :call, [q, {:global_unregister, :cc}, 30_000]) == :ok
    eventually(fn -> peer_call(a, :global, :whereis_name, [:cc]) == :undefined end, 10_000)
    assert peer_call(a, :erpc, :call, [c1.node, :global, :whereis_name, [:cc]]) == :undefined
  end

  test "global:sync over rpc on the C node returns once it is in sync" do
    c = connect!(start_cnode())
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert :erpc.call(c.node, :global, :sync, [], 30_000) == :ok
    assert Enum.sort(:erpc.call(c.node, :global, :registered_names, [])) ==
             Enum.sort(:global.registered_names())
  end

  test "a node announced by new_nodes that cannot be reached leaves the known set" do
    c = connect!(start_cnode())
    assert sync() == :ok
    ghost = :"#{unique_name("ghost")}@#{host()}"
    send({:global_name_server, c.node}, {:"$gen_cast", {:new_nodes, node(), [], [], [{ghost, 8}], []}})
    eventually(fn -> ghost not in GenServer.call({:global_name_server, c.node}, :get_known) end,
      15_000, what: "the unreachable node dropped")
    assert node() in GenServer.call({:global_name_server, c.node}, :get_known)
    assert sync() == :ok
  end

  # An OTP 27 peer started from the OTP 25 runner through the OTP 27 root (chroot), reached
  # through its stdio. nil when not possible (runner already on 27, or no root).
  @otp27_root "/var/tmp/otp27-root"
  defp otp27_peer do
    if System.otp_release() == "25" and File.exists?(@otp27_root <> "/usr/bin/erl") do
      name = unique_name("q")

      {:ok, pid, node} =
        :peer.start(%{
          name: String.to_charlist(name),
          exec: {~c"/usr/sbin/chroot", [String.to_charlist(@otp27_root), ~c"/usr/bin/erl"]},
          args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie()), ~c"-start_epmd", ~c"false"],
          connection: :standard_io,
          wait_boot: 30_000,
          env: [{~c"ERL_EPMD_PORT", String.to_charlist(epmd_port!())}, {~c"HOME", ~c"/root"}]
        })

      p = %CnodeTest.Peer{pid: pid, node: node, name: name, conn: :standard_io}
      os_pid = p |> peer_call(:os, :getpid, []) |> List.to_integer()
      CnodeTest.PidRegistry.add(os_pid, "peer", name, pid)
      p = %{p | os_pid: os_pid}
      on_exit(fn -> stop_peer(p) end)
      p
    end
  end

  test "mixed OTP 25 and OTP 27 BEAM nodes with a C node" do
    case otp27_peer() do
      nil ->
        IO.puts("  (runner is not OTP 25 or there is no OTP 27 root: nothing to mix)")

      q ->
        assert peer_call(q, :erlang, :system_info, [:otp_release]) == ~c"27"
        c = start_cnode()
        a = iso_peer()
        assert peer_call(a, :net_kernel, :connect_node, [c.node]) == true
        assert sync(a) == :ok
        # the 27 node joins the 25 node: meshed to the C node
        assert peer_call(q, :net_kernel, :connect_node, [a.node]) == true
        eventually(fn -> connected?(q, c.node) end, 20_000, what: "the OTP 27 node meshed to c")
        assert sync(q) == :ok
        assert sync(a) == :ok
        pr = peer_call(q, :erlang, :spawn, [c.node, :probe, :start, [[]]])
        assert peer_call(q, :gen_server, :call, [pr, {:global_register, :mixed}, 30_000]) == :yes
        assert peer_call(q, :global, :whereis_name, [:mixed]) == pr
        assert peer_call(a, :global, :whereis_name, [:mixed]) == pr
        qp = peer_named(q, :from27)
        eventually(fn -> peer_call(a, :erpc, :call, [c.node, :global, :whereis_name, [:from27]]) == qp end, 10_000)
        # (a remote fun: the peer does not have this test's module)
        assert bounded(fn -> peer_call(q, :global, :trans, [{:mx, :q}, &:erlang.node/0, [c.node, q.node]]) end, 20_000) ==
                 {:ok, q.node}
    end
  end

  test "names go when their node leaves gracefully: SIGTERM of a C node, init:stop of a BEAM node" do
    c = connect!(start_cnode())
    c2 = start_cnode()
    a = start_peer()
    for n <- [c.node, c2.node], do: assert(peer_call(a, :net_kernel, :connect_node, [n]) == true)
    assert sync() == :ok
    pr = Node.spawn(c2.node, :probe, :start, [[]])
    assert GenServer.call(pr, {:global_register, :leaver_c}, 30_000) == :yes
    ap = peer_named(a, :leaver_beam)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:leaver_beam]) == ap end, 10_000)
    # (c2 may still be meshing with c when it registers: c then learns the name by the sync)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:leaver_c]) == pr end, 10_000)
    sigterm(c2)
    wait_exit(c2, 10_000)
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:leaver_c]) == :undefined end, 15_000)
    eventually(fn -> :global.whereis_name(:leaver_c) == :undefined end, 15_000)
    peer_call(a, :init, :stop, [])
    eventually(fn -> :erpc.call(c.node, :global, :whereis_name, [:leaver_beam]) == :undefined end, 20_000)
    eventually(fn -> :global.whereis_name(:leaver_beam) == :undefined end, 20_000)
    assert sync() == :ok
  end

  test "3 BEAM nodes and 2 C nodes joining at once end fully meshed and in sync" do
    c1 = start_cnode()
    peers = for _ <- 1..3, do: iso_peer()
    [a, b, d] = peers
    # everyone dials at the same time: the BEAM nodes to c1 and to each other, c2 to c1 and a
    c2 = start_cnode(args: ["--connect", c1.node, "--connect", a.node], wait: false)
    tasks =
      for {p, target} <- [{a, c1.node}, {b, c1.node}, {d, c1.node}, {b, a.node}, {d, b.node}] do
        Task.async(fn -> peer_call(p, :net_kernel, :connect_node, [target]) end)
      end
    Enum.each(tasks, &Task.await(&1, 30_000))
    wait_log(c2, ~r/node \S+ started/, 10_000)
    all = [a.node, b.node, d.node, c1.node, c2.node]
    for p <- peers do
      eventually(fn -> Enum.sort(nodes_of(p) -- [p.node]) == Enum.sort(all -- [p.node]) end, 30_000,
        what: "#{p.node} meshed to every node")
    end
    for p <- peers, do: assert(sync(p, 30_000) == :ok)
    eventually(fn -> Enum.sort(c_nodes(a, c2)) == Enum.sort(all -- [c2.node]) end, 20_000)
    # and the names agree everywhere
    pr = peer_call(a, :erlang, :spawn, [c2.node, :probe, :start, [[]]])
    assert peer_call(a, :gen_server, :call, [pr, {:global_register, :everyone}, 30_000]) == :yes
    for p <- peers, do: assert(peer_call(p, :global, :whereis_name, [:everyone]) == pr)
    assert peer_call(a, :erpc, :call, [c1.node, :global, :whereis_name, [:everyone]]) == pr
  end

  test "name clash resolved by the C node with a closure method: it runs on the entry's node" do
    c = start_cnode(prefix: "a")
    a = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [c.node]) == true
    assert sync(a) == :ok
    ap = collector(a)
    # the method keeps the newcomer (its second argument): only a BEAM node can run it
    assert peer_eval(a, "global:register_name(clo, Col, fun(_N, P1, _P2) -> P1 end).", 10_000,
             [{:Col, ap}]) == :yes
    eventually(fn -> peer_call(a, :erpc, :call, [c.node, :global, :whereis_name, [:clo]]) == ap end, 10_000)
    b = iso_peer()
    bp = peer_named(b, :clo)
    assert peer_call(b, :net_kernel, :connect_node, [c.node]) == true
    assert sync(b) == :ok
    # c ("a…") resolves with a's closure, run on a by rpc: the newcomer bp wins everywhere
    eventually(fn -> peer_call(b, :erpc, :call, [c.node, :global, :whereis_name, [:clo]]) == bp end, 15_000)
    eventually(fn -> peer_call(a, :global, :whereis_name, [:clo]) == bp end, 15_000)
    assert peer_call(b, :global, :whereis_name, [:clo]) == bp
    assert alive_on(a, ap) and alive_on(b, bp)
  end

  test "--reconnect-meshed: a meshed peer that went is redialled when it is back" do
    c = start_cnode(args: ["--reconnect-meshed", "--reconnect-max-ms", "1000"])
    a = iso_peer()
    b = iso_peer()
    assert peer_call(a, :net_kernel, :connect_node, [c.node]) == true
    assert sync(a) == :ok
    # b joins a; :global meshes it with c, which now watches it
    assert peer_call(b, :net_kernel, :connect_node, [a.node]) == true
    eventually(fn -> connected?(b, c.node) end, 20_000, what: "b meshed with c")
    assert sync(b) == :ok
    name = b.name
    kill9(b)
    eventually(fn -> not connected?(a, b.node) end, 20_000, what: "a to see b go")
    # the same node again, connected to nobody: only the C node's redial can bring them together
    b2 = start_peer(connection: :standard_io, name: name)
    eventually(fn -> connected?(b2, c.node) end, 20_000, what: "c to redial b")
    assert sync(b2) == :ok
  end

  test "a C process sending to a BEAM node meshes that node with the C node's cluster" do
    c = connect!(start_cnode())
    assert sync() == :ok
    b = iso_peer()
    refute connected?(b, node())
    pr = probe(c)
    # any send dials the node (auto-connect); :global does the rest
    assert GenServer.call(pr, {:send, :nobody, b.node, :hi}) == :ok
    eventually(fn -> connected?(b, node()) end, 20_000, what: "b meshed to this runner through c")
    assert sync(b) == :ok
    assert sync() == :ok
  end
end
