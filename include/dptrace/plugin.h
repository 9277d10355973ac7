/* dptrace/plugin.h - the interfaces for extending dptrace: exporters, processors and
 * samplers written outside the library, and the exporter factory registry that lets
 * OTEL_TRACES_EXPORTER (or a configuration file) name them. Applications that only trace
 * need dptrace.h alone. The same conventions hold (see dptrace.h's preamble).
 *
 * A new exporter outside the library is one file: implement dpt_exporter_ops, wrap it with
 * dpt_exporter_new, and register a factory under a name (docs/ARCHITECTURE.md,
 * "Extending dptrace").
 */
#ifndef DPTRACE_PLUGIN_H
#define DPTRACE_PLUGIN_H

#include "../dptrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Exporters                                                                            */
/* ------------------------------------------------------------------------------------ */

/* An exporter sends batches of finished spans somewhere. The processor that drives it
 * calls export from one thread at a time. The array and the spans are the exporter's only
 * during the call (the array may be the batch queue's own memory): to keep a span, take a
 * reference (dpt_span_data_retain). export returns DPT_OK, or an error when the batch
 * was not delivered (the processor counts those spans as failed). force_flush, shutdown
 * and destroy may be NULL. destroy frees state; it is called once, after shutdown. */
typedef struct dpt_exporter_ops {
    dpt_err (*export_spans)(void *state, const dpt_span_data *const *spans, size_t n);
    dpt_err (*force_flush)(void *state, uint32_t timeout_ms);
    dpt_err (*shutdown)(void *state, uint32_t timeout_ms);
    void (*destroy)(void *state);
} dpt_exporter_ops;

/* Wraps ops + state into an exporter handle (the handle then owns state). NULL on ENOMEM
 * (state is then destroyed). */
DPT_EXTERN dpt_exporter *dpt_exporter_new(const dpt_exporter_ops *ops, void *state);
/* Declares that e's export_spans never blocks: it does no I/O that can wait and takes no
 * lock that is held across such I/O (it formats into memory, hands off to a queue of its
 * own, or discards), and returns within microseconds per span. A batch processor may then
 * call it on a producing thread: a thread whose spans back up because the export thread is
 * descheduled or has no core of its own (every core busy producing) exports its own
 * backlog instead of waiting for it - still one export at a time (docs/ARCHITECTURE.md,
 * "Producers that export"). Without it (the default; also every network and file
 * exporter, which can wait) export runs on the export thread only. Set it before handing
 * e to a processor. DPT_EINVAL for NULL e. */
DPT_EXTERN dpt_err dpt_exporter_set_nonblocking(dpt_exporter *e, bool nonblocking);
/* The state of an exporter made by dpt_exporter_new with ops whose export_spans is
 * export_fn; NULL for any other exporter (or NULL e). Lets an exporter's own functions
 * (stats, settings) find their state safely. Thread-safe. */
DPT_EXTERN void *dpt_exporter_state(const dpt_exporter *e,
                                    dpt_err (*export_fn)(void *, const dpt_span_data *const *,
                                                         size_t));
/* Call the exporter's ops directly, for processors written outside the library, tools and
 * tests. export is called from one thread at a time; force_flush and shutdown may be
 * called from another thread while an export runs (shutdown must then make it return
 * soon). A NULL op is a successful no-op; NULL e gives DPT_EINVAL. */
DPT_EXTERN dpt_err dpt_exporter_export(dpt_exporter *e, const dpt_span_data *const *spans,
                                       size_t n);
DPT_EXTERN dpt_err dpt_exporter_force_flush(dpt_exporter *e, uint32_t timeout_ms);
DPT_EXTERN dpt_err dpt_exporter_shutdown(dpt_exporter *e, uint32_t timeout_ms);

/* Exporter factories: the names OTEL_TRACES_EXPORTER (or a configuration file) can use.
 * "file", "console", "otlp/stdout", "memory" and "none" are built in and registered like
 * any other; libdptrace-http registers "otlp" and "zipkin" (dpt_http_register()). A
 * factory receives the exporter's settings from a configuration file (key/value strings,
 * read with dpt_exporter_settings_get), or NULL when it should read the environment, and
 * returns a new exporter or NULL after logging why. Names are case-insensitive; at most
 * 16; registering a name again replaces it (also a built-in). Thread-safe. */
typedef struct dpt_exporter_settings {
    const char *const *keys;
    const char *const *values;
    size_t n;
} dpt_exporter_settings;
typedef dpt_exporter *(*dpt_exporter_factory_fn)(const dpt_exporter_settings *settings);
/* The value of key in s, or NULL (also for NULL s). Thread-safe. */
DPT_EXTERN const char *dpt_exporter_settings_get(const dpt_exporter_settings *s, const char *key);
DPT_EXTERN dpt_err dpt_exporter_factory_register(const char *name, dpt_exporter_factory_fn fn);

/* ------------------------------------------------------------------------------------ */
/* Processors                                                                           */
/* ------------------------------------------------------------------------------------ */

/* A processor sees spans as they start and end. on_start runs on the starting thread,
 * on_end on the ending thread; both must be fast and thread-safe. on_end may keep the span
 * with dpt_span_data_retain. Every member except on_end may be NULL.
 * on_start_ctx is on_start with the span's parent context (OpenTelemetry's OnStart(span,
 * parentContext)): the explicit parent given to dpt_span_start, or the context that was
 * current (with its baggage and user values), or an empty one for a root span started with
 * opts.root. parent is lent for the call (dpt_context_retain it to keep a copy). When both
 * are set, only on_start_ctx is called.
 * on_ending (OpenTelemetry's OnEnding, development status in the specification) runs
 * inside dpt_span_end of a recording span, on the ending thread, after the end time is
 * set (d->end_ns: the callbacks' time is not in the span's duration) and before any
 * processor's on_end; the processors' on_ending run in the order they were added. `span`
 * is a handle valid for the call only with which the span can still be changed
 * (dpt_span_set_*, dpt_span_add_event, dpt_span_add_link, dpt_span_set_status,
 * dpt_span_update_name); every handle the application holds is already stale, so no other
 * thread can change the span any more. dpt_span_end on `span` does nothing (DPT_ESTATE):
 * the span ends when the callbacks return. */
typedef struct dpt_processor_ops {
    void (*on_start)(void *state, const dpt_span_data *d);
    void (*on_end)(void *state, const dpt_span_data *d);
    dpt_err (*force_flush)(void *state, uint32_t timeout_ms);
    dpt_err (*shutdown)(void *state, uint32_t timeout_ms);
    void (*destroy)(void *state);
    void (*on_start_ctx)(void *state, const dpt_span_data *d, const dpt_context *parent);
    void (*on_ending)(void *state, dpt_span span, const dpt_span_data *d);
} dpt_processor_ops;

DPT_EXTERN dpt_processor *dpt_processor_new(const dpt_processor_ops *ops, void *state);

/* ------------------------------------------------------------------------------------ */
/* Samplers                                                                             */
/* ------------------------------------------------------------------------------------ */

typedef enum dpt_decision {
    DPT_DROP = 0,        /* not recorded, not sampled */
    DPT_RECORD_ONLY = 1, /* recorded (processors see it), not sampled (not exported) */
    DPT_RECORD_AND_SAMPLE = 2
} dpt_decision;

/* What a sampler sees (OpenTelemetry's ShouldSample inputs). */
typedef struct dpt_sampling_params {
    const dpt_span_context *parent;          /* NULL or invalid: a root span */
    const dpt_tracestate *parent_tracestate; /* may be NULL */
    const dpt_trace_id *trace_id;            /* the trace id the span will have */
    const char *name;
    dpt_span_kind kind;
    const dpt_attr *attrs;
    size_t n_attrs;
    const dpt_link *links;
    size_t n_links;
    /* The full parent context (OpenTelemetry's ShouldSample "Context with parent Span"):
     * span context, tracestate, baggage and user values (dpt_context_get_value). Never
     * NULL when the SDK calls a sampler; lent for the call (dpt_context_retain to keep a
     * copy). May be NULL when a sampler is called directly with hand-made params. */
    const dpt_context *parent_context;
} dpt_sampling_params;

/* What a sampler decides. attrs (optional) must stay valid until the call returns; they
 * are copied into the span. tracestate: NULL keeps the parent's, unless tracestate_empty
 * is set (the span's tracestate is then empty); otherwise a new reference the span takes
 * over. */
typedef struct dpt_sampling_result {
    dpt_decision decision;
    const dpt_attr *attrs;
    size_t n_attrs;
    dpt_tracestate *tracestate;
    bool tracestate_empty;
} dpt_sampling_result;

typedef void (*dpt_sample_fn)(void *user, const dpt_sampling_params *in, dpt_sampling_result *out);

/* A user sampler. fn is called on the starting thread; free_user (may be NULL) is called
 * with user when the sampler is freed. description is copied. */
DPT_EXTERN dpt_sampler *dpt_sampler_custom(dpt_sample_fn fn, void *user, void (*free_user)(void *),
                                           const char *description);
/* Runs the sampler's decision directly (tests, custom composition). */
DPT_EXTERN void dpt_sampler_should_sample(const dpt_sampler *s, const dpt_sampling_params *in,
                                          dpt_sampling_result *out);

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_PLUGIN_H */
