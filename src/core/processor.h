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
};


/* Objects deliberately never freed because a thread we gave up on may still use them
 * (a hung exporter): kept reachable from a global list, so they are not reported as leaks. */
DPT__HIDDEN void dpt__graveyard_add(void *p);

/* A processor's start callback: on_start_ctx when it has one, else on_start. */
static inline void dpt__processor_on_start(const dpt_processor *p, const dpt_span_data *d,
                                           const dpt_context *parent)
{
    if (p->ops.on_start_ctx) p->ops.on_start_ctx(p->state, d, parent);
    else if (p->ops.on_start) p->ops.on_start(p->state, d);
}

/* Destroys a processor (its ops.destroy, then the handle). NULL is fine. */
DPT__HIDDEN void dpt__processor_destroy(dpt_processor *p);

#endif
