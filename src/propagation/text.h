/* text.h - the one set of small text helpers of libdptrace: hex, percent coding, HTTP
 * token characters and optional whitespace.
 *
 * They live in src/propagation/util.c for now (propagation is their main user; redaction
 * and any module of the library may include this header). Every other module should use
 * these instead of a local copy, so that "what is a hex digit" or "what does %zz decode to"
 * has one answer. Private: dpt__ names, not API.
 */
#ifndef DPT_TEXT_H
#define DPT_TEXT_H

#include "internal.h"

/* ---- optional whitespace (RFC 9110 OWS: SP / HTAB) ---------------------------------- */
static inline bool dpt__ows(char c)
{
    return c == ' ' || c == '\t';
}
/* Trims OWS from both ends of [*s, *s + *len). */
static inline void dpt__trim_ows(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;
    while (n && dpt__ows(p[0]))
        p++, n--;
    while (n && dpt__ows(p[n - 1]))
        n--;
    *s = p;
    *len = n;
}

/* ---- hex ------------------------------------------------------------------------------ */
/* Value of a lowercase hex digit, or -1 (W3C and B3 accept lowercase only). */
DPT__SHARED extern const int8_t dpt__lhex[256];
/* Value of a hex digit of either case, or -1. */
DPT__SHARED int dpt__anyhex(unsigned char c);
/* Decodes exactly 2*n lowercase hex digits into out; false on any other byte. */
DPT__SHARED bool dpt__lhex_decode(const char *s, uint8_t *out, size_t n);
/* Encodes n bytes as 2*n lowercase hex digits (no NUL written). */
DPT__SHARED void dpt__lhex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes 1..2*n hex digits of either case, right-aligned into out (zero-padded on the
 * left, as Jaeger and OpenTracing write ids without leading zeros); false otherwise. */
DPT__SHARED bool dpt__hex_decode_padded(const char *s, size_t len, uint8_t *out, size_t n);
DPT__SHARED bool dpt__all_zero(const uint8_t *p, size_t n);

/* ---- percent coding (RFC 3986 2.1) ------------------------------------------------------ */
/* Percent-decodes s into b (appending); false on a malformed escape ('%' not followed by
 * two hex digits of either case), b then holds a partial result. Every decoded byte is
 * kept, NUL included: callers carry lengths. */
DPT__SHARED bool dpt__pct_decode(const char *s, size_t len, dpt__buf *b);
/* Appends s percent-encoded with uppercase digits: every byte outside the unreserved set
 * of encodeURIComponent (A-Z a-z 0-9 - _ . ! ~ * ' ( )) is escaped. */
DPT__SHARED void dpt__pct_encode(const char *s, size_t len, dpt__buf *b);

/* ---- HTTP ----------------------------------------------------------------------------- */
/* RFC 9110 tchar (the characters of a token). */
DPT__SHARED bool dpt__tchar(unsigned char c);
/* true when [s, s + n) is a non-empty token. */
DPT__SHARED bool dpt__is_token(const char *s, size_t n);
/* Case-insensitive ASCII comparison of a (n bytes) with NUL-terminated lowercase b. */
DPT__SHARED bool dpt__name_eq(const char *a, size_t n, const char *b);

#endif /* DPT_TEXT_H */
