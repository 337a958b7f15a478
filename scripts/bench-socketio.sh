#!/usr/bin/env bash
# Event echo throughput and memory per connected client: examples/socketio_chat.rs (release
# build) against Node's socket.io server (benches/peers/socketio, pinned by its lockfile) and
# socketioxide (benches/peers/socketioxide, pinned by its Cargo.lock), under the same load
# (benches/socketio_load.rs, over WebSocket). Each server is pinned to core $SERVER_CPU and
# the load to core $CLIENT_CPU (taskset), as in bench-peers.sh, so the per-CPU figures
# compare; the load reads the server's CPU time from /proc, all its threads.
#
# Connection state recovery: the example and the Node server run with it on (every reply
# then carries an offset); socketioxide has none. So wsreactor runs twice: recovery on
# against Node, recovery off (SOCKETIO_RECOVERY_MS=0) against socketioxide; within each pair
# the replies have the same shape, and the load checks every one (their mean size is shown).
#
# Knobs: IDLE (clients for the memory figure, 2000), CLIENTS (32), WINDOW (events in flight
# per client, 64), DURATION (seconds, 10), SERVER_CPU (0), CLIENT_CPU (1).
# Installs what it lacks: taskset, Node and npm (apt-get), the peers' dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-2000} CLIENTS=${CLIENTS:-32} WINDOW=${WINDOW:-64} DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

missing=()
command -v taskset >/dev/null || missing+=(util-linux)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --release --quiet --features socketio --example socketio_chat
cargo bench --quiet --bench socketio_load --no-run 2>/dev/null
(cd benches/peers/socketio && npm ci --no-audit --no-fund --loglevel=error)
(cd benches/peers/socketioxide && cargo build --release --quiet --locked)

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

# start NAME CMD...: the server pinned to SERVER_CPU, its log in $tmp/NAME.log; sets ADDR.
start() {
  local name=$1; shift
  taskset -c "$SERVER_CPU" "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  ADDR=$(wait_addr "$tmp/$name.log")
}

# The load pinned to CLIENT_CPU against the last server started; prints its figures.
load() {
  taskset -c "$CLIENT_CPU" cargo bench --quiet --bench socketio_load -- \
    "$ADDR" "${pids[-1]}" "$IDLE" "$CLIENTS" "$WINDOW" "$DURATION"
}

stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; }

# Our log names the address at info level (connections are logged too: 1 line each).
RUST_LOG=info start ours target/release/examples/socketio_chat 127.0.0.1:0
ours=$(load); stop
start node node benches/peers/socketio/server.mjs
node=$(load); stop
RUST_LOG=info SOCKETIO_RECOVERY_MS=0 start plain target/release/examples/socketio_chat 127.0.0.1:0
plain=$(load); stop
start sioxide benches/peers/socketioxide/target/release/peer-socketioxide 127.0.0.1:0
sioxide=$(load); stop
sioxide_version=$(grep -A1 '^name = "socketioxide"$' benches/peers/socketioxide/Cargo.lock | grep -oE '[0-9.]+')

field() { grep -oE "(^| )$1=[0-9.]+" <<<"$2" | cut -d= -f2; }
echo "wsreactor, recovery on:   $ours"
echo "node socket.io:           $node   ($(head -1 "$tmp/node.log"), recovery on)"
echo "wsreactor, recovery off:  $plain"
echo "socketioxide:             $sioxide   (socketioxide $sioxide_version, tokio multi-thread on 1 core, no recovery)"
# ratio LABEL OURS PEER: wsreactor's figures over the peer's, with issue 14's target (ahead).
ratio() {
  awk -v label="$1" -v a="$(field events_per_cpu_sec "$2")" -v b="$(field events_per_cpu_sec "$3")" \
      -v w="$(field events_per_sec "$2")" -v x="$(field events_per_sec "$3")" \
      -v c="$(field bytes_per_client "$2")" -v d="$(field bytes_per_client "$3")" 'BEGIN {
    printf "wsreactor vs %s:\n", label
    printf "  events per server CPU-second: %.0f vs %.0f = %.2fx (target > 1x)\n", a, b, a / b
    printf "  events per second: %.0f vs %.0f = %.2fx\n", w, x, w / x
    printf "  memory per client: %.0f vs %.0f bytes = %.3f (target < 1)\n", c, d, c / d
  }'
}
ratio "node socket.io (both with recovery on)" "$ours" "$node"
echo "  (the Socket.IO issue's targets against Node: events per second >= 15x, memory <= 0.25)"
ratio "socketioxide (neither with recovery)" "$plain" "$sioxide"
