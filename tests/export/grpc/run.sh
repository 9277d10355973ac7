#!/bin/sh
# run.sh - runs test_export_grpc against the gRPC test server (server.js): installs the
# server's pinned packages (npm ci, from the committed lock file) when needed. Exit 77
# (skipped) only when node or npm is missing. Usage: run.sh <test_export_grpc binary>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node or npm not found: OTLP/gRPC tests skipped"
  exit 77
fi
if [ ! -f "$here/node_modules/@grpc/grpc-js/package.json" ] ||
   [ ! -f "$here/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts)
fi
exec "$1" "$here/server.js"
