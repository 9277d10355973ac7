/* bench_export.c - encoder benchmarks, called by bench.c through dpt_bench_export():
 * otlp_proto_encode and otlp_json_encode (and zipkin_json_encode) per span, on a batch of
 * 512 spans with 5 attributes and 1 event each, encoded with a reused dpt_encoder the way
 * the exporters do it (no allocation once the buffer has grown).
 */
#include "dptrace.h"
#include "dptrace/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH 512
#define REPEATS 7

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ns per span over REPEATS runs of `rounds` encodes of the batch. */
static double run(dpt_encoder *e, const dpt_span_data *const *d, int rounds)
{
    const uint8_t *out;
    size_t len;
    volatile size_t sink = 0;
    double r[REPEATS];
    for (int w = 0; w < rounds / 4 + 1; w++) /* warm-up: the buffer reaches its size */
        if (dpt_encoder_encode(e, d, BATCH, &out, &len) == DPT_OK)
            sink += len;
    for (int k = 0; k < REPEATS; k++) {
        uint64_t t0 = mono_ns();
        for (int i = 0; i < rounds; i++)
            if (dpt_encoder_encode(e, d, BATCH, &out, &len) == DPT_OK)
                sink += len;
        r[k] = (double)(mono_ns() - t0) / ((double)rounds * BATCH);
    }
    (void)sink;
    qsort(r, REPEATS, sizeof r[0], cmp);
    return r[REPEATS / 2];
}

void dpt_bench_export(void (*report)(const char *name, double ns_per_op));

void dpt_bench_export(void (*report)(const char *name, double ns_per_op))
{
    dpt_exporter *mem = dpt_exporter_memory(BATCH);
    dpt_processor *proc = mem ? dpt_processor_simple(mem) : NULL;
    dpt_provider_config cfg = { 0 };
    cfg.service_name = "bench";
    cfg.sampler = dpt_sampler_always_on();
    cfg.processors = &proc;
    cfg.n_processors = 1;
    dpt_provider *p = NULL;
    if (!proc || !((p = dpt_provider_new(&cfg)))) {
        fprintf(stderr, "bench_export: cannot set up a provider\n");
        return;
    }
    dpt_tracer *t = dpt_provider_get_tracer(p, "bench.export", "1.0.0");
    /* Typical server spans: 5 attributes of the usual types and one event. */
    for (int i = 0; i < BATCH; i++) {
        dpt_attr attrs[] = {
            DPT_STR("http.request.method", "GET"),
            DPT_STR("url.path", "/api/v1/orders/12345"),
            DPT_INT("http.response.status_code", 200),
            DPT_STR("server.address", "orders.internal"),
            DPT_DOUBLE("db.duration", 0.00421),
        };
        dpt_span_opts o = { 0 };
        o.attrs = attrs;
        o.n_attrs = 5;
        dpt_span s = dpt_span_start(t, "GET /api/v1/orders/{id}", DPT_SPAN_SERVER, &o);
        dpt_attr ev[] = { DPT_STR("cache.key", "order:12345") };
        dpt_span_add_event(s, "cache.miss", ev, 1);
        dpt_span_end(s);
    }
    const dpt_span_data *d[BATCH];
    size_t n = dpt_exporter_memory_count(mem);
    for (size_t i = 0; i < n && i < BATCH; i++)
        d[i] = dpt_exporter_memory_get(mem, i);
    if (n != BATCH) {
        fprintf(stderr, "bench_export: %zu spans recorded, %d expected\n", n, BATCH);
        goto out;
    }

    static const struct { const char *name; dpt_format fmt; int rounds; } cases[] = {
        { "otlp_proto_encode", DPT_FORMAT_OTLP_PROTO, 40 },
        { "otlp_json_encode", DPT_FORMAT_OTLP_JSON, 10 },
        { "zipkin_json_encode", DPT_FORMAT_ZIPKIN_JSON, 10 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dpt_encoder *e = dpt_encoder_new(cases[c].fmt);
        if (!e)
            continue;
        report(cases[c].name, run(e, d, cases[c].rounds));
        dpt_encoder_free(e);
    }
out:
    for (size_t i = 0; i < n && i < BATCH; i++)
        dpt_span_data_release(d[i]);
    dpt_provider_free(p);
}
