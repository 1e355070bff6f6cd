#!/usr/bin/env bash
# Generate throw-away certificates for TLS distribution tests and the demo (openssl CLI).
#
#   scripts/gen-test-certs.sh DIR [HOST...]
#
# Writes into DIR (created; private keys mode 0600, never meant to be committed):
#   ca.pem                      the test CA (ca.key its key)
#   node.pem, node.key          signed by ca.pem; names: this host's short and full name,
#                               localhost, 127.0.0.1 and any HOST given
#   other-ca.pem                a second, unrelated CA ("wrong CA")
#   other.pem, other.key        signed by other-ca.pem, same names as node.pem
#   expired.pem, expired.key    signed by ca.pem, valid only in January 2020
#   wrongname.pem, wrongname.key  signed by ca.pem for the name not-this-host.invalid only
# Keys are EC P-256; certificates carry serverAuth and clientAuth (nodes are both).
set -euo pipefail

dir=${1:?usage: gen-test-certs.sh DIR [HOST...]}
shift
command -v openssl >/dev/null || { echo "gen-test-certs: the openssl command is missing (apt-get install openssl)" >&2; exit 2; }
mkdir -p "$dir"
cd "$dir"
umask 077

short=$(hostname -s 2>/dev/null || hostname)
full=$(hostname -f 2>/dev/null || hostname)
names=("$short" "$full" localhost "$@")

san="IP:127.0.0.1"
declare -A seen=()
for n in "${names[@]}"; do
  [ -n "$n" ] && [ -z "${seen[$n]:-}" ] || continue
  seen[$n]=1
  san="$san,DNS:$n"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gen-test-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN: a self-signed CA valid for 10 years
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.pem"
}

# leaf NAME CA SAN [STARTDATE ENDDATE]: a node certificate signed by CA (openssl ca, which
# takes explicit validity dates, so that an expired certificate can be made too)
leaf() {
  local name=$1 ca=$2 alt=$3 start=${4:-} end=${5:-}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=cnode test $name" -out "$work/$name.csr"
  local db="$work/db-$name"
  mkdir -p "$db"
  : >"$db/index.txt"
  openssl rand -hex 16 >"$db/serial"
  cat >"$work/$name.cnf" <<EOF
[ca]
default_ca = ca_section
[ca_section]
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = $alt
EOF
  local dates=(-days 825)
  [ -n "$start" ] && dates=(-startdate "$start" -enddate "$end")
  openssl ca -batch -notext -config "$work/$name.cnf" -cert "$ca.pem" -keyfile "$ca.key" \
    -extensions ext "${dates[@]}" -in "$work/$name.csr" -out "$name.pem" 2>"$work/$name.err" \
    || { cat "$work/$name.err" >&2; exit 1; }
}

ca ca "cnode test CA"
ca other-ca "cnode other test CA"
leaf node ca "$san"
leaf other other-ca "$san"
leaf expired ca "$san" 20200101000000Z 20200131000000Z
leaf wrongname ca "DNS:not-this-host.invalid"
chmod 0644 ./*.pem
echo "gen-test-certs: wrote $(pwd) (names: $san)"
