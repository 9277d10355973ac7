#!/bin/sh
# run.sh - ctest entry of the differential propagation test: installs the pinned
# OpenTelemetry JS packages (npm ci, once) and compares them with prop_driver.
# Exits 77 (skipped) only when node or npm is missing.
set -eu
driver=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node/npm not found"
  exit 77
fi
cd "$here"
if [ ! -f node_modules/@opentelemetry/core/package.json ] ||
   [ ! -f node_modules/@opentelemetry/propagator-jaeger/package.json ] ||
   [ ! -f node_modules/@opentelemetry/propagator-ot-trace/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node run.js "$driver"
