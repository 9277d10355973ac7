/* fuzz_b3_single.c - libFuzzer target: the single `b3` header parser and formatter.
 * Invariant: a parsed context with ids formats back to a header with the same context.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dpt_b3 b, b2;
    if (dpt_b3_parse((const char *)data, size, &b) != DPT_OK) return 0;
    FUZZ_CHECK(b.sampled >= -1 && b.sampled <= 1);
    if (!dpt_span_context_is_valid(&b.sc)) return 0;
    char out[64];
    size_t n = dpt_b3_format(&b, out);
    FUZZ_CHECK(n == 51);
    FUZZ_CHECK(dpt_b3_parse(out, n, &b2) == DPT_OK);
    FUZZ_CHECK(sc_equal(&b.sc, &b2.sc) && b.debug == b2.debug);
    return 0;
}
