/* gen_payloads.c - writes the payloads for the OTLP interop check: spans recorded through
 * the public API (every attribute type, events, links, dropped counts, status, remote and
 * local parents, two scopes, two resources), encoded as OTLP protobuf (request.pb) and
 * OTLP JSON (request.json), plus expected.json: what was recorded, written here from the
 * inputs by plain printf (not by the encoders), for check.js to compare against.
 */
#include "dptrace.h"
#include "dptrace/export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1712345678901234567ull

static const char *const strs[] = {"x", "", "\xc3\xa9t\xc3\xa9"};
static const int64_t ints[] = {INT64_MIN, -1, 0, 9007199254740993ll};
static const bool bools[] = {false, true};
static const double dbls[] = {1.5, -0.0, 1e300};

static dpt_provider *provider(const char *service, dpt_exporter **mem)
{
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.attr_count = 14;     /* 15 given to span A: 1 dropped */
    lim.event_count = 2;     /* 3 added: 1 dropped */
    lim.attrs_per_event = 2; /* 3 given: 1 dropped */
    lim.link_count = 1;      /* 2 given: 1 dropped */
    lim.attrs_per_link = 1;  /* 2 given: 1 dropped */
    *mem = dpt_exporter_memory(100);
    dpt_processor *proc = dpt_processor_simple(*mem);
    dpt_attr res[] = {DPT_STR("deployment.environment", "interop"), DPT_INT("res.int", -7)};
    dpt_provider_config cfg = {0};
    cfg.service_name = service;
    cfg.resource_attrs = res;
    cfg.n_resource_attrs = 2;
    cfg.sampler = dpt_sampler_always_on();
    cfg.limits = &lim;
    cfg.processors = &proc;
    cfg.n_processors = 1;
    dpt_provider *p = NULL;
    if (!((p = dpt_provider_new(&cfg)))) {
        fprintf(stderr, "provider failed\n");
        exit(1);
    }
    return p;
}

static void hex(FILE *f, const uint8_t *b, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
    fputc('"', f);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    dpt_exporter *mem1, *mem2;
    dpt_provider *p1 = provider("interop-a", &mem1);
    dpt_provider *p2 = provider("interop-b", &mem2);
    dpt_tracer *t1 = dpt_provider_get_tracer(p1, "scope.one", "0.9.1");
    dpt_tracer *t2 = dpt_provider_get_tracer(p1, "scope.two", NULL);
    dpt_tracer *t3 = dpt_provider_get_tracer(p2, "scope.three", "3");

    /* Span A: server span under a remote parent. */
    dpt_span_context parent = {0};
    dpt_trace_id_from_hex("5b8efff798038103d269b633813fc60c", 32, &parent.trace_id);
    dpt_span_id_from_hex("eee19b7ec3c1b174", 16, &parent.span_id);
    parent.flags = DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM;
    parent.remote = true;
    dpt_tracestate *ts = NULL;
    dpt_tracestate_parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", DPT_NUL, &ts);
    dpt_context *ctx = dpt_context_new(&parent, ts, NULL);
    dpt_tracestate_release(ts);
    dpt_link links[2];
    memset(links, 0, sizeof links);
    dpt_trace_id_from_hex("0af7651916cd43dd8448eb211c80319c", 32, &links[0].ctx.trace_id);
    dpt_span_id_from_hex("b7ad6b7169203331", 16, &links[0].ctx.span_id);
    links[0].ctx.flags = DPT_FLAG_SAMPLED;
    links[0].ctx.remote = true;
    links[0].tracestate = "vendor=linked";
    links[0].tracestate_len = DPT_NUL;
    dpt_attr link_attrs[] = {DPT_STR("link.reason", "batch"), DPT_INT("link.dropped", 1)};
    links[0].attrs = link_attrs;
    links[0].n_attrs = 2;
    links[1] = links[0];
    dpt_attr attrs[] = {
        DPT_STR("str", "value"),
        DPT_STR("empty", ""),
        DPT_STR("utf8", "\xe2\x82\xac \xf0\x9f\x98\x80"),
        DPT_BOOL("t", true),
        DPT_BOOL("f", false),
        DPT_INT("int.min", INT64_MIN),
        DPT_INT("int.max", INT64_MAX),
        DPT_INT("zero", 0),
        DPT_DOUBLE("dbl", 3.14159),
        DPT_STR_ARRAY("arr.str", strs, 3),
        DPT_INT_ARRAY("arr.int", ints, 4),
        DPT_BOOL_ARRAY("arr.bool", bools, 2),
        DPT_DOUBLE_ARRAY("arr.dbl", dbls, 3),
        DPT_INT_ARRAY("arr.empty", ints, 0),
        DPT_STR("dropped", "over the limit"),
    };
    dpt_span_opts o = {0};
    o.parent = ctx;
    o.start_ns = T0;
    o.attrs = attrs;
    o.n_attrs = 15;
    o.links = links;
    o.n_links = 2;
    dpt_span a = dpt_span_start(t1, "GET /interop/{id}", DPT_SPAN_SERVER, &o);
    dpt_context_release(ctx);
    dpt_span_context ca = dpt_span_get_context(a); /* a handle reads zero once ended */
    dpt_attr ev_attrs[] = {DPT_STR("exception.type", "E"), DPT_DOUBLE("ev.d", 0.25),
                           DPT_BOOL("ev.dropped", true)};
    dpt_span_add_event_at(a, "exception", T0 + 10, ev_attrs, 3);
    dpt_span_add_event_at(a, "plain", T0 + 20, NULL, 0);
    dpt_span_add_event_at(a, "dropped event", T0 + 30, NULL, 0);
    dpt_span_set_status(a, DPT_STATUS_ERROR, "it \"failed\"\n");

    /* Span B: local child of A, client, OK. */
    dpt_span_opts ob = {0};
    ob.parent_span = a;
    ob.start_ns = T0 + 100;
    dpt_span b = dpt_span_start(t1, "child", DPT_SPAN_CLIENT, &ob);
    dpt_span_context cb = dpt_span_get_context(b);
    dpt_span_set_status(b, DPT_STATUS_OK, NULL);
    dpt_span_end_at(b, T0 + 200);
    dpt_span_end_at(a, T0 + 999999999);

    /* Span C: second scope (no version), producer root. Span D: second provider. */
    dpt_span_opts oc = {0};
    oc.root = true;
    oc.start_ns = T0 + 5;
    dpt_span c = dpt_span_start(t2, "produce", DPT_SPAN_PRODUCER, &oc);
    dpt_span_context cc = dpt_span_get_context(c);
    dpt_span_end_at(c, T0 + 6);
    dpt_span d = dpt_span_start(t3, "consume", DPT_SPAN_CONSUMER, &oc);
    dpt_span_context cd = dpt_span_get_context(d);
    dpt_span_end_at(d, T0 + 7);

    const dpt_span_data *all[8];
    size_t n = 0;
    for (size_t i = 0; i < dpt_exporter_memory_count(mem1); i++)
        all[n++] = dpt_exporter_memory_get(mem1, i);
    for (size_t i = 0; i < dpt_exporter_memory_count(mem2); i++)
        all[n++] = dpt_exporter_memory_get(mem2, i);
    if (n != 4) {
        fprintf(stderr, "expected 4 spans, got %zu\n", n);
        return 1;
    }
    /* Interleave the providers so grouping is exercised: B, D, A, C. */
    const dpt_span_data *batch[4] = {all[0], all[3], all[1], all[2]};

    char path[512];
    uint8_t *pb;
    size_t pb_len;
    if (dpt_otlp_proto_encode(batch, 4, &pb, &pb_len) != DPT_OK) return 1;
    snprintf(path, sizeof path, "%s/request.pb", dir);
    write_file(path, pb, pb_len);
    dpt_free(pb);
    char *js;
    size_t js_len;
    if (dpt_otlp_json_encode(batch, 4, &js, &js_len) != DPT_OK) return 1;
    snprintf(path, sizeof path, "%s/request.json", dir);
    write_file(path, js, js_len);
    dpt_free(js);

    /* expected.json: the recorded values (ids from the span handles, the rest from the
     * inputs above). check.js holds the attribute values. */
    snprintf(path, sizeof path, "%s/expected.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "{\"t0\":\"%" PRIu64 "\",\n", (uint64_t)T0);
    fprintf(f, "\"a\":{\"traceId\":");
    hex(f, ca.trace_id.b, 16);
    fprintf(f, ",\"spanId\":");
    hex(f, ca.span_id.b, 8);
    fprintf(f, ",\"flags\":%u},\n", ca.flags);
    fprintf(f, "\"b\":{\"traceId\":");
    hex(f, cb.trace_id.b, 16);
    fprintf(f, ",\"spanId\":");
    hex(f, cb.span_id.b, 8);
    fprintf(f, ",\"flags\":%u},\n", cb.flags);
    fprintf(f, "\"c\":{\"traceId\":");
    hex(f, cc.trace_id.b, 16);
    fprintf(f, ",\"spanId\":");
    hex(f, cc.span_id.b, 8);
    fprintf(f, ",\"flags\":%u},\n", cc.flags);
    fprintf(f, "\"d\":{\"traceId\":");
    hex(f, cd.trace_id.b, 16);
    fprintf(f, ",\"spanId\":");
    hex(f, cd.span_id.b, 8);
    fprintf(f, ",\"flags\":%u}}\n", cd.flags);
    fclose(f);

    for (size_t i = 0; i < n; i++)
        dpt_span_data_release(all[i]);
    dpt_provider_free(p1);
    dpt_provider_free(p2);
    return 0;
}
