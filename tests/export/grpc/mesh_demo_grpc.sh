#!/usr/bin/env bash
# mesh_demo_grpc.sh SRC_DIR BUILD_DIR WORK_DIR - the whole mesh demo (nginx, the C services
# and the Python one) exporting with OTEL_EXPORTER_OTLP_PROTOCOL=grpc to a real gRPC
# server (server.js, @grpc/grpc-js, decoding with the OpenTelemetry JS definitions), with
# the file exporter beside it: every span the services wrote to the file must have reached
# the gRPC server, none twice. Issue "OpenTelemetry parity": "A gRPC server written with
# @grpc/grpc-js receives the mesh demo's traces in full." Exit 77 without node.
set -euo pipefail
src=$1; build=$2; work=$3
here=$src/tests/export/grpc
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "no node: skipped"; exit 77; }
if [ ! -f "$here/node_modules/@grpc/grpc-js/package.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
fi
rm -rf "$work"; mkdir -p "$work"
mkfifo "$work/cmd"
node "$here/server.js" <"$work/cmd" >"$work/server.out" 2>"$work/server.err" &
srv=$!
exec 3>"$work/cmd" # keeps the server's stdin open
trap 'echo quit >&3 2>/dev/null || true; kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^PORT ' "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/^PORT //p' "$work/server.out")
[ -n "$port" ] || { cat "$work/server.err"; echo "gRPC server did not start"; exit 1; }

(cd "$src" && BUILD="$build" OUT="$work/demo" REQUESTS=40 OTEL_TRACES_EXPORTER=otlp \
    OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" \
    scripts/demo.sh >"$work/demo.log" 2>&1) || { tail -30 "$work/demo.log"; exit 1; }

# Spans per service in the file (OTLP JSON lines: resourceSpans[].scopeSpans[].spans[]).
count_py='
import json, sys, collections
c = collections.Counter()
for line in open(sys.argv[1]):
    for rs in json.loads(line)["resourceSpans"]:
        svc = [a["value"].get("stringValue") for a in rs["resource"]["attributes"] if a["key"] == "service.name"][0]
        c[svc] += sum(len(ss.get("spans", [])) for ss in rs["scopeSpans"])
print(sum(c.values()), " ".join("%s=%d" % kv for kv in sorted(c.items())))
'
read -r in_file per_service < <(python3 -c "$count_py" "$work/demo/traces.jsonl")
echo stats >&3
for _ in $(seq 50); do grep -q '"spans_received"' "$work/server.out" && break; sleep 0.1; done
stats=$(grep '"spans_received"' "$work/server.out" | tail -1)
received=$(sed -E 's/.*"spans_received":([0-9]+).*/\1/' <<<"$stats")
requests=$(sed -E 's/.*"requests":([0-9]+).*/\1/' <<<"$stats")
echo "mesh demo over OTLP/gRPC: $in_file spans in the file ($per_service), $received received by the gRPC server in $requests requests"
[ "$in_file" -gt 100 ] || { echo "too few spans in the file"; exit 1; }
[ "$received" -eq "$in_file" ] || { echo "the gRPC server received $received spans, the file has $in_file"; exit 1; }
for svc in gateway orders inventory payments; do
    grep -q "$svc=" <<<"$per_service" || { echo "no span of $svc"; exit 1; }
done
