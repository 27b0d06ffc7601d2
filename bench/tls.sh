#!/usr/bin/env bash
# bench/tls.sh: TLS servers side by side: hinge (https_echo, tls_echo)
# against hyper 1.x + tokio-rustls on tokio current_thread (tls-tokio, on
# aws-lc-rs, hinge's provider: the reference every ratio is taken to), nginx
# (one worker, OpenSSL, its defaults for tickets and ciphers) and Node's
# https/tls modules (one process). Every server has the same ECDSA P-256
# certificate, made at run time by a throw-away CA in a temp directory.
#
# Scenarios (each a fresh server pinned to CPU $SERVER_CPU, the client to
# $LOADGEN_CPU; rounds interleaved, every scenario x server, then again):
#   handshake   full TLS 1.3 handshakes, no resumption: HS_CONNS workers of
#               tls-load loop connect, handshake, GET /hello, close_notify:
#               server CPU (utime+stime from /proc) per handshake, handshakes/s;
#               the client offers KX_GROUPS (X25519, which every peer has)
#   handshake-default
#               the same with the client's default groups (aws-lc-rs:
#               X25519MLKEM768 first, an X25519 share beside it), as a
#               modern browser offers: the rustls peers take X25519MLKEM768,
#               OpenSSL 3.0 (nginx, Node) X25519
#   keepalive   wrk -t1 -c$CONNS https://127.0.0.1:PORT/hello: server CPU
#               per request, requests/s
#   bulk        BULK_CONNS connections stream 64 KiB writes to an echo server
#               (hinge tls_echo, tokio-rustls, Node tls), every byte checked:
#               MB/s echoed, server CPU per GB
#   idle        IDLE_CONNS connections, each handshaked with one GET /hello,
#               held IDLE_HOLD s: server VmRSS growth per connection
#   providers-handshake, providers-bulk
#               tls-tokio (both providers in one binary) with the server on
#               ring or aws-lc; the client (aws-lc) offers X25519 only
#               ("/x25519", like with like) or its defaults ("/default":
#               X25519MLKEM768 first). Ratios to ring/x25519.
# Reported: the medians of per-round ratios (spread: min-max), and the
# key-exchange group, suite and version each run negotiated.
#
#   bench/tls.sh                          # the full run (~17 minutes)
#   ROUNDS=1 DURATION=2 bench/tls.sh      # a smoke run
#   SCENARIOS="handshake" SERVERS="hyper hinge" bench/tls.sh
#
# Environment (defaults in brackets):
#   ROUNDS [5], DURATION [5] measured seconds, WARMUP [1] seconds before
#   SERVERS [hyper hinge nginx node]   (handshake, keepalive, idle)
#   BULK_SERVERS [tokio hinge node]    (bulk)
#   PROVIDERS [ring/x25519 aws-lc/x25519 ring/default aws-lc/default]
#   SCENARIOS [handshake handshake-default keepalive bulk idle providers-handshake providers-bulk]
#   CONNS [64] wrk connections; HS_CONNS [4]; BULK_CONNS [8]
#   KX_GROUPS [x25519]  the key-exchange groups tls-load offers in handshake,
#               bulk and idle: X25519 for every peer alike, as nginx and
#               Node (OpenSSL 3.0) cannot do ML-KEM ("default": aws-lc-rs's,
#               X25519MLKEM768 for the rustls peers); wrk (keepalive) offers
#               OpenSSL 3.0's defaults, so X25519 everywhere
#   IDLE_CONNS [2000], IDLE_HOLD [1]
#   SERVER_CPU [0], LOADGEN_CPU [1], PORT [21400]
#   OUT [bench/results/tls.md]  (raw runs: ${OUT%.md}.runs.jsonl)
#   SKIP_BUILD [0]
#   LOCK [/tmp/hinge-cargo.lock]: every build, and every scenario of every
#   round (under 40 s), holds this lock, so no compile on the machine shares
#   the CPUs with a measurement ("" for none)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"hyper hinge nginx node"}
BULK_SERVERS=${BULK_SERVERS:-"tokio hinge node"}
PROVIDERS=${PROVIDERS:-"ring/x25519 aws-lc/x25519 ring/default aws-lc/default"}
SCENARIOS=${SCENARIOS:-"handshake handshake-default keepalive bulk idle providers-handshake providers-bulk"}
CONNS=${CONNS:-64}
HS_CONNS=${HS_CONNS:-4}
BULK_CONNS=${BULK_CONNS:-8}
KX_GROUPS=${KX_GROUPS:-x25519}
IDLE_CONNS=${IDLE_CONNS:-2000}
IDLE_HOLD=${IDLE_HOLD:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PORT=${PORT:-21400}
OUT=${OUT:-bench/results/tls.md}
RUNS=${OUT%.md}.runs.jsonl
LOCK=${LOCK-/tmp/hinge-cargo.lock}

say() { echo "tls.sh: $*" >&2; }
for tool in wrk nginx node openssl python3 taskset; do
  command -v "$tool" >/dev/null || { say "needs $tool (Debian: apt-get install wrk nginx-light nodejs openssl)"; exit 1; }
done
locked() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building (release)"
  locked cargo build --release -q -p hinge-bench --bin tls-tokio --bin tls-load --bin loadgen
  locked cargo build --release -q -p hinge --features tls --example https_echo --example tls_echo
fi
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((IDLE_CONNS + 256)) ] ||
  { say "ulimit -n is $(ulimit -n): lower IDLE_CONNS"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hinge-tls.XXXXXX")
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

# --- certificates: an ECDSA P-256 CA and a server certificate for
# localhost and 127.0.0.1, made here and removed with $TMP ---------------
(
  cd "$TMP"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=hinge-bench-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req "${ec[@]}" -keyout key.pem -out server.csr -subj /CN=localhost 2>/dev/null
  printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out cert.pem 2>/dev/null
)
CA=$TMP/ca.pem CERT=$TMP/cert.pem KEY=$TMP/key.pem

nginx_conf() { # port
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
    listen $1 ssl backlog=4096;
    # nginx 1.22 (Debian bookworm) leaves TLS 1.3 out of its default;
    # the others offer TLS 1.2 and 1.3.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    location / { default_type text/plain; return 200 "Hello world!"; }
  }
}
CONF
}

# server name port kind(https|echo) -> starts it as $SPID, its stderr in $TMP/server.err
start_server() {
  local name=$1 port=$2 kind=$3 cmd
  case $name/$kind in
    hinge/https) cmd=("$BIN/examples/https_echo" "$port" "$CERT" "$KEY" --quiet) ;;
    hinge/echo) cmd=("$BIN/examples/tls_echo" "$port" "$CERT" "$KEY" --quiet) ;;
    hyper/https) cmd=("$BIN/tls-tokio" "$port" "$CERT" "$KEY") ;;
    tokio/echo) cmd=("$BIN/tls-tokio" "$port" "$CERT" "$KEY" --echo) ;;
    node/https) cmd=(node bench/peers/https.js "$port" "$CERT" "$KEY") ;;
    node/echo) cmd=(node bench/peers/https.js "$port" "$CERT" "$KEY" --echo) ;;
    nginx/https) nginx_conf "$port"; cmd=(nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf") ;;
    ring/*/https | aws-lc/*/https) cmd=("$BIN/tls-tokio" "$port" "$CERT" "$KEY" --provider "${name%%/*}") ;;
    ring/*/echo | aws-lc/*/echo) cmd=("$BIN/tls-tokio" "$port" "$CERT" "$KEY" --echo --provider "${name%%/*}") ;;
    *) say "no $kind server $name"; exit 1 ;;
  esac
  taskset -c "$SERVER_CPU" "${cmd[@]}" >/dev/null 2>"$TMP/server.err" &
  SPID=$!
  "$BIN/loadgen" wait --port "$port" --timeout 15 2>/dev/null ||
    { say "$name did not start:"; cat "$TMP/server.err" >&2; exit 1; }
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wrk_run() { # port seconds -> "requests errors"
  taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONNS" -d"${2}s" "https://127.0.0.1:$1/hello" > "$TMP/wrk.out" 2>&1 || true
  local reqs errs
  reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  errs=$(awk '/Socket errors/ {gsub(",",""); s=0; for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) s+=$i; print s} /Non-2xx/ {print $NF}' "$TMP/wrk.out" | awk '{s+=$1} END {print s+0}')
  echo "${reqs:-0} ${errs:-0}"
}

# One measurement: a fresh server, one load run, one JSON line in $RUNS.
HZ=$(getconf CLK_TCK)
measure() { # round scenario server
  local round=$1 scenario=$2 server=$3 kind=https client=(--groups "$KX_GROUPS")
  PORT=$((PORT + 1)); [ "$PORT" -gt 21900 ] && PORT=21401
  case $scenario in bulk | providers-bulk) kind=echo ;; esac
  case $scenario in
    handshake-default) client=(--groups default) ;;
    providers-*) client=(--provider aws-lc --groups "${server#*/}") ;;
  esac
  start_server "$server" "$PORT" "$kind"
  local common=(--port "$PORT" --ca "$CA" --server-pid "$SPID" --duration "$DURATION" --warmup "$WARMUP")
  local result rc=0
  case $scenario in
    handshake | handshake-default | providers-handshake)
      result=$(taskset -c "$LOADGEN_CPU" "$BIN/tls-load" handshake "${common[@]}" --conns "$HS_CONNS" "${client[@]}" 2>"$TMP/load.err") || rc=$? ;;
    bulk | providers-bulk)
      result=$(taskset -c "$LOADGEN_CPU" "$BIN/tls-load" bulk "${common[@]}" --conns "$BULK_CONNS" --chunk 65536 "${client[@]}" 2>"$TMP/load.err") || rc=$? ;;
    idle)
      result=$(taskset -c "$LOADGEN_CPU" "$BIN/tls-load" idle --port "$PORT" --ca "$CA" --server-pid "$SPID" \
        --conns "$IDLE_CONNS" --hold "$IDLE_HOLD" "${client[@]}" 2>"$TMP/load.err") || rc=$? ;;
    keepalive)
      wrk_run "$PORT" "$WARMUP" >/dev/null
      local t0 t1 reqs errs
      t0=$(cpu_ticks "$SPID")
      read -r reqs errs < <(wrk_run "$PORT" "$DURATION")
      t1=$(cpu_ticks "$SPID")
      result=$(python3 -c "print('{\"requests\":%d,\"rps\":%.0f,\"server_cpu_us_per_req\":%.3f,\"errors\":%d}' % ($reqs, $reqs/$DURATION, ($t1-$t0)*1e6/$HZ/max($reqs,1), $errs))") ;;
    *) say "unknown scenario $scenario"; exit 1 ;;
  esac
  local alive=1
  kill -0 "$SPID" 2>/dev/null || alive=0
  kill_server
  local err
  err=$(head -c 600 "$TMP/server.err" | tr '\n' ' ' | sed 's/\\/\\\\/g; s/"/\\"/g')
  if [ "$rc" != 0 ] || [ "$alive" = 0 ] || [ -z "$result" ]; then
    say "FAILED: $server $scenario round $round (load exit $rc, server alive $alive)"
    cat "$TMP/load.err" >&2 || true
    result="{\"failed\":\"load exit $rc, server alive $alive\"}"
  fi
  [ -n "$err" ] && say "$server $scenario round $round: server stderr: $err"
  echo "{\"round\":$round,\"scenario\":\"$scenario\",\"server\":\"$server\",\"result\":$result,\"server_stderr\":\"$err\"}" >> "$RUNS"
  say "round $round $scenario $server: $result"
}

mkdir -p "$(dirname "$OUT")"
: > "$RUNS"
say "$ROUNDS rounds x [$SCENARIOS], ${DURATION}s runs (+${WARMUP}s warm-up); raw runs in $RUNS"
[ -n "$LOCK" ] && exec 9>"$LOCK"
for round in $(seq "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    case $scenario in
      bulk) servers=$BULK_SERVERS ;;
      providers-*) servers=$PROVIDERS ;;
      *) servers=$SERVERS ;;
    esac
    # nginx serves HTTPS only (no TLS echo here).
    [ -n "$LOCK" ] && flock 9
    for server in $servers; do
      measure "$round" "$scenario" "$server"
    done
    [ -n "$LOCK" ] && flock -u 9
  done
done

python3 bench/tls_report.py "$RUNS" "$OUT" \
  "client groups=$KX_GROUPS rounds=$ROUNDS duration=$DURATION warmup=$WARMUP wrk_conns=$CONNS hs_conns=$HS_CONNS bulk_conns=$BULK_CONNS idle_conns=$IDLE_CONNS"
