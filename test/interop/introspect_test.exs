# The node answers about itself over rpc as a BEAM node does (issue 4, "The node answers about
# itself"): erlang:nodes/1, processes/0, registered/0, whereis/1, process_info/1,2, memory/0,1,
# system_info/1, statistics/1, init:stop/0 and cnode:info/0. Every answer is checked against
# what is true of the cnode (its registered processes, the workers a test started, the
# connections it has), and every bad argument against the BEAM's badarg.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.IntrospectTest.Srv do
  @moduledoc "A BEAM gen_server that answers {:hold, ms} after ms milliseconds."
  use GenServer

  def init(arg), do: {:ok, arg}
  def handle_call({:hold, ms}, _from, s), do: Process.sleep(ms) && {:reply, :held, s}
end

defmodule Interop.IntrospectTest do
  use ExUnit.Case
  import CnodeTest
  alias Interop.IntrospectTest.Srv

  setup ctx do
    c = start_cnode(ctx[:cnode] || [])
    %{c: connect!(c)}
  end

  # ---- helpers ----------------------------------------------------------------------------

  defp rpc(c, m, f, a), do: :erpc.call(c.node, m, f, a, 10_000)

  # erpc's report of error:badarg raised by the C function M:F/A (PROTOCOL.md §6.4)
  defp assert_badarg(c, m, f, a) do
    arity = length(a)

    case catch_error(rpc(c, m, f, a)) do
      {:exception, :badarg, [{^m, ^f, ^arity, _} | _]} -> :ok
      other -> flunk("#{m}:#{f}(#{inspect(a)}) on the cnode: not badarg but #{inspect(other)}")
    end
  end

  defp kv(c) do
    pid = Node.spawn(c.node, :kv, :start, [])
    assert is_pid(pid) and node(pid) == c.node
    assert GenServer.call(pid, :keys, 5_000) == []
    pid
  end

  defp pinfo(c, pid, item), do: rpc(c, :erlang, :process_info, [pid, item])

  @pinfo1_keys [:current_function, :initial_call, :status, :message_queue_len, :links,
                :dictionary, :trap_exit, :error_handler, :priority, :group_leader,
                :total_heap_size, :heap_size, :stack_size, :reductions, :garbage_collection,
                :suspending]

  # ---- nodes ------------------------------------------------------------------------------

  describe "erlang:nodes/1" do
    test "this, visible, hidden, connected, known and lists of them", %{c: c} do
      me = node()
      assert rpc(c, :erlang, :node, []) == c.node
      assert rpc(c, :erlang, :nodes, []) == [me]
      assert rpc(c, :erlang, :nodes, [:this]) == [c.node]
      assert rpc(c, :erlang, :nodes, [:visible]) == [me]
      assert rpc(c, :erlang, :nodes, [:hidden]) == []
      assert rpc(c, :erlang, :nodes, [:connected]) == [me]
      # the union, each node once, `this` last (as the BEAM orders it)
      assert rpc(c, :erlang, :nodes, [[:visible, :this]]) == [me, c.node]
      assert rpc(c, :erlang, :nodes, [[:this, :visible, :connected]]) == [me, c.node]
      assert rpc(c, :erlang, :nodes, [[]]) == []
      known = rpc(c, :erlang, :nodes, [:known])
      assert me in known and c.node in known and List.last(known) == c.node

      # a hidden BEAM peer that connects to the cnode
      h = start_peer(prefix: "hid", hidden: true)
      assert peer_call(h, :net_kernel, :connect_node, [c.node]) == true
      eventually(fn -> rpc(c, :erlang, :nodes, [:hidden]) == [h.node] end, 5_000,
        what: "the hidden peer in nodes(hidden)"
      )
      assert rpc(c, :erlang, :nodes, [:visible]) == [me]
      assert rpc(c, :erlang, :nodes, []) == [me]
      assert Enum.sort(rpc(c, :erlang, :nodes, [:connected])) == Enum.sort([me, h.node])
      assert rpc(c, :erlang, :nodes, [[:hidden, :this]]) == [h.node, c.node]
      assert h.node in rpc(c, :erlang, :nodes, [:known])
      # the peer sees the cnode as hidden too
      assert c.node in peer_call(h, :erlang, :nodes, [:hidden])
    end

    test "bad arguments are badarg", %{c: c} do
      for a <- [:bogus, [:this, :bogus], [:this | :visible], "visible", 7, {:visible}] do
        assert_badarg(c, :erlang, :nodes, [a])
      end
    end
  end

  # ---- processes, registered, whereis -----------------------------------------------------

  describe "processes/0, registered/0, whereis/1" do
    test "the registered processes are there and are what whereis says", %{c: c} do
      names = rpc(c, :erlang, :registered, [])
      assert is_list(names)
      for n <- [:echo, :net_kernel, :cnode_sup],
          do: assert(n in names, "#{n} not in #{inspect(names)}")
      assert names == Enum.uniq(names)

      echo = rpc(c, :erlang, :whereis, [:echo])
      assert is_pid(echo) and node(echo) == c.node
      # the same process the name reaches
      assert GenServer.call({:echo, c.node}, {:hi, 1}) == {:hi, 1}
      assert rpc(c, :erlang, :whereis, [:nobody_here]) == :undefined

      procs = rpc(c, :erlang, :processes, [])
      assert Enum.all?(procs, &(is_pid(&1) and node(&1) == c.node))
      assert procs == Enum.uniq(procs)
      for n <- [:echo, :net_kernel, :cnode_sup] do
        assert rpc(c, :erlang, :whereis, [n]) in procs
      end

      assert_badarg(c, :erlang, :whereis, ["echo"])
      assert_badarg(c, :erlang, :whereis, [self()])
    end

    test "processes/0 grows with Node.spawn and shrinks when they exit", %{c: c} do
      before = rpc(c, :erlang, :processes, [])
      kvs = for _ <- 1..20, do: kv(c)
      now = rpc(c, :erlang, :processes, [])
      assert Enum.all?(kvs, &(&1 in now))
      assert length(now) >= length(before) + 20

      count = rpc(c, :erlang, :system_info, [:process_count])
      # the rpc process of each call counts itself; the previous one may still be ending
      assert abs(count - length(now)) <= 2

      for pid <- kvs, do: Process.exit(pid, :kill)
      eventually(fn -> not Enum.any?(rpc(c, :erlang, :processes, []), &(&1 in kvs)) end, 5_000,
        what: "killed kv workers to leave processes()"
      )
    end
  end

  # ---- process_info -----------------------------------------------------------------------

  describe "process_info/1,2" do
    test "of echo: its name, an empty queue, a waiting gen_server", %{c: c} do
      echo = rpc(c, :erlang, :whereis, [:echo])
      info = rpc(c, :erlang, :process_info, [echo])
      assert Keyword.keys(info) == [:registered_name | @pinfo1_keys]
      assert info[:registered_name] == :echo
      assert info[:message_queue_len] == 0
      assert info[:status] == :waiting
      assert info[:current_function] == {:gen_server, :loop, 7}
      assert info[:initial_call] == {:echo, :init, 1}
      assert info[:links] == []
      # where the code lives, as a GenServer's dictionary says it (proc_lib reads it)
      assert info[:dictionary] == ["$initial_call": {:echo, :init, 1}]
      assert info[:trap_exit] == false
      assert is_pid(info[:group_leader])

      assert pinfo(c, echo, :registered_name) == {:registered_name, :echo}
      assert pinfo(c, echo, :message_queue_len) == {:message_queue_len, 0}
      {:memory, mem} = pinfo(c, echo, :memory)
      assert is_integer(mem) and mem > 0
      # a list: in the order asked, repeats kept
      assert pinfo(c, echo, [:message_queue_len, :registered_name, :message_queue_len]) ==
               [message_queue_len: 0, registered_name: :echo, message_queue_len: 0]
      assert pinfo(c, echo, []) == []
      assert [{:current_stacktrace, [{:gen_server, :loop, 7, []}]}] ==
               pinfo(c, echo, [:current_stacktrace])
      for k <- [:heap_size, :total_heap_size, :reductions] do
        assert {^k, n} = pinfo(c, echo, k)
        assert is_integer(n) and n >= 0
      end
    end

    test "of an unnamed worker: links, monitors, monitored_by, trap_exit", %{c: c} do
      pid = Node.spawn_link(c.node, :kv, :start, [])
      assert GenServer.call(pid, :keys) == []
      # no name: [] alone, {registered_name, []} in a list, absent from process_info/1
      assert pinfo(c, pid, :registered_name) == []
      assert pinfo(c, pid, [:registered_name]) == [registered_name: []]
      refute Keyword.has_key?(rpc(c, :erlang, :process_info, [pid]), :registered_name)
      assert pinfo(c, pid, :links) == {:links, [self()]}

      ref = Process.monitor(pid)
      eventually(fn -> pinfo(c, pid, :monitored_by) == {:monitored_by, [self()]} end, 5_000,
        what: "our monitor in monitored_by"
      )
      Process.demonitor(ref)
      eventually(fn -> pinfo(c, pid, :monitored_by) == {:monitored_by, []} end, 5_000)
      Process.unlink(pid)
      eventually(fn -> pinfo(c, pid, :links) == {:links, []} end, 5_000)

      # a probe monitors a BEAM process and a registered name; it traps exits
      probe = Node.spawn(c.node, :probe, :start, [self()])
      victim = spawn(fn -> Process.sleep(:infinity) end)
      Process.register(victim, :introspect_victim)
      assert is_reference(GenServer.call(probe, {:monitor, victim}))
      assert GenServer.call(probe, {:trap_exit, true}) == :ok
      assert GenServer.call(probe, {:link, pid}) == :ok
      assert {:monitors, [{:process, ^victim}]} = pinfo(c, probe, :monitors)
      assert pinfo(c, probe, :trap_exit) == {:trap_exit, true}
      assert pinfo(c, probe, :links) == {:links, [pid]}
      assert pinfo(c, pid, :links) == {:links, [probe]}
      assert pinfo(c, probe, :initial_call) == {:initial_call, {:probe, :init, 1}}
      Process.exit(victim, :kill)
    end

    test "queued messages of a suspended worker count, status suspended", %{c: c} do
      pid = kv(c)
      :ok = :sys.suspend(pid)
      for i <- 1..3, do: send(pid, {:hello, i})
      eventually(fn -> pinfo(c, pid, :message_queue_len) == {:message_queue_len, 3} end, 5_000,
        what: "3 queued messages"
      )
      assert pinfo(c, pid, :status) == {:status, :suspended}
      # the messages themselves, in order, as process_info(P, messages) gives them
      assert pinfo(c, pid, [:messages, :message_queue_data, :current_location]) ==
               [messages: [{:hello, 1}, {:hello, 2}, {:hello, 3}], message_queue_data: :off_heap,
                current_location: {:gen_server, :loop, 7, []}]
      :ok = :sys.resume(pid)
      eventually(fn -> pinfo(c, pid, :message_queue_len) == {:message_queue_len, 0} end, 5_000)
      # runnable for as long as a scheduler still has it after the last message
      eventually(fn -> pinfo(c, pid, :status) == {:status, :waiting} end, 5_000,
        what: "the worker to wait again once its queue is empty"
      )
    end

    test "a worker blocked in a call is waiting in gen:do_call/4", %{c: c} do
      {:ok, srv} = GenServer.start(Srv, nil, name: :introspect_srv)
      probe = Node.spawn(c.node, :probe, :start, [self()])
      req = {:call, :introspect_srv, node(), {:hold, 1_500}, 5_000}
      task = Task.async(fn -> GenServer.call(probe, req, 10_000) end)
      blocked = {:current_function, {:gen, :do_call, 4}}
      eventually(fn -> pinfo(c, probe, :current_function) == blocked end, 3_000,
        what: "the probe blocked in cn_call"
      )
      assert pinfo(c, probe, :status) == {:status, :waiting}
      assert Task.await(task) == {:ok, :held}
      GenServer.stop(srv)
    end

    test "a busy worker is asked when its callback ends, as the BEAM waits for a signal", %{c: c} do
      echo = Node.spawn(c.node, :echo, :start, [])
      task = Task.async(fn -> GenServer.call(echo, {:sleep, 1_000}, 10_000) end)
      Process.sleep(200)
      t0 = System.monotonic_time(:millisecond)
      assert {:status, st} = pinfo(c, echo, :status)
      assert st in [:waiting, :runnable]
      waited = System.monotonic_time(:millisecond) - t0
      assert waited >= 500, "process_info answered after #{waited} ms while the worker slept"
      assert Task.await(task) == :ok
      # the node stayed responsive meanwhile and still is
      assert rpc(c, :erlang, :whereis, [:echo]) |> is_pid()
    end

    test "every process answers (an observer-style sweep)", %{c: c} do
      for _ <- 1..5, do: kv(c)
      items = [:registered_name, :current_function, :initial_call, :status, :message_queue_len,
               :links, :monitors, :monitored_by, :memory, :trap_exit, :group_leader]
      for pid <- rpc(c, :erlang, :processes, []) do
        case pinfo(c, pid, items) do
          :undefined -> :ok # an rpc process that ended meanwhile
          l -> assert Keyword.keys(l) == items
        end
      end
    end

    test "dead, remote and bad arguments", %{c: c} do
      pid = kv(c)
      ref = Process.monitor(pid)
      Process.exit(pid, :kill)
      assert_receive {:DOWN, ^ref, :process, ^pid, :killed}, 5_000
      assert rpc(c, :erlang, :process_info, [pid]) == :undefined
      assert pinfo(c, pid, :links) == :undefined
      assert pinfo(c, pid, [:links, :memory]) == :undefined
      # items are checked first: badarg even for a dead process
      assert_badarg(c, :erlang, :process_info, [pid, :bogus])
      echo = rpc(c, :erlang, :whereis, [:echo])
      assert_badarg(c, :erlang, :process_info, [echo, :bogus])
      assert_badarg(c, :erlang, :process_info, [echo, [:links, :bogus]])
      assert_badarg(c, :erlang, :process_info, [echo, [:links | :memory]])
      assert_badarg(c, :erlang, :process_info, [echo, "links"])
      # the same pid of an earlier node of this name (another creation) is not local
      bin = :erlang.term_to_binary(echo)
      <<head::binary-size(byte_size(bin) - 4), cr::32>> = bin
      old = :erlang.binary_to_term(<<head::binary, cr + 1::32>>)
      assert_badarg(c, :erlang, :process_info, [old, :links])
      # a pid of another node, and things that are no pid
      assert_badarg(c, :erlang, :process_info, [self()])
      assert_badarg(c, :erlang, :process_info, [self(), :links])
      assert_badarg(c, :erlang, :process_info, [:echo])
      assert_badarg(c, :erlang, :process_info, [:echo, :links])
    end
  end

  # ---- process and node BIFs --------------------------------------------------------------

  describe "BIFs over rpc: is_process_alive, exit/2, send/2, register/2, halt, os:getpid" do
    test "is_process_alive/1 and garbage_collect/1: true while it lives; badarg for a remote pid",
         %{c: c} do
      pid = kv(c)
      assert rpc(c, :erlang, :is_process_alive, [pid])
      assert rpc(c, :erlang, :garbage_collect, [pid])
      assert rpc(c, :erlang, :garbage_collect, [])
      ref = Process.monitor(pid)
      Process.exit(pid, :kill)
      assert_receive {:DOWN, ^ref, :process, ^pid, :killed}, 5_000
      refute rpc(c, :erlang, :is_process_alive, [pid])
      refute rpc(c, :erlang, :garbage_collect, [pid])
      assert_badarg(c, :erlang, :is_process_alive, [self()])
      assert_badarg(c, :erlang, :is_process_alive, [:not_a_pid])
      assert rpc(c, :erlang, :is_alive, [])
    end

    test "exit/2 sends the signal from the rpc's process", %{c: c} do
      pid = kv(c)
      ref = Process.monitor(pid)
      assert rpc(c, :erlang, :exit, [pid, {:shutdown, :from_rpc}])
      assert_receive {:DOWN, ^ref, :process, ^pid, {:shutdown, :from_rpc}}, 5_000
      Process.flag(:trap_exit, true)
      assert rpc(c, :erlang, :exit, [self(), :hello])
      assert_receive {:EXIT, from, :hello}, 5_000
      assert node(from) == c.node and from != pid
    end

    test "send/2 to a pid, a registered name and {name, node}; an unknown name is badarg",
         %{c: c} do
      assert rpc(c, :erlang, :send, [self(), {:hi, 1}]) == {:hi, 1}
      assert_receive {:hi, 1}, 5_000
      Process.register(self(), :introspect_bif_test)
      assert rpc(c, :erlang, :send, [{:introspect_bif_test, node()}, :hi2]) == :hi2
      assert_receive :hi2, 5_000
      pid = kv(c)
      assert rpc(c, :erlang, :register, [:bif_kv, pid])
      assert rpc(c, :erlang, :send, [:bif_kv, {:"$gen_cast", {:put, :k, 1}}]) ==
               {:"$gen_cast", {:put, :k, 1}}
      assert GenServer.call({:bif_kv, c.node}, {:get, :k}) == {:ok, 1}
      assert_badarg(c, :erlang, :send, [:no_such_name_here, :x])
      assert_badarg(c, :erlang, :send, [{:a, :b, :c}, :x])
    end

    test "register/2 and unregister/1 answer as the BEAM's", %{c: c} do
      [a, b] = [kv(c), kv(c)]
      assert rpc(c, :erlang, :register, [:bif_a, a])
      assert rpc(c, :erlang, :whereis, [:bif_a]) == a
      assert_badarg(c, :erlang, :register, [:bif_a, b]) # the name is taken
      assert_badarg(c, :erlang, :register, [:bif_a2, a]) # it has a name already
      assert_badarg(c, :erlang, :register, [:undefined, b])
      assert_badarg(c, :erlang, :register, [:bif_b, self()]) # not a process of this node
      assert rpc(c, :erlang, :unregister, [:bif_a])
      assert rpc(c, :erlang, :whereis, [:bif_a]) == :undefined
      assert_badarg(c, :erlang, :unregister, [:bif_a])
      assert rpc(c, :erlang, :register, [:bif_a2, a])
      ref = Process.monitor(b)
      Process.exit(b, :kill)
      assert_receive {:DOWN, ^ref, _, _, _}, 5_000
      assert_badarg(c, :erlang, :register, [:bif_b, b]) # dead
    end

    test "os:getpid/0 and function_exported/3", %{c: c} do
      assert rpc(c, :os, :getpid, []) == ~c"#{c.os_pid}"
      assert rpc(c, :erlang, :function_exported, [:erlang, :node, 0])
      assert rpc(c, :erlang, :function_exported, [:demo, :add, 2])
      refute rpc(c, :erlang, :function_exported, [:demo, :add, 3])
      refute rpc(c, :erlang, :function_exported, [:nosuch, :f, 0])
      assert_badarg(c, :erlang, :function_exported, [:demo, :add, -1])
    end

    test "halt/1 ends the node at once with that status; peers see it go" do
      c = connect!(start_cnode())
      :ok = :net_kernel.monitor_nodes(true)
      assert_badarg(c, :erlang, :halt, [:not_a_status])
      assert_badarg(c, :erlang, :halt, [256])
      assert {:badrpc, _} = :rpc.call(c.node, :erlang, :halt, [3], 10_000)
      assert_receive {:nodedown, n} when n == c.node, 5_000
      assert wait_exit(c) == 3
    end
  end

  # ---- memory -----------------------------------------------------------------------------

  describe "memory/0,1" do
    test "the BEAM's keys, consistent sums, grows with 10_000 kv workers", %{c: c} do
      m = rpc(c, :erlang, :memory, [])
      assert Keyword.keys(m) == [:total, :processes, :processes_used, :system, :atom,
                                 :atom_used, :binary, :code, :ets]
      assert Enum.all?(m, fn {_, v} -> is_integer(v) and v >= 0 end)
      assert m[:total] > 0 and m[:processes] > 0 and m[:code] > 0
      assert m[:total] == m[:processes] + m[:system]

      assert is_integer(rpc(c, :erlang, :memory, [:total]))
      assert [total: t, ets: 0, total: t2] = rpc(c, :erlang, :memory, [[:total, :ets, :total]])
      assert t > 0 and t2 > 0
      assert rpc(c, :erlang, :memory, [[]]) == []
      assert_badarg(c, :erlang, :memory, [:bogus])
      assert_badarg(c, :erlang, :memory, [[:total, :bogus]])
      assert_badarg(c, :erlang, :memory, ["total"])

      count0 = rpc(c, :erlang, :system_info, [:process_count])
      pids =
        1..10_000
        |> Task.async_stream(fn _ -> Node.spawn(c.node, :kv, :start, []) end,
          max_concurrency: 50, timeout: 30_000, ordered: false)
        |> Enum.map(fn {:ok, pid} -> pid end)
      assert length(Enum.uniq(pids)) == 10_000
      eventually(fn -> rpc(c, :erlang, :system_info, [:process_count]) >= count0 + 10_000 end,
        10_000, what: "10_000 more processes"
      )
      m2 = rpc(c, :erlang, :memory, [])
      assert m2[:processes] >= m[:processes] + 10_000 * 100,
             "processes #{m[:processes]} -> #{m2[:processes]}"
      # each kv worker holds a table of its own: well over a kilobyte
      assert m2[:total] >= m[:total] + 10_000 * 1_024, "total #{m[:total]} -> #{m2[:total]}"
      assert m2[:total] == m2[:processes] + m2[:system]
    end
  end

  # ---- system_info ------------------------------------------------------------------------

  describe "system_info/1" do
    @tag cnode: [args: ["--schedulers", "3"]]
    test "identity, schedulers, process counts and limits", %{c: c} do
      si = fn k -> rpc(c, :erlang, :system_info, [k]) end
      # our own identity, not an OTP release we are not
      assert si.(:otp_release) == ~c"cnode-0.1.0"
      assert si.(:version) == ~c"0.1.0"
      assert [_ | _] = sv = si.(:system_version)
      assert List.to_string(sv) =~ ~r/^cnode 0\.1\.0 .*\[smp:3:3\]\n$/
      assert si.(:machine) == ~c"cnode"
      assert si.(:schedulers) == 3
      assert si.(:schedulers_online) == 3
      assert si.(:process_limit) == 1_048_575
      assert si.(:wordsize) == 8
      assert si.({:wordsize, :internal}) == 8
      assert si.({:wordsize, :external}) == 8
      assert is_integer(si.(:logical_processors)) and si.(:logical_processors) > 0
      assert is_integer(si.(:logical_processors_online))
      n = si.(:process_count)
      assert is_integer(n) and n >= 4 # echo, net_kernel, cnode_sup, its keeper (+ this rpc)
      for k <- [:bogus, {:wordsize, :bogus}, {:bogus, :internal}, "otp_release", [:otp_release]] do
        assert_badarg(c, :erlang, :system_info, [k])
      end
    end

    # like the BEAM: one scheduler per CPU the node may run on, not per CPU the machine has
    test "schedulers follow the CPU affinity it was started with", %{c: c} do
      si = fn node, k -> rpc(node, :erlang, :system_info, [k]) end
      avail = si.(c, :logical_processors_available)
      assert si.(c, :schedulers) == avail
      pinned = start_cnode(wrap: ["taskset", "-c", "0"])
      assert si.(pinned, :logical_processors_available) == 1
      assert si.(pinned, :schedulers) == 1
      assert si.(pinned, :schedulers_online) == 1
    end
  end

  # ---- statistics -------------------------------------------------------------------------

  describe "statistics/1" do
    test "clocks, run queue, io that grows with a 1 MiB echo", %{c: c} do
      st = fn k -> rpc(c, :erlang, :statistics, [k]) end
      assert is_integer(st.(:run_queue)) and st.(:run_queue) >= 0
      assert is_integer(st.(:total_run_queue_lengths))
      {w1, _} = st.(:wall_clock)
      Process.sleep(100)
      {w2, since} = st.(:wall_clock)
      assert w2 >= w1 + 100 and since == w2 - w1
      {r1, _} = st.(:runtime)
      assert is_integer(r1) and r1 >= 0
      # reductions: mailbox entries taken, by live processes and by those that ended
      {t1, _} = st.(:reductions)
      for _ <- 1..50, do: echo(c, :x)
      for _ <- 1..20, do: :erpc.call(c.node, :demo, :add, [1, 2]) # each in a process that ends
      {t2, since} = st.(:reductions)
      assert t2 >= t1 + 70 and since == t2 - t1
      {e1, _} = st.(:exact_reductions)
      assert e1 >= t2

      {{:input, in1}, {:output, out1}} = st.(:io)
      assert in1 > 0 and out1 > 0
      big = :crypto.strong_rand_bytes(1_048_576)
      assert echo(c, big, 10_000) == big
      {{:input, in2}, {:output, out2}} = st.(:io)
      assert in2 - in1 >= 1_048_576, "input #{in1} -> #{in2}"
      assert out2 - out1 >= 1_048_576, "output #{out1} -> #{out2}"

      for k <- [:bogus, "io", {:io}], do: assert_badarg(c, :erlang, :statistics, [k])
    end
  end

  # ---- cnode:info -------------------------------------------------------------------------

  describe "cnode:info/0" do
    test "version, node, our connection with its flags and bytes, workers", %{c: c} do
      info = rpc(c, :cnode, :info, [])
      assert %{version: "0.1.0", node: node, creation: cr, uptime_ms: up, hidden: false} = info
      assert node == c.node and is_integer(cr) and is_integer(up) and up >= 0
      assert info.modules == []
      assert info.process_count > 0
      # heap_in_use follows what is allocated: up while a worker holds 4 MiB, down once it goes
      kv = Node.spawn(c.node, :kv, :start, [])
      for k <- 1..64, do: :ok = GenServer.call(kv, {:put, k, :binary.copy(<<k>>, 65_536)})
      held = rpc(c, :cnode, :info, []).heap_in_use
      ref = Process.monitor(kv)
      Process.exit(kv, :kill)
      assert_receive {:DOWN, ^ref, :process, ^kv, :killed}, 5_000
      eventually(fn -> rpc(c, :cnode, :info, []).heap_in_use < held - 4_000_000 end, 5_000,
        what: "heap_in_use to fall by the 4 MiB the worker held (#{held} bytes while it ran)")
      assert held - info.heap_in_use > 4_000_000
      assert info.exports == length(rpc(c, :cnode, :exports, []))
      for w <- [:echo, :kv, :probe], do: assert(w in info.workers)

      assert [conn] = Enum.filter(info.connections, &(&1.node == node()))
      assert conn.type == :visible
      assert conn.direction == :incoming
      assert :published in conn.flags and :spawn in conn.flags and :utf8_atoms in conn.flags
      assert conn.bytes_in > 0 and conn.bytes_out > 0

      Process.sleep(50)
      info2 = rpc(c, :cnode, :info, [])
      assert info2.uptime_ms >= up + 50
      [conn2] = Enum.filter(info2.connections, &(&1.node == node()))
      assert conn2.bytes_in > conn.bytes_in
    end

    @tag cnode: [hidden: true]
    test "a hidden cnode: hidden, and so is its connection", %{c: c} do
      assert c.node in Node.list(:hidden)
      info = rpc(c, :cnode, :info, [])
      assert info.hidden == true
      assert [%{type: :hidden} = conn] = Enum.filter(info.connections, &(&1.node == node()))
      refute :published in conn.flags
      assert rpc(c, :erlang, :nodes, [:hidden]) == [node()]
      assert rpc(c, :erlang, :nodes, [:visible]) == []
    end
  end

  # ---- init:stop --------------------------------------------------------------------------

  describe "init:stop/0" do
    test "answers ok, then the node stops cleanly: nodedown here, exit status 0", %{c: c} do
      :ok = :net_kernel.monitor_nodes(true)
      mark = log_mark(c)
      assert rpc(c, :init, :stop, []) == :ok
      assert_receive {:nodedown, node}, 5_000
      assert node == c.node
      wait_log(c, ~r/node \S+ stopped/, 5_000, after: mark)
      status = wait_exit(c, 5_000)
      # an ASan build in a root without /proc: LeakSanitizer itself fails and exits 1
      unless status == 1 and log_lines(c, "LeakSanitizer has encountered a fatal error") != [],
        do: assert(status == 0, "exit status #{inspect(status)}")
      :net_kernel.monitor_nodes(false)
    end
  end
end
