#!/usr/bin/env bash
# The official socket.io-client (Node; pinned in tests/socketio/package-lock.json) against
# the socketio_chat example: transports, events, acks, binary, rooms, namespaces, restarts,
# heartbeats. Each test starts the servers it needs on free ports. Also the parity tests:
# the same client scripts against the reference server (npm socket.io, pinned there too) and
# the socketio_parity example, expecting the same observations (tests/socketio/parity.test.mjs),
# and connection state recovery the same way, both servers started with --recovery and the
# subject's TCP connections cut by a proxy (tests/socketio/recovery.test.mjs). And over
# https and wss://, the client trusting tests/tls/ca.pem (tests/socketio/tls.test.mjs): the
# examples are built with TLS, which serves plain http too unless given --tls. And the chat
# example on two reactors (tests/socketio/reactors.test.mjs): a long-polling session whose
# requests arrive on both, rooms and broadcasts across them. And permessage-deflate
# (tests/socketio/deflate.test.mjs): the `ws` client against the echo example with
# --deflate, socket.io-client against socketio_chat with and without --deflate.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --features socketio,tls --example socketio_chat --example socketio_parity \
    --example echo
cd tests/socketio
npm ci --no-audit --no-fund --loglevel=error
node --test
