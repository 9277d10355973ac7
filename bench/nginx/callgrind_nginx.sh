#!/usr/bin/env bash
# callgrind_nginx.sh - instructions per request that ngx_http_dptrace_module adds to
# nginx, counted by callgrind (repeatable whatever the machine does): nginx runs in one
# worker under valgrind (valgrind follows the master's fork; master_process off is not
# used: nginx 1.22 crashes in that mode with inherited sockets), curl sends N1 then N2
# requests on one kept-alive connection, and (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of
# one request, the export thread's work included. A second nginx (not under valgrind) is
# the OTLP sink.
# Usage: bench/nginx/callgrind_nginx.sh [BUILD_DIR]
# Environment: N1 (500), N2 (2500), LOCS ("fixed proxied"), CONFIGS ("off on100 on1 on100r";
# on100r: 100 % with dptrace_attributes required; none: 100 %, spans made and ended but not
# exported).
set -euo pipefail
BUILD=${1:-build}
N1=${N1:-500}
N2=${N2:-2500}
MODULE=$(cd "$BUILD/src/nginx" && pwd)/ngx_http_dptrace_module.so
LEXEC=$BUILD/bench/nginx/listen_exec
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORK=$(mkdir -p "$BUILD/bench/nginx/cg" && cd "$BUILD/bench/nginx/cg" && pwd)
PIDS=()
# nginx masters are stopped with SIGTERM (a SIGKILLed master leaves its workers behind)
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 1' EXIT

common() { # prefix
    cat <<CONF
load_module $MODULE;
daemon off;
error_log $1/logs/error.log notice;
pid $1/logs/nginx.pid;
events { worker_connections 256; }
CONF
}
# The sink.
mkdir -p "$WORK/sink/conf" "$WORK/sink/logs" "$WORK/sink/tmp"
{ common "$WORK/sink"; echo "http { access_log off; client_body_temp_path tmp; server { listen 127.0.0.1:@PORT0@; location / { client_max_body_size 64m; return 200; } } }"; } >"$WORK/sink/conf/in"
"$LEXEC" 1 "$WORK/sink/conf/in" "$WORK/sink/conf/nginx.conf" "$WORK/sink/ports" -- "$NGINX" -p "$WORK/sink" -c conf/nginx.conf &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/sink/ports" ] && break; sleep 0.05; done
SINK=$(cat "$WORK/sink/ports")

# measure NAME TRACING LOCATION N: prints the total Ir of nginx serving N requests.
measure() {
    local name=$1 tracing=$2 loc=$3 n=$4 p=$WORK/$1
    rm -rf "$p" && mkdir -p "$p/conf" "$p/logs" "$p/tmp"
    chmod 1777 "$p" # the worker (nobody, when started as root) writes its callgrind file here
    { common "$p"; echo "worker_processes 1;"; cat <<CONF
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  $tracing
  upstream backend { server 127.0.0.1:@PORT1@; keepalive 8; }
  server {
    listen 127.0.0.1:@PORT0@;
    location = /fixed { return 200 "ok\n"; }
    location = /proxied { proxy_pass http://backend/backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server { listen 127.0.0.1:@PORT1@; dptrace off; location = /backend { return 200 "ok\n"; } }
}
CONF
    } >"$p/conf/in"
    "$LEXEC" 2 "$p/conf/in" "$p/conf/nginx.conf" "$p/ports" -- \
        "$(command -v valgrind)" --tool=callgrind --callgrind-out-file="$p/cg.%p.out" \
        "$NGINX" -p "$p" -c conf/nginx.conf >"$p/logs/vg.log" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 400); do [ -s "$p/ports" ] && break; sleep 0.05; done
    local port
    port=$(head -1 "$p/ports")
    for _ in $(seq 600); do curl -sf -m 60 -o /dev/null "http://127.0.0.1:$port/$loc" && break; sleep 0.1; done
    # n - 1 more on one connection (the first one above warmed up the worker)
    local urls=()
    for _ in $(seq $((n - 1))); do urls+=("http://127.0.0.1:$port/$loc"); done
    curl -sf "${urls[@]}" >/dev/null || { echo "callgrind_nginx: requests failed ($name)" >&2; exit 1; }
    kill -QUIT "$pid"
    wait "$pid" || true
    cat "$p"/cg.*.out | grep -E "^summary:" | awk '{s += $2} END {print s}'
}

otlp="dptrace_exporter otlp; dptrace_exporter_endpoint http://127.0.0.1:$SINK/v1/traces; dptrace_batch_schedule_delay 200ms;"
printf '| location | tracing | instructions per request | added by dptrace |\n|---|---|---|---|\n'
for loc in ${LOCS:-fixed proxied}; do
    base=""
    for cfg in ${CONFIGS:-off on100 on1 on100r}; do
        case $cfg in
        off) t="dptrace off;" ;;
        on100) t="dptrace on; dptrace_sampler always_on; $otlp" ;;
        on1) t="dptrace on; dptrace_sampler parentbased_traceidratio 0.01; $otlp" ;;
        on100r) t="dptrace on; dptrace_attributes required; dptrace_sampler always_on; $otlp" ;;
        none) t="dptrace on; dptrace_sampler always_on; dptrace_exporter none;" ;;
        *) echo "callgrind_nginx: unknown configuration $cfg" >&2; exit 1 ;;
        esac
        a=$(measure "$cfg-$loc-a" "$t" "$loc" "$N1")
        b=$(measure "$cfg-$loc-b" "$t" "$loc" "$N2")
        per=$(( (b - a) / (N2 - N1) ))
        [ -n "$base" ] || base=$per
        printf '| %s | %s | %d | %s |\n' "$loc" "$cfg" "$per" "$([ "$cfg" = off ] && echo - || echo "$((per - base)) ($(awk -v a=$per -v b=$base 'BEGIN{printf "%.1f", 100*(a-b)/b}') %)")"
    done
done
