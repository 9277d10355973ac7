/* context_stack.h - the per-thread context stack, shared with the async task module. */
#ifndef DPT_CONTEXT_STACK_H
#define DPT_CONTEXT_STACK_H

#include "internal.h"

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

DPT__HIDDEN dpt__ctx_stack *dpt__stack_new(void);
DPT__HIDDEN void dpt__stack_clear(dpt__ctx_stack *st);
DPT__HIDDEN void dpt__stack_free(dpt__ctx_stack *st);
DPT__HIDDEN dpt__ctx_stack *dpt__stack_current(void);
/* Makes st the calling thread's current stack (NULL: the thread's own); returns the
 * previous one. Used by tasks to enter and leave. */
DPT__HIDDEN dpt__ctx_stack *dpt__stack_swap(dpt__ctx_stack *st);
DPT__HIDDEN dpt_err dpt__stack_detach(dpt__ctx_stack *st, dpt_token tok);

#endif
