/* fuzz_jaeger.c - libFuzzer target: the Jaeger parser (uber-trace-id) directly, and the
 * Jaeger propagator with uberctx-* baggage over a header list ("name: value" lines).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dpt_span_context sc, sc2;
    bool debug;
    if (dpt_jaeger_parse((const char *)data, size, &sc, &debug) == DPT_OK) {
        char out[64];
        size_t n = dpt_jaeger_format(&sc, out);
        FUZZ_CHECK(n == 54);
        FUZZ_CHECK(dpt_jaeger_parse(out, n, &sc2, NULL) == DPT_OK && sc_equal(&sc, &sc2));
    }
    fuzz_roundtrip(dpt_propagator_jaeger(), data, size);
    return 0;
}
