#!/usr/bin/env bash
# wsreactor's echo side by side with tokio-tungstenite, fastwebsockets and Node ws.
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
#
#   scripts/bench-peers.sh                       # everything: ~10 minutes on a quiet machine, at most ~15
#   TLS=1 scripts/bench-peers.sh                 # wss:// against ws:// (issue 15): ~7 minutes
#   ROUNDS=1 DURATION=2 scripts/bench-peers.sh   # a quick look
#   SERVERS="wsreactor fastwebsockets" SCENARIOS="a b" scripts/bench-peers.sh
#   # before and after a change: the echo example of another commit as the peer
#   git worktree add /tmp/base BASE && (cd /tmp/base && cargo build --release --example echo)
#   SERVERS="wsreactor baseline" BASELINE_ECHO=/tmp/base/target/release/examples/echo \
#       SCENARIOS="b d" scripts/bench-peers.sh
#   # one reactor against two (wsreactor-rN, or wsreactor-rN-handoff; see bench-reactors.sh)
#   SERVERS="wsreactor wsreactor-r2" SCENARIOS="a b c d" scripts/bench-peers.sh
#
# TLS: a server named NAME-tls serves wss:// (wsreactor-tls: the echo example with --tls and
# the committed test certificate; node-ws-tls: Node ws on an https server); the load
# generator speaks TLS with rustls. TLS=1 makes the default servers "wsreactor-tls wsreactor
# node-ws-tls node-ws" and the default scenarios "a b c d"; ratios are then wsreactor-tls's.
#
# Installs what it lacks: Node and npm (apt-get) and the peers' dependencies (cargo, npm ci).
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
else
    SERVERS=${SERVERS:-"wsreactor tokio-tungstenite fastwebsockets node-ws"}
    SCENARIOS=${SCENARIOS:-"a b c d e"}
fi
# A load measurement during which the rest of the machine used more than QUIET_PCT % of a
# core is repeated, up to TRIES times in all; the least disturbed one is kept.
QUIET_PCT=${QUIET_PCT:-10}
TRIES=${TRIES:-2}
IDLE_CONNS=${IDLE_CONNS:-10000}
MANY_CONNS=${MANY_CONNS:-19000}
OUT=target/bench-peers
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

need() { command -v "$1" >/dev/null 2>&1; }

install_tools() {
    local missing=()
    need taskset || missing+=(util-linux)
    need python3 || missing+=(python3)
    if [[ " $SERVERS " == *" node-ws "* || " $SERVERS " == *" node-ws-tls "* ]]; then
        need node || missing+=(nodejs)
        need npm || missing+=(npm)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

build_peers() {
    local node_done=""
    for s in $SERVERS; do
        case $s in
            tokio-tungstenite | fastwebsockets)
                log "building peer $s (release)"
                (cd "benches/peers/$s" && cargo build --release --quiet --locked)
                ;;
            node-ws | node-ws-tls)
                [ -z "$node_done" ] || continue
                node_done=1
                log "installing Node ws from the lockfile"
                (cd benches/peers/node-ws && npm ci --silent --no-audit --no-fund)
                ;;
        esac
    done
}

# The servers in round-robin order starting at position $1.
rotated() {
    local -a s=($SERVERS)
    local n=${#s[@]} i
    for ((i = 0; i < n; i++)); do echo "${s[(($1 + i) % n)]}"; done
}

# run_once SCENARIO SERVER: one fresh server, one loadgen run; prints its JSON line.
run_once() {
    local scenario=$1 server=$2 args
    case $scenario in
        a) args=(-c 100 -k 1 -s 32 -w "$WARMUP" -d "$DURATION") ;;
        b) args=(-c 100 -k 16 -s 32 -w "$WARMUP" -d "$DURATION") ;;
        c) args=(-c 10 -k 4 -s 16384 --binary -w "$WARMUP" -d "$DURATION") ;;
        d) args=(--idle -c "$IDLE_CONNS") ;;
        e) args=(--idle -c "$MANY_CONNS" --settle 0) ;;
    esac
    local -a cmd
    read -r -a cmd <<<"$(server_cmd "$server")"
    local addr=127.0.0.1:$(free_port)
    start_server "$addr" "${cmd[@]}"
    # A run with failures still reports; the record says how many connections failed.
    loadgen "$(url "$server" "$addr")" "${args[@]}" --pid "$SERVER_PID" --label "$server" 2>>"$OUT/loadgen.log" || true
    stop_server
}

# measure ROUND SCENARIO SERVER: keeps one JSON line per measurement, repeating a load
# measurement that other work on the machine disturbed.
measure() {
    local round=$1 scenario=$2 server=$3 line best="" best_other try
    for ((try = 1; try <= TRIES; try++)); do
        line=$(run_once "$scenario" "$server")
        [ -n "$line" ] || continue
        local other
        other=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1]).get("other_cpu_pct", 0)))' "$line")
        if [ -z "$best" ] || [ "$other" -lt "$best_other" ]; then
            best=$line best_other=$other
        fi
        if [ "$other" -le "$QUIET_PCT" ]; then
            break
        fi
        [ "$try" -lt "$TRIES" ] && log "round $round $scenario $server: ${other}% CPU used by other work, measuring again"
    done
    if [ -z "$best" ]; then
        log "round $round $scenario $server: no result (see $OUT/loadgen.log)"
        return
    fi
    echo "{\"round\":$round,\"scenario\":\"$scenario\",${best#\{}" >>"$RESULTS"
    log "round $round $scenario $server: $(summary_of "$best")"
}

summary_of() {
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
if d["mode"] == "load":
    print("%.0f msg/s, %.3f us/msg, p99 %.0f us, loadgen %.0f%% cpu, others %.0f%% cpu, %d failures" % (
        d["msgs_per_s"], d["cpu_us_per_msg"] or 0, d["p99_us"], d["client_cpu_pct"],
        d["other_cpu_pct"], d["failures"]))
else:
    print("%d held, %d echoed, %.0f B RSS/conn" % (d["held"], d["echoed"], d["rss_per_conn"] or 0))
' "$1"
}

install_tools
build_wsreactor $SERVERS
build_peers
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
            measure "$round" "$scenario" "$server"
        done
    done
done
log "load average after the run: $(uptime | sed 's/.*load average: //')"
python3 scripts/bench-table.py "$RESULTS" "$SERVERS" | tee "$OUT/table.md"
