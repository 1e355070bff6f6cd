#!/usr/bin/env bash
# Interop tests: cnoded against real BEAM nodes.
#
#   CNODED=/path/to/cnoded bash test/interop/run.sh [FILE_test.exs ...]
#
# Starts a private epmd on a free port (ERL_EPMD_PORT), then runs every test/interop/*_test.exs
# (or the files given) as its own `elixir --sname runner_… --cookie cnode_test -r support/helper.exs FILE`
# under `timeout 300` (the runner with prevent_overlapping_partitions false: when a node goes,
# OTP's global must not make the runner drop the :dist peers it controls, which would halt them).
# The helper records the OS pid of every cnoded / peer node it starts in
# $CNODE_TEST_TMP/pids; whatever is still alive after a file (or when this script exits, also on
# Ctrl-C) is killed by pid, then epmd. Exit status: 0 iff every file passed.
#
# Environment:
#   CNODED            (required) the cnoded executable under test
#   INTEROP_TIMEOUT   per-file limit in seconds (default 300)
#   INTEROP_ARGS      extra arguments for each elixir runner (e.g. "--erl '+S 2'"), rarely needed
# Works the same inside the OTP 27 root: ../shared/tools/otp27 run bash test/interop/run.sh

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
per_file_timeout=${INTEROP_TIMEOUT:-300}
cookie=cnode_test

say() { printf 'interop: %s\n' "$*"; }
die() { printf 'interop: error: %s\n' "$*" >&2; exit 2; }

# ---- preconditions ---------------------------------------------------------------------------
[ -n "${CNODED:-}" ] || die "CNODED is not set; point it at the cnoded binary, e.g. CNODED=\$PWD/build/cnoded (or run 'make interop')"
case "$CNODED" in /*) ;; *) CNODED="$PWD/$CNODED" ;; esac
{ [ -f "$CNODED" ] && [ -x "$CNODED" ]; } || die "CNODED=$CNODED is not an executable file (build it with 'make')"
export CNODED
for tool in epmd elixir timeout mktemp; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"
done

files=()
if [ $# -gt 0 ]; then
  for f in "$@"; do
    [ -f "$f" ] || die "no such test file: $f"
    files+=("$(cd "$(dirname "$f")" && pwd -P)/$(basename "$f")")
  done
else
  shopt -s nullglob
  files=("$here"/*_test.exs)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || die "no test files in $here"
fi

# ---- per-run state and cleanup ---------------------------------------------------------------
CNODE_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnode_interop.XXXXXX") || die "mktemp failed"
export CNODE_TEST_TMP
mkdir -p "$CNODE_TEST_TMP/pids" "$CNODE_TEST_TMP/logs"
epmd_pid=""
runner_pid=""   # the `timeout` process of the file being run

alive() { kill -0 "$1" 2>/dev/null; }

# Does pid $1 still look like what was recorded ($2: a substring of its command line)?
# Without /proc (the OTP 27 chroot has none) we cannot check and trust the record.
looks_like() {
  local pid=$1 match=$2
  [ -r "/proc/$pid/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match"
}

# kill_pid PID: SIGTERM, wait up to 2 s, then SIGKILL, wait up to 2 s.
kill_pid() {
  local pid=$1
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 20); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 20); do alive "$pid" || return 0; sleep 0.1; done
  say "warning: pid $pid survived SIGKILL"
}

# Kill every process the helper recorded and did not clean up itself. Prints what it killed.
sweep() {
  local f pid kind match
  for f in "$CNODE_TEST_TMP"/pids/*; do
    [ -f "$f" ] || continue
    pid=$(basename "$f")
    read -r kind match <"$f" || true
    if alive "$pid" && looks_like "$pid" "${match:-}"; then
      say "cleanup: killing leftover $kind (pid $pid${match:+, $match})"
      kill_pid "$pid"
    fi
    rm -f "$f"
  done
  return 0
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$runner_pid" ] && alive "$runner_pid"; then
    say "cleanup: stopping the running test file (pid $runner_pid)"
    kill -TERM "$runner_pid" 2>/dev/null
    for _ in $(seq 50); do alive "$runner_pid" || break; sleep 0.1; done
    alive "$runner_pid" && kill -KILL "$runner_pid" 2>/dev/null
  fi
  sweep
  if [ -n "$epmd_pid" ]; then
    kill_pid "$epmd_pid"
    wait "$epmd_pid" 2>/dev/null
  fi
  rm -rf "$CNODE_TEST_TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM HUP

# ---- private epmd ----------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_epmd() {
  local p
  for _ in $(seq 20); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" && continue
    epmd -port "$p" >"$CNODE_TEST_TMP/epmd.log" 2>&1 </dev/null &
    epmd_pid=$!
    for _ in $(seq 50); do
      alive "$epmd_pid" || break
      if epmd -port "$p" -names >/dev/null 2>&1; then
        alive "$epmd_pid" && { EPMD_PORT=$p; return 0; }
        break
      fi
      sleep 0.1
    done
    # it died (port taken meanwhile) or never answered: drop it and try another port
    kill_pid "$epmd_pid"; wait "$epmd_pid" 2>/dev/null; epmd_pid=""
  done
  return 1
}
start_epmd || die "could not start a private epmd (see $CNODE_TEST_TMP/epmd.log)"
export ERL_EPMD_PORT=$EPMD_PORT
versions=$(elixir --version 2>/dev/null | grep -o -e 'Erlang/OTP [0-9]*' -e 'Elixir [0-9.]*' | head -2 | paste -sd' ')
say "epmd pid $epmd_pid on port $ERL_EPMD_PORT; CNODED=$CNODED; $versions"

# ---- run the files ---------------------------------------------------------------------------
passed=(); failed=()
idx=0
for f in "${files[@]}"; do
  idx=$((idx + 1))
  base=$(basename "$f" .exs)
  export CNODE_TEST_LOGDIR="$CNODE_TEST_TMP/logs/$idx-$base"
  mkdir -p "$CNODE_TEST_LOGDIR"
  runner="runner_$$_${idx}_$RANDOM"
  say "=== $base (runner $runner, limit ${per_file_timeout}s)"
  start=$SECONDS
  # shellcheck disable=SC2086 # INTEROP_ARGS is meant to be split
  timeout -k 10 "$per_file_timeout" \
    elixir --sname "$runner" --cookie "$cookie" --erl "-start_epmd false -kernel prevent_overlapping_partitions false" ${INTEROP_ARGS:-} -r "$here/support/helper.exs" "$f" </dev/null &
  runner_pid=$!
  wait "$runner_pid"; rc=$?
  runner_pid=""
  took=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    passed+=("$base (${took}s)")
  else
    why="exit $rc"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && why="timed out after ${per_file_timeout}s"
    failed+=("$base ($why, ${took}s)")
    for log in "$CNODE_TEST_LOGDIR"/*.log; do
      [ -f "$log" ] || continue
      say "--- last lines of cnoded log $(basename "$log") ---"
      tail -n 25 "$log" | sed 's/^/    /'
    done
  fi
  sweep
done

# ---- summary ---------------------------------------------------------------------------------
echo
say "==================== summary ===================="
for p in "${passed[@]}"; do say "  PASS  $p"; done
for p in "${failed[@]}"; do say "  FAIL  $p"; done
say "${#passed[@]} passed, ${#failed[@]} failed ($versions)"
[ ${#failed[@]} -eq 0 ]
