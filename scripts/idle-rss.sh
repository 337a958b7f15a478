#!/usr/bin/env bash
# Memory per idle connection: opens CONNS connections (default 10,000) to a freshly started
# echo server, echoes one message on each, holds them all, and reports the server's RSS
# growth per connection (human table on stderr, one JSON line on stdout).
#
#   scripts/idle-rss.sh                 # wsreactor's echo example, 10,000 connections
#   scripts/idle-rss.sh 19000 fastwebsockets
#   scripts/idle-rss.sh 10000 wsreactor-tls     # over wss:// (also node-ws-tls)
#   scripts/idle-rss.sh 5000 -- ./my-server   # any command; the address is appended
#   TLS=1 scripts/idle-rss.sh 5000 -- ./my-server --tls tests/tls/cert.pem tests/tls/key.pem
#
# NAME-tls servers and TLS=1 connect over wss:// trusting tests/tls/ca.pem (TLS_CA).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

conns=${1:-10000}
server=${2:-wsreactor}
if [ "$server" = "--" ]; then
    shift 2
    cmd=("$@")
    # The name the URL and the build go by.
    [ "${TLS:-0}" = 0 ] && server=command || server=command-tls
else
    read -r -a cmd <<<"$(server_cmd "$server")"
fi
[ -n "${NO_BUILD:-}" ] || build_wsreactor "$server"
addr=127.0.0.1:$(free_port)
start_server "$addr" "${cmd[@]}"
trap stop_server EXIT
loadgen "$(url "$server" "$addr")" --idle -c "$conns" --pid "$SERVER_PID" --label "${LABEL:-$server}"
