/* module.c - the `dptrace` module: its types, the SpanKind and StatusCode enums, the
 * module functions (force_flush, shutdown, stats) and the shutdown at interpreter exit.
 */
#include "dpy.h"

#include <string.h>

dpy_globals dpy;

static PyObject *mod_force_flush(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    (void)m;
    static const char *const names[] = {"timeout"};
    PyObject *a[1];
    uint32_t ms;
    if (dpy_parse_args("force_flush", args, nargs, kwnames, names, 1, 0, a) < 0) return NULL;
    if (dpy_timeout_ms(a[0], &ms) < 0) return NULL;
    return PyBool_FromLong(dpy_pipeline_flush(ms));
}

static PyObject *mod_shutdown(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    (void)m;
    static const char *const names[] = {"timeout"};
    PyObject *a[1];
    uint32_t ms;
    if (dpy_parse_args("shutdown", args, nargs, kwnames, names, 1, 0, a) < 0) return NULL;
    if (dpy_timeout_ms(a[0], &ms) < 0) return NULL;
    return PyBool_FromLong(dpy_pipeline_shutdown(ms));
}

static int put(PyObject *d, const char *k, uint64_t v)
{
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    int r = o ? PyDict_SetItemString(d, k, o) : -1;
    Py_XDECREF(o);
    return r;
}

static PyObject *mod_stats(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    dpt_stats s;
    dpy_pipeline_stats(&s);
    dpt_store_stats ss;
    memset(&ss, 0, sizeof ss);
    if (dpy_store()) dpt_store_get_stats(dpy_store(), &ss);
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (put(d, "spans_started", s.spans_started) < 0 ||
        put(d, "spans_sampled", s.spans_sampled) < 0 ||
        put(d, "spans_recording", s.spans_recording) < 0 ||
        put(d, "spans_ended", s.spans_ended) < 0 ||
        put(d, "spans_exported", s.spans_exported) < 0 ||
        put(d, "spans_export_failed", s.spans_export_failed) < 0 ||
        put(d, "spans_dropped_queue", s.spans_dropped_queue) < 0 ||
        put(d, "spans_dropped_store", s.spans_dropped_store) < 0 ||
        put(d, "attrs_dropped", s.attrs_dropped) < 0 ||
        put(d, "events_dropped", s.events_dropped) < 0 ||
        put(d, "links_dropped", s.links_dropped) < 0 || put(d, "store_spans", ss.spans) < 0 ||
        put(d, "store_bytes", ss.bytes) < 0 || put(d, "store_traces", ss.traces) < 0 ||
        put(d, "store_evicted_traces", ss.evicted_traces) < 0 ||
        put(d, "store_evicted_spans", ss.evicted_spans) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyMethodDef mod_methods[] = {
    {"force_flush", (PyCFunction)(void (*)(void))mod_force_flush, METH_FASTCALL | METH_KEYWORDS,
     "force_flush(timeout=5.0) -> bool: exports every span ended so far, within timeout "
     "seconds; the GIL is released while waiting."},
    {"shutdown", (PyCFunction)(void (*)(void))mod_shutdown, METH_FASTCALL | METH_KEYWORDS,
     "shutdown(timeout=5.0) -> bool: flushes and stops the pipelines; spans started later "
     "are no-ops. Runs by itself at interpreter exit (DPTRACE_SHUTDOWN_AT_EXIT=false: not)."},
    {"stats", mod_stats, METH_NOARGS,
     "stats() -> dict: spans started, sampled, ended, exported, failed, dropped; the "
     "store's spans, bytes, traces and evictions."},
    {"_atexit", dpy_atexit, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "dptrace",
    "Distributed tracing for Python services on libdptrace (C): the span pipeline, "
    "propagation and export of dptrace's C services, with the Tracer API of the original "
    "Python design. See docs/python.md.",
    -1,
    mod_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

/* enum.Enum(name, [(NAME, value), ...], module="dptrace"); fills members[i] (new refs). */
static PyObject *make_enum(PyObject *m, PyObject *enum_mod, const char *name,
                           const char *const *names, const char *const *values, int n,
                           PyObject **members)
{
    PyObject *pairs = PyList_New(n);
    if (!pairs) return NULL;
    for (int i = 0; i < n; i++)
        PyList_SET_ITEM(pairs, i, Py_BuildValue("(ss)", names[i], values[i]));
    PyObject *Enum = PyObject_GetAttrString(enum_mod, "Enum");
    PyObject *args = Enum ? Py_BuildValue("(sN)", name, pairs) : NULL;
    if (!args) Py_DECREF(pairs);
    PyObject *kw = args ? Py_BuildValue("{ss}", "module", "dptrace") : NULL;
    PyObject *cls = kw ? PyObject_Call(Enum, args, kw) : NULL;
    Py_XDECREF(Enum);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    if (!cls) return NULL;
    for (int i = 0; i < n; i++) {
        members[i] = PyObject_GetAttrString(cls, names[i]);
        if (!members[i]) {
            Py_DECREF(cls);
            return NULL;
        }
    }
    if (PyModule_AddObjectRef(m, name, cls) < 0) {
        Py_DECREF(cls);
        return NULL;
    }
    return cls;
}

PyMODINIT_FUNC PyInit_dptrace(void)
{
    if (dpy_datetime_init() < 0) return NULL;
    DpyAsyncTracer_Type.tp_base = &DpyTracer_Type;
    PyTypeObject *types[] = {&DpySpan_Type,      &DpySpanContext_Type, &DpySampler_Type,
                             &DpyProcessor_Type, &DpyTracer_Type,      &DpyAsyncTracer_Type,
                             &DpyReady_Type};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i]) < 0) return NULL;

    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    static const char *const pub[] = {"Span",          "SpanContext", "Sampler",
                                      "SpanProcessor", "Tracer",      "AsyncTracer"};
    for (size_t i = 0; i < 6; i++)
        if (PyModule_AddObjectRef(m, pub[i], (PyObject *)types[i]) < 0) goto fail;

    PyObject *enum_mod = PyImport_ImportModule("enum");
    if (!enum_mod) goto fail;
    static const char *const kn[] = {"INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"};
    static const char *const kv[] = {"internal", "server", "client", "producer", "consumer"};
    static const char *const sn[] = {"UNSET", "OK", "ERROR"};
    static const char *const sv[] = {"unset", "ok", "error"};
    dpy.SpanKind = make_enum(m, enum_mod, "SpanKind", kn, kv, 5, &dpy.kinds[1]);
    dpy.StatusCode =
        dpy.SpanKind ? make_enum(m, enum_mod, "StatusCode", sn, sv, 3, dpy.statuses) : NULL;
    Py_DECREF(enum_mod);
    if (!dpy.StatusCode) goto fail;

    dpy.current_var = PyContextVar_New("dptrace.current_span", NULL);
    dpy.str_on_start = PyUnicode_InternFromString("on_start");
    dpy.str_on_end = PyUnicode_InternFromString("on_end");
    dpy.str_items = PyUnicode_InternFromString("items");
    dpy.default_processor = PyObject_CallNoArgs((PyObject *)&DpyProcessor_Type);
    if (!dpy.current_var || !dpy.str_on_start || !dpy.str_on_end || !dpy.str_items ||
        !dpy.default_processor)
        goto fail;
    if (PyModule_AddStringConstant(m, "__version__", DPY_VERSION) < 0) goto fail;

    /* Shut the pipelines down (flush, within a deadline) when the interpreter exits. */
    PyObject *atexit_mod = PyImport_ImportModule("atexit");
    PyObject *fn = atexit_mod ? PyObject_GetAttrString(m, "_atexit") : NULL;
    PyObject *r = fn ? PyObject_CallMethod(atexit_mod, "register", "O", fn) : NULL;
    Py_XDECREF(atexit_mod);
    Py_XDECREF(fn);
    if (!r) goto fail;
    Py_DECREF(r);
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
