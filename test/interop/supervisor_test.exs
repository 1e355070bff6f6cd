# cnode_sup: the C node's supervisor, driven from Elixir with DynamicSupervisor and Supervisor
# calls (PRODUCT.md §2): starting, listing, counting and terminating C workers; restarts by type
# (permanent / transient / temporary); the restart intensity, after which a fresh cnode_sup takes
# the name; children given with cnoded --child.
#
# kv children hold state (to see that a sibling's restart leaves it alone); probe children
# (workers/probe.c) stop on request with any reason ({:stop, reason}) and forward what they
# receive to the test process, which is how exits by reason and trapped shutdowns are driven.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.SupervisorTest.KvStub do
  @moduledoc "A BEAM-side child_spec for the C kv worker, so that {Mod, arg} / Mod specs work."
  def child_spec(arg), do: %{id: :kv, start: {:kv, :start_link, [arg]}}
end

defmodule Interop.SupervisorTest do
  use ExUnit.Case
  import CnodeTest
  alias Interop.SupervisorTest.KvStub

  setup ctx do
    c = start_cnode(ctx[:cnode] || [])
    %{c: connect!(c), sup: {:cnode_sup, c.node}}
  end

  # ---- helpers ----------------------------------------------------------------------------

  defp kv_spec(opts \\ []) do
    Map.merge(%{id: :kv, start: {:kv, :start_link, [:arg]}}, Map.new(opts))
  end

  defp probe_spec(restart, opts \\ []) do
    Map.merge(%{id: :probe, start: {:probe, :start_link, [self()]}, restart: restart}, Map.new(opts))
  end

  defp start!(sup, spec) do
    assert {:ok, pid} = DynamicSupervisor.start_child(sup, spec)
    assert is_pid(pid)
    pid
  end

  defp pids(sup), do: for({_, pid, _, _} <- DynamicSupervisor.which_children(sup), do: pid)

  # wait until `old` is gone from which_children and a new pid of the same count is there
  defp await_replacement(sup, old, n) do
    eventually(
      fn ->
        ps = pids(sup)
        length(ps) == n and old not in ps and Enum.all?(ps, &is_pid/1) and ps
      end,
      5_000,
      what: "a new child to replace #{inspect(old)}"
    )
  end

  # kill the one child not in `keep`, n times, each time the one that replaced the last
  defp kill_repeatedly(sup, n, keep) do
    Enum.reduce(1..n, nil, fn i, prev ->
      victim =
        eventually(
          fn -> Enum.find(pids(sup) -- [prev | keep], &is_pid/1) end,
          5_000,
          what: "the child to kill (#{i} of #{n})"
        )

      Process.exit(victim, :kill)
      down(victim)
      victim
    end)
  end

  defp down(pid) do
    ref = Process.monitor(pid)
    assert_receive {:DOWN, ^ref, :process, _, reason}, 5_000
    reason
  end

  # ---- the calls --------------------------------------------------------------------------

  describe "DynamicSupervisor calls" do
    test "start_child, which_children, count_children, terminate_child", %{c: c, sup: sup} do
      assert DynamicSupervisor.which_children(sup) == []
      assert DynamicSupervisor.count_children(sup) == %{active: 0, specs: 0, supervisors: 0, workers: 0}

      pid = start!(sup, %{id: :x, start: {:kv, :start_link, [:arg]}, restart: :permanent})
      assert node(pid) == c.node
      assert GenServer.call(pid, {:put, :a, 1}) == :ok
      assert GenServer.call(pid, {:get, :a}) == {:ok, 1}

      assert DynamicSupervisor.which_children(sup) == [{:undefined, pid, :worker, [:kv]}]
      assert Supervisor.which_children(sup) == [{:undefined, pid, :worker, [:kv]}]
      counts = %{active: 1, specs: 1, supervisors: 0, workers: 1}
      assert DynamicSupervisor.count_children(sup) == counts
      assert Supervisor.count_children(sup) == counts

      ref = Process.monitor(pid)
      assert DynamicSupervisor.terminate_child(sup, pid) == :ok
      assert_receive {:DOWN, ^ref, :process, ^pid, :shutdown}, 5_000
      assert DynamicSupervisor.which_children(sup) == []
      assert DynamicSupervisor.count_children(sup) == %{active: 0, specs: 0, supervisors: 0, workers: 0}
      assert DynamicSupervisor.terminate_child(sup, pid) == {:error, :not_found}
      assert DynamicSupervisor.terminate_child(sup, self()) == {:error, :not_found}
      assert Supervisor.terminate_child(sup, :x) == {:error, :not_found}
      assert echo(c, :still_here) == :still_here
    end

    test "several children: listed and counted, type and modules as the spec gives them", %{sup: sup} do
      a = start!(sup, kv_spec())
      b = start!(sup, kv_spec(modules: :dynamic))
      s = start!(sup, %{id: :s, start: {:cnode_sup, :start_link, [[]]}, type: :supervisor})

      children = DynamicSupervisor.which_children(sup)
      assert Enum.sort(children) ==
               Enum.sort([
                 {:undefined, a, :worker, [:kv]},
                 {:undefined, b, :worker, :dynamic},
                 {:undefined, s, :supervisor, [:cnode_sup]}
               ])

      assert DynamicSupervisor.count_children(sup) == %{active: 3, specs: 3, supervisors: 1, workers: 2}
    end

    test "child specs: {Mod, arg} and Mod through a BEAM child_spec/1, the classic tuple, Supervisor.start_child with a map", %{sup: sup} do
      a = start!(sup, {KvStub, :x})
      b = start!(sup, KvStub)
      # the classic six-tuple (DynamicSupervisor sends its five-element form)
      c = start!(sup, {:old, {:kv, :start_link, []}, :temporary, 500, :worker, [:kv]})
      assert {:ok, d} = Supervisor.start_child(sup, %{id: :m, start: {:kv, :start_link, [1, 2]}})
      # a list of small integers arrives as a string; the worker still gets a list
      assert {:ok, e} = GenServer.call(sup, {:start_child, {{:kv, :start_link, [1, 2, 3]}, :permanent, 5000, :worker, [:kv]}})

      for p <- [a, b, c, d, e], do: assert(GenServer.call(p, :keys) == [])
      assert length(DynamicSupervisor.which_children(sup)) == 5
    end

    test "an unknown module is {:error, {:undef, [{M, F, A, []} | _]}}, as apply/3 fails on a BEAM node", %{sup: sup} do
      assert {:error, {:undef, [{:no_such_worker, :start_link, [1], []} | _]}} =
               DynamicSupervisor.start_child(sup, %{id: :n, start: {:no_such_worker, :start_link, [1]}})

      assert DynamicSupervisor.which_children(sup) == []
    end

    test "a failing init is {:error, reason} and leaves no child", %{sup: sup} do
      # a nested cnode_sup refuses bad options as DynamicSupervisor.init does
      spec = %{id: :bad, start: {:cnode_sup, :start_link, [[max_restarts: -1]]}, type: :supervisor}

      assert DynamicSupervisor.start_child(sup, spec) ==
               {:error, {:supervisor_data, {:invalid_intensity, -1}}}

      spec = %{id: :bad, start: {:cnode_sup, :start_link, [[strategy: :one_for_all]]}}

      assert DynamicSupervisor.start_child(sup, spec) ==
               {:error, {:supervisor_data, {:invalid_strategy, :one_for_all}}}

      assert DynamicSupervisor.count_children(sup) == %{active: 0, specs: 0, supervisors: 0, workers: 0}
    end

    test "malformed specs and other calls get errors, not a crash", %{c: c, sup: sup} do
      call = fn req -> GenServer.call(sup, req) end
      mfa = {:kv, :start_link, []}
      assert call.({:start_child, {mfa, :bogus, 5000, :worker, [:kv]}}) == {:error, {:invalid_restart_type, :bogus}}
      assert call.({:start_child, {mfa, :permanent, -1, :worker, [:kv]}}) == {:error, {:invalid_shutdown, -1}}
      assert call.({:start_child, {mfa, :permanent, 5000, :thing, [:kv]}}) == {:error, {:invalid_child_type, :thing}}
      assert call.({:start_child, {mfa, :permanent, 5000, :worker, [1]}}) == {:error, {:invalid_modules, [1]}}
      assert call.({:start_child, {{:kv, :start_link, :x}, :permanent, 5000, :worker, [:kv]}}) ==
               {:error, {:invalid_mfa, {:kv, :start_link, :x}}}
      assert call.({:start_child, :foo}) == {:error, {:invalid_child_spec, :foo}}
      assert call.({:restart_child, :x}) == {:error, :not_supported}
      assert call.(:what) == {:error, :not_supported}
      send(sup, :unexpected)
      assert DynamicSupervisor.which_children(sup) == []
      assert echo(c, :ok) == :ok
    end

    test "a nested cnode_sup supervises its own children and goes with them on terminate_child", %{sup: sup} do
      s = start!(sup, %{id: :s, start: {:cnode_sup, :start_link, [[max_restarts: 1]]}, type: :supervisor})
      k = start!(s, kv_spec())
      assert DynamicSupervisor.which_children(s) == [{:undefined, k, :worker, [:kv]}]
      kref = Process.monitor(k)
      sref = Process.monitor(s)
      assert DynamicSupervisor.terminate_child(sup, s) == :ok
      assert_receive {:DOWN, ^kref, :process, ^k, :shutdown}, 5_000
      assert_receive {:DOWN, ^sref, :process, ^s, :shutdown}, 5_000
      assert DynamicSupervisor.which_children(sup) == []
    end
  end

  # ---- terminate_child waits, without blocking the supervisor ------------------------------

  describe "terminate_child" do
    test "a child that traps the shutdown is killed after its shutdown time; others are served meanwhile", %{sup: sup} do
      p = start!(sup, probe_spec(:permanent, shutdown: 1_000))
      other = start!(sup, kv_spec())
      assert GenServer.call(p, {:trap_exit, true}) == :ok
      ref = Process.monitor(p)
      t0 = System.monotonic_time(:millisecond)
      task = Task.async(fn -> DynamicSupervisor.terminate_child(sup, p) end)

      # the probe gets the shutdown as a message (and ignores it)
      assert_receive {:probe, ^p, {:EXIT, _sup_pid, :shutdown}}, 5_000
      # the supervisor answers while it waits; the child is no longer listed
      assert DynamicSupervisor.which_children(sup) == [{:undefined, other, :worker, [:kv]}]
      assert System.monotonic_time(:millisecond) - t0 < 800

      assert Task.await(task, 5_000) == :ok
      assert System.monotonic_time(:millisecond) - t0 >= 950
      assert_receive {:DOWN, ^ref, :process, ^p, :killed}, 1_000
      assert pids(sup) == [other]
    end

    test "brutal_kill kills at once", %{sup: sup} do
      p = start!(sup, probe_spec(:permanent, shutdown: :brutal_kill))
      assert GenServer.call(p, {:trap_exit, true}) == :ok
      ref = Process.monitor(p)
      assert DynamicSupervisor.terminate_child(sup, p) == :ok
      assert_receive {:DOWN, ^ref, :process, ^p, :killed}, 2_000
      assert DynamicSupervisor.which_children(sup) == []
    end
  end

  # ---- restarts ---------------------------------------------------------------------------

  describe "restarts" do
    test "a killed permanent child is restarted; its sibling keeps its pid and state", %{sup: sup} do
      victim = start!(sup, kv_spec())
      sibling = start!(sup, kv_spec())
      assert GenServer.call(sibling, {:put, :k, :v}) == :ok
      assert GenServer.call(victim, {:put, :k, :lost}) == :ok

      Process.exit(victim, :kill)
      assert down(victim) in [:killed, :noproc]
      ps = await_replacement(sup, victim, 2)
      assert sibling in ps
      [new] = ps -- [sibling]
      assert GenServer.call(new, :keys) == []
      assert GenServer.call(sibling, {:get, :k}) == {:ok, :v}
      assert DynamicSupervisor.count_children(sup) == %{active: 2, specs: 2, supervisors: 0, workers: 2}
    end

    test "permanent: restarted after a normal exit too", %{sup: sup} do
      p = start!(sup, probe_spec(:permanent))
      assert GenServer.call(p, {:stop, :normal}) == :ok
      [new] = await_replacement(sup, p, 1)
      assert GenServer.call(new, :ping) == {:error, :badarg}
    end

    test "transient: not restarted after normal, shutdown or {:shutdown, _}; restarted after a crash", %{c: c, sup: sup} do
      for reason <- [:normal, :shutdown, {:shutdown, :done}] do
        p = start!(sup, probe_spec(:transient))
        ref = Process.monitor(p)
        assert GenServer.call(p, {:stop, reason}) == :ok
        assert_receive {:DOWN, ^ref, :process, ^p, ^reason}, 5_000
        eventually(fn -> DynamicSupervisor.which_children(sup) == [] end, 2_000,
          what: "the transient child stopped with #{inspect(reason)} to be dropped")
      end

      # a moment later it is still not back
      Process.sleep(200)
      assert DynamicSupervisor.which_children(sup) == []

      p = start!(sup, probe_spec(:transient))
      mark = log_mark(c)
      assert GenServer.call(p, {:stop, :boom}) == :ok
      [new] = await_replacement(sup, p, 1)
      assert node(new) == c.node
      wait_log(c, ~r/cnode_sup: child .* \(probe\) exited: boom; restarting/, 2_000, after: mark)
    end

    test "temporary: never restarted", %{sup: sup} do
      p = start!(sup, probe_spec(:temporary))
      q = start!(sup, probe_spec(:temporary))
      Process.exit(p, :kill)
      assert GenServer.call(q, {:stop, :boom}) == :ok
      eventually(fn -> DynamicSupervisor.which_children(sup) == [] end, 2_000)
      Process.sleep(200)
      assert DynamicSupervisor.count_children(sup) == %{active: 0, specs: 0, supervisors: 0, workers: 0}
    end

    test "more than 3 restarts in 5 s: the supervisor shuts everything down and a fresh one takes the name", %{c: c, sup: sup} do
      mark = log_mark(c)
      bystander = start!(sup, kv_spec())
      temp = start!(sup, probe_spec(:temporary))
      start!(sup, kv_spec(id: :victim))
      bref = Process.monitor(bystander)
      tref = Process.monitor(temp)
      sref = Process.monitor(sup)

      # kill the victim 4 times: 3 restarts are allowed, the 4th is one too many
      kill_repeatedly(sup, 4, [bystander, temp])

      assert_receive {:DOWN, ^sref, :process, _, :shutdown}, 5_000
      assert_receive {:DOWN, ^bref, :process, ^bystander, :shutdown}, 5_000
      assert_receive {:DOWN, ^tref, :process, ^temp, :shutdown}, 5_000
      wait_log(c, "reached the maximum restart intensity", 2_000, after: mark)
      wait_log(c, "started a fresh cnode_sup", 5_000, after: mark)

      # the name is back, empty, and works
      eventually(fn -> DynamicSupervisor.which_children(sup) == [] end, 5_000,
        what: "a fresh, empty cnode_sup")

      k = start!(sup, kv_spec())
      assert GenServer.call(k, {:put, 1, 2}) == :ok
      assert echo(c, :alive) == :alive
    end

    test "restarts spread over more than the period do not add up", %{sup: sup} do
      start!(sup, kv_spec())
      sref = Process.monitor(sup)

      for _ <- 1..3 do
        [v] = pids(sup)
        Process.exit(v, :kill)
        await_replacement(sup, v, 1)
      end

      # the window is 5 s: after it, three more restarts are allowed
      Process.sleep(5_200)

      for _ <- 1..3 do
        [v] = pids(sup)
        Process.exit(v, :kill)
        await_replacement(sup, v, 1)
      end

      refute_received {:DOWN, ^sref, _, _, _}
    end
  end

  # ---- --child ----------------------------------------------------------------------------

  describe "cnoded --child" do
    @tag cnode: [args: ["--child", "kv:store", "--child", "probe"]]
    test "static children run from the start; named ones are re-registered on restart", %{c: c, sup: sup} do
      children = DynamicSupervisor.which_children(sup)
      assert length(children) == 2
      assert Enum.sort(for {:undefined, _, :worker, [m]} <- children, do: m) == [:kv, :probe]
      assert DynamicSupervisor.count_children(sup) == %{active: 2, specs: 2, supervisors: 0, workers: 2}

      store = {:store, c.node}
      assert GenServer.call(store, {:put, :a, 1}) == :ok
      [{_, kv, _, _}] = Enum.filter(children, &match?({_, _, _, [:kv]}, &1))
      assert GenServer.call(kv, {:get, :a}) == {:ok, 1}

      Process.exit(kv, :kill)
      down(kv)

      eventually(fn ->
        try do
          GenServer.call(store, :keys, 1_000) == []
        catch
          :exit, _ -> false
        end
      end, 5_000, what: "the restarted store to answer under its name")

      assert length(DynamicSupervisor.which_children(sup)) == 2
    end

    @tag cnode: [args: ["--child", "kv:store"]]
    test "a fresh cnode_sup (after the intensity is exceeded) starts them again", %{c: c, sup: sup} do
      sref = Process.monitor(sup)
      kill_repeatedly(sup, 4, [])

      assert_receive {:DOWN, ^sref, :process, _, :shutdown}, 5_000

      eventually(fn ->
        try do
          GenServer.call({:store, c.node}, :keys, 1_000) == [] and
            length(DynamicSupervisor.which_children(sup)) == 1
        catch
          :exit, _ -> false
        end
      end, 5_000, what: "the store to be back under the fresh cnode_sup")
    end

    test "an unknown module or a malformed --child is a usage error (status 2)" do
      for args <- [["--child", "no_such_worker"], ["--child", "kv:"], ["--child", ":x"], ["--child", "kv:echo"]] do
        c = start_cnode(args: args, wait: false, fail_fast: false)
        status = wait_exit(c)
        wait_log(c, ~r/^cnoded: .*--child/, 2_000)

        # an ASan build in a root without ptrace: LeakSanitizer itself fails and exits 1
        unless status == 1 and log_lines(c, "LeakSanitizer has encountered a fatal error") != [],
          do: assert(status == 2, "exit status #{inspect(status)} for #{inspect(args)}")
      end
    end
  end
end
