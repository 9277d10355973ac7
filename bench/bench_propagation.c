/* bench_propagation.c - propagation benchmarks, called by bench.c (dpt_bench_propagation).
 *
 * traceparent_roundtrip: what a service pays per hop for W3C trace context: extract from a
 * request's header list (the tracecontext propagator, a dpt_context allocated) and inject
 * into an outgoing carrier. baggage_roundtrip: the same for a 5-entry baggage header.
 * The outgoing carrier is a fixed buffer so that the numbers are the library's, not malloc's.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define REPEATS 7

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An outgoing carrier that keeps the last value per field in place. */
typedef struct out_carrier {
    char tp[64];
    char other[8192];
    size_t bytes;
} out_carrier;

static dpt_err fixed_set(void *c, const char *name, const char *value, size_t len)
{
    out_carrier *o = c;
    char *dst = strcmp(name, "traceparent") == 0 ? o->tp : o->other;
    size_t cap = dst == o->tp ? sizeof o->tp : sizeof o->other;
    if (len >= cap) return DPT_ETOOBIG;
    memcpy(dst, value, len);
    dst[len] = 0;
    o->bytes += len;
    return DPT_OK;
}

static const dpt_setter fixed_setter = { fixed_set };

static const dpt_header tp_headers[] = {
    { "host", 4, "api.internal:8080", 17 },
    { "user-agent", 10, "curl/8.5", 8 },
    { "accept", 6, "*/*", 3 },
    { "traceparent", 11, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55 },
};

static const dpt_header bg_headers[] = {
    { "host", 4, "api.internal:8080", 17 },
    { "baggage", 7, "userId=alice,tenant=acme%20corp,region=eu-west-1,plan=gold;ttl=60,requestSource=mobile", 86 },
};

static double run(const dpt_propagator *p, const dpt_header *h, size_t n, long iters)
{
    dpt_headers in;
    dpt_headers_wrap(&in, h, n);
    out_carrier out = { .bytes = 0 };
    double best[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            dpt_context *c = NULL;
            dpt_propagator_extract(p, &dpt_headers_getter, &in, &c);
            dpt_propagator_inject(p, c, &fixed_setter, &out);
            dpt_context_release(c);
        }
        best[r] = (double)(now_ns() - t0) / (double)iters;
    }
    /* median of the repeats */
    for (int i = 1; i < REPEATS; i++)
        for (int j = i; j > 0 && best[j - 1] > best[j]; j--) {
            double t = best[j];
            best[j] = best[j - 1];
            best[j - 1] = t;
        }
    if (out.bytes == 0) fprintf(stderr, "bench_propagation: nothing was injected\n");
    return best[REPEATS / 2];
}

void dpt_bench_propagation(void (*report)(const char *name, double ns_per_op))
{
    report("traceparent_roundtrip", run(dpt_propagator_tracecontext(), tp_headers, 4, 200000));
    report("baggage_roundtrip", run(dpt_propagator_baggage(), bg_headers, 2, 50000));
}
