# The node and time functions operators and cluster scripts call on every node over rpc
# (cnode/services/bifs_node.c): net_kernel:connect_node/1, net_adm:ping/1, disconnect_node/1,
# net_kernel:disconnect/1, get_net_ticktime/0, nodename/0, erlang:node/1, and the clocks
# (system_time, monotonic_time, time_offset, convert_time_unit, timestamp, localtime, ...),
# os:type/0 and os:version/0. Connections are made from the C node's side to BEAM peers it
# never saw (peers reached by this runner through stdio only); clocks are held to this
# runner's clock (same machine) and bad arguments to a BEAM peer's answers to the same calls.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.NodebifsTest do
  use ExUnit.Case
  import CnodeTest
  import Bitwise

  defp rpc(c, m, f, a, t \\ 30_000), do: :rpc.call(c.node, m, f, a, t)

  # A peer that only the C node will connect to (this runner reaches it through stdio).
  defp iso_peer(opts \\ []), do: start_peer([connection: :standard_io] ++ opts)

  defp elapsed_ms(fun) do
    t0 = System.monotonic_time(:millisecond)
    r = fun.()
    {r, System.monotonic_time(:millisecond) - t0}
  end

  # A process on peer p that watches nodes and monitors pid, and forwards what it gets to us.
  defp peer_watch(p, pid) do
    peer_eval(
      p,
      "Me = self(), spawn(fun() -> ok = net_kernel:monitor_nodes(true), " <>
        "R = erlang:monitor(process, Pid), Me ! {ready, R}, " <>
        "L = fun F() -> receive M -> To ! {peer_saw, M}, F() end end, L() end), " <>
        "receive {ready, R} -> R after 5000 -> timeout end.",
      10_000,
      Pid: pid,
      To: self()
    )
  end

  # {:badrpc, {:EXIT, {reason, [{m, f, _, _} | _]}}} -> {reason, m, f}: the stacks differ in
  # everything but the failing function (file and line, rpc's own frames).
  defp shape({:badrpc, {:EXIT, {reason, [{m, f, _, _} | _]}}}), do: {:badrpc, reason, m, f}
  defp shape(other), do: {:value, other}

  # ---- connecting from the C node ---------------------------------------------------------

  describe "net_kernel:connect_node/1 and net_adm:ping/1" do
    setup do
      %{c: connect!(start_cnode())}
    end

    test "connect to a peer never seen: true, and both sides list each other", %{c: c} do
      p = iso_peer()
      refute p.node in rpc(c, :erlang, :nodes, [])
      assert rpc(c, :net_kernel, :connect_node, [p.node]) == true
      assert p.node in rpc(c, :erlang, :nodes, [])
      eventually(fn -> c.node in peer_call(p, :erlang, :nodes, []) end, 10_000,
        what: "the peer to list the cnode"
      )

      wait_log(c, "connection up: #{p.node} (outgoing", 5_000)
      # already connected: true at once
      {r, ms} = elapsed_ms(fn -> rpc(c, :net_kernel, :connect_node, [p.node]) end)
      assert r == true
      assert ms < 2_000, "connect_node of a connected node took #{ms} ms"
      # and the connection carries calls both ways
      assert peer_call(p, :gen_server, :call, [{:echo, c.node}, :hi, 5_000]) == :hi
    end

    test "ping a peer never seen: pong, then it is connected", %{c: c} do
      p = iso_peer()
      assert rpc(c, :net_adm, :ping, [p.node]) == :pong
      assert p.node in rpc(c, :erlang, :nodes, [])
      eventually(fn -> c.node in peer_call(p, :erlang, :nodes, []) end, 10_000)
      assert rpc(c, :net_adm, :ping, [p.node]) == :pong
      # the node itself, as a BEAM node answers for its own name
      assert rpc(c, :net_adm, :ping, [c.node]) == :pong
      assert rpc(c, :net_kernel, :connect_node, [c.node]) == true
    end

    test "a C node to another C node: connect_node, ping, disconnect", %{c: c} do
      c2 = start_cnode()
      assert rpc(c, :net_adm, :ping, [c2.node]) == :pong
      assert c2.node in rpc(c, :erlang, :nodes, [])
      eventually(fn -> c.node in :erpc.call(c2.node, :erlang, :nodes, [], 5_000) end, 10_000)
      assert rpc(c, :erlang, :disconnect_node, [c2.node]) == true
      eventually(fn -> c.node not in :erpc.call(c2.node, :erlang, :nodes, [], 5_000) end, 10_000)
      assert rpc(c, :net_kernel, :connect_node, [c2.node]) == true
      assert :erpc.call(c2.node, :net_adm, :ping, [c.node], 10_000) == :pong
    end

    test "a name nobody has: false / pang in bounded time, as a BEAM node says", %{c: c} do
      nobody = :"#{unique_name("nobody")}@#{host()}"
      {r, ms} = elapsed_ms(fn -> rpc(c, :net_kernel, :connect_node, [nobody]) end)
      assert r == false
      assert ms < 10_000, "took #{ms} ms"
      {r, ms} = elapsed_ms(fn -> rpc(c, :net_adm, :ping, [nobody]) end)
      assert r == :pang
      assert ms < 10_000, "took #{ms} ms"
      refute nobody in rpc(c, :erlang, :nodes, [:connected])
      # the same answers from BEAM (this runner) for the same calls
      assert :net_kernel.connect_node(nobody) == false
      assert :net_adm.ping(nobody) == :pang
      # not node names at all: false / pang, for both
      for bad <- [:nohost, :"@nohost", :"noname@", :"a@b@c"] do
        assert rpc(c, :net_kernel, :connect_node, [bad]) == :net_kernel.connect_node(bad),
               "connect_node(#{inspect(bad)})"

        assert rpc(c, :net_adm, :ping, [bad]) == :pang
      end
    end

    test "an unknown host, and a peer that does not answer: false within the handshake bound, while the node goes on serving" do
      c = connect!(start_cnode(args: ["--handshake-timeout", "1500"]))
      assert rpc(c, :net_kernel, :connect_node, [:"x@no-such-host.invalid"]) == false

      # a stopped peer: epmd knows it and the kernel accepts the connection, nothing answers
      p = iso_peer()
      sigstop(p)

      t =
        Task.async(fn ->
          elapsed_ms(fn -> {rpc(c, :net_kernel, :connect_node, [p.node]), rpc(c, :net_adm, :ping, [p.node])} end)
        end)

      # the rpcs wait, the node does not
      Process.sleep(300)
      for i <- 1..20, do: assert(echo(c, {:meanwhile, i}, 2_000) == {:meanwhile, i})
      assert rpc(c, :erlang, :system_time, [:second]) > 0
      {r, ms} = Task.await(t, 30_000)
      sigcont(p)
      assert r == {false, :pang}
      # two calls, each within the handshake bound and a margin
      assert ms >= 1_500 and ms < 2 * (1_500 + 2_500), "took #{ms} ms"
      assert exit_status(c) == nil
      # once it answers again (after it has dealt with the stale attempts), it connects
      eventually(fn -> rpc(c, :net_kernel, :connect_node, [p.node]) == true end, 15_000,
        what: "connect_node to the resumed peer"
      )
    end

    test "a peer with another cookie: false / pang, and the peer does not list us", %{c: c} do
      p = iso_peer(cookie: "another_cookie_#{System.unique_integer([:positive])}")
      mark = log_mark(c)
      assert rpc(c, :net_kernel, :connect_node, [p.node]) == false
      wait_log(c, ~r/connection attempt to #{Regex.escape(to_string(p.node))} failed/, 5_000,
        after: mark
      )

      assert rpc(c, :net_adm, :ping, [p.node]) == :pang
      refute p.node in rpc(c, :erlang, :nodes, [:connected])
      refute c.node in peer_call(p, :erlang, :nodes, [:connected])
      # a BEAM node with our cookie gets the same answer from that peer
      q = start_peer()
      assert peer_call(q, :net_kernel, :connect_node, [p.node]) == false
    end
  end

  describe "disconnect_node/1 and net_kernel:disconnect/1" do
    setup do
      %{c: connect!(start_cnode())}
    end

    test "the peer gets nodedown and its monitor of a C process noconnection", %{c: c} do
      p = start_peer()
      assert rpc(c, :net_kernel, :connect_node, [p.node]) == true
      kv = Node.spawn(c.node, :kv, :start, [])
      ref = peer_watch(p, kv)
      assert is_reference(ref)

      assert rpc(c, :erlang, :disconnect_node, [p.node]) == true
      cn = c.node
      assert_receive {:peer_saw, {:nodedown, ^cn}}, 10_000
      assert_receive {:peer_saw, {:DOWN, ^ref, :process, ^kv, :noconnection}}, 10_000
      refute p.node in rpc(c, :erlang, :nodes, [:connected])
      # not connected any more: false, as a BEAM node answers for a node it is not connected to
      assert rpc(c, :erlang, :disconnect_node, [p.node]) == false
      assert peer_call(p, :erlang, :disconnect_node, [:"nobody@#{host()}"]) == false

      # net_kernel:disconnect/1 the same way, after connecting again
      assert rpc(c, :net_kernel, :connect_node, [p.node]) == true
      assert_receive {:peer_saw, {:nodeup, ^cn}}, 10_000
      assert rpc(c, :net_kernel, :disconnect, [p.node]) == true
      assert_receive {:peer_saw, {:nodedown, ^cn}}, 10_000
      assert rpc(c, :net_kernel, :disconnect, [p.node]) == false
      # this node itself, and terms that are not node names, as a BEAM node answers them
      assert rpc(c, :erlang, :disconnect_node, [c.node]) ==
               peer_call(p, :erlang, :disconnect_node, [p.node])

      assert rpc(c, :net_kernel, :disconnect, [c.node]) ==
               peer_call(p, :net_kernel, :disconnect, [p.node])

      assert rpc(c, :net_kernel, :disconnect, ["x"]) == peer_call(p, :net_kernel, :disconnect, ["x"])
    end
  end

  describe "meshing" do
    test "the C node connects two isolated peers: the visible mesh closes over all three" do
      c = connect!(start_cnode())
      a = iso_peer()
      b = iso_peer()
      assert rpc(c, :net_kernel, :connect_node, [a.node]) == true
      assert rpc(c, :net_adm, :ping, [b.node]) == :pong

      eventually(fn -> b.node in peer_call(a, :erlang, :nodes, []) end, 15_000,
        what: ":global to mesh the two peers"
      )

      eventually(fn -> a.node in peer_call(b, :erlang, :nodes, []) end, 15_000)
      assert :ok == peer_call(a, :global, :sync, [], 20_000)
      # a global name registered on one peer is seen on the other and on the C node
      name = :"nb_#{System.unique_integer([:positive])}"
      gpid = peer_eval(a, "spawn(fun() -> receive stop -> ok end end).")
      assert peer_call(a, :global, :register_name, [name, gpid]) == :yes

      eventually(fn -> peer_call(b, :global, :whereis_name, [name]) == gpid end, 10_000)
      eventually(fn -> rpc(c, :global, :whereis_name, [name]) == gpid end, 10_000)
      assert Enum.sort([a.node, b.node, node()]) -- rpc(c, :erlang, :nodes, []) == []
    end
  end

  describe "net_kernel:get_net_ticktime/0 and nodename/0" do
    test "the configured tick time and the node name" do
      c = connect!(start_cnode())
      assert rpc(c, :net_kernel, :get_net_ticktime, []) == :net_kernel.get_net_ticktime()
      assert rpc(c, :net_kernel, :nodename, []) == c.node
      c2 = connect!(start_cnode(args: ["--net-ticktime", "20"]))
      assert rpc(c2, :net_kernel, :get_net_ticktime, []) == 20
    end
  end

  describe "erlang:node/1" do
    test "the node of pids and references, badarg otherwise" do
      c = connect!(start_cnode())
      kv = Node.spawn(c.node, :kv, :start, [])
      assert rpc(c, :erlang, :node, [kv]) == c.node
      assert rpc(c, :erlang, :node, [self()]) == node()
      assert rpc(c, :erlang, :node, [make_ref()]) == node()
      assert {:badrpc, {:EXIT, {:badarg, [{:erlang, :node, _, _} | _]}}} = rpc(c, :erlang, :node, [:x])
    end
  end

  # ---- clocks -----------------------------------------------------------------------------

  @units [:native, :perf_counter, :second, :millisecond, :microsecond, :nanosecond, :seconds,
          :milli_seconds, :micro_seconds, :nano_seconds, 1, 7, 1000, 1 <<< 40, (1 <<< 64) - 1,
          1 <<< 64, 1 <<< 100, (1 <<< 2000) + 1]

  # parts per second of a unit, as this runner sees it
  defp pps(u), do: :erlang.convert_time_unit(1, :second, u)

  describe "clocks" do
    setup do
      %{c: connect!(start_cnode())}
    end

    test "system_time/0,1 and os:system_time/0,1 in every unit, against this node's clock", %{c: c} do
      # the native unit is the same here (nanoseconds), so the 0-arity forms compare directly
      assert rpc(c, :erlang, :convert_time_unit, [1, :second, :native]) == pps(:native)

      for {m, f} <- [{:erlang, :system_time}, {:os, :system_time}], u <- @units do
        before = :erlang.system_time(u)
        v = rpc(c, m, f, [u])
        later = :erlang.system_time(u)
        slack = pps(u) # one second of this unit: clock correction, rounding
        assert is_integer(v)
        assert v >= before - slack and v <= later + slack,
               "#{m}:#{f}(#{inspect(u)}) = #{v}, not within [#{before}, #{later}]"
      end

      before = :os.system_time()
      v = rpc(c, :erlang, :system_time, [])
      assert abs(v - before) < 2 * pps(:native)
      assert abs(rpc(c, :os, :system_time, []) - :os.system_time()) < 2 * pps(:native)
    end

    test "monotonic_time/0,1 and time_offset/0,1: they add up to system time, and the monotonic clock moves with real time",
         %{c: c} do
      for u <- @units do
        mono = rpc(c, :erlang, :monotonic_time, [u])
        off = rpc(c, :erlang, :time_offset, [u])
        assert is_integer(mono) and is_integer(off)
        now = :erlang.system_time(u)
        assert abs(mono + off - now) < 2 * pps(u) + 2, "#{inspect(u)}: #{mono} + #{off} vs #{now}"
      end

      t0 = System.monotonic_time(:millisecond)
      m0 = rpc(c, :erlang, :monotonic_time, [:millisecond])
      Process.sleep(300)
      m1 = rpc(c, :erlang, :monotonic_time, [:millisecond])
      t1 = System.monotonic_time(:millisecond)
      assert m1 - m0 >= 300 and m1 - m0 <= t1 - t0 + 5
      n0 = rpc(c, :erlang, :monotonic_time, [])
      p0 = rpc(c, :os, :perf_counter, [])
      assert rpc(c, :erlang, :monotonic_time, []) >= n0
      assert rpc(c, :os, :perf_counter, []) >= p0
      assert is_integer(rpc(c, :os, :perf_counter, [:millisecond]))
      assert is_integer(rpc(c, :erlang, :time_offset, []))
    end

    test "convert_time_unit/3 gives exactly what a BEAM node gives", %{c: c} do
      cases =
        for t <- [0, 1, -1, 999, -999, 1999, -1999, 123_456_789_012, -(1 <<< 62), (1 <<< 63) - 1,
                  1 <<< 63, -(1 <<< 63) - 1, 1 <<< 100, -(1 <<< 90) + 3, (1 <<< 2040) + 9],
            {from, to} <- [{:second, :millisecond}, {:millisecond, :second}, {:nanosecond, :microsecond},
                           {:native, :second}, {:second, :native}, {:perf_counter, :millisecond},
                           {7, 3}, {3, 7}, {1000, :seconds}, {:nano_seconds, (1 <<< 64) - 1},
                           {(1 <<< 64) - 1, 1}, {1 <<< 100, 3}, {:nanosecond, 1 <<< 100},
                           {(1 <<< 2047) + 1, (1 <<< 1999) + 7}],
            do: [t, from, to]

      for a <- cases do
        assert rpc(c, :erlang, :convert_time_unit, a) == apply(:erlang, :convert_time_unit, a),
               "convert_time_unit#{inspect(List.to_tuple(a))}"
      end
    end

    test "timestamp, localtime, universaltime, date, time", %{c: c} do
      us = fn {m, s, u} -> (m * 1_000_000 + s) * 1_000_000 + u end

      for {m, f} <- [{:os, :timestamp}, {:erlang, :timestamp}] do
        before = :os.timestamp()
        v = rpc(c, m, f, [])
        later = :os.timestamp()
        assert {mg, s, u} = v
        assert is_integer(mg) and s in 0..999_999 and u in 0..999_999
        assert us.(v) >= us.(before) - 1_000_000 and us.(v) <= us.(later) + 1_000_000
      end

      secs = &:calendar.datetime_to_gregorian_seconds/1

      for {f, mine} <- [{:localtime, &:erlang.localtime/0}, {:universaltime, &:erlang.universaltime/0}] do
        before = secs.(mine.())
        v = rpc(c, :erlang, f, [])
        later = secs.(mine.())
        assert :calendar.valid_date(elem(v, 0))
        assert secs.(v) >= before - 1 and secs.(v) <= later + 1, "#{f}: #{inspect(v)}"
      end

      before = secs.(:erlang.localtime())
      d = rpc(c, :erlang, :date, [])
      t = rpc(c, :erlang, :time, [])
      later = secs.(:erlang.localtime())
      assert {_, _, _} = d
      assert {_, _, _} = t
      # across midnight the two calls may fall on different days: allow that one case
      assert (secs.({d, t}) >= before - 1 and secs.({d, t}) <= later + 1) or elem(t, 0) == 0
    end

    test "system_info about the clocks: the same shapes as a BEAM node's, saying what the functions do",
         %{c: c} do
      si = fn k -> rpc(c, :erlang, :system_info, [k]) end
      assert si.(:time_warp_mode) == :multi_time_warp
      assert si.(:time_offset) == :volatile
      assert si.(:time_correction) == :erlang.system_info(:time_correction)

      for {k, now} <- [{:os_monotonic_time_source, fn -> rpc(c, :erlang, :monotonic_time, []) end},
                       {:os_system_time_source, fn -> :os.system_time() end}] do
        mine = si.(k)
        beam = :erlang.system_info(k)
        # OTP 26+ adds used_resolution (to the monotonic source), which we give to every caller
        assert Keyword.keys(mine) -- [:used_resolution] == Keyword.keys(beam) -- [:used_resolution],
               "#{k}: #{inspect(mine)} vs #{inspect(beam)}"
        assert mine[:resolution] == pps(:native)
        # its time is that clock's reading, in native units
        later = now.()
        assert mine[:time] <= later and later - mine[:time] < 5 * pps(:native)
      end

      assert si.(:os_system_time_source)[:clock_id] == :CLOCK_REALTIME
      # start_time: the monotonic time when the node started (it started in this test)
      start = si.(:start_time)
      mono = rpc(c, :erlang, :monotonic_time, [])
      assert start < mono and mono - start < 60 * pps(:native)
      assert si.(:end_time) > mono
    end

    test "os:type/0 and os:version/0 as this node reports them", %{c: c} do
      assert rpc(c, :os, :type, []) == :os.type()
      assert rpc(c, :os, :version, []) == :os.version()
    end
  end

  # ---- bad arguments: the same badrpc as a BEAM node --------------------------------------

  describe "bad arguments" do
    test "every function, each bad argument: the BEAM peer's error" do
      c = connect!(start_cnode())
      p = start_peer()
      big = 1 <<< 64

      calls =
        for(u <- [:foo, 1.0, 0, -1, "second", {:second}, [], make_ref(), -big],
            {m, f} <- [{:erlang, :system_time}, {:erlang, :monotonic_time}, {:erlang, :time_offset},
                       {:os, :system_time}, {:os, :perf_counter}],
            do: {m, f, [u]}) ++
          [
            {:erlang, :convert_time_unit, [:a, :second, :native]},
            {:erlang, :convert_time_unit, [1.5, :second, :native]},
            {:erlang, :convert_time_unit, [1, :foo, :second]},
            {:erlang, :convert_time_unit, [1, :second, 0]},
            {:erlang, :convert_time_unit, [1, -3, :second]},
            {:erlang, :convert_time_unit, ["1", :second, :second]},
            {:erlang, :disconnect_node, ["x"]},
            {:erlang, :disconnect_node, [{:a, :b}]},
            {:erlang, :node, [:x]},
            {:erlang, :node, [1]},
            {:erlang, :node, [[]]},
            {:net_kernel, :connect_node, ["x@y"]},
            {:net_kernel, :connect_node, [123]},
            {:net_adm, :ping, ['x@y']},
            {:net_adm, :ping, [{:x}]},
            {:net_kernel, :disconnect, [123]}
          ]

      for {m, f, a} <- calls do
        mine = rpc(c, m, f, a)
        beam = :rpc.call(p.node, m, f, a, 30_000)
        assert shape(mine) == shape(beam),
               "#{m}:#{f}#{inspect(List.to_tuple(a))}: cnode #{inspect(mine)}, BEAM #{inspect(beam)}"
      end

      # a node name of 255 characters that cannot be dialled: refused, the node goes on
      long = String.to_atom(String.duplicate("n", 200) <> "@" <> String.duplicate("h", 54))
      assert rpc(c, :net_kernel, :connect_node, [long]) == false
      assert echo(c, :still_here) == :still_here
      # integers over 2048 bits, as a time or a unit: badarg here (the BEAM takes them)
      huge = 1 <<< 2048
      for {m, f, a} <- [{:erlang, :system_time, [huge]}, {:erlang, :convert_time_unit, [huge, 1, 1]},
                        {:erlang, :convert_time_unit, [1, huge, 1]}] do
        assert {:badrpc, :badarg, ^m, ^f} = shape(rpc(c, m, f, a))
      end

      assert echo(c, :still_here) == :still_here
      # wrong arities are undef, as for any function a node does not have
      assert {:badrpc, {:EXIT, {:undef, _}}} = rpc(c, :net_kernel, :connect_node, [])
    end
  end
end
