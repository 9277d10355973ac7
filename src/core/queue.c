/* queue.c - the batch processor's hand-off: one lane per producing thread (queue.h).
 *
 * A lane's ring holds record pointers. Three counters move forward: `pub` (the producer
 * published everything below), `tail` (the export thread is done with everything below)
 * and `reclaim` (the producer recycled everything below into its pool cache). The
 * producer writes its cells and `pub`, the consumer `tail`; each counter has one writer,
 * so nothing on the hot path is a locked instruction. The consumer does not touch the
 * records it gives back: whether another holder (an exporter that kept one) still has a
 * record is looked at by the producer as it recycles it, in its own cache. The
 * producer reads `tail` only every 64 spans (or when the ring looks full), so the lines
 * that cross between the two cores are the ring's cells, the records, and one counter
 * per 64 spans each way.
 *
 * When the ring is full, spans are staged compactly (stage.c) into a chain of chunks that
 * only the producer appends to and only the consumer frees; the byte budget is taken per
 * chunk (64 KiB), so the shared budget counter is touched once per ~500 staged spans.
 * Chunks are mapped from the kernel, not taken from malloc: malloc would place them among
 * the producer's records, which live for good, so freed chunks left holes that later
 * chunks did not fit: with a full 32 MiB budget the staged spans took 33-46 MiB of
 * resident memory (test_export_overload, less its 7.5 MiB of rings and pools). Mapped, a
 * chunk's pages are the budget's exactly and go back to the kernel once the exporter has
 * caught up (a map and an unmap per ~500 staged spans).
 *
 * Lanes are found through a small thread-local cache keyed by the queue's id (never
 * reused), created under the queue's mutex, and retired by the consumer once their thread
 * exited (a thread-exit destructor marks them) and they are empty. Lane records that a
 * producer went idle with are recycled by the consumer (under the lane's reclaim flag).
 */
#include "queue.h"
#include "stage.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define DPT__NOINLINE_Q __attribute__((noinline))

#define RING_MAX (1u << 16) /* cells of one lane's ring, at most */
#define CHUNK_BYTES ((size_t)64 * 1024)
#define MAINTAIN_EVERY 64u /* spans between the producer's looks at `tail` */
/* The push of the span at index h (its lane's count before it) looks: the one that makes
 * the count a multiple of MAINTAIN_EVERY. */
#define LOOK_AT(h) (((h) & (MAINTAIN_EVERY - 1)) == MAINTAIN_EVERY - 1)
#define IDLE_NS 50000000ull /* a lane this long without a push is reclaimed by the consumer */
#define MAX_LANES_CACHED 4

typedef struct chunk {
    _Atomic(struct chunk *) next;
    _Atomic uint32_t committed; /* bytes of whole copies published by the producer */
    uint32_t cap;               /* bytes of data[] */
    _Alignas(16) uint8_t data[];
} chunk;

struct dpt__lane {
    /* Producer: its thread only. */
    _Alignas(DPT__CACHELINE) uint64_t head; /* next ring position */
    uint64_t tail_seen;                     /* `tail` as last read */
    const dpt_span_data **cells;            /* records' views (the same address: pool.h), which the
                                               exporter may be handed in place (dpt__queue_pop) */
    uint64_t mask;
    chunk *wchunk; /* staging: the chunk being appended to */
    uint32_t wpos;
    uint64_t staged_n;
    uint64_t room_until; /* head may go up to this without looking at anything else (0:
                            always the slow path: strict mode, a new lane) */
    dpt__queue *q;
    /* Published by the producer. */
    _Alignas(DPT__CACHELINE) _Atomic uint64_t pub;
    _Atomic uint64_t staged;  /* spans staged so far */
    _Atomic(chunk *) sfirst;  /* first staging chunk */
    _Atomic uint64_t reclaim; /* positions below are recycled (under rlock) */
    _Atomic uint32_t rlock;   /* reclaiming: the producer, or the consumer for an idle lane */
    /* Published by the consumer. */
    _Alignas(DPT__CACHELINE) _Atomic uint64_t tail;
    uint64_t ctail; /* next position to pop */
    chunk *rchunk;  /* staging: the chunk being read */
    uint32_t rpos;
    uint64_t staged_popped;
    uint64_t seen_pub; /* `pub` at the last tidy, and when it last moved */
    uint64_t seen_ns;
    /* Lifecycle: under the queue's mutex. */
    uint64_t token;      /* the producing thread */
    _Atomic bool orphan; /* its thread exited */
    struct dpt__lane *next;
};

struct dpt__queue {
    uint64_t id; /* unique; the producers' caches are keyed on it */
    uint32_t ring_cells;
    uint32_t max_spans; /* strict mode: spans waiting at most */
    uint32_t behind;    /* a lane's backlog that says the consumer is behind */
    uint32_t part;      /* a smaller backlog that a producer may export (0: none) */
    uint64_t max_bytes; /* byte budget; 0: strict mode */
    uint32_t batch;
    _Alignas(DPT__CACHELINE) _Atomic int64_t budget; /* bytes left for staging */
    _Atomic int64_t stage_cap; /* bytes staging may use now (<= max_bytes, see below) */
    _Alignas(DPT__CACHELINE) _Atomic int64_t count; /* strict mode: spans waiting */
    _Alignas(DPT__CACHELINE) pthread_mutex_t mu;    /* lanes, retired */
    dpt__lane *lanes;
    _Atomic uint64_t lanes_gen;
    uint64_t retired; /* spans pushed into lanes that were retired */
    /* Consumer only. */
    dpt__lane **snap;
    size_t nsnap, capsnap;
    uint64_t fullest; /* the fullest lane's ring backlog at the last dpt__queue_pending */
    uint64_t snap_gen;
    size_t rr;
    double rate;              /* spans per second the exporter takes, smoothed; 0: unknown */
    double span_bytes;        /* bytes of a staged copy, smoothed */
    struct dpt__queue *gnext; /* all queues (g_mu) */
};

/* All queues, so that an exiting thread can mark its lanes: owned by the process, guarded
 * by g_mu (taken at queue creation and free, and at the exit of a thread that had lanes). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static dpt__queue *g_queues;
static _Atomic uint64_t g_next_id = 1;
static _Atomic uint64_t g_next_token = 1;

/* A thread's lanes: a cache of (queue id, lane), and its token (never reused). */
typedef struct lcache {
    uint64_t qid;
    dpt__lane *lane;
} lcache;
static DPT__TLS lcache tl_lanes[MAX_LANES_CACHED];
static DPT__TLS uint64_t tl_token;
static pthread_key_t lane_key;
static pthread_once_t lane_once = PTHREAD_ONCE_INIT;

/* A chunk with room for `need` bytes of copies: CHUNK_BYTES of mapping, or a multiple of
 * it for a larger copy (64 KiB is a whole number of pages wherever Linux runs, so the
 * mapping is exactly what the budget counts: sizeof(chunk) + cap). */
static size_t chunk_mapping_bytes(size_t need)
{
    size_t total = sizeof(chunk) + need;
    return (total + CHUNK_BYTES - 1) / CHUNK_BYTES * CHUNK_BYTES;
}

static chunk *chunk_map(size_t total)
{
    if (total - sizeof(chunk) > UINT32_MAX) return NULL; /* cap is 32 bits */
    /* fd -1 with MAP_ANONYMOUS, as POSIX-2024 and Linux's mmap(2) ask for portability;
     * cppcheck's library entry wants an fd >= 0 there. */
    // cppcheck-suppress invalidFunctionArg
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    chunk *c = p;
    atomic_init(&c->next, NULL);
    atomic_init(&c->committed, 0);
    c->cap = (uint32_t)(total - sizeof(chunk));
    return c;
}

/* Unmaps c and gives its bytes back to the budget. */
static void chunk_unmap(dpt__queue *q, chunk *c)
{
    size_t total = sizeof *c + c->cap;
    munmap(c, total);
    atomic_fetch_add_explicit(&q->budget, (int64_t)total, memory_order_relaxed);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void g_lock(void)
{
    pthread_mutex_lock(&g_mu);
}
static void g_unlock(void)
{
    pthread_mutex_unlock(&g_mu);
}

/* An exiting thread: its lanes become orphans (the consumer retires them once empty), and
 * its cache is emptied so that a span ended by a later destructor makes a new lane. */
static void thread_exit(void *unused)
{
    (void)unused;
    uint64_t tok = tl_token;
    g_lock();
    for (dpt__queue *q = g_queues; q; q = q->gnext) {
        pthread_mutex_lock(&q->mu);
        for (dpt__lane *l = q->lanes; l; l = l->next)
            if (l->token == tok) atomic_store_explicit(&l->orphan, true, memory_order_release);
        pthread_mutex_unlock(&q->mu);
    }
    g_unlock();
    memset(tl_lanes, 0, sizeof tl_lanes);
}

static void lane_init_once(void)
{
    pthread_key_create(&lane_key, thread_exit);
    pthread_atfork(g_lock, g_unlock, g_unlock);
}

/* ---- queue ------------------------------------------------------------------------------ */

dpt__queue *dpt__queue_new(uint32_t ring_spans, uint64_t max_bytes, uint32_t batch)
{
    pthread_once(&lane_once, lane_init_once);
    dpt__queue *q = dpt__calloc(1, sizeof *q);
    if (!q) return NULL;
    q->id = atomic_fetch_add(&g_next_id, 1);
    /* Room for the spans that may wait and for a batch in the exporter's hands: their
     * cells are given back only when the export returns. */
    uint64_t want = (uint64_t)ring_spans + batch;
    uint32_t cells = 64;
    while (cells < want && cells < RING_MAX)
        cells <<= 1;
    q->ring_cells = cells;
    q->max_spans = ring_spans;
    q->max_bytes = max_bytes;
    q->batch = batch ? batch : 1;
    /* Behind: half the ring waits (the export thread was told at a batch), or the whole
     * ring when half of it is not more than a batch. */
    q->behind = ring_spans / 2 > q->batch ? ring_spans / 2
                                          : (ring_spans > q->batch ? ring_spans : q->batch);
    atomic_init(&q->budget, (int64_t)max_bytes);
    atomic_init(&q->stage_cap, (int64_t)max_bytes);
    q->span_bytes = 160;
    atomic_init(&q->count, 0);
    pthread_mutex_init(&q->mu, NULL);
    g_lock();
    q->gnext = g_queues;
    g_queues = q;
    g_unlock();
    return q;
}

/* The record of a view (its first member: the same address; the record is not const, the
 * cells only hold it as the exporter will read it). */
static inline dpt__span *rec_of(const dpt_span_data *d)
{
    _Static_assert(offsetof(dpt__span, d) == 0, "a record's view is its first member");
    return (dpt__span *)d;
}

/* Drops the queue's reference to the records of cells [from, to), which the consumer gave
 * back, and recycles those it was the last holder of. */
static void recycle_cells(dpt__lane *l, uint64_t from, uint64_t to)
{
    /* dpt__span_recycle for a run of records, with the thread's magazine and its count
     * held in locals (written back before the slow path, which may change magazines). */
    const dpt_span_data **cells = l->cells;
    uint64_t mask = l->mask;
    dpt__mag *m = dpt__tc.cur;
    uint32_t n = m ? m->n : DPT__MAG_SIZE;
    for (uint64_t p = from; p < to; p++) {
        dpt__span *s = rec_of(cells[p & mask]);
        /* Acquire: pairs with the release of a holder that let the record go
         * (dpt_span_data_release), so its reads are done before the reuse. Only a holder
         * can take another reference, so a count of 1 (the queue's) stays 1. */
        if (DPT__UNLIKELY(atomic_load_explicit(&s->refs, memory_order_acquire) != 1)) {
            /* An exporter or another processor still holds it: the last holder recycles. */
            if (m) m->n = n;
            dpt_span_data_release(&s->d);
            m = dpt__tc.cur;
            n = m ? m->n : DPT__MAG_SIZE;
            continue;
        }
        /* The queue's reference was the last: no locked decrement needed. */
        atomic_store_explicit(&s->refs, 0, memory_order_relaxed);
        if (DPT__LIKELY(n < DPT__MAG_SIZE && dpt__span_recycle_plain(s))) {
            /* No store of DPT__REC_FREE: a record in a lane is an ended recording span,
             * whose state is already DPT__REC_ENDED (end_recording, dpt__stage_read), and
             * no reader tells FREE from ENDED (they compare with RECORDING or
             * NONRECORDING). */
            m->items[n++] = s;
            continue;
        }
        if (m) m->n = n;
        dpt__span_recycle_slow(s);
        m = dpt__tc.cur;
        n = m ? m->n : DPT__MAG_SIZE;
    }
    if (m) m->n = n;
}

/* Frees a lane's staging chunks, releasing the copies still unread; returns how many. */
static uint64_t free_staging(dpt__queue *q, dpt__lane *l)
{
    uint64_t lost = 0;
    chunk *c = l->rchunk ? l->rchunk : atomic_load(&l->sfirst);
    uint32_t pos = l->rchunk ? l->rpos : 0;
    while (c) {
        uint32_t end = atomic_load(&c->committed);
        while (pos < end) {
            dpt__stage_discard(c->data + pos);
            pos += dpt__stage_len(c->data + pos);
            lost++;
        }
        chunk *next = atomic_load(&c->next);
        chunk_unmap(q, c);
        c = next;
        pos = 0;
    }
    l->rchunk = NULL;
    atomic_store(&l->sfirst, NULL);
    return lost;
}

/* Releases everything a lane holds (its producer is gone or quiet for good); returns
 * the spans that were still waiting. */
static uint64_t lane_drop_all(dpt__queue *q, dpt__lane *l)
{
    uint64_t pub = atomic_load(&l->pub);
    uint64_t lost = pub - l->ctail;
    for (uint64_t p = l->ctail; p < pub; p++) {
        dpt_span_data_release(l->cells[p & l->mask]);
    }
    recycle_cells(l, atomic_load(&l->reclaim), l->ctail);
    lost += free_staging(q, l);
    return lost;
}

static void lane_free(dpt__lane *l)
{
    free(l->cells);
    free(l);
}

uint64_t dpt__queue_free(dpt__queue *q)
{
    if (!q) return 0;
    g_lock();
    for (dpt__queue **pp = &g_queues; *pp; pp = &(*pp)->gnext)
        if (*pp == q) {
            *pp = q->gnext;
            break;
        }
    g_unlock();
    uint64_t lost = 0;
    for (dpt__lane *l = q->lanes, *next; l; l = next) {
        next = l->next;
        lost += lane_drop_all(q, l);
        lane_free(l);
    }
    pthread_mutex_destroy(&q->mu);
    free(q->snap);
    free(q);
    return lost;
}

uint64_t dpt__queue_after_fork(dpt__queue *q)
{
    /* Only this thread exists: no lock can be taken by anyone else. A new id makes the
     * lanes in this thread's cache unknown. */
    pthread_mutex_init(&q->mu, NULL);
    uint64_t lost = 0;
    for (dpt__lane *l = q->lanes, *next; l; l = next) {
        next = l->next;
        uint64_t pub = atomic_load(&l->pub);
        lost += pub - l->ctail;
        for (uint64_t p = l->ctail; p < pub; p++) {
            dpt_span_data_release(l->cells[p & l->mask]);
        }
        lost += free_staging(q, l);
        q->retired += pub + atomic_load(&l->staged);
        lane_free(l);
    }
    q->lanes = NULL;
    q->id = atomic_fetch_add(&g_next_id, 1);
    atomic_store(&q->count, 0);
    atomic_fetch_add(&q->lanes_gen, 1);
    q->nsnap = 0;
    return lost;
}

void dpt__queue_set_part(dpt__queue *q, uint32_t n)
{
    q->part = n;
}

/* ---- producer ---------------------------------------------------------------------------- */

static DPT__NOINLINE_Q dpt__lane *lane_slow(dpt__queue *q)
{
    pthread_once(&lane_once, lane_init_once);
    if (!tl_token) {
        tl_token = atomic_fetch_add(&g_next_token, 1);
        pthread_setspecific(lane_key, (void *)1);
    }
    dpt__lane *l = NULL;
    pthread_mutex_lock(&q->mu);
    for (dpt__lane *x = q->lanes; x; x = x->next)
        if (x->token == tl_token && !atomic_load_explicit(&x->orphan, memory_order_relaxed)) l = x;
    if (!l) {
        l = dpt__aligned_alloc(DPT__CACHELINE, sizeof *l);
        const dpt_span_data **cells =
            l ? dpt__calloc(q->ring_cells, sizeof(const dpt_span_data *)) : NULL;
        if (!cells) {
            free(l);
            l = NULL;
        } else {
            memset(l, 0, sizeof *l);
            l->cells = cells;
            l->mask = q->ring_cells - 1;
            l->q = q;
            l->token = tl_token;
            l->seen_ns = now_ns();
            l->next = q->lanes;
            q->lanes = l;
            atomic_fetch_add(&q->lanes_gen, 1);
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (l) {
        /* Most recent first: the next lookup of this queue hits entry 0. */
        memmove(&tl_lanes[1], &tl_lanes[0], sizeof tl_lanes[0] * (MAX_LANES_CACHED - 1));
        tl_lanes[0].qid = q->id;
        tl_lanes[0].lane = l;
    }
    return l;
}

static inline dpt__lane *lane_of(dpt__queue *q)
{
    if (DPT__LIKELY(tl_lanes[0].qid == q->id)) return tl_lanes[0].lane;
    for (int i = 1; i < MAX_LANES_CACHED; i++)
        if (tl_lanes[i].qid == q->id) {
            lcache c = tl_lanes[i];
            tl_lanes[i] = tl_lanes[0];
            tl_lanes[0] = c;
            return c.lane;
        }
    return lane_slow(q);
}

/* Every MAINTAIN_EVERY spans, or when the ring looks full: reads `tail` and recycles what
 * the consumer gave back. */
static DPT__NOINLINE_Q void maintain(dpt__lane *l)
{
    /* Acquire: pairs with the consumer's release of `tail`; the records below are no
     * longer read there. */
    uint64_t t = atomic_load_explicit(&l->tail, memory_order_acquire);
    l->tail_seen = t;
    /* Acquire: a consumer that reclaimed for us while we were idle is done with it. */
    if (!atomic_exchange_explicit(&l->rlock, 1, memory_order_acquire)) {
        uint64_t from = atomic_load_explicit(&l->reclaim, memory_order_relaxed);
        if (from < t) {
            recycle_cells(l, from, t);
            atomic_store_explicit(&l->reclaim, t, memory_order_relaxed);
        }
        atomic_store_explicit(&l->rlock, 0, memory_order_release);
    }
}

/* After a look (maintain): whether a batch is waiting, counting every span published so
 * far (then the caller may wake the consumer). */
static int verdict(const dpt__lane *l)
{
    uint64_t waiting = l->head - l->tail_seen;
    if (waiting >= l->q->batch) {
        /* The producer half of the Dekker pair with the consumer's `sleeping` flag
         * (batch.c): our publications before the caller reads the flag. */
        dpt__fence(memory_order_seq_cst);
        return waiting >= l->q->behind ? DPT__Q_BEHIND : DPT__Q_WAKE;
    }
    if (l->q->part && waiting >= l->q->part) return DPT__Q_PART;
    return DPT__Q_QUEUED;
}

/* Stages r compactly (the ring is full). */
static DPT__NOINLINE_Q int stage(dpt__queue *q, dpt__lane *l, dpt__span *r)
{
    size_t need = dpt__stage_bound(r);
    chunk *c = l->wchunk;
    bool fresh = false;
    if (!c || l->wpos + need > c->cap) {
        size_t total = chunk_mapping_bytes(need);
        int64_t bytes = (int64_t)total;
        /* The budget first: a chunk exists only within it, and within what the exporter can
         * send in a while (dpt__queue_export_rate). */
        int64_t used =
            (int64_t)q->max_bytes - atomic_load_explicit(&q->budget, memory_order_relaxed);
        if (used + bytes > atomic_load_explicit(&q->stage_cap, memory_order_relaxed))
            return DPT__Q_DROPPED;
        if (atomic_fetch_sub_explicit(&q->budget, bytes, memory_order_relaxed) < bytes) {
            atomic_fetch_add_explicit(&q->budget, bytes, memory_order_relaxed);
            return DPT__Q_DROPPED;
        }
        chunk *n = chunk_map(total);
        if (!n) {
            atomic_fetch_add_explicit(&q->budget, bytes, memory_order_relaxed);
            return DPT__Q_DROPPED;
        }
        /* Release: the consumer that follows the link sees the chunk initialised. */
        if (c)
            atomic_store_explicit(&c->next, n, memory_order_release);
        else
            atomic_store_explicit(&l->sfirst, n, memory_order_release);
        l->wchunk = c = n;
        l->wpos = 0;
        fresh = true;
    }
    /* c is the chunk with room now (set above when there was none) */
    // cppcheck-suppress nullPointerRedundantCheck
    l->wpos += (uint32_t)dpt__stage_write(r, c->data + l->wpos);
    /* Release: the copy's bytes before its publication. */
    atomic_store_explicit(&c->committed, l->wpos, memory_order_release);
    atomic_store_explicit(&l->staged, ++l->staged_n, memory_order_release);
    /* The queue is done with the record: its reference goes. Only a sole holder may
     * recycle it at once - a trace store or another pipeline may hold it too, or be about
     * to take it (the provider calls the processors after this one). Forcing the count to
     * zero here recycled records that a store still kept: its chain looped and the next
     * eviction spun forever (test_batch_other_holders). */
    dpt_span_data_release(&r->d);
    if (fresh) {
        dpt__fence(memory_order_seq_cst); /* Dekker, as in verdict() */
        return DPT__Q_BEHIND;
    }
    return DPT__Q_QUEUED;
}

/* The producer's slow path: a new lane, the periodic look at `tail`, a full ring, strict
 * mode. */
static DPT__NOINLINE_Q int push_slow(dpt__queue *q, dpt__span *r)
{
    dpt__lane *l = lane_of(q);
    if (DPT__UNLIKELY(!l)) return DPT__Q_DROPPED;
    uint64_t h = l->head;
    uint64_t cells = l->mask + 1;
    /* Look at `tail` every 64 spans - at the span that makes the lane's count a multiple of
     * 64, so that the one completing a batch (512) is counted in its verdict - and while
     * staging every 16 staged spans (the export thread may be back). */
    bool look = LOOK_AT(h) || (h >= l->room_until && (l->staged_n & 15) == 0);
    if (look) maintain(l);
    uint64_t rec = atomic_load_explicit(&l->reclaim, memory_order_relaxed);
    bool room = h - l->tail_seen < cells && h - rec < cells;
    if (DPT__UNLIKELY(!q->max_bytes)) {
        /* Strict mode: OpenTelemetry's bound on the spans waiting, whatever the lane. */
        l->room_until = 0;
        if (!room ||
            atomic_fetch_add_explicit(&q->count, 1, memory_order_relaxed) >= q->max_spans) {
            if (room) atomic_fetch_sub_explicit(&q->count, 1, memory_order_relaxed);
            return DPT__Q_DROPPED;
        }
    } else {
        /* The ring takes up to max_spans waiting records, and cells that were recycled. */
        uint64_t a = l->tail_seen + q->max_spans, b = rec + cells;
        l->room_until = (a < b ? a : b);
        if (DPT__UNLIKELY(!room || h >= l->room_until)) {
            int ret = look ? verdict(l) : DPT__Q_QUEUED; /* the spans before this one */
            int st = stage(q, l, r);
            return st == DPT__Q_DROPPED ? st : (st > ret ? st : ret);
        }
    }
    l->cells[h & l->mask] = &r->d;
    l->head = h + 1;
    /* Release: the consumer that reads `pub` sees the cell and the whole record. */
    atomic_store_explicit(&l->pub, h + 1, memory_order_release);
    return look ? verdict(l) : DPT__Q_QUEUED; /* published first: verdict's fence */
}

int dpt__queue_push(dpt__queue *q, dpt__span *r)
{
    /* The common case touches the thread's cache entry and its lane's producer line only:
     * room was computed at the last look at `tail`, at most 63 spans ago. */
    if (DPT__LIKELY(tl_lanes[0].qid == q->id)) {
        dpt__lane *l = tl_lanes[0].lane;
        uint64_t h = l->head;
        if (DPT__LIKELY(!LOOK_AT(h) && h < l->room_until)) {
            l->cells[h & l->mask] = &r->d;
            l->head = h + 1;
            /* Release: the consumer that reads `pub` sees the cell and the whole record. */
            atomic_store_explicit(&l->pub, h + 1, memory_order_release);
            return DPT__Q_QUEUED;
        }
    }
    return push_slow(q, r);
}

/* ---- consumer ---------------------------------------------------------------------------- */

static void snapshot(dpt__queue *q)
{
    uint64_t gen = atomic_load_explicit(&q->lanes_gen, memory_order_acquire);
    if (gen == q->snap_gen && q->snap) return;
    pthread_mutex_lock(&q->mu);
    size_t n = 0;
    for (dpt__lane *l = q->lanes; l; l = l->next)
        n++;
    if (n > q->capsnap) {
        dpt__lane **s = realloc(q->snap, sizeof(dpt__lane *) * (n + 8));
        if (s) {
            q->snap = s;
            q->capsnap = n + 8;
        }
    }
    n = 0;
    for (dpt__lane *l = q->lanes; l && n < q->capsnap; l = l->next)
        q->snap[n++] = l;
    q->nsnap = n;
    q->snap_gen = atomic_load(&q->lanes_gen);
    pthread_mutex_unlock(&q->mu);
}

/* The next staged copy of a lane rebuilt into a record, or NULL when none is published
 * (or memory ran out: then *lost counts it). Frees chunks read to the end. */
static dpt__span *unstage(dpt__queue *q, dpt__lane *l, uint64_t *lost)
{
    for (;;) {
        if (!l->rchunk) {
            l->rchunk = atomic_load_explicit(&l->sfirst, memory_order_acquire);
            l->rpos = 0;
            if (!l->rchunk) return NULL;
        }
        chunk *c = l->rchunk;
        /* Acquire: pairs with the producer's release of committed. */
        uint32_t end = atomic_load_explicit(&c->committed, memory_order_acquire);
        if (l->rpos < end) {
            const uint8_t *in = c->data + l->rpos;
            l->rpos += dpt__stage_len(in);
            q->span_bytes += ((double)dpt__stage_len(in) - q->span_bytes) / 64;
            dpt__span *s = dpt__stage_read(in);
            if (!s) {
                dpt__stage_discard(in);
                (*lost)++;
            }
            return s ? s : NULL;
        }
        chunk *next = atomic_load_explicit(&c->next, memory_order_acquire);
        if (!next) return NULL;
        /* The producer fills a chunk before it links the next one: read to its end? */
        if (l->rpos < atomic_load_explicit(&c->committed, memory_order_acquire)) continue;
        atomic_store_explicit(&l->sfirst, next, memory_order_relaxed); /* the consumer's start */
        chunk_unmap(q, c);
        l->rchunk = next;
        l->rpos = 0;
    }
}

static void add_seg(dpt__qpop *pop, dpt__lane *l, uint64_t from, uint64_t to, uint32_t staged)
{
    dpt__qseg *g = &pop->seg[pop->nseg++];
    g->lane = l;
    g->from = from;
    g->to = to;
    g->staged = staged;
}

/* dpt__queue_pop in place: the next lane in turn, when its ring alone fills the batch or
 * it is the only lane and has nothing staged, gives the exporter a run of its cells as
 * they are (up to the ring's end). The cells then cross to the export thread only if the
 * exporter reads them: a copy into pop->buf cost the export thread one line of the
 * producer's cache per 8 spans, most of its work per span. Returns false when it does
 * not apply. */
static bool pop_in_place(dpt__queue *q, dpt__qpop *pop, size_t max)
{
    size_t ns = q->nsnap;
    if (!ns || !max) return false;
    dpt__lane *l = q->snap[q->rr % ns];
    /* Acquire: pairs with the producer's release of pub. */
    uint64_t pub = atomic_load_explicit(&l->pub, memory_order_acquire);
    uint64_t from = l->ctail, waiting = pub - from;
    if (!waiting) return false;
    if (waiting < max &&
        (ns > 1 || l->staged_popped != atomic_load_explicit(&l->staged, memory_order_acquire)))
        return false;
    uint64_t run = waiting < max ? waiting : max;
    uint64_t to_end = l->mask + 1 - (from & l->mask);
    if (run > to_end) run = to_end;
    pop->items = &l->cells[from & l->mask];
    pop->n = run;
    pop->more = run < waiting; /* the ring's end cut the run short, or more than max wait */
    l->ctail = from + run;
    add_seg(pop, l, from, from + run, 0);
    return true;
}

/* Gathers into pop->buf from lane l: its ring, then its staged spans, until max. */
static void gather_lane(dpt__queue *q, dpt__qpop *pop, dpt__lane *l, size_t max)
{
    const dpt_span_data **out = pop->buf;
    /* Acquire: pairs with the producer's release of pub. */
    uint64_t pub = atomic_load_explicit(&l->pub, memory_order_acquire);
    uint64_t from = l->ctail;
    uint64_t take = pub - from;
    if (take > max - pop->n) take = max - pop->n;
    for (uint64_t p = from; p < from + take; p++)
        out[pop->n++] = l->cells[p & l->mask];
    l->ctail = from + take;
    uint32_t staged = 0;
    if (pop->n < max && l->staged_popped < atomic_load_explicit(&l->staged, memory_order_acquire)) {
        while (pop->n < max) {
            uint64_t before = pop->lost;
            dpt__span *s = unstage(q, l, &pop->lost);
            if (!s && pop->lost == before) break;
            l->staged_popped++;
            if (s) {
                out[pop->n++] = &s->d;
                staged++;
            }
        }
    }
    if (take || staged) add_seg(pop, l, from, from + take, staged);
}

/* dpt__queue_pop gathering into pop->buf: the lanes in turn, each one's ring then its staged
 * spans, until max. Returns the number of lanes visited. */
static size_t pop_gather(dpt__queue *q, dpt__qpop *pop, size_t max)
{
    pop->items = pop->buf;
    size_t ns = q->nsnap;
    size_t k = 0;
    for (; k < ns && pop->n < max; k++) {
        if (pop->nseg == DPT__Q_SEGS) {
            pop->more = true; /* the next pop starts at this lane */
            break;
        }
        gather_lane(q, pop, q->snap[(q->rr + k) % ns], max);
    }
    return k;
}

static void pop_reset(dpt__qpop *pop)
{
    pop->n = 0;
    pop->nseg = 0;
    pop->lost = 0;
    pop->more = false;
}

size_t dpt__queue_pop_mine(dpt__queue *q, dpt__qpop *pop, size_t max)
{
    pop_reset(pop);
    dpt__lane *l = lane_of(q);
    if (!l || !max) return 0;
    uint64_t pub = atomic_load_explicit(&l->pub, memory_order_acquire);
    uint64_t from = l->ctail, waiting = pub - from;
    if (waiting) {
        /* In place, as pop_in_place: the records never leave this thread's cache. */
        uint64_t run = waiting < max ? waiting : max;
        uint64_t to_end = l->mask + 1 - (from & l->mask);
        if (run > to_end) run = to_end;
        pop->items = &l->cells[from & l->mask];
        pop->n = run;
        l->ctail = from + run;
        add_seg(pop, l, from, from + run, 0);
    } else {
        pop->items = pop->buf;
        gather_lane(q, pop, l, max);
    }
    pop->more = l->ctail != atomic_load_explicit(&l->pub, memory_order_acquire) ||
                l->staged_popped != atomic_load_explicit(&l->staged, memory_order_acquire);
    if (!q->max_bytes && pop->n)
        atomic_fetch_sub_explicit(&q->count, (int64_t)pop->n, memory_order_relaxed);
    return pop->n;
}

size_t dpt__queue_pop(dpt__queue *q, dpt__qpop *pop, size_t max)
{
    snapshot(q);
    pop_reset(pop);
    size_t ns = q->nsnap;
    size_t k = pop_in_place(q, pop, max) ? 1 : pop_gather(q, pop, max);
    /* Fairness: the next pop starts after the last lane this one visited. */
    q->rr = ns ? (q->rr + (k ? k : 1)) % ns : 0;
    if (!q->max_bytes && pop->n)
        atomic_fetch_sub_explicit(&q->count, (int64_t)pop->n, memory_order_relaxed);
    return pop->n;
}

void dpt__queue_done(dpt__queue *q, dpt__qpop *pop)
{
    (void)q;
    size_t i = 0;
    for (uint32_t k = 0; k < pop->nseg; k++) {
        dpt__qseg *g = &pop->seg[k];
        dpt__lane *l = g->lane;
        i += g->to - g->from;
        if (g->to > g->from)
            /* Release: everything we read of these records (and a reference an exporter
             * took) happens before the producer looks at them again (recycle_cells). */
            atomic_store_explicit(&l->tail, g->to, memory_order_release);
        for (uint32_t j = 0; j < g->staged; j++, i++)
            dpt_span_data_release(pop->items[i]);
    }
    pop->n = 0;
    pop->nseg = 0;
}

uint64_t dpt__queue_pending(dpt__queue *q)
{
    snapshot(q);
    uint64_t n = 0, fullest = 0;
    for (size_t k = 0; k < q->nsnap; k++) {
        dpt__lane *l = q->snap[k];
        uint64_t in_ring = atomic_load_explicit(&l->pub, memory_order_acquire) - l->ctail;
        if (in_ring > fullest) fullest = in_ring;
        n += in_ring;
        n += atomic_load_explicit(&l->staged, memory_order_acquire) - l->staged_popped;
    }
    q->fullest = fullest;
    return n;
}

uint64_t dpt__queue_fullest(const dpt__queue *q)
{
    return q->fullest;
}

uint64_t dpt__queue_pushed(dpt__queue *q)
{
    pthread_mutex_lock(&q->mu);
    uint64_t n = q->retired;
    for (dpt__lane *l = q->lanes; l; l = l->next)
        n += atomic_load_explicit(&l->pub, memory_order_acquire) +
             atomic_load_explicit(&l->staged, memory_order_acquire);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void dpt__queue_tidy(dpt__queue *q)
{
    snapshot(q);
    uint64_t now = now_ns();
    bool removed = false;
    for (size_t k = 0; k < q->nsnap; k++) {
        dpt__lane *l = q->snap[k];
        uint64_t pub = atomic_load_explicit(&l->pub, memory_order_acquire);
        if (pub != l->seen_pub) {
            l->seen_pub = pub;
            l->seen_ns = now;
        }
        bool drained = l->ctail == pub &&
                       l->staged_popped == atomic_load_explicit(&l->staged, memory_order_acquire);
        if (!drained) continue;
        if (atomic_load_explicit(&l->orphan, memory_order_acquire)) {
            /* Its thread is gone and everything it queued was exported: recycle what it
             * left in the ring, free the lane. */
            uint64_t staged = atomic_load(&l->staged);
            recycle_cells(l, atomic_load(&l->reclaim), l->ctail);
            free_staging(q, l);
            pthread_mutex_lock(&q->mu);
            for (dpt__lane **pp = &q->lanes; *pp; pp = &(*pp)->next)
                if (*pp == l) {
                    *pp = l->next;
                    break;
                }
            q->retired += pub + staged;
            atomic_fetch_add(&q->lanes_gen, 1);
            pthread_mutex_unlock(&q->mu);
            lane_free(l);
            removed = true;
            continue;
        }
        /* A lane quiet for a while: recycle the records its producer has not taken back,
         * so that an idle thread does not hold a ring of them. */
        uint64_t rec = atomic_load_explicit(&l->reclaim, memory_order_relaxed);
        if (now - l->seen_ns >= IDLE_NS && rec < l->ctail &&
            !atomic_exchange_explicit(&l->rlock, 1, memory_order_acquire)) {
            rec = atomic_load_explicit(&l->reclaim, memory_order_relaxed);
            if (rec < l->ctail) {
                recycle_cells(l, rec, l->ctail);
                atomic_store_explicit(&l->reclaim, l->ctail, memory_order_relaxed);
            }
            atomic_store_explicit(&l->rlock, 0, memory_order_release);
        }
    }
    if (removed) q->nsnap = 0, q->snap_gen = 0, snapshot(q);
}

/* Staging is for an export thread that is away for a while, not for an exporter slower than
 * the producers: spans staged beyond what the exporter can send in STAGE_HORIZON_S would
 * only make shutdown and force_flush wait (or fail) longer. So the staged bytes are kept
 * under that many seconds of the exporter's measured speed (and the byte budget). */
#define STAGE_HORIZON_S 1.0
#define STAGE_MIN_BYTES ((size_t)4 * CHUNK_BYTES)

void dpt__queue_export_rate(dpt__queue *q, size_t n, uint64_t ns)
{
    if (!q->max_bytes || !n) return;
    double r = (double)n * 1e9 / (double)(ns ? ns : 1);
    q->rate = q->rate == 0 ? r : q->rate + (r - q->rate) / 8;
    double cap = q->rate * STAGE_HORIZON_S * q->span_bytes;
    if (cap > (double)q->max_bytes) cap = (double)q->max_bytes;
    if (cap < STAGE_MIN_BYTES) cap = STAGE_MIN_BYTES;
    atomic_store_explicit(&q->stage_cap, (int64_t)cap, memory_order_relaxed);
}

uint64_t dpt__queue_test_bytes_used(const dpt__queue *q)
{
    return q->max_bytes - (uint64_t)atomic_load(&((dpt__queue *)q)->budget);
}
