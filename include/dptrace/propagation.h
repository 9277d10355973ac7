/* dptrace/propagation.h - carrying trace context and baggage across process boundaries.
 *
 * Part of libdptrace (libc only). Formats: W3C Trace Context (traceparent, tracestate,
 * Level 2 random flag), W3C Baggage, B3 (single and multi header), Jaeger (uber-trace-id,
 * uberctx-*, jaeger-baggage), OpenTracing (ot-tracer-*, ot-baggage-*), and any format an
 * application defines (dpt_propagator_ops) and registers by name for OTEL_PROPAGATORS. A
 * propagator reads ("extract") and writes ("inject") a dpt_context through a carrier: a
 * pair of getter / setter callbacks over whatever holds the fields (HTTP headers, message
 * metadata, the environment). Ready carriers: header arrays, the environment, and libcurl
 * lists (dptrace/http_carrier.h, in libdptrace-http).
 *
 * Every incoming field is untrusted input: parsers are strict, never read past the given
 * length, and anything invalid is dropped and counted (dpt_propagation_get_stats) so that
 * a new trace starts instead. docs/propagation.md is the guide; this header the reference.
 *
 *   Server:  dpt_context *in = NULL;
 *            dpt_propagator_extract(NULL, &dpt_headers_getter, &req_headers, &in);
 *            dpt_span_opts o = { .parent = in };
 *            dpt_span s = dpt_span_start(tracer, "GET /users", DPT_SPAN_SERVER, &o);
 *            dpt_context_release(in);
 *   Client:  dpt_headers out = DPT_HEADERS_INIT;
 *            dpt_span c = dpt_span_start_client(tracer, "GET", NULL, NULL,
 *                                               &dpt_headers_setter, &out, NULL, 0);
 */
#ifndef DPTRACE_PROPAGATION_H
#define DPTRACE_PROPAGATION_H

#include "../dptrace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dpt_propagator dpt_propagator;

/* ------------------------------------------------------------------------------------ */
/* Carriers                                                                              */
/* ------------------------------------------------------------------------------------ */

/* Read access to a carrier. Both callbacks must be safe to call repeatedly; they are called
 * on the extracting thread only, and the returned pointers need to stay valid only until
 * the extract call returns.
 *
 * get: the index-th value (0-based, in the order received) of the field `name` (always
 *      lowercase ASCII here; the carrier matches it the way its protocol does, e.g. HTTP
 *      names case-insensitively), or NULL when there is no such value. *len receives the
 *      value's length; values need not be NUL-terminated. A field repeated in the carrier
 *      (two header lines with the same name) is returned as two values: W3C requires that
 *      a repeated traceparent is rejected and repeated tracestate/baggage lines combined.
 * key: the index-th field name of the carrier, or NULL past the end. Only formats with a
 *      name prefix (Jaeger's uberctx-*) use it; may be NULL, then they read nothing. */
typedef struct dpt_getter {
    const char *(*get)(void *carrier, const char *name, size_t index, size_t *len);
    const char *(*key)(void *carrier, size_t index, size_t *len);
} dpt_getter;

/* Write access to a carrier: set field `name` to value (value_len bytes, also
 * NUL-terminated), replacing every previous value of that field. Names are lowercase
 * except the key part of Jaeger's uberctx-<key>, which is the baggage key as it is. A
 * non-OK return stops the inject call, which returns it. */
typedef struct dpt_setter {
    dpt_err (*set)(void *carrier, const char *name, const char *value, size_t value_len);
} dpt_setter;

/* ---- header arrays: a list of name/value pairs, names compared case-insensitively ---- */

typedef struct dpt_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} dpt_header;

/* A growable list of headers. Zero-initialise it (DPT_HEADERS_INIT) to get an empty owned
 * list, or point it at an existing array with dpt_headers_wrap. Not thread-safe: one
 * thread at a time. */
typedef struct dpt_headers {
    dpt_header *v;
    size_t n;
    size_t cap;     /* 0 for a wrapped (borrowed, read-only) array */
    uint32_t flags; /* private */
} dpt_headers;

#define DPT_HEADERS_INIT                                                                           \
    {                                                                                              \
        0, 0, 0, 0                                                                                 \
    }

/* Makes h a read-only view of arr[0..n) (not copied: arr must outlive h). dpt_headers_add
 * and _set on a view first copy it into an owned list. Cannot fail; NULL h does nothing. */
DPT_EXTERN void dpt_headers_wrap(dpt_headers *h, const dpt_header *arr, size_t n);
/* Appends a copy of name: value (lengths may be DPT_NUL). DPT_EINVAL on NULL h/name/value
 * or an empty name, DPT_ENOMEM. */
DPT_EXTERN dpt_err dpt_headers_add(dpt_headers *h, const char *name, size_t name_len,
                                   const char *value, size_t value_len);
/* Removes every header named name (case-insensitive) and appends name: value. */
DPT_EXTERN dpt_err dpt_headers_set(dpt_headers *h, const char *name, const char *value,
                                   size_t value_len);
/* The index-th value of name (case-insensitive), or NULL; *len (optional) its length.
 * Owned values are NUL-terminated. */
DPT_EXTERN const char *dpt_headers_get(const dpt_headers *h, const char *name, size_t index,
                                       size_t *len);
/* Frees what h owns and empties it (a wrapped array is not touched). NULL is fine. */
DPT_EXTERN void dpt_headers_free(dpt_headers *h);

/* Getter and setter over a dpt_headers * carrier. */
DPT_EXTERN extern const dpt_getter dpt_headers_getter;
DPT_EXTERN extern const dpt_setter dpt_headers_setter;

/* ---- the process environment: hand a context to a child process ----------------------
 * A field name maps to an environment variable by upper-casing it and turning every
 * character other than [A-Z0-9] into '_': traceparent -> TRACEPARENT, tracestate ->
 * TRACESTATE, baggage -> BAGGAGE, x-b3-traceid -> X_B3_TRACEID. The key callback is NULL
 * (prefixed fields such as uberctx-* are not read from the environment). */

/* Getter reading getenv() (carrier: ignored, pass NULL). getenv is not thread-safe
 * against a concurrent setenv; extract from the environment at start-up. */
DPT_EXTERN extern const dpt_getter dpt_env_getter;
/* Setter calling setenv() (carrier: ignored). Same thread-safety caveat as setenv. */
DPT_EXTERN extern const dpt_setter dpt_env_setter;

/* Builds an environment for execve(): a copy of base (NULL-terminated; NULL: an empty
 * one) in which the variables the propagator writes are replaced by those injected from
 * ctx (NULL: the calling thread's current context). *out is a NULL-terminated array, free
 * it with dpt_env_free. Thread-safe (does not touch the process environment). */
DPT_EXTERN dpt_err dpt_env_inject_envp(const dpt_propagator *p, const dpt_context *ctx,
                                       char *const *base, char ***out);
DPT_EXTERN void dpt_env_free(char **envp);

/* ------------------------------------------------------------------------------------ */
/* Propagators                                                                           */
/* ------------------------------------------------------------------------------------ */

/* The built-in propagators are static objects: never NULL, safe from any thread, and
 * dpt_propagator_free ignores them. Each is an instance of the ops table below.
 *   tracecontext  traceparent + tracestate (W3C Trace Context Level 1 + Level 2 flag)
 *   baggage       baggage (W3C Baggage)
 *   b3            reads b3, else the X-B3-* headers; writes the single b3 header
 *   b3multi       reads like b3; writes X-B3-TraceId, X-B3-SpanId, X-B3-Sampled (or
 *                 X-B3-Flags: 1 for a debug trace)
 *   jaeger        uber-trace-id, uberctx-<key> baggage, and (read only) jaeger-baggage
 *   ottrace       ot-tracer-traceid / -spanid / -sampled and ot-baggage-<key> (OpenTracing)
 *   none          reads and writes nothing */
DPT_EXTERN const dpt_propagator *dpt_propagator_tracecontext(void);
DPT_EXTERN const dpt_propagator *dpt_propagator_baggage(void);
DPT_EXTERN const dpt_propagator *dpt_propagator_b3(void);
DPT_EXTERN const dpt_propagator *dpt_propagator_b3multi(void);
DPT_EXTERN const dpt_propagator *dpt_propagator_jaeger(void);
DPT_EXTERN const dpt_propagator *dpt_propagator_ottrace(void);
DPT_EXTERN const dpt_propagator *dpt_propagator_none(void);

/* ---- formats of your own ---------------------------------------------------------------
 * A format is a table of three operations over an opaque state. Extraction writes into a
 * dpt_extraction, the accumulator a composite shares between its members, so that one
 * dpt_context is built at the end however many formats ran. */

typedef struct dpt_extraction dpt_extraction;

typedef struct dpt_propagator_ops {
    /* Reads the format's fields through g and records what it found in x with the
     * dpt_extraction_* functions. Never fails: invalid fields are dropped (count them with
     * dpt_propagation_stat_add). Called on the extracting thread; must not block. */
    void (*extract)(void *state, const dpt_getter *g, void *carrier, dpt_extraction *x);
    /* Writes ctx into the carrier with s. Returns DPT_OK or the first error of s. */
    dpt_err (*inject)(void *state, const dpt_context *ctx, const dpt_setter *s, void *carrier);
    /* The field names inject may write, in order: fills up to max of them (names may be
     * NULL), returns how many there are. Optional (NULL: none). */
    size_t (*fields)(void *state, const char **names, size_t max);
    /* Frees state when the propagator is freed. Optional. */
    void (*free_state)(void *state);
} dpt_propagator_ops;

/* A propagator of your own format. name (1-31 bytes, copied) appears in diagnostics; ops
 * must outlive the propagator (a static table); state is passed to every operation.
 * Returns the propagator, or NULL after logging why (NULL name / ops / extract / inject,
 * out of memory). Free it with dpt_propagator_free (which calls ops->free_state).
 * Thread-safe; the propagator may be used from any thread if its operations may. */
DPT_EXTERN dpt_propagator *dpt_propagator_new(const char *name, const dpt_propagator_ops *ops,
                                              void *state);

/* Makes p selectable by name in OTEL_PROPAGATORS and dpt_propagator_from_names. The name
 * (1-31 of [a-z0-9._-], compared case-insensitively) must not be a built-in name or one
 * already registered. p is borrowed: it must outlive every propagator built from names
 * after this call (register it at start-up, before dpt_propagator_from_env or the first
 * use of the global propagator). p NULL removes the name. DPT_OK, DPT_EINVAL (bad or taken
 * name, logged), DPT_ENOTFOUND (removing an unknown name), DPT_ETOOBIG (more than 32
 * names). Thread-safe. */
DPT_EXTERN dpt_err dpt_propagator_register(const char *name, const dpt_propagator *p);

/* The built-in or registered propagator named name (case-insensitive), or NULL when
 * there is none. Borrowed: valid while the registration lasts (built-ins always).
 * Thread-safe. */
DPT_EXTERN const dpt_propagator *dpt_propagator_get(const char *name);

/* Records a span context found in the carrier, with its tracestate (NULL: none; a new
 * reference is taken). It replaces one recorded earlier by another format (a composite's
 * later members win). The context is marked remote. DPT_EINVAL (ignored) when sc is not
 * valid, DPT_OK otherwise. */
DPT_EXTERN dpt_err dpt_extraction_set_span_context(dpt_extraction *x, const dpt_span_context *sc,
                                                   const dpt_tracestate *ts);
/* Notes that the carrier held a field of a trace format, valid or not: dpt_propagator_extract
 * then returns DPT_EPARSE instead of DPT_ENOTFOUND when no span context results. */
DPT_EXTERN void dpt_extraction_saw_trace_field(dpt_extraction *x);
/* Adds a baggage entry (lengths may be DPT_NUL; meta may be NULL). Lengths are kept (a
 * value may contain NUL bytes), a later entry with the same key replaces the value, and
 * redaction applies as for dpt_baggage_set. DPT_OK; DPT_EINVAL / DPT_ETOOBIG when the
 * entry is dropped (counted in DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED); DPT_ENOMEM (the whole
 * extraction then fails with DPT_ENOMEM). */
DPT_EXTERN dpt_err dpt_extraction_add_baggage(dpt_extraction *x, const char *key, size_t key_len,
                                              const char *value, size_t value_len, const char *meta,
                                              size_t meta_len);
/* The span context recorded so far (zero when none): a format whose baggage only counts
 * next to a trace context (OpenTracing) checks it here. */
DPT_EXTERN dpt_span_context dpt_extraction_span_context(const dpt_extraction *x);

/* ---- composites ---------------------------------------------------------------------- */

/* A composite: extract runs each member in order (a later valid span context replaces an
 * earlier one; later baggage entries are added to earlier ones); inject writes each
 * member's fields. The list is copied; members must outlive the composite (built-ins
 * always do). Returns the composite, or NULL after logging why (NULL list with n > 0, a
 * NULL member, more than 16 members, out of memory). Free it with dpt_propagator_free. */
DPT_EXTERN dpt_propagator *dpt_propagator_composite(const dpt_propagator *const *list, size_t n);
/* A composite from a comma-separated list of propagator names: the built-in names above
 * and the registered ones (OpenTelemetry's OTEL_PROPAGATORS syntax: whitespace around
 * names ignored, names case-insensitive, duplicates kept once). "none" anywhere gives a
 * propagator doing nothing. Unknown names are logged (one warning each) and skipped. NULL
 * or "" means the default "tracecontext,baggage". Returns the propagator, or NULL after
 * logging why (out of memory). */
DPT_EXTERN dpt_propagator *dpt_propagator_from_names(const char *names);
/* dpt_propagator_from_names(getenv("OTEL_PROPAGATORS")); never NULL (falls back to the
 * static tracecontext propagator on ENOMEM). */
DPT_EXTERN dpt_propagator *dpt_propagator_from_env(void);
/* Frees a composite or a propagator from dpt_propagator_new; built-ins and NULL are
 * ignored. */
DPT_EXTERN void dpt_propagator_free(dpt_propagator *p);
/* The field names the propagator may write, in order (e.g. "traceparent", "tracestate").
 * Fills up to max names, returns the total count. */
DPT_EXTERN size_t dpt_propagator_fields(const dpt_propagator *p, const char **names, size_t max);

/* The process-wide propagator used when a NULL propagator is passed below. Until
 * dpt_propagator_set_global is called it is built once from OTEL_PROPAGATORS. set_global
 * does not take ownership: p must outlive every use (set it once in main()). NULL restores
 * the environment default. Thread-safe. */
DPT_EXTERN void dpt_propagator_set_global(const dpt_propagator *p);
DPT_EXTERN const dpt_propagator *dpt_propagator_get_global(void);

/* Reads the carrier and returns in *out a new context (release it) holding what was found:
 * a remote span context (remote = true) with its tracestate, and baggage. *out is set
 * whenever the return is not DPT_EINVAL / DPT_ENOMEM, so it can always be passed on as
 * dpt_span_opts.parent: a context without a valid span context starts a new trace.
 * Returns DPT_OK when a valid span context was extracted, DPT_ENOTFOUND when the carrier
 * had no trace field at all, DPT_EPARSE when trace fields were present but gave no span
 * context (invalid ones are dropped and counted; a bare B3 sampling state is valid but
 * carries no ids). Baggage alone does not change the return value.
 * p NULL: the global propagator. Thread-safe. */
DPT_EXTERN dpt_err dpt_propagator_extract(const dpt_propagator *p, const dpt_getter *g,
                                          void *carrier, dpt_context **out);

/* Writes ctx (NULL: the calling thread's current context) into the carrier: the trace
 * fields when its span context is valid, the baggage when it has some. Unknown trace-flag
 * bits are written as zero. Returns DPT_OK, DPT_EINVAL (NULL setter), DPT_ENOMEM, or the
 * first error of the setter. Thread-safe. */
DPT_EXTERN dpt_err dpt_propagator_inject(const dpt_propagator *p, const dpt_context *ctx,
                                         const dpt_setter *s, void *carrier);

/* ------------------------------------------------------------------------------------ */
/* Helpers for the two common cases, and the untrusted edge                              */
/* ------------------------------------------------------------------------------------ */

typedef struct dpt_server_opts {
    const dpt_propagator *propagator; /* NULL: the global one */
    /* At the edge of the mesh: do not continue the incoming trace. The span starts a new
     * trace with a link to the incoming span context (when valid), and incoming baggage is
     * dropped. */
    bool untrusted_edge;
    const dpt_attr *attrs;
    size_t n_attrs;
    uint64_t start_ns; /* 0: now */
} dpt_server_opts;

/* Server side: extracts the incoming context from the carrier and starts a SERVER span
 * from it (not made current). ctx_out (optional) receives a context holding the span and
 * the accepted baggage: attach it (dpt_context_attach) while handling the request, release
 * it after. opts NULL: defaults. Never fails: errors give DPT_SPAN_NONE / *ctx_out NULL. */
DPT_EXTERN dpt_span dpt_span_start_server(dpt_tracer *t, const char *name, const dpt_getter *g,
                                          void *carrier, const dpt_server_opts *opts,
                                          dpt_context **ctx_out);

/* Client side: starts a CLIENT span, child of parent (NULL: the calling thread's current
 * context), and injects it (with the parent's baggage) into the carrier with p (NULL: the
 * global propagator). When no span can be recorded (no provider, not sampled without a
 * new id) the parent's own context is injected, so the trace still continues. attrs are
 * set on the span. Never fails (a setter error is logged); end the returned span when
 * the response arrives. */
DPT_EXTERN dpt_span dpt_span_start_client(dpt_tracer *t, const char *name,
                                          const dpt_context *parent, const dpt_propagator *p,
                                          const dpt_setter *s, void *carrier, const dpt_attr *attrs,
                                          size_t n_attrs);

/* The low-level form of the edge decision, for callers that start spans themselves: fills
 * opts->parent / opts->root / opts->links from an extracted context. Trusted: parent =
 * incoming. Untrusted: root = true and, when incoming has a valid span context, one link
 * written to *link (which must live until dpt_span_start returns). Other members of opts
 * are left alone. DPT_EINVAL on NULL opts or link. */
DPT_EXTERN dpt_err dpt_span_opts_from_incoming(const dpt_context *incoming, bool untrusted_edge,
                                               dpt_span_opts *opts, dpt_link *link);

/* ------------------------------------------------------------------------------------ */
/* Formats, one by one (what the propagators use; handy for tests and custom carriers)   */
/* ------------------------------------------------------------------------------------ */

#define DPT_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */

/* Parses a traceparent value (surrounding spaces and tabs allowed). Strict W3C rules:
 * lowercase hex only, exact field lengths, non-zero ids, version ff invalid, version 00
 * exactly 55 characters, a higher version may carry more fields after a '-'. On success
 * out gets the ids, flags & (SAMPLED | RANDOM) and remote = true. DPT_EPARSE otherwise
 * (out zeroed), DPT_EINVAL on NULL. Thread-safe, no allocation. */
DPT_EXTERN dpt_err dpt_traceparent_parse(const char *s, size_t len, dpt_span_context *out);
/* Writes "00-<trace>-<span>-<flags & 03>" and a NUL into out; returns 55, or 0 (and "")
 * when sc is NULL or invalid. */
DPT_EXTERN size_t dpt_traceparent_format(const dpt_span_context *sc,
                                         char out[DPT_TRACEPARENT_LEN + 1]);

/* Parses a W3C baggage header value and adds its members to base (NULL: empty), giving a
 * new baggage in *out (NULL when empty). Values are percent-decoded (invalid UTF-8 after
 * decoding becomes U+FFFD); properties are kept verbatim as the entry's metadata. An
 * invalid member (no '=', a key that is not a token, a value byte outside the W3C set, a
 * bad percent escape, a bad property) is dropped without losing the others; a later
 * duplicate key replaces the earlier value. Members beyond 8192 bytes of accepted members
 * or DPT_BAGGAGE_MAX_ENTRIES entries are dropped whole. *dropped (optional) receives the
 * number of members dropped. Returns DPT_OK (also when members were dropped), DPT_EINVAL,
 * DPT_ENOMEM. Thread-safe. */
DPT_EXTERN dpt_err dpt_w3c_baggage_parse(const char *s, size_t len, const dpt_baggage *base,
                                         dpt_baggage **out, uint32_t *dropped);
/* Serializes b as a baggage header value into a malloc'd string (free with dpt_free):
 * keys as they are, values percent-encoded (every byte outside [A-Za-z0-9-_.!~*'()]),
 * metadata appended after ';'. Entries whose key is not a token are skipped; whole
 * entries are left out once the value would pass 8192 bytes (never a partial one).
 * *dropped (optional) counts the entries left out. *out is NULL and *len 0 for an empty
 * result (DPT_OK). */
DPT_EXTERN dpt_err dpt_w3c_baggage_format(const dpt_baggage *b, char **out, size_t *len,
                                          uint32_t *dropped);

#define DPT_W3C_BAGGAGE_MAX_BYTES 8192
#define DPT_W3C_BAGGAGE_MIN_ENTRIES 64 /* always propagated when within the byte limit */

/* DPT_FLAG_B3_DEBUG (the B3 debug mark) is defined in dptrace.h beside the W3C flags. */

/* A B3 context. sampled: -1 deferred (no decision), 0 deny, 1 accept. */
typedef struct dpt_b3 {
    dpt_span_context sc; /* zero when the header carried only a sampling state */
    dpt_span_id parent;  /* zero when absent */
    int8_t sampled;
    bool debug; /* 'd' / X-B3-Flags: 1 (implies sampled) */
} dpt_b3;

/* Parses a single b3 header: "<trace>-<span>[-<state>[-<parent>]]" with a 16 or 32
 * lowercase-hex trace id (16 is padded on the left with zeros), state 0, 1 or d; or the
 * state alone ("0", "1", "d"). DPT_EPARSE on anything else, including all-zero ids. */
DPT_EXTERN dpt_err dpt_b3_parse(const char *s, size_t len, dpt_b3 *out);
/* Writes "<trace32>-<span16>-<1|0|d>" (d when debug) and a NUL; returns the length
 * (51), or 0 when the span context is invalid. */
DPT_EXTERN size_t dpt_b3_format(const dpt_b3 *b3, char out[64]);

/* Parses a Jaeger uber-trace-id value "<trace>:<span>:<parent>:<flags>" (also with the
 * ':' percent-encoded as %3A): trace 1-32 hex digits, span 1-16, parent 1-16 (ignored),
 * flags 1-2 hex digits (bit 0 sampled, bit 1 debug). Hex digits of either case; shorter
 * ids are padded on the left. DPT_EPARSE on anything else or all-zero ids. */
DPT_EXTERN dpt_err dpt_jaeger_parse(const char *s, size_t len, dpt_span_context *out, bool *debug);
/* Writes "<trace32>:<span16>:0:<01|00>" and a NUL; returns the length (54) or 0. */
DPT_EXTERN size_t dpt_jaeger_format(const dpt_span_context *sc, char out[64]);

/* ------------------------------------------------------------------------------------ */
/* Counters                                                                              */
/* ------------------------------------------------------------------------------------ */

/* Process-wide counts of what extraction and injection dropped (monotonic), as an indexed
 * array: a new format adds a counter (dpt_propagation_stat_register) instead of changing a
 * struct. The built-in counters have fixed indexes: */
typedef enum dpt_propagation_stat {
    DPT_PSTAT_TRACEPARENT_INVALID = 0,      /* traceparent present but invalid or repeated */
    DPT_PSTAT_TRACESTATE_DROPPED = 1,       /* tracestate discarded (invalid, or traceparent was) */
    DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED = 2,  /* invalid or over-limit baggage members on extract */
    DPT_PSTAT_BAGGAGE_ENTRIES_NOT_SENT = 3, /* entries left out on inject (limits, bad key) */
    DPT_PSTAT_B3_INVALID = 4,               /* b3 / X-B3-* headers present but invalid */
    DPT_PSTAT_JAEGER_INVALID = 5,        /* uber-trace-id invalid, bad uberctx-* / jaeger-baggage */
    DPT_PSTAT_EDGE_CONTEXTS_DROPPED = 6, /* incoming contexts not continued at an untrusted edge */
    DPT_PSTAT_OTTRACE_INVALID = 7,       /* ot-tracer-* headers present but invalid */
    DPT_PSTAT_BUILTIN_COUNT = 8
} dpt_propagation_stat;

#define DPT_PSTAT_MAX 64 /* built-in + registered counters */

/* Copies up to max counters (index order; relaxed loads: each one is exact, the set is not
 * a snapshot) into out (may be NULL) and returns how many counters there are. */
DPT_EXTERN size_t dpt_propagation_get_stats(uint64_t *out, size_t max);
/* The name of counter i ("traceparent_invalid", ... or the registered name), NULL past the
 * end. The string is static / lives for the life of the process. */
DPT_EXTERN const char *dpt_propagation_stat_name(size_t i);
/* Adds a counter for a format of your own; returns its index, or -1 after logging why
 * (name NULL, empty or over 47 bytes; the table is full). Registering a name again
 * returns the same index. Thread-safe. */
DPT_EXTERN int dpt_propagation_stat_register(const char *name);
/* Adds n to counter i (ignored when i is not a counter). Thread-safe, lock-free. */
DPT_EXTERN void dpt_propagation_stat_add(int i, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_PROPAGATION_H */
