#!/usr/bin/env bash
# Instructions per echoed message in wsreactor's echo server, counted by callgrind: the
# repeatable measure on a noisy machine (user space only; the kernel's share is not counted).
#
#   scripts/callgrind-echo.sh [LOADGEN ARGS...]      # default: -c 100 -k 16 -s 32
#   REACTORS=2 scripts/callgrind-echo.sh             # the echo example on two reactors
#
# Builds with line tables into target/prof, runs the echo example under
# `valgrind --tool=callgrind` against the load generator for a few seconds, and prints the
# total, the echoes, their ratio and the top functions (callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
export CARGO_TARGET_DIR=target/prof CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
cargo build --release --quiet --example echo --example loadgen
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-c 100 -k 16 -s 32)
out=target/prof/callgrind.out
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
    target/prof/release/examples/echo "127.0.0.1:$port" --reactors "${REACTORS:-1}" 2>/dev/null &
vg=$!
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
line=$(target/prof/release/examples/loadgen "ws://127.0.0.1:$port/" "${args[@]}" -w 0 -d "${SECONDS_UNDER_VALGRIND:-4}" 2>/dev/null) || true
kill -TERM "$vg"; wait "$vg" 2>/dev/null || true
echoes=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["msgs"])' "$line")
# The window counts echoes after warm-up; with -w 0 that is every echo but the few in flight.
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "instructions $total, echoes $echoes, $((total / echoes)) instructions per echo (${args[*]}; ${REACTORS:-1} reactor(s))"
callgrind_annotate --inclusive=no "$out" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '3,22p' | cut -c1-150
