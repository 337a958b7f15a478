#!/usr/bin/env bash
# The Redis adapter and plain rooms across nodes (feature `redis`) against a real
# redis-server (tests/redis.rs: two servers in one process, clients on both), then a
# Socket.IO cluster on one Redis: two nodes of examples/socketio_cluster.rs and two of its
# Node twin (tests/cluster/node-server.mjs: socket.io + @socket.io/redis-adapter + redis,
# pinned in tests/cluster/package-lock.json), official clients on all four
# (tests/cluster/cluster.test.mjs),
# which starts (and restarts) its own redis-server on a free port. Installs redis-server
# (Debian) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
    ${SUDO:-$(command -v sudo || true)} apt-get update -qq
    ${SUDO:-$(command -v sudo || true)} apt-get install -y -qq redis-server >/dev/null
fi
# The adapter and the rooms against a real Redis (tests/redis.rs: its ignored tests need redis-server).
cargo test --quiet --features redis --test redis -- --include-ignored
cargo build --quiet --features redis --example socketio_cluster
(cd tests/cluster && npm ci --no-audit --no-fund --loglevel=error)

# The test runs redis-server itself on this port (it restarts it mid-test).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd tests/cluster
REDIS_PORT="$port" node --test
