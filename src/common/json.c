/* json.c - a streaming JSON writer: correct escaping of every control character, invalid
 * UTF-8 repaired, doubles in shortest round-trip form. No tree is ever built.
 */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>

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

void dpt__json_obj_begin(dpt__json *j)
{
    open(j, '{');
}
void dpt__json_obj_end(dpt__json *j)
{
    close_(j, '}');
}
void dpt__json_arr_begin(dpt__json *j)
{
    open(j, '[');
}
void dpt__json_arr_end(dpt__json *j)
{
    close_(j, ']');
}

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
            size_t n = dpt__utf8_seq(u, len, i);
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
        case '"':
            dpt__buf_put(b, "\\\"", 2);
            break;
        case '\\':
            dpt__buf_put(b, "\\\\", 2);
            break;
        case '\n':
            dpt__buf_put(b, "\\n", 2);
            break;
        case '\r':
            dpt__buf_put(b, "\\r", 2);
            break;
        case '\t':
            dpt__buf_put(b, "\\t", 2);
            break;
        case '\b':
            dpt__buf_put(b, "\\b", 2);
            break;
        case '\f':
            dpt__buf_put(b, "\\f", 2);
            break;
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

void dpt__json_key(dpt__json *j, const char *key)
{
    dpt__json_keyn(j, key, key ? strlen(key) : 0);
}

void dpt__json_str(dpt__json *j, const char *s, size_t len)
{
    sep(j);
    put_escaped(j->b, s ? s : "", s ? len : 0);
}

void dpt__json_cstr(dpt__json *j, const char *s)
{
    dpt__json_str(j, s, s ? strlen(s) : 0);
}

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
    case DPT_VAL_STRING:
        dpt__json_str(j, v->u.s, v->len);
        break;
    case DPT_VAL_BOOL:
        dpt__json_bool(j, v->u.b);
        break;
    case DPT_VAL_INT:
        dpt__json_int(j, v->u.i);
        break;
    case DPT_VAL_DOUBLE:
        dpt__json_double(j, v->u.d);
        break;
    case DPT_VAL_STRING_ARRAY:
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        dpt__json_arr_begin(j);
        for (uint32_t i = 0; v->u.sa && i < v->len; i++) { /* a NULL array reads as empty */
            if (v->type == DPT_VAL_STRING_ARRAY)
                dpt__json_cstr(j, v->u.sa[i]);
            else if (v->type == DPT_VAL_BOOL_ARRAY)
                dpt__json_bool(j, v->u.ba[i]);
            else if (v->type == DPT_VAL_INT_ARRAY)
                dpt__json_int(j, v->u.ia[i]);
            else
                dpt__json_double(j, v->u.da[i]);
        }
        dpt__json_arr_end(j);
        break;
    default:
        dpt__json_null(j);
    }
}
