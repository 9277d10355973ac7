#!/usr/bin/env bash
# demo_without_test_packages.sh SRC_DIR WORK_DIR - `make demo` on a machine that has only
# the demo's packages: in a private mount namespace, every file of the test-only packages
# (cmocka, clang, node, valgrind, chromium, the analysers) is hidden behind an empty file,
# then the demo is configured, built from scratch and run exactly as the Makefile does.
# A configure step that still needs a test package fails here. Needs root (unshare -m);
# skipped (exit 77) where that is not allowed.
set -euo pipefail
src=$1; work=$2
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
    echo "skip: needs root and unshare -m"; exit 77
fi
test_only="libcmocka-dev libcmocka0 clang clang-14 libclang-rt-14-dev nodejs npm chromium valgrind cppcheck clang-tidy clang-tidy-14"
rm -rf "$work"; mkdir -p "$work"
hidden=$work/hidden.txt
for p in $test_only; do
    dpkg-query -L "$p" 2>/dev/null || true
done | while read -r f; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then echo "$f"; fi
done >"$hidden"
# node and npm may come from outside Debian's packages: hide what PATH finds too.
for b in node npm npx clang valgrind chromium; do
    p=$(command -v "$b" 2>/dev/null || true)
    if [ -n "$p" ]; then readlink -f "$p" >>"$hidden"; fi
done
echo "hiding $(wc -l <"$hidden") files of the test-only packages"
unshare -m bash -euo pipefail -c '
    work=$1; src=$2
    empty=$work/empty; : >"$empty"
    while read -r f; do mount --bind "$empty" "$f" 2>/dev/null || true; done <"$work/hidden.txt"
    ! command -v node >/dev/null 2>&1 || [ ! -s "$(readlink -f "$(command -v node)")" ]
    [ ! -s /usr/include/cmocka.h ]
    cd "$src"
    make build BUILD="$work/build" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
    BUILD="$work/build" OUT="$work/demo-out" REQUESTS=20 scripts/demo.sh >"$work/demo.log" 2>&1 ||
        { tail -40 "$work/demo.log"; exit 1; }
    test -s "$work/demo-out/traces.jsonl"
    test -s "$work/demo-out/report.html"
' _ "$work" "$src"
echo "make demo without the test packages: configured, built and ran (traces and report written)"
