#!/usr/bin/env bash
# Memory per idle process and spawn rate: cnode (library, echo workers) vs a BEAM node
# (idle processes blocked in receive), in the same run. Usage: bench-procs.sh BIN [N]
set -euo pipefail
bin=$1
n=${2:-1000000}
c=$("$bin" "$n")
echo "$c"
b=$(erl -noshell +P $((n * 2)) -eval "
  N = $n,
  garbage_collect(),
  M0 = erlang:memory(total),
  T0 = erlang:monotonic_time(millisecond),
  Ps = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, N)],
  T1 = erlang:monotonic_time(millisecond),
  M1 = erlang:memory(total),
  io:format(\"beam: ~b idle processes in ~.2f s (~b/s), ~b bytes each (erlang:memory delta)~n\",
            [N, (T1 - T0) / 1000, round(N * 1000 / max(1, T1 - T0)), (M1 - M0) div N]),
  [P ! stop || P <- Ps],
  halt().")
echo "$b"
cb=$(sed -n 's/.* \([0-9]*\) bytes each.*/\1/p' <<<"$c")
bb=$(sed -n 's/.* \([0-9]*\) bytes each.*/\1/p' <<<"$b")
awk -v c="$cb" -v b="$bb" 'BEGIN { printf "bytes per idle process, cnode/beam: %.2f\n", c / b }'
