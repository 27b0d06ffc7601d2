#!/usr/bin/env bash
# bench/http-instructions.sh: instructions per HTTP request of http_echo
# binaries, by callgrind, under a fixed workload (bench/peers/http_batches.py:
# 4 connections, 16,000 requests, DEPTH per write), so that two revisions
# compare exactly. bench/http-callgrind.sh, driven by wrk for a duration,
# varies with how requests happen to batch; this does not.
#
#   bench/http-instructions.sh                          # this tree's http_echo
#   bench/http-instructions.sh old/http_echo new/http_echo
#   DEPTHS="1 16" bench/http-instructions.sh ...        # [1 16]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
if [ $# -eq 0 ]; then
  cargo build --release -q -p hinge --example http_echo
  set -- target/release/examples/http_echo
fi
DEPTHS=${DEPTHS:-"1 16"}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
port=24700
for depth in $DEPTHS; do
  for bin in "$@"; do
    port=$((port + 1))
    valgrind --tool=callgrind --callgrind-out-file="$TMP/out.%p" "$bin" "$port" --quiet >/dev/null 2>&1 &
    vpid=$!
    for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break; sleep 0.2; done
    callgrind_control -z "$vpid" >/dev/null 2>&1
    n=$(python3 bench/peers/http_batches.py "$port" 4 $((4000 / depth)) "$depth")
    callgrind_control -d "$vpid" >/dev/null 2>&1
    sleep 1
    kill -INT "$vpid" 2>/dev/null || true; sleep 1; kill -9 "$vpid" 2>/dev/null || true
    wait "$vpid" 2>/dev/null || true
    ir=$(grep -h "^summary:" "$TMP"/out.*.1 | awk '{print $2}' | head -1)
    rm -f "$TMP"/out.*
    python3 -c "print('%-50s depth %2d  %6d requests  %6.0f Ir/request' % ('$bin', $depth, $n, $ir / $n))"
  done
done
