# cnoded connecting out (--connect), and noticing when the node it dialled dies.
#
# A C process sending to a node that is not connected makes cnoded connect to it (PRODUCT.md
# "connections are made in both directions"): see autoconnect_test.exs.
CnodeTest.watchdog(180, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.DialTest do
  use ExUnit.Case
  import CnodeTest

  # Peers here talk to us through stdio, not distribution, so that only the peer and the cnode
  # are connected to each other.

  test "--connect PEER: the peer sees the cnode and can call it" do
    p = start_peer(connection: :standard_io)
    c = start_cnode(args: ["--connect", p.node])

    wait_log(c, "connection up: #{p.node}", 10_000)
    eventually(fn -> c.node in peer_call(p, :erlang, :nodes, []) end, 10_000, what: "the peer to list the cnode")
    assert peer_call(p, :gen_server, :call, [{:echo, c.node}, {:from, p.node}, 5_000]) == {:from, p.node}
    assert peer_call(p, :net_adm, :ping, [c.node]) == :pong
  end

  test "--connect us: we get nodeup and the cnode in Node.list" do
    :ok = :net_kernel.monitor_nodes(true)
    c = start_cnode(args: ["--connect", node()])
    n = c.node
    assert_receive {:nodeup, ^n}, 10_000
    assert n in Node.list()
    assert echo(c, :dialled) == :dialled
  end

  test "a peer killed with -9 is noticed, and a new peer with the same name gets in" do
    p = start_peer(connection: :standard_io)
    c = start_cnode(args: ["--connect", p.node])
    wait_log(c, "connection up: #{p.node}", 10_000)

    mark = log_mark(c)
    kill9(p)
    wait_log(c, "connection down: #{p.node}", 10_000, after: mark)

    # same node name again: the stale connection must not stand in the way
    p2 = start_peer(name: p.name, connection: :standard_io)
    assert p2.node == p.node
    assert peer_call(p2, :net_adm, :ping, [c.node]) == :pong
    assert peer_call(p2, :gen_server, :call, [{:echo, c.node}, :second_life, 5_000]) == :second_life
    wait_log(c, "connection up: #{p.node}", 5_000, after: mark)
    assert exit_status(c) == nil
  end

  test "a --connect target that does not exist does not stop the cnode" do
    c = start_cnode(args: ["--connect", "#{unique_name("nobody")}@#{host()}"])
    assert ping(c.node) == :pong
    assert echo(c, :alive) == :alive
  end
end
