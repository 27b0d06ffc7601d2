"""Draws the benchmark charts (SVG) from the runners' results, with
matplotlib. bench/run.sh and bench/http.sh call it after each run; run it
by hand to redraw from kept results:

    python3 bench/charts.py --echo bench/results/latest.json \
        --http bench/results/http.runs.jsonl --out bench/results/charts

- echo-cpu-vs-c.svg: per scenario, the server's CPU per operation of
  every peer relative to the C server on raw libev (median of per-round
  ratios, as run.sh reports them; the whisker spans the rounds).
- latency.svg: round-trip p50 and p99 of every peer, one connection and
  fifty.
- http-cpu.svg: HTTP server CPU per request for hinge, hyper, nginx and
  Node, per scenario (medians over rounds; whiskers span them).

Needs matplotlib (pip install matplotlib).
"""

import argparse
import json
import os
import statistics
import sys

try:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("charts.py: needs matplotlib (pip install matplotlib)")

# One colour per peer, the same in every chart.
COLOURS = {
    "c": "#555555",
    "hinge": "#d1495b",
    "hinge-async": "#e8838f",
    "mio": "#edae49",
    "tokio": "#00798c",
    "tokio-multi": "#66a182",
    "node": "#8d96a3",
    "hyper": "#00798c",
    "hyper-flush": "#66a182",
    "nginx": "#555555",
}

# The echo scenarios and the per-operation CPU figure of each.
ECHO = [
    ("pingpong50", "cpu_us_per_msg", "ping-pong, 64 B x 50 conns\nCPU per message"),
    ("latency1", "cpu_us_per_msg", "ping-pong, 1 conn\nCPU per message"),
    ("bulk8", "cpu_ms_per_gb", "bulk 64 KiB x 8 conns\nCPU per GB"),
    ("connect8", "cpu_us_per_conn", "connect, echo, close x 8\nCPU per connection"),
    ("idle", "kib_per_conn", "10,000 idle connections\nmemory per connection"),
]


def bars(ax, names, values, spans, title, unit):
    xs = range(len(names))
    colours = [COLOURS.get(n, "#999999") for n in names]
    low = [v - s[0] for v, s in zip(values, spans)]
    high = [s[1] - v for v, s in zip(values, spans)]
    ax.bar(xs, values, color=colours, yerr=[low, high], capsize=3, ecolor="#222222")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    for x, v in zip(xs, values):
        ax.annotate(f"{v:.2f}", (x, v), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 2), textcoords="offset points")


def echo_charts(path, out):
    data = json.load(open(path))
    meta = data["meta"]
    results = data["results"]
    rev = meta.get("hinge_rev", "?")
    when = meta.get("date", "?")

    fig, grid = plt.subplots(2, 3, figsize=(13, 8))
    axes = list(grid.flat)
    axes[-1].axis("off")
    for ax, (scenario, metric, title) in zip(axes, ECHO):
        peers = results.get(scenario, {})
        names, values, spans = [], [], []
        c = peers.get("c", {}).get(metric)
        if scenario == "idle":
            # Ratios to C's tiny figure would hide everything else: the
            # memory itself, on a log scale.
            for name, figures in peers.items():
                f = figures.get(metric)
                if f:
                    names.append(name)
                    values.append(f["median"])
                    spans.append((f["min"], f["max"]))
            bars(ax, names, values, spans, title, "KiB per connection (log; lower is better)")
            ax.set_yscale("log")
            continue
        for name, figures in peers.items():
            f = figures.get(metric)
            if not f or not c:
                continue
            ratio = f.get("paired_ratio_to_c", f["median"] / c["median"])
            rounds = [
                v / c["by_round"][r]
                for r, v in f.get("by_round", {}).items()
                if c["by_round"].get(r)
            ] or [ratio]
            names.append(name)
            values.append(ratio)
            spans.append((min(rounds + [ratio]), max(rounds + [ratio])))
        bars(ax, names, values, spans, title, "x the C server (lower is better)")
        ax.axhline(1.0, color="#222222", linewidth=0.8, linestyle="--")
    fig.suptitle(f"Echo servers, CPU per operation relative to C on libev ({rev}, {when})",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "echo-cpu-vs-c.svg"), metadata={"Date": None})
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, scenario, title in [
        (axes[0], "latency1", "1 connection"),
        (axes[1], "pingpong50", "50 connections"),
    ]:
        peers = results.get(scenario, {})
        names = [n for n in peers if "p50_us" in peers[n]]
        xs = range(len(names))
        p50 = [peers[n]["p50_us"]["median"] for n in names]
        p99 = [peers[n]["p99_us"]["median"] for n in names]
        width = 0.4
        ax.bar([x - width / 2 for x in xs], p50, width, label="p50",
               color=[COLOURS.get(n, "#999") for n in names])
        ax.bar([x + width / 2 for x in xs], p99, width, label="p99",
               color=[COLOURS.get(n, "#999") for n in names], alpha=0.5)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("round trip, us (lower is better)", fontsize=8)
        ax.set_title(f"ping-pong 64 B, {title}: p50 (solid), p99 (light)", fontsize=9)
    fig.suptitle(f"Echo round-trip latency ({rev}, {when})", fontsize=11)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.svg"), metadata={"Date": None})
    plt.close(fig)


def http_chart(path, out):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    scenarios = [s for s in ("keepalive", "pipelined", "close")
                 if any(r["scenario"] == s for r in runs)]
    order = ["hinge", "hyper", "hyper-flush", "nginx", "node"]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.5 * len(scenarios), 4))
    if len(scenarios) == 1:
        axes = [axes]
    for ax, scenario in zip(axes, scenarios):
        names, values, spans = [], [], []
        for name in order:
            cpu = [r["cpu_us_per_req"] for r in runs
                   if r["scenario"] == scenario and r["server"] == name and "cpu_us_per_req" in r]
            if not cpu:
                continue
            names.append(name)
            values.append(statistics.median(cpu))
            spans.append((min(cpu), max(cpu)))
        bars(ax, names, values, spans, scenario, "server CPU per request, us (lower is better)")
    fig.suptitle("HTTP servers: CPU per request (wrk -t1 -c64, one core each)", fontsize=11)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "http-cpu.svg"), metadata={"Date": None})
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--echo", help="run.sh's JSON (bench/results/latest.json)")
    p.add_argument("--http", help="http.sh's runs (bench/results/http.runs.jsonl)")
    p.add_argument("--out", default="bench/results/charts")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    # Same bytes for the same data: no timestamps or random ids in the SVG.
    matplotlib.rcParams["svg.hashsalt"] = "hinge"
    matplotlib.rcParams["svg.fonttype"] = "none"
    if a.echo:
        echo_charts(a.echo, a.out)
    if a.http:
        http_chart(a.http, a.out)
    if not a.echo and not a.http:
        p.error("nothing to draw: give --echo and/or --http")


if __name__ == "__main__":
    main()
