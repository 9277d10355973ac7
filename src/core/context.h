/* context.h - dpt_context values and the per-thread context stack (context.c); the stack
 * is shared with the async task module, which gives each task its own.
 */
#ifndef DPT_CONTEXT_H
#define DPT_CONTEXT_H

#include "common.h"
#include "ids.h"

/* ---- context (context.c) ---------------------------------------------------------------- */
struct dpt_context {
    _Atomic uint32_t refs;
    dpt_span_context sc;
    dpt_span span;            /* local span, or DPT_SPAN_NONE */
    dpt_tracestate *ts;
    dpt_baggage *bg;
};

/* The parent a new span resolves to: span context, tracestate and baggage, borrowed. */
typedef struct dpt__parent {
    dpt_span_context sc;
    const dpt_tracestate *ts;
    const dpt_baggage *bg;
    bool valid;
    bool owned_ts; /* ts is a reference the span start must take over or release */
} dpt__parent;

#define DPT__CTX_STACK_MAX 256

typedef struct dpt__ctx_entry {
    dpt_span_context sc;
    dpt_span span;           /* DPT_SPAN_NONE for an attached remote context */
    dpt_tracestate *ts;      /* reference */
    dpt_baggage *bg;         /* reference */
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
    if (DPT__LIKELY(!st || !st->depth)) {
        out->valid = false;
        out->ts = NULL;
        out->bg = NULL;
        return;
    }
    const dpt__ctx_entry *e = &st->e[st->depth - 1];
    out->sc = e->sc;
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
