# The driver of `make bench` (started by scripts/bench.sh): measures a BEAM echo target and
# cnoded alternately (A B A B ...) in the same run, takes medians per metric, prints the table
# with the cnode/BEAM ratio and whether the issue's target is met, and writes it to a file.
#
# Environment (set by scripts/bench.sh): BENCH_BEAM / BENCH_CNODE (node names),
# BENCH_BEAM_PID / BENCH_CNODE_PID (OS pids, for CPU time from /proc), BENCH_ROUNDS,
# BENCH_SECONDS (length of one measurement), BENCH_EI / BENCH_EI_PID (a plain erl_interface
# C node, test/bench/ei_echo.c: a third target for reference), BENCH_OUT (result file),
# BENCH_PROCS (the idle process figures: "c_bytes b_bytes c_secs b_secs n"), BENCH_CMD (the
# command, for the file).
defmodule Bench do
  import Bitwise
  @clk_tck (case System.cmd("getconf", ["CLK_TCK"]) do
              {s, 0} -> String.to_integer(String.trim(s))
              _ -> 100
            end)

  # user+sys CPU time of an OS process in microseconds (/proc/PID/stat fields 14 and 15).
  def cpu_us(os_pid) do
    stat = File.read!("/proc/#{os_pid}/stat")
    [_, rest] = String.split(stat, ") ", parts: 2)
    f = String.split(rest, " ")
    (String.to_integer(Enum.at(f, 11)) + String.to_integer(Enum.at(f, 12))) * 1_000_000 / @clk_tck
  end

  def now_us, do: System.monotonic_time(:microsecond)

  # Run fun (returns ops done), bracketed by the target's CPU time: {ops, wall_us, cpu_us}.
  def timed(os_pid, fun) do
    {ops, w, c, _} = timed2(os_pid, fun)
    {ops, w, c}
  end

  # timed/2 plus this driver node's own CPU time over the same interval (the driver and the
  # target share the machine's cores: is the rate bound by the driver?).
  def timed2(os_pid, fun) do
    me = System.pid()
    d0 = cpu_us(me)
    c0 = cpu_us(os_pid)
    t0 = now_us()
    ops = fun.()
    t1 = now_us()
    c1 = cpu_us(os_pid)
    {ops, t1 - t0, c1 - c0, cpu_us(me) - d0}
  end

  def loop_until(deadline, f, n \\ 0) do
    if now_us() >= deadline, do: n, else: (f.(); loop_until(deadline, f, n + 1))
  end

  # n processes each running f until the deadline; the total of their loop counts.
  def parallel(n, secs, f) do
    me = self()
    deadline = now_us() + round(secs * 1_000_000)
    pids = for _ <- 1..n, do: spawn_link(fn -> send(me, {:done, self(), loop_until(deadline, f)}) end)
    Enum.reduce(pids, 0, fn p, acc -> receive do {:done, ^p, k} -> acc + k end end)
  end

  # concurrent callers (CALLERS in bench.sh; the issue's load is 64)
  def callers, do: String.to_integer(System.get_env("BENCH_CALLERS", "64"))

  def call(t, req, timeout \\ 60_000), do: GenServer.call({:echo, t}, req, timeout)

  # One measurement of the selected metric groups against target t (os pid p), among those
  # the target can do (groups/1): [{metric, value}].
  def measure(t, p, secs, only, groups) do
    Enum.flat_map(groups, fn g ->
      if only == [] or g in only, do: group(g, t, p, secs), else: []
    end)
  end

  def group(:seq, t, p, secs) do
    {n, w, c, d} = timed2(p, fn -> loop_until(now_us() + round(secs * 1.0e6), fn -> call(t, :ping) end) end)
    [seq_call_us: w / n, seq_call_cpu_us: c / n, seq_call_drv_cpu_us: d / n]
  end

  def group(:conc, t, p, secs) do
    {n, w, c, d} = timed2(p, fn -> parallel(callers(), secs, fn -> call(t, {:req, 1}) end) end)
    [conc_calls_per_s: n * 1.0e6 / w, conc_call_cpu_us: c / n, conc_call_drv_cpu_us: d / n,
     conc_drv_cores: d / w, conc_tgt_cores: c / w]
  end

  def group(:cast, t, p, secs), do: cast_round(t, p, secs)

  def group(:big, t, p, secs) do
    sizes = [{:rt_1mib, 1 <<< 20, 3}, {:rt_16mib, 16 <<< 20, 2}]
    Enum.flat_map(sizes, fn {name, size, min} ->
      bin = :crypto.strong_rand_bytes(size)
      ^bin = call(t, bin)
      {n, w, c, d} =
        timed2(p, fn ->
          k = loop_until(now_us() + round(secs * 1.0e6), fn -> ^bin = call(t, bin) end)
          if k < min, do: k + Enum.count(1..(min - k), fn _ -> ^bin = call(t, bin) end), else: k
        end)
      # CPU per MiB echoed (in and out): whose work bounds the round trip
      mib = n * size / (1 <<< 20)
      [{:"#{name}_mb_per_s", n * size / w}, {:"#{name}_cpu_us", c / mib}, {:"#{name}_drv_cpu_us", d / mib}]
    end)
  end

  def group(:erpc, t, p, secs) do
    {n, w, c} = timed(p, fn -> parallel(16, secs, fn -> 3 = :erpc.call(t, :demo, :add, [1, 2], 60_000) end) end)
    [erpc_calls_per_s: n * 1.0e6 / w, erpc_cpu_us: c / n]
  end

  def group(:connect, t, _p, _secs), do: [connect_ms: connect_ms(t, 3)]

  # 8 senders cast for secs; the rate counts casts as they arrive: until :count shows them all.
  def cast_round(t, p, secs) do
    c0 = call(t, :count)
    {sent, w, c, d} =
      timed2(p, fn ->
        sent = parallel(8, secs, fn -> GenServer.cast({:echo, t}, {:c, 1}) end)
        wait_count(t, c0 + sent, now_us() + 120_000_000)
        sent
      end)
    [casts_per_s: sent * 1.0e6 / w, cast_cpu_us: c / sent, cast_drv_cpu_us: d / sent,
     cast_drv_cores: d / w, cast_tgt_cores: c / w]
  end

  def wait_count(t, want, deadline) do
    cond do
      call(t, :count) >= want -> :ok
      now_us() > deadline -> raise "casts did not all arrive at #{t}"
      true -> Process.sleep(1); wait_count(t, want, deadline)
    end
  end

  # Connection setup: drop the connection, then time Node.connect (handshake included); median.
  def connect_ms(t, k) do
    ts =
      for _ <- 1..k do
        true = :erlang.disconnect_node(t)
        Process.sleep(50)
        t0 = now_us()
        true = Node.connect(t)
        (now_us() - t0) / 1000
      end
    median(ts)
  end

  def median(xs) do
    s = Enum.sort(xs)
    n = length(s)
    if rem(n, 2) == 1, do: Enum.at(s, div(n, 2)), else: (Enum.at(s, div(n, 2) - 1) + Enum.at(s, div(n, 2))) / 2
  end

  # metric => {label, unit, target check on cnode/beam ratio (or nil)}
  def spec do
    [
      seq_call_us: {"sequential call latency", "us", {:le, 0.6}},
      conc_calls_per_s: {"concurrent calls (#{callers()} callers)", "calls/s", {:ge, 2.0}},
      casts_per_s: {"casts on arrival (8 senders)", "casts/s", {:ge, 1.8}},
      rt_1mib_mb_per_s: {"1 MiB round trips", "MB/s", {:ge, 2.0}},
      rt_16mib_mb_per_s: {"16 MiB round trips", "MB/s", {:ge, 2.0}},
      erpc_calls_per_s: {"erpc calls (16 callers, spawn each)", "calls/s", nil},
      connect_ms: {"connection setup", "ms", nil},
      seq_call_cpu_us: {"target CPU per sequential call", "us", {:le, 0.35}},
      conc_call_cpu_us: {"target CPU per concurrent call", "us", {:le, 0.35}},
      cast_cpu_us: {"target CPU per cast", "us", {:le, 0.35}},
      erpc_cpu_us: {"target CPU per erpc call", "us", nil},
      rt_1mib_cpu_us: {"target CPU per MiB, 1 MiB round trips", "us", nil},
      rt_16mib_cpu_us: {"target CPU per MiB, 16 MiB round trips", "us", nil},
      # the driver's side of the same runs: CPU per operation, and cores busy (CPU / wall)
      seq_call_drv_cpu_us: {"driver CPU per sequential call", "us", nil},
      conc_call_drv_cpu_us: {"driver CPU per concurrent call", "us", nil},
      cast_drv_cpu_us: {"driver CPU per cast", "us", nil},
      rt_1mib_drv_cpu_us: {"driver CPU per MiB, 1 MiB round trips", "us", nil},
      rt_16mib_drv_cpu_us: {"driver CPU per MiB, 16 MiB round trips", "us", nil},
      conc_drv_cores: {"driver cores busy, concurrent calls", "cores", nil},
      conc_tgt_cores: {"target cores busy, concurrent calls", "cores", nil},
      cast_drv_cores: {"driver cores busy, casts", "cores", nil},
      cast_tgt_cores: {"target cores busy, casts", "cores", nil}
    ]
  end

  def fmt(x) when is_float(x) and x >= 1000, do: :erlang.float_to_binary(x, decimals: 0)
  def fmt(x) when is_float(x) and x >= 10, do: :erlang.float_to_binary(x, decimals: 1)
  def fmt(x) when is_float(x), do: :erlang.float_to_binary(x, decimals: 2)
  def fmt(x), do: to_string(x)

  def check(nil, _), do: "-"
  def check({:le, lim}, r), do: if(r <= lim, do: "yes (<= #{lim})", else: "NO (<= #{lim})")
  def check({:ge, lim}, r), do: if(r >= lim, do: "yes (>= #{lim})", else: "NO (>= #{lim})")
  def check({:abs_le, lim}, v), do: if(v <= lim, do: "yes (<= #{lim})", else: "NO (<= #{lim})")
  def check({:abs_ge, lim}, v), do: if(v >= lim, do: "yes (>= #{lim})", else: "NO (>= #{lim})")

  def main do
    env = &System.fetch_env!/1
    beam = String.to_atom(env.("BENCH_BEAM"))
    cnode = String.to_atom(env.("BENCH_CNODE"))
    targets = [beam: {beam, env.("BENCH_BEAM_PID")}, cnode: {cnode, env.("BENCH_CNODE_PID")}]
    # BENCH_BASE: a second cnoded (another build) measured in the same rounds, for A/B of a change
    targets =
      case System.get_env("BENCH_BASE", "") do
        "" -> targets
        b -> targets ++ [base: {String.to_atom(b), env.("BENCH_BASE_PID")}]
      end
    targets =
      case System.get_env("BENCH_EI", "") do
        "" -> targets
        e -> targets ++ [ei: {String.to_atom(e), env.("BENCH_EI_PID")}]
      end
    base? = Keyword.has_key?(targets, :base)
    ei? = Keyword.has_key?(targets, :ei)
    only = System.get_env("BENCH_ONLY", "") |> String.split(",", trim: true) |> Enum.map(&String.to_atom/1)
    rounds = String.to_integer(env.("BENCH_ROUNDS"))
    # SECONDS_PER=1 as well as 1.0
    {secs, ""} = Float.parse(env.("BENCH_SECONDS"))

    for {_, {t, _}} <- targets, do: wait_up(t, 100)
    IO.puts("bench: warm-up")
    for {k, {t, p}} <- targets, do: measure(t, p, min(secs, 0.2), only, groups(k))

    results =
      # the order alternates too (A B, B A, ...): whoever goes first in a round is not favoured
      for r <- 1..rounds, {k, {t, p}} <- if(rem(r, 2) == 1, do: targets, else: Enum.reverse(targets)),
          reduce: %{} do
        acc ->
          IO.write("bench: round #{r}/#{rounds} #{k}... ")
          {us, res} = :timer.tc(fn -> measure(t, p, secs, only, groups(k)) end)
          IO.puts("#{Float.round(us / 1.0e6, 1)} s")
          Enum.reduce(res, acc, fn {m, v}, a -> Map.update(a, {k, m}, [v], &[v | &1]) end)
      end

    rows =
      for {m, {label, unit, tgt}} <- spec(), Map.has_key?(results, {:cnode, m}) do
        b = median(results[{:beam, m}])
        c = median(results[{:cnode, m}])
        r = c / b
        row = [label, unit, fmt(b), fmt(c), :erlang.float_to_binary(r, decimals: 2), check(tgt, r)]
        row = if base?, do: row ++ [fmt(median(results[{:base, m}])), :erlang.float_to_binary(c / median(results[{:base, m}]), decimals: 2)], else: row
        if ei?, do: row ++ ei_cells(results[{:ei, m}], b), else: row
      end

    pad = if ei?, do: ["-", "-"], else: []
    rows = if base?, do: rows, else: rows ++ Enum.map(procs_rows(System.get_env("BENCH_PROCS", "")), &(&1 ++ pad))
    header = ["metric", "unit", "BEAM", "cnode", "cnode/BEAM", "target met"] ++
      if(base?, do: ["base", "cnode/base"], else: []) ++ if(ei?, do: ["ei node", "ei/BEAM"], else: [])
    table = render([header | rows])
    {os, _} = System.cmd("uname", ["-srm"])
    cpu = cpu_model()
    meta = [
      "date: #{DateTime.utc_now() |> DateTime.truncate(:second) |> DateTime.to_iso8601()}",
      "machine: #{String.trim(os)}, #{System.schedulers_online()} cores, #{cpu}; TCP congestion control #{congestion_control()}",
      "OTP #{System.otp_release()}, Elixir #{System.version()}; cnoded built with `make` (-O2, assertions on)",
      "command: #{System.get_env("BENCH_CMD", "make bench")}; #{rounds} rounds of #{secs} s per metric, A/B alternated, medians"
    ] ++ if(ei?, do: ["ei node: test/bench/ei_echo.c, a plain erl_interface C node (hidden, one thread, blocking reads; not monitored by callers), in the same rounds"], else: [])
    out = Enum.join(meta, "\n") <> "\n\n" <> table
    IO.puts("\n" <> out)
    path = env.("BENCH_OUT")
    File.mkdir_p!(Path.dirname(path))
    tsv = Enum.map_join([header | rows], "\n", &Enum.join(&1, "\t"))
    File.write!(path, Enum.map_join(meta, "\n", &("# " <> &1)) <> "\n" <> tsv <> "\n")
    IO.puts("bench: results written to #{path}")
  end

  # The ei node answers echo calls and casts only (no spawn requests: no erpc).
  def groups(:ei), do: [:seq, :conc, :cast, :big, :connect]
  def groups(_), do: [:seq, :conc, :cast, :big, :erpc, :connect]

  def ei_cells(nil, _), do: ["-", "-"]
  def ei_cells(vs, b), do: (e = median(vs); [fmt(e), :erlang.float_to_binary(e / b, decimals: 2)])

  def procs_rows(""), do: []
  def procs_rows(s) do
    [cb, bb, cs, bs, n] = s |> String.split() |> Enum.map(&String.to_integer/1)
    cs = cs / 1000
    bs = bs / 1000
    [
      ["bytes per idle process (#{n})", "bytes", fmt(bb * 1.0), fmt(cb * 1.0), :erlang.float_to_binary(cb / bb, decimals: 2), check({:abs_le, 512}, cb)],
      ["spawn #{n} idle processes", "s", fmt(bs), fmt(cs), :erlang.float_to_binary(cs / bs, decimals: 2), check({:abs_le, 5.0 * n / 1_000_000}, cs)]
    ]
  end

  # Which of the modes of README "Performance" the cast and call rates land in depends on it.
  def congestion_control do
    case File.read("/proc/sys/net/ipv4/tcp_congestion_control") do
      {:ok, s} -> String.trim(s)
      _ -> "unknown"
    end
  end

  def cpu_model do
    case File.read("/proc/cpuinfo") do
      {:ok, s} ->
        case Regex.run(~r/model name\s*:\s*(.*)/, s) do
          [_, m] -> m
          _ -> "unknown cpu"
        end
      _ -> "unknown cpu"
    end
  end

  def render(rows) do
    widths = rows |> Enum.zip() |> Enum.map(fn col -> col |> Tuple.to_list() |> Enum.map(&String.length/1) |> Enum.max() end)
    line = fn row -> row |> Enum.zip(widths) |> Enum.map_join(" | ", fn {c, w} -> String.pad_trailing(c, w) end) end
    [h | rest] = rows
    sep = Enum.map_join(widths, "-|-", &String.duplicate("-", &1))
    Enum.join([line.(h), sep | Enum.map(rest, line)], "\n") <> "\n"
  end

  def wait_up(t, 0), do: raise("cannot connect to #{t}")
  def wait_up(t, k) do
    if Node.connect(t) == true and is_integer(safe_count(t)),
      do: :ok,
      else: (Process.sleep(100); wait_up(t, k - 1))
  end

  defp safe_count(t), do: (try do call(t, :count, 2000) catch _, _ -> nil end)
end

Bench.main()
