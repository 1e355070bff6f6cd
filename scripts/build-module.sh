#!/usr/bin/env bash
# Build a hot-loadable native module from one C file and sign it (README "Hot code loading").
#   scripts/build-module.sh SRC OUT [KEY [CFLAGS...]]
# SRC: the module's C source (it ends with CN_MODULE_DEFINE); OUT: the signed module to write;
# KEY: a secret key from `cnoded keygen` (empty: OUT is the bare, unsigned shared object);
# CFLAGS: more compiler flags (e.g. -DVERSION=2). Environment: CC, CNODED (the cnoded binary
# that signs), EI_INC (erl_interface's include directory).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SRC OUT [KEY [CFLAGS...]]" >&2; exit 2; }
src=$1 out=$2 key=${3:-}
shift 2; [ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
: "${CC:=cc}" "${CNODED:=$here/build/cnoded}"
: "${EI_INC:=$(erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().')/include}"
mkdir -p "$(dirname "$out")"
so=$(mktemp "${TMPDIR:-/tmp}/cnmod.XXXXXX.so")
trap 'rm -f "$so"' EXIT
# -shared -fPIC: a shared object; the libcnode and ei functions it calls resolve against
# cnoded itself when it is loaded (cnoded exports them).
"$CC" -std=c11 -D_GNU_SOURCE -O2 -g -fPIC -shared -Wall -Wextra -Werror \
  -I"$here/cnode/include" -I"$EI_INC" "$@" -o "$so" "$src"
if [ -n "$key" ]; then
  "$CNODED" sign --key "$key" "$so" -o "$out"
  echo "signed module: $out"
else
  cp "$so" "$out"
  echo "UNSIGNED module: $out (loads only on a node started with --allow-unsigned)"
fi
