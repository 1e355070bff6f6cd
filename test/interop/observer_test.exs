# The BEAM's observer tools look into a C node (README "Observer and etop"): etop in text
# mode lists its processes, observer_backend:sys_info/0 gives the keys observer's System tab
# reads (the same keys as a BEAM peer's, values that follow what happens on the node),
# procs_info/1 and etop_collect/1 give etop's records, fetch_stats/2 feeds the load charts
# and stops when told, and bad arguments give {badrpc, _} while the node goes on.
#
# etop is not installed as a beam (erlang-nox has no observer): its sources (erlang-src) are
# compiled here. Under OTP 27, whose root has none, the OTP 25 ones copied by
# `make observer-src` are used (OTP 27 loads beams compiled by OTP 25's compiler here too).
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.ObserverTest do
  use ExUnit.Case
  import CnodeTest

  @copy Path.expand("../../build/observer-src", __DIR__)

  # {src dir, include dir, extra include dir or nil} of etop's sources
  defp find_sources do
    otp = String.to_integer(System.otp_release())

    lib =
      case :code.lib_dir(:observer) do
        dir when is_list(dir) -> [to_string(dir)]
        _ -> []
      end

    candidates =
      for dir <- lib ++ Enum.map(Path.wildcard("/usr/lib/erlang/lib/observer-*/src"), &Path.dirname/1),
          do: {Path.join(dir, "src"), Path.join(dir, "include"), nil}

    found =
      Enum.find(candidates, fn {s, i, _} ->
        File.exists?(Path.join(s, "etop.erl")) and File.exists?(Path.join(i, "etop.hrl"))
      end)

    cond do
      found ->
        found

      otp >= 26 and File.exists?(Path.join(@copy, "etop.erl")) ->
        {@copy, Path.join(@copy, "include"), @copy}

      otp >= 26 ->
        flunk("OTP #{otp} has no observer sources here, and there is no copy of this machine's " <>
                "OTP 25 ones in #{@copy}: run `make observer-src` outside the OTP 27 root first")

      true ->
        flunk("no observer sources (etop.erl): looked in code:lib_dir(observer) and " <>
                "/usr/lib/erlang/lib/observer-*/src; install erlang-src (`make deps`)")
    end
  end

  setup_all do
    {src, inc, extra} = find_sources()
    out = Path.join(System.tmp_dir!(), "cnode_observer_#{System.unique_integer([:positive])}")
    File.mkdir_p!(out)
    on_exit(fn -> File.rm_rf!(out) end)
    incs = [{:i, to_charlist(inc)}, {:i, to_charlist(src)}] ++ if(extra, do: [{:i, to_charlist(extra)}], else: [])

    for m <- ~w(etop etop_txt etop_tr) do
      file = to_charlist(Path.join(src, m <> ".erl"))

      case :compile.file(file, [{:outdir, to_charlist(out)}, :report_errors | incs]) do
        {:ok, _} -> :ok
        other -> flunk("compiling #{file}: #{inspect(other)}")
      end
    end

    true = :code.add_patha(to_charlist(out))
    for m <- [:etop, :etop_txt, :etop_tr], do: {:module, ^m} = :code.ensure_loaded(m)

    # the records' fields, in order, from the header etop and observer are compiled with
    {:ok, forms} = :epp.parse_file(to_charlist(Path.join(inc, "etop.hrl")), includes: Enum.map(incs, &elem(&1, 1)))

    records =
      for {:attribute, _, :record, {name, fields}} <- forms, into: %{} do
        {name,
         Enum.map(fields, fn
           {:record_field, _, {:atom, _, f}} -> f
           {:record_field, _, {:atom, _, f}, _} -> f
           {:typed_record_field, {:record_field, _, {:atom, _, f}}, _} -> f
           {:typed_record_field, {:record_field, _, {:atom, _, f}, _}, _} -> f
         end)}
      end

    assert Map.has_key?(records, :etop_info) and Map.has_key?(records, :etop_proc_info)
    %{records: records}
  end

  setup do
    c = start_cnode()
    %{c: connect!(c)}
  end

  # ---- helpers ----------------------------------------------------------------------------

  defp rpc(c, m, f, a), do: :rpc.call(c.node, m, f, a, 10_000)

  # a record as a map of its fields, after checking its tag and size against the header
  defp rec(records, name, tuple) do
    fields = Map.fetch!(records, name)
    assert is_tuple(tuple) and elem(tuple, 0) == name and tuple_size(tuple) == length(fields) + 1,
           "not a ##{name}{} record: #{inspect(tuple, limit: 20)}"

    fields |> Enum.zip(tl(Tuple.to_list(tuple))) |> Map.new()
  end

  defp kvs(c, n), do: for(_ <- 1..n, do: Node.spawn(c.node, :kv, :start, []))

  defp start_child!(sup) do
    assert {:ok, pid} = DynamicSupervisor.start_child(sup, %{id: :kv, start: {:kv, :start_link, [:arg]}})
    assert is_pid(pid)
    pid
  end

  # appmon_info's {Root, [{Pid, Name}], PrimaryLinks, SecondaryLinks}: root is cnode_sup, every
  # worker is listed and linked from it
  defp check_tree({root_s, p2n, links, xlinks}, root, workers) do
    names = Map.new(p2n)
    assert root_s == ~c"cnode_sup" and names[root] == root_s
    assert is_list(xlinks)

    for w <- workers do
      assert [name] = for({^w, n} <- p2n, do: n), "#{inspect(w)} not in #{inspect(p2n)}"
      assert to_string(name) =~ ~r/^<0\.\d+\.\d+>$/
      assert {root_s, name} in links
    end
  end

  defp string?(s), do: is_list(s) and s != [] and Enum.all?(s, &is_integer/1)

  # the kinds of the parts: a string root; {pid, string} entries; {string, string} links
  defp tree_shape({root, p2n, links, xlinks}) do
    {string?(root),
     Enum.uniq(for e <- p2n, do: match?({p, _} when is_pid(p), e) and string?(elem(e, 1))),
     Enum.uniq(for {a, b} <- links, do: string?(a) and string?(b)),
     Enum.all?(xlinks, fn {a, b} -> string?(a) and string?(b) end)}
  end

  defp etop_collect(node) do
    Process.flag(:trap_exit, true)
    pid = Node.spawn_link(node, :observer_backend, :etop_collect, [self()])

    info =
      receive do
        {^pid, info} -> info
      after
        10_000 -> flunk("no #etop_info{} from #{node}")
      end

    assert_receive {:EXIT, ^pid, :normal}, 5_000
    {pid, info}
  end

  # procs_info as observer's process list runs it: chunks, then the process ends (normal)
  defp procs_info(node) do
    Process.flag(:trap_exit, true)
    pid = Node.spawn_link(node, :observer_backend, :procs_info, [self()])
    procs_loop(pid, [])
  end

  defp procs_loop(pid, acc) do
    receive do
      {:procs_info, ^pid, list} -> procs_loop(pid, acc ++ list)
      {:EXIT, ^pid, :normal} -> acc
      {:EXIT, ^pid, other} -> flunk("procs_info ended with #{inspect(other)}")
    after
      10_000 -> flunk("procs_info did not finish")
    end
  end

  # ---- etop -------------------------------------------------------------------------------

  describe "etop" do
    test "text mode lists the C node's processes, with plausible numbers, and stops", %{c: c} do
      for _ <- 1..25, do: assert(echo(c, :hi) == :hi)
      {:ok, dev} = StringIO.open("")
      me = self()

      etop =
        spawn(fn ->
          Process.group_leader(self(), dev)
          # apply/3: etop is compiled by setup_all, after this file
          opts = [node: c.node, output: :text, interval: 1, lines: 100, tracing: :off, sort: :memory]
          r = apply(:etop, :start, [opts])
          send(me, {:etop_returned, r})
        end)

      ref = Process.monitor(etop)

      text =
        eventually(
          fn ->
            {_, out} = StringIO.contents(dev)
            String.contains?(out, "Current Function") and length(String.split(out, "Load:")) >= 3 and out
          end,
          20_000,
          what: "two etop updates"
        )

      assert apply(:etop, :stop, []) == :stop, "etop was not running"
      assert_receive {:etop_returned, :ok}, 10_000
      assert_receive {:DOWN, ^ref, :process, ^etop, :normal}, 5_000
      assert Process.whereis(:etop_server) == nil

      # the first update: the node, its memory, and one line per process
      [_, first | _] = String.split(text, "Load:")
      if System.get_env("OBSERVER_TEST_SHOW"), do: IO.puts(first)
      assert text =~ Atom.to_string(c.node)
      [_, total] = Regex.run(~r/Memory:\s+total\s+(\d+)/, first)
      assert String.to_integer(total) > 100, "total memory (KiB) #{total}"
      [_, procs] = Regex.run(~r/procs\s+(\d+)/, first)
      assert String.to_integer(procs) >= 5

      # Pid, name, time ('-' without tracing), reds, memory, msgq, current function
      rows =
        for [_, name, reds, mem, mq, cf] <-
              Regex.scan(~r/^<\d+\.\d+\.\d+>\s+(\S+)\s+'-'\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s*$/m, first),
            into: %{},
            do: {name, {String.to_integer(reds), String.to_integer(mem), String.to_integer(mq), cf}}

      for name <- ~w(echo rex net_kernel) do
        assert {reds, mem, mq, cf} = rows[name], "#{name} not in etop's list:\n#{first}"
        assert mem > 0 and mq == 0 and cf =~ ":", "#{name}: #{inspect(rows[name])}"
        assert reds >= 0
      end

      {echo_reds, _, _, cf} = rows["echo"]
      assert echo_reds >= 25, "echo took 25 calls, reductions #{echo_reds}"
      assert cf == "gen_server:loop/7"
    end

    test "etop_collect/1 gives #etop_info{} as a BEAM node's does", %{c: c, records: r} do
      workers = kvs(c, 3)
      {collector, info} = etop_collect(c.node)
      info = rec(r, :etop_info, info)
      procs = Enum.map(info.procinfo, &rec(r, :etop_proc_info, &1))
      assert info.n_procs == length(procs)
      assert Enum.all?(procs, &(node(&1.pid) == c.node))
      names = Enum.map(procs, & &1.name)
      assert :echo in names and :rex in names
      by_pid = Map.new(procs, &{&1.pid, &1})

      for w <- workers do
        assert %{name: {:kv, :init, 1}, mq: 0, mem: mem, cf: {:gen_server, :loop, 7}} = by_pid[w]
        assert mem > 0
      end

      # the collector leaves itself out, as OTP's does
      assert node(collector) == c.node
      refute Map.has_key?(by_pid, collector)
      assert Enum.all?(procs, &(is_integer(&1.mem) and is_integer(&1.reds) and is_integer(&1.mq)))
      assert {mega, s, us} = info.now
      assert abs(mega * 1_000_000 + s - System.os_time(:second)) < 60 and us < 1_000_000
      assert [{1, a, t} | _] = info.runtime
      assert length(info.runtime) == rpc(c, :erlang, :system_info, [:schedulers])
      assert is_integer(a) and t >= a
      assert Keyword.keys(info.memi) == [:total, :processes, :ets, :atom, :code, :binary]
      assert info.memi[:total] > 0

      # the same record, field by field in type, as a BEAM peer's
      p = start_peer()
      {_, beam} = etop_collect(p.node)
      beam = rec(r, :etop_info, beam)
      assert Map.keys(beam) == Map.keys(info)
      [bp | _] = beam.procinfo
      assert tuple_size(bp) == tuple_size(hd(info.procinfo))
      assert is_integer(beam.run_queue) and is_integer(info.run_queue)
    end
  end

  # ---- observer ---------------------------------------------------------------------------

  describe "observer" do
    test "sys_info/0: a BEAM peer's keys, values that follow the node", %{c: c} do
      p = start_peer()
      beam = :rpc.call(p.node, :observer_backend, :sys_info, [], 10_000)
      info = rpc(c, :observer_backend, :sys_info, [])
      assert is_list(info)
      assert Keyword.keys(info) == Keyword.keys(beam)

      # the same count as system_info's, give or take the short-lived rpc processes
      assert abs(info[:process_count] - rpc(c, :erlang, :system_info, [:process_count])) <= 3
      assert info[:schedulers] == rpc(c, :erlang, :system_info, [:schedulers])
      assert info[:otp_release] == ~c"cnode-0.1.0"
      assert info[:wordsize_internal] == 8 and info[:wordsize_external] == 8
      assert info[:total] > 0 and info[:code] > 0 and info[:processes] > 0
      assert info[:total] == info[:processes] + info[:system]
      assert is_list(info[:system_architecture])
      # one allocator, malloc, in the shape the Memory Allocators tab sums (OTP 23+)
      assert [{:malloc, [{:instance, 0, data}]}] = info[:alloc_info]
      sizes = for {_, [{:blocks, [{_, [{:size, b, _, _}]}]}, {:carriers_size, cs, _, _}]} <- data, do: {b, cs}
      assert length(sizes) == 2 and Enum.all?(sizes, fn {b, cs} -> b <= cs end)
      assert Enum.sum(Enum.map(sizes, &elem(&1, 1))) > 0, "carriers: observer would divide by 0"
      assert Enum.sum(Enum.map(sizes, &elem(&1, 0))) > 0
      assert info[:port_count] == 0 and info[:ets_count] == 0 and info[:atom_count] == 0
      assert info[:dist_buf_busy_limit] > 0
      assert info[:process_limit] > info[:process_count]

      # observer's "count / limit (x % used)" divides when both are there: never by zero
      for {count, limit} <- [atom_count: :atom_limit, process_count: :process_limit,
                             port_count: :port_limit, ets_count: :ets_limit] do
        l = info[limit]
        assert l == :undefined or (is_integer(l) and l > 0 and is_integer(info[count]))
      end

      # values follow the node: processes, uptime, traffic
      workers = kvs(c, 40)
      later = rpc(c, :observer_backend, :sys_info, [])
      assert later[:process_count] >= info[:process_count] + 40
      assert later[:uptime] > info[:uptime]
      assert later[:io_input] > info[:io_input] and later[:io_output] > info[:io_output]
      for w <- workers, do: Process.exit(w, :kill)

      eventually(fn -> rpc(c, :observer_backend, :sys_info, [])[:process_count] <= info[:process_count] + 2 end,
        5_000, what: "the process count back down")
    end

    test "procs_info/1 as the process list runs it; get_port_list/0", %{c: c, records: r} do
      # observer's table holder checks that procs_info/1 exists before spawning it
      assert rpc(c, :code, :ensure_loaded, [:observer_backend]) == {:module, :observer_backend}
      assert rpc(c, :erlang, :function_exported, [:observer_backend, :procs_info, 1]) == true
      assert rpc(c, :erlang, :function_exported, [:observer_backend, :get_port_list, 0]) == true
      workers = kvs(c, 5)
      procs = c.node |> procs_info() |> Enum.map(&rec(r, :etop_proc_info, &1))
      pids = Enum.map(procs, & &1.pid)
      assert Enum.all?(workers, &(&1 in pids))
      assert length(pids) == length(Enum.uniq(pids))
      assert Enum.find(procs, &(&1.name == :echo))

      # the same shape as a BEAM peer's list
      p = start_peer()
      [bp | _] = procs_info(p.node)
      rec(r, :etop_proc_info, bp)

      assert rpc(c, :observer_backend, :get_port_list, []) == []
      assert rpc(c, :observer_backend, :get_socket_list, []) == []
      assert rpc(c, :observer_backend, :get_table_list, [:ets, [sys_hidden: true]]) == []
      assert {:error, ~c"Mnesia is not running on: " ++ _} = rpc(c, :observer_backend, :get_table_list, [:mnesia, []])
      assert {:ok, _} = rpc(c, :observer_backend, :vsn, [])
    end

    test "fetch_stats/2 feeds the load charts until told to stop", %{c: c} do
      Process.flag(:trap_exit, true)
      pid = Node.spawn_link(c.node, :observer_backend, :fetch_stats, [self(), 100])
      n = rpc(c, :erlang, :system_info, [:schedulers])

      samples =
        for _ <- 1..3 do
          assert_receive {:stats, 1, swt, {{:input, i}, {:output, o}}, mem}, 5_000
          assert length(swt) == n and Enum.all?(swt, fn {_, a, t} -> a <= t end)
          assert is_integer(i) and is_integer(o) and mem[:total] > 0
          swt
        end

      # observer's delta: 100 * dActive div dTotal per scheduler
      [s1, _, s3] = samples
      for {{id, a1, t1}, {id, a3, t3}} <- Enum.zip(s1, s3), do: assert(t3 > t1 and a3 >= a1)
      send(pid, :exit)
      assert_receive {:EXIT, ^pid, :normal}, 5_000

      # a parent that ends, even normally: the fetcher traps the exit, as OTP's, and ends
      me = self()

      parent =
        spawn(fn ->
          f = Node.spawn_link(c.node, :observer_backend, :fetch_stats, [self(), 50])
          send(me, {:fetcher, f})
          receive do: (:go -> :ok)
        end)

      assert_receive {:fetcher, f}, 5_000
      ref = Process.monitor(f)
      Process.sleep(200)
      send(parent, :go)
      assert_receive {:DOWN, ^ref, :process, ^f, :normal}, 5_000
    end

    test "the Applications tab's appmon_info: cnode and the tree under cnode_sup, as a BEAM peer's app",
         %{c: c} do
      sup = {:cnode_sup, c.node}
      w1 = start_child!(sup)
      w2 = start_child!(sup)
      root = rpc(c, :erlang, :whereis, [:cnode_sup])
      assert is_pid(root) and node(root) == c.node

      # as observer_app_wx starts and asks it
      assert {:ok, am} = rpc(c, :appmon_info, :start_link2, [self(), self(), []])
      assert node(am) == c.node
      assert rpc(c, :appmon_info, :start_link2, [self(), self(), []]) == {:ok, am}
      :appmon_info.app_ctrl(am, c.node, true, [])
      assert_receive {:delivery, ^am, :app_ctrl, node, apps}, 5_000
      assert node == c.node
      # the triple which_applications gives, with cnode_sup where the application master goes
      [triple] = rpc(c, :application, :which_applications, [])
      assert {:cnode, _, _} = triple
      assert apps == [{root, :cnode, triple}]

      # the tree (link mode, appmon_info's default and what observer asks for)
      :appmon_info.app(am, :cnode, true, [])
      assert_receive {:delivery, ^am, :app, :cnode, tree}, 10_000
      check_tree(tree, root, [w1, w2])

      # the same shape as a BEAM peer's appmon_info gives for kernel
      p = start_peer()
      assert {:ok, pam} = :rpc.call(p.node, :appmon_info, :start_link2, [self(), self(), []], 10_000)
      :appmon_info.app(pam, :kernel, true, [])
      assert_receive {:delivery, ^pam, :app, :kernel, beam_tree}, 10_000
      assert tree_shape(tree) == tree_shape(beam_tree)
      :appmon_info.app(pam, :kernel, false, [])

      # sup mode: which_children's pids, linked from cnode_sup
      :appmon_info.app(am, :cnode, true, info_type: :sup)
      assert_receive {:delivery, ^am, :app, :cnode, sup_tree}, 10_000
      check_tree(sup_tree, root, [w1, w2])
      assert tree_shape(sup_tree) == tree_shape(beam_tree)

      # redone every 2 s: a child gone is delivered again without asking
      :ok = DynamicSupervisor.terminate_child(sup, w2)
      assert_receive {:delivery, ^am, :app, :cnode, {_, p2n, _, _}}, 10_000
      assert Enum.any?(p2n, &match?({^w1, _}, &1))
      refute Enum.any?(p2n, &match?({^w2, _}, &1))
      :appmon_info.app(am, :cnode, false, [])

      # other applications: the empty tree
      :appmon_info.app(am, :kernel, true, [])
      assert_receive {:delivery, ^am, :app, :kernel, {[], [], [], []}}, 5_000
      # junk casts are ignored, as by any gen_server cast it does not know
      GenServer.cast(am, :junk)
      GenServer.cast(am, {self(), :app_ctrl, c.node, :true})
      :appmon_info.app_ctrl(am, {:again, c.node}, true, [])
      assert_receive {:delivery, ^am, :app_ctrl, {:again, _}, [{^root, :cnode, ^triple}]}, 5_000
      assert rpc(c, :erlang, :is_process_alive, [am])

      # a client's tasks go when it does: it is no longer watched (nor delivered to)
      me = self()

      client =
        spawn(fn ->
          :appmon_info.app(am, :cnode, true, [])
          receive do: ({:delivery, ^am, :app, :cnode, _} -> send(me, :got))
          receive do: (:stop -> :ok)
        end)

      assert_receive :got, 10_000
      watched = fn -> for({:process, p} <- rpc(c, :erlang, :process_info, [am, :monitors]) |> elem(1), do: p) end
      assert client in watched.()
      send(client, :stop)
      eventually(fn -> client not in watched.() end, 10_000, what: "appmon_info forgetting a gone client")
    end

    test "process_info items observer's process window reads", %{c: c} do
      echo = rpc(c, :erlang, :whereis, [:echo])
      items = [:binary, :catchlevel, :current_function, :error_handler, :garbage_collection,
               :group_leader, :heap_size, :initial_call, :last_calls, :links, :memory,
               :message_queue_len, :monitored_by, :monitors, :priority, :reductions,
               :registered_name, :sequential_trace_token, :stack_size, :status, :suspending,
               :total_heap_size, :trace, :trap_exit]
      info = rpc(c, :erlang, :process_info, [echo, items])
      assert Keyword.keys(info) == items
      assert info[:registered_name] == :echo and info[:binary] == [] and info[:last_calls] == false
      {:reductions, r0} = rpc(c, :erlang, :process_info, [echo, :reductions])
      for _ <- 1..10, do: echo(c, :x)
      {:reductions, r1} = rpc(c, :erlang, :process_info, [echo, :reductions])
      assert r1 >= r0 + 10
      # the rest of the window: its State tab asks proc_lib first (a worker's dictionary has
      # its '$initial_call'; any other process none: {proc_lib, init_p, 5}, as OTP answers),
      # then the other tabs
      assert rpc(c, :proc_lib, :translate_initial_call, [echo]) == {:echo, :init, 1}
      sleeper = Node.spawn(c.node, :demo, :sleep, [3_000])
      assert rpc(c, :proc_lib, :translate_initial_call, [sleeper]) == {:proc_lib, :init_p, 5}
      assert rpc(c, :proc_lib, :translate_initial_call, [{0, 9, 1}]) == {:proc_lib, :init_p, 5}
      for bad <- [:x, {0, 9}, {:a, 1, 2}, 1.5] do
        assert {:badrpc, {:EXIT, {:function_clause, _}}} = rpc(c, :proc_lib, :translate_initial_call, [bad])
      end
      assert rpc(c, :erlang, :process_info, [echo, :messages]) == {:messages, []}
      assert rpc(c, :erlang, :process_info, [echo, :dictionary]) == {:dictionary, ["$initial_call": {:echo, :init, 1}]}
      assert rpc(c, :erlang, :process_info, [sleeper, :dictionary]) == {:dictionary, []}
      assert {:current_stacktrace, [{_, _, _, _} | _]} = rpc(c, :erlang, :process_info, [echo, :current_stacktrace])
      assert rpc(c, :erlang, :system_info, [:wordsize]) == 8
      assert rpc(c, :erlang, :system_info, [:dirty_cpu_schedulers]) == 0
      assert rpc(c, :erlang, :system_info, [:port_count]) == 0
      assert is_list(rpc(c, :erlang, :system_info, [:system_architecture]))
    end
  end

  # ---- refusals ----------------------------------------------------------------------------

  test "bad arguments: {badrpc, _} as on the BEAM, and the node goes on", %{c: c} do
    assert {:badrpc, {:EXIT, {:badarg, _}}} = rpc(c, :observer_backend, :etop_collect, [:nopid])
    assert {:badrpc, {:EXIT, {:badarg, _}}} = rpc(c, :observer_backend, :procs_info, [~c"x"])
    assert {:badrpc, {:EXIT, {:timeout_value, _}}} = rpc(c, :observer_backend, :fetch_stats, [self(), -1])
    assert {:badrpc, {:EXIT, {:timeout_value, _}}} = rpc(c, :observer_backend, :fetch_stats, [self(), :soon])
    assert {:badrpc, {:EXIT, {:timeout_value, _}}} = rpc(c, :observer_backend, :fetch_stats, [self(), 1_099_511_627_776])
    assert {:badrpc, {:EXIT, {:badarg, _}}} = rpc(c, :observer_backend, :fetch_stats, [:nopid, 10])
    assert {:badrpc, {:EXIT, {:function_clause, _}}} = rpc(c, :observer_backend, :get_table_list, [:dets, []])
    assert {:badrpc, {:EXIT, {:function_clause, _}}} = rpc(c, :observer_backend, :get_table_list, [:ets, :x])
    assert {:badrpc, {:EXIT, {:undef, _}}} = rpc(c, :observer_backend, :sys_info, [:extra])
    assert {:badrpc, {:EXIT, {:badarg, _}}} = rpc(c, :erlang, :process_info, [self(), :parent_of_nothing])
    # spawned with a bad argument: the process exits with the error, as on the BEAM
    Process.flag(:trap_exit, true)
    pid = Node.spawn_link(c.node, :observer_backend, :etop_collect, [:nopid])
    assert_receive {:EXIT, ^pid, {:badarg, _}}, 5_000
    assert is_list(rpc(c, :observer_backend, :sys_info, []))
    assert echo(c, :still_here) == :still_here
  end
end
