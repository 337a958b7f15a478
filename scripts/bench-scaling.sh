#!/usr/bin/env bash
# How the server's CPU per message grows with the work (issue 14), wsreactor against
# uWebSockets, drawn as a chart: scenario b of bench-peers.sh (16 messages in flight per
# connection, 32 B text) at 10, 100, 1,000 and 10,000 connections, and messages of 16 B,
# 256 B, 4 KiB, 64 KiB and 1 MiB. A server that scales keeps a flat CPU per message as
# connections grow, and a CPU per message that grows no faster than the size.
#
#   scripts/bench-scaling.sh                                   # ~10 minutes; draws the chart
#   ROUNDS=1 DURATION=1 POINTS="conns:10 size:65536" scripts/bench-scaling.sh  # a quick look
#   scripts/bench-scaling.sh chart                             # redraw from the last results
#
# The points (text messages, as in b):
#   conns:N    N connections x 16 in flight x 32 B
#   size:S     S <= 4 KiB: 100 connections x 16 in flight x S bytes (b's shape)
#              S  > 4 KiB: 10 connections x 2 in flight, so that what is in flight stays
#              at most 20 MiB (1 MiB x 16 x 100 would be 1.6 GB) and a window still holds
#              hundreds of echoes
#
# Method: bench-peers.sh's (bench-lib.sh): server pinned to core $SERVER_CPU, load generator
# to $CLIENT_CPU, a fresh server per measurement, servers alternating in rotating order,
# $WARMUP s warm-up and a $DURATION s window, a disturbed measurement taken again; medians
# of $ROUNDS rounds. Every echo is verified.
#
# Writes every measurement to target/bench-scaling/results.jsonl, then
# scripts/bench-chart.py summarises them into benches/scaling.json (medians, lowest and
# highest per point and server) and draws benches/scaling.svg; it runs in a virtualenv
# under target/ with matplotlib when the system's python3 has none.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-3}
SERVERS=${SERVERS:-"wsreactor uws"}
POINTS=${POINTS:-"conns:10 conns:100 conns:1000 conns:10000 size:16 size:256 size:4096 size:65536 size:1048576"}
OUT=target/bench-scaling
RESULTS=$OUT/results.jsonl
CHART=benches/scaling.svg
SUMMARY=benches/scaling.json
VENV=target/chart-venv
mkdir -p "$OUT"

# A python3 that has matplotlib: the system's, or a virtualenv made for it.
chart_python() {
    if python3 -c 'import matplotlib' 2>/dev/null; then
        echo python3
        return
    fi
    if ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
        log "installing matplotlib into $VENV"
        python3 -m venv "$VENV" >&2 || {
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$VENV" >&2
        }
        "$VENV/bin/pip" install --quiet matplotlib >&2
    fi
    echo "$VENV/bin/python"
}

draw() {
    "$(chart_python)" scripts/bench-chart.py "$RESULTS" "$SUMMARY" "$CHART"
}

if [ "${1:-}" = chart ]; then
    draw
    exit
fi

# run_once POINT SERVER: one fresh server, one load generator run at POINT.
run_once() {
    local kind=${1%%:*} n=${1#*:} args
    case $kind in
        conns) args=(-c "$n" -k 16 -s 32) ;;
        size) if ((n <= 4096)); then args=(-c 100 -k 16 -s "$n"); else args=(-c 10 -k 2 -s "$n"); fi ;;
        *) echo "unknown point $1" >&2; return 1 ;;
    esac
    run_load "$2" "${args[@]}" -w "$WARMUP" -d "$DURATION"
}

install_tools
build_wsreactor $SERVERS
build_peers $SERVERS
: >"$RESULTS"
log "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
log "rounds $ROUNDS, warm-up ${WARMUP}s, window ${DURATION}s, servers: $SERVERS, points: $POINTS"
turn=0
for ((round = 1; round <= ROUNDS; round++)); do
    for point in $POINTS; do
        turn=$((turn + 1))
        for server in $(rotated "$turn"); do
            measure "$round" "$point" "$server"
        done
    done
done
log "load average after the run: $(uptime | sed 's/.*load average: //')"
draw
