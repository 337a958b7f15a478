#!/usr/bin/env bash
# Memory per idle connection: opens CONNS connections (default 10,000) to a freshly started
# echo server, echoes one message on each, holds them all, and reports the server's RSS
# growth per connection (human table on stderr, one JSON line on stdout).
#
#   scripts/idle-rss.sh                 # wsreactor's echo example, 10,000 connections
#   scripts/idle-rss.sh 19000 fastwebsockets
#   scripts/idle-rss.sh 5000 -- ./my-server   # any command; the address is appended
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

conns=${1:-10000}
server=${2:-wsreactor}
if [ "$server" = "--" ]; then
    shift 2
    cmd=("$@")
else
    read -r -a cmd <<<"$(server_cmd "$server")"
fi
[ -n "${NO_BUILD:-}" ] || build_wsreactor
addr=127.0.0.1:$(free_port)
start_server "$addr" "${cmd[@]}"
trap stop_server EXIT
loadgen "ws://$addr/" --idle -c "$conns" --pid "$SERVER_PID" --label "${LABEL:-$server}"
