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
end
