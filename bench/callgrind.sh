#!/usr/bin/env bash
# bench/callgrind.sh: user-space instructions per echoed message, counted
# by callgrind, for hinge against the C reference.
#
# Each server runs under `valgrind --tool=callgrind` while the load
# generator (native, pinned to another CPU) sends a fixed number of
# ping-pong messages; callgrind slows the server ~50x, so the workload is
# a message count, not a duration. A second run with 0 messages (start,
# connect, close, exit) gives the fixed cost, so the report has both
# total Ir / messages (the headline figure) and the marginal cost
# (Ir(M) - Ir(0)) / M.
#
# A second scenario counts a connection's birth and death: CONNECTIONS
# connections (8 at a time), each connect, echo 64 bytes, close, against
# none; (Ir(N) - Ir(0)) / N is the instructions per connection.
#
#   bench/callgrind.sh
#   ANNOTATE=1 bench/callgrind.sh    # also print the top functions
#   SCENARIOS=connect bench/callgrind.sh
#
# Environment (defaults in brackets):
#   MESSAGES [20000]  CONNS [10]  SIZE [64]  CONNECTIONS [2000]
#   SCENARIOS [echo connect]
#   SERVERS [c hinge] (also hinge-async, mio, tokio, node)
#   OUT [bench/results/callgrind.json]; profiles are kept beside it in
#   bench/results/callgrind/ for callgrind_annotate
#   SKIP_BUILD [0]    ANNOTATE [0]: print callgrind_annotate's top functions
#   HINGE_SERVER      an echo_server binary to profile instead of the one
#                     built here; HINGE_REV names it [git describe]
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-20000}
CONNS=${CONNS:-10}
SIZE=${SIZE:-64}
CONNECTIONS=${CONNECTIONS:-2000}
SCENARIOS=${SCENARIOS:-"echo connect"}
SERVERS=${SERVERS:-"c hinge"}
OUT=${OUT:-bench/results/callgrind.json}
PROFILES=$(dirname "$OUT")/callgrind
PORT=${PORT:-20700}
SKIP_BUILD=${SKIP_BUILD:-0}
ANNOTATE=${ANNOTATE:-0}

say() { echo "callgrind.sh: $*" >&2; }
command -v valgrind >/dev/null || { say "valgrind is required"; exit 1; }

if [ "$SKIP_BUILD" != 1 ]; then
  say "building (release)"
  cargo build --release -q -p hinge-bench --bins
  cargo build --release -q -p hinge --example echo_server
fi
BIN=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
# The C server's real binary (echo-libev execs it), so that valgrind
# need not follow an exec.
C_BIN=$("$BIN/echo-libev" --path)
HINGE_SERVER=${HINGE_SERVER:-$BIN/examples/echo_server}
HINGE_REV=${HINGE_REV:-$(git describe --always --dirty 2>/dev/null || echo unknown)}

server_cmd() {
  case $1 in
    c) echo "$C_BIN $2" ;;
    hinge) echo "$HINGE_SERVER $2 --quiet" ;;
    hinge-async) echo "$BIN/examples/async_echo $2 --quiet" ;;
    mio) echo "$BIN/echo-mio $2" ;;
    tokio) echo "$BIN/echo-tokio $2" ;;
    node) echo "node bench/peers/echo.js $2" ;;
    *) say "unknown server $1"; exit 2 ;;
  esac
}

mkdir -p "$PROFILES"
server_pid=""
trap '[ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null || true' EXIT

# SIGTERM lets each server leave its loop and exit, so callgrind writes
# its profile; a signal that got lost is sent again after 5 s.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}
stop_server() {
  for _ in 1 2 3 4 5 6; do
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      alive "$server_pid" || break 2
      sleep 0.1
    done
  done
  if alive "$server_pid"; then
    say "server $server_pid ignored SIGTERM for 30 s; killing it (no profile)"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Runs one server under callgrind for `msgs` messages (or, with a third
# argument `connect`, `msgs` connections); prints its total Ir.
profile() {
  local server=$1 msgs=$2 mode=${3:-echo}
  local out=$PROFILES/$server.$mode.$msgs.out log=$PROFILES/$server.$mode.$msgs.log
  PORT=$((PORT + 1))
  # shellcheck disable=SC2046
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" \
    $(server_cmd "$server" "$PORT") >"$log" 2>&1 &
  server_pid=$!
  "$BIN/loadgen" wait --port "$PORT" --timeout 120 2>>"$log"
  if [ "$mode" = connect ]; then
    taskset -c 1 "$BIN/loadgen" connect --workers 8 --size 64 \
      --messages "$msgs" --port "$PORT" --stall 60 >/dev/null 2>>"$log"
  else
    taskset -c 1 "$BIN/loadgen" pingpong --conns "$CONNS" --size "$SIZE" \
      --messages "$msgs" --port "$PORT" --stall 60 >/dev/null 2>>"$log"
  fi
  stop_server
  local ir
  ir=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | head -1)
  [ -n "$ir" ] || { say "no totals in $out; see $log"; exit 1; }
  echo "$ir"
}

results=()
connects=()
for server in $SERVERS; do
  case " $SCENARIOS " in *" echo "*)
    say "$server: $MESSAGES messages over $CONNS connections under callgrind"
    total=$(profile "$server" "$MESSAGES")
    base=$(profile "$server" 0)
    say "$server: Ir $total (fixed part $base)"
    results+=("$server=$total=$base")
    if [ "$ANNOTATE" = 1 ]; then
      callgrind_annotate --threshold=99 "$PROFILES/$server.echo.$MESSAGES.out" 2>/dev/null |
        sed -n '1,/^$/d; p' | head -40 >&2 || true # head closes the pipe early
    fi ;;
  esac
  case " $SCENARIOS " in *" connect "*)
    say "$server: $CONNECTIONS connections (connect, echo 64 B, close) under callgrind"
    total=$(profile "$server" "$CONNECTIONS" connect)
    base=$(profile "$server" 0 connect)
    say "$server: Ir $total (fixed part $base)"
    connects+=("$server=$total=$base")
    if [ "$ANNOTATE" = 1 ]; then
      callgrind_annotate --threshold=99 "$PROFILES/$server.connect.$CONNECTIONS.out" 2>/dev/null |
        sed -n '1,/^$/d; p' | head -40 >&2 || true
    fi ;;
  esac
done

python3 - "$OUT" "$HINGE_REV" "$MESSAGES" "$CONNS" "$SIZE" "$CONNECTIONS" "${results[*]:-}" "${connects[*]:-}" <<'EOF'
import datetime, json, sys
out, rev = sys.argv[1], sys.argv[2]
msgs, conns, size, nconn = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
echo_items, connect_items = sys.argv[7].split(), sys.argv[8].split()
connect = {}
for item in connect_items:
    name, total, base = item.split("=")
    connect[name] = {"ir_total": int(total), "ir_fixed": int(base),
                     "ir_per_conn": (int(total) - int(base)) / nconn}
servers = {}
for item in echo_items:
    name, total, base = item.split("=")
    total, base = int(total), int(base)
    servers[name] = {
        "ir_total": total,
        "ir_fixed": base,
        "ir_per_msg": total / msgs,
        "marginal_ir_per_msg": (total - base) / msgs,
    }
c = servers.get("c")
if servers:
    print(f"callgrind: {msgs} ping-pong messages of {size} B over {conns} connections")
    print()
if servers:
    print("| server | total Ir | Ir/msg (total/messages) | x C | marginal Ir/msg | x C |")
    print("|---|---|---|---|---|---|")
for name, s in servers.items():
    r1 = f"{s['ir_per_msg'] / c['ir_per_msg']:.2f}" if c else "-"
    r2 = f"{s['marginal_ir_per_msg'] / c['marginal_ir_per_msg']:.2f}" if c else "-"
    print(f"| {name} | {s['ir_total']:,} | {s['ir_per_msg']:,.0f} | {r1} | "
          f"{s['marginal_ir_per_msg']:,.0f} | {r2} |")
h = servers.get("hinge")
if c and h:
    r = h["ir_per_msg"] / c["ir_per_msg"]
    print()
    print(f"target: hinge instructions/msg <= 1.5x C: {'PASS' if r <= 1.5 else 'FAIL'} ({r:.2f}x)")
if connect:
    cc = connect.get("c")
    print()
    print(f"callgrind: {nconn} connections (connect, echo 64 B, close; 8 at a time)")
    print()
    print("| server | Ir per connection (marginal) | x C |")
    print("|---|---|---|")
    for name, s in connect.items():
        r = f"{s['ir_per_conn'] / cc['ir_per_conn']:.2f}" if cc else "-"
        print(f"| {name} | {s['ir_per_conn']:,.0f} | {r} |")
with open(out, "w") as f:
    json.dump({"date": datetime.date.today().isoformat(), "hinge_rev": rev, "messages": msgs, "conns": conns,
               "size": size, "servers": servers, "connections": nconn, "connect": connect}, f, indent=1)
    f.write("\n")
EOF
