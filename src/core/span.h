/* span.h - the span handle's checks and the exclusion of concurrent operations on one
 * span (span.c), shared by core and the async module.
 *
 * Every operation that changes a span (setters, events, links, status, name, end) runs
 * "inside" the span: dpt__op_begin gives exclusive access to a live record or NULL for a
 * stale handle, dpt__op_end gives it back. OpenTelemetry requires all span methods to be
 * safe for concurrent use, but nearly every span is only ever touched by the thread that
 * started it, so the exclusion is biased towards that thread (its owner):
 *
 *  - The owner announces itself in its own per-thread block (`busy` = the record), then
 *    reads the record's `shared` flag. Only a compiler barrier separates the two: no locked
 *    instruction, no fence. While `shared` is 0, the owner works on the record directly.
 *  - Any other thread takes the record's spin lock, sets `shared`, and then calls
 *    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread of the
 *    process execute a full memory barrier. After it, either the owner's `busy` store is
 *    visible (the other thread waits until the owner leaves) or the owner's next read of
 *    `shared` sees 1. From then on every operation on that span, the owner's too, takes
 *    the lock (one exchange). This is the asymmetric fence of liburcu's membarrier flavour.
 *
 * So the common case costs a few plain loads and stores, and a span used by two threads
 * pays one membarrier (a few microseconds) once, then a lock per operation. Where
 * membarrier is missing (old kernels, seccomp) or cannot be reasoned about by a tool
 * (ThreadSanitizer), every span starts shared: always locked, always correct.
 */
#ifndef DPT_SPAN_H
#define DPT_SPAN_H

#include "common.h"
#include "pool.h"

/* A thread's block (span.c): blocks are never freed, and a block whose thread exited is
 * reused by a later thread, so a record's `owner` pointer never dangles. */
typedef struct dpt__owner {
    _Atomic(dpt__span *) busy; /* the record this thread is operating on without the lock */
    struct dpt__owner *next;   /* registry (span.c) */
    _Atomic bool taken;        /* a live thread owns the block */
} dpt__owner;

/* This thread's block; before its first span start (and after its exit) the shared
 * dpt__owner_none, which owns no record and is never written: a record's owner never equals
 * it, so the owner test needs no NULL test first. */
extern DPT__TLS dpt__owner *dpt__tl_owner;
extern DPT__HIDDEN dpt__owner dpt__owner_none;
/* Makes sure the calling thread has a block and returns it (NULL on ENOMEM); and whether
 * new spans start biased (0) or shared (1). */
DPT__HIDDEN dpt__owner *dpt__owner_get_slow(void);
extern DPT__HIDDEN uint32_t dpt__span_start_shared;

static inline dpt__owner *dpt__owner_get(void)
{
    dpt__owner *o = dpt__tl_owner;
    return DPT__LIKELY(o != &dpt__owner_none) ? o : dpt__owner_get_slow();
}

/* An operation inside a span: r is the record (NULL: the handle is stale); locked says
 * how it was entered. */
typedef struct dpt__op {
    dpt__span *r;
    bool locked;
} dpt__op;

DPT__HIDDEN dpt__op dpt__op_begin_slow(dpt_span h);

#if defined(DPT_SPAN_UNSYNCHRONIZED)
/* Measurement only (docs/BENCHMARKS.md): the exclusion compiled out, to measure what it
 * costs. Not safe for spans used by two threads at once; never built by default. */
static inline dpt__op dpt__op_begin(dpt_span h)
{
    dpt__span *r = h.rec;
    dpt__op op = {NULL, false};
    if (DPT__LIKELY(r != NULL) && atomic_load_explicit(&r->gen, memory_order_relaxed) == h.gen)
        op.r = r;
    return op;
}
static inline void dpt__op_end(dpt__op op)
{
    (void)op;
}
#else
static inline dpt__op dpt__op_begin(dpt_span h)
{
    dpt__span *r = h.rec;
    dpt__owner *me = dpt__tl_owner;
    if (DPT__LIKELY(r != NULL) &&
        DPT__LIKELY(atomic_load_explicit(&r->owner, memory_order_relaxed) == me)) {
        atomic_store_explicit(&me->busy, r, memory_order_relaxed);
        /* The owner's half of the asymmetric fence: a compiler barrier only; the other
         * half is the membarrier in dpt__op_begin_slow (see the top of this file). */
        atomic_signal_fence(memory_order_seq_cst);
        if (DPT__LIKELY(!atomic_load_explicit(&r->shared, memory_order_relaxed))) {
            /* Relaxed: gen of a live span is written by its owner (us) or under the lock
             * after shared was set, which we would have seen. */
            if (DPT__LIKELY(atomic_load_explicit(&r->gen, memory_order_relaxed) == h.gen)) {
                dpt__op op = {r, false};
                return op;
            }
            atomic_store_explicit(&me->busy, NULL, memory_order_release);
            dpt__op none = {NULL, false};
            return none;
        }
        atomic_store_explicit(&me->busy, NULL, memory_order_release);
    }
    return dpt__op_begin_slow(h);
}

static inline void dpt__op_end(dpt__op op)
{
    /* Release: a thread that then enters (after waiting for `busy`, or taking the lock)
     * sees everything this operation wrote. */
    if (DPT__LIKELY(!op.locked))
        atomic_store_explicit(&dpt__tl_owner->busy, NULL, memory_order_release);
    else
        atomic_store_explicit(&op.r->lock, 0, memory_order_release);
}
#endif

/* Whether the handle refers to a live (not ended) span. A hint for the caller's own
 * spans; it can be stale by the time it returns when another thread ends the span. */
static inline bool dpt__span_live(dpt_span s)
{
    /* Relaxed: only compared. */
    return s.rec && atomic_load_explicit(&s.rec->gen, memory_order_relaxed) == s.gen;
}

/* The context of a live span and a new reference to its tracestate (NULL when empty),
 * taken inside the span so that a concurrent end cannot release the tracestate first.
 * False for a stale handle. */
DPT__HIDDEN bool dpt__span_context_ts(dpt_span s, dpt_span_context *sc, dpt_tracestate **ts);

/* Ends a live span for an async task (src/async): marks it ended_by_task (and sets the
 * dptrace.ended_by_task attribute) when it records, copies its name into name_out, ends it.
 * Returns 1 when it ended a recording span, 0 for a non-recording one, -1 for a stale
 * handle. */
DPT__HIDDEN int dpt__span_end_by_task(dpt_span s, char *name_out, size_t name_cap);

/* Test hook: 1 makes spans started from now on shared (always locked), 0 biased when
 * membarrier is available. Returns the previous setting. */
DPT__HIDDEN uint32_t dpt__span_test_force_shared(uint32_t shared);

#endif
