/* provider.h - providers and tracers (provider.c), and the hand-off of finished
 * spans to processors. */
#ifndef DPT_PROVIDER_H
#define DPT_PROVIDER_H

#include "common.h"
#include "pool.h"
#include "processor.h"

/* ---- tracers and provider (provider.c) ------------------------------------------------ */
#define DPT__MAX_PROCESSORS 8

#define DPT__GATE_OFF 1u /* disabled or shut down: spans are no-ops */
#define DPT__GATE_IDS 2u /* a custom id generator */

struct dpt_tracer {
    dpt_provider *provider;
    char *name;
    char *version;
    dpt_resource *scope; /* the scope's attributes and schema URL (owned) */
    uint64_t hash;       /* of name, version and schema URL: its slot in the index */
    struct dpt_tracer *next;
};

struct dpt_provider {
    dpt_sampler *sampler;
    dpt_span_limits limits;
    /* A new record's attribute capacity, its inline array clipped to the count limit
     * (limits.attr_count < DPT__INLINE_ATTRS ? limits.attr_count : DPT__INLINE_ATTRS);
     * set with the limits, which never change after. */
    uint16_t attr_cap0;
    dpt_resource *res;  /* owned */
    dpt_attr *resource; /* res's attributes (the encoders read these) */
    size_t n_resource;
    dpt_processor *procs[DPT__MAX_PROCESSORS];
    _Atomic uint32_t n_procs;
    /* The state of the only processor when it is a batch processor (the span end hands
     * records to its queue inline), else NULL. Set with n_procs. */
    _Atomic(void *) sole_batch;
    bool has_on_start;
    /* Processors with an on_ending (span.c runs them at a span's end; a provider with one
     * has no sole_batch, so the common end path never looks at this). */
    _Atomic uint32_t n_ending;
    _Atomic bool shut_down;
    bool disabled;
    /* What the span start must check, in one load: DPT__GATE_* bits (disabled, shut down,
     * custom ids). Zero on the common path. Set at creation and by shutdown (relaxed: a
     * span started while shutdown runs may or may not be recorded, as before). */
    _Atomic uint32_t gate;
    dpt_id_generator idgen;      /* used when DPT__GATE_IDS is set */
    _Atomic bool abandoned_work; /* a processor gave up on a hung exporter at shutdown */
    pthread_mutex_t mu;          /* tracer list and index, add_processor, shutdown */
    dpt_tracer *tracers;
    /* An open-addressing index of the tracers by hash (a power of two of slots, at most
     * half full), so that a service asking for many distinct tracers (one per route, say)
     * finds each in constant time instead of walking the list. */
    dpt_tracer **tracer_slots;
    size_t tracer_cap, n_tracers;
    uint64_t counters_id; /* key of this provider's per-thread counter blocks */
};

static inline uint64_t dpt__provider_counters_id(const dpt_provider *p)
{
    return p->counters_id;
}

DPT__HIDDEN void dpt__provider_register_atexit(dpt_provider *p);
DPT__HIDDEN void dpt__provider_unregister_atexit(dpt_provider *p);

/* Finished-span hand-off to processors (provider.c). Takes the record's first reference. */
DPT__HIDDEN void dpt__provider_on_end(dpt_provider *p, dpt__span *s);
/* The same once ENDED is counted. */
DPT__HIDDEN void dpt__provider_on_end_counted(dpt_provider *p, dpt__span *s);

#endif
