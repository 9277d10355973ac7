/* export_async.h - the private contract between the batch processor (batch.c) and the
 * exporters that can do better than the public, synchronous export call: the export's
 * deadline (OTEL_BSP_EXPORT_TIMEOUT, shortened by a shutdown), completion later from
 * another thread (several requests in flight), and a log rate limiter both sides use.
 */
#ifndef DPT_EXPORT_ASYNC_H
#define DPT_EXPORT_ASYNC_H

#include "common.h"

#include <stdint.h>
#include <time.h>

/* Called exactly once per export that returned DPT__EXPORT_PENDING, from any thread, with
 * the n passed to export_spans and the outcome (DPT_OK: delivered). */
typedef void (*dpt__export_done_fn)(void *cookie, size_t n, dpt_err err);

typedef struct dpt__export_ctx {
    uint64_t deadline_ms;     /* dpt__export_mono_ms() clock; UINT64_MAX: none */
    dpt__export_done_fn done; /* NULL: the export must be finished when it returns */
    void *cookie;
} dpt__export_ctx;

/* export_spans may return this (only when the context has a done function): the spans
 * were copied (encoded) and done() reports the outcome later. */
#define DPT__EXPORT_PENDING ((dpt_err)1)

/* The context of the export_spans call running on this thread, or NULL when the caller
 * set none (a direct dpt_exporter_export). Thread-local; set by batch.c. */
DPT__SHARED const dpt__export_ctx *dpt__export_ctx_current(void);

/* Fills out->pipelines from the batch processors of p and sets the provider's exported,
 * failed and dropped totals to the first pipeline's (batch.c). */
DPT__HIDDEN void dpt__pipelines_stats(const dpt_provider *p, dpt_stats *out);

/* Monotonic milliseconds, the clock of every deadline above. */
static inline uint64_t dpt__export_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Saturating a + b: deadlines computed from what a server sends must never wrap. */
static inline uint64_t dpt__sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif /* DPT_EXPORT_ASYNC_H */
