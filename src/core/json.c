/* json.c - growable buffer, streaming JSON writer, UTF-8 helpers and RFC 3339 times.
 *
 * The writer never emits invalid JSON or invalid UTF-8: every control character is
 * escaped and every byte that does not start a valid UTF-8 sequence becomes U+FFFD. It
 * keeps a comma flag per nesting level, so callers just write keys and values in order.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void dpt__buf_init(dpt__buf *b) { memset(b, 0, sizeof *b); }

void dpt__buf_free(dpt__buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

bool dpt__buf_reserve(dpt__buf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = dpt__realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void dpt__buf_put(dpt__buf *b, const void *p, size_t n)
{
    if (!n || !dpt__buf_reserve(b, n)) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

void dpt__buf_putc(dpt__buf *b, char c)
{
    if (!dpt__buf_reserve(b, 1)) return;
    b->p[b->len++] = c;
    b->p[b->len] = 0;
}

void dpt__buf_puts(dpt__buf *b, const char *s) { dpt__buf_put(b, s, strlen(s)); }

void dpt__buf_printf(dpt__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        dpt__buf_put(b, tmp, (size_t)n);
        return;
    }
    if (!dpt__buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *dpt__buf_take(dpt__buf *b, size_t *len)
{
    if (b->oom) {
        dpt__buf_free(b);
        return NULL;
    }
    if (!b->p && !dpt__buf_reserve(b, 0)) return NULL;
    char *p = b->p;
    if (len) *len = b->len;
    p[b->len] = 0;
    dpt__buf_init(b);
    return p;
}

/* ---- UTF-8 ----------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if invalid. Rejects
 * overlong forms, surrogates and code points above U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t i)
{
    unsigned char c = s[i];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > len) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[i + k] & 0xC0) != 0x80) return 0;
    return n;
}

size_t dpt__utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* Do a cheap ASCII run first: most attribute values are ASCII. */
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(u, len, i);
        if (!n) return i;
        i += n;
    }
    return len;
}

void dpt__utf8_sanitize(const char *s, size_t len, dpt__buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t ok = dpt__utf8_valid_prefix(s + i, len - i);
        dpt__buf_put(out, s + i, ok);
        i += ok;
        if (i < len) {
            dpt__buf_put(out, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    (void)u;
}

size_t dpt__utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    /* Step back over continuation bytes so we cut before a sequence start. */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* ---- JSON writer ----------------------------------------------------------------------- */

void dpt__json_init(dpt__json *j, dpt__buf *b)
{
    memset(j, 0, sizeof *j);
    j->b = b;
}

static void sep(dpt__json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0 && j->depth <= DPT__JSON_MAX_DEPTH) {
        if (j->need_comma[j->depth - 1]) dpt__buf_putc(j->b, ',');
        j->need_comma[j->depth - 1] = true;
    }
}

static void open(dpt__json *j, char c)
{
    sep(j);
    dpt__buf_putc(j->b, c);
    if (j->depth < DPT__JSON_MAX_DEPTH) j->need_comma[j->depth] = false;
    j->depth++;
}

static void close_(dpt__json *j, char c)
{
    if (j->depth) j->depth--;
    dpt__buf_putc(j->b, c);
}

void dpt__json_obj_begin(dpt__json *j) { open(j, '{'); }
void dpt__json_obj_end(dpt__json *j) { close_(j, '}'); }
void dpt__json_arr_begin(dpt__json *j) { open(j, '['); }
void dpt__json_arr_end(dpt__json *j) { close_(j, ']'); }

static void put_escaped(dpt__buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    dpt__buf_reserve(b, len + 2);
    dpt__buf_putc(b, '"');
    size_t i = 0, run = 0;
    while (i < len) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        dpt__buf_put(b, s + i - run, run);
        run = 0;
        if (c >= 0x80) {
            size_t n = utf8_seq(u, len, i);
            if (n) {
                dpt__buf_put(b, s + i, n);
                i += n;
            } else {
                dpt__buf_put(b, "\xEF\xBF\xBD", 3);
                i++;
            }
            continue;
        }
        char esc[7];
        switch (c) {
        case '"': dpt__buf_put(b, "\\\"", 2); break;
        case '\\': dpt__buf_put(b, "\\\\", 2); break;
        case '\n': dpt__buf_put(b, "\\n", 2); break;
        case '\r': dpt__buf_put(b, "\\r", 2); break;
        case '\t': dpt__buf_put(b, "\\t", 2); break;
        case '\b': dpt__buf_put(b, "\\b", 2); break;
        case '\f': dpt__buf_put(b, "\\f", 2); break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            dpt__buf_put(b, esc, 6);
        }
        i++;
    }
    dpt__buf_put(b, s + i - run, run);
    dpt__buf_putc(b, '"');
}

void dpt__json_keyn(dpt__json *j, const char *key, size_t len)
{
    sep(j);
    put_escaped(j->b, key ? key : "", key ? len : 0);
    dpt__buf_putc(j->b, ':');
    j->after_key = true;
}

void dpt__json_key(dpt__json *j, const char *key) { dpt__json_keyn(j, key, key ? strlen(key) : 0); }

void dpt__json_str(dpt__json *j, const char *s, size_t len)
{
    sep(j);
    put_escaped(j->b, s ? s : "", s ? len : 0);
}

void dpt__json_cstr(dpt__json *j, const char *s) { dpt__json_str(j, s, s ? strlen(s) : 0); }

void dpt__json_int(dpt__json *j, int64_t v)
{
    sep(j);
    dpt__buf_printf(j->b, "%lld", (long long)v);
}

void dpt__json_uint(dpt__json *j, uint64_t v)
{
    sep(j);
    dpt__buf_printf(j->b, "%llu", (unsigned long long)v);
}

void dpt__json_u64str(dpt__json *j, uint64_t v)
{
    sep(j);
    dpt__buf_printf(j->b, "\"%llu\"", (unsigned long long)v);
}

void dpt__json_i64str(dpt__json *j, int64_t v)
{
    sep(j);
    dpt__buf_printf(j->b, "\"%lld\"", (long long)v);
}

void dpt__json_double(dpt__json *j, double v)
{
    if (isnan(v)) {
        dpt__json_cstr(j, "NaN");
        return;
    }
    if (isinf(v)) {
        dpt__json_cstr(j, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    sep(j);
    char tmp[32];
    /* Shortest representation that reads back to the same double. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    dpt__buf_puts(j->b, tmp);
}

void dpt__json_bool(dpt__json *j, bool v)
{
    sep(j);
    dpt__buf_puts(j->b, v ? "true" : "false");
}

void dpt__json_null(dpt__json *j)
{
    sep(j);
    dpt__buf_puts(j->b, "null");
}

void dpt__json_value(dpt__json *j, const dpt_value *v)
{
    switch (v->type) {
    case DPT_VAL_STRING: dpt__json_str(j, v->u.s, v->len); break;
    case DPT_VAL_BOOL: dpt__json_bool(j, v->u.b); break;
    case DPT_VAL_INT: dpt__json_int(j, v->u.i); break;
    case DPT_VAL_DOUBLE: dpt__json_double(j, v->u.d); break;
    case DPT_VAL_STRING_ARRAY:
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        dpt__json_arr_begin(j);
        for (uint32_t i = 0; v->u.sa && i < v->len; i++) { /* a NULL array reads as empty */
            if (v->type == DPT_VAL_STRING_ARRAY) dpt__json_cstr(j, v->u.sa[i]);
            else if (v->type == DPT_VAL_BOOL_ARRAY) dpt__json_bool(j, v->u.ba[i]);
            else if (v->type == DPT_VAL_INT_ARRAY) dpt__json_int(j, v->u.ia[i]);
            else dpt__json_double(j, v->u.da[i]);
        }
        dpt__json_arr_end(j);
        break;
    default: dpt__json_null(j);
    }
}

/* ---- time ------------------------------------------------------------------------------ */

void dpt__format_rfc3339(uint64_t unix_ns, char out[40])
{
    time_t secs = (time_t)(unix_ns / 1000000000ull);
    unsigned ns = (unsigned)(unix_ns % 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Years are clamped to 4 digits so the text always fits (and sorts) as RFC 3339. */
    int year = tm.tm_year + 1900;
    if (year > 9999) year = 9999;
    if (year < 0) year = 0;
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", year % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, ns % 1000000000u);
}
