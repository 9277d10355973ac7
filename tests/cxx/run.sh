#!/bin/sh
# run.sh SRC_DIR LIB - compiles cxx_api.cc as C++20 with every C++ compiler present (g++,
# clang++), -Wall -Wextra -pedantic -Werror, links it with the static library LIB and runs
# it: the public headers must be usable from C++ as docs/getting-started.md says.
set -eu
src=$1; lib=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0
for cxx in g++ clang++; do
    command -v "$cxx" >/dev/null 2>&1 || continue
    "$cxx" -std=c++20 -Wall -Wextra -pedantic -Werror -I"$src/include" "$src/tests/cxx/cxx_api.cc" \
        "$lib" -lpthread -o "$tmp/cxx_api_$cxx"
    out=$("$tmp/cxx_api_$cxx")
    [ "$out" = ok ] || { echo "$cxx: $out"; exit 1; }
    echo "$cxx: ok"
    n=$((n + 1))
done
[ $n -gt 0 ] || { echo "no C++ compiler"; exit 77; }
