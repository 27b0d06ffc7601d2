#!/usr/bin/env bash
# bench/workers.sh: a loop per thread (issue 22). Two questions, both on
# every core of the machine (2 here):
#
#  1. Is the per-request cost flat? hinge with 2 loops against 1 loop:
#     http_echo under wrk keep-alive, and echo_server under loadgen's
#     ping-pong. Server CPU per request/message, 2 loops / 1 loop.
#  2. Side by side at 2 workers: hinge (`http_echo --threads 2`), nginx
#     (2 worker processes, `reuseport`), hyper 1.x on tokio's
#     multi-thread runtime with 2 workers (`http-hyper --threads 2`) and
#     Node `cluster` with 2 workers (bench/peers/http-cluster.js).
#
# Nothing is pinned to one core: the server runs with `taskset -c
# $SERVER_CPUS` and the load generator with `taskset -c $LOADGEN_CPUS`,
# both 0,1 by default, so they share both cores (the scheduler places
# them). Server CPU is utime+stime from /proc/PID/stat of every process
# of the server (nginx's master and workers, Node's primary and workers;
# a process's figure covers all its threads), sampled after a 1 s
# warm-up and at the end of the measured run. Each measurement is on a
# freshly started server; servers are interleaved round by round, and
# every round holds $LOCK so no build shares the CPUs with it. Ratios are
# medians of per-round ratios (spread: min-max).
#
#   bench/workers.sh                        # 5 rounds, ~6 minutes
#   ROUNDS=1 DURATION=2 bench/workers.sh    # a smoke run
#
# Environment (defaults in brackets):
#   ROUNDS [5], DURATION [5] seconds per measured run (after a 1 s warm-up)
#   CONNS [64], WRK_THREADS [2]   wrk keep-alive GET /hello
#   ECHO_CONNS [50]               loadgen ping-pong, 64-byte messages
#   HTTP_SERVERS [hinge1 hinge2 nginx2 hyper2 node2]
#   ECHO_SERVERS [hinge1 hinge2]
#   PARTS [http echo]
#   SERVER_CPUS [0,1], LOADGEN_CPUS [0,1]
#   OUT [bench/results/workers.md]  (raw runs: ${OUT%.md}.runs.jsonl)
#   LOCK [/tmp/hinge-cargo.lock], SKIP_BUILD [0]
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
ECHO_CONNS=${ECHO_CONNS:-50}
HTTP_SERVERS=${HTTP_SERVERS:-"hinge1 hinge2 nginx2 hyper2 node2"}
ECHO_SERVERS=${ECHO_SERVERS:-"hinge1 hinge2"}
PARTS=${PARTS:-"http echo"}
SERVER_CPUS=${SERVER_CPUS:-0,1}
LOADGEN_CPUS=${LOADGEN_CPUS:-0,1}
OUT=${OUT:-bench/results/workers.md}
RUNS=${OUT%.md}.runs.jsonl
LOCK=${LOCK:-/tmp/hinge-cargo.lock}
PORT=${PORT:-21400}

for tool in wrk nginx node python3 taskset curl pgrep flock; do
  command -v "$tool" >/dev/null || { echo "workers.sh: needs $tool" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  flock "$LOCK" cargo build --release -q -p hinge --example http_echo --example echo_server
  flock "$LOCK" cargo build --release -q -p hinge-bench --bin http-hyper --bin loadgen
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d)
SPID=""
kill_server() {
  if [ -n "$SPID" ]; then
    kill -TERM "$SPID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}
trap 'kill_server; rm -rf "$TMP"' EXIT

nginx_conf() { # port
  mkdir -p "$TMP/nginx/logs"
  cat > "$TMP/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
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
    listen $1 reuseport backlog=4096;
    location / { default_type text/plain; return 200 "Hello world!"; }
  }
}
CONF
}

start_server() { # name port
  local name=$1 port=$2 s=(taskset -c "$SERVER_CPUS")
  case $PART:$name in
    http:hinge1) "${s[@]}" "$BIN/examples/http_echo" "$port" --quiet >/dev/null 2>&1 & ;;
    http:hinge2) "${s[@]}" "$BIN/examples/http_echo" "$port" --quiet --threads 2 >/dev/null 2>&1 & ;;
    http:hyper2) "${s[@]}" "$BIN/http-hyper" "$port" --threads 2 >/dev/null 2>&1 & ;;
    http:node2) "${s[@]}" node bench/peers/http-cluster.js "$port" 2 >/dev/null 2>&1 & ;;
    http:nginx2) nginx_conf "$port"; "${s[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >/dev/null 2>&1 & ;;
    echo:hinge1) "${s[@]}" "$BIN/examples/echo_server" "$port" --quiet >/dev/null 2>&1 & ;;
    echo:hinge2) "${s[@]}" "$BIN/examples/echo_server" "$port" --quiet --threads 2 >/dev/null 2>&1 & ;;
    *) echo "workers.sh: unknown server $PART:$name" >&2; exit 1 ;;
  esac
  SPID=$!
  for _ in $(seq 200); do
    if [ "$PART" = http ]; then
      curl -s -o /dev/null "http://127.0.0.1:$port/hello" && return 0
    else
      "$BIN/loadgen" wait --port "$port" --timeout 0.05 2>/dev/null && return 0
    fi
    sleep 0.05
  done
  echo "workers.sh: $name did not start" >&2
  exit 1
}

tree_pids() { # pid -> the pid and its descendants
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" || true); do tree_pids "$c"; done
}

cpu_ticks() { # pids... -> the sum of utime+stime (clock ticks); covers threads
  local sum=0 p t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    sum=$((sum + t))
  done
  echo "$sum"
}

thread_ticks() { # pid -> "tid:ticks ..." of each thread, for the balance
  local t out=""
  for t in /proc/"$1"/task/*; do
    out="$out $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)"
  done
  echo "$out"
}

wrk_run() { # port seconds -> "requests errors"
  taskset -c "$LOADGEN_CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${2}s" "http://127.0.0.1:$1/hello" > "$TMP/wrk.out" 2>&1 || true
  local reqs errs
  reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  errs=$(awk '/Socket errors/ {gsub(",",""); s=0; for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) s+=$i; print s} /Non-2xx/ {print $NF}' "$TMP/wrk.out" | awk '{s+=$1} END {print s+0}')
  echo "${reqs:-0} ${errs:-0}"
}

HZ=$(getconf CLK_TCK)
: > "$RUNS"
echo "workers.sh: $ROUNDS rounds of [$PARTS], ${DURATION}s runs; server on CPUs $SERVER_CPUS, load on CPUs $LOADGEN_CPUS; raw runs in $RUNS"
for round in $(seq "$ROUNDS"); do
  for PART in $PARTS; do
    if [ "$PART" = http ]; then servers=$HTTP_SERVERS; else servers=$ECHO_SERVERS; fi
    # One round of one part under the lock: no build runs beside it.
    exec 9>"$LOCK"; flock 9
    for server in $servers; do
      PORT=$((PORT + 1)); [ "$PORT" -gt 21900 ] && PORT=21401
      start_server "$server" "$PORT"
      if [ "$PART" = http ]; then
        wrk_run "$PORT" 1 >/dev/null
        mapfile -t pids < <(tree_pids "$SPID")
        t0=$(cpu_ticks "${pids[@]}"); th0=$(thread_ticks "$SPID")
        read -r ops errs < <(wrk_run "$PORT" "$DURATION")
        t1=$(cpu_ticks "${pids[@]}"); th1=$(thread_ticks "$SPID")
        window=$DURATION
      else
        mapfile -t pids < <(tree_pids "$SPID")
        th0=$(thread_ticks "$SPID")
        out=$(timeout 120 taskset -c "$LOADGEN_CPUS" "$BIN/loadgen" pingpong --conns "$ECHO_CONNS" --size 64 \
          --duration "$DURATION" --warmup 1 --port "$PORT" --server-pid "$SPID" 2>/dev/null)
        th1=$(thread_ticks "$SPID")
        read -r ops window t0 t1 < <(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(r['ops'], r['window_s'], 0, r['server_cpu_ticks'])" "$out")
        errs=0
      fi
      python3 - "$round" "$PART" "$server" "$ops" "$window" "$t0" "$t1" "$HZ" "$errs" "${#pids[@]}" "$th0" "$th1" >> "$RUNS" <<'PY'
import json, sys
rd, part, server, ops, window, t0, t1, hz, errs, nproc, th0, th1 = sys.argv[1:]
ops = int(ops); cpu_s = (int(t1) - int(t0)) / int(hz)
a, b = th0.split(), th1.split()
threads = [int(y) - int(x) for x, y in zip(a, b)] if len(a) == len(b) else []
print(json.dumps({"round": int(rd), "part": part, "server": server, "ops": ops,
    "ops_per_s": round(ops / float(window)), "cpu_s": cpu_s,
    "cpu_us_per_op": round(cpu_s * 1e6 / max(ops, 1), 3), "errors": int(errs),
    "processes": int(nproc), "main_process_thread_ticks": threads}))
PY
      tail -1 "$RUNS"
      kill_server
    done
    flock -u 9
  done
done

python3 - "$RUNS" "$OUT" "$DURATION" "$CONNS" "$WRK_THREADS" "$ECHO_CONNS" "$SERVER_CPUS" "$LOADGEN_CPUS" <<'PY'
import json, statistics, sys, datetime, platform, subprocess
runs = [json.loads(l) for l in open(sys.argv[1])]
out, duration, conns, wt, econns, scpu, lcpu = sys.argv[2:]
med = statistics.median
def ratios(part, a, b, key):
    xs = []
    for rd in sorted({r["round"] for r in runs}):
        ra = [r for r in runs if r["part"] == part and r["server"] == a and r["round"] == rd]
        rb = [r for r in runs if r["part"] == part and r["server"] == b and r["round"] == rd]
        if ra and rb and rb[0][key]:
            xs.append(ra[0][key] / rb[0][key])
    return xs
fmt = lambda xs: f"{med(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"
def absval(part, s, key):
    xs = [r[key] for r in runs if r["part"] == part and r["server"] == s]
    return med(xs) if xs else float("nan")
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
L = [f"# Workers benchmark ({datetime.date.today()}, {cpu}, {platform.release()})\n",
     f"Server on CPUs {scpu}, load generator on CPUs {lcpu}{' (shared)' if scpu == lcpu else ''}; {duration} s per run after a 1 s warm-up; "
     f"HTTP: wrk -t{wt} -c{conns} keep-alive GET /hello; echo: loadgen pingpong --conns {econns} --size 64. "
     "Server CPU: utime+stime of every server process. Ratios: medians of per-round ratios (min-max).\n"]
servers = lambda part: list(dict.fromkeys(r["server"] for r in runs if r["part"] == part))
if servers("http") or servers("echo"):
    L += ["\n## 1 loop against 2 loops\n",
          "| workload | CPU us/op, 1 loop | CPU us/op, 2 loops | CPU/op 2 vs 1 | ops/s, 1 loop | ops/s, 2 loops | ops/s 2 vs 1 | errors |",
          "|---|---|---|---|---|---|---|---|"]
    for part, name in (("http", "HTTP keep-alive"), ("echo", "echo ping-pong")):
        if "hinge1" in servers(part) and "hinge2" in servers(part):
            e = sum(r["errors"] for r in runs if r["part"] == part)
            L.append(f"| {name} | {absval(part,'hinge1','cpu_us_per_op'):.2f} | {absval(part,'hinge2','cpu_us_per_op'):.2f} | "
                     f"{fmt(ratios(part,'hinge2','hinge1','cpu_us_per_op'))} | {absval(part,'hinge1','ops_per_s'):,.0f} | "
                     f"{absval(part,'hinge2','ops_per_s'):,.0f} | {fmt(ratios(part,'hinge2','hinge1','ops_per_s'))} | {e} |")
peers = [s for s in servers("http") if s not in ("hinge1", "hinge2")]
if "hinge2" in servers("http") and peers:
    L += ["\n## Side by side at 2 workers (HTTP keep-alive)\n",
          "| server | req/s (median) | CPU us/req (median) | hinge CPU/req vs this | hinge req/s vs this | errors |",
          "|---|---|---|---|---|---|"]
    for s in ["hinge2"] + peers:
        e = sum(r["errors"] for r in runs if r["part"] == "http" and r["server"] == s)
        c = "-" if s == "hinge2" else fmt(ratios("http", "hinge2", s, "cpu_us_per_op"))
        q = "-" if s == "hinge2" else fmt(ratios("http", "hinge2", s, "ops_per_s"))
        L.append(f"| {s} | {absval('http',s,'ops_per_s'):,.0f} | {absval('http',s,'cpu_us_per_op'):.2f} | {c} | {q} | {e} |")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
