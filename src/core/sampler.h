/* sampler.h - samplers (sampler.c) and the inline decision of the cases that
 * need no call. */
#ifndef DPT_SAMPLER_H
#define DPT_SAMPLER_H

#include "common.h"

/* ---- samplers (sampler.c) --------------------------------------------------------------- */
enum {
    DPT__SAMPLER_ALWAYS_ON,
    DPT__SAMPLER_ALWAYS_OFF,
    DPT__SAMPLER_RATIO,
    DPT__SAMPLER_PROBABILITY,
    DPT__SAMPLER_PARENT,
    DPT__SAMPLER_CUSTOM,
    DPT__SAMPLER_RATE,
    DPT__SAMPLER_ALWAYS_RECORD,
    DPT__SAMPLER_COMPOSITE
};

struct dpt_sampler {
    int type;
    uint64_t bound;    /* RATIO: upper bound on 63 bits; PROBABILITY: threshold T */
    char th[32];       /* PROBABILITY: encoded threshold, "" for p = 0 */
    dpt_sampler *d[5]; /* PARENT: root, remote sampled/not, local sampled/not;
                          ALWAYS_RECORD: the wrapped sampler in d[0] */
    dpt_sample_fn fn;  /* CUSTOM */
    void *user;
    void (*free_user)(void *);
    double per_second; /* RATE */
    double tokens;
    uint64_t last_ns;
    pthread_mutex_t mu;   /* RATE: the bucket */
    dpt_composable *comp; /* COMPOSITE: the root of the composable tree (owned) */
    char *desc;
};

/* Whether a trace-id ratio sampler (TraceIdRatioBased) samples the trace: bytes 8-15 of
 * the id as a big-endian number, its top 63 bits below the bound (sampler.c). The one
 * definition, for dpt_sampler_should_sample and the inline decision below. */
static inline uint64_t dpt__be_bytes(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static inline bool dpt__ratio_keeps(const dpt_sampler *s, const dpt_trace_id *tid)
{
    return (dpt__be_bytes(tid->b + 8, 8) >> 1) < s->bound;
}

/* The decision of the cases that need no call: always_on, always_off and a trace-id ratio
 * given the new span's trace id (tid; NULL: not known yet), directly or as the parent-based
 * delegate for this parent: DPT_DROP or DPT_RECORD_AND_SAMPLE; -1 otherwise. */
static inline int dpt__sampler_fast(const dpt_sampler *s, const dpt_span_context *parent,
                                    const dpt_trace_id *tid)
{
    if (s->type == DPT__SAMPLER_PARENT) {
        const dpt_sampler *d = s->d[0];
        if (parent) {
            bool sampled = parent->flags & DPT_FLAG_SAMPLED;
            d = parent->remote ? s->d[sampled ? 1 : 2] : s->d[sampled ? 3 : 4];
        }
        s = d;
    }
    if (s->type == DPT__SAMPLER_ALWAYS_ON) return DPT_RECORD_AND_SAMPLE;
    if (s->type == DPT__SAMPLER_ALWAYS_OFF) return DPT_DROP;
    if (s->type == DPT__SAMPLER_RATIO && tid)
        return dpt__ratio_keeps(s, tid) ? DPT_RECORD_AND_SAMPLE : DPT_DROP;
    return -1;
}

#endif
