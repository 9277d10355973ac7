#!/bin/sh
# demo_test.sh - the mesh demo with nginx in front (make demo's default when the module is
# built): runs scripts/demo.sh with DEMO_NGINX=1 and checks the traces (demo_check).
set -eu
: "${BUILD:?}" "${SCRIPTS:?}" "${WORK:?}" "${CHECK:?}"
rm -rf "$WORK" && mkdir -p "$WORK"
env BUILD="$BUILD" OUT="$WORK/demo-out" REQUESTS=20 CONCURRENCY=4 DEMO_NGINX=1 \
    sh "$SCRIPTS/demo.sh" >"$WORK/out.txt" 2>"$WORK/err.txt" || { cat "$WORK/out.txt" "$WORK/err.txt"; exit 1; }
grep -q "requests 20/20  ok 18  failed 2" "$WORK/err.txt" || { cat "$WORK/err.txt"; exit 1; }
grep -q "GET /checkout (nginx)" "$WORK/out.txt" || { echo "the slowest trace does not start at nginx"; exit 1; }
"$CHECK" "$WORK/demo-out/traces.jsonl" "$WORK/demo-out/nginx/logs/access.log" 20
