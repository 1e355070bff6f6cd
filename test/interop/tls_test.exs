# TLS distribution: cnoded --proto-dist inet_tls against BEAM nodes started
# `-proto_dist inet_tls -ssl_dist_optfile FILE`, both directions, and the refusals (wrong CA, no
# client certificate, expired certificate, wrong host name, plain TCP against TLS both ways).
#
# The runner node is plain TCP, so it cannot talk to the TLS nodes: the BEAM peers are reached
# through their standard I/O (peer_eval / peer_call) and the cnode through its log.
# Certificates come from scripts/gen-test-certs.sh, run into a temp dir (or $CNODE_TLS_CERTS
# when set: the OTP 27 root has no openssl command, so `make test-otp27` makes them outside).
CnodeTest.watchdog(290, __ENV__.file)
ExUnit.start(trace: true, timeout: 90_000)

defmodule Interop.TlsTest do
  use ExUnit.Case
  import CnodeTest

  @script Path.expand("../../scripts/gen-test-certs.sh", __DIR__)

  setup_all do
    dir =
      case System.get_env("CNODE_TLS_CERTS") do
        d when d not in [nil, ""] ->
          d

        _ ->
          d = Path.join(System.get_env("CNODE_TEST_TMP") || System.tmp_dir!(), "certs")
          {out, rc} = System.cmd("bash", [@script, d], stderr_to_stdout: true)
          if rc != 0, do: flunk("#{@script} failed (#{rc}):\n#{out}")
          d
      end

    for f <- ~w(ca.pem node.pem node.key other.pem other.key expired.pem wrongname.pem) do
      File.regular?(Path.join(dir, f)) || flunk("#{dir}/#{f} is missing")
    end

    %{certs: dir}
  end

  # ---- configuration --------------------------------------------------------------------------

  defp f(certs, name), do: String.to_charlist(Path.join(certs, name))

  # One role's options in the ssl_dist_optfile format: `cert` is the certificate's base name
  # (nil for none), `ca` the CA file.
  defp side(certs, cert, ca, extra \\ []) do
    files = if cert, do: [certfile: f(certs, "#{cert}.pem"), keyfile: f(certs, "#{cert}.key")], else: []
    files ++ [cacertfile: f(certs, "#{ca}.pem"), verify: :verify_peer] ++ extra
  end

  # Write an optfile; returns its path.
  defp optfile(server, client) do
    path = Path.join(System.get_env("CNODE_TEST_TMP") || System.tmp_dir!(), "#{unique_name("opt")}.conf")
    File.write!(path, :io_lib.format(~c"~p.~n", [[server: server, client: client]]))
    path
  end

  defp good_optfile(certs, extra \\ []) do
    optfile(side(certs, "node", "ca", [fail_if_no_peer_cert: true] ++ extra), side(certs, "node", "ca", extra))
  end

  defp tls_peer(optfile, opts \\ []) do
    start_peer(
      [connection: :standard_io, args: ["-proto_dist", "inet_tls", "-ssl_dist_optfile", optfile]] ++ opts
    )
  end

  defp tls_args(certs, cert \\ "node", ca \\ "ca") do
    ["--proto-dist", "inet_tls", "--tls-certfile", Path.join(certs, "#{cert}.pem"),
     "--tls-keyfile", Path.join(certs, "#{cert}.key"), "--tls-cacertfile", Path.join(certs, "#{ca}.pem")]
  end

  defp peer_ping(p, c, timeout \\ 20_000), do: peer_call(p, :net_adm, :ping, [c.node], timeout)

  # ---- working connections ----------------------------------------------------------------------

  test "a TLS BEAM node connects: ping, GenServer.call, erpc, rpc; the session is TLS", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(good_optfile(certs))
    assert peer_ping(p, c) == :pong
    line = wait_log(c, "connection up: #{p.node} (incoming, visible, TLSv1.")
    IO.puts("    #{Regex.run(~r/TLSv1\.\d \S+/, line)}")

    assert peer_eval(p, "gen_server:call({echo, '#{c.node}'}, {hello, [1, 2.5, <<\"bin\">>]}).") ==
             {:hello, [1, 2.5, "bin"]}

    assert peer_call(p, :erpc, :call, [c.node, :demo, :add, [1, 2]]) == 3
    assert peer_call(p, :rpc, :call, [c.node, :demo, :add, [40, 2]]) == 42
    assert c.node in peer_call(p, :erlang, :nodes, [])
  end

  test "TLS 1.3 is used when the peer allows it", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(good_optfile(certs, versions: [:"tlsv1.3", :"tlsv1.2"]))
    assert peer_ping(p, c) == :pong
    wait_log(c, "connection up: #{p.node} (incoming, visible, TLSv1.3 ")
  end

  test "TLS 1.2 works when the peer only speaks 1.2", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(good_optfile(certs, versions: [:"tlsv1.2"]))
    assert peer_ping(p, c) == :pong
    line = wait_log(c, "connection up: #{p.node} (incoming, visible, TLSv1.2 ")
    # forward-secret AEAD suites only
    assert line =~ ~r/TLSv1\.2 ECDHE-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20-POLY1305)/
  end

  test "the cnode dials a TLS BEAM node (--connect), from an optfile of the BEAM format", %{certs: certs} do
    file = good_optfile(certs, versions: [:"tlsv1.3", :"tlsv1.2"])
    p = tls_peer(file)
    c = start_cnode(args: ["--proto-dist", "inet_tls", "--ssl-dist-optfile", file, "--connect", p.node])
    wait_log(c, "connection up: #{p.node} (outgoing, visible, TLSv1.3 ", 15_000)
    eventually(fn -> c.node in peer_call(p, :erlang, :nodes, []) end, 10_000, what: "the peer to list the cnode")
    assert peer_eval(p, "gen_server:call({echo, '#{c.node}'}, dialled).") == :dialled
    assert peer_call(p, :erpc, :call, [c.node, :demo, :add, [2, 3]]) == 5
  end

  test "a 16 MiB binary comes back equal over TLS (fragments both ways)", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(good_optfile(certs, versions: [:"tlsv1.3", :"tlsv1.2"]))
    assert peer_ping(p, c) == :pong

    {same, ms} =
      peer_eval(
        p,
        """
        B = crypto:strong_rand_bytes(16 * 1024 * 1024),
        T0 = erlang:monotonic_time(millisecond),
        R = gen_server:call({echo, '#{c.node}'}, B, 60000),
        {R =:= B, erlang:monotonic_time(millisecond) - T0}.
        """,
        90_000
      )

    IO.puts("    16 MiB round trip over TLS: #{ms} ms")
    assert same
    assert peer_eval(p, "gen_server:call({echo, '#{c.node}'}, after_big).") == :after_big
  end

  test "ticks keep an idle TLS connection up; a silent peer is dropped", %{certs: certs} do
    c = start_cnode(args: tls_args(certs) ++ ["--net-ticktime", "4"])
    p = tls_peer(good_optfile(certs), net_ticktime: 4)
    assert peer_ping(p, c) == :pong
    wait_log(c, "connection up: #{p.node}")
    Process.sleep(12_000)
    assert c.node in peer_call(p, :erlang, :nodes, [])
    refute_log(c, "connection down: #{p.node}")

    :ok = sigstop(p)

    try do
      wait_log(c, "connection down: #{p.node} (tick timeout", 15_000)
    after
      sigcont(p)
    end
  end

  test "reconnection after disconnect_node, and after the cnode dropped the connection", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(good_optfile(certs))
    assert peer_ping(p, c) == :pong
    wait_log(c, "connection up: #{p.node}")
    mark = log_mark(c)
    assert peer_call(p, :erlang, :disconnect_node, [c.node]) == true
    wait_log(c, "connection down: #{p.node}", 10_000, after: mark)
    assert peer_ping(p, c) == :pong
    wait_log(c, "connection up: #{p.node}", 10_000, after: mark)
    assert peer_eval(p, "gen_server:call({echo, '#{c.node}'}, again).") == :again
  end

  test "crossing attempts over TLS (both name orders) end in one connection", %{certs: certs} do
    for i <- 1..4 do
      p = tls_peer(good_optfile(certs))
      name = unique_name(if rem(i, 2) == 0, do: "c", else: "zc")
      cnode = :"#{name}@#{host()}"

      # B dials as soon as the cnode is in epmd, while the cnode dials B (--connect)
      dial =
        Task.async(fn ->
          peer_eval(
            p,
            """
            Loop = fun L(0) -> gave_up;
                       L(N) -> case erl_epmd:port_please(Alive, "127.0.0.1") of
                                   {port, _, _} -> net_kernel:connect_node(CNode);
                                   _ -> timer:sleep(5), L(N - 1)
                               end
                   end,
            Loop(2000).
            """,
            30_000,
            Alive: String.to_charlist(name),
            CNode: cnode
          )
        end)

      c = start_cnode(name: name, args: tls_args(certs) ++ ["--connect", p.node])
      assert Task.await(dial, 35_000) == true
      wait_log(c, "connection up: #{p.node}", 10_000)
      assert peer_eval(p, "gen_server:call({echo, '#{c.node}'}, {round, #{i}}).") == {:round, i}
      Process.sleep(500)
      ups = log_lines(c, "connection up: #{p.node}")
      assert length(ups) == 1, "round #{i}: #{length(ups)} connections came up\n#{log_text(c)}"
      refute_log(c, "connection down: #{p.node}")
      stop_cnode(c)
      stop_peer(p)
    end
  end

  # ---- refusals -------------------------------------------------------------------------------

  test "a peer whose certificate is signed by another CA is refused", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(optfile(side(certs, "other", "ca"), side(certs, "other", "ca")))
    assert peer_ping(p, c) == :pang

    wait_log(c, ~r/TLS handshake with 127\.0\.0\.1:\d+ failed: certificate verify failed \(unable to get local issuer certificate\)/, 10_000)
    refute_log(c, "connection up: #{p.node}")
  end

  test "the cnode refuses a server certificate from another CA when it dials", %{certs: certs} do
    p = tls_peer(optfile(side(certs, "other", "ca", fail_if_no_peer_cert: true), side(certs, "other", "ca")))
    c = start_cnode(args: tls_args(certs) ++ ["--connect", p.node])
    wait_log(c, "TLS handshake with #{p.node} failed: certificate verify failed (unable to get local issuer certificate)", 15_000)
    refute_log(c, "connection up")
  end

  test "a BEAM node refuses the cnode's certificate from another CA", %{certs: certs} do
    p = tls_peer(good_optfile(certs))
    c = start_cnode(args: tls_args(certs, "other", "ca") ++ ["--connect", p.node])
    # The BEAM's alert reaches us during the handshake (TLS 1.2) or on the first read (1.3).
    line = wait_log(c, ~r/TLS handshake with #{Regex.escape(to_string(p.node))} failed: .*alert/, 15_000)
    assert line =~ "unknown ca" or line =~ "bad certificate", line
    refute_log(c, "connection up")
  end

  test "a peer without a client certificate is refused", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(optfile(side(certs, "node", "ca"), side(certs, nil, "ca")))
    assert peer_ping(p, c) == :pang
    wait_log(c, ~r/TLS handshake with 127\.0\.0\.1:\d+ failed: peer did not return a certificate/, 10_000)
    refute_log(c, "connection up: #{p.node}")
  end

  test "an expired certificate is refused, on either side", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    p = tls_peer(optfile(side(certs, "expired", "ca"), side(certs, "expired", "ca")))
    assert peer_ping(p, c) == :pang
    wait_log(c, ~r/TLS handshake with 127\.0\.0\.1:\d+ failed: certificate verify failed \(certificate has expired\)/, 10_000)

    p2 = tls_peer(good_optfile(certs))
    c2 = start_cnode(args: tls_args(certs, "expired", "ca") ++ ["--connect", p2.node])
    line = wait_log(c2, ~r/TLS handshake with #{Regex.escape(to_string(p2.node))} failed: .*alert/, 15_000)
    assert line =~ "expired", line
    refute_log(c2, "connection up")
  end

  test "a dialled node whose certificate names another host is refused", %{certs: certs} do
    p = tls_peer(optfile(side(certs, "wrongname", "ca", fail_if_no_peer_cert: true), side(certs, "node", "ca")))
    c = start_cnode(args: tls_args(certs) ++ ["--connect", p.node])
    wait_log(c, "TLS handshake with #{p.node} failed: certificate verify failed (hostname mismatch)", 15_000)
    refute_log(c, "connection up")

    # the host check is what refused it: without it, the same certificate is accepted
    c2 = start_cnode(args: tls_args(certs) ++ ["--tls-no-host-check", "--connect", p.node])
    wait_log(c2, "connection up: #{p.node} (outgoing", 15_000)
  end

  test "with --tls-check-client-host, a connecting node's certificate must name its host", %{certs: certs} do
    c = start_cnode(args: tls_args(certs) ++ ["--tls-check-client-host"])
    bad = tls_peer(optfile(side(certs, "node", "ca"), side(certs, "wrongname", "ca")))
    assert peer_ping(bad, c) == :pang
    wait_log(c, "connection from #{bad.node} (127.0.0.1:", 10_000)
    wait_log(c, "refused: its certificate does not name the host #{host()}", 10_000)
    refute_log(c, "connection up: #{bad.node}")

    good = tls_peer(good_optfile(certs))
    assert peer_ping(good, c) == :pong

    # off by default: the same certificate is accepted
    c2 = start_cnode(args: tls_args(certs))
    assert peer_ping(bad, c2) == :pong
  end

  test "a plain TCP node cannot talk to a TLS cnode, and the cnode says why", %{certs: certs} do
    c = start_cnode(args: tls_args(certs))
    {us, r} = :timer.tc(fn -> connect(c.node, 20_000) end)
    assert r == false
    IO.puts("    plain → TLS refused in #{div(us, 1000)} ms")
    wait_log(c, ~r/TLS handshake with 127\.0\.0\.1:\d+ failed: .*does not speak TLS/, 10_000)
    # and it still serves TLS peers
    p = tls_peer(good_optfile(certs))
    assert peer_ping(p, c) == :pong
  end

  test "a TLS node cannot talk to a plain cnode, and the cnode says why", %{certs: certs} do
    c = start_cnode()
    p = tls_peer(good_optfile(certs))
    {us, r} = :timer.tc(fn -> peer_ping(p, c) end)
    assert r == :pang
    IO.puts("    TLS → plain refused in #{div(us, 1000)} ms")
    wait_log(c, ~r/handshake with 127\.0\.0\.1:\d+ failed: the peer speaks TLS/, 10_000)
    assert connect(c.node) == true
  end

  test "a client that never finishes the TLS handshake is dropped at the handshake timeout", %{certs: certs} do
    c = start_cnode(args: tls_args(certs) ++ ["--handshake-timeout", "2000"])
    port = CnodeTest.Raw.port!(c)
    {:ok, s} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false], 5_000)
    # a TLS record header announcing more than follows, then silence
    :ok = :gen_tcp.send(s, <<0x16, 0x03, 0x01, 0x01, 0x00, 0x01>>)
    t0 = System.monotonic_time(:millisecond)

    case :gen_tcp.recv(s, 0, 10_000) do
      {:error, reason} when reason in [:closed, :econnreset] -> :ok
      {:ok, _alert} -> assert {:error, _} = :gen_tcp.recv(s, 0, 10_000)
      other -> flunk("expected the cnode to close the connection, got #{inspect(other)}")
    end

    waited = System.monotonic_time(:millisecond) - t0
    assert waited >= 1_500 and waited < 8_000, "closed after #{waited} ms"
    wait_log(c, ~r/TLS handshake with 127\.0\.0\.1:\d+ timed out/, 5_000)
    :gen_tcp.close(s)
  end

  test "a TLS client announcing a huge distribution handshake message is dropped at once", %{certs: certs} do
    # Before the cookie is checked, a peer past TLS must not make the cnode wait for (and
    # buffer) hundreds of MiB: handshake messages are small, whatever the length prefix allows.
    c = start_cnode(args: tls_args(certs) ++ ["--handshake-timeout", "30000"])
    port = CnodeTest.Raw.port!(c)
    {:ok, _} = Application.ensure_all_started(:ssl)

    opts = [certfile: f(certs, "node.pem"), keyfile: f(certs, "node.key"), cacertfile: f(certs, "ca.pem"),
            verify: :verify_peer, server_name_indication: :disable, active: false, mode: :binary]

    {:ok, s} = :ssl.connect({127, 0, 0, 1}, port, opts, 10_000)
    t0 = System.monotonic_time(:millisecond)
    # a 4-byte length of 256 MiB (the TLS framing of the handshake), then a few bytes of it
    :ok = :ssl.send(s, <<0x10000000::32, ?N, 0, 0, 0>>)
    assert {:error, _} = :ssl.recv(s, 0, 20_000)
    waited = System.monotonic_time(:millisecond) - t0
    assert waited < 10_000, "closed after #{waited} ms, not at once"
    wait_log(c, ~r/handshake message .*larger than/, 5_000)
    :ssl.close(s)
    # it still serves TLS peers
    p = tls_peer(good_optfile(certs))
    assert peer_ping(p, c) == :pong
  end

  test "a TLS cnode dialling a plain node gives up within the handshake timeout", %{certs: certs} do
    c = start_cnode(args: tls_args(certs) ++ ["--handshake-timeout", "3000", "--connect", to_string(node())])
    wait_log(c, "connection attempt to #{node()} failed", 15_000)
    refute_log(c, "connection up")
  end

  test "a plain cnode dialling a TLS node gives up at once", %{certs: certs} do
    p = tls_peer(good_optfile(certs))
    c = start_cnode(args: ["--connect", p.node])
    wait_log(c, "connection attempt to #{p.node} failed", 15_000)
    refute_log(c, "connection up: #{p.node}")
  end

  test "bad TLS settings stop cnoded at start with a clear message", %{certs: certs} do
    cases = [
      {["--proto-dist", "inet_tls"], "needs a certificate"},
      {tls_args(certs) |> List.replace_at(2, "/nonexistent/cert.pem"), "/nonexistent/cert.pem"},
      {["--proto-dist", "inet_tls", "--tls-certfile", Path.join(certs, "node.pem"), "--tls-keyfile",
        Path.join(certs, "other.key"), "--tls-cacertfile", Path.join(certs, "ca.pem")], "does not match"},
      {["--proto-dist", "inet_tls", "--tls-certfile", Path.join(certs, "node.pem"), "--tls-keyfile",
        Path.join(certs, "node.key")], "needs a CA"},
      {["--proto-dist", "inet_tls", "--ssl-dist-optfile", optfile_text("[{server, [{certfile, 42}]}].")],
       "certfile must be a string"}
    ]

    for {args, expect} <- cases do
      c = start_cnode(args: args, wait: false, fail_fast: false)
      assert wait_exit(c, 10_000) != 0
      wait_log(c, expect, 5_000)
    end
  end

  defp optfile_text(text) do
    path = Path.join(System.get_env("CNODE_TEST_TMP") || System.tmp_dir!(), "#{unique_name("bad")}.conf")
    File.write!(path, text)
    path
  end
end
