/* counters.h - self-telemetry counters (counters.c): per-thread single-writer
 * blocks, so that counting on the hot path is a plain load and store. */
#ifndef DPT_COUNTERS_H
#define DPT_COUNTERS_H

#include "common.h"
#include "provider.h"

/* ---- counters ------------------------------------------------------------------------- */
enum {
    /* A span start counts once, in one of these three (the stats sum them): */
    DPT__C_STARTED_NONREC,  /* non-recording */
    DPT__C_STARTED_SAMPLED, /* recording and sampled */
    DPT__C_STARTED_RECONLY, /* recording, not sampled */
    DPT__C_ENDED,
    DPT__C_EXPORTED,
    DPT__C_EXPORT_FAILED,
    DPT__C_DROPPED_QUEUE,
    DPT__C_DROPPED_STORE,
    DPT__C_ATTRS_DROPPED,
    DPT__C_EVENTS_DROPPED,
    DPT__C_LINKS_DROPPED,
    DPT__C_ENDED_BY_TASK,
    DPT__C_COUNT
};

/* Adds n to counter c of provider p (NULL p: nothing). Per-thread single-writer blocks:
 * no locked instruction; readers sum the blocks (provider.c). The fast path is inline:
 * the thread's cached block for the provider it counted for last. */
typedef struct dpt__tl_counters {
    uint64_t provider_id;
    _Atomic uint64_t *c; /* the block's counters */
    uint64_t token;
} dpt__tl_counters;
extern DPT__TLS dpt__tl_counters dpt__tl_cb;
DPT__HIDDEN void dpt__count_slow(dpt_provider *p, int c, uint64_t n);
static inline void dpt__count(dpt_provider *p, int c, uint64_t n)
{
    if (DPT__UNLIKELY(!p)) return;
    if (DPT__LIKELY(dpt__tl_cb.provider_id == dpt__provider_counters_id(p))) {
        /* single writer: a relaxed load and store, no locked instruction */
        _Atomic uint64_t *x = &dpt__tl_cb.c[c];
        atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + n,
                              memory_order_relaxed);
        return;
    }
    dpt__count_slow(p, c, n);
}

/* The calling thread's counter block for p, to add several counts with one lookup (NULL
 * when no block could be had: counting is then skipped). */
DPT__HIDDEN _Atomic uint64_t *dpt__counters_slow(dpt_provider *p);
static inline _Atomic uint64_t *dpt__counters(dpt_provider *p)
{
    if (DPT__LIKELY(dpt__tl_cb.provider_id == dpt__provider_counters_id(p))) {
        _Atomic uint64_t *c = dpt__tl_cb.c;
        /* provider ids start at 1 and are set together with a block's counters (counters.c) */
        if (!c) __builtin_unreachable();
        return c;
    }
    return dpt__counters_slow(p);
}
static inline void dpt__cadd(_Atomic uint64_t *c, int i, uint64_t n)
{
    /* single writer: a relaxed load and store, no locked instruction */
    atomic_store_explicit(&c[i], atomic_load_explicit(&c[i], memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* A new key for a provider's counter blocks. */
DPT__HIDDEN uint64_t dpt__counters_new_id(void);
/* Retires p's counter blocks when p is freed (their slots are reused). */
DPT__HIDDEN void dpt__counters_retire(dpt_provider *p);

#endif
