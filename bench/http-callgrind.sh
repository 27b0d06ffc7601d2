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
#
# Environment: BIN, the directory of release binaries (default
# $CARGO_TARGET_DIR/release, else target/release); SKIP_BUILD=1 uses
# them as they are; SERVERS and SCENARIOS narrow the runs; TOOL=cachegrind
# counts I1 and D1 misses per request too (--cache-sim=yes).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null && command -v wrk >/dev/null || { echo "needs valgrind and wrk" >&2; exit 1; }
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
SERVERS=${SERVERS:-hinge hyper hyper-flush}
SCENARIOS=${SCENARIOS:-keepalive pipelined}
TOOL=${TOOL:-callgrind}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p hinge --example http_echo
  cargo build --release -q -p hinge-bench --bin http-hyper
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
port=22700

measure() { # name scenario cmd...
  local name=$1 scen=$2; shift 2
  port=$((port + 1))
  local out="$TMP/$name-$scen"
  local tool=(--tool=callgrind --callgrind-out-file="$out.%p")
  [ "$TOOL" = cachegrind ] && tool=(--tool=cachegrind --cache-sim=yes --cachegrind-out-file="$out.%p")
  taskset -c 0 valgrind "${tool[@]}" "$@" "$port" \
    $( [ "$name" = hyper-flush ] && echo --pipeline-flush ) $( [ "$name" = hinge ] && echo --quiet ) >/dev/null 2>&1 &
  local vpid=$!
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break; sleep 0.2; done
  [ "$TOOL" = callgrind ] && callgrind_control -z "$vpid" >/dev/null 2>&1
  local args=()
  [ "$scen" = pipelined ] && args=(-s bench/peers/pipeline.lua)
  local n
  n=$(taskset -c 1 wrk -t1 -c16 -d4s "${args[@]}" "http://127.0.0.1:$port/hello" | awk '/requests in/ {print $1}')
  [ "$TOOL" = callgrind ] && callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 1
  # SIGTERM (a background job ignores SIGINT): hinge closes, hyper dies
  # of it; valgrind writes its counts
  # either way (cachegrind only then), which takes a moment.
  kill -TERM "$vpid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  if [ "$TOOL" = cachegrind ]; then
    # Start-up included (cachegrind cannot zero): events / requests.
    local events summary
    events=$(grep -h "^events:" "$out".* | head -1)
    summary=$(grep -h "^summary:" "$out".* | head -1)
    python3 - "$name" "$scen" "$n" "$events" "$summary" <<'PY'
import sys
name, scen, n, events, summary = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()[1:], sys.argv[5].split()[1:]
v = dict(zip(events, map(int, summary)))
d1 = v.get("D1mr", 0) + v.get("D1mw", 0)
print("%-12s %-10s %8d requests %6.0f Ir %6.1f I1mr %5.1f D1m %5.2f LLm /request"
      % (name, scen, n, v["Ir"] / n, v["I1mr"] / n, d1 / n, (v.get("ILmr", 0) + v.get("DLmr", 0) + v.get("DLmw", 0)) / n))
PY
  else
    local ir
    ir=$(grep -h "^summary:" "$out".*.1 | awk '{print $2}' | head -1)
    python3 -c "print('%-12s %-10s %8d requests %6.0f Ir/request' % ('$name', '$scen', $n, $ir / $n))"
  fi
  [ -n "${KEEP:-}" ] && cp "$out".* "$KEEP"/ 2>/dev/null || true
}

for scen in $SCENARIOS; do
  for s in $SERVERS; do
    case $s in
      hinge) measure hinge "$scen" "$BIN/examples/http_echo" ;;
      hyper | hyper-flush) measure "$s" "$scen" "$BIN/http-hyper" ;;
    esac
  done
done
