#!/usr/bin/env bash
# The official socket.io-client (Node; pinned in tests/socketio/package-lock.json) against
# the socketio_chat example: transports, events, acks, binary, rooms, namespaces, restarts,
# heartbeats. Each test starts the servers it needs on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --features socketio --example socketio_chat
cd tests/socketio
npm ci --no-audit --no-fund --loglevel=error
node --test
