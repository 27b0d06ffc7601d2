#!/usr/bin/env bash
# bench/http-callgrind.sh: user-space instructions per HTTP request, by
# callgrind, for hinge's http_echo against hyper (defaults and
# pipeline_flush). Deterministic where bench/http.sh's CPU times are noisy.
#
# Each server runs under callgrind; once it answers, its counters are
# zeroed, wrk (-t1 -c16, 4 s, keep-alive or 16-deep pipelined) loads it,
# and the counters are dumped: Ir / requests served.
#
#   bench/http-callgrind.sh          # builds, then both scenarios x 3 servers
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null && command -v wrk >/dev/null || { echo "needs valgrind and wrk" >&2; exit 1; }
cargo build --release -q -p hinge --example http_echo
cargo build --release -q -p hinge-bench --bin http-hyper
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
port=22700

measure() { # name scenario cmd...
  local name=$1 scen=$2; shift 2
  port=$((port + 1))
  local out="$TMP/$name-$scen"
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$@" "$port" \
    $( [ "$name" = hyper-flush ] && echo --pipeline-flush ) $( [ "$name" = hinge ] && echo --quiet ) >/dev/null 2>&1 &
  local vpid=$!
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break; sleep 0.2; done
  callgrind_control -z "$vpid" >/dev/null 2>&1
  local args=()
  [ "$scen" = pipelined ] && args=(-s bench/peers/pipeline.lua)
  local n
  n=$(taskset -c 1 wrk -t1 -c16 -d4s "${args[@]}" "http://127.0.0.1:$port/hello" | awk '/requests in/ {print $1}')
  callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 1
  kill -INT "$vpid" 2>/dev/null || true; sleep 1; kill -9 "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  local ir
  ir=$(grep -h "^summary:" "$out".*.1 | awk '{print $2}' | head -1)
  python3 -c "print('%-12s %-10s %8d requests %6.0f Ir/request' % ('$name', '$scen', $n, $ir / $n))"
}

for scen in keepalive pipelined; do
  measure hinge "$scen" target/release/examples/http_echo
  measure hyper "$scen" target/release/http-hyper
  measure hyper-flush "$scen" target/release/http-hyper
done
