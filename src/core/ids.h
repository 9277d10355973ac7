/* ids.h - trace and span id generation (ids.c): a per-thread wyrand
 * generator, inline so that an id costs a multiply, not a call. */
#ifndef DPT_IDS_H
#define DPT_IDS_H

#include "common.h"

/* Per-thread wyrand state (ids.c): seeded lazily from getrandom(), forgotten in a forked
 * child. Inline: an id costs a multiply, not a call. */
typedef struct dpt__rng {
    uint64_t s[4];
    bool seeded;
} dpt__rng;
extern DPT__TLS dpt__rng dpt__tl_rng;
DPT__HIDDEN void dpt__rng_seed(dpt__rng *r);
static inline uint64_t dpt__rand64(void)
{
    dpt__rng *r = &dpt__tl_rng;
    if (DPT__UNLIKELY(!r->seeded)) dpt__rng_seed(r);
    /* wyrand: passes BigCrush and PractRand */
    uint64_t x = (r->s[0] += 0xa0761d6478bd642full);
    __uint128_t m = (__uint128_t)x * (x ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

/* Inline id generation for the span start (the public dpt_*_generate call these). */
static inline void dpt__new_trace_id(dpt_trace_id *id)
{
    uint64_t a, b;
    do {
        a = dpt__rand64();
        b = dpt__rand64();
    } while (DPT__UNLIKELY((a | b) == 0));
    memcpy(id->b, &a, 8);
    memcpy(id->b + 8, &b, 8);
}

static inline void dpt__new_span_id(dpt_span_id *id)
{
    uint64_t a;
    do {
        a = dpt__rand64();
    } while (DPT__UNLIKELY(a == 0));
    memcpy(id->b, &a, 8);
}



/* Resets per-thread state in a child after fork (ids, pools). */
DPT__HIDDEN void dpt__ids_atfork_child(void);

#endif
