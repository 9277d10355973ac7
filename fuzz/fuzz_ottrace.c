/* fuzz_ottrace.c - libFuzzer target: the OpenTracing (ottrace) propagator over a header
 * list ("name: value" lines), ot-baggage-* included.
 * Invariants: extract -> inject -> extract keeps the span id, the sampled bit and the low 64
 * bits of the trace id (the field holds no more), and every baggage entry that was sent
 * comes back with the same value.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const dpt_propagator *p = dpt_propagator_ottrace();
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    fuzz_headers(data, size, &in);
    dpt_context *c1 = NULL, *c2 = NULL;
    dpt_err e = dpt_propagator_extract(p, &dpt_headers_getter, &in, &c1);
    if (c1) {
        FUZZ_CHECK(e == DPT_OK || e == DPT_ENOTFOUND || e == DPT_EPARSE);
        dpt_span_context a = dpt_context_span_context(c1);
        if (e != DPT_OK) FUZZ_CHECK(dpt_baggage_count(dpt_context_baggage(c1)) == 0);
        if (dpt_propagator_inject(p, c1, &dpt_headers_setter, &out) == DPT_OK &&
            dpt_propagator_extract(p, &dpt_headers_getter, &out, &c2) == e && c2 && e == DPT_OK) {
            dpt_span_context b = dpt_context_span_context(c2);
            FUZZ_CHECK(memcmp(a.trace_id.b + 8, b.trace_id.b + 8, 8) == 0);
            FUZZ_CHECK(memcmp(&a.span_id, &b.span_id, sizeof a.span_id) == 0);
            FUZZ_CHECK((a.flags & DPT_FLAG_SAMPLED) == (b.flags & DPT_FLAG_SAMPLED));
            const dpt_baggage *b1 = dpt_context_baggage(c1), *b2 = dpt_context_baggage(c2);
            for (size_t i = 0; i < dpt_baggage_count(b2); i++) {
                dpt_baggage_item it;
                FUZZ_CHECK(dpt_baggage_entry_n(b2, i, &it) == DPT_OK);
                size_t vl = 0;
                const char *v = dpt_baggage_get_n(b1, it.key, it.key_len, &vl);
                FUZZ_CHECK(v && vl == it.value_len && memcmp(v, it.value, vl) == 0);
            }
        }
    }
    dpt_context_release(c1);
    dpt_context_release(c2);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
    return 0;
}
