/* span.c - the Span type: a libdptrace span handle plus what Python reads from it.
 *
 * Reading costs nothing until someone reads: while a span is live, its data is read from
 * the record's view (handed over by the capture processor at start, valid while the
 * handle is live); at end, the capture processor gives the Span object one reference to
 * the finished record, released when the Span object goes away. So attributes, events and
 * times can be read after end without copying anything on the hot path, and a record
 * lives exactly as long as the pipeline (queue, store) or a Python Span still needs it.
 *
 * A Span is its own context manager: `with tracer.span(...) as s:` and
 * `async with tracer.span(...) as s:` make it the current span of the thread (Tracer) or
 * of the asyncio task (AsyncTracer) and end it on the way out, recording an exception.
 */
#include "dpy.h"

#include <string.h>

/* ---- the awaitable of __aenter__ / __aexit__ -------------------------------------------
 * A Span's async enter and exit do their work synchronously; they return an awaitable
 * that completes at once with the value (the span, or None). */
typedef struct {
    PyObject_HEAD PyObject *value;
} DpyReady;

static PyObject *ready_new(PyObject *value)
{
    DpyReady *r = PyObject_New(DpyReady, &DpyReady_Type);
    if (!r) return NULL;
    Py_XINCREF(value);
    r->value = value;
    return (PyObject *)r;
}

static void ready_dealloc(DpyReady *r)
{
    Py_XDECREF(r->value);
    PyObject_Free(r);
}

static PyObject *ready_await(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyObject *ready_next(DpyReady *r)
{
    PyObject *v = r->value;
    r->value = NULL;
    if (!v) return NULL; /* StopIteration(None) */
    if (v == Py_None) {
        Py_DECREF(v);
        return NULL;
    }
    /* A span is never a tuple or an exception, so the raw value is StopIteration's value. */
    PyErr_SetObject(PyExc_StopIteration, v);
    Py_DECREF(v);
    return NULL;
}

static PyAsyncMethods ready_async = {.am_await = ready_await};

PyTypeObject DpyReady_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace._Ready",
    .tp_basicsize = sizeof(DpyReady),
    .tp_dealloc = (destructor)ready_dealloc,
    .tp_as_async = &ready_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)ready_next,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An awaitable that is already complete (internal).",
};

/* ---- life cycle ---------------------------------------------------------------------------- */

static void call_hook(DpySpan *s, PyObject *name)
{
    PyObject *r = PyObject_CallMethodOneArg(s->tracer->processor, name, (PyObject *)s);
    if (!r) PyErr_WriteUnraisable(s->tracer->processor); /* never breaks the traced code */
    Py_XDECREF(r);
}

DpySpan *dpy_span_new(DpyTracer *t, PyObject *name, dpt_span_kind kind, PyObject *attrs,
                      PyObject *parent)
{
    Py_ssize_t nlen;
    const char *nm = dpy_utf8(name, &nlen, "name");
    if (!nm) return NULL;
    if (strlen(nm) != (size_t)nlen) {
        PyErr_SetString(PyExc_ValueError, "name must not contain NUL characters");
        return NULL;
    }
    PyObject *node = parent;
    if (!parent || parent == Py_None) {
        node = dpy_current_node(t->is_async);
    } else if (!DpySpan_Check(parent) && !DpySpanContext_Check(parent)) {
        PyErr_Format(PyExc_TypeError, "parent must be a Span, a SpanContext or None, not %.100s",
                     Py_TYPE(parent)->tp_name);
        return NULL;
    }
    dpy_attrs at;
    if (dpy_attrs_from_dict(attrs, &at) < 0) return NULL;
    dpt_span_opts o;
    memset(&o, 0, sizeof o);
    dpt_span_context psc;
    const dpt_baggage *bg;
    if (dpy_resolve_parent(node, &o, &psc, &bg) < 0) {
        dpy_attrs_free(&at);
        return NULL;
    }
    o.attrs = at.a;
    o.n_attrs = at.n;

    DpySpan *s = PyObject_GC_New(DpySpan, &DpySpan_Type);
    if (!s) {
        dpy_attrs_free(&at);
        return NULL;
    }
    s->h = dpy_span_start(t->tracer, nm, kind, &o, &s->live);
    dpy_attrs_free(&at);
    s->sc = dpt_span_get_context(s->h);
    s->has_parent = dpt_span_context_is_valid(&psc);
    s->parent_id = psc.span_id;
    s->state = DPY_SPAN_LIVE;
    s->kind = (uint8_t)kind;
    s->entered = false;
    s->data = NULL;
    s->bg = bg ? dpt_baggage_retain(bg) : NULL;
    s->dctx = NULL;
    Py_INCREF(t);
    s->tracer = t;
    Py_INCREF(name);
    s->name = name;
    s->prev = NULL;
    s->token = NULL;
    s->context = NULL;
    PyObject_GC_Track(s);
    if (t->hook_start && s->live) call_hook(s, dpy.str_on_start);
    return s;
}

DpySpan *dpy_span_from_data(const dpt_span_data *d)
{
    DpySpan *s = PyObject_GC_New(DpySpan, &DpySpan_Type);
    if (!s) return NULL;
    dpt_span_data_retain(d);
    s->h = DPT_SPAN_NONE;
    s->sc = d->ctx;
    s->parent_id = d->parent_span_id;
    s->has_parent = dpt_span_id_is_valid(&d->parent_span_id);
    s->state = DPY_SPAN_SNAPSHOT;
    s->kind = d->kind;
    s->entered = false;
    s->live = NULL;
    s->data = d;
    s->bg = NULL;
    s->dctx = NULL;
    s->tracer = NULL;
    s->name = NULL;
    s->prev = NULL;
    s->token = NULL;
    s->context = NULL;
    PyObject_GC_Track(s);
    return s;
}

int dpy_span_end_now(DpySpan *s, uint64_t end_ns)
{
    if (s->state != DPY_SPAN_LIVE) return 0; /* idempotent */
    s->state = DPY_SPAN_ENDED;
    s->live = NULL;
    s->data = dpy_span_end(s->h, end_ns);
    if (s->data && s->tracer && s->tracer->hook_end) call_hook(s, dpy.str_on_end);
    return 0;
}

const dpt_span_data *dpy_span_view(DpySpan *s)
{
    if (s->state == DPY_SPAN_LIVE) return s->live && dpt_span_is_recording(s->h) ? s->live : NULL;
    return s->data;
}

dpt_context *dpy_span_dctx(DpySpan *s)
{
    if (s->dctx) return s->dctx;
    dpt_context *c;
    if (s->state == DPY_SPAN_LIVE) {
        c = dpt_context_with_span(NULL, s->h); /* span context, handle and tracestate */
        if (c && s->bg) {
            dpt_context *c2 = dpt_context_with_baggage(c, s->bg);
            dpt_context_release(c);
            c = c2;
        }
    } else {
        dpt_tracestate *ts = NULL;
        if (s->data && s->data->tracestate_len)
            dpt_tracestate_parse(s->data->tracestate, s->data->tracestate_len, &ts);
        c = dpt_context_new(&s->sc, ts, s->bg);
        dpt_tracestate_release(ts);
    }
    if (!c) PyErr_NoMemory();
    s->dctx = c;
    return c;
}

PyObject *dpy_span_get_context(DpySpan *s)
{
    if (!s->context) {
        dpt_context *c = dpy_span_dctx(s);
        if (!c) return NULL;
        s->context = dpy_context_new(dpt_context_retain(c), &s->parent_id, s->has_parent);
        if (!s->context) return NULL;
    }
    Py_INCREF(s->context);
    return s->context;
}

static int span_traverse(DpySpan *s, visitproc visit, void *arg)
{
    Py_VISIT(s->tracer);
    Py_VISIT(s->prev);
    Py_VISIT(s->token);
    Py_VISIT(s->context);
    return 0;
}

static int span_clear(DpySpan *s)
{
    Py_CLEAR(s->prev);
    Py_CLEAR(s->token);
    Py_CLEAR(s->context);
    Py_CLEAR(s->tracer);
    return 0;
}

static void span_dealloc(DpySpan *s)
{
    PyObject_GC_UnTrack(s);
    if (s->state == DPY_SPAN_LIVE) {
        /* Dropped without end: end it now so that its record goes back to the pool (a
         * span nobody ends would hold its record forever), flagged for the reader. */
        if (s->live && dpt_span_is_recording(s->h))
            dpt_span_set_bool(s->h, "dptrace.ended_on_release", true);
        dpt_span_data_release(dpy_span_end(s->h, 0));
        s->state = DPY_SPAN_ENDED;
    }
    dpt_span_data_release(s->data);
    dpt_baggage_release(s->bg);
    dpt_context_release(s->dctx);
    span_clear(s);
    Py_CLEAR(s->name);
    PyObject_GC_Del(s);
}

/* ---- context manager ----------------------------------------------------------------------- */

static int enter(DpySpan *s)
{
    if (!s->tracer) {
        PyErr_SetString(PyExc_ValueError, "a span read from the trace store cannot be entered");
        return -1;
    }
    if (s->entered) {
        PyErr_SetString(PyExc_ValueError, "span already entered");
        return -1;
    }
    PyObject *r = dpy_current_push(s->tracer->is_async, (PyObject *)s);
    if (!r) return -1;
    if (s->tracer->is_async)
        s->token = r;
    else
        s->prev = r;
    s->entered = true;
    return 0;
}

static int leave(DpySpan *s, PyObject *exc)
{
    if (exc && exc != Py_None && PyExceptionInstance_Check(exc))
        dpy_span_record_exception(s, exc, true);
    dpy_span_end_now(s, 0);
    if (!s->entered) return 0;
    s->entered = false;
    PyObject *r = s->tracer->is_async ? s->token : s->prev;
    s->token = s->prev = NULL;
    return dpy_current_pop(s->tracer->is_async, r);
}

static PyObject *span_enter(DpySpan *s, PyObject *unused)
{
    (void)unused;
    if (enter(s) < 0) return NULL;
    Py_INCREF(s);
    return (PyObject *)s;
}

static PyObject *span_exit(DpySpan *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (leave(s, nargs >= 2 ? args[1] : NULL) < 0) return NULL;
    Py_RETURN_FALSE; /* never swallow the exception */
}

static PyObject *span_aenter(DpySpan *s, PyObject *unused)
{
    (void)unused;
    if (enter(s) < 0) return NULL;
    return ready_new((PyObject *)s);
}

static PyObject *span_aexit(DpySpan *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (leave(s, nargs >= 2 ? args[1] : NULL) < 0) return NULL;
    return ready_new(Py_None);
}

/* ---- exceptions ------------------------------------------------------------------------------ */

void dpy_span_record_exception(DpySpan *s, PyObject *exc, bool set_status)
{
    PyObject *saved_t, *saved_v, *saved_tb;
    PyErr_Fetch(&saved_t, &saved_v, &saved_tb); /* work inside an except block */
    const dpt_span_data *v = dpy_span_view(s);
    if (!v || s->state != DPY_SPAN_LIVE) goto done;

    PyObject *tname = PyObject_GetAttrString((PyObject *)Py_TYPE(exc), "__name__");
    PyObject *msg = PyObject_Str(exc);
    if (!msg) PyErr_Clear();
    PyObject *stack = NULL;
    if (!dpy.format_exception) {
        PyObject *tb = PyImport_ImportModule("traceback");
        if (tb) dpy.format_exception = PyObject_GetAttrString(tb, "format_exception");
        Py_XDECREF(tb);
    }
    if (dpy.format_exception) {
        PyObject *lines = PyObject_CallOneArg(dpy.format_exception, exc);
        if (lines) {
            PyObject *sep = PyUnicode_FromString("");
            if (sep) stack = PyUnicode_Join(sep, lines);
            Py_XDECREF(sep);
            Py_DECREF(lines);
        }
    }
    PyErr_Clear();
    const char *t = tname && PyUnicode_Check(tname) ? PyUnicode_AsUTF8(tname) : NULL;
    PyErr_Clear();
    const char *m = msg ? PyUnicode_AsUTF8(msg) : NULL;
    PyErr_Clear();
    const char *st = stack ? PyUnicode_AsUTF8(stack) : NULL;
    PyErr_Clear();
    dpt_attr a[3];
    size_t n = 0;
    a[n++] = DPT_STR("exception.type", t ? t : "Exception");
    a[n++] = DPT_STR("exception.message", m ? m : "");
    if (st) a[n++] = DPT_STR("exception.stacktrace", st);
    dpt_span_add_event(s->h, "exception", a, n);
    if (set_status) {
        PyObject *status =
            (m && *m) ? PyUnicode_FromFormat("%s: %s", t ? t : "Exception", m) : NULL;
        const char *sm = status ? PyUnicode_AsUTF8(status) : (t ? t : "Exception");
        PyErr_Clear();
        dpt_span_set_status(s->h, DPT_STATUS_ERROR, sm ? sm : "Exception");
        Py_XDECREF(status);
    }
    Py_XDECREF(tname);
    Py_XDECREF(msg);
    Py_XDECREF(stack);
done:
    PyErr_Restore(saved_t, saved_v, saved_tb);
}

/* ---- methods ------------------------------------------------------------------------------- */

/* Applies converted attributes; libdptrace ignores them on an ended or non-recording span
 * (OpenTelemetry: a no-op) and drops what is over the limits (counted). */
static PyObject *span_set_attribute(DpySpan *s, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    static const char *const names[] = {"key", "value"};
    PyObject *a[2];
    if (dpy_parse_args("set_attribute", args, nargs, kwnames, names, 2, 2, a) < 0) return NULL;
    dpy_attrs at;
    if (dpy_attrs_from_pair(a[0], a[1], &at) < 0) return NULL;
    if (s->state == DPY_SPAN_LIVE) dpt_span_set_attrs(s->h, at.a, at.n);
    dpy_attrs_free(&at);
    Py_RETURN_NONE;
}

static PyObject *span_set_attributes(DpySpan *s, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    static const char *const names[] = {"attributes"};
    PyObject *a[1];
    if (dpy_parse_args("set_attributes", args, nargs, kwnames, names, 1, 1, a) < 0) return NULL;
    if (a[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "attributes must be a dict, not None");
        return NULL;
    }
    dpy_attrs at;
    if (dpy_attrs_from_dict(a[0], &at) < 0) return NULL;
    if (s->state == DPY_SPAN_LIVE) dpt_span_set_attrs(s->h, at.a, at.n);
    dpy_attrs_free(&at);
    Py_RETURN_NONE;
}

static int add_event(DpySpan *s, PyObject *name, PyObject *attrs, PyObject *ts)
{
    Py_ssize_t nlen;
    const char *nm = dpy_utf8(name, &nlen, "an event name");
    if (!nm) return -1;
    if (strlen(nm) != (size_t)nlen) {
        PyErr_SetString(PyExc_ValueError, "an event name must not contain NUL characters");
        return -1;
    }
    uint64_t t;
    if (dpy_time_ns(ts, &t) < 0) return -1;
    dpy_attrs at;
    if (dpy_attrs_from_dict(attrs, &at) < 0) return -1;
    if (s->state == DPY_SPAN_LIVE) dpt_span_add_event_at(s->h, nm, t, at.a, at.n);
    dpy_attrs_free(&at);
    return 0;
}

static PyObject *span_add_event(DpySpan *s, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    static const char *const names[] = {"name", "attributes", "timestamp"};
    PyObject *a[3];
    if (dpy_parse_args("add_event", args, nargs, kwnames, names, 3, 1, a) < 0) return NULL;
    if (add_event(s, a[0], a[1], a[2]) < 0) return NULL;
    Py_RETURN_NONE;
}

PyObject *dpy_span_add_event_method(PyObject *span, PyObject *name, PyObject *attrs)
{
    if (!DpySpan_Check(span)) {
        PyErr_Format(PyExc_TypeError, "span must be a Span, not %.100s", Py_TYPE(span)->tp_name);
        return NULL;
    }
    if (add_event((DpySpan *)span, name, attrs, NULL) < 0) return NULL;
    Py_RETURN_NONE;
}

static int set_status(DpySpan *s, PyObject *code, PyObject *msg)
{
    dpt_status_code c;
    if (dpy_status_from(code, &c) < 0) return -1;
    const char *m = NULL;
    if (msg && msg != Py_None) {
        m = dpy_utf8(msg, NULL, "message");
        if (!m) return -1;
    }
    if (s->state == DPY_SPAN_LIVE) dpt_span_set_status(s->h, c, m);
    return 0;
}

static PyObject *span_set_status(DpySpan *s, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    static const char *const names[] = {"code", "message"};
    PyObject *a[2];
    if (dpy_parse_args("set_status", args, nargs, kwnames, names, 2, 1, a) < 0) return NULL;
    if (set_status(s, a[0], a[1]) < 0) return NULL;
    Py_RETURN_NONE;
}

PyObject *dpy_span_set_status_method(PyObject *span, PyObject *code, PyObject *msg)
{
    if (!DpySpan_Check(span)) {
        PyErr_Format(PyExc_TypeError, "span must be a Span, not %.100s", Py_TYPE(span)->tp_name);
        return NULL;
    }
    if (set_status((DpySpan *)span, code, msg) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *span_record_exception(DpySpan *s, PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
    static const char *const names[] = {"exception"};
    PyObject *a[1];
    if (dpy_parse_args("record_exception", args, nargs, kwnames, names, 1, 1, a) < 0) return NULL;
    if (!PyExceptionInstance_Check(a[0])) {
        PyErr_Format(PyExc_TypeError, "exception must be an exception, not %.100s",
                     Py_TYPE(a[0])->tp_name);
        return NULL;
    }
    dpy_span_record_exception(s, a[0], false);
    Py_RETURN_NONE;
}

static PyObject *span_end(DpySpan *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"end_time"};
    PyObject *a[1];
    if (dpy_parse_args("end", args, nargs, kwnames, names, 1, 0, a) < 0) return NULL;
    uint64_t t;
    if (dpy_time_ns(a[0], &t) < 0) return NULL;
    if (dpy_span_end_now(s, t) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *span_update_name(DpySpan *s, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    static const char *const names[] = {"name"};
    PyObject *a[1];
    if (dpy_parse_args("update_name", args, nargs, kwnames, names, 1, 1, a) < 0) return NULL;
    Py_ssize_t n;
    const char *nm = dpy_utf8(a[0], &n, "name");
    if (!nm) return NULL;
    if (strlen(nm) != (size_t)n) {
        PyErr_SetString(PyExc_ValueError, "name must not contain NUL characters");
        return NULL;
    }
    if (s->state != DPY_SPAN_LIVE) Py_RETURN_NONE;
    dpt_span_update_name(s->h, nm);
    Py_INCREF(a[0]);
    Py_XSETREF(s->name, a[0]);
    Py_RETURN_NONE;
}

static PyObject *span_is_recording(DpySpan *s, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(s->state == DPY_SPAN_LIVE && dpt_span_is_recording(s->h));
}

/* ---- properties ---------------------------------------------------------------------------- */

static PyObject *get_name(DpySpan *s, void *c)
{
    (void)c;
    if (s->name) {
        Py_INCREF(s->name);
        return s->name;
    }
    const dpt_span_data *v = dpy_span_view(s);
    return PyUnicode_DecodeUTF8(v ? v->name : "", v ? v->name_len : 0, "replace");
}

static PyObject *get_context(DpySpan *s, void *c)
{
    (void)c;
    return dpy_span_get_context(s);
}

static PyObject *get_kind(DpySpan *s, void *c)
{
    (void)c;
    int k = s->kind >= 1 && s->kind <= 5 ? s->kind : 1;
    Py_INCREF(dpy.kinds[k]);
    return dpy.kinds[k];
}

static PyObject *get_start_time(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = dpy_span_view(s);
    if (!v) Py_RETURN_NONE;
    return dpy_datetime_from_ns(v->start_ns);
}

static PyObject *get_end_time(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = s->state == DPY_SPAN_LIVE ? NULL : s->data;
    if (!v) Py_RETURN_NONE;
    return dpy_datetime_from_ns(v->end_ns);
}

static PyObject *get_start_ns(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = dpy_span_view(s);
    if (!v) Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(v->start_ns);
}

static PyObject *get_end_ns(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = s->state == DPY_SPAN_LIVE ? NULL : s->data;
    if (!v) Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(v->end_ns);
}

static PyObject *get_attributes(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = dpy_span_view(s);
    return dpy_attrs_to_dict(v ? v->attrs : NULL, v ? v->n_attrs : 0);
}

static PyObject *get_events(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = dpy_span_view(s);
    uint32_t n = v ? v->n_events : 0;
    PyObject *list = PyList_New(n);
    if (!list) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        const dpt_event *e = &v->events[i];
        PyObject *nm = PyUnicode_DecodeUTF8(e->name, e->name_len, "replace");
        PyObject *ts = nm ? dpy_datetime_from_ns(e->time_ns) : NULL;
        PyObject *at = ts ? dpy_attrs_to_dict(e->attrs, e->n_attrs) : NULL;
        PyObject *d =
            at ? Py_BuildValue("{sNsNsN}", "name", nm, "timestamp", ts, "attributes", at) : NULL;
        if (!d) {
            if (!at) {
                Py_XDECREF(nm);
                Py_XDECREF(ts);
            }
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, d);
    }
    return list;
}

static PyObject *get_status_code(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = dpy_span_view(s);
    int st = v && v->status <= 2 ? v->status : 0;
    Py_INCREF(dpy.statuses[st]);
    return dpy.statuses[st];
}

static PyObject *get_status_message(DpySpan *s, void *c)
{
    (void)c;
    const dpt_span_data *v = dpy_span_view(s);
    if (!v || v->status != DPT_STATUS_ERROR || !v->status_msg_len) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(v->status_msg, v->status_msg_len, "replace");
}

static PyObject *get_ended(DpySpan *s, void *c)
{
    (void)c;
    return PyBool_FromLong(s->state != DPY_SPAN_LIVE);
}

static PyObject *span_repr(DpySpan *s)
{
    char tid[33], sid[17];
    dpt_trace_id_to_hex(&s->sc.trace_id, tid);
    dpt_span_id_to_hex(&s->sc.span_id, sid);
    PyObject *name = get_name(s, NULL);
    if (!name) return NULL;
    PyObject *r = PyUnicode_FromFormat("<dptrace.Span %R trace_id=%s span_id=%s%s>", name, tid, sid,
                                       s->state == DPY_SPAN_LIVE ? "" : " ended");
    Py_DECREF(name);
    return r;
}

static PyMethodDef span_methods[] = {
    {"set_attribute", (PyCFunction)(void (*)(void))span_set_attribute,
     METH_FASTCALL | METH_KEYWORDS, "set_attribute(key, value): set one attribute."},
    {"set_attributes", (PyCFunction)(void (*)(void))span_set_attributes,
     METH_FASTCALL | METH_KEYWORDS, "set_attributes(attributes): set every pair of a dict."},
    {"add_event", (PyCFunction)(void (*)(void))span_add_event, METH_FASTCALL | METH_KEYWORDS,
     "add_event(name, attributes=None, timestamp=None): add an event (timestamp: datetime "
     "or Unix ns; default now)."},
    {"set_status", (PyCFunction)(void (*)(void))span_set_status, METH_FASTCALL | METH_KEYWORDS,
     "set_status(code, message=None): StatusCode UNSET, OK (final) or ERROR (with message)."},
    {"record_exception", (PyCFunction)(void (*)(void))span_record_exception,
     METH_FASTCALL | METH_KEYWORDS,
     "record_exception(exception): add an 'exception' event (type, message, stacktrace)."},
    {"end", (PyCFunction)(void (*)(void))span_end, METH_FASTCALL | METH_KEYWORDS,
     "end(end_time=None): end the span (idempotent)."},
    {"update_name", (PyCFunction)(void (*)(void))span_update_name, METH_FASTCALL | METH_KEYWORDS,
     "update_name(name): rename a live span."},
    {"is_recording", (PyCFunction)span_is_recording, METH_NOARGS,
     "Whether the span is live and recording (sampled or record-only)."},
    {"__enter__", (PyCFunction)span_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))span_exit, METH_FASTCALL, NULL},
    {"__aenter__", (PyCFunction)span_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)(void (*)(void))span_aexit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef span_getset[] = {
    {"name", (getter)get_name, NULL, "The span's name.", NULL},
    {"context", (getter)get_context, NULL, "The span's SpanContext.", NULL},
    {"kind", (getter)get_kind, NULL, "The SpanKind.", NULL},
    {"start_time", (getter)get_start_time, NULL,
     "Start time (timezone-aware UTC datetime), None when not recording.", NULL},
    {"end_time", (getter)get_end_time, NULL,
     "End time (timezone-aware UTC datetime), None while live or not recording.", NULL},
    {"start_time_ns", (getter)get_start_ns, NULL, "Start time in Unix nanoseconds.", NULL},
    {"end_time_ns", (getter)get_end_ns, NULL, "End time in Unix nanoseconds.", NULL},
    {"attributes", (getter)get_attributes, NULL, "A new dict of the attributes.", NULL},
    {"events", (getter)get_events, NULL,
     "A new list of events: dicts with name, timestamp, attributes.", NULL},
    {"status_code", (getter)get_status_code, NULL, "The StatusCode.", NULL},
    {"status_message", (getter)get_status_message, NULL, "The ERROR status message, or None.",
     NULL},
    {"ended", (getter)get_ended, NULL, "Whether the span has ended.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *span_new_refused(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)type;
    (void)args;
    (void)kw;
    PyErr_SetString(PyExc_TypeError, "spans are made by Tracer.start_span() or Tracer.span()");
    return NULL;
}

PyTypeObject DpySpan_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace.Span",
    .tp_basicsize = sizeof(DpySpan),
    .tp_dealloc = (destructor)span_dealloc,
    .tp_repr = (reprfunc)span_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A span. Its data stays readable after it ended.",
    .tp_traverse = (traverseproc)span_traverse,
    .tp_clear = (inquiry)span_clear,
    .tp_methods = span_methods,
    .tp_getset = span_getset,
    .tp_new = span_new_refused,
};
