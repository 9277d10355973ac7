#!/usr/bin/env bash
# test.sh - the README's test command (make test): installs what is missing, builds from
# scratch and runs every test phase: the whole suite, the suite under ASan+UBSan, the
# concurrency tests under TSan, short fuzz runs, the format check and the static analysers. Ends with one
# line "N passed, M failed" summing all phases.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
scripts/deps.sh test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
declare -a failures=()

# Runs ctest in build dir $1 with extra args; adds its counts to the totals.
run_ctest() {
  local dir=$1 name=$2; shift 2
  local log="$dir/ctest-$name.log"
  echo "== $name: ctest $*"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@") 2>&1 | tee "$log" | grep -E "^\s*[0-9]+/[0-9]+ Test|tests passed|\*\*\*|Failed|FAILED" || true
  local line total nfail
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "!! $name: ctest printed no summary"; failed=$((failed + 1)); failures+=("$name: no summary"); return
  fi
  nfail=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
  total=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
  passed=$((passed + total - nfail)); failed=$((failed + nfail))
  [ "$nfail" -eq 0 ] || failures+=("$name: $nfail failed")
  # Where they failed, on the console too (CI shows only the console): cmocka's failing
  # line and message, assertion errors of the Python and shell tests, the stress checks.
  if [ "$nfail" -ne 0 ]; then
    echo "!! $name: the failures' own words (whole output: $log)"
    grep -E "\[  ERROR   \]|\[   LINE   \]|: error: |Error:|AssertionError|FAIL|CHECK" "$log" | grep -vE "^\s*[0-9]+/[0-9]+ Test" | head -40
  fi
}

build() {
  local dir=$1; shift
  echo "== configure $dir $*"
  cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
}

phase() { # name, command...
  local name=$1; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

mkdir -p build
# 0. The house style: every C file as the committed .clang-format writes it.
phase "format (clang-format)" scripts/format.sh --check

# 1. The whole suite (unit, interop, conformance, CLI, examples).
if build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPT_WERROR=ON -DDPT_BUILD_TESTS=ON -DDPT_BUILD_EXAMPLES=ON; then
  run_ctest build all
else
  failed=$((failed + 1)); failures+=("build")
fi

# 2. The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on).
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DDPT_SANITIZE=address -DDPT_BUILD_EXAMPLES=OFF; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan asan -L unit
else
  failed=$((failed + 1)); failures+=("asan build")
fi

# 3. The concurrency tests (test_mt_*, label tsan) under ThreadSanitizer.
if build build-tsan -DCMAKE_BUILD_TYPE=Debug -DDPT_SANITIZE=thread -DDPT_BUILD_EXAMPLES=OFF; then
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_ctest build-tsan tsan -L tsan --timeout 600
else
  failed=$((failed + 1)); failures+=("tsan build")
fi

# 4. Every fuzz target for a short bounded time (longer runs: scripts/fuzz.sh SECONDS).
if [ -x scripts/fuzz.sh ]; then
  phase "fuzz (short runs)" scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
fi

# 5. Static analysis and memcheck, when their scripts exist.
if [ -x scripts/analyze.sh ]; then phase "static analysis" scripts/analyze.sh; fi
if [ -x scripts/memcheck.sh ]; then phase "valgrind memcheck" scripts/memcheck.sh; fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "failures:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
