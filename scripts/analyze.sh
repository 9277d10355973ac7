#!/usr/bin/env bash
# analyze.sh - static analysis: cppcheck and clang-tidy over src/ and tools/, with the
# committed configuration (.clang-tidy, .cppcheck-suppressions) and the compile commands
# of a build dir of its own (build-analyze). Prints one line per analyser and exits
# non-zero when either reports a finding. Logs: build-analyze/{clang-tidy,cppcheck}.log.
# Usage: scripts/analyze.sh [path-prefix...]   (default: src tools)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
JOBS=${JOBS:-2}
build="$root/build-analyze"
dirs=${*:-"src tools"}
TIDY=${CLANG_TIDY:-$(command -v clang-tidy-14 || command -v clang-tidy || true)}
CPPCHECK=${CPPCHECK:-$(command -v cppcheck || true)}
if [ -z "$TIDY" ] || [ -z "$CPPCHECK" ]; then
  echo "analyze: clang-tidy and cppcheck are needed (scripts/deps.sh test installs them)"
  exit 2
fi

# clang-tidy parses with clang, so the compile commands come from a clang build: gcc-only
# flags in them would be reported as clang-diagnostic errors.
mkdir -p "$build"
CC=${ANALYZE_CC:-clang} cmake -S "$root" -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_BUILD_TYPE=Debug -DDPT_BUILD_TESTS=OFF -DDPT_BUILD_EXAMPLES=ON >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; echo "analyze: configure failed"; exit 2; }
# Building makes the generated sources (the report template) that tools/ compiles.
cmake --build "$build" -j"$JOBS" >"$build/build.log" 2>&1 ||
  { tail -30 "$build/build.log"; echo "analyze: build failed"; exit 2; }

# The translation units under the chosen folders (the static and shared libraries compile
# the same files twice: keep one).
files=()
for d in $dirs; do
  while IFS= read -r f; do files+=("$f"); done < <(
    sed -n 's/^ *"file": "\(.*\)",\{0,1\}$/\1/p' "$build/compile_commands.json" |
      grep "^$root/$d/" | sort -u)
done
if [ ${#files[@]} -eq 0 ]; then echo "analyze: no source files under: $dirs"; exit 2; fi

# ---- clang-tidy ---------------------------------------------------------------------------
tidy_log="$build/clang-tidy.log"
printf '%s\n' "${files[@]}" |
  xargs -P "$JOBS" -n 4 "$TIDY" -p "$build" --quiet >"$tidy_log" 2>"$build/clang-tidy.stderr"
# One finding per "file:line:col: warning|error: ... [check]" line (notes are context).
tidy_findings=$(grep -cE '^/.*:[0-9]+:[0-9]+: (warning|error): ' "$tidy_log")
if [ "$tidy_findings" -gt 0 ]; then
  grep -E '^/.*:[0-9]+:[0-9]+: (warning|error): ' "$tidy_log" | sed "s|^$root/||"
fi

# ---- cppcheck -----------------------------------------------------------------------------
cpp_log="$build/cppcheck.log"
filters=()
for d in $dirs; do filters+=("--file-filter=$root/$d/*"); done
"$CPPCHECK" --project="$build/compile_commands.json" "${filters[@]}" -j "$JOBS" --quiet \
  --std=c11 --library=posix --enable=warning,performance,portability --inline-suppr \
  --suppressions-list="$root/.cppcheck-suppressions" --error-exitcode=0 \
  --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
  -i "$build" >"$cpp_log" 2>&1
cpp_findings=$(grep -cE '^/.*:[0-9]+:[0-9]+: [a-z]+: .*\[[A-Za-z0-9_]+\]$' "$cpp_log")
if [ "$cpp_findings" -gt 0 ]; then
  grep -E '^/.*:[0-9]+:[0-9]+: [a-z]+: ' "$cpp_log" | sed "s|^$root/||"
fi

echo "analyze: ${#files[@]} files under $dirs"
echo "analyze: clang-tidy $("$TIDY" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p'): $tidy_findings findings (log: ${tidy_log#"$root"/})"
echo "analyze: cppcheck $("$CPPCHECK" --version | sed 's/Cppcheck //'): $cpp_findings findings (log: ${cpp_log#"$root"/})"
[ "$tidy_findings" -eq 0 ] && [ "$cpp_findings" -eq 0 ]
