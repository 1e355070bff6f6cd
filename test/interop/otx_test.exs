# The send side's atom cache and fragments (cnode/dist/otx.c), seen on the wire by a raw peer
# that offers what a BEAM node offers, and end to end with real BEAM nodes.
CnodeTest.watchdog(200, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.OtxTest do
  use ExUnit.Case
  import Bitwise
  import CnodeTest
  alias CnodeTest.Raw

  setup do
    %{c: start_cnode()}
  end

  # the next non-tick frame body, straight from the socket (no cache resolution)
  # The next frame as sent, skipping ticks and what the cnode's services send to names (pg's
  # discover, global's init_connect greet every visible node).
  defp raw_body(r) do
    {:ok, <<len::32>>} = :gen_tcp.recv(r.sock, 4, 5_000)

    if len == 0 do
      raw_body(r)
    else
      {:ok, b} = :gen_tcp.recv(r.sock, len, 5_000)
      if Raw.to_name?(r, b), do: raw_body(r), else: b
    end
  end

  # {number of refs, how many are new entries}
  defp refs(<<131, 68, 0, _::binary>>), do: {0, 0}

  defp refs(<<131, 68, n, rest::binary>>) do
    fl = binary_part(rest, 0, div(n, 2) + 1)
    new = Enum.count(0..(n - 1), fn i -> ((:binary.at(fl, div(i, 2)) >>> (rem(i, 2) * 4)) &&& 8) != 0 end)
    {n, new}
  end

  test "replies name atoms once per connection, then refer to them", %{c: c} do
    r = Raw.handshake!(c)
    for k <- 1..3 do
      :ok = Raw.send_frame(r, Raw.gen_call_frame(r, :echo, {:hello, k}, make_ref()))
      body = raw_body(r)
      {n, new} = refs(body)
      # the reply's control and tag carry both node names (pids, the reference)
      assert n >= 2, "reply #{k}: #{n} cache refs in #{inspect(body, limit: 40)}"
      # (the first reply may refer to atoms a service's greeting already defined)
      if k > 1, do: assert(new == 0, "reply #{k} re-sent #{new} atoms")
    end
  end

  test "a 300 kB reply comes as 131,69/70 fragments of 64 KiB, ids counting down", %{c: c} do
    r = Raw.handshake!(c)
    bin = :crypto.strong_rand_bytes(300_000)
    :ok = Raw.send_frame(r, Raw.gen_call_frame(r, :echo, bin, make_ref()))
    <<131, 69, seq::64, n::64, _::binary>> = first = raw_body(r)
    assert n == 5
    rest = for i <- (n - 1)..1//-1, do: (<<131, 70, ^seq::64, ^i::64, b::binary>> = raw_body(r); b)
    assert Enum.all?(rest, &(byte_size(&1) <= 65_536))
    assert byte_size(first) > 65_536 and byte_size(first) < 65_536 + 400
    # the payload's end is the binary's end
    assert binary_part(List.last(rest), byte_size(List.last(rest)), -100) == binary_part(bin, 300_000, -100)
  end

  test "sends to 3000 registered names (more than the cache's 2048 slots), twice", %{c: c} do
    connect!(c)
    me = self()
    names = for i <- 1..3_000, do: :"otx_name_#{System.unique_integer([:positive])}_#{i}"
    # each name forwards what it gets to us, tagged with the name it was sent to
    procs =
      for n <- names do
        pid = spawn_link(fn -> fwd(me, n) end)
        true = Process.register(pid, n)
        pid
      end
    pr = probe(c)
    # REG_SEND control messages carry the name: 3000 atoms churn through the cache
    for round <- 1..2, n <- names, do: :ok = pcall(pr, {:send, n, node(), {:m, round, n}})
    for round <- 1..2, n <- names, do: assert_receive({^n, {:m, ^round, ^n}}, 10_000)
    Enum.each(procs, &send(&1, :stop))
  end

  defp fwd(me, n) do
    receive do
      :stop -> :ok
      m -> send(me, {n, m}); fwd(me, n)
    end
  end

  defp probe(c) do
    pid = Node.spawn(c.node, :probe, :start, [self()])
    assert is_pid(pid) and node(pid) == c.node
    pid
  end

  defp pcall(probe, req), do: GenServer.call(probe, req, 5_000)

  test "BEAM nodes on both ends: large messages both ways between small calls", %{c: c} do
    connect!(c)
    me = self()
    pids =
      for k <- 1..4 do
        spawn_link(fn ->
          b = :crypto.strong_rand_bytes(1_000_000 + k)
          for _ <- 1..3, do: (^b = GenServer.call({:echo, c.node}, b, 30_000))
          send(me, {:big_done, k})
        end)
      end
    for i <- 1..200, do: assert(echo(c, {:small, i}) == {:small, i})
    for k <- 1..4, do: assert_receive({:big_done, ^k}, 30_000)
    assert length(pids) == 4
  end
end
