#!/usr/bin/env bash
# Runs hinge's HTTP conformance cases (hinge/tests/conformance/cases.txt)
# against hinge, Node's http server and nginx, and prints each one's
# misses next to the others'. Not part of CI: it needs node and nginx.
#
# The runner is the cargo test itself: HINGE_CONFORMANCE_TARGET points it
# at an external server with the same routes (/echo answers the body,
# anything else 200 "ok"). nginx answers `return 200 ok` and proxies
# /echo to the Node server, so its own parser frames what it forwards.
# Everything listens on 127.0.0.1 only; nginx runs in the foreground
# with its own prefix under /tmp.
#
#   bench/conformance/compare.sh            # totals
#   VERBOSE=1 bench/conformance/compare.sh  # and every case's outcome
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
prefix=$(mktemp -d /tmp/hinge-conformance.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$prefix"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

node_port=$(free_port)
node "$here/node-server.js" "$node_port" &
pids+=($!)

nginx_port=$(free_port)
mkdir -p "$prefix/logs" "$prefix/tmp"
cat >"$prefix/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /echo {
            proxy_pass http://127.0.0.1:$node_port;
            proxy_http_version 1.1;
            proxy_ignore_client_abort on;
        }
        location / {
            return 200 ok;
        }
    }
}
CONF
nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
pids+=($!)
wait_port "$node_port"
wait_port "$nginx_port"

run() {
    local target=$1 log=$prefix/$2.log
    local env=(CARGO_TARGET_DIR="$target_dir")
    if [[ $target != hinge ]]; then env+=(HINGE_CONFORMANCE_TARGET="$target"); fi
    if [[ -n ${VERBOSE:-} ]]; then env+=(HINGE_CONFORMANCE_VERBOSE=1); fi
    # The in-process run asserts (a failure there still prints totals).
    (cd "$root" && env "${env[@]}" flock /tmp/hinge-cargo.lock \
        cargo test -q -p hinge --test http_conformance -- --nocapture) >"$log" 2>/dev/null || true
    if [[ -n ${VERBOSE:-} ]]; then sed -n "/^framing dis\|^misses:/,/^conformance of/s/^/$2: /p" "$log" >&2; fi
    grep '^conformance-totals' "$log" | sed "s/target=[^ ]*/target=$2/" ||
        echo "conformance-totals target=$2 (no totals)"
}

echo "== conformance cases: hinge vs Node $(node --version) vs $(nginx -v 2>&1 | sed 's/.*: //')"
{
    run hinge hinge
    run "127.0.0.1:$node_port" node
    run "127.0.0.1:$nginx_port" nginx
} | sed 's/^conformance-totals //' | column -t
