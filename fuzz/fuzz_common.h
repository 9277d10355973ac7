/* fuzz_common.h - helpers shared by the propagation fuzz targets.
 *
 * A crash, a sanitizer report or a failed round-trip check (abort) is a finding.
 */
#ifndef DPT_FUZZ_COMMON_H
#define DPT_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

/* Splits data into "name: value" lines (name up to the first ':', value after it, no
 * trimming) and adds them to h; a line without ':' becomes a name with an empty value. */
static inline void fuzz_headers(const uint8_t *data, size_t size, dpt_headers *h)
{
    const char *s = (const char *)data;
    size_t i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && s[j] != '\n')
            j++;
        const char *colon = memchr(s + i, ':', j - i);
        if (colon) {
            size_t nl = (size_t)(colon - (s + i));
            if (nl) dpt_headers_add(h, s + i, nl, colon + 1, (size_t)(s + j - colon - 1));
        } else if (j > i) {
            dpt_headers_add(h, s + i, j - i, "", 0);
        }
        i = j + 1;
    }
}

static inline int sc_equal(const dpt_span_context *a, const dpt_span_context *b)
{
    return memcmp(&a->trace_id, &b->trace_id, sizeof a->trace_id) == 0 &&
           memcmp(&a->span_id, &b->span_id, sizeof a->span_id) == 0 && a->flags == b->flags;
}

/* Extract with p, inject the result, extract again: the second context must equal the
 * first (span context, tracestate and baggage). */
static inline void fuzz_roundtrip(const dpt_propagator *p, const uint8_t *data, size_t size)
{
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    fuzz_headers(data, size, &in);
    dpt_context *c1 = NULL, *c2 = NULL;
    dpt_err e = dpt_propagator_extract(p, &dpt_headers_getter, &in, &c1);
    if (c1) {
        FUZZ_CHECK(e == DPT_OK || e == DPT_ENOTFOUND || e == DPT_EPARSE);
        if (dpt_propagator_inject(p, c1, &dpt_headers_setter, &out) == DPT_OK &&
            dpt_propagator_extract(p, &dpt_headers_getter, &out, &c2) != DPT_ENOMEM && c2) {
            dpt_span_context a = dpt_context_span_context(c1), b = dpt_context_span_context(c2);
            FUZZ_CHECK(sc_equal(&a, &b));
            FUZZ_CHECK(strcmp(dpt_tracestate_str(dpt_context_tracestate(c1), NULL),
                              dpt_tracestate_str(dpt_context_tracestate(c2), NULL)) == 0);
        }
    }
    dpt_context_release(c1);
    dpt_context_release(c2);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
}

#endif
