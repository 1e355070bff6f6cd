#!/usr/bin/env bash
# Cost of TLS distribution, measured from a BEAM node: connection setup time (connect_node:
# epmd lookup, TCP, TLS and distribution handshakes) and 16 MiB echo round trips, over plain
# TCP and over TLS 1.3, against cnoded and, for reference, against a BEAM echo node.
#
#   scripts/bench-tls.sh CNODED [ROUNDS]      (ROUNDS connection setups per case, default 20)
#
# Runs its own epmd on a free port and its own certificates (gen-test-certs.sh) in a temp dir;
# everything it starts is stopped by pid when it exits.
set -euo pipefail
cnoded=$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")
rounds=${2:-20}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
[ -x "$cnoded" ] || { echo "bench-tls: $cnoded is not executable (make first)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-tls.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

port=""
for _ in $(seq 20); do
  p=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
  epmd -port "$p" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 30); do epmd -port "$p" -names >/dev/null 2>&1 && break; sleep 0.1; done
  epmd -port "$p" -names >/dev/null 2>&1 && { port=$p; break; }
done
[ -n "$port" ] || { echo "bench-tls: could not start epmd" >&2; exit 1; }
export ERL_EPMD_PORT=$port ERL_CRASH_DUMP_SECONDS=0

bash "$here/gen-test-certs.sh" "$tmp/certs" >/dev/null
c=$tmp/certs
side="[{certfile,\"$c/node.pem\"},{keyfile,\"$c/node.key\"},{cacertfile,\"$c/ca.pem\"},{verify,verify_peer},{versions,['tlsv1.3','tlsv1.2']}"
cat >"$tmp/opt.conf" <<EOF
[{server, $side, {fail_if_no_peer_cert, true}]}, {client, $side]}].
EOF
tls_erl=(-proto_dist inet_tls -ssl_dist_optfile "$tmp/opt.conf")
cookie=bench_tls_$$
host=$(hostname -s)

# start_cnode NAME ARGS...: cnoded in the background, waits for its "started" line
start_cnode() {
  local name=$1; shift
  "$cnoded" --sname "$name" --cookie "$cookie" --epmd-port "$port" --no-epmd-start "$@" \
    >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "started" "$tmp/$name.log" && return 0; sleep 0.05; done
  echo "bench-tls: cnoded $name did not start:" >&2; cat "$tmp/$name.log" >&2; exit 1
}

# start_beam_echo NAME ERLARGS...: a BEAM node whose registered `echo` answers gen_server calls
start_beam_echo() {
  local name=$1; shift
  erl -sname "$name" -setcookie "$cookie" -noshell -noinput "$@" -eval '
    Loop = fun L() -> receive {'"'"'$gen_call'"'"', From, M} -> gen:reply(From, M), L() end end,
    register(echo, spawn(Loop)).' >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do epmd -port "$port" -names 2>/dev/null | grep -q "name $name " && return 0; sleep 0.1; done
  echo "bench-tls: BEAM node $name did not start" >&2; exit 1
}

# drive LABEL TARGET ERLARGS...: measure from a fresh BEAM node (one warm-up connection first)
drive() {
  local label=$1 target=$2; shift 2
  # hidden: no global traffic that would reconnect on its own between two measurements
  erl -sname "drv_$$_$RANDOM" -setcookie "$cookie" -hidden -noshell "$@" -eval "
    C = '$target@$host', R = $rounds,
    true = net_kernel:connect_node(C), erlang:disconnect_node(C), timer:sleep(50),
    Setup = lists:map(fun(_) ->
        T0 = erlang:monotonic_time(microsecond),
        true = net_kernel:connect_node(C),
        T1 = erlang:monotonic_time(microsecond),
        erlang:disconnect_node(C), timer:sleep(50), T1 - T0 end, lists:seq(1, R)),
    S = lists:sort(Setup),
    true = net_kernel:connect_node(C),
    B = crypto:strong_rand_bytes(16 bsl 20),
    B = gen_server:call({echo, C}, B, 60000),
    K = 5,
    T0 = erlang:monotonic_time(microsecond),
    [B = gen_server:call({echo, C}, B, 60000) || _ <- lists:seq(1, K)],
    Us = (erlang:monotonic_time(microsecond) - T0) / K,
    io:format(\"~-22s setup median ~6.2f ms (min ~6.2f, max ~6.2f)   16 MiB round trip ~6.1f ms = ~5b MB/s each way~n\",
              [\"$label\", lists:nth((R + 1) div 2, S) / 1000, hd(S) / 1000, lists:last(S) / 1000,
               Us / 1000, round(16 * 1048576 / Us)]),
    halt()."
}

echo "bench-tls: $rounds connection setups and 5 x 16 MiB echoes per case ($(erl -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().'), $(nproc) cores)"
start_cnode bt_plain_$$
start_cnode bt_tls_$$ --proto-dist inet_tls --ssl-dist-optfile "$tmp/opt.conf"
start_beam_echo bb_plain_$$
start_beam_echo bb_tls_$$ "${tls_erl[@]}"
drive "cnode, TCP" bt_plain_$$
drive "cnode, TLS" bt_tls_$$ "${tls_erl[@]}"
drive "BEAM, TCP" bb_plain_$$
drive "BEAM, TLS" bb_tls_$$ "${tls_erl[@]}"
tls_line=$(grep -m1 -o "TLSv1[.0-9]* [A-Z0-9_-]*" "$tmp/bt_tls_$$.log" || true)
echo "bench-tls: cnode TLS session: ${tls_line:-?}"
