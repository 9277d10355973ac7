#!/usr/bin/env bash
# symbols_test.sh SRC_DIR BUILD_DIR - the library boundary and the naming rule, checked on
# the built libraries (issue "Shape"; conventions in include/dptrace.h's preamble):
#  1. no global symbol of libdptrace.a / libdptrace-http.a outside the dpt_ / dpt__ prefixes;
#  2. libdptrace.so exports only public functions declared in include/ and the documented
#     private subset marked DPT__SHARED in the private headers (src/common/common.h,
#     src/config/config.h, src/core/export_async.h);
#     libdptrace-http.so exports only public functions;
#  3. every public function is named dpt_<noun>_..., with <noun> one of the documented
#     nouns (types or modules), and every *_new constructor returns a pointer.
set -euo pipefail
src=$1; build=$2
fail=0
err() { echo "FAIL: $*"; fail=1; }

headers() { cat "$src"/include/dptrace.h "$src"/include/dptrace/*.h | tr '\n' ' '; }
public=$(headers | grep -oE 'DPT_EXTERN [^;(]*\(' | grep -oE 'dpt_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u)
public_data=$(headers | grep -oE 'DPT_EXTERN [^;(]*;' | grep -oE 'dpt_[a-z0-9_]+;$' | tr -d ';' | sort -u)
shared=$(cat "$src"/src/*/*.h | tr '\n' ' ' |
    grep -oE 'DPT__SHARED [^;(]*[ *](dpt__[a-z0-9_]+)(\(|\[| *;)' | grep -oE 'dpt__[a-z0-9_]+' | sort -u)
[ -n "$public" ] || err "no public declarations found"

# 1. prefixes in the static libraries
for a in "$build"/libdptrace.a "$build"/libdptrace-http.a; do
    [ -f "$a" ] || continue
    bad=$(nm -g --defined-only "$a" | awk 'NF==3 {print $3}' | grep -vE '^dpt__?[a-z0-9_]+$' || true)
    [ -z "$bad" ] || err "$(basename "$a") defines global symbols outside dpt_/dpt__: $bad"
done

# 2. exports of the shared libraries
so_exports() { nm -D --defined-only "$1" | awk '$2 ~ /[TDBR]/ {print $3}' | sort -u; }
for s in $(so_exports "$build"/libdptrace.so); do
    if ! grep -qx "$s" <<<"$public" && ! grep -qx "$s" <<<"$public_data" && ! grep -qx "$s" <<<"$shared"; then
        err "libdptrace.so exports $s, which is neither public nor in the documented DPT__SHARED subset"
    fi
done
if [ -f "$build"/libdptrace-http.so ]; then
    for s in $(so_exports "$build"/libdptrace-http.so); do
        grep -qx "$s" <<<"$public" || grep -qx "$s" <<<"$public_data" || err "libdptrace-http.so exports non-public $s"
    done
fi

# 3. the naming rule
nouns="b3 baggage batch cont context curl encoder env err exporter headers http jaeger log otlp
processor propagation propagator provider redaction sampler scope span status store task trace
traceparent tracer tracestate uv w3c zipkin instr sqlite mhd config resource id logctx extraction
composable"
exceptions="dpt_strerror dpt_free" # named after strerror(3) and free(3), by design
for f in $public $public_data; do
    grep -qw "$f" <<<"$exceptions" && continue
    noun=$(sed -E 's/^dpt_([a-z0-9]+)_.*/\1/' <<<"$f")
    grep -qw "$noun" <<<"$nouns" || err "$f: does not start with a documented noun (dpt_<noun>_<verb>)"
done
while read -r decl; do
    name=$(grep -oE 'dpt_[a-z0-9_]+_new *\(' <<<"$decl" | tr -d ' (')
    grep -qE '\*[[:space:]]*dpt_[a-z0-9_]+_new *\($' <<<"$decl" || err "$name: a constructor returns the object (or NULL)"
done < <(cat "$src"/include/dptrace.h "$src"/include/dptrace/*.h | tr '\n' ' ' | grep -oE 'DPT_EXTERN [^;(]*_new *\(')

n_pub=$(wc -l <<<"$public")
n_sh=$(wc -l <<<"$shared")
[ $fail -eq 0 ] && echo "symbols: $n_pub public functions named by the rule; exports limited to them and $n_sh documented private helpers"
exit $fail
