/* jw.c - the out-of-line parts of jw.h: JSON string escaping and doubles.
 */
#include "jw.h"

/* 1 for bytes that cannot be copied as they are: control characters, '"', '\\', and
 * non-ASCII bytes (which need a UTF-8 validity check first). */
static const uint8_t special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Escapes s (valid UTF-8) into b, which has room for 6 bytes per input byte. */
static void escape_into(dpt__buf *b, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    char *p = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c; /* ASCII or part of a valid UTF-8 sequence */
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hx[c >> 4];
            *p++ = hx[c & 15];
        }
    }
    b->len = (size_t)(p - b->p);
}

void dpt__jw_str(dpt__buf *b, dpt__buf *tmp, const char *s, size_t n)
{
    if (!s) s = "", n = 0;
    size_t i = 0;
    while (i < n && !special[(unsigned char)s[i]])
        i++;
    if (DPT__LIKELY(i == n)) {
        if (!dpt__jw_room(b, n + 2)) return;
        char *p = b->p + b->len;
        *p = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        b->len += n + 2;
        return;
    }
    /* Invalid UTF-8 is replaced first, so escaping only deals with valid text. */
    if (dpt__utf8_valid_prefix(s, n) != n) {
        tmp->len = 0;
        tmp->oom = false;
        dpt__utf8_sanitize(s, n, tmp);
        if (tmp->oom) {
            b->oom = true;
            return;
        }
        s = tmp->p;
        n = tmp->len;
    }
    if (n > (SIZE_MAX - 2) / 6 || !dpt__jw_room(b, n * 6 + 2)) return;
    b->p[b->len++] = '"';
    escape_into(b, s, n);
    b->p[b->len++] = '"';
}

void dpt__jw_double(dpt__buf *b, double d)
{
    /* The core writer owns the shortest round-trip logic; at depth 0 it adds no comma. */
    dpt__json j;
    dpt__json_init(&j, b);
    dpt__json_double(&j, d);
}
