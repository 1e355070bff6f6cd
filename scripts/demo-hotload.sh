#!/usr/bin/env bash
# The "hot-load from a laptop" demo, as one command: build two versions of the example native
# module (workers/loadable/counter.c), sign them with a fresh key, start cnoded trusting it,
# then from an Elixir node: load v1 over rpc, start a worker, load v2 (the worker moves through
# code_change), purge v1, load v1 again (it moves back). Everything it starts is stopped at the end.
#   scripts/demo-hotload.sh            (uses epmd on $ERL_EPMD_PORT or 4369, started if needed)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
make --no-print-directory all >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/cnode-demo.XXXXXX")
cnode_pid=""
cleanup() {
  [ -n "$cnode_pid" ] && kill "$cnode_pid" 2>/dev/null && wait "$cnode_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== a signing key, and the two versions of counter, signed"
build/cnoded keygen "$work/demo" >/dev/null
for v in 1 2; do
  make --no-print-directory module SRC=workers/loadable/counter.c KEY="$work/demo.key" \
    MODFLAGS=-DVERSION=$v OUT="$work/counter_v$v.cnm"
done

cookie=demo_$$
name=demo_c_$$
echo "== cnoded --sname $name --trust-key $work/demo.pub"
build/cnoded --sname "$name" --cookie "$cookie" --trust-key "$work/demo.pub" \
  >"$work/cnoded.log" 2>&1 &
cnode_pid=$!
for _ in $(seq 50); do grep -q " started" "$work/cnoded.log" && break; sleep 0.1; done

elixir --sname "demo_iex_$$" --cookie "$cookie" -e '
[name, dir] = System.argv()
[_, host] = node() |> Atom.to_string() |> String.split("@")
c = :"#{name}@#{host}"
true = Node.connect(c)
show = fn label, v -> IO.puts(String.pad_trailing(label, 58) <> inspect(v)); v end
load = fn f -> :rpc.call(c, :code, :load_binary, [:counter, to_charlist(Path.basename(f)), File.read!(f)]) end
show.(":rpc.call(c, :code, :load_binary, [:counter, ..v1..])", load.(Path.join(dir, "counter_v1.cnm")))
pid = show.("pid = Node.spawn(c, :counter, :start, [5])", Node.spawn(c, :counter, :start, [5]))
show.("GenServer.call(pid, {:add, 2})", GenServer.call(pid, {:add, 2}))
show.(":sys.get_state(pid)", :sys.get_state(pid))
show.(":rpc.call(c, :code, :load_binary, [:counter, ..v2..])", load.(Path.join(dir, "counter_v2.cnm")))
show.(":erpc.call(c, :counter, :vsn, [])", :erpc.call(c, :counter, :vsn, []))
show.("GenServer.call(pid, :vsn)   # moved at the load", GenServer.call(pid, :vsn))
show.(":sys.get_state(pid)", :sys.get_state(pid))
show.("GenServer.call(pid, {:add, 1})", GenServer.call(pid, {:add, 1}))
show.(":code.soft_purge(:counter)  # nothing runs v1: dlclosed", :rpc.call(c, :code, :soft_purge, [:counter]))
show.(":rpc.call(c, :code, :load_binary, [:counter, ..v1..])", load.(Path.join(dir, "counter_v1.cnm")))
show.("GenServer.call(pid, :vsn)   # rolled back", GenServer.call(pid, :vsn))
show.(":sys.get_state(pid)", :sys.get_state(pid))
show.(":code.which(:counter)", :rpc.call(c, :code, :which, [:counter]))
' "$name" "$work"

echo "== what cnoded logged about code"
grep "code:" "$work/cnoded.log" | sed 's/^/   /'
