# A busy worker does not stall the node: while echo sleeps in a call for longer than
# net_ticktime, the node keeps ticking (no nodedown, no "connection down"), and the other
# schedulers keep answering other callers promptly (README "Architecture": the poller role;
# the sleeping worker ran on the poller's loan, which the watchdog ends).
#
# The runner's net_ticktime is 60 s: a cnode started with --net-ticktime 4 would drop the
# runner's connection for lack of ticks. So every call here is made by BEAM peers started with
# -kernel net_ticktime 4 that reach the runner through stdio only (connection: :standard_io),
# and the runner never connects to the cnode.
CnodeTest.watchdog(200, __ENV__.file)
ExUnit.start(trace: true, timeout: 90_000)

defmodule Interop.BusyTest do
  use ExUnit.Case
  import CnodeTest

  @ticktime 4
  # longer than net_ticktime: without ticks from the event loop the peer would drop the cnode
  @sleep_ms 2 * @ticktime * 1_000 + 1_000

  setup do
    c = start_cnode(args: ["--net-ticktime", "#{@ticktime}", "--schedulers", "2"])
    sleeper = start_peer(prefix: "sleeper", net_ticktime: @ticktime, connection: :standard_io)
    other = start_peer(prefix: "other", net_ticktime: @ticktime, connection: :standard_io)

    for p <- [sleeper, other] do
      # a process that records every nodeup/nodedown this peer sees
      :ok =
        peer_eval(p, """
        Mon = spawn(fun() ->
                  ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
                  Loop = fun L(Acc) ->
                             receive
                                 {get, From} -> From ! {events, lists:reverse(Acc)}, L(Acc);
                                 Ev -> L([Ev | Acc])
                             end
                         end,
                  Loop([])
              end),
        true = register(cnode_test_monitor, Mon),
        ok.
        """)

      assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
      wait_log(c, "connection up: #{p.node}")
    end

    %{c: c, sleeper: sleeper, other: other}
  end

  # The events about node n only: :global meshes the two peers with each other too (they meet
  # at the cnode), and those connections are not what these tests watch.
  defp node_events(p, n) do
    peer_eval(p, """
    cnode_test_monitor ! {get, self()},
    receive {events, E} -> [Ev || Ev <- E, element(2, Ev) =:= N] after 5000 -> no_answer end.
    """, 10_000, [{:N, n}])
  end

  # Start GenServer.call(Server, Req, Timeout) on peer p in a process of its own; the result
  # is kept by a registered process `Name` on the peer and fetched with fetch_result/3
  # (:still_waiting while the call runs). The process stays until the peer stops.
  defp start_call(p, name, server, req, timeout) do
    :ok =
      peer_eval(
        p,
        """
        Parent = self(),
        Pid = spawn(fun() ->
                  T0 = erlang:monotonic_time(millisecond),
                  R = (catch gen_server:call(Server, Req, Timeout)),
                  Took = erlang:monotonic_time(millisecond) - T0,
                  %% answers every {get, From}, also those that came while the call ran
                  Loop = fun L() -> receive {get, From} -> From ! {result, R, Took}, L() end end,
                  Loop()
              end),
        true = register(Name, Pid),
        ok.
        """,
        10_000,
        Name: name,
        Server: server,
        Req: req,
        Timeout: timeout
      )
  end

  defp fetch_result(p, name, wait_ms) do
    peer_eval(
      p,
      """
      Name ! {get, self()},
      receive {result, R, Took} -> {R, Took} after Wait -> still_waiting end.
      """,
      wait_ms + 5_000,
      Name: name,
      Wait: wait_ms
    )
  end

  # {result, ms} of a call made on peer p (bounded)
  defp timed_call(p, server, req, timeout \\ 5_000) do
    peer_eval(
      p,
      """
      T0 = erlang:monotonic_time(millisecond),
      R = (catch gen_server:call(Server, Req, Timeout)),
      {R, erlang:monotonic_time(millisecond) - T0}.
      """,
      timeout + 5_000,
      Server: server,
      Req: req,
      Timeout: timeout
    )
  end

  test "echo sleeping longer than net_ticktime: connection stays up, other callers answered at once",
       %{c: c, sleeper: sleeper, other: other} do
    n = c.node
    mark = log_mark(c)
    # a second echo worker, for callers while the registered one sleeps
    echo2 = peer_call(other, :erlang, :spawn, [n, :echo, :start, []])
    assert node(echo2) == n
    assert {:hi, _} = timed_call(other, echo2, :hi)

    t0 = System.monotonic_time(:millisecond)
    start_call(sleeper, :cnode_test_sleep, {:echo, n}, {:sleep, @sleep_ms}, @sleep_ms + 10_000)
    Process.sleep(200)
    assert fetch_result(sleeper, :cnode_test_sleep, 0) == :still_waiting

    # while echo sleeps: the other peer's calls, pings, and the sleeper peer's own calls to
    # another worker, all prompt
    latencies =
      Stream.repeatedly(fn -> :ok end)
      |> Enum.reduce_while([], fn _, acc ->
        if System.monotonic_time(:millisecond) - t0 > @sleep_ms - 1_500 do
          {:halt, acc}
        else
          {r1, ms1} = timed_call(other, echo2, {:ping, length(acc)})
          assert r1 == {:ping, length(acc)}, "echo2 answered #{inspect(r1)}"
          {r2, ms2} = timed_call(sleeper, echo2, {:from_sleeper, length(acc)})
          assert r2 == {:from_sleeper, length(acc)}, "echo2 answered the sleeper peer #{inspect(r2)}"
          assert peer_call(other, :net_adm, :ping, [n]) == :pong
          Process.sleep(250)
          {:cont, [ms1, ms2 | acc]}
        end
      end)

    assert length(latencies) >= 10
    worst = Enum.max(latencies)
    assert worst < 1_000, "a call took #{worst} ms while echo slept (all: #{inspect(Enum.reverse(latencies))})"

    # the sleeping call is still going (it ends after @sleep_ms)
    assert fetch_result(sleeper, :cnode_test_sleep, 0) == :still_waiting

    case fetch_result(sleeper, :cnode_test_sleep, @sleep_ms + 5_000) do
      {:ok, took} -> assert took >= @sleep_ms - 50 and took < @sleep_ms + 3_000, "the sleep call took #{took} ms"
      other_result -> flunk("the sleeping call ended with #{inspect(other_result)}\n#{log_text(c)}")
    end

    # the connections stayed up the whole time, on both sides
    for p <- [sleeper, other] do
      assert n in peer_call(p, :erlang, :nodes, [])
      assert node_events(p, n) == [{:nodeup, n, []}], "#{p.node} saw #{inspect(node_events(p, n))}"
      refute_log(c, "connection down: #{p.node}", after: mark)
    end

    IO.puts("    #{length(latencies)} calls while echo slept #{@sleep_ms} ms; worst #{worst} ms")
  end

  test "with 2 schedulers, spawning and calling kv workers works while one worker sleeps",
       %{c: c, sleeper: sleeper, other: other} do
    n = c.node
    mark = log_mark(c)
    start_call(sleeper, :cnode_test_sleep, {:echo, n}, {:sleep, 6_000}, 20_000)
    Process.sleep(200)
    assert fetch_result(sleeper, :cnode_test_sleep, 0) == :still_waiting

    t0 = System.monotonic_time(:millisecond)

    # spawn 20 kv workers, fill each, read each back
    kvs =
      peer_eval(
        other,
        """
        Ks = [spawn(N, kv, start, []) || _ <- lists:seq(1, 20)],
        [ok = gen_server:call(K, {put, I, {v, I}}, 2000) || {I, K} <- lists:zip(lists:seq(1, 20), Ks)],
        [gen_server:cast(K, {put, cast, I}) || {I, K} <- lists:zip(lists:seq(1, 20), Ks)],
        Ks.
        """,
        15_000,
        N: n
      )

    assert length(kvs) == 20 and Enum.all?(kvs, &(node(&1) == n))

    for {k, i} <- Enum.with_index(kvs, 1) do
      assert {{:ok, {:v, ^i}}, ms} = timed_call(other, k, {:get, i}, 2_000)
      assert ms < 1_000
      assert {{:ok, ^i}, _} = timed_call(other, k, {:get, :cast}, 2_000)
    end

    took = System.monotonic_time(:millisecond) - t0
    # the echo sleep is still running: everything above was served by the other scheduler
    assert fetch_result(sleeper, :cnode_test_sleep, 0) == :still_waiting,
           "the sleeping call ended before the kv round trips (took #{took} ms): the test proves nothing"

    assert {:ok, _} = fetch_result(sleeper, :cnode_test_sleep, 10_000)
    assert node_events(other, n) == [{:nodeup, n, []}]
    refute_log(c, "connection down:", after: mark)
    IO.puts("    20 kv workers spawned and called in #{took} ms while echo slept")
  end
  test "with every scheduler busy (2 sleeping workers), the event loop still keeps the connections up",
       %{c: c, sleeper: sleeper, other: other} do
    n = c.node
    mark = log_mark(c)
    echo2 = peer_call(other, :erlang, :spawn, [n, :echo, :start, []])
    assert {:ready, _} = timed_call(other, echo2, :ready)

    start_call(sleeper, :cnode_test_sleep1, {:echo, n}, {:sleep, @sleep_ms}, @sleep_ms + 10_000)
    start_call(other, :cnode_test_sleep2, echo2, {:sleep, @sleep_ms}, @sleep_ms + 10_000)

    # both peers stay idle on the distribution for longer than net_ticktime: only ticks flow
    for {p, name} <- [{sleeper, :cnode_test_sleep1}, {other, :cnode_test_sleep2}] do
      case fetch_result(p, name, @sleep_ms + 5_000) do
        {:ok, took} -> assert took >= @sleep_ms - 50, "the sleep call took #{took} ms"
        r -> flunk("the sleeping call on #{p.node} ended with #{inspect(r)}\n#{log_text(c)}")
      end
    end

    for p <- [sleeper, other] do
      assert n in peer_call(p, :erlang, :nodes, [])
      assert node_events(p, n) == [{:nodeup, n, []}], "#{p.node} saw #{inspect(node_events(p, n))}"
    end

    refute_log(c, "connection down:", after: mark)
    # and the node serves again at once
    assert {{:after, 1}, ms} = timed_call(other, {:echo, n}, {:after, 1})
    assert ms < 1_000
  end
end
