#!/usr/bin/env bash
# bench/http.sh: HTTP servers under wrk, side by side: hinge's http_echo
# against hyper (defaults, and pipeline_flush), Node's http and nginx (one
# worker process, the C reference). Every server answers GET /hello with
# the same 12-byte body and content-type, content-length and date; all
# have Nagle off.
#
# Rounds are interleaved (every scenario x server, then again), each
# measurement on a freshly started server pinned to CPU $SERVER_CPU with
# wrk pinned to CPU $LOADGEN_CPU. Reported per run: requests/s and server
# CPU (utime+stime from /proc) per request; per round: ratios to nginx;
# overall: the medians and spreads of those ratios.
#
#   bench/http.sh                       # the full run (~12 minutes)
#   ROUNDS=1 DURATION=2 bench/http.sh   # a smoke run
#
# Environment (defaults in brackets):
#   ROUNDS [5], DURATION [5] seconds per measured wrk run (after a 1 s warm-up)
#   CONNS [64]         wrk connections
#   IDLE_CONNS [10000] connections held in the idle scenario
#   SERVERS [nginx hinge hyper hyper-flush node]
#   SCENARIOS [keepalive pipelined close idle]
#   SERVER_CPU [0], LOADGEN_CPU [1]
#   OUT [bench/results/http.md]  (raw runs: ${OUT%.md}.runs.jsonl)
#   SKIP_BUILD [0]; BIN [target/release]: where the built binaries are
#   ALT_BIN: a second build's directory, served as "hinge-alt" (before/after)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
SERVERS=${SERVERS:-"nginx hinge hyper hyper-flush node"}
SCENARIOS=${SCENARIOS:-"keepalive pipelined close idle"}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
OUT=${OUT:-bench/results/http.md}
RUNS=${OUT%.md}.runs.jsonl
PORT=${PORT:-20800}
# The release binaries (http_echo under examples/, http-hyper).
BIN=${BIN:-target/release}

for tool in wrk nginx node python3 taskset; do
  command -v "$tool" >/dev/null || { echo "http.sh: needs $tool (Debian: apt-get install wrk nginx-light nodejs)" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p hinge --example http_echo
  cargo build --release -q -p hinge-bench --bin http-hyper
fi
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d)
trap 'kill_server; rm -rf "$TMP"' EXIT
SPID=""

kill_server() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}

start_server() { # name port
  local name=$1 port=$2
  case $name in
    hinge) taskset -c "$SERVER_CPU" "$BIN/examples/http_echo" "$port" --quiet >/dev/null 2>&1 & ;;
    hinge-alt) taskset -c "$SERVER_CPU" "$ALT_BIN/examples/http_echo" "$port" --quiet >/dev/null 2>&1 & ;;
    hyper) taskset -c "$SERVER_CPU" "$BIN/http-hyper" "$port" >/dev/null 2>&1 & ;;
    hyper-flush) taskset -c "$SERVER_CPU" "$BIN/http-hyper" "$port" --pipeline-flush >/dev/null 2>&1 & ;;
    node) taskset -c "$SERVER_CPU" node bench/peers/http.js "$port" >/dev/null 2>&1 & ;;
    nginx)
      mkdir -p "$TMP/nginx/logs"
      cat > "$TMP/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $TMP/nginx/logs/error.log error;
pid $TMP/nginx/nginx.pid;
events { worker_connections 65536; }
http {
  access_log off;
  server_tokens off;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx;
  fastcgi_temp_path $TMP/nginx; uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  server {
    listen $port backlog=4096;
    location / { default_type text/plain; return 200 "Hello world!"; }
  }
}
CONF
      taskset -c "$SERVER_CPU" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >/dev/null 2>&1 & ;;
    *) echo "unknown server $name" >&2; exit 1 ;;
  esac
  SPID=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$port/hello" && return 0
    sleep 0.05
  done
  echo "http.sh: $name did not start" >&2
  exit 1
}

cpu_ticks() { # pid -> utime+stime (clock ticks)
  awk '{print $14 + $15}' "/proc/$1/stat"
}

wrk_run() { # port scenario seconds -> "requests errors"
  local port=$1 scenario=$2 secs=$3 args=()
  case $scenario in
    pipelined) args=(-s bench/peers/pipeline.lua) ;;
    close) args=(-H "Connection: close") ;;
  esac
  taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" "${args[@]}" "http://127.0.0.1:$port/hello" > "$TMP/wrk.out" 2>&1 || true
  local reqs errs
  reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  errs=$(awk '/Socket errors/ {gsub(",",""); s=0; for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) s+=$i; print s} /Non-2xx/ {print $NF}' "$TMP/wrk.out" | awk '{s+=$1} END {print s+0}')
  echo "${reqs:-0} ${errs:-0}"
}

HZ=$(getconf CLK_TCK)
: > "$RUNS"
echo "http.sh: $ROUNDS rounds x [$SCENARIOS] x [$SERVERS], ${DURATION}s runs; raw runs in $RUNS"
for round in $(seq "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    for server in $SERVERS; do
      PORT=$((PORT + 1)); [ "$PORT" -gt 21300 ] && PORT=20801
      start_server "$server" "$PORT"
      if [ "$scenario" = idle ]; then
        kib=$(taskset -c "$LOADGEN_CPU" python3 bench/peers/http_idle.py "$PORT" "$SPID" "$IDLE_CONNS" 1)
        echo "{\"round\":$round,\"scenario\":\"idle\",\"server\":\"$server\",\"kib_per_conn\":$kib}" >> "$RUNS"
        printf 'round %s %-10s %-12s %8s KiB/conn\n' "$round" idle "$server" "$kib"
      else
        wrk_run "$PORT" "$scenario" 1 >/dev/null
        t0=$(cpu_ticks "$SPID")
        read -r reqs errs < <(wrk_run "$PORT" "$scenario" "$DURATION")
        t1=$(cpu_ticks "$SPID")
        cpu_us=$(python3 -c "print(f'{($t1-$t0)*1e6/$HZ/max($reqs,1):.3f}')")
        rps=$(python3 -c "print(f'{$reqs/$DURATION:.0f}')")
        echo "{\"round\":$round,\"scenario\":\"$scenario\",\"server\":\"$server\",\"rps\":$rps,\"cpu_us_per_req\":$cpu_us,\"errors\":$errs}" >> "$RUNS"
        printf 'round %s %-10s %-12s %9s req/s %7s us CPU/req  errors %s\n' "$round" "$scenario" "$server" "$rps" "$cpu_us" "$errs"
      fi
      kill_server
    done
  done
done

python3 - "$RUNS" "$OUT" "$DURATION" "$CONNS" <<'PY'
import json, statistics, sys, datetime, platform, subprocess
runs = [json.loads(l) for l in open(sys.argv[1])]
out, duration, conns = sys.argv[2], sys.argv[3], sys.argv[4]
def med(xs): return statistics.median(xs) if xs else float('nan')
servers = []
for r in runs:
    if r["server"] not in servers: servers.append(r["server"])
lines = []
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
lines.append(f"# HTTP benchmark ({datetime.date.today()}, {cpu}, {platform.release()})\n")
lines.append(f"wrk -t1 -c{conns}, {duration} s per run after a 1 s warm-up, server on one core and wrk on the other; ratios are medians of per-round ratios to nginx (spread: min-max).\n")
for scenario in ["keepalive", "pipelined", "close"]:
    rs = [r for r in runs if r["scenario"] == scenario]
    if not rs: continue
    lines.append(f"\n## {scenario}\n")
    lines.append("| server | req/s (median) | CPU us/req (median) | req/s vs nginx | CPU/req vs nginx | errors |")
    lines.append("|---|---|---|---|---|---|")
    rounds = sorted({r["round"] for r in rs})
    for s in servers:
        mine = [r for r in rs if r["server"] == s]
        if not mine: continue
        rps_ratio, cpu_ratio = [], []
        for rd in rounds:
            a = [r for r in mine if r["round"] == rd]
            b = [r for r in rs if r["round"] == rd and r["server"] == "nginx"]
            if a and b:
                rps_ratio.append(a[0]["rps"] / b[0]["rps"])
                cpu_ratio.append(a[0]["cpu_us_per_req"] / b[0]["cpu_us_per_req"])
        fmt = lambda xs: f"{med(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"
        lines.append(f"| {s} | {med([r['rps'] for r in mine]):,.0f} | {med([r['cpu_us_per_req'] for r in mine]):.2f} | {fmt(rps_ratio)} | {fmt(cpu_ratio)} | {sum(r['errors'] for r in mine)} |")
rs = [r for r in runs if r["scenario"] == "idle"]
if rs:
    lines.append("\n## idle keep-alive connections\n")
    lines.append("| server | KiB per connection (median) | spread |")
    lines.append("|---|---|---|")
    for s in servers:
        xs = [r["kib_per_conn"] for r in rs if r["server"] == s]
        if xs: lines.append(f"| {s} | {med(xs):.2f} | {min(xs):.2f}-{max(xs):.2f} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
# The HTTP chart BENCHMARKS.md opens with (needs matplotlib).
python3 bench/charts.py --http "$RUNS" --out "$(dirname "$OUT")/charts" ||
  echo "http.sh: chart not drawn: pip install matplotlib, then run bench/charts.py" >&2
