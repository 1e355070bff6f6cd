#!/usr/bin/env bash
# Install what cnode needs to build, run and test, with apt-get.
# Idempotent: does nothing (no apt-get call at all) when everything is already present.
set -euo pipefail

# erlang-nox/elixir: the BEAM nodes the interop tests run against; erlang-dev: erl_interface (ei);
# check: unit tests; libsodium-dev, libssl-dev: randomness, digests and TLS; openssl: the command
# that makes test certificates (scripts/gen-test-certs.sh); debootstrap is installed
# by ../shared/tools/otp27 itself when the OTP 27 suite runs; clang: the fuzz harnesses
# (libFuzzer, whose runtime is in libclang-rt-N-dev, N = clang's version: added below);
# erlang-src: etop's sources, which observer_test compiles (erlang-nox has no observer).
pkgs=(build-essential pkg-config erlang-nox erlang-dev erlang-src elixir check libsodium-dev libssl-dev openssl clang)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# libFuzzer's runtime is there when clang can link a fuzz target
fuzzer_rt() {
  command -v clang >/dev/null &&
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
    clang -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! fuzzer_rt; then
  rt=libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev
  echo "install-deps: installing $rt"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "$rt" >/dev/null
fi
