/* processor.c - processor and exporter handles around user ops, the simple processor
 * (exports on the ending thread) and the multi processor (fans out), and the graveyard of
 * objects a hung exporter may still use.
 */
#include "processor.h"
#include "pool.h"
#include "provider.h"
#include "counters.h"

#include <stdlib.h>

/* ---- processor and exporter wrappers ----------------------------------------------------- */

dpt_processor *dpt_processor_new(const dpt_processor_ops *ops, void *state)
{
    if (!ops || !ops->on_end) return NULL;
    dpt_processor *p = dpt__calloc(1, sizeof *p);
    if (!p) {
        if (ops->destroy) ops->destroy(state);
        return NULL;
    }
    p->ops = *ops;
    p->state = state;
    return p;
}

void dpt__processor_destroy(dpt_processor *pr)
{
    if (!pr) return;
    if (pr->ops.destroy) pr->ops.destroy(pr->state);
    free(pr);
}

void dpt_processor_free(dpt_processor *p)
{
    dpt__processor_destroy(p);
}

dpt_exporter *dpt_exporter_new(const dpt_exporter_ops *ops, void *state)
{
    if (!ops || !ops->export_spans) return NULL;
    dpt_exporter *e = dpt__calloc(1, sizeof *e);
    if (!e) {
        if (ops->destroy) ops->destroy(state);
        return NULL;
    }
    e->ops = *ops;
    e->state = state;
    return e;
}

void *dpt_exporter_state(const dpt_exporter *e,
                         dpt_err (*export_fn)(void *, const dpt_span_data *const *, size_t))
{
    return e && export_fn && e->ops.export_spans == export_fn ? e->state : NULL;
}

dpt_err dpt_exporter_set_nonblocking(dpt_exporter *e, bool nonblocking)
{
    if (!e) return DPT_EINVAL;
    e->nonblocking = nonblocking;
    return DPT_OK;
}

void dpt_exporter_free(dpt_exporter *e)
{
    if (!e) return;
    if (e->ops.destroy) e->ops.destroy(e->state);
    free(e);
}

dpt_err dpt_exporter_export(dpt_exporter *e, const dpt_span_data *const *spans, size_t n)
{
    if (!e || (!spans && n)) return DPT_EINVAL;
    return e->ops.export_spans(e->state, spans, n);
}

dpt_err dpt_exporter_force_flush(dpt_exporter *e, uint32_t timeout_ms)
{
    if (!e) return DPT_EINVAL;
    return e->ops.force_flush ? e->ops.force_flush(e->state, timeout_ms) : DPT_OK;
}

dpt_err dpt_exporter_shutdown(dpt_exporter *e, uint32_t timeout_ms)
{
    if (!e) return DPT_EINVAL;
    return e->ops.shutdown ? e->ops.shutdown(e->state, timeout_ms) : DPT_OK;
}

/* Simple processor: export on the ending thread, one span at a time, under a mutex. */
typedef struct simple {
    dpt_exporter *exp;
    pthread_mutex_t mu;
    bool shut;
    /* The thread running an export call (0: none). Written under mu; read without it by
     * any thread, which only compares it with its own id: only the exporting thread itself
     * can see a match, so a relaxed atomic is enough. */
    _Atomic uintptr_t exporter;
} simple;

/* True when the calling thread is inside this processor's exporter (a callback that calls
 * force_flush or shutdown): it holds mu already and must not take it again. */
static bool simple_reentered(simple *s)
{
    return atomic_load_explicit(&s->exporter, memory_order_relaxed) == (uintptr_t)pthread_self();
}

static void simple_on_end(void *st, const dpt_span_data *d)
{
    simple *s = st;
    dpt_provider *p = d->tracer->provider;
    if (!(d->ctx.flags & DPT_FLAG_SAMPLED)) return;
    if (simple_reentered(s)) { /* a span ended inside the exporter: not exported (loop) */
        dpt__count(p, DPT__C_DROPPED_QUEUE, 1);
        return;
    }
    pthread_mutex_lock(&s->mu);
    dpt_err e = DPT_ESTATE;
    if (!s->shut) {
        atomic_store_explicit(&s->exporter, (uintptr_t)pthread_self(), memory_order_relaxed);
        e = s->exp->ops.export_spans(s->exp->state, &d, 1);
        atomic_store_explicit(&s->exporter, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DPT_OK)
        dpt__count(p, DPT__C_EXPORTED, 1);
    else if (e == DPT_ESTATE)
        dpt__count(p, DPT__C_DROPPED_QUEUE, 1);
    else
        dpt__count(p, DPT__C_EXPORT_FAILED, 1);
}

static dpt_err simple_flush(void *st, uint32_t timeout_ms)
{
    simple *s = st;
    if (simple_reentered(s)) return DPT_OK; /* everything before is being exported now */
    pthread_mutex_lock(&s->mu);
    dpt_err e =
        s->exp->ops.force_flush ? s->exp->ops.force_flush(s->exp->state, timeout_ms) : DPT_OK;
    pthread_mutex_unlock(&s->mu);
    return e;
}

static dpt_err simple_shutdown(void *st, uint32_t timeout_ms)
{
    simple *s = st;
    if (simple_reentered(s)) {
        s->shut = true; /* the exporter's own shutdown runs at destroy */
        return DPT_OK;
    }
    pthread_mutex_lock(&s->mu);
    dpt_err e = DPT_OK;
    if (!s->shut) {
        s->shut = true;
        if (s->exp->ops.shutdown) e = s->exp->ops.shutdown(s->exp->state, timeout_ms);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

static void simple_destroy(void *st)
{
    simple *s = st;
    dpt_exporter_free(s->exp);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

dpt_processor *dpt_processor_simple(dpt_exporter *e)
{
    if (!e) return NULL;
    simple *s = dpt__calloc(1, sizeof *s);
    if (!s) {
        dpt_exporter_free(e);
        return NULL;
    }
    s->exp = e;
    pthread_mutex_init(&s->mu, NULL);
    static const dpt_processor_ops ops = {NULL, simple_on_end, simple_flush, simple_shutdown,
                                          simple_destroy};
    return dpt_processor_new(&ops, s);
}

/* Multi processor: fan-out. */
typedef struct multi {
    size_t n;
    dpt_processor *p[];
} multi;

static void multi_on_start(void *st, const dpt_span_data *d, const dpt_context *parent)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++)
        dpt__processor_on_start(m->p[i], d, parent);
}

static void multi_on_end(void *st, const dpt_span_data *d)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++)
        m->p[i]->ops.on_end(m->p[i]->state, d);
}

static void multi_on_ending(void *st, dpt_span span, const dpt_span_data *d)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i]->ops.on_ending) m->p[i]->ops.on_ending(m->p[i]->state, span, d);
}

static dpt_err multi_each(multi *m, uint32_t timeout_ms, bool shutdown)
{
    dpt_err worst = DPT_OK;
    for (size_t i = 0; i < m->n; i++) {
        dpt_err (*fn)(void *, uint32_t) =
            shutdown ? m->p[i]->ops.shutdown : m->p[i]->ops.force_flush;
        dpt_err e = fn ? fn(m->p[i]->state, timeout_ms) : DPT_OK;
        if (e != DPT_OK) worst = e;
    }
    return worst;
}

static dpt_err multi_flush(void *st, uint32_t t)
{
    return multi_each(st, t, false);
}
static dpt_err multi_shutdown(void *st, uint32_t t)
{
    return multi_each(st, t, true);
}

static void multi_destroy(void *st)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++)
        dpt__processor_destroy(m->p[i]);
    free(m);
}

dpt_processor *dpt_processor_multi(dpt_processor *const *procs, size_t n)
{
    if (!procs && n) return NULL;
    multi *m = dpt__calloc(1, sizeof *m + sizeof(dpt_processor *) * n);
    if (!m) {
        for (size_t i = 0; i < n; i++)
            dpt__processor_destroy(procs[i]);
        return NULL;
    }
    bool any_start = false, any_ending = false;
    for (size_t i = 0; i < n; i++) {
        if (!procs[i]) continue;
        m->p[m->n++] = procs[i];
        if (procs[i]->ops.on_start || procs[i]->ops.on_start_ctx) any_start = true;
        if (procs[i]->ops.on_ending) any_ending = true;
    }
    dpt_processor_ops ops = {NULL,
                             multi_on_end,
                             multi_flush,
                             multi_shutdown,
                             multi_destroy,
                             any_start ? multi_on_start : NULL,
                             any_ending ? multi_on_ending : NULL};
    return dpt_processor_new(&ops, m);
}

/* ---- graveyard -------------------------------------------------------------------------- */

typedef struct grave {
    void *p;
    struct grave *next;
} grave;

/* Global list, only ever grown; protected by grave_mu. */
static pthread_mutex_t grave_mu = PTHREAD_MUTEX_INITIALIZER;
static grave *graves;

void dpt__graveyard_add(void *p)
{
    grave *g = malloc(sizeof *g);
    if (!g) return; /* then it simply leaks */
    g->p = p;
    pthread_mutex_lock(&grave_mu);
    g->next = graves;
    graves = g;
    pthread_mutex_unlock(&grave_mu);
}
