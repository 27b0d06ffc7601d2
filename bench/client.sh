#!/usr/bin/env bash
# bench/client.sh: the HTTP client (issue 23), in two parts.
#
#  1. client: REQUESTS GETs of a 12-byte body over 64 keep-alive
#     connections against nginx (1 worker, pinned to CPU 0), each client
#     pinned to CPU 1: hinge's Agent, hyper-util's legacy Client on
#     tokio current_thread, Node's http.request with a keepAlive Agent
#     (bench/src/bin/http-client.rs, bench/peers/http-client.js), and
#     wrk -t1 -c64 itself (the C floor). Client CPU per request: the
#     Rust and Node clients measure their own CPU (getrusage,
#     process.cpuUsage) after WARMUP requests; wrk's is utime+stime of
#     its process over a DURATION run.
#  2. proxy: wrk -t1 -c64 (CPU 1) through a proxy (CPU 0) to an nginx
#     upstream (CPU 0): hinge's http_proxy example against nginx as a
#     reverse proxy (proxy_pass, keep-alive upstream, 64 idle).
#     Proxy CPU per request: utime+stime of the proxy's processes over
#     the measured run.
#
# Rounds interleave the peers; ratios are medians of per-round ratios.
#
#   bench/client.sh                         # 5 rounds
#   ROUNDS=1 REQUESTS=50000 DURATION=2 bench/client.sh   # a smoke run
#
# Environment: ROUNDS [5], REQUESTS [200000], WARMUP [20000],
# DURATION [5], PARTS [client proxy], OUT [bench/results/client.md],
# LOCK [/tmp/hinge-cargo.lock], SKIP_BUILD [0]
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-200000}
WARMUP=${WARMUP:-20000}
DURATION=${DURATION:-5}
PARTS=${PARTS:-"client proxy"}
OUT=${OUT:-bench/results/client.md}
RUNS=${OUT%.md}.runs.jsonl
LOCK=${LOCK:-/tmp/hinge-cargo.lock}
export PATH="$PATH:/usr/sbin:/sbin"

for tool in wrk nginx node python3 taskset; do
  command -v "$tool" >/dev/null || { echo "client.sh: needs $tool" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  flock "$LOCK" cargo build --release -q -p hinge --example http_proxy
  flock "$LOCK" cargo build --release -q -p hinge-bench --bin http-client
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release
ulimit -n "$(ulimit -Hn)"
HZ=$(getconf CLK_TCK)

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# nginx_conf NAME PORT [UPSTREAM_PORT]: an origin, or a proxy to one.
nginx_conf() {
  local dir=$TMP/$1 port=$2 up=${3:-}
  mkdir -p "$dir/logs"
  local site="location / { default_type text/plain; return 200 \"Hello world!\"; }"
  local upstream=""
  if [ -n "$up" ]; then
    upstream="upstream origin { server 127.0.0.1:$up; keepalive 64; }"
    site="location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering on; }"
  fi
  cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $dir/logs/error.log error;
pid $dir/nginx.pid;
events { worker_connections 65536; }
http {
  access_log off; server_tokens off; tcp_nodelay on;
  keepalive_requests 100000000; keepalive_timeout 75s;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  $upstream
  server { listen 127.0.0.1:$port backlog=4096; $site }
}
CONF
}

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "client.sh: nothing listens on $1" >&2
  exit 1
}

tree_ticks() { # pid -> utime+stime of it and its children
  local sum=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

ORIGIN=21800
nginx_conf origin "$ORIGIN"
taskset -c 0 nginx -p "$TMP/origin" -c "$TMP/origin/nginx.conf" &
PIDS+=($!)
wait_port "$ORIGIN"

: > "$RUNS"
record() { # part name requests cpu_s
  python3 -c "import json,sys; p,n,r,c=sys.argv[1:]; r=int(r); c=float(c); print(json.dumps({'round': $round, 'part': p, 'client': n, 'requests': r, 'cpu_s': c, 'cpu_us_per_req': round(c*1e6/max(r,1),3)}))" "$@" | tee -a "$RUNS"
}

for round in $(seq "$ROUNDS"); do
  exec 9>"$LOCK"; flock 9
  for part in $PARTS; do
    if [ "$part" = client ]; then
      for c in hinge hyper node wrk; do
        case $c in
          hinge|hyper) out=$(taskset -c 1 "$BIN/http-client" "$c" "$ORIGIN" /hello 64 "$REQUESTS" "$WARMUP") ;;
          node) out=$(taskset -c 1 node bench/peers/http-client.js "$ORIGIN" /hello 64 "$REQUESTS" "$WARMUP") ;;
          wrk)
            taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$ORIGIN/hello" > "$TMP/wrk.out" 2>&1 &
            w=$!
            ticks=0
            while kill -0 "$w" 2>/dev/null; do
              t=$(awk '{print $14 + $15}' "/proc/$w/stat" 2>/dev/null || echo "$ticks"); ticks=$t; sleep 0.05
            done
            wait "$w" || true
            reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
            out="{\"requests\": $reqs, \"cpu_s\": $(python3 -c "print($ticks/$HZ)")}" ;;
        esac
        read -r reqs cpu < <(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(r['requests'], r['cpu_s'])" "$out")
        record client "$c" "$reqs" "$cpu"
      done
    else
      for p in hinge nginx; do
        PORT=21810
        if [ "$p" = hinge ]; then
          taskset -c 0 "$BIN/examples/http_proxy" "$PORT" "http://127.0.0.1:$ORIGIN" --quiet >/dev/null 2>&1 &
        else
          nginx_conf proxy "$PORT" "$ORIGIN"
          taskset -c 0 nginx -p "$TMP/proxy" -c "$TMP/proxy/nginx.conf" >/dev/null 2>&1 &
        fi
        pp=$!
        wait_port "$PORT"
        taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:$PORT/hello" >/dev/null 2>&1
        t0=$(tree_ticks "$pp")
        taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/hello" > "$TMP/wrk.out" 2>&1
        t1=$(tree_ticks "$pp")
        reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
        if grep -q "Non-2xx\|Socket errors" "$TMP/wrk.out"; then
          echo "client.sh: errors through the $p proxy" >&2; cat "$TMP/wrk.out" >&2
        fi
        record proxy "$p" "$reqs" "$(python3 -c "print(($t1-$t0)/$HZ)")"
        kill "$pp"; wait "$pp" 2>/dev/null || true
      done
    fi
  done
  flock -u 9
done

python3 - "$RUNS" "$OUT" "$REQUESTS" "$DURATION" <<'PY'
import json, statistics, sys, datetime, platform, subprocess
runs = [json.loads(l) for l in open(sys.argv[1])]
out, requests, duration = sys.argv[2:]
med = statistics.median
def ratio(part, a, b):
    xs = []
    for rd in sorted({r["round"] for r in runs}):
        ra = [r for r in runs if r["part"] == part and r["client"] == a and r["round"] == rd]
        rb = [r for r in runs if r["part"] == part and r["client"] == b and r["round"] == rd]
        if ra and rb:
            xs.append(ra[0]["cpu_us_per_req"] / rb[0]["cpu_us_per_req"])
    return f"{med(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
L = [f"# HTTP client benchmark ({datetime.date.today()}, {cpu}, {platform.release()})\n",
     f"nginx (1 worker) on CPU 0, clients on CPU 1; {requests} measured GETs of a 12-byte body over 64 keep-alive connections "
     f"(wrk: {duration} s runs). Ratios: medians of per-round ratios (min-max), {len({r['round'] for r in runs})} rounds.\n"]
names = lambda part: list(dict.fromkeys(r["client"] for r in runs if r["part"] == part))
if names("client"):
    L += ["\n## Client CPU per request\n", "| client | CPU us/req (median) | hinge vs it |", "|---|---|---|"]
    for c in names("client"):
        v = med([r["cpu_us_per_req"] for r in runs if r["part"] == "client" and r["client"] == c])
        L.append(f"| {c} | {v:.2f} | {'-' if c == 'hinge' else ratio('client', 'hinge', c)} |")
if names("proxy"):
    L += ["\n## Proxy CPU per request (wrk -t1 -c64 through the proxy to nginx)\n",
          "| proxy | CPU us/req (median) | hinge vs it |", "|---|---|---|"]
    for c in names("proxy"):
        v = med([r["cpu_us_per_req"] for r in runs if r["part"] == "proxy" and r["client"] == c])
        L.append(f"| {c} | {v:.2f} | {'-' if c == 'hinge' else ratio('proxy', 'hinge', c)} |")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
