# A process on the cnode that sends to a node it is not connected to makes the cnode connect, as
# on the BEAM (auto-connect). The echo worker's reply to a caller on such a node is that send.
#
#   runner A --- cnode C         A asks echo on C to reply to P, a process on B;
#       \                        C has never been connected to B, so it must dial B
#        B (hidden, connected to A only)
CnodeTest.watchdog(180, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.AutoconnectTest do
  use ExUnit.Case
  import CnodeTest

  # A process on B that forwards the first message it receives to `parent` (this test process).
  defp spawn_forwarder(b) do
    peer_eval(
      b,
      """
      spawn(fun() ->
                receive M -> Parent ! {forwarded, self(), M}
                after 30000 -> Parent ! {forwarder_gave_up, self()}
                end
            end).
      """,
      10_000,
      Parent: self()
    )
  end

  defp connected_to?(b, node), do: node in peer_call(b, :erlang, :nodes, [:connected])

  test "echo's reply to a pid on a node the cnode never saw makes the cnode dial that node" do
    b = start_peer(hidden: true)
    c = start_cnode()
    connect!(c)
    assert c.node in Node.list()

    # B is connected to A only
    assert node() in peer_call(b, :erlang, :nodes, [:connected])
    refute connected_to?(b, c.node)
    refute_log(c, b.node |> Atom.to_string())

    p = spawn_forwarder(b)
    assert node(p) == b.node
    mark = log_mark(c)

    tag = make_ref()
    send({:echo, c.node}, {:"$gen_call", {p, tag}, :hello})

    receive do
      {:forwarded, ^p, msg} ->
        assert msg == {tag, :hello}, "P on B received #{inspect(msg)}"

      {:forwarder_gave_up, ^p} ->
        flunk("P on B never received the reply\n  cnoded log:\n#{log_text(c)}")
    after
      15_000 -> flunk("no word from P on B within 15 s\n  cnoded log:\n#{log_text(c)}")
    end

    line = wait_log(c, "connection up: #{b.node}", 5_000, after: mark)
    assert line =~ "outgoing", "expected an outgoing connection, got: #{line}"
    # B is hidden, so the connection is hidden on both sides
    assert line =~ "hidden", "expected a hidden connection, got: #{line}"
    assert c.node in peer_call(b, :erlang, :nodes, [:hidden])
    refute c.node in peer_call(b, :erlang, :nodes, [])

    # the connection is a normal one: B can now call the cnode directly, and A still can
    assert peer_call(b, :gen_server, :call, [{:echo, c.node}, :from_b, 5_000]) == :from_b
    assert peer_call(b, :net_adm, :ping, [c.node]) == :pong
    assert echo(c, :from_a) == :from_a
    assert length(log_lines(c, "connection up: #{b.node}")) == 1
    refute_log(c, "connection down: #{b.node}")
  end

  test "messages sent while the connection is being set up are all delivered, in order" do
    b = start_peer(hidden: true)
    c = start_cnode()
    connect!(c)
    refute connected_to?(b, c.node)

    # a collector on B that forwards every message it receives, in order
    p =
      peer_eval(
        b,
        """
        spawn(fun() ->
                  Loop = fun L() ->
                             receive M -> Parent ! {forwarded, self(), M}, L()
                             after 30000 -> ok
                             end
                         end,
                  Loop()
              end).
        """,
        10_000,
        Parent: self()
      )

    # a burst of calls whose replies all go to P: the first starts the dial, the others are
    # queued behind it on the pending connection
    tags = for i <- 1..50, do: {i, make_ref()}
    for {i, tag} <- tags, do: send({:echo, c.node}, {:"$gen_call", {p, tag}, {:n, i}})

    got =
      for _ <- tags do
        receive do
          {:forwarded, ^p, msg} -> msg
        after
          15_000 -> flunk("P on B stopped receiving replies\n  cnoded log:\n#{log_text(c)}")
        end
      end

    assert got == Enum.map(tags, fn {i, tag} -> {tag, {:n, i}} end)
    assert length(log_lines(c, "connection up: #{b.node}")) == 1
  end

  test "a reply to a node that does not exist is dropped; the cnode goes on serving" do
    c = start_cnode()
    connect!(c)
    # a pid of a node name nobody has registered
    ghost = "ghost#{System.unique_integer([:positive])}@#{host()}"
    p = :erlang.binary_to_term(<<131, 88, 119, byte_size(ghost), ghost::binary, 1::32, 0::32, 7::32>>)
    mark = log_mark(c)
    send({:echo, c.node}, {:"$gen_call", {p, make_ref()}, :to_nowhere})
    wait_log(c, ~r/connection attempt to #{ghost} failed/, 10_000, after: mark)
    assert echo(c, :still_here) == :still_here
    assert ping(c.node) == :pong
  end
end
