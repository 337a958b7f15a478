#!/usr/bin/env python3
"""Turns bench-peers.sh's results.jsonl into the comparison table (medians over rounds,
ratio ours / peer in parentheses) and checks the performance targets of issue 6 (wsreactor
against the other servers), of issue 14 (wsreactor against uWebSockets) and of issue 15
(wsreactor over TLS against itself over plain TCP and against Node ws over TLS).

"Ours" is wsreactor-tls when the run has it (a TLS run: the other columns are then ratios
to wsreactor over TLS), else wsreactor.

usage: bench-table.py RESULTS.jsonl "wsreactor peer1 peer2 ..."
"""
import json
import statistics
import sys
from collections import defaultdict

SCENARIOS = {
    "a": "a: 100 conns x 1 in flight x 32 B text",
    "b": "b: 100 conns x 16 in flight x 32 B text",
    "c": "c: 10 conns x 4 in flight x 16 KiB binary",
    "d": "d: RSS per idle connection, 10,000 held",
    "e": "e: 19,000 concurrent connections, one echo each",
    "f": "f: broadcast, 1 publisher -> 1,000 subscribers x 32 B",
    "g": "g: broadcast, 1 publisher -> 10,000 subscribers x 32 B",
}
PLAIN, TLS, DEFLATE = "wsreactor", "wsreactor-tls", "wsreactor-deflate"


def main():
    path, servers = sys.argv[1], sys.argv[2].split()
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            runs[(d["scenario"], d["label"])].append(d)
    rounds = max((len(v) for v in runs.values()), default=0)

    def values(scenario, server, key):
        return [r[key] for r in runs.get((scenario, server), []) if r.get(key) is not None]

    def median(scenario, server, key):
        vals = values(scenario, server, key)
        return statistics.median(vals) if vals else None

    US = TLS if TLS in servers else DEFLATE if DEFLATE in servers else PLAIN

    def paired(scenario, peer, key, us=US):
        """Median over rounds of our figure / the peer's in the same round: the two ran
        seconds apart, so slow changes in the machine's load cancel out."""
        theirs = {r["round"]: r.get(key) for r in runs.get((scenario, peer), [])}
        ratios = [r[key] / theirs[r["round"]] for r in runs.get((scenario, us), [])
                  if r.get(key) is not None and theirs.get(r["round"])]
        return statistics.median(ratios) if ratios else None

    def best(scenario, server, key):
        vals = values(scenario, server, key)
        return min(vals) if vals else None

    peers = [s for s in servers if s != US]

    def spread(scenario, server, key):
        vals = values(scenario, server, key)
        return (min(vals), max(vals)) if vals else None

    def header(columns):
        print("| scenario | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")

    def table(title, scenarios, key, fmt, ratio=True, stat=median):
        scenarios = [sc for sc in scenarios if any((sc, s) in runs for s in servers)]
        if not scenarios:
            return
        # Only the servers measured in these scenarios (f and g run two of them).
        columns = [s for s in servers if any((sc, s) in runs for sc in scenarios)]
        print(f"\n**{title}**\n")
        header(columns)
        for sc in scenarios:
            ours = stat(sc, US, key)
            cells = []
            for s in columns:
                v = stat(sc, s, key)
                if v is None:
                    cells.append("-")
                elif ratio and s != US and ours is not None and v:
                    cells.append(f"{fmt(v)} ({ours / v:.2f}x)")
                else:
                    cells.append(fmt(v))
            print(f"| {SCENARIOS[sc]} | " + " | ".join(cells) + " |")

    print(f"Medians of up to {rounds} rounds unless said otherwise; in parentheses: "
          f"{US}'s figure / the column's. Targets are checked on the medians and on the "
          "median of per-round ratios.")
    tls = sorted({f"{r['label']}: {r['tls']}" for v in runs.values() for r in v
                  if r.get("tls")})
    if tls:
        print("\nNegotiated: " + "; ".join(tls) + ".")
    table("Server CPU us per echoed message (lower is better)", "abc", "cpu_us_per_msg",
          lambda v: f"{v:.2f}")
    table("Server CPU us per echoed message, best round (the least disturbed; for reference)",
          "abc", "cpu_us_per_msg", lambda v: f"{v:.2f}", stat=best)
    table("Server CPU us per echoed message, spread over the rounds (lowest-highest)", "abc",
          "cpu_us_per_msg", lambda v: f"{v[0]:.2f}-{v[1]:.2f}", ratio=False, stat=spread)
    def paired_table(title, scenarios):
        scenarios = [sc for sc in scenarios if (sc, US) in runs]
        columns = [p for p in peers if any((sc, p) in runs for sc in scenarios)]
        if not scenarios or not columns:
            return
        print(f"\n**{title}, median of per-round ratios {US} / peer** "
              "(each pair measured seconds apart)\n")
        header(columns)
        for sc in scenarios:
            cells = [f"{v:.2f}x" if (v := paired(sc, p, "cpu_us_per_msg")) else "-"
                     for p in columns]
            print(f"| {SCENARIOS[sc]} | " + " | ".join(cells) + " |")

    paired_table("Server CPU per message", "abc")
    table("p99 round-trip latency, us (lower is better)", "abc", "p99_us", lambda v: f"{v:.0f}")
    # Older result files have no wire figures: the table is left out for them.
    if any(r.get("server_bytes_per_msg") is not None for v in runs.values() for r in v):
        table("Bytes on the wire from the server per echo (WebSocket frames; lower is better)",
              "abc", "server_bytes_per_msg", lambda v: f"{v:,.1f}")
    table("Echoes per second (higher is better; noisy)", "abc", "msgs_per_s",
          lambda v: f"{v:,.0f}")
    table("Load generator CPU, % of its core (near 100: the client limits the rate)", "abc",
          "client_cpu_pct", lambda v: f"{v:.0f}", ratio=False)
    table("CPU used by the rest of the machine during the window, % of one core "
          "(high: the figures above are disturbed)", "abc", "other_cpu_pct",
          lambda v: f"{v:.0f}", ratio=False)
    table("Server RSS per idle connection, bytes (lower is better)", "d", "rss_per_conn",
          lambda v: f"{v:,.0f}")
    table("Server RSS per idle connection, spread over the rounds (lowest-highest)", "d",
          "rss_per_conn", lambda v: f"{v[0]:,.0f}-{v[1]:,.0f}", ratio=False, stat=spread)
    table("Connections served (held and echoed once)", "e", "echoed", lambda v: f"{v:,.0f}",
          ratio=False)
    batches = sorted({r.get("batch") for sc in "fg" for s in servers
                      for r in runs.get((sc, s), [])})
    if batches:
        print("\nBroadcast (f, g): the publisher sends its messages in batches of "
              + ", ".join(map(str, batches))
              + ", each once every subscriber has received the previous one.")
    table("Broadcast: server CPU us per delivery (lower is better)", "fg", "cpu_us_per_msg",
          lambda v: f"{v:.3f}")
    table("Broadcast: server CPU us per delivery, spread over the rounds (lowest-highest)",
          "fg", "cpu_us_per_msg", lambda v: f"{v[0]:.3f}-{v[1]:.3f}", ratio=False,
          stat=spread)
    paired_table("Broadcast: server CPU per delivery", "fg")
    table("Broadcast: deliveries per second (higher is better; noisy)", "fg", "msgs_per_s",
          lambda v: f"{v:,.0f}")
    table("Broadcast: CPU used by the rest of the machine, % of one core", "fg",
          "other_cpu_pct", lambda v: f"{v:.0f}", ratio=False)

    checks = []

    def cpu_check(sc, us, peer, factor):
        ours, theirs = median(sc, us, "cpu_us_per_msg"), median(sc, peer, "cpu_us_per_msg")
        if ours is None or theirs is None:
            return
        what = f"{factor}x {peer}'s" if factor != 1 else f"{peer}'s"
        checks.append((f"{sc}: {us} CPU/msg {ours:.2f} us <= {what} ({theirs * factor:.2f} "
                       f"us), medians", ours <= theirs * factor))
        ratio = paired(sc, peer, "cpu_us_per_msg", us)
        if ratio is not None:
            checks.append((f"{sc}: {us} CPU/msg {ratio:.2f}x {peer}'s <= {factor}x, median "
                           f"of per-round ratios", ratio <= factor))

    cpu_check("b", PLAIN, "tokio-tungstenite", 0.75)
    cpu_check("a", PLAIN, "fastwebsockets", 1)
    cpu_check("c", PLAIN, "tokio-tungstenite", 1)
    # Latency against the other servers over plain TCP: issue 6's peers (uWebSockets came
    # with issue 14, which sets no latency target).
    plain_peers = [p for p in peers if p not in (PLAIN, "uws") and not p.endswith("-tls")]
    for sc in "ab":
        ours = median(sc, PLAIN, "p99_us")
        theirs = [(p, median(sc, p, "p99_us")) for p in plain_peers]
        theirs = [(p, v) for p, v in theirs if v is not None]
        if ours is not None and theirs:
            best = min(v for _, v in theirs)
            checks.append((f"{sc}: p99 {ours:.0f} us <= every peer's (lowest {best:.0f} us), "
                           "medians", ours <= best))
            ratios = [(p, paired(sc, p, "p99_us", PLAIN)) for p, _ in theirs]
            worst = max((r, p) for p, r in ratios if r is not None)
            checks.append((f"{sc}: p99 <= every peer's, median of per-round ratios (highest "
                           f"{worst[0]:.2f}x, {worst[1]})", worst[0] <= 1))
    rss = median("d", PLAIN, "rss_per_conn")
    if rss is not None:
        checks.append((f"d: RSS per idle connection {rss:,.0f} B <= 4 KiB", rss <= 4096))
    served = [r["echoed"] for r in runs.get(("e", PLAIN), [])]
    if served:
        want = runs[("e", PLAIN)][0]["conns"]
        checks.append((f"e: all {want:,} connections served in every round (min {min(served):,})",
                       min(served) >= want))
    report("Targets (issue 6)", checks)

    # Issue 14: at or below uWebSockets' CPU per message (per delivery in f and g), and
    # 512 B per idle connection.
    if "uws" in servers:
        checks = []
        for sc in "abcfg":
            cpu_check(sc, PLAIN, "uws", 1)
        if rss is not None:
            checks.append((f"d: RSS per idle connection {rss:,.0f} B <= 512 B", rss <= 512))
        report("Targets (issue 14)", checks)

    # Issue 15: TLS at most 1.4x plain in b, below Node ws over TLS in every scenario.
    checks = []
    cpu_check("b", TLS, PLAIN, 1.4)
    for sc in "abc":
        cpu_check(sc, TLS, "node-ws-tls", 1)
    notes = []
    tls_rss, node_rss = median("d", TLS, "rss_per_conn"), median("d", "node-ws-tls", "rss_per_conn")
    if tls_rss is not None:
        stated = f"d: RSS per idle TLS connection {tls_rss:,.0f} B"
        if rss is not None:
            stated += f", {tls_rss - rss:,.0f} B more than plain ({rss:,.0f} B)"
        if node_rss is not None:
            stated += f"; Node ws over TLS {node_rss:,.0f} B"
        notes.append(stated + " (measured and stated; no target)")
    report("Targets (issue 15, TLS)", checks, notes)

    # Issue 16: with permessage-deflate, below Node ws with it in CPU per message (b, c)
    # and in memory per idle connection; the cost against our own uncompressed figures
    # and uWebSockets' compressed ones stated.
    checks, notes = [], []
    for sc in "bc":
        cpu_check(sc, DEFLATE, "node-ws-deflate", 1)
        for peer in (PLAIN, "uws-deflate"):
            ratio = paired(sc, peer, "cpu_us_per_msg", DEFLATE)
            if ratio is not None:
                notes.append(f"{sc}: {DEFLATE} CPU/msg {ratio:.2f}x {peer}'s (median of "
                             "per-round ratios; stated, no target)")
    ours_rss = median("d", DEFLATE, "rss_per_conn")
    node_rss = median("d", "node-ws-deflate", "rss_per_conn")
    if ours_rss is not None and node_rss is not None:
        checks.append((f"d: RSS per idle compressed connection {ours_rss:,.0f} B <= Node ws's "
                       f"({node_rss:,.0f} B), medians", ours_rss <= node_rss))
    report("Targets (issue 16, permessage-deflate)", checks, notes)


def report(title, checks, notes=()):
    if not checks and not notes:
        return
    print(f"\n**{title}**\n")
    for text, ok in checks:
        print(f"- {'PASS' if ok else 'FAIL'} {text}")
    for text in notes:
        print(f"- {text}")
    print(f"\n{sum(ok for _, ok in checks)} of {len(checks)} targets met.")


if __name__ == "__main__":
    main()
