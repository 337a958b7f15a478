#!/usr/bin/env bash
# One reactor against several (issue 17), on this machine, in four parts:
#
#   peers      the echo example with 1 and 2 reactors under the same load, by bench-peers.sh
#              (its method; scenarios a b c d; every server pinned to core $SERVER_CPU, so
#              CPU per message compares like for like): wsreactor against wsreactor-r2
#   spread     how evenly connections spread: 2 and 4 reactors, SO_REUSEPORT and the
#              hand-off, 10,000 and 100 connections (examples/loadgen --idle); each reactor
#              says how many it opened when the server shuts down; max/min per run
#   broadcast  benches/broadcast.rs with 1 and 2 reactors: server CPU per delivery to 1,000
#              and 10,000 subscribers, the ratio of two reactors to one in the same run
#   kernel     what 10,000 idle connections cost the kernel: slab memory and socket buffer
#              pages while they are held (both ends are on this machine: per socket is half
#              the growth per connection), for the README's scaling section
#
# Then the targets of issue 17, from what the parts measured: CPU per message with two
# reactors within 5 % of one (median of per-round ratios, scenarios a b c), connections
# spread within 1.3x max/min (10,000 connections, every run), and a broadcast to 10,000
# subscribers across two reactors at or below one reactor's CPU per delivery (same run).
#
#   scripts/bench-reactors.sh                                  # everything: ~10 minutes
#   ROUNDS=1 DURATION=2 SPREAD_RUNS=1 scripts/bench-reactors.sh # a quick look
#   PARTS="spread kernel" scripts/bench-reactors.sh
#
# Installs what it lacks (through bench-peers.sh and bench-lib.sh). Writes the tables to
# target/bench-reactors/: peers.md, spread.md, broadcast.txt, kernel.md, targets.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

PARTS=${PARTS:-"peers spread broadcast kernel"}
SPREAD_RUNS=${SPREAD_RUNS:-3}
KERNEL_CONNS=${KERNEL_CONNS:-10000}
OUT=target/bench-reactors
mkdir -p "$OUT"

# The echo example on a free port with ARGS, logging (info) to $OUT/echo.log; sets
# SERVER_PID and ADDR.
start_echo() {
    ADDR=127.0.0.1:$(free_port)
    RUST_LOG=warn,echo=info WSREACTOR_MAX_CONNECTIONS=20000 \
        "$@" target/release/examples/echo "$ADDR" >"$OUT/echo.log" 2>&1 &
    SERVER_PID=$!
    local host=${ADDR%:*} port=${ADDR##*:}
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "the echo example did not start listening on $ADDR" >&2
    return 1
}

# spread_once REACTORS SPREAD CONNS: one run; prints the connections each reactor opened.
spread_once() {
    local reactors=$1 spread=$2 conns=$3
    start_echo env WSREACTOR_SPREAD="$spread" WSREACTOR_REACTORS="$reactors"
    loadgen "ws://$ADDR/" --idle -c "$conns" --settle 0 >/dev/null 2>>"$OUT/loadgen.log"
    stop_server
    sed -n 's/.*reactor \([0-9]*\) opened \([0-9]*\) connections.*/\1 \2/p' "$OUT/echo.log" |
        sort -n | awk '{print $2}' | paste -sd' '
}

part_peers() {
    log "peers: the echo example with 1 and 2 reactors (bench-peers.sh)"
    SERVERS="wsreactor wsreactor-r2" SCENARIOS="${SCENARIOS:-a b c d}" scripts/bench-peers.sh
    # Without bench-peers' own targets (issue 6: wsreactor against other servers).
    sed '/^\*\*Targets/,$d' target/bench-peers/table.md >"$OUT/peers.md"
    cp target/bench-peers/results.jsonl "$OUT/peers.jsonl"
}

part_spread() {
    log "spread: connections per reactor ($SPREAD_RUNS runs each)"
    {
        echo "| reactors | spread | connections | per reactor, each run | max/min, worst run |"
        echo "|---:|---|---:|---|---:|"
        local reactors spread conns run counts worst
        for reactors in 2 4; do
            for spread in reuseport handoff; do
                for conns in 10000 100; do
                    counts=() worst=0
                    for ((run = 1; run <= SPREAD_RUNS; run++)); do
                        local got
                        got=$(spread_once "$reactors" "$spread" "$conns")
                        counts+=("$got")
                        worst=$(echo "$got" | awk -v w="$worst" '{
                            max = 0; min = -1
                            for (i = 1; i <= NF; i++) { if ($i > max) max = $i; if (min < 0 || $i < min) min = $i }
                            r = (min > 0) ? max / min : 999; print (r > w) ? r : w }')
                    done
                    local joined
                    joined=$(printf '%s; ' "${counts[@]}")
                    printf '| %s | %s | %s | %s | %.2f |\n' "$reactors" "$spread" "$conns" "${joined%; }" "$worst"
                done
            done
        done
    } | tee "$OUT/spread.md"
}

part_broadcast() {
    log "broadcast: benches/broadcast.rs with 1 and 2 reactors"
    BROADCAST_REACTORS="1 2" cargo bench --quiet --bench broadcast | tee "$OUT/broadcast.txt"
}

# A field of /proc/meminfo, in KiB.
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
# The TCP line of /proc/net/sockstat: "inuse N ... mem PAGES".
tcp_field() { awk -v k="$1" '$1 == "TCP:" {for (i = 2; i < NF; i++) if ($i == k) print $(i + 1)}' /proc/net/sockstat; }

part_kernel() {
    log "kernel: $KERNEL_CONNS idle connections held"
    start_echo env WSREACTOR_REACTORS=1
    local slab0 mem0 inuse0
    slab0=$(meminfo Slab) mem0=$(tcp_field mem) inuse0=$(tcp_field inuse)
    # Held long enough to be read while connected (the load generator holds them through
    # its settling time).
    loadgen "ws://$ADDR/" --idle -c "$KERNEL_CONNS" --settle 5 --pid "$SERVER_PID" \
        >"$OUT/kernel.json" 2>>"$OUT/loadgen.log" &
    local gen=$!
    local inuse=$inuse0
    for _ in $(seq 600); do
        inuse=$(tcp_field inuse)
        ((inuse - inuse0 >= 2 * KERNEL_CONNS)) && break
        sleep 0.1
    done
    sleep 1
    local slab1 mem1
    slab1=$(meminfo Slab) mem1=$(tcp_field mem) inuse=$(tcp_field inuse)
    wait "$gen" || true
    stop_server
    local sockets=$((inuse - inuse0))
    {
        echo "| held | sockets (both ends) | slab growth | slab per socket | socket buffer pages | buffer bytes per socket |"
        echo "|---:|---:|---:|---:|---:|---:|"
        awk -v c="$KERNEL_CONNS" -v s="$sockets" -v ds="$((slab1 - slab0))" -v dm="$((mem1 - mem0))" 'BEGIN {
            printf "| %d | %d | %.1f MiB | %.0f B | %d | %.0f B |\n", c, s, ds / 1024, (s > 0) ? ds * 1024 / s : 0, dm, (s > 0) ? dm * 4096 / s : 0 }'
    } | tee "$OUT/kernel.md"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("server RSS per idle connection: %.0f B" % d["rss_per_conn"])' "$OUT/kernel.json" | tee -a "$OUT/kernel.md"
}

# The targets of issue 17, from the parts that ran.
targets() {
    python3 - "$OUT" <<'PY' | tee "$OUT/targets.md"
import json, os, re, statistics, sys
out = sys.argv[1]
checks = []
path = os.path.join(out, "peers.jsonl")
if os.path.exists(path):
    runs = [json.loads(l) for l in open(path)]
    for sc in "abc":
        one = {r["round"]: r["cpu_us_per_msg"] for r in runs if r["scenario"] == sc and r["label"] == "wsreactor"}
        ratios = [r["cpu_us_per_msg"] / one[r["round"]] for r in runs
                  if r["scenario"] == sc and r["label"] == "wsreactor-r2" and one.get(r["round"])]
        if ratios:
            ratio = statistics.median(ratios)
            checks.append((f"{sc}: CPU/message, 2 reactors / 1: {ratio:.2f}x <= 1.05x", ratio <= 1.05))
path = os.path.join(out, "spread.md")
if os.path.exists(path):
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2] == "10000":
            worst = float(cells[4])
            checks.append((f"spread, {cells[0]} reactors, {cells[1]}, 10,000 connections: max/min {worst:.2f} <= 1.3", worst <= 1.3))
path = os.path.join(out, "broadcast.txt")
if os.path.exists(path):
    for m in re.finditer(r"(\d+) subscribers[^\n]*\(2 reactor\(s\)\)\n\s*CPU/delivery ([\d.]+)x", open(path).read()):
        ratio = float(m.group(2))
        checks.append((f"broadcast to {m.group(1)} subscribers, 2 reactors / 1: {ratio:.2f}x <= 1.00x", ratio <= 1.0))
print("**Targets (issue 17)**\n")
for what, ok in checks:
    print(f"- {'PASS' if ok else 'FAIL'} {what}")
print(f"\n{sum(ok for _, ok in checks)} of {len(checks)} targets met.")
PY
}

build_wsreactor wsreactor
log "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
: >"$OUT/loadgen.log"
rm -f "$OUT/peers.jsonl" "$OUT/spread.md" "$OUT/broadcast.txt"
for part in $PARTS; do
    "part_$part"
done
targets
log "load average after the run: $(uptime | sed 's/.*load average: //')"
