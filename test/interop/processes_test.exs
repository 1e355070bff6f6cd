# Process semantics of C processes as a BEAM node sees them (PRODUCT.md §2, PROTOCOL.md §4):
# spawn_request, links, monitors, exit signals, trap_exit, UNLINK_ID, name monitors, calls
# from C into BEAM gen_servers, noconnection, and message order.
#
# The `probe` worker (workers/probe.c) does from C what a test asks (monitor, link, unlink,
# trap_exit, exit/2, send, call) and forwards every info message it gets to its reporter, here
# the test process, as {:probe, ProbePid, Msg}.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.ProcessesTest.Srv do
  @moduledoc "A BEAM gen_server that C processes call."
  use GenServer

  def init(arg), do: {:ok, arg}

  def handle_call({:echo, x}, {pid, _tag}, s), do: {:reply, {:got, x, pid}, s}
  def handle_call({:sleep, ms}, _from, s), do: Process.sleep(ms) && {:reply, :slept, s}
  def handle_call({:die, reason}, _from, s), do: {:stop, reason, s}
end

defmodule Interop.ProcessesTest do
  use ExUnit.Case
  import CnodeTest
  alias CnodeTest.Raw
  alias Interop.ProcessesTest.Srv

  setup ctx do
    c = start_cnode(ctx[:cnode] || [])
    %{c: connect!(c)}
  end

  # ---- helpers ----------------------------------------------------------------------------

  # a kv worker on the cnode, answering
  defp kv(c) do
    pid = Node.spawn(c.node, :kv, :start, [])
    assert is_pid(pid) and node(pid) == c.node
    assert GenServer.call(pid, :keys, 5_000) == []
    pid
  end

  # a probe on the cnode reporting to the calling process
  defp probe(c) do
    pid = Node.spawn(c.node, :probe, :start, [self()])
    assert is_pid(pid) and node(pid) == c.node
    # a call it does not know answers {:error, :badarg}: it runs
    assert GenServer.call(pid, :ping, 5_000) == {:error, :badarg}
    pid
  end

  defp pcall(probe, req, timeout \\ 5_000), do: GenServer.call(probe, req, timeout)

  # a BEAM process that exits with the reason it is sent as {:die, reason}
  defp victim do
    spawn(fn ->
      receive do
        {:die, reason} -> exit(reason)
      end
    end)
  end

  defp links(pid) do
    case Process.info(pid, :links) do
      {:links, l} -> l
      nil -> :dead
    end
  end

  # kill a C process and wait (bounded) until it is gone
  defp kill_and_wait(pid, reason \\ :kill) do
    ref = Process.monitor(pid)
    Process.exit(pid, reason)
    assert_receive {:DOWN, ^ref, :process, ^pid, _}, 5_000
  end

  defp alive_on_cnode?(pid) do
    try do
      GenServer.call(pid, :keys, 2_000)
      true
    catch
      :exit, _ -> false
    end
  end

  defp flush_probe(pr) do
    receive do
      {:probe, ^pr, _} -> flush_probe(pr)
    after
      0 -> :ok
    end
  end

  defp ms_since(t0), do: System.monotonic_time(:millisecond) - t0

  # ---- spawn --------------------------------------------------------------------------------

  describe "spawn_request" do
    test "Node.spawn(c, :kv, :start, []) returns a pid on the cnode that answers call and cast", %{c: c} do
      pid = Node.spawn(c.node, :kv, :start, [])
      assert is_pid(pid)
      assert node(pid) == c.node
      assert GenServer.call(pid, {:put, :a, 1}) == :ok
      assert GenServer.cast(pid, {:put, "b", [2, 3]}) == :ok
      assert GenServer.call(pid, {:get, "b"}) == {:ok, [2, 3]}
      assert GenServer.call(pid, {:get, :a}) == {:ok, 1}
      assert GenServer.call(pid, {:get, :missing}) == :error
      assert GenServer.call(pid, {:delete, :a}) == :ok
      assert GenServer.call(pid, :keys) == ["b"]

      # two spawns are two different processes with their own state
      other = Node.spawn(c.node, :kv, :start, [])
      assert other != pid
      assert GenServer.call(other, :keys) == []
    end

    test "Node.spawn_link links the new C process to the caller", %{c: c} do
      Process.flag(:trap_exit, true)
      pid = Node.spawn_link(c.node, :kv, :start, [])
      assert node(pid) == c.node
      assert pid in links(self())
      assert GenServer.call(pid, {:put, :k, :v}) == :ok

      Process.exit(pid, :boom)
      assert_receive {:EXIT, ^pid, :boom}, 5_000
    end

    test "Node.spawn_monitor monitors the new C process; DOWN carries its stop reason", %{c: c} do
      {pid, ref} = Node.spawn_monitor(c.node, :probe, :start, [self()])
      assert node(pid) == c.node
      assert is_reference(ref)
      assert pcall(pid, {:stop, :bye}) == :ok
      assert_receive {:DOWN, ^ref, :process, ^pid, :bye}, 5_000

      {pid2, ref2} = Node.spawn_monitor(c.node, :kv, :start, [])
      assert GenServer.call(pid2, {:put, 1, 2}) == :ok
      Process.exit(pid2, :kill)
      assert_receive {:DOWN, ^ref2, :process, ^pid2, :killed}, 5_000
    end

    @tag capture_log: true
    test "spawn of an unknown module exits with undef exactly as on a BEAM node", %{c: c} do
      p = start_peer()
      {bpid, bref} = Node.spawn_monitor(p.node, :cnode_test_no_such_module, :start, [1, "two"])
      assert_receive {:DOWN, ^bref, :process, ^bpid, beam_reason}, 5_000

      {cpid, cref} = Node.spawn_monitor(c.node, :cnode_test_no_such_module, :start, [1, "two"])
      assert node(cpid) == c.node
      assert_receive {:DOWN, ^cref, :process, ^cpid, c_reason}, 5_000

      assert c_reason == {:undef, [{:cnode_test_no_such_module, :start, [1, "two"], []}]}
      assert c_reason == beam_reason, "BEAM said #{inspect(beam_reason)}"

      # spawn_link: the linked (trapping) caller gets the same reason as an EXIT
      Process.flag(:trap_exit, true)
      lpid = Node.spawn_link(c.node, :cnode_test_no_such_module, :go, [])
      assert_receive {:EXIT, ^lpid, {:undef, [{:cnode_test_no_such_module, :go, [], []}]}}, 5_000

      # plain spawn still returns a pid (of a process that is already gone)
      spid = Node.spawn(c.node, :cnode_test_no_such_module, :start, [])
      assert is_pid(spid) and node(spid) == c.node
      sref = Process.monitor(spid)
      assert_receive {:DOWN, ^sref, :process, ^spid, sreason}, 5_000
      assert sreason in [:noproc, {:undef, [{:cnode_test_no_such_module, :start, [], []}]}]

      # the node still serves
      assert echo(c, :still_here) == :still_here
    end
  end

  # ---- calls and exits from the BEAM side ------------------------------------------------

  describe "exit signals to C processes" do
    test "GenServer.call to a dead C pid exits with :noproc promptly", %{c: c} do
      pid = kv(c)
      kill_and_wait(pid)

      t0 = System.monotonic_time(:millisecond)
      reason = catch_exit(GenServer.call(pid, :keys, 5_000))
      took = ms_since(t0)
      assert {:noproc, {GenServer, :call, [^pid, :keys, 5_000]}} = reason
      assert took < 1_000, "took #{took} ms"
    end

    test "a monitored C process killed with Process.exit(pid, :boom) reports DOWN :boom", %{c: c} do
      pid = kv(c)
      ref = Process.monitor(pid)
      true = Process.exit(pid, :boom)
      assert_receive {:DOWN, ^ref, :process, ^pid, :boom}, 5_000
      refute alive_on_cnode?(pid)
    end

    test "Process.exit(pid, :normal) does nothing to a C worker that does not trap exits", %{c: c} do
      pid = kv(c)
      :ok = GenServer.call(pid, {:put, :x, 1})
      ref = Process.monitor(pid)
      Process.exit(pid, :normal)
      refute_receive {:DOWN, ^ref, _, _, _}, 300
      # the exit signal went before this call on the same connection: it was handled
      assert GenServer.call(pid, {:get, :x}) == {:ok, 1}
      refute_received {:DOWN, ^ref, _, _, _}
    end

    test "Process.exit(pid, :kill) gives :killed to a linked BEAM process that traps exits", %{c: c} do
      Process.flag(:trap_exit, true)
      pid = kv(c)
      Process.link(pid)
      # the link reached the worker before this call (same sender, same connection)
      assert GenServer.call(pid, :keys) == []
      Process.exit(pid, :kill)
      assert_receive {:EXIT, ^pid, :killed}, 5_000
    end

    test "a C process that traps exits still dies of :kill", %{c: c} do
      pr = probe(c)
      :ok = pcall(pr, {:trap_exit, true})
      ref = Process.monitor(pr)
      Process.exit(pr, :kill)
      assert_receive {:DOWN, ^ref, :process, ^pr, :killed}, 5_000
    end

    test "a C process that traps exits gets exit/2 signals as {:EXIT, from, reason} messages", %{c: c} do
      pr = probe(c)
      :ok = pcall(pr, {:trap_exit, true})
      me = self()
      Process.exit(pr, :boom)
      assert_receive {:probe, ^pr, {:EXIT, ^me, :boom}}, 5_000
      Process.exit(pr, :normal)
      assert_receive {:probe, ^pr, {:EXIT, ^me, :normal}}, 5_000
      assert pcall(pr, :ping) == {:error, :badarg}
    end
  end

  describe "exit reasons and stale pids" do
    test "a large exit reason (100 kB) reaches monitors and trapping links intact", %{c: c} do
      reason = {:shutdown, %{blob: :binary.copy("x", 100_000), list: Enum.to_list(1..1000)}}
      Process.flag(:trap_exit, true)
      {pr, ref} = Node.spawn_monitor(c.node, :probe, :start, [self()])
      Process.link(pr)
      assert pcall(pr, :ping) == {:error, :badarg}
      assert pcall(pr, {:stop, reason}) == :ok
      assert_receive {:DOWN, ^ref, :process, ^pr, got}, 5_000
      assert got == reason
      assert_receive {:EXIT, ^pr, ^reason}, 5_000
    end

    test "a pid from a previous incarnation of the node (same name, new creation) reaches nothing", %{c: c} do
      name = unique_name("inc")
      c1 = start_cnode(name: name)
      connect!(c1)
      old = kv(c1)
      :ok = GenServer.call(old, {:put, :gen, 1})
      kill9(c1)
      eventually(fn -> c1.node not in Node.list() end, 5_000, what: "the first incarnation to be gone")
      eventually(fn -> match?({:ok, names} when is_list(names), :erl_epmd.names()) and
                         not Enum.any?(elem(:erl_epmd.names(), 1), fn {n, _} -> List.to_string(n) == name end) end,
        5_000, what: "epmd to forget the first incarnation")

      c2 = start_cnode(name: name)
      connect!(c2)
      new = kv(c2)
      assert node(new) == node(old)
      assert new != old

      # calls, casts, monitors and exit signals to the old pid do not reach the new process
      assert {:noproc, _} = catch_exit(GenServer.call(old, :keys, 2_000))
      GenServer.cast(old, {:put, :stale, true})
      send(old, {:"$gen_cast", {:put, :stale2, true}})
      Process.exit(old, :kill)
      ref = Process.monitor(old)
      assert_receive {:DOWN, ^ref, :process, ^old, :noproc}, 5_000
      assert GenServer.call(new, :keys) == []
      _ = c
    end
  end

  # ---- links --------------------------------------------------------------------------------

  describe "links" do
    test "a BEAM process linked to a C worker dies with the worker's reason", %{c: c} do
      me = self()

      for reason <- [:kill, :boom] do
        pid = kv(c)

        b =
          spawn(fn ->
            Process.link(pid)
            # ordered after the LINK: when this returns, the worker knows the link
            [] = GenServer.call(pid, :keys)
            send(me, :linked)
            Process.sleep(:infinity)
          end)

        assert_receive :linked, 5_000
        bref = Process.monitor(b)
        Process.exit(pid, reason)
        expected = if reason == :kill, do: :killed, else: reason
        assert_receive {:DOWN, ^bref, :process, ^b, ^expected}, 5_000
      end
    end

    test "a C worker (probe, not trapping) linked to a BEAM process dies when it exits abnormally", %{c: c} do
      pr = probe(c)
      b = victim()
      assert pcall(pr, {:link, b}) == :ok
      assert pr in links(b)
      ref = Process.monitor(pr)
      send(b, {:die, :boom})
      assert_receive {:DOWN, ^ref, :process, ^pr, :boom}, 5_000
    end

    test "a linked BEAM process that exits :normal does not kill a non-trapping C worker", %{c: c} do
      pr = probe(c)
      b = victim()
      assert pcall(pr, {:link, b}) == :ok
      assert pr in links(b)
      ref = Process.monitor(pr)
      send(b, {:die, :normal})
      refute_receive {:DOWN, ^ref, _, _, _}, 300
      assert pcall(pr, :ping) == {:error, :badarg}
    end

    test "Process.link from the BEAM side: the C worker dies when the BEAM process exits abnormally", %{c: c} do
      pid = kv(c)
      me = self()

      b =
        spawn(fn ->
          Process.link(pid)
          [] = GenServer.call(pid, :keys)
          send(me, :linked)

          receive do
            {:die, r} -> exit(r)
          end
        end)

      assert_receive :linked, 5_000
      ref = Process.monitor(pid)
      send(b, {:die, :crashed})
      assert_receive {:DOWN, ^ref, :process, ^pid, :crashed}, 5_000
    end

    test "trapped exits on the C side become {:EXIT, pid, reason} messages", %{c: c} do
      pr = probe(c)
      assert pcall(pr, {:trap_exit, true}) == :ok
      b = victim()
      assert pcall(pr, {:link, b}) == :ok
      assert pr in links(b)
      send(b, {:die, :boom})
      assert_receive {:probe, ^pr, {:EXIT, ^b, :boom}}, 5_000
      # it lives on, and the link is gone
      assert pcall(pr, :ping) == {:error, :badarg}

      b2 = victim()
      assert pcall(pr, {:link, b2}) == :ok
      send(b2, {:die, :normal})
      assert_receive {:probe, ^pr, {:EXIT, ^b2, :normal}}, 5_000
    end

    test "a link to a BEAM pid that is already dead gives {:EXIT, pid, :noproc}", %{c: c} do
      pr = probe(c)
      :ok = pcall(pr, {:trap_exit, true})
      b = victim()
      bref = Process.monitor(b)
      send(b, {:die, :normal})
      assert_receive {:DOWN, ^bref, _, _, _}, 5_000
      assert pcall(pr, {:link, b}) == :ok
      assert_receive {:probe, ^pr, {:EXIT, ^b, :noproc}}, 5_000
    end

    test "Process.link to a dead C pid gives {:EXIT, pid, :noproc}", %{c: c} do
      Process.flag(:trap_exit, true)
      pid = kv(c)
      kill_and_wait(pid)
      Process.link(pid)
      assert_receive {:EXIT, ^pid, :noproc}, 5_000
    end

    test "after Process.unlink (UNLINK_ID), neither side's death reaches the other", %{c: c} do
      me = self()

      # 1. unlink, then the worker is killed: the BEAM process lives
      pid = kv(c)

      b =
        spawn(fn ->
          Process.link(pid)
          [] = GenServer.call(pid, :keys)
          Process.unlink(pid)
          [] = GenServer.call(pid, :keys)
          send(me, :unlinked)

          receive do
            {:die, r} -> exit(r)
          end
        end)

      assert_receive :unlinked, 5_000
      kill_and_wait(pid)
      Process.sleep(200)
      assert Process.alive?(b)

      # 2. unlink, then the BEAM process exits abnormally: the C worker lives
      pid2 = kv(c)

      b2 =
        spawn(fn ->
          Process.link(pid2)
          [] = GenServer.call(pid2, :keys)
          Process.unlink(pid2)
          send(me, :unlinked2)

          receive do
            {:die, r} -> exit(r)
          end
        end)

      assert_receive :unlinked2, 5_000
      ref = Process.monitor(pid2)
      send(b2, {:die, :boom})
      refute_receive {:DOWN, ^ref, _, _, _}, 500
      assert GenServer.call(pid2, :keys) == []
      send(b, {:die, :done})
    end

    test "unlink from C (probe {:unlink, pid}): the BEAM process's death no longer kills it", %{c: c} do
      pr = probe(c)
      b = victim()
      assert pcall(pr, {:link, b}) == :ok
      assert pr in links(b)
      assert pcall(pr, {:unlink, b}) == :ok
      eventually(fn -> pr not in links(b) end, 2_000, what: "the BEAM side to drop the link")
      ref = Process.monitor(pr)
      send(b, {:die, :boom})
      refute_receive {:DOWN, ^ref, _, _, _}, 500
      assert pcall(pr, :ping) == {:error, :badarg}
    end

    test "UNLINK_ID from a peer is acknowledged with UNLINK_ID_ACK before anything else", %{c: c} do
      pid = kv(c)
      r = Raw.handshake!(c)
      me = Raw.pid(r)
      :ok = Raw.send_frame(r, Raw.hdr_frame({1, me, pid}))
      :ok = Raw.send_frame(r, Raw.hdr_frame({35, 4711, me, pid}))

      case Raw.recv_frame(r, 5_000) do
        {:ok, body} -> assert Raw.decode_frame(body) == {{36, 4711, pid, me}, nil}
        other -> flunk("no UNLINK_ID_ACK: #{inspect(other)}\n#{log_text(c)}")
      end

      # the link is gone: killing the worker sends no exit signal to the raw node
      kill_and_wait(pid)
      Raw.assert_open(r, 300)

      # and a link that stays is honoured: the raw node gets the exit signal
      pid2 = kv(c)
      :ok = Raw.send_frame(r, Raw.hdr_frame({1, me, pid2}))
      assert GenServer.call(pid2, :keys) == []
      Process.exit(pid2, :boom)

      case Raw.recv_frame(r, 5_000) do
        {:ok, body} ->
          assert Raw.decode_frame(body) in [{{24, pid2, me}, :boom}, {{3, pid2, me, :boom}, nil}]

        other ->
          flunk("no exit signal to the linked raw pid: #{inspect(other)}\n#{log_text(c)}")
      end

      Raw.close(r)
    end

    test "links between two C processes: killing one kills the other", %{c: c} do
      pr = probe(c)
      pid = kv(c)
      assert pcall(pr, {:link, pid}) == :ok
      ref = Process.monitor(pr)
      Process.exit(pid, :boom)
      assert_receive {:DOWN, ^ref, :process, ^pr, :boom}, 5_000
    end

    test "exit/2 from C: a BEAM process dies, or gets {:EXIT, probe, reason} if it traps", %{c: c} do
      pr = probe(c)
      b = victim()
      bref = Process.monitor(b)
      assert pcall(pr, {:exit, b, :from_c}) == :ok
      assert_receive {:DOWN, ^bref, :process, ^b, :from_c}, 5_000

      Process.flag(:trap_exit, true)
      assert pcall(pr, {:exit, self(), :hello}) == :ok
      assert_receive {:EXIT, ^pr, :hello}, 5_000
      assert pcall(pr, {:exit, self(), :normal}) == :ok
      assert_receive {:EXIT, ^pr, :normal}, 5_000
    end
  end

  # Past a few dozen, a process's links and monitors are found through an index (proc/plist):
  # these check that what is found, removed and signalled stays right at that size.
  describe "thousands of links and monitors on one process" do
    test "monitored 3000 times, 2000 demonitored oldest first: DOWN for exactly the rest", %{c: c} do
      pid = kv(c)
      refs = for _ <- 1..3000, do: Process.monitor(pid)
      {gone, kept} = Enum.split(refs, 2000)
      Enum.each(gone, &Process.demonitor/1)
      assert GenServer.call(pid, :keys, 5_000) == [] # behind our signals on the connection
      # (the call's own monitor may still be listed for a moment: its demonitor is async)
      eventually(fn ->
        {:monitored_by, by} = :erpc.call(c.node, :erlang, :process_info, [pid, :monitored_by])
        length(by) == 1000 and Enum.uniq(by) == [self()]
      end, 5_000, what: "1000 monitors left")
      Process.exit(pid, :boom)
      for ref <- kept, do: assert_receive({:DOWN, ^ref, :process, ^pid, :boom}, 5_000)
      for ref <- gone, do: refute_received({:DOWN, ^ref, _, _, _})
    end

    test "a C process monitoring 2000 BEAM processes gets each one's DOWN once, demonitored ones none", %{c: c} do
      pr = probe(c)
      vs = for _ <- 1..2000, do: victim()
      refs = Enum.map(vs, &pcall(pr, {:monitor, &1}))
      {dropped, watched} = Enum.split(Enum.zip(vs, refs), 500)
      for {_, ref} <- dropped, do: assert(pcall(pr, {:demonitor, ref}) == :ok)
      for {v, _} <- vs |> Enum.zip(refs) |> Enum.reverse(), do: send(v, {:die, :bye})
      for {v, ref} <- watched, do: assert_receive({:probe, ^pr, {:DOWN, ^ref, :process, ^v, :bye}}, 5_000)
      assert pcall(pr, :ping) == {:error, :badarg} # every DOWN has been handled before this
      refute_received {:probe, ^pr, {:DOWN, _, _, _, _}}
    end

    test "a trapping C process linked to 2000 BEAM processes, 500 unlinked: EXIT from the rest", %{c: c} do
      pr = probe(c)
      assert pcall(pr, {:trap_exit, true}) == :ok
      vs = for _ <- 1..2000, do: victim()
      for v <- vs, do: assert(pcall(pr, {:link, v}) == :ok)
      {unlinked, linked} = Enum.split(vs, 500)
      for v <- unlinked, do: assert(pcall(pr, {:unlink, v}) == :ok)
      {:links, links} = :erpc.call(c.node, :erlang, :process_info, [pr, :links])
      assert MapSet.new(links) == MapSet.new(linked)
      for v <- vs, do: send(v, {:die, :bye})
      for v <- linked, do: assert_receive({:probe, ^pr, {:EXIT, ^v, :bye}}, 5_000)
      assert pcall(pr, :ping) == {:error, :badarg}
      refute_received {:probe, ^pr, {:EXIT, _, _}}
    end
  end

  describe "links: exit reasons, unlink, exit/2, order" do
    test "a linked BEAM process that exits with reason :kill (not exit/2) gives :kill, as on the BEAM", %{c: c} do
      # On the BEAM, only exit/2 with :kill is untrappable and becomes :killed; a process that
      # itself exits with reason :kill sends :kill over its links, and a non-trapping linked
      # process dies with reason :kill (checked below on two BEAM processes first).
      me = self()
      a = spawn(fn -> receive do: (:go -> exit(:kill)) end)
      b = spawn(fn -> Process.link(a); send(me, :linked); Process.sleep(:infinity) end)
      assert_receive :linked, 5_000
      bref = Process.monitor(b)
      send(a, :go)
      assert_receive {:DOWN, ^bref, :process, ^b, beam_reason}, 5_000
      assert beam_reason == :kill

      pid = kv(c)

      v =
        spawn(fn ->
          Process.link(pid)
          [] = GenServer.call(pid, :keys)
          send(me, :linked)
          receive do: (:go -> exit(:kill))
        end)

      assert_receive :linked, 5_000
      ref = Process.monitor(pid)
      send(v, :go)
      assert_receive {:DOWN, ^ref, :process, ^pid, c_reason}, 5_000
      assert c_reason == beam_reason, "the C worker died with #{inspect(c_reason)}, a BEAM process with #{inspect(beam_reason)}"
    end

    test "a C process that stops with reason :kill reports :kill; only exit/2 with :kill becomes :killed", %{c: c} do
      # BEAM: a process that exits itself with reason kill is DOWN/EXIT :kill for its monitors
      # and links; :killed is only for the target of exit(Pid, kill)
      {b, bref} = spawn_monitor(fn -> exit(:kill) end)
      assert_receive {:DOWN, ^bref, :process, ^b, beam_reason}, 5_000
      assert beam_reason == :kill

      Process.flag(:trap_exit, true)
      {pr, ref} = Node.spawn_monitor(c.node, :probe, :start, [self()])
      Process.link(pr)
      assert pcall(pr, :ping) == {:error, :badarg}
      assert pcall(pr, {:stop, :kill}) == :ok
      assert_receive {:DOWN, ^ref, :process, ^pr, down_reason}, 5_000
      assert_receive {:EXIT, ^pr, exit_reason}, 5_000
      assert {down_reason, exit_reason} == {:kill, :kill}
    end

    test "a C process that stops :normal does not kill a linked BEAM process; a trapping one gets {:EXIT, pid, :normal}", %{c: c} do
      me = self()
      pr = probe(c)

      b =
        spawn(fn ->
          Process.link(pr)
          send(me, :linked)
          Process.sleep(:infinity)
        end)

      assert_receive :linked, 5_000
      Process.flag(:trap_exit, true)
      Process.link(pr)
      assert pcall(pr, :ping) == {:error, :badarg}
      ref = Process.monitor(pr)
      assert pcall(pr, {:stop, :normal}) == :ok
      assert_receive {:DOWN, ^ref, :process, ^pr, :normal}, 5_000
      assert_receive {:EXIT, ^pr, :normal}, 5_000
      Process.sleep(100)
      assert Process.alive?(b)
      Process.exit(b, :kill)
    end

    test "a link made from C and removed by the BEAM side (Process.unlink): the probe survives", %{c: c} do
      me = self()
      pr = probe(c)

      b =
        spawn(fn ->
          receive do
            :unlink ->
              Process.unlink(pr)
              send(me, :unlinked)
          end

          receive do: ({:die, r} -> exit(r))
        end)

      assert pcall(pr, {:link, b}) == :ok
      assert pr in links(b)
      send(b, :unlink)
      assert_receive :unlinked, 5_000
      ref = Process.monitor(pr)
      # the UNLINK_ID went to the probe before anything b sends later
      send(b, {:die, :boom})
      refute_receive {:DOWN, ^ref, _, _, _}, 500
      assert pcall(pr, :ping) == {:error, :badarg}
    end

    test "link and unlink between two C processes", %{c: c} do
      pr = probe(c)
      pid = kv(c)
      assert pcall(pr, {:link, pid}) == :ok
      assert pcall(pr, {:unlink, pid}) == :ok
      kill_and_wait(pid)
      assert pcall(pr, :ping) == {:error, :badarg}

      # and a C process trapping exits gets the other's death as a message
      pid2 = kv(c)
      assert pcall(pr, {:trap_exit, true}) == :ok
      assert pcall(pr, {:link, pid2}) == :ok
      Process.exit(pid2, :boom)
      assert_receive {:probe, ^pr, {:EXIT, ^pid2, :boom}}, 5_000
    end

    test "exit/2 from C with :kill and :normal, to BEAM and C targets", %{c: c} do
      pr = probe(c)
      b = victim()
      bref = Process.monitor(b)
      assert pcall(pr, {:exit, b, :normal}) == :ok
      refute_receive {:DOWN, ^bref, _, _, _}, 300
      assert pcall(pr, {:exit, b, :kill}) == :ok
      assert_receive {:DOWN, ^bref, :process, ^b, :killed}, 5_000

      trapper = probe(c)
      :ok = pcall(trapper, {:trap_exit, true})
      tref = Process.monitor(trapper)
      assert pcall(pr, {:exit, trapper, :please}) == :ok
      assert_receive {:probe, ^trapper, {:EXIT, ^pr, :please}}, 5_000
      assert pcall(pr, {:exit, trapper, :kill}) == :ok
      assert_receive {:DOWN, ^tref, :process, ^trapper, :killed}, 5_000
    end

    test "signals and messages from one process reach a trapping C process in the order sent", %{c: c} do
      pr = probe(c)
      :ok = pcall(pr, {:trap_exit, true})
      me = self()
      send(pr, {:m, 1})
      Process.exit(pr, :one)
      send(pr, {:m, 2})
      Process.exit(pr, :two)
      send(pr, {:m, 3})

      got =
        for _ <- 1..5 do
          receive do
            {:probe, ^pr, m} -> m
          after
            5_000 -> flunk("missing forwarded message")
          end
        end

      assert got == [{:m, 1}, {:EXIT, me, :one}, {:m, 2}, {:EXIT, me, :two}, {:m, 3}]
    end

    test "Node.spawn_opt with link, monitor and BEAM-only options", %{c: c} do
      Process.flag(:trap_exit, true)

      {pid, ref} =
        :erlang.spawn_opt(c.node, :kv, :start, [], [:link, :monitor, {:priority, :high}, {:fullsweep_after, 10}, {:message_queue_data, :off_heap}])

      assert node(pid) == c.node
      assert pid in links(self())
      assert GenServer.call(pid, :keys) == []
      Process.exit(pid, :boom)
      assert_receive {:DOWN, ^ref, :process, ^pid, :boom}, 5_000
      assert_receive {:EXIT, ^pid, :boom}, 5_000
    end
  end

  # ---- monitors -----------------------------------------------------------------------------

  describe "monitors" do
    test "a monitor by name: DOWN :noproc at once for an unregistered name", %{c: c} do
      n = c.node
      t0 = System.monotonic_time(:millisecond)
      ref = Process.monitor({:kv_name, n})
      assert_receive {:DOWN, ^ref, :process, {:kv_name, ^n}, :noproc}, 2_000
      assert ms_since(t0) < 1_000
    end

    test "Process.monitor({:echo, c}) works; DOWN names {:echo, node} when echo dies", %{c: c} do
      n = c.node
      ref = Process.monitor({:echo, n})
      refute_receive {:DOWN, ^ref, _, _, _}, 300
      assert echo(c, :hi) == :hi

      {:status, echo_pid, _, _} = :sys.get_status({:echo, n})
      assert node(echo_pid) == n
      Process.exit(echo_pid, :kill)
      assert_receive {:DOWN, ^ref, :process, {:echo, ^n}, :killed}, 5_000

      # a name nobody holds: DOWN :noproc at once (echo itself comes back: keeper_test.exs)
      ref2 = Process.monitor({:no_such_name_here, n})
      assert_receive {:DOWN, ^ref2, :process, {:no_such_name_here, ^n}, :noproc}, 2_000
    end

    test "Process.demonitor: no DOWN after the C process dies", %{c: c} do
      pid = kv(c)
      ref = Process.monitor(pid)
      assert Process.demonitor(ref) == true
      ref2 = Process.monitor(pid)
      Process.exit(pid, :boom)
      assert_receive {:DOWN, ^ref2, :process, ^pid, :boom}, 5_000
      refute_received {:DOWN, ^ref, _, _, _}
    end

    test "a monitor on a dead C pid gets DOWN :noproc", %{c: c} do
      pid = kv(c)
      kill_and_wait(pid)
      ref = Process.monitor(pid)
      assert_receive {:DOWN, ^ref, :process, ^pid, :noproc}, 2_000
    end

    test "a C process monitors a BEAM pid: DOWN with the real reason", %{c: c} do
      pr = probe(c)
      b = victim()
      ref = pcall(pr, {:monitor, b})
      assert is_reference(ref)
      assert {:monitored_by, mb} = Process.info(b, :monitored_by)
      assert pr in mb
      send(b, {:die, {:shutdown, "real reason"}})
      assert_receive {:probe, ^pr, {:DOWN, ^ref, :process, ^b, {:shutdown, "real reason"}}}, 5_000
      # a monitor does not link: the probe lives
      assert pcall(pr, :ping) == {:error, :badarg}
    end

    test "a C process monitors a dead BEAM pid: DOWN :noproc", %{c: c} do
      pr = probe(c)
      b = victim()
      bref = Process.monitor(b)
      send(b, {:die, :gone})
      assert_receive {:DOWN, ^bref, _, _, _}, 5_000
      ref = pcall(pr, {:monitor, b})
      assert_receive {:probe, ^pr, {:DOWN, ^ref, :process, ^b, :noproc}}, 5_000
    end

    test "a C process demonitors: no DOWN comes", %{c: c} do
      pr = probe(c)
      b = victim()
      ref = pcall(pr, {:monitor, b})
      assert pcall(pr, {:demonitor, ref}) == :ok
      eventually(fn -> Process.info(b, :monitored_by) == {:monitored_by, []} end, 2_000,
        what: "the BEAM side to drop the monitor"
      )

      send(b, {:die, :boom})
      refute_receive {:probe, ^pr, {:DOWN, _, _, _, _}}, 500
    end

    test "a C process monitors another C process", %{c: c} do
      pr = probe(c)
      pid = kv(c)
      ref = pcall(pr, {:monitor, pid})
      Process.exit(pid, :kill)
      assert_receive {:probe, ^pr, {:DOWN, ^ref, :process, ^pid, :killed}}, 5_000
      assert pcall(pr, :ping) == {:error, :badarg}
    end
  end

  # ---- messages and calls from C -----------------------------------------------------------

  describe "C to BEAM" do
    setup do
      name = :"cnode_test_srv_#{System.unique_integer([:positive])}"
      {:ok, srv} = GenServer.start(Srv, nil, name: name)

      on_exit(fn -> if Process.alive?(srv), do: Process.exit(srv, :kill) end)
      %{srv: srv, name: name}
    end

    test "send from C to a pid and to {name, node}", %{c: c, name: name} do
      pr = probe(c)
      assert pcall(pr, {:send, self(), {:hello, 1}}) == :ok
      assert_receive {:hello, 1}, 5_000

      Process.register(self(), :"#{name}_me")
      assert pcall(pr, {:send, :"#{name}_me", node(), {:hello, 2}}) == :ok
      assert_receive {:hello, 2}, 5_000
    end

    test "probe {:call, name, node, req, timeout} calls a BEAM GenServer and gets the reply", %{c: c, name: name} do
      pr = probe(c)
      assert pcall(pr, {:call, name, node(), {:echo, [1, "x"]}, 2_000}) == {:ok, {:got, [1, "x"], pr}}
      assert pcall(pr, {:call, name, node(), {:echo, 2}, 2_000}) == {:ok, {:got, 2, pr}}
    end

    test "a call from C to a name that is not registered gives {:error, {:down, :noproc}} at once", %{c: c} do
      pr = probe(c)
      t0 = System.monotonic_time(:millisecond)
      assert pcall(pr, {:call, :cnode_test_nobody_here, node(), :hi, 2_000}) == {:error, {:down, :noproc}}
      assert ms_since(t0) < 1_500
      assert pcall(pr, :ping) == {:error, :badarg}
    end

    @tag capture_log: true
    test "a call from C to a BEAM server that stops during the call gives {:error, {:down, reason}}", %{c: c, name: name} do
      pr = probe(c)
      assert pcall(pr, {:call, name, node(), {:die, :on_purpose}, 2_000}) == {:error, {:down, :on_purpose}}
    end

    test "a call from C that times out gives {:error, :timeout}; the probe goes on", %{c: c, name: name} do
      pr = probe(c)
      t0 = System.monotonic_time(:millisecond)
      assert pcall(pr, {:call, name, node(), {:sleep, 1_500}, 300}) == {:error, :timeout}
      took = ms_since(t0)
      assert took >= 250 and took < 1_400, "took #{took} ms"
      # the server is still busy; the late reply, if any, arrives as an info message
      Process.sleep(1_500)
      flush_probe(pr)
      assert pcall(pr, {:call, name, node(), {:echo, :after}, 2_000}) == {:ok, {:got, :after, pr}}
    end
  end

  # ---- noconnection -----------------------------------------------------------------------

  describe "noconnection" do
    test "a BEAM peer monitoring and linked to a C worker gets DOWN/EXIT :noconnection when cnoded is killed -9",
         %{c: c} do
      p = start_peer()
      assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
      pid = kv(c)

      # on the peer: a process that traps exits, links to and monitors the C worker and
      # forwards what it gets to us
      {watcher, pref} =
        peer_eval(
          p,
          """
          Parent = self(),
          W = spawn(fun() ->
                process_flag(trap_exit, true),
                link(Pid),
                R = monitor(process, Pid),
                [] = gen_server:call(Pid, keys),
                Parent ! {ready, self(), R},
                Loop = fun L() -> receive M -> Me ! {fwd, M}, L() end end,
                Loop()
              end),
          receive {ready, W, R} -> {W, R} after 5000 -> timeout end.
          """,
          10_000,
          Pid: pid,
          Me: self()
        )
        |> case do
          :timeout -> flunk("the watcher on the peer did not get ready")
          other -> other
        end

      assert is_pid(watcher)
      # the same here, on the runner
      Process.flag(:trap_exit, true)
      Process.link(pid)
      ref = Process.monitor(pid)
      assert GenServer.call(pid, :keys) == []

      kill9(c)

      assert_receive {:EXIT, ^pid, :noconnection}, 10_000
      assert_receive {:DOWN, ^ref, :process, ^pid, :noconnection}, 10_000
      assert_receive {:fwd, {:EXIT, ^pid, :noconnection}}, 10_000
      assert_receive {:fwd, {:DOWN, ^pref, :process, ^pid, :noconnection}}, 10_000
    end

    test "a C probe monitoring / linked to a pid on a BEAM peer gets :noconnection when the peer is killed -9",
         %{c: c} do
      p = start_peer()
      assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
      target = peer_eval(p, "spawn(fun() -> receive stop -> ok end end).")
      assert node(target) == p.node

      mon = probe(c)
      trapper = probe(c)
      plain = probe(c)
      mref = pcall(mon, {:monitor, target})
      :ok = pcall(trapper, {:trap_exit, true})
      :ok = pcall(trapper, {:link, target})
      :ok = pcall(plain, {:link, target})

      # everything reached the peer before it is killed
      eventually(
        fn ->
          {:monitored_by, mb} = peer_call(p, :erlang, :process_info, [target, :monitored_by])
          {:links, ls} = peer_call(p, :erlang, :process_info, [target, :links])
          mon in mb and trapper in ls and plain in ls
        end,
        5_000,
        what: "the monitor and links to reach the peer"
      )

      plain_ref = Process.monitor(plain)
      kill9(p)

      assert_receive {:probe, ^mon, {:DOWN, ^mref, :process, ^target, :noconnection}}, 10_000
      assert_receive {:probe, ^trapper, {:EXIT, ^target, :noconnection}}, 10_000
      assert_receive {:DOWN, ^plain_ref, :process, ^plain, :noconnection}, 10_000
      assert pcall(mon, :ping) == {:error, :badarg}
      assert pcall(trapper, :ping) == {:error, :badarg}
    end
  end

  describe "noconnection, more" do
    test "a C worker linked to a process on a BEAM peer that is killed -9 dies with :noconnection", %{c: c} do
      p = start_peer()
      pid = kv(c)
      # a process on the peer links to the worker (the peer dials the cnode itself)
      :ok =
        peer_eval(
          p,
          """
          Parent = self(),
          spawn(fun() -> link(Pid), [] = gen_server:call(Pid, keys), Parent ! linked,
                         receive stop -> ok end end),
          receive linked -> ok after 5000 -> timeout end.
          """,
          10_000,
          Pid: pid
        )

      trapper = probe(c)
      :ok = pcall(trapper, {:trap_exit, true})
      ref = Process.monitor(pid)
      kill9(p)
      assert_receive {:DOWN, ^ref, :process, ^pid, :noconnection}, 10_000
      assert pcall(trapper, :ping) == {:error, :badarg}
    end

    test "Node.disconnect: a C worker linked to one of our processes dies with :noconnection", %{c: c} do
      Process.flag(:trap_exit, true)
      pid = kv(c)
      Process.link(pid)
      assert GenServer.call(pid, :keys) == []
      # a probe on the cnode watches the worker from the inside
      pr = probe(c)
      mref = pcall(pr, {:monitor, pid})

      mark = log_mark(c)
      assert Node.disconnect(c.node) == true
      assert_receive {:EXIT, ^pid, :noconnection}, 5_000
      wait_log(c, "connection down: #{node()}", 5_000, after: mark)

      # the probe's report comes once the cnode has dialled us back (it sends to our pid)
      assert_receive {:probe, ^pr, {:DOWN, ^mref, :process, ^pid, :noconnection}}, 10_000
      ref = Process.monitor(pid)
      assert_receive {:DOWN, ^ref, :process, ^pid, :noproc}, 5_000
    end
  end

  # A C process that calls a BEAM gen_server from C (cn_call / cn_call_name) waits in
  # call_wait (cnode/proc/api.c). On the BEAM, a process waiting in gen_server:call still
  # dies at once of an exit signal, and its call ends as soon as the server's node is gone.
  describe "a C process inside a call from C" do
    test "a C call to a server on a BEAM peer that is killed -9 ends at once with {:down, :noconnection}", %{c: c} do
      p = start_peer()
      assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true

      # a registered gen_server-like process on the peer that never answers
      :ok =
        peer_eval(p, """
        Pid = spawn(fun() -> receive never -> ok end end),
        true = register(cnode_test_silent, Pid),
        ok.
        """)

      pr = probe(c)
      caller = Task.async(fn -> pcall(pr, {:call, :cnode_test_silent, p.node, :hello, 8_000}, 15_000) end)

      eventually(
        fn ->
          {:monitored_by, mb} = peer_call(p, :erlang, :process_info, [peer_eval(p, "whereis(cnode_test_silent)."), :monitored_by])
          pr in mb
        end,
        5_000,
        what: "the C call's monitor to reach the peer"
      )

      t0 = System.monotonic_time(:millisecond)
      kill9(p)
      result = Task.await(caller, 15_000)
      took = ms_since(t0)

      # gen_server:call on a BEAM node exits with {nodedown, Node} as soon as the connection
      # is lost (its monitor fires with noconnection)
      assert result == {:error, {:down, :noconnection}}
      assert took < 3_000, "the C call ended #{took} ms after the peer was killed"
    end

    test "Process.exit(pid, :kill) reaches a C process blocked in a call from C at once", %{c: c} do
      name = :"cnode_test_slow_#{System.unique_integer([:positive])}"
      {:ok, srv} = GenServer.start(Srv, nil, name: name)
      on_exit(fn -> if Process.alive?(srv), do: Process.exit(srv, :kill) end)

      pr = probe(c)
      ref = Process.monitor(pr)
      caller =
        Task.async(fn ->
          try do
            {:returned, pcall(pr, {:call, name, node(), {:sleep, 5_000}, 6_000}, 10_000)}
          catch
            :exit, reason -> {:exited, reason}
          end
        end)

      eventually(fn -> {:monitored_by, mb} = Process.info(srv, :monitored_by); pr in mb end, 5_000,
        what: "the C call to reach the server"
      )

      t0 = System.monotonic_time(:millisecond)
      Process.exit(pr, :kill)
      assert_receive {:DOWN, ^ref, :process, ^pr, :killed}, 10_000
      took = ms_since(t0)
      outcome = Task.await(caller, 10_000)

      # on the BEAM, a process waiting in gen_server:call dies at once; its caller exits :killed
      assert took < 1_000,
             "the C process died #{took} ms after Process.exit(pid, :kill); its caller got #{inspect(outcome)}"

      assert {:exited, {:killed, _}} = outcome
    end

    test "a C call to a C process on the same node, by {name, own node}", %{c: c} do
      pr = probe(c)
      assert pcall(pr, {:call, :echo, c.node, {:hi, [1]}, 2_000}) == {:ok, {:hi, [1]}}
      assert pcall(pr, {:call, :cnode_test_nobody, c.node, :hi, 2_000}) == {:error, {:down, :noproc}}
      assert pcall(pr, {:send, :echo, c.node, {:"$gen_cast", :counted}}) == :ok
      assert echo(c, :count) == 1
    end

    @tag cnode: [args: ["--schedulers", "1"]]
    test "with one scheduler, a C call to another C process on the node is still answered", %{c: c} do
      pr = probe(c)
      t0 = System.monotonic_time(:millisecond)
      result = pcall(pr, {:call, :echo, c.node, :hi, 2_000}, 10_000)
      took = ms_since(t0)
      # on the BEAM (also with +S 1) a process waiting for a reply does not hold the scheduler
      assert result == {:ok, :hi}, "got #{inspect(result)} after #{took} ms"
    end

    test "a C call to a name on a node that cannot be reached ends at once with {:down, :noconnection}", %{c: c} do
      pr = probe(c)
      nowhere = :"cnode_test_nobody_#{System.unique_integer([:positive])}@#{host()}"
      t0 = System.monotonic_time(:millisecond)
      result = pcall(pr, {:call, :some_name, nowhere, :hello, 4_000}, 10_000)
      took = ms_since(t0)
      # gen_server:call({some_name, Nowhere}, hello) on a BEAM node exits {nodedown, Nowhere} at once
      assert result == {:error, {:down, :noconnection}}
      assert took < 2_000, "took #{took} ms"
      assert pcall(pr, :ping) == {:error, :badarg}
    end
  end

  # ---- order ------------------------------------------------------------------------------

  describe "message order" do
    test "10_000 casts from one process, then a call: all seen, in order", %{c: c} do
      pid = kv(c)
      n = 10_000

      {us, _} =
        :timer.tc(fn ->
          for i <- 1..n do
            :ok = GenServer.cast(pid, {:put, :k, i})
            if rem(i, 100) == 0, do: :ok = GenServer.cast(pid, {:put, {:at, i}, i})
          end

          assert GenServer.call(pid, {:get, :k}, 30_000) == {:ok, n}
        end)

      assert length(GenServer.call(pid, :keys)) == 1 + div(n, 100)
      IO.puts("    #{n} casts + call: #{div(us, 1000)} ms")
    end

    test "plain sends, casts and calls from one process stay in order", %{c: c} do
      pr = probe(c)
      for i <- 1..200, do: send(pr, {:seq, i})
      assert pcall(pr, :ping) == {:error, :badarg}

      got =
        for _ <- 1..200 do
          receive do
            {:probe, ^pr, {:seq, i}} -> i
          after
            5_000 -> flunk("missing forwarded message")
          end
        end

      assert got == Enum.to_list(1..200)
    end
  end
end
