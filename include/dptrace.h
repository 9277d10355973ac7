/* dptrace.h - distributed tracing for C services: the core API (libdptrace).
 *
 * This header is the API reference. Optional parts live in include/dptrace/:
 * propagation.h (W3C, B3, Jaeger, carriers), export.h (encoders, file exporter), http.h
 * (OTLP/HTTP and Zipkin transport, libdptrace-http), async.h (tasks, continuations),
 * uv.h (libuv), plugin.h (writing exporters, processors and samplers).
 *
 * Contents
 *   1. Errors and memory          6. Context                  11. Finished spans
 *   2. Types                      7. Trace state              12. Trace store
 *   3. Provider                   8. Baggage                  13. Diagnostics
 *   4. Tracers                    9. Samplers                 14. Redaction
 *   5. Spans (and scoped spans)  10. Processors and exporters  15. Resources
 *                                                              16. Trace context in logs
 *
 * Conventions (they hold for every public function of every dptrace header)
 *   - Names: dpt_<noun>_<verb> (dpt_span_end, dpt_context_attach); the noun is the type or
 *     module operated on. Reading a property is dpt_<noun>_<property> (dpt_tracer_name);
 *     "get" always looks something up by key, index or name (dpt_baggage_get,
 *     dpt_provider_get_tracer) or copies values out (dpt_provider_get_stats); the calling
 *     thread's current value is dpt_<noun>_current(). Macros and enum values are DPT_*.
 *     Private names are dpt__* and never part of the API.
 *   - Constructors are dpt_<noun>_new(...) or, for a built-in kind, dpt_<noun>_<kind>(...)
 *     (dpt_sampler_always_on, dpt_processor_batch, dpt_exporter_file). Every constructor
 *     returns the new object, or NULL after logging why through the diagnostic log; a
 *     NULL handle is accepted everywhere as a no-op object, so a failed construction
 *     degrades tracing, never the program.
 *   - Errors: functions that can fail return dpt_err (0 = DPT_OK, negative = error; see
 *     dpt_strerror and dpt_err_name). Values are never renumbered. Never crash on the
 *     caller: NULL handles, zero span handles and bad arguments give an error or nothing.
 *   - Lengths: every length parameter is size_t. Struct fields that hold lengths
 *     (dpt_attr, dpt_value, dpt_span_data) are uint32_t, which keeps an attribute at 32
 *     bytes. DPT_NUL as a length means "NUL-terminated, compute it".
 *   - Times are Unix nanoseconds (uint64_t); 0 means "now" wherever a time is optional.
 *   - Thread safety: every function is safe to call from any thread at any time, EXCEPT
 *     (a) the *_free functions (nothing else may use the object during or after the call),
 *     (b) context attach/detach and the current-span functions, which act on the calling
 *     thread's own context and are therefore safe but thread-local, and (c) what a
 *     declaration's comment says otherwise.
 *
 * Who owns what (the four ownership models)
 *   | model                | types                                    | you do                 |
 *   |----------------------|------------------------------------------|------------------------|
 *   | values               | dpt_span (handle), dpt_span_context,     | copy freely, nothing   |
 *   |                      | ids, dpt_attr/dpt_value (inputs), tokens | to free                |
 *   | owned objects        | dpt_provider, dpt_store, dpt_trace_snapshot, | *_free when done;   |
 *   |                      | dpt_sampler/processor/exporter (until    | handing one to another |
 *   |                      | handed over), dpt_propagator, encoders   | object transfers it    |
 *   | refcounted immutable | dpt_context, dpt_tracestate, dpt_baggage,| *_retain / *_release;  |
 *   |                      | dpt_span_data (finished spans), dpt_task | functions returning a  |
 *   |                      |                                          | "new reference" give   |
 *   |                      |                                          | you one to release     |
 *   | static / borrowed    | dpt_tracer (owned by its provider),      | nothing; valid while   |
 *   |                      | strings returned by readers, names       | the owner lives        |
 *   Strings and arrays passed in are always copied; the caller keeps its own. Memory
 *   dptrace allocates for the caller (JSON text) is released with dpt_free.
 */
#ifndef DPTRACE_H
#define DPTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DPTRACE_VERSION_MAJOR 0
#define DPTRACE_VERSION_MINOR 1
#define DPTRACE_VERSION_PATCH 0
#define DPTRACE_VERSION_STRING "0.1.0"

#if defined(__GNUC__) && !defined(DPT_STATIC_BUILD)
#define DPT_EXTERN __attribute__((visibility("default")))
#else
#define DPT_EXTERN
#endif

/* Length value meaning "the string is NUL-terminated, compute its length". */
#define DPT_NUL UINT32_MAX

/* Compound literals in the macros below: C99's (T){...}, C++'s T{...}. */
#ifdef __cplusplus
#define DPT__LIT(T) T
#else
#define DPT__LIT(T) (T)
#endif

/* ------------------------------------------------------------------------------------ */
/* 1. Errors and memory                                                                 */
/* ------------------------------------------------------------------------------------ */

typedef enum dpt_err {
    DPT_OK = 0,
    DPT_EINVAL = -1,        /* an argument is NULL, out of range or malformed */
    DPT_ENOMEM = -2,        /* an allocation failed */
    DPT_ESTATE = -3,        /* wrong state: span ended, provider shut down, ... */
    DPT_ETIMEDOUT = -4,     /* a deadline passed before the work was done */
    DPT_EFULL = -5,         /* a bounded queue or store is full; the item was dropped */
    DPT_EIO = -6,           /* a file or network operation failed */
    DPT_ENOTFOUND = -7,     /* no such trace, key or entry */
    DPT_ETOOBIG = -8,       /* the input exceeds a limit */
    DPT_EPARSE = -9,        /* input text does not follow its grammar */
    DPT_EUNSUPPORTED = -10, /* the feature is not built in or not available */
    DPT_EEXPORT = -11,      /* an exporter failed (retryable or not) */
    DPT_EBUSY = -12         /* the object is in use (e.g. a task entered on another thread) */
} dpt_err;

/* Static English text for an error code; never NULL. Thread-safe. */
DPT_EXTERN const char *dpt_strerror(dpt_err err);
/* The code's name ("DPT_EINVAL"); "DPT_E?" for an unknown value. Thread-safe. Error values
 * are never renumbered: a new error takes the next free negative number. */
DPT_EXTERN const char *dpt_err_name(dpt_err err);

/* Frees memory that dptrace allocated for the caller (JSON strings, ...). NULL is fine. */
DPT_EXTERN void dpt_free(void *ptr);

/* ------------------------------------------------------------------------------------ */
/* 2. Types: handles, ids, values, links, limits                                        */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_provider dpt_provider;
typedef struct dpt_tracer dpt_tracer;
typedef struct dpt_context dpt_context;
typedef struct dpt_sampler dpt_sampler;
typedef struct dpt_processor dpt_processor;
typedef struct dpt_exporter dpt_exporter;
struct dpt__span;
typedef struct dpt_tracestate dpt_tracestate; /* NULL is the empty tracestate */
typedef struct dpt_baggage dpt_baggage;       /* NULL is the empty baggage */
typedef struct dpt_span_data dpt_span_data;

/* A resource (section 15): the entity producing telemetry. */
typedef struct dpt_resource dpt_resource;

/* A span handle is a small value (two words), not a pointer to free. It stays safe to use
 * after the span ended: every operation on an ended or otherwise stale handle is a
 * no-op returning DPT_ESTATE. The zero handle DPT_SPAN_NONE is a valid no-op span. */
typedef struct dpt_span {
    struct dpt__span *rec;
    uint64_t gen;
} dpt_span;

/* A token identifying one attach of a context; detach takes it back. */
typedef uint64_t dpt_token;

#define DPT_SPAN_NONE (DPT__LIT(dpt_span){0, 0})

typedef enum dpt_span_kind {
    DPT_SPAN_INTERNAL = 1, /* numbering of OTLP's SpanKind */
    DPT_SPAN_SERVER = 2,
    DPT_SPAN_CLIENT = 3,
    DPT_SPAN_PRODUCER = 4,
    DPT_SPAN_CONSUMER = 5
} dpt_span_kind;

typedef enum dpt_status_code {
    DPT_STATUS_UNSET = 0,
    DPT_STATUS_OK = 1,
    DPT_STATUS_ERROR = 2
} dpt_status_code;

/* Lowercase names ("server", "unspecified" for other values) and "UNSET" / "OK" / "ERROR".
 * Static strings. Thread-safe. */
DPT_EXTERN const char *dpt_span_kind_name(dpt_span_kind kind);
DPT_EXTERN const char *dpt_status_code_name(dpt_status_code code);

/* Span limits (OpenTelemetry's names and defaults: 128, no value length limit). */
typedef struct dpt_span_limits {
    uint32_t attr_count;     /* attributes per span */
    uint32_t attr_value_len; /* max bytes of a string value (0 = unlimited); cut on a
                                UTF-8 character boundary */
    uint32_t event_count;    /* events per span */
    uint32_t link_count;     /* links per span */
    uint32_t attrs_per_event;
    uint32_t attrs_per_link;
    uint32_t max_span_bytes; /* bytes one span may hold for names, values, events and
                                links (0: 65536); beyond it additions are dropped and
                                counted, so queues and stores bound memory, not just
                                span counts. dptrace's own limit, DPTRACE_SPAN_MAX_BYTES */
} dpt_span_limits;

/* Fills l with the defaults (128 each, no value length limit, 64 KiB per span). */
DPT_EXTERN void dpt_span_limits_default(dpt_span_limits *l);

typedef struct dpt_trace_id {
    uint8_t b[16];
} dpt_trace_id;
typedef struct dpt_span_id {
    uint8_t b[8];
} dpt_span_id;

#define DPT_FLAG_SAMPLED 0x01u /* W3C trace-flags bit 0 */
#define DPT_FLAG_RANDOM 0x02u  /* W3C Level 2: the right-most 7 bytes of the trace id are random */
/* Not a W3C trace flag: dptrace's in-memory mark of a B3 debug decision ("d" in b3,
 * X-B3-Flags: 1) on an extracted span context. B3: "Debug implies an accept decision", so
 * DPT_FLAG_SAMPLED is set with it. The B3 propagators write it back (OpenTelemetry's B3
 * rules: "MUST preserve a debug trace flag, if received, and propagate it with subsequent
 * requests"), and a sampled span started from such a context carries it on, so that its own
 * requests say debug too. traceparent never carries it (unknown flags are sent as zero),
 * OTLP exports only the W3C bits, Zipkin JSON writes "debug": true. */
#define DPT_FLAG_B3_DEBUG 0x80u

/* The propagated identity of a span. A plain value: copy it freely. */
typedef struct dpt_span_context {
    dpt_trace_id trace_id;
    dpt_span_id span_id;
    uint8_t flags; /* DPT_FLAG_* */
    bool remote;   /* true when it was extracted from another process */
} dpt_span_context;

/* Validity per W3C: an id is valid when it is not all zero. Thread-safe, cannot fail. */
DPT_EXTERN bool dpt_trace_id_is_valid(const dpt_trace_id *id);
DPT_EXTERN bool dpt_span_id_is_valid(const dpt_span_id *id);
DPT_EXTERN bool dpt_span_context_is_valid(const dpt_span_context *sc);

/* Lowercase hex encoding; out receives 32 (trace) or 16 (span) characters plus a NUL.
 * Thread-safe, cannot fail (a NULL id encodes as zeros, a NULL out does nothing). */
DPT_EXTERN void dpt_trace_id_to_hex(const dpt_trace_id *id, char out[33]);
DPT_EXTERN void dpt_span_id_to_hex(const dpt_span_id *id, char out[17]);

/* Hex decoding of exactly 32 / 16 hex digits (upper or lower case accepted here;
 * propagators apply their own stricter rules). An all-zero id decodes but is invalid.
 * Returns DPT_EINVAL on wrong length or a non-hex digit. Thread-safe. */
DPT_EXTERN dpt_err dpt_trace_id_from_hex(const char *hex, size_t len, dpt_trace_id *out);
DPT_EXTERN dpt_err dpt_span_id_from_hex(const char *hex, size_t len, dpt_span_id *out);

/* New random ids from the calling thread's generator (seeded from getrandom(), re-seeded
 * in a child after fork()). Never all zero. Thread-safe, lock-free, cannot fail. */
DPT_EXTERN dpt_trace_id dpt_trace_id_generate(void);
DPT_EXTERN dpt_span_id dpt_span_id_generate(void);

typedef enum dpt_value_type {
    DPT_VAL_NONE = 0,
    DPT_VAL_STRING,
    DPT_VAL_BOOL,
    DPT_VAL_INT,
    DPT_VAL_DOUBLE,
    DPT_VAL_STRING_ARRAY,
    DPT_VAL_BOOL_ARRAY,
    DPT_VAL_INT_ARRAY,
    DPT_VAL_DOUBLE_ARRAY
} dpt_value_type;

/* A typed value. For STRING, len is the byte length (DPT_NUL: NUL-terminated on input;
 * stored values always carry the real length and are NUL-terminated too). For arrays, len
 * is the element count; string array elements are NUL-terminated on input. */
typedef struct dpt_value {
    uint32_t type; /* dpt_value_type */
    uint32_t len;
    union {
        const char *s;
        bool b;
        int64_t i;
        double d;
        const char *const *sa;
        const bool *ba;
        const int64_t *ia;
        const double *da;
    } u;
} dpt_value;

/* A key/value attribute. key_len may be DPT_NUL on input. */
typedef struct dpt_attr {
    const char *key;
    uint32_t key_len;
    dpt_value value;
} dpt_attr;

/* Compound-literal helpers: dpt_attr a[] = { DPT_STR("http.request.method", "GET"),
 * DPT_INT("http.response.status_code", 200) }; */
#define DPT_STR(k, v) (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_STRING, DPT_NUL, {.s = (v)}}})
#define DPT_STRN(k, v, n)                                                                          \
    (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_STRING, (uint32_t)(n), {.s = (v)}}})
#define DPT_INT(k, v) (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_INT, 0, {.i = (int64_t)(v)}}})
#define DPT_BOOL(k, v) (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_BOOL, 0, {.b = (v)}}})
#define DPT_DOUBLE(k, v) (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_DOUBLE, 0, {.d = (double)(v)}}})
#define DPT_STR_ARRAY(k, arr, n)                                                                   \
    (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_STRING_ARRAY, (uint32_t)(n), {.sa = (arr)}}})
#define DPT_INT_ARRAY(k, arr, n)                                                                   \
    (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_INT_ARRAY, (uint32_t)(n), {.ia = (arr)}}})
#define DPT_BOOL_ARRAY(k, arr, n)                                                                  \
    (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_BOOL_ARRAY, (uint32_t)(n), {.ba = (arr)}}})
#define DPT_DOUBLE_ARRAY(k, arr, n)                                                                \
    (DPT__LIT(dpt_attr){(k), DPT_NUL, {DPT_VAL_DOUBLE_ARRAY, (uint32_t)(n), {.da = (arr)}}})

typedef struct dpt_event {
    const char *name;
    uint32_t name_len;
    uint32_t n_attrs;
    uint64_t time_ns;
    const dpt_attr *attrs;
    uint32_t dropped_attrs;
} dpt_event;

/* A link, as given to dpt_span_start / dpt_span_add_link and as stored. On input,
 * tracestate may be NULL and dropped_attrs is ignored. */
typedef struct dpt_link {
    dpt_span_context ctx;
    const char *tracestate;
    uint32_t tracestate_len; /* DPT_NUL on input when NUL-terminated */
    const dpt_attr *attrs;
    uint32_t n_attrs;
    uint32_t dropped_attrs;
} dpt_link;

/* ------------------------------------------------------------------------------------ */
/* 3. Provider                                                                          */
/* ------------------------------------------------------------------------------------ */

/* An id generator (OpenTelemetry's IdGenerator): how a provider makes trace ids (for root
 * spans) and span ids. The default, random ids from a per-thread generator, is inline in
 * the span start; a custom generator costs one indirect call per id and nothing when it is
 * not used. Callbacks run on the starting thread, must be thread-safe and fast, and may not
 * call back into dptrace. An all-zero (invalid) id they return is replaced by a random one.
 * random_trace_ids tells whether the right-most 7 bytes of the trace ids are random, which
 * sets the W3C Level 2 "random" trace flag. */
typedef struct dpt_id_generator {
    void (*trace_id)(void *user, dpt_trace_id *out); /* NULL: random */
    void (*span_id)(void *user, dpt_span_id *out);   /* NULL: random */
    void *user;
    bool random_trace_ids;
} dpt_id_generator;

/* A generator of AWS X-Ray compatible trace ids: the first 4 bytes are the start time in
 * Unix seconds (big-endian), the other 12 random; span ids are random. Static: never freed,
 * any thread. */
DPT_EXTERN const dpt_id_generator *dpt_id_generator_xray(void);

typedef struct dpt_provider_config {
    const char *service_name;       /* NULL: "unknown_service:<program name>" */
    const dpt_attr *resource_attrs; /* extra resource attributes (copied) */
    size_t n_resource_attrs;
    dpt_sampler *sampler;             /* owned from now on; NULL: parentbased_always_on */
    const dpt_span_limits *limits;    /* NULL: defaults */
    dpt_processor *const *processors; /* owned from now on */
    size_t n_processors;
    bool shutdown_at_exit; /* flush and shut down from an atexit() handler */
    bool disabled;         /* every span is a no-op (OTEL_SDK_DISABLED) */
    /* A resource (detected, from a configuration file) that resource_attrs and
     * service_name update (they win for a key in both); its schema URL is the provider's.
     * Copied: the caller keeps it. NULL: none. */
    const dpt_resource *resource;
    /* Trace and span ids (copied; NULL: the built-in random generator). */
    const dpt_id_generator *id_generator;
} dpt_provider_config;

/* Creates a provider (cfg NULL: all defaults). Returns NULL after logging why (ENOMEM, or an
 * invalid cfg); every object handed over in cfg has then been freed. Thread-safe. */
DPT_EXTERN dpt_provider *dpt_provider_new(const dpt_provider_config *cfg);

/* Builds a provider from the OpenTelemetry environment: OTEL_SDK_DISABLED,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, DPTRACE_RESOURCE_DETECTORS (default: all
 * built-in detectors, ranking below OTEL_RESOURCE_ATTRIBUTES), OTEL_TRACES_SAMPLER(_ARG),
 * the span limit variables, OTEL_TRACES_EXPORTER with OTEL_BSP_* (see
 * docs/configuration.md). Invalid values are reported through the log and the default is
 * used. Shuts down at exit. Returns NULL only when memory is exhausted (and NULL is a valid
 * no-op provider).
 * OTEL_CONFIG_FILE: when libdptrace-config is linked (dptrace/config.h), the provider comes
 * from that file alone (dpt_provider_from_config_file: NULL, tracing off, when the file is
 * invalid); without it, the variable is reported and the environment is used. */
DPT_EXTERN dpt_provider *dpt_provider_from_env(void);

/* The same with the caller's sampler (taken over: it is the provider's, or freed when
 * NULL is returned) in place of OTEL_TRACES_SAMPLER's, or of a configuration file's;
 * NULL sampler: as dpt_provider_from_env(). For a process whose parts sample at different
 * rates but share every other setting, without changing the environment (setenv() is not
 * safe while other threads may call getenv()). */
DPT_EXTERN dpt_provider *dpt_provider_from_env_with_sampler(dpt_sampler *sampler);

/* Adds a processor (owned from now on). Safe while spans are running; at most 8. */
DPT_EXTERN dpt_err dpt_provider_add_processor(dpt_provider *p, dpt_processor *proc);

/* Exports everything ended before the call, within timeout_ms. Thread-safe, repeatable. */
DPT_EXTERN dpt_err dpt_provider_force_flush(dpt_provider *p, uint32_t timeout_ms);
/* Flushes, stops processors and exporters, within timeout_ms. After it, spans are
 * no-ops. Thread-safe; a second call returns DPT_ESTATE and does nothing. */
DPT_EXTERN dpt_err dpt_provider_shutdown(dpt_provider *p, uint32_t timeout_ms);
/* Shuts down (if not yet) and frees the provider, its tracers, sampler and processors.
 * No other thread may use the provider or its tracers during or after this call. */
DPT_EXTERN void dpt_provider_free(dpt_provider *p);

/* A process-wide provider slot for libraries: set it once in main(). Thread-safe. */
DPT_EXTERN void dpt_provider_set_global(dpt_provider *p);
DPT_EXTERN dpt_provider *dpt_provider_get_global(void);

/* One pipeline's counts (a batch processor and its exporter): every span it was given
 * ends in exactly one of these. */
typedef struct dpt_pipeline_stats {
    uint64_t spans_exported;
    uint64_t spans_export_failed;
    uint64_t spans_dropped_queue;
} dpt_pipeline_stats;

#define DPT_STATS_MAX_PIPELINES 8

/* Self-telemetry counters (monotonic). With one pipeline, spans_ended (of sampled spans)
 * == spans_exported + spans_export_failed + spans_dropped_queue once its queue is empty.
 * With several batch pipelines (OTEL_TRACES_EXPORTER=otlp,file) those three are the first
 * pipeline's, so that each span is counted once; every pipeline's own are in pipelines[],
 * in the order the processors were created. */
typedef struct dpt_stats {
    uint64_t spans_started;       /* every span start, recording or not */
    uint64_t spans_sampled;       /* started with the sampled flag */
    uint64_t spans_recording;     /* started recording (sampled or record-only) */
    uint64_t spans_ended;         /* recording spans ended */
    uint64_t spans_exported;      /* handed to an exporter that returned OK */
    uint64_t spans_export_failed; /* handed to an exporter that failed, or timed out */
    uint64_t spans_dropped_queue; /* dropped because a batch queue was full or shut down */
    uint64_t spans_dropped_store; /* evicted from or rejected by a trace store */
    uint64_t attrs_dropped;       /* attributes, events, links dropped by span limits */
    uint64_t events_dropped;
    uint64_t links_dropped;
    uint64_t spans_ended_by_task; /* spans closed by an async task's end */
    uint32_t n_pipelines;         /* batch pipelines that have seen a span */
    dpt_pipeline_stats pipelines[DPT_STATS_MAX_PIPELINES];
} dpt_stats;

/* Reads the counters (a consistent-enough sum of per-thread shards). Thread-safe. */
DPT_EXTERN void dpt_provider_get_stats(const dpt_provider *p, dpt_stats *out);

/* ------------------------------------------------------------------------------------ */
/* 4. Tracers                                                                           */
/* ------------------------------------------------------------------------------------ */

/* The tracer for an instrumentation scope (name, optional version). Tracers are cached and
 * owned by the provider: same name and version, same tracer. Thread-safe. NULL p gives
 * NULL (a no-op tracer). */
DPT_EXTERN dpt_tracer *dpt_provider_get_tracer(dpt_provider *p, const char *name,
                                               const char *version);

/* The rest of an instrumentation scope: the version, the schema URL of the conventions
 * the instrumentation follows, and the scope's attributes. Everything is copied. */
typedef struct dpt_tracer_opts {
    const char *version;    /* NULL: none */
    const char *schema_url; /* NULL: none */
    const dpt_attr *attrs;  /* scope attributes (invalid ones are left out) */
    size_t n_attrs;
} dpt_tracer_opts;

/* dpt_provider_get_tracer with the whole scope (opts NULL: name only). The same name,
 * version, schema URL and attributes (as a set) give the same tracer; the exporters write
 * the scope's schema URL and attributes (OTLP ScopeSpans.schema_url, scope.attributes).
 * Thread-safe. NULL for NULL p and on ENOMEM. */
DPT_EXTERN dpt_tracer *dpt_provider_get_tracer_opts(dpt_provider *p, const char *name,
                                                    const dpt_tracer_opts *opts);

/* The tracer's scope and the provider's resource. Valid while the provider lives. */
DPT_EXTERN const char *dpt_tracer_name(const dpt_tracer *t);
DPT_EXTERN const char *dpt_tracer_version(const dpt_tracer *t);    /* "" when none */
DPT_EXTERN const char *dpt_tracer_schema_url(const dpt_tracer *t); /* "" when none */
/* The scope's attributes (n receives their count; NULL t: none). */
DPT_EXTERN const dpt_attr *dpt_tracer_attrs(const dpt_tracer *t, size_t *n);
DPT_EXTERN dpt_provider *dpt_tracer_provider(const dpt_tracer *t);
DPT_EXTERN const dpt_attr *dpt_provider_resource(const dpt_provider *p, size_t *n);
/* The provider's resource (attributes and schema URL); valid while the provider lives. */
DPT_EXTERN const dpt_resource *dpt_provider_get_resource(const dpt_provider *p);

/* ------------------------------------------------------------------------------------ */
/* 5. Spans                                                                             */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_span_opts {
    const dpt_context *parent; /* explicit parent (e.g. extracted); NULL: the current one */
    dpt_span parent_span;      /* explicit local parent span (used when parent is NULL) */
    bool root;                 /* start a new trace, ignoring the current context */
    uint64_t start_ns;         /* explicit start time; 0: now */
    const dpt_attr *attrs;
    size_t n_attrs;
    const dpt_link *links;
    size_t n_links;
} dpt_span_opts;

/* Starts a span. The parent is opts->parent, else opts->parent_span, else the calling
 * thread's current span (none: a root span). The span is NOT made current (see
 * dpt_span_make_current / DPT_WITH_SPAN). Never fails: a NULL tracer, a disabled or shut
 * down provider, a dropped sample or an exhausted memory gives a non-recording span (or
 * DPT_SPAN_NONE). name NULL is taken as "". Thread-safe.
 *
 * Every operation on a span is safe for concurrent use (OpenTelemetry's rule): threads may
 * set attributes, add events and links, set the status, rename and end one span at the
 * same time; each call is applied whole or returns DPT_ESTATE once the span ended. The
 * thread that started a span works on it without locking; a span used by another thread
 * costs that thread one membarrier() the first time and a lock per operation after. */
DPT_EXTERN dpt_span dpt_span_start(dpt_tracer *t, const char *name, dpt_span_kind kind,
                                   const dpt_span_opts *opts);

/* Setters. Return DPT_OK, DPT_ESTATE (span ended/stale/non-recording: ignored), DPT_EINVAL
 * (bad key/value), or DPT_ETOOBIG (limit reached: dropped and counted). */
DPT_EXTERN dpt_err dpt_span_set_attr(dpt_span s, const dpt_attr *a);
DPT_EXTERN dpt_err dpt_span_set_attrs(dpt_span s, const dpt_attr *a, size_t n);
DPT_EXTERN dpt_err dpt_span_set_str(dpt_span s, const char *key, const char *value);
DPT_EXTERN dpt_err dpt_span_set_strn(dpt_span s, const char *key, size_t key_len, const char *value,
                                     size_t value_len);
DPT_EXTERN dpt_err dpt_span_set_int(dpt_span s, const char *key, int64_t value);
DPT_EXTERN dpt_err dpt_span_set_double(dpt_span s, const char *key, double value);
DPT_EXTERN dpt_err dpt_span_set_bool(dpt_span s, const char *key, bool value);
/* Adds an event at time_ns (0: now). */
DPT_EXTERN dpt_err dpt_span_add_event(dpt_span s, const char *name, const dpt_attr *attrs,
                                      size_t n);
DPT_EXTERN dpt_err dpt_span_add_event_at(dpt_span s, const char *name, uint64_t time_ns,
                                         const dpt_attr *attrs, size_t n);
DPT_EXTERN dpt_err dpt_span_add_link(dpt_span s, const dpt_link *link);
/* Status: OK is final; ERROR may be replaced by OK; UNSET is ignored. The message is kept
 * only with ERROR. */
DPT_EXTERN dpt_err dpt_span_set_status(dpt_span s, dpt_status_code code, const char *msg);
/* Records an "exception" event (exception.type, exception.message) and sets the status
 * to ERROR with message. type may be NULL. */
DPT_EXTERN dpt_err dpt_span_record_error(dpt_span s, const char *type, const char *message);
DPT_EXTERN dpt_err dpt_span_update_name(dpt_span s, const char *name);

/* The same with extra event attributes (OpenTelemetry's RecordException "additional
 * attributes"), e.g. exception.stacktrace or a retry count; an attribute named like one the
 * call generates (exception.type, exception.message) takes precedence over it. attrs are
 * copied; at most the event attribute limit is kept. */
DPT_EXTERN dpt_err dpt_span_record_error_attrs(dpt_span s, const char *type, const char *message,
                                               const dpt_attr *attrs, size_t n);
DPT_EXTERN dpt_err dpt_span_update_name(dpt_span s, const char *name);

/* Ends the span now / at end_ns (0: now; clamped to be >= start). Idempotent: a second end
 * returns DPT_ESTATE and changes nothing. */
DPT_EXTERN dpt_err dpt_span_end(dpt_span s);
DPT_EXTERN dpt_err dpt_span_end_at(dpt_span s, uint64_t end_ns);

/* Whether the handle is a live recording span. */
DPT_EXTERN bool dpt_span_is_recording(dpt_span s);
/* The span's context (all zero for a stale or none handle). */
DPT_EXTERN dpt_span_context dpt_span_get_context(dpt_span s);

/* Scoped spans. DPT_WITH_SPAN(t, name, kind) { ... } starts a span (child of the current
 * one), makes it current for the block and ends it on every way out of the block: end of
 * block, break, continue, return and goto. Inside, dpt_span_current() is the span. A break
 * leaves the DPT_WITH_SPAN block itself, not an enclosing loop. Needs GCC or Clang. */
typedef struct dpt_scope {
    dpt_span span;
    dpt_token token;
    int once;
} dpt_scope;

DPT_EXTERN dpt_scope dpt_scope_begin(dpt_tracer *t, const char *name, dpt_span_kind kind);
DPT_EXTERN void dpt_scope_end(dpt_scope *sc);

#define DPT__CAT2(a, b) a##b
#define DPT__CAT(a, b) DPT__CAT2(a, b)
#define DPT_WITH_SPAN(t, name, kind)                                                               \
    for (dpt_scope DPT__CAT(dpt__scope_, __LINE__)                                                 \
             __attribute__((cleanup(dpt_scope_end))) = dpt_scope_begin((t), (name), (kind));       \
         DPT__CAT(dpt__scope_, __LINE__).once; DPT__CAT(dpt__scope_, __LINE__).once = 0)

/* DPT_SCOPED_SPAN(var, t, name, kind); declares `dpt_span var`, current until the end of
 * the enclosing C scope, ended there on every exit path. */
#define DPT_SCOPED_SPAN(var, t, name, kind)                                                        \
    dpt_scope DPT__CAT(dpt__scope_, var) __attribute__((cleanup(dpt_scope_end))) =                 \
        dpt_scope_begin((t), (name), (kind));                                                      \
    dpt_span var = DPT__CAT(dpt__scope_, var).span

/* ------------------------------------------------------------------------------------ */
/* 6. Context: the current span and baggage, and values to carry across threads         */
/* ------------------------------------------------------------------------------------ */

/* A dpt_context is an immutable, refcounted value: a span context, its tracestate, the
 * baggage and (for a local span) the span handle. Capture it on one thread, attach it on
 * another. */

/* A new context with a remote or explicit span context (NULL sc: no span), tracestate and
 * baggage (each may be NULL; references are taken). NULL on ENOMEM. Thread-safe. */
DPT_EXTERN dpt_context *dpt_context_new(const dpt_span_context *sc, const dpt_tracestate *ts,
                                        const dpt_baggage *bg);
/* A copy of c (NULL: empty) with the baggage replaced / with span s as its span. */
DPT_EXTERN dpt_context *dpt_context_with_baggage(const dpt_context *c, const dpt_baggage *bg);
DPT_EXTERN dpt_context *dpt_context_with_span(const dpt_context *c, dpt_span s);
/* Reference counting. retain returns a context to release later: c itself, or, for a
 * context only lent for the duration of a call (a sampler's or processor's parent
 * context), a copy. Thread-safe. */
DPT_EXTERN dpt_context *dpt_context_retain(const dpt_context *c);
DPT_EXTERN void dpt_context_release(const dpt_context *c);
/* Readers; NULL c reads as empty. Returned pointers are valid while c is held. */
DPT_EXTERN dpt_span_context dpt_context_span_context(const dpt_context *c);
DPT_EXTERN dpt_span dpt_context_span(const dpt_context *c);
DPT_EXTERN const dpt_tracestate *dpt_context_tracestate(const dpt_context *c);
DPT_EXTERN const dpt_baggage *dpt_context_baggage(const dpt_context *c);

/* The calling thread's current context, as a new reference (capture it to carry it to
 * another thread or callback). Never NULL unless memory is exhausted. */
DPT_EXTERN dpt_context *dpt_context_current(void);

/* User values in a context (OpenTelemetry's Context keys): a library makes a key once and
 * puts its own value into contexts; the value travels with the context to wherever it is
 * attached (another thread, an async task, a continuation) and with every span made
 * current on top of it, and is read back with the key. Values are compared by key address,
 * never by name. */
typedef struct dpt_context_key dpt_context_key;

/* A new key. name (copied, cut at 47 bytes) is for debugging only: two keys of the same
 * name are different keys. free_value (may be NULL) is called with a value when no context
 * holds it any more, on the thread releasing the last such context. Keys are never freed;
 * make them once (at most 128 per process). Returns NULL after logging when the table is
 * full. Thread-safe. */
DPT_EXTERN dpt_context_key *dpt_context_key_new(const char *name, void (*free_value)(void *value));
DPT_EXTERN const char *dpt_context_key_name(const dpt_context_key *key);
/* A new context equal to c (NULL: empty) with key set to value; c is not changed. The new
 * context owns value (free_value runs when the last context holding it goes, also on
 * failure). A context holds at most 256 values (set the same key again in a loop and the
 * old values stay alive until the context goes: derive from the original, not the copy).
 * NULL on ENOMEM, NULL key, or too many values. Thread-safe. */
DPT_EXTERN dpt_context *dpt_context_with_value(const dpt_context *c, const dpt_context_key *key,
                                               void *value);
/* The value of key in c (the most recent set), or NULL. Valid while c is held. */
DPT_EXTERN void *dpt_context_get_value(const dpt_context *c, const dpt_context_key *key);
/* The value of key in the calling thread's (or entered task's) current context, or NULL.
 * Valid until the next detach on this thread. */
DPT_EXTERN void *dpt_context_value_current(const dpt_context_key *key);

/* Makes c current on the calling thread (a reference is taken). Returns a token, 0 when
 * the thread's context stack is full (depth 256) or c is NULL-and-invalid. */
DPT_EXTERN dpt_token dpt_context_attach(const dpt_context *c);
/* Restores what was current before the attach that returned tok. Detaching out of order
 * is reported (log + DPT_ESTATE) and repaired: everything attached after tok is popped
 * too. An unknown token returns DPT_EINVAL and changes nothing. */
DPT_EXTERN dpt_err dpt_context_detach(dpt_token tok);

/* Makes span s current on this thread (it is not ended by detach). */
DPT_EXTERN dpt_token dpt_span_make_current(dpt_span s);
/* The thread's current span (DPT_SPAN_NONE when none or when it is remote). */
DPT_EXTERN dpt_span dpt_span_current(void);
/* The thread's current span context (zero when none) and baggage (NULL when none; valid
 * until the next detach on this thread). */
DPT_EXTERN dpt_span_context dpt_span_context_current(void);
DPT_EXTERN const dpt_baggage *dpt_baggage_current(void);

/* ------------------------------------------------------------------------------------ */
/* 7. Trace state (W3C tracestate): an immutable, refcounted, validated list            */
/* ------------------------------------------------------------------------------------ */

#define DPT_TRACESTATE_MAX_MEMBERS 32
#define DPT_TRACESTATE_MAX_LEN 512 /* we never keep or send more than this many bytes */

/* Parses a tracestate header value (the list members, comma separated, optional
 * whitespace; empty members skipped). A member outside the W3C grammar (key = ( lcalpha /
 * DIGIT ) 0*255 ( keychar ), '@' a keychar) or more than 32 distinct keys makes the whole
 * value invalid (DPT_EPARSE) and *out is NULL; input longer than 64 KiB gives DPT_ETOOBIG.
 * A repeated key is not an error ("Vendors MAY also discard duplicate keys"): the value of
 * its first occurrence is kept, at the position of its last one (as OpenTelemetry JS does).
 * A valid list longer than DPT_TRACESTATE_MAX_LEN bytes is kept truncated by the W3C rule:
 * members longer than 128 bytes are dropped first, from the end, then members from the
 * end. An empty value gives DPT_OK and *out NULL (NULL is the empty tracestate
 * everywhere). Thread-safe. */
DPT_EXTERN dpt_err dpt_tracestate_parse(const char *s, size_t len, dpt_tracestate **out);

/* The serialized form (no surrounding whitespace); "" for NULL. Valid while ts is held. */
DPT_EXTERN const char *dpt_tracestate_str(const dpt_tracestate *ts, size_t *len);

/* Copies the value of key into buf (NUL-terminated). DPT_ENOTFOUND when absent,
 * DPT_ETOOBIG when buf is too small. Thread-safe. */
DPT_EXTERN dpt_err dpt_tracestate_get(const dpt_tracestate *ts, const char *key, char *buf,
                                      size_t cap);

/* A new tracestate with key=value at the front (an existing entry for key is removed; the
 * right-most member is dropped if the list would exceed 32 members or the length limit).
 * value NULL removes the key. *out may be NULL (empty) on success. Thread-safe. */
DPT_EXTERN dpt_err dpt_tracestate_set(const dpt_tracestate *ts, const char *key, const char *value,
                                      dpt_tracestate **out);

/* Reference counting. retain returns its argument. Thread-safe. */
DPT_EXTERN dpt_tracestate *dpt_tracestate_retain(const dpt_tracestate *ts);
DPT_EXTERN void dpt_tracestate_release(const dpt_tracestate *ts);

/* ------------------------------------------------------------------------------------ */
/* 8. Baggage: an immutable, refcounted set of key/value entries (W3C Baggage)          */
/* ------------------------------------------------------------------------------------ */

#define DPT_BAGGAGE_MAX_ENTRIES 180 /* in-memory bound; propagation applies W3C's limits */
#define DPT_BAGGAGE_MAX_BYTES 16384 /* in-memory bound on keys + values + metadata */

/* A new baggage equal to b with key set to value (metadata: the W3C properties string,
 * may be NULL). An existing entry for key is replaced. Key must be non-empty.
 * DPT_ETOOBIG past the in-memory bounds. Thread-safe; b is not changed. */
DPT_EXTERN dpt_err dpt_baggage_set(const dpt_baggage *b, const char *key, const char *value,
                                   const char *metadata, dpt_baggage **out);
/* A new baggage without key (DPT_ENOTFOUND, *out = retained b, when absent). */
DPT_EXTERN dpt_err dpt_baggage_remove(const dpt_baggage *b, const char *key, dpt_baggage **out);
/* The value of key, or NULL. Valid while b is held. Thread-safe. */
DPT_EXTERN const char *dpt_baggage_get(const dpt_baggage *b, const char *key);
DPT_EXTERN size_t dpt_baggage_count(const dpt_baggage *b);
/* Entry i in insertion order; metadata may come back NULL. DPT_ENOTFOUND past the end. */
DPT_EXTERN dpt_err dpt_baggage_entry(const dpt_baggage *b, size_t i, const char **key,
                                     const char **value, const char **metadata);
DPT_EXTERN dpt_baggage *dpt_baggage_retain(const dpt_baggage *b);
DPT_EXTERN void dpt_baggage_release(const dpt_baggage *b);

/* Baggage with lengths: a value (percent-decoded from a header, say) may hold NUL bytes,
 * which the NUL-terminated functions above would cut. Stored strings are NUL-terminated
 * as well, so dpt_baggage_get still works for values without NUL. Lengths given as DPT_NUL
 * mean NUL-terminated. Same rules as dpt_baggage_set otherwise: redaction applies to the
 * value and to the values of sensitive properties in metadata. Thread-safe. */
DPT_EXTERN dpt_err dpt_baggage_set_n(const dpt_baggage *b, const char *key, size_t key_len,
                                     const char *value, size_t value_len, const char *metadata,
                                     size_t metadata_len, dpt_baggage **out);
/* The value of key and its length in *value_len (optional), or NULL. */
DPT_EXTERN const char *dpt_baggage_get_n(const dpt_baggage *b, const char *key, size_t key_len,
                                         size_t *value_len);
typedef struct dpt_baggage_item {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    const char *metadata; /* NULL when none */
    size_t metadata_len;
} dpt_baggage_item;
/* Entry i in insertion order, with lengths. DPT_ENOTFOUND past the end, DPT_EINVAL for a
 * NULL out. The strings are valid while b is held. */
DPT_EXTERN dpt_err dpt_baggage_entry_n(const dpt_baggage *b, size_t i, dpt_baggage_item *out);

/* ------------------------------------------------------------------------------------ */
/* 9. Samplers (custom samplers: dptrace/plugin.h)                                      */
/* ------------------------------------------------------------------------------------ */

/* Constructors. Each returns NULL on ENOMEM or a bad argument. Samplers are owned by what
 * they are given to (a provider or a parent-based sampler); free unused ones. */
DPT_EXTERN dpt_sampler *dpt_sampler_always_on(void);
DPT_EXTERN dpt_sampler *dpt_sampler_always_off(void);
/* OpenTelemetry's TraceIdRatioBased: samples when the trace id's last 8 bytes, as an
 * unsigned number, are below ratio * 2^64. ratio in [0, 1]. */
DPT_EXTERN dpt_sampler *dpt_sampler_traceid_ratio(double ratio);
/* OpenTelemetry's consistent probability sampler: R = the trace id's right-most 56 bits
 * (or ot=rv:<14 hex> from the parent tracestate), T = round((1 - p) * 2^56), sample when
 * R >= T, and record ot=th:<T> in the span's tracestate. probability in [0, 1]. */
DPT_EXTERN dpt_sampler *dpt_sampler_probability(double probability);
/* Parent-based: root decides for root spans; the four others for remote/local,
 * sampled/unsampled parents (NULL: always_on, always_off, always_on, always_off). */
DPT_EXTERN dpt_sampler *dpt_sampler_parent_based(dpt_sampler *root, dpt_sampler *remote_sampled,
                                                 dpt_sampler *remote_not_sampled,
                                                 dpt_sampler *local_sampled,
                                                 dpt_sampler *local_not_sampled);
/* OpenTelemetry's AlwaysRecord: the decision of root, except that DROP becomes RECORD_ONLY,
 * so processors see every span while exporters still get only the sampled ones. Takes
 * ownership of root (freed also on failure). */
DPT_EXTERN dpt_sampler *dpt_sampler_always_record(dpt_sampler *root);
/* OpenTelemetry's CompositeSampler (trace/sdk.md, development status): a tree of
 * composable samplers states an intent - a rejection threshold (or none: drop) and whether
 * it is reliable for span-to-metrics estimation - and the composite decides from it
 * consistently: sample when the randomness R (the trace id's right-most 56 bits, or
 * ot=rv: from the parent's tracestate; a fresh random value when the intent is not
 * reliable) is >= the threshold, and record ot=th:<threshold> in the span's tracestate
 * when sampled with a reliable threshold (removed otherwise). Every constructor takes
 * ownership of the composables it is given (freed also on failure) and returns NULL on
 * ENOMEM or a bad argument; free an unused composable with dpt_composable_free. */
typedef struct dpt_composable dpt_composable;
DPT_EXTERN dpt_sampler *dpt_sampler_composite(dpt_composable *root);
/* Threshold 0 (every span), reliable. */
DPT_EXTERN dpt_composable *dpt_composable_always_on(void);
/* No threshold (no span). */
DPT_EXTERN dpt_composable *dpt_composable_always_off(void);
/* Threshold round((1 - ratio) * 2^56), reliable; ratio in [2^-56, 1], or 0 (always off). */
DPT_EXTERN dpt_composable *dpt_composable_probability(double ratio);
/* Root spans: root's intent. Spans with a parent: the parent's threshold (ot=th: in its
 * tracestate) as reliable; without one, threshold 0 when the parent is sampled and none
 * when not, not reliable. */
DPT_EXTERN dpt_composable *dpt_composable_parent_threshold(dpt_composable *root);
/* The intent of the first rule whose predicate is true for the span (its parameters, as a
 * sampler gets them: dptrace/plugin.h); none: drop. */
struct dpt_sampling_params;
typedef bool (*dpt_sampling_predicate)(void *user, const struct dpt_sampling_params *in);
typedef struct dpt_composable_rule {
    dpt_sampling_predicate predicate;
    void *user;
    dpt_composable *sampler;
} dpt_composable_rule;
DPT_EXTERN dpt_composable *dpt_composable_rule_based(const dpt_composable_rule *rules, size_t n);
/* delegate's intent, with attrs (copied) added to the spans it samples. */
DPT_EXTERN dpt_composable *dpt_composable_annotating(dpt_composable *delegate,
                                                     const dpt_attr *attrs, size_t n);
DPT_EXTERN void dpt_composable_free(dpt_composable *c);

/* Rate-limiting sampler: at most per_second root decisions to sample (token bucket). */
DPT_EXTERN dpt_sampler *dpt_sampler_rate_limiting(double per_second);
DPT_EXTERN void dpt_sampler_free(dpt_sampler *s);
/* Human-readable description, e.g. "ParentBased{root=AlwaysOn,...}". Valid while s lives. */
DPT_EXTERN const char *dpt_sampler_description(const dpt_sampler *s);
/* ------------------------------------------------------------------------------------ */
/* 10. Processors and exporters (writing your own: dptrace/plugin.h)                    */
/* ------------------------------------------------------------------------------------ */

/* Processors are owned by the provider they are given to, exporters by their processor.
 * These destroy one that was never handed over (NULL is fine). Not thread-safe for the
 * object itself: nothing else may use it during or after the call. */
DPT_EXTERN void dpt_processor_free(dpt_processor *p);
DPT_EXTERN void dpt_exporter_free(dpt_exporter *e);

/* Simple processor: exports each sampled span on the ending thread, serialised by a mutex.
 * For tests and debugging; use the batch processor in production. Takes ownership of e.
 * NULL on ENOMEM or NULL e. */
DPT_EXTERN dpt_processor *dpt_processor_simple(dpt_exporter *e);

/* Batch processor settings (OpenTelemetry's defaults; OTEL_BSP_* when from the env).
 *
 * max_queue_bytes is dptrace's own: with it (the default, 32 MiB) a full queue does not drop
 * at once. Each producing thread hands its spans over through its own ring of up to
 * max_queue_size records; when the export thread falls behind (descheduled, a slow
 * exporter) the spans beyond the ring are kept in compact form within max_queue_bytes for
 * all threads together (and within about a second of what the exporter sends), and only
 * spans beyond that are dropped (and counted). Set it to 0 for OpenTelemetry's rule: at
 * most max_queue_size spans wait, the rest are dropped. */
#define DPT_BATCH_DEFAULT_QUEUE_BYTES (32u << 20)
typedef struct dpt_batch_config {
    uint32_t max_queue_size;        /* 2048; at most 2^24 (more is logged and capped) */
    uint32_t max_export_batch_size; /* 512 (clamped to max_queue_size) */
    uint32_t schedule_delay_ms;     /* 5000 */
    uint32_t export_timeout_ms;     /* 30000 */
    uint64_t max_queue_bytes;       /* DPT_BATCH_DEFAULT_QUEUE_BYTES; 0: span count only */
} dpt_batch_config;

DPT_EXTERN void dpt_batch_config_default(dpt_batch_config *c);

/* Batch processor: ending a span hands it to a per-thread lock-free queue (never blocks;
 * spans beyond the queue's bounds, see dpt_batch_config, are dropped and counted); one
 * background thread exports batches when max_export_batch_size spans are waiting or
 * schedule_delay_ms passed. With an exporter declared non-blocking
 * (dpt_exporter_set_nonblocking, dptrace/plugin.h), a thread whose spans back up because
 * the export thread is not keeping up exports them itself, one export at a time. Takes
 * ownership of e. cfg NULL means defaults. NULL on ENOMEM or when the thread cannot
 * start. */
DPT_EXTERN dpt_processor *dpt_processor_batch(dpt_exporter *e, const dpt_batch_config *cfg);

/* Multi processor: fans every call out to each of procs, in order (takes ownership). */
DPT_EXTERN dpt_processor *dpt_processor_multi(dpt_processor *const *procs, size_t n);

/* Console exporter: one readable block per span to out (stdout when NULL). Not owned. */
DPT_EXTERN dpt_exporter *dpt_exporter_console(FILE *out);

/* In-memory exporter for tests: keeps up to max_spans exported spans (retained
 * references), dropping and counting beyond. Read with dpt_exporter_memory_* below. */
DPT_EXTERN dpt_exporter *dpt_exporter_memory(size_t max_spans);
/* Number of spans kept; and span i (a new reference: release it). Thread-safe. */
DPT_EXTERN size_t dpt_exporter_memory_count(dpt_exporter *e);
DPT_EXTERN const dpt_span_data *dpt_exporter_memory_get(dpt_exporter *e, size_t i);
DPT_EXTERN void dpt_exporter_memory_clear(dpt_exporter *e);
/* When set, every export call fails with DPT_EEXPORT (for fault tests). */
DPT_EXTERN void dpt_exporter_memory_set_failing(dpt_exporter *e, bool failing);

/* ------------------------------------------------------------------------------------ */
/* 11. Finished spans: what processors, exporters and the trace store read              */
/* ------------------------------------------------------------------------------------ */

/* The read-only view of a recorded span. Processors see it in on_end; it is immutable
 * from then on and lives while a reference is held (dpt_span_data_retain). All strings are
 * NUL-terminated and also carry their length. Do not write to it. */
typedef struct dpt_span_data {
    dpt_span_context ctx;
    dpt_span_id parent_span_id; /* all zero for a root span */
    bool parent_remote;
    uint8_t kind;   /* dpt_span_kind */
    uint8_t status; /* dpt_status_code */
    const char *name;
    uint32_t name_len;
    uint32_t status_msg_len;
    const char *status_msg; /* "" unless status is ERROR with a message */
    uint64_t start_ns;
    uint64_t end_ns;
    const char *tracestate; /* "" when empty */
    uint32_t tracestate_len;
    uint32_t n_attrs;
    const dpt_attr *attrs;
    uint32_t dropped_attrs;
    uint32_t n_events;
    const dpt_event *events;
    uint32_t dropped_events;
    uint32_t n_links;
    const dpt_link *links;
    uint32_t dropped_links;
    uint32_t ended_by_task;   /* 1 when an async task's end closed this span */
    const dpt_tracer *tracer; /* instrumentation scope; resource via its provider */
} dpt_span_data;

/* Reference counting of finished spans, for processors that keep them past on_end.
 * Thread-safe. */
DPT_EXTERN void dpt_span_data_retain(const dpt_span_data *d);
DPT_EXTERN void dpt_span_data_release(const dpt_span_data *d);

/* ------------------------------------------------------------------------------------ */
/* 12. Trace store: bounded in-memory store of whole traces                             */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_store dpt_store;
typedef struct dpt_trace_snapshot dpt_trace_snapshot;

typedef struct dpt_store_config {
    size_t max_spans; /* default 10000 */
    size_t max_bytes; /* default 16 MiB: approximate bytes of span records kept */
} dpt_store_config;

typedef struct dpt_store_stats {
    uint64_t spans;          /* spans held now */
    uint64_t bytes;          /* bytes held now */
    uint64_t traces;         /* traces held now */
    uint64_t evicted_traces; /* whole traces evicted to make room, so far */
    uint64_t evicted_spans;
    uint64_t rejected_spans; /* spans larger than the whole byte bound */
} dpt_store_stats;

/* A thread-safe store that keeps finished spans grouped by trace and, when a bound is
 * reached, evicts the oldest whole traces first. The store is refcounted: the caller's
 * reference is released by dpt_store_free; dpt_processor_store() takes another for the
 * processor it returns. cfg NULL means defaults. */
DPT_EXTERN dpt_store *dpt_store_new(const dpt_store_config *cfg);
DPT_EXTERN void dpt_store_free(dpt_store *st);
/* A processor feeding the store (give it to a provider). */
DPT_EXTERN dpt_processor *dpt_processor_store(dpt_store *st);
DPT_EXTERN void dpt_store_get_stats(dpt_store *st, dpt_store_stats *out);

/* A snapshot of one trace: the spans stored for it, in end order. It holds references, so
 * it stays valid and unchanged while other threads end spans or evict the trace.
 * DPT_ENOTFOUND when the store has no span of that trace. */
DPT_EXTERN dpt_err dpt_store_get_trace(dpt_store *st, const dpt_trace_id *id,
                                       dpt_trace_snapshot **out);
DPT_EXTERN size_t dpt_trace_snapshot_count(const dpt_trace_snapshot *snap);
DPT_EXTERN const dpt_span_data *dpt_trace_snapshot_span(const dpt_trace_snapshot *snap, size_t i);
DPT_EXTERN void dpt_trace_snapshot_free(dpt_trace_snapshot *snap);

/* JSON of one trace: {"trace_id":"..","spans":[{"name":..,"trace_id":..,"span_id":..,
 * "parent_span_id":..,"kind":"server",...,"start_time":"RFC 3339 with ns",...}]}.
 * *out is malloc'd (free with dpt_free). */
DPT_EXTERN dpt_err dpt_trace_snapshot_to_json(const dpt_trace_snapshot *snap, char **out,
                                              size_t *len);
/* get_trace + to_json in one call. */
DPT_EXTERN dpt_err dpt_store_get_trace_json(dpt_store *st, const dpt_trace_id *id, char **out,
                                            size_t *len);
/* Exports one stored trace through an exporter (e.g. to a file or a collector). */
DPT_EXTERN dpt_err dpt_store_export_trace(dpt_store *st, const dpt_trace_id *id, dpt_exporter *e);

/* ------------------------------------------------------------------------------------ */
/* 13. Diagnostics                                                                      */
/* ------------------------------------------------------------------------------------ */

typedef enum dpt_log_level {
    DPT_LOG_DEBUG = 0,
    DPT_LOG_INFO = 1,
    DPT_LOG_WARN = 2,
    DPT_LOG_ERROR = 3,
    DPT_LOG_OFF = 4
} dpt_log_level;

/* A log handler receives one complete message (no trailing newline). It may be called
 * from any thread, including the export thread, and must not call back into dptrace. */
typedef void (*dpt_log_fn)(dpt_log_level level, const char *msg, void *user);

/* Installs the diagnostic log handler and the lowest level delivered. fn == NULL restores
 * the default (messages at or above min_level written to stderr as "dptrace: ...").
 * The default minimum level is WARN, or DPTRACE_LOG_LEVEL (debug|info|warn|error|off).
 * Thread-safe; messages already being delivered may still reach the old handler. */
DPT_EXTERN void dpt_log_set_handler(dpt_log_fn fn, void *user, dpt_log_level min_level);

/* ------------------------------------------------------------------------------------ */
/* 14. Redaction of sensitive values                                                    */
/* ------------------------------------------------------------------------------------ */

/* Before an attribute value (of a span, an event or a link) or a baggage value (and the
 * value of a baggage property) is stored, its key is matched against sensitive patterns; on
 * a match the value is replaced by the marker, so it never reaches a processor, the trace
 * store, an exporter or a file. Patterns match anywhere in the key, case-insensitively,
 * ignoring '.', '_', '-' and ' ' ("api_key" matches "http.request.header.x-api-key"); keys
 * with non-ASCII letters are matched again after folding look-alikes (fullwidth, Cyrillic
 * "а", ...) to ASCII. The default list: password, passwd, pwd, passphrase, secret, token,
 * apikey, authorization, bearer, jwt, cookie (and set-cookie), session, credential,
 * creditcard, cardnumber, privatekey, signature, connectionstring, and the whole words auth
 * (x-auth-token, basicAuth; not author) and dsn. url.full (and http.url) and url.query are
 * rewritten instead, as the semantic conventions ask: credentials become REDACTED
 * (https://REDACTED:REDACTED@host/), and so do the values of sensitive query parameters
 * (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, AWSAccessKeyId, Signature, sig,
 * X-Goog-Signature, and names matching a pattern). DPTRACE_REDACT_KEYS adds comma-separated
 * patterns; DPTRACE_REDACT=off drops the defaults (the URL rule too); DPTRACE_REDACT_URL=off
 * drops only the URL rule; DPTRACE_REDACT_URL_PARAMS replaces the parameter list. The
 * policy is process-wide. docs/security.md has the details. */
#define DPT_REDACTED "[REDACTED]"

typedef enum dpt_redact_action {
    DPT_REDACT_KEEP = 0,    /* store the value as it is */
    DPT_REDACT_REPLACE = 1, /* store the marker instead */
    DPT_REDACT_REWRITE = 2  /* store buf[0..*out_len) instead (a string) */
} dpt_redact_action;

/* A custom rule, called for every attribute and baggage value that no pattern matched (on
 * the thread that sets it; keep it fast). For example, strip the query string of url.full:
 * write the rewritten value to buf (cap bytes) and return DPT_REDACT_REWRITE. */
typedef dpt_redact_action (*dpt_redact_fn)(void *user, const char *key, size_t key_len,
                                           const dpt_value *value, char *buf, size_t cap,
                                           size_t *out_len);

typedef struct dpt_redaction {
    const char *const *patterns; /* extra key patterns */
    size_t n_patterns;
    bool no_defaults; /* true: only `patterns` (and fn) apply */
    dpt_redact_fn fn; /* optional custom rule */
    void *user;
    const char *marker; /* NULL: DPT_REDACTED */
} dpt_redaction;

/* Replaces the process-wide policy (NULL: the defaults plus the environment). Spans already
 * recorded keep what they stored. DPT_EINVAL for an empty or over-long (> 64 bytes) pattern,
 * DPT_ETOOBIG past 64 patterns. Thread-safe. */
DPT_EXTERN dpt_err dpt_redaction_set(const dpt_redaction *r);
/* Whether the current policy's patterns match key (tests, tools). Thread-safe. */
DPT_EXTERN bool dpt_redaction_matches(const char *key, size_t key_len);
/* Rewrites a URL as url.full is rewritten (credentials and sensitive query or fragment
 * parameter values become REDACTED), for tools that record URLs under other keys. Writes
 * the result to out (cap bytes, not NUL-terminated) and its length to *out_len. DPT_OK when
 * something was replaced, DPT_ENOTFOUND when nothing needed to be (or the URL rule is off),
 * DPT_ETOOBIG when the result does not fit, DPT_EINVAL on NULL url/out. Thread-safe. */
DPT_EXTERN dpt_err dpt_redaction_rewrite_url(const char *url, size_t len, char *out, size_t cap,
                                             size_t *out_len);

/* ------------------------------------------------------------------------------------ */
/* 15. Resources: the entity producing telemetry (service, process, host, container)   */
/* ------------------------------------------------------------------------------------ */

/* An immutable set of attributes with a schema URL (OpenTelemetry's Resource). A provider
 * exports its resource with every batch. Resources are plain values: each constructor
 * returns a new one the caller frees with dpt_resource_free; they may be read from any
 * thread. */
/* A resource holding copies of attrs[0..n) (NULL, 0: the empty resource) and schema_url
 * (NULL: none). For a key given twice the later value wins; invalid attributes (empty key,
 * bad value) are left out and logged. Returns NULL after logging why (ENOMEM, attrs NULL
 * with n > 0). Thread-safe. */
DPT_EXTERN dpt_resource *dpt_resource_new(const dpt_attr *attrs, size_t n, const char *schema_url);
/* The resource specification's Merge: every attribute of both; for a key in both, the
 * value of `updating` (even an empty one). Schema URL: the non-empty one, or the common
 * one; two different non-empty URLs are a merge error (logged; updating's is kept). NULL
 * arguments read as empty. Returns a new resource, NULL after logging (ENOMEM). */
DPT_EXTERN dpt_resource *dpt_resource_merge(const dpt_resource *old, const dpt_resource *updating);
/* Readers. Pointers are valid while r lives. NULL r reads as empty; the schema URL is ""
 * when there is none. dpt_resource_get returns NULL for an absent key. */
DPT_EXTERN const dpt_attr *dpt_resource_attrs(const dpt_resource *r, size_t *n);
DPT_EXTERN const dpt_value *dpt_resource_get(const dpt_resource *r, const char *key);
DPT_EXTERN const char *dpt_resource_schema_url(const dpt_resource *r);
DPT_EXTERN void dpt_resource_free(dpt_resource *r);

/* Built-in detectors (the specification's reserved detector names in parentheses). Each
 * adds what it finds; finding nothing is not an error. The semantic-convention attributes
 * come with the conventions' schema URL.
 *   PROCESS   (process)   process.pid, .executable.name, .executable.path, .command (argv[0]
 *                         only: arguments may hold secrets), .creation.time,
 *                         .runtime.name/version/description (the C library)
 *   HOST      (host)      host.name, host.arch
 *   OS        (host, os)  os.type, os.name, os.version, os.description
 *   CONTAINER (container) container.id from /proc/self/cgroup (cgroup v1) or, with cgroup
 *                         v2, /proc/self/mountinfo
 *   SERVICE   (service)   service.instance.id (a random UUID v4 per process; a forked child
 *                         gets its own) and service.name from OTEL_SERVICE_NAME when set */
typedef enum dpt_detector {
    DPT_DETECT_PROCESS = 1u << 0,
    DPT_DETECT_HOST = 1u << 1,
    DPT_DETECT_OS = 1u << 2,
    DPT_DETECT_CONTAINER = 1u << 3,
    DPT_DETECT_SERVICE = 1u << 4,
    DPT_DETECT_ALL = 0x1fu
} dpt_detector;

/* Runs the built-in detectors in `which` (DPT_DETECT_* bits) and merges what they find.
 * Returns a new resource (empty for 0), NULL after logging (ENOMEM). Thread-safe; reads
 * /proc and /etc/os-release. */
DPT_EXTERN dpt_resource *dpt_resource_detect(uint32_t which);

/* A user resource detector: returns a new resource (NULL: nothing found). Called on the
 * thread building a provider. */
typedef dpt_resource *(*dpt_resource_detector_fn)(void *user);
/* Registers a detector under name (snake case, at most 31 bytes; the built-in names are
 * reserved: DPT_EINVAL), so that DPTRACE_RESOURCE_DETECTORS and a configuration file can
 * name it. Registering a name again replaces it; at most 16 (DPT_EFULL). Thread-safe. */
DPT_EXTERN dpt_err dpt_resource_detector_register(const char *name, dpt_resource_detector_fn fn,
                                                  void *user);
/* Runs the detectors of a comma-separated list of names (process, host, os, container,
 * service, all, none, and registered ones): built-ins first, then user detectors in list
 * order, each merged over the previous. *out receives a new resource (free it). Unknown
 * names are logged and skipped (DPT_ENOTFOUND, *out still set); DPT_ENOMEM. Thread-safe. */
DPT_EXTERN dpt_err dpt_resource_detect_names(const char *list, dpt_resource **out);

/* ------------------------------------------------------------------------------------ */
/* 16. Trace context in application logs                                                */
/* ------------------------------------------------------------------------------------ */

/* The specification's "Trace Context Injection" for logs that are not OTLP
 * (compatibility/logging_trace_context.md): the fields trace_id and span_id (lowercase hex)
 * and trace_flags (W3C format, "01" when sampled). Fill one from the current span and put
 * it in the service's own log lines, so a log line leads to its trace:
 *
 *   dpt_log_fields f;
 *   if (dpt_log_fields_current(&f))
 *       fprintf(stderr, "payment declined " DPT_LOG_FIELDS_FMT "\n", DPT_LOG_FIELDS_ARGS(&f));
 *   syslog(LOG_INFO, "payment declined " DPT_LOG_FIELDS_FMT, DPT_LOG_FIELDS_ARGS(&f));
 *   sd_journal_send("MESSAGE=payment declined", "TRACE_ID=%s", f.trace_id,
 *                   "SPAN_ID=%s", f.span_id, "TRACE_FLAGS=%s", f.trace_flags, NULL);
 *
 * (docs/api.md has the syslog RFC 5424 and JSON forms.) */
typedef struct dpt_log_fields {
    char trace_id[33]; /* "" when there is no valid span context */
    char span_id[17];
    char trace_flags[3];
} dpt_log_fields;

#define DPT_LOG_FIELDS_FMT "trace_id=%s span_id=%s trace_flags=%s"
#define DPT_LOG_FIELDS_ARGS(f) (f)->trace_id, (f)->span_id, (f)->trace_flags

/* Fills out from sc / from the calling thread's current span context. Returns false (out
 * all empty strings, so the format above still prints) when the context is not valid.
 * Thread-safe, no allocation. */
DPT_EXTERN bool dpt_log_fields_from(const dpt_span_context *sc, dpt_log_fields *out);
DPT_EXTERN bool dpt_log_fields_current(dpt_log_fields *out);

typedef enum dpt_log_style {
    DPT_LOG_STYLE_TEXT = 0, /* trace_id=... span_id=... trace_flags=01 (logfmt, key=value) */
    DPT_LOG_STYLE_SYSLOG,   /* [opentelemetry trace_id="..." span_id="..." trace_flags="01"]
                               (RFC 5424 structured data, SD-ID "opentelemetry") */
    DPT_LOG_STYLE_JOURNALD, /* TRACE_ID=...\nSPAN_ID=...\nTRACE_FLAGS=01 (journal fields,
                               one per line, for the journal's native protocol) */
    DPT_LOG_STYLE_JSON      /* "trace_id":"...","span_id":"...","trace_flags":"01" (members
                               to put inside the line's top-level object) */
} dpt_log_style;

/* Writes the fields in a style into buf (NUL-terminated). Returns the length, or 0 (and
 * "") when f holds no context or buf is too small (never a cut line). Thread-safe. */
DPT_EXTERN size_t dpt_log_fields_format(const dpt_log_fields *f, dpt_log_style style, char *buf,
                                        size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_H */
