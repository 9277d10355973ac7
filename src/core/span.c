/* span.c - span start, setters and end: the hot path.
 *
 * A span handle is {record, generation}. The generation is odd while the span is live
 * and changes at end, so a stale handle (used after end, or after the record was
 * recycled for another span) fails one comparison and does nothing. Starting a sampled
 * span costs: one pool pop, ids from a thread-local PRNG, one clock read, a copy of the
 * name and attributes into the record's inline arena. Nothing is locked and nothing is
 * allocated in the steady state. A non-recording span costs a pool pop, an id and no
 * clock read.
 */
#include "span.h"
#include "clock.h"
#include "ids.h"
#include "pool.h"
#include "processor.h"
#include "provider.h"
#include "counters.h"
#include "sampler.h"
#include "tracestate.h"
#include "context.h"
#include "attr.h"

#include <stdlib.h>

static inline dpt__span *live(dpt_span s)
{
    dpt__span *r = s.rec;
    /* Relaxed: a stale handle may race with the record's reuse by another thread; the
     * comparison alone decides, and a live handle's owner is the only writer. */
    if (DPT__UNLIKELY(!r) || atomic_load_explicit(&r->gen, memory_order_relaxed) != s.gen)
        return NULL;
    return r;
}

static inline dpt__span *recording(dpt_span s)
{
    dpt__span *r = live(s);
    return r && r->state == DPT__REC_RECORDING ? r : NULL;
}

static dpt_provider *provider_of(const dpt__span *r) { return r->tracer->provider; }

/* ---- attributes ------------------------------------------------------------------------ */

/* Makes room for one more element in an arena-backed array, doubling its capacity. */
static void *grow(dpt__span *r, void *arr, uint16_t *cap, uint32_t n, size_t el, uint32_t limit)
{
    if (n < *cap) return arr;
    uint32_t ncap = *cap ? (uint32_t)*cap * 2 : 4;
    if (ncap > limit) ncap = limit;
    if (ncap > UINT16_MAX) ncap = UINT16_MAX;
    if (ncap <= n) return NULL;
    void *na = dpt__arena_alloc(r, el * ncap);
    if (!na) return NULL;
    if (n) memcpy(na, arr, el * n);
    *cap = (uint16_t)ncap;
    return na;
}

/* A failed copy: when the span's byte budget refused it, drop and count (ETOOBIG). */
static dpt_err over_budget(dpt__span *r, int counter, uint32_t *dropped, dpt_err e)
{
    if (!r->arena.over) return e;
    r->arena.over = false;
    (*dropped)++;
    dpt__count(provider_of(r), counter, 1);
    return DPT_ETOOBIG;
}

static dpt_err set_attr(dpt__span *r, const dpt_attr *a)
{
    uint32_t klen = dpt__attr_check(a);
    if (DPT__UNLIKELY(!klen)) return DPT_EINVAL;
    dpt_provider *p = provider_of(r);
    dpt_attr *attrs = (dpt_attr *)r->d.attrs;
    for (uint32_t i = 0; i < r->d.n_attrs; i++) {
        if (attrs[i].key_len == klen && memcmp(attrs[i].key, a->key, klen) == 0) {
            /* Overwrite; on failure the old value stays, and a value the byte budget
             * refused is dropped and counted like a new one (ETOOBIG, not ENOMEM). */
            dpt_err e = dpt__attr_copy(r, &attrs[i], a, klen, p->limits.attr_value_len);
            return e == DPT_OK ? e : over_budget(r, DPT__C_ATTRS_DROPPED, &r->d.dropped_attrs, e);
        }
    }
    if (r->d.n_attrs >= p->limits.attr_count) {
        r->d.dropped_attrs++;
        dpt__count(p, DPT__C_ATTRS_DROPPED, 1);
        return DPT_ETOOBIG;
    }
    attrs = grow(r, attrs, &r->attr_cap, r->d.n_attrs, sizeof(dpt_attr), p->limits.attr_count);
    dpt_err e = attrs ? dpt__attr_copy(r, &attrs[r->d.n_attrs], a, klen, p->limits.attr_value_len) : DPT_ENOMEM;
    if (attrs) r->d.attrs = attrs;
    if (e == DPT_OK) {
        r->d.n_attrs++;
        return e;
    }
    return over_budget(r, DPT__C_ATTRS_DROPPED, &r->d.dropped_attrs, e);
}

/* Copies up to `limit` attributes into a new arena array (events and links). */
static dpt_err copy_attr_list(dpt__span *r, const dpt_attr *in, size_t n, uint32_t limit,
                              uint32_t value_limit, const dpt_attr **out, uint32_t *n_out,
                              uint32_t *dropped)
{
    *out = NULL;
    *n_out = 0;
    *dropped = 0;
    if (!n || !in) return DPT_OK;
    size_t keep = n < limit ? n : limit;
    dpt_attr *arr = keep ? dpt__arena_alloc(r, sizeof(dpt_attr) * keep) : NULL;
    if (keep && !arr) return DPT_ENOMEM;
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t klen = dpt__attr_check(&in[i]);
        if (!klen) continue;
        if (k == keep) {
            (*dropped)++;
            continue;
        }
        dpt_err e = dpt__attr_copy(r, &arr[k], &in[i], klen, value_limit);
        if (e != DPT_OK) return e;
        k++;
    }
    *out = arr;
    *n_out = k;
    return DPT_OK;
}

static dpt_err add_link(dpt__span *r, const dpt_link *l)
{
    dpt_provider *p = provider_of(r);
    if (!l || !dpt_span_context_is_valid(&l->ctx)) return DPT_EINVAL;
    if (r->d.n_links >= p->limits.link_count) {
        r->d.dropped_links++;
        dpt__count(p, DPT__C_LINKS_DROPPED, 1);
        return DPT_ETOOBIG;
    }
    dpt_link *links = grow(r, (void *)r->d.links, &r->link_cap, r->d.n_links, sizeof(dpt_link),
                           p->limits.link_count);
    if (!links) return over_budget(r, DPT__C_LINKS_DROPPED, &r->d.dropped_links, DPT_ENOMEM);
    r->d.links = links;
    dpt_link *dst = &links[r->d.n_links];
    memset(dst, 0, sizeof *dst);
    dst->ctx = l->ctx;
    size_t tsl = l->tracestate ? (l->tracestate_len == DPT_NUL ? strlen(l->tracestate) : l->tracestate_len) : 0;
    if (tsl > DPT_TRACESTATE_MAX_LEN) tsl = 0; /* not a tracestate we would keep */
    dst->tracestate = dpt__arena_strdup(r, l->tracestate ? l->tracestate : "", tsl);
    if (!dst->tracestate) return over_budget(r, DPT__C_LINKS_DROPPED, &r->d.dropped_links, DPT_ENOMEM);
    dst->tracestate_len = (uint32_t)tsl;
    dpt_err e = copy_attr_list(r, l->attrs, l->n_attrs, p->limits.attrs_per_link,
                               p->limits.attr_value_len, &dst->attrs, &dst->n_attrs,
                               &dst->dropped_attrs);
    if (e != DPT_OK) return over_budget(r, DPT__C_LINKS_DROPPED, &r->d.dropped_links, e);
    if (dst->dropped_attrs) dpt__count(p, DPT__C_ATTRS_DROPPED, dst->dropped_attrs);
    r->d.n_links++;
    return DPT_OK;
}

/* ---- start ----------------------------------------------------------------------------- */

static void resolve_parent(const dpt_span_opts *o, dpt__parent *par)
{
    if (o && o->parent) {
        const dpt_context *c = o->parent;
        par->sc = c->sc;
        par->ts = c->ts;
        par->bg = c->bg;
        par->valid = dpt_span_context_is_valid(&c->sc);
        return;
    }
    if (o && o->root) {
        memset(par, 0, sizeof *par);
        return;
    }
    if (o && o->parent_span.rec) {
        dpt__span *pr = live(o->parent_span);
        if (pr) {
            par->sc = pr->d.ctx;
            par->ts = pr->ts;
            par->bg = NULL;
            par->valid = true;
            return;
        }
    }
    dpt__current_parent(par);
}

/* Ids from a custom generator (ig) or, when ig is NULL, the inline random ones. In the
 * common instantiation of start_span ig is the constant NULL and this is the inline path. */
static inline void gen_trace_id(const dpt_id_generator *ig, dpt_trace_id *id)
{
    if (ig && ig->trace_id) {
        ig->trace_id(ig->user, id);
        if (!dpt__all_zero(id->b, 16)) return;
    }
    dpt__new_trace_id(id);
}

static inline void gen_span_id(const dpt_id_generator *ig, dpt_span_id *id)
{
    if (ig && ig->span_id) {
        ig->span_id(ig->user, id);
        if (!dpt__all_zero(id->b, 8)) return;
    }
    dpt__new_span_id(id);
}

/* The span start proper. Inlined twice: with ig == NULL (the common path, decided by one
 * load of the provider's gate in dpt_span_start) and with the provider's custom id
 * generator (start_slow), so a custom generator costs the default path nothing. */
static inline __attribute__((always_inline)) dpt_span start_span(dpt_tracer *t, dpt_provider *p,
                                                                 const char *name, dpt_span_kind kind,
                                                                 const dpt_span_opts *o,
                                                                 const dpt_id_generator *ig)
{
    if (!name) name = "";
    if (kind < DPT_SPAN_INTERNAL || kind > DPT_SPAN_CONSUMER) kind = DPT_SPAN_INTERNAL;

    dpt__parent par;
    resolve_parent(o, &par);
    dpt_trace_id tid;
    if (par.valid) tid = par.sc.trace_id;
    else gen_trace_id(ig, &tid);

    dpt_sampling_result res;
    int fast = dpt__sampler_fast(p->sampler, par.valid ? &par.sc : NULL);
    if (DPT__LIKELY(fast >= 0)) {
        /* always_on / always_off, directly or as a parent-based delegate: no call */
        res.decision = (dpt_decision)fast;
        res.attrs = NULL;
        res.n_attrs = 0;
        res.tracestate = NULL;
    } else {
        dpt_context scratch; /* the parent context, lent to the sampler */
        dpt_sampling_params sp = {
            .parent = par.valid ? &par.sc : NULL,
            .parent_tracestate = par.valid ? par.ts : NULL,
            .trace_id = &tid,
            .name = name,
            .kind = kind,
            .attrs = o ? o->attrs : NULL,
            .n_attrs = o ? o->n_attrs : 0,
            .links = o ? o->links : NULL,
            .n_links = o ? o->n_links : 0,
            .parent_context = dpt__parent_context(o, &scratch),
        };
        dpt_sampler_should_sample(p->sampler, &sp, &res);
    }
    dpt__count(p, DPT__C_STARTED, 1);

    dpt__span *r = dpt__span_alloc();
    if (DPT__UNLIKELY(!r)) {
        dpt_tracestate_release(res.tracestate);
        return DPT_SPAN_NONE;
    }
    r->tracer = t;
    r->d.ctx.trace_id = tid;
    gen_span_id(ig, &r->d.ctx.span_id);
    r->d.ctx.remote = false;
    /* Level 2: our trace ids are fully random (a custom generator says whether its are); a
     * continued trace keeps the parent's bit. */
    uint8_t flags = par.valid ? (par.sc.flags & DPT_FLAG_RANDOM)
                              : ((ig && ig->trace_id && !ig->random_trace_ids) ? 0 : DPT_FLAG_RANDOM);
    if (res.decision == DPT_RECORD_AND_SAMPLE) flags |= DPT_FLAG_SAMPLED;
    r->d.ctx.flags = flags;
    const dpt_tracestate *pts = par.valid ? par.ts : NULL;
    r->ts = res.tracestate ? res.tracestate : (pts ? dpt_tracestate_retain(pts) : NULL);
    uint64_t gen = atomic_load_explicit(&r->gen, memory_order_relaxed) | 1;
    if (gen == atomic_load_explicit(&r->gen, memory_order_relaxed)) gen += 2;
    dpt_span h = { r, gen };

    if (res.decision == DPT_DROP) {
        /* Non-recording: only the context is kept (for children and propagation). */
        r->state = DPT__REC_NONRECORDING;
        atomic_store_explicit(&r->gen, gen, memory_order_relaxed);
        return h;
    }

    /* Recording: reset the rest of the public view, keeping the context just set. */
    dpt_span_context ctx = r->d.ctx;
    memset(&r->d, 0, sizeof r->d);
    r->d.ctx = ctx;
    r->state = DPT__REC_RECORDING;
    if (flags & DPT_FLAG_SAMPLED) dpt__count(p, DPT__C_SAMPLED, 1);
    dpt__count(p, DPT__C_RECORDING, 1);
    r->d.tracer = t;
    r->d.kind = (uint8_t)kind;
    r->d.status_msg = "";
    if (par.valid) {
        r->d.parent_span_id = par.sc.span_id;
        r->d.parent_remote = par.sc.remote;
    }
    r->arena.budget = p->limits.max_span_bytes;
    r->d.start_ns = (o && o->start_ns) ? o->start_ns : dpt__now_ns();
    r->d.tracestate = dpt_tracestate_str(r->ts, NULL);
    r->d.tracestate_len = r->ts ? r->ts->len : 0;
    size_t nl = strlen(name);
    r->d.name = dpt__arena_strdup(r, name, nl);
    r->d.name_len = r->d.name ? (uint32_t)nl : 0;
    if (!r->d.name) r->d.name = "";
    r->d.attrs = r->attrs_inline;
    r->attr_cap = DPT__INLINE_ATTRS;
    r->event_cap = r->link_cap = 0;
    atomic_store_explicit(&r->gen, gen, memory_order_relaxed);

    for (size_t i = 0; i < res.n_attrs; i++) set_attr(r, &res.attrs[i]);
    if (o) {
        for (size_t i = 0; i < o->n_attrs; i++) set_attr(r, &o->attrs[i]);
        for (size_t i = 0; i < o->n_links; i++) add_link(r, &o->links[i]);
    }
    if (DPT__UNLIKELY(p->has_on_start)) {
        dpt_context scratch; /* the parent context, lent to the processors */
        const dpt_context *pc = dpt__parent_context(o, &scratch);
        uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
        for (uint32_t i = 0; i < n; i++) dpt__processor_on_start(p->procs[i], &r->d, pc);
    }
    return h;
}

/* A provider with something in its gate: disabled, shut down, or custom ids. */
static __attribute__((noinline)) dpt_span start_slow(dpt_tracer *t, dpt_provider *p, const char *name,
                                                     dpt_span_kind kind, const dpt_span_opts *o)
{
    if (atomic_load_explicit(&p->gate, memory_order_relaxed) & DPT__GATE_OFF) return DPT_SPAN_NONE;
    return start_span(t, p, name, kind, o, &p->idgen);
}

dpt_span dpt_span_start(dpt_tracer *t, const char *name, dpt_span_kind kind,
                        const dpt_span_opts *o)
{
    if (DPT__UNLIKELY(!t)) return DPT_SPAN_NONE;
    dpt_provider *p = t->provider;
    if (DPT__UNLIKELY(atomic_load_explicit(&p->gate, memory_order_relaxed) != 0))
        return start_slow(t, p, name, kind, o);
    return start_span(t, p, name, kind, o, NULL);
}

/* ---- setters ---------------------------------------------------------------------------- */

dpt_err dpt_span_set_attr(dpt_span s, const dpt_attr *a)
{
    dpt__span *r = recording(s);
    return r ? set_attr(r, a) : DPT_ESTATE;
}

dpt_err dpt_span_set_attrs(dpt_span s, const dpt_attr *a, size_t n)
{
    dpt__span *r = recording(s);
    if (!r) return DPT_ESTATE;
    if (!a && n) return DPT_EINVAL;
    dpt_err worst = DPT_OK;
    for (size_t i = 0; i < n; i++) {
        dpt_err e = set_attr(r, &a[i]);
        if (e != DPT_OK) worst = e;
    }
    return worst;
}

dpt_err dpt_span_set_str(dpt_span s, const char *key, const char *value)
{
    dpt_attr a = DPT_STR(key, value);
    return dpt_span_set_attr(s, &a);
}

dpt_err dpt_span_set_strn(dpt_span s, const char *key, size_t key_len, const char *value,
                          size_t value_len)
{
    if (key_len >= DPT_NUL || value_len >= DPT_NUL) return DPT_ETOOBIG;
    dpt_attr a = DPT_STRN(key, value, value_len);
    a.key_len = (uint32_t)key_len;
    return dpt_span_set_attr(s, &a);
}

dpt_err dpt_span_set_int(dpt_span s, const char *key, int64_t value)
{
    dpt_attr a = DPT_INT(key, value);
    return dpt_span_set_attr(s, &a);
}

dpt_err dpt_span_set_double(dpt_span s, const char *key, double value)
{
    dpt_attr a = DPT_DOUBLE(key, value);
    return dpt_span_set_attr(s, &a);
}

dpt_err dpt_span_set_bool(dpt_span s, const char *key, bool value)
{
    dpt_attr a = DPT_BOOL(key, value);
    return dpt_span_set_attr(s, &a);
}

dpt_err dpt_span_add_event_at(dpt_span s, const char *name, uint64_t time_ns,
                              const dpt_attr *attrs, size_t n)
{
    dpt__span *r = recording(s);
    if (!r) return DPT_ESTATE;
    if (!name || (!attrs && n)) return DPT_EINVAL;
    dpt_provider *p = provider_of(r);
    if (r->d.n_events >= p->limits.event_count) {
        r->d.dropped_events++;
        dpt__count(p, DPT__C_EVENTS_DROPPED, 1);
        return DPT_ETOOBIG;
    }
    dpt_event *ev = grow(r, (void *)r->d.events, &r->event_cap, r->d.n_events, sizeof(dpt_event),
                         p->limits.event_count);
    if (!ev) return over_budget(r, DPT__C_EVENTS_DROPPED, &r->d.dropped_events, DPT_ENOMEM);
    r->d.events = ev;
    dpt_event *e = &ev[r->d.n_events];
    memset(e, 0, sizeof *e);
    size_t nl = strlen(name);
    e->name = dpt__arena_strdup(r, name, nl);
    if (!e->name) return over_budget(r, DPT__C_EVENTS_DROPPED, &r->d.dropped_events, DPT_ENOMEM);
    e->name_len = (uint32_t)nl;
    e->time_ns = time_ns ? time_ns : dpt__now_ns();
    dpt_err err = copy_attr_list(r, attrs, n, p->limits.attrs_per_event, p->limits.attr_value_len,
                                 &e->attrs, &e->n_attrs, &e->dropped_attrs);
    if (err != DPT_OK) return over_budget(r, DPT__C_EVENTS_DROPPED, &r->d.dropped_events, err);
    if (e->dropped_attrs) dpt__count(p, DPT__C_ATTRS_DROPPED, e->dropped_attrs);
    r->d.n_events++;
    return DPT_OK;
}

dpt_err dpt_span_add_event(dpt_span s, const char *name, const dpt_attr *attrs, size_t n)
{
    return dpt_span_add_event_at(s, name, 0, attrs, n);
}

dpt_err dpt_span_add_link(dpt_span s, const dpt_link *link)
{
    dpt__span *r = recording(s);
    return r ? add_link(r, link) : DPT_ESTATE;
}

dpt_err dpt_span_set_status(dpt_span s, dpt_status_code code, const char *msg)
{
    dpt__span *r = recording(s);
    if (!r) return DPT_ESTATE;
    if (code > DPT_STATUS_ERROR) return DPT_EINVAL;
    /* OpenTelemetry: UNSET is ignored, OK is final, a description only goes with ERROR. */
    if (code == DPT_STATUS_UNSET || r->d.status == DPT_STATUS_OK) return DPT_OK;
    r->d.status = (uint8_t)code;
    r->d.status_msg = "";
    r->d.status_msg_len = 0;
    if (code == DPT_STATUS_ERROR && msg) {
        size_t n = strlen(msg);
        uint32_t lim = provider_of(r)->limits.attr_value_len;
        if (lim && n > lim) n = dpt__utf8_cut(msg, n, lim);
        char *m = dpt__arena_strdup(r, msg, n);
        if (!m) return DPT_ENOMEM;
        r->d.status_msg = m;
        r->d.status_msg_len = (uint32_t)n;
    }
    return DPT_OK;
}

dpt_err dpt_span_record_error(dpt_span s, const char *type, const char *message)
{
    dpt__span *r = recording(s);
    if (!r) return DPT_ESTATE;
    dpt_attr a[2];
    size_t n = 0;
    if (type) a[n++] = DPT_STR("exception.type", type);
    if (message) a[n++] = DPT_STR("exception.message", message);
    dpt_err e = dpt_span_add_event(s, "exception", a, n);
    dpt_err e2 = dpt_span_set_status(s, DPT_STATUS_ERROR, message);
    return e != DPT_OK && e != DPT_ETOOBIG ? e : e2;
}

dpt_err dpt_span_record_error_attrs(dpt_span s, const char *type, const char *message,
                                   const dpt_attr *attrs, size_t n)
{
    dpt__span *r = recording(s);
    if (!r) return DPT_ESTATE;
    if (!attrs && n) return DPT_EINVAL;
    /* "If attributes with the same name would be generated by the method already, the
     * additional attributes take precedence." (trace/api.md, Record Exception) */
    bool user_type = false, user_msg = false;
    for (size_t i = 0; i < n; i++) {
        if (!attrs[i].key) continue;
        user_type |= strcmp(attrs[i].key, "exception.type") == 0;
        user_msg |= strcmp(attrs[i].key, "exception.message") == 0;
    }
    dpt_attr inline_list[16];
    dpt_attr *list = n + 2 <= 16 ? inline_list : dpt__malloc(sizeof(dpt_attr) * (n + 2));
    if (!list) return DPT_ENOMEM;
    size_t k = 0;
    if (type && !user_type) list[k++] = (dpt_attr)DPT_STR("exception.type", type);
    if (message && !user_msg) list[k++] = (dpt_attr)DPT_STR("exception.message", message);
    if (n) memcpy(list + k, attrs, sizeof(dpt_attr) * n);
    dpt_err e = dpt_span_add_event(s, "exception", list, k + n);
    if (list != inline_list) free(list);
    dpt_err e2 = dpt_span_set_status(s, DPT_STATUS_ERROR, message);
    return e != DPT_OK && e != DPT_ETOOBIG ? e : e2;
}

dpt_err dpt_span_update_name(dpt_span s, const char *name)
{
    dpt__span *r = recording(s);
    if (!r) return DPT_ESTATE;
    if (!name) return DPT_EINVAL;
    size_t n = strlen(name);
    char *c = dpt__arena_strdup(r, name, n);
    if (!c) return DPT_ENOMEM;
    r->d.name = c;
    r->d.name_len = (uint32_t)n;
    return DPT_OK;
}

bool dpt_span_is_recording(dpt_span s) { return recording(s) != NULL; }

dpt_span_context dpt_span_get_context(dpt_span s)
{
    dpt__span *r = live(s);
    if (!r) {
        dpt_span_context z = { 0 };
        return z;
    }
    return r->d.ctx;
}

/* ---- end -------------------------------------------------------------------------------- */

dpt_err dpt_span_end_at(dpt_span s, uint64_t end_ns)
{
    dpt__span *r = live(s);
    if (!r) return DPT_ESTATE;
    /* Bump the generation first: from here every handle to this span is stale. */
    atomic_store_explicit(&r->gen, s.gen + 1, memory_order_relaxed);
    if (r->state == DPT__REC_NONRECORDING) {
        dpt__span_recycle(r);
        return DPT_OK;
    }
    r->d.end_ns = end_ns ? end_ns : dpt__now_ns();
    if (r->d.end_ns < r->d.start_ns) r->d.end_ns = r->d.start_ns;
    r->state = DPT__REC_ENDED;
    dpt__provider_on_end(r->tracer->provider, r);
    return DPT_OK;
}

dpt_err dpt_span_end(dpt_span s) { return dpt_span_end_at(s, 0); }
