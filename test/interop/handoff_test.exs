# State handoff: cnode:handoff(Pid, Node) moves a worker, with its state, to another C node
# or to a BEAM node that defines Module:cnode_import/1; a BEAM process moves to a C node with
# :erpc.call(c, Module, :cnode_import, [State]). What was sent to the old pid meanwhile
# reaches the new one, and the old one ends {shutdown, {handoff, NewPid}}.
CnodeTest.watchdog(240, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.HandoffTest do
  use ExUnit.Case
  import CnodeTest

  # The BEAM side of kv (the demo's module): the same calls, the same state, cnode_import/1.
  @kv_source Path.expand("../../scripts/demo/kv.ex", __DIR__)

  setup do
    c1 = connect!(start_cnode(prefix: "h1"))
    c2 = connect!(start_cnode(prefix: "h2"))
    %{c1: c1, c2: c2}
  end

  defp kv(c, pairs) do
    pid = Node.spawn(c.node, :kv, :start, [])
    for {k, v} <- pairs, do: :ok = GenServer.call(pid, {:put, k, v})
    pid
  end

  defp handoff(c, pid, node), do: :erpc.call(c.node, :cnode, :handoff, [pid, node], 40_000)

  test "C to C: state, forwarding during the grace, then {shutdown, {handoff, new}}", ctx do
    %{c1: c1, c2: c2} = ctx
    old = kv(c1, a: 1, b: "two")
    name = :"handoff_kv_#{System.unique_integer([:positive])}"
    :ok = :global.sync() # the C nodes know every name from here on
    :yes = :global.register_name(name, old)
    before = :sys.get_state(old)
    ref = Process.monitor(old)
    assert {:ok, new} = handoff(c1, old, c2.node)
    assert node(new) == c2.node
    assert :global.whereis_name(name) == new # its :global name went with it
    assert :sys.get_state(new) == before
    assert GenServer.call(new, {:get, :a}) == {:ok, 1}
    # the old pid still answers for a while, through the new process
    assert GenServer.call(old, {:put, :c, 3}) == :ok
    GenServer.cast(old, {:put, :d, 4})
    # through the old pid, in order: the forwarded cast is there before this call
    assert GenServer.call(old, {:get, :d}) == {:ok, 4}
    assert GenServer.call(new, {:get, :c}) == {:ok, 3}
    assert_receive {:DOWN, ^ref, :process, ^old, {:shutdown, {:handoff, ^new}}}, 15_000
    assert GenServer.call(new, {:get, :b}) == {:ok, "two"}
  end

  test "a cnode_sup child handed off is not restarted: it lives on elsewhere", ctx do
    %{c1: c1, c2: c2} = ctx
    sup = {:cnode_sup, c1.node}
    {:ok, old} = DynamicSupervisor.start_child(sup, %{id: :kv, start: {:kv, :start_link, []}})
    :ok = GenServer.call(old, {:put, :a, 1})
    ref = Process.monitor(old)
    assert {:ok, new} = handoff(c1, old, c2.node)
    assert_receive {:DOWN, ^ref, :process, ^old, {:shutdown, {:handoff, ^new}}}, 15_000
    # a permanent child, yet no fresh (empty) kv under cnode_sup: it moved
    eventually(fn -> DynamicSupervisor.which_children(sup) == [] end, 5_000, what: "the child gone")
    Process.sleep(300)
    assert DynamicSupervisor.count_children(sup).active == 0
    assert GenServer.call(new, {:get, :a}) == {:ok, 1}
  end

  test "messages held while suspended go to the new process, in order", ctx do
    %{c1: c1, c2: c2} = ctx
    old = kv(c1, a: 1)
    :ok = :sys.suspend(old)
    for i <- 1..50, do: GenServer.cast(old, {:put, :n, i})
    assert {:ok, new} = handoff(c1, old, c2.node)
    assert GenServer.call(old, {:get, :n}) == {:ok, 50} # answered by new, after the 50 casts
    assert GenServer.call(new, {:get, :n}) == {:ok, 50}
    assert GenServer.call(new, {:get, :a}) == {:ok, 1}
  end

  test "C to a BEAM node and back", ctx do
    %{c1: c1} = ctx
    p = start_peer()
    [{:kv, bin}] = Code.compile_file(@kv_source)
    :code.purge(:kv)
    :code.delete(:kv)
    {:module, :kv} = peer_call(p, :code, :load_binary, [:kv, ~c"kv.ex", bin])
    old = kv(c1, a: 1, b: [2, 3])
    assert {:ok, bpid} = handoff(c1, old, p.node)
    assert node(bpid) == p.node
    assert GenServer.call(bpid, {:get, :b}) == {:ok, [2, 3]}
    :ok = GenServer.call(bpid, {:put, :from_beam, true})
    # and back: the BEAM process's state starts a C worker (cnode_import), and the BEAM
    # process forwards to it meanwhile, as cnoded does
    assert {:ok, cpid} = :erpc.call(c1.node, :kv, :cnode_import, [:sys.get_state(bpid)])
    assert node(cpid) == c1.node
    assert GenServer.call(cpid, {:get, :from_beam}) == {:ok, true}
    assert GenServer.call(cpid, {:get, :a}) == {:ok, 1}
    ref = Process.monitor(bpid)
    assert {:ok, cpid2} = peer_call(p, :kv, :handoff, [bpid, c1.node])
    assert GenServer.call(bpid, {:put, :late, 1}) == :ok # forwarded
    assert GenServer.call(cpid2, {:get, :late}) == {:ok, 1}
    assert_receive {:DOWN, ^ref, :process, ^bpid, {:shutdown, {:handoff, ^cpid2}}}, 15_000
  end

  test "--drain-to: SIGTERM hands every stateful worker to the other node, then stops" do
    c2 = connect!(start_cnode(prefix: "h2"))
    c1 = connect!(start_cnode(prefix: "h1", args: ["--drain-to", c2.node]))
    kvs_on = fn c ->
      for p <- :erpc.call(c.node, :erlang, :processes, []),
          :erpc.call(c.node, :erlang, :process_info, [p, :initial_call]) ==
            {:initial_call, {:kv, :init, 1}},
          do: p
    end
    assert kvs_on.(c2) == []
    olds = for i <- 1..3, do: kv(c1, n: i, data: String.duplicate("x", i))
    :ok = :global.sync()
    :yes = :global.register_name(:drained_kv, hd(olds))
    states = Enum.map(olds, &:sys.get_state/1)
    _echo = :sys.get_state({:echo, c1.node}) # echo exports but does not import: it stays
    sigterm(c1)
    wait_log(c1, ~r/drained 3 of 3 workers to #{Regex.escape(to_string(c2.node))}/, 20_000)
    assert wait_exit(c1, 20_000) == 0
    moved = kvs_on.(c2)
    assert length(moved) == 3
    assert Enum.sort(Enum.map(moved, &:sys.get_state/1)) == Enum.sort(states)
    assert :global.whereis_name(:drained_kv) in moved
    assert GenServer.call({:global, :drained_kv}, {:get, :n}) == {:ok, 1}
  end

  test "scripts/demo-handoff.sh: four moves and a drain under a busy client lose no update" do
    script = Path.expand("../../scripts/demo-handoff.sh", __DIR__)
    {out, status} = System.cmd("bash", [script], stderr_to_stdout: true,
                               env: [{"CNODED", System.fetch_env!("CNODED")}])
    assert status == 0, out
    [_, n] = Regex.run(~r/increments the client made\s+(\d+)/, out)
    assert String.to_integer(n) > 0
    assert out =~ ~r/count in the worker, after four moves\s+#{n}\n/
    assert out =~ "{:shutdown, {:handoff,"
  end

  test "a failed handoff changes nothing and says why", ctx do
    %{c1: c1, c2: c2} = ctx
    p = start_peer() # no kv module there
    old = kv(c1, a: 1)
    assert {:error, {:import_failed, :undef}} = handoff(c1, old, p.node)
    assert {:error, {:import_failed, {:erpc, :noconnection}}} =
             handoff(c1, old, :"nobody@nowhere-#{System.unique_integer([:positive])}")
    assert GenServer.call(old, {:get, :a}) == {:ok, 1}
    # a worker that exports no state cannot move
    probe = Node.spawn(c1.node, :probe, :start, [self()])
    assert handoff(c1, probe, c2.node) == {:error, :no_export_state}
    # cnode_import: a state kv cannot take; a module that imports nothing
    assert :erpc.call(c2.node, :kv, :cnode_import, [:not_a_map]) == {:error, :import_failed}
    assert {:exception, :undef, _} = catch_error(:erpc.call(c2.node, :probe, :cnode_import, [%{}]))
    assert {:error, :noproc} = handoff(c1, :no_such_name, c2.node)
    assert GenServer.call(old, {:get, :a}) == {:ok, 1}
  end
end
