/* text.c - the text helpers every module shares: hex, percent coding, HTTP token and
 * case-insensitive name checks, RFC 3339 time. One copy of each, so that two modules can
 * never disagree on what a valid escape or hex digit is.
 */
#include "common.h"

#include <stdio.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Lowercase hex of n bytes plus a NUL (out holds 2n + 1). */
void dpt__hex_encode(const uint8_t *in, size_t n, char *out)
{
    dpt__lhex_encode(in, n, out);
    out[2 * n] = 0;
}

/* Exactly 2n hex digits of either case. */
bool dpt__hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n) return false;
    for (size_t i = 0; i < n; i++) {
        int hi = dpt__anyhex((unsigned char)s[2 * i]),
            lo = dpt__anyhex((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* ---- hex ----------------------------------------------------------------------------------- */

#define X16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
const int8_t dpt__lhex[256] = {
    X16(-1), X16(-1), X16(-1), 0,       1,       2,       3,       4,       5,       6,
    7,       8,       9,       -1,      -1,      -1,      -1,      -1,      -1, /* 0x30 */
    X16(-1), X16(-1), /* 0x40, 0x50: no uppercase */
    -1,      10,      11,      12,      13,      14,      15,      -1,      -1,      -1,
    -1,      -1,      -1,      -1,      -1,      -1, /* 0x60 */
    X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1),
};
#undef X16

int dpt__anyhex(unsigned char c)
{
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return dpt__lhex[c];
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define REP8(b) (0x0101010101010101ull * (uint64_t)(b))
#if !defined(__SSE2__)
/* Eight lowercase hex digits -> four bytes, branch-free (SWAR): ids are decoded on every
 * request, and a byte-at-a-time table walk was the largest cost of an extract. */
static bool lhex8(const char *s, uint8_t out[4])
{
    uint64_t x;
    memcpy(&x, s, 8);
    if (x & REP8(0x80)) return false;
    /* With every byte < 0x80, c + (0x80 - lo) has its top bit set iff c >= lo and
     * c + (0x7f - hi) iff c > hi; no sum leaves its byte. */
    uint64_t digit = (x + REP8(0x80 - '0')) & ~(x + REP8(0x7f - '9'));
    uint64_t alpha = (x + REP8(0x80 - 'a')) & ~(x + REP8(0x7f - 'f'));
    if (((digit | alpha) & REP8(0x80)) != REP8(0x80)) return false;
    /* '0'..'9' -> low nibble; 'a'..'f' have bit 6 set: low nibble + 9. */
    uint64_t v = (x & REP8(0x0f)) + 9 * ((x >> 6) & REP8(0x01));
    uint64_t t = ((v << 4) | (v >> 8)) & 0x00ff00ff00ff00ffull; /* bytes 0,2,4,6: pairs */
    t = (t | (t >> 8)) & 0x0000ffff0000ffffull;
    t = (t | (t >> 16)) & 0xffffffffull;
    uint32_t r = (uint32_t)t;
    memcpy(out, &r, 4);
    return true;
}
#endif
#endif

#if defined(__SSE2__)
/* Sixteen lowercase hex digits -> eight bytes with SSE2 (every x86-64 has it): a trace id
 * is two of these, about a third of the instructions of lhex8's four. A digit is valid when
 * c - '0' <= 9 or c - 'a' <= 5 (unsigned bytes: min_epu8 compares them). */
static bool lhex16(const char *s, uint8_t out[8])
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    __m128i a = _mm_sub_epi8(x, _mm_set1_epi8('a'));
    __m128i isd = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    __m128i isa = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(5)), a);
    if (_mm_movemask_epi8(_mm_or_si128(isd, isa)) != 0xffff) return false;
    __m128i v =
        _mm_or_si128(_mm_and_si128(isd, d), _mm_and_si128(isa, _mm_add_epi8(a, _mm_set1_epi8(10))));
    /* Little-endian 16-bit lanes: the high nibble's digit is the lane's low byte. */
    __m128i pair = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x00ff)), 4),
                                _mm_srli_epi16(v, 8));
    _mm_storel_epi64((__m128i *)(void *)out, _mm_packus_epi16(pair, pair));
    return true;
}
#endif

bool dpt__lhex_decode(const char *s, uint8_t *out, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* ids are 8 or 16 bytes: nothing left after this loop (the byte loop takes a version
     * or flags byte) */
    for (; i + 8 <= n; i += 8)
        if (!lhex16(s + 2 * i, out + i)) return false;
#elif defined(REP8)
    for (; i + 4 <= n; i += 4)
        if (!lhex8(s + 2 * i, out + i)) return false;
#endif
    /* The rest a byte at a time; accumulate an "invalid" bit instead of branching. */
    int bad = 0;
    for (; i < n; i++) {
        /* An int8_t table, -1 marks invalid: */
        /* NOLINTNEXTLINE(bugprone-signed-char-misuse,cert-str34-c) */
        int hi = dpt__lhex[(unsigned char)s[2 * i]];
        /* NOLINTNEXTLINE(bugprone-signed-char-misuse,cert-str34-c): as above */
        int lo = dpt__lhex[(unsigned char)s[2 * i + 1]];
        bad |= hi | lo;
        out[i] = (uint8_t)(((unsigned)hi << 4) | ((unsigned)lo & 15u));
    }
    return bad >= 0;
}

/* Lowercase hex encoding with a pair table: one 2-byte copy per input byte. */
static const char hexpairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

#if defined(REP8) && !defined(__SSE2__)
/* Four bytes -> eight lowercase hex digits, branch-free (SWAR): every inject writes 25
 * bytes of ids as hex, and the table walk's dependent loads were slower. Nibbles spread
 * one per byte, then '0' + v, plus 39 where v > 9. */
static inline void lhex_enc4(const uint8_t *in, char *out)
{
    uint32_t x;
    memcpy(&x, in, 4);
    uint64_t v = x;
    v = (v | (v << 16)) & 0x0000ffff0000ffffull;
    v = (v | (v << 8)) & 0x00ff00ff00ff00ffull;
    /* byte 2k holds in[k]: its high nibble goes to byte 2k, its low one to byte 2k + 1 */
    uint64_t n = ((v >> 4) & REP8(0x0f)) | ((v & REP8(0x0f)) << 8);
    uint64_t gt9 = ((n + REP8(0x80 - 10)) & REP8(0x80)) >> 7; /* 1 where a nibble > 9 */
    uint64_t c = n + REP8('0') + gt9 * 39;
    memcpy(out, &c, 8);
}
#endif

#if defined(__SSE2__)
/* Eight bytes -> sixteen lowercase hex digits with SSE2: nibbles interleaved high first,
 * then '0' + v, plus 39 where v > 9. */
static inline void lhex_enc8(const uint8_t *in, char *out)
{
    __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)in);
    __m128i lo = _mm_and_si128(x, _mm_set1_epi8(0x0f));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(0x0f));
    __m128i v = _mm_unpacklo_epi8(hi, lo);
    __m128i gt9 = _mm_cmpgt_epi8(v, _mm_set1_epi8(9));
    __m128i c =
        _mm_add_epi8(_mm_add_epi8(v, _mm_set1_epi8('0')), _mm_and_si128(gt9, _mm_set1_epi8(39)));
    _mm_storeu_si128((__m128i *)(void *)out, c);
}
#endif

void dpt__lhex_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 8 <= n; i += 8)
        lhex_enc8(in + i, out + 2 * i);
#elif defined(REP8)
    for (; i + 4 <= n; i += 4)
        lhex_enc4(in + i, out + 2 * i);
#endif
    for (; i < n; i++)
        memcpy(out + 2 * i, hexpairs + 2 * (size_t)in[i], 2);
}

bool dpt__hex_decode_padded(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len == 0 || len > 2 * n) return false;
    memset(out, 0, n);
    /* Walk from the right so that an odd number of digits lands in the low nibble. */
    for (size_t i = 0; i < len; i++) {
        int v = dpt__anyhex((unsigned char)s[len - 1 - i]);
        if (v < 0) return false;
        out[n - 1 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
    }
    return true;
}

bool dpt__all_zero(const uint8_t *p, size_t n)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* ids are 8 or 16 bytes: one or two words */
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

bool dpt__tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool dpt__name_eq(const char *a, size_t n, const char *b)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        if (b[i] == 0 || c != (unsigned char)b[i]) return false;
    }
    return b[n] == 0;
}

/* ---- percent coding ---------------------------------------------------------------------- */

bool dpt__pct_decode(const char *s, size_t len, dpt__buf *b)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            dpt__buf_putc(b, s[i]);
            continue;
        }
        if (len - i < 3) return false; /* '%' needs two more digits */
        int hi = dpt__anyhex((unsigned char)s[i + 1]);
        int lo = dpt__anyhex((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0) return false;
        dpt__buf_putc(b, (char)((hi << 4) | lo));
        i += 2;
    }
    return true;
}

static bool unreserved(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("-_.!~*'()", c) != NULL;
}

void dpt__pct_encode(const char *s, size_t len, dpt__buf *b)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            dpt__buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            dpt__buf_put(b, e, 3);
        }
    }
}

/* ---- lists ------------------------------------------------------------------------------- */

bool dpt__list_next(const char *s, size_t len, size_t *pos, const char **m, size_t *ml)
{
    while (*pos <= len) {
        size_t i = *pos, j = i;
        while (j < len && s[j] != ',')
            j++;
        *pos = j + 1;
        const char *p = s + i;
        size_t n = j - i;
        dpt__trim_ows(&p, &n);
        if (n) {
            *m = p;
            *ml = n;
            return true;
        }
    }
    return false;
}

bool dpt__kv_split(const char *m, size_t ml, const char **k, size_t *kl, const char **v, size_t *vl)
{
    const char *eq = memchr(m, '=', ml);
    if (!eq) return false;
    *k = m;
    *kl = (size_t)(eq - m);
    *v = eq + 1;
    *vl = ml - *kl - 1;
    dpt__trim_ows(k, kl);
    dpt__trim_ows(v, vl);
    return true;
}

void dpt__kvlist_init(dpt__kvlist *it, const char *s, size_t len)
{
    memset(it, 0, sizeof *it);
    it->s = s ? s : "";
    it->len = s ? len : 0;
    dpt__buf_init(&it->key);
    dpt__buf_init(&it->value);
}

/* NUL-terminates b, also when it is empty (reused, or never allocated), so that callers
 * can always read b->p as a string. */
static void terminate(dpt__buf *b)
{
    if (b->p || dpt__buf_reserve(b, 0)) b->p[b->len] = 0;
}

int dpt__kvlist_next(dpt__kvlist *it)
{
    if (!dpt__list_next(it->s, it->len, &it->pos, &it->m, &it->ml)) return DPT__KV_END;
    it->key.len = it->value.len = 0;
    const char *k, *v;
    size_t kl, vl;
    if (!dpt__kv_split(it->m, it->ml, &k, &kl, &v, &vl) || !kl) return DPT__KV_MALFORMED;
    if (!dpt__pct_decode(k, kl, &it->key) || !dpt__pct_decode(v, vl, &it->value))
        return DPT__KV_MALFORMED;
    terminate(&it->key);
    terminate(&it->value);
    return it->key.oom || it->value.oom ? DPT__KV_ENOMEM : DPT__KV_MEMBER;
}

void dpt__kvlist_free(dpt__kvlist *it)
{
    dpt__buf_free(&it->key);
    dpt__buf_free(&it->value);
}

/* ---- time ----------------------------------------------------------------------------- */

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
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
             ns % 1000000000u);
}
