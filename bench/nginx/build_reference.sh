#!/usr/bin/env bash
# build_reference.sh - builds the issue's reference for bench_nginx.sh's ref100
# configuration: nginx's own OpenTelemetry module (nginx-otel, C++, OTLP/gRPC), for the
# distribution's nginx, from source trees you provide (none of its code is in this
# project). Versions measured (docs/nginx.md, "The reference module"): nginx-otel 22d6380,
# opentelemetry-cpp v1.11.0 (the commit nginx-otel pins), opentelemetry-proto v1.0.0 (what
# that opentelemetry-cpp declares), the distribution's gRPC and protobuf.
# Usage: bench/nginx/build_reference.sh NGINX_OTEL_DIR OTEL_CPP_DIR OTEL_PROTO_DIR OUT_DIR
#   then: REF_MODULE=OUT_DIR/ngx_otel_module.so CONFIGS="off on100 ref100" bench/nginx/bench_nginx.sh
set -euo pipefail
[ $# -eq 4 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
abs() { (cd "$1" && pwd); }
SRC=$(abs "$1")
CPP=$(abs "$2")
PROTO=$(abs "$3")
mkdir -p "$4"
OUT=$(abs "$4")
if ! dpkg -s libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler g++ nginx-dev >/dev/null 2>&1; then
    apt-get install -y libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler g++ nginx-dev
fi

# nginx's generated headers (objs/ngx_auto_config.h...) from the distribution's source with
# the packaged binary's configure flags, which include --with-compat: the module's
# signature then matches the binary (as src/nginx/build.sh does for dptrace's module).
rm -rf "$OUT/nginx-src" && cp -r /usr/share/nginx/src "$OUT/nginx-src"
(cd "$OUT/nginx-src" && . ./conf_flags && ./configure --with-cc-opt="-g -O2 -fPIC" \
    --with-ld-opt="-fPIC" "${NGX_CONF_FLAGS[@]}") >"$OUT/nginx-configure.log" 2>&1

# nginx-otel asks for protobuf's CMake package; the distribution ships only the module
# finder, so a package file that defers to it.
mkdir -p "$OUT/cmake"
cat >"$OUT/cmake/protobuf-config.cmake" <<'EOF'
find_package(Protobuf MODULE REQUIRED)
set(protobuf_FOUND TRUE)
set(protobuf_VERSION ${Protobuf_VERSION})
EOF

rm -rf "$OUT/build"
cmake -S "$SRC" -B "$OUT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DNGX_OTEL_NGINX_BUILD_DIR="$OUT/nginx-src/objs" -DNGX_OTEL_GRPC=package \
    -Dprotobuf_DIR="$OUT/cmake" -DFETCHCONTENT_SOURCE_DIR_OTELCPP="$CPP" \
    -DNGX_OTEL_PROTO_DIR="$PROTO" >"$OUT/cmake.log" 2>&1
make -C "$OUT/build" -j2 >"$OUT/make.log" 2>&1
install -m 0755 "$OUT/build/ngx_otel_module.so" "$OUT/ngx_otel_module.so"
echo "built $OUT/ngx_otel_module.so"
