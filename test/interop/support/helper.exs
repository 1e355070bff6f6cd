# Shared helpers for the interop tests (loaded by run.sh with `elixir -r support/helper.exs FILE`).
#
# Everything here talks to real processes: cnoded is started through a Port, BEAM peers with OTP's
# :peer. Every OS process started is recorded (in this VM and as a file in $CNODE_TEST_TMP/pids, so
# that run.sh can kill leftovers by pid) and stopped by an ExUnit on_exit callback. Every wait is
# bounded and fails with a message that says what was expected and shows the cnode's log.
#
# Environment (set by run.sh): CNODED, ERL_EPMD_PORT, CNODE_TEST_TMP, CNODE_TEST_LOGDIR.

defmodule CnodeTest do
  import ExUnit.Assertions

  defmodule Cnode do
    @moduledoc "A running cnoded: `node` is the atom to use from Elixir."
    defstruct [:node, :name, :cookie, :port, :os_pid, :collector, :args]
  end

  defmodule Peer do
    @moduledoc "A BEAM peer node started with :peer (`conn` is :dist or :standard_io)."
    defstruct [:pid, :node, :os_pid, :name, :cookie, :conn]
  end

  # ------------------------------------------------------------------------------------------
  # Registry of OS processes started by this VM (for the watchdog and for run.sh)

  defmodule PidRegistry do
    @moduledoc false
    @table :cnode_test_registry

    def init do
      if :ets.whereis(@table) == :undefined do
        parent = self()

        spawn(fn ->
          :ets.new(@table, [:named_table, :public, :set])
          send(parent, :cnode_test_registry_ready)
          Process.sleep(:infinity)
        end)

        receive do
          :cnode_test_registry_ready -> :ok
        after
          5_000 -> raise "CnodeTest: could not create the pid registry"
        end
      end

      :ok
    end

    def add(os_pid, kind, match, extra \\ nil)
    def add(nil, _kind, _match, _extra), do: :ok

    def add(os_pid, kind, match, extra) do
      :ets.insert(@table, {os_pid, kind, match, extra})
      write_record(os_pid, kind, match)
    end

    def remove(nil), do: :ok

    def remove(os_pid) do
      :ets.delete(@table, os_pid)

      if dir = pid_dir() do
        File.rm(Path.join(dir, Integer.to_string(os_pid)))
      end

      :ok
    end

    def all, do: :ets.tab2list(@table)

    defp write_record(os_pid, kind, match) do
      if dir = pid_dir() do
        File.mkdir_p!(dir)
        File.write!(Path.join(dir, Integer.to_string(os_pid)), "#{kind} #{match}\n")
      end

      :ok
    end

    defp pid_dir do
      case System.get_env("CNODE_TEST_TMP") do
        nil -> nil
        "" -> nil
        tmp -> Path.join(tmp, "pids")
      end
    end
  end

  # ------------------------------------------------------------------------------------------
  # Log collector: owns the cnoded Port, keeps its output as lines, mirrors it to a file.

  defmodule LogCollector do
    @moduledoc false
    use GenServer

    def start(exe, args, log_path, env \\ []) do
      GenServer.start(__MODULE__, {exe, args, log_path, env})
    end

    @impl true
    def init({exe, args, log_path, env}) do
      port =
        Port.open({:spawn_executable, exe}, [
          :binary,
          :exit_status,
          :stderr_to_stdout,
          :use_stdio,
          args: args,
          env: for({k, v} <- env, do: {to_charlist(k), to_charlist(v)})
        ])

      # nil when the program already exited (a bad flag refused at once): its output and
      # exit status are still in our mailbox, and there is nothing left to kill.
      os_pid =
        case Port.info(port, :os_pid) do
          {:os_pid, p} -> p
          nil -> nil
        end

      file =
        case log_path && File.open(log_path, [:append, :binary]) do
          {:ok, f} -> f
          _ -> nil
        end

      {:ok,
       %{port: port, os_pid: os_pid, rev: [], n: 0, partial: "", status: nil, file: file}}
    rescue
      e -> {:stop, {:spawn_failed, Exception.message(e)}}
    end

    @impl true
    def handle_call(:info, _from, s), do: {:reply, {s.port, s.os_pid}, s}
    def handle_call(:snapshot, _from, s), do: {:reply, {Enum.reverse(s.rev), s.status}, s}
    def handle_call(:status, _from, s), do: {:reply, s.status, s}
    def handle_call(:count, _from, s), do: {:reply, s.n, s}

    @impl true
    def handle_info({port, {:data, data}}, %{port: port} = s) do
      if s.file, do: IO.binwrite(s.file, data)
      [partial | lines] = String.split(s.partial <> data, "\n") |> Enum.reverse()
      lines = Enum.map(lines, &String.trim_trailing(&1, "\r"))
      {:noreply, %{s | rev: lines ++ s.rev, n: s.n + length(lines), partial: partial}}
    end

    def handle_info({port, {:exit_status, status}}, %{port: port} = s) do
      s =
        if s.partial != "",
          do: %{s | rev: [s.partial | s.rev], n: s.n + 1, partial: ""},
          else: s

      if s.file, do: IO.binwrite(s.file, "[cnode_test] cnoded exited with status #{status}\n")
      {:noreply, %{s | status: status}}
    end

    def handle_info(_other, s), do: {:noreply, s}

    @impl true
    def terminate(_reason, s) do
      if s.file, do: File.close(s.file)

      if s.status == nil do
        try do
          Port.close(s.port)
        catch
          _, _ -> :ok
        end
      end

      :ok
    end
  end

  # ------------------------------------------------------------------------------------------
  # Environment

  @doc "The cnoded executable ($CNODED); fails the test clearly if it is missing."
  def cnoded! do
    exe = System.get_env("CNODED")

    cond do
      exe in [nil, ""] ->
        flunk("CNODED is not set (run the interop tests through test/interop/run.sh)")

      not File.regular?(exe) ->
        flunk("CNODED=#{exe} does not exist")

      true ->
        exe
    end
  end

  @doc "The private epmd's port ($ERL_EPMD_PORT) as a string."
  def epmd_port! do
    case System.get_env("ERL_EPMD_PORT") do
      p when p in [nil, ""] ->
        flunk("ERL_EPMD_PORT is not set (run the interop tests through test/interop/run.sh)")

      p ->
        p
    end
  end

  @doc "Host part of this node's name (short names)."
  def host do
    [_, host] = node() |> Atom.to_string() |> String.split("@", parts: 2)
    host
  end

  @doc "A node name (the part before @) that is unique across runners and runs."
  def unique_name(prefix) do
    "#{prefix}#{System.pid()}_#{System.unique_integer([:positive])}"
  end

  # ------------------------------------------------------------------------------------------
  # cnoded

  @doc """
  Start cnoded and wait (bounded) until it logs `node NAME@HOST started`.

  Options: `:prefix` (name prefix, default "c"), `:name` (exact short name), `:cookie` (default
  this node's cookie), `:hidden`, `:args` (extra command-line arguments), `:wait` (default true;
  false returns at once, e.g. to check an exit status), `:start_timeout` (ms, default 10_000),
  `:fail_fast` (default true: after one start failure, later start_cnode calls in the same file
  fail at once; pass false when a start failure is what the test expects), `:wrap` (a command
  and its arguments that exec cnoded, e.g. `["taskset", "-c", "0"]`), `:env` (`[{"NAME",
  "value"}]` added to cnoded's environment, e.g. HOME), `:bare` (true: pass only `:args`, none of
  the default --sname/--cookie/--epmd-port/--no-epmd-start; `:name` and `:cookie` then say what
  the args, or a --config file, give).
  The node is stopped by an on_exit callback when called from a test or setup.
  """
  def start_cnode(opts \\ []) do
    exe = cnoded!()

    # once cnoded failed to start in this file, fail the following tests at once instead of
    # waiting for each one's start timeout
    case :persistent_term.get(:cnode_test_start_failure, nil) do
      nil -> :ok
      first -> flunk("cnoded did not start earlier in this file, not trying again. First failure:\n#{first}")
    end

    name = opts[:name] || unique_name(opts[:prefix] || "c")
    cookie = to_string(opts[:cookie] || Node.get_cookie())

    args =
      if(opts[:bare],
        do: [],
        else: ["--sname", name, "--cookie", cookie, "--epmd-port", epmd_port!(), "--no-epmd-start"]
      ) ++
        if(opts[:hidden], do: ["--hidden"], else: []) ++
        Enum.map(opts[:args] || [], &to_string/1)

    log_path =
      case System.get_env("CNODE_TEST_LOGDIR") do
        d when d in [nil, ""] -> nil
        d -> File.mkdir_p!(d) && Path.join(d, "#{name}.log")
      end

    {exe, args} =
      case opts[:wrap] do
        [cmd | wargs] -> {System.find_executable(cmd) || flunk("no #{cmd}"), wargs ++ [exe | args]}
        _ -> {exe, args}
      end

    collector =
      case LogCollector.start(exe, args, log_path, opts[:env] || []) do
        {:ok, pid} -> pid
        {:error, reason} -> flunk("could not start #{exe} #{Enum.join(args, " ")}: #{inspect(reason)}")
      end

    {port, os_pid} = GenServer.call(collector, :info)
    PidRegistry.add(os_pid, "cnoded", exe, collector)

    c = %Cnode{
      node: :"#{name}@#{host()}",
      name: name,
      cookie: cookie,
      port: port,
      os_pid: os_pid,
      collector: collector,
      args: args
    }

    cleanup(fn -> stop_cnode(c) end)

    if Keyword.get(opts, :wait, true) do
      try do
        wait_log(c, ~r/node #{Regex.escape(name)}@\S+ started/, opts[:start_timeout] || 10_000,
          what: "cnoded to start (#{exe} #{Enum.join(args, " ")})"
        )
      rescue
        e ->
          stop_cnode(c)

          if Keyword.get(opts, :fail_fast, true),
            do: :persistent_term.put(:cnode_test_start_failure, Exception.message(e))

          reraise e, __STACKTRACE__
      end
    end

    c
  end

  @doc "Stop a cnode: SIGTERM, SIGKILL after 2 s. Idempotent."
  def stop_cnode(%Cnode{} = c) do
    if Process.alive?(c.collector) do
      if exit_status(c) == nil do
        terminate_os_pid(c.os_pid, 2_000, fn -> exit_status(c) != nil end)
      end

      try do
        GenServer.stop(c.collector, :normal, 2_000)
      catch
        :exit, _ -> :ok
      end
    else
      terminate_os_pid(c.os_pid, 2_000, fn -> false end)
    end

    PidRegistry.remove(c.os_pid)
    :ok
  end

  @doc "All log lines so far (list of strings)."
  def log(%Cnode{} = c), do: elem(snapshot(c), 0)

  @doc "The log as one string (for failure messages)."
  def log_text(%Cnode{} = c, last \\ 40) do
    case log(c) do
      [] ->
        "    (cnoded printed nothing)"

      lines ->
        skipped = max(length(lines) - last, 0)
        head = if skipped > 0, do: ["    … #{skipped} earlier lines"], else: []
        Enum.join(head ++ Enum.map(Enum.drop(lines, skipped), &("    " <> &1)), "\n")
    end
  end

  @doc "A mark for `wait_log(..., after: mark)`: the number of lines logged so far."
  def log_mark(%Cnode{} = c), do: GenServer.call(c.collector, :count)

  @doc "nil while cnoded runs, else its exit status."
  def exit_status(%Cnode{} = c) do
    if Process.alive?(c.collector), do: GenServer.call(c.collector, :status), else: :gone
  end

  defp snapshot(%Cnode{} = c) do
    if Process.alive?(c.collector), do: GenServer.call(c.collector, :snapshot), else: {[], :gone}
  end

  @doc """
  Wait (at most `timeout` ms) for a log line matching `pattern` (a substring, a Regex or a
  one-argument function returning true for the wanted line). Returns the
  line. Fails at once if cnoded exits first. Options: `after:` a `log_mark/1` value (only lines
  logged after it count), `what:` text for the failure message.
  """
  def wait_log(%Cnode{} = c, pattern, timeout \\ 5_000, opts \\ []) do
    deadline = now() + timeout
    do_wait_log(c, pattern, deadline, opts[:after] || 0, opts[:what], timeout)
  end

  defp do_wait_log(c, pattern, deadline, skip, what, timeout) do
    {lines, status} = snapshot(c)

    case lines |> Enum.drop(skip) |> Enum.find(&line_matches?(&1, pattern)) do
      nil ->
        what = what || "a log line matching #{inspect(pattern)}"

        cond do
          status != nil ->
            flunk(
              "cnoded #{c.name} exited (status #{inspect(status)}) while waiting for #{what}\n" <>
                "  cnoded log:\n#{log_text(c)}"
            )

          now() >= deadline ->
            flunk("timed out after #{timeout} ms waiting for #{what}\n  cnoded log:\n#{log_text(c)}")

          true ->
            Process.sleep(20)
            do_wait_log(c, pattern, deadline, skip, what, timeout)
        end

      line ->
        line
    end
  end

  @doc "Log lines matching pattern (optionally only those after a mark)."
  def log_lines(%Cnode{} = c, pattern, opts \\ []) do
    c |> log() |> Enum.drop(opts[:after] || 0) |> Enum.filter(&line_matches?(&1, pattern))
  end

  @doc "Assert that no log line matches pattern."
  def refute_log(%Cnode{} = c, pattern, opts \\ []) do
    case log_lines(c, pattern, opts) do
      [] -> :ok
      hits -> flunk("unexpected cnoded log line(s) #{inspect(hits)}\n  cnoded log:\n#{log_text(c)}")
    end
  end

  @doc "Wait (bounded) for cnoded to exit; returns its exit status."
  def wait_exit(%Cnode{} = c, timeout \\ 5_000) do
    eventually(fn -> exit_status(c) end, timeout, what: "cnoded #{c.name} to exit")
  end

  defp line_matches?(line, %Regex{} = re), do: Regex.match?(re, line)
  defp line_matches?(line, s) when is_binary(s), do: String.contains?(line, s)
  defp line_matches?(line, f) when is_function(f, 1), do: !!f.(line)

  # ------------------------------------------------------------------------------------------
  # BEAM peers

  @doc """
  Start a BEAM peer node with OTP's :peer (it inherits ERL_EPMD_PORT).

  Options: `:prefix` (default "p") or `:name` (exact short name), `:cookie` (default this node's),
  `:net_ticktime` (seconds), `:hidden`, `:args` (extra erl arguments, strings), `:connection`
  (`:dist`, the default when the cookie is ours: the peer is connected to us and reached with
  :erpc; or `:standard_io`: the peer is not connected to us and is reached through its stdio,
  the default for a different cookie), `:env` (`[{"NAME", "value"}]` for the peer's OS process),
  `:pop` (a :dist peer runs with prevent_overlapping_partitions false unless this is true).
  Returns a %Peer{pid, node, os_pid}. Stopped by on_exit.
  """
  def start_peer(opts \\ []) do
    name = opts[:name] || unique_name(opts[:prefix] || "p")
    cookie = to_string(opts[:cookie] || Node.get_cookie())
    conn = opts[:connection] || if(cookie == to_string(Node.get_cookie()), do: :dist, else: :standard_io)

    if conn == :dist and cookie != to_string(Node.get_cookie()) do
      raise ArgumentError, "a :dist peer must share our cookie; use connection: :standard_io"
    end

    args =
      # -start_epmd false: use the private epmd only, never start one of our own
      ["-setcookie", cookie, "-start_epmd", "false", "-pa", Path.join(:code.lib_dir(:elixir), "ebin")] ++
        # A :dist peer halts when this runner drops its connection, and OTP's "prevent
        # overlapping partitions" drops connections whenever a node of a meshed cluster goes:
        # such peers keep out of it unless a test asks (pop: true). :standard_io peers keep the
        # OTP default.
        if(conn == :dist and not Keyword.get(opts, :pop, false),
          do: ["-kernel", "prevent_overlapping_partitions", "false"],
          else: []
        ) ++
        if(opts[:net_ticktime], do: ["-kernel", "net_ticktime", "#{opts[:net_ticktime]}"], else: []) ++
        if(opts[:hidden], do: ["-hidden"], else: []) ++
        Enum.map(opts[:args] || [], &to_string/1)

    peer_opts = %{name: String.to_charlist(name), args: Enum.map(args, &String.to_charlist/1), wait_boot: 30_000}
    peer_opts = if conn == :standard_io, do: Map.put(peer_opts, :connection, :standard_io), else: peer_opts
    # :env, [{"NAME", "value"}]: environment of the peer's OS process (e.g. ERL_EPMD_PORT)
    peer_opts =
      if opts[:env],
        do: Map.put(peer_opts, :env, for({k, v} <- opts[:env], do: {to_charlist(k), to_charlist(v)})),
        else: peer_opts

    {pid, node} =
      case :peer.start(peer_opts) do
        {:ok, pid, node} -> {pid, node}
        other -> flunk("could not start BEAM peer #{name}: #{inspect(other)}")
      end

    p = %Peer{pid: pid, node: node, name: name, cookie: cookie, conn: conn}

    os_pid =
      try do
        p |> peer_call(:os, :getpid, []) |> List.to_integer()
      catch
        kind, reason ->
          quiet_stop_peer(pid)
          flunk("peer #{node} started but does not answer: #{Exception.format(kind, reason)}")
      end

    PidRegistry.add(os_pid, "peer", name, pid)
    p = %{p | os_pid: os_pid}
    cleanup(fn -> stop_peer(p) end)
    p
  end

  @doc "Stop a peer (peer:stop, bounded), then make sure its OS process is gone. Idempotent."
  def stop_peer(%Peer{} = p) do
    if Process.alive?(p.pid) do
      t = Task.async(fn -> quiet_stop_peer(p.pid) end)
      Task.yield(t, 5_000) || Task.shutdown(t, :brutal_kill)
    end

    terminate_os_pid(p.os_pid, 2_000, fn -> false end)
    PidRegistry.remove(p.os_pid)
    :ok
  end

  defp quiet_stop_peer(pid) do
    :peer.stop(pid)
  catch
    _, _ -> :ok
  end

  @doc "Run M.F(A) on the peer (via :erpc for :dist peers, via :peer.call for :standard_io)."
  def peer_call(%Peer{} = p, m, f, a, timeout \\ 10_000) do
    case p.conn do
      :dist -> :erpc.call(p.node, m, f, a, timeout)
      :standard_io -> :peer.call(p.pid, m, f, a, timeout)
    end
  end

  @doc """
  Evaluate Erlang source (a sequence of expressions ending in '.') on the peer and return the
  value. Lets a test leave a process behind on the peer (e.g. a monitor_nodes subscriber) without
  loading any module there.
  """
  def peer_eval(%Peer{} = p, erlang_code, timeout \\ 10_000, bindings \\ []) do
    {:ok, tokens, _} = :erl_scan.string(String.to_charlist(erlang_code))
    {:ok, exprs} = :erl_parse.parse_exprs(tokens)
    # `bindings`: [{:Var, value}] made available to the code (e.g. a pid of ours)
    b = Enum.reduce(bindings, :erl_eval.new_bindings(), fn {k, v}, acc -> :erl_eval.add_binding(k, v, acc) end)
    {:value, value, _bindings} = peer_call(p, :erl_eval, :exprs, [exprs, b], timeout)
    value
  end

  # ------------------------------------------------------------------------------------------
  # Signals by OS pid

  def kill9(target), do: signal(target, "KILL")
  def sigstop(target), do: signal(target, "STOP")
  def sigcont(target), do: signal(target, "CONT")
  def sigterm(target), do: signal(target, "TERM")

  defp signal(%Cnode{os_pid: pid}, sig), do: signal(pid, sig)
  defp signal(%Peer{os_pid: pid}, sig), do: signal(pid, sig)

  defp signal(pid, sig) when is_integer(pid) do
    {out, rc} = System.cmd("kill", ["-#{sig}", Integer.to_string(pid)], stderr_to_stdout: true)
    if rc == 0, do: :ok, else: {:error, String.trim(out)}
  end

  @doc "Is the OS process alive (and not a zombie, where /proc tells)?"
  def os_alive?(pid) when is_integer(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} ->
        # state is the field after the parenthesised command name
        case Regex.run(~r/\)\s+(\S)/, stat) do
          [_, "Z"] -> false
          _ -> true
        end

      {:error, _} ->
        {_, rc} = System.cmd("kill", ["-0", Integer.to_string(pid)], stderr_to_stdout: true)
        rc == 0
    end
  end

  # SIGTERM (and SIGCONT, in case it is stopped), wait up to `grace` ms, then SIGKILL and wait 2 s.
  defp terminate_os_pid(nil, _grace, _gone?), do: :ok

  defp terminate_os_pid(pid, grace, gone?) do
    dead? = fn -> gone?.() or not os_alive?(pid) end

    unless dead?.() do
      signal(pid, "TERM")
      signal(pid, "CONT")

      unless poll(dead?, grace) do
        signal(pid, "KILL")
        poll(dead?, 2_000)
      end
    end

    :ok
  end

  # true as soon as fun.() is true, false if it is still false after `timeout` ms
  defp poll(fun, timeout), do: do_poll(fun, now() + timeout)

  defp do_poll(fun, deadline) do
    cond do
      fun.() -> true
      now() >= deadline -> false
      true -> Process.sleep(20) && do_poll(fun, deadline)
    end
  end

  # ------------------------------------------------------------------------------------------
  # Bounded waiting

  @doc """
  Call `fun` until it returns a truthy value (returned) or `timeout` ms pass (then fail, showing
  the last value or exception). Assertions inside `fun` are retried too. Options: `interval:` ms
  between attempts (default 50), `what:` text for the failure message.
  """
  def eventually(fun, timeout \\ 5_000, opts \\ []) do
    deadline = now() + timeout
    do_eventually(fun, deadline, opts[:interval] || 50, opts[:what], timeout)
  end

  defp do_eventually(fun, deadline, interval, what, timeout) do
    result =
      try do
        {:ok, fun.()}
      rescue
        e in [ExUnit.AssertionError] -> {:raised, e, __STACKTRACE__}
      catch
        kind, reason -> {:caught, kind, reason}
      end

    what = what || "condition"

    case result do
      {:ok, v} when v not in [nil, false] ->
        v

      _ ->
        if now() < deadline do
          Process.sleep(interval)
          do_eventually(fun, deadline, interval, what, timeout)
        else
          case result do
            {:raised, e, st} ->
              reraise e, st

            {:caught, kind, reason} ->
              flunk("#{what} not met within #{timeout} ms; last attempt: #{Exception.format(kind, reason)}")

            {:ok, v} ->
              flunk("#{what} not met within #{timeout} ms (last value #{inspect(v)})")
          end
        end
    end
  end

  @doc """
  Run `fun` in a separate process and give it at most `timeout` ms. Returns `{:ok, value}` or
  `:timeout`; an exception or exit in `fun` is returned as `{:error, {kind, reason}}`. For calls
  with no timeout of their own (Node.ping waits forever for an is_auth reply).
  """
  def bounded(fun, timeout) do
    task =
      Task.async(fn ->
        try do
          {:ok, fun.()}
        catch
          kind, reason -> {:error, {kind, reason}}
        end
      end)

    case Task.yield(task, timeout) || Task.shutdown(task, :brutal_kill) do
      {:ok, result} -> result
      nil -> :timeout
      {:exit, reason} -> {:error, {:exit, reason}}
    end
  end

  @doc "Node.connect/1, bounded. Returns true | false | :ignored | :timeout."
  def connect(node, timeout \\ 15_000) do
    case bounded(fn -> Node.connect(node) end, timeout) do
      {:ok, r} -> r
      :timeout -> :timeout
      {:error, e} -> raise "Node.connect(#{inspect(node)}) raised #{inspect(e)}"
    end
  end

  @doc "Node.ping/1, bounded. Returns :pong | :pang | :timeout."
  def ping(node, timeout \\ 10_000) do
    case bounded(fn -> Node.ping(node) end, timeout) do
      {:ok, r} -> r
      :timeout -> :timeout
      {:error, e} -> raise "Node.ping(#{inspect(node)}) raised #{inspect(e)}"
    end
  end

  @doc "Connect this node to the cnode; fails with the cnode's log unless Node.connect is true."
  def connect!(%Cnode{} = c, timeout \\ 15_000) do
    case connect(c.node, timeout) do
      true -> c
      other -> flunk("Node.connect(#{inspect(c.node)}) returned #{inspect(other)}\n  cnoded log:\n#{log_text(c)}")
    end
  end

  @doc "GenServer.call to the cnode's built-in echo process."
  def echo(%Cnode{node: node}, term, timeout \\ 5_000), do: GenServer.call({:echo, node}, term, timeout)

  @doc """
  Assert that two (large) terms are equal without printing them: on a difference, say where.
  """
  def assert_same(actual, expected, label \\ "echoed term") do
    if actual !== expected do
      flunk("#{label} differs from what was sent: #{describe_difference(actual, expected)}")
    end

    :ok
  end

  defp describe_difference(a, e) when is_binary(a) and is_binary(e) do
    if byte_size(a) != byte_size(e) do
      "got a binary of #{byte_size(a)} bytes, sent #{byte_size(e)} bytes"
    else
      i = Enum.find(0..(byte_size(e) - 1), fn i -> :binary.at(a, i) != :binary.at(e, i) end)
      "same size (#{byte_size(e)} bytes), first difference at byte #{i}"
    end
  end

  defp describe_difference(a, e) when is_list(a) and is_list(e) do
    if length(a) != length(e) do
      "got a list of #{length(a)} elements, sent #{length(e)}"
    else
      {x, y, i} =
        Enum.zip(a, e) |> Enum.with_index() |> Enum.find_value(fn {{x, y}, i} -> x !== y && {x, y, i} end)

      "first difference at element #{i}: got #{inspect(x, limit: 20)}, sent #{inspect(y, limit: 20)}"
    end
  end

  defp describe_difference(a, e) do
    "got #{inspect(a, limit: 20, printable_limit: 200)}, sent #{inspect(e, limit: 20, printable_limit: 200)}"
  end

  # ------------------------------------------------------------------------------------------
  # A second private epmd, owned by the test (the runner's own epmd is never touched)

  @doc """
  Start `epmd -port port`; returns its OS pid, killed (by pid: `epmd -kill` refuses while names
  are registered) when the test ends.
  """
  def start_epmd(port) do
    exe = System.find_executable("epmd") || flunk("epmd not found")
    p = Port.open({:spawn_executable, exe}, [:binary, args: ["-port", "#{port}"]])
    {:os_pid, os_pid} = Port.info(p, :os_pid)
    cleanup(fn -> kill9(os_pid) end)
    eventually(fn -> epmd_names(port) != :error end, 5000, what: "epmd answering on #{port}")
    os_pid
  end

  @doc "`epmd -names` of the epmd on port, or :error when none answers."
  def epmd_names(port) do
    case System.cmd("epmd", ["-port", "#{port}", "-names"], stderr_to_stdout: true) do
      {out, 0} -> out
      _ -> :error
    end
  end

  @doc "Kill the epmd started by start_epmd and wait until it no longer answers."
  def kill_epmd(port, os_pid) do
    kill9(os_pid)
    eventually(fn -> epmd_names(port) == :error end, 5000, what: "epmd gone")
  end

  @doc "A TCP port that was free a moment ago."
  def free_port do
    {:ok, s} = :gen_tcp.listen(0, [])
    {:ok, p} = :inet.port(s)
    :gen_tcp.close(s)
    p
  end

  # ------------------------------------------------------------------------------------------
  # Cleanup and watchdog

  # Register an on_exit callback when called from a test / setup process; elsewhere (a plain
  # script) the caller cleans up itself.
  defp cleanup(fun) do
    try do
      ExUnit.Callbacks.on_exit(make_ref(), fun)
    rescue
      ArgumentError -> :ok
    end
  end

  @doc "Kill every OS process this VM started and has not stopped yet."
  def kill_all do
    for {os_pid, _kind, _match, _extra} <- PidRegistry.all() do
      terminate_os_pid(os_pid, 1_000, fn -> false end)
      PidRegistry.remove(os_pid)
    end

    :ok
  end

  @doc """
  Overall limit for a test file: after `seconds`, print what is going on, kill every process this
  VM started and halt with status 1. Call once at the top of each test file.
  """
  def watchdog(seconds, file \\ "test file") do
    file = Path.basename(file)

    spawn(fn ->
      Process.sleep(seconds * 1_000)
      IO.puts(:stderr, "\n*** WATCHDOG: #{file} still running after #{seconds}s; killing its nodes and halting")

      for {os_pid, kind, _match, collector} <- PidRegistry.all() do
        IO.puts(:stderr, "*** #{kind} os pid #{os_pid} still running")

        if kind == "cnoded" and is_pid(collector) and Process.alive?(collector) do
          c = %Cnode{name: "#{os_pid}", collector: collector}
          IO.puts(:stderr, "*** its log:\n#{log_text(c)}")
        end
      end

      kill_all()
      System.halt(1)
    end)

    :ok
  end

  defp now, do: System.monotonic_time(:millisecond)
end

CnodeTest.PidRegistry.init()

defmodule CnodeTest.Raw do
  @moduledoc """
  A raw distribution client written with :gen_tcp (passive, binary), for feeding cnoded input a
  BEAM node would never send. It can do the v6 handshake as initiator (PROTOCOL.md §2.2) with the
  flags a BEAM node offers, then send and receive frames (4-byte lengths, `131,68,0` headers).

  Typical use:

      r = Raw.handshake!(c)                 # a fresh connection as a fake node "raw…@host"
      Raw.send_frame(r, <<131, 68, 0>> <> Raw.enc({99, :x}))
      assert Raw.call_echo(r, :hi) == :hi   # REG_SEND of a '$gen_call' to echo, reply parsed

  Every receive is bounded; sockets are closed by `close/1` (and die with the test process).
  """
  import Bitwise
  import ExUnit.Assertions

  alias CnodeTest.Cnode

  # what BEAM offers (OTP 25 and 27): PROTOCOL.md §2.7
  @beam_flags 0x0000000D07DF7FBC ||| 1
  def beam_flags, do: @beam_flags

  defstruct [:sock, :name, :node, :creation, :cookie, :cnode, :peer_name, :peer_flags, :peer_creation, :my_challenge]

  # ---- epmd and TCP ---------------------------------------------------------------------------

  @doc "The cnode's distribution port, asked from epmd with PORT_PLEASE2 (PROTOCOL.md §1.1)."
  def port!(%Cnode{name: name}) do
    epmd = String.to_integer(CnodeTest.epmd_port!())
    {:ok, s} = :gen_tcp.connect({127, 0, 0, 1}, epmd, [:binary, active: false, packet: :raw], 5_000)

    try do
      :ok = :gen_tcp.send(s, <<byte_size(name) + 1::16, 122, name::binary>>)

      case read_all(s, <<>>, System.monotonic_time(:millisecond) + 5_000) do
        <<119, 0, port::16, _rest::binary>> -> port
        other -> flunk("epmd PORT_PLEASE2 for #{name} answered #{inspect(other)}")
      end
    after
      :gen_tcp.close(s)
    end
  end

  defp read_all(s, acc, deadline) do
    left = max(deadline - System.monotonic_time(:millisecond), 0)

    case :gen_tcp.recv(s, 0, left) do
      {:ok, data} -> read_all(s, acc <> data, deadline)
      {:error, _} -> acc
    end
  end

  @doc """
  A TCP connection to the cnode's distribution port, nothing sent yet. Options: `:name` (full
  fake node name, default a unique "raw…@host"), `:creation`, `:cookie` (default the cnode's).
  """
  def open(%Cnode{} = c, opts \\ []) do
    port = opts[:port] || port!(c)
    {:ok, sock} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false, packet: :raw, nodelay: true], 5_000)
    name = opts[:name] || "#{CnodeTest.unique_name("raw")}@#{CnodeTest.host()}"

    %__MODULE__{
      sock: sock,
      name: name,
      node: String.to_atom(name),
      creation: opts[:creation] || 0x10000 + :rand.uniform(0x7FFF0000),
      cookie: to_string(opts[:cookie] || c.cookie),
      cnode: c
    }
  end

  def close(%__MODULE__{sock: s}), do: :gen_tcp.close(s)

  @doc "Send raw bytes; returns :ok or {:error, reason} (a closed socket is not an error here)."
  def send_bytes(%__MODULE__{sock: s}, iodata), do: :gen_tcp.send(s, iodata)

  # ---- handshake ------------------------------------------------------------------------------

  @doc "Send one handshake message (2-byte length prefix)."
  def send_hs(r, payload), do: send_bytes(r, [<<byte_size(payload)::16>>, payload])

  @doc "Receive one handshake message: {:ok, payload} or {:error, reason}."
  def recv_hs(%__MODULE__{sock: s}, timeout \\ 5_000) do
    with {:ok, <<len::16>>} <- :gen_tcp.recv(s, 2, timeout) do
      if len == 0, do: {:ok, <<>>}, else: :gen_tcp.recv(s, len, timeout)
    end
  end

  def name_msg(r, flags \\ @beam_flags) do
    <<?N, flags::64, r.creation::32, byte_size(r.name)::16, r.name::binary>>
  end

  def digest(cookie, challenge), do: :crypto.hash(:md5, [cookie, Integer.to_string(challenge)])

  @doc """
  send_name, then read the status (must be ok / ok_simultaneous) and the challenge. Returns
  {r, challenge} with the cnode's name, flags and creation stored in r.
  """
  def to_challenge!(r, flags \\ @beam_flags) do
    :ok = send_hs(r, name_msg(r, flags))
    status = recv_status!(r)
    assert status in ["ok", "ok_simultaneous"], "status #{inspect(status)} from #{r.cnode.name}"
    read_challenge!(r)
  end

  def recv_status!(r) do
    case recv_hs(r) do
      {:ok, <<?s, st::binary>>} -> st
      other -> flunk("expected a status message from #{r.cnode.name}, got #{inspect(other)}\n  cnoded log:\n#{CnodeTest.log_text(r.cnode)}")
    end
  end

  @doc "Read the acceptor's challenge 'N' (checked): {r, challenge}."
  def read_challenge!(r) do
    case recv_hs(r) do
      {:ok, <<?N, pflags::64, challenge::32, pcreation::32, nlen::16, pname::binary-size(nlen), _::binary>>} ->
        assert pname == Atom.to_string(r.cnode.node), "challenge names #{inspect(pname)}"
        {%{r | peer_name: pname, peer_flags: pflags, peer_creation: pcreation}, challenge}

      other ->
        flunk("expected a challenge 'N' from #{r.cnode.name}, got #{inspect(other)}")
    end
  end

  @doc "As initiator, after the challenge: send 'r', check 'a'. Returns r."
  def reply_and_ack!(r, challenge) do
    mine = :rand.uniform(0xFFFFFFFF)
    :ok = send_hs(r, reply_msg(r, challenge, mine))
    want = digest(r.cookie, mine)

    case recv_hs(r) do
      {:ok, <<?a, ^want::binary-size(16)>>} -> %{r | my_challenge: mine}
      other -> flunk("expected a correct challenge ack 'a' from #{r.cnode.name}, got #{inspect(other)}\n  cnoded log:\n#{CnodeTest.log_text(r.cnode)}")
    end
  end

  @doc "The 21-byte 'r' for `challenge` with our own challenge."
  def reply_msg(r, challenge, my_challenge) do
    <<?r, my_challenge::32, digest(r.cookie, challenge)::binary>>
  end

  @doc "A complete v6 handshake as initiator on a fresh connection (see open/2 for options)."
  def handshake!(%Cnode{} = c, opts \\ []) do
    {r, challenge} = c |> open(opts) |> to_challenge!(opts[:flags] || @beam_flags)
    reply_and_ack!(r, challenge)
  end

  # ---- the acceptor side: a fake node the cnode dials ----------------------------------------

  @doc """
  Make a fake node `alive@host` the cnode can dial: a listening socket, registered in epmd
  (ALIVE2, PROTOCOL.md §1.1) for as long as the returned epmd socket stays open.
  Returns %{listen: socket, epmd: socket, port: port, name: "alive@host"}.
  """
  def fake_node(alive) do
    {:ok, l} = :gen_tcp.listen(0, [:binary, active: false, packet: :raw, reuseaddr: true])
    {:ok, port} = :inet.port(l)
    epmd = String.to_integer(CnodeTest.epmd_port!())
    {:ok, e} = :gen_tcp.connect({127, 0, 0, 1}, epmd, [:binary, active: false, packet: :raw], 5_000)
    req = <<120, port::16, 77, 0, 6::16, 5::16, byte_size(alive)::16, alive::binary, 0::16>>
    :ok = :gen_tcp.send(e, <<byte_size(req)::16, req::binary>>)

    case :gen_tcp.recv(e, 0, 5_000) do
      {:ok, <<118, 0, _creation::32>>} -> :ok
      {:ok, <<121, 0, _creation::16>>} -> :ok
      other -> flunk("epmd refused to register #{alive}: #{inspect(other)}")
    end

    %{listen: l, epmd: e, port: port, name: "#{alive}@#{CnodeTest.host()}"}
  end

  def close_fake_node(%{listen: l, epmd: e}) do
    :gen_tcp.close(l)
    :gen_tcp.close(e)
  end

  @doc "Accept the cnode's connection to a fake node and read its send_name (checked)."
  def accept!(fake, %Cnode{} = c, creation, timeout \\ 10_000) do
    s =
      case :gen_tcp.accept(fake.listen, timeout) do
        {:ok, s} -> s
        other -> flunk("the cnode did not dial #{fake.name} within #{timeout} ms (#{inspect(other)})\n  cnoded log:\n#{CnodeTest.log_text(c)}")
      end

    r = %__MODULE__{sock: s, name: fake.name, node: String.to_atom(fake.name), creation: creation, cookie: c.cookie, cnode: c}

    case recv_hs(r) do
      {:ok, <<?N, flags::64, pcreation::32, nlen::16, pname::binary-size(nlen), _::binary>>} ->
        assert pname == Atom.to_string(c.node)
        %{r | peer_name: pname, peer_flags: flags, peer_creation: pcreation}

      other ->
        flunk("expected the cnode's send_name 'N', got #{inspect(other)}")
    end
  end

  @doc "As acceptor: send `status`, then the challenge; check 'r', send 'a'. Returns r."
  def accept_handshake!(r, status \\ "ok") do
    :ok = send_hs(r, "s" <> status)
    mine = :rand.uniform(0xFFFFFFFF)
    :ok = send_hs(r, <<?N, @beam_flags::64, mine::32, r.creation::32, byte_size(r.name)::16, r.name::binary>>)
    want = digest(r.cookie, mine)

    case recv_hs(r) do
      {:ok, <<?r, theirs::32, ^want::binary-size(16)>>} ->
        :ok = send_hs(r, <<?a, digest(r.cookie, theirs)::binary>>)
        %{r | my_challenge: mine}

      other ->
        flunk("expected a correct challenge reply 'r' from the cnode, got #{inspect(other)}\n  cnoded log:\n#{CnodeTest.log_text(r.cnode)}")
    end
  end

  # ---- connected state ------------------------------------------------------------------------

  @doc "A term in external format without its leading 131 (as it follows a 131,68 header)."
  def enc(term) do
    <<131, rest::binary>> = :erlang.term_to_binary(term)
    rest
  end

  @doc "Send one frame (4-byte length prefix)."
  def send_frame(r, payload), do: send_bytes(r, [<<IO.iodata_length(payload)::32>>, payload])

  @doc "A `131,68,0` frame body with the control term and the optional payload term."
  def hdr_frame(ctl, payload \\ nil) do
    [<<131, 68, 0>>, enc(ctl) | if(payload == nil, do: [], else: [enc(payload)])]
  end

  @doc "Receive the next non-tick frame: {:ok, body} or {:error, reason}."
  def recv_frame(%__MODULE__{sock: s} = r, timeout \\ 5_000) do
    deadline = System.monotonic_time(:millisecond) + timeout

    with {:ok, <<len::32>>} <- :gen_tcp.recv(s, 4, timeout) do
      if len == 0 do
        recv_frame(r, max(deadline - System.monotonic_time(:millisecond), 0))
      else
        with {:ok, body} <- :gen_tcp.recv(s, len, max(deadline - System.monotonic_time(:millisecond), 1)) do
          body = resolve_atom_cache(s, body)

          # The cnode's services talk to every visible node they meet (pg's discover, global's
          # init_connect: REG_SEND to a name). This raw peer registers no names, so, as a BEAM
          # node would, it drops what is sent to names and waits for the next frame.
          if reg_send?(body),
            do: recv_frame(r, max(deadline - System.monotonic_time(:millisecond), 0)),
            else: {:ok, body}
        end
      end
    end
  end

  @doc """
  The frames in bytes received raw after the handshake (e.g. by assert_closed), without ticks and
  without what was sent to names (see recv_frame); a cut-short tail is kept as it is.
  """
  def frames_in(%__MODULE__{sock: s}, bytes), do: split_frames(s, bytes, [])

  defp split_frames(_s, <<>>, acc), do: Enum.reverse(acc)
  defp split_frames(s, <<0::32, rest::binary>>, acc), do: split_frames(s, rest, acc)

  defp split_frames(s, <<len::32, body::binary-size(len), rest::binary>>, acc) do
    body = resolve_atom_cache(s, body)
    split_frames(s, rest, if(reg_send?(body), do: acc, else: [body | acc]))
  end

  defp split_frames(_s, partial, acc), do: Enum.reverse([partial | acc])

  @doc """
  For tests that read raw frames themselves: is this frame body (as received, in order) one the
  cnode sent to a name (see recv_frame)? It keeps the atom cache state up to date.
  """
  def to_name?(%__MODULE__{sock: s}, body) do
    reg_send?(resolve_atom_cache(s, body))
  rescue
    _ -> false
  end

  defp reg_send?(body) do
    term =
      case body do
        <<131, 68, 0, rest::binary>> -> <<131, rest::binary>>
        <<112, rest::binary>> -> rest
        _ -> nil
      end

    try do
      term != nil and
        (fn ctl -> is_tuple(ctl) and tuple_size(ctl) >= 4 and elem(ctl, 0) in [6, 16] end).(
          elem(:erlang.binary_to_term(term, [:used]), 0)
        )
    rescue
      _ -> false
    end
  end

  # cnoded uses the atom cache (DIST_HDR_ATOM_CACHE, which this peer offers): resolve the
  # references as a BEAM receiver does, keeping the cache per socket, so that tests see
  # `131,68,0` bodies with plain atoms. Every frame from cnoded passes here, in order.
  defp resolve_atom_cache(s, <<131, 68, n, rest::binary>>) when n > 0 do
    nfl = div(n, 2) + 1
    <<fl::binary-size(nfl), rest::binary>> = rest
    nib = fn i -> (:binary.at(fl, div(i, 2)) >>> (rem(i, 2) * 4)) &&& 15 end
    long = (nib.(n) &&& 1) == 1
    cache = Process.get({:raw_atom_cache, s}, %{})

    {atoms, cache, rest} =
      Enum.reduce(0..(n - 1), {[], cache, rest}, fn i, {acc, cache, <<ix, rest::binary>>} ->
        key = {nib.(i) &&& 7, ix}

        if (nib.(i) &&& 8) != 0 do
          {text, rest} =
            if long,
              do: (<<l::16, t::binary-size(l), r::binary>> = rest; {t, r}),
              else: (<<l, t::binary-size(l), r::binary>> = rest; {t, r})

          {[text | acc], Map.put(cache, key, text), rest}
        else
          {[Map.fetch!(cache, key) | acc], cache, rest}
        end
      end)

    Process.put({:raw_atom_cache, s}, cache)
    atoms = atoms |> Enum.reverse() |> List.to_tuple()
    IO.iodata_to_binary([131, 68, 0 | unref(rest, atoms)])
  end

  defp resolve_atom_cache(_s, body), do: body

  # Terms (a flat walk: compound terms are their headers) with cache references made atoms.
  defp unref(<<>>, _a), do: []
  defp unref(<<82, i, r::binary>>, a), do: [uatom(elem(a, i)) | unref(r, a)]
  defp unref(<<t, n, x::binary-size(n), r::binary>>, a) when t in [115, 119], do: [t, n, x | unref(r, a)]
  defp unref(<<t, n::16, x::binary-size(n), r::binary>>, a) when t in [100, 118, 107], do: [<<t, n::16>>, x | unref(r, a)]
  defp unref(<<t, x::binary-size(1), r::binary>>, a) when t in [97, 104], do: [t, x | unref(r, a)]
  defp unref(<<t, x::binary-size(4), r::binary>>, a) when t in [98, 105, 108, 116], do: [t, x | unref(r, a)]
  defp unref(<<70, x::binary-size(8), r::binary>>, a), do: [70, x | unref(r, a)]
  defp unref(<<t, r::binary>>, a) when t in [106, 113], do: [t | unref(r, a)]
  defp unref(<<110, n, x::binary-size(n + 1), r::binary>>, a), do: [110, n, x | unref(r, a)]
  defp unref(<<111, n::32, x::binary-size(n + 1), r::binary>>, a), do: [<<111, n::32>>, x | unref(r, a)]
  defp unref(<<109, n::32, x::binary-size(n), r::binary>>, a), do: [<<109, n::32>>, x | unref(r, a)]
  defp unref(<<77, n::32, x::binary-size(n + 1), r::binary>>, a), do: [<<77, n::32>>, x | unref(r, a)]
  defp unref(<<88, r::binary>>, a), do: node_then(88, r, 12, a)
  defp unref(<<89, r::binary>>, a), do: node_then(89, r, 8, a)
  defp unref(<<120, r::binary>>, a), do: node_then(120, r, 12, a)
  defp unref(<<90, w::16, r::binary>>, a), do: node_then(<<90, w::16>>, r, 4 + 4 * w, a)
  defp unref(other, _a), do: [other]

  defp node_then(pre, <<82, i, r::binary>>, k, a), do: node_then(pre, uatom(elem(a, i)), r, k, a)
  defp node_then(pre, <<t, n, x::binary-size(n), r::binary>>, k, a) when t in [115, 119], do: node_then(pre, [t, n, x], r, k, a)
  defp node_then(pre, <<t, n::16, x::binary-size(n), r::binary>>, k, a) when t in [100, 118], do: node_then(pre, [<<t, n::16>>, x], r, k, a)

  defp node_then(pre, node, r, k, a) do
    <<fixed::binary-size(k), r::binary>> = r
    [pre, node, fixed | unref(r, a)]
  end

  defp uatom(text), do: [<<118, byte_size(text)::16>>, text]

  @doc "Decode a frame from cnoded: {control, payload | nil}."
  def decode_frame(<<131, 68, 0, rest::binary>>) do
    {ctl, used} = :erlang.binary_to_term(<<131, rest::binary>>, [:used])

    case binary_part(rest, used - 1, byte_size(rest) - (used - 1)) do
      <<>> -> {ctl, nil}
      pl -> {ctl, :erlang.binary_to_term(<<131, pl::binary>>)}
    end
  end

  def decode_frame(<<131, 68, n, _::binary>>), do: flunk("cnoded sent a header with #{n} atom cache refs")
  def decode_frame(other), do: flunk("unexpected frame from cnoded: #{inspect(other, limit: 20)}")

  @doc "A pid of the raw node (NEW_PID_EXT built by hand with our name and creation)."
  def pid(r, id \\ 1) do
    :erlang.binary_to_term(<<131, 88, 119, byte_size(r.name), r.name::binary, id::32, 0::32, r.creation::32>>)
  end

  @doc "The REG_SEND frame body of a '$gen_call' to `name` with a plain reference tag."
  def gen_call_frame(r, name, request, ref) do
    from = pid(r)
    hdr_frame({6, from, :"", name}, {:"$gen_call", {from, ref}, request})
  end

  @doc """
  gen_server call to echo on the cnode over this raw connection: REG_SEND, then wait (bounded)
  for the reply frame (SEND / SEND_SENDER to our pid or ALIAS_SEND) and return the reply.
  """
  def call_echo(r, request, timeout \\ 5_000) do
    ref = make_ref()
    :ok = send_frame(r, gen_call_frame(r, :echo, request, ref))
    await_reply(r, ref, timeout)
  end

  def await_reply(r, ref, timeout) do
    me = pid(r)

    case recv_frame(r, timeout) do
      {:ok, body} ->
        case decode_frame(body) do
          {{22, _from, ^me}, {^ref, reply}} -> reply
          {{2, _, ^me}, {^ref, reply}} -> reply
          {{33, _from, ^ref}, {^ref, reply}} -> reply
          other -> flunk("unexpected message from #{r.cnode.name} instead of the echo reply: #{inspect(other, limit: 20)}")
        end

      {:error, reason} ->
        flunk("no echo reply over the raw connection #{r.name} (#{inspect(reason)})\n  cnoded log:\n#{CnodeTest.log_text(r.cnode)}")
    end
  end

  @doc """
  Assert that the cnode closes the connection within `timeout` ms (closed or reset). Returns
  {bytes received before the close, ms waited}.
  """
  def assert_closed(%__MODULE__{sock: s} = r, timeout \\ 3_000, what \\ "the cnode to close the connection") do
    t0 = System.monotonic_time(:millisecond)
    do_closed(r, s, <<>>, t0, t0 + timeout, timeout, what)
  end

  defp do_closed(r, s, acc, t0, deadline, timeout, what) do
    left = deadline - System.monotonic_time(:millisecond)

    case if(left > 0, do: :gen_tcp.recv(s, 0, left), else: {:error, :timeout}) do
      {:ok, data} ->
        do_closed(r, s, acc <> data, t0, deadline, timeout, what)

      {:error, reason} when reason in [:closed, :econnreset, :enotconn, :epipe] ->
        :gen_tcp.close(s)
        {acc, System.monotonic_time(:millisecond) - t0}

      {:error, :timeout} ->
        flunk("timed out after #{timeout} ms waiting for #{what} (#{r.name}; received #{inspect(acc, limit: 20)})\n  cnoded log:\n#{CnodeTest.log_text(r.cnode)}")
    end
  end

  @doc "Assert that nothing closes the connection for `ms` ms (and nothing but ticks arrives)."
  def assert_open(%__MODULE__{} = r, ms \\ 200) do
    case recv_frame(r, ms) do
      {:error, :timeout} -> :ok
      other -> flunk("expected the connection #{r.name} to stay open and quiet, got #{inspect(other, limit: 20)}\n  cnoded log:\n#{CnodeTest.log_text(r.cnode)}")
    end
  end
end
