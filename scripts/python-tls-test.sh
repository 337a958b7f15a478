#!/usr/bin/env bash
# The Python `websockets` client against the echo example over TLS (wss://).
#
#   bash scripts/python-tls-test.sh
#   DEFLATE=1 bash scripts/python-tls-test.sh   # the server with --deflate: compressed
#
# 1. makes a venv with the pinned `websockets` in a cache directory, once;
# 2. builds the echo example (release, feature `tls`) and starts it on a port the OS picks,
#    serving the test-only certificate of tests/tls/;
# 3. runs tests/python/tls_client.py (round trips, a clean close, many concurrent clients)
#    with an ssl context that trusts only tests/tls/ca.pem;
# 4. stops the server and checks from its log that it saw the client's close code.
#
# With DEFLATE=1 the echo example offers permessage-deflate (`--deflate`) and the client,
# which offers it by default, checks that every connection negotiated it.
#
# Exits non-zero if any of that fails. Logs go to target/python-tls/.
# Environment: PYTHON (default python3), PY_TLS_CACHE (default
# ~/.cache/wsreactor/py-websockets-<version>), CLIENTS (concurrent clients, default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/echo-server.sh

VERSION=17.4
PY=${PYTHON:-python3}
VENV=${PY_TLS_CACHE:-$HOME/.cache/wsreactor/py-websockets-$VERSION}
OUT=target/python-tls
SERVER_ARGS=()
CLIENT_ARGS=()
if [ "${DEFLATE:-0}" = 1 ]; then
    SERVER_ARGS=(--deflate)
    CLIENT_ARGS=(deflate)
fi
started=$(date +%s)
mkdir -p "$OUT"

# --- 1. the client library ----------------------------------------------------------------
# Built in a scratch directory and moved into place: an interrupted install never leaves a
# half-made venv that a later run would trust.
if [ ! -e "$VENV/.installed" ]; then
    if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
        echo "python-tls: installing python3-venv"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv
    fi
    echo "python-tls: installing websockets $VERSION into $VENV"
    rm -rf "$VENV.tmp"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV.tmp"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV.tmp/bin/python" -m pip install \
        "websockets==$VERSION" >"$OUT/pip.log" 2>&1; then
        tail -n 30 "$OUT/pip.log" >&2
        echo "python-tls: pip install failed (full log: $OUT/pip.log)" >&2
        exit 1
    fi
    touch "$VENV.tmp/.installed"
    rm -rf "$VENV"
    # A venv's scripts name its path; python -m (below) is all this script uses.
    mv "$VENV.tmp" "$VENV"
fi

# --- 2. the server -------------------------------------------------------------------------
cargo build --release --quiet --features tls --example echo

server_pid=
client_pid=
cleanup() { stop_jobs $client_pid $server_pid; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Room for CLIENTS connections is the default limit (10,000).
start_echo "$OUT/server.log" wss python-tls --tls tests/tls/cert.pem tests/tls/key.pem \
    "${SERVER_ARGS[@]}"

# --- 3. the client -------------------------------------------------------------------------
# localhost, not the IP: the certificate names both, and a name exercises hostname checks.
url="wss://localhost:${addr##*:}"
echo "python-tls: websockets $VERSION against $url"
timeout 300 "$VENV/bin/python" tests/python/tls_client.py "$url" tests/tls/ca.pem \
    "${CLIENTS:-200}" "${CLIENT_ARGS[@]}" >"$OUT/client.log" 2>&1 &
client_pid=$!
client_ok=1
wait "$client_pid" || client_ok=0
client_pid=
cat "$OUT/client.log"
if [ "$client_ok" = 0 ]; then
    echo "python-tls: the client failed (server log: $OUT/server.log)" >&2
    exit 1
fi

server_alive=1
kill -0 "$server_pid" 2>/dev/null || server_alive=0
cleanup

# --- 4. the server's side of the close ------------------------------------------------------
if [ "$server_alive" = 0 ]; then
    echo "python-tls: the echo server died during the run (see $OUT/server.log)" >&2
    exit 1
fi
if ! grep -q 'disconnected: 4001 (.*: python-tls-bye)' "$OUT/server.log"; then
    grep disconnected "$OUT/server.log" | head -n 5 >&2
    echo "python-tls: the server did not log the client's close 4001 python-tls-bye" >&2
    exit 1
fi
echo "python-tls: passed in $(( $(date +%s) - started )) s; the server saw close 4001"
