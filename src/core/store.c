/* store.c - the trace store: a bounded in-memory store of whole traces.
 *
 * Finished spans are kept grouped by trace id in a fixed-size hash table (chained), and
 * traces are kept in arrival order of their first span. When a bound (spans or bytes) is
 * reached, the oldest whole traces are evicted first, so a trace is never kept with holes
 * cut into it by eviction. One mutex guards the store: it is a debugging and
 * tail-inspection facility, not the export hot path; snapshots take references to the
 * records so readers never hold the lock while they read.
 */
#include "pool.h"
#include "counters.h"

#include <stdlib.h>

typedef struct trace {
    dpt_trace_id id;
    dpt__span *first, *last; /* chained through store_next_in_trace */
    size_t n_spans;
    size_t bytes;
    struct trace *hnext;         /* hash chain */
    struct trace *older, *newer; /* arrival order */
} trace;

struct dpt_store {
    _Atomic uint32_t refs;
    dpt_store_config cfg;
    pthread_mutex_t mu;
    trace **buckets;
    size_t mask;
    trace *oldest, *newest;
    dpt_store_stats st;
};

struct dpt_trace_snapshot {
    size_t n;
    const dpt_span_data *spans[];
};

static size_t hash_id(const dpt_trace_id *id)
{
    uint64_t a, b;
    memcpy(&a, id->b, 8);
    memcpy(&b, id->b + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull));
    return (size_t)(h ^ (h >> 29));
}

dpt_store *dpt_store_new(const dpt_store_config *cfg)
{
    dpt_store *st = dpt__calloc(1, sizeof *st);
    if (!st) return NULL;
    st->cfg.max_spans = cfg && cfg->max_spans ? cfg->max_spans : 10000;
    st->cfg.max_bytes = cfg && cfg->max_bytes ? cfg->max_bytes : (size_t)16 << 20;
    size_t nb = 64;
    while (nb < st->cfg.max_spans && nb < ((size_t)1 << 20))
        nb <<= 1;
    st->buckets = dpt__calloc(nb, sizeof(trace *));
    if (!st->buckets) {
        free(st);
        return NULL;
    }
    st->mask = nb - 1;
    atomic_init(&st->refs, 1);
    pthread_mutex_init(&st->mu, NULL);
    return st;
}

static trace **find_slot(dpt_store *st, const dpt_trace_id *id)
{
    trace **pp = &st->buckets[hash_id(id) & st->mask];
    while (*pp && memcmp((*pp)->id.b, id->b, 16) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

/* Unlinks and frees trace t (store locked); returns its spans chain for release. */
static dpt__span *remove_trace(dpt_store *st, trace *t)
{
    trace **pp = find_slot(st, &t->id);
    if (*pp == t) *pp = t->hnext;
    if (t->older)
        t->older->newer = t->newer;
    else
        st->oldest = t->newer;
    if (t->newer)
        t->newer->older = t->older;
    else
        st->newest = t->older;
    st->st.spans -= t->n_spans;
    st->st.bytes -= t->bytes;
    st->st.traces--;
    dpt__span *chain = t->first;
    free(t);
    return chain;
}

static void release_chain(dpt__span *s)
{
    while (s) {
        dpt__span *next = s->store_next_in_trace;
        dpt_span_data_release(&s->d);
        s = next;
    }
}

static void store_on_end(void *state, const dpt_span_data *d)
{
    dpt_store *st = state;
    dpt__span *s = (dpt__span *)d;
    dpt_provider *p = d->tracer->provider;
    size_t bytes = dpt__span_bytes(s);
    dpt__span *evicted[8];
    size_t n_evicted = 0;
    uint64_t evicted_spans = 0;

    pthread_mutex_lock(&st->mu);
    if (bytes > st->cfg.max_bytes) {
        st->st.rejected_spans++;
        pthread_mutex_unlock(&st->mu);
        dpt__count(p, DPT__C_DROPPED_STORE, 1);
        return;
    }
    trace **slot = find_slot(st, &d->ctx.trace_id);
    trace *t = *slot;
    /* Make room: evict the oldest whole traces (never the one this span joins, unless
     * it is the only one left). */
    while (st->oldest &&
           (st->st.spans + 1 > st->cfg.max_spans || st->st.bytes + bytes > st->cfg.max_bytes)) {
        trace *victim = st->oldest;
        if (victim == t) {
            if (!victim->newer) break;
            victim = victim->newer;
        }
        evicted_spans += victim->n_spans;
        st->st.evicted_traces++;
        st->st.evicted_spans += victim->n_spans;
        dpt__span *chain = remove_trace(st, victim);
        if (n_evicted < 8) {
            evicted[n_evicted++] = chain;
        } else {
            release_chain(chain); /* rare: many tiny traces evicted at once */
        }
        slot = find_slot(st, &d->ctx.trace_id);
        t = *slot;
    }
    if (st->st.spans + 1 > st->cfg.max_spans || st->st.bytes + bytes > st->cfg.max_bytes) {
        /* Only the span's own trace is left and it is full: drop the span itself. */
        st->st.rejected_spans++;
        pthread_mutex_unlock(&st->mu);
        dpt__count(p, DPT__C_DROPPED_STORE, 1);
        goto release;
    }
    if (!t) {
        t = dpt__calloc(1, sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&st->mu);
            dpt__count(p, DPT__C_DROPPED_STORE, 1);
            goto release;
        }
        t->id = d->ctx.trace_id;
        *slot = t;
        t->older = st->newest;
        if (st->newest)
            st->newest->newer = t;
        else
            st->oldest = t;
        st->newest = t;
        st->st.traces++;
    }
    dpt_span_data_retain(d);
    s->store_next_in_trace = NULL;
    if (t->last)
        t->last->store_next_in_trace = s;
    else
        t->first = s;
    t->last = s;
    t->n_spans++;
    t->bytes += bytes;
    st->st.spans++;
    st->st.bytes += bytes;
    pthread_mutex_unlock(&st->mu);
release:
    /* Release evicted records outside the lock: recycling touches the pool. */
    if (evicted_spans) dpt__count(p, DPT__C_DROPPED_STORE, evicted_spans);
    for (size_t i = 0; i < n_evicted; i++)
        release_chain(evicted[i]);
}

static void store_release(dpt_store *st)
{
    if (!st || atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1) return;
    while (st->oldest)
        release_chain(remove_trace(st, st->oldest));
    pthread_mutex_destroy(&st->mu);
    free(st->buckets);
    free(st);
}

static void store_proc_destroy(void *state)
{
    store_release(state);
}

dpt_processor *dpt_processor_store(dpt_store *st)
{
    if (!st) return NULL;
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed); /* caller holds one */
    static const dpt_processor_ops ops = {NULL, store_on_end, NULL, NULL, store_proc_destroy};
    return dpt_processor_new(&ops, st);
}

void dpt_store_free(dpt_store *st)
{
    store_release(st);
}

void dpt_store_get_stats(dpt_store *st, dpt_store_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    *out = st->st;
    pthread_mutex_unlock(&st->mu);
}

dpt_err dpt_store_get_trace(dpt_store *st, const dpt_trace_id *id, dpt_trace_snapshot **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!st || !id) return DPT_EINVAL;
    pthread_mutex_lock(&st->mu);
    trace *t = *find_slot(st, id);
    if (!t) {
        pthread_mutex_unlock(&st->mu);
        return DPT_ENOTFOUND;
    }
    dpt_trace_snapshot *snap = dpt__malloc(sizeof *snap + sizeof(void *) * t->n_spans);
    if (!snap) {
        pthread_mutex_unlock(&st->mu);
        return DPT_ENOMEM;
    }
    snap->n = 0;
    for (dpt__span *s = t->first; s; s = s->store_next_in_trace) {
        dpt_span_data_retain(&s->d);
        snap->spans[snap->n++] = &s->d;
    }
    pthread_mutex_unlock(&st->mu);
    *out = snap;
    return DPT_OK;
}

size_t dpt_trace_snapshot_count(const dpt_trace_snapshot *snap)
{
    return snap ? snap->n : 0;
}

const dpt_span_data *dpt_trace_snapshot_span(const dpt_trace_snapshot *snap, size_t i)
{
    return snap && i < snap->n ? snap->spans[i] : NULL;
}

void dpt_trace_snapshot_free(dpt_trace_snapshot *snap)
{
    if (!snap) return;
    for (size_t i = 0; i < snap->n; i++)
        dpt_span_data_release(snap->spans[i]);
    free(snap);
}

dpt_err dpt_store_get_trace_json(dpt_store *st, const dpt_trace_id *id, char **out, size_t *len)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    dpt_trace_snapshot *snap;
    dpt_err e = dpt_store_get_trace(st, id, &snap);
    if (e != DPT_OK) return e;
    e = dpt_trace_snapshot_to_json(snap, out, len);
    dpt_trace_snapshot_free(snap);
    return e;
}

dpt_err dpt_store_export_trace(dpt_store *st, const dpt_trace_id *id, dpt_exporter *exp)
{
    if (!exp) return DPT_EINVAL;
    dpt_trace_snapshot *snap;
    dpt_err e = dpt_store_get_trace(st, id, &snap);
    if (e != DPT_OK) return e;
    e = dpt_exporter_export(exp, snap->spans, snap->n);
    dpt_trace_snapshot_free(snap);
    return e;
}

/* ---- the trace JSON of one trace ------------------------------------------------------- */

static void attrs_obj(dpt__json *j, const dpt_attr *a, uint32_t n)
{
    dpt__json_obj_begin(j);
    for (uint32_t i = 0; i < n; i++) {
        dpt__json_keyn(j, a[i].key, a[i].key_len);
        dpt__json_value(j, &a[i].value);
    }
    dpt__json_obj_end(j);
}

static void time_field(dpt__json *j, const char *key, uint64_t ns)
{
    char t[40];
    dpt__format_rfc3339(ns, t);
    dpt__json_key(j, key);
    dpt__json_cstr(j, t);
}

/* "trace_id" and "span_id" members, lowercase hex. */
static void ids_json(dpt__json *j, const dpt_span_context *sc)
{
    char hex[33];
    dpt_trace_id_to_hex(&sc->trace_id, hex);
    dpt__json_key(j, "trace_id");
    dpt__json_cstr(j, hex);
    dpt_span_id_to_hex(&sc->span_id, hex);
    dpt__json_key(j, "span_id");
    dpt__json_cstr(j, hex);
}

static void span_json(dpt__json *j, const dpt_span_data *d)
{
    char hex[33];
    dpt__json_obj_begin(j);
    dpt__json_key(j, "name");
    dpt__json_str(j, d->name, d->name_len);
    ids_json(j, &d->ctx);
    dpt__json_key(j, "parent_span_id");
    if (dpt_span_id_is_valid(&d->parent_span_id)) {
        dpt_span_id_to_hex(&d->parent_span_id, hex);
        dpt__json_cstr(j, hex);
    } else {
        dpt__json_null(j);
    }
    dpt__json_key(j, "kind");
    dpt__json_cstr(j, dpt_span_kind_name((dpt_span_kind)d->kind));
    time_field(j, "start_time", d->start_ns);
    time_field(j, "end_time", d->end_ns);
    dpt__json_key(j, "duration_ns");
    dpt__json_uint(j, d->end_ns - d->start_ns);
    dpt__json_key(j, "trace_flags");
    dpt__json_uint(j, d->ctx.flags);
    if (d->tracestate_len) {
        dpt__json_key(j, "trace_state");
        dpt__json_str(j, d->tracestate, d->tracestate_len);
    }
    dpt__json_key(j, "scope");
    dpt__json_obj_begin(j);
    dpt__json_key(j, "name");
    dpt__json_cstr(j, dpt_tracer_name(d->tracer));
    dpt__json_key(j, "version");
    dpt__json_cstr(j, dpt_tracer_version(d->tracer));
    dpt__json_obj_end(j);
    dpt__json_key(j, "attributes");
    attrs_obj(j, d->attrs, d->n_attrs);
    dpt__json_key(j, "events");
    dpt__json_arr_begin(j);
    for (uint32_t i = 0; i < d->n_events; i++) {
        const dpt_event *e = &d->events[i];
        dpt__json_obj_begin(j);
        dpt__json_key(j, "name");
        dpt__json_str(j, e->name, e->name_len);
        time_field(j, "time", e->time_ns);
        dpt__json_key(j, "attributes");
        attrs_obj(j, e->attrs, e->n_attrs);
        dpt__json_obj_end(j);
    }
    dpt__json_arr_end(j);
    dpt__json_key(j, "links");
    dpt__json_arr_begin(j);
    for (uint32_t i = 0; i < d->n_links; i++) {
        const dpt_link *l = &d->links[i];
        dpt__json_obj_begin(j);
        ids_json(j, &l->ctx);
        dpt__json_key(j, "attributes");
        attrs_obj(j, l->attrs, l->n_attrs);
        dpt__json_obj_end(j);
    }
    dpt__json_arr_end(j);
    dpt__json_key(j, "status");
    dpt__json_obj_begin(j);
    dpt__json_key(j, "code");
    dpt__json_cstr(j, dpt_status_code_name((dpt_status_code)d->status));
    if (d->status_msg_len) {
        dpt__json_key(j, "message");
        dpt__json_str(j, d->status_msg, d->status_msg_len);
    }
    dpt__json_obj_end(j);
    if (d->dropped_attrs || d->dropped_events || d->dropped_links) {
        dpt__json_key(j, "dropped");
        dpt__json_obj_begin(j);
        dpt__json_key(j, "attributes");
        dpt__json_uint(j, d->dropped_attrs);
        dpt__json_key(j, "events");
        dpt__json_uint(j, d->dropped_events);
        dpt__json_key(j, "links");
        dpt__json_uint(j, d->dropped_links);
        dpt__json_obj_end(j);
    }
    dpt__json_obj_end(j);
}

dpt_err dpt_trace_snapshot_to_json(const dpt_trace_snapshot *snap, char **out, size_t *len)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    size_t n = dpt_trace_snapshot_count(snap);
    if (!n) return DPT_EINVAL;
    dpt__buf b;
    dpt__buf_init(&b);
    dpt__json j;
    dpt__json_init(&j, &b);
    char hex[33];
    const dpt_span_data *first = dpt_trace_snapshot_span(snap, 0);
    dpt_trace_id_to_hex(&first->ctx.trace_id, hex);
    dpt__json_obj_begin(&j);
    dpt__json_key(&j, "trace_id");
    dpt__json_cstr(&j, hex);
    size_t nres;
    const dpt_attr *res = dpt_provider_resource(first->tracer->provider, &nres);
    dpt__json_key(&j, "resource");
    attrs_obj(&j, res, (uint32_t)nres);
    dpt__json_key(&j, "span_count");
    dpt__json_uint(&j, n);
    dpt__json_key(&j, "spans");
    dpt__json_arr_begin(&j);
    for (size_t i = 0; i < n; i++)
        span_json(&j, dpt_trace_snapshot_span(snap, i));
    dpt__json_arr_end(&j);
    dpt__json_obj_end(&j);
    *out = dpt__buf_take(&b, len);
    return *out ? DPT_OK : DPT_ENOMEM;
}
