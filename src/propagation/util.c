/* util.c - shared pieces of the propagation module: drop counters, hex and percent
 * coding, carrier access (single / repeated / combined fields) and the extraction
 * accumulator that every format writes into.
 */
#include "prop_internal.h"

#include <stdlib.h>

/* ---- counters --------------------------------------------------------------------------- */

/* Process-wide, owned by this file. Relaxed atomics: they are statistics, nothing else is
 * published through them. */
static _Atomic uint64_t prop_stats[DPT__PS_COUNT];

void dpt__prop_count(int which, uint64_t n)
{
    if (which >= 0 && which < DPT__PS_COUNT)
        atomic_fetch_add_explicit(&prop_stats[which], n, memory_order_relaxed);
}

void dpt_propagation_get_stats(dpt_propagation_stats *out)
{
    if (!out) return;
#define LD(i) atomic_load_explicit(&prop_stats[i], memory_order_relaxed)
    out->traceparent_invalid = LD(DPT__PS_TRACEPARENT_INVALID);
    out->tracestate_dropped = LD(DPT__PS_TRACESTATE_DROPPED);
    out->baggage_members_dropped = LD(DPT__PS_BAGGAGE_DROPPED);
    out->baggage_entries_not_sent = LD(DPT__PS_BAGGAGE_NOT_SENT);
    out->b3_invalid = LD(DPT__PS_B3_INVALID);
    out->jaeger_invalid = LD(DPT__PS_JAEGER_INVALID);
    out->edge_contexts_dropped = LD(DPT__PS_EDGE_DROPPED);
#undef LD
}

/* ---- carrier access ------------------------------------------------------------------------ */

size_t dpt__in_count(const dpt__in *in, const char *name, size_t cap)
{
    size_t n = 0, len;
    while (n < cap && in->g->get(in->c, name, n, &len)) n++;
    return n;
}

const char *dpt__in_single(const dpt__in *in, const char *name, size_t *len, size_t *count)
{
    size_t l0 = 0, l1 = 0;
    const char *v = in->g->get(in->c, name, 0, &l0);
    if (!v) {
        *count = 0;
        return NULL;
    }
    if (in->g->get(in->c, name, 1, &l1)) {
        *count = 2;
        return NULL;
    }
    *count = 1;
    *len = l0;
    return v;
}

/* Repeated lines are bounded so that a hostile carrier cannot make us loop for long. */
#define MAX_FIELD_VALUES 1024

size_t dpt__in_joined(const dpt__in *in, const char *name, dpt__buf *b, size_t max, bool *cut)
{
    size_t n = 0, len = 0;
    const char *v;
    *cut = false;
    while (n < MAX_FIELD_VALUES && (v = in->g->get(in->c, name, n, &len)) != NULL) {
        /* Hostile input can repeat a long line many times: stop at max bytes. */
        if (b->len + (n ? 1 : 0) + len > max) {
            *cut = true;
            break;
        }
        if (n) dpt__buf_putc(b, ',');
        dpt__buf_put(b, v, len);
        n++;
    }
    return n;
}

/* ---- extraction accumulator ---------------------------------------------------------------- */

void dpt__extract_set_sc(dpt__extract *x, const dpt_span_context *sc, dpt_tracestate *ts)
{
    if (x->ts) dpt_tracestate_release(x->ts);
    x->sc = *sc;
    x->sc.remote = true;
    x->ts = ts;
    x->have_sc = true;
}

void dpt__extract_add_baggage(dpt__extract *x, const char *key, const char *value,
                              const char *meta)
{
    dpt_baggage *nb = NULL;
    dpt_err e = dpt_baggage_set(x->bg, key, value, meta, &nb);
    if (e == DPT_OK) {
        dpt_baggage_release(x->bg);
        x->bg = nb;
    } else {
        if (e == DPT_ENOMEM) x->oom = true;
        dpt__prop_count(DPT__PS_BAGGAGE_DROPPED, 1);
    }
}
