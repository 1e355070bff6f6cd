#!/usr/bin/env bash
# Install what cnode needs to build, run and test, with apt-get.
# Idempotent: does nothing (no apt-get call at all) when everything is already present.
set -euo pipefail

# erlang-nox/elixir: the BEAM nodes the interop tests run against; erlang-dev: erl_interface (ei);
# check: unit tests; libsodium-dev, libssl-dev: randomness, digests and TLS; openssl: the command
# that makes test certificates (scripts/gen-test-certs.sh); debootstrap is installed
# by ../shared/tools/otp27 itself when the OTP 27 suite runs.
pkgs=(build-essential pkg-config erlang-nox erlang-dev elixir check libsodium-dev libssl-dev openssl)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
