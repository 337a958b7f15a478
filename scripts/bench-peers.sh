#!/usr/bin/env bash
# wsreactor's echo side by side with uWebSockets (C++), tokio-tungstenite, fastwebsockets and
# Node ws.
#
# Method: each server pinned to core $SERVER_CPU (a server of several reactors too: all its
# threads share that core, so its CPU per message is comparable), the load generator (examples/loadgen) to
# core $CLIENT_CPU; a fresh server process per measurement; within each round the servers
# take turns, in an order that rotates from turn to turn; the tables show medians over
# $ROUNDS rounds (and the best round, for CPU per message). The steady figure is the server's CPU time per echoed message (from
# /proc/PID/stat): msgs/s moves with whatever else the machine runs. A load measurement
# during which other processes used more than $QUIET_PCT % of a core is taken again (up to
# $TRIES times; the least disturbed is kept), and the table reports how much they used.
#
# Scenarios:
#   a  100 connections x  1 in flight x    32 B text
#   b  100 connections x 16 in flight x    32 B text
#   c   10 connections x  4 in flight x 16 KiB binary
#   d  RSS per idle connection, 10,000 held (each echoed once)
#   e  19,000 concurrent connections, each echoing once: how many are served
#   f  broadcast: 1 publisher -> 1,000 subscribers, 32 B text, server CPU per delivery
#   g  broadcast: 1 publisher -> 10,000 subscribers, the same
#
# f and g run the servers that have a pub/sub counterpart (wsreactor: benches/broadcast.rs's
# Room server; uws: benches/peers/uws/pubsub.cpp) with benches/broadcast.rs's client, which
# verifies every delivery; the others are skipped there. The publisher sends
# $BROADCAST_DELIVERIES / subscribers messages in batches of $BROADCAST_BATCH, each once
# every subscriber has the previous one (0: all at once; uWebSockets pays a send per
# delivery for bursts over 32: see benches/broadcast.rs). They are scenarios of this script,
# not a script of their own, so that one run measures every target of issue 14 with one
# method (rounds, rotation, repeats when disturbed) and one table.
#
#   scripts/bench-peers.sh                       # everything: ~13 minutes on a quiet machine
#   TLS=1 scripts/bench-peers.sh                 # wss:// against ws:// (issue 15): ~7 minutes
#   ROUNDS=1 DURATION=2 scripts/bench-peers.sh   # a quick look
#   SERVERS="wsreactor fastwebsockets" SCENARIOS="a b" scripts/bench-peers.sh
#   SERVERS="wsreactor uws" SCENARIOS="f g" scripts/bench-peers.sh   # broadcast alone
#   # before and after a change: the echo example of another commit as the peer
#   git worktree add /tmp/base BASE && (cd /tmp/base && cargo build --release --example echo)
#   SERVERS="wsreactor baseline" BASELINE_ECHO=/tmp/base/target/release/examples/echo \
#       SCENARIOS="b d" scripts/bench-peers.sh
#   # one reactor against two (wsreactor-rN, or wsreactor-rN-handoff; see bench-reactors.sh)
#   SERVERS="wsreactor wsreactor-r2" SCENARIOS="a b c d" scripts/bench-peers.sh
#   # permessage-deflate (issue 16): NAME-deflate servers have it on, with their defaults
#   # (threshold 1 KiB), and the load generator compresses every message it sends
#   DEFLATE=1 scripts/bench-peers.sh             # ~5 minutes; ROUNDS=1 DURATION=1 to try it
#
# TLS: a server named NAME-tls serves wss:// (wsreactor-tls: the echo example with --tls and
# the committed test certificate; node-ws-tls: Node ws on an https server); the load
# generator speaks TLS with rustls. TLS=1 makes the default servers "wsreactor-tls wsreactor
# node-ws-tls node-ws" and the default scenarios "a b c d"; ratios are then wsreactor-tls's.
#
# Installs what it lacks: Node and npm (apt-get) and the peers' dependencies (cargo, npm ci);
# benches/peers/uws/build.sh builds uWebSockets from source into target/uws/ (see there).
# Writes every measurement to target/bench-peers/results.jsonl and the table to
# target/bench-peers/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

ROUNDS=${ROUNDS:-7}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-3}
# d and e give the same figures every round; they run in the first IDLE_ROUNDS rounds only.
IDLE_ROUNDS=${IDLE_ROUNDS:-2}
if [ "${TLS:-0}" != 0 ]; then
    SERVERS=${SERVERS:-"wsreactor-tls wsreactor node-ws-tls node-ws"}
    SCENARIOS=${SCENARIOS:-"a b c d"}
elif [ "${DEFLATE:-0}" != 0 ]; then
    SERVERS=${SERVERS:-"wsreactor-deflate wsreactor node-ws-deflate node-ws uws-deflate uws"}
    SCENARIOS=${SCENARIOS:-"b c d"}
else
    SERVERS=${SERVERS:-"wsreactor uws tokio-tungstenite fastwebsockets node-ws"}
    SCENARIOS=${SCENARIOS:-"a b c d e f g"}
fi
# QUIET_PCT and TRIES: when a measurement is repeated (see measure in bench-lib.sh).
IDLE_CONNS=${IDLE_CONNS:-10000}
MANY_CONNS=${MANY_CONNS:-19000}
# 4,000,000 deliveries take 0.5 to 1.5 s of server CPU: the CPU clock ticks every 10 ms, so
# that resolves 1 to 2 %.
BROADCAST_DELIVERIES=${BROADCAST_DELIVERIES:-4000000}
BROADCAST_BATCH=${BROADCAST_BATCH:-32}
OUT=target/bench-peers
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

# run_once SCENARIO SERVER: one fresh server, one client run; prints its JSON line.
run_once() {
    local scenario=$1 server=$2 args
    case $scenario in
        f | g)
            run_broadcast "$server" "$([ "$scenario" = f ] && echo 1000 || echo 10000)"
            return
            ;;
        a) args=(-c 100 -k 1 -s 32 -w "$WARMUP" -d "$DURATION") ;;
        b) args=(-c 100 -k 16 -s 32 -w "$WARMUP" -d "$DURATION") ;;
        c) args=(-c 10 -k 4 -s 16384 --binary -w "$WARMUP" -d "$DURATION") ;;
        d) args=(--idle -c "$IDLE_CONNS") ;;
        e) args=(--idle -c "$MANY_CONNS" --settle 0) ;;
    esac
    run_load "$server" "${args[@]}"
}

# run_broadcast SERVER SUBSCRIBERS: SERVER's pub/sub counterpart and the broadcast client.
run_broadcast() {
    local server=$1 subscribers=$2 addr=127.0.0.1:$(free_port)
    local -a cmd
    read -r -a cmd <<<"$(pubsub_cmd "$server")"
    start_server "$addr" "${cmd[@]}"
    broadcast_client --target "$addr" --subscribers "$subscribers" --batch "$BROADCAST_BATCH" \
        --deliveries "$BROADCAST_DELIVERIES" --pid "$SERVER_PID" --label "$server" \
        2>>"$OUT/loadgen.log" || true
    stop_server
}

install_tools
build_wsreactor $SERVERS
build_peers $SERVERS
if [[ " $SCENARIOS " == *" f "* || " $SCENARIOS " == *" g "* ]]; then
    build_broadcast
fi
log "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
log "rounds $ROUNDS, warm-up ${WARMUP}s, window ${DURATION}s, servers: $SERVERS"
turn=0
for ((round = 1; round <= ROUNDS; round++)); do
    for scenario in $SCENARIOS; do
        if [[ $scenario == [de] ]] && ((round > IDLE_ROUNDS)); then
            continue
        fi
        turn=$((turn + 1))
        for server in $(rotated "$turn"); do
            if [[ $scenario == [fg] ]] && [ -z "$(pubsub_cmd "$server")" ]; then
                continue
            fi
            measure "$round" "$scenario" "$server"
        done
    done
done
log "load average after the run: $(uptime | sed 's/.*load average: //')"
python3 scripts/bench-table.py "$RESULTS" "$SERVERS" | tee "$OUT/table.md"
