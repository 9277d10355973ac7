/* propagator.c - propagator objects (built-in formats and composites), OTEL_PROPAGATORS,
 * the process-wide propagator, and the server / client / untrusted-edge helpers.
 *
 * A propagator is a small tagged value rather than a table of callbacks: the set of
 * formats is closed, and a switch lets a composite run its members on one accumulator and
 * build a single dpt_context at the end.
 */
#include "prop_internal.h"

#include <stdlib.h>

enum {
    K_NONE,
    K_TRACECONTEXT,
    K_BAGGAGE,
    K_B3,
    K_B3MULTI,
    K_JAEGER,
    K_COMPOSITE
};

#define MAX_MEMBERS 16

struct dpt_propagator {
    int kind;
    bool is_static;
    size_t n;                                 /* composite members */
    const dpt_propagator *m[MAX_MEMBERS];
};

static const dpt_propagator p_none = { K_NONE, true, 0, { 0 } };
static const dpt_propagator p_tc = { K_TRACECONTEXT, true, 0, { 0 } };
static const dpt_propagator p_bg = { K_BAGGAGE, true, 0, { 0 } };
static const dpt_propagator p_b3 = { K_B3, true, 0, { 0 } };
static const dpt_propagator p_b3m = { K_B3MULTI, true, 0, { 0 } };
static const dpt_propagator p_jg = { K_JAEGER, true, 0, { 0 } };

const dpt_propagator *dpt_propagator_tracecontext(void) { return &p_tc; }
const dpt_propagator *dpt_propagator_baggage(void) { return &p_bg; }
const dpt_propagator *dpt_propagator_b3(void) { return &p_b3; }
const dpt_propagator *dpt_propagator_b3multi(void) { return &p_b3m; }
const dpt_propagator *dpt_propagator_jaeger(void) { return &p_jg; }
const dpt_propagator *dpt_propagator_none(void) { return &p_none; }

dpt_err dpt_propagator_composite(const dpt_propagator *const *list, size_t n, dpt_propagator **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if ((!list && n) || n > MAX_MEMBERS) return DPT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!list[i]) return DPT_EINVAL;
    dpt_propagator *p = dpt__calloc(1, sizeof *p);
    if (!p) return DPT_ENOMEM;
    p->kind = K_COMPOSITE;
    p->n = n;
    for (size_t i = 0; i < n; i++) p->m[i] = list[i];
    *out = p;
    return DPT_OK;
}

static const dpt_propagator *by_name(const char *s, size_t n)
{
    static const struct {
        const char *name;
        const dpt_propagator *p;
    } names[] = {
        { "tracecontext", &p_tc }, { "baggage", &p_bg }, { "b3", &p_b3 },
        { "b3multi", &p_b3m },     { "jaeger", &p_jg },  { "none", &p_none },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) return names[i].p;
    return NULL;
}

dpt_err dpt_propagator_from_names(const char *names, dpt_propagator **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    const dpt_propagator *list[MAX_MEMBERS];
    size_t n = 0;
    bool none = false, unknown = false;
    const char *s = names;
    if (!s || !*s) s = "tracecontext,baggage";
    size_t len = strlen(s);
    for (size_t i = 0; i <= len;) {
        size_t j = i;
        while (j < len && s[j] != ',') j++;
        const char *w = s + i;
        size_t wl = j - i;
        while (wl && (*w == ' ' || *w == '\t')) w++, wl--;
        while (wl && (w[wl - 1] == ' ' || w[wl - 1] == '\t')) wl--;
        i = j + 1;
        if (!wl) continue;
        const dpt_propagator *p = by_name(w, wl);
        if (!p) {
            dpt__log(DPT_LOG_WARN, "OTEL_PROPAGATORS: unknown propagator \"%.*s\" ignored",
                     (int)(wl > 64 ? 64 : wl), w);
            unknown = true;
            continue;
        }
        if (p == &p_none) none = true;
        bool dup = false;
        for (size_t q = 0; q < n; q++) dup |= list[q] == p;
        if (!dup && n < MAX_MEMBERS) list[n++] = p;
    }
    dpt_err e = dpt_propagator_composite(list, none ? 0 : n, out);
    if (e != DPT_OK) return e;
    return unknown ? DPT_ENOTFOUND : DPT_OK;
}

dpt_propagator *dpt_propagator_from_env(void)
{
    dpt_propagator *p = NULL;
    dpt_propagator_from_names(getenv("OTEL_PROPAGATORS"), &p);
    return p ? p : (dpt_propagator *)&p_tc;
}

void dpt_propagator_free(dpt_propagator *p)
{
    if (p && !p->is_static) free(p);
}

static size_t fields_of(const dpt_propagator *p, const char **names, size_t max, size_t at)
{
    static const char *tc[] = { "traceparent", "tracestate" };
    static const char *bg[] = { "baggage" };
    static const char *b3[] = { "b3" };
    static const char *b3m[] = { "x-b3-traceid", "x-b3-spanid", "x-b3-sampled" };
    static const char *jg[] = { "uber-trace-id" };
    const char **f = NULL;
    size_t n = 0;
    switch (p->kind) {
    case K_TRACECONTEXT: f = tc, n = 2; break;
    case K_BAGGAGE: f = bg, n = 1; break;
    case K_B3: f = b3, n = 1; break;
    case K_B3MULTI: f = b3m, n = 3; break;
    case K_JAEGER: f = jg, n = 1; break;
    case K_COMPOSITE:
        for (size_t i = 0; i < p->n; i++) at = fields_of(p->m[i], names, max, at);
        return at;
    default: return at;
    }
    for (size_t i = 0; i < n; i++, at++)
        if (names && at < max) names[at] = f[i];
    return at;
}

size_t dpt_propagator_fields(const dpt_propagator *p, const char **names, size_t max)
{
    return p ? fields_of(p, names, max, 0) : 0;
}

/* ---- the process-wide propagator ----------------------------------------------------------- */

/* Set by the application (not owned), or built once from the environment (owned here for
 * the life of the process). Acquire/release: a reader that sees the pointer sees the
 * object it points to fully built. */
static _Atomic(const dpt_propagator *) g_set;
static dpt_propagator *g_env;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

static void env_init(void) { g_env = dpt_propagator_from_env(); }

void dpt_propagator_set_global(const dpt_propagator *p)
{
    atomic_store_explicit(&g_set, p, memory_order_release);
}

const dpt_propagator *dpt_propagator_get_global(void)
{
    const dpt_propagator *p = atomic_load_explicit(&g_set, memory_order_acquire);
    if (p) return p;
    pthread_once(&g_env_once, env_init);
    return g_env;
}

/* ---- extract / inject ------------------------------------------------------------------------ */

static void run_extract(const dpt_propagator *p, const dpt__in *in, dpt__extract *x, int depth)
{
    switch (p->kind) {
    case K_TRACECONTEXT: dpt__tc_extract(in, x); break;
    case K_BAGGAGE: dpt__bg_extract(in, x); break;
    case K_B3:
    case K_B3MULTI: dpt__b3_extract(in, x); break;
    case K_JAEGER: dpt__jaeger_extract(in, x); break;
    case K_COMPOSITE:
        /* Composites of composites are allowed; the depth bound stops a cycle built by
         * casting away const. */
        if (depth < 8)
            for (size_t i = 0; i < p->n; i++) run_extract(p->m[i], in, x, depth + 1);
        break;
    default: break;
    }
}

dpt_err dpt_propagator_extract(const dpt_propagator *p, const dpt_getter *g, void *carrier,
                               dpt_context **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!g || !g->get) return DPT_EINVAL;
    if (!p) p = dpt_propagator_get_global();
    dpt__in in = { g, carrier };
    dpt__extract x;
    memset(&x, 0, sizeof x);
    run_extract(p, &in, &x, 0);
    dpt_err rc = DPT_ENOTFOUND;
    if (x.oom) {
        rc = DPT_ENOMEM;
    } else {
        *out = dpt_context_new(x.have_sc ? &x.sc : NULL, x.have_sc ? x.ts : NULL, x.bg);
        if (!*out) rc = DPT_ENOMEM;
        else if (x.have_sc) rc = DPT_OK;
        else if (x.saw_trace_field) rc = DPT_EPARSE;
    }
    dpt_tracestate_release(x.ts);
    dpt_baggage_release(x.bg);
    return rc;
}

static dpt_err run_inject(const dpt_propagator *p, const dpt_context *ctx, const dpt_setter *s,
                          void *c, int depth)
{
    switch (p->kind) {
    case K_TRACECONTEXT: return dpt__tc_inject(ctx, s, c);
    case K_BAGGAGE: return dpt__bg_inject(ctx, s, c);
    case K_B3: return dpt__b3_inject_single(ctx, s, c);
    case K_B3MULTI: return dpt__b3_inject_multi(ctx, s, c);
    case K_JAEGER: return dpt__jaeger_inject(ctx, s, c);
    case K_COMPOSITE:
        if (depth < 8)
            for (size_t i = 0; i < p->n; i++) {
                dpt_err e = run_inject(p->m[i], ctx, s, c, depth + 1);
                if (e != DPT_OK) return e;
            }
        return DPT_OK;
    default: return DPT_OK;
    }
}

dpt_err dpt_propagator_inject(const dpt_propagator *p, const dpt_context *ctx, const dpt_setter *s,
                              void *carrier)
{
    if (!s || !s->set) return DPT_EINVAL;
    if (!p) p = dpt_propagator_get_global();
    dpt_context *cur = NULL;
    if (!ctx) {
        cur = dpt_context_current();
        if (!cur) return DPT_ENOMEM;
        ctx = cur;
    }
    dpt_err e = run_inject(p, ctx, s, carrier, 0);
    dpt_context_release(cur);
    return e;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

dpt_err dpt_span_opts_from_incoming(const dpt_context *incoming, bool untrusted_edge,
                                    dpt_span_opts *opts, dpt_link *link)
{
    if (!opts || !link) return DPT_EINVAL;
    if (!untrusted_edge) {
        opts->parent = incoming;
        return DPT_OK;
    }
    /* At the edge the caller's context is not continued: a new root, linked to what came
     * in so that the two traces can still be joined by someone who trusts both. */
    opts->parent = NULL;
    opts->parent_span = DPT_SPAN_NONE;
    opts->root = true;
    opts->links = NULL;
    opts->n_links = 0;
    dpt_span_context sc = dpt_context_span_context(incoming);
    if (dpt_span_context_is_valid(&sc)) {
        memset(link, 0, sizeof *link);
        link->ctx = sc;
        size_t tl = 0;
        link->tracestate = dpt_tracestate_str(dpt_context_tracestate(incoming), &tl);
        link->tracestate_len = (uint32_t)tl;
        opts->links = link;
        opts->n_links = 1;
        dpt__prop_count(DPT__PS_EDGE_DROPPED, 1);
    }
    return DPT_OK;
}

dpt_span dpt_span_start_server(dpt_tracer *t, const char *name, const dpt_getter *g,
                               void *carrier, const dpt_server_opts *opts, dpt_context **ctx_out)
{
    dpt_server_opts def;
    memset(&def, 0, sizeof def);
    if (!opts) opts = &def;
    if (ctx_out) *ctx_out = NULL;
    dpt_context *in = NULL;
    if (g) dpt_propagator_extract(opts->propagator, g, carrier, &in);
    dpt_span_opts so;
    memset(&so, 0, sizeof so);
    dpt_link link;
    so.attrs = opts->attrs;
    so.n_attrs = opts->n_attrs;
    so.start_ns = opts->start_ns;
    if (in) dpt_span_opts_from_incoming(in, opts->untrusted_edge, &so, &link);
    else so.root = true; /* nothing readable came in (or no memory): a new trace */
    dpt_span s = dpt_span_start(t, name, DPT_SPAN_SERVER, &so);
    if (ctx_out) {
        /* The baggage that continues with the request: none at an untrusted edge. */
        const dpt_baggage *bg = opts->untrusted_edge ? NULL : dpt_context_baggage(in);
        dpt_span_context sc = dpt_span_get_context(s);
        if (dpt_span_context_is_valid(&sc)) {
            dpt_context *base = dpt_context_new(NULL, NULL, bg);
            *ctx_out = base ? dpt_context_with_span(base, s) : NULL;
            dpt_context_release(base);
        } else if (!opts->untrusted_edge && in) {
            *ctx_out = dpt_context_retain(in); /* no span here: the caller's trace goes on */
        } else {
            *ctx_out = dpt_context_new(NULL, NULL, NULL);
        }
    }
    dpt_context_release(in);
    return s;
}

dpt_span dpt_span_start_client(dpt_tracer *t, const char *name, const dpt_context *parent,
                               const dpt_propagator *p, const dpt_setter *s, void *carrier,
                               const dpt_attr *attrs, size_t n_attrs)
{
    dpt_context *cur = NULL;
    if (!parent) {
        cur = dpt_context_current();
        parent = cur;
    }
    dpt_span_opts so;
    memset(&so, 0, sizeof so);
    so.attrs = attrs;
    so.n_attrs = n_attrs;
    so.parent = parent;
    if (!parent) so.root = true;
    dpt_span span = dpt_span_start(t, name, DPT_SPAN_CLIENT, &so);
    if (s && s->set) {
        dpt_span_context sc = dpt_span_get_context(span);
        bool valid = dpt_span_context_is_valid(&sc);
        /* Without a span of our own the parent is sent unchanged, so the trace goes on. */
        dpt_context *out = valid ? dpt_context_with_span(parent, span) : dpt_context_retain(parent);
        dpt_err e = DPT_OK;
        if (out) e = dpt_propagator_inject(p, out, s, carrier);
        else if (valid || parent) e = DPT_ENOMEM;
        if (e != DPT_OK) dpt__log(DPT_LOG_WARN, "client span: inject failed: %s", dpt_strerror(e));
        dpt_context_release(out);
    }
    dpt_context_release(cur);
    return span;
}
