#!/usr/bin/env bash
# `make bench`: cnoded against a BEAM node hosting the same echo server, measured alternately
# in one run by a BEAM driver node (test/bench/driver.exs), plus idle-process memory and spawn
# time (test/bench/procs.c). Usage: bench.sh CNODED PROCS_BIN [QUICK]
# Starts a private epmd (random free port), the BEAM target, cnoded and the driver; kills all
# of them by pid at the end, also on error or Ctrl-C. Results go to bench/results/.
# Environment: ROUNDS, SECONDS_PER (per measurement), N (idle processes), CNODE_ARGS (more
# cnoded flags), ONLY=seq,conc,cast,big,erpc,connect (a subset), CALLERS (concurrent callers,
# default 64), BASE=/path/to/other/cnoded
# (measured in the same rounds; the table gains its column and the cnode/base ratio), PIN=1
# (targets on the last CPU, the driver on the others), EI_ECHO=/path/to/ei_echo (a plain
# erl_interface C node, test/bench/ei_echo.c, measured as a third target; the Makefile sets
# it; EI=0 leaves it out).
set -euo pipefail
cnoded=$1
procs=$2
quick=${3:-0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
case "$cnoded" in /*) ;; *) cnoded="$PWD/$cnoded" ;; esac
case "$procs" in /*) ;; *) procs="$PWD/$procs" ;; esac

if [ "$quick" = 1 ]; then
  rounds=${ROUNDS:-3} secs=${SECONDS_PER:-0.3} nprocs=${N:-100000} tag=quick
else
  rounds=${ROUNDS:-7} secs=${SECONDS_PER:-2.0} nprocs=${N:-1000000} tag=full
fi
cookie=bench_$RANDOM$RANDOM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnode_bench.XXXXXX")
pids=()

say() { printf 'bench: %s\n' "$*"; }
. "$here/scripts/lib/nodes.sh"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill_pid "${pids[i]}"; done
  wait 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    for f in "$tmp"/*.log; do [ -f "$f" ] && { say "--- $(basename "$f")"; tail -n 20 "$f"; }; done
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- idle processes: bytes each and spawn time (no network) ---------------------------------
if [ -z "${ONLY:-}${BASE:-}" ]; then
say "idle processes: $nprocs in the library and in a BEAM node"
c=$("$procs" "$nprocs")
b=$(erl -noshell +P $((nprocs * 2)) -eval "
  N = $nprocs, garbage_collect(), M0 = erlang:memory(total),
  T0 = erlang:monotonic_time(millisecond),
  Ps = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, N)],
  T1 = erlang:monotonic_time(millisecond), M1 = erlang:memory(total),
  io:format(\"~b ~b~n\", [(M1 - M0) div N, T1 - T0]), [P ! stop || P <- Ps], halt().")
c_bytes=$(sed -n 's/.* \([0-9]*\) bytes each.*/\1/p' <<<"$c")
c_ms=$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' <<<"$c" | awk '{ printf "%d", $1 * 1000 }')
read -r b_bytes b_ms <<<"$b"
say "cnode: $c_bytes bytes, $c_ms ms; beam: $b_bytes bytes, $b_ms ms"
export BENCH_PROCS="$c_bytes $b_bytes $c_ms $b_ms $nprocs"
fi

# ---- private epmd ---------------------------------------------------------------------------
start_private_epmd "$tmp/epmd.log" || { say "could not start a private epmd"; exit 2; }
pids+=("$EPMD_PID")
epmd_port=$EPMD_PORT
export ERL_EPMD_PORT=$epmd_port
host=$(hostname -s)
# PIN=1: the targets share the last CPU and the driver gets the others, so the driver's work
# and the target's do not compete for a core (the issue's numbers are without pinning).
tpin=() dpin=()
if [ "${PIN:-0}" = 1 ]; then
  last=$(($(nproc) - 1))
  [ "$last" -ge 1 ] || { say "PIN=1 needs at least 2 CPUs"; exit 2; }
  tpin=(taskset -c "$last") dpin=(taskset -c "0-$((last - 1))")
  say "pinned: targets on CPU $last, driver on CPUs 0-$((last - 1))"
fi
say "epmd on port $epmd_port"

# ---- the two targets -----------------------------------------------------------------------
bname=bench_beam_$$ cname=bench_c_$$ dname=bench_drv_$$
"${tpin[@]}" elixir --sname "$bname" --cookie "$cookie" --erl "-start_epmd false" "$here/test/bench/target.exs" \
  >"$tmp/beam.log" 2>&1 </dev/null &
bpid=$!
pids+=("$bpid")
"${tpin[@]}" "$cnoded" --sname "$cname" --cookie "$cookie" --epmd-port "$epmd_port" --no-epmd-start \
  --log-level warn ${CNODE_ARGS:-} >"$tmp/cnoded.log" 2>&1 </dev/null &
cpid=$!
pids+=("$cpid")

if [ -n "${BASE:-}" ]; then # another cnoded build, measured in the same rounds (A/B a change)
  "${tpin[@]}" "$BASE" --sname "base_$cname" --cookie "$cookie" --epmd-port "$epmd_port" --no-epmd-start \
    --log-level warn ${CNODE_ARGS:-} >"$tmp/base.log" 2>&1 </dev/null &
  basepid=$!
  pids+=("$basepid")
  export BENCH_BASE="base_$cname@$host" BENCH_BASE_PID=$basepid
fi
if [ -n "${EI_ECHO:-}" ] && [ "${EI:-1}" != 0 ]; then # the simplest C node, for reference
  case "$EI_ECHO" in /*) ;; *) EI_ECHO="$PWD/$EI_ECHO" ;; esac
  "${tpin[@]}" "$EI_ECHO" "ei_$cname" "$host" "$cookie" >"$tmp/ei.log" 2>&1 </dev/null &
  eipid=$!
  pids+=("$eipid")
  for _ in $(seq 50); do grep -q ready "$tmp/ei.log" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$tmp/ei.log" || { say "ei_echo did not start"; exit 1; }
  export BENCH_EI="ei_$cname@$host" BENCH_EI_PID=$eipid
fi
export BENCH_ONLY=${ONLY:-} BENCH_CALLERS=${CALLERS:-64}

# elixir execs erl, which execs beam.smp: the pid stays the BEAM's once it is up.
for _ in $(seq 100); do grep -q ready "$tmp/beam.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/beam.log" || { say "BEAM target did not start"; exit 1; }
bos=$(sed -n 's/.*os pid \([0-9]*\).*/\1/p' "$tmp/beam.log")
alive "$cpid" || { say "cnoded did not start"; exit 1; }

mkdir -p "$here/bench/results"
out="$here/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$tag.tsv"
BENCH_BEAM="$bname@$host" BENCH_CNODE="$cname@$host" BENCH_BEAM_PID=$bos BENCH_CNODE_PID=$cpid \
  BENCH_ROUNDS=$rounds BENCH_SECONDS=$secs BENCH_OUT=$out \
  BENCH_CMD="make bench$([ "$quick" = 1 ] && echo ' QUICK=1')" \
  "${dpin[@]}" timeout -k 5 900 elixir --sname "$dname" --cookie "$cookie" --erl "-start_epmd false" \
  "$here/test/bench/driver.exs" </dev/null &
dpid=$!
pids+=("$dpid")
wait "$dpid"
