#!/usr/bin/env bash
# A local certificate authority and a server certificate it signed, for 127.0.0.1, ::1
# and localhost: for trying wss:// and https:// locally and for the TLS tests. LOCAL USE
# ONLY: the keys are written unencrypted.
#
#   scripts/make-cert.sh [DIR]      # default target/tls; keeps a complete existing set
#   FORCE=1 scripts/make-cert.sh    # make a new set
#   DAYS=36500 scripts/make-cert.sh tests/tls   # the committed test set (long-lived)
#
# Writes DIR/ca.pem (trust this one: browsers, `--cacert`, a rustls client's root store),
# DIR/ca-key.pem, DIR/cert.pem (the server's certificate; a real chain would add the
# intermediates after it) and DIR/key.pem (the server's key, PKCS#8). Then:
#   cargo run --example echo --features tls -- --tls DIR/cert.pem DIR/key.pem
# Uses Debian's openssl (installed when missing). EC P-256 keys, SHA-256 signatures.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-target/tls}
days=${DAYS:-825}
if [ -z "${FORCE:-}" ] && [ -s "$dir/ca.pem" ] && [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
    echo "$dir: certificates already there (FORCE=1 to make new ones)" >&2
    exit 0
fi
if ! command -v openssl >/dev/null 2>&1; then
    echo "installing openssl..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca-key.pem" 2>/dev/null
openssl req -x509 -new -sha256 -key "$tmp/ca-key.pem" -days "$days" \
    -subj "/CN=wsreactor local test CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$tmp/ca.pem"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
openssl req -new -sha256 -key "$tmp/key.pem" -subj "/CN=localhost" -out "$tmp/server.csr"
cat >"$tmp/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
openssl x509 -req -sha256 -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" \
    -CAcreateserial -days "$days" -extfile "$tmp/server.ext" -out "$tmp/cert.pem" 2>/dev/null

cp "$tmp/ca.pem" "$tmp/ca-key.pem" "$tmp/cert.pem" "$tmp/key.pem" "$dir/"
chmod 600 "$dir/ca-key.pem" "$dir/key.pem"
echo "$dir: ca.pem (trust this), cert.pem, key.pem; valid $days days" >&2
