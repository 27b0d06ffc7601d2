#!/usr/bin/env python3
"""Turns run.sh's raw runs into figures: median, min and max over rounds,
each server's ratio to the C reference, the targets hinge is held to, a
Markdown report on stdout (also written beside --out as .md) and JSON.

    python3 bench/report.py --raw bench/results/latest.runs.jsonl \
        --out bench/results/latest.json [--callgrind bench/results/callgrind.json]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

REFERENCE = "c"
SERVER_NAMES = {
    "c": "C (raw libev)",
    "hinge": "hinge",
    "hinge-async": "hinge async/await",
    "hinge-base": "hinge (base revision)",
    "mio": "mio",
    "tokio": "tokio current_thread",
    "tokio-multi": "tokio multi_thread",
    "node": "Node.js net",
}


def per_op(scale):
    """Server CPU seconds per operation, times `scale`."""
    def f(r):
        if r.get("server_cpu_s") is None or not r.get("ops"):
            return None
        return r["server_cpu_s"] / r["ops"] * scale
    return f


def share(key):
    """A CPU time as a percentage of the window."""
    def f(r):
        if r.get(key) is None or not r.get("window_s"):
            return None
        return 100.0 * r[key] / r["window_s"]
    return f


def field(key):
    return lambda r: r.get(key)


# scenario -> (title, [(figure, label, extractor, higher_is_better)])
SCENARIOS = {
    "pingpong50": ("ping-pong, 64 B messages x 50 connections", [
        ("msgs_per_s", "msgs/s", field("msgs_per_s"), True),
        ("cpu_us_per_msg", "server CPU us/msg", per_op(1e6), False),
        ("p50_us", "RTT p50 us", field("p50_us"), False),
        ("p99_us", "RTT p99 us", field("p99_us"), False),
        ("server_cpu_pct", "server CPU %", share("server_cpu_s"), None),
        ("loadgen_cpu_pct", "loadgen CPU %", share("loadgen_cpu_s"), None),
    ]),
    "latency1": ("ping-pong, 64 B messages x 1 connection (latency)", [
        ("p50_us", "RTT p50 us", field("p50_us"), False),
        ("p99_us", "RTT p99 us", field("p99_us"), False),
        ("msgs_per_s", "msgs/s", field("msgs_per_s"), True),
        ("cpu_us_per_msg", "server CPU us/msg", per_op(1e6), False),
        ("server_cpu_pct", "server CPU %", share("server_cpu_s"), None),
        ("loadgen_cpu_pct", "loadgen CPU %", share("loadgen_cpu_s"), None),
    ]),
    "bulk8": ("bulk, 64 KiB writes x 8 connections", [
        ("mb_per_s", "MB/s echoed", field("mb_per_s"), True),
        ("cpu_ms_per_gb", "server CPU ms/GB", per_op(1e6), False),
        ("server_cpu_pct", "server CPU %", share("server_cpu_s"), None),
        ("loadgen_cpu_pct", "loadgen CPU %", share("loadgen_cpu_s"), None),
    ]),
    "connect8": ("connect, echo 64 B, close; 8 workers", [
        ("conns_per_s", "conns/s", field("conns_per_s"), True),
        ("cpu_us_per_conn", "server CPU us/conn", per_op(1e6), False),
        ("p50_us", "conn p50 us", field("p50_us"), False),
        ("server_cpu_pct", "server CPU %", share("server_cpu_s"), None),
        ("loadgen_cpu_pct", "loadgen CPU %", share("loadgen_cpu_s"), None),
    ]),
    "connect8-direct": ("connect, echo 64 B, close; 8 workers; one source address", [
        ("conns_per_s", "conns/s", field("conns_per_s"), True),
        ("cpu_us_per_conn", "server CPU us/conn", per_op(1e6), False),
        ("p50_us", "conn p50 us", field("p50_us"), False),
        ("server_cpu_pct", "server CPU %", share("server_cpu_s"), None),
        ("loadgen_cpu_pct", "loadgen CPU %", share("loadgen_cpu_s"), None),
    ]),
    "idle": ("idle connections (RSS growth)", [
        ("kib_per_conn", "server RSS KiB/conn", field("server_rss_kib_per_conn"), False),
        ("cpu_us_per_conn", "setup CPU us/conn", per_op(1e6), False),
    ]),
}


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def aggregate(runs):
    """scenario -> server -> figure -> {median, min, max, values, ratio_to_c}"""
    out = {}
    for scenario, (_, figures) in SCENARIOS.items():
        by_server = {}
        for run in runs:
            if run.get("scenario") != scenario or "result" not in run:
                continue
            by_server.setdefault(run["server"], []).append((run["round"], run["result"]))
        if not by_server:
            continue
        table = {}
        for server, results in by_server.items():
            table[server] = {}
            for key, _, get, _ in figures:
                by_round = {rnd: get(r) for rnd, r in results if get(r) is not None}
                values = list(by_round.values())
                if not values:
                    continue
                table[server][key] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "values": values,
                    "by_round": by_round,
                }
        ref = table.get(REFERENCE, {})
        for server, figs in table.items():
            for key, stat in figs.items():
                base = ref.get(key, {})
                stat["ratio_to_c"] = stat["median"] / base["median"] if base.get("median") else None
                # Ratios within each round, where both ran under the same
                # machine conditions; their median resists slow rounds.
                paired = [v / base["by_round"][rnd] for rnd, v in stat["by_round"].items()
                          if base.get("by_round", {}).get(rnd)]
                stat["paired_ratio_to_c"] = statistics.median(paired) if paired else None
        out[scenario] = table
    return out


def fig(results, scenario, server, key):
    return results.get(scenario, {}).get(server, {}).get(key)


def targets(results, callgrind):
    """hinge's targets: (description, verdict, detail)."""
    rows = []

    def ratio(scenario, key, limit, higher, what):
        h = fig(results, scenario, "hinge", key)
        c = fig(results, scenario, REFERENCE, key)
        if not h or not c:
            rows.append((what, "n/a", "not measured"))
            return
        r = h["median"] / c["median"]
        ok = r >= limit if higher else r <= limit
        paired = h.get("paired_ratio_to_c")
        extra = f" (median of per-round ratios {paired:.3f}x)" if paired else ""
        rows.append((what, "PASS" if ok else "FAIL",
                     f"hinge {fmt(h['median'])} vs C {fmt(c['median'])}: {r:.3f}x{extra}"))

    ratio("pingpong50", "msgs_per_s", 0.95, True, "ping-pong 64Bx50 msgs/s >= 0.95x C")
    ratio("pingpong50", "cpu_us_per_msg", 1.10, False, "ping-pong 64Bx50 server CPU/msg <= 1.10x C")
    h = fig(results, "pingpong50", "hinge", "cpu_us_per_msg")
    t = fig(results, "pingpong50", "tokio", "cpu_us_per_msg")
    if h and t:
        ok = h["median"] <= t["median"]
        paired = [v / t["by_round"][rnd] for rnd, v in h["by_round"].items()
                  if t["by_round"].get(rnd)]
        extra = f" (median of per-round ratios {statistics.median(paired):.3f}x)" if paired else ""
        rows.append(("ping-pong 64Bx50 server CPU/msg <= tokio current_thread",
                     "PASS" if ok else "FAIL",
                     f"hinge {fmt(h['median'])} us vs tokio {fmt(t['median'])} us: "
                     f"{h['median'] / t['median']:.3f}x{extra}"))
    if callgrind:
        hc = callgrind.get("hinge", {}).get("ir_per_msg")
        cc = callgrind.get(REFERENCE, {}).get("ir_per_msg")
        if hc and cc:
            r = hc / cc
            rows.append(("callgrind instructions/msg <= 1.5x C", "PASS" if r <= 1.5 else "FAIL",
                         f"hinge {hc:,.0f} vs C {cc:,.0f}: {r:.2f}x"))
    ratio("latency1", "p50_us", 1.05, False, "1-conn RTT p50 <= 1.05x C")
    ratio("bulk8", "mb_per_s", 0.95, True, "bulk MB/s >= 0.95x C")
    ratio("bulk8", "cpu_ms_per_gb", 1.10, False, "bulk server CPU/GB <= 1.10x C")
    ratio("connect8", "cpu_us_per_conn", 1.15, False, "connect server CPU/conn <= 1.15x C")
    k = fig(results, "idle", "hinge", "kib_per_conn")
    if k:
        rows.append(("idle <= 1 KiB/conn", "PASS" if k["median"] <= 1.0 else "FAIL",
                     f"hinge {k['median']:.3f} KiB/conn"))
    rows.extend(async_targets(results))
    behind = []
    compared = []
    for scenario, key in [("pingpong50", "msgs_per_s"), ("latency1", "msgs_per_s"),
                          ("bulk8", "mb_per_s"), ("connect8", "conns_per_s")]:
        h = fig(results, scenario, "hinge", key)
        n = fig(results, scenario, "node", key)
        if h and n:
            compared.append(f"{scenario} {h['median'] / n['median']:.2f}x")
            if h["median"] <= n["median"]:
                behind.append(scenario)
    if compared:
        rows.append(("hinge ahead of Node on every throughput figure",
                     "FAIL" if behind else "PASS", "hinge/Node: " + ", ".join(compared)))
    return rows


def paired_ratio(results, scenario, key, a, b):
    """The median of per-round ratios a/b, or None."""
    x = fig(results, scenario, a, key)
    y = fig(results, scenario, b, key)
    if not x or not y:
        return None
    r = [v / y["by_round"][rnd] for rnd, v in x["by_round"].items() if y["by_round"].get(rnd)]
    return statistics.median(r) if r else None


def async_targets(results):
    """The async/await server's targets (issue 20), against tokio
    current_thread and hinge's callback server."""
    rows = []
    checks = [
        ("pingpong50", "cpu_us_per_msg", "tokio", 1.0, False,
         "async ping-pong server CPU/msg <= tokio current_thread"),
        ("pingpong50", "cpu_us_per_msg", "hinge", 1.15, False,
         "async ping-pong server CPU/msg <= 1.15x hinge callbacks"),
        ("bulk8", "mb_per_s", "hinge", 0.95, True,
         "async bulk MB/s >= 0.95x hinge callbacks"),
    ]
    for scenario, key, other, limit, higher, what in checks:
        r = paired_ratio(results, scenario, key, "hinge-async", other)
        if r is None:
            continue
        ok = r >= limit if higher else r <= limit
        rows.append((what, "PASS" if ok else "FAIL",
                     f"median of per-round ratios {r:.3f}x"))
    k = fig(results, "idle", "hinge-async", "kib_per_conn")
    if k:
        rows.append(("async idle connection (task parked in read) <= 1.5 KiB",
                     "PASS" if k["median"] <= 1.5 else "FAIL",
                     f"hinge-async {k['median']:.3f} KiB/conn"))
    return rows


def markdown(results, meta, target_rows, notes):
    lines = []
    servers_seen = []
    for table in results.values():
        for s in table:
            if s not in servers_seen:
                servers_seen.append(s)
    order = [s for s in SERVER_NAMES if s in servers_seen] + \
        [s for s in servers_seen if s not in SERVER_NAMES]
    lines.append(f"hinge {meta.get('hinge_rev', '?')}; {meta.get('rounds')} rounds, window "
                 f"{meta.get('duration_s')} s after {meta.get('warmup_s')} s warm-up; "
                 f"median (min-max) over rounds; x C = ratio of medians to the C reference.")
    lines.append("")
    for scenario, (title, figures) in SCENARIOS.items():
        table = results.get(scenario)
        if not table:
            continue
        lines.append(f"**{title}**")
        lines.append("")
        head = ["server"]
        for key, label, _, better in figures:
            head.append(label)
            if better is not None:
                head.append("x C")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for server in order:
            figs = table.get(server)
            if not figs:
                continue
            row = [SERVER_NAMES.get(server, server)]
            for key, _, _, better in figures:
                s = figs.get(key)
                if s is None:
                    row.append("-")
                else:
                    cell = fmt(s["median"])
                    if len(s["values"]) > 1 and better is not None:
                        cell += f" ({fmt(s['min'])}-{fmt(s['max'])})"
                    row.append(cell)
                if better is not None:
                    r = s.get("ratio_to_c") if s else None
                    row.append(f"{r:.2f}" if r else "-")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if target_rows:
        lines.append("**hinge's targets**")
        lines.append("")
        lines.append("| target | result | figures |")
        lines.append("|---|---|---|")
        for what, verdict, detail in target_rows:
            lines.append(f"| {what} | {verdict} | {detail} |")
        lines.append("")
    for n in notes:
        lines.append(f"Note: {n}")
    return "\n".join(lines).rstrip() + "\n"


def machine():
    info = {"kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    for key, cmd in [("rustc", ["rustc", "--version"]), ("node", ["node", "--version"])]:
        try:
            info[key] = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            info[key] = None
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--callgrind")
    ap.add_argument("--notes")
    ap.add_argument("--meta", nargs="*", default=[])
    args = ap.parse_args()

    runs = [json.loads(line) for line in open(args.raw) if line.strip()]
    meta = dict(kv.split("=", 1) for kv in args.meta)
    meta["date"] = datetime.date.today().isoformat()
    meta["machine"] = machine()
    notes = []
    if args.notes and os.path.exists(args.notes):
        notes = [n for n in open(args.notes).read().splitlines() if n.strip()]
    failed = [r for r in runs if "error" in r]
    for r in failed:
        notes.append(f"failed: {r['server']} {r['scenario']} round {r['round']}: {r['error']}")
    callgrind_path = args.callgrind or os.path.join(os.path.dirname(args.out), "callgrind.json")
    callgrind = None
    if os.path.exists(callgrind_path):
        callgrind = json.load(open(callgrind_path)).get("servers")

    results = aggregate(runs)
    target_rows = targets(results, callgrind)
    md = markdown(results, meta, target_rows, notes)
    sys.stdout.write(md)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md)
    with open(args.out, "w") as f:
        json.dump({
            "meta": meta,
            "results": results,
            "targets": [{"target": w, "verdict": v, "detail": d} for w, v, d in target_rows],
            "notes": notes,
        }, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
