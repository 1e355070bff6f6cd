# RPC both ways (PROTOCOL.md §4.5, §6.3, §6.4, §6.6): BEAM → C through :erpc, :rpc and rex, with
# the example exports of workers/demo_rpc.c (:demo.add/2, fail/1, throw/1, exit/1, sleep/1,
# print/1, echo/N); C → BEAM through the probe's {:rpc, ...} (cn_rpc_call). Outcomes are compared
# with a BEAM peer that runs the same :demo module in Elixir.
ExUnit.start(timeout: 120_000)
CnodeTest.watchdog(280, __ENV__.file)

defmodule Interop.RpcTest do
  use ExUnit.Case
  import CnodeTest
  import ExUnit.CaptureIO

  # :demo on a BEAM node: what the C exports do, written in Elixir.
  @demo_src """
  defmodule :demo do
    import Kernel, except: [throw: 1, exit: 1]
    def add(a, b) when is_integer(a) and is_integer(b), do: a + b
    def add(_, _), do: :erlang.error(:badarg)
    def fail(reason), do: :erlang.error(reason)
    def throw(term), do: :erlang.throw(term)
    def exit(reason), do: :erlang.exit(reason)
    def sleep(ms) do
      Process.sleep(ms)
      :ok
    end
    def print(text) do
      IO.write(text)
      :ok
    end
    def echo, do: []
    def echo(a), do: [a]
    def echo(a, b), do: [a, b]
    def echo(a, b, c), do: [a, b, c]
    def die, do: Process.exit(self(), :kill)
  end
  """

  setup_all do
    c = start_cnode()
    c2 = start_cnode(prefix: "d")
    true = Node.connect(c.node)
    true = Node.connect(c2.node)
    peer = start_peer()
    [{mod, bin}] = Code.compile_string(@demo_src)
    {:module, :demo} = peer_call(peer, :code, :load_binary, [mod, ~c"demo.ex", bin])
    {:ok, c: c, c2: c2, peer: peer, demo_bin: bin}
  end

  # How a call ended, with the stack's locations dropped (a BEAM stack names file and line).
  defp outcome(fun) do
    {:ok, fun.()} |> norm()
  catch
    class, reason -> {class, norm(reason)}
  end

  defp norm({:badrpc, {:EXIT, {reason, stack}}}) when is_list(stack),
    do: {:badrpc, {:EXIT, {reason, norm_stack(stack)}}}

  defp norm({:exception, reason, stack}), do: {:exception, reason, norm_stack(stack)}
  defp norm({:ok, v}), do: {:ok, norm(v)}
  defp norm({:error, {:exception, reason, stack}}), do: {:error, {:exception, reason, norm_stack(stack)}}
  defp norm(other), do: other

  defp norm_stack(stack), do: Enum.map(stack, fn {m, f, a, _loc} -> {m, f, a} end)

  defp dead_node, do: :"nosuchnode#{System.unique_integer([:positive])}@#{host()}"

  # A process whose group leader is a StringIO runs fun; returns {result, output}.
  defp with_gl(fun) do
    {:ok, io} = StringIO.open("")
    task =
      Task.async(fn ->
        Process.group_leader(self(), io)
        fun.()
      end)

    result = Task.await(task, 15_000)
    {_, out} = StringIO.contents(io)
    StringIO.close(io)
    {result, out}
  end

  defp probe(c) do
    pid = Node.spawn(c.node, :probe, :start, [self()])
    assert is_pid(pid)
    pid
  end

  # ---- BEAM → C -----------------------------------------------------------------------------

  test "erpc.call/4,5 and rpc.call/4,5 return the value", %{c: c} do
    n = c.node
    assert :erpc.call(n, :demo, :add, [1, 2]) == 3
    assert :erpc.call(n, :demo, :add, [-5, 2], 5_000) == -3
    assert :rpc.call(n, :demo, :add, [40, 2]) == 42
    assert :rpc.call(n, :demo, :add, [40, 2], 5_000) == 42
    # sums beyond 64 bits come back as bignums
    max = 9_223_372_036_854_775_807
    assert :erpc.call(n, :demo, :add, [max, max]) == 2 * max
    assert :erpc.call(n, :demo, :add, [-max - 1, -max - 1]) == -2 * (max + 1)
    assert :erpc.call(n, :demo, :add, [-max - 1, -1]) == -max - 2
    # echo/N: any arity, any terms (an argument list of small integers travels as a string)
    assert :erpc.call(n, :demo, :echo, []) == []
    assert :erpc.call(n, :demo, :echo, [1, 2, 3]) == [1, 2, 3]
    args = [self(), %{a: [1.5, "bin"]}, {:t, make_ref()}, ~c"chars", <<1, 2, 3>>]
    assert :rpc.call(n, :demo, :echo, args) == args
    assert :rpc.call(n, :demo, :echo, Enum.to_list(1..40)) == Enum.to_list(1..40)
    # the export table is visible
    exports = :erpc.call(n, :cnode, :exports, [])
    assert {:demo, :add, 2} in exports
    assert {:demo, :echo, :_} in exports
  end

  test "errors, throws and exits keep class and reason as a BEAM node gives them",
       %{c: c, peer: peer} do
    cases = [
      {:demo, :add, [1, :a]},
      {:demo, :add, [1.5, 2]},
      {:demo, :fail, [:boom]},
      {:demo, :fail, [{:my_error, "with", [:data]}]},
      {:demo, :throw, [:thrown]},
      {:demo, :throw, [{:EXIT, :looks_like_badrpc}]},
      {:demo, :exit, [:bye]},
      {:demo, :exit, [{:shutdown, :why}]},
      {:demo, :nope, [1, 2]},
      {:demo, :add, [1]},
      {:nosuchmodule, :f, []}
    ]

    for {m, f, a} <- cases do
      for {what, call} <- [
            {"erpc.call/4", fn n -> :erpc.call(n, m, f, a) end},
            {"erpc.call/5", fn n -> :erpc.call(n, m, f, a, 5_000) end},
            {"rpc.call/4", fn n -> :rpc.call(n, m, f, a) end},
            {"rpc.call/5", fn n -> :rpc.call(n, m, f, a, 5_000) end},
            {"rpc.block_call/4", fn n -> :rpc.block_call(n, m, f, a) end}
          ] do
        beam = outcome(fn -> call.(peer.node) end)
        cn = outcome(fn -> call.(c.node) end)
        assert cn == beam, "#{what} of #{inspect({m, f, a})}: C gave #{inspect(cn)}, BEAM #{inspect(beam)}"
      end
    end

    # spot checks of the shapes themselves
    assert {:error, {:exception, :badarg, [{:demo, :add, 2}]}} =
             outcome(fn -> :erpc.call(c.node, :demo, :add, [1, :a]) end)

    assert {:badrpc, {:EXIT, {:badarg, [{:demo, :add, 2, _}]}}} = :rpc.call(c.node, :demo, :add, [1, :a])
    assert :rpc.call(c.node, :demo, :throw, [:t]) == :t
    assert :rpc.call(c.node, :demo, :exit, [:bye]) == {:badrpc, {:EXIT, :bye}}
    assert {:exit, {:exception, :bye}} = outcome(fn -> :erpc.call(c.node, :demo, :exit, [:bye]) end)

    assert :rpc.call(c.node, :demo, :nope, [1]) ==
             {:badrpc, {:EXIT, {:undef, [{:demo, :nope, [1], []}]}}}
  end

  test "a caller-side timeout raises at once, the node goes on serving, nothing comes late",
       %{c: c} do
    t0 = System.monotonic_time(:millisecond)

    assert {:error, {:erpc, :timeout}} =
             outcome(fn -> :erpc.call(c.node, :demo, :sleep, [2_000], 100) end)

    assert System.monotonic_time(:millisecond) - t0 < 1_500
    assert :rpc.call(c.node, :demo, :sleep, [2_000], 100) == {:badrpc, :timeout}
    assert :rpc.block_call(c.node, :demo, :sleep, [2_000], 100) == {:badrpc, :timeout}

    # sleeping functions hold no scheduler: many at once, and a call still answers at once
    sleepers = for _ <- 1..8, do: Task.async(fn -> :erpc.call(c.node, :demo, :sleep, [1_000]) end)
    t1 = System.monotonic_time(:millisecond)
    assert :erpc.call(c.node, :demo, :add, [1, 1], 1_000) == 2
    assert System.monotonic_time(:millisecond) - t1 < 500
    assert Enum.map(sleepers, &Task.await(&1, 5_000)) == List.duplicate(:ok, 8)

    # the abandoned calls end and report nothing to us
    Process.sleep(2_200)
    refute_received _
    assert :erpc.call(c.node, :demo, :add, [2, 2]) == 4
  end

  test "erpc.cast and rpc.cast run the function, output included", %{c: c} do
    {:done, out} =
      with_gl(fn ->
        :ok = :erpc.cast(c.node, :demo, :print, ["from erpc.cast\n"])
        true = :rpc.cast(c.node, :demo, :print, ["from rpc.cast\n"])
        # a cast that raises takes nothing down
        :ok = :erpc.cast(c.node, :demo, :fail, [:ignored])
        :ok = :erpc.cast(c.node, :nosuchmodule, :f, [])
        Process.sleep(500)
        :done
      end)

    assert out =~ "from erpc.cast\n"
    assert out =~ "from rpc.cast\n"
    assert :erpc.call(c.node, :demo, :add, [1, 2]) == 3
  end

  test "erpc.multicall and rpc.multicall over C and BEAM nodes", %{c: c, c2: c2, peer: peer} do
    nodes = [c.node, peer.node, c2.node]
    assert :erpc.multicall(nodes, :demo, :add, [1, 2]) == [{:ok, 3}, {:ok, 3}, {:ok, 3}]
    assert :erpc.multicall(nodes, :demo, :add, [1, 2], 5_000) == [{:ok, 3}, {:ok, 3}, {:ok, 3}]

    for {f, a} <- [{:fail, [:x]}, {:throw, [:t]}, {:exit, [:e]}, {:nope, []}] do
      [r1, r2, r3] = :erpc.multicall(nodes, :demo, f, a) |> Enum.map(&norm/1)
      assert r1 == r2 and r3 == r2, "multicall of #{f}: #{inspect([r1, r2, r3])}"
    end

    assert :erpc.multicall(nodes, :demo, :sleep, [2_000], 200) ==
             List.duplicate({:error, {:erpc, :timeout}}, 3)

    dead = dead_node()

    assert :erpc.multicall([c.node, dead], :demo, :add, [2, 2], 10_000) ==
             [{:ok, 4}, {:error, {:erpc, :noconnection}}]

    assert :rpc.multicall(nodes, :demo, :add, [1, 1]) == {[2, 2, 2], []}
    assert :rpc.multicall(nodes ++ [dead], :demo, :add, [1, 1], 10_000) == {[2, 2, 2], [dead]}
    assert {[{:badrpc, {:EXIT, :e}}, {:badrpc, {:EXIT, :e}}], []} = :rpc.multicall([c.node, peer.node], :demo, :exit, [:e])
  end

  test "erpc.send_request / receive_response and rpc.async_call / yield", %{c: c, peer: peer} do
    reqs = for i <- 1..20, do: {i, :erpc.send_request(c.node, :demo, :add, [i, i])}
    for {i, r} <- reqs, do: assert(:erpc.receive_response(r) == 2 * i)

    for {m, f, a} <- [{:demo, :fail, [:x]}, {:demo, :throw, [:t]}, {:demo, :exit, [:e]}] do
      on = fn n -> outcome(fn -> :erpc.receive_response(:erpc.send_request(n, m, f, a)) end) end
      assert on.(c.node) == on.(peer.node)
    end

    r = :erpc.send_request(c.node, :demo, :sleep, [2_000])
    assert {:error, {:erpc, :timeout}} = outcome(fn -> :erpc.receive_response(r, 100) end)

    key = :rpc.async_call(c.node, :demo, :add, [20, 22])
    assert :rpc.yield(key) == 42
    key = :rpc.async_call(c.node, :demo, :exit, [:e])
    assert :rpc.yield(key) == {:badrpc, {:EXIT, :e}}
    key = :rpc.async_call(c.node, :demo, :sleep, [300])
    assert :rpc.nb_yield(key, 0) == :timeout
    assert :rpc.nb_yield(key, 2_000) == {:value, :ok}
  end

  test "rex: block_call, the legacy C-node form, send_stdout_to_caller, sbcast, features",
       %{c: c, peer: peer} do
    assert :rpc.block_call(c.node, :demo, :add, [1, 2]) == 3
    assert :rpc.block_call(c.node, :demo, :add, [1, 2], 5_000) == 3

    send({:rex, c.node}, {self(), :features_request})
    assert_receive {:features_reply, node, [:erpc]}, 5_000
    assert node == c.node

    # the form C nodes use (ei_rpc): {Pid, {call, M, F, A, GL}} → {rex, Result}; same as BEAM
    legacy = fn n, mfa ->
      send({:rex, n}, {self(), :erlang.append_element(mfa, :user)})

      receive do
        {:rex, result} -> norm(result)
      after
        5_000 -> flunk("no {:rex, _} answer from #{n}")
      end
    end

    for mfa <- [{:call, :demo, :add, [1, 2]}, {:call, :demo, :fail, [:x]},
                {:call, :demo, :throw, [:t]}, {:call, :demo, :exit, [:e]}, {:call, :demo, :nope, []}] do
      assert legacy.(c.node, mfa) == legacy.(peer.node, mfa), "legacy #{inspect(mfa)}"
    end

    # gen_server call and cast of {call|cast, M, F, A, GL} to rex
    assert GenServer.call({:rex, c.node}, {:call, :demo, :add, [3, 4], :user}) == 7
    assert {:ok, "rex cast\n"} =
             with_gl(fn ->
               GenServer.cast({:rex, c.node}, {:cast, :demo, :print, ["rex cast\n"], Process.group_leader()})
               Process.sleep(500)
             end)

    # output to the caller as {rex_stdout, Data} before the result, as BEAM's rex does
    for n <- [c.node, peer.node] do
      send({:rex, n}, {self(), {:call, :demo, :print, ["to caller"], :send_stdout_to_caller}})
      assert_receive {:rex_stdout, "to caller"}, 5_000
      assert_receive {:rex, :ok}, 5_000
    end

    # sbcast / server_call: to a registered name on the node (the cnode's `echo`)
    assert :rpc.sbcast([c.node], :echo, :hello) == {[c.node], []}
    assert :rpc.sbcast([c.node], :nobody_here, :hello) == {[], [c.node]}
    assert :rpc.server_call(c.node, :rex, :rex, {:sbcast, :echo, :hi}) == c.node
  end

  test "output of a C function goes to the caller's group leader", %{c: c, peer: peer} do
    for n <- [c.node, peer.node] do
      assert with_gl(fn -> :erpc.call(n, :demo, :print, ["héllo ☃\n"]) end) == {:ok, "héllo ☃\n"}
      assert with_gl(fn -> :rpc.call(n, :demo, :print, [~c"chars ☃\n"]) end) == {:ok, "chars ☃\n"}
      assert with_gl(fn -> :rpc.block_call(n, :demo, :print, ["block\n"]) end) == {:ok, "block\n"}
    end

    assert capture_io(fn -> assert :erpc.call(c.node, :demo, :print, ["captured\n"]) == :ok end) ==
             "captured\n"

    # a bad argument: badarg as io does
    assert {:badrpc, {:EXIT, {:badarg, _}}} = :rpc.call(c.node, :demo, :print, [:not_text])
  end

  test "a burst of 10_000 calls from 50 concurrent callers loses nothing", %{c: c} do
    n = c.node

    results =
      1..50
      |> Task.async_stream(
        fn caller ->
          for i <- 1..200 do
            case rem(i, 4) do
              0 -> {:erpc.call(n, :demo, :add, [caller, i], 30_000), caller + i}
              1 -> {:rpc.call(n, :demo, :add, [caller, -i], 30_000), caller - i}
              2 -> {:erpc.call(n, :demo, :echo, [caller, i], 30_000), [caller, i]}
              3 -> {outcome(fn -> :erpc.call(n, :demo, :throw, [{caller, i}], 30_000) end), {:throw, {caller, i}}}
            end
          end
        end,
        max_concurrency: 50,
        timeout: 120_000
      )
      |> Enum.flat_map(fn {:ok, pairs} -> pairs end)

    assert length(results) == 10_000
    bad = Enum.reject(results, fn {got, want} -> got == want end)
    assert bad == [], "#{length(bad)} wrong results, e.g. #{inspect(Enum.take(bad, 3))}"
  end

  # ---- C → BEAM -----------------------------------------------------------------------------

  test "C calls BEAM: each class, its own node, another C node", %{c: c, c2: c2, peer: peer} do
    p = probe(c)
    rpc = fn node, m, f, a, t -> GenServer.call(p, {:rpc, node, m, f, a, t}, 30_000) end
    assert rpc.(peer.node, :demo, :add, [1, 2], 5_000) == {:ok, 3}
    assert rpc.(peer.node, :erlang, :+, [1, 2], :infinity) == {:ok, 3}
    assert rpc.(peer.node, :demo, :echo, [~c"abc", [1, 2]], 5_000) == {:ok, [~c"abc", [1, 2]]}
    assert rpc.(peer.node, :demo, :fail, [:boom], 5_000) == {:error, :boom}
    assert rpc.(peer.node, :erlang, :+, [1, :a], 5_000) == {:error, :badarith}
    assert rpc.(peer.node, :demo, :nope, [], 5_000) == {:error, :undef}
    assert rpc.(peer.node, :demo, :throw, [{:t, 1}], 5_000) == {:throw, {:t, 1}}
    assert rpc.(peer.node, :demo, :exit, [:bye], 5_000) == {:exit, :bye}
    # the same against C exports (another C node, and this one)
    assert rpc.(c2.node, :demo, :add, [1, 2], 5_000) == {:ok, 3}
    assert rpc.(c2.node, :demo, :fail, [:boom], 5_000) == {:error, :boom}
    assert rpc.(c2.node, :demo, :exit, [:bye], 5_000) == {:exit, :bye}
    assert rpc.(c.node, :demo, :throw, [:t], 5_000) == {:throw, :t}
    assert rpc.(c.node, :demo, :echo, [1, 2], 5_000) == {:ok, [1, 2]}
    assert rpc.(c.node, :demo, :nope, [1], 5_000) == {:error, :undef}
    # a process that is killed there without a report
    assert rpc.(peer.node, :erlang, :exit, [:kill], 5_000) == {:exit, :kill}
    assert rpc.(peer.node, :demo, :die, [], 5_000) == {:exit, {:signal, :killed}}
    refute_receive {:probe, ^p, _}, 200
  end

  test "C calls BEAM: timeouts drop late results; a dead or lost node is noconnection",
       %{c: c, peer: peer, demo_bin: bin} do
    p = probe(c)
    rpc = fn node, m, f, a, t -> GenServer.call(p, {:rpc, node, m, f, a, t}, 30_000) end
    t0 = System.monotonic_time(:millisecond)
    assert rpc.(peer.node, :demo, :sleep, [1_000], 100) == {:error, :timeout}
    assert System.monotonic_time(:millisecond) - t0 < 900
    # given up before the spawn reply arrived
    assert rpc.(peer.node, :demo, :sleep, [500], 0) == {:error, :timeout}
    assert rpc.(c.node, :demo, :sleep, [500], 50) == {:error, :timeout}
    assert rpc.(peer.node, :demo, :add, [1, 1], 5_000) == {:ok, 2}
    # the late reports and replies never reach the probe (it forwards every message it gets)
    refute_receive {:probe, ^p, _}, 1_500

    assert rpc.(dead_node(), :demo, :add, [1, 2], 10_000) == {:error, {:erpc, :noconnection}}

    doomed = start_peer(prefix: "doomed")
    {:module, :demo} = peer_call(doomed, :code, :load_binary, [:demo, ~c"demo.ex", bin])
    task = Task.async(fn -> rpc.(doomed.node, :demo, :sleep, [10_000], 20_000) end)
    Process.sleep(500)
    kill9(doomed.os_pid)
    assert Task.await(task, 15_000) == {:error, {:erpc, :noconnection}}
    assert rpc.(peer.node, :demo, :add, [1, 1], 5_000) == {:ok, 2}
  end

  test "C calls BEAM: the remote function prints through the C caller's group leader",
       %{c: c, peer: peer} do
    {:ok, io} = StringIO.open("")
    me = self()

    # spawned from a process whose group leader is io: the probe inherits it
    spawn(fn ->
      Process.group_leader(self(), io)
      send(me, {:probe_pid, Node.spawn(c.node, :probe, :start, [me])})
    end)

    assert_receive {:probe_pid, p}, 5_000
    assert GenServer.call(p, {:rpc, peer.node, :demo, :print, ["beam says hi\n"], 5_000}) == {:ok, :ok}
    assert GenServer.call(p, {:rpc, c.node, :demo, :print, ["c says hi\n"], 5_000}) == {:ok, :ok}
    assert StringIO.contents(io) == {"", "beam says hi\nc says hi\n"}
  end

  test "C calls BEAM without a group leader: output goes to cnoded's stdout, nothing hangs",
       %{c: c, peer: peer} do
    # a cnode_sup child has no group leader of its own (it is its own)
    spec = %{id: :gl_less_probe, start: {:probe, :start_link, [self()]}, restart: :temporary}
    {:ok, p} = DynamicSupervisor.start_child({:cnode_sup, c.node}, spec)
    mark = log_mark(c)
    call = fn m, f, a -> GenServer.call(p, {:rpc, peer.node, m, f, a, 10_000}, 15_000) end
    assert call.(:demo, :print, ["printed by the BEAM for a C caller\n"]) == {:ok, :ok}
    assert call.(:io, :put_chars, [~c"a latin-1 string\n"]) == {:ok, :ok}
    wait_log(c, "printed by the BEAM for a C caller", 5_000, after: mark)
    wait_log(c, "a latin-1 string", 5_000, after: mark)
    # what C cannot do (io:format formats in the I/O server) fails instead of hanging
    assert {:error, _} = call.(:io, :format, [~c"~p~n", [:x]])
    # and C functions called from it print the same way
    assert GenServer.call(p, {:rpc, c.node, :demo, :print, ["C for C\n"], 5_000}) == {:ok, :ok}
    wait_log(c, "C for C", 5_000, after: mark)
    refute_receive {:probe, ^p, _}, 200
  end
end
