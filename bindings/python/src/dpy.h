/* dpy.h - the CPython extension module `dptrace`: types and helpers shared by its files.
 *
 * The module is the Python tracer API of the original Datapunk design (SpanKind,
 * SpanContext, Span, Sampler, SpanProcessor, Tracer, AsyncTracer) implemented on
 * libdptrace: spans are libdptrace spans, the pipeline is the one OTEL_* configures, and
 * the "current span" lives in the binding (a thread-local cell for Tracer, a ContextVar for
 * AsyncTracer), never on libdptrace's context stack. docs/python.md is the guide.
 *
 * Threading: every function here runs with the GIL held unless it says otherwise. The
 * only code that runs without the GIL is libdptrace's (export thread, and the waits of
 * force_flush / shutdown, which release the GIL).
 */
#ifndef DPY_H
#define DPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dptrace.h>
#include <dptrace/plugin.h>
#include <dptrace/propagation.h>

#include <stdbool.h>
#include <stdint.h>

#define DPY_VERSION DPTRACE_VERSION_STRING

/* ---- types ------------------------------------------------------------------------------ */

extern PyTypeObject DpySpan_Type;
extern PyTypeObject DpySpanContext_Type;
extern PyTypeObject DpySampler_Type;
extern PyTypeObject DpyProcessor_Type;
extern PyTypeObject DpyTracer_Type;
extern PyTypeObject DpyAsyncTracer_Type;
extern PyTypeObject DpyReady_Type;

#define DpySpan_Check(o) PyObject_TypeCheck((o), &DpySpan_Type)
#define DpySpanContext_Check(o) PyObject_TypeCheck((o), &DpySpanContext_Type)

/* Span states. */
enum {
    DPY_SPAN_LIVE = 0,    /* started, not ended: h is the live handle */
    DPY_SPAN_ENDED = 1,   /* ended: data is the retained record (NULL: non-recording) */
    DPY_SPAN_SNAPSHOT = 2 /* read from the trace store: data only, no tracer */
};

typedef struct DpyTracer {
    PyObject_HEAD dpt_tracer
        *tracer;         /* owned by its provider (which lives until the process ends) */
    PyObject *sampler;   /* Sampler or None */
    PyObject *processor; /* SpanProcessor (or a subclass) */
    PyObject *name;      /* instrumentation scope name (str) */
    bool is_async;       /* AsyncTracer: the current span is a ContextVar */
    bool hook_start;     /* the processor's class overrides on_start / on_end */
    bool hook_end;
} DpyTracer;

typedef struct DpySpan {
    PyObject_HEAD dpt_span h; /* the live handle; stale once ended */
    dpt_span_context sc;      /* the span's own context (zero for a no-op span) */
    dpt_span_id parent_id;
    bool has_parent;
    uint8_t state;             /* DPY_SPAN_* */
    uint8_t kind;              /* dpt_span_kind */
    bool entered;              /* inside its with / async with block */
    const dpt_span_data *live; /* the record's view while live and recording (not owned) */
    const dpt_span_data *data; /* ended / snapshot: one reference to the record */
    dpt_baggage *bg;           /* the baggage in effect for this span (reference) */
    dpt_context *dctx;         /* lazily: this span as a parent context (reference) */
    DpyTracer *tracer;         /* NULL for snapshot spans */
    PyObject *name;            /* str; NULL for snapshot spans (read from data) */
    PyObject *prev;            /* Tracer: the current node before __enter__ */
    PyObject *token;           /* AsyncTracer: the ContextVar token of __enter__ */
    PyObject *context;         /* cached SpanContext */
} DpySpan;

/* An immutable span context: a libdptrace context value (span context, tracestate,
 * baggage) plus what Python shows besides (the parent span id, and the local span's
 * handle, which may be stale). */
typedef struct DpySpanContext {
    PyObject_HEAD dpt_context *dctx; /* reference; never NULL */
    dpt_span_id parent_id;
    bool has_parent;
    Py_hash_t hash;
    PyObject *span; /* set_baggage's node: the Span it extends (or NULL) */
} DpySpanContext;

typedef struct DpySampler {
    PyObject_HEAD double rate;
    dpt_sampler *ratio; /* traceid_ratio(rate): should_sample's decision */
} DpySampler;

typedef struct DpyProcessor {
    PyObject_HEAD
} DpyProcessor;

/* ---- module state (process-wide; the module supports one interpreter) ------------------- */

typedef struct dpy_globals {
    PyObject *kinds[6];    /* SpanKind members by dpt_span_kind (index 0 unused) */
    PyObject *statuses[3]; /* StatusCode members by dpt_status_code */
    PyObject *SpanKind;
    PyObject *StatusCode;
    PyObject *current_var;       /* ContextVar of AsyncTracer's current node */
    PyObject *default_processor; /* shared SpanProcessor of tracers given none */
    PyObject *str_on_start, *str_on_end, *str_items;
    PyObject *format_exception; /* traceback.format_exception, imported lazily */
} dpy_globals;

extern dpy_globals dpy;

/* ---- pipeline.c: providers, the trace store, the capture processor ---------------------- */

/* The provider for a sampling configuration (rate < 0: OTEL_TRACES_SAMPLER), created on
 * first use from the environment (OTEL_*), with the trace store and the capture processor
 * added. NULL after shutdown or when memory is exhausted (then spans are no-ops). Sets
 * ValueError when too many distinct rates were asked for. */
dpt_provider *dpy_pipeline_get(double rate, bool *error);
/* The trace store shared by every pipeline (NULL when disabled). */
dpt_store *dpy_store(void);
/* Starts a span and captures its record view (NULL when not recording). */
dpt_span dpy_span_start(dpt_tracer *t, const char *name, dpt_span_kind kind, const dpt_span_opts *o,
                        const dpt_span_data **view);
/* Ends a span (at end_ns, 0: now) and returns a reference to its finished record (NULL
 * when not recording or already ended). */
const dpt_span_data *dpy_span_end(dpt_span h, uint64_t end_ns);
/* force_flush / shutdown of every pipeline within timeout_ms; the GIL is released while
 * waiting. Return true when everything completed. */
bool dpy_pipeline_flush(uint32_t timeout_ms);
bool dpy_pipeline_shutdown(uint32_t timeout_ms);
/* Sums every pipeline's counters. */
void dpy_pipeline_stats(dpt_stats *out);
/* Module function registered with atexit. */
PyObject *dpy_atexit(PyObject *mod, PyObject *unused);

/* ---- convert.c -------------------------------------------------------------------------- */

/* Imports the datetime C API (module init). -1 + exception. */
int dpy_datetime_init(void);

/* Fast argument parsing for METH_FASTCALL | METH_KEYWORDS: fills out[0..n) from positional
 * then keyword arguments named names[i]; out[i] is NULL when not given. The first
 * `required` are mandatory. Returns 0, or -1 with TypeError set. Borrowed references. */
int dpy_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                   const char *const *names, int n, int required, PyObject **out);

/* Converted attributes: a dpt_attr array plus what it points into. */
typedef struct dpy_attrs {
    dpt_attr *a;
    size_t n;
    dpt_attr inline_a[8];
    void *heap; /* one block for arrays and the spilled attr array */
} dpy_attrs;

/* Converts a dict (or None) of attributes. Keys must be non-empty str; values str, bool,
 * int (int64), float, or a list/tuple of one of those. Returns 0, or -1 with TypeError /
 * ValueError set (nothing converted). Strings point into the Python objects, which
 * the dict keeps alive: use the result before the dict can change. */
int dpy_attrs_from_dict(PyObject *dict, dpy_attrs *out);
/* Converts one key/value pair. */
int dpy_attrs_from_pair(PyObject *key, PyObject *value, dpy_attrs *out);
void dpy_attrs_free(dpy_attrs *a);

/* A dict of attributes from stored ones; NULL with an exception on error. */
PyObject *dpy_attrs_to_dict(const dpt_attr *a, uint32_t n);
/* A timezone-aware UTC datetime from Unix nanoseconds. */
PyObject *dpy_datetime_from_ns(uint64_t ns);
/* Unix nanoseconds from None (0: now), an int (ns) or a datetime (naive: UTC).
 * -1 with an exception on error. */
int dpy_time_ns(PyObject *o, uint64_t *out);
/* The UTF-8 of a str; NULL with TypeError (naming what) when o is not a str. */
const char *dpy_utf8(PyObject *o, Py_ssize_t *len, const char *what);

/* A timeout argument in seconds (None: 5) as milliseconds. -1 + TypeError / ValueError. */
int dpy_timeout_ms(PyObject *o, uint32_t *ms);

/* Hex helpers: a new str of the id; parse a str id into out (TypeError / ValueError). */
PyObject *dpy_trace_id_str(const dpt_trace_id *id);
PyObject *dpy_span_id_str(const dpt_span_id *id);
int dpy_parse_trace_id(PyObject *o, dpt_trace_id *out);

/* SpanKind / StatusCode conversion (member or its value/name as a str). -1 + exception. */
int dpy_kind_from(PyObject *o, dpt_span_kind *out);
int dpy_status_from(PyObject *o, dpt_status_code *out);

/* ---- span.c ----------------------------------------------------------------------------- */

/* Starts a span for tracer t: parent (Span, SpanContext, or NULL/None for the current
 * node), attributes dict or NULL. Returns a new Span or NULL with an exception. */
DpySpan *dpy_span_new(DpyTracer *t, PyObject *name, dpt_span_kind kind, PyObject *attrs,
                      PyObject *parent);
/* A read-only Span over a stored record (takes a new reference to d). */
DpySpan *dpy_span_from_data(const dpt_span_data *d);
/* Ends the span (idempotent), calls the processor's on_end hook. 0 or -1 + exception. */
int dpy_span_end_now(DpySpan *s, uint64_t end_ns);
/* The record view to read (live or retained), or NULL. */
const dpt_span_data *dpy_span_view(DpySpan *s);
/* The span as a parent libdptrace context (borrowed, cached), or NULL on ENOMEM. */
dpt_context *dpy_span_dctx(DpySpan *s);
/* span.context (new reference). */
PyObject *dpy_span_get_context(DpySpan *s);
/* Records an exception on the span: an "exception" event (type, message, stacktrace);
 * with set_status also ERROR "<type>: <message>". Never fails (errors are swallowed). */
void dpy_span_record_exception(DpySpan *s, PyObject *exc, bool set_status);

/* Tracer.add_event / Tracer.set_status on a Span argument (TypeError for anything else). */
PyObject *dpy_span_add_event_method(PyObject *span, PyObject *name, PyObject *attrs);
PyObject *dpy_span_set_status_method(PyObject *span, PyObject *code, PyObject *msg);

/* ---- context.c -------------------------------------------------------------------------- */

/* A new SpanContext owning dctx (reference taken over). */
PyObject *dpy_context_new(dpt_context *dctx, const dpt_span_id *parent, bool has_parent);
/* The current node: the innermost Span or SpanContext made current (borrowed), or NULL.
 * Tracer: the thread's; AsyncTracer: the task's (ContextVar), else the thread's. */
PyObject *dpy_current_node(bool is_async);
/* Makes node current; returns the restore value (Tracer: the previous node, new ref;
 * AsyncTracer: a ContextVar token), or NULL with an exception. */
PyObject *dpy_current_push(bool is_async, PyObject *node);
/* Undoes a push with its restore value (consumes the reference). 0 or -1 + exception. */
int dpy_current_pop(bool is_async, PyObject *restore);
/* Parent resolution for a new span: fills o (parent / parent_span / root), the parent's
 * span context and its baggage (borrowed). node NULL or None: a root span. */
int dpy_resolve_parent(PyObject *node, dpt_span_opts *o, dpt_span_context *parent_sc,
                       const dpt_baggage **bg);
/* A libdptrace context for node (new reference): for inject. NULL with exception. */
dpt_context *dpy_node_dctx(PyObject *node);
/* The baggage of node (borrowed, may be NULL). */
const dpt_baggage *dpy_node_baggage(PyObject *node);
/* Tracer methods implemented in context.c. */
PyObject *dpy_tracer_inject(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames);
PyObject *dpy_tracer_extract(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames);
PyObject *dpy_tracer_set_baggage(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames);
PyObject *dpy_tracer_get_baggage(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames);
/* A dict of a baggage's entries (new reference). */
PyObject *dpy_baggage_dict(const dpt_baggage *bg);

/* ---- processor.c ------------------------------------------------------------------------ */

/* get_trace / export_trace of the store (shared by SpanProcessor and Tracer). */
PyObject *dpy_store_get_trace(PyObject *trace_id);
PyObject *dpy_store_export_trace(PyObject *trace_id);
/* Whether type overrides SpanProcessor's method name (on_start / on_end). */
bool dpy_processor_overrides(PyTypeObject *type, PyObject *name);

#endif /* DPY_H */
