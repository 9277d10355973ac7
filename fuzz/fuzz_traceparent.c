/* fuzz_traceparent.c - libFuzzer target: the traceparent parser and formatter.
 * Invariant: whatever parses formats back to a value that parses to the same context.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dpt_span_context sc, sc2;
    if (dpt_traceparent_parse((const char *)data, size, &sc) != DPT_OK) return 0;
    FUZZ_CHECK(dpt_span_context_is_valid(&sc));
    char out[DPT_TRACEPARENT_LEN + 1];
    FUZZ_CHECK(dpt_traceparent_format(&sc, out) == DPT_TRACEPARENT_LEN);
    FUZZ_CHECK(dpt_traceparent_parse(out, DPT_TRACEPARENT_LEN, &sc2) == DPT_OK);
    FUZZ_CHECK(sc_equal(&sc, &sc2));
    return 0;
}
