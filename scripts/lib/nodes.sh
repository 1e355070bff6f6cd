# Sourced by the scripts that start nodes. alive PID; kill_pid PID (TERM, then KILL after 2 s);
# start_private_epmd LOGFILE: an epmd of their own on a free port, so they never meet another
# run's nodes (or a developer's): sets EPMD_PORT and EPMD_PID (the caller stops it by pid), or
# returns 1 after 20 tries.
alive() { kill -0 "$1" 2>/dev/null; }
kill_pid() {
  local pid=$1
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 20); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

start_private_epmd() {
  local log=$1 p pid
  for _ in $(seq 20); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue # taken
    epmd -port "$p" >"$log" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 50); do
      alive "$pid" || break
      if epmd -port "$p" -names >/dev/null 2>&1; then
        EPMD_PORT=$p EPMD_PID=$pid
        return 0
      fi
      sleep 0.1
    done
    kill_pid "$pid"
    wait "$pid" 2>/dev/null
  done
  return 1
}
