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

/* The ids of a new span with one access to the generator: a new trace id as well when tid
 * is not NULL. */
static inline void dpt__new_ids(dpt_trace_id *tid, dpt_span_id *sid)
{
    dpt__rng *r = &dpt__tl_rng;
    if (DPT__UNLIKELY(!r->seeded)) dpt__rng_seed(r);
    uint64_t x = r->s[0], a, b, c;
    __uint128_t m;
    if (tid) {
        do {
            x += 0xa0761d6478bd642full;
            m = (__uint128_t)x * (x ^ 0xe7037ed1a0b428dbull);
            a = (uint64_t)(m >> 64) ^ (uint64_t)m;
            x += 0xa0761d6478bd642full;
            m = (__uint128_t)x * (x ^ 0xe7037ed1a0b428dbull);
            b = (uint64_t)(m >> 64) ^ (uint64_t)m;
        } while (DPT__UNLIKELY((a | b) == 0));
        memcpy(tid->b, &a, 8);
        memcpy(tid->b + 8, &b, 8);
    }
    do {
        x += 0xa0761d6478bd642full;
        m = (__uint128_t)x * (x ^ 0xe7037ed1a0b428dbull);
        c = (uint64_t)(m >> 64) ^ (uint64_t)m;
    } while (DPT__UNLIKELY(c == 0));
    memcpy(sid->b, &c, 8);
    r->s[0] = x;
}

/* dpt_span_context_is_valid, inline: neither id all zero. */
static inline bool dpt__sc_valid(const dpt_span_context *sc)
{
    uint64_t a, b, c;
    memcpy(&a, sc->trace_id.b, 8);
    memcpy(&b, sc->trace_id.b + 8, 8);
    memcpy(&c, sc->span_id.b, 8);
    return (a | b) != 0 && c != 0;
}

/* Resets per-thread state in a child after fork (ids, pools). */
DPT__HIDDEN void dpt__ids_atfork_child(void);

#endif
