# The worker API's timers and node monitoring, seen through the `probe` worker (workers/probe.c):
# a GenServer-style timeout that any message cancels, and monitor_node's {:nodedown, node}.
ExUnit.start()

defmodule Interop.WorkerApiTest do
  use ExUnit.Case
  import CnodeTest

  setup do
    c = start_cnode()
    true = Node.connect(c.node)
    probe = Node.spawn(c.node, :probe, :start, [self()])
    {:ok, c: c, probe: probe}
  end

  test "a timeout with no message in between arrives as the info :timeout", %{probe: probe} do
    :ok = GenServer.call(probe, {:timeout, 200})
    assert_receive {:probe, ^probe, :timeout}, 2000
  end

  test "a message before the timeout cancels it", %{probe: probe} do
    :ok = GenServer.call(probe, {:timeout, 400})
    send(probe, :poke)
    assert_receive {:probe, ^probe, :poke}, 1000
    refute_receive {:probe, ^probe, :timeout}, 800
  end

  test "monitor_node reports nodedown when a peer goes, and at once for an unreachable node",
       %{probe: probe} do
    peer = start_peer()
    :ok = GenServer.call(probe, {:monitor_node, peer.node, true})
    # the probe dialled the peer: it must be up from the peer's side too
    assert eventually(fn -> node(probe) in peer_call(peer, :erlang, :nodes, [:connected]) end, 5000)
    kill9(peer.os_pid)
    assert_receive {:probe, ^probe, {:nodedown, node}}, 10_000
    assert node == peer.node

    [_, host] = node() |> Atom.to_string() |> String.split("@")
    ghost = :"nosuchnode#{System.unique_integer([:positive])}@#{host}"
    :ok = GenServer.call(probe, {:monitor_node, ghost, true})
    assert_receive {:probe, ^probe, {:nodedown, ^ghost}}, 10_000
  end
end
