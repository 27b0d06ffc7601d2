#!/usr/bin/env python3
"""The report of bench/tls.sh: Markdown tables of medians and of medians
of per-round ratios (spread min-max) to each scenario's reference peer.

    python3 bench/tls_report.py RUNS.jsonl OUT.md "key=value ..."
"""
import datetime
import json
import platform
import statistics
import subprocess
import sys

# scenario: (title, reference, [(column, field, higher_is_better)])
SCENARIOS = {
    "handshake": ("Full TLS 1.3 handshakes (ECDSA P-256, no resumption), GET /hello each", "hyper",
                  [("handshakes/s", "per_s", True), ("server CPU us/handshake", "server_cpu_us_per_hs", False)]),
    "handshake-default": ("Full handshakes as above, the client offering its default groups (aws-lc-rs: "
                          "X25519MLKEM768 first, an X25519 share beside it)", "hyper",
                          [("handshakes/s", "per_s", True), ("server CPU us/handshake", "server_cpu_us_per_hs", False)]),
    "keepalive": ("HTTPS keep-alive GET /hello (wrk)", "hyper",
                  [("req/s", "rps", True), ("server CPU us/req", "server_cpu_us_per_req", False)]),
    "bulk": ("Bulk echo over TLS (64 KiB writes, streaming)", "tokio",
             [("MB/s", "mb_per_s", True), ("server CPU s/GB", "server_cpu_s_per_gb", False)]),
    "idle": ("Idle TLS connections (handshaked, one GET each)", "hyper",
             [("KiB RSS per connection", "kib_per_conn", False)]),
    "providers-handshake": ("Providers: full handshakes on tls-tokio (server provider / client's offered groups)",
                            "ring/x25519",
                            [("handshakes/s", "per_s", True), ("server CPU us/handshake", "server_cpu_us_per_hs", False)]),
    "providers-bulk": ("Providers: bulk echo on tls-tokio", "ring/x25519",
                       [("MB/s", "mb_per_s", True), ("server CPU s/GB", "server_cpu_s_per_gb", False)]),
}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    out, meta = sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    lines = [f"# TLS benchmark ({datetime.date.today()}, {cpu}, {platform.release()})\n",
             f"bench/tls.sh: {meta}. Server on one core, client on the other; ratios are medians "
             "of per-round ratios to the reference peer (spread: min-max); CPU is utime+stime of "
             "the server from /proc.\n"]
    for scenario, (title, ref, cols) in SCENARIOS.items():
        rs = [r for r in runs if r["scenario"] == scenario]
        if not rs:
            continue
        servers = []
        for r in rs:
            if r["server"] not in servers:
                servers.append(r["server"])
        rounds = sorted({r["round"] for r in rs})
        lines.append(f"\n## {title}\n")
        head = ["server"] + [f"{c} (median)" for c, _, _ in cols] + [f"{c} vs {ref}" for c, _, _ in cols]
        head += ["negotiated", "errors"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for s in servers:
            mine = [r for r in rs if r["server"] == s and "failed" not in r["result"]]
            failed = sum(1 for r in rs if r["server"] == s and "failed" in r["result"])
            row = [s]
            for _, f, _ in cols:
                xs = [r["result"][f] for r in mine if r["result"].get(f) is not None]
                row.append(f"{med(xs):,.2f}" if xs else "-")
            for _, f, _ in cols:
                ratios = []
                for rd in rounds:
                    a = [r["result"].get(f) for r in mine if r["round"] == rd]
                    b = [r["result"].get(f) for r in rs if r["round"] == rd and r["server"] == ref
                         and "failed" not in r["result"]]
                    if a and b and a[0] is not None and b[0]:
                        ratios.append(a[0] / b[0])
                row.append(f"{med(ratios):.3f}x ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-")
            neg = {}
            for r in mine:
                for k, v in r["result"].get("negotiated", {}).items():
                    neg[k] = neg.get(k, 0) + v
            row.append("; ".join(sorted(neg, key=neg.get, reverse=True)[:2]) or "-")
            errs = sum(r["result"].get("errors", 0) for r in mine)
            row.append(f"{errs}" + (f", {failed} runs failed" if failed else ""))
            lines.append("| " + " | ".join(row) + " |")
    notes = sorted({(r["server"], r["scenario"], r["server_stderr"]) for r in runs if r.get("server_stderr")})
    if notes:
        lines.append("\n## Server stderr\n")
        for s, sc, e in notes:
            lines.append(f"- {s} ({sc}): `{e[:300]}`")
    open(out, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
