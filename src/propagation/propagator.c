/* propagator.c - propagator objects (built-in formats, formats of the application,
 * composites), the registry of names for OTEL_PROPAGATORS, the process-wide propagator,
 * and the server / client / untrusted-edge helpers.
 *
 * Every propagator is an ops table over a state. A composite is one more ops table whose
 * state is its member list: it runs its members on one shared dpt_extraction, so that one
 * dpt_context is built at the end whatever the number of formats.
 */
#include "prop_internal.h"

#include <stdlib.h>
#include <strings.h>

#define MAX_MEMBERS 16
#define MAX_DEPTH 8 /* composites of composites; the bound stops a cycle made by casting */
#define NAME_MAX_LEN 31
#define MAX_REGISTERED 32

struct dpt_propagator {
    const dpt_propagator_ops *ops;
    void *state;
    bool is_static;
    char name[NAME_MAX_LEN + 1];
    size_t n; /* composite members */
    const dpt_propagator *m[MAX_MEMBERS];
};

/* ---- the "none" format ------------------------------------------------------------------ */

static void none_extract(void *st, const dpt_getter *g, void *c, dpt_extraction *x)
{
    (void)st, (void)g, (void)c, (void)x;
}
static dpt_err none_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st, (void)ctx, (void)s, (void)c;
    return DPT_OK;
}
static const dpt_propagator_ops none_ops = {none_extract, none_inject, NULL, NULL};

/* ---- composites ------------------------------------------------------------------------- */

/* The depth of nested composites being run on this thread: a composite made to contain
 * itself (by casting away const) stops at MAX_DEPTH instead of recursing forever. */
static _Thread_local int comp_depth;

static void comp_extract(void *st, const dpt_getter *g, void *c, dpt_extraction *x)
{
    const dpt_propagator *p = st;
    if (comp_depth >= MAX_DEPTH) return;
    comp_depth++;
    for (size_t i = 0; i < p->n; i++)
        p->m[i]->ops->extract(p->m[i]->state, g, c, x);
    comp_depth--;
}

static dpt_err comp_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    const dpt_propagator *p = st;
    if (comp_depth >= MAX_DEPTH) return DPT_OK;
    comp_depth++;
    dpt_err e = DPT_OK;
    for (size_t i = 0; i < p->n && e == DPT_OK; i++)
        e = p->m[i]->ops->inject(p->m[i]->state, ctx, s, c);
    comp_depth--;
    return e;
}

static size_t comp_fields(void *st, const char **names, size_t max)
{
    const dpt_propagator *p = st;
    size_t at = 0;
    if (comp_depth >= MAX_DEPTH) return 0;
    comp_depth++;
    for (size_t i = 0; i < p->n; i++) {
        const dpt_propagator *q = p->m[i];
        if (!q->ops->fields) continue;
        size_t room = names && at < max ? max - at : 0;
        at += q->ops->fields(q->state, room ? names + at : NULL, room);
    }
    comp_depth--;
    return at;
}

static const dpt_propagator_ops comp_ops = {comp_extract, comp_inject, comp_fields, NULL};

/* ---- built-in instances ------------------------------------------------------------------- */

#define BUILTIN(var, ops, nm) static const dpt_propagator var = {&(ops), NULL, true, nm, 0, {0}}
BUILTIN(p_none, none_ops, "none");
BUILTIN(p_tc, dpt__tracecontext_ops, "tracecontext");
BUILTIN(p_bg, dpt__baggage_ops, "baggage");
BUILTIN(p_b3, dpt__b3_ops, "b3");
BUILTIN(p_b3m, dpt__b3multi_ops, "b3multi");
BUILTIN(p_jg, dpt__jaeger_ops, "jaeger");
BUILTIN(p_ot, dpt__ottrace_ops, "ottrace");
#undef BUILTIN

const dpt_propagator *dpt_propagator_tracecontext(void)
{
    return &p_tc;
}
const dpt_propagator *dpt_propagator_baggage(void)
{
    return &p_bg;
}
const dpt_propagator *dpt_propagator_b3(void)
{
    return &p_b3;
}
const dpt_propagator *dpt_propagator_b3multi(void)
{
    return &p_b3m;
}
const dpt_propagator *dpt_propagator_jaeger(void)
{
    return &p_jg;
}
const dpt_propagator *dpt_propagator_ottrace(void)
{
    return &p_ot;
}
const dpt_propagator *dpt_propagator_none(void)
{
    return &p_none;
}

static const dpt_propagator *const builtins[] = {&p_tc, &p_bg, &p_b3,   &p_b3m,
                                                 &p_jg, &p_ot, &p_none, NULL};

dpt_propagator *dpt_propagator_new(const char *name, const dpt_propagator_ops *ops, void *state)
{
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > NAME_MAX_LEN || !ops || !ops->extract || !ops->inject) {
        dpt__log(DPT_LOG_ERROR, "dpt_propagator_new: %s",
                 !ops || !ops->extract || !ops->inject ? "ops with extract and inject are needed"
                                                       : "a name of 1 to 31 bytes is needed");
        return NULL;
    }
    dpt_propagator *p = dpt__calloc(1, sizeof *p);
    if (!p) {
        dpt__log(DPT_LOG_ERROR, "dpt_propagator_new(\"%s\"): out of memory", name);
        return NULL;
    }
    p->ops = ops;
    p->state = state;
    memcpy(p->name, name, nl + 1);
    return p;
}

dpt_propagator *dpt_propagator_composite(const dpt_propagator *const *list, size_t n)
{
    const char *why = NULL;
    if (!list && n)
        why = "NULL list";
    else if (n > MAX_MEMBERS)
        why = "more than 16 members";
    for (size_t i = 0; !why && i < n; i++)
        if (!list[i] || !list[i]->ops) why = "a NULL member";
    dpt_propagator *p = why ? NULL : dpt__calloc(1, sizeof *p);
    if (!p) {
        dpt__log(DPT_LOG_ERROR, "dpt_propagator_composite: %s", why ? why : "out of memory");
        return NULL;
    }
    p->ops = &comp_ops;
    p->state = p;
    memcpy(p->name, "composite", sizeof "composite");
    p->n = n;
    for (size_t i = 0; i < n; i++)
        p->m[i] = list[i];
    return p;
}

/* ---- names: the built-ins and the registry ------------------------------------------------- */

/* Registered propagators (borrowed). Guarded by reg_mu; read only while building
 * propagators from names, never on the extract / inject path. */
static struct {
    char name[NAME_MAX_LEN + 1];
    const dpt_propagator *p;
} registry[MAX_REGISTERED];
static size_t n_registry;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static const dpt_propagator *builtin_by_name(const char *s, size_t n)
{
    for (size_t i = 0; builtins[i]; i++)
        if (strlen(builtins[i]->name) == n && strncasecmp(builtins[i]->name, s, n) == 0)
            return builtins[i];
    return NULL;
}

/* Caller holds reg_mu. */
static size_t registered_index(const char *s, size_t n)
{
    for (size_t i = 0; i < n_registry; i++)
        if (strlen(registry[i].name) == n && strncasecmp(registry[i].name, s, n) == 0) return i;
    return SIZE_MAX;
}

dpt_err dpt_propagator_register(const char *name, const dpt_propagator *p)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n <= NAME_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = name_char(name[i]);
    if (!ok || builtin_by_name(name, n)) {
        dpt__log(DPT_LOG_ERROR, "dpt_propagator_register: \"%.*s\" %s", (int)(n > 64 ? 64 : n),
                 name ? name : "(null)",
                 ok ? "is a built-in propagator name" : "is not a name of 1-31 [A-Za-z0-9._-]");
        return DPT_EINVAL;
    }
    dpt_err e = DPT_OK;
    pthread_mutex_lock(&reg_mu);
    size_t at = registered_index(name, n);
    if (!p) {
        if (at == SIZE_MAX) {
            e = DPT_ENOTFOUND;
        } else {
            registry[at] = registry[--n_registry];
        }
    } else if (at != SIZE_MAX) {
        e = DPT_EINVAL;
    } else if (n_registry == MAX_REGISTERED) {
        e = DPT_ETOOBIG;
    } else {
        memcpy(registry[n_registry].name, name, n + 1);
        registry[n_registry].p = p;
        n_registry++;
    }
    pthread_mutex_unlock(&reg_mu);
    if (e == DPT_EINVAL)
        dpt__log(DPT_LOG_ERROR, "dpt_propagator_register: \"%s\" is already registered", name);
    if (e == DPT_ETOOBIG)
        dpt__log(DPT_LOG_ERROR, "dpt_propagator_register: all %d names are in use", MAX_REGISTERED);
    return e;
}

static const dpt_propagator *by_name(const char *s, size_t n)
{
    const dpt_propagator *p = builtin_by_name(s, n);
    if (p) return p;
    pthread_mutex_lock(&reg_mu);
    size_t at = registered_index(s, n);
    p = at == SIZE_MAX ? NULL : registry[at].p;
    pthread_mutex_unlock(&reg_mu);
    return p;
}

const dpt_propagator *dpt_propagator_get(const char *name)
{
    return name ? by_name(name, strlen(name)) : NULL;
}

dpt_propagator *dpt_propagator_from_names(const char *names)
{
    const dpt_propagator *list[MAX_MEMBERS];
    size_t n = 0;
    bool none = false;
    const char *s = names;
    if (!s || !*s) s = "tracecontext,baggage";
    size_t pos = 0, wl;
    const char *w;
    while (dpt__list_next(s, strlen(s), &pos, &w, &wl)) {
        const dpt_propagator *p = by_name(w, wl);
        if (!p) {
            dpt__log(DPT_LOG_WARN, "OTEL_PROPAGATORS: unknown propagator \"%.*s\" ignored",
                     (int)(wl > 64 ? 64 : wl), w);
            continue;
        }
        if (p == &p_none) none = true;
        bool dup = false;
        for (size_t q = 0; q < n; q++)
            dup |= list[q] == p;
        if (dup) continue;
        if (n == MAX_MEMBERS) {
            dpt__log(DPT_LOG_WARN, "OTEL_PROPAGATORS: more than %d propagators; \"%.*s\" ignored",
                     MAX_MEMBERS, (int)(wl > 64 ? 64 : wl), w);
            continue;
        }
        list[n++] = p;
    }
    return dpt_propagator_composite(list, none ? 0 : n);
}

dpt_propagator *dpt_propagator_from_env(void)
{
    dpt_propagator *p = dpt_propagator_from_names(getenv("OTEL_PROPAGATORS"));
    return p ? p : (dpt_propagator *)&p_tc;
}

void dpt_propagator_free(dpt_propagator *p)
{
    if (!p || p->is_static) return;
    if (p->ops && p->ops->free_state) p->ops->free_state(p->state);
    free(p);
}

size_t dpt_propagator_fields(const dpt_propagator *p, const char **names, size_t max)
{
    if (!p || !p->ops || !p->ops->fields) return 0;
    return p->ops->fields(p->state, names, names ? max : 0);
}

/* ---- the process-wide propagator ----------------------------------------------------------- */

/* Set by the application (not owned), or built once from the environment (owned here for
 * the life of the process). Acquire/release: a reader that sees the pointer sees the
 * object it points to fully built. */
static _Atomic(const dpt_propagator *) g_set;
static dpt_propagator *g_env;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

static void env_init(void)
{
    g_env = dpt_propagator_from_env();
}

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

dpt_err dpt_propagator_extract(const dpt_propagator *p, const dpt_getter *g, void *carrier,
                               dpt_context **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!g || !g->get) return DPT_EINVAL;
    if (!p) p = dpt_propagator_get_global();
    dpt_extraction x;
    memset(&x, 0, sizeof x);
    p->ops->extract(p->state, g, carrier, &x);
    dpt_err rc = DPT_ENOTFOUND;
    if (x.oom) {
        rc = DPT_ENOMEM;
    } else {
        *out = dpt_context_new(x.have_sc ? &x.sc : NULL, x.have_sc ? x.ts : NULL, x.bg);
        if (!*out)
            rc = DPT_ENOMEM;
        else if (x.have_sc)
            rc = DPT_OK;
        else if (x.saw_trace_field)
            rc = DPT_EPARSE;
    }
    dpt_tracestate_release(x.ts);
    dpt_baggage_release(x.bg);
    return rc;
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
    dpt_err e = p->ops->inject(p->state, ctx, s, carrier);
    dpt_context_release(cur);
    return e;
}

/* ---- helpers ------------------------------------------------------------------------------------
 */

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
        link->ctx.flags &= DPT__FLAGS_W3C; /* no in-memory marks (B3 debug) on a link */
        size_t tl = 0;
        link->tracestate = dpt_tracestate_str(dpt_context_tracestate(incoming), &tl);
        link->tracestate_len = (uint32_t)tl;
        opts->links = link;
        opts->n_links = 1;
        dpt__prop_count(DPT_PSTAT_EDGE_CONTEXTS_DROPPED, 1);
    }
    return DPT_OK;
}

dpt_span dpt_span_start_server(dpt_tracer *t, const char *name, const dpt_getter *g, void *carrier,
                               const dpt_server_opts *opts, dpt_context **ctx_out)
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
    if (in)
        dpt_span_opts_from_incoming(in, opts->untrusted_edge, &so, &link);
    else
        so.root = true; /* nothing readable came in (or no memory): a new trace */
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
        if (out)
            e = dpt_propagator_inject(p, out, s, carrier);
        else if (valid || parent)
            e = DPT_ENOMEM;
        if (e != DPT_OK) dpt__log(DPT_LOG_WARN, "client span: inject failed: %s", dpt_strerror(e));
        dpt_context_release(out);
    }
    dpt_context_release(cur);
    return span;
}
