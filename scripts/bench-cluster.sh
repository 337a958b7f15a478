#!/usr/bin/env bash
# Cross-node broadcast (issue 18's benchmark): a Socket.IO cluster of NODES nodes on one
# Redis, all wsreactor (examples/socketio_cluster.rs, release build) and then all Node
# (tests/cluster/node-server.mjs: socket.io 4.8 + @socket.io/redis-adapter 8, pinned by
# tests/cluster/package-lock.json), under the same load (benches/cluster_load.rs): one
# publisher on the first node, MEMBERS clients on every node in the room `all`, PUBLISHES
# events of SIZE bytes broadcast to the room, at most WINDOW of them on their way. Prints
# each cluster's figures and the ratios: deliveries per second of the nodes' CPU (the sum
# over the nodes, /proc; issue 18's target: at least 5x Node's), deliveries per second and
# p99 delivery latency (send to receipt, on the load's clock).
#
# The nodes run on the cores of SERVER_CPUS (taskset list, default 0), the load and Redis
# on CLIENT_CPU (default 1); Redis's CPU is shown apart, not counted as the nodes'. Each
# cluster gets a fresh redis-server on a free port.
#
# Knobs: NODES (2), MEMBERS (per node, 500), PUBLISHES (2000), WINDOW (16), SIZE (bytes,
# at least 31; 32), THREADS (the load's reading threads, 2), SERVER_CPUS, CLIENT_CPU.
# Installs what it lacks: taskset, redis-server, Node and npm (apt-get), the Node
# cluster's packages (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

NODES=${NODES:-2} MEMBERS=${MEMBERS:-500} PUBLISHES=${PUBLISHES:-2000} WINDOW=${WINDOW:-16}
SIZE=${SIZE:-32} THREADS=${THREADS:-2} SERVER_CPUS=${SERVER_CPUS:-0}
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

missing=()
need taskset || missing+=(util-linux)
need redis-server || missing+=(redis-server)
need node || missing+=(nodejs)
need npm || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    ${SUDO:-$(command -v sudo || true)} apt-get update -qq
    ${SUDO:-$(command -v sudo || true)} apt-get install -y -qq "${missing[@]}" >/dev/null
fi
log "building the cluster example and the load (release)"
cargo build --release --quiet --features redis --example socketio_cluster
cargo bench --quiet --bench cluster_load --no-run 2>/dev/null
log "installing the Node cluster's packages from the lockfile"
(cd tests/cluster && npm ci --no-audit --no-fund --loglevel=error)

# Waits for the log line naming http://ADDR/ in the file $1 and prints ADDR.
wait_addr() {
    local url
    for _ in $(seq 200); do
        if url=$(grep -oE 'http://[0-9.]+:[0-9]+/' "$1" | head -1); then
            url=${url#http://}; echo "${url%/}"; return
        fi
        sleep 0.05
    done
    echo "the node did not start: $(cat "$1")" >&2
    return 1
}

# cluster KIND: starts Redis and NODES nodes of KIND (rust or node), runs the load,
# stops them all; prints the load's figures.
cluster() {
    local kind=$1 port addrs=() node_pids=() i
    port=$(free_port)
    taskset -c "$CLIENT_CPU" redis-server --port "$port" --save '' --appendonly no \
        >"$tmp/redis-$kind.log" 2>&1 &
    local redis=$!
    pids+=("$redis")
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    for ((i = 0; i < NODES; i++)); do
        local log=$tmp/$kind-$i.log
        if [ "$kind" = rust ]; then
            # The address is logged at info; connections at debug.
            RUST_LOG=warn,socketio_cluster=info WSREACTOR_REDIS=redis://127.0.0.1:$port \
                taskset -c "$SERVER_CPUS" target/release/examples/socketio_cluster 127.0.0.1:0 \
                >"$log" 2>&1 &
        else
            WSREACTOR_REDIS=redis://127.0.0.1:$port \
                taskset -c "$SERVER_CPUS" node tests/cluster/node-server.mjs 0 >"$log" 2>&1 &
        fi
        pids+=($!)
        node_pids+=($!)
        addrs+=("$(wait_addr "$log")")
    done
    local list pid_list
    list=$(IFS=,; echo "${addrs[*]}")
    pid_list=$(IFS=,; echo "${node_pids[*]}")
    log "$kind cluster: nodes $list, Redis on port $port"
    REDIS_PID=$redis taskset -c "$CLIENT_CPU" cargo bench --quiet --bench cluster_load -- \
        "$list" "$pid_list" "$MEMBERS" "$PUBLISHES" "$WINDOW" "$SIZE" "$THREADS"
    kill "${node_pids[@]}" "$redis" 2>/dev/null || true
    wait "${node_pids[@]}" "$redis" 2>/dev/null || true
}

# Not in a subshell, so the exit trap knows every process started.
cluster rust >"$tmp/rust.out"
cluster node >"$tmp/node.out"
rust=$(cat "$tmp/rust.out") node=$(cat "$tmp/node.out")
node_version=$(node -p 'require("./tests/cluster/node_modules/socket.io/package.json").version')
adapter_version=$(node -p 'require("./tests/cluster/node_modules/@socket.io/redis-adapter/package.json").version')
echo "wsreactor cluster: $rust"
echo "node cluster:      $node   (socket.io $node_version, @socket.io/redis-adapter $adapter_version, $(node --version))"

field() { grep -oE "(^| )$1=[0-9.]+" <<<"$2" | cut -d= -f2; }
awk -v a="$(field deliveries_per_cpu_sec "$rust")" -v b="$(field deliveries_per_cpu_sec "$node")" \
    -v w="$(field deliveries_per_sec "$rust")" -v x="$(field deliveries_per_sec "$node")" \
    -v p="$(field p99_us "$rust")" -v q="$(field p99_us "$node")" 'BEGIN {
  printf "wsreactor vs node, %d nodes x %d members, %d B, window %d:\n", '"$NODES"', '"$MEMBERS"', '"$SIZE"', '"$WINDOW"'
  printf "  deliveries per node CPU-second: %.0f vs %.0f = %.2fx (target >= 5x)\n", a, b, a / b
  printf "  deliveries per second: %.0f vs %.0f = %.2fx\n", w, x, w / x
  printf "  p99 delivery latency: %.0f vs %.0f us = %.2f\n", p, q, p / q
}'
