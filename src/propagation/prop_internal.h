/* prop_internal.h - private helpers shared by the propagation module (src/propagation).
 *
 * Extraction is done in two steps: every format writes what it found into a dpt__extract
 * accumulator, and the propagator turns that into one dpt_context at the end, so that a
 * composite allocates a single context whatever the number of formats.
 */
#ifndef DPT_PROP_INTERNAL_H
#define DPT_PROP_INTERNAL_H

#include "common.h"
#include "core.h"
#include "dptrace/propagation.h"

/* ---- counters (util.c) ---------------------------------------------------------------- */
enum {
    DPT__PS_TRACEPARENT_INVALID,
    DPT__PS_TRACESTATE_DROPPED,
    DPT__PS_BAGGAGE_DROPPED,
    DPT__PS_BAGGAGE_NOT_SENT,
    DPT__PS_B3_INVALID,
    DPT__PS_JAEGER_INVALID,
    DPT__PS_EDGE_DROPPED,
    DPT__PS_COUNT
};
DPT__HIDDEN void dpt__prop_count(int which, uint64_t n);

/* ---- carrier access ---------------------------------------------------------------------- */
typedef struct dpt__in {
    const dpt_getter *g;
    void *c;
} dpt__in;

/* Number of values of name in the carrier (stops counting at `cap`). */
DPT__HIDDEN size_t dpt__in_count(const dpt__in *in, const char *name, size_t cap);
/* The value when name has exactly one value; else NULL and *count the number seen (0, 2). */
DPT__HIDDEN const char *dpt__in_single(const dpt__in *in, const char *name, size_t *len,
                                       size_t *count);
/* Every value of name joined with ',' into b (b untouched when absent), stopping before b
 * would pass max bytes (*cut is then true). Returns the number of values joined. */
#define DPT__JOIN_MAX 65536
DPT__HIDDEN size_t dpt__in_joined(const dpt__in *in, const char *name, dpt__buf *b, size_t max,
                                  bool *cut);

/* ---- extraction accumulator --------------------------------------------------------------- */
typedef struct dpt__extract {
    dpt_span_context sc;     /* valid when have_sc */
    dpt_tracestate *ts;      /* owned reference (with sc) */
    dpt_baggage *bg;         /* owned reference */
    bool have_sc;
    bool saw_trace_field;    /* some trace field was present */
    bool oom;
} dpt__extract;

/* Replaces the span context (and tracestate, taking over ts) in the accumulator. */
DPT__HIDDEN void dpt__extract_set_sc(dpt__extract *x, const dpt_span_context *sc,
                                     dpt_tracestate *ts);
/* Adds an entry to the accumulated baggage (OOM and limits recorded / counted). */
DPT__HIDDEN void dpt__extract_add_baggage(dpt__extract *x, const char *key, const char *value,
                                          const char *meta);

/* Per-format entry points. */
DPT__HIDDEN void dpt__tc_extract(const dpt__in *in, dpt__extract *x);
DPT__HIDDEN dpt_err dpt__tc_inject(const dpt_context *ctx, const dpt_setter *s, void *c);
DPT__HIDDEN void dpt__bg_extract(const dpt__in *in, dpt__extract *x);
DPT__HIDDEN dpt_err dpt__bg_inject(const dpt_context *ctx, const dpt_setter *s, void *c);
DPT__HIDDEN void dpt__b3_extract(const dpt__in *in, dpt__extract *x);
DPT__HIDDEN dpt_err dpt__b3_inject_single(const dpt_context *ctx, const dpt_setter *s, void *c);
DPT__HIDDEN dpt_err dpt__b3_inject_multi(const dpt_context *ctx, const dpt_setter *s, void *c);
DPT__HIDDEN void dpt__jaeger_extract(const dpt__in *in, dpt__extract *x);
DPT__HIDDEN dpt_err dpt__jaeger_inject(const dpt_context *ctx, const dpt_setter *s, void *c);


#endif /* DPT_PROP_INTERNAL_H */
