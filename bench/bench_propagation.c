/* bench_propagation.c - propagation benchmarks, called by bench.c (dpt_bench_propagation).
 *
 * traceparent_roundtrip: what a service pays per hop for W3C trace context: extract from a
 * request's header list (the tracecontext propagator, a dpt_context allocated) and inject
 * into an outgoing carrier. baggage_roundtrip: the same for a 5-entry baggage header.
 * The outgoing carrier is a fixed buffer so that the numbers are the library's, not malloc's.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "dptrace.h"
#include "dptrace/propagation.h"

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

static const dpt_setter fixed_setter = {fixed_set};

static const dpt_header tp_headers[] = {
    {"host", 4, "api.internal:8080", 17},
    {"user-agent", 10, "curl/8.5", 8},
    {"accept", 6, "*/*", 3},
    {"traceparent", 11, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55},
};

static const dpt_header bg_headers[] = {
    {"host", 4, "api.internal:8080", 17},
    {"baggage", 7,
     "userId=alice,tenant=acme%20corp,region=eu-west-1,plan=gold;ttl=60,requestSource=mobile", 86},
};

static const dpt_propagator *g_prop;
static dpt_headers g_in;
static out_carrier g_out;

static void run_roundtrip(long iters)
{
    for (long i = 0; i < iters; i++) {
        dpt_context *c = NULL;
        dpt_propagator_extract(g_prop, &dpt_headers_getter, &g_in, &c);
        dpt_propagator_inject(g_prop, c, &fixed_setter, &g_out);
        dpt_context_release(c);
    }
}

static void scenario(const char *name, const dpt_propagator *p, const dpt_header *h, size_t n,
                     double scale)
{
    if (!bench_wanted(name)) return;
    g_prop = p;
    dpt_headers_wrap(&g_in, h, n);
    g_out.bytes = 0;
    bench_stat s = bench_measure(run_roundtrip, bench_ops(scale));
    if (g_out.bytes == 0) fprintf(stderr, "bench_propagation: nothing was injected\n");
    bench_report(name, s);
}

void dpt_bench_propagation(void)
{
    scenario("traceparent_roundtrip", dpt_propagator_tracecontext(), tp_headers, 4, 0.2);
    scenario("baggage_roundtrip", dpt_propagator_baggage(), bg_headers, 2, 0.05);
}
