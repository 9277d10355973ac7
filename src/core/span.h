/* span.h - the span handle's checks shared by core and the async module (span.c). */
#ifndef DPT_SPAN_H
#define DPT_SPAN_H

#include "common.h"
#include "pool.h"

/* Whether the handle refers to a live (not ended) span. */
static inline bool dpt__span_live(dpt_span s)
{
    /* Relaxed: only compared, as in span.c; the span's user is the only writer. */
    return s.rec && atomic_load_explicit(&s.rec->gen, memory_order_relaxed) == s.gen;
}

#endif
