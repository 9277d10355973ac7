/* fuzz_b3_multi.c - libFuzzer target: the B3 propagators over a header list ("name: value"
 * lines: b3, X-B3-TraceId, X-B3-SpanId, X-B3-Sampled, X-B3-Flags, repeated or not).
 * Invariant: extract -> inject -> extract keeps the span context, in both inject forms.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_roundtrip(dpt_propagator_b3multi(), data, size);
    fuzz_roundtrip(dpt_propagator_b3(), data, size);
    return 0;
}
