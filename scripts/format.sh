#!/bin/sh
# format.sh - the committed .clang-format over every C and C++ file git tracks.
# Usage: scripts/format.sh          rewrites the files in place
#        scripts/format.sh --check  changes nothing; lists each file that deviates and
#                                   exits 1 if any does (a phase of make test)
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' '*.cc' '*.cpp')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in $files; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      n=$(clang-format --dry-run "$f" 2>&1 | grep -c "warning:" || true)
      echo "format: $f: $n deviations (scripts/format.sh rewrites it)"
      bad=$((bad + 1))
    fi
  done
  echo "format: $(echo "$files" | wc -l) files, $bad deviating ($(clang-format --version))"
  [ "$bad" -eq 0 ]
else
  clang-format -i $files
fi
