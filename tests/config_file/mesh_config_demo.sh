#!/bin/sh
# mesh_config_demo.sh - the mesh demo run twice, configured by the OTEL_* variables and by
# examples/mesh/otel-config.yaml (DEMO_CONFIG=file), must produce the same traces: the
# same spans (service, scope, name, kind, parent, status, attribute keys, events) in the
# same numbers (except the batches of orders' fulfilment worker, whose number depends on
# timing), and the same resource attribute keys per service. Values that differ from
# run to run by nature (ids, times, pids, order numbers) are not compared.
# Needs BUILD (the build directory) and SCRIPTS (scripts/); exit 77 when the demo is not
# built with libdptrace-config.
set -eu
: "${BUILD:?}" "${SCRIPTS:?}" "${WORK:?}"
for b in gateway orders inventory payments loadgen; do
    [ -x "$BUILD/examples/mesh/$b" ] || { echo "mesh demo not built: skipped"; exit 77; }
done
[ -f "$BUILD/libdptrace-config.a" ] || { echo "libdptrace-config not built: skipped"; exit 77; }
rm -rf "$WORK" && mkdir -p "$WORK"
unset OTEL_CONFIG_FILE OTEL_TRACES_EXPORTER OTEL_EXPORTER_OTLP_ENDPOINT OTEL_RESOURCE_ATTRIBUTES
for mode in env file; do
    DEMO_CONFIG=$mode DEMO_PYTHON=0 BUILD="$BUILD" OUT="$WORK/$mode" REQUESTS=20 CONCURRENCY=1 \
        sh "$SCRIPTS/demo.sh" >"$WORK/$mode.out" 2>&1 || { cat "$WORK/$mode.out"; echo "FAIL: demo ($mode)"; exit 1; }
done
# The file mode read the file: no service fell back to the environment.
if grep -l "OTEL_CONFIG_FILE" "$WORK"/file/*.log; then echo "FAIL: a service did not read the file"; exit 1; fi
python3 - "$WORK/env/traces.jsonl" "$WORK/file/traces.jsonl" <<'PY'
import collections, json, sys

def shape(path):
    spans, resources = {}, collections.defaultdict(set)
    for line in open(path):
        for rs in json.loads(line)["resourceSpans"]:
            attrs = {a["key"]: a["value"] for a in rs["resource"].get("attributes", [])}
            svc = attrs["service.name"]["stringValue"]
            resources[svc] |= set(attrs)
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    spans[s["spanId"]] = (svc, ss["scope"].get("name", ""), s)
    out = collections.Counter()
    for svc, scope, s in spans.values():
        p = spans.get(s.get("parentSpanId", ""))
        parent = (p[0], p[2]["name"]) if p else ("remote" if s.get("parentSpanId") else "root")
        out[(svc, scope, s["name"], s["kind"], parent, s.get("status", {}).get("code", 0),
             tuple(sorted(a["key"] for a in s.get("attributes", []))),
             tuple(e["name"] for e in s.get("events", [])))] += 1
    return out, {k: sorted(v) for k, v in resources.items()}

(a, ra), (b, rb) = shape(sys.argv[1]), shape(sys.argv[2])
ok = True
for k in sorted(set(a) | set(b), key=str):
    # orders' fulfilment worker takes queued jobs in batches whose number depends on timing:
    # for those root CONSUMER spans only their presence is compared, not how many.
    timing = k[3] == 5 and k[4] == "root"
    if (a[k] != b[k] and not timing) or (timing and (a[k] == 0) != (b[k] == 0)):
        ok = False
        print("span shape differs (env %d, file %d): %s" % (a[k], b[k], k))
if ra != rb:
    ok = False
    print("resource keys differ:\n env  %s\n file %s" % (ra, rb))
print("%d spans of %d kinds, %d services: %s" % (sum(a.values()), len(a), len(ra), "same" if ok else "DIFFERENT"))
sys.exit(0 if ok else 1)
PY
