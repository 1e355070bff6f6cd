# net_kernel:monitor_nodes semantics for C processes (issue 5, "Node life"): a C process that
# subscribes hears {nodeup, N} / {nodedown, N} for visible connections, and with node_type all
# also hidden ones in the {nodeup, N, [{node_type, T}]} form; unsubscribing stops the messages.
# The probe worker (workers/probe.c) subscribes and forwards what it receives as {:probe, Pid, Msg}.
CnodeTest.watchdog(200, __ENV__.file)
ExUnit.start(trace: true, timeout: 90_000)

defmodule Interop.NodeMonitorTest do
  use ExUnit.Case
  import CnodeTest

  setup do
    c = start_cnode()
    %{c: connect!(c)}
  end

  defp probe(c) do
    pid = Node.spawn(c.node, :probe, :start, [self()])
    assert is_pid(pid)
    pid
  end

  test "visible subscribers see nodeup and nodedown of BEAM peers, in order", %{c: c} do
    pr = probe(c)
    assert GenServer.call(pr, {:monitor_nodes, true, :visible}) == :ok
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    pn = p.node
    assert_receive {:probe, ^pr, {:nodeup, ^pn}}, 10_000
    stop_peer(p)
    assert_receive {:probe, ^pr, {:nodedown, ^pn}}, 10_000
    # the runner's own connection stays up: no event for it
    refute_received {:probe, ^pr, {:nodedown, _}}
  end

  test "hidden connections are reported only to node_type all subscribers", %{c: c} do
    vis = probe(c)
    all = probe(c)
    assert GenServer.call(vis, {:monitor_nodes, true, :visible}) == :ok
    assert GenServer.call(all, {:monitor_nodes, true, :all}) == :ok
    h = start_peer(hidden: true, connection: :standard_io)
    assert peer_call(h, :net_kernel, :connect_node, [c.node]) == true
    hn = h.node
    assert_receive {:probe, ^all, {:nodeup, ^hn, [node_type: :hidden]}}, 10_000
    stop_peer(h)
    assert_receive {:probe, ^all, {:nodedown, ^hn, [node_type: :hidden]}}, 10_000
    refute_received {:probe, ^vis, {:nodeup, ^hn}}
    refute_received {:probe, ^vis, {:nodedown, ^hn}}
  end

  test "a subscription ends with monitor_nodes false and with the subscriber", %{c: c} do
    pr = probe(c)
    assert GenServer.call(pr, {:monitor_nodes, true, :visible}) == :ok
    assert GenServer.call(pr, {:monitor_nodes, false, :visible}) == :ok
    dead = probe(c)
    assert GenServer.call(dead, {:monitor_nodes, true, :visible}) == :ok
    GenServer.stop(dead)
    p = start_peer()
    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    # a third subscriber proves the event was sent
    witness = probe(c)
    assert GenServer.call(witness, {:monitor_nodes, true, :visible}) == :ok
    stop_peer(p)
    pn = p.node
    assert_receive {:probe, ^witness, {:nodedown, ^pn}}, 10_000
    refute_received {:probe, ^pr, {:nodeup, ^pn}}
    refute_received {:probe, ^pr, {:nodedown, ^pn}}
  end

  test "a C node dying is a nodedown for C subscribers on another C node", %{c: c} do
    c2 = start_cnode()
    pr = probe(c)
    assert GenServer.call(pr, {:monitor_nodes, true, :visible}) == :ok
    # make c dial c2 through the probe (monitor_node connects)
    assert GenServer.call(pr, {:monitor_node, c2.node, true}) == :ok
    c2n = c2.node
    assert_receive {:probe, ^pr, {:nodeup, ^c2n}}, 10_000
    kill9(c2)
    assert_receive {:probe, ^pr, {:nodedown, ^c2n}}, 15_000
  end
end
