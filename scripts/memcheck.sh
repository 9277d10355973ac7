#!/usr/bin/env bash
# memcheck.sh - runs the examples under Valgrind memcheck: quickstart, one short round of
# the mesh demo (four services under Valgrind, the load generator outside), the W3C test
# service and the libuv async-server, each driven over loopback and stopped cleanly.
# Passes when every run has zero errors and zero definite or indirect leaks (still-reachable
# memory, e.g. libcurl's global state, is not a leak). Logs: build-memcheck/*.vg.
# Uses the binaries of BUILD (default: build); examples that were not built are skipped.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
OUT=${MEMCHECK_OUT:-$root/build-memcheck}
command -v valgrind >/dev/null || { echo "memcheck: valgrind is needed (scripts/deps.sh test)"; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
export no_proxy='*' NO_PROXY='*' DPTRACE_LOG_LEVEL=${DPTRACE_LOG_LEVEL:-error}

VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --num-callers=30 --child-silent-after-fork=yes)
passed=0; failed=0; skipped=0
declare -a results=()

# Reads a Valgrind log: prints "N errors" and fails unless it reports zero errors.
vg_clean() {
  local log=$1 n
  n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
  [ -n "$n" ] || { echo "no summary"; return 1; }
  echo "$n errors"
  [ "$n" -eq 0 ]
}

record() { # name status detail
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); results+=("ok    $1: $3")
  else failed=$((failed + 1)); results+=("FAIL  $1: $3"); fi
}

# Waits (up to $2 s) until file $1 is non-empty or pid $3 died.
wait_file() {
  local i=0
  while [ ! -s "$1" ]; do
    kill -0 "$3" 2>/dev/null || return 1
    i=$((i + 1)); [ $i -le $(($2 * 10)) ] || return 1
    sleep 0.1
  done
}

# Stops pid $1 with SIGTERM and returns its exit status (killed after 60 s: status 124).
stop_pid() {
  local pid=$1 i=0 rc=0
  kill -TERM "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; return 124; fi
  wait "$pid" || rc=$?
  return $rc
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- quickstart ----------------------------------------------------------------------------
if [ -x "$BUILD/examples/quickstart/quickstart" ]; then
  log=$OUT/quickstart.vg
  (cd "$OUT" && "${VG[@]}" --log-file="$log" "$root/$BUILD/examples/quickstart/quickstart" >"$OUT/quickstart.out" 2>&1)
  rc=$?; detail=$(vg_clean "$log"); st=$?
  [ $rc -eq 0 ] || detail="$detail, exit $rc"
  record quickstart $((rc | st)) "$detail"
else
  skipped=$((skipped + 1)); results+=("skip  quickstart: not built")
fi

# ---- the mesh demo: one short round ---------------------------------------------------------
MESH=$BUILD/examples/mesh
if [ -x "$MESH/gateway" ] && [ -x "$MESH/loadgen" ]; then
  export OTEL_TRACES_EXPORTER=file DPTRACE_EXPORT_FILE=$OUT/mesh-traces.jsonl OTEL_BSP_SCHEDULE_DELAY=200
  declare -A pid=()
  ok=1
  start() { # name args...
    local name=$1; shift
    "${VG[@]}" --log-file="$OUT/mesh-$name.vg" "$MESH/$name" --port 0 \
      --ready-file "$OUT/$name.port" "$@" >"$OUT/mesh-$name.out" 2>&1 &
    pid[$name]=$!
    wait_file "$OUT/$name.port" 120 "${pid[$name]}" || { echo "memcheck: $name did not start"; ok=0; return 1; }
    PORT=$(cat "$OUT/$name.port")
  }
  start inventory && INVENTORY=$PORT &&
  start payments && PAYMENTS=$PORT &&
  start orders --inventory "http://127.0.0.1:$INVENTORY" --payments "http://127.0.0.1:$PAYMENTS" &&
  ORDERS=$PORT && start gateway --orders "http://127.0.0.1:$ORDERS" && GATEWAY=$PORT
  if [ $ok -eq 1 ]; then
    timeout 120 "$MESH/loadgen" --url "http://127.0.0.1:$GATEWAY/checkout" --requests 20 \
      --concurrency 2 >"$OUT/mesh-loadgen.out" 2>&1 || { echo "memcheck: loadgen failed"; ok=0; }
  fi
  for name in gateway orders payments inventory; do
    [ -n "${pid[$name]:-}" ] || continue
    stop_pid "${pid[$name]}"; rc=$?
    detail=$(vg_clean "$OUT/mesh-$name.vg"); st=$?
    [ $rc -eq 0 ] || detail="$detail, exit $rc"
    [ $ok -eq 1 ] || { detail="$detail, the round did not complete"; st=1; }
    record "mesh $name" $((rc | st)) "$detail"
  done
  unset OTEL_TRACES_EXPORTER DPTRACE_EXPORT_FILE OTEL_BSP_SCHEDULE_DELAY
else
  skipped=$((skipped + 1)); results+=("skip  mesh: not built")
fi

# ---- the W3C test service: a few requests ----------------------------------------------------
W3C=$BUILD/examples/w3c-service/w3c-service
if [ -x "$W3C" ] && command -v curl >/dev/null; then
  port=$(free_port)
  "${VG[@]}" --log-file="$OUT/w3c-service.vg" "$W3C" "$port" >"$OUT/w3c-service.out" 2>&1 &
  p=$!
  ok=0
  for _ in $(seq 1 600); do
    curl -s -o /dev/null -X POST -d '[]' "http://127.0.0.1:$port/" && { ok=1; break; }
    kill -0 $p 2>/dev/null || break
    sleep 0.1
  done
  if [ $ok -eq 1 ]; then
    tp='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    # a continued trace, an invalid traceparent, a tracestate, and a call to itself
    curl -s -f -o /dev/null -X POST -H "traceparent: $tp" -H 'tracestate: a=1,b=2' -d '[]' "http://127.0.0.1:$port/" || ok=0
    curl -s -f -o /dev/null -X POST -H 'traceparent: 00-zz-bad' -d '[]' "http://127.0.0.1:$port/" || ok=0
    curl -s -f -o /dev/null -X POST -H "traceparent: $tp" \
      -d "[{\"url\": \"http://127.0.0.1:$port/\", \"arguments\": []}]" "http://127.0.0.1:$port/" || ok=0
  fi
  stop_pid $p; rc=$?
  detail=$(vg_clean "$OUT/w3c-service.vg"); st=$?
  [ $rc -eq 0 ] || detail="$detail, exit $rc"
  [ $ok -eq 1 ] || { detail="$detail, requests failed"; st=1; }
  record w3c-service $((rc | st)) "$detail"
else
  skipped=$((skipped + 1)); results+=("skip  w3c-service: not built (or no curl)")
fi

# ---- the libuv async server: its own client, 5 concurrent requests ----------------------------
ASYNC=$BUILD/examples/async-server/async-server
if [ -x "$ASYNC" ]; then
  timeout 180 "${VG[@]}" --log-file="$OUT/async-server.vg" "$ASYNC" --demo 5 --max-delay 20 \
    --out "$OUT/async-traces.jsonl" >"$OUT/async-server.out" 2>&1
  rc=$?; detail=$(vg_clean "$OUT/async-server.vg"); st=$?
  [ $rc -eq 0 ] || detail="$detail, exit $rc"
  record async-server $((rc | st)) "$detail"
else
  skipped=$((skipped + 1)); results+=("skip  async-server: not built")
fi

printf '%s\n' "${results[@]}"
echo "memcheck: $passed clean, $failed failed, $skipped skipped (logs: ${OUT#"$root"/})"
[ $failed -eq 0 ]
