#!/usr/bin/env bash
# Event echo throughput and memory per connected client: examples/socketio_chat.rs (release
# build) against Node's socket.io server (benches/peers/socketio, pinned by its lockfile),
# under the same load (benches/socketio_load.rs, over WebSocket). Prints the figures of
# both and the ratios. Knobs: IDLE (clients for the memory figure, 2000), CLIENTS (32),
# WINDOW (events in flight per client, 64), DURATION (seconds, 10).
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-2000} CLIENTS=${CLIENTS:-32} WINDOW=${WINDOW:-64} DURATION=${DURATION:-10}
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

cargo build --release --quiet --features socketio --example socketio_chat
cargo bench --quiet --bench socketio_load --no-run 2>/dev/null
(cd benches/peers/socketio && npm ci --no-audit --no-fund --loglevel=error)

# Waits for the server's log line naming http://ADDR/ and prints ADDR.
wait_addr() {
  for _ in $(seq 100); do
    if url=$(grep -oE 'http://[0-9.]+:[0-9]+/' "$1" | head -1); then
      url=${url#http://}; echo "${url%/}"; return
    fi
    sleep 0.1
  done
  echo "the server did not start: $(cat "$1")" >&2; exit 1
}

load() {
  cargo bench --quiet --bench socketio_load -- "$1" "$2" "$IDLE" "$CLIENTS" "$WINDOW" "$DURATION"
}

# Our log names the address at info level (connections are logged too: 1 line each).
RUST_LOG=info target/release/examples/socketio_chat 127.0.0.1:0 >"$tmp/ours.log" 2>&1 &
pids+=($!)
ours=$(load "$(wait_addr "$tmp/ours.log")" "${pids[-1]}")
kill "${pids[-1]}"

node benches/peers/socketio/server.mjs >"$tmp/node.log" 2>&1 &
pids+=($!)
peer=$(load "$(wait_addr "$tmp/node.log")" "${pids[-1]}")

field() { grep -oE "$1=[0-9.]+" <<<"$2" | cut -d= -f2; }
echo "wsreactor:        $ours"
echo "node socket.io:   $peer   ($(head -1 "$tmp/node.log"))"
awk -v a="$(field events_per_sec "$ours")" -v b="$(field events_per_sec "$peer")" \
    -v c="$(field bytes_per_client "$ours")" -v d="$(field bytes_per_client "$peer")" 'BEGIN {
  printf "throughput: %.0f vs %.0f events/s = %.2fx (target >= 15x)\n", a, b, a / b
  printf "memory per client: %.0f vs %.0f bytes = %.3f of node (target <= 0.25)\n", c, d, c / d
}'
