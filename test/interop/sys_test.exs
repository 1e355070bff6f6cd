# The sys protocol on C workers (PROTOCOL.md §6.5): :sys.get_state / get_status, suspend and
# resume, replace_state (a BEAM fun C cannot run: a clear error), terminate, unknown requests.
CnodeTest.watchdog(150, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.SysTest do
  use ExUnit.Case
  import CnodeTest

  setup do
    c = start_cnode()
    %{c: connect!(c)}
  end

  defp kv(c) do
    pid = Node.spawn(c.node, :kv, :start, [])
    assert is_pid(pid) and node(pid) == c.node
    assert GenServer.call(pid, :keys, 5_000) == []
    pid
  end

  # the {"State", S} entry inside get_status's Misc
  defp misc_state(misc) do
    Enum.find_value(misc, fn
      {:data, entries} when is_list(entries) ->
        Enum.find_value(entries, fn
          {~c"State", s} -> {:ok, s}
          _ -> nil
        end)

      _ ->
        nil
    end)
  end

  # The state as :sys.get_status shows it. Tests whose subject is not :sys.get_state itself use
  # this, so that a wrong get_state reply shape fails only the get_state tests.
  defp status_state(pid) do
    {:status, _, {:module, :gen_server}, [_, _, _, _, misc]} = :sys.get_status(pid)
    {:ok, s} = misc_state(misc)
    s
  end

  # call in a separate process, bounded: {:ok, value} | {:exit, reason} | {:raised, exception} | :timeout
  defp attempt(fun, timeout \\ 5_000) do
    case bounded(
           fn ->
             try do
               {:ok, fun.()}
             rescue
               e -> {:raised, e}
             catch
               :exit, r -> {:exit, r}
             end
           end,
           timeout
         ) do
      {:ok, r} -> r
      other -> other
    end
  end

  # nothing but what `keep` accepts arrives for `ms`
  defp assert_quiet_mailbox(ms) do
    receive do
      m -> flunk("unexpected message in the caller's mailbox: #{inspect(m)}")
    after
      ms -> :ok
    end
  end

  describe ":sys.get_state" do
    test "returns the map of what was put into kv", %{c: c} do
      pid = kv(c)
      assert :sys.get_state(pid) == %{}
      :ok = GenServer.call(pid, {:put, :a, 1})
      :ok = GenServer.call(pid, {:put, "b", [2, 2.5]})
      :ok = GenServer.cast(pid, {:put, {:t, 1}, %{x: self()}})
      :ok = GenServer.call(pid, {:put, :a, :replaced})
      :ok = GenServer.call(pid, {:put, :gone, 0})
      :ok = GenServer.call(pid, {:delete, :gone})

      assert :sys.get_state(pid) == %{:a => :replaced, "b" => [2, 2.5], {:t, 1} => %{x: self()}}
      assert :sys.get_state(pid, 2_000) == :sys.get_state(pid)
    end

    test "works by {name, node} on the registered echo (casts counted)", %{c: c} do
      for i <- 1..3, do: GenServer.cast({:echo, c.node}, {:n, i})
      assert echo(c, :count) == 3
      assert :sys.get_state({:echo, c.node}) == %{casts: 3}
    end

    test "the raw get_state reply has the shape a BEAM gen_server gives on this OTP release", %{c: c} do
      # OTP 25 answers {system, From, get_state} with the bare State; OTP 26+ answers
      # {ok, State}, and its sys:get_state accepts only {ok, State} | {error, Reason}.
      {:ok, agent} = Agent.start(fn -> %{k: 1} end)
      {:ok, beam_reply} = :gen.call(agent, :system, :get_state, 5_000)
      Agent.stop(agent)

      pid = kv(c)
      :ok = GenServer.call(pid, {:put, :k, 1})
      {:ok, c_reply} = :gen.call(pid, :system, :get_state, 5_000)
      assert c_reply == beam_reply,
             "OTP #{:erlang.system_info(:otp_release)}: a BEAM gen_server answers #{inspect(beam_reply)}, the C worker #{inspect(c_reply)}"
    end

    test "is answered while the worker is suspended", %{c: c} do
      pid = kv(c)
      :ok = GenServer.call(pid, {:put, :k, 0})
      :ok = :sys.suspend(pid)
      assert :sys.get_state(pid) == %{k: 0}
      :ok = :sys.resume(pid)
    end

    test "of a dead C pid exits :noproc promptly", %{c: c} do
      pid = kv(c)
      ref = Process.monitor(pid)
      Process.exit(pid, :kill)
      assert_receive {:DOWN, ^ref, _, _, _}, 5_000
      assert {:exit, {:noproc, {:sys, :get_state, _}}} = attempt(fn -> :sys.get_state(pid) end)
    end
  end

  describe ":sys.get_status" do
    test "has the gen_server shape, with the state inside Misc", %{c: c} do
      pid = kv(c)
      :ok = GenServer.call(pid, {:put, :k, "v"})

      status = :sys.get_status(pid)
      assert {:status, ^pid, {:module, :gen_server}, [pdict, :running, parent, debug, misc]} = status
      assert is_list(pdict)
      assert is_pid(parent)
      assert debug == []
      assert is_list(misc)
      assert misc_state(misc) == {:ok, %{k: "v"}}

      assert {:header, header} = List.keyfind(misc, :header, 0)
      assert List.to_string(header) =~ ~r/^Status for generic server /

      assert Enum.any?(misc, fn
               {:data, entries} -> List.keyfind(entries, ~c"Status", 0) == {~c"Status", :running}
               _ -> false
             end)

      # it prints: inspect, and the Erlang pretty printer
      text = inspect(status, pretty: true, limit: :infinity)
      assert text =~ "Status for generic server"
      assert text =~ ~s(k: "v")
      erl = :io_lib.format(~c"~p", [status]) |> IO.iodata_to_binary()
      assert erl =~ "Status for generic server"
      assert erl =~ "gen_server"
    end

    test "the registered echo is named in the header", %{c: c} do
      {:status, pid, {:module, :gen_server}, [_, :running, _, _, misc]} = :sys.get_status({:echo, c.node})
      assert node(pid) == c.node
      assert {:header, ~c"Status for generic server echo"} = List.keyfind(misc, :header, 0)
      assert misc_state(misc) == {:ok, %{casts: 0}}
    end

    test "a spawn_link'ed worker names the linker as its parent", %{c: c} do
      Process.flag(:trap_exit, true)
      pid = Node.spawn_link(c.node, :kv, :start, [])
      assert {:status, ^pid, _, [_, :running, parent, _, _]} = :sys.get_status(pid)
      assert parent == self()
    end
  end

  describe ":sys.suspend / :sys.resume" do
    test "calls wait while suspended (a timed-out call's late reply is harmless); resume runs the queue in order",
         %{c: c} do
      pid = kv(c)
      :ok = GenServer.call(pid, {:put, :k, 0})
      assert :sys.suspend(pid) == :ok
      assert {:status, ^pid, _, [_, :suspended, _, _, _]} = :sys.get_status(pid)
      # system messages are still answered
      assert status_state(pid) == %{k: 0}

      # a call with a short timeout times out
      t0 = System.monotonic_time(:millisecond)
      assert {:timeout, {GenServer, :call, _}} = catch_exit(GenServer.call(pid, {:put, :timed_out, 1}, 200))
      assert System.monotonic_time(:millisecond) - t0 < 1_000

      # queued while suspended: a cast, a call from task A, a cast, a call from task B
      :ok = GenServer.cast(pid, {:put, :k, 1})
      a = Task.async(fn -> GenServer.call(pid, {:put, :k, 2}, 10_000) end)
      Process.sleep(100)
      :ok = GenServer.cast(pid, {:put, :k, 3})
      Process.sleep(50)
      b = Task.async(fn -> GenServer.call(pid, {:get, :k}, 10_000) end)
      Process.sleep(200)
      assert Task.yield(a, 0) == nil, "a call was answered while the worker was suspended"
      assert Task.yield(b, 0) == nil, "a call was answered while the worker was suspended"
      assert status_state(pid) == %{k: 0}

      assert :sys.resume(pid) == :ok
      assert Task.await(a, 5_000) == :ok
      # B's call came after the cast of 3, which came after A's put of 2
      assert Task.await(b, 5_000) == {:ok, 3}
      assert {:status, ^pid, _, [_, :running, _, _, _]} = :sys.get_status(pid)

      # the timed-out call was still carried out after resume; its late reply went to a
      # deactivated alias and never reaches our mailbox
      assert GenServer.call(pid, {:get, :timed_out}) == {:ok, 1}
      assert_quiet_mailbox(300)
      assert status_state(pid) == %{k: 3, timed_out: 1}
      assert echo(c, :alive) == :alive
    end

    test "suspend twice / resume: still works; a suspended worker can still be killed", %{c: c} do
      pid = kv(c)
      assert :sys.suspend(pid) == :ok
      assert :sys.suspend(pid) == :ok
      assert :sys.resume(pid) == :ok
      assert GenServer.call(pid, :keys) == []

      assert :sys.suspend(pid) == :ok
      caller = Task.async(fn -> catch_exit(GenServer.call(pid, :keys, 10_000)) end)
      Process.sleep(200)
      ref = Process.monitor(pid)
      Process.exit(pid, :kill)
      assert_receive {:DOWN, ^ref, :process, ^pid, :killed}, 5_000
      # the caller waiting on the suspended worker gets the monitor's DOWN
      assert {:killed, {GenServer, :call, _}} = Task.await(caller, 5_000)
    end
  end

  describe "other system messages" do
    test ":sys.replace_state raises a clear error (no BEAM fun runs in C) and does not hang", %{c: c} do
      pid = kv(c)
      :ok = GenServer.call(pid, {:put, :k, 1})

      case attempt(fn -> :sys.replace_state(pid, fn s -> Map.put(s, :k, 2) end) end) do
        {:raised, %ErlangError{original: {:callback_failed, _, _} = original} = e} ->
          assert Exception.message(e) =~ "callback_failed"
          assert {:callback_failed, {:kv, :system_replace_state}, {:error, _}} = original

        other ->
          flunk("expected ErlangError {:callback_failed, ...}, got #{inspect(other)}")
      end

      # state untouched and the worker still serves
      assert status_state(pid) == %{k: 1}
      assert GenServer.call(pid, {:get, :k}) == {:ok, 1}
    end

    test "an unknown system message is answered with {:error, {:unknown_system_msg, msg}}", %{c: c} do
      pid = kv(c)
      assert {:ok, {:error, {:unknown_system_msg, :bogus}}} = :gen.call(pid, :system, :bogus, 5_000)

      assert {:ok, {:error, {:unknown_system_msg, {:bogus, 1, "x"}}}} =
               :gen.call(pid, :system, {:bogus, 1, "x"}, 5_000)

      assert GenServer.call(pid, :keys) == []
    end

    test ":sys.terminate stops the worker with the given reason", %{c: c} do
      pid = kv(c)
      ref = Process.monitor(pid)
      assert :sys.terminate(pid, :bye) == :ok
      assert_receive {:DOWN, ^ref, :process, ^pid, :bye}, 5_000
    end

    test ":sys.get_status from many concurrent callers on a busy worker", %{c: c} do
      pid = kv(c)
      for i <- 1..200, do: GenServer.cast(pid, {:put, i, i})

      1..20
      |> Enum.map(fn _ -> Task.async(fn -> status_state(pid) end) end)
      |> Task.await_many(10_000)
      |> Enum.each(fn s -> assert is_map(s) end)

      assert map_size(status_state(pid)) == 200
    end
  end
end
