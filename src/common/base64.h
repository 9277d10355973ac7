/* base64.h - the one base64 decoder of dptrace, for everything that reads base64: gRPC
 * "-bin" trailers in libdptrace-http, ids that older collectors wrote in OTLP/JSON in the
 * CLI. Header-only and dependent on nothing but libc (as pb_read.h), so that the CLI's
 * reading commands include it without the library.
 *
 * Padding is optional: gRPC's binary headers are RFC 4648 section 4 base64 and
 * "Implementations MUST accept padded and un-padded values" (PROTOCOL-HTTP2.md). Both
 * alphabets are read (section 4's '+' '/' and section 5's URL-safe '-' '_'): writers that
 * use the other one are read rather than refused, as both readers this replaces did.
 */
#ifndef DPT_BASE64_H
#define DPT_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The 6-bit value of a base64 character of either alphabet, or -1. */
static inline int dpt__b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes s[0..n) into out[0..cap): trailing '=' padding is ignored, bits left over at the
 * end are dropped. *len receives the number of bytes. false on any other character ('='
 * inside included) or when the bytes do not fit in cap. Cannot fail otherwise. */
static inline bool dpt__b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = dpt__b64_value((unsigned char)s[i]);
        if (v < 0) return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap) return false;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *len = o;
    return true;
}

#endif /* DPT_BASE64_H */
