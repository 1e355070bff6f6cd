# Hostile input from the network: a raw client (CnodeTest.Raw, :gen_tcp) sends what no BEAM node
# would. Every case runs on a fresh connection with its own fake node name; the cnode must refuse
# it cleanly (close the connection, or log and drop a message it does not know) and go on serving:
# after each case a normal BEAM client (this runner) still gets :pong and an echo reply, and the
# cnode's OS process is alive.
CnodeTest.watchdog(240, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.HostileTest do
  use ExUnit.Case
  import Bitwise
  import CnodeTest
  alias CnodeTest.Raw

  @hs_timeout 1_000

  setup do
    %{c: start_cnode(args: ["--handshake-timeout", "#{@hs_timeout}"])}
  end

  # the cnode still serves a normal BEAM client, and its OS process is alive
  defp assert_serving(c, label) do
    assert exit_status(c) == nil, "cnoded exited after #{label}\n  cnoded log:\n#{log_text(c)}"
    assert os_alive?(c.os_pid), "cnoded's OS process is gone after #{label}"
    assert ping(c.node) == :pong, "no :pong after #{label}\n  cnoded log:\n#{log_text(c)}"
    assert echo(c, {:after, label}) == {:after, label}
  end

  # a fresh raw connection that completed the handshake, checked to be usable
  defp good!(c, opts \\ []), do: Raw.handshake!(c, opts)

  # send `body` as one frame after a good handshake; the cnode must close the connection
  defp frame_closes(c, label, body, log_pattern \\ nil) do
    r = good!(c)
    mark = log_mark(c)
    _ = Raw.send_frame(r, body)
    Raw.assert_closed(r, 3_000, "the cnode to close the connection after #{label}")
    wait_log(c, "connection down: #{r.name}", 3_000, after: mark)
    if log_pattern, do: wait_log(c, log_pattern, 3_000, after: mark)
    assert_serving(c, label)
    r
  end

  defp rand_bytes(n), do: :crypto.strong_rand_bytes(n)

  # read until the peer closes (bounded), then close
  defp drain(s) do
    case :gen_tcp.recv(s, 0, 5_000) do
      {:ok, _} -> drain(s)
      _ -> :gen_tcp.close(s)
    end
  end

  describe "before the handshake" do
    test "a client that sends nothing is closed after the handshake timeout, and it is logged", %{c: c} do
      mark = log_mark(c)
      r = Raw.open(c)
      {got, ms} = Raw.assert_closed(r, 3_000, "the handshake timeout (#{@hs_timeout} ms) to close the connection")
      assert got == <<>>
      assert ms >= @hs_timeout - 100, "closed after #{ms} ms, before the handshake timeout"
      wait_log(c, "handshake timeout", 2_000, after: mark)
      IO.puts("    closed after #{ms} ms (--handshake-timeout #{@hs_timeout})")
      assert_serving(c, "a silent client")
    end

    test "garbage instead of send_name is refused", %{c: c} do
      cases = [
        {"random bytes (1)", rand_bytes(1 + :rand.uniform(200))},
        {"random bytes (2)", rand_bytes(1 + :rand.uniform(200))},
        {"random bytes (3)", rand_bytes(4096)},
        {"a length of 65535 followed by little data", <<65535::16, "abc">>},
        {"a length-0 message", <<0::16>>},
        {"a length-0 message followed by a good name", <<0::16>> <> <<5::16, "Nxxxx">>},
        {"an unknown tag", <<5::16, "Xabcd">>},
        {"a 'p' frame", <<4::16, 112, 131, 106, 106>>},
        {"an 'a' where the name should be", <<17::16, ?a, 0::128>>},
        {"a 4-byte length prefix", <<0, 0, 0, 20, ?N, 0::64, 1::32, 3::16, "a@b">>}
      ]

      for {label, bytes} <- cases do
        r = Raw.open(c)
        mark = log_mark(c)
        _ = Raw.send_bytes(r, bytes)
        {got, _ms} = Raw.assert_closed(r, 3_000, "the cnode to close the connection after #{label}")
        refute match?(<<_::16, ?N, _::binary>>, got), "#{label}: the cnode answered with a challenge"
        wait_log(c, "incoming connection closed during handshake", 3_000, after: mark)
        assert_serving(c, label)
      end
    end

    test "malformed send_name messages are refused", %{c: c} do
      host = host()

      cases = [
        {"a name without @", fn r -> <<?N, Raw.beam_flags()::64, r.creation::32, 6::16, "nohost">> end, nil},
        {"an empty alive part", fn r -> <<?N, Raw.beam_flags()::64, r.creation::32, byte_size("@" <> host)::16, "@", host::binary>> end, nil},
        {"an empty host part", fn r -> <<?N, Raw.beam_flags()::64, r.creation::32, 5::16, "abcd@">> end, nil},
        {"two @", fn r -> <<?N, Raw.beam_flags()::64, r.creation::32, 5::16, "a@b@c">> end, nil},
        {"a name with a NUL byte", fn r -> <<?N, Raw.beam_flags()::64, r.creation::32, 5::16, "a", 0, "@bc">> end, nil},
        {"a name longer than 255 bytes", fn r -> n = String.duplicate("x", 300) <> "@" <> host; <<?N, Raw.beam_flags()::64, r.creation::32, byte_size(n)::16, n::binary>> end, nil},
        {"a name length past the end", fn r -> <<?N, Raw.beam_flags()::64, r.creation::32, 200::16, r.name::binary>> end, nil},
        {"flags without the mandatory set", fn r -> <<?N, 1::64, r.creation::32, byte_size(r.name)::16, r.name::binary>> end, "snot_allowed"},
        {"an old 'n' name without HANDSHAKE_23", fn r -> <<?n, 5::16, 0x0007FFFF::32, r.name::binary>> end, "snot_allowed"},
        {"NAME_ME with a full name", fn r -> <<?N, Raw.beam_flags() ||| (1 <<< 33)::64, 0::32, byte_size(r.name)::16, r.name::binary>> end, nil},
        {"the cnode's own name", fn r -> n = Atom.to_string(r.cnode.node); <<?N, Raw.beam_flags()::64, r.creation::32, byte_size(n)::16, n::binary>> end, "snot_allowed"}
      ]

      for {label, msg, answer} <- cases do
        r = Raw.open(c)
        mark = log_mark(c)
        _ = Raw.send_hs(r, msg.(r))
        {got, _ms} = Raw.assert_closed(r, 3_000, "the cnode to close the connection after #{label}")

        if answer do
          assert got == <<byte_size(answer)::16, answer::binary>>, "#{label}: the cnode answered #{inspect(got)}"
        else
          refute match?(<<_::16, ?s, "ok", _::binary>>, got), "#{label}: the cnode accepted it (#{inspect(got)})"
        end

        wait_log(c, ~r/(connection attempt from|incoming connection closed during handshake)/, 3_000, after: mark)
        assert_serving(c, label)
      end
    end

    test "handshakes cut short at several points, then closed by the client", %{c: c} do
      steps = [
        {"one byte of the length prefix", fn r -> Raw.send_bytes(r, <<0>>) end},
        {"half of send_name", fn r -> m = Raw.name_msg(r); Raw.send_bytes(r, [<<byte_size(m)::16>>, binary_part(m, 0, 8)]) end},
        {"send_name without its last byte", fn r -> m = Raw.name_msg(r); Raw.send_bytes(r, [<<byte_size(m)::16>>, binary_part(m, 0, byte_size(m) - 1)]) end},
        {"send_name, then nothing", fn r -> Raw.to_challenge!(r) end},
        {"send_name, then half of the challenge reply", fn r ->
           {r, ch} = Raw.to_challenge!(r)
           Raw.send_bytes(r, [<<21::16>>, binary_part(Raw.reply_msg(r, ch, 42), 0, 10)])
         end},
        {"send_name, then only the reply's length prefix", fn r -> {r, _} = Raw.to_challenge!(r); Raw.send_bytes(r, <<21::16>>) end}
      ]

      for {label, step} <- steps do
        r = Raw.open(c)
        mark = log_mark(c)
        step.(r)
        # give the cnode the bytes before we go
        Process.sleep(50)
        Raw.close(r)
        wait_log(c, "closed by peer", 3_000, after: mark, what: "the cnode to log the close after #{label}")
        assert_serving(c, label)
        # a name that got as far as the connection table is free again
        r2 = good!(c, name: r.name)
        assert Raw.call_echo(r2, {:again, label}) == {:again, label}
        Raw.close(r2)
      end
    end

    test "truncated or oversized handshake messages (correctly framed) are refused", %{c: c} do
      steps = [
        {"a 10-byte send_name", fn r -> Raw.send_hs(r, binary_part(Raw.name_msg(r), 0, 10)) end},
        {"a 1-byte send_name", fn r -> Raw.send_hs(r, "N") end},
        {"a 10-byte challenge reply", fn r ->
           {r, ch} = Raw.to_challenge!(r)
           Raw.send_hs(r, binary_part(Raw.reply_msg(r, ch, 7), 0, 10))
         end},
        {"a 22-byte challenge reply", fn r ->
           {r, ch} = Raw.to_challenge!(r)
           Raw.send_hs(r, Raw.reply_msg(r, ch, 7) <> <<0>>)
         end},
        {"a second send_name instead of the reply", fn r -> {r, _} = Raw.to_challenge!(r); Raw.send_hs(r, Raw.name_msg(r)) end},
        {"an empty message instead of the reply", fn r -> {r, _} = Raw.to_challenge!(r); Raw.send_bytes(r, <<0::16>>) end},
        {"a complement 'c' that was not expected", fn r -> {r, _} = Raw.to_challenge!(r); Raw.send_hs(r, <<?c, 0::32, 5::32>>) end}
      ]

      for {label, step} <- steps do
        r = Raw.open(c)
        mark = log_mark(c)
        step.(r)
        {got, _} = Raw.assert_closed(r, 3_000, "the cnode to close the connection after #{label}")
        refute match?(<<17::16, ?a, _::binary>>, got), "#{label}: the cnode sent a challenge ack"
        wait_log(c, ~r/(connection attempt from|incoming connection closed during handshake)/, 3_000, after: mark)
        assert_serving(c, label)
      end
    end

    test "a wrong digest in the challenge reply: closed, no challenge ack", %{c: c} do
      r = Raw.open(c)
      mark = log_mark(c)
      {r, challenge} = Raw.to_challenge!(r)
      wrong = %{r | cookie: r.cookie <> "x"}
      :ok = Raw.send_hs(r, Raw.reply_msg(wrong, challenge, 12345))
      {got, _} = Raw.assert_closed(r, 3_000, "the cnode to close the connection after a wrong digest")
      assert got == <<>>, "the cnode sent #{inspect(got)} after a wrong digest (no 'a' expected)"
      wait_log(c, "invalid challenge reply", 3_000, after: mark)
      assert_serving(c, "a wrong digest")

      # the right digest for another challenge: also wrong
      r = Raw.open(c)
      {r, challenge} = Raw.to_challenge!(r)
      :ok = Raw.send_hs(r, Raw.reply_msg(r, bxor(challenge, 1), 1))
      assert {<<>>, _} = Raw.assert_closed(r, 3_000, "the cnode to close the connection after a stale digest")

      # and the name is not stuck: the same name now gets in with the right cookie
      r2 = good!(c, name: r.name)
      assert Raw.call_echo(r2, :in) == :in
      assert_serving(c, "a wrong digest, then a good handshake with the same name")
    end
  end

  describe "impersonation and exhaustion" do
    test "an attempt under the name of a connected node cannot take its place without the cookie", %{c: c} do
      :ok = :net_kernel.monitor_nodes(true)
      connect!(c)
      n = c.node
      assert_receive {:nodeup, ^n}, 5_000
      wait_log(c, "connection up: #{node()}")
      mark = log_mark(c)

      # 'alive', we insist ('true'), then a wrong digest
      r = Raw.open(c, name: Atom.to_string(node()))
      :ok = Raw.send_hs(r, Raw.name_msg(r))
      assert Raw.recv_hs(r) == {:ok, "salive"}
      :ok = Raw.send_hs(r, "strue")
      {:ok, <<?N, _flags::64, challenge::32, _::binary>>} = Raw.recv_hs(r)
      :ok = Raw.send_hs(r, Raw.reply_msg(%{r | cookie: "not_the_cookie"}, challenge, 1))
      assert {<<>>, _} = Raw.assert_closed(r, 3_000, "the cnode to refuse the impostor")

      # 'alive', and we give up ('false')
      r = Raw.open(c, name: Atom.to_string(node()))
      :ok = Raw.send_hs(r, Raw.name_msg(r))
      assert Raw.recv_hs(r) == {:ok, "salive"}
      :ok = Raw.send_hs(r, "sfalse")
      Raw.assert_closed(r, 3_000)

      # 'alive', then silence until the handshake timeout
      r = Raw.open(c, name: Atom.to_string(node()))
      :ok = Raw.send_hs(r, Raw.name_msg(r))
      assert Raw.recv_hs(r) == {:ok, "salive"}
      Raw.assert_closed(r, 3_000)

      refute_receive {:nodedown, ^n}, 200
      refute_log(c, "connection down: #{node()}", after: mark)
      assert echo(c, :still_me) == :still_me
      assert_serving(c, "impostors")
    end

    test "unauthenticated attempts with 70_000 made-up names do not lock new nodes out", %{c: c} do
      # Each attempt only sends a name and reads the status; none knows the cookie. A node that
      # has never been connected (this runner) must still get in afterwards.
      port = Raw.port!(c)
      flags = Raw.beam_flags()
      t0 = System.monotonic_time(:millisecond)

      statuses =
        0..31
        |> Enum.map(fn w ->
          Task.async(fn ->
            Enum.reduce(0..2199, %{}, fn i, acc ->
              name = "flood#{w}_#{i}@nohost"
              {:ok, s} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false, packet: 2], 5_000)
              :ok = :gen_tcp.send(s, <<?N, flags::64, 5::32, byte_size(name)::16, name::binary>>)
              st = with {:ok, st} <- :gen_tcp.recv(s, 0, 5_000), do: st
              # an empty message makes the cnode close first (so that the TIME_WAIT sockets are
              # on its side, and this side does not run out of ports)
              _ = :gen_tcp.send(s, <<>>)
              drain(s)
              Map.update(acc, st, 1, &(&1 + 1))
            end)
          end)
        end)
        |> Task.await_many(60_000)
        |> Enum.reduce(%{}, &Map.merge(&1, &2, fn _, a, b -> a + b end))

      IO.puts("    70_400 attempts in #{System.monotonic_time(:millisecond) - t0} ms, statuses #{inspect(statuses)}")

      # this runner has never been connected to the cnode: it is the new node that must get in
      refute c.node in Node.list()
      mark = log_mark(c)

      case connect(c.node) do
        true ->
          :ok

        other ->
          Process.sleep(200)

          flunk(
            "a node never seen before can no longer connect (Node.connect returned #{inspect(other)}) after " <>
              "70_400 unauthenticated attempts with distinct names (answered #{inspect(statuses)}); cnoded says:\n" <>
              Enum.join(log_lines(c, Atom.to_string(node()), after: mark), "\n")
          )
      end

      assert_serving(c, "70_000 unauthenticated attempts with distinct names")
    end
  end

  describe "after a good handshake" do
    test "the raw client itself works: its calls to echo are answered", %{c: c} do
      r = good!(c)
      wait_log(c, "connection up: #{r.name}")
      for i <- 1..20, do: assert(Raw.call_echo(r, {:raw, i, "x"}) == {:raw, i, "x"})
      Raw.assert_open(r)
      assert_serving(c, "raw calls")
    end

    test "an oversize frame length (0xFFFFFFF0) closes the connection", %{c: c} do
      for len <- [0xFFFFFFF0, 0x7FFFFFFF] do
        r = good!(c)
        mark = log_mark(c)
        _ = Raw.send_bytes(r, <<len::32, "just a few bytes">>)
        Raw.assert_closed(r, 3_000, "the cnode to close the connection after a frame length of #{len}")
        wait_log(c, "larger than the limit", 3_000, after: mark)
        wait_log(c, "connection down: #{r.name}", 3_000, after: mark)
        assert_serving(c, "a frame length of #{len}")
      end
    end

    test "frames of random garbage close the connection", %{c: c} do
      for i <- 1..8 do
        junk = rand_bytes(1 + :rand.uniform(300))
        # half of them start like a normal header, so that the header parser gets the rest
        junk = if rem(i, 2) == 0, do: <<131, 68>> <> junk, else: <<bxor(131, 1 + :rand.uniform(254))>> <> junk
        frame_closes(c, "garbage frame #{i} (#{inspect(binary_part(junk, 0, min(4, byte_size(junk))))}...)", junk)
      end
    end

    test "malformed control terms close the connection", %{c: c} do
      ok_ctl = Raw.enc({6, :erlang.list_to_pid(~c"<0.1.0>"), :"", :echo})

      cases = [
        {"a truncated tuple", <<131, 68, 0, 104, 3, 97, 6>>},
        {"a tuple arity past the end", <<131, 68, 0, 104, 200, 97, 6, 106>>},
        {"an unknown tag", <<131, 68, 0, 255, 1, 2, 3>>},
        {"nothing after the header", <<131, 68, 0>>},
        {"a header cut short", <<131, 68>>},
        {"an unknown header type", <<131, 71, 0>> <> ok_ctl},
        {"a huge LARGE_TUPLE arity", <<131, 68, 0, 105, 0xFFFFFFFF::32, 97, 1>>},
        {"a huge list length", <<131, 68, 0, 108, 0xFFFFFFFF::32, 106>>},
        {"a huge binary length", <<131, 68, 0, 104, 2, 97, 99, 109, 0xFFFFFFFF::32, 1, 2>>},
        {"a huge map size", <<131, 68, 0, 116, 0xFFFFFFFF::32, 97, 1>>},
        {"an atom with invalid UTF-8", <<131, 68, 0, 104, 2, 97, 99, 119, 2, 0xC3, 0x28>>},
        {"a compressed term", <<131, 68, 0, 80, 0, 0, 0, 10, 1, 2, 3>>},
        {"a control term that is not a tuple", <<131, 68, 0>> <> Raw.enc(:not_a_tuple)},
        {"a tuple without an integer op", <<131, 68, 0>> <> Raw.enc({:op, 1})},
        {"an empty tuple", <<131, 68, 0>> <> Raw.enc({})},
        {"a REG_SEND without its message", <<131, 68, 0>> <> ok_ctl},
        {"a REG_SEND with bytes after the message", <<131, 68, 0>> <> ok_ctl <> Raw.enc(:msg) <> <<0>>}
      ]

      for {label, body} <- cases, do: frame_closes(c, label, body)
    end

    test "a control message with an unknown op is logged and dropped; the connection stays", %{c: c} do
      r = good!(c)
      mark = log_mark(c)
      :ok = Raw.send_frame(r, Raw.hdr_frame({99, Raw.pid(r), :whatever}))
      :ok = Raw.send_frame(r, Raw.hdr_frame({99, :with, :payload}, {:some, "payload"}))
      :ok = Raw.send_frame(r, Raw.hdr_frame({-1}))
      # the next REG_SEND on the same connection is served
      assert Raw.call_echo(r, :after_unknown_op) == :after_unknown_op
      wait_log(c, "control message 99", 2_000, after: mark)
      refute_log(c, "connection down: #{r.name}", after: mark)

      # so is a REG_SEND to a name nobody has, and a SEND to a pid that does not exist
      :ok = Raw.send_frame(r, Raw.gen_call_frame(r, :nobody_here, :x, make_ref()))
      dead = :erlang.binary_to_term(<<131, 88, 119, byte_size(Atom.to_string(c.node))>> <> Atom.to_string(c.node) <> <<77777::32, 0::32, 1::32>>)
      :ok = Raw.send_frame(r, Raw.hdr_frame({22, Raw.pid(r), dead}, :to_nobody))
      assert Raw.call_echo(r, :still_open) == :still_open
      Raw.assert_open(r)
      assert_serving(c, "unknown control ops")
    end

    test "a fragment continuation for an unknown sequence closes the connection", %{c: c} do
      frame_closes(c, "a continuation of an unknown sequence", <<131, 70, 12345::64, 1::64, 97, 1>>, "unknown sequence")
      frame_closes(c, "a truncated continuation header", <<131, 70, 1::64>>)
      frame_closes(c, "a fragment start with id 0", <<131, 69, 1::64, 0::64, 0>> <> Raw.enc({99}))
    end

    test "fragment sequences: a good one works, a broken one closes", %{c: c} do
      # a message in three fragments, as BEAM would send it
      r = good!(c)
      ref = make_ref()
      from = Raw.pid(r)
      ctl = Raw.enc({6, from, :"", :echo})
      pl = Raw.enc({:"$gen_call", {from, ref}, {:fragmented, :binary.copy("ab", 1000)}})
      <<p1::binary-size(700), p2::binary-size(700), p3::binary>> = pl
      :ok = Raw.send_frame(r, [<<131, 69, 77::64, 3::64, 0>>, ctl, p1])
      :ok = Raw.send_frame(r, [<<131, 70, 77::64, 2::64>>, p2])
      :ok = Raw.send_frame(r, [<<131, 70, 77::64, 1::64>>, p3])
      assert Raw.await_reply(r, ref, 5_000) == {:fragmented, :binary.copy("ab", 1000)}

      # fragments out of order
      r = good!(c)
      :ok = Raw.send_frame(r, [<<131, 69, 78::64, 3::64, 0>>, ctl, p1])
      _ = Raw.send_frame(r, [<<131, 70, 78::64, 1::64>>, p3])
      Raw.assert_closed(r, 3_000)
      assert_serving(c, "fragments out of order")

      # a second start of a sequence in progress
      r = good!(c)
      :ok = Raw.send_frame(r, [<<131, 69, 79::64, 3::64, 0>>, ctl, p1])
      _ = Raw.send_frame(r, [<<131, 69, 79::64, 3::64, 0>>, ctl, p1])
      Raw.assert_closed(r, 3_000)
      assert_serving(c, "a sequence started twice")

      # a reassembled payload that is not a term
      r = good!(c)
      :ok = Raw.send_frame(r, [<<131, 69, 80::64, 2::64, 0>>, ctl, <<104, 3, 97>>])
      _ = Raw.send_frame(r, [<<131, 70, 80::64, 1::64>>, <<1>>])
      Raw.assert_closed(r, 3_000)
      assert_serving(c, "a reassembled payload that is not a term")

      # more sequences in progress than the cnode keeps (64), never finished
      r = good!(c)
      for s <- 1..70, do: _ = Raw.send_frame(r, [<<131, 69, s::64, 2::64, 0>>, ctl, p1])
      Raw.assert_closed(r, 3_000, "the cnode to refuse the 65th open sequence")
      assert_serving(c, "70 unfinished fragment sequences")

      # a connection closed in the middle of a sequence
      r = good!(c)
      :ok = Raw.send_frame(r, [<<131, 69, 81::64, 3::64, 0>>, ctl, p1])
      Process.sleep(50)
      Raw.close(r)
      assert_serving(c, "a close in the middle of a fragmented message")
    end

    # 64 KiB fragments of payload pl, as BEAM sends them: [start | continuations] frame bodies
    defp fragments(seq, ctl, pl) do
      chunks = for <<ch::binary-size(65536) <- pl>>, do: ch
      rest = binary_part(pl, length(chunks) * 65536, byte_size(pl) - length(chunks) * 65536)
      chunks = if rest == "", do: chunks, else: chunks ++ [rest]
      n = length(chunks)
      [first | more] = chunks
      start = IO.iodata_to_binary([<<131, 69, seq::64, n::64, 0>>, ctl, first])
      conts = for {ch, i} <- Enum.with_index(more), do: <<131, 70, seq::64, (n - 1 - i)::64, ch::binary>>
      [start | conts]
    end

    # one frame in pieces cut at `cuts` (byte offsets in prefix + body), a pause between them
    defp send_in_pieces(r, body, cuts) do
      bin = <<byte_size(body)::32, body::binary>>
      Enum.reduce(cuts ++ [byte_size(bin)], 0, fn at, from ->
        :ok = Raw.send_bytes(r, binary_part(bin, from, at - from))
        Process.sleep(5)
        at
      end)
    end

    test "large fragments arriving in pieces are read straight into the message; bad ones are refused from their header",
         %{c: c} do
      r = good!(c)
      from = Raw.pid(r)
      ctl = Raw.enc({6, from, :"", :echo})
      big = :crypto.strong_rand_bytes(300_000)
      pl = Raw.enc({:"$gen_call", {from, make_ref()}, big})
      [start | conts] = fragments(90, ctl, pl)
      :ok = Raw.send_frame(r, start)
      # cut inside the length, inside the header, right after it, inside the body
      cuts = [[2], [10], [22], [22, 1000], [3, 21, 40_000], [65_000]]
      for {f, cut} <- Enum.zip(conts, Stream.cycle(cuts)), do: send_in_pieces(r, f, cut)
      # the reply is fragmented too: its last 300_000 bytes are the binary
      {:ok, <<131, 69, seq::64, n::64, _::binary>> = first} = Raw.recv_frame(r, 5_000)
      rest = for i <- (n - 1)..1//-1, do: (assert {:ok, <<131, 70, ^seq::64, ^i::64, b::binary>>} = Raw.recv_frame(r, 5_000); b)
      all = IO.iodata_to_binary([first | rest])
      assert binary_part(all, byte_size(all), -300_000) == big

      # a continuation with the wrong fragment id: closed on its header, its body never sent
      r = good!(c)
      mark = log_mark(c)
      [start, c1 | _] = fragments(91, ctl, pl)
      :ok = Raw.send_frame(r, start)
      <<131, 70, 91::64, fid::64, body::binary>> = c1
      :ok = Raw.send_bytes(r, <<byte_size(c1)::32, 131, 70, 91::64, fid - 1::64>> <> binary_part(body, 0, 100))
      Raw.assert_closed(r, 3_000, "the cnode to refuse a continuation with the wrong fragment id")
      wait_log(c, "expected #{fid}", 3_000, after: mark)
      assert_serving(c, "a large continuation with the wrong fragment id")

      # a continuation of another sequence, same
      r = good!(c)
      mark = log_mark(c)
      :ok = Raw.send_frame(r, start)
      :ok = Raw.send_bytes(r, <<byte_size(c1)::32, 131, 70, 92::64, fid::64>>)
      Raw.assert_closed(r, 3_000, "the cnode to refuse a continuation of an unknown sequence")
      wait_log(c, "unknown sequence", 3_000, after: mark)
      assert_serving(c, "a large continuation of an unknown sequence")

      # a sequence abandoned halfway through a continuation's body, then the connection closes
      r = good!(c)
      :ok = Raw.send_frame(r, start)
      :ok = Raw.send_bytes(r, binary_part(<<byte_size(c1)::32, c1::binary>>, 0, 30_000))
      Process.sleep(50)
      Raw.close(r)
      assert_serving(c, "a sequence abandoned halfway through a fragment")
    end

    test "a continuation taking a message past --max-message-size is refused from its header" do
      c = start_cnode(args: ["--max-message-size", "100000"])
      r = good!(c)
      mark = log_mark(c)
      from = Raw.pid(r)
      ctl = Raw.enc({6, from, :"", :echo})
      pl = Raw.enc({:"$gen_call", {from, make_ref()}, :crypto.strong_rand_bytes(200_000)})
      [start, c1 | _] = fragments(93, ctl, pl)
      :ok = Raw.send_frame(r, start)
      :ok = Raw.send_bytes(r, binary_part(<<byte_size(c1)::32, c1::binary>>, 0, 22))
      Raw.assert_closed(r, 3_000, "the cnode to refuse a continuation past the message size limit")
      wait_log(c, "larger than 100000", 3_000, after: mark)
      assert_serving(c, "a continuation past --max-message-size")
    end

    test "a payload nested 100_000 lists deep closes the connection (no crash)", %{c: c} do
      deep = Enum.reduce(1..100_000, [], fn _, acc -> [acc] end)
      r = good!(c)
      from = Raw.pid(r)
      mark = log_mark(c)
      _ = Raw.send_frame(r, Raw.hdr_frame({6, from, :"", :echo}, {:"$gen_call", {from, make_ref()}, deep}))
      Raw.assert_closed(r, 5_000, "the cnode to close the connection after a 100_000-deep term")
      wait_log(c, "connection down: #{r.name}", 3_000, after: mark)
      wait_log(c, "malformed payload term: nested deeper than 1000 levels", 3_000, after: mark)
      assert_serving(c, "a 100_000-deep payload")

      # as the control term too
      frame_closes(c, "a 100_000-deep control term", Raw.hdr_frame({6, from, deep, :echo}, :x),
        "malformed control term: nested deeper than 1000 levels")
    end

    test "a term nested 900 deep (below the limit) is still echoed over the raw connection", %{c: c} do
      nested = Enum.reduce(1..900, :bottom, fn i, acc -> [i, acc] end)
      r = good!(c)
      assert Raw.call_echo(r, nested, 10_000) == nested
      assert echo(c, nested) == nested
      assert_serving(c, "a 900-deep term")
    end

    test "atom cache refs: a valid one works; one out of range closes the connection", %{c: c} do
      # one new cache entry (segment 0, slot 5) holding 'echo': flags byte 0x08 (NewCacheEntry)
      hdr1 = <<131, 68, 1, 0x08, 5, 4, "echo">>
      r = good!(c)
      from = Raw.pid(r)
      ref = make_ref()
      # REG_SEND {6, From, '', <cache ref 0>} with the name taken from the header
      ctl = <<104, 4, 97, 6>> <> Raw.enc(from) <> Raw.enc(:"") <> <<82, 0>>
      :ok = Raw.send_frame(r, [hdr1, ctl, Raw.enc({:"$gen_call", {from, ref}, :cached})])
      assert Raw.await_reply(r, ref, 5_000) == :cached
      # the slot persists: an old entry (no NewCacheEntry bit) in a later frame
      ref = make_ref()
      :ok = Raw.send_frame(r, [<<131, 68, 1, 0x00, 5>>, ctl, Raw.enc({:"$gen_call", {from, ref}, :cached_again})])
      assert Raw.await_reply(r, ref, 5_000) == :cached_again

      bad_ctl = fn idx -> <<104, 4, 97, 6>> <> Raw.enc(from) <> Raw.enc(:"") <> <<82, idx>> end
      pl = Raw.enc({:"$gen_call", {from, make_ref()}, :x})
      frame_closes(c, "a cache ref with no refs in the header", [<<131, 68, 0>>, bad_ctl.(0), pl])
      frame_closes(c, "cache ref index 1 with one ref in the header", [hdr1, bad_ctl.(1), pl])
      frame_closes(c, "cache ref index 255 with one ref in the header", [hdr1, bad_ctl.(255), pl])
      frame_closes(c, "a header ref to an empty cache slot", [<<131, 68, 1, 0x00, 9>>, bad_ctl.(0), pl])
      frame_closes(c, "a header with a cache entry cut short", <<131, 68, 1, 0x08, 5, 40, "ech">>)
      frame_closes(c, "a cache entry with invalid UTF-8", [<<131, 68, 1, 0x08, 5, 2, 0xC3, 0x28>>, bad_ctl.(0), pl])
    end

    test "a 'p' (pass-through) frame when the header format was negotiated closes the connection", %{c: c} do
      r = good!(c)
      from = Raw.pid(r)
      body = [<<112>>, :erlang.term_to_binary({6, from, :"", :echo}), :erlang.term_to_binary({:"$gen_call", {from, make_ref()}, :p})]
      mark = log_mark(c)
      _ = Raw.send_frame(r, body)
      {got, _} = Raw.assert_closed(r, 3_000)
      assert Raw.frames_in(r, got) == [], "the cnode answered a 'p' frame: #{inspect(got, limit: 20)}"
      wait_log(c, "connection down: #{r.name}", 3_000, after: mark)
      assert_serving(c, "a 'p' frame")
    end

    test "a 131,68 frame when 'p' frames were negotiated closes the connection", %{c: c} do
      # offer neither DIST_HDR_ATOM_CACHE (0x2000) nor FRAGMENTS (0x800000): 'p' frames
      flags = Raw.beam_flags() &&& ~~~(0x2000 ||| 0x800000)
      r = good!(c, flags: flags)
      from = Raw.pid(r)
      ref = make_ref()
      # first, the right format works
      :ok = Raw.send_frame(r, [<<112>>, :erlang.term_to_binary({6, from, :"", :echo}), :erlang.term_to_binary({:"$gen_call", {from, ref}, :p})])
      {:ok, <<112, rest::binary>>} = Raw.recv_frame(r)
      {_ctl, used} = :erlang.binary_to_term(rest, [:used])
      assert :erlang.binary_to_term(binary_part(rest, used, byte_size(rest) - used)) == {ref, :p}

      mark = log_mark(c)
      _ = Raw.send_frame(r, Raw.gen_call_frame(r, :echo, :hdr, make_ref()))
      Raw.assert_closed(r, 3_000)
      wait_log(c, "connection down: #{r.name}", 3_000, after: mark)
      assert_serving(c, "a 131,68 frame on a 'p' connection")
    end

    test "50 hostile connections at once, then the node still serves", %{c: c} do
      1..50
      |> Enum.map(fn i ->
        Task.async(fn ->
          r = Raw.handshake!(c)
          _ = Raw.send_frame(r, if(rem(i, 2) == 0, do: <<131, 68>> <> rand_bytes(64), else: <<131, 70, i::64, 1::64>>))
          Raw.assert_closed(r, 5_000)
          :ok
        end)
      end)
      |> Task.await_many(30_000)

      assert_serving(c, "50 hostile connections")
    end
  end
end
