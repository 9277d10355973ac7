#!/bin/sh
# demo.sh - runs the traced mini mesh end to end (`make demo` builds first, then calls it):
# starts inventory, payments, orders and gateway on free loopback ports, sends a burst of
# checkout requests, stops the services cleanly (SIGTERM: each flushes its spans), then
# shows the slowest and a failed trace and writes an HTML report.
#
# Settings (environment): BUILD (build), OUT (demo-out), REQUESTS (100), CONCURRENCY (4),
# DEMO_NGINX (1: nginx with ngx_http_dptrace_module in front of the gateway, when built;
# 0: the gateway is the edge).
# DEMO_COLLECT=1: the services send OTLP/HTTP to a `dptrace collect` started here, which
# writes $OUT/traces.jsonl (and prints each trace's waterfall as it completes).
# DEMO_CONFIG=file: the services read examples/mesh/otel-config.yaml (OTEL_CONFIG_FILE,
# needs libdptrace-config) instead of the OTEL_* variables; DEMO_CONFIG=PATH: that file.
# Export: OTLP JSON lines in $OUT/traces.jsonl; with OTEL_EXPORTER_OTLP_ENDPOINT or
# OTEL_TRACES_EXPORTER (e.g. zipkin) the spans go there too (see docs/mesh-demo.md).
set -eu

BUILD=${BUILD:-build}
OUT=${OUT:-demo-out}
REQUESTS=${REQUESTS:-100}
CONCURRENCY=${CONCURRENCY:-4}
MESH=$BUILD/examples/mesh
DPTRACE=$BUILD/tools/dptrace/dptrace

say() { printf '\n==> %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

for b in "$MESH/gateway" "$MESH/orders" "$MESH/inventory" "$MESH/payments" "$MESH/loadgen" "$DPTRACE"; do
    [ -x "$b" ] || die "$b is missing: build first (make build, or cmake --build $BUILD)"
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TRACES=$OUT/traces.jsonl
rm -f "$TRACES" "$OUT"/*.port "$OUT"/*.log "$OUT/report.html" "$OUT/inventory.db"

# Where the spans go. The file is always written too (unless DEMO_FILE=0), so the
# waterfalls below work whatever else is configured.
if [ "${DEMO_COLLECT:-0}" = 1 ]; then
    # dptrace collect writes the file; the services export OTLP/HTTP protobuf to it.
    rm -f "$OUT/collect.port"
    "$DPTRACE" collect --listen 127.0.0.1:0 --ready-file "$OUT/collect.port" -o "$TRACES" \
        --view --quiet-ms 500 --max-file-mb 0 > "$OUT/collect.view" 2> "$OUT/collect.log" &
    COLLECT_PID=$!
    i=0
    while [ ! -s "$OUT/collect.port" ]; do
        kill -0 $COLLECT_PID 2>/dev/null || { cat "$OUT/collect.log" >&2; die "dptrace collect exited"; }
        i=$((i + 1)); [ $i -le 200 ] || die "dptrace collect not listening after 10 s"
        sleep 0.05
    done
    export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$OUT/collect.port")"
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
    OTEL_TRACES_EXPORTER=otlp
    DEMO_FILE=0
    printf '  %-10s %s (pid %s)\n' collect "$OTEL_EXPORTER_OTLP_ENDPOINT" $COLLECT_PID
fi
if [ -n "${OTEL_TRACES_EXPORTER:-}" ]; then
    exporters=$OTEL_TRACES_EXPORTER
elif [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-}" ]; then
    exporters=otlp
else
    exporters=file
fi
case ",$exporters," in
*,file,*) ;;
*) [ "${DEMO_FILE:-1}" = 0 ] || exporters="$exporters,file" ;;
esac
export OTEL_TRACES_EXPORTER=$exporters
export DPTRACE_EXPORT_FILE=$TRACES
export OTEL_BSP_SCHEDULE_DELAY=${OTEL_BSP_SCHEDULE_DELAY:-1000}
unset OTEL_SERVICE_NAME # each service names itself
case "${DEMO_CONFIG:-}" in
"" | env) ;;
file) export OTEL_CONFIG_FILE="$(cd "$(dirname "$0")/.." && pwd)/examples/mesh/otel-config.yaml" ;;
*) export OTEL_CONFIG_FILE="$DEMO_CONFIG" ;;
esac

PIDS=""
cleanup() {
    for p in $PIDS ${COLLECT_PID:-}; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The Python service (examples/mesh/recommendations.py, called by orders) runs when the
# dptrace Python module is built; DEMO_PYTHON=0 leaves it out.
PYMOD=$BUILD/bindings/python
PYTHON=${PYTHON:-/usr/bin/python3}
RECO=""
if [ "${DEMO_PYTHON:-1}" = 1 ] && [ -x "$PYTHON" ] && ls "$PYMOD"/dptrace.*.so >/dev/null 2>&1; then
    RECO=recommendations
fi

# start NAME ARGS...: starts a service on a free port; sets PORT once it listens.
start() {
    name=$1; shift
    if [ -x "$MESH/$name" ]; then set -- "$MESH/$name" "$@"
    else set -- env PYTHONPATH="$PYMOD" "$PYTHON" "$(dirname "$0")/../examples/mesh/$name.py" "$@"; fi
    "$@" --port 0 --ready-file "$OUT/$name.port" >"$OUT/$name.log" 2>&1 &
    pid=$!
    PIDS="$PIDS $pid"
    eval "PID_$name=$pid"
    # The service writes its port once it is listening: poll for the file (10 s at most).
    i=0
    while [ ! -s "$OUT/$name.port" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$OUT/$name.log" >&2
            die "$name exited before it was ready"
        fi
        i=$((i + 1))
        [ $i -le 200 ] || die "$name not ready after 10 s (see $OUT/$name.log)"
        sleep 0.05
    done
    PORT=$(cat "$OUT/$name.port")
    printf '  %-10s 127.0.0.1:%s (pid %s)\n' "$name" "$PORT" "$pid"
}

# stop NAME: SIGTERM, then wait for the exit (the provider flushes on the way out).
stop() {
    name=$1
    eval "pid=\$PID_$name"
    kill -TERM "$pid" 2>/dev/null || true
    # A service that hangs on the way out is killed after 20 s (and the demo fails).
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 400 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || { cat "$OUT/$name.log" >&2; die "$name exited with status $rc"; }
    printf '  %-10s %s\n' "$name" "$(tail -n 1 "$OUT/$name.log")"
}

say "starting the mesh (spans to: ${OTEL_CONFIG_FILE:-$OTEL_TRACES_EXPORTER})"
if [ -n "$RECO" ]; then
    start recommendations; export MESH_RECOMMENDATIONS_URL="http://127.0.0.1:$PORT"
fi
start inventory --db "$OUT/inventory.db";  INVENTORY=$PORT
start payments;   PAYMENTS=$PORT
start orders --inventory "http://127.0.0.1:$INVENTORY" --payments "http://127.0.0.1:$PAYMENTS"
ORDERS=$PORT
start gateway --orders "http://127.0.0.1:$ORDERS"
GATEWAY=$PORT
# nginx in front (examples/mesh/edge.c): the traces then start at nginx.
ENTRY=$GATEWAY
EDGE=""
if [ "${DEMO_NGINX:-1}" = 1 ] && [ -x "$MESH/edge" ]; then
    start edge --gateway "http://127.0.0.1:$GATEWAY" --prefix "$OUT/nginx"
    ENTRY=$PORT
    EDGE=edge
fi

say "sending $REQUESTS checkout requests ($CONCURRENCY at a time)"
"$MESH/loadgen" --url "http://127.0.0.1:$ENTRY/checkout" --requests "$REQUESTS" \
    --concurrency "$CONCURRENCY" || die "some requests got no answer"

say "stopping the services"
[ -z "$RECO" ] || stop recommendations
for s in $EDGE gateway orders payments inventory; do stop "$s"; done
PIDS=""
if [ -n "${COLLECT_PID:-}" ]; then
    kill -TERM $COLLECT_PID; wait $COLLECT_PID || die "dptrace collect failed (see $OUT/collect.log)"
    COLLECT_PID=""
    printf '  %-10s %s\n' collect "$(tail -n 1 "$OUT/collect.log")"
    OTEL_TRACES_EXPORTER=file # the file is there: show it below
fi

case ",$OTEL_TRACES_EXPORTER," in
*,file,*) ;;
*) say "spans were sent to $OTEL_TRACES_EXPORTER only; nothing to show here"; exit 0 ;;
esac
[ -s "$TRACES" ] || die "no spans in $TRACES"

say "the slowest trace"
"$DPTRACE" view "$TRACES" --slowest 1 -q
say "a failed trace"
"$DPTRACE" view "$TRACES" --errors -q
say "HTML report"
"$DPTRACE" report "$TRACES" -o "$OUT/report.html" -q
echo
echo "Traces: $TRACES   Report: $OUT/report.html"
echo "More:   $DPTRACE view $TRACES"
