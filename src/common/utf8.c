/* utf8.c - UTF-8 validation, repair (invalid bytes become U+FFFD) and cutting at a
 * character boundary, for everything that writes user strings into JSON or cuts values.
 */
#include "common.h"

/* ---- UTF-8 ----------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if invalid. Rejects
 * overlong forms, surrogates and code points above U+10FFFF (RFC 3629). */
size_t dpt__utf8_seq(const unsigned char *s, size_t len, size_t i)
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
        size_t n = dpt__utf8_seq(u, len, i);
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
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}
