# What tools ask a node about its processes over rpc (README "RPC"): sys:get_state,
# get_status, suspend and resume run on the C node against its workers, Module:module_info/0,1
# answers for its modules, and a worker's dictionary names its initial call. Together they
# are what observer's process window needs to show a C worker's state (the calls below are
# the ones observer_procinfo makes). Errors are compared with a BEAM peer's.
ExUnit.start(timeout: 120_000)
CnodeTest.watchdog(110, __ENV__.file)

defmodule Interop.SysRpcTest do
  use ExUnit.Case
  import CnodeTest

  setup_all do
    c = start_cnode()
    connect!(c)
    p = start_peer(prefix: "sysrpc")
    {:ok, c: c, peer: p}
  end

  defp rpc(c, m, f, a), do: :rpc.call(c.node, m, f, a, 10_000)

  test "observer's State tab: initial call, behaviour, status of a C worker", %{c: c} do
    kv = Node.spawn(c.node, :kv, :start, [])
    :ok = GenServer.call(kv, {:put, :a, 1})
    assert rpc(c, :proc_lib, :translate_initial_call, [kv]) == {:kv, :init, 1}
    assert {:behaviour, [:gen_server]} in rpc(c, :kv, :module_info, [:attributes])
    assert {:status, ^kv, {:module, :gen_server},
            [_pdict, :running, _parent, _dbg, [_header, {:data, first}, {:data, second} | _]]} =
             rpc(c, :sys, :get_status, [kv, 200])
    assert {~c"Status", :running} in first
    assert [{~c"State", %{a: 1}}] = second
    # the same, asked by name
    assert {:status, echo, {:module, :gen_server}, _} = rpc(c, :sys, :get_status, [:echo])
    assert echo == rpc(c, :erlang, :whereis, [:echo])
  end

  test "get_state, suspend and resume over rpc act on the worker", %{c: c} do
    kv = Node.spawn(c.node, :kv, :start, [])
    :ok = GenServer.call(kv, {:put, :k, :v})
    assert rpc(c, :sys, :get_state, [kv]) == %{k: :v}
    assert rpc(c, :sys, :get_state, [kv, 1_000]) == :sys.get_state(kv)
    assert rpc(c, :sys, :suspend, [kv]) == :ok
    GenServer.cast(kv, {:put, :later, 1})
    assert rpc(c, :erlang, :process_info, [kv, :status]) == {:status, :suspended}
    assert rpc(c, :sys, :get_state, [kv]) == %{k: :v}
    assert rpc(c, :sys, :resume, [kv, :infinity]) == :ok
    assert rpc(c, :sys, :get_state, [kv]) == %{k: :v, later: 1}
  end

  test "failures exit as sys's do on a BEAM node", %{c: c, peer: p} do
    {dead, ref} = Node.spawn_monitor(c.node, :kv, :start, [])
    Process.exit(dead, :kill)
    assert_receive {:DOWN, ^ref, _, _, _}
    assert rpc(c, :sys, :get_state, [dead]) == {:badrpc, {:EXIT, {:noproc, {:sys, :get_state, [dead]}}}}
    bdead = peer_eval(p, "P = spawn(fun() -> ok end), timer:sleep(50), P.")
    assert :rpc.call(p.node, :sys, :get_state, [bdead]) ==
             {:badrpc, {:EXIT, {:noproc, {:sys, :get_state, [bdead]}}}}
    # a name nobody has
    assert rpc(c, :sys, :get_status, [:nobody_here, 100]) ==
             {:badrpc, {:EXIT, {:noproc, {:sys, :get_status, [:nobody_here, 100]}}}}
    assert :rpc.call(p.node, :sys, :get_status, [:nobody_here, 100]) ==
             {:badrpc, {:EXIT, {:noproc, {:sys, :get_status, [:nobody_here, 100]}}}}
    # a process that does not answer system messages: timeout, on both
    sleeper = Node.spawn(c.node, :demo, :sleep, [3_000])
    assert rpc(c, :sys, :get_status, [sleeper, 100]) ==
             {:badrpc, {:EXIT, {:timeout, {:sys, :get_status, [sleeper, 100]}}}}
    bsleeper = peer_eval(p, "spawn(fun() -> timer:sleep(3000) end).")
    assert :rpc.call(p.node, :sys, :get_status, [bsleeper, 100]) ==
             {:badrpc, {:EXIT, {:timeout, {:sys, :get_status, [bsleeper, 100]}}}}
    # bad arguments
    for args <- [[1], [self(), -1], [self(), :soon]] do
      assert {:badrpc, {:EXIT, {reason, _}}} = rpc(c, :sys, :get_state, args)
      assert reason in [:badarg, :function_clause]
    end
    assert rpc(c, :erlang, :is_process_alive, [rpc(c, :erlang, :whereis, [:echo])])
  end

  test "module_info of worker and rpc modules, as a BEAM module answers it", %{c: c, peer: p} do
    info = rpc(c, :kv, :module_info, [])
    assert Keyword.keys(info) == [:module, :exports, :attributes, :compile]
    assert info[:module] == :kv
    assert {:module_info, 0} in info[:exports] and {:module_info, 1} in info[:exports]
    exports = rpc(c, :demo, :module_info, [:exports])
    assert {:add, 2} in exports and {:sleep, 1} in exports
    assert rpc(c, :demo, :module_info, [:attributes]) == []
    assert rpc(c, :demo, :module_info, [:module]) == :demo
    assert rpc(c, :erlang, :function_exported, [:demo, :module_info, 1])
    assert rpc(c, :erlang, :function_exported, [:kv, :module_info, 0])
    refute rpc(c, :erlang, :function_exported, [:nosuch, :module_info, 0])
    # the peer's answers have the same shapes
    assert Keyword.keys(:rpc.call(p.node, :lists, :module_info, [])) -- [:md5] ==
             [:module, :exports, :attributes, :compile]
    assert {:badrpc, {:EXIT, {:badarg, _}}} = rpc(c, :kv, :module_info, [:bogus])
    assert {:badrpc, {:EXIT, {:badarg, _}}} = :rpc.call(p.node, :lists, :module_info, [:bogus])
    assert {:badrpc, {:EXIT, {:undef, [{:nosuch, :module_info, [], []}]}}} =
             rpc(c, :nosuch, :module_info, [])
  end

  test "a worker's dictionary names its initial call; other processes have none", %{c: c} do
    kv = Node.spawn(c.node, :kv, :start, [])
    assert rpc(c, :erlang, :process_info, [kv, :dictionary]) ==
             {:dictionary, ["$initial_call": {:kv, :init, 1}]}
    sleeper = Node.spawn(c.node, :demo, :sleep, [3_000])
    assert rpc(c, :erlang, :process_info, [sleeper, :dictionary]) == {:dictionary, []}
    assert rpc(c, :proc_lib, :translate_initial_call, [sleeper]) == {:proc_lib, :init_p, 5}
  end
end
