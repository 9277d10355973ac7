/* convert.c - conversions between Python values and libdptrace's: argument parsing for
 * the vectorcall methods, attribute dicts <-> dpt_attr arrays, Unix nanoseconds <->
 * timezone-aware UTC datetimes, hex ids, SpanKind and StatusCode.
 *
 * Every conversion checks its input and fails with TypeError or ValueError: bad arguments
 * from Python never reach libdptrace as garbage and never crash.
 */
#include "dpy.h"

#include <datetime.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- arguments -------------------------------------------------------------------------- */

int dpy_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                   const char *const *names, int n, int required, PyObject **out)
{
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, n,
                     nargs);
        return -1;
    }
    for (int i = 0; i < n; i++)
        out[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
        int i = 0;
        for (; i < n; i++)
            if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0) break;
        if (i == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname,
                         kw);
            return -1;
        }
        if (out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[i]);
            return -1;
        }
        out[i] = args[nargs + k];
    }
    for (int i = 0; i < required; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}

const char *dpy_utf8(PyObject *o, Py_ssize_t *len, const char *what)
{
    if (!o || !PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what,
                     o ? Py_TYPE(o)->tp_name : "nothing");
        return NULL;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n); /* UnicodeEncodeError (a ValueError) */
    if (!s) return NULL;
    if (n >= (Py_ssize_t)DPT_NUL) {
        PyErr_Format(PyExc_ValueError, "%s is too long", what);
        return NULL;
    }
    if (len) *len = n;
    return s;
}

/* ---- attributes ------------------------------------------------------------------------- */

/* Extra memory of one conversion (arrays, a spilled attribute array): a chain of blocks. */
typedef struct blk {
    struct blk *next;
    _Alignas(16) char data[];
} blk;

static void *attrs_alloc(dpy_attrs *a, size_t n)
{
    blk *b = PyMem_Malloc(sizeof(blk) + (n ? n : 1));
    if (!b) {
        PyErr_NoMemory();
        return NULL;
    }
    b->next = a->heap;
    a->heap = b;
    return b->data;
}

void dpy_attrs_free(dpy_attrs *a)
{
    blk *b = a->heap;
    while (b) {
        blk *next = b->next;
        PyMem_Free(b);
        b = next;
    }
    a->heap = NULL;
    a->a = NULL;
    a->n = 0;
}

static int value_type(PyObject *v)
{
    if (PyBool_Check(v)) return DPT_VAL_BOOL; /* before int: bool is an int subclass */
    if (PyLong_Check(v)) return DPT_VAL_INT;
    if (PyFloat_Check(v)) return DPT_VAL_DOUBLE;
    if (PyUnicode_Check(v)) return DPT_VAL_STRING;
    return DPT_VAL_NONE;
}

static int to_int64(PyObject *v, int64_t *out)
{
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "int attribute values must fit in 64 bits");
        return -1;
    }
    if (x == -1 && PyErr_Occurred()) return -1;
    *out = (int64_t)x;
    return 0;
}

static int convert_value(dpy_attrs *a, PyObject *key, PyObject *v, dpt_attr *dst)
{
    memset(dst, 0, sizeof *dst);
    int t = value_type(v);
    switch (t) {
    case DPT_VAL_BOOL:
        dst->value.type = DPT_VAL_BOOL;
        dst->value.u.b = v == Py_True;
        return 0;
    case DPT_VAL_INT:
        dst->value.type = DPT_VAL_INT;
        return to_int64(v, &dst->value.u.i);
    case DPT_VAL_DOUBLE:
        dst->value.type = DPT_VAL_DOUBLE;
        dst->value.u.d = PyFloat_AS_DOUBLE(v);
        return 0;
    case DPT_VAL_STRING: {
        Py_ssize_t n;
        const char *s = dpy_utf8(v, &n, "an attribute value");
        if (!s) return -1;
        dst->value.type = DPT_VAL_STRING;
        dst->value.len = (uint32_t)n;
        dst->value.u.s = s;
        return 0;
    }
    default:
        break;
    }
    if (!PyList_Check(v) && !PyTuple_Check(v)) {
        PyErr_Format(PyExc_TypeError,
                     "attribute %R: values must be str, bool, int, float or a list/tuple of "
                     "one of those, not %.100s",
                     key, Py_TYPE(v)->tp_name);
        return -1;
    }
    /* A homogeneous array; its element type is the first element's (empty: strings). */
    PyObject *seq = v;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (n >= (Py_ssize_t)DPT_NUL / 16) {
        PyErr_SetString(PyExc_ValueError, "attribute array too long");
        return -1;
    }
    int et = n ? value_type(items[0]) : DPT_VAL_STRING;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (value_type(items[i]) != et || et == DPT_VAL_NONE) {
            PyErr_Format(PyExc_TypeError,
                         "attribute %R: array elements must all be str, all bool, all int or "
                         "all float",
                         key);
            return -1;
        }
    }
    dst->value.len = (uint32_t)n;
    switch (et) {
    case DPT_VAL_BOOL: {
        bool *b = attrs_alloc(a, (size_t)n * sizeof *b);
        if (!b) return -1;
        for (Py_ssize_t i = 0; i < n; i++)
            b[i] = items[i] == Py_True;
        dst->value.type = DPT_VAL_BOOL_ARRAY;
        dst->value.u.ba = b;
        return 0;
    }
    case DPT_VAL_INT: {
        int64_t *x = attrs_alloc(a, (size_t)n * sizeof *x);
        if (!x) return -1;
        for (Py_ssize_t i = 0; i < n; i++)
            if (to_int64(items[i], &x[i]) < 0) return -1;
        dst->value.type = DPT_VAL_INT_ARRAY;
        dst->value.u.ia = x;
        return 0;
    }
    case DPT_VAL_DOUBLE: {
        double *x = attrs_alloc(a, (size_t)n * sizeof *x);
        if (!x) return -1;
        for (Py_ssize_t i = 0; i < n; i++)
            x[i] = PyFloat_AS_DOUBLE(items[i]);
        dst->value.type = DPT_VAL_DOUBLE_ARRAY;
        dst->value.u.da = x;
        return 0;
    }
    default: {
        const char **x = attrs_alloc(a, (size_t)n * sizeof *x);
        if (!x) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t len;
            x[i] = dpy_utf8(items[i], &len, "an attribute array element");
            if (!x[i]) return -1;
            if ((size_t)len != strlen(x[i])) {
                PyErr_SetString(PyExc_ValueError,
                                "string array elements must not contain NUL characters");
                return -1;
            }
        }
        dst->value.type = DPT_VAL_STRING_ARRAY;
        dst->value.u.sa = x;
        return 0;
    }
    }
}

static int convert_pair(dpy_attrs *a, PyObject *key, PyObject *value, dpt_attr *dst)
{
    Py_ssize_t klen;
    const char *k = dpy_utf8(key, &klen, "an attribute key");
    if (!k) return -1;
    if (klen == 0) {
        PyErr_SetString(PyExc_ValueError, "attribute keys must not be empty");
        return -1;
    }
    if (convert_value(a, key, value, dst) < 0) return -1;
    dst->key = k;
    dst->key_len = (uint32_t)klen;
    return 0;
}

int dpy_attrs_from_pair(PyObject *key, PyObject *value, dpy_attrs *out)
{
    out->heap = NULL;
    out->a = out->inline_a;
    out->n = 0;
    if (convert_pair(out, key, value, &out->a[0]) < 0) {
        dpy_attrs_free(out);
        return -1;
    }
    out->n = 1;
    return 0;
}

int dpy_attrs_from_dict(PyObject *dict, dpy_attrs *out)
{
    out->heap = NULL;
    out->a = out->inline_a;
    out->n = 0;
    if (!dict || dict == Py_None) return 0;
    if (!PyDict_Check(dict)) {
        PyErr_Format(PyExc_TypeError, "attributes must be a dict, not %.100s",
                     Py_TYPE(dict)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyDict_GET_SIZE(dict);
    if (n > 4096) {
        /* libdptrace keeps at most its limit (128 by default); refuse absurd inputs early */
        PyErr_SetString(PyExc_ValueError, "too many attributes (more than 4096)");
        return -1;
    }
    if (n > (Py_ssize_t)(sizeof out->inline_a / sizeof out->inline_a[0])) {
        out->a = attrs_alloc(out, (size_t)n * sizeof(dpt_attr));
        if (!out->a) return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (i < n && PyDict_Next(dict, &pos, &k, &v)) {
        if (convert_pair(out, k, v, &out->a[i]) < 0) {
            dpy_attrs_free(out);
            return -1;
        }
        i++;
    }
    out->n = (size_t)i;
    return 0;
}

static PyObject *str_from(const char *s, size_t n)
{
    return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)(s ? n : 0), "replace");
}

static PyObject *value_to_py(const dpt_value *v)
{
    PyObject *t;
    switch (v->type) {
    case DPT_VAL_STRING:
        return str_from(v->u.s, v->len);
    case DPT_VAL_BOOL:
        return PyBool_FromLong(v->u.b);
    case DPT_VAL_INT:
        return PyLong_FromLongLong(v->u.i);
    case DPT_VAL_DOUBLE:
        return PyFloat_FromDouble(v->u.d);
    case DPT_VAL_STRING_ARRAY:
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        t = PyTuple_New(v->len);
        if (!t) return NULL;
        for (uint32_t i = 0; i < v->len; i++) {
            PyObject *x;
            switch (v->type) {
            case DPT_VAL_STRING_ARRAY:
                x = str_from(v->u.sa[i], v->u.sa[i] ? strlen(v->u.sa[i]) : 0);
                break;
            case DPT_VAL_BOOL_ARRAY:
                x = PyBool_FromLong(v->u.ba[i]);
                break;
            case DPT_VAL_INT_ARRAY:
                x = PyLong_FromLongLong(v->u.ia[i]);
                break;
            default:
                x = PyFloat_FromDouble(v->u.da[i]);
                break;
            }
            if (!x) {
                Py_DECREF(t);
                return NULL;
            }
            PyTuple_SET_ITEM(t, i, x);
        }
        return t;
    default:
        Py_RETURN_NONE;
    }
}

PyObject *dpy_attrs_to_dict(const dpt_attr *a, uint32_t n)
{
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *k = str_from(a[i].key, a[i].key_len);
        PyObject *v = k ? value_to_py(&a[i].value) : NULL;
        if (!v || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

/* ---- time --------------------------------------------------------------------------------- */

/* datetime.h's PyDateTimeAPI is per translation unit: every datetime use is in this file. */
int dpy_datetime_init(void)
{
    PyDateTime_IMPORT;
    return PyDateTimeAPI ? 0 : -1;
}

PyObject *dpy_datetime_from_ns(uint64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000u);
    int us = (int)((ns % 1000000000u) / 1000u);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        PyErr_SetString(PyExc_ValueError, "time out of range");
        return NULL;
    }
    return PyDateTimeAPI->DateTime_FromDateAndTime(
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us,
        PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int dpy_time_ns(PyObject *o, uint64_t *out)
{
    *out = 0;
    if (!o || o == Py_None) return 0;
    if (PyLong_Check(o) && !PyBool_Check(o)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (x == -1 && PyErr_Occurred()) return -1;
        if (overflow || x <= 0) {
            PyErr_SetString(PyExc_ValueError,
                            "a time as an int is Unix nanoseconds, > 0 and < 2**63");
            return -1;
        }
        *out = (uint64_t)x;
        return 0;
    }
    if (!PyDateTime_Check(o)) {
        PyErr_Format(PyExc_TypeError,
                     "a time must be a datetime or an int (Unix nanoseconds), not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    int64_t days =
        days_from_civil(PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o), PyDateTime_GET_DAY(o));
    int64_t us = ((days * 86400 + PyDateTime_DATE_GET_HOUR(o) * 3600 +
                   PyDateTime_DATE_GET_MINUTE(o) * 60 + PyDateTime_DATE_GET_SECOND(o)) *
                  1000000) +
                 PyDateTime_DATE_GET_MICROSECOND(o);
    /* An aware datetime: subtract its UTC offset. A naive one is taken as UTC. */
    PyObject *off = PyObject_CallMethod(o, "utcoffset", NULL);
    if (!off) return -1;
    if (off != Py_None) {
        if (!PyDelta_Check(off)) {
            Py_DECREF(off);
            PyErr_SetString(PyExc_TypeError, "utcoffset() did not return a timedelta");
            return -1;
        }
        us -=
            ((int64_t)PyDateTime_DELTA_GET_DAYS(off) * 86400 + PyDateTime_DELTA_GET_SECONDS(off)) *
                1000000 +
            PyDateTime_DELTA_GET_MICROSECONDS(off);
    }
    Py_DECREF(off);
    if (us <= 0) {
        PyErr_SetString(PyExc_ValueError, "times before 1970 are not supported");
        return -1;
    }
    /* The int form's bound (2**63 ns, 2262-04-11): later datetimes (up to 9999) would wrap
     * the nanoseconds and land silently in another century. */
    if (us > INT64_MAX / 1000) {
        PyErr_SetString(PyExc_ValueError, "times after 2262-04-11 (2**63 ns) are not supported");
        return -1;
    }
    *out = (uint64_t)us * 1000u;
    return 0;
}

/* ---- ids ----------------------------------------------------------------------------------- */

PyObject *dpy_trace_id_str(const dpt_trace_id *id)
{
    char hex[33];
    dpt_trace_id_to_hex(id, hex);
    return PyUnicode_FromStringAndSize(hex, 32);
}

PyObject *dpy_span_id_str(const dpt_span_id *id)
{
    char hex[17];
    dpt_span_id_to_hex(id, hex);
    return PyUnicode_FromStringAndSize(hex, 16);
}

int dpy_parse_trace_id(PyObject *o, dpt_trace_id *out)
{
    Py_ssize_t n;
    const char *s = dpy_utf8(o, &n, "trace_id");
    if (!s) return -1;
    if (dpt_trace_id_from_hex(s, (size_t)n, out) != DPT_OK) {
        PyErr_SetString(PyExc_ValueError, "trace_id must be 32 hex digits");
        return -1;
    }
    return 0;
}

/* ---- enums -------------------------------------------------------------------------------- */

/* Matches a str against "value" (lowercase) or "NAME" (any case). */
static int match_name(PyObject *o, const char *const *names, int lo, int hi)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) return -2;
    for (int i = lo; i <= hi; i++)
        if ((size_t)n == strlen(names[i]) && strncasecmp(s, names[i], (size_t)n) == 0) return i;
    return -1;
}

static const char *const kind_names[] = {"",       "internal", "server",
                                         "client", "producer", "consumer"};
static const char *const status_names[] = {"unset", "ok", "error"};

int dpy_kind_from(PyObject *o, dpt_span_kind *out)
{
    if (!o || o == Py_None) {
        *out = DPT_SPAN_INTERNAL;
        return 0;
    }
    for (int i = 1; i <= 5; i++) {
        if (o == dpy.kinds[i]) {
            *out = (dpt_span_kind)i;
            return 0;
        }
    }
    if (PyUnicode_Check(o)) {
        int i = match_name(o, kind_names, 1, 5);
        if (i == -2) return -1;
        if (i > 0) {
            *out = (dpt_span_kind)i;
            return 0;
        }
        PyErr_Format(PyExc_ValueError, "unknown span kind %R", o);
        return -1;
    }
    PyErr_Format(PyExc_TypeError, "kind must be a SpanKind, not %.100s", Py_TYPE(o)->tp_name);
    return -1;
}

int dpy_status_from(PyObject *o, dpt_status_code *out)
{
    for (int i = 0; i <= 2; i++) {
        if (o == dpy.statuses[i]) {
            *out = (dpt_status_code)i;
            return 0;
        }
    }
    if (o && PyUnicode_Check(o)) {
        int i = match_name(o, status_names, 0, 2);
        if (i == -2) return -1;
        if (i >= 0) {
            *out = (dpt_status_code)i;
            return 0;
        }
        PyErr_Format(PyExc_ValueError, "unknown status code %R (UNSET, OK or ERROR)", o);
        return -1;
    }
    PyErr_Format(PyExc_TypeError, "code must be a StatusCode, not %.100s",
                 o ? Py_TYPE(o)->tp_name : "nothing");
    return -1;
}
