/* prop_internal.h - private helpers shared by the propagation module (src/propagation).
 *
 * Extraction is done in two steps: every format writes what it found into a
 * dpt_extraction accumulator, and the propagator turns that into one dpt_context at the
 * end, so that a composite allocates a single context whatever the number of formats.
 * Every format, built-in or not, is a dpt_propagator_ops table; the built-in tables are
 * declared at the end of this file.
 */
#ifndef DPT_PROP_INTERNAL_H
#define DPT_PROP_INTERNAL_H

#include "common.h"
#include "core.h"
#include "dptrace/propagation.h"

/* true when [s, s + n) is a non-empty RFC 9110 token. */
static inline bool dpt__is_token(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!dpt__tchar((unsigned char)s[i])) return false;
    return true;
}

/* ---- counters (util.c) ---------------------------------------------------------------- */
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
/* Repeated lines are bounded so that a hostile carrier cannot make us loop for long; the
 * same bound caps the walk over field names (prefixed formats). */
#define DPT__MAX_FIELD_VALUES 1024

/* ---- baggage in prefixed fields (Jaeger uberctx-<key>, OpenTracing ot-baggage-<key>) ---- */
/* Adds one entry read from a field; false when the value is invalid for the format. */
typedef bool (*dpt__prefixed_add_fn)(dpt_extraction *x, const char *key, size_t kl, const char *v,
                                     size_t vl);
/* Walks the carrier's field names (the getter's key callback; none: nothing) and calls add
 * with the lowercase key after prefix (matched case-insensitively, the key non-empty) and
 * the field's first value. A name of 256 bytes or more (no one can mean it), a missing
 * value or add returning false counts one `invalid`. Stops at x->oom. */
DPT__HIDDEN void dpt__extract_prefixed(const dpt__in *in, const char *prefix, int invalid,
                                       dpt_extraction *x, dpt__prefixed_add_fn add);
/* Writes the field value for a baggage value into out; false when it cannot be sent. */
typedef bool (*dpt__prefixed_value_fn)(const char *v, size_t vl, dpt__buf *out);
/* Sets one field <prefix><key> per baggage entry of ctx, its value written by value. An
 * entry whose key is not a token (it could not be part of a field name) or whose value is
 * refused is counted as not sent. Returns the first setter error, or DPT_ENOMEM. */
DPT__HIDDEN dpt_err dpt__inject_prefixed(const dpt_context *ctx, const char *prefix,
                                         const dpt_setter *s, void *c,
                                         dpt__prefixed_value_fn value);

/* ---- extraction accumulator --------------------------------------------------------------- */
struct dpt_extraction {
    dpt_span_context sc; /* valid when have_sc */
    dpt_tracestate *ts;  /* owned reference (with sc) */
    dpt_baggage *bg;     /* owned reference */
    bool have_sc;
    bool saw_trace_field; /* some trace field was present */
    bool oom;
};
typedef struct dpt_extraction dpt__extract;

/* Replaces the span context (and tracestate, taking over the reference ts) in x. */
DPT__HIDDEN void dpt__extract_set_sc(dpt__extract *x, const dpt_span_context *sc,
                                     dpt_tracestate *ts);

/* ---- built-in formats (one file each) ------------------------------------------------------- */
DPT__HIDDEN extern const dpt_propagator_ops dpt__tracecontext_ops; /* traceparent.c */
DPT__HIDDEN extern const dpt_propagator_ops dpt__baggage_ops;      /* baggage.c */
DPT__HIDDEN extern const dpt_propagator_ops dpt__b3_ops;           /* b3.c: single inject */
DPT__HIDDEN extern const dpt_propagator_ops dpt__b3multi_ops;      /* b3.c: multi inject */
DPT__HIDDEN extern const dpt_propagator_ops dpt__jaeger_ops;       /* jaeger.c */
DPT__HIDDEN extern const dpt_propagator_ops dpt__ottrace_ops;      /* ottrace.c */

/* The in-memory mark of a B3 debug decision on an extracted span context
 * (DPT_FLAG_B3_DEBUG); the flags every format may carry in a span context. */
#define DPT__FLAGS_W3C (DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM)

#endif /* DPT_PROP_INTERNAL_H */
