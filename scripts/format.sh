#!/bin/sh
# format.sh - the committed .clang-format over every C and C++ file git tracks (outside a
# git checkout: every one under the project's source folders).
# Usage: scripts/format.sh          rewrites the files in place
#        scripts/format.sh --check  changes nothing; lists each file that deviates and
#                                   exits 1 if any does (a phase of make test)
set -eu
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files '*.c' '*.h' '*.cc' '*.cpp')
else # an unpacked archive: the project's own folders
  files=$(find bench bindings examples fuzz include src tests tools -type f \
    \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' \) -not -path '*/node_modules/*' | sort)
fi
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
