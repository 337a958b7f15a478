#!/usr/bin/env bash
# A long verified soak (issue 13): `bash scripts/soak.sh [MINUTES]` (default 60).
#
# Builds the echo and socketio_chat examples (release), starts each on a port the OS picks,
# and runs scripts/soak/driver.mjs (Node; the `ws` and socket.io-client that
# tests/socketio pins) against them for MINUTES, all of it side by side:
#   - verified echo load: 4 long-lived connections, text and binary from 0 to 64 KiB, every
#     echo checked byte for byte and in order;
#   - churn: connections opened, 1 to 3 messages echoed, then a clean close (answered with
#     1000) or a drop, with or without a message in flight, continuously;
#   - slow readers: 2 at a time send 64 KiB messages and never read; the server must stop
#     reading them and close them by its policy (1008 "peer is not reading", checked in its
#     log) while the others see nothing;
#   - bad input, one a second in turn: unmasked frame, reserved opcode, RSV1, fragmented
#     ping (1002), invalid UTF-8 (1007), 32 MiB announced (1009), garbage instead of HTTP
#     and an upgrade without a key (400), a wrong version (426);
#   - socket.io-client on polling, WebSocket and polling upgraded: acks with text, nested
#     objects and bytes checked, a plain event's reply, reconnections both clean and by a
#     dropped transport (which must recover the session).
# Every 10 s it samples each server's RSS, open descriptors and CPU time. The report (also
# in target/soak/soak-DATE.txt, samples in soak-DATE.csv, server logs beside them) has the
# counters and RSS and descriptors at the start (after a warm-up of 2 minutes, or 2/3 of
# a shorter run), middle and end.
#
# Exits non-zero on any message lost, corrupted or stuck (unanswered after 30 s), any
# unexpected answer or close, a server that dies, descriptors not back to their number
# before the soak once every client is gone, or RSS growth from the middle to the end over
# 1 MiB (SOAK_RSS_TOLERANCE_KIB). The pace is low on purpose (correctness over time, not
# throughput): the report gives the CPU the driver and servers used, about a tenth of a
# core. CI does not run it. Other settings: see scripts/soak/driver.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/echo-server.sh

MINUTES=${1:-60}
case $MINUTES in
'' | *[!0-9]* | 0) echo "usage: scripts/soak.sh [MINUTES] (a whole number, at least 1)" >&2; exit 2 ;;
esac
OUT=target/soak
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

cargo build --release --quiet --features socketio --example echo --example socketio_chat
# The client side: installed once (`npm ci` would replace a tree another run may be using).
if [ ! -d tests/socketio/node_modules/socket.io-client ]; then
    (cd tests/socketio && npm ci --no-audit --no-fund --loglevel=error)
fi

pids=()
trap 'stop_jobs "${pids[@]}"' EXIT
start_echo "$OUT/echo-$STAMP.log" ws soak
pids+=("$server_pid")
echo_pid=$server_pid echo_addr=$addr
# Heartbeats every 5 s, so an hour holds hundreds per client; a 20 s timeout is far beyond
# any scheduling delay on a busy machine.
SOCKETIO_PING_INTERVAL_MS=5000 SOCKETIO_PING_TIMEOUT_MS=20000 \
    start_example "$OUT/socketio-$STAMP.log" http soak socketio_chat
pids+=("$server_pid")
sio_pid=$server_pid sio_addr=$addr

status=0
SOAK_SECONDS=$((MINUTES * 60)) \
    SOAK_ECHO="ws://$echo_addr/" SOAK_ECHO_PID=$echo_pid SOAK_ECHO_LOG="$OUT/echo-$STAMP.log" \
    SOAK_SIO="http://$sio_addr" SOAK_SIO_PID=$sio_pid \
    SOAK_REPORT="$OUT/soak-$STAMP.txt" SOAK_SAMPLES="$OUT/soak-$STAMP.csv" \
    node scripts/soak/driver.mjs || status=$?
echo "soak: server logs in $OUT/echo-$STAMP.log and $OUT/socketio-$STAMP.log"
exit "$status"
