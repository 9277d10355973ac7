#!/bin/sh
# run.sh - the OTLP interop test: installs the pinned OpenTelemetry JavaScript packages
# (npm ci, from the committed lock file) when needed, writes dptrace's payloads with
# gen_payloads, and decodes them with check.js. Exit 77 (skipped) only when node or npm
# is missing. Usage: run.sh <gen_payloads binary> <work dir>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gen=$1
work=$2
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node or npm not found: OTLP interop test skipped"
  exit 77
fi
# npm ci is what the lock file is for: the exact versions it records, nothing newer.
if [ ! -f "$here/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts)
fi
mkdir -p "$work"
"$gen" "$work"
exec node "$here/check.js" "$work"
