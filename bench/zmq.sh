#!/usr/bin/env bash
# bench/zmq.sh: hinge's ZeroMQ sockets against raw blocking libzmq (the
# zmq crate), interleaved rounds in one run; see src/bin/zmq-bench.rs.
#
#   bench/zmq.sh                    # 5 rounds (~2 minutes)
#   ROUNDS=1 MESSAGES=50000 bench/zmq.sh
#
# Writes the table to $OUT [bench/results/zmq.md].
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
MESSAGES=${MESSAGES:-200000}
ROUNDTRIPS=${ROUNDTRIPS:-20000}
OUT=${OUT:-bench/results/zmq.md}
cargo build --release -q -p hinge-bench --features zmq --bin zmq-bench
BIN=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
{
  echo "# zmq-bench, $(date -u +%Y-%m-%d), $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  "$BIN/zmq-bench" --rounds "$ROUNDS" --messages "$MESSAGES" --roundtrips "$ROUNDTRIPS"
} | tee "$OUT"
