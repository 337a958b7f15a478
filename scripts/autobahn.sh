#!/usr/bin/env bash
# Autobahn TestSuite conformance run (fuzzingclient mode) against the echo example.
#
#   bash scripts/autobahn.sh          # ws://
#   TLS=1 bash scripts/autobahn.sh    # wss://: the same cases over TLS (feature `tls`)
#   DEFLATE=1 bash scripts/autobahn.sh      # permessage-deflate: cases 12.* and 13.*
#   DEFLATE=quick bash scripts/autobahn.sh  # a representative third of them (CI)
#
# 1. installs the pinned `autobahntestsuite` for Python 2.7 into a cache directory, once;
# 2. builds the echo example (release) and starts it on a port the OS picks;
# 3. runs `wstest -m fuzzingclient` with tests/autobahn/fuzzingclient.json, pointed at it;
# 4. stops the server (on every exit path) and prints one summary line of the report.
#
# Exits non-zero if any case's behaviour is FAILED or NON-STRICT, if any case's close
# behaviour is not OK or INFORMATIONAL, or if the server died during the run; with DEFLATE,
# also if a case is UNIMPLEMENTED (the server declined the offer). The report (index.html,
# one JSON per case) and the logs go to target/autobahn/ (target/autobahn-tls/ with TLS=1,
# target/autobahn-deflate/ with DEFLATE).
#
# DEFLATE runs the echo example with `--deflate` against the compression cases, which the
# plain spec excludes: 12.x sends 1,000 compressed messages of 16 B to 128 KiB from five
# data sets, 13.x does the same under seven sets of negotiated parameters (context
# takeover, 9- and 15-bit windows). All 216 take about 25 minutes; DEFLATE=quick runs,
# for every data set and every parameter set, the sizes 16 B, 1 KiB and 8 KiB in frames
# of 256 B (cases x.y.1, x.y.4, x.y.11): 36 cases, about 20 seconds.
#
# With TLS=1 the echo example serves the test-only certificate of tests/tls/ and the
# fuzzingclient connects to wss://. Its spec names no "hostname", so it uses Twisted's
# `ssl.ClientContextFactory`, which does not verify the certificate (with a "hostname" it
# would use `optionsForClientTLS`, which verifies against the system's CAs and would
# reject the test CA); it sends no SNI either, which the server does not require.
#
# Environment: AUTOBAHN_PYTHON (default ~/.pyenv/versions/2.7.18/bin/python),
# AUTOBAHN_CACHE (default ~/.cache/wsreactor/autobahntestsuite-<version>).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/echo-server.sh

VERSION=25.10.1
PY2=${AUTOBAHN_PYTHON:-$HOME/.pyenv/versions/2.7.18/bin/python}
SITE=${AUTOBAHN_CACHE:-$HOME/.cache/wsreactor/autobahntestsuite-$VERSION}
SPEC=tests/autobahn/fuzzingclient.json
OUT=target/autobahn
SCHEME=ws
FEATURES=()
SERVER_ARGS=()
if [ "${TLS:-0}" = 1 ]; then
    OUT=target/autobahn-tls
    SCHEME=wss
    FEATURES=(--features tls)
    SERVER_ARGS=(--tls tests/tls/cert.pem tests/tls/key.pem)
fi
STRICT=0
CASES=
if [ -n "${DEFLATE:-}" ]; then
    OUT=$OUT-deflate
    SPEC=tests/autobahn/fuzzingclient-deflate.json
    SERVER_ARGS+=(--deflate)
    STRICT=1
    if [ "$DEFLATE" = quick ]; then
        # Exact ids: a pattern with `*` is a prefix match ("12.*.1" takes 12.1.10 too).
        CASES=$(for set in 12.{1..5} 13.{1..7}; do echo "$set.1 $set.4 $set.11"; done)
    fi
fi
started=$(date +%s)

[ -x "$PY2" ] || { echo "autobahn: Python 2.7 not found at $PY2 (set AUTOBAHN_PYTHON)" >&2; exit 1; }
mkdir -p "$OUT"

# --- 1. the test suite -----------------------------------------------------------------
# It is Python 2 only. `--target` keeps it out of the interpreter's site-packages; the
# marker file makes a second run skip pip, and installing into a scratch directory first
# means an interrupted install never leaves a half-filled cache behind.
if [ ! -e "$SITE/.installed" ]; then
    # wsaccel (an autobahn dependency) is compiled from source: it needs a C compiler.
    if ! command -v cc >/dev/null; then
        echo "autobahn: installing a C compiler for wsaccel"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev
    fi
    echo "autobahn: installing autobahntestsuite $VERSION into $SITE"
    rm -rf "$SITE.tmp"
    mkdir -p "$(dirname "$SITE")"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY2" -m pip install --no-warn-script-location \
        --target "$SITE.tmp" "autobahntestsuite==$VERSION" >"$OUT/pip.log" 2>&1; then
        tail -n 30 "$OUT/pip.log" >&2
        echo "autobahn: pip install failed (full log: $OUT/pip.log)" >&2
        exit 1
    fi
    touch "$SITE.tmp/.installed"
    rm -rf "$SITE"
    mv "$SITE.tmp" "$SITE"
fi

# --- 2. the server -----------------------------------------------------------------------
cargo build --release --quiet "${FEATURES[@]}" --example echo

# Everything long-running is a background job the script `wait`s for: bash runs a trap only
# once its foreground command ends, while `wait` returns at once on a signal.
server_pid=
wstest_pid=
cleanup() { stop_jobs $wstest_pid $server_pid; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start_echo "$OUT/server.log" "$SCHEME" autobahn "${SERVER_ARGS[@]}"

# --- 3. the suite ------------------------------------------------------------------------
# The checked-in spec names no port; this copy points it at the server and the report dir.
"$PY2" - "$SPEC" "$OUT/spec.json" "$SCHEME://$addr" "$OUT" "$CASES" <<'EOF'
import json, sys
src, dst, url, outdir, cases = sys.argv[1:]
spec = json.load(open(src))
spec["servers"][0]["url"] = url
spec["outdir"] = outdir
if cases:
    spec["cases"] = cases.split()
    spec["exclude-cases"] = []
json.dump(spec, open(dst, "w"), indent=2)
EOF
rm -f "$OUT"/*_case_*.json "$OUT"/*_case_*.html "$OUT/index.json"

echo "autobahn: running the fuzzingclient against $SCHEME://$addr (log: $OUT/wstest.log)"
# site.addsitedir (not PYTHONPATH) so the .pth files of namespace packages (zope) are run.
timeout 1800 "$PY2" -c '
import site, sys
site.addsitedir(sys.argv[1])
from autobahntestsuite.wstest import run
sys.argv = ["wstest", "-m", "fuzzingclient", "-s", sys.argv[2]]
sys.exit(run())
' "$SITE" "$OUT/spec.json" >"$OUT/wstest.log" 2>&1 &
wstest_pid=$!
wstest_ok=1
wait "$wstest_pid" || wstest_ok=0
wstest_pid=
if [ "$wstest_ok" = 0 ]; then
    tail -n 30 "$OUT/wstest.log" >&2
    echo "autobahn: wstest failed" >&2
    exit 1
fi

if [ ! -s "$OUT/index.json" ]; then
    tail -n 30 "$OUT/wstest.log" >&2
    echo "autobahn: wstest wrote no report" >&2
    exit 1
fi

server_alive=1
kill -0 "$server_pid" 2>/dev/null || server_alive=0
cleanup

# --- 4. the verdict ----------------------------------------------------------------------
"$PY2" - "$OUT/index.json" "$server_alive" "$(( $(date +%s) - started ))" "$STRICT" <<'EOF'
import json, sys
path, alive, seconds = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
strict = sys.argv[4] == "1"
out = path.rsplit("/", 1)[0]
results = list(json.load(open(path)).values())[0]

def key(case):
    return [int(part) for part in case.split(".")]

def counts(field, names):
    found = [r[field] for r in results.values()]
    names = names + sorted(set(found) - set(names))
    return ", ".join("%s %d" % (n, found.count(n)) for n in names)

behaviours = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
print("autobahn: %d cases in %d s; behavior: %s; close: %s"
      % (len(results), seconds, counts("behavior", behaviours),
         counts("behaviorClose", behaviours)))

bad = []
for case in sorted(results, key=key):
    r = results[case]
    behavior, close = r["behavior"], r["behaviorClose"]
    if behavior != "OK" or close != "OK":
        failing = behavior in ("FAILED", "NON-STRICT") or close not in ("OK", "INFORMATIONAL")
        failing = failing or (strict and behavior == "UNIMPLEMENTED")
        print("  %-8s %-13s close %-13s%s"
              % (case, behavior, close, "  <- FAIL" if failing else ""))
        if failing:
            bad.append(case)
if not alive:
    print("autobahn: the echo server died during the run (see %s/server.log)" % out)
if bad or not alive:
    print("autobahn: FAILED (%d cases); report: %s/index.html" % (len(bad), out))
    sys.exit(1)
EOF
