/* test_export_fixture.h - spans for the export tests, built through the public API (a
 * provider with a simple processor and the in-memory exporter), with every field the
 * encoders write set to a known value. Shared by tests/export/test_export_*.c and
 * tests/export/. Header-only: each test program includes it once.
 */
#ifndef TEST_EXPORT_FIXTURE_H
#define TEST_EXPORT_FIXTURE_H

#include "dptrace.h"
#include "dptrace/plugin.h"
#include "dptrace/export.h"

#include <stdlib.h>
#include <string.h>

/* The values the rich span is given, so tests compare against their own inputs. */
#define FX_START_NS 1700000000123456789ull
#define FX_END_NS 1700000000987654321ull
#define FX_EVENT_NS 1700000000500000001ull
#define FX_PARENT_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define FX_PARENT_SPAN "00f067aa0ba902b7"
#define FX_LINK_TRACE "0af7651916cd43dd8448eb211c80319c"
#define FX_LINK_SPAN "b7ad6b7169203331"
#define FX_TRACESTATE "vendor=abc,other=x1"
#define FX_LINK_TRACESTATE "congo=t61rcWkgMzE"

typedef struct fx {
    dpt_provider *p;
    dpt_exporter *mem; /* owned by the provider */
    dpt_tracer *t;
} fx;

/* A provider exporting into memory. limits may be NULL. */
static inline int fx_open(fx *f, const char *service, const dpt_span_limits *limits)
{
    memset(f, 0, sizeof *f);
    f->mem = dpt_exporter_memory(1000000);
    if (!f->mem) return -1;
    dpt_processor *proc = dpt_processor_simple(f->mem);
    if (!proc) return -1;
    dpt_attr res[] = {DPT_STR("deployment.environment", "test"), DPT_INT("host.cpus", 2)};
    dpt_provider_config cfg = {0};
    cfg.service_name = service;
    cfg.resource_attrs = res;
    cfg.n_resource_attrs = 2;
    cfg.sampler = dpt_sampler_always_on();
    cfg.limits = limits;
    cfg.processors = &proc;
    cfg.n_processors = 1;
    if (!((f->p = dpt_provider_new(&cfg)))) return -1;
    f->t = dpt_provider_get_tracer(f->p, "fx.scope", "1.2.3");
    return f->t ? 0 : -1;
}

static inline void fx_close(fx *f)
{
    dpt_provider_free(f->p);
    memset(f, 0, sizeof *f);
}

/* The exported spans, as new references (release with fx_release). */
static inline size_t fx_take(fx *f, const dpt_span_data **out, size_t cap)
{
    size_t n = dpt_exporter_memory_count(f->mem);
    if (n > cap) n = cap;
    for (size_t i = 0; i < n; i++)
        out[i] = dpt_exporter_memory_get(f->mem, i);
    return n;
}

static inline void fx_release(const dpt_span_data **d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dpt_span_data_release(d[i]);
}

static const char *const fx_strs[] = {"a", "", "c\"d"};
static const int64_t fx_ints[] = {-1, 0, INT64_MAX};
static const bool fx_bools[] = {true, false};
static const double fx_doubles[] = {0.5, -2.25e10};

/* A server span with a remote parent (sampled + random flags, trace state), every attribute
 * type, two events (one with attributes), a link, ERROR status with a message. With
 * limits of 10 attributes and 1 event/link it also has dropped counts. Returns its
 * context. */
static inline dpt_span_context fx_rich_span(fx *f)
{
    dpt_span_context parent = {0};
    dpt_trace_id_from_hex(FX_PARENT_TRACE, 32, &parent.trace_id);
    dpt_span_id_from_hex(FX_PARENT_SPAN, 16, &parent.span_id);
    parent.flags = DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM;
    parent.remote = true;
    dpt_tracestate *ts = NULL;
    dpt_tracestate_parse(FX_TRACESTATE, strlen(FX_TRACESTATE), &ts);
    dpt_context *ctx = dpt_context_new(&parent, ts, NULL);
    dpt_tracestate_release(ts);

    dpt_link link = {0};
    dpt_trace_id_from_hex(FX_LINK_TRACE, 32, &link.ctx.trace_id);
    dpt_span_id_from_hex(FX_LINK_SPAN, 16, &link.ctx.span_id);
    link.ctx.flags = DPT_FLAG_SAMPLED;
    link.ctx.remote = true;
    link.tracestate = FX_LINK_TRACESTATE;
    link.tracestate_len = DPT_NUL;
    dpt_attr link_attrs[] = {DPT_STR("link.kind", "follows"), DPT_INT("link.n", 7)};
    link.attrs = link_attrs;
    link.n_attrs = 2;

    dpt_attr attrs[] = {
        DPT_STR("http.request.method", "GET"),
        DPT_BOOL("cache.hit", false),
        DPT_INT("http.response.status_code", 503),
        DPT_DOUBLE("ratio", 0.125),
        DPT_STR_ARRAY("tags", fx_strs, 3),
        DPT_INT_ARRAY("ints", fx_ints, 3),
        DPT_BOOL_ARRAY("bools", fx_bools, 2),
        DPT_DOUBLE_ARRAY("doubles", fx_doubles, 2),
        DPT_STR("utf8", "h\xc3\xa9llo \xe2\x82\xac"),
        DPT_INT("negative", -42),
    };
    dpt_span_opts o = {0};
    o.parent = ctx;
    o.start_ns = FX_START_NS;
    o.attrs = attrs;
    o.n_attrs = sizeof attrs / sizeof attrs[0];
    o.links = &link;
    o.n_links = 1;
    dpt_span s = dpt_span_start(f->t, "GET /orders/{id}", DPT_SPAN_SERVER, &o);
    dpt_context_release(ctx);
    dpt_span_context sc = dpt_span_get_context(s);
    dpt_attr ev_attrs[] = {DPT_STR("exception.type", "Timeout"), DPT_INT("retry", 3)};
    dpt_span_add_event_at(s, "retry", FX_EVENT_NS, ev_attrs, 2);
    dpt_span_add_event_at(s, "cache.miss", FX_EVENT_NS + 1, NULL, 0);
    dpt_span_set_status(s, DPT_STATUS_ERROR, "upstream \"timeout\"");
    dpt_span_end_at(s, FX_END_NS);
    return sc;
}

/* A plain internal root span named name, 1 ms long. */
static inline dpt_span_context fx_simple_span(dpt_tracer *t, const char *name)
{
    dpt_span_opts o = {0};
    o.root = true;
    o.start_ns = FX_START_NS;
    dpt_span s = dpt_span_start(t, name, DPT_SPAN_INTERNAL, &o);
    dpt_span_context sc = dpt_span_get_context(s);
    dpt_span_end_at(s, FX_START_NS + 1000000);
    return sc;
}

#endif /* TEST_EXPORT_FIXTURE_H */
