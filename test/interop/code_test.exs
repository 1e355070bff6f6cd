# Hot code loading (PROTOCOL.md §9, README "Hot code loading"): signed native modules loaded
# with :code.load_binary/3 over rpc, two versions with code_change, purge/soft_purge/delete,
# which/is_loaded/all_loaded, refusals (unsigned, unknown key, tampered, BEAM bytecode), IEx nl,
# and calls in flight during a load. The example module is workers/loadable/counter.c, built
# twice (make test-modules) and signed here with keys made for this run.
ExUnit.start(timeout: 120_000)
CnodeTest.watchdog(280, __ENV__.file)

defmodule Interop.CodeTest do
  use ExUnit.Case
  import CnodeTest

  @root Path.expand("../..", __DIR__)

  defp cnoded_run!(args) do
    {out, rc} = System.cmd(cnoded!(), args, stderr_to_stdout: true)
    # an ASan build in a root without /proc: LeakSanitizer itself fails at exit and exits 1
    lsan_only = rc == 1 and out =~ "LeakSanitizer has encountered a fatal error"
    assert rc == 0 or lsan_only, "cnoded #{Enum.join(args, " ")} failed (#{rc}): #{out}"
    out
  end

  # An unsigned shared object (counter version v, or "unresolved"): prebuilt by `make
  # test-modules` (the OTP 27 root has no compiler), else built here.
  defp module_so!("unresolved"),
    do: module_so!("unresolved.so", Path.join(@root, "test/interop/support/unresolved.c"), [])

  defp module_so!(v),
    do: module_so!("counter_v#{v}.so", Path.join(@root, "workers/loadable/counter.c"), ["-DVERSION=#{v}"])

  defp module_so!(name, src, flags) do
    so = Path.join([Path.dirname(cnoded!()), "modules", name])

    unless File.exists?(so) do
      {out, rc} =
        System.cmd("bash", [Path.join(@root, "scripts/build-module.sh"), src, so, ""] ++ flags,
          stderr_to_stdout: true)

      assert rc == 0, "could not build #{so} (run `make test-modules`): #{out}"
    end

    so
  end

  setup_all do
    dir = Path.join(System.get_env("CNODE_TEST_TMP") || System.tmp_dir!(), "code_#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(dir, "trusted"))
    cnoded_run!(["keygen", Path.join(dir, "trusted/dev")])
    cnoded_run!(["keygen", Path.join(dir, "stranger")])
    key = Path.join(dir, "trusted/dev.key")
    # the secret key is private to its owner
    assert %File.Stat{mode: mode} = File.stat!(key)
    assert Bitwise.band(mode, 0o077) == 0

    for v <- [1, 2] do
      cnoded_run!(["sign", "--key", key, module_so!(v), "-o", Path.join(dir, "counter_v#{v}.cnm")])
    end

    cnoded_run!(["sign", "--key", Path.join(dir, "stranger.key"), module_so!(1), "-o",
                 Path.join(dir, "counter_stranger.cnm")])

    v1 = File.read!(Path.join(dir, "counter_v1.cnm"))
    v2 = File.read!(Path.join(dir, "counter_v2.cnm"))
    # one byte changed inside the object, after signing
    at = byte_size(v1) - 200
    <<head::binary-size(at), b, rest::binary>> = v1
    tampered = <<head::binary, Bitwise.bxor(b, 1), rest::binary>>

    {:ok,
     dir: dir, v1: v1, v2: v2, tampered: tampered,
     stranger: File.read!(Path.join(dir, "counter_stranger.cnm")),
     unsigned: File.read!(module_so!(1))}
  end

  defp start_trusting(ctx, extra \\ []) do
    c = start_cnode(args: ["--trust-dir", Path.join(ctx.dir, "trusted")] ++ extra)
    connect!(c)
    c
  end

  defp load(c, bin, file \\ ~c"counter.cnm", mod \\ :counter),
    do: :rpc.call(c.node, :code, :load_binary, [mod, file, bin], 30_000)

  defp code(c, f, args \\ []), do: :erpc.call(c.node, :code, f, args, 30_000)

  # How many loaded modules (here: copies of counter) cnoded has mapped (each load maps its own private file),
  # from /proc/PID/maps; nil where there is no /proc (the OTP 27 root).
  defp mapped(c) do
    case File.read("/proc/#{c.os_pid}/maps") do
      {:ok, maps} ->
        Regex.scan(~r{cnoded-code-\w+/module\.so}, maps) |> Enum.uniq() |> length()

      _ ->
        nil
    end
  end

  defp assert_mapped(c, n) do
    case mapped(c) do
      nil -> :ok
      m -> assert m == n, "#{m} copies of counter mapped, expected #{n}"
    end
  end

  defp beam_module(name) do
    [{^name, bin}] = Code.compile_string("defmodule #{inspect(name)} do\n def hi, do: :hi\nend")
    bin
  end

  test "refusals say why and change nothing", ctx do
    c = start_trusting(ctx)
    mark = log_mark(c)
    assert load(c, ctx.unsigned) == {:error, :unsigned}
    wait_log(c, ~r/refused to load counter: unsigned/, 5_000, after: mark)
    assert {:error, {:unknown_key, kid}} = load(c, ctx.stranger)
    assert byte_size(kid) == 16
    wait_log(c, "signed with unknown key #{kid}", 5_000, after: mark)
    assert load(c, ctx.tampered) == {:error, :bad_signature}
    wait_log(c, "bad signature", 5_000, after: mark)
    assert load(c, beam_module(:"Elixir.CodeTestBeam"), ~c"x.beam", :"Elixir.CodeTestBeam") ==
             {:error, :badfile}
    wait_log(c, "not a native module", 5_000, after: mark)
    assert load(c, ctx.v1, ~c"x", :other) == {:error, {:module_name, :counter}}
    assert load(c, "", ~c"x") == {:error, :badfile}
    assert load(c, binary_part(ctx.v1, 0, 50)) == {:error, {:badfile, :truncated}}
    assert load(c, ctx.v1, :not_a_file_name_list_but_fine, :counter) == {:module, :counter}
    assert code(c, :delete, [:counter])
    assert code(c, :purge, [:counter]) == false

    # nothing of the refused loads is there
    assert code(c, :is_loaded, [:other]) == false
    assert code(c, :which, [:counter]) == :non_existing
    assert code(c, :is_loaded, [:counter]) == false
    {:undef, _} = catch_error_reason(fn -> :erpc.call(c.node, :counter, :vsn, []) end)
    # bad arguments, as code_server answers them
    assert :rpc.call(c.node, :code, :load_binary, ["counter", ~c"f", ctx.v1]) == {:error, :badarg}
    assert :rpc.call(c.node, :code, :load_binary, [:counter, ~c"f", :not_a_binary]) == {:error, :badarg}
    assert :rpc.call(c.node, :code, :load_binary, [:counter, {:not, :a, :file}, ctx.v1]) == {:error, :badarg}
    assert {:badrpc, {:EXIT, {:badarg, _}}} = :rpc.call(c.node, :code, :purge, ["counter"])
    assert code(c, :is_loaded, [:counter]) == false
    # built-in code cannot be replaced
    assert code(c, :which, [:kv]) == :preloaded
    assert code(c, :is_loaded, [:erlang]) == {:file, :preloaded}
  end

  test "a signed object the loader cannot use: cut short, unresolved symbol, no entry point", ctx do
    c = start_trusting(ctx)
    key = Path.join(ctx.dir, "trusted/dev.key")
    sign = fn so ->
      cnoded_run!(["sign", "--key", key, so, "-o", so <> ".cnm"])
      File.read!(so <> ".cnm")
    end

    # the ELF header of a real module with the rest cut off: refused before the loader maps it
    short = Path.join(ctx.dir, "short.so")
    File.write!(short, binary_part(ctx.unsigned, 0, 2000))
    assert load(c, sign.(short)) == {:error, {:badfile, :truncated}}
    # a module calling a function nothing defines: dlopen's own message
    assert {:error, {:dlopen, text}} = load(c, sign.(module_so!("unresolved")), ~c"u", :unresolved)
    assert text =~ "cn_no_such_function"
    wait_log(c, "refused to load unresolved: dlopen: #{text}")
    # a shared object that is not a cnode module
    [libm | _] = Enum.flat_map(["/lib/*/libm.so.6", "/usr/lib/*/libm.so.6", "/lib64/libm.so.6"], &Path.wildcard/1)
    File.cp!(libm, Path.join(ctx.dir, "libm.so"))
    assert load(c, sign.(Path.join(ctx.dir, "libm.so"))) ==
             {:error, {:no_entry_point, :cnode_module_v1}}
    wait_log(c, "no entry point cnode_module_v1()")
    assert code(c, :is_loaded, [:counter]) == false
    assert code(c, :is_loaded, [:unresolved]) == false
    # a good module still loads after all that
    assert load(c, ctx.v2) == {:module, :counter}
  end

  defp catch_error_reason(fun) do
    try do
      fun.()
      flunk("expected an error")
    rescue
      e in ErlangError -> e.original |> elem(1) |> then(&{&1, e})
    end
  end

  test ":cnode.load/1 loads a module under the name it gives itself", ctx do
    c = start_trusting(ctx)
    assert :erpc.call(c.node, :cnode, :load, [ctx.v2]) == {:module, :counter}
    assert code(c, :which, [:counter]) == ~c"cnode:load"
    assert :erpc.call(c.node, :counter, :vsn, []) == 2
    assert :erpc.call(c.node, :cnode, :load, [ctx.tampered]) == {:error, :bad_signature}
    wait_log(c, "refused to load a module: bad signature")
  end

  test "unsigned code loads only with --allow-unsigned, with a warning", ctx do
    c = start_cnode(args: ["--allow-unsigned"])
    connect!(c)
    wait_log(c, "--allow-unsigned: unsigned native modules will load")
    assert load(c, ctx.unsigned) == {:module, :counter}
    wait_log(c, "loading UNSIGNED module counter")
    assert :erpc.call(c.node, :counter, :vsn, []) == 1
    # a signature from an unknown key is still refused
    assert {:error, {:unknown_key, _}} = load(c, ctx.stranger)
  end

  test "two versions: workers move through code_change, purge unloads the old", ctx do
    c = start_trusting(ctx)
    n = c.node
    assert load(c, ctx.v1, ~c"counter_v1.cnm") == {:module, :counter}
    assert code(c, :is_loaded, [:counter]) == {:file, ~c"counter_v1.cnm"}
    assert code(c, :which, [:counter]) == ~c"counter_v1.cnm"
    all = code(c, :all_loaded)
    assert {:counter, ~c"counter_v1.cnm"} in all
    assert {:kv, :preloaded} in all
    assert :erpc.call(n, :counter, :vsn, []) == 1
    assert :erpc.call(n, :cnode, :info, []).modules == [:counter]
    assert :erpc.call(n, :counter, :module_info, [:attributes]) == [vsn: [~c"1"], behaviour: [:gen_server]]
    assert {:vsn, 0} in :erpc.call(n, :counter, :module_info, [:exports])
    assert_mapped(c, 1)

    # workers of v1, spawned and supervised
    pid = Node.spawn(n, :counter, :start, [5])
    assert GenServer.call(pid, {:add, 2}) == 7
    assert :sys.get_state(pid) == %{count: 7}

    {:ok, sup_child} =
      DynamicSupervisor.start_child({:cnode_sup, n}, %{id: :counter, start: {:counter, :start_link, [100]}})

    assert GenServer.call(sup_child, :vsn) == 1
    idle = Node.spawn(n, :counter, :start, [20])
    # suspended across the load (release_handler's way): these stay on v1 until moved
    held = Node.spawn(n, :counter, :start, [40])
    :ok = :sys.suspend(held)
    :ok = :sys.suspend(sup_child)

    # v2 becomes current, and every running worker moves to it through v2's code_change
    # before its next message: the first call after the load already meets v2
    mark = log_mark(c)
    assert load(c, ctx.v2, ~c"counter_v2.cnm") == {:module, :counter}
    assert GenServer.call(pid, :vsn) == 2
    assert :sys.get_state(pid) == %{count: 7, adds: 0, upgraded_from: ~c"1"}
    assert GenServer.call(pid, {:add, 1}) == {:ok, 8}
    wait_log(c, "code: counter: moving 4 worker(s) from vsn 1 to the new code", 5_000, after: mark)
    assert code(c, :which, [:counter]) == ~c"counter_v2.cnm"
    assert :erpc.call(n, :counter, :vsn, []) == 2
    assert_mapped(c, 2)
    # a worker that got no message moved too: only the suspended two still run v1
    assert :sys.get_state(idle) == %{count: 20, adds: 0, upgraded_from: ~c"1"}
    assert [{:counter, ~c"2", _, true, 2}] = :erpc.call(n, :cnode, :modules, [])
    pid2 = Node.spawn(n, :counter, :start, [])
    assert GenServer.call(pid2, {:add, 1}) == {:ok, 1}

    # old code in use: soft_purge refuses
    assert code(c, :soft_purge, [:counter]) == false

    # change_code only while suspended (as sys does for any gen_server); an old vsn v2's
    # code_change does not know fails and leaves the worker where it was
    assert {:error, {:unknown_system_msg, _}} = :sys.change_code(pid, :counter, ~c"1", [])
    assert :sys.change_code(held, :counter, :bogus, []) == {:error, {:code_change_failed, :counter}}
    assert :sys.change_code(held, :counter, ~c"1", :no_extra) == :ok
    :ok = :sys.resume(held)
    assert :sys.get_state(held) == %{count: 40, adds: 0, upgraded_from: ~c"1"}
    assert GenServer.call(held, :vsn) == 2
    assert GenServer.call(held, {:add, 1}) == {:ok, 41}
    assert %{count: 41, adds: 1} = :sys.get_state(held)

    # the supervised child still runs v1: a hard purge kills it, cnode_sup restarts it on v2
    mark = log_mark(c)
    assert code(c, :purge, [:counter]) == true
    wait_log(c, "code: counter vsn 1 unloaded", 10_000, after: mark)
    assert_mapped(c, 1) # really unmapped (dlclose), not just forgotten
    new_child =
      eventually(fn ->
        case DynamicSupervisor.which_children({:cnode_sup, n}) do
          [{_, p, :worker, _}] when is_pid(p) and p != sup_child -> p
          _ -> nil
        end
      end, 10_000, what: "cnode_sup to restart the purged child")

    assert GenServer.call(new_child, :vsn) == 2
    assert GenServer.call(new_child, :get) == 100
    assert code(c, :purge, [:counter]) == false
    assert code(c, :soft_purge, [:counter]) == true
    assert [{:counter, ~c"2", ~c"counter_v2.cnm", false, 5}] = :erpc.call(n, :cnode, :modules, [])

    # delete: no new spawns or calls, running workers go on until purged
    :ok = DynamicSupervisor.terminate_child({:cnode_sup, n}, new_child)
    assert code(c, :delete, [:counter]) == true
    assert code(c, :is_loaded, [:counter]) == false
    assert {:undef, _} = catch_error_reason(fn -> :erpc.call(n, :counter, :vsn, []) end)
    {dead, ref} = Node.spawn_monitor(n, :counter, :start, [])
    assert_receive {:DOWN, ^ref, :process, ^dead, {:undef, _}}, 5_000
    assert GenServer.call(pid2, :get) == 1
    assert code(c, :soft_purge, [:counter]) == false
    refs = for p <- [pid, pid2, idle, held], into: %{}, do: {Process.monitor(p), p}
    mark = log_mark(c)
    assert code(c, :purge, [:counter]) == true
    for _ <- 1..4 do
      assert_receive {:DOWN, ref, :process, p, :killed}, 5_000
      assert refs[ref] == p
    end
    wait_log(c, "code: counter vsn 2 unloaded", 10_000, after: mark)
    assert :erpc.call(n, :cnode, :modules, []) == []
    assert_mapped(c, 0)

    # and it loads again afterwards
    assert load(c, ctx.v1) == {:module, :counter}
    assert GenServer.call(Node.spawn(n, :counter, :start, [3]), :get) == 3
    assert_clean_exit(c)
  end

  # SIGTERM with loaded code and workers: a clean exit (no sanitizer report, status 0)
  defp assert_clean_exit(c) do
    sigterm(c)
    status = wait_exit(c, 10_000)
    refute_log(c, ~r/ERROR: (Address|Undefined)Sanitizer|runtime error:/)
    # an ASan build in a root without /proc: LeakSanitizer itself fails and exits 1
    unless status == 1 and log_lines(c, "LeakSanitizer has encountered a fatal error") != [],
      do: assert(status == 0, "exit status #{inspect(status)}\n#{log_text(c)}")
  end

  test ":cnode.upgrade moves every worker off the old code at once", ctx do
    c = start_trusting(ctx)
    n = c.node
    assert load(c, ctx.v1) == {:module, :counter}
    pids = for i <- 1..3, do: Node.spawn(n, :counter, :start, [i])
    [p1, p2, _] = pids
    # suspended across the load, as release_handler does it: they stay on v1
    for p <- pids, do: :ok = :sys.suspend(p)
    assert load(c, ctx.v2) == {:module, :counter}
    fresh = Node.spawn(n, :counter, :start, [])
    assert :erpc.call(n, :cnode, :upgrade, [:nothing_loaded]) == []
    # built-in code has nothing to move to: the request answers ok (and echo stays echo)
    assert GenServer.call({:echo, n}, {:"$cnode_code_change", []}) == :ok
    assert GenServer.call({:echo, n}, :still_echo) == :still_echo
    # served while suspended, as a change_code is
    results = :erpc.call(n, :cnode, :upgrade, [:counter, :the_extra])
    assert Enum.sort(results) == Enum.sort(Enum.map(pids, &{&1, :ok}))
    for p <- pids, do: :ok = :sys.resume(p)
    for {p, i} <- Enum.zip(pids, 1..3) do
      assert :sys.get_state(p) == %{count: i, adds: 0, upgraded_from: ~c"1"}
      assert GenServer.call(p, :vsn) == 2
    end
    assert GenServer.call(p2, {:add, 10}) == {:ok, 12}
    assert GenServer.call(fresh, :vsn) == 2
    assert :erpc.call(n, :cnode, :upgrade, [:counter]) == []
    mark = log_mark(c)
    assert code(c, :soft_purge, [:counter]) == true
    wait_log(c, "code: counter vsn 1 unloaded", 10_000, after: mark)
    assert GenServer.call(p1, :get) == 1
  end

  test "reloads back and forth: workers follow every load; a third load kills what runs the oldest", ctx do
    c = start_trusting(ctx)
    n = c.node
    assert load(c, ctx.v1) == {:module, :counter}
    w = Node.spawn(n, :counter, :start, [1])
    {stuck, ref} = Node.spawn_monitor(n, :counter, :start, [9])
    :ok = :sys.suspend(stuck) # stays on v1 across the load
    assert load(c, ctx.v2) == {:module, :counter}
    assert GenServer.call(w, {:add, 1}) == {:ok, 2}
    # a third load purges the oldest version first, killing what still runs it (code_server's way)
    mark = log_mark(c)
    assert load(c, ctx.v1) == {:module, :counter}
    assert_receive {:DOWN, ^ref, :process, ^stuck, :killed}, 5_000
    wait_log(c, "loading counter killed 1 process(es)", 5_000, after: mark)
    # w went back down to v1's shape (a rollback) and kept its count
    assert GenServer.call(w, :vsn) == 1
    assert :sys.get_state(w) == %{count: 2}
    assert GenServer.call(w, {:add, 1}) == 3

    # up and down again, as someone reloading while they work does; nothing is killed
    wref = Process.monitor(w)
    for _ <- 1..3 do
      assert load(c, ctx.v2) == {:module, :counter}
      assert GenServer.call(w, :vsn) == 2
      assert load(c, ctx.v1) == {:module, :counter}
      assert GenServer.call(w, :vsn) == 1
    end
    assert GenServer.call(w, :get) == 3
    # the same version again: its code_change keeps the state as it is
    assert load(c, ctx.v1) == {:module, :counter}
    assert :sys.get_state(w) == %{count: 3}
    refute_received {:DOWN, ^wref, _, _, _}
    assert [{:counter, ~c"1", _, true, 1}] = :erpc.call(n, :cnode, :modules, [])
    mark = log_mark(c)
    assert code(c, :soft_purge, [:counter]) == true
    wait_log(c, "code: counter vsn 1 unloaded", 10_000, after: mark)
    assert_mapped(c, 1)
    assert_clean_exit(c)
  end

  test "a load while calls are in flight loses no call", ctx do
    c = start_trusting(ctx)
    n = c.node
    assert load(c, ctx.v1) == {:module, :counter}
    slow = for _ <- 1..20, do: Task.async(fn -> :erpc.call(n, :counter, :slow, [1500], 30_000) end)
    Process.sleep(300)
    assert load(c, ctx.v2) == {:module, :counter}
    fast = for _ <- 1..20, do: Task.async(fn -> :erpc.call(n, :counter, :slow, [0], 30_000) end)
    # the calls that were inside v1 finish there; later ones run v2
    assert Enum.map(slow, &Task.await(&1, 30_000)) == List.duplicate(1, 20)
    assert Enum.map(fast, &Task.await(&1, 30_000)) == List.duplicate(2, 20)
    # a worker called without pause across a load answers every call, and counts every add:
    # first in v1's shape, then in v2's
    assert load(c, ctx.v1) == {:module, :counter}
    w = Node.spawn(n, :counter, :start, [])
    add = fn ->
      case GenServer.call(w, {:add, 1}, 10_000) do
        k when is_integer(k) -> {1, k}
        {:ok, k} -> {2, k}
      end
    end

    # calls until told to stop, then 20 more
    hammer = Task.async(fn ->
      next = fn ->
        receive do
          :stop -> :stop
        after
          0 -> add.()
        end
      end

      Stream.repeatedly(next)
      |> Enum.take_while(&(&1 != :stop))
      |> Kernel.++(for _ <- 1..20, do: add.())
    end)
    Process.sleep(50)
    assert load(c, ctx.v2) == {:module, :counter} # w moves to v2 between two calls
    send(hammer.pid, :stop)
    answers = Task.await(hammer, 60_000)
    total = length(answers)
    assert Enum.map(answers, &elem(&1, 1)) == Enum.to_list(1..total)
    vsns = Enum.map(answers, &elem(&1, 0))
    assert vsns == Enum.sort(vsns) and List.last(vsns) == 2 and hd(vsns) == 1
    assert %{count: ^total} = :sys.get_state(w)

    # nothing holds v1 any more: a soft purge unloads it
    mark = log_mark(c)
    assert code(c, :soft_purge, [:counter]) == true
    wait_log(c, "code: counter vsn 1 unloaded", 10_000, after: mark)

    # a call inside old code keeps it mapped through a purge; it unloads when the call ends
    slow = Task.async(fn -> :erpc.call(n, :counter, :slow, [1500], 30_000) end)
    Process.sleep(300)
    assert load(c, ctx.v1) == {:module, :counter}
    mark = log_mark(c)
    code(c, :purge, [:counter])
    assert Task.await(slow, 30_000) == 2
    wait_log(c, "code: counter vsn 2 unloaded", 10_000, after: mark)
    assert_clean_exit(c)
  end

  test "workers called without pause across twenty reloads lose no call and are never killed", ctx do
    c = start_trusting(ctx)
    n = c.node
    assert load(c, ctx.v1) == {:module, :counter}
    ws = for _ <- 1..4, do: Node.spawn(n, :counter, :start, [])
    refs = for w <- ws, do: Process.monitor(w)
    # one caller per worker adds 1 until told to stop; each answer is the new count, in
    # v1's shape or v2's, whichever code the worker was on
    callers =
      for w <- ws do
        Task.async(fn ->
          Stream.repeatedly(fn ->
            receive do
              :stop -> :stop
            after
              0 ->
                case GenServer.call(w, {:add, 1}, 10_000) do
                  k when is_integer(k) -> k
                  {:ok, k} -> k
                end
            end
          end)
          |> Enum.take_while(&(&1 != :stop))
        end)
      end

    for k <- 1..20 do
      v = if rem(k, 2) == 1, do: ctx.v2, else: ctx.v1
      assert load(c, v) == {:module, :counter}
      Process.sleep(20)
    end

    for t <- callers, do: send(t.pid, :stop)
    for {t, w} <- Enum.zip(callers, ws) do
      counts = Task.await(t, 60_000)
      assert counts == Enum.to_list(1..length(counts)), "a call was lost or counted twice"
      assert GenServer.call(w, :get) == length(counts)
      assert GenServer.call(w, :vsn) == 1
    end

    for ref <- refs, do: refute_received({:DOWN, ^ref, _, _, _})
    refute_log(c, ~r/killed [1-9]/)
    assert [{:counter, ~c"1", _, true, 4}] = :erpc.call(n, :cnode, :modules, [])
    assert_clean_exit(c)
  end

  test "IEx nl and c:nl: the C node answers for itself", ctx do
    c = start_trusting(ctx)
    peer = start_peer()
    # a BEAM module with its .beam file on this node's code path, as nl needs
    dir = Path.join(ctx.dir, "ebin")
    File.mkdir_p!(dir)
    bin = beam_module(:"Elixir.CodeTestNl")
    File.write!(Path.join(dir, "Elixir.CodeTestNl.beam"), bin)
    true = :code.add_patha(String.to_charlist(dir))
    {:module, _} = :code.load_binary(:"Elixir.CodeTestNl", ~c"#{dir}/Elixir.CodeTestNl.beam", bin)
    Code.ensure_loaded(IEx.Helpers)

    assert {:ok, results} = IEx.Helpers.nl([c.node, peer.node], :"Elixir.CodeTestNl")
    assert {c.node, :error, :badfile} in results
    assert {peer.node, :loaded, :"Elixir.CodeTestNl"} in results
    # c:nl casts to every node: the C node logs why it refused
    mark = log_mark(c)
    :c.nl(:"Elixir.CodeTestNl")
    wait_log(c, "refused to load Elixir.CodeTestNl: not a native module", 5_000, after: mark)
  end
end
