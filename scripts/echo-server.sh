# Sourced by the scripts that test the examples from outside (autobahn.sh,
# python-tls-test.sh, soak.sh): start one on a port the OS picks, read the address back,
# stop jobs.

# `stop_jobs PID...`: kills and reaps the jobs still running (for an EXIT trap).
stop_jobs() {
    local pid
    for pid in "$@"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}

# `start_example LOG SCHEME WHO EXAMPLE [ARGS...]`: runs target/release/examples/EXAMPLE on
# 127.0.0.1:0 with ARGS, logging to LOG; sets `server_pid` and `addr` (IP:PORT, read from
# the example's log line `... on SCHEME://IP:PORT`). Port 0 and the address read back leave
# no window in which another process could take the port. The old log is emptied first: the
# background job truncates it only once it runs, and until then the address read would be
# the previous run's. Exits with WHO's message if the server does not start.
start_example() {
    local log=$1 scheme=$2 who=$3 example=$4
    shift 4
    : >"$log"
    RUST_LOG=info "target/release/examples/$example" 127.0.0.1:0 "$@" >"$log" 2>&1 &
    server_pid=$!
    addr=
    for _ in $(seq 1 200); do
        addr=$(sed -n "s|.* on $scheme://\([0-9.]*:[0-9]*\).*|\1|p" "$log")
        [ -n "$addr" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        cat "$log" >&2
        echo "$who: the $example example did not start" >&2
        exit 1
    fi
}

# `start_echo LOG SCHEME WHO [ARGS...]`: `start_example` for the echo example.
start_echo() {
    local log=$1 scheme=$2 who=$3
    shift 3
    start_example "$log" "$scheme" "$who" echo "$@"
}
