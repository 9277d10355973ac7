/* processor.c - SpanProcessor (the default keeps ended spans in libdptrace's bounded trace
 * store; subclasses may override on_start / on_end) and Sampler (trace-id ratio sampling,
 * the same decision as libdptrace's traceidratio sampler in every service).
 */
#include "dpy.h"

#include <math.h>
#include <string.h>

/* ---- the store ------------------------------------------------------------------------------ */

PyObject *dpy_store_get_trace(PyObject *trace_id)
{
    dpt_trace_id id;
    if (dpy_parse_trace_id(trace_id, &id) < 0) return NULL;
    dpt_store *st = dpy_store();
    dpt_trace_snapshot *snap = NULL;
    if (!st || dpt_store_get_trace(st, &id, &snap) != DPT_OK) return PyList_New(0);
    size_t n = dpt_trace_snapshot_count(snap);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *s = (PyObject *)dpy_span_from_data(dpt_trace_snapshot_span(snap, i));
        if (!s)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    dpt_trace_snapshot_free(snap); /* each Span took its own reference */
    return list;
}

PyObject *dpy_store_export_trace(PyObject *trace_id)
{
    dpt_trace_id id;
    if (dpy_parse_trace_id(trace_id, &id) < 0) return NULL;
    dpt_store *st = dpy_store();
    char *json = NULL;
    size_t len = 0;
    dpt_err e = st ? dpt_store_get_trace_json(st, &id, &json, &len) : DPT_ENOTFOUND;
    if (e == DPT_ENOTFOUND) return PyUnicode_FromString("{}");
    if (e != DPT_OK) {
        dpt_free(json);
        return e == DPT_ENOMEM
                   ? PyErr_NoMemory()
                   : PyErr_Format(PyExc_RuntimeError, "export_trace: %s", dpt_strerror(e));
    }
    PyObject *r = PyUnicode_DecodeUTF8(json, (Py_ssize_t)len, "replace");
    dpt_free(json);
    return r;
}

/* ---- SpanProcessor -------------------------------------------------------------------------- */

bool dpy_processor_overrides(PyTypeObject *type, PyObject *name)
{
    if (type == &DpyProcessor_Type) return false;
    PyObject *base = PyObject_GetAttr((PyObject *)&DpyProcessor_Type, name);
    PyObject *mine = base ? PyObject_GetAttr((PyObject *)type, name) : NULL;
    bool over = mine && mine != base;
    Py_XDECREF(base);
    Py_XDECREF(mine);
    return over;
}

static PyObject *proc_noop(PyObject *self, PyObject *span)
{
    (void)self;
    (void)span;
    Py_RETURN_NONE;
}

static PyObject *proc_get_trace(PyObject *self, PyObject *trace_id)
{
    (void)self;
    return dpy_store_get_trace(trace_id);
}

static PyObject *proc_export_trace(PyObject *self, PyObject *trace_id)
{
    (void)self;
    return dpy_store_export_trace(trace_id);
}

static PyObject *proc_force_flush(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    (void)self;
    static const char *const names[] = {"timeout"};
    PyObject *a[1];
    uint32_t ms;
    if (dpy_parse_args("force_flush", args, nargs, kwnames, names, 1, 0, a) < 0) return NULL;
    if (dpy_timeout_ms(a[0], &ms) < 0) return NULL;
    return PyBool_FromLong(dpy_pipeline_flush(ms));
}

static PyMethodDef proc_methods[] = {
    {"on_start", proc_noop, METH_O,
     "on_start(span): called when a recording span of a tracer using this processor "
     "starts (on the starting thread). Override it in a subclass."},
    {"on_end", proc_noop, METH_O,
     "on_end(span): called when such a span ends (on the ending thread; the span's data "
     "is readable). Override it in a subclass."},
    {"get_trace", proc_get_trace, METH_O,
     "get_trace(trace_id) -> list[Span]: the ended spans of the trace kept in the store "
     "(in end order; [] when unknown or evicted)."},
    {"export_trace", proc_export_trace, METH_O,
     "export_trace(trace_id) -> str: a JSON document {\"trace_id\": ..., \"spans\": [...]}, "
     "or \"{}\" for an unknown trace."},
    {"force_flush", (PyCFunction)(void (*)(void))proc_force_flush, METH_FASTCALL | METH_KEYWORDS,
     "force_flush(timeout=5.0) -> bool: exports everything ended so far."},
    {NULL, NULL, 0, NULL},
};

static PyObject *proc_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return type->tp_alloc(type, 0); /* subclasses may take their own __init__ arguments */
}

PyTypeObject DpyProcessor_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace.SpanProcessor",
    .tp_basicsize = sizeof(DpyProcessor),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "SpanProcessor()\n\nSees the spans of the tracers using it. Every recorded span "
              "is kept in dptrace's bounded trace store (DPTRACE_STORE_MAX_SPANS, "
              "DPTRACE_STORE_MAX_BYTES; oldest whole traces evicted first), read back with "
              "get_trace / export_trace. A subclass may override on_start and on_end; they are "
              "called only when overridden.",
    .tp_methods = proc_methods,
    .tp_new = proc_new,
};

/* ---- Sampler --------------------------------------------------------------------------------- */

static PyObject *sampler_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwl[] = {"sample_rate", NULL};
    PyObject *r = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:Sampler", kwl, &r)) return NULL;
    double rate = 1.0;
    if (r) {
        if (PyBool_Check(r) || !(PyFloat_Check(r) || PyLong_Check(r))) {
            PyErr_Format(PyExc_TypeError, "sample_rate must be a number, not %.100s",
                         Py_TYPE(r)->tp_name);
            return NULL;
        }
        rate = PyFloat_AsDouble(r);
        if (rate == -1.0 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return NULL;
            PyErr_Clear();
            rate = NAN; /* a huge int: out of range below */
        }
    }
    if (!(rate >= 0.0 && rate <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "sample_rate must be in [0, 1]");
        return NULL;
    }
    DpySampler *s = (DpySampler *)type->tp_alloc(type, 0);
    if (!s) return NULL;
    s->rate = rate;
    s->ratio = dpt_sampler_traceid_ratio(rate);
    if (!s->ratio) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    return (PyObject *)s;
}

static void sampler_dealloc(DpySampler *s)
{
    dpt_sampler_free(s->ratio);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *sampler_should_sample(DpySampler *s, PyObject *trace_id)
{
    dpt_trace_id id;
    if (dpy_parse_trace_id(trace_id, &id) < 0) return NULL;
    dpt_sampling_params in;
    memset(&in, 0, sizeof in);
    in.trace_id = &id;
    in.name = "";
    in.kind = DPT_SPAN_INTERNAL;
    dpt_sampling_result out;
    memset(&out, 0, sizeof out);
    dpt_sampler_should_sample(s->ratio, &in, &out);
    dpt_tracestate_release(out.tracestate);
    return PyBool_FromLong(out.decision == DPT_RECORD_AND_SAMPLE);
}

static PyObject *sampler_rate(DpySampler *s, void *c)
{
    (void)c;
    return PyFloat_FromDouble(s->rate);
}

static PyObject *sampler_repr(DpySampler *s)
{
    char buf[64];
    snprintf(buf, sizeof buf, "Sampler(sample_rate=%.17g)", s->rate);
    return PyUnicode_FromString(buf);
}

static PyMethodDef sampler_methods[] = {
    {"should_sample", (PyCFunction)sampler_should_sample, METH_O,
     "should_sample(trace_id) -> bool: the decision for a root span of that trace; it "
     "depends only on the trace id (OpenTelemetry's TraceIdRatioBased: the id's last 8 "
     "bytes below rate * 2**64), so every service decides the same way."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sampler_getset[] = {
    {"sample_rate", (getter)sampler_rate, NULL, "The rate in [0, 1].", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject DpySampler_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace.Sampler",
    .tp_basicsize = sizeof(DpySampler),
    .tp_dealloc = (destructor)sampler_dealloc,
    .tp_repr = (reprfunc)sampler_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sampler(sample_rate=1.0)\n\nSamples root spans whose trace id falls under "
              "sample_rate (ValueError outside [0, 1]); children follow their parent.",
    .tp_methods = sampler_methods,
    .tp_getset = sampler_getset,
    .tp_new = sampler_new,
};
