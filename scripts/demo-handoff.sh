#!/usr/bin/env bash
# The "live state handoff" demo, as one command: a kv worker, held under a :global name that a
# client keeps incrementing a counter through, moves C node -> C node -> BEAM node -> C node,
# and at last leaves a C node that is shut down with SIGTERM (--drain-to). The name moves with
# it each time, the client never stops, and the counter comes out exact: no update is lost.
#   scripts/demo-handoff.sh   (a private epmd on a free port; everything started is stopped;
#                              CNODED=/path/to/cnoded runs that build instead of build/cnoded)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [ -z "${CNODED:-}" ]; then
  make --no-print-directory all >/dev/null
  CNODED=$here/build/cnoded
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cnode-handoff.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

. "$here/scripts/lib/nodes.sh"
start_private_epmd "$work/epmd.log" || { echo "could not start a private epmd" >&2; exit 1; }
pids+=("$EPMD_PID")
port=$EPMD_PORT
export ERL_EPMD_PORT=$port
cookie=handoff_$$
host=$(hostname -s)
c1=demo_c1_$$ c2=demo_c2_$$
start_c() { # name, extra flags...
  local n=$1
  shift
  "$CNODED" --sname "$n" --cookie "$cookie" --epmd-port "$port" --no-epmd-start "$@" \
    >"$work/$n.log" 2>&1 &
  pids+=($!)
  eval "pid_$n=$!"
  for _ in $(seq 50); do grep -q " started" "$work/$n.log" && return; sleep 0.1; done
  echo "cnoded $n did not start" >&2
  exit 1
}
start_c "$c2"
start_c "$c1" --drain-to "$c2@$host"
c1_os=$(eval echo "\$pid_$c1")

elixir --sname "demo_b_$$" --cookie "$cookie" --erl "-start_epmd false" -e '
[c1, c2, c1_os, kv_src] = System.argv()
Code.compile_file(kv_src) # :kv on this BEAM node too
[c1, c2] = Enum.map([c1, c2], &String.to_atom/1)
true = Node.connect(c1) and Node.connect(c2)
show = fn label, v -> IO.puts(String.pad_trailing(label, 62) <> inspect(v)); v end
where = fn -> :global.whereis_name(:demo_kv) end
move = fn label, {:ok, new} ->
  ^new = where.() # the :global name has moved with the worker (no re_register_name here)
  show.(label, {new, node(new)})
end

pid = Node.spawn(c1, :kv, :start, [])
:ok = :global.sync() # every node knows the name from the start
:yes = :global.register_name(:demo_kv, pid)
show.("kv on #{c1}", {pid, node(pid)})
:ok = GenServer.call(pid, {:put, :owner, "alice"})

# the client: increments :count through the global name, forever, until told to stop
client = spawn_link(fn ->
  loop = fn loop, n ->
    receive do
      {:stop, from} -> send(from, {:done, n})
    after 0 ->
      {:ok, v} = GenServer.call({:global, :demo_kv}, {:get, :count}, 10_000)
      :ok = GenServer.call({:global, :demo_kv}, {:put, :count, v + 1}, 10_000)
      loop.(loop, n + 1)
    end
  end
  :ok = GenServer.call({:global, :demo_kv}, {:put, :count, 0})
  loop.(loop, 0)
end)
Process.sleep(300)

move.("cnode:handoff(pid, c2)            C -> C", :erpc.call(c1, :cnode, :handoff, [where.(), c2]))
Process.sleep(300)
move.("cnode:handoff(pid, node())        C -> BEAM", :erpc.call(c2, :cnode, :handoff, [where.(), node()]))
Process.sleep(300)
move.("kv.handoff(pid, c1)               BEAM -> C", :kv.handoff(where.(), c1))
Process.sleep(300)
before = where.()
ref = Process.monitor(before)
show.("kill -TERM c1 (cnoded --drain-to c2)", System.cmd("kill", ["-TERM", c1_os]) |> elem(1))
# the drain moves the worker, and its :global name, to c2 (the old pid forwards meanwhile,
# for 5 s, before c1 is gone)
wait = fn wait, tries ->
  case where.() do
    ^before when tries > 0 -> Process.sleep(20); wait.(wait, tries - 1)
    moved -> moved
  end
end
move.("drained to", {:ok, wait.(wait, 500)})
receive do {:DOWN, ^ref, _, _, why} -> show.("  the old pid on c1 ended with", why) end
Process.sleep(300)

send(client, {:stop, self()})
n = receive do {:done, n} -> n end
{:ok, count} = GenServer.call({:global, :demo_kv}, {:get, :count})
show.("increments the client made", n)
show.("count in the worker, after four moves", count)
show.(":sys.get_state(kv)", :sys.get_state(where.()))
if count != n, do: (IO.puts("LOST UPDATES"); System.halt(1))
' "$c1@$host" "$c2@$host" "$c1_os" "$here/scripts/demo/kv.ex"

echo "== what the C nodes logged about handoffs"
grep -h "handed off\|drain" "$work"/*.log | sed 's/^/   /'
