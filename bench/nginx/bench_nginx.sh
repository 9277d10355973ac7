#!/usr/bin/env bash
# bench_nginx.sh - what ngx_http_dptrace_module costs nginx: requests/s and latency of a
# fixed-response location and of a proxied location, with tracing off, on at 100 %
# sampling, on at 1 %, and on at 100 % with `dptrace_attributes required`, measured in one run: three nginx instances (one worker each,
# pinned to CPU 0, spans exported as OTLP/HTTP protobuf to a sink location of the same
# nginx) and wrk (one thread, pinned to CPU 1), runs interleaved round by round so that
# whatever else the machine does hits every configuration alike.
# Usage: bench/nginx/bench_nginx.sh [BUILD_DIR]
# Environment: ROUNDS (5), DURATION (10s), CONNS (16), EXPORTER (otlp | none: spans are
# made, nothing exports them), EXPORT_EXTRA (directives added to every traced instance,
# e.g. "dptrace_batch_max_export_batch_size 2048;"), CONFIGS ("off on100 on1 on100r floor": the
# configurations to run; off and on100 are needed by the others), LOCS ("fixed proxied").
# Configurations: off, on100 (every request sampled), on1 (1 %), on100r (100 % with
# `dptrace_attributes required`), on100o (on100 with the export threads in SCHED_OTHER, as
# before they took SCHED_BATCH: DPTRACE_EXPORT_SCHED=other), on100b (on100 with export
# batches of 4,096 spans and a queue of 16,384 instead of 512 and 2,048), none (100 %, spans made and ended but not exported:
# `dptrace_exporter none`), floor (tracing off, and otlp_floor on the worker's CPU sends the
# bytes on100's spans take, one OTLP/HTTP request per 512 requests served: the transport
# floor, what moving those bytes costs an exporter that does nothing else), ref100 (nginx's
# own OpenTelemetry module, the issue's reference, tracing every request and exporting
# OTLP/gRPC to a gRPC sink; needs REF_MODULE, see docs/nginx.md "The reference module").
# REF_MODULE: the reference module's .so (ngx_otel_module.so) for ref100.
# LOAD: wrk (the default: as many requests as nginx serves, a saturated worker) or paced
# (paced.c: RATE requests/s, open loop, latency from each request's due time: a worker
# with room to spare). RATE: requests/s for LOAD=paced (50000).
# Besides the table, each run's on-CPU time per request of each thread of the worker
# (/proc/.../schedstat, nanoseconds): the event loop, the export thread (dpt-export) and the
# HTTP thread (dpt-http), so a change can be placed where it costs.
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
EXPORTER=${EXPORTER:-otlp}
CONFIGS=${CONFIGS:-off on100 on1 on100r floor}
LOCS=${LOCS:-fixed proxied}
LOAD=${LOAD:-wrk}
RATE=${RATE:-50000}
MODULE=$BUILD/src/nginx/ngx_http_dptrace_module.so
LEXEC=$BUILD/bench/nginx/listen_exec
FLOOR=$BUILD/bench/nginx/otlp_floor
PACED=$BUILD/bench/nginx/paced
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for f in "$MODULE" "$LEXEC" "$FLOOR" "$PACED" "$NGINX"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "bench_nginx: $f missing (build first)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench_nginx: wrk missing (apt-get install wrk)" >&2; exit 1; }
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")
WORK=$(mkdir -p "$BUILD/bench/nginx/work" && cd "$BUILD/bench/nginx/work" && pwd)
PIDS=()
# nginx masters are stopped with SIGTERM (a SIGKILLed master leaves its workers behind)
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 1; }
trap cleanup EXIT

# start NAME TRACING_DIRECTIVES [MAIN_DIRECTIVES]: an instance; sets PORT (its front port).
start() {
    local name=$1 tracing=$2 main=${3:-} prefix=$WORK/$1
    rm -rf "$prefix" && mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
    cat >"$prefix/conf/nginx.conf.in" <<CONF
load_module $MODULE;
daemon off;
worker_processes 1;
worker_cpu_affinity 01;
$main
error_log $prefix/logs/error.log notice;
pid $prefix/logs/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  $tracing
  upstream backend { server 127.0.0.1:@PORT1@; keepalive 32; }
  server {
    listen 127.0.0.1:@PORT0@;
    location = /fixed { return 200 "ok\n"; }
    location = /dpt_status { dptrace off; stub_status; }
    location = /proxied {
      proxy_pass http://backend/backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:@PORT1@;
    dptrace off;
    location = /backend { return 200 "ok\n"; }
  }
}
CONF
    "$LEXEC" 2 "$prefix/conf/nginx.conf.in" "$prefix/conf/nginx.conf" "$prefix/ports" -- \
        "$NGINX" -p "$prefix" -c conf/nginx.conf >"$prefix/logs/stderr.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$!"
    for _ in $(seq 200); do [ -s "$prefix/ports" ] && break; sleep 0.05; done
    PORT=$(head -1 "$prefix/ports")
    eval "PORT_$name=$PORT"
}

# sink NAME HTTP_BODY: a sink nginx, one worker on CPU 1 (with wrk), HTTP_BODY inside its
# http block; sets SINKPORT and SINKPID.
sink() {
    local p=$WORK/$1
    mkdir -p "$p/conf" "$p/logs" "$p/tmp"
    cat >"$p/conf/nginx.conf.in" <<CONF
daemon off;
worker_processes 1;
worker_cpu_affinity 10;
error_log $p/logs/error.log notice;
pid $p/logs/nginx.pid;
events { worker_connections 256; }
http {
  keepalive_requests 1000000;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  $2
}
CONF
    "$LEXEC" 1 "$p/conf/nginx.conf.in" "$p/conf/nginx.conf" "$p/ports" -- \
        "$NGINX" -p "$p" -c conf/nginx.conf >"$p/logs/stderr.log" 2>&1 &
    SINKPID=$!
    PIDS+=($SINKPID)
    for _ in $(seq 200); do [ -s "$p/ports" ] && break; sleep 0.05; done
    SINKPORT=$(head -1 "$p/ports")
}

# The OTLP sink: an nginx of its own (a worker exporting to itself would wait on itself
# when it exits); it sees one request per 512 spans and logs each one's size.
SINKP=$WORK/sink
rm -rf "$SINKP"
sink sink "log_format len '\$uri \$content_length'; access_log $SINKP/logs/requests.log len;
  server { listen 127.0.0.1:@PORT0@; location / { client_max_body_size 64m; return 200; } }"
SINK=$SINKPORT
SINK_PID=$SINKPID
# The reference module's sink (ref100 only): an nginx answering OTLP/gRPC over h2c with an
# empty message and grpc-status 0 after reading the body (mirror_request_body makes nginx
# read it first; the static handler's 404/405 in an empty root becomes the answer).
GSINK=
if [[ " $CONFIGS " == *" ref100 "* ]]; then
    GSINKP=$WORK/gsink
    rm -rf "$GSINKP" && mkdir -p "$GSINKP/empty" "$GSINKP/www"
    printf '\0\0\0\0\0' >"$GSINKP/www/ok.grpc"
    sink gsink "access_log off; keepalive_timeout 3600s; client_max_body_size 64m;
  server {
    listen 127.0.0.1:@PORT0@ http2;
    location / {
      client_body_buffer_size 1m;
      mirror /.mirror;
      mirror_request_body on;
      root $GSINKP/empty;
      log_not_found off;
      error_page 404 405 =200 /ok.grpc;
    }
    location = /.mirror { internal; return 204; }
    location = /ok.grpc { internal; root $GSINKP/www; default_type application/grpc; etag off; add_trailer grpc-status 0 always; }
  }"
    GSINK=$SINKPORT
    GSINK_PID=$SINKPID
fi
# exp NAME: the exporter directives of instance NAME (each exports to a path of its own, so
# the sink's log tells their requests apart)
exp() {
    if [ "$EXPORTER" = none ]; then echo "dptrace_exporter none; ${EXPORT_EXTRA:-}"; return; fi
    echo "dptrace_exporter otlp; dptrace_exporter_endpoint http://127.0.0.1:$SINK/$1/v1/traces; ${EXPORT_EXTRA:-}"
}
for c in $CONFIGS; do
    case $c in
    off) start off "dptrace off;" ;;
    on100) start on100 "dptrace on; dptrace_sampler always_on; $(exp on100)" ;;
    on1) start on1 "dptrace on; dptrace_sampler parentbased_traceidratio 0.01; $(exp on1)" ;;
    on100r) start on100r "dptrace on; dptrace_attributes required; dptrace_sampler always_on; $(exp on100r)" ;;
    on100o) start on100o "dptrace on; dptrace_sampler always_on; $(exp on100o)" "env DPTRACE_EXPORT_SCHED=other;" ;;
    on100b) start on100b "dptrace on; dptrace_sampler always_on; $(exp on100b) dptrace_batch_max_export_batch_size 4096; dptrace_batch_max_queue_size 16384;" ;;
    ref100)
        [ -f "${REF_MODULE:-}" ] || { echo "bench_nginx: ref100 needs REF_MODULE" >&2; exit 1; }
        start ref100 "dptrace off; otel_exporter { endpoint 127.0.0.1:$GSINK; } otel_service_name ref; otel_trace on;" "load_module $REF_MODULE;" ;;
    none) start none "dptrace on; dptrace_sampler always_on; dptrace_exporter none; ${EXPORT_EXTRA:-}" ;;
    floor) PORT_floor=; PID_floor= ;; # runs against off (see run)
    *) echo "bench_nginx: unknown configuration $c" >&2; exit 1 ;;
    esac
done
sleep 0.5

# run CFG LOC: one wrk run; appends "cfg loc round req_s p50_us p99_us" to results.
RESULTS=$WORK/results.txt
: >"$RESULTS"
us() { # wrk latency "123.45us" / "1.23ms" / "1.2s" -> microseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else print n * 1000000 }'
}
# ticks FIELDS PID...: the sum over the processes (all their threads) of FIELDS of
# /proc/PID/stat, in clock ticks: '$14 + $15' utime + stime, '$14' utime alone (the
# kernel's share of a loopback request, 6-8 us of 7-10, moves from round to round; user
# time is steadier).
ticks() {
    local f=$1
    shift
    for p in "$@"; do awk "{print $f}" "/proc/$p/stat"; done | awk '{s += $1} END {print s}'
}
workers() { # the worker processes of master $1
    for d in /proc/[0-9]*; do
        awk -v m="$1" '{ if ($4 == m) print $1 }' "$d/stat" 2>/dev/null
    done
}
HZ=$(getconf CLK_TCK)
# threadns PID...: "loop export http" - nanoseconds on a CPU of each kind of thread of the
# processes so far (schedstat's first field): the process's first thread (nginx's event
# loop), dpt-export, dpt-http or otlp-floor (any other thread is counted with the loop).
threadns() {
    local loop=0 exp=0 http=0 t comm ns
    for p in "$@"; do
        for t in /proc/"$p"/task/*; do
            comm=$(cat "$t/comm" 2>/dev/null) || continue
            ns=$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) || continue
            case $comm in
            dpt-export) exp=$((exp + ns)) ;;
            dpt-http | otlp-floor) http=$((http + ns)) ;;
            *) loop=$((loop + ns)) ;;
            esac
        done
    done
    echo "$loop $exp $http"
}
THREADS=$WORK/threads.txt
: >"$THREADS"
TAILS=$WORK/tails.txt
: >"$TAILS"
run() {
    local cfg=$1 loc=$2 round=$3 port out master w t0 t1 reqs fpid=
    local inst=$cfg
    [ "$cfg" = floor ] && inst=off
    eval "port=\$PORT_$inst"
    eval "master=\$PID_$inst"
    w=$(workers "$master")
    if [ "$cfg" = floor ]; then
        taskset -c 0 "$FLOOR" "$port" "$SINK" "$BATCH" "$BYTES_PER_SPAN" >>"$WORK/floor.log" &
        fpid=$!
        sleep 0.2
        w="$w $fpid"
    fi
    t0=$(ticks '$14 + $15' $w)
    u0=$(ticks '$14' $w)
    local n0 n1
    n0=$(threadns $w)
    local rps p50 p99 cpu ucpu
    if [ "$LOAD" = paced ]; then
        out=$(taskset -c 1 "$PACED" "$port" "/$loc" "$RATE" "${DURATION%s}" "$CONNS" 2>&1) ||
            { echo "bench_nginx: paced failed in $cfg $loc:" >&2; echo "$out" >&2; exit 1; }
    else
        out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/$loc" 2>&1)
    fi
    t1=$(ticks '$14 + $15' $w)
    u1=$(ticks '$14' $w)
    n1=$(threadns $w)
    if [ -n "$fpid" ]; then kill -TERM "$fpid"; wait "$fpid" || true; fi
    if [ "$LOAD" = paced ]; then
        # "paced: requests=N errors=E rate=R p50=X p90=.. p99=Y p999=Z max=.. late=L"
        field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$out"; }
        reqs=$(field requests)
        rps=$(field rate)
        p50=$(field p50)us
        p99=$(field p99)us
        echo "$cfg $loc $round $(field p999) $(field max) $(field late)" >>"$TAILS"
    else
        reqs=$(awk '/requests in/ {print $1}' <<<"$out")
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        grep -q "Non-2xx" <<<"$out" && { echo "bench_nginx: errors in $cfg $loc:" >&2; echo "$out" >&2; exit 1; }
    fi
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')
    ucpu=$(awk -v a="$u0" -v b="$u1" -v n="$reqs" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')
    echo "$cfg $loc $round $rps $(us "$p50") $(us "$p99") $cpu $ucpu" >>"$RESULTS"
    echo "$cfg $loc $round $n0 $n1 $reqs" | awk '{ printf "%s %s %s %.0f %.0f %.0f\n", $1, $2, $3, ($7 - $4) / $10, ($8 - $5) / $10, ($9 - $6) / $10 }' >>"$THREADS"
    printf '  round %d  %-8s %-8s %10s req/s  %6s us CPU/req (user %s)  p50 %8s  p99 %8s\n' "$round" "$cfg" "$loc" "$rps" "$cpu" "$ucpu" "$p50" "$p99"
}

echo "== warm-up"
for c in $CONFIGS; do for l in $LOCS; do
    [ "$c" = floor ] && continue
    eval "port=\$PORT_$c"; taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/$l" >/dev/null
done; done
# The floor's bytes per span: on100's requests to the sink during the warm-up (the median
# request over the batch size; at these rates every batch is full).
BATCH=512
if [[ " ${EXPORT_EXTRA:-} " =~ dptrace_batch_max_export_batch_size\ ([0-9]+) ]]; then BATCH=${BASH_REMATCH[1]}; fi
BYTES_PER_SPAN=$(awk '$1 ~ /^\/on100\// { print $2 }' "$SINKP/logs/requests.log" | sort -n |
    awk -v b="$BATCH" '{ v[++n] = $1 } END { if (!n) print 0; else printf "%d\n", v[int((n + 1) / 2)] / b }')
if [[ " $CONFIGS " == *" floor "* ]]; then
    [ "$BYTES_PER_SPAN" -gt 0 ] || { echo "bench_nginx: floor needs on100 and the otlp exporter" >&2; exit 1; }
    echo "== floor: $BYTES_PER_SPAN bytes per span (on100's median request / $BATCH), one request per $BATCH served"
fi
if [ "$LOAD" = paced ]; then
    echo "== $ROUNDS rounds of $DURATION per configuration (paced: $RATE requests/s on $CONNS connections, open loop), interleaved"
else
    echo "== $ROUNDS rounds of $DURATION per configuration (wrk -t1 -c$CONNS), interleaved"
fi
# each round starts one configuration later, so none is always first after another
read -r -a cfgs <<<"$CONFIGS"
for r in $(seq "$ROUNDS"); do
    for l in $LOCS; do
        for i in $(seq 0 $((${#cfgs[@]} - 1))); do run "${cfgs[$(((i + r - 1) % ${#cfgs[@]}))]}" "$l" "$r"; done
    done
done

echo "== stopping (every worker flushes its spans)"
for c in $CONFIGS; do [ "$c" = floor ] || eval "kill -QUIT \$PID_$c"; done
for c in $CONFIGS; do [ "$c" = floor ] || { eval "p=\$PID_$c"; wait "$p" || true; }; done
kill -QUIT "$SINK_PID" # last: the workers above export to it on their way out
wait "$SINK_PID" || true
if [ -n "$GSINK" ]; then kill -QUIT "$GSINK_PID"; wait "$GSINK_PID" || true; fi
PIDS=()
for c in $CONFIGS; do
    if [ "$c" = ref100 ]; then
        echo "  ref100: export failures logged $(grep -c 'OTel export failure' "$WORK/ref100/logs/error.log"), drops logged $(grep -c 'OTel dropped' "$WORK/ref100/logs/error.log")"
        continue
    fi
    [ "$c" = off ] || [ "$c" = floor ] && continue
    grep -h "dptrace: worker" "$WORK/$c/logs/error.log" | sed "s/^.*dptrace:/  $c: dptrace:/"
done

echo
echo "== results (median of $ROUNDS rounds [min-max]; overhead: the same round's on / off, median [min-max])"
echo "CPU/req: the worker process's CPU time (user + system, its export thread included) per request;"
echo "user CPU/req: its user time alone (steadier: the kernel's part of a loopback request varies)."
echo "user CPU/req vs off: the same round's difference, in us per request."
# What both tables share: the median of a configuration's rounds (lo and hi: their range)
# and the order of the rows.
AWK_COMMON='
function med(arr, k, cnt,   i, j, t, a) {
    for (i = 1; i <= cnt; i++) a[i] = arr[k, i]
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    lo = a[1]; hi = a[cnt]
    return (cnt % 2) ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2
}
BEGIN { split("fixed proxied", locs, " "); ncfg = split("off on100 on100o on100b on1 on100r none floor ref100", cfgs, " ") }
'
awk "$AWK_COMMON"'
{ k = $1 " " $2; n[k]++; rps[k, n[k]] = $4; p50[k, n[k]] = $5; p99[k, n[k]] = $6; cpu[k, n[k]] = $7
  ucpu[k, n[k]] = $8
  byround[$1, $2, $3] = $4; cpuround[$1, $2, $3] = $7; ucpuround[$1, $2, $3] = $8; rounds[$3] = 1 }
END {
    printf "| location | tracing | req/s | CPU/req | user CPU/req | p50 | p99 | req/s vs off | CPU/req vs off | user CPU/req vs off |\n|---|---|---|---|---|---|---|---|---|---|\n"
    for (li = 1; li <= 2; li++) for (ci = 1; ci <= ncfg; ci++) {
        l = locs[li]; c = cfgs[ci]; k = c " " l; cnt = n[k]
        if (!cnt) continue
        m = med(rps, k, cnt); rlo = lo; rhi = hi
        mc = med(cpu, k, cnt); clo = lo; chi = hi
        mu = med(ucpu, k, cnt)
        q50 = med(p50, k, cnt); q99 = med(p99, k, cnt)
        ov = "-"; oc = "-"; ou = "-"
        if (c != "off") {
            m2 = 0
            for (r in rounds) { m2++; ratio[k, m2] = 100 * (byround[c, l, r] / byround["off", l, r] - 1)
                                cratio[k, m2] = 100 * (cpuround[c, l, r] / cpuround["off", l, r] - 1)
                                udiff[k, m2] = ucpuround[c, l, r] - ucpuround["off", l, r] }
            o = med(ratio, k, m2); ov = sprintf("%+.1f %% [%+.1f .. %+.1f]", o, lo, hi)
            o = med(cratio, k, m2); oc = sprintf("%+.1f %% [%+.1f .. %+.1f]", o, lo, hi)
            o = med(udiff, k, m2); ou = sprintf("%+.2f us [%+.2f .. %+.2f]", o, lo, hi)
        }
        label = c == "off" ? "off" : (c == "on100" ? "on, 100 %" : (c == "on1" ? "on, 1 %" : (c == "on100r" ? "on, 100 %, required attributes" : (c == "none" ? "on, 100 %, not exported" : (c == "on100o" ? "on, 100 %, SCHED_OTHER" : (c == "on100b" ? "on, 100 %, batches of 4,096" : (c == "ref100" ? "reference module, 100 %" : "off + transport floor")))))))
        printf "| %s | %s | %.0f [%.0f-%.0f] | %.1f us [%.1f-%.1f] | %.2f us | %.0f us | %.0f us | %s | %s | %s |\n", l, label, m, rlo, rhi, mc, clo, chi, mu, q50, q99, ov, oc, ou
    }
}' "$RESULTS"
echo
echo "== on-CPU time per request of each thread of the worker (median of the rounds [min-max], ns)"
awk "$AWK_COMMON"'
{ k = $1 " " $2; n[k]++; lp[k, n[k]] = $4; ex[k, n[k]] = $5; ht[k, n[k]] = $6; tot[k, n[k]] = $4 + $5 + $6
  lround[$1, $2, $3] = $4; troundv[$1, $2, $3] = $4 + $5 + $6; rounds[$3] = 1 }
function cell(arr, k, cnt,   m) { m = med(arr, k, cnt); return sprintf("%.0f [%.0f-%.0f]", m, lo, hi) }
END {
    printf "| location | tracing | event loop | export thread | HTTP thread | all | loop vs off | all vs off |\n|---|---|---|---|---|---|---|---|\n"
    for (li = 1; li <= 2; li++) for (ci = 1; ci <= ncfg; ci++) {
        l = locs[li]; c = cfgs[ci]; k = c " " l; cnt = n[k]
        if (!cnt) continue
        dl = "-"; dt = "-"
        if (c != "off" && n["off " l]) {
            m2 = 0
            for (r in rounds) { m2++; d1[k, m2] = lround[c, l, r] - lround["off", l, r]
                                d2[k, m2] = 100 * (troundv[c, l, r] / troundv["off", l, r] - 1) }
            o = med(d1, k, m2); dl = sprintf("%+.0f ns [%+.0f .. %+.0f]", o, lo, hi)
            o = med(d2, k, m2); dt = sprintf("%+.1f %% [%+.1f .. %+.1f]", o, lo, hi)
        }
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", l, c, cell(lp, k, cnt), cell(ex, k, cnt), cell(ht, k, cnt), cell(tot, k, cnt), dl, dt
    }
}' "$THREADS"
if [ "$LOAD" = paced ]; then
    echo
    echo "== paced: the tail (median of the rounds [min-max], us) and requests sent over 1 ms late (sum)"
    awk "$AWK_COMMON"'
    { k = $1 " " $2; n[k]++; p9[k, n[k]] = $4; mx[k, n[k]] = $5; late[k] += $6 }
    END {
        printf "| location | tracing | p99.9 | max | late |\n|---|---|---|---|---|\n"
        for (li = 1; li <= 2; li++) for (ci = 1; ci <= ncfg; ci++) {
            l = locs[li]; c = cfgs[ci]; k = c " " l; cnt = n[k]
            if (!cnt) continue
            m = med(p9, k, cnt); a = sprintf("%.0f [%.0f-%.0f]", m, lo, hi)
            m = med(mx, k, cnt); b = sprintf("%.0f [%.0f-%.0f]", m, lo, hi)
            printf "| %s | %s | %s | %s | %d |\n", l, c, a, b, late[k]
        }
    }' "$TAILS"
fi
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
