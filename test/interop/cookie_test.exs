# Cookies: a wrong cookie is refused on both sides and logged by cnoded; the right one works.
CnodeTest.watchdog(180, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.CookieTest do
  use ExUnit.Case
  import CnodeTest

  # the line cnoded logs when a peer fails the cookie check
  defp refusal?(line), do: line =~ "refused" and line =~ "wrong cookie"

  test "connecting with a wrong cookie gives false, cnoded logs the refusal and keeps serving" do
    c = start_cnode()
    Node.set_cookie(c.node, :definitely_wrong_cookie)

    assert connect(c.node) == false
    refute c.node in Node.list(:connected)
    line = wait_log(c, &refusal?/1, 5_000, what: "cnoded's wrong-cookie refusal")
    assert line =~ "#{node()}", "the refusal should name the peer: #{line}"

    # a peer with the right cookie is still served (a peer not connected to us, so that only
    # the peer and the cnode are involved)
    p = start_peer(connection: :standard_io)
    assert peer_call(p, :net_adm, :ping, [c.node]) == :pong
    assert peer_call(p, :gen_server, :call, [{:echo, c.node}, {:hi, 1}, 5_000]) == {:hi, 1}
    refute c.node in Node.list(:connected)
  end

  test "a cnode with another cookie cannot be connected to, and logs the refusal" do
    c = start_cnode(cookie: "some_other_cookie")
    assert connect(c.node) == false
    refute c.node in Node.list(:connected)
    wait_log(c, &refusal?/1, 5_000, what: "cnoded's wrong-cookie refusal")
    # still alive and refusing: a second attempt fails the same way
    mark = log_mark(c)
    assert connect(c.node) == false
    wait_log(c, &refusal?/1, 5_000, after: mark, what: "a second refusal")
    assert exit_status(c) == nil
  end

  test "a cnode with another cookie that dials us (--connect) does not get in" do
    :ok = :net_kernel.monitor_nodes(true, node_type: :all)
    c = start_cnode(cookie: "some_other_cookie", args: ["--connect", node()])
    n = c.node
    refute_receive {:nodeup, ^n, _}, 3_000
    refute n in Node.list(:connected)
    refute_log(c, "connection up:")
    assert exit_status(c) == nil
  end

  test "a cnode with another cookie serves peers that use its cookie" do
    c = start_cnode(cookie: "cnode_only_cookie")
    p = start_peer(cookie: "cnode_only_cookie")

    assert peer_call(p, :net_kernel, :connect_node, [c.node]) == true
    assert c.node in peer_call(p, :erlang, :nodes, [])
    assert peer_call(p, :net_adm, :ping, [c.node]) == :pong
    assert peer_call(p, :gen_server, :call, [{:echo, c.node}, "hello", 5_000]) == "hello"
    wait_log(c, "connection up: #{p.node}")

    # ... while we, with our cookie, are refused
    assert connect(c.node) == false
    wait_log(c, &refusal?/1, 5_000, what: "cnoded's wrong-cookie refusal")
    # and the peer's connection was not disturbed by that
    assert c.node in peer_call(p, :erlang, :nodes, [])
    assert peer_call(p, :gen_server, :call, [{:echo, c.node}, :still, 5_000]) == :still
  end

  test "a per-node cookie set with Node.set_cookie/2 lets us in" do
    c = start_cnode(cookie: "per_node_cookie")
    Node.set_cookie(c.node, :per_node_cookie)
    assert connect(c.node) == true
    assert echo(c, {:with, :per_node_cookie}) == {:with, :per_node_cookie}
    refute_log(c, "refused")
  end
end
