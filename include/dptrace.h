/* dptrace.h - distributed tracing for C services.
 *
 * This header is the API reference of the core library (libdptrace). Optional parts live
 * in include/dptrace/ (propagation, export, http, async). Every function states its
 * thread-safety and who owns memory. Conventions used throughout:
 *
 *   - Never crash on the caller: every function accepts NULL handles, zero span handles
 *     and bad arguments; it then returns an error (dpt_err, see dpt_strerror) or does
 *     nothing, as documented.
 *   - Strings are copied on entry; the caller keeps ownership of what it passes in.
 *     Functions taking a (pointer, length) pair accept DPT_NUL as the length, meaning
 *     "NUL-terminated".
 *   - Times are Unix nanoseconds (uint64_t). 0 means "now" wherever a time is optional.
 *   - Handles returned by *_new / *_get functions are owned by the caller unless stated.
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

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                                */
/* ------------------------------------------------------------------------------------ */

typedef enum dpt_err {
    DPT_OK = 0,
    DPT_EINVAL = -1,       /* an argument is NULL, out of range or malformed */
    DPT_ENOMEM = -2,       /* an allocation failed */
    DPT_ESTATE = -3,       /* wrong state: span ended, provider shut down, ... */
    DPT_ETIMEDOUT = -4,    /* a deadline passed before the work was done */
    DPT_EFULL = -5,        /* a bounded queue or store is full; the item was dropped */
    DPT_EIO = -6,          /* a file or network operation failed */
    DPT_ENOTFOUND = -7,    /* no such trace, key or entry */
    DPT_ETOOBIG = -8,      /* the input exceeds a limit */
    DPT_EPARSE = -9,       /* input text does not follow its grammar */
    DPT_EUNSUPPORTED = -10,/* the feature is not built in or not available */
    DPT_EEXPORT = -11,     /* an exporter failed (retryable or not) */
    DPT_EBUSY = -12        /* the object is in use (e.g. a task entered on another thread) */
} dpt_err;

/* Static English text for an error code; never NULL. Thread-safe. */
DPT_EXTERN const char *dpt_strerror(dpt_err err);
/* The code's name ("DPT_EINVAL"); "DPT_E?" for an unknown value. Thread-safe. Error values
 * are never renumbered: a new error takes the next free negative number. */
DPT_EXTERN const char *dpt_err_name(dpt_err err);

/* Frees memory that dptrace allocated for the caller (JSON strings, ...). NULL is fine. */
DPT_EXTERN void dpt_free(void *ptr);

/* ------------------------------------------------------------------------------------ */
/* Diagnostics                                                                           */
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
/* Identifiers and span context                                                          */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_trace_id { uint8_t b[16]; } dpt_trace_id;
typedef struct dpt_span_id { uint8_t b[8]; } dpt_span_id;

#define DPT_FLAG_SAMPLED 0x01u /* W3C trace-flags bit 0 */
#define DPT_FLAG_RANDOM 0x02u  /* W3C Level 2: the right-most 7 bytes of the trace id are random */

/* The propagated identity of a span. A plain value: copy it freely. */
typedef struct dpt_span_context {
    dpt_trace_id trace_id;
    dpt_span_id span_id;
    uint8_t flags;  /* DPT_FLAG_* */
    bool remote;    /* true when it was extracted from another process */
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

/* ------------------------------------------------------------------------------------ */
/* Trace state (W3C tracestate): an immutable, refcounted, validated list                */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_tracestate dpt_tracestate;

#define DPT_TRACESTATE_MAX_MEMBERS 32
#define DPT_TRACESTATE_MAX_LEN 512 /* we never keep or send more than this many bytes */

/* Parses a tracestate header value (the list members, comma separated, optional
 * whitespace). Strict: any invalid member, a duplicated key, more than 32 members or more
 * than DPT_TRACESTATE_MAX_LEN bytes after trimming makes the whole value invalid
 * (DPT_EPARSE / DPT_ETOOBIG) and *out is NULL. An empty value gives DPT_OK and *out NULL
 * (NULL is the empty tracestate everywhere). Thread-safe. */
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
DPT_EXTERN dpt_err dpt_tracestate_set(const dpt_tracestate *ts, const char *key,
                                      const char *value, dpt_tracestate **out);

/* Reference counting. retain returns its argument. Thread-safe. */
DPT_EXTERN dpt_tracestate *dpt_tracestate_retain(const dpt_tracestate *ts);
DPT_EXTERN void dpt_tracestate_release(const dpt_tracestate *ts);

/* ------------------------------------------------------------------------------------ */
/* Attribute values                                                                      */
/* ------------------------------------------------------------------------------------ */

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
#define DPT_STR(k, v) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_STRING, DPT_NUL, { .s = (v) } } })
#define DPT_STRN(k, v, n) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_STRING, (uint32_t)(n), { .s = (v) } } })
#define DPT_INT(k, v) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_INT, 0, { .i = (int64_t)(v) } } })
#define DPT_BOOL(k, v) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_BOOL, 0, { .b = (v) } } })
#define DPT_DOUBLE(k, v) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_DOUBLE, 0, { .d = (double)(v) } } })
#define DPT_STR_ARRAY(k, arr, n) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_STRING_ARRAY, (uint32_t)(n), { .sa = (arr) } } })
#define DPT_INT_ARRAY(k, arr, n) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_INT_ARRAY, (uint32_t)(n), { .ia = (arr) } } })
#define DPT_BOOL_ARRAY(k, arr, n) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_BOOL_ARRAY, (uint32_t)(n), { .ba = (arr) } } })
#define DPT_DOUBLE_ARRAY(k, arr, n) ((dpt_attr){ (k), DPT_NUL, { DPT_VAL_DOUBLE_ARRAY, (uint32_t)(n), { .da = (arr) } } })

/* ------------------------------------------------------------------------------------ */
/* Redaction of sensitive values                                                         */
/* ------------------------------------------------------------------------------------ */

/* Before an attribute value (of a span, an event or a link) or a baggage value is stored,
 * its key is matched against sensitive patterns; on a match the value is replaced by the
 * marker, so it never reaches a processor, the trace store, an exporter or a file.
 * Patterns match anywhere in the key, case-insensitively, ignoring '.', '_', '-' and ' '
 * ("api_key" matches "http.request.header.x-api-key"). The default list: password, passwd,
 * secret, token, apikey, authorization, cookie (and set-cookie), session, creditcard,
 * cardnumber, privatekey. DPTRACE_REDACT_KEYS adds comma-separated patterns;
 * DPTRACE_REDACT=off drops the defaults. The policy is process-wide. */
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
    bool no_defaults;            /* true: only `patterns` (and fn) apply */
    dpt_redact_fn fn;            /* optional custom rule */
    void *user;
    const char *marker;          /* NULL: DPT_REDACTED */
} dpt_redaction;

/* Replaces the process-wide policy (NULL: the defaults plus the environment). Spans already
 * recorded keep what they stored. DPT_EINVAL for an empty or over-long (> 64 bytes) pattern,
 * DPT_ETOOBIG past 64 patterns. Thread-safe. */
DPT_EXTERN dpt_err dpt_redaction_set(const dpt_redaction *r);
/* Whether the current policy's patterns match key (tests, tools). Thread-safe. */
DPT_EXTERN bool dpt_redaction_matches(const char *key, size_t key_len);

/* ------------------------------------------------------------------------------------ */
/* Baggage: an immutable, refcounted set of key/value entries (W3C Baggage)              */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_baggage dpt_baggage; /* NULL is the empty baggage */

#define DPT_BAGGAGE_MAX_ENTRIES 180  /* in-memory bound; propagation applies W3C's limits */
#define DPT_BAGGAGE_MAX_BYTES 16384  /* in-memory bound on keys + values + metadata */

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

/* ------------------------------------------------------------------------------------ */
/* Provider, tracer, span handles                                                        */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_provider dpt_provider;
typedef struct dpt_tracer dpt_tracer;
typedef struct dpt_context dpt_context;
typedef struct dpt_sampler dpt_sampler;
typedef struct dpt_processor dpt_processor;
typedef struct dpt_exporter dpt_exporter;
struct dpt__span;

/* A span handle is a small value (two words), not a pointer to free. It stays safe to use
 * after the span ended: every operation on an ended or otherwise stale handle is a
 * no-op returning DPT_ESTATE. The zero handle DPT_SPAN_NONE is a valid no-op span. */
typedef struct dpt_span {
    struct dpt__span *rec;
    uint64_t gen;
} dpt_span;

#define DPT_SPAN_NONE ((dpt_span){ 0, 0 })

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
    uint32_t attr_count;        /* attributes per span */
    uint32_t attr_value_len;    /* max bytes of a string value (0 = unlimited); cut on a
                                   UTF-8 character boundary */
    uint32_t event_count;       /* events per span */
    uint32_t link_count;        /* links per span */
    uint32_t attrs_per_event;
    uint32_t attrs_per_link;
    uint32_t max_span_bytes;    /* bytes one span may hold for names, values, events and
                                   links (0: 65536); beyond it additions are dropped and
                                   counted, so queues and stores bound memory, not just
                                   span counts. dptrace's own limit, DPTRACE_SPAN_MAX_BYTES */
} dpt_span_limits;

/* Fills l with the defaults (128 each, no value length limit, 64 KiB per span). */
DPT_EXTERN void dpt_span_limits_default(dpt_span_limits *l);

/* ------------------------------------------------------------------------------------ */
/* Finished span data: what processors, exporters and the trace store read              */
/* ------------------------------------------------------------------------------------ */

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

/* The read-only view of a recorded span. Processors see it in on_end; it is immutable
 * from then on and lives while a reference is held (dpt_span_data_retain). All strings are
 * NUL-terminated and also carry their length. Do not write to it. */
typedef struct dpt_span_data {
    dpt_span_context ctx;
    dpt_span_id parent_span_id; /* all zero for a root span */
    bool parent_remote;
    uint8_t kind;               /* dpt_span_kind */
    uint8_t status;             /* dpt_status_code */
    const char *name;
    uint32_t name_len;
    uint32_t status_msg_len;
    const char *status_msg;     /* "" unless status is ERROR with a message */
    uint64_t start_ns;
    uint64_t end_ns;
    const char *tracestate;     /* "" when empty */
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
    uint32_t ended_by_task;     /* 1 when an async task's end closed this span */
    const dpt_tracer *tracer;   /* instrumentation scope; resource via its provider */
} dpt_span_data;

/* Reference counting of finished spans, for processors that keep them past on_end.
 * Thread-safe. */
DPT_EXTERN void dpt_span_data_retain(const dpt_span_data *d);
DPT_EXTERN void dpt_span_data_release(const dpt_span_data *d);

/* The tracer's scope and the provider's resource. Valid while the provider lives. */
DPT_EXTERN const char *dpt_tracer_name(const dpt_tracer *t);
DPT_EXTERN const char *dpt_tracer_version(const dpt_tracer *t); /* "" when none */
DPT_EXTERN dpt_provider *dpt_tracer_provider(const dpt_tracer *t);
DPT_EXTERN const dpt_attr *dpt_provider_resource(const dpt_provider *p, size_t *n);

/* ------------------------------------------------------------------------------------ */
/* Exporters and processors                                                              */
/* ------------------------------------------------------------------------------------ */

/* An exporter sends batches of finished spans somewhere. The processor that drives it
 * calls export from one thread at a time. export returns DPT_OK, or an error when the batch
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
/* Destroys an exporter that was never given to a processor. */
DPT_EXTERN void dpt_exporter_free(dpt_exporter *e);
/* The state of an exporter made by dpt_exporter_new with ops whose export_spans is
 * export_fn; NULL for any other exporter (or NULL e). Lets an exporter's own functions
 * (stats, settings) find their state safely. Thread-safe. */
DPT_EXTERN void *dpt_exporter_state(const dpt_exporter *e,
                                    dpt_err (*export_fn)(void *, const dpt_span_data *const *, size_t));
/* Call the exporter's ops directly, for processors written outside the library, tools and
 * tests. export is called from one thread at a time; force_flush and shutdown may be
 * called from another thread while an export runs (shutdown must then make it return
 * soon). A NULL op is a successful no-op; NULL e gives DPT_EINVAL. */
DPT_EXTERN dpt_err dpt_exporter_export(dpt_exporter *e, const dpt_span_data *const *spans,
                                       size_t n);
DPT_EXTERN dpt_err dpt_exporter_force_flush(dpt_exporter *e, uint32_t timeout_ms);
DPT_EXTERN dpt_err dpt_exporter_shutdown(dpt_exporter *e, uint32_t timeout_ms);

/* A processor sees spans as they start and end. on_start runs on the starting thread,
 * on_end on the ending thread; both must be fast and thread-safe. on_end may keep the span
 * with dpt_span_data_retain. Every member except on_end may be NULL. */
typedef struct dpt_processor_ops {
    void (*on_start)(void *state, const dpt_span_data *d);
    void (*on_end)(void *state, const dpt_span_data *d);
    dpt_err (*force_flush)(void *state, uint32_t timeout_ms);
    dpt_err (*shutdown)(void *state, uint32_t timeout_ms);
    void (*destroy)(void *state);
} dpt_processor_ops;

DPT_EXTERN dpt_processor *dpt_processor_new(const dpt_processor_ops *ops, void *state);
/* Destroys a processor that was never given to a provider. */
DPT_EXTERN void dpt_processor_free(dpt_processor *p);

/* Simple processor: exports each sampled span on the ending thread, serialised by a mutex.
 * For tests and debugging; use the batch processor in production. Takes ownership of e.
 * NULL on ENOMEM or NULL e. */
DPT_EXTERN dpt_processor *dpt_processor_simple(dpt_exporter *e);

/* Batch processor settings (OpenTelemetry's defaults; OTEL_BSP_* when from the env).
 *
 * max_queue_bytes is dptrace's own: with it (the default, 16 MiB) a full queue does not drop
 * at once. Each producing thread hands its spans over through its own ring of up to
 * max_queue_size records; when the export thread falls behind (descheduled, a slow
 * exporter) the spans beyond the ring are kept in compact form within max_queue_bytes for
 * all threads together, and only spans beyond that are dropped (and counted). Set it to 0
 * for OpenTelemetry's rule: at most max_queue_size spans wait, the rest are dropped. */
#define DPT_BATCH_DEFAULT_QUEUE_BYTES (16u << 20)
typedef struct dpt_batch_config {
    uint32_t max_queue_size;        /* 2048 */
    uint32_t max_export_batch_size; /* 512 (clamped to max_queue_size) */
    uint32_t schedule_delay_ms;     /* 5000 */
    uint32_t export_timeout_ms;     /* 30000 */
    uint64_t max_queue_bytes;       /* DPT_BATCH_DEFAULT_QUEUE_BYTES; 0: span count only */
} dpt_batch_config;

DPT_EXTERN void dpt_batch_config_default(dpt_batch_config *c);

/* Batch processor: ending a span hands it to a per-thread lock-free queue (never blocks;
 * spans beyond the queue's bounds, see dpt_batch_config, are dropped and counted); one
 * background thread exports batches when max_export_batch_size spans are waiting or
 * schedule_delay_ms passed. Takes ownership of e. cfg NULL means defaults. NULL on ENOMEM
 * or when the thread cannot start. */
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
/* Trace store: bounded in-memory store of whole traces                                  */
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
DPT_EXTERN dpt_err dpt_store_export_trace(dpt_store *st, const dpt_trace_id *id,
                                          dpt_exporter *e);

/* ------------------------------------------------------------------------------------ */
/* Samplers                                                                              */
/* ------------------------------------------------------------------------------------ */

typedef enum dpt_decision {
    DPT_DROP = 0,              /* not recorded, not sampled */
    DPT_RECORD_ONLY = 1,       /* recorded (processors see it), not sampled (not exported) */
    DPT_RECORD_AND_SAMPLE = 2
} dpt_decision;

/* What a sampler sees (OpenTelemetry's ShouldSample inputs). */
typedef struct dpt_sampling_params {
    const dpt_span_context *parent;           /* NULL or invalid: a root span */
    const dpt_tracestate *parent_tracestate;  /* may be NULL */
    const dpt_trace_id *trace_id;             /* the trace id the span will have */
    const char *name;
    dpt_span_kind kind;
    const dpt_attr *attrs;
    size_t n_attrs;
    const dpt_link *links;
    size_t n_links;
} dpt_sampling_params;

/* What a sampler decides. attrs (optional) must stay valid until the call returns; they
 * are copied into the span. tracestate: NULL keeps the parent's; otherwise a new reference
 * the span takes over. */
typedef struct dpt_sampling_result {
    dpt_decision decision;
    const dpt_attr *attrs;
    size_t n_attrs;
    dpt_tracestate *tracestate;
} dpt_sampling_result;

typedef void (*dpt_sample_fn)(void *user, const dpt_sampling_params *in, dpt_sampling_result *out);

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
/* A user sampler. fn is called on the starting thread; free_user (may be NULL) is called
 * with user when the sampler is freed. description is copied. */
DPT_EXTERN dpt_sampler *dpt_sampler_custom(dpt_sample_fn fn, void *user, void (*free_user)(void *),
                                           const char *description);
/* Rate-limiting sampler: at most per_second root decisions to sample (token bucket). */
DPT_EXTERN dpt_sampler *dpt_sampler_rate_limiting(double per_second);
DPT_EXTERN void dpt_sampler_free(dpt_sampler *s);
/* Human-readable description, e.g. "ParentBased{root=AlwaysOn,...}". Valid while s lives. */
DPT_EXTERN const char *dpt_sampler_description(const dpt_sampler *s);
/* Runs the sampler's decision directly (tests, custom composition). */
DPT_EXTERN void dpt_sampler_should_sample(const dpt_sampler *s, const dpt_sampling_params *in,
                                          dpt_sampling_result *out);

/* ------------------------------------------------------------------------------------ */
/* Provider                                                                              */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_provider_config {
    const char *service_name;          /* NULL: "unknown_service:<program name>" */
    const dpt_attr *resource_attrs;    /* extra resource attributes (copied) */
    size_t n_resource_attrs;
    dpt_sampler *sampler;              /* owned from now on; NULL: parentbased_always_on */
    const dpt_span_limits *limits;     /* NULL: defaults */
    dpt_processor *const *processors;  /* owned from now on */
    size_t n_processors;
    bool shutdown_at_exit;             /* flush and shut down from an atexit() handler */
    bool disabled;                     /* every span is a no-op (OTEL_SDK_DISABLED) */
} dpt_provider_config;

/* Creates a provider (cfg NULL: all defaults). Returns NULL after logging why (ENOMEM, or an
 * invalid cfg); every object handed over in cfg has then been freed. Thread-safe. */
DPT_EXTERN dpt_provider *dpt_provider_new(const dpt_provider_config *cfg);

/* Builds a provider from the OpenTelemetry environment: OTEL_SDK_DISABLED,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), the span limit
 * variables, OTEL_TRACES_EXPORTER with OTEL_BSP_* (see docs/configuration.md). Invalid
 * values are reported through the log and the default is used. Shuts down at exit.
 * Returns NULL only when memory is exhausted (and NULL is a valid no-op provider). */
DPT_EXTERN dpt_provider *dpt_provider_from_env(void);

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

/* The tracer for an instrumentation scope (name, optional version). Tracers are cached and
 * owned by the provider: same name and version, same tracer. Thread-safe. NULL p gives
 * NULL (a no-op tracer). */
DPT_EXTERN dpt_tracer *dpt_provider_get_tracer(dpt_provider *p, const char *name, const char *version);

/* A process-wide provider slot for libraries: set it once in main(). Thread-safe. */
DPT_EXTERN void dpt_provider_set_global(dpt_provider *p);
DPT_EXTERN dpt_provider *dpt_provider_get_global(void);

/* Self-telemetry counters (monotonic). */
typedef struct dpt_stats {
    uint64_t spans_started;     /* every span start, recording or not */
    uint64_t spans_sampled;     /* started with the sampled flag */
    uint64_t spans_recording;   /* started recording (sampled or record-only) */
    uint64_t spans_ended;       /* recording spans ended */
    uint64_t spans_exported;    /* handed to an exporter that returned OK */
    uint64_t spans_export_failed;/* handed to an exporter that failed, or timed out */
    uint64_t spans_dropped_queue;/* dropped because a batch queue was full or shut down */
    uint64_t spans_dropped_store;/* evicted from or rejected by a trace store */
    uint64_t attrs_dropped;     /* attributes, events, links dropped by span limits */
    uint64_t events_dropped;
    uint64_t links_dropped;
    uint64_t spans_ended_by_task;/* spans closed by an async task's end */
} dpt_stats;

/* Reads the counters (a consistent-enough sum of per-thread shards). Thread-safe. */
DPT_EXTERN void dpt_provider_get_stats(const dpt_provider *p, dpt_stats *out);

/* ------------------------------------------------------------------------------------ */
/* Spans                                                                                 */
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
DPT_EXTERN dpt_err dpt_span_set_strn(dpt_span s, const char *key, size_t key_len,
                                     const char *value, size_t value_len);
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

/* Ends the span now / at end_ns (0: now; clamped to be >= start). Idempotent: a second end
 * returns DPT_ESTATE and changes nothing. */
DPT_EXTERN dpt_err dpt_span_end(dpt_span s);
DPT_EXTERN dpt_err dpt_span_end_at(dpt_span s, uint64_t end_ns);

/* Whether the handle is a live recording span. */
DPT_EXTERN bool dpt_span_is_recording(dpt_span s);
/* The span's context (all zero for a stale or none handle). */
DPT_EXTERN dpt_span_context dpt_span_get_context(dpt_span s);

/* ------------------------------------------------------------------------------------ */
/* Context: the current span and baggage of a thread, and values to carry across threads */
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

/* A token identifying one attach; detach takes it back. */
typedef uint64_t dpt_token;

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
#define DPT_WITH_SPAN(t, name, kind)                                                           \
    for (dpt_scope DPT__CAT(dpt__scope_, __LINE__)                                              \
             __attribute__((cleanup(dpt_scope_end))) = dpt_scope_begin((t), (name), (kind));   \
         DPT__CAT(dpt__scope_, __LINE__).once; DPT__CAT(dpt__scope_, __LINE__).once = 0)

/* DPT_SCOPED_SPAN(var, t, name, kind); declares `dpt_span var`, current until the end of
 * the enclosing C scope, ended there on every exit path. */
#define DPT_SCOPED_SPAN(var, t, name, kind)                                                    \
    dpt_scope DPT__CAT(dpt__scope_, var) __attribute__((cleanup(dpt_scope_end))) =             \
        dpt_scope_begin((t), (name), (kind));                                                  \
    dpt_span var = DPT__CAT(dpt__scope_, var).span

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_H */
