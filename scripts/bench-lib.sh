# Shared by bench-peers.sh and idle-rss.sh: building, starting and stopping echo servers.
# Source it from the repository root.
#
# A server named NAME-tls serves wss:// with the committed test certificate (tests/tls/,
# test-only keys) and the load generator trusts its CA; TLS_CERT, TLS_KEY and TLS_CA
# override the three files.

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LOADGEN=target/release/examples/loadgen
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
        wsreactor-tls) echo "target/release/examples/echo --tls $TLS_CERT $TLS_KEY" ;;
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

# loadgen ARGS...: the load generator pinned to CLIENT_CPU (trusting TLS_CA for wss://).
loadgen() {
    taskset -c "$CLIENT_CPU" "$LOADGEN" --ca "$TLS_CA" "$@"
}
