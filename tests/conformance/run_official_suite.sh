#!/bin/sh
# run_official_suite.sh - runs the official W3C Trace Context test suite (w3c/trace-context,
# test/test.py) against examples/w3c-service, when a checkout of that repository is present.
# Nothing is fetched here. Get a checkout once with
#   git clone https://github.com/w3c/trace-context tests/conformance/w3c-trace-context
# (or point W3C_TRACE_CONTEXT_DIR at one); docs/propagation.md names the commit last run.
# Usage: run_official_suite.sh <path to w3c-service>
# Exit: 0 passed, 1 failed, 77 skipped (no checkout, no python3 with aiohttp, no service).
set -eu
service=$1
here=$(cd "$(dirname "$0")" && pwd)
suite=${W3C_TRACE_CONTEXT_DIR:-$here/w3c-trace-context}
if [ ! -f "$suite/test/test.py" ]; then
  echo "SKIP: no checkout of w3c/trace-context at $suite (see the comment at the top of $0)"
  exit 77
fi
# Debian's python3 (where python3-aiohttp installs), else whatever python3 has aiohttp.
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import aiohttp' >/dev/null 2>&1; then py=$p; break; fi
done
if [ -z "$py" ]; then
  echo "SKIP: no python3 with aiohttp (apt-get install python3-aiohttp)"
  exit 77
fi
out=$(mktemp)
"$service" 0 >"$out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
endpoint=""
i=0
while [ $i -lt 100 ] && [ -z "$endpoint" ]; do
  endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out")
  [ -n "$endpoint" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$endpoint" ]; then
  echo "SKIP: the service did not start: $(cat "$out")"
  exit 77
fi
commit=$(git -C "$suite" rev-parse HEAD 2>/dev/null || echo unknown)
echo "# w3c/trace-context at $commit, service $endpoint"
"$py" "$here/official_suite.py" "$suite" "$endpoint"
