# Shared by bench-peers.sh, bench-scaling.sh and idle-rss.sh: building, starting and stopping
# the servers, and measuring in rounds. Source it from the repository root.
#
# A server named NAME-tls serves wss:// with the committed test certificate (tests/tls/,
# test-only keys) and the load generator trusts its CA; TLS_CERT, TLS_KEY and TLS_CA
# override the three files.

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LOADGEN=target/release/examples/loadgen
# Where benches/peers/uws/build.sh puts the uWebSockets peers.
UWS_DIR=${UWS_CACHE:-target/uws}
TLS_CERT=${TLS_CERT:-tests/tls/cert.pem}
TLS_KEY=${TLS_KEY:-tests/tls/key.pem}
TLS_CA=${TLS_CA:-tests/tls/ca.pem}

log() { echo "[$(date +%T)] $*" >&2; }

# Every server and the load generator may hold tens of thousands of sockets.
ulimit -n "$(ulimit -Hn)"

# Whether the server NAME serves TLS.
is_tls() { [[ $1 == *-tls ]]; }

# build_wsreactor [SERVER...]: with the `tls` feature when one of the servers serves TLS
# (the plain `wsreactor` of such a run is then the same binary without --tls).
build_wsreactor() {
    local features=() s
    for s; do is_tls "$s" && features=(--features tls); done
    log "building wsreactor's echo example and the load generator (release${features:+, tls})"
    cargo build --release --quiet "${features[@]}" --example echo --example loadgen
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The command line of a server; the listen address is appended when it starts.
server_cmd() {
    case "$1" in
        wsreactor) echo "target/release/examples/echo" ;;
        tokio-tungstenite) echo "benches/peers/tokio-tungstenite/target/release/peer-tokio-tungstenite" ;;
        fastwebsockets) echo "benches/peers/fastwebsockets/target/release/peer-fastwebsockets" ;;
        node-ws) echo "node benches/peers/node-ws/echo.js" ;;
        uws) echo "$UWS_DIR/uws-echo" ;;
        wsreactor-tls) echo "target/release/examples/echo --tls $TLS_CERT $TLS_KEY" ;;
        # permessage-deflate on, with each server's defaults (threshold 1 KiB everywhere);
        # the load generator then offers it and compresses every message (loadgen --deflate).
        wsreactor-deflate) echo "target/release/examples/echo --deflate" ;;
        node-ws-deflate) echo "node benches/peers/node-ws/echo.js --deflate" ;;
        uws-deflate) echo "env UWS_COMPRESSION=1 $UWS_DIR/uws-echo" ;;
        node-ws-tls) echo "node benches/peers/node-ws/echo.js --tls $TLS_CERT $TLS_KEY" ;;
        # wsreactor's echo built from another commit, to measure a change before and after.
        baseline) echo "${BASELINE_ECHO:?set BASELINE_ECHO to the echo binary of the commit to compare}" ;;
        # Several reactors on the port: wsreactor-rN (spread by SO_REUSEPORT), and
        # wsreactor-rN-handoff (reactor 0 deals connections in turn).
        wsreactor-r[0-9]*-handoff) local n=${1#wsreactor-r}; n=${n%-handoff}
            echo "env WSREACTOR_SPREAD=handoff target/release/examples/echo --reactors $n" ;;
        wsreactor-r[0-9]*) echo "target/release/examples/echo --reactors ${1#wsreactor-r}" ;;
        *) echo "unknown server $1" >&2; return 1 ;;
    esac
}

# The command line of a server's pub/sub counterpart for the broadcast scenarios (the
# protocol of benches/broadcast.rs), or nothing if it has none; the address is appended.
pubsub_cmd() {
    case "$1" in
        wsreactor) echo "${BROADCAST_BIN:?build_broadcast first} --serve" ;;
        uws) echo "$UWS_DIR/uws-pubsub" ;;
    esac
}

# build_broadcast: builds benches/broadcast.rs (its server and its client) and sets
# BROADCAST_BIN to the binary.
build_broadcast() {
    log "building the broadcast bench (release)"
    BROADCAST_BIN=$(cargo bench --quiet --bench broadcast --no-run --message-format=json |
        python3 -c 'import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("reason") == "compiler-artifact" and d["target"]["name"] == "broadcast" and d.get("executable"):
        print(d["executable"])')
    [ -x "$BROADCAST_BIN" ] || { echo "no broadcast bench binary" >&2; return 1; }
}

# start_server ADDR CMD...: runs the server pinned to SERVER_CPU; sets SERVER_PID once the
# port accepts connections.
start_server() {
    local addr=$1; shift
    RUST_LOG=warn WSREACTOR_MAX_CONNECTIONS=${WSREACTOR_MAX_CONNECTIONS:-20000} \
        taskset -c "$SERVER_CPU" "$@" "$addr" >/dev/null 2>&1 &
    SERVER_PID=$!
    local host=${addr%:*} port=${addr##*:}
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "server '$*' did not start listening on $addr" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# url SERVER ADDR: the URL the load generator opens on SERVER listening on ADDR.
url() {
    if is_tls "$1"; then echo "wss://$2/"; else echo "ws://$2/"; fi
}

# broadcast_client ARGS...: the broadcast bench's client pinned to CLIENT_CPU.
broadcast_client() {
    taskset -c "$CLIENT_CPU" "$BROADCAST_BIN" "$@"
}

# loadgen ARGS...: the load generator pinned to CLIENT_CPU (trusting TLS_CA for wss://).
loadgen() {
    taskset -c "$CLIENT_CPU" "$LOADGEN" --ca "$TLS_CA" "$@"
}

# ---- what the benchmark scripts share beyond starting servers (bench-peers.sh, bench-scaling.sh)

QUIET_PCT=${QUIET_PCT:-10}
TRIES=${TRIES:-2}

need() { command -v "$1" >/dev/null 2>&1; }

# install_tools: what the benchmarks run with (taskset, python3; Node for the Node peers of
# $SERVERS), with apt-get.
install_tools() {
    local missing=()
    need taskset || missing+=(util-linux)
    need python3 || missing+=(python3)
    if [[ " $SERVERS " == *" node-ws"* ]]; then
        need node || missing+=(nodejs)
        need npm || missing+=(npm)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# build_peers SERVER...: builds the peers among SERVERS (wsreactor's own is build_wsreactor).
build_peers() {
    local node_done="" s
    for s; do
        case $s in
            tokio-tungstenite | fastwebsockets)
                log "building peer $s (release)"
                (cd "benches/peers/$s" && cargo build --release --quiet --locked)
                ;;
            uws | uws-deflate)
                log "building peer uws (uWebSockets, cached in $UWS_DIR)"
                benches/peers/uws/build.sh >/dev/null
                ;;
            node-ws | node-ws-tls | node-ws-deflate)
                [ -z "$node_done" ] || continue
                node_done=1
                log "installing Node ws from the lockfile"
                (cd benches/peers/node-ws && npm ci --silent --no-audit --no-fund)
                ;;
        esac
    done
}

# The servers of $SERVERS in round-robin order starting at position $1.
rotated() {
    local -a s=($SERVERS)
    local n=${#s[@]} i
    for ((i = 0; i < n; i++)); do echo "${s[(($1 + i) % n)]}"; done
}

# run_load SERVER LOADGEN_ARGS...: one fresh SERVER, one load generator run against it;
# prints the generator's JSON line. A run with failures still reports; the record says how
# many connections failed.
run_load() {
    local server=$1 addr=127.0.0.1:$(free_port)
    shift
    local -a cmd
    read -r -a cmd <<<"$(server_cmd "$server")"
    start_server "$addr" "${cmd[@]}"
    local -a deflate=()
    [[ $server == *-deflate ]] && deflate=(--deflate)
    loadgen "$(url "$server" "$addr")" "$@" "${deflate[@]}" --pid "$SERVER_PID" --label "$server" \
        2>>"$OUT/loadgen.log" || true
    stop_server
}

# measure ROUND SCENARIO SERVER: appends one JSON line per measurement to $RESULTS,
# repeating a measurement during which the rest of the machine used more than $QUIET_PCT % of
# a core (up to $TRIES times; the least disturbed one is kept). The sourcing script defines
# run_once SCENARIO SERVER, which prints one JSON line, and sets RESULTS and OUT.
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

# The log line of one JSON record.
summary_of() {
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
if d["mode"] == "broadcast":
    print("%.0f deliveries/s, %.3f us/delivery, client %.0f%% cpu, others %.0f%% cpu" % (
        d["msgs_per_s"], d["cpu_us_per_msg"] or 0, d["client_cpu_pct"], d["other_cpu_pct"]))
elif d["mode"] == "load":
    print("%.0f msg/s, %.3f us/msg, p99 %.0f us, loadgen %.0f%% cpu, others %.0f%% cpu, %d failures" % (
        d["msgs_per_s"], d["cpu_us_per_msg"] or 0, d["p99_us"], d["client_cpu_pct"],
        d["other_cpu_pct"], d["failures"]))
else:
    print("%d held, %d echoed, %.0f B RSS/conn" % (d["held"], d["echoed"], d["rss_per_conn"] or 0))
' "$1"
}

