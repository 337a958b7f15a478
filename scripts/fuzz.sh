#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for SECONDS each (default 60) with
# cargo-fuzz and libFuzzer, on the committed corpus, and prints per target the executions
# per second and the coverage reached. A crash fails the script; its input is left in
# fuzz/artifacts/<target>/ (make it a regression: fuzz/regressions/<target>/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   JOBS=2 scripts/fuzz.sh 1800          # two targets at a time, 30 minutes each
#   MINIMISE=1 scripts/fuzz.sh 600       # then shrink each corpus to what keeps coverage
#   SMOKE=1 scripts/fuzz.sh 20           # CI: new inputs go to a scratch directory, so the
#                                        # committed corpus is read but not changed
#
# libFuzzer needs a few unstable compiler flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them, so no nightly is needed. No sanitizer: the crate has no unsafe code
# of its own, and a panic (every driver's invariant checks) is what the fuzzer looks for;
# FUZZ_SANITIZER=address turns AddressSanitizer on.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
JOBS=${JOBS:-1}
SANITIZER=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cd fuzz && cargo fuzz list)
fi

cd fuzz
cargo fuzz build --sanitizer "$SANITIZER"
mkdir -p logs

run_one() {
    local target=$1 out
    mkdir -p "corpus/$target"
    # libFuzzer writes new inputs into the first directory and reads them all.
    out="corpus/$target"
    if [ "${SMOKE:-0}" = 1 ]; then
        out=$(mktemp -d)
    fi
    # Inputs up to 64 KiB: a script of frames needs room; the parsers see no more per read.
    cargo fuzz run --sanitizer "$SANITIZER" "$target" "$out" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 \
        -print_final_stats=1 >"logs/$target.log" 2>&1
}

summary() {
    local target=$1 status=$2
    local done_line runs rate
    done_line=$(grep -E '^#[0-9]+.*DONE' "logs/$target.log" | tail -1 || true)
    runs=$(grep -E '^stat::number_of_executed_units' "logs/$target.log" | awk '{print $2}' || true)
    rate=$(grep -E '^stat::average_exec_per_sec' "logs/$target.log" | awk '{print $2}' || true)
    printf '%-16s %s  runs %s  exec/s %s  %s\n' "$target" "$status" "${runs:-?}" "${rate:-?}" \
        "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' || true)"
}

failed=0
pids=()
names=()
wait_one() {
    local pid=${pids[0]} target=${names[0]}
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
    if wait "$pid"; then
        summary "$target" ok
    else
        summary "$target" CRASH
        grep -E 'panicked|ERROR|Test unit written' "logs/$target.log" | head -5
        failed=1
    fi
}

for target in "${TARGETS[@]}"; do
    run_one "$target" &
    pids+=($!)
    names+=("$target")
    if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait_one
    fi
done
while [ ${#pids[@]} -gt 0 ]; do
    wait_one
done

if [ "${MINIMISE:-0}" = 1 ] && [ "$failed" = 0 ]; then
    for target in "${TARGETS[@]}"; do
        cargo fuzz cmin --sanitizer "$SANITIZER" "$target" "corpus/$target" >"logs/$target.cmin.log" 2>&1
        echo "$target: corpus minimised to $(ls "corpus/$target" | wc -l) inputs"
    done
fi
exit "$failed"
