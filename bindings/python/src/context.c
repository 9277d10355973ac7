/* context.c - SpanContext, the current span, propagation and baggage.
 *
 * The "current node" is what a new span takes as its parent when none is given: the
 * innermost Span entered with `with` / `async with`, or a SpanContext made current by
 * set_baggage. Tracer keeps it in a thread-local cell (per thread, as the original
 * design), AsyncTracer in a ContextVar, so each asyncio task has its own and a task
 * created inside a span (create_task, gather) starts with that span current: asyncio
 * copies the context into the task. Nothing is stored per task by this module, so nothing
 * is left behind when a task finishes.
 *
 * inject / extract run libdptrace's propagators (OTEL_PROPAGATORS: W3C Trace Context and
 * Baggage by default, B3, Jaeger) over Python header containers.
 */
#include "dpy.h"

#include <string.h>

/* ---- SpanContext --------------------------------------------------------------------------- */

PyObject *dpy_context_new(dpt_context *dctx, const dpt_span_id *parent, bool has_parent)
{
    if (!dctx) return PyErr_NoMemory();
    DpySpanContext *c = PyObject_GC_New(DpySpanContext, &DpySpanContext_Type);
    if (!c) {
        dpt_context_release(dctx);
        return NULL;
    }
    c->dctx = dctx;
    c->span = NULL;
    memset(&c->parent_id, 0, sizeof c->parent_id);
    c->has_parent = has_parent && parent;
    if (c->has_parent) c->parent_id = *parent;
    c->hash = -1;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

static int ctx_traverse(DpySpanContext *c, visitproc visit, void *arg)
{
    Py_VISIT(c->span);
    return 0;
}

static int ctx_clear(DpySpanContext *c)
{
    Py_CLEAR(c->span);
    return 0;
}

static void ctx_dealloc(DpySpanContext *c)
{
    PyObject_GC_UnTrack(c);
    dpt_context_release(c->dctx);
    Py_CLEAR(c->span);
    PyObject_GC_Del(c);
}

static dpt_span_context ctx_sc(DpySpanContext *c)
{
    return dpt_context_span_context(c->dctx);
}

/* SpanContext(trace_id, span_id, parent_span_id=None, baggage=None, sampled=True): a
 * context received from elsewhere (remote), e.g. to continue a trace by hand. */
static PyObject *ctx_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)type;
    static char *kwl[] = {"trace_id", "span_id", "parent_span_id", "baggage", "sampled", NULL};
    PyObject *tid, *sid, *pid = Py_None, *bag = Py_None;
    int sampled = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOp:SpanContext", kwl, &tid, &sid, &pid, &bag,
                                     &sampled))
        return NULL;
    dpt_span_context sc;
    memset(&sc, 0, sizeof sc);
    if (dpy_parse_trace_id(tid, &sc.trace_id) < 0) return NULL;
    Py_ssize_t n;
    const char *s = dpy_utf8(sid, &n, "span_id");
    if (!s) return NULL;
    if (dpt_span_id_from_hex(s, (size_t)n, &sc.span_id) != DPT_OK) {
        PyErr_SetString(PyExc_ValueError, "span_id must be 16 hex digits");
        return NULL;
    }
    if (!dpt_span_context_is_valid(&sc)) {
        PyErr_SetString(PyExc_ValueError, "trace_id and span_id must not be all zero");
        return NULL;
    }
    dpt_span_id parent;
    bool has_parent = false;
    if (pid != Py_None) {
        s = dpy_utf8(pid, &n, "parent_span_id");
        if (!s) return NULL;
        if (dpt_span_id_from_hex(s, (size_t)n, &parent) != DPT_OK) {
            PyErr_SetString(PyExc_ValueError, "parent_span_id must be 16 hex digits");
            return NULL;
        }
        has_parent = true;
    }
    sc.flags = sampled ? DPT_FLAG_SAMPLED : 0;
    sc.remote = true;
    dpt_baggage *bg = NULL;
    if (bag != Py_None) {
        if (!PyDict_Check(bag)) {
            PyErr_Format(PyExc_TypeError, "baggage must be a dict, not %.100s",
                         Py_TYPE(bag)->tp_name);
            return NULL;
        }
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(bag, &pos, &k, &v)) {
            Py_ssize_t kl, vl;
            const char *ks = dpy_utf8(k, &kl, "a baggage key");
            const char *vs = ks ? dpy_utf8(v, &vl, "a baggage value") : NULL;
            if (!vs || !kl || strlen(ks) != (size_t)kl || strlen(vs) != (size_t)vl) {
                if (vs) PyErr_SetString(PyExc_ValueError, "invalid baggage key or value");
                dpt_baggage_release(bg);
                return NULL;
            }
            dpt_baggage *nb = NULL;
            dpt_err e = dpt_baggage_set(bg, ks, vs, NULL, &nb);
            dpt_baggage_release(bg);
            bg = nb;
            if (e != DPT_OK) {
                dpt_baggage_release(bg);
                if (e == DPT_ENOMEM) return PyErr_NoMemory();
                PyErr_Format(PyExc_ValueError, "baggage not accepted: %s", dpt_strerror(e));
                return NULL;
            }
        }
    }
    dpt_context *dctx = dpt_context_new(&sc, NULL, bg);
    dpt_baggage_release(bg);
    return dpy_context_new(dctx, &parent, has_parent);
}

static PyObject *ctx_trace_id(DpySpanContext *c, void *x)
{
    (void)x;
    dpt_span_context sc = ctx_sc(c);
    if (!dpt_trace_id_is_valid(&sc.trace_id)) Py_RETURN_NONE;
    return dpy_trace_id_str(&sc.trace_id);
}

static PyObject *ctx_span_id(DpySpanContext *c, void *x)
{
    (void)x;
    dpt_span_context sc = ctx_sc(c);
    if (!dpt_span_id_is_valid(&sc.span_id)) Py_RETURN_NONE;
    return dpy_span_id_str(&sc.span_id);
}

static PyObject *ctx_parent_span_id(DpySpanContext *c, void *x)
{
    (void)x;
    if (!c->has_parent) Py_RETURN_NONE;
    return dpy_span_id_str(&c->parent_id);
}

static PyObject *ctx_sampled(DpySpanContext *c, void *x)
{
    (void)x;
    return PyBool_FromLong((ctx_sc(c).flags & DPT_FLAG_SAMPLED) != 0);
}

static PyObject *ctx_is_remote(DpySpanContext *c, void *x)
{
    (void)x;
    return PyBool_FromLong(ctx_sc(c).remote);
}

static PyObject *ctx_is_valid(DpySpanContext *c, void *x)
{
    (void)x;
    dpt_span_context sc = ctx_sc(c);
    return PyBool_FromLong(dpt_span_context_is_valid(&sc));
}

static PyObject *ctx_trace_state(DpySpanContext *c, void *x)
{
    (void)x;
    size_t n = 0;
    const char *s = dpt_tracestate_str(dpt_context_tracestate(c->dctx), &n);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
}

PyObject *dpy_baggage_dict(const dpt_baggage *bg)
{
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    size_t n = dpt_baggage_count(bg);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v, *m;
        if (dpt_baggage_entry(bg, i, &k, &v, &m) != DPT_OK) continue;
        PyObject *ko = PyUnicode_DecodeUTF8(k, (Py_ssize_t)strlen(k), "replace");
        PyObject *vo = ko ? PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace") : NULL;
        if (!vo || PyDict_SetItem(d, ko, vo) < 0) {
            Py_XDECREF(ko);
            Py_XDECREF(vo);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(ko);
        Py_DECREF(vo);
    }
    return d;
}

static PyObject *ctx_baggage(DpySpanContext *c, void *x)
{
    (void)x;
    return dpy_baggage_dict(dpt_context_baggage(c->dctx));
}

static PyObject *ctx_repr(DpySpanContext *c)
{
    dpt_span_context sc = ctx_sc(c);
    char tid[33], sid[17], pid[17] = "None";
    dpt_trace_id_to_hex(&sc.trace_id, tid);
    dpt_span_id_to_hex(&sc.span_id, sid);
    if (c->has_parent) dpt_span_id_to_hex(&c->parent_id, pid);
    return PyUnicode_FromFormat("SpanContext(trace_id=%s, span_id=%s, parent_span_id=%s, "
                                "sampled=%s)",
                                tid, sid, pid, (sc.flags & DPT_FLAG_SAMPLED) ? "True" : "False");
}

static PyObject *ctx_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!DpySpanContext_Check(b) || (op != Py_EQ && op != Py_NE)) Py_RETURN_NOTIMPLEMENTED;
    DpySpanContext *x = (DpySpanContext *)a, *y = (DpySpanContext *)b;
    dpt_span_context sx = ctx_sc(x), sy = ctx_sc(y);
    bool eq = memcmp(&sx.trace_id, &sy.trace_id, sizeof sx.trace_id) == 0 &&
              memcmp(&sx.span_id, &sy.span_id, sizeof sx.span_id) == 0 &&
              (sx.flags & DPT_FLAG_SAMPLED) == (sy.flags & DPT_FLAG_SAMPLED) &&
              x->has_parent == y->has_parent &&
              (!x->has_parent || memcmp(&x->parent_id, &y->parent_id, sizeof x->parent_id) == 0);
    if (eq) {
        /* Same ids: compare the baggage too (a context is its ids plus its baggage). */
        PyObject *bx = ctx_baggage(x, NULL), *by = bx ? ctx_baggage(y, NULL) : NULL;
        int r = by ? PyObject_RichCompareBool(bx, by, Py_EQ) : -1;
        Py_XDECREF(bx);
        Py_XDECREF(by);
        if (r < 0) return NULL;
        eq = r == 1;
    }
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t ctx_hash(DpySpanContext *c)
{
    if (c->hash != -1) return c->hash;
    dpt_span_context sc = ctx_sc(c);
    uint64_t a, b, s;
    memcpy(&a, sc.trace_id.b, 8);
    memcpy(&b, sc.trace_id.b + 8, 8);
    memcpy(&s, sc.span_id.b, 8);
    uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull) ^ (s * 31);
    Py_hash_t r = (Py_hash_t)(h >> 1);
    c->hash = r == -1 ? -2 : r;
    return c->hash;
}

static PyGetSetDef ctx_getset[] = {
    {"trace_id", (getter)ctx_trace_id, NULL, "32 lowercase hex digits (None: no span).", NULL},
    {"span_id", (getter)ctx_span_id, NULL, "16 lowercase hex digits (None: no span).", NULL},
    {"parent_span_id", (getter)ctx_parent_span_id, NULL,
     "The parent's span id, None for a root span (and for a remote context).", NULL},
    {"baggage", (getter)ctx_baggage, NULL, "A new dict of the baggage entries.", NULL},
    {"sampled", (getter)ctx_sampled, NULL, "The W3C sampled flag.", NULL},
    {"is_remote", (getter)ctx_is_remote, NULL, "Extracted from another process.", NULL},
    {"is_valid", (getter)ctx_is_valid, NULL, "Has a trace id and a span id.", NULL},
    {"trace_state", (getter)ctx_trace_state, NULL, "The W3C tracestate ('' if none).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject DpySpanContext_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dptrace.SpanContext",
    .tp_basicsize = sizeof(DpySpanContext),
    .tp_dealloc = (destructor)ctx_dealloc,
    .tp_repr = (reprfunc)ctx_repr,
    .tp_hash = (hashfunc)ctx_hash,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)ctx_traverse,
    .tp_clear = (inquiry)ctx_clear,
    .tp_doc = "SpanContext(trace_id, span_id, parent_span_id=None, baggage=None, sampled=True)\n"
              "\nThe identity of a span (immutable): ids as lowercase hex, the sampled flag "
              "and the baggage in effect.",
    .tp_richcompare = ctx_richcompare,
    .tp_getset = ctx_getset,
    .tp_new = ctx_new,
};

/* ---- the current node ----------------------------------------------------------------------- */

/* The thread's current node for Tracer (a strong reference, or NULL). Thread-local: each
 * Python thread is one OS thread. */
static _Thread_local PyObject *tl_current;

PyObject *dpy_current_node(bool is_async)
{
    if (is_async) {
        PyObject *v = NULL;
        if (PyContextVar_Get(dpy.current_var, NULL, &v) == 0 && v) {
            Py_DECREF(v); /* the context keeps it alive while it is current */
            if (v != Py_None) return v;
        }
        PyErr_Clear();
    }
    return tl_current;
}

PyObject *dpy_current_push(bool is_async, PyObject *node)
{
    if (is_async) return PyContextVar_Set(dpy.current_var, node); /* the token */
    PyObject **cell = &tl_current; /* one thread-local address lookup */
    PyObject *prev = *cell ? *cell : Py_None;
    if (!*cell) Py_INCREF(Py_None);
    Py_INCREF(node);
    *cell = node;
    return prev; /* the cell's reference moves to the caller */
}

int dpy_current_pop(bool is_async, PyObject *restore)
{
    if (!restore) return 0;
    if (is_async) {
        int r = PyContextVar_Reset(dpy.current_var, restore);
        Py_DECREF(restore);
        return r;
    }
    PyObject **cell = &tl_current;
    PyObject *old = *cell;
    if (restore == Py_None) {
        Py_DECREF(restore);
        restore = NULL;
    }
    *cell = restore;
    Py_XDECREF(old);
    return 0;
}

/* Replaces the current node without a scope (set_baggage): it lasts until the enclosing
 * span's exit restores what was current before that span. */
static int current_replace(bool is_async, PyObject *node)
{
    if (is_async) {
        PyObject *tok = PyContextVar_Set(dpy.current_var, node);
        if (!tok) return -1;
        Py_DECREF(tok);
        return 0;
    }
    PyObject *old = tl_current;
    Py_INCREF(node);
    tl_current = node;
    Py_XDECREF(old);
    return 0;
}

int dpy_resolve_parent(PyObject *node, dpt_span_opts *o, dpt_span_context *psc,
                       const dpt_baggage **bg)
{
    memset(psc, 0, sizeof *psc);
    *bg = NULL;
    if (!node || node == Py_None) {
        o->root = true;
        return 0;
    }
    if (DpySpan_Check(node)) {
        DpySpan *p = (DpySpan *)node;
        *bg = p->bg;
        if (!dpt_span_context_is_valid(&p->sc)) {
            o->root = true; /* a no-op parent (tracing disabled): a new trace */
            return 0;
        }
        *psc = p->sc;
        if (p->state == DPY_SPAN_LIVE) {
            o->parent_span = p->h; /* live: no context to build */
        } else {
            o->parent = dpy_span_dctx(p); /* ended: its ids (and tracestate) as a context */
            if (!o->parent) return -1;
        }
        return 0;
    }
    DpySpanContext *c = (DpySpanContext *)node;
    *bg = dpt_context_baggage(c->dctx);
    dpt_span_context sc = dpt_context_span_context(c->dctx);
    if (dpt_span_context_is_valid(&sc)) *psc = sc;
    /* A context without a valid span context (baggage only) starts a new trace. */
    o->parent = c->dctx;
    return 0;
}

dpt_context *dpy_node_dctx(PyObject *node)
{
    if (!node || node == Py_None) return NULL;
    if (DpySpan_Check(node)) return dpt_context_retain(dpy_span_dctx((DpySpan *)node));
    return dpt_context_retain(((DpySpanContext *)node)->dctx);
}

const dpt_baggage *dpy_node_baggage(PyObject *node)
{
    if (!node || node == Py_None) return NULL;
    if (DpySpan_Check(node)) return ((DpySpan *)node)->bg;
    return dpt_context_baggage(((DpySpanContext *)node)->dctx);
}

/* ---- propagation ------------------------------------------------------------------------------
 */

static dpt_err py_setter(void *carrier, const char *name, const char *value, size_t len)
{
    PyObject *k = PyUnicode_DecodeLatin1(name, (Py_ssize_t)strlen(name), NULL);
    PyObject *v = k ? PyUnicode_DecodeLatin1(value, (Py_ssize_t)len, NULL) : NULL;
    int r = v ? PyObject_SetItem((PyObject *)carrier, k, v) : -1;
    Py_XDECREF(k);
    Py_XDECREF(v);
    return r < 0 ? DPT_EINVAL : DPT_OK; /* the Python exception stays set */
}

static const dpt_setter pysetter = {py_setter};

static PyObject *node_arg(DpyTracer *t, PyObject *o)
{
    if (!o || o == Py_None) return dpy_current_node(t->is_async);
    if (!DpySpan_Check(o) && !DpySpanContext_Check(o)) {
        PyErr_Format(PyExc_TypeError, "context must be a Span, a SpanContext or None, not %.100s",
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    return o;
}

PyObject *dpy_tracer_inject(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    static const char *const names[] = {"headers", "context"};
    PyObject *a[2];
    if (dpy_parse_args("inject", args, nargs, kwnames, names, 2, 1, a) < 0) return NULL;
    PyObject *headers = a[0];
    if (!PyMapping_Check(headers) || PyTuple_Check(headers) || PyList_Check(headers) ||
        PyUnicode_Check(headers) || PyBytes_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "headers must be a dict (or a mapping), not %.100s",
                     Py_TYPE(headers)->tp_name);
        return NULL;
    }
    PyObject *node = a[1] ? node_arg(t, a[1]) : dpy_current_node(t->is_async);
    if (!node && PyErr_Occurred()) return NULL;
    if (node) {
        dpt_context *c = dpy_node_dctx(node);
        if (!c) return PyErr_Occurred() ? NULL : PyErr_NoMemory();
        dpt_err e = dpt_propagator_inject(NULL, c, &pysetter, headers);
        dpt_context_release(c);
        if (PyErr_Occurred()) return NULL;
        if (e == DPT_ENOMEM) return PyErr_NoMemory();
    }
    Py_INCREF(headers);
    return headers;
}

/* Adds one name/value pair (str or bytes each) to h. */
static int add_header(dpt_headers *h, PyObject *name, PyObject *value)
{
    const char *p[2];
    Py_ssize_t n[2];
    PyObject *o[2] = {name, value};
    for (int i = 0; i < 2; i++) {
        if (PyBytes_Check(o[i])) {
            p[i] = PyBytes_AS_STRING(o[i]);
            n[i] = PyBytes_GET_SIZE(o[i]);
        } else if (PyUnicode_Check(o[i])) {
            p[i] = PyUnicode_AsUTF8AndSize(o[i], &n[i]);
            if (!p[i]) return -1;
        } else {
            PyErr_Format(PyExc_TypeError, "header %s must be str or bytes, not %.100s",
                         i ? "values" : "names", Py_TYPE(o[i])->tp_name);
            return -1;
        }
    }
    if (n[0] == 0) return 0; /* no such header name: ignored */
    if (dpt_headers_add(h, p[0], (size_t)n[0], p[1], (size_t)n[1]) != DPT_OK) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Copies a header container into h: a mapping (its items(); an email.message.Message, as
 * http.server gives, lists repeated headers one by one) or an iterable of (name, value). */
static int headers_from(PyObject *src, dpt_headers *h)
{
    if (PyUnicode_Check(src) || PyBytes_Check(src)) {
        PyErr_SetString(PyExc_TypeError,
                        "headers must be a dict, a mapping or (name, value) pairs");
        return -1;
    }
    PyObject *items;
    if (PyDict_Check(src))
        items = PyDict_Items(src);
    else if (PyObject_HasAttr(src, dpy.str_items))
        items = PyObject_CallMethodNoArgs(src, dpy.str_items);
    else {
        Py_INCREF(src);
        items = src;
    }
    if (!items) return -1;
    PyObject *it = PyObject_GetIter(items);
    Py_DECREF(items);
    if (!it) {
        PyErr_SetString(PyExc_TypeError,
                        "headers must be a dict, a mapping or (name, value) pairs");
        return -1;
    }
    PyObject *pair;
    int r = 0;
    size_t count = 0;
    while (r == 0 && (pair = PyIter_Next(it))) {
        if (++count > 65536) {
            PyErr_SetString(PyExc_ValueError, "more than 65536 headers");
            r = -1;
        } else if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "headers must be (name, value) pairs");
            r = -1;
        } else {
            r = add_header(h, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
        }
        Py_DECREF(pair);
    }
    Py_DECREF(it);
    if (r == 0 && PyErr_Occurred()) r = -1;
    return r;
}

PyObject *dpy_tracer_extract(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    (void)t;
    static const char *const names[] = {"headers"};
    PyObject *a[1];
    if (dpy_parse_args("extract", args, nargs, kwnames, names, 1, 1, a) < 0) return NULL;
    dpt_headers h = DPT_HEADERS_INIT;
    if (headers_from(a[0], &h) < 0) {
        dpt_headers_free(&h);
        return NULL;
    }
    dpt_context *c = NULL;
    dpt_err e = dpt_propagator_extract(NULL, &dpt_headers_getter, &h, &c);
    dpt_headers_free(&h);
    if (e == DPT_ENOMEM || !c) {
        dpt_context_release(c);
        return PyErr_NoMemory();
    }
    dpt_span_context sc = dpt_context_span_context(c);
    if (!dpt_span_context_is_valid(&sc) && dpt_baggage_count(dpt_context_baggage(c)) == 0) {
        dpt_context_release(c);
        Py_RETURN_NONE; /* nothing to continue */
    }
    return dpy_context_new(c, NULL, false);
}

/* ---- baggage ------------------------------------------------------------------------------------
 */

PyObject *dpy_tracer_set_baggage(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    static const char *const names[] = {"key", "value"};
    PyObject *a[2];
    if (dpy_parse_args("set_baggage", args, nargs, kwnames, names, 2, 2, a) < 0) return NULL;
    Py_ssize_t kl, vl = 0;
    const char *k = dpy_utf8(a[0], &kl, "key");
    if (!k) return NULL;
    const char *v = NULL;
    if (a[1] != Py_None) {
        v = dpy_utf8(a[1], &vl, "value");
        if (!v) return NULL;
    }
    if (kl == 0 || strlen(k) != (size_t)kl || (v && strlen(v) != (size_t)vl)) {
        PyErr_SetString(PyExc_ValueError, "baggage keys must be non-empty; no NUL characters");
        return NULL;
    }
    PyObject *node = dpy_current_node(t->is_async);
    if (!node) {
        /* Baggage belongs to a span's scope: set outside of one, it would stay with the
         * thread and leak into whatever runs on it next (the next request). */
        PyErr_SetString(PyExc_ValueError, "set_baggage needs a current span (call it inside "
                                          "a `with tracer.span(...)` block)");
        return NULL;
    }
    const dpt_baggage *old = dpy_node_baggage(node);
    dpt_baggage *nb = NULL;
    dpt_err e = v ? dpt_baggage_set(old, k, v, NULL, &nb) : dpt_baggage_remove(old, k, &nb);
    if (e == DPT_ENOTFOUND) {
        dpt_baggage_release(nb);
        Py_RETURN_NONE; /* removing an absent key */
    }
    if (e != DPT_OK) {
        dpt_baggage_release(nb);
        if (e == DPT_ENOMEM) return PyErr_NoMemory();
        PyErr_Format(PyExc_ValueError, "baggage entry not accepted: %s", dpt_strerror(e));
        return NULL;
    }
    /* A new context node: the current span's context with the new baggage. */
    dpt_context *base = dpy_node_dctx(node);
    if (!base) {
        dpt_baggage_release(nb);
        return NULL;
    }
    dpt_context *c = dpt_context_with_baggage(base, nb);
    dpt_context_release(base);
    dpt_baggage_release(nb);
    const dpt_span_id *pid = NULL;
    bool has_parent = false;
    PyObject *span = NULL;
    if (DpySpan_Check(node)) {
        pid = &((DpySpan *)node)->parent_id;
        has_parent = ((DpySpan *)node)->has_parent;
        span = node;
    } else {
        pid = &((DpySpanContext *)node)->parent_id;
        has_parent = ((DpySpanContext *)node)->has_parent;
        span = ((DpySpanContext *)node)->span;
    }
    PyObject *ctx = dpy_context_new(c, pid, has_parent);
    if (!ctx) return NULL;
    Py_XINCREF(span);
    ((DpySpanContext *)ctx)->span = span; /* current_span() still finds the span */
    int r = current_replace(t->is_async, ctx);
    Py_DECREF(ctx);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

PyObject *dpy_tracer_get_baggage(DpyTracer *t, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    static const char *const names[] = {"key"};
    PyObject *a[1];
    if (dpy_parse_args("get_baggage", args, nargs, kwnames, names, 1, 0, a) < 0) return NULL;
    const dpt_baggage *bg = dpy_node_baggage(dpy_current_node(t->is_async));
    if (!a[0] || a[0] == Py_None) return dpy_baggage_dict(bg);
    const char *k = dpy_utf8(a[0], NULL, "key");
    if (!k) return NULL;
    const char *v = dpt_baggage_get(bg, k);
    if (!v) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace");
}
