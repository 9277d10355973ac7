/* bench_export.c - encoder benchmarks, called by bench.c through dpt_bench_export():
 * otlp_proto_encode and otlp_json_encode (and zipkin_json_encode) per span, on a batch of
 * 512 spans with 5 attributes and 1 event each, encoded with a reused dpt_encoder the way
 * the exporters do it (no allocation once the buffer has grown).
 */
#include "bench.h"
#include "dptrace.h"
#include "dptrace/export.h"

#include <stdio.h>
#include <stdlib.h>

#define BATCH 512

static dpt_encoder *g_enc;
static const dpt_span_data *const *g_spans;
static volatile size_t g_sink;

/* n spans: n / BATCH encodes of the batch (at least one). */
static void run_encode(long n)
{
    const uint8_t *out;
    size_t len;
    for (long i = 0; i < n; i += BATCH)
        if (dpt_encoder_encode(g_enc, g_spans, BATCH, &out, &len) == DPT_OK) g_sink += len;
}

void dpt_bench_export(void)
{
    if (!bench_wanted("otlp_proto_encode") && !bench_wanted("otlp_json_encode") &&
        !bench_wanted("zipkin_json_encode"))
        return;
    dpt_exporter *mem = dpt_exporter_memory(BATCH);
    dpt_processor *proc = mem ? dpt_processor_simple(mem) : NULL;
    dpt_provider_config cfg = {0};
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
            DPT_STR("http.request.method", "GET"),     DPT_STR("url.path", "/api/v1/orders/12345"),
            DPT_INT("http.response.status_code", 200), DPT_STR("server.address", "orders.internal"),
            DPT_DOUBLE("db.duration", 0.00421),
        };
        dpt_span_opts o = {0};
        o.attrs = attrs;
        o.n_attrs = 5;
        dpt_span s = dpt_span_start(t, "GET /api/v1/orders/{id}", DPT_SPAN_SERVER, &o);
        dpt_attr ev[] = {DPT_STR("cache.key", "order:12345")};
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

    static const struct {
        const char *name;
        dpt_format fmt;
        double scale;
    } cases[] = {
        {"otlp_proto_encode", DPT_FORMAT_OTLP_PROTO, 0.02},
        {"otlp_json_encode", DPT_FORMAT_OTLP_JSON, 0.005},
        {"zipkin_json_encode", DPT_FORMAT_ZIPKIN_JSON, 0.005},
    };
    g_spans = d;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (!bench_wanted(cases[c].name)) continue;
        g_enc = dpt_encoder_new(cases[c].fmt);
        if (!g_enc) continue;
        /* whole batches: the per-span figure is per encoded span */
        long ops = bench_ops(cases[c].scale) / BATCH * BATCH;
        bench_report(cases[c].name, bench_measure(run_encode, ops < BATCH * 4 ? BATCH * 4 : ops));
        dpt_encoder_free(g_enc);
    }
out:
    for (size_t i = 0; i < n && i < BATCH; i++)
        dpt_span_data_release(d[i]);
    dpt_provider_free(p);
}
