# Scheduler threads come and go with blocked processes (README "Architecture": scheduler
# threads; cnode/proc/sched.c). A process that blocks in a call (:demo.sleep/1 is cn_sleep; a
# probe's {:call, ...} is cn_call into a BEAM GenServer) holds its thread, and another thread
# joins so the node keeps serving. Once the burst is over, the added threads retire after a
# few idle seconds: :cnode.info's scheduler_threads and the kernel's thread count
# (/proc/PID/status) fall back to what they were, and the node still answers and takes the
# next burst.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.SchedThreadsTest.Slow do
  @moduledoc "A BEAM gen_server that answers {:sleep, ms} after ms, each call in a process of its own."
  use GenServer

  def init(arg), do: {:ok, arg}

  def handle_call({:sleep, ms}, from, s) do
    spawn(fn ->
      Process.sleep(ms)
      GenServer.reply(from, :slept)
    end)

    {:noreply, s}
  end
end

defmodule Interop.SchedThreadsTest do
  use ExUnit.Case
  import CnodeTest
  alias Interop.SchedThreadsTest.Slow

  @schedulers 2
  @burst 40
  # the retire delay is 3 s; the machine is loaded: generous
  @fall_ms 20_000

  setup do
    c = start_cnode(args: ["--schedulers", "#{@schedulers}"])
    %{c: connect!(c)}
  end

  defp info(c), do: :erpc.call(c.node, :cnode, :info, [], 10_000)
  defp threads(c), do: info(c).scheduler_threads

  # The kernel's count of cnoded's threads; nil where there is no /proc (the OTP 27 root).
  defp os_threads(c) do
    case File.read("/proc/#{c.os_pid}/status") do
      {:ok, text} ->
        [_, n] = Regex.run(~r/^Threads:\s+(\d+)$/m, text)
        String.to_integer(n)

      {:error, _} ->
        nil
    end
  end

  # Starts `n` blocking calls at once (fun.(i) each, in a task); waits until the node shows
  # the threads they hold, then for every answer. Returns the thread counts seen at the peak.
  defp burst(c, n, fun, base, os0) do
    tasks = for i <- 1..n, do: Task.async(fn -> fun.(i) end)

    peak =
      eventually(
        fn ->
          t = threads(c)
          t >= base + n - 2 && {t, os_threads(c)}
        end,
        15_000,
        what: "#{n} blocked processes to have threads of their own (base #{base})"
      )

    {_, os_peak} = peak

    if os0,
      do: assert(os_peak >= os0 + n - 2, "kernel threads #{os_peak} at the peak, #{os0} before")

    Enum.each(tasks, fn t -> assert Task.await(t, 30_000) in [:ok, {:ok, :slept}] end)
    peak
  end

  defp assert_back_to(c, base, os0) do
    eventually(fn -> threads(c) <= base end, @fall_ms,
      interval: 200,
      what: "scheduler_threads to fall back to #{base} after the burst"
    )

    # besides the schedulers: the watchdog, and the timer thread once first used (2 allow for
    # it and a dialer that may come and go)
    eventually(fn -> os0 == nil or os_threads(c) <= os0 + 2 end, @fall_ms,
      interval: 200,
      what: "the kernel's thread count to fall back to about #{os0}"
    )

    # never below what the design needs: the schedulers and the one that polls
    Process.sleep(4_000)
    assert threads(c) == base
    assert :erpc.call(c.node, :demo, :add, [1, 2], 5_000) == 3
  end

  test "threads added for a burst of sleeping rpcs retire, and come back for the next", %{c: c} do
    i0 = info(c)
    base = i0.scheduler_threads
    assert i0.schedulers == @schedulers
    assert base == @schedulers + 1
    os0 = os_threads(c)

    sleep = fn _ -> :erpc.call(c.node, :demo, :sleep, [2_000], 30_000) end
    {peak, _} = burst(c, @burst, sleep, base, os0)
    assert peak <= base + @burst
    assert_back_to(c, base, os0)

    # the node still serves: its echo worker answers, and a second burst gets its threads
    assert echo(c, :hello) == :hello
    burst(c, @burst, sleep, base, os0)
    assert_back_to(c, base, os0)
  end

  # Calls that hold a scheduler for 2 ms, dozens a second: each turn outlasts a loan, so the
  # watchdog hands the sockets to an idle thread every time, and idle threads are woken in
  # turn. The added threads must retire all the same.
  test "threads added for a burst retire under a light steady load too", %{c: c} do
    base = threads(c)
    os0 = os_threads(c)
    sleep = fn _ -> :erpc.call(c.node, :demo, :sleep, [2_000], 30_000) end
    burst(c, @burst, sleep, base, os0)

    load =
      Task.async(fn ->
        Stream.repeatedly(fn ->
          :ok = echo(c, {:sleep, 2})
          Process.sleep(10)

          receive do
            :stop -> :stop
          after
            0 -> :go
          end
        end)
        |> Enum.find(&(&1 == :stop))
      end)

    assert_back_to(c, base, os0)
    send(load.pid, :stop)
    assert Task.await(load, 10_000) == :stop
  end

  test "threads added for C processes blocked in calls to a BEAM gen_server retire", %{c: c} do
    {:ok, srv} = GenServer.start_link(Slow, nil, name: :sched_threads_slow)
    base = threads(c)
    os0 = os_threads(c)
    n = 30

    probes =
      for _ <- 1..n do
        p = Node.spawn(c.node, :probe, :start, [self()])
        assert GenServer.call(p, :ping, 5_000) == {:error, :badarg}
        p
      end

    call = fn i ->
      GenServer.call(
        Enum.at(probes, i - 1),
        {:call, :sched_threads_slow, node(), {:sleep, 2_000}, 20_000},
        30_000
      )
    end

    burst(c, n, call, base, os0)
    assert_back_to(c, base, os0)
    GenServer.stop(srv)
  end
end
