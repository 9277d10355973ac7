#!/bin/sh
# fuzz.sh - builds the libFuzzer targets (fuzz/) in build-fuzz and runs each one for N
# seconds (first argument, default 20), one after the other; exits non-zero on a finding.
# Usage: scripts/fuzz.sh [seconds] [target...]   (targets: config config_file otlp_file otlp_decode http_answer instr encode traceparent tracestate baggage
# b3_single b3_multi jaeger ottrace redact argv_redact). New inputs go to build-fuzz/corpus/<target>, the committed
# seeds in fuzz/corpus/<target> are only read.
set -eu
secs=${1:-20}
[ $# -gt 0 ] && shift
targets=${*:-"traceparent tracestate baggage b3_single b3_multi jaeger ottrace redact argv_redact config otlp_file otlp_decode config_file http_answer instr encode"}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
CC=${CC:-clang} cmake -S "$root" -B "$build" -DDPT_FUZZ=ON -DDPT_BUILD_TESTS=OFF \
  -DDPT_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j2 --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done) >/dev/null
status=0
for t in $targets; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  echo "fuzz_$t: ${secs}s"
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=16384 -timeout=10 \
      -artifact_prefix="$build/artifacts/$t/" -print_final_stats=1 \
      "$build/corpus/$t" "$root/fuzz/corpus/$t" >"$build/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t: FAILED (see $build/fuzz_$t.log and $build/artifacts/$t/)"
    tail -40 "$build/fuzz_$t.log"
    status=1
  else
    grep -E 'stat::number_of_executed_units' "$build/fuzz_$t.log" | sed "s/^/fuzz_$t: /"
  fi
done
exit $status
