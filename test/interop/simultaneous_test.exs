# Simultaneous connects (PROTOCOL.md §2.5): the cnode dials a BEAM peer B (--connect B) at the same
# moment as B dials the cnode. Whichever attempt wins (nok / ok_simultaneous, decided by the node
# names), B and the cnode must end up with exactly one connection, no flapping.
#
# B is reached through its stdio (not distribution), so that only B and the cnode are involved.
# B waits for the cnode's name to appear in epmd and dials it at once, while the cnode, just
# registered, dials B: the two attempts cross. Half of the rounds give the cnode a name that sorts
# before B's ("c…" < "p…"), half one that sorts after ("zc…" > "p…"), so both sides of the rule
# are exercised.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 240_000)

defmodule Interop.SimultaneousTest do
  use ExUnit.Case
  import CnodeTest
  alias CnodeTest.Raw

  @rounds 10

  # On B: record every nodeup/nodedown; then wait for Alive in epmd and dial CNode at once.
  @setup_b """
  Mon = spawn(fun() ->
            ok = net_kernel:monitor_nodes(true),
            Loop = fun L(Acc) ->
                       receive
                           {get, From} -> From ! {events, lists:reverse(Acc)}, L(Acc);
                           Ev -> L([Ev | Acc])
                       end
                   end,
            Loop([])
        end),
  true = register(cnode_test_monitor, Mon),
  Inbox = spawn(fun() ->
              Loop = fun L(Acc) ->
                         receive
                             {get, From} -> From ! {inbox, lists:reverse(Acc)}, L(Acc);
                             M -> L([M | Acc])
                         end
                     end,
              Loop([])
          end),
  true = register(cnode_test_inbox, Inbox),
  Inbox.
  """

  @dial_from_b """
  Deadline = erlang:monotonic_time(millisecond) + 10000,
  Wait = fun W() ->
             case erl_epmd:port_please(Alive, {127,0,0,1}) of
                 {port, _, _} -> ok;
                 _ ->
                     case erlang:monotonic_time(millisecond) > Deadline of
                         true -> timeout;
                         false -> W()
                     end
             end
         end,
  ok = Wait(),
  T0 = erlang:monotonic_time(microsecond),
  R = net_kernel:connect_node(CNode),
  {R, erlang:monotonic_time(microsecond) - T0}.
  """

  @inbox_b """
  cnode_test_inbox ! {get, self()},
  receive {inbox, I} -> I after 5000 -> no_answer end.
  """

  # (only the events about the cnode: :global meshes B with this runner too, which the cnode
  # is connected to)
  @events_b """
  cnode_test_monitor ! {get, self()},
  receive {events, E} -> [Ev || Ev <- E, element(2, Ev) =:= CNode] after 5000 -> no_answer end.
  """

  defp one_round(i) do
    b = start_peer(connection: :standard_io)
    inbox = peer_eval(b, @setup_b)

    prefix = if rem(i, 2) == 0, do: "c", else: "zc"
    name = unique_name(prefix)
    cnode = :"#{name}@#{host()}"
    order = if Atom.to_string(cnode) > Atom.to_string(b.node), do: "cnode > B", else: "cnode < B"

    dial = Task.async(fn -> peer_eval(b, @dial_from_b, 20_000, Alive: String.to_charlist(name), CNode: cnode) end)
    c = start_cnode(name: name, args: ["--connect", b.node, "--log-level", "debug"])
    # while the two attempts cross, give the cnode something to send to B: echo's reply to a
    # process there (it may be queued on an attempt that loses; it must arrive exactly once)
    connect!(c)
    tag = make_ref()
    send({:echo, c.node}, {:"$gen_call", {inbox, tag}, {:round, i}})
    {result, us} = Task.await(dial, 25_000)

    assert result == true,
           "round #{i} (#{order}): net_kernel:connect_node on B returned #{inspect(result)}\n  cnoded log:\n#{log_text(c)}"

    eventually(fn -> c.node in peer_call(b, :erlang, :nodes, []) end, 10_000, what: "B to list the cnode (round #{i})")
    wait_log(c, "connection up: #{b.node}", 10_000)
    assert peer_call(b, :gen_server, :call, [{:echo, c.node}, {:round, i}, 5_000]) == {:round, i}
    assert peer_call(b, :net_adm, :ping, [c.node]) == :pong

    # let any late close or second connection show itself
    Process.sleep(500)

    lines = log(c)
    ups = Enum.filter(lines, &String.contains?(&1, "connection up: #{b.node}"))
    assert length(ups) == 1, "round #{i} (#{order}): #{length(ups)} 'connection up' for B\n  cnoded log:\n#{log_text(c)}"
    [up] = ups
    after_up = Enum.drop_while(lines, &(&1 != up))

    assert Enum.filter(after_up, &String.contains?(&1, "connection down: #{b.node}")) == [],
           "round #{i} (#{order}): the connection to B went down after coming up\n  cnoded log:\n#{log_text(c)}"

    inbox = peer_eval(b, @inbox_b)

    assert inbox == [{tag, {:round, i}}],
           "round #{i} (#{order}): echo's reply to B did not arrive exactly once (B's process got " <>
             "#{inspect(inbox)})\n  cnoded log:\n#{log_text(c)}"

    events = peer_eval(b, @events_b, 10_000, CNode: c.node)
    assert events == [{:nodeup, c.node}], "round #{i} (#{order}): B saw #{inspect(events)}"
    assert c.node in peer_call(b, :erlang, :nodes, [])
    assert exit_status(c) == nil

    # which way it went, as far as the cnode's log tells (it does not log the status it was
    # answered, so an ok_simultaneous from B looks like a plain outgoing connection)
    bn = Atom.to_string(b.node)

    seen =
      [
        {"B answered nok", &(&1 =~ bn and (&1 =~ "answered nok" or &1 =~ "Connection to #{bn} refused (nok)"))},
        {"the cnode answered nok", &(&1 =~ "refused (nok)" and &1 =~ "our own attempt")},
        {"the cnode answered ok_simultaneous", &(&1 =~ "simultaneous connect")}
      ]
      |> Enum.filter(fn {_, f} -> Enum.any?(lines, f) end)
      |> Enum.map(&elem(&1, 0))

    how =
      case seen do
        [] -> "no crossing seen by the cnode (#{if up =~ "outgoing", do: "its own", else: "B's"} attempt)"
        _ -> Enum.join(seen, ", then ")
      end

    IO.puts("    round #{i}: #{order}, connect_node #{result} in #{div(us, 1000)} ms; #{how}")

    stop_cnode(c)
    stop_peer(b)
    how
  end

  test "a cnode started with --connect B while B connects to it: one connection, both ways of the name rule" do
    hows = for i <- 1..@rounds, do: one_round(i)
    IO.puts("    overlaps seen: #{hows |> Enum.frequencies() |> inspect()}")
  end

  # The same crossing, made deterministic with a raw peer (CnodeTest.Raw) that plays the other
  # node: a fake node registered in epmd, which the cnode dials because its echo worker replies
  # to a pid there; the raw peer holds the cnode's attempt and crosses it with its own.
  describe "crossing attempts with a raw peer" do
    @creation 0x5A5A5

    setup do
      c = start_cnode(args: ["--handshake-timeout", "2000", "--log-level", "debug"])
      connect!(c)
      %{c: c}
    end

    # A fake node named `alive`, a reply of echo queued for a pid on it, and the cnode's attempt
    # to reach it, accepted and its send_name read.
    defp crossing(c, alive) do
      fake = Raw.fake_node(alive)
      on_exit(fn -> Raw.close_fake_node(fake) end)
      pid = Raw.pid(%Raw{name: fake.name, creation: @creation})
      tag = make_ref()
      send({:echo, c.node}, {:"$gen_call", {pid, tag}, :queued})
      out = Raw.accept!(fake, c, @creation)
      {fake, out, tag}
    end

    defp assert_single_up(c, name, direction) do
      line = wait_log(c, "connection up: #{name}", 5_000)
      assert line =~ direction, "expected an #{direction} connection: #{line}"
      Process.sleep(200)
      assert length(log_lines(c, "connection up: #{name}")) == 1, "more than one connection up:\n#{log_text(c)}"
      refute_log(c, "connection down: #{name}")
      assert echo(c, :still_serving) == :still_serving
    end

    test "the peer's name sorts after ours: we answer ok_simultaneous and drop our attempt", %{c: c} do
      {fake, out, tag} = crossing(c, unique_name("zz"))
      r = Raw.open(c, name: fake.name, creation: @creation)
      :ok = Raw.send_hs(r, Raw.name_msg(r))
      assert Raw.recv_status!(r) == "ok_simultaneous"
      Raw.assert_closed(out, 3_000, "the cnode to drop its own attempt")
      {r, ch} = Raw.read_challenge!(r)
      r = Raw.reply_and_ack!(r, ch)
      # the reply queued for the dropped attempt comes over the winning connection
      assert Raw.await_reply(r, tag, 5_000) == :queued
      assert Raw.call_echo(r, :over_incoming) == :over_incoming
      assert_single_up(c, fake.name, "incoming")
    end

    test "the peer's name sorts after ours: it answers nok, then its own attempt takes over", %{c: c} do
      {fake, out, tag} = crossing(c, unique_name("zz"))
      mark = log_mark(c)
      :ok = Raw.send_hs(out, "snok")
      Raw.close(out)
      # the cnode has read the nok (its log says so, at some level) before our attempt arrives
      wait_log(c, &(&1 =~ fake.name and &1 =~ "nok"), 3_000, after: mark)

      r = Raw.open(c, name: fake.name, creation: @creation)
      :ok = Raw.send_hs(r, Raw.name_msg(r))
      assert Raw.recv_status!(r) in ["ok", "ok_simultaneous"]
      {r, ch} = Raw.read_challenge!(r)
      r = Raw.reply_and_ack!(r, ch)
      # the reply queued before the nok is not lost
      assert Raw.await_reply(r, tag, 5_000) == :queued
      assert Raw.call_echo(r, :after_nok) == :after_nok
      assert_single_up(c, fake.name, "incoming")
    end

    test "the peer's name sorts before ours: we answer nok, and our own attempt wins", %{c: c} do
      {fake, out, tag} = crossing(c, unique_name("a"))
      r = Raw.open(c, name: fake.name, creation: @creation)
      :ok = Raw.send_hs(r, Raw.name_msg(r))
      assert Raw.recv_status!(r) == "nok"
      Raw.assert_closed(r, 3_000, "the cnode to close the losing attempt")
      # as BEAM does when its own attempt loses: ok_simultaneous to the winner
      out = Raw.accept_handshake!(out, "ok_simultaneous")
      assert Raw.await_reply(out, tag, 5_000) == :queued
      assert Raw.call_echo(out, :over_outgoing) == :over_outgoing
      assert_single_up(c, fake.name, "outgoing")
    end

    test "a nok whose winning attempt never comes: the cnode gives up, and dials again later", %{c: c} do
      {fake, out, _tag} = crossing(c, unique_name("zz"))
      mark = log_mark(c)
      :ok = Raw.send_hs(out, "snok")
      Raw.close(out)
      wait_log(c, "connection attempt to #{fake.name} failed", 5_000, after: mark)
      refute_log(c, "connection up: #{fake.name}")

      # the next reply to that node makes a new attempt, which succeeds
      pid = Raw.pid(%Raw{name: fake.name, creation: @creation})
      tag2 = make_ref()
      send({:echo, c.node}, {:"$gen_call", {pid, tag2}, :second})
      out2 = Raw.accept!(fake, c, @creation)
      out2 = Raw.accept_handshake!(out2, "ok")
      assert Raw.await_reply(out2, tag2, 5_000) == :second
      assert_single_up(c, fake.name, "outgoing")
    end
  end
end
