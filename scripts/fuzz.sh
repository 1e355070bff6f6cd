#!/usr/bin/env bash
# Run the libFuzzer harnesses (test/fuzz/fuzz_*.c, built by `make fuzz` into build-fuzz/fuzz/).
# Usage: fuzz.sh SECONDS BIN...   SECONDS > 0: fuzz each harness that long, starting from its
# seeds (test/fuzz/corpus/<name>) and what earlier runs found (build-fuzz/corpus/<name>);
# SECONDS = 0: a quick regression run for `make test`: the seeds, then a fixed number of
# mutations of them (FUZZ_RUNS, default 20000). A crash leaves its input in
# build-fuzz/crashes/ and fails the run; reproduce it with `BIN FILE`.
set -uo pipefail
secs=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
out=$here/build-fuzz
mkdir -p "$out/crashes"
fail=0
for bin in "$@"; do
  name=$(basename "$bin")
  seeds=$here/test/fuzz/corpus/${name#fuzz_}
  log=$out/$name$([ "$secs" -gt 0 ] || echo .smoke).log
  if [ "$secs" -gt 0 ]; then
    corpus=$out/corpus/${name#fuzz_}
    mkdir -p "$corpus"
    args=(-max_total_time="$secs" "$corpus" "$seeds")
  else
    # a scratch corpus: mutations found here are not kept
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/cnode_fuzz.XXXXXX")
    args=(-runs="${FUZZ_RUNS:-20000}" -seed=1 "$corpus" "$seeds")
  fi
  if "$bin" -max_len=8192 -timeout=10 -rss_limit_mb=1024 -artifact_prefix="$out/crashes/$name-" \
    "${args[@]}" >"$log" 2>&1; then
    printf 'fuzz: %-10s ok   %s\n' "${name#fuzz_}" "$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed 's/ *rss:.*//')"
  else
    fail=1
    printf 'fuzz: %-10s FAIL (log %s)\n' "${name#fuzz_}" "$log"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
  [ "$secs" -gt 0 ] || rm -rf "$corpus"
done
exit $fail
