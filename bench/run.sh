#!/usr/bin/env bash
# bench/run.sh: echo-server benchmarks of hinge against its peers.
#
# Builds everything in release, then for ROUNDS rounds runs every scenario
# against every server, interleaved (A B C ... A B C ...), each measurement
# on a freshly started server pinned to CPU $SERVER_CPU, with the load
# generator pinned to CPU $LOADGEN_CPU. Prints a Markdown table and writes
# JSON to $OUT (the raw runs go to ${OUT%.json}.runs.jsonl).
#
#   bench/run.sh                      # the full run (~12 minutes)
#   ROUNDS=1 DURATION=1 bench/run.sh  # a smoke run (under a minute)
#
# Environment (defaults in brackets):
#   ROUNDS [5]          rounds of every scenario x server
#   DURATION [4]        measured seconds per timed scenario
#   WARMUP [1]          seconds of load before the window opens
#                       (DURATION=1 shortens it and IDLE_HOLD to 0.3)
#   IDLE_CONNS [10000]  connections held in the idle scenario
#   IDLE_HOLD [1]       seconds they are held before VmRSS is read again
#   SERVERS             [c hinge hinge-async mio tokio tokio-multi node]
#                       (hinge-async: the async_echo example, one task per
#                       connection on the same loop)
#   SCENARIOS           [pingpong50 latency1 bulk8 connect8 idle]
#   SERVER_CPU [0], LOADGEN_CPU [1]   taskset CPUs
#   PORT_BASE [20100]   first port used (one port per measurement, mod 500)
#   OUT [bench/results/latest.json]
#   SKIP_BUILD [0]      1: use the binaries already built
#   NODELAY [1]         TCP_NODELAY on every peer's connections (0: Nagle on);
#                       a base binary (hinge-base) keeps its own default
#   HINGE_SERVER        an echo_server binary to measure instead of the one
#                       built here (e.g. from a clean checkout); HINGE_REV
#                       names its revision in the report [git describe]
#   HINGE_BASE_SERVER   a second echo_server binary (say, before a change),
#                       measured side by side as server "hinge-base"
#
# What is measured (the load generator samples /proc of the server when
# its window opens and closes; see `loadgen --help`):
#   pingpong50  64 B messages, 50 connections, one in flight each: msgs/s,
#               round-trip p50/p99, server CPU (utime+stime) per message
#   latency1    the same over 1 connection: round-trip p50/p99
#   bulk8       8 connections streaming 64 KiB writes: MB/s echoed, CPU/GB
#   connect8    8 workers: connect, echo 64 B, close: conns/s, CPU/conn
#   connect8-direct  the same from 127.0.0.1 only (no spread of source
#               addresses: TIME_WAIT sockets share one address pair)
#   idle        IDLE_CONNS connections each echo 16 B then sit idle:
#               server VmRSS growth per connection
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
if [ -z "${WARMUP:-}" ]; then
  WARMUP=1
  [ "$DURATION" = 1 ] && WARMUP=0.3
fi
IDLE_CONNS=${IDLE_CONNS:-10000}
if [ -z "${IDLE_HOLD:-}" ]; then
  IDLE_HOLD=1
  [ "$DURATION" = 1 ] && IDLE_HOLD=0.3
fi
SERVERS=${SERVERS:-"c hinge hinge-async mio tokio tokio-multi node"}
SCENARIOS=${SCENARIOS:-"pingpong50 latency1 bulk8 connect8 idle"}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PORT_BASE=${PORT_BASE:-20100}
OUT=${OUT:-bench/results/latest.json}
SKIP_BUILD=${SKIP_BUILD:-0}
# Every peer gets the same socket options: TCP_NODELAY on (1, hinge's
# default) or off (0), through ECHO_NODELAY and hinge's --no-nodelay.
export ECHO_NODELAY=${NODELAY:-1}
HINGE_NODELAY_ARG=""
[ "$ECHO_NODELAY" = 0 ] && HINGE_NODELAY_ARG="--no-nodelay"

say() { echo "run.sh: $*" >&2; }

# --- build -------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
  say "building (release)"
  cargo build --release -q -p hinge-bench --bins
  cargo build --release -q -p hinge --example echo_server --example async_echo
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release
LOADGEN=$BIN/loadgen
HINGE_SERVER=${HINGE_SERVER:-$BIN/examples/echo_server}
HINGE_REV=${HINGE_REV:-$(git describe --always --dirty 2>/dev/null || echo unknown)}

# --- environment -------------------------------------------------------
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((IDLE_CONNS + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  say "ulimit -n is $(ulimit -n) but the idle scenario needs $need; lower IDLE_CONNS"
  exit 1
fi
command -v taskset >/dev/null || { say "taskset (util-linux) is required"; exit 1; }

notes=()
servers=()
for s in $SERVERS; do
  if [ "$s" = node ] && ! command -v node >/dev/null; then
    notes+=("node not found: the Node.js server was skipped")
    say "node not found: skipping the Node.js server"
    continue
  fi
  servers+=("$s")
done

server_cmd() {
  case $1 in
    c) echo "$BIN/echo-libev $2" ;;
    hinge) echo "$HINGE_SERVER $2 --quiet $HINGE_NODELAY_ARG" ;;
    hinge-async) echo "$BIN/examples/async_echo $2 --quiet $HINGE_NODELAY_ARG" ;;
    hinge-base) echo "${HINGE_BASE_SERVER:?set HINGE_BASE_SERVER} $2 --quiet" ;;
    mio) echo "$BIN/echo-mio $2" ;;
    tokio) echo "$BIN/echo-tokio $2" ;;
    tokio-multi) echo "$BIN/echo-tokio $2 --multi" ;;
    node) echo "node bench/peers/echo.js $2" ;;
    *) say "unknown server $1"; exit 2 ;;
  esac
}

scenario_args() {
  local d="--duration $DURATION --warmup $WARMUP"
  case $1 in
    pingpong50) echo "pingpong --conns 50 --size 64 $d" ;;
    latency1) echo "pingpong --conns 1 --size 64 $d" ;;
    bulk8) echo "bulk --conns 8 --chunk 65536 $d" ;;
    connect8) echo "connect --workers 8 --size 64 $d" ;;
    connect8-direct) echo "connect --workers 8 --size 64 --src-ips 0 $d" ;;
    idle) echo "idle --conns $IDLE_CONNS --size 16 --hold $IDLE_HOLD" ;;
    *) say "unknown scenario $1"; exit 2 ;;
  esac
}

RAW=${OUT%.json}.runs.jsonl
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/hinge-bench.XXXXXX")
mkdir -p "$(dirname "$OUT")"
: >"$RAW"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# One measurement: a fresh server, one load generator run, one JSON line.
failures=0
count=0
measure() {
  local round=$1 scenario=$2 server=$3
  local port=$((PORT_BASE + count % 500))
  count=$((count + 1))
  local log=$LOGDIR/$server-$scenario-$round.log
  # shellcheck disable=SC2046
  taskset -c "$SERVER_CPU" $(server_cmd "$server" "$port") >"$log" 2>&1 &
  server_pid=$!
  if ! "$LOADGEN" wait --port "$port" --timeout 15 2>>"$log"; then
    say "$server did not start; its log:"; tail -5 "$log" >&2
    failures=$((failures + 1)); stop_server; return
  fi
  local out rc=0
  # shellcheck disable=SC2046
  out=$(timeout 300 taskset -c "$LOADGEN_CPU" "$LOADGEN" $(scenario_args "$scenario") \
    --port "$port" --server-pid "$server_pid" 2>>"$log") || rc=$?
  if [ "$rc" != 0 ] || ! kill -0 "$server_pid" 2>/dev/null; then
    say "FAILED: $server $scenario round $round (loadgen exit $rc); log tail:"
    tail -5 "$log" >&2
    failures=$((failures + 1))
    echo "{\"round\":$round,\"scenario\":\"$scenario\",\"server\":\"$server\",\"error\":\"loadgen exit $rc\"}" >>"$RAW"
  else
    echo "{\"round\":$round,\"scenario\":\"$scenario\",\"server\":\"$server\",\"result\":$out}" >>"$RAW"
    say "round $round $scenario $server: $(tail -1 "$log")"
  fi
  stop_server
}

say "servers: ${servers[*]}; scenarios: $SCENARIOS; $ROUNDS rounds of ${DURATION}s (+${WARMUP}s warm-up)"
say "server on CPU $SERVER_CPU, load generator on CPU $LOADGEN_CPU; logs in $LOGDIR"
start=$(date +%s)
for round in $(seq "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    for server in "${servers[@]}"; do
      measure "$round" "$scenario" "$server"
    done
  done
done
say "measured in $(($(date +%s) - start)) s"

printf '%s\n' "${notes[@]}" >"$LOGDIR/notes"
python3 bench/report.py --raw "$RAW" --out "$OUT" --notes "$LOGDIR/notes" \
  --meta rounds="$ROUNDS" duration_s="$DURATION" warmup_s="$WARMUP" \
  idle_conns="$IDLE_CONNS" server_cpu="$SERVER_CPU" loadgen_cpu="$LOADGEN_CPU" \
  clk_tck="$(getconf CLK_TCK)" hinge_rev="$HINGE_REV"
# The charts BENCHMARKS.md opens with, beside the JSON (needs matplotlib).
python3 bench/charts.py --echo "$OUT" --out "$(dirname "$OUT")/charts" ||
  say "charts not drawn: pip install matplotlib, then run bench/charts.py"
if [ "$failures" -gt 0 ]; then
  say "$failures measurement(s) failed; server and load generator logs kept in $LOGDIR"
  exit 1
fi
rm -rf "$LOGDIR"
