#!/usr/bin/env bash
# Run every Check unit-test binary given; fail if any fails.
set -u
fail=0
for t in "$@"; do
  echo "== unit: $(basename "$t")"
  CK_FORK=yes "$t" || fail=1
done
exit $fail
