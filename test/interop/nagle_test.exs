# A peer that leaves Nagle on (`-kernel dist_nodelay false`) holds each small write until the
# last one is acknowledged. Reads the cnode does not answer (a monitor, a demonitor) would
# then be acknowledged only by the kernel's delayed ACK, 40 ms later, and a call would take
# 40-80 ms. The cnode recognises such a peer (README "Architecture", ack mode) and
# acknowledges at once; a peer with the default (no Nagle) is never put in that mode.
# cnode:info/0 counts each connection's quick_acks.
CnodeTest.watchdog(200, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.NagleTest do
  use ExUnit.Case
  import CnodeTest

  setup do
    %{c: connect!(start_cnode())}
  end

  defp quick_acks(c, node) do
    info = :erpc.call(c.node, :cnode, :info, [], 10_000)
    [conn] = Enum.filter(info.connections, &(&1.node == node))
    conn.quick_acks
  end

  # On peer p: n processes making k calls each to echo on the cnode; {ms, calls answered}.
  defp calls(p, c, n, k) do
    peer_eval(
      p,
      """
      T0 = erlang:monotonic_time(millisecond),
      Me = self(),
      Ps = [spawn_link(fun() ->
                  Ok = length([ok || I <- lists:seq(1, K),
                                     gen_server:call({echo, C}, {I, x}, 60000) =:= {I, x}]),
                  Me ! {done, self(), Ok}
              end) || _ <- lists:seq(1, N)],
      Oks = [receive {done, P, Ok} -> Ok end || P <- Ps],
      {erlang:monotonic_time(millisecond) - T0, lists:sum(Oks)}.
      """,
      120_000,
      C: c.node,
      N: n,
      K: k
    )
  end

  test "64 callers on a Nagle peer: calls do not wait for delayed ACKs", %{c: c} do
    p = start_peer(prefix: "nagle", args: ["-kernel", "dist_nodelay", "false"])
    {ms, ok} = calls(p, c, 64, 800)
    assert ok == 64 * 800
    # waiting for delayed ACKs, 51 200 calls took 17 s (3 000 calls/s); now ~0.6 s
    assert ms < 8_000, "#{ok} calls in #{ms} ms"
    assert quick_acks(c, p.node) > 0
  end

  test "one caller at a time on a Nagle peer", %{c: c} do
    p = start_peer(prefix: "nagle", args: ["-kernel", "dist_nodelay", "false"])
    {ms, ok} = calls(p, c, 1, 400)
    assert ok == 400
    # 40 ms per call before (400 calls: 17 s); now two short waits per call
    assert ms < 8_000, "#{ok} calls in #{ms} ms"
    assert quick_acks(c, p.node) > 0
  end

  test "a peer with the default (no Nagle) is never put in ack mode", %{c: c} do
    p = start_peer(prefix: "plain")
    {_, ok} = calls(p, c, 64, 200)
    assert ok == 64 * 200
    {_, ok} = calls(p, c, 1, 2_000)
    assert ok == 2_000
    assert quick_acks(c, p.node) == 0
  end
end
