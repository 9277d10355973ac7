/* buf.c - the growable byte buffer every encoder and parser writes into. An allocation
 * failure sets `oom` and stops growth instead of failing each call, so callers check once
 * at the end.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

void dpt__buf_init(dpt__buf *b)
{
    memset(b, 0, sizeof *b);
}

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

void dpt__buf_puts(dpt__buf *b, const char *s)
{
    dpt__buf_put(b, s, strlen(s));
}

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
    if (!p) return NULL; /* reserve always allocates; this keeps the analysers sure of it */
    if (len) *len = b->len;
    p[b->len] = 0;
    dpt__buf_init(b);
    return p;
}
