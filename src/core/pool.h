/* pool.h - span records and their memory (pool.c): the record layout, the
 * per-record arena, and the per-thread magazines records come from and return to. */
#ifndef DPT_POOL_H
#define DPT_POOL_H

#include "common.h"

/* ---- fences ---------------------------------------------------------------------------- */
/* A fence of the given memory order. ThreadSanitizer does not model fences (GCC refuses
 * atomic_thread_fence under -fsanitize=thread), so there an atomic read-modify-write of a
 * dummy location with the same order stands in: the same ordering, and one TSan can see. */
#if defined(__SANITIZE_THREAD__)
#define DPT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DPT__TSAN 1
#endif
#endif
#if defined(DPT__TSAN)
extern _Atomic int dpt__tsan_fence;
#define dpt__fence(order) ((void)atomic_fetch_add_explicit(&dpt__tsan_fence, 0, (order)))
#else
#define dpt__fence(order) atomic_thread_fence(order)
#endif

/* ---- arena: bump allocation for one span record --------------------------------------- */
typedef struct dpt__arena_blk {
    struct dpt__arena_blk *next;
    size_t cap;
    size_t used;
    _Alignas(16) char data[];
} dpt__arena_blk;

typedef struct dpt__arena {
    char *cur; /* next free byte of the current block */
    char *end;
    dpt__arena_blk *blocks; /* overflow blocks, newest first */
    size_t bytes;           /* bytes handed out (for the store's byte bound) */
    size_t budget;          /* most bytes this span may take (span limit) */
    bool over;              /* an allocation was refused for the budget */
} dpt__arena;

/* ---- span records ---------------------------------------------------------------------- */
#define DPT__INLINE_ATTRS 8
#define DPT__INLINE_ARENA 448

/* A record's state. One in the pool is FREE or ENDED (recycle_cells, queue.c, leaves a
 * lane's ended records ENDED): readers only compare with RECORDING and NONRECORDING. */
enum { DPT__REC_FREE = 0, DPT__REC_NONRECORDING, DPT__REC_RECORDING, DPT__REC_ENDED };

struct dpt__owner;

/* One span. The public dpt_span_data view is the first member so a record and its view
 * are the same address. Records come from a pool (pool.c) and are recycled, never freed
 * while the process runs with spans in flight; `gen` changes at every start and end so
 * a stale dpt_span handle can be detected (see span.c).
 *
 * Layout: what a span's start, setters and end touch is packed into the first lines (the
 * view, then the control fields in the rest of its last line, then the arena line), so
 * that a small span touches about six lines; a finished record handed to the export
 * thread is only read there (the batch queue never writes a record on the export side). */
typedef struct dpt__span {
    dpt_span_data d;
    /* Control: who may change the span (span.h: owner, shared, lock), whether a handle is
     * still live (gen) and what the record is (state). */
    _Atomic uint64_t gen;               /* even: free or ended; odd: live. Relaxed loads from stale
                                           handles only compare it. */
    _Atomic(struct dpt__owner *) owner; /* the thread that started the span (span.h) */
    _Atomic uint32_t shared;            /* 1: every operation takes `lock` (span.h) */
    _Atomic uint32_t lock;              /* spin lock of shared mode; never reset (balanced) */
    _Atomic uint8_t state;              /* DPT__REC_*; read (relaxed) by stale handles */
    /* clean, 1: the view's status, events, links, drop counts, ended_by_task and tracestate,
     * and event_cap and link_cap, hold their start values, which a start need not store
     * again (init_recording). Set only there; every writer of those fields clears it
     * (span.c, and dpt__stage_read in stage.c). 0 in a new record. */
    uint8_t clean;
    uint16_t attr_cap; /* capacity of d.attrs, within the count limit */
    uint16_t event_cap;
    uint16_t link_cap;
    dpt_tracer *tracer;
    /* Pipeline and arena. */
    _Alignas(DPT__CACHELINE) _Atomic uint32_t refs; /* references to the finished record
                                 (pipeline, store, snapshots); recycled at 0 */
    uint32_t key_bloom; /* dpt__key_bit (keys.h) of every key in d.attrs: a new key whose bit
                           is clear is not among them (set by its writers, span.c) */
    dpt_tracestate *ts; /* reference held by the record; NULL when empty */
    dpt__arena arena;
    struct dpt__span *next; /* free lists */
    struct dpt__span *store_next_in_trace;
    dpt_attr attrs_inline[DPT__INLINE_ATTRS];
    _Alignas(16) char arena_inline[DPT__INLINE_ARENA];
} dpt__span;

/* Record pool (pool.c): per-thread magazines over a global depot. The fast paths (a
 * record from / to the thread's current magazine) are inline. */
#define DPT__MAG_SIZE 64
typedef struct dpt__mag {
    struct dpt__mag *next;
    uint32_t n;
    struct dpt__span *items[DPT__MAG_SIZE];
} dpt__mag;
typedef struct dpt__tcache {
    dpt__mag *cur;
    dpt__mag *prev;
    dpt__mag *def;   /* deferred releases of this thread, not yet handed to the depot */
    dpt__mag *own;   /* full magazines this thread filled, kept for its own allocations */
    dpt__mag *spare; /* empty magazines of this thread */
    uint32_t n_own, n_spare;
    bool registered;
} dpt__tcache;
extern DPT__TLS dpt__tcache dpt__tc;
DPT__HIDDEN struct dpt__span *dpt__span_alloc_slow(void);
DPT__HIDDEN void dpt__span_recycle_slow(struct dpt__span *s);
static inline struct dpt__span *dpt__span_alloc(void)
{
    dpt__mag *m = dpt__tc.cur;
    if (DPT__LIKELY(m != NULL && m->n != 0)) {
        struct dpt__span *s = m->items[--m->n];
        if (!s) __builtin_unreachable(); /* a magazine holds records only */
        return s;
    }
    return dpt__span_alloc_slow();
}
/* Recycles a record. The inline path takes a record without a tracestate or overflow
 * blocks; its inline arena is not reset here but when a recording span starts on it
 * (dpt__arena_start), so that recycling a finished small span is a push. The rest goes
 * through dpt__span_recycle_slow. */
static inline void dpt__span_recycle(struct dpt__span *s);
/* Drops one reference to a finished record later, on the thread that next allocates
 * records (see pool.c); and hands the calling thread's pending ones to the depot. */
DPT__HIDDEN void dpt__span_release_deferred(dpt__span *s);
DPT__HIDDEN void dpt__span_release_deferred_flush(void);
/* Approximate bytes of a finished record (struct + overflow arena). */
DPT__HIDDEN size_t dpt__span_bytes(const dpt__span *s);
/* Arena allocation inside a record (16-byte aligned). NULL on ENOMEM or when the span's
 * byte budget is spent (then arena.over is set). The common case, room in the current
 * block, is inline; dpt__arena_alloc_slow takes new blocks. */
DPT__HIDDEN void *dpt__arena_alloc_slow(dpt__span *s, size_t n);
static inline void *dpt__arena_alloc(dpt__span *s, size_t n)
{
    dpt__arena *a = &s->arena;
    n = (n + 15) & ~(size_t)15;
    if (DPT__LIKELY((size_t)(a->end - a->cur) >= n && a->bytes + n <= a->budget)) {
        void *p = a->cur;
        a->cur += n;
        a->bytes += n;
        return p;
    }
    return dpt__arena_alloc_slow(s, n);
}
static inline char *dpt__arena_strdup(dpt__span *s, const char *p, size_t n)
{
    char *d = (char *)dpt__arena_alloc(s, n + 1);
    if (DPT__LIKELY(d != NULL)) {
        dpt__copy(d, p, n);
        d[n] = 0;
    }
    return d;
}

/* dpt__arena_strdup without a call, for a fast path that must not save registers: NULL
 * (nothing changed, `over` not set) when the current block or the budget cannot hold the
 * copy or when it is longer than 256 bytes; the caller then takes dpt__arena_strdup. */
static inline char *dpt__arena_strdup_leaf(dpt__span *s, const char *p, size_t n)
{
    dpt__arena *a = &s->arena;
    size_t need = (n + 1 + 15) & ~(size_t)15;
    if (DPT__UNLIKELY(n > 256 || (size_t)(a->end - a->cur) < need || a->bytes + need > a->budget))
        return NULL;
    char *d = a->cur;
    a->cur += need;
    a->bytes += need;
    if (n <= 16) {
        dpt__copy(d, p, n);
    } else {
        /* 16 bytes at a time, the last 16 overlapping (n > 16) */
        for (size_t i = 0; i < n - 16; i += 16)
            memcpy(d + i, p + i, 16);
        memcpy(d + n - 16, p + n - 16, 16);
    }
    d[n] = 0;
    return d;
}

/* Whether dpt__span_recycle's inline path may take s: no tracestate, and no overflow or
 * only the kept block, which the span did not take. */
static inline bool dpt__span_recycle_plain(const dpt__span *s)
{
    const dpt__arena_blk *b = s->arena.blocks;
    return s->ts == NULL && (b == NULL || (b->used == 0 && b->next == NULL));
}

static inline void dpt__span_recycle(dpt__span *s)
{
    dpt__mag *m = dpt__tc.cur;
    if (DPT__LIKELY(dpt__span_recycle_plain(s) && m != NULL && m->n < DPT__MAG_SIZE)) {
        atomic_store_explicit(&s->state, DPT__REC_FREE, memory_order_relaxed);
        m->items[m->n++] = s;
        return;
    }
    dpt__span_recycle_slow(s);
}
DPT__HIDDEN void dpt__arena_reset(dpt__span *s);

/* Makes a record's arena empty for a new recording span (the inline arena; kept overflow
 * blocks were reset when the record was recycled). */
static inline void dpt__arena_start(dpt__span *s, uint32_t budget)
{
    s->arena.cur = s->arena_inline;
    s->arena.end = s->arena_inline + sizeof s->arena_inline;
    s->arena.bytes = 0;
    s->arena.budget = budget;
    s->arena.over = false;
}

#endif
