#!/usr/bin/env bash
# build.sh - builds ngx_http_dptrace_module.so against the distribution's nginx-dev tree,
# the way Debian builds its own dynamic nginx modules (debhelper's nginx_mod build
# system): nginx's configure with the exact flags of the packaged binary (conf_flags,
# which include --with-compat, so the module's signature matches), then `make modules`.
# The tree is copied into the build directory first, so the system's copy is only read.
# Called by src/nginx/CMakeLists.txt:
#   build.sh NGINX_DEV_DIR MODULE_SRC_DIR WORK_DIR INCLUDE_DIRS LIBS OUT_SO
set -euo pipefail
dev=$1 src=$2 work=$3 incs=$4 libs=$5 out=$6

mkdir -p "$work"
# (Re)configure when the tree, our addon config or the link line changed.
stamp="$work/configured.stamp"
want="$(cat "$src/config") | $incs | $libs | ${DPT_NGX_CFLAGS:-} | $(stat -c %Y "$dev/configure")"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f "$work/objs/Makefile" ]; then
    rm -rf "$work/ngx-src" "$work/objs"
    cp -r "$dev" "$work/ngx-src"
    (
        cd "$work/ngx-src"
        # shellcheck disable=SC1091
        . ./conf_flags # NGX_CONF_FLAGS: the packaged binary's configure arguments
        DPT_NGX_INCS="$incs" DPT_NGX_LIBS="$libs" DPT_NGX_CFLAGS="${DPT_NGX_CFLAGS:-}" ./configure \
            --with-cc-opt="-g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -D_FORTIFY_SOURCE=2" \
            --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC -Wl,--exclude-libs,ALL" \
            "${NGX_CONF_FLAGS[@]}" \
            --add-dynamic-module="$src" \
            --builddir="$work/objs" >"$work/configure.log" 2>&1
    ) || { tail -20 "$work/configure.log" >&2; exit 1; }
    echo "$want" >"$stamp"
fi
# The static library is not a dependency nginx's Makefile knows about: relink always.
rm -f "$work/objs/ngx_http_dptrace_module.so"
make -s -C "$work/ngx-src" -f "$work/objs/Makefile" modules >"$work/make.log" 2>&1 ||
    { cat "$work/make.log" >&2; exit 1; }
cp "$work/objs/ngx_http_dptrace_module.so" "$out"
