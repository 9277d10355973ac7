#!/usr/bin/env bash
# install_test.sh BUILD_DIR SRC_DIR - cmake --install into a temporary prefix, then build
# consumer.c against it with pkg-config (shared and static) and with find_package().
set -euo pipefail
build=$1; here=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/dptrace.h"
test -f "$tmp/prefix/include/dptrace/propagation.h"
libdir=$(ls -d "$tmp"/prefix/lib* | head -1)
test -f "$libdir/libdptrace.a"
ls "$libdir"/libdptrace.so* >/dev/null
test -f "$libdir/pkgconfig/dptrace.pc"
test -f "$libdir/cmake/dptrace/dptraceConfig.cmake"

# 1. pkg-config, shared library
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Werror "$here/consumer.c" $(pkg-config --cflags --libs dptrace) -o "$tmp/consumer_pc"
LD_LIBRARY_PATH="$libdir" "$tmp/consumer_pc" | grep -qx ok
# 1b. pkg-config, static library
cc -std=c11 -Wall -Werror "$here/consumer.c" $(pkg-config --cflags dptrace) "$libdir/libdptrace.a" \
  $(pkg-config --static --libs-only-l dptrace | sed 's/-ldptrace//') -lpthread -o "$tmp/consumer_static"
"$tmp/consumer_static" | grep -qx ok

# 2. CMake package
mkdir -p "$tmp/proj"
cp "$here/consumer.c" "$tmp/proj/"
cat > "$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(dptrace 0.1 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE dptrace::dptrace)
add_executable(consumer_static consumer.c)
target_link_libraries(consumer_static PRIVATE dptrace::dptrace_static)
if(TARGET dptrace::dptrace-http)
  add_executable(consumer_http consumer.c)
  target_link_libraries(consumer_http PRIVATE dptrace::dptrace-http)
endif()
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/proj/build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/proj/build/consumer" | grep -qx ok
"$tmp/proj/build/consumer_static" | grep -qx ok
echo "install test: pkg-config (shared, static) and find_package (shared, static) all ok"
