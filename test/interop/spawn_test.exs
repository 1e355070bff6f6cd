# Node.spawn / spawn_link / spawn_monitor of Mod:Fun on the C node, compared with a BEAM node:
# a worker module starts through start or start_link and nothing else (another function is
# undef, as a missing function of a loaded module); an exported RPC function runs in the new
# process, which ends as a BEAM process running that function ends.
CnodeTest.watchdog(240, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.SpawnTest do
  use ExUnit.Case
  import CnodeTest
  import ExUnit.CaptureIO

  # a BEAM peer beside each cnode: what a BEAM node does is the reference
  setup do
    c = connect!(start_cnode())
    %{c: c, p: start_peer()}
  end

  defp down(node, m, f, a) do
    {pid, ref} = Node.spawn_monitor(node, m, f, a)
    assert node(pid) == node
    assert_receive {:DOWN, ^ref, :process, ^pid, reason}, 10_000
    reason
  end

  describe "a worker module" do
    @tag capture_log: true
    test "an unknown function of a worker module exits with undef, as on a BEAM node", %{c: c, p: p} do
      # :lists is loaded on the peer and has no nosuch/2
      assert down(p.node, :lists, :nosuch, [1, "two"]) == {:undef, [{:lists, :nosuch, [1, "two"], []}]}
      assert down(c.node, :kv, :nosuch, [1, "two"]) == {:undef, [{:kv, :nosuch, [1, "two"], []}]}
      assert down(c.node, :probe, :init, []) == {:undef, [{:probe, :init, [], []}]}

      Process.flag(:trap_exit, true)
      lpid = Node.spawn_link(c.node, :kv, :go, [])
      assert_receive {:EXIT, ^lpid, {:undef, [{:kv, :go, [], []}]}}, 5_000

      # plain spawn: a pid of a process that is gone, not a live kv
      spid = Node.spawn(c.node, :kv, :nosuch, [])
      ref = Process.monitor(spid)
      assert_receive {:DOWN, ^ref, :process, ^spid, r}, 5_000
      assert r in [:noproc, {:undef, [{:kv, :nosuch, [], []}]}]
      assert {:noproc, _} = catch_exit(GenServer.call(spid, :keys, 2_000))
      assert echo(c, :still_here) == :still_here
    end

    test "start and start_link start a worker", %{c: c} do
      for f <- [:start, :start_link] do
        pid = Node.spawn(c.node, :kv, f, [])
        assert :ok = GenServer.call(pid, {:put, :a, f})
        assert GenServer.call(pid, {:get, :a}) == {:ok, f}
        Process.exit(pid, :kill)
      end
    end

    test "a child spec naming an unknown function of a worker module is undef", %{c: c} do
      sup = {:cnode_sup, c.node}

      assert {:error, {:undef, [{:kv, :nosuch, [1], []} | _]}} =
               DynamicSupervisor.start_child(sup, %{id: :n, start: {:kv, :nosuch, [1]}})

      assert DynamicSupervisor.which_children(sup) == []
      assert {:ok, pid} = DynamicSupervisor.start_child(sup, %{id: :k, start: {:kv, :start_link, []}})
      assert GenServer.call(pid, :keys) == []
    end
  end

  describe "an exported function" do
    test "runs in the new process, which exits normal when it returns", %{c: c, p: p} do
      assert :erpc.call(c.node, :demo, :add, [1, 2]) == 3
      assert down(p.node, :erlang, :+, [1, 2]) == :normal
      assert down(c.node, :demo, :add, [1, 2]) == :normal

      # it is a live process of the C node while the function runs
      {pid, ref} = Node.spawn_monitor(c.node, :demo, :sleep, [3_000])
      assert is_list(:erpc.call(c.node, :erlang, :process_info, [pid]))
      assert_receive {:DOWN, ^ref, :process, ^pid, :normal}, 15_000

      # linked and trapping: {:EXIT, pid, :normal}, as from a BEAM process
      Process.flag(:trap_exit, true)
      lpid = Node.spawn_link(c.node, :demo, :echo, [:a, :b, :c])
      assert_receive {:EXIT, ^lpid, :normal}, 5_000
    end

    test "its output goes to the spawner's group leader", %{c: c} do
      out =
        capture_io(fn ->
          {pid, ref} = Node.spawn_monitor(c.node, :demo, :print, ["from a spawned C process\n"])
          assert_receive {:DOWN, ^ref, :process, ^pid, :normal}, 10_000
        end)

      assert out =~ "from a spawned C process"
    end

    @tag capture_log: true
    test "exit, error and throw end the process with the BEAM's reasons", %{c: c, p: p} do
      # exit(R): R
      assert down(p.node, :erlang, :exit, [{:bye, 1}]) == {:bye, 1}
      assert down(c.node, :demo, :exit, [{:bye, 1}]) == {:bye, 1}

      # error(E): {E, Stack}
      assert {:oops, [_ | _]} = down(p.node, :erlang, :error, [:oops])
      assert down(c.node, :demo, :fail, [:oops]) == {:oops, [{:demo, :fail, 1, []}]}
      assert {:badarg, [{:demo, :add, 2, []}]} = down(c.node, :demo, :add, [1, :a])

      # throw(T): {{:nocatch, T}, Stack}
      assert {{:nocatch, :ball}, [_ | _]} = down(p.node, :erlang, :throw, [:ball])
      assert down(c.node, :demo, :throw, [:ball]) == {{:nocatch, :ball}, [{:demo, :throw, 1, []}]}

      # linked and trapping: the same reason as an EXIT message
      Process.flag(:trap_exit, true)
      lpid = Node.spawn_link(c.node, :demo, :fail, [:linked])
      assert_receive {:EXIT, ^lpid, {:linked, [{:demo, :fail, 1, []}]}}, 5_000
    end

    @tag capture_log: true
    test "a wrong arity or an unknown function of an export module is undef, as on a BEAM node", %{c: c, p: p} do
      assert down(p.node, :lists, :reverse, [1, 2, 3]) == {:undef, [{:lists, :reverse, [1, 2, 3], []}]}
      assert down(c.node, :demo, :add, [1, 2, 3]) == {:undef, [{:demo, :add, [1, 2, 3], []}]}
      assert down(c.node, :demo, :nosuch, []) == {:undef, [{:demo, :nosuch, [], []}]}
      assert echo(c, :still_here) == :still_here
    end
  end
end
