/* tracer.c - Tracer and AsyncTracer: start spans on a libdptrace tracer, keep the current
 * span (per thread / per asyncio task), and delegate reading to the SpanProcessor.
 *
 * A Tracer holds a libdptrace tracer of the pipeline for its sampler (see pipeline.c) and
 * its SpanProcessor. Whether the processor's class overrides on_start / on_end is decided
 * once, here, so that spans call into Python only when a hook exists.
 */
#include "dpy.h"

#include <math.h>
#include <string.h>

static PyObject *tracer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwl[] = {"sampler", "processor", "name", "version", NULL};
    PyObject *sampler = Py_None, *processor = Py_None, *name = Py_None, *version = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO:Tracer", kwl, &sampler, &processor, &name,
                                     &version))
        return NULL;
    if (sampler != Py_None && !PyObject_TypeCheck(sampler, &DpySampler_Type)) {
        PyErr_Format(PyExc_TypeError, "sampler must be a Sampler or None, not %.100s",
                     Py_TYPE(sampler)->tp_name);
        return NULL;
    }
    if (processor == Py_None) processor = dpy.default_processor;
    if (!PyObject_TypeCheck(processor, &DpyProcessor_Type)) {
        PyErr_Format(PyExc_TypeError, "processor must be a SpanProcessor or None, not %.100s",
                     Py_TYPE(processor)->tp_name);
        return NULL;
    }
    const char *nm = "dptrace.python", *ver = DPY_VERSION;
    if (name != Py_None && !(nm = dpy_utf8(name, NULL, "name"))) return NULL;
    if (version != Py_None && !(ver = dpy_utf8(version, NULL, "version"))) return NULL;

    bool err;
    double rate = sampler == Py_None ? -1.0 : ((DpySampler *)sampler)->rate;
    dpt_provider *p = dpy_pipeline_get(rate, &err);
    if (err) return NULL;

    DpyTracer *t = (DpyTracer *)type->tp_alloc(type, 0);
    if (!t) return NULL;
    t->tracer = dpt_provider_get_tracer(p, nm, ver); /* NULL p: NULL tracer, no-op spans */
    Py_INCREF(sampler);
    t->sampler = sampler;
    Py_INCREF(processor);
    t->processor = processor;
    t->name = PyUnicode_FromString(nm);
    if (!t->name) {
        Py_DECREF(t);
        return NULL;
    }
    t->is_async = PyType_IsSubtype(type, &DpyAsyncTracer_Type);
    t->hook_start = dpy_processor_overrides(Py_TYPE(processor), dpy.str_on_start);
    t->hook_end = dpy_processor_overrides(Py_TYPE(processor), dpy.str_on_end);
    if (PyErr_Occurred()) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static int tracer_traverse(DpyTracer *t, visitproc visit, void *arg)
{
    Py_VISIT(t->sampler);
    Py_VISIT(t->processor);
    return 0;
}

static int tracer_clear(DpyTracer *t)
{
    Py_CLEAR(t->sampler);
    Py_CLEAR(t->processor);
    return 0;
}

static void tracer_dealloc(DpyTracer *t)
{
    PyObject_GC_UnTrack(t);
    tracer_clear(t);
    Py_CLEAR(t->name);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

/* start_span / span: the same work; the Span is its own context manager. */
static PyObject *start(DpyTracer *t, const char *fname, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames)
{
    static const char *const names[] = {"name", "kind", "attributes", "parent"};
    PyObject *a[4];
    if (dpy_parse_args(fname, args, nargs, kwnames, names, 4, 1, a) < 0) return NULL;
    dpt_span_kind kind;
    if (dpy_kind_from(a[1], &kind) < 0) return NULL;
    return (PyObject *)dpy_span_new(t, a[0], kind, a[2], a[3]);
}

static PyObject *tracer_start_span(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    return start(t, "start_span", args, nargs, kwnames);
}

static PyObject *tracer_span(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return start(t, "span", args, nargs, kwnames);
}

static int span_arg(PyObject *o)
{
    if (o && DpySpan_Check(o)) return 0;
    PyErr_Format(PyExc_TypeError, "span must be a Span, not %.100s",
                 o ? Py_TYPE(o)->tp_name : "nothing");
    return -1;
}

static PyObject *tracer_end_span(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    (void)t;
    static const char *const names[] = {"span", "end_time"};
    PyObject *a[2];
    if (dpy_parse_args("end_span", args, nargs, kwnames, names, 2, 1, a) < 0) return NULL;
    if (span_arg(a[0]) < 0) return NULL;
    uint64_t ns;
    if (dpy_time_ns(a[1], &ns) < 0) return NULL;
    if (dpy_span_end_now((DpySpan *)a[0], ns) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *tracer_add_event(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    (void)t;
    static const char *const names[] = {"span", "name", "attributes"};
    PyObject *a[3];
    if (dpy_parse_args("add_event", args, nargs, kwnames, names, 3, 2, a) < 0) return NULL;
    return dpy_span_add_event_method(a[0], a[1], a[2]);
}

static PyObject *tracer_set_status(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    (void)t;
    static const char *const names[] = {"span", "code", "message"};
    PyObject *a[3];
    if (dpy_parse_args("set_status", args, nargs, kwnames, names, 3, 2, a) < 0) return NULL;
    return dpy_span_set_status_method(a[0], a[1], a[2]);
}

static PyObject *tracer_get_current_span(DpyTracer *t, PyObject *unused)
{
    (void)unused;
    PyObject *node = dpy_current_node(t->is_async);
    if (!node) Py_RETURN_NONE;
    if (DpySpan_Check(node)) return dpy_span_get_context((DpySpan *)node);
    Py_INCREF(node);
    return node;
}

static PyObject *tracer_current_span(DpyTracer *t, PyObject *unused)
{
    (void)unused;
    PyObject *node = dpy_current_node(t->is_async);
    if (node && DpySpanContext_Check(node)) node = ((DpySpanContext *)node)->span;
    if (!node) Py_RETURN_NONE;
    Py_INCREF(node);
    return node;
}

static PyObject *tracer_get_trace(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    static const char *const names[] = {"trace_id"};
    PyObject *a[1];
    if (dpy_parse_args("get_trace", args, nargs, kwnames, names, 1, 1, a) < 0) return NULL;
    return PyObject_CallMethod(t->processor, "get_trace", "O", a[0]);
}

static PyObject *tracer_export_trace(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    static const char *const names[] = {"trace_id"};
    PyObject *a[1];
    if (dpy_parse_args("export_trace", args, nargs, kwnames, names, 1, 1, a) < 0) return NULL;
    return PyObject_CallMethod(t->processor, "export_trace", "O", a[0]);
}

/* A timeout in seconds (default 5) as milliseconds. */
int dpy_timeout_ms(PyObject *o, uint32_t *ms)
{
    *ms = 5000;
    if (!o || o == Py_None) return 0;
    if (PyBool_Check(o) || !(PyFloat_Check(o) || PyLong_Check(o))) {
        PyErr_Format(PyExc_TypeError, "timeout must be a number of seconds, not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    double s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred()) return -1;
    if (!(s >= 0.0) || isinf(s)) {
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 seconds and finite");
        return -1;
    }
    double m = s * 1000.0;
    *ms = m >= 4294967295.0 ? UINT32_MAX : (uint32_t)m;
    return 0;
}

static PyObject *tracer_force_flush(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    (void)t;
    static const char *const names[] = {"timeout"};
    PyObject *a[1];
    uint32_t ms;
    if (dpy_parse_args("force_flush", args, nargs, kwnames, names, 1, 0, a) < 0) return NULL;
    if (dpy_timeout_ms(a[0], &ms) < 0) return NULL;
    return PyBool_FromLong(dpy_pipeline_flush(ms));
}

static PyObject *tracer_get_sampler(DpyTracer *t, void *c)
{
    (void)c;
    Py_INCREF(t->sampler);
    return t->sampler;
}

static PyObject *tracer_get_processor(DpyTracer *t, void *c)
{
    (void)c;
    Py_INCREF(t->processor);
    return t->processor;
}

static PyObject *tracer_get_name(DpyTracer *t, void *c)
{
    (void)c;
    Py_INCREF(t->name);
    return t->name;
}

#define FAST(fn) (PyCFunction)(void (*)(void))(fn), METH_FASTCALL | METH_KEYWORDS

static PyMethodDef tracer_methods[] = {
    {"start_span", FAST(tracer_start_span),
     "start_span(name, kind=SpanKind.INTERNAL, attributes=None, parent=None) -> Span\n\n"
     "Starts a span, child of parent (a Span or SpanContext) or of the current span. It "
     "is not made current: end it with end_span(), or use it in a with block."},
    {"span", FAST(tracer_span),
     "span(name, kind=SpanKind.INTERNAL, attributes=None, parent=None) -> Span\n\n"
     "A span for `with` / `async with`: current inside the block, ended at its end; an "
     "exception sets ERROR, adds an 'exception' event and propagates."},
    {"end_span", FAST(tracer_end_span), "end_span(span, end_time=None): ends it (idempotent)."},
    {"add_event", FAST(tracer_add_event), "add_event(span, name, attributes=None)"},
    {"set_status", FAST(tracer_set_status), "set_status(span, code, message=None)"},
    {"get_current_span", (PyCFunction)tracer_get_current_span, METH_NOARGS,
     "get_current_span() -> SpanContext | None: the current span's context."},
    {"current_span", (PyCFunction)tracer_current_span, METH_NOARGS,
     "current_span() -> Span | None: the current Span object (None when the current "
     "context is a remote one)."},
    {"get_trace", FAST(tracer_get_trace),
     "get_trace(trace_id) -> list[Span]: the processor's spans of that trace."},
    {"export_trace", FAST(tracer_export_trace),
     "export_trace(trace_id) -> str: JSON of the trace ('{}' when unknown)."},
    {"inject", FAST(dpy_tracer_inject),
     "inject(headers, context=None) -> headers: writes the current (or given) context into "
     "the dict with the OTEL_PROPAGATORS propagators."},
    {"extract", FAST(dpy_tracer_extract),
     "extract(headers) -> SpanContext | None: reads a context from headers (a dict, a "
     "mapping such as http.server's headers, or (name, value) pairs)."},
    {"set_baggage", FAST(dpy_tracer_set_baggage),
     "set_baggage(key, value): sets (value None: removes) a baggage entry in the current "
     "context, until the enclosing span's block ends."},
    {"get_baggage", FAST(dpy_tracer_get_baggage),
     "get_baggage(key=None) -> str | None | dict: one entry, or all of them."},
    {"force_flush", FAST(tracer_force_flush),
     "force_flush(timeout=5.0) -> bool: exports everything ended so far (the GIL is "
     "released while waiting)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tracer_getset[] = {
    {"sampler", (getter)tracer_get_sampler, NULL, "The Sampler, or None.", NULL},
    {"processor", (getter)tracer_get_processor, NULL, "The SpanProcessor.", NULL},
    {"name", (getter)tracer_get_name, NULL, "The instrumentation scope name.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject DpyTracer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace.Tracer",
    .tp_basicsize = sizeof(DpyTracer),
    .tp_dealloc = (destructor)tracer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Tracer(sampler=None, processor=None, name=None, version=None)\n\n"
              "Starts spans; the current span is per thread. Spans go through the pipeline "
              "configured by the OTEL_* variables; sampler (a Sampler) decides for root spans "
              "(children follow their parent), default OTEL_TRACES_SAMPLER.",
    .tp_traverse = (traverseproc)tracer_traverse,
    .tp_clear = (inquiry)tracer_clear,
    .tp_methods = tracer_methods,
    .tp_getset = tracer_getset,
    .tp_new = tracer_new,
};

PyTypeObject DpyAsyncTracer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace.AsyncTracer",
    .tp_basicsize = sizeof(DpyTracer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "AsyncTracer(sampler=None, processor=None, name=None, version=None)\n\n"
              "A Tracer whose current span is per asyncio task (a ContextVar): tasks created "
              "inside a span (create_task, gather) are its children. `async with "
              "tracer.span(...)` and `with tracer.span(...)` both work.",
    .tp_traverse = (traverseproc)tracer_traverse,
    .tp_clear = (inquiry)tracer_clear,
    /* tp_base is set at module init (&DpyTracer_Type) */
};
