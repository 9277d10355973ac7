/* span.c - span start, setters and end: the hot path.
 *
 * A span handle is {record, generation}. The generation is odd while the span is live
 * and changes at end, so a stale handle (used after end, or after the record was
 * recycled for another span) fails one comparison and does nothing. Every operation that
 * changes a span runs inside it (span.h: biased to the starting thread, so that the usual
 * single-thread use takes no lock and no fence; safe when threads share a span). Starting
 * a sampled span costs: one pool pop, ids from a thread-local PRNG, one clock read, a copy
 * of the name; attribute keys are interned (keys.h), values copied into the record's
 * inline arena. Nothing is locked and nothing is allocated in the steady state. A
 * non-recording span costs a pool pop, ids and no clock read.
 */
#include "span.h"
#include "clock.h"
#include "ids.h"
#include "keys.h"
#include "pool.h"
#include "processor.h"
#include "provider.h"
#include "counters.h"
#include "sampler.h"
#include "tracestate.h"
#include "context.h"
#include "attr.h"
#include "queue.h"

#define DPT__NOINLINE __attribute__((noinline))

#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#endif

/* ---- owners and the exclusion of concurrent operations (span.h) -------------------------- */

dpt__owner dpt__owner_none;
DPT__TLS dpt__owner *dpt__tl_owner = &dpt__owner_none;
/* 1 when spans start shared (always locked): set once by owners_init, or by the test
 * hook. Read at every start. */
static _Atomic uint32_t start_shared = 1;
static bool membarrier_ok;

/* Registry of owner blocks: owned by the process, guarded by owners_mu; never freed. */
static pthread_mutex_t owners_mu = PTHREAD_MUTEX_INITIALIZER;
static dpt__owner *owners;
static pthread_key_t owner_key;
static pthread_once_t owners_once = PTHREAD_ONCE_INIT;

static long sys_membarrier(int cmd)
{
#if defined(__linux__) && defined(__NR_membarrier)
    return syscall(__NR_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    errno = ENOSYS;
    return -1;
#endif
}

static void owner_exit(void *b)
{
    /* Release: a thread that takes the block over sees it idle. Spans this thread started
     * and left open keep pointing at the block; its next owner takes them over, which is
     * safe since only one live thread uses a block's busy flag. */
    atomic_store_explicit(&((dpt__owner *)b)->busy, NULL, memory_order_relaxed);
    atomic_store_explicit(&((dpt__owner *)b)->taken, false, memory_order_release);
    dpt__tl_owner = &dpt__owner_none;
}

static void owners_lock(void)
{
    pthread_mutex_lock(&owners_mu);
}
static void owners_unlock(void)
{
    pthread_mutex_unlock(&owners_mu);
}

static void owners_atfork_child(void)
{
    /* Only the forking thread lives on: every other block is free again. */
    for (dpt__owner *o = owners; o; o = o->next)
        if (o != dpt__tl_owner) atomic_store_explicit(&o->taken, false, memory_order_relaxed);
    pthread_mutex_unlock(&owners_mu);
}

static void owners_init(void)
{
    pthread_key_create(&owner_key, owner_exit);
    /* A fork while another thread holds owners_mu must not leave the child's copy held. */
    pthread_atfork(owners_lock, owners_unlock, owners_atfork_child);
#if defined(__linux__) && !defined(DPT__TSAN)
    /* The biased exclusion needs an asymmetric fence; without one every span is locked.
     * ThreadSanitizer does not know membarrier, so it checks the locked mode. */
    long q = sys_membarrier(MEMBARRIER_CMD_QUERY);
    if (q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
        membarrier_ok = true;
#endif
    atomic_store_explicit(&start_shared, membarrier_ok ? 0 : 1, memory_order_relaxed);
}

/* Registered when the library is loaded: registration makes the kernel wait for an RCU
 * grace period (about 10 ms) when the process already has other threads, and it would
 * otherwise fall on the first span a thread of a busy service starts. At load time the
 * process usually has one thread and registering is immediate. */
__attribute__((constructor)) static void owners_at_load(void)
{
    pthread_once(&owners_once, owners_init);
}

dpt__owner *dpt__owner_get_slow(void)
{
    pthread_once(&owners_once, owners_init);
    pthread_mutex_lock(&owners_mu);
    dpt__owner *o;
    for (o = owners; o; o = o->next)
        if (!atomic_load_explicit(&o->taken, memory_order_acquire)) break;
    if (!o) {
        /* plain: a thread must always be able to own its spans (like counters); a line of
         * its own: `busy` is written twice by every setter */
        o = dpt__calloc_lines(sizeof *o, true);
        if (o) {
            o->next = owners;
            owners = o;
        }
    }
    if (o) atomic_store_explicit(&o->taken, true, memory_order_relaxed);
    pthread_mutex_unlock(&owners_mu);
    if (!o) return NULL;
    pthread_setspecific(owner_key, o);
    dpt__tl_owner = o;
    return o;
}

uint32_t dpt__span_test_force_shared(uint32_t shared)
{
    pthread_once(&owners_once, owners_init);
    uint32_t want = shared || !membarrier_ok;
    return atomic_exchange(&start_shared, want);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void spin_lock(_Atomic uint32_t *l)
{
    for (unsigned n = 0;; n++) {
        /* Acquire: pairs with the release in dpt__op_end of the previous holder. */
        if (!atomic_load_explicit(l, memory_order_relaxed) &&
            !atomic_exchange_explicit(l, 1, memory_order_acquire))
            return;
        if (n < 100)
            cpu_relax();
        else
            sched_yield(); /* the holder may be descheduled */
    }
}

dpt__op dpt__op_begin_slow(dpt_span h)
{
    dpt__op op = {NULL, false};
    dpt__span *r = h.rec;
    /* A cheap look first: a handle of an ended span need not take the lock. */
    if (!r || atomic_load_explicit(&r->gen, memory_order_relaxed) != h.gen) return op;
    spin_lock(&r->lock);
    if (!atomic_load_explicit(&r->shared, memory_order_relaxed)) {
        /* Take the span from its owner (span.h): from now on everyone locks. */
        atomic_store_explicit(&r->shared, 1, memory_order_relaxed);
        if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
            /* Registered in owners_init (and inherited by a forked child); should it fail
             * anyway, the global barrier is slower but gives the same guarantee. */
            sys_membarrier(MEMBARRIER_CMD_GLOBAL);
        }
        dpt__owner *o = atomic_load_explicit(&r->owner, memory_order_relaxed);
        /* Acquire: once the owner left (released busy), its writes are visible here. */
        for (unsigned n = 0; o && atomic_load_explicit(&o->busy, memory_order_acquire) == r; n++) {
            if (n < 100)
                cpu_relax();
            else
                sched_yield();
        }
    }
    if (atomic_load_explicit(&r->gen, memory_order_relaxed) != h.gen) {
        atomic_store_explicit(&r->lock, 0, memory_order_release);
        return op;
    }
    op.r = r;
    op.locked = true;
    return op;
}

/* Inside a live recording span, or NULL. The state is looked at first, without entering:
 * a non-recording span's setters are no-ops, and a live span's state does not change
 * before its end. */
static inline dpt__op begin_recording(dpt_span s)
{
    dpt__op none = {NULL, false};
    if (DPT__UNLIKELY(!s.rec) ||
        atomic_load_explicit(&s.rec->state, memory_order_relaxed) != DPT__REC_RECORDING)
        return none;
    return dpt__op_begin(s);
}

static dpt_provider *provider_of(const dpt__span *r)
{
    return r->tracer->provider;
}

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
    r->clean = 0; /* a drop count */
    (*dropped)++;
    dpt__count(provider_of(r), counter, 1);
    return DPT_ETOOBIG;
}

/* The key length of a valid attribute, 0 for an invalid one; scalars checked inline. */
static inline uint32_t attr_check(const dpt_attr *a)
{
    if (DPT__UNLIKELY(!a || !a->key)) return 0;
    uint32_t t = a->value.type;
    if (DPT__LIKELY(t == DPT_VAL_INT || t == DPT_VAL_BOOL || t == DPT_VAL_DOUBLE ||
                    (t == DPT_VAL_STRING && (a->value.u.s != NULL || a->value.len == 0)))) {
        if (a->key_len != DPT_NUL) return a->key_len;
        size_t n = strlen(a->key);
        return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
    }
    return dpt__attr_check(a);
}

/* Copies attribute a (key length klen) into dst inside the record. The common case, a
 * scalar or a string under an interned key known harmless, is done here; everything else
 * (arrays, keys to redact, keys not interned) by dpt__attr_copy. */
static inline dpt_err copy_attr(dpt__span *r, dpt_attr *dst, const dpt_attr *a, uint32_t klen,
                                uint32_t limit)
{
    const dpt__ikey *k = klen <= DPT__IKEY_MAX ? dpt__key_lookup(a->key, klen) : NULL;
    uint32_t t = a->value.type;
    if (DPT__LIKELY(k != NULL && t <= DPT_VAL_DOUBLE && dpt__key_known_keep(k))) {
        dpt_value v = a->value;
        if (t == DPT_VAL_STRING) {
            size_t n = v.len == DPT_NUL ? (v.u.s ? strlen(v.u.s) : 0) : v.len;
            const char *src = v.u.s ? v.u.s : "";
            if (DPT__UNLIKELY(limit && n > limit)) n = dpt__utf8_cut(src, n, limit);
            char *c = dpt__arena_strdup(r, src, n);
            if (DPT__UNLIKELY(!c)) return DPT_ENOMEM;
            v.u.s = c;
            v.len = (uint32_t)n;
        }
        dst->key = k->s;
        dst->key_len = klen;
        dst->value = v;
        return DPT_OK;
    }
    dpt_err e = dpt__attr_copy(r, dst, a, klen, limit);
    /* What redact.c just decided for this key, remembered in the interned entry. */
    if (k && e == DPT_OK) dpt__key_learn(k, a->key);
    return e;
}

static dpt_err set_attr(dpt__span *r, const dpt_attr *a)
{
    uint32_t klen = attr_check(a);
    if (DPT__UNLIKELY(!klen)) return DPT_EINVAL;
    dpt_provider *p = provider_of(r);
    dpt_attr *attrs = (dpt_attr *)r->d.attrs;
    uint32_t n = r->d.n_attrs;
    uint32_t bit = dpt__key_bit(a->key, klen);
    /* A key whose bit is clear in the filter is not set yet: no scan. Different keys of
     * one length are common (url.scheme, http.route): their first bytes tell most apart
     * without a call to memcmp. */
    for (uint32_t i = 0; (r->key_bloom & bit) && i < n; i++) {
        if (attrs[i].key_len == klen && attrs[i].key[0] == a->key[0] &&
            memcmp(attrs[i].key, a->key, klen) == 0) {
            /* Overwrite; on failure the old value stays, and a value the byte budget
             * refused is dropped and counted like a new one (ETOOBIG, not ENOMEM). */
            dpt_attr tmp;
            dpt_err e = copy_attr(r, &tmp, a, klen, p->limits.attr_value_len);
            if (e == DPT_OK) attrs[i] = tmp;
            return e == DPT_OK ? e : over_budget(r, DPT__C_ATTRS_DROPPED, &r->d.dropped_attrs, e);
        }
    }
    if (DPT__UNLIKELY(n >= p->limits.attr_count)) {
        r->clean = 0;
        r->d.dropped_attrs++;
        dpt__count(p, DPT__C_ATTRS_DROPPED, 1);
        return DPT_ETOOBIG;
    }
    if (DPT__UNLIKELY(n >= r->attr_cap)) {
        attrs = grow(r, attrs, &r->attr_cap, n, sizeof(dpt_attr), p->limits.attr_count);
        if (!attrs) return over_budget(r, DPT__C_ATTRS_DROPPED, &r->d.dropped_attrs, DPT_ENOMEM);
        r->d.attrs = attrs;
    }
    dpt_err e = copy_attr(r, &attrs[n], a, klen, p->limits.attr_value_len);
    if (DPT__LIKELY(e == DPT_OK)) {
        r->d.n_attrs = n + 1;
        r->key_bloom |= bit;
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
        uint32_t klen = attr_check(&in[i]);
        if (!klen) continue;
        if (k == keep) {
            (*dropped)++;
            continue;
        }
        dpt_err e = copy_attr(r, &arr[k], &in[i], klen, value_limit);
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
    r->clean = 0; /* links, link_cap, dropped_links */
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
    size_t tsl = l->tracestate
                     ? (l->tracestate_len == DPT_NUL ? strlen(l->tracestate) : l->tracestate_len)
                     : 0;
    if (tsl > DPT_TRACESTATE_MAX_LEN) tsl = 0; /* not a tracestate we would keep */
    dst->tracestate = dpt__arena_strdup(r, l->tracestate ? l->tracestate : "", tsl);
    if (!dst->tracestate)
        return over_budget(r, DPT__C_LINKS_DROPPED, &r->d.dropped_links, DPT_ENOMEM);
    dst->tracestate_len = (uint32_t)tsl;
    dpt_err e =
        copy_attr_list(r, l->attrs, l->n_attrs, p->limits.attrs_per_link, p->limits.attr_value_len,
                       &dst->attrs, &dst->n_attrs, &dst->dropped_attrs);
    if (e != DPT_OK) return over_budget(r, DPT__C_LINKS_DROPPED, &r->d.dropped_links, e);
    if (dst->dropped_attrs) dpt__count(p, DPT__C_ATTRS_DROPPED, dst->dropped_attrs);
    r->d.n_links++;
    return DPT_OK;
}

/* A name the span's byte budget cannot hold whole is cut on a UTF-8 character boundary
 * to what the budget still allows (dptrace's own choice: a shortened name says more than an
 * empty one). */
static DPT__NOINLINE void store_name_cut(dpt__span *r, const char *name, size_t n)
{
    r->arena.over = false;
    size_t left = r->arena.budget > r->arena.bytes ? r->arena.budget - r->arena.bytes : 0;
    /* the arena hands out multiples of 16 and the copy takes a NUL */
    size_t fit = left >= 16 ? (left & ~(size_t)15) - 1 : 0;
    char *c = NULL;
    if (fit) {
        n = dpt__utf8_cut(name, n, fit);
        c = dpt__arena_strdup(r, name, n);
        r->arena.over = false;
    }
    if (!c) {
        c = (char *)"";
        n = 0;
    }
    r->d.name = c;
    r->d.name_len = (uint32_t)n;
}

/* Stores the span's name (cut when over the byte budget, see store_name_cut). */
static inline void store_name(dpt__span *r, const char *name, size_t n)
{
    char *c = dpt__arena_strdup(r, name, n);
    if (DPT__UNLIKELY(!c)) {
        store_name_cut(r, name, n);
        return;
    }
    r->d.name = c;
    r->d.name_len = (uint32_t)n;
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
        /* The parent's tracestate is borrowed from a span another thread may end at any
         * time: take the context and a reference inside it (released by the caller). */
        dpt_tracestate *ts = NULL;
        if (dpt__span_context_ts(o->parent_span, &par->sc, &ts)) {
            par->ts = ts;
            par->bg = NULL;
            par->valid = true;
            par->owned_ts = true;
            return;
        }
    }
    dpt__current_parent(par);
}

/* A recording span's record, made ready (its context, tracestate reference, owner and
 * `shared` are set): the public view field by field (a memset of the whole view costs more
 * than the stores), the arena, the start time, the name; then the generation h.gen makes
 * the handle live. parent: the valid parent's context, NULL for a root span; started: the
 * counter of the start (sampled or record-only). */
static inline __attribute__((always_inline)) void
init_recording(dpt__span *r, dpt_span h, const dpt_provider *p, const char *name,
               dpt_span_kind kind, const dpt_span_opts *o, const dpt_span_context *parent,
               _Atomic uint64_t *cnt, int started, dpt_tracer *tracer, const dpt_tracestate *ts,
               bool parent_stored)
{
    dpt_span_data *d = &r->d;
    /* tracer and ts: r->tracer and r->ts, which the caller has just stored, passed in so
     * that the compiler need not load them again. */
    atomic_store_explicit(&r->state, DPT__REC_RECORDING, memory_order_relaxed);
    if (DPT__LIKELY(cnt != NULL)) dpt__cadd(cnt, started, 1);
    if (DPT__UNLIKELY(kind < DPT_SPAN_INTERNAL || kind > DPT_SPAN_CONSUMER))
        kind = DPT_SPAN_INTERNAL;
    if (parent_stored) {
        /* the caller stored d.parent_span_id and d.parent_remote (start_known) */
    } else if (parent) {
        d->parent_span_id = parent->span_id;
        d->parent_remote = parent->remote;
    } else {
        memset(&d->parent_span_id, 0, sizeof d->parent_span_id);
        d->parent_remote = false;
    }
    d->kind = (uint8_t)kind;
    d->end_ns = 0;
    d->n_attrs = 0;
    d->tracer = tracer;
    r->d.start_ns = (o && o->start_ns) ? o->start_ns : dpt__now_ns_inline();
    /* The fields `clean` covers (pool.h): stored only when a writer changed them, or for a
     * tracestate. */
    if (DPT__UNLIKELY(!r->clean || ts != NULL)) {
        d->status = DPT_STATUS_UNSET;
        d->status_msg_len = 0;
        d->status_msg = "";
        d->dropped_attrs = 0;
        d->n_events = 0;
        d->events = NULL;
        d->dropped_events = 0;
        d->n_links = 0;
        d->links = NULL;
        d->dropped_links = 0;
        d->ended_by_task = 0;
        r->event_cap = r->link_cap = 0;
        if (ts != NULL) {
            r->d.tracestate = ts->str;
            r->d.tracestate_len = ts->len;
            r->clean = 0;
        } else {
            r->d.tracestate = "";
            r->d.tracestate_len = 0;
            r->clean = 1;
        }
    }
    if (!name) name = "";
    size_t n = strlen(name);
    uint32_t budget = p->limits.max_span_bytes;
    size_t need = (n + 1 + 15) & ~(size_t)15; /* dpt__arena_alloc's rounding */
    if (DPT__LIKELY(need <= sizeof r->arena_inline && need <= budget)) {
        /* The name opens the fresh arena: dpt__arena_start and store_name with nothing to
         * look up. */
        char *c = r->arena_inline;
        dpt__copy(c, name, n);
        c[n] = 0;
        r->arena.cur = c + need;
        r->arena.end = r->arena_inline + sizeof r->arena_inline;
        r->arena.bytes = need;
        r->arena.budget = budget;
        r->arena.over = false;
        r->d.name = c;
        r->d.name_len = (uint32_t)n;
    } else {
        dpt__arena_start(r, budget);
        store_name(r, name, n);
    }
    r->d.attrs = r->attrs_inline;
    /* Never above the count limit (grow and reserve_attrs clip to it as well), so that room
     * in the array is room under the limit: the setters' fast path compares once. */
    r->attr_cap = p->attr_cap0;
    r->key_bloom = 0;
    atomic_store_explicit(&r->gen, h.gen, memory_order_relaxed);
}

/* The rest of a recording span's start (kept out of dpt_span_start so that the path of
 * a non-recording span stays short). */
static inline __attribute__((always_inline)) dpt_span
start_recording(dpt__span *r, dpt_span h, dpt_provider *p, const char *name, dpt_span_kind kind,
                const dpt_span_opts *o, const dpt__parent *par, const dpt_sampling_result *res,
                _Atomic uint64_t *cnt)
{
    init_recording(r, h, p, name, kind, o, par->valid ? &par->sc : NULL, cnt,
                   (r->d.ctx.flags & DPT_FLAG_SAMPLED) ? DPT__C_STARTED_SAMPLED
                                                       : DPT__C_STARTED_RECONLY,
                   r->tracer, r->ts, false);
    if (DPT__UNLIKELY(res->n_attrs != 0))
        for (size_t i = 0; i < res->n_attrs; i++)
            set_attr(r, &res->attrs[i]);
    if (o) {
        for (size_t i = 0; i < o->n_attrs; i++)
            set_attr(r, &o->attrs[i]);
        for (size_t i = 0; i < o->n_links; i++)
            add_link(r, &o->links[i]);
    }
    if (DPT__UNLIKELY(p->has_on_start)) {
        dpt_context scratch; /* the parent context, lent to the processors */
        const dpt_context *pc = dpt__parent_context(o, par, &scratch);
        uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
        for (uint32_t i = 0; i < n; i++)
            dpt__processor_on_start(p->procs[i], &r->d, pc);
    }
    return h;
}

/* A sampler that is not always_on/always_off (directly or as a parent-based delegate);
 * it is lent the full parent context. */
static DPT__NOINLINE void sample_slow(dpt_provider *p, const dpt__parent *par, const dpt__span *r,
                                      const char *name, dpt_span_kind kind, const dpt_span_opts *o,
                                      dpt_sampling_result *res)
{
    dpt_context scratch; /* the parent context, lent to the sampler */
    dpt_sampling_params sp = {
        .parent = par->valid ? &par->sc : NULL,
        .parent_tracestate = par->valid ? par->ts : NULL,
        .trace_id = &r->d.ctx.trace_id,
        .name = name ? name : "",
        .kind = kind,
        .attrs = o ? o->attrs : NULL,
        .n_attrs = o ? o->n_attrs : 0,
        .links = o ? o->links : NULL,
        .n_links = o ? o->n_links : 0,
        .parent_context = dpt__parent_context(o, par, &scratch),
    };
    dpt_sampler_should_sample(p->sampler, &sp, res);
}

/* Ids from a custom generator (ig), falling back to the inline random ones for an id it
 * leaves all zero. */
static DPT__NOINLINE void gen_ids_custom(const dpt_id_generator *ig, dpt_trace_id *tid,
                                         dpt_span_id *sid)
{
    if (tid) {
        if (ig->trace_id) ig->trace_id(ig->user, tid);
        if (!ig->trace_id || dpt__all_zero(tid->b, 16)) dpt__new_trace_id(tid);
    }
    if (ig->span_id) ig->span_id(ig->user, sid);
    if (!ig->span_id || dpt__all_zero(sid->b, 8)) dpt__new_span_id(sid);
}

/* The span start proper. Inlined twice: with ig == NULL (the common path, decided by one
 * load of the provider's gate in dpt_span_start) and with the provider's custom id
 * generator (start_slow), so a custom generator costs the default path nothing. */
static inline __attribute__((always_inline)) dpt_span
start_span(dpt_tracer *t, dpt_provider *p, const char *name, dpt_span_kind kind,
           const dpt_span_opts *o, const dpt_id_generator *ig)
{
    dpt__owner *me = dpt__owner_get();
    if (DPT__UNLIKELY(!me)) return DPT_SPAN_NONE;

    dpt__parent par;
    par.owned_ts = false;
    if (DPT__LIKELY(o == NULL)) {
        dpt__current_parent(&par);
    } else {
        resolve_parent(o, &par);
    }

    dpt__span *r = dpt__span_alloc();
    if (DPT__UNLIKELY(!r)) {
        if (par.owned_ts) dpt_tracestate_release((dpt_tracestate *)par.ts);
        return DPT_SPAN_NONE;
    }
    /* Release: a stale handle that reads the context below and then the generation sees
     * this record's end before it (get_context's re-check). */
    dpt__fence(memory_order_release);
    r->tracer = t;
    if (par.valid) r->d.ctx.trace_id = par.sc.trace_id;
    if (ig)
        gen_ids_custom(ig, par.valid ? NULL : &r->d.ctx.trace_id, &r->d.ctx.span_id);
    else
        dpt__new_ids(par.valid ? NULL : &r->d.ctx.trace_id, &r->d.ctx.span_id);
    r->d.ctx.remote = false;

    dpt_sampling_result res;
    res.attrs = NULL;
    res.n_attrs = 0;
    res.tracestate = NULL;
    res.tracestate_empty = false;
    int fast = dpt__sampler_fast(p->sampler, par.valid ? &par.sc : NULL, &r->d.ctx.trace_id);
    /* always_on / always_off / trace-id ratio, directly or as a parent-based delegate: no
     * call */
    if (DPT__LIKELY(fast >= 0))
        res.decision = (dpt_decision)fast;
    else
        sample_slow(p, &par, r, name, kind, o, &res);
    _Atomic uint64_t *cnt = dpt__counters(p);

    /* Level 2: our trace ids are fully random (a custom generator says whether its are); a
     * continued trace keeps the parent's bit. */
    uint8_t flags = par.valid
                        ? (par.sc.flags & DPT_FLAG_RANDOM)
                        : ((ig && ig->trace_id && !ig->random_trace_ids) ? 0 : DPT_FLAG_RANDOM);
    /* B3 debug is carried on by sampled children (OpenTelemetry's B3 rules: "propagate it
     * with subsequent requests"); debug implies accept, so a dropped child does not. */
    if (res.decision == DPT_RECORD_AND_SAMPLE)
        flags |= DPT_FLAG_SAMPLED | (par.valid ? (par.sc.flags & DPT_FLAG_B3_DEBUG) : 0);
    r->d.ctx.flags = flags;
    r->ts = NULL;
    if (DPT__UNLIKELY(res.tracestate != NULL)) {
        r->ts = res.tracestate;
        if (par.owned_ts) dpt_tracestate_release((dpt_tracestate *)par.ts);
    } else if (DPT__UNLIKELY(par.valid && par.ts != NULL)) {
        if (DPT__UNLIKELY(res.tracestate_empty)) {
            if (par.owned_ts) dpt_tracestate_release((dpt_tracestate *)par.ts);
        } else {
            r->ts = par.owned_ts ? (dpt_tracestate *)par.ts : dpt_tracestate_retain(par.ts);
        }
    }
    uint64_t gen = (atomic_load_explicit(&r->gen, memory_order_relaxed) | 1) + 2;
    dpt_span h = {r, gen};
    /* The new span is ours; a stale thread may still set `shared` (then this span is
     * locked: slower, never wrong), and never leaves `lock` taken. */
    atomic_store_explicit(&r->owner, me, memory_order_relaxed);
    atomic_store_explicit(&r->shared, atomic_load_explicit(&start_shared, memory_order_relaxed),
                          memory_order_relaxed);
    if (DPT__LIKELY(res.decision == DPT_DROP)) {
        /* Non-recording: only the context is kept (for children and propagation). */
        if (DPT__LIKELY(cnt != NULL)) dpt__cadd(cnt, DPT__C_STARTED_NONREC, 1);
        atomic_store_explicit(&r->state, DPT__REC_NONRECORDING, memory_order_relaxed);
        atomic_store_explicit(&r->gen, gen, memory_order_relaxed);
        return h;
    }
    return start_recording(r, h, p, name, kind, o, &par, &res, cnt);
}

/* A provider with something in its gate: disabled, shut down, or custom ids. */
static DPT__NOINLINE dpt_span start_slow(dpt_tracer *t, dpt_provider *p, const char *name,
                                         dpt_span_kind kind, const dpt_span_opts *o)
{
    if (atomic_load_explicit(&p->gate, memory_order_relaxed) & DPT__GATE_OFF) return DPT_SPAN_NONE;
    return start_span(t, p, name, kind, o, &p->idgen);
}

/* The default path (no options, nothing in the gate), out of line for the one below. */
static DPT__NOINLINE dpt_span start_default(dpt_tracer *t, dpt_provider *p, const char *name,
                                            dpt_span_kind kind)
{
    return start_span(t, p, name, kind, NULL, NULL);
}

static DPT__NOINLINE dpt_span start_default_o(dpt_tracer *t, dpt_provider *p, const char *name,
                                              dpt_span_kind kind, const dpt_span_opts *o)
{
    return start_span(t, p, name, kind, o, NULL);
}

/* The span most starts make: no options, nothing in the gate, the parent (pe: the top of
 * the context stack when valid, NULL for none) and the sampler's decision, record and sample, found
 * by dpt_span_start without a call; me is the calling thread's owner block. start_span's steps for
 * this case, with nothing resolved twice. */
static DPT__NOINLINE dpt_span start_known(dpt_tracer *t, dpt_provider *p, const char *name,
                                          dpt_span_kind kind, const dpt__ctx_entry *pe,
                                          dpt__owner *me)
{
    dpt__span *r = dpt__span_alloc();
    if (DPT__UNLIKELY(!r)) return DPT_SPAN_NONE;
    dpt__fence(memory_order_release); /* as in start_span */
    r->tracer = t;
    const dpt_span_context *parent = pe ? &pe->sc : NULL;
    uint8_t flags = DPT_FLAG_RANDOM | DPT_FLAG_SAMPLED;
    dpt_tracestate *ts = NULL;
    if (parent) {
        /* A continued trace keeps the parent's random bit (level 2) and, sampled, its B3
         * debug mark, as in start_span. */
        r->d.ctx.trace_id = parent->trace_id;
        dpt__new_ids(NULL, &r->d.ctx.span_id);
        flags =
            (uint8_t)((parent->flags & (DPT_FLAG_RANDOM | DPT_FLAG_B3_DEBUG)) | DPT_FLAG_SAMPLED);
        if (DPT__UNLIKELY(pe->ts != NULL)) ts = dpt_tracestate_retain(pe->ts);
        r->d.parent_span_id = parent->span_id;
        r->d.parent_remote = parent->remote;
    } else {
        dpt__new_ids(&r->d.ctx.trace_id, &r->d.ctx.span_id);
        memset(&r->d.parent_span_id, 0, sizeof r->d.parent_span_id);
        r->d.parent_remote = false;
    }
    r->ts = ts;
    r->d.ctx.remote = false;
    r->d.ctx.flags = flags;
    uint64_t gen = (atomic_load_explicit(&r->gen, memory_order_relaxed) | 1) + 2;
    dpt_span h = {r, gen};
    /* as in start_span */
    atomic_store_explicit(&r->owner, me, memory_order_relaxed);
    atomic_store_explicit(&r->shared, atomic_load_explicit(&start_shared, memory_order_relaxed),
                          memory_order_relaxed);
    init_recording(r, h, p, name, kind, NULL, parent, dpt__counters(p), DPT__C_STARTED_SAMPLED, t,
                   ts, true);
    if (DPT__UNLIKELY(p->has_on_start)) {
        dpt__parent par; /* without options, the current context is the parent context */
        memset(&par, 0, sizeof par);
        dpt_context scratch; /* the parent context, lent to the processors */
        const dpt_context *pc = dpt__parent_context(NULL, &par, &scratch);
        uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
        for (uint32_t i = 0; i < n; i++)
            dpt__processor_on_start(p->procs[i], &r->d, pc);
    }
    return h;
}

/* A span the sampler drops without a call (always_off, or parent-based): only the context,
 * in as few instructions as possible. pe: the valid parent (the top of the context stack),
 * NULL for a root span; me: the calling thread's owner block. */
static DPT__NOINLINE dpt_span start_dropped(dpt_tracer *t, dpt_provider *p, const char *name,
                                            dpt_span_kind kind, const dpt__ctx_entry *pe,
                                            dpt__owner *me)
{
    const dpt__mag *m = dpt__tc.cur;
    if (DPT__UNLIKELY(!m || !m->n)) return start_default(t, p, name, kind);
    dpt__span *r = dpt__span_alloc();
    r->tracer = t;
    dpt__fence(memory_order_release); /* as in start_span */
    uint8_t flags = DPT_FLAG_RANDOM;
    r->ts = NULL;
    if (pe) {
        r->d.ctx.trace_id = pe->sc.trace_id;
        dpt__new_ids(NULL, &r->d.ctx.span_id);
        flags = pe->sc.flags & DPT_FLAG_RANDOM;
        if (DPT__UNLIKELY(pe->ts != NULL)) r->ts = dpt_tracestate_retain(pe->ts);
    } else {
        dpt__new_ids(&r->d.ctx.trace_id, &r->d.ctx.span_id);
    }
    r->d.ctx.remote = false;
    r->d.ctx.flags = flags;
    _Atomic uint64_t *cnt = dpt__counters(p);
    if (DPT__LIKELY(cnt != NULL)) dpt__cadd(cnt, DPT__C_STARTED_NONREC, 1);
    uint64_t gen = (atomic_load_explicit(&r->gen, memory_order_relaxed) | 1) + 2;
    atomic_store_explicit(&r->owner, me, memory_order_relaxed);
    atomic_store_explicit(&r->shared, atomic_load_explicit(&start_shared, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&r->state, DPT__REC_NONRECORDING, memory_order_relaxed);
    atomic_store_explicit(&r->gen, gen, memory_order_relaxed);
    dpt_span h = {r, gen};
    return h;
}

dpt_span dpt_span_start(dpt_tracer *t, const char *name, dpt_span_kind kind, const dpt_span_opts *o)
{
    if (DPT__UNLIKELY(!t || !t->provider)) return DPT_SPAN_NONE;
    dpt_provider *p = t->provider;
    if (DPT__UNLIKELY(atomic_load_explicit(&p->gate, memory_order_relaxed) != 0))
        return start_slow(t, p, name, kind, o);
    /* Options: the full path at once, unless they ask for nothing (a caller that fills
     * dpt_span_opts only when it has something, as the nginx module for a request without
     * trace headers): then as without them. */
    if (o &&
        (o->parent || o->parent_span.rec || o->root || o->start_ns || o->n_attrs || o->n_links))
        return start_default_o(t, p, name, kind, o);
    /* A span the sampler samples without a call (always_on, or parent-based on a parent's
     * decision or as a root): start_known. One it drops without a call: start_dropped.
     * Everything else takes the full path. Each is a tail call: this function only looks. */
    dpt__owner *me = dpt__tl_owner;
    const dpt__ctx_stack *st = dpt__tl_stack;
    const dpt__ctx_entry *e = st && st->depth ? &st->e[st->depth - 1] : NULL;
    if (e && !dpt__sc_valid(&e->sc)) e = NULL;
    int fast = dpt__sampler_fast(p->sampler, e ? &e->sc : NULL, e ? &e->sc.trace_id : NULL);
    if (DPT__UNLIKELY(me == &dpt__owner_none)) return start_default(t, p, name, kind);
    if (DPT__LIKELY(fast == DPT_RECORD_AND_SAMPLE)) return start_known(t, p, name, kind, e, me);
    if (fast == DPT_DROP) return start_dropped(t, p, name, kind, e, me);
    return start_default(t, p, name, kind);
}

/* ---- setters ---------------------------------------------------------------------------- */

/* The common setter: a scalar or a NUL-terminated string under a key this thread has
 * interned and known harmless, new to the span, with room in its array. Returns DPT_OK, or
 * -1 when the general path must decide (nothing changed then). lim: the provider's value
 * length limit, UINT32_MAX to look it up here (only for a string). */
static inline __attribute__((always_inline)) int set_fast_k(dpt__span *r, const dpt__ikey *k,
                                                            uint32_t type, const dpt_value *in,
                                                            size_t vlen, bool exact, uint32_t lim)
{
    if (DPT__UNLIKELY(!dpt__key_known_keep(k))) return -1;
    uint32_t klen = k->len;
    dpt_attr *attrs = (dpt_attr *)r->d.attrs;
    uint32_t n = r->d.n_attrs;
    uint32_t bit = k->bit;
    /* A key that may be set already (its bit in the filter) is looked for: one set already
     * is overwritten by the general path. exact: compared byte by byte without a call (keys
     * of one length usually differ early), else any key of the same length goes there too
     * (a shorter loop for the single setters, whose fast path saves no register). */
    if (DPT__UNLIKELY(r->key_bloom & bit))
        for (uint32_t i = 0; i < n; i++) {
            if (attrs[i].key_len != klen) continue;
            if (!exact) return -1;
            const char *x = attrs[i].key;
            uint32_t j = 0;
            while (j < klen && x[j] == k->s[j])
                j++;
            if (j == klen) return -1;
        }
    /* attr_cap <= the count limit (init_recording) */
    if (DPT__UNLIKELY(n >= r->attr_cap)) return -1;
    dpt_attr *dst = &attrs[n];
    if (type == DPT_VAL_STRING) {
        if (lim == UINT32_MAX) lim = r->tracer->provider->limits.attr_value_len;
        if (DPT__UNLIKELY(in->u.s == NULL || (lim && vlen > lim))) return -1;
        size_t len = vlen;
        char *c;
        if (exact) {
            c = dpt__arena_strdup(r, in->u.s, len);
            if (DPT__UNLIKELY(!c)) {
                r->arena.over = false; /* the general path tries again and counts */
                return -1;
            }
        } else {
            /* The single setters make no call here: a value the current arena block cannot
             * hold, or a long one (memcpy), goes to the general path. */
            c = dpt__arena_strdup_leaf(r, in->u.s, len);
            if (DPT__UNLIKELY(!c)) return -1;
        }
        dst->value.u.s = c;
        dst->value.len = (uint32_t)len;
    } else {
        dst->value.u = in->u;
        dst->value.len = in->len;
    }
    dst->value.type = type;
    dst->key = k->s;
    dst->key_len = klen;
    r->d.n_attrs = n + 1;
    r->key_bloom |= bit;
    return DPT_OK;
}

/* set_fast_k for an attribute of a list (dpt_span_set_attrs): a NUL-terminated key this
 * thread has cached, a valid scalar or string. -1: the general path decides (nothing
 * changed). keys (dpt__tl_keys) and lim (the value length limit) are loaded once per list. */
static inline int set_fast_attr(dpt__span *r, const dpt_attr *a, const dpt__kslot *keys,
                                uint32_t lim)
{
    uint32_t t = a->value.type;
    if (DPT__UNLIKELY(a->key == NULL || t > DPT_VAL_DOUBLE)) return -1;
    const dpt__ikey *k;
    if (a->key_len == DPT_NUL) {
        k = dpt__key_cached_in(keys, a->key);
    } else {
        /* A length given (a literal's sizeof - 1, the nginx module's keys): a key known by
         * its address alone (`fixed`: a whole NUL-terminated literal that cannot change) of
         * that same length is that key; anything else takes the general path. */
        k = dpt__key_cached_fixed_in(keys, a->key);
        if (k && k->len != a->key_len) k = NULL;
    }
    if (DPT__UNLIKELY(!k)) return -1;
    size_t vlen = 0;
    if (t == DPT_VAL_STRING) {
        if (DPT__UNLIKELY(!a->value.u.s)) return -1;
        vlen = a->value.len == DPT_NUL ? strlen(a->value.u.s) : a->value.len;
    }
    return set_fast_k(r, k, t, &a->value, vlen, true, lim);
}

/* Room for `more` new attributes at once (dpt_span_set_attrs): the array grown once to
 * what the list can need within the count limit, instead of doubling and copying on the
 * way. When the budget refuses it nothing changes and the setters grow it as usual. */
static void reserve_attrs(dpt__span *r, size_t more)
{
    uint32_t n = r->d.n_attrs;
    uint32_t lim = provider_of(r)->limits.attr_count;
    size_t want = more < UINT16_MAX ? n + more : UINT16_MAX;
    /* Room for a few more: a caller that sets a list at the start and another at the end
     * (the nginx module: the request's attributes, then the status and sizes) grows once. */
    want = (want + 7) & ~(size_t)7;
    if (want > lim) want = lim;
    if (want > UINT16_MAX) want = UINT16_MAX;
    if (want <= r->attr_cap) return;
    dpt_attr *na = dpt__arena_alloc(r, sizeof(dpt_attr) * want);
    if (!na) {
        r->arena.over = false;
        return;
    }
    if (n) memcpy(na, r->d.attrs, sizeof(dpt_attr) * n);
    r->d.attrs = na;
    r->attr_cap = (uint16_t)want;
}

/* set_fast_k for a key given by the caller (NULL: not cached here). */
static inline int set_fast(dpt__span *r, const char *key, uint32_t type, const dpt_value *in)
{
    const dpt__ikey *k = key ? dpt__key_cached(key) : NULL;
    if (!k) return -1;
    return set_fast_k(r, k, type, in, type == DPT_VAL_STRING && in->u.s ? strlen(in->u.s) : 0, true,
                      UINT32_MAX);
}

/* The value of a single setter (dpt_span_set_str/int/double/bool) from its type and the
 * bits of its union: passed so between set_kv and its out-of-line paths, one register
 * fewer live across set_kv's strlen (the length is DPT_NUL for a string, 0 otherwise, as
 * DPT_STR and DPT_INT make them). */
static inline dpt_value kv_value(uint32_t type, uint64_t bits)
{
    dpt_value v;
    v.type = type;
    v.len = type == DPT_VAL_STRING ? DPT_NUL : 0;
    memcpy(&v.u, &bits, sizeof v.u);
    return v;
}

/* A setter of one key/value in general: inside the span (locked when it is shared), the
 * fast path, else the general one. Out of line so that set_kv's own path stays a short
 * function that saves few registers. */
static DPT__NOINLINE dpt_err set_kv_slow(dpt_span s, const char *key, uint32_t type, uint64_t bits)
{
    dpt_value v = kv_value(type, bits);
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    int e = set_fast(op.r, key, type, &v);
    if (DPT__UNLIKELY(e < 0)) {
        dpt_attr a = {key, DPT_NUL, v};
        e = set_attr(op.r, &a);
    }
    dpt__op_end(op);
    return (dpt_err)e;
}

/* set_fast_k inside a span this thread owns and works on unlocked (span.h), entered and
 * left here: dpt__op_begin's owner path, inline (see span.h for the fence). -1: not
 * entered that way, or the fast path declined (nothing changed). */
static inline __attribute__((always_inline)) int set_owned(dpt__span *r, uint64_t gen,
                                                           const dpt__ikey *k, uint32_t type,
                                                           const dpt_value *v, size_t vlen)
{
    dpt__owner *me = dpt__tl_owner; /* dpt__owner_none owns no record (span.h) */
    if (DPT__UNLIKELY(atomic_load_explicit(&r->owner, memory_order_relaxed) != me)) return -1;
    atomic_store_explicit(&me->busy, r, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    int e = -1;
    if (DPT__LIKELY(!atomic_load_explicit(&r->shared, memory_order_relaxed) &&
                    atomic_load_explicit(&r->gen, memory_order_relaxed) == gen))
        e = set_fast_k(r, k, type, v, vlen, false, UINT32_MAX);
    /* Release: as in dpt__op_end. */
    atomic_store_explicit(&me->busy, NULL, memory_order_release);
    return e;
}

#if !defined(DPT_SPAN_UNSYNCHRONIZED)
/* set_kv for a key the cache does not know by its address alone (dpt__key_cached_fixed):
 * looked up with its strcmp verification, out of line so that set_kv's own path makes no
 * call but strlen (no register to save for the int, bool and double setters). */
static DPT__NOINLINE dpt_err set_kv_cmp(dpt_span s, const char *key, uint32_t type, uint64_t bits)
{
    dpt_value v = kv_value(type, bits);
    const dpt__ikey *k = key ? dpt__key_cached(key) : NULL;
    size_t vlen = type == DPT_VAL_STRING && v.u.s ? strlen(v.u.s) : 0;
    if (k && set_owned(s.rec, s.gen, k, type, &v, vlen) == DPT_OK) return DPT_OK;
    return set_kv_slow(s, key, type, bits);
}
#endif

/* A setter of one key/value. The common case, a recording span this thread owns and works
 * on unlocked (span.h), with the fast path's conditions met, is done here; everything else,
 * and a fast path that declined (it changed nothing), goes to set_kv_slow, which enters the
 * span again. Leaving and re-entering is as if the setter ran a moment later. (The
 * DPT_SPAN_UNSYNCHRONIZED measurement build takes dpt__op_begin every time.) */
static inline dpt_err set_kv(dpt_span s, const char *key, uint32_t type, dpt_value v)
{
    _Static_assert(sizeof v.u == sizeof(uint64_t), "kv_value");
    uint64_t bits;
    memcpy(&bits, &v.u, sizeof bits);
#if !defined(DPT_SPAN_UNSYNCHRONIZED)
    dpt__span *r = s.rec;
    /* A non-recording span's setter is a no-op: the state is looked at first, as in
     * begin_recording. */
    if (DPT__UNLIKELY(!r) ||
        atomic_load_explicit(&r->state, memory_order_relaxed) != DPT__REC_RECORDING)
        return DPT_ESTATE;
    /* A string's length first, the one call of this path: only the arguments are live
     * across it. (set_kv_cmp, for a key not known by its address, takes it again.) */
    size_t vlen = type == DPT_VAL_STRING && v.u.s ? strlen(v.u.s) : 0;
    const dpt__ikey *k = key ? dpt__key_cached_fixed(key) : NULL;
    if (DPT__UNLIKELY(k == NULL)) return set_kv_cmp(s, key, type, bits);
    if (DPT__LIKELY(set_owned(r, s.gen, k, type, &v, vlen) == DPT_OK)) return DPT_OK;
#endif
    return set_kv_slow(s, key, type, bits);
}

static inline dpt_err set_one(dpt_span s, const dpt_attr *a)
{
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    dpt_err e = set_attr(op.r, a);
    dpt__op_end(op);
    return e;
}

dpt_err dpt_span_set_attr(dpt_span s, const dpt_attr *a)
{
    return set_one(s, a);
}

dpt_err dpt_span_set_attrs(dpt_span s, const dpt_attr *a, size_t n)
{
    if (!a && n) return begin_recording(s).r ? DPT_EINVAL : DPT_ESTATE;
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    dpt__span *r = op.r;
    if (r->d.n_attrs + n > r->attr_cap) reserve_attrs(r, n);
    dpt_err worst = DPT_OK;
    /* The thread's key cache and the limit, once: the general path may make the cache. */
    const dpt__kslot *keys = dpt__tl_keys;
    uint32_t lim = provider_of(r)->limits.attr_value_len;
    for (size_t i = 0; i < n; i++) {
        if (DPT__LIKELY(set_fast_attr(r, &a[i], keys, lim) == DPT_OK)) continue;
        dpt_err e = set_attr(r, &a[i]);
        if (e != DPT_OK) worst = e;
        keys = dpt__tl_keys;
    }
    dpt__op_end(op);
    return worst;
}

dpt_err dpt_span_set_str(dpt_span s, const char *key, const char *value)
{
    dpt_attr a = DPT_STR(key, value);
    return set_kv(s, key, DPT_VAL_STRING, a.value);
}

dpt_err dpt_span_set_strn(dpt_span s, const char *key, size_t key_len, const char *value,
                          size_t value_len)
{
    if (key_len >= DPT_NUL || value_len >= DPT_NUL) return DPT_ETOOBIG;
    dpt_attr a = DPT_STRN(key, value, value_len);
    a.key_len = (uint32_t)key_len;
    return set_one(s, &a);
}

dpt_err dpt_span_set_int(dpt_span s, const char *key, int64_t value)
{
    dpt_attr a = DPT_INT(key, value);
    return set_kv(s, key, a.value.type, a.value);
}

dpt_err dpt_span_set_double(dpt_span s, const char *key, double value)
{
    dpt_attr a = DPT_DOUBLE(key, value);
    return set_kv(s, key, a.value.type, a.value);
}

dpt_err dpt_span_set_bool(dpt_span s, const char *key, bool value)
{
    dpt_attr a = DPT_BOOL(key, value);
    return set_kv(s, key, a.value.type, a.value);
}

/* Adds an event to a record the caller is inside. */
static dpt_err add_event(dpt__span *r, const char *name, uint64_t time_ns, const dpt_attr *attrs,
                         size_t n)
{
    dpt_provider *p = provider_of(r);
    r->clean = 0; /* events, event_cap, dropped_events */
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
    e->time_ns = time_ns ? time_ns : dpt__now_ns_inline();
    dpt_err err = copy_attr_list(r, attrs, n, p->limits.attrs_per_event, p->limits.attr_value_len,
                                 &e->attrs, &e->n_attrs, &e->dropped_attrs);
    if (err != DPT_OK) return over_budget(r, DPT__C_EVENTS_DROPPED, &r->d.dropped_events, err);
    if (e->dropped_attrs) dpt__count(p, DPT__C_ATTRS_DROPPED, e->dropped_attrs);
    r->d.n_events++;
    return DPT_OK;
}

dpt_err dpt_span_add_event_at(dpt_span s, const char *name, uint64_t time_ns, const dpt_attr *attrs,
                              size_t n)
{
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    dpt_err e = (!name || (!attrs && n)) ? DPT_EINVAL : add_event(op.r, name, time_ns, attrs, n);
    dpt__op_end(op);
    return e;
}

dpt_err dpt_span_add_event(dpt_span s, const char *name, const dpt_attr *attrs, size_t n)
{
    return dpt_span_add_event_at(s, name, 0, attrs, n);
}

dpt_err dpt_span_add_link(dpt_span s, const dpt_link *link)
{
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    dpt_err e = add_link(op.r, link);
    dpt__op_end(op);
    return e;
}

/* Sets the status of a record the caller is inside. */
static dpt_err set_status(dpt__span *r, dpt_status_code code, const char *msg)
{
    if (code > DPT_STATUS_ERROR) return DPT_EINVAL;
    /* OpenTelemetry: UNSET is ignored, OK is final, a description only goes with ERROR. */
    if (code == DPT_STATUS_UNSET || r->d.status == DPT_STATUS_OK) return DPT_OK;
    r->clean = 0;
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

dpt_err dpt_span_set_status(dpt_span s, dpt_status_code code, const char *msg)
{
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    dpt_err e = set_status(op.r, code, msg);
    dpt__op_end(op);
    return e;
}

dpt_err dpt_span_record_error(dpt_span s, const char *type, const char *message)
{
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    dpt_attr a[2];
    size_t n = 0;
    if (type) a[n++] = DPT_STR("exception.type", type);
    if (message) a[n++] = DPT_STR("exception.message", message);
    /* one operation: the event and the status land together */
    dpt_err e = add_event(op.r, "exception", 0, a, n);
    dpt_err e2 = set_status(op.r, DPT_STATUS_ERROR, message);
    dpt__op_end(op);
    return e != DPT_OK && e != DPT_ETOOBIG ? e : e2;
}

dpt_err dpt_span_record_error_attrs(dpt_span s, const char *type, const char *message,
                                    const dpt_attr *attrs, size_t n)
{
    if (!attrs && n) return begin_recording(s).r ? DPT_EINVAL : DPT_ESTATE;
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
    dpt_err e = DPT_ESTATE, e2 = DPT_ESTATE;
    dpt__op op = begin_recording(s);
    if (op.r) {
        /* one operation: the event and the status land together */
        e = add_event(op.r, "exception", 0, list, k + n);
        e2 = set_status(op.r, DPT_STATUS_ERROR, message);
        dpt__op_end(op);
    }
    if (list != inline_list) free(list);
    return e != DPT_OK && e != DPT_ETOOBIG ? e : e2;
}

dpt_err dpt_span_update_name(dpt_span s, const char *name)
{
    dpt__op op = begin_recording(s);
    if (!op.r) return DPT_ESTATE;
    if (name) store_name(op.r, name, strlen(name));
    dpt__op_end(op);
    return name ? DPT_OK : DPT_EINVAL;
}

bool dpt_span_is_recording(dpt_span s)
{
    dpt__span *r = s.rec;
    return r && atomic_load_explicit(&r->state, memory_order_relaxed) == DPT__REC_RECORDING &&
           atomic_load_explicit(&r->gen, memory_order_acquire) == s.gen;
}

dpt_span_context dpt_span_get_context(dpt_span s)
{
    dpt_span_context z = {0};
    dpt__span *r = s.rec;
    if (!r || atomic_load_explicit(&r->gen, memory_order_acquire) != s.gen) return z;
    /* The context of a live span never changes; a stale handle may read it while the
     * record is reused, so the generation is read again after the copy. */
    dpt_span_context c = r->d.ctx;
    dpt__fence(memory_order_acquire);
    return atomic_load_explicit(&r->gen, memory_order_relaxed) == s.gen ? c : z;
}

bool dpt__span_context_ts(dpt_span s, dpt_span_context *sc, dpt_tracestate **ts)
{
    dpt__op op = dpt__op_begin(s);
    if (!op.r) return false;
    *sc = op.r->d.ctx;
    *ts = op.r->ts ? dpt_tracestate_retain(op.r->ts) : NULL;
    dpt__op_end(op);
    return true;
}

/* ---- end -------------------------------------------------------------------------------- */

/* The processors' on_ending callbacks (plugin.h), in the order they were added, with a
 * handle of their own: the record's generation moves from the ended handle's gen + 1 to
 * gen + 2 (odd: live) for the calls, so every handle the application holds stays stale
 * and only the callbacks can change the span, and to gen + 3 (ended) after them. */
static DPT__NOINLINE void run_ending(dpt_provider *p, dpt__span *r, uint64_t gen)
{
    dpt_span h = {r, gen + 2};
    atomic_store_explicit(&r->gen, h.gen, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        const dpt_processor *pr = p->procs[i];
        if (pr->ops.on_ending) pr->ops.on_ending(pr->state, h, &r->d);
    }
    /* The callbacks ran on this thread: their changes are in order before this. */
    atomic_store_explicit(&r->gen, h.gen + 1, memory_order_relaxed);
}

/* The end of a recording span, after its generation was bumped: nobody else touches the
 * record any more. gen: the generation of the handle that ended it. */
static DPT__NOINLINE dpt_err end_recording(dpt__span *r, uint64_t gen, uint64_t end_ns)
{
    if (DPT__UNLIKELY(r->d.end_ns != 0)) {
        /* dpt_span_end from an on_ending callback (only those hold a live handle of a span
         * whose end time is set): the span ends when the callbacks return. The callbacks'
         * handle stays live. */
        atomic_store_explicit(&r->gen, gen, memory_order_relaxed);
        return DPT_ESTATE;
    }
    r->d.end_ns = end_ns ? end_ns : dpt__now_ns_inline();
    if (r->d.end_ns < r->d.start_ns) r->d.end_ns = r->d.start_ns;
    dpt_provider *p = r->tracer->provider;
    /* A provider with an on_ending processor has no sole batch processor (provider.c). */
    if (DPT__UNLIKELY(atomic_load_explicit(&p->sole_batch, memory_order_relaxed) == NULL) &&
        atomic_load_explicit(&p->n_ending, memory_order_relaxed))
        run_ending(p, r, gen);
    atomic_store_explicit(&r->state, DPT__REC_ENDED, memory_order_relaxed);
    _Atomic uint64_t *cnt = dpt__counters(p);
    if (DPT__LIKELY(cnt != NULL)) dpt__cadd(cnt, DPT__C_ENDED, 1);
    /* The common pipeline, inline: a sole batch processor's queue takes the provider's
     * reference over (no locked increment and decrement per span). */
    const dpt__batch_hot *b = atomic_load_explicit(&p->sole_batch, memory_order_relaxed);
    if (DPT__LIKELY(b != NULL && (r->d.ctx.flags & DPT_FLAG_SAMPLED) &&
                    b->fork_gen ==
                        atomic_load_explicit(&dpt__batch_fork_generation, memory_order_relaxed) &&
                    !atomic_load_explicit(&b->shut, memory_order_relaxed))) {
        atomic_store_explicit(&r->refs, 1, memory_order_relaxed);
        int pushed = dpt__queue_push(b->q, r);
        if (DPT__LIKELY(pushed == DPT__Q_QUEUED) || dpt__batch_took((void *)b, r, pushed))
            return DPT_OK;
        atomic_store_explicit(&r->refs, 0, memory_order_relaxed);
        dpt__span_recycle(r);
        return DPT_OK;
    }
    dpt__provider_on_end_counted(p, r);
    return DPT_OK;
}

/* The end of a record the caller entered: from the generation bump on, every other
 * operation on it fails, so the rest runs outside the span. */
static inline dpt_err finish(dpt__op op, uint64_t gen, uint64_t end_ns)
{
    dpt__span *r = op.r;
    atomic_store_explicit(&r->gen, gen + 1, memory_order_relaxed);
    uint8_t st = atomic_load_explicit(&r->state, memory_order_relaxed);
    dpt__op_end(op);
    if (DPT__LIKELY(st == DPT__REC_NONRECORDING)) {
        dpt__span_recycle(r);
        return DPT_OK;
    }
    return end_recording(r, gen, end_ns);
}

/* The end of a span not ours or shared: entered with the lock (span.h). */
static DPT__NOINLINE dpt_err end_slow(dpt_span s, uint64_t end_ns)
{
    dpt__op op = dpt__op_begin(s);
    if (!op.r) return DPT_ESTATE;
    return finish(op, s.gen, end_ns);
}

static inline dpt_err end_span(dpt_span s, uint64_t end_ns)
{
#if !defined(DPT_SPAN_UNSYNCHRONIZED)
    /* dpt__op_begin's owner path written out, so that nothing here is a call other than a
     * tail call (no register to save); see span.h for the fence. */
    dpt__span *r = s.rec;
    dpt__owner *me = dpt__tl_owner; /* dpt__owner_none owns no record (span.h) */
    if (DPT__LIKELY(r != NULL) &&
        DPT__LIKELY(atomic_load_explicit(&r->owner, memory_order_relaxed) == me)) {
        atomic_store_explicit(&me->busy, r, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        if (DPT__LIKELY(!atomic_load_explicit(&r->shared, memory_order_relaxed))) {
            if (DPT__UNLIKELY(atomic_load_explicit(&r->gen, memory_order_relaxed) != s.gen)) {
                atomic_store_explicit(&me->busy, NULL, memory_order_release);
                return DPT_ESTATE;
            }
            /* finish() with the owner block at hand (dpt__op_end would load it again) */
            atomic_store_explicit(&r->gen, s.gen + 1, memory_order_relaxed);
            uint8_t st = atomic_load_explicit(&r->state, memory_order_relaxed);
            atomic_store_explicit(&me->busy, NULL, memory_order_release);
            if (DPT__LIKELY(st == DPT__REC_NONRECORDING)) {
                dpt__span_recycle(r);
                return DPT_OK;
            }
            return end_recording(r, s.gen, end_ns);
        }
        atomic_store_explicit(&me->busy, NULL, memory_order_release);
    }
#endif
    return end_slow(s, end_ns);
}

dpt_err dpt_span_end_at(dpt_span s, uint64_t end_ns)
{
    return end_span(s, end_ns);
}

dpt_err dpt_span_end(dpt_span s)
{
    return end_span(s, 0);
}

int dpt__span_end_by_task(dpt_span s, char *name_out, size_t name_cap)
{
    dpt__op op = dpt__op_begin(s);
    if (!op.r) return -1;
    dpt__span *r = op.r;
    int recording = atomic_load_explicit(&r->state, memory_order_relaxed) == DPT__REC_RECORDING;
    if (recording) {
        if (name_out && name_cap) snprintf(name_out, name_cap, "%s", r->d.name ? r->d.name : "");
        dpt_attr a = DPT_BOOL("dptrace.ended_by_task", true);
        set_attr(r, &a);
        r->clean = 0;
        r->d.ended_by_task = 1;
        dpt__count(provider_of(r), DPT__C_ENDED_BY_TASK, 1);
    }
    finish(op, s.gen, 0);
    return recording;
}
