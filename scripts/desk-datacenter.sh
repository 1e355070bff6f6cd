#!/usr/bin/env bash
# The desk datacenter demo: an Elixir orchestrator spreads thousands of entity-extraction jobs
# over C workers (cnoded's `extractor`) on C nodes and Elixir workers (DeskExtractor) on BEAM
# nodes, checks that both kinds of node give the same answers, and reports throughput.
#
#   scripts/desk-datacenter.sh            # or: DOCS=20000 C_NODES=2 BEAM_NODES=2 scripts/desk-datacenter.sh
#
# Starts a private epmd (random free port), C_NODES cnoded, BEAM_NODES BEAM nodes and the
# orchestrator (scripts/desk/orchestrator.exs), all on this machine; kills every one of them by
# pid when it ends, also on error or Ctrl-C. Exit status: the orchestrator's (0: all documents
# done and the sample agreed), 2 for bad settings.
# Environment: DOCS (default 5000), C_NODES (1), BEAM_NODES (1), WORKERS_PER_NODE (2),
# IN_FLIGHT (jobs in flight per worker, 4), SEED (1), DOC_BYTES (documents are 1 to DOC_BYTES
# bytes long, about; default 3000), SOLO=1 (then the same documents on the C nodes alone and
# on the BEAM nodes alone), CONNECT_MS (how long a node may take to come up, 20000),
# CNODED (default build/cnoded, built or brought up to date first).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
[ -n "${CNODED:-}" ] || make --no-print-directory -C "$here" all >/dev/null
cnoded=${CNODED:-$here/build/cnoded}
docs=${DOCS:-5000} c_nodes=${C_NODES:-1} beam_nodes=${BEAM_NODES:-1}
workers=${WORKERS_PER_NODE:-2} in_flight=${IN_FLIGHT:-4} seed=${SEED:-1} doc_bytes=${DOC_BYTES:-3000} solo=${SOLO:-0}
connect_ms=${CONNECT_MS:-20000}

say() { printf 'desk: %s\n' "$*"; }
bad() { say "error: $*" >&2; exit 2; }
for v in docs c_nodes beam_nodes workers in_flight seed doc_bytes connect_ms; do
  [[ ${!v} =~ ^[0-9]+$ ]] || bad "$v must be a number (got '${!v}')"
done
[ "$docs" -ge 1 ] || bad "DOCS must be at least 1"
[ "$doc_bytes" -ge 1 ] && [ "$doc_bytes" -le 16000000 ] || bad "DOC_BYTES must be 1..16000000"
[ "$workers" -ge 1 ] && [ "$in_flight" -ge 1 ] || bad "WORKERS_PER_NODE and IN_FLIGHT must be at least 1"
[ $((c_nodes + beam_nodes)) -ge 1 ] || bad "no nodes: C_NODES and BEAM_NODES are both 0"
[ "$c_nodes" -le 16 ] && [ "$beam_nodes" -le 16 ] || bad "at most 16 nodes of each kind"
if [ "$c_nodes" -gt 0 ] && [ ! -x "$cnoded" ]; then bad "no cnoded at $cnoded (run make, or set CNODED)"; fi
for tool in epmd elixir mktemp; do command -v "$tool" >/dev/null || bad "'$tool' not found on PATH"; done

cookie=desk_$RANDOM$RANDOM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnode_desk.XXXXXX")
pids=()

. "$here/scripts/lib/nodes.sh"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill_pid "${pids[i]}"; done
  wait 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    for f in "$tmp"/*.log; do [ -s "$f" ] && { say "--- $(basename "$f")"; tail -n 15 "$f"; }; done
  fi
  [ ${#pids[@]} -eq 0 ] || say "stopped pids ${pids[*]}"
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'exit 143' TERM HUP

# ---- private epmd ---------------------------------------------------------------------------
start_private_epmd "$tmp/epmd.log" || { say "could not start a private epmd"; exit 1; }
pids+=("$EPMD_PID")
epmd_port=$EPMD_PORT
export ERL_EPMD_PORT=$epmd_port
say "started epmd on port $epmd_port (pid $EPMD_PID)"

# ---- the nodes ------------------------------------------------------------------------------
cnames="" bnames=""
for i in $(seq "$c_nodes"); do
  name=desk_c${i}_$$
  "$cnoded" --sname "$name" --cookie "$cookie" --epmd-port "$epmd_port" --no-epmd-start \
    --log-level warn >"$tmp/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  cnames+="$name "
  say "started C node $name (cnoded pid $!)"
done
for i in $(seq "$beam_nodes"); do
  name=desk_b${i}_$$
  # elixir execs erl, which execs beam.smp: the pid stays the BEAM's
  elixir --sname "$name" --cookie "$cookie" --erl "-start_epmd false" \
    -r "$here/scripts/desk/extractor.ex" -e 'Process.sleep(:infinity)' >"$tmp/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  bnames+="$name "
  say "started BEAM node $name (pid $!)"
done

# ---- the orchestrator -----------------------------------------------------------------------
DESK_C_NODES=$cnames DESK_BEAM_NODES=$bnames DESK_DOCS=$docs DESK_SEED=$seed \
  DESK_WORKERS=$workers DESK_IN_FLIGHT=$in_flight DESK_DOC_BYTES=$doc_bytes DESK_SOLO=$solo \
  DESK_CONNECT_MS=$connect_ms \
  elixir --sname "desk_orch_$$" --cookie "$cookie" --erl "-start_epmd false" \
  "$here/scripts/desk/orchestrator.exs" </dev/null &
opid=$!
pids+=("$opid")
say "started the orchestrator desk_orch_$$ (pid $opid)"
set +e
wait "$opid"
rc=$?
set -e
unset 'pids[-1]' # reaped: its pid is free for others now
exit $rc
