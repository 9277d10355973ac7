/* processor.h - processor and exporter handles (processor.c): the wrappers around
 * user ops, and the simple and multi processors. */
#ifndef DPT_PROCESSOR_H
#define DPT_PROCESSOR_H

#include "common.h"

struct dpt_processor {
    dpt_processor_ops ops;
    void *state;
};

struct dpt_exporter {
    dpt_exporter_ops ops;
    void *state;
    bool nonblocking; /* dpt_exporter_set_nonblocking: a producer may call export (batch.c) */
};

/* Objects deliberately never freed because a thread we gave up on may still use them
 * (a hung exporter): kept reachable from a global list, so they are not reported as leaks. */
DPT__HIDDEN void dpt__graveyard_add(void *p);

/* The batch processor's on_end (batch.c), and the provider's direct hand-off to it when it
 * is the only processor: the queue takes over the provider's reference to the record (no
 * locked increment and decrement per span). False when the span was not taken (not
 * sampled, or dropped and counted): the reference is still the caller's. */
struct dpt__span;
DPT__HIDDEN void dpt__batch_on_end(void *st, const dpt_span_data *d);
DPT__HIDDEN bool dpt__batch_take(void *st, struct dpt__span *s);

/* The start of the batch processor's state, read by the span end's inline path: the queue,
 * the fork generation it was made in, and whether it was shut down. */
struct dpt__queue;
typedef struct dpt__batch_hot {
    struct dpt__queue *q;
    uint64_t fork_gen;
    _Atomic bool shut;
} dpt__batch_hot;
extern DPT__HIDDEN _Atomic uint64_t dpt__batch_fork_generation;
/* The rest of a take after the queue answered `pushed` (queue.h: wake, or dropped). */
DPT__HIDDEN bool dpt__batch_took(void *st, struct dpt__span *s, int pushed);
/* Test hook: while hold is true, the processor's export thread exports nothing, like a
 * thread the scheduler does not run. */
DPT__HIDDEN void dpt__batch_test_hold(dpt_processor *p, bool hold);
/* Test hook: while on, a span ended after the processor was shut is queued anyway, as by a
 * producer that saw it open just before shutdown (the race settle_late closes). */
DPT__HIDDEN void dpt__batch_test_late_pushes(dpt_processor *p, bool on);
/* Test hook: fn runs on a producer about to export (batch.c, help), before it looks
 * whether another thread is exporting and whether shutdown began. */
DPT__HIDDEN void dpt__batch_test_before_help(dpt_processor *p, void (*fn)(void));
/* Test hook: the export thread is asleep until woken (not napping, not exporting). */
DPT__HIDDEN bool dpt__batch_test_sleeping(dpt_processor *p);
/* Test hook: the export thread's timed naps so far. */
DPT__HIDDEN uint64_t dpt__batch_test_naps(dpt_processor *p);

/* A processor's start callback: on_start_ctx when it has one, else on_start. */
static inline void dpt__processor_on_start(const dpt_processor *p, const dpt_span_data *d,
                                           const dpt_context *parent)
{
    if (p->ops.on_start_ctx)
        p->ops.on_start_ctx(p->state, d, parent);
    else if (p->ops.on_start)
        p->ops.on_start(p->state, d);
}

/* Destroys a processor (its ops.destroy, then the handle). NULL is fine. */
DPT__HIDDEN void dpt__processor_destroy(dpt_processor *p);

#endif
