# Soak: one cnoded takes a mixed workload round after round (SOAK_ROUNDS, default 12): workers
# spawned, called, monitored, linked, suspended, killed and stopped; erpc/rpc with answers and
# errors; pg joins and :global names held by C processes; 1 MiB echoes; a peer node that
# connects, works and is killed mid-call; the test node's own connection dropped and made
# again. After every round cnoded must be back where it began (processes, registered names,
# pg members, global names, bytes allocated), and at the end it must exit cleanly (under ASan:
# without a leak report).
ExUnit.start(timeout: 600_000)
CnodeTest.watchdog(580, __ENV__.file)

defmodule Interop.SoakTest do
  use ExUnit.Case
  import CnodeTest

  @rounds String.to_integer(System.get_env("SOAK_ROUNDS") || "12")

  defp rss_kb(c) do
    case File.read("/proc/#{c.os_pid}/status") do
      {:ok, s} -> s |> then(&Regex.run(~r/VmRSS:\s+(\d+)/, &1)) |> List.last() |> String.to_integer()
      _ -> nil
    end
  end

  # What must come back to where it was after a round.
  defp census(n) do
    %{
      processes: :erpc.call(n, :erlang, :system_info, [:process_count]),
      registered: Enum.sort(:erpc.call(n, :erlang, :registered, [])),
      pg: Enum.sort(:erpc.call(n, :pg, :which_groups, [])),
      global: Enum.sort(for g <- :global.registered_names(), is_soak(g), do: g)
    }
  end

  defp processes(n) do
    for p <- :erpc.call(n, :erlang, :processes, []),
        do: {p, :erpc.call(n, :erlang, :process_info, [p, [:registered_name, :initial_call, :status, :monitored_by]])}
  end

  defp is_soak({:soak, _, _}), do: true
  defp processes(n) do
    for p <- :erpc.call(n, :erlang, :processes, []),
        do: {p, :erpc.call(n, :erlang, :process_info, [p, [:registered_name, :initial_call, :status, :monitored_by]])}
  end

  defp is_soak(_), do: false

  defp workers(n, i) do
    pids = for k <- 1..40, do: Node.spawn(n, :kv, :start, [])
    refs = Map.new(pids, &{Process.monitor(&1), &1})
    for {p, k} <- Enum.with_index(pids) do
      :ok = GenServer.call(p, {:put, k, {i, :binary.copy("v", 64 + k)}})
      GenServer.cast(p, {:put, :cast, k})
    end
    assert GenServer.call(Enum.at(pids, 7), {:get, 7}) == {:ok, {i, :binary.copy("v", 71)}}
    [a, b, c, d | rest] = pids
    :ok = :sys.suspend(a)
    GenServer.cast(a, {:put, :held, 1})
    :ok = :sys.resume(a)
    assert %{held: 1} = :sys.get_state(a)
    # linked from here, then unlinked; killed; shut down; a normal exit signal is ignored
    Process.unlink(spawn_link_to(b))
    for p <- [a, b, c], do: Process.exit(p, :kill)
    Process.exit(d, :shutdown)
    for p <- rest, do: Process.exit(p, :normal)
    assert GenServer.call(hd(rest), {:get, 4}) == {:ok, {i, :binary.copy("v", 68)}}
    for p <- rest, do: Process.exit(p, :bye)
    downs =
      for _ <- 1..40 do
        assert_receive {:DOWN, ref, :process, _, reason}, 10_000
        {Map.fetch!(refs, ref), reason}
      end

    assert Enum.sort(downs) == Enum.sort([{a, :killed}, {b, :killed}, {c, :killed}, {d, :shutdown}] ++ for(p <- rest, do: {p, :bye}))
  end

  defp spawn_link_to(pid) do
    Process.link(pid)
    pid
  end

  defp calls(n, i) do
    assert :erpc.call(n, :demo, :add, [i, 1]) == i + 1
    assert {:badrpc, {:EXIT, {:undef, _}}} = :rpc.call(n, :nope, :nope, [i])
    assert {:exception, :badarg, _} = catch_error(:erpc.call(n, :demo, :fail, [:badarg]))
    assert catch_throw(:erpc.call(n, :demo, :throw, [{:t, i}])) == {:t, i}
    assert {:exception, _, _} = catch_erpc(fn -> :erpc.call(n, :demo, :sleep, [1_000], 50) end)
    multi = :erpc.multicall([n], :demo, :echo, [i, :x])
    assert multi == [{:ok, [i, :x]}]
    big = :crypto.strong_rand_bytes(1_048_576)
    assert GenServer.call({:echo, n}, {:big, big}, 30_000) == {:big, big}
    tasks = for k <- 1..64, do: Task.async(fn -> GenServer.call({:echo, n}, {k, i}) end)
    assert Enum.map(tasks, &Task.await/1) == for(k <- 1..64, do: {k, i})
  end

  defp catch_erpc(f) do
    try do
      f.()
      :no_exception
    rescue
      e -> {:exception, e, nil}
    catch
      kind, r -> {:exception, kind, r}
    end
  end

  defp cluster(n, i) do
    holder = Node.spawn(n, :kv, :start, [])
    ref = Process.monitor(holder)
    :ok = :erpc.call(n, :pg, :join, [{:soak, i}, holder])
    assert :erpc.call(n, :pg, :get_members, [{:soak, i}]) == [holder]
    :yes = :global.register_name({:soak, :kv, i}, holder)
    assert :global.whereis_name({:soak, :kv, i}) == holder
    assert GenServer.call({:global, {:soak, :kv, i}}, {:put, :g, i}) == :ok
    # the name and the membership go with the process
    Process.exit(holder, :kill)
    assert_receive {:DOWN, ^ref, :process, ^holder, :killed}, 10_000
    eventually(fn -> :global.whereis_name({:soak, :kv, i}) == :undefined end, 10_000,
      what: "the global name to go with its holder")
    eventually(fn -> :erpc.call(n, :pg, :which_groups, []) == [] end, 10_000,
      what: "the pg group to go with its member")
  end

  # A BEAM peer connects, calls, holds a monitor and a pending call, and is killed.
  defp peer_dies(c, i) do
    peer = start_peer(prefix: "soakp")
    pid = Node.spawn(c.node, :kv, :start, [])
    code = """
    C = Node, W = Pid,
    ok = gen_server:call(W, {put, peer, I}),
    erlang:monitor(process, W),
    spawn(fun() -> catch gen_server:call({echo, C}, {hello, I}) end),
    spawn(fun() -> catch erpc:call(C, demo, sleep, [1000]) end),
    ok.
    """
    assert peer_eval(peer, code, 10_000, Node: c.node, Pid: pid, I: i) == :ok
    kill9(peer)
    eventually(fn -> peer.node not in :erpc.call(c.node, :erlang, :nodes, []) end, 15_000,
      what: "cnoded to see the peer go")
    assert GenServer.call(pid, {:get, :peer}) == {:ok, i}
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    assert_receive {:DOWN, ^ref, :process, ^pid, :killed}, 10_000
  end

  defp reconnect(c) do
    true = Node.disconnect(c.node)
    eventually(fn -> c.node not in Node.list() end, 5_000, what: "the connection to drop")
    connect!(c)
  end

  @parts String.split(System.get_env("SOAK_PARTS") || "workers,calls,cluster,peer,reconnect", ",")
  defp round(c, i) do
    if "workers" in @parts, do: workers(c.node, i)
    if "calls" in @parts, do: calls(c.node, i)
    if "cluster" in @parts, do: cluster(c.node, i)
    if "peer" in @parts and rem(i, 3) == 0, do: peer_dies(c, i)
    if "reconnect" in @parts and rem(i, 4) == 1, do: reconnect(c)
  end

  test "round after round, cnoded comes back to where it began" do
    c = start_cnode()
    connect!(c)
    n = c.node
    # warm up once: caches, pools and the first peer leave what they keep
    round(c, 0)
    # the calls left sleeping (a timed-out erpc, a dead peer's) end within a second
    Process.sleep(1_500)
    base = eventually(fn ->
      s = census(n)
      if s.pg == [] and s.global == [], do: s
    end, 10_000, what: "the warm-up to settle")

    samples =
      for i <- 1..@rounds do
        round(c, i)
        eventually(fn -> census(n) == base end, 15_000,
          what: "round #{i} to leave cnoded as it found it: #{inspect(census(n))} vs #{inspect(base)}; #{inspect(processes(n))}")
        {rss_kb(c), :erpc.call(n, :cnode, :info, []).heap_in_use}
      end

    {rss, heap} = Enum.unzip(samples)
    IO.puts("soak: #{@rounds} rounds; cnoded RSS (KiB): #{inspect(rss)}; heap in use (KiB): " <>
              inspect(Enum.map(heap, &div(&1, 1024))))
    # what is allocated comes back to the same level after every round: no leak, however
    # small, and nothing kept per round (glibc's per-thread caches add a little, once)
    # (glibc's count creeps up a few KiB a round, less and less: its caches; ASan's is flat)
    [first | _] = heap
    assert Enum.max(heap) - first < (512 + 4 * @rounds) * 1024,
           "heap in use keeps rising: #{inspect(heap)} bytes\n#{log_text(c)}"
    # the RSS keeps the high-water mark of a few allocator arenas and stays small (not under
    # a sanitizer: ASan's quarantine holds freed memory, and both map shadow memory)
    if Enum.all?(rss, & &1) and not (File.read!(cnoded!()) =~ ~r/__(asan|tsan)_init/),
      do: assert(List.last(rss) < 64 * 1024, "RSS #{inspect(rss)} KiB")

    sigterm(c)
    status = wait_exit(c, 15_000)
    refute_log(c, ~r/ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:/)
    unless status == 1 and log_lines(c, "LeakSanitizer has encountered a fatal error") != [],
      do: assert(status == 0, "exit status #{inspect(status)}\n#{log_text(c)}")
  end
end
