/* context.h - dpt_context values and the per-thread context stack (context.c); the stack
 * is shared with the async task module, which gives each task its own.
 */
#ifndef DPT_CONTEXT_H
#define DPT_CONTEXT_H

#include "common.h"
#include "ids.h"

/* ---- context (context.c) ---------------------------------------------------------------- */
/* User values (dpt_context_key): an immutable list, newest first, shared between the
 * contexts and stack entries that hold a reference to its head. A node owns its value: the
 * key's free function runs when the last reference to the node goes. */
typedef struct dpt__ctx_val {
    _Atomic uint32_t refs;
    uint32_t depth; /* nodes in the list from this one on */
    const dpt_context_key *key;
    void *value;
    struct dpt__ctx_val *next; /* reference */
} dpt__ctx_val;

DPT__HIDDEN dpt__ctx_val *dpt__ctx_val_retain(dpt__ctx_val *v);
DPT__HIDDEN void dpt__ctx_val_release(dpt__ctx_val *v);

/* refs == 0 marks a borrowed context: a view built on the stack for the duration of a
 * call (a sampler's or processor's parent context). Release ignores it; retain returns a
 * heap copy, so a callee may keep what it was lent. */
struct dpt_context {
    _Atomic uint32_t refs;
    dpt_span_context sc;
    dpt_span span; /* local span, or DPT_SPAN_NONE */
    dpt_tracestate *ts;
    dpt_baggage *bg;
    dpt__ctx_val *vals; /* user values (reference), NULL: none */
};

/* The parent a new span resolves to: span context, tracestate and baggage, borrowed. */
typedef struct dpt__parent {
    dpt_span_context sc;
    const dpt_tracestate *ts;
    const dpt_baggage *bg;
    bool valid;
    bool owned_ts; /* ts is a reference the span start must take over or release */
} dpt__parent;

/* The full parent context of a span started with opts o, for a sampler or a processor's
 * on_start (off the hot path: recomputed only when one of them wants it): o->parent itself,
 * or a borrowed view (refs 0) in *scratch of the explicit parent span (its context and
 * tracestate as the span start resolved them into par, safe from a concurrent end) or of
 * the calling thread's current context (with its baggage and user values). Never NULL. */
DPT__HIDDEN const dpt_context *dpt__parent_context(const dpt_span_opts *o, const dpt__parent *par,
                                                   dpt_context *scratch);

/* The user values of the calling thread's current context (borrowed; NULL: none). */
DPT__HIDDEN dpt__ctx_val *dpt__current_vals(void);

#define DPT__CTX_STACK_MAX 256

typedef struct dpt__ctx_entry {
    dpt_span_context sc;
    dpt_span span;      /* DPT_SPAN_NONE for an attached remote context */
    dpt_tracestate *ts; /* reference */
    dpt_baggage *bg;    /* reference */
    dpt__ctx_val *vals; /* reference */
    dpt_token token;
} dpt__ctx_entry;

typedef struct dpt__ctx_stack {
    dpt__ctx_entry *e;
    uint32_t depth;
    uint32_t cap;
    uint32_t serial;
} dpt__ctx_stack;

/* The calling thread's current stack (context.c; NULL before its first use). */
extern DPT__TLS dpt__ctx_stack *dpt__tl_stack;

/* The parent a span started now without options gets: the top of the current stack. */
static inline void dpt__current_parent(dpt__parent *out)
{
    const dpt__ctx_stack *st = dpt__tl_stack;
    if (DPT__LIKELY(!st || !st->depth || !st->e)) {
        out->valid = false;
        out->ts = NULL;
        out->bg = NULL;
        return;
    }
    const dpt__ctx_entry *e = &st->e[st->depth - 1];
    out->sc = e->sc; // NOLINT(clang-analyzer-core.NullDereference): depth > 0 means e is allocated
    out->ts = e->ts;
    out->bg = e->bg;
    out->valid = dpt__sc_valid(&e->sc);
}

DPT__HIDDEN dpt__ctx_stack *dpt__stack_new(void);
DPT__HIDDEN void dpt__stack_clear(dpt__ctx_stack *st);
DPT__HIDDEN void dpt__stack_free(dpt__ctx_stack *st);
DPT__HIDDEN dpt__ctx_stack *dpt__stack_current(void);
/* Makes st the calling thread's current stack (NULL: the thread's own); returns the
 * previous one. Used by tasks to enter and leave. */
DPT__HIDDEN dpt__ctx_stack *dpt__stack_swap(dpt__ctx_stack *st);
DPT__HIDDEN dpt_err dpt__stack_detach(dpt__ctx_stack *st, dpt_token tok);

#endif
