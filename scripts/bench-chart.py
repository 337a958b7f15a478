#!/usr/bin/env python3
"""Summarises bench-scaling.sh's measurements and draws the chart of how server CPU per
message grows with the work: against connections (log x) and against message size
(log-log), one line per server, medians with the lowest and highest round as bars, and
the median of per-round ratios of wsreactor to the second server written along the top.

usage: bench-chart.py RESULTS.jsonl SUMMARY.json CHART.svg
"""
import json
import os
import statistics
import sys
from collections import defaultdict
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend is chosen first)

KEY = "cpu_us_per_msg"
COLORS = {"wsreactor": "tab:blue", "uws": "tab:orange"}
NAMES = {"uws": "uWebSockets"}


def summarise(path):
    runs = defaultdict(list)
    servers = []
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            if d.get(KEY) is None:
                continue
            runs[(d["scenario"], d["label"])].append(d)
            if d["label"] not in servers:
                servers.append(d["label"])
    # Ours first: the ratios are ours over each other server's.
    servers.sort(key=lambda s: s != "wsreactor")
    points = []
    for scenario in dict.fromkeys(sc for sc, _ in runs):
        first = next(r for (sc, _), v in runs.items() if sc == scenario for r in v)
        entry = {
            "point": scenario,
            "conns": first["conns"],
            "inflight": first["inflight"],
            "size": first["size"],
            "servers": {},
            "ratios": {},
        }
        for s in servers:
            vals = [r[KEY] for r in runs.get((scenario, s), [])]
            if vals:
                entry["servers"][s] = {"median": statistics.median(vals), "min": min(vals),
                                       "max": max(vals), "rounds": len(vals)}
        # Median of per-round ratios: each pair ran seconds apart.
        ours = {r["round"]: r[KEY] for r in runs.get((scenario, servers[0]), [])}
        for s in servers[1:]:
            ratios = [ours[r["round"]] / r[KEY] for r in runs.get((scenario, s), [])
                      if r["round"] in ours and r[KEY]]
            if ratios:
                entry["ratios"][f"{servers[0]}/{s}"] = round(statistics.median(ratios), 3)
        points.append(entry)
    return {
        "what": "server CPU microseconds per echoed message (bench-scaling.sh)",
        "date": date.today().isoformat(),
        "cores": os.cpu_count(),
        "kernel": os.uname().release,
        "rounds": max((len(v) for v in runs.values()), default=0),
        "servers": servers,
        "points": points,
    }


def tick_label(x):
    """1048576 -> "1 Mi", 4096 -> "4 Ki", 10000 -> "10,000"."""
    for unit, name in ((1 << 20, "Mi"), (1 << 10, "Ki")):
        if x >= unit and x % unit == 0:
            return f"{x // unit} {name}"
    return f"{x:,}"


def panel(ax, summary, kind, x_of, xlabel, title, logy):
    points = [p for p in summary["points"] if p["point"].startswith(kind + ":")]
    points.sort(key=x_of)
    servers = summary["servers"]
    for s in servers:
        have = [p for p in points if s in p["servers"]]
        if not have:
            continue
        xs = [x_of(p) for p in have]
        med = [p["servers"][s]["median"] for p in have]
        lo = [m - p["servers"][s]["min"] for m, p in zip(med, have)]
        hi = [p["servers"][s]["max"] - m for m, p in zip(med, have)]
        ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3, label=NAMES.get(s, s),
                    color=COLORS.get(s))
    # The ratios of the first server to the second, along the top.
    if len(servers) > 1:
        name = f"{servers[0]}/{servers[1]}"
        for p in points:
            if name in p["ratios"]:
                ax.annotate(f"{p['ratios'][name]:.2f}x", (x_of(p), 1), xycoords=("data", "axes fraction"),
                            xytext=(0, -12), textcoords="offset points", ha="center", fontsize=8,
                            color="dimgray")
    ax.set_xscale("log")
    ax.margins(y=0.15)  # room for the ratios along the top
    xs = sorted({x_of(p) for p in points})
    ax.set_xticks(xs, [tick_label(x) for x in xs])
    ax.minorticks_off()
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("server CPU µs per message")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def draw(summary, path):
    plt.rcParams["svg.hashsalt"] = "wsreactor"  # stable ids: the file changes only with the data
    plt.rcParams["svg.fonttype"] = "none"
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    panel(left, summary, "conns", lambda p: p["conns"], "connections (16 in flight each, 32 B text)",
          "CPU per message as connections grow (flat is good)", logy=False)
    panel(right, summary, "size", lambda p: p["size"],
          "message size, bytes (≤ 4 Ki: 100 conns × 16 in flight; larger: 10 × 2)",
          "CPU per message as messages grow", logy=True)
    servers = summary["servers"]
    ratio = f"; along the top: {servers[0]} / {servers[1]}, median of per-round ratios" \
        if len(servers) > 1 else ""
    fig.suptitle(f"Server CPU per echoed message, lower is better: medians of {summary['rounds']} "
                 f"round(s), bars lowest to highest{ratio}\n({summary['date']}, {summary['cores']} "
                 "cores, server and load generator on one core each; scripts/bench-scaling.sh)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})


def main():
    results, summary_path, chart = sys.argv[1:4]
    summary = summarise(results)
    if not summary["points"]:
        sys.exit(f"no measurements in {results}")
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    draw(summary, chart)
    print(f"wrote {summary_path} and {chart}")


if __name__ == "__main__":
    main()
