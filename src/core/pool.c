/* pool.c - the span record pool and the per-record arena.
 *
 * Records are recycled, never returned to malloc: a stale dpt_span handle may still read
 * a record's generation after the span ended, so record memory must stay valid for the
 * life of the process (type-stable memory, as in slab allocators). The pool is a
 * magazine allocator (Bonwick): each thread keeps two magazines of up to 64 free records
 * and trades whole magazines with a global depot under a mutex, so the lock is taken
 * once per 64 allocations or frees, and records ended on application threads and freed on
 * the export thread flow back to the producers in bulk.
 *
 * A producer recycles the records its lane gave back in bursts (a batch at a time) and
 * allocates one per span: between bursts it would hand full magazines to the depot and
 * take others back. Through a shared depot those are another thread's records, in another
 * core's cache, and two producers would trade cache lines on every record (measured: two
 * producers 1.0-1.2x one, with drops). So a thread keeps up to OWN_MAX full magazines it
 * filled itself, and as many empty ones, and uses them before the depot: its records stay
 * in its cache. Memory is bounded by the largest number of records alive at once (live
 * spans + queues + stores, which the queue and store bounds cap) plus up to OWN_MAX * 64
 * free records per thread that ends spans (about 1 MiB), given back to the depot when the
 * thread exits.
 */
#include "pool.h"
#include "processor.h"

#include <stdlib.h>

#define MAG_SIZE DPT__MAG_SIZE
#define ARENA_KEEP_BYTES 4096 /* overflow kept attached to a recycled record */
#define OWN_MAX 16            /* full (and empty) magazines a thread keeps for itself */

typedef dpt__mag mag;

/* Global depot: owned by the process, protected by mu. */
static struct {
    pthread_mutex_t mu;
    mag *full;
    mag *empty;
    /* records whose release the export thread left to their next user; written under mu,
     * read without it by the allocating fast path (a hint: is anything waiting?) */
    _Atomic(mag *) deferred;
    dpt__span *loose; /* records freed when no magazine could be allocated */
} depot = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL, NULL};

/* Thread-local cache: only its thread touches it (and the key destructor at exit). The
 * fast paths are inline in internal.h. */
DPT__TLS dpt__tcache dpt__tc;
#if defined(DPT__TSAN)
_Atomic int dpt__tsan_fence; /* pool.h: what dpt__fence touches under TSan */
#endif
#define tc dpt__tc

static pthread_key_t tc_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;

static void depot_put_deferred(mag *m)
{
    if (!m) return;
    pthread_mutex_lock(&depot.mu);
    if (m->n) {
        m->next = atomic_load_explicit(&depot.deferred, memory_order_relaxed);
        atomic_store_explicit(&depot.deferred, m, memory_order_relaxed);
    } else {
        m->next = depot.empty;
        depot.empty = m;
    }
    pthread_mutex_unlock(&depot.mu);
}

static void depot_put(mag *m)
{
    if (!m) return;
    pthread_mutex_lock(&depot.mu);
    if (m->n) {
        m->next = depot.full;
        depot.full = m;
    } else {
        m->next = depot.empty;
        depot.empty = m;
    }
    pthread_mutex_unlock(&depot.mu);
}

static void tc_destroy(void *unused)
{
    (void)unused;
    while (tc.own) {
        mag *m = tc.own;
        tc.own = m->next;
        depot_put(m);
    }
    while (tc.spare) {
        mag *m = tc.spare;
        tc.spare = m->next;
        depot_put(m);
    }
    tc.n_own = tc.n_spare = 0;
    depot_put(tc.cur);
    depot_put(tc.prev);
    depot_put_deferred(tc.def);
    tc.cur = tc.prev = tc.def = NULL;
    tc.registered = false;
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&depot.mu);
}
static void atfork_parent(void)
{
    pthread_mutex_unlock(&depot.mu);
}
static void atfork_child(void)
{
    pthread_mutex_unlock(&depot.mu);
}

static void tc_init_once(void)
{
    pthread_key_create(&tc_key, tc_destroy);
    /* A fork while another thread holds the depot lock must not leave the child's copy
     * of the lock held forever. */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void tc_register(void)
{
    pthread_once(&tc_once, tc_init_once);
    pthread_setspecific(tc_key, (void *)1);
    tc.registered = true;
}

static mag *mag_new(void)
{
    return dpt__calloc_lines(sizeof(mag), false); /* its count is written per span */
}

static dpt__span *record_new(void)
{
    /* Cache-line aligned, so the hand-off fields share exactly one line. */
    dpt__span *s = dpt__aligned_alloc(DPT__CACHELINE, sizeof *s);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->arena.cur = s->arena_inline;
    s->arena.end = s->arena_inline + sizeof s->arena_inline;
    return s;
}

/* Releases the records of a deferred magazine here, on the allocating thread: the records
 * whose last reference this was become free and fill `into`. */
static void settle_deferred(mag *d, mag *into)
{
    for (uint32_t i = 0; i < d->n; i++) {
        dpt__span *s = d->items[i];
        /* acq_rel, as in dpt_span_data_release: the last holder frees. */
        if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) continue;
        if (s->arena.blocks && (s->arena.blocks->used || s->arena.blocks->next))
            dpt__arena_reset(s);
        if (s->ts) {
            dpt_tracestate_release(s->ts);
            s->ts = NULL;
        }
        atomic_store_explicit(&s->state, DPT__REC_FREE, memory_order_relaxed);
        into->items[into->n++] = s;
    }
    d->n = 0;
}

dpt__span *dpt__span_alloc_slow(void)
{
    if (DPT__UNLIKELY(!tc.registered)) tc_register();
    mag *m = tc.cur;
    if (DPT__LIKELY(m && m->n)) return m->items[--m->n];
    if (tc.prev && tc.prev->n) {
        tc.cur = tc.prev;
        tc.prev = m;
        return tc.cur->items[--tc.cur->n];
    }
    /* Both magazines empty. A full magazine of our own next, without the lock (unless
     * deferred releases wait, see below): records this thread recycled, still in its cache. */
    if (tc.own && !atomic_load_explicit(&depot.deferred, memory_order_relaxed)) {
        mag *full = tc.own;
        tc.own = full->next;
        tc.n_own--;
        if (m) {
            if (tc.n_spare < OWN_MAX) {
                m->next = tc.spare;
                tc.spare = m;
                tc.n_spare++;
            } else {
                depot_put(m);
            }
        }
        tc.cur = full;
        return full->items[--full->n];
    }
    /* Deferred releases come first: they pin their records until
     * settled, and if they waited for the depot to run out of full magazines they could
     * pile up without end while producers trade full magazines among themselves (a record
     * pool growing with every exported span). One deferred magazine is settled per visit,
     * and the export thread fills at most one per 64 exported spans, so they cannot
     * accumulate. */
    pthread_mutex_lock(&depot.mu);
    mag *def = atomic_load_explicit(&depot.deferred, memory_order_relaxed);
    if (def) atomic_store_explicit(&depot.deferred, def->next, memory_order_relaxed);
    pthread_mutex_unlock(&depot.mu);
    if (def && !m) {
        /* A thread that never freed a record has no magazine yet: give it one to settle
         * into (without it, such a thread would never settle and every deferred record
         * would stay pinned). */
        pthread_mutex_lock(&depot.mu);
        m = depot.empty;
        if (m) depot.empty = m->next;
        pthread_mutex_unlock(&depot.mu);
        if (!m) m = mag_new();
        if (m) {
            m->n = 0;
            tc.cur = m;
        } else {
            depot_put_deferred(def); /* settled by someone else later */
            def = NULL;
        }
    }
    if (def) {
        settle_deferred(def, m);
        depot_put(def); /* now empty */
        if (m->n) return m->items[--m->n];
    }
    /* Trade the empty magazine for a full one from the depot. */
    pthread_mutex_lock(&depot.mu);
    mag *full = depot.full;
    if (full) {
        depot.full = full->next;
        if (m) {
            m->next = depot.empty;
            depot.empty = m;
        }
        tc.cur = full;
    }
    dpt__span *loose = NULL;
    if (!full && depot.loose) {
        loose = depot.loose;
        depot.loose = loose->next;
    }
    pthread_mutex_unlock(&depot.mu);
    if (full) return full->items[--full->n];
    if (loose) return loose;
    return record_new();
}

/* Drops the export thread's reference to a finished record without touching the record:
 * its pointer goes into a magazine that the next allocating thread settles. The export
 * thread then writes no line of the record, and the producing thread, which reuses it,
 * does the release in its own cache. */
void dpt__span_release_deferred(dpt__span *s)
{
    if (DPT__UNLIKELY(!tc.registered)) tc_register();
    if (DPT__UNLIKELY(!tc.def)) {
        pthread_mutex_lock(&depot.mu);
        tc.def = depot.empty;
        if (tc.def) depot.empty = tc.def->next;
        pthread_mutex_unlock(&depot.mu);
        if (!tc.def) tc.def = mag_new();
        if (!tc.def) {
            dpt_span_data_release(&s->d); /* no magazine: release it here */
            return;
        }
        tc.def->n = 0;
    }
    tc.def->items[tc.def->n++] = s;
    if (tc.def->n == MAG_SIZE) {
        depot_put_deferred(tc.def);
        tc.def = NULL;
    }
}

/* Hands this thread's partial deferred magazine to the depot (the export thread calls it
 * before sleeping, so records do not wait in its cache). */
void dpt__span_release_deferred_flush(void)
{
    if (tc.def && tc.def->n) {
        depot_put_deferred(tc.def);
        tc.def = NULL;
    }
}

void dpt__span_recycle_slow(dpt__span *s)
{
    if (!s) return;
    /* The inline arena is reset at the next start (dpt__arena_start); blocks now. */
    if (s->arena.blocks && (s->arena.blocks->used || s->arena.blocks->next)) dpt__arena_reset(s);
    if (s->ts) {
        dpt_tracestate_release(s->ts);
        s->ts = NULL;
    }
    atomic_store_explicit(&s->state, DPT__REC_FREE, memory_order_relaxed);
    if (DPT__UNLIKELY(!tc.registered)) tc_register();
    mag *m = tc.cur;
    if (DPT__LIKELY(m && m->n < MAG_SIZE)) {
        m->items[m->n++] = s;
        return;
    }
    if (tc.prev && tc.prev->n < MAG_SIZE) {
        tc.cur = tc.prev;
        tc.prev = m;
        tc.cur->items[tc.cur->n++] = s;
        return;
    }
    /* Both full: keep the full one for our own allocations (up to OWN_MAX), with an empty
     * one of our own if we have one. */
    if (m && tc.n_own < OWN_MAX && tc.spare) {
        m->next = tc.own;
        tc.own = m;
        tc.n_own++;
        mag *e = tc.spare;
        tc.spare = e->next;
        tc.n_spare--;
        e->n = 0;
        e->items[e->n++] = s;
        tc.cur = e;
        return;
    }
    if (m && tc.n_own < OWN_MAX) {
        m->next = tc.own;
        tc.own = m;
        tc.n_own++;
        m = NULL;
    }
    /* Both full (or missing): hand a full one to the depot, take an empty one. */
    pthread_mutex_lock(&depot.mu);
    if (m) {
        m->next = depot.full;
        depot.full = m;
    }
    mag *e = depot.empty;
    if (e) depot.empty = e->next;
    pthread_mutex_unlock(&depot.mu);
    if (!e) e = mag_new();
    if (!e) {
        /* No memory for a magazine: park the record on the depot's loose list. */
        tc.cur = NULL;
        pthread_mutex_lock(&depot.mu);
        s->next = depot.loose;
        depot.loose = s;
        pthread_mutex_unlock(&depot.mu);
        return;
    }
    e->n = 0;
    e->items[e->n++] = s;
    tc.cur = e;
}

/* ---- arena ----------------------------------------------------------------------------- */

void *dpt__arena_alloc_slow(dpt__span *s, size_t n)
{
    dpt__arena *a = &s->arena; /* n is already rounded up by dpt__arena_alloc */
    if (DPT__UNLIKELY(a->bytes + n > a->budget)) {
        a->over = true;
        return NULL;
    }
    if ((size_t)(a->end - a->cur) >= n) {
        void *p = a->cur;
        a->cur += n;
        a->bytes += n;
        return p;
    }
    /* Reuse a kept, still empty overflow block when there is one. */
    dpt__arena_blk *b = a->blocks;
    if (b && b->used == 0 && b->cap >= n && a->end != b->data + b->cap) {
        b->used = n;
        a->cur = b->data + n;
        a->end = b->data + b->cap;
        a->bytes += n;
        return b->data;
    }
    size_t cap = 1024;
    if (b && b->cap * 2 > cap) cap = b->cap * 2;
    if (cap > 65536) cap = 65536;
    /* Never reserve more than the span may still use: blocks stay within the budget. */
    if (cap > a->budget - a->bytes) cap = a->budget - a->bytes;
    if (cap < n) cap = n;
    b = dpt__malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = n;
    b->next = a->blocks;
    a->blocks = b;
    a->cur = b->data + n;
    a->end = b->data + cap;
    a->bytes += n;
    return b->data;
}

void dpt__arena_reset(dpt__span *s)
{
    dpt__arena *a = &s->arena;
    /* Keep one small overflow block so steady-state spans with a few long strings do
     * not malloc; free the rest. */
    dpt__arena_blk *keep = NULL, *b = a->blocks;
    while (b) {
        dpt__arena_blk *next = b->next;
        if (!keep && b->cap <= ARENA_KEEP_BYTES) {
            keep = b;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(b);
        }
        b = next;
    }
    a->blocks = keep;
    a->cur = s->arena_inline;
    a->end = s->arena_inline + sizeof s->arena_inline;
    a->bytes = 0;
    a->over = false;
}

size_t dpt__span_bytes(const dpt__span *s)
{
    size_t n = sizeof *s;
    for (const dpt__arena_blk *b = s->arena.blocks; b; b = b->next)
        n += sizeof *b + b->cap;
    return n;
}

/* ---- finished records: the public reference count
 * ------------------------------------------------------------------- */

void dpt_span_data_retain(const dpt_span_data *d)
{
    /* Relaxed: the caller holds a reference, so the record cannot be recycled now. */
    if (d) atomic_fetch_add_explicit(&((dpt__span *)d)->refs, 1, memory_order_relaxed);
}

void dpt_span_data_release(const dpt_span_data *d)
{
    dpt__span *r = (dpt__span *)d;
    /* acq_rel: the thread that drops the last reference recycles the record and must see
     * every other holder's reads as done. */
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        dpt__span_recycle(r);
}
