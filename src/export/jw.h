/* jw.h - a small append-only JSON emitter for the encoders whose output shape is fixed
 * (OTLP JSON): keys are literals written with their quotes, colon and comma, so there is
 * no per-token state to keep; strings are escaped with a table-driven fast path for the
 * common case of plain ASCII; integers are formatted without printf. Doubles go through
 * the core JSON writer (shortest round-trip form). Private to src/export.
 */
#ifndef DPT_EXPORT_JW_H
#define DPT_EXPORT_JW_H

#include "encode.h"

static inline bool dpt__jw_room(dpt__buf *b, size_t n)
{
    if (DPT__LIKELY(!b->oom && b->cap - b->len >= n)) return true;
    return !b->oom && dpt__buf_reserve(b, n) && !b->oom;
}

static inline void dpt__jw_raw(dpt__buf *b, const char *s, size_t n)
{
    if (!dpt__jw_room(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* s must be a string literal ("" s "" makes anything else a compile error). */
#define JW_LIT(b, s) dpt__jw_raw((b), "" s "", sizeof(s) - 1)

static inline void dpt__jw_char(dpt__buf *b, char c)
{
    if (!dpt__jw_room(b, 1)) return;
    b->p[b->len++] = c;
}

/* Decimal digits of v at p; returns the count. */
static inline size_t dpt__jw_utoa(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static inline void dpt__jw_uint(dpt__buf *b, uint64_t v)
{
    if (!dpt__jw_room(b, 20)) return;
    b->len += dpt__jw_utoa(b->p + b->len, v);
}

/* A 64-bit integer as a JSON string ("-123"), as OTLP/JSON wants for int64 and times. */
static inline void dpt__jw_int_str(dpt__buf *b, int64_t v, bool is_signed, uint64_t u)
{
    if (!dpt__jw_room(b, 23)) return;
    char *p = b->p + b->len;
    size_t n = 0;
    p[n++] = '"';
    if (is_signed) {
        uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        if (v < 0) p[n++] = '-';
        n += dpt__jw_utoa(p + n, mag);
    } else {
        n += dpt__jw_utoa(p + n, u);
    }
    p[n++] = '"';
    b->len += n;
}

static inline void dpt__jw_hex(dpt__buf *b, const uint8_t *id, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    if (!dpt__jw_room(b, 2 * n + 2)) return;
    char *p = b->p + b->len;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        *p++ = hx[id[i] >> 4];
        *p++ = hx[id[i] & 15];
    }
    *p++ = '"';
    b->len += 2 * n + 2;
}

/* A quoted, escaped JSON string. Invalid UTF-8 bytes become U+FFFD (via tmp). */
DPT__HIDDEN void dpt__jw_str(dpt__buf *b, dpt__buf *tmp, const char *s, size_t n);

/* The shortest round-trip form of d; NaN and the infinities as the strings protobuf's
 * JSON mapping uses. */
DPT__HIDDEN void dpt__jw_double(dpt__buf *b, double d);

#endif /* DPT_EXPORT_JW_H */
