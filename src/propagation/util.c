/* util.c - shared pieces of the propagation module: drop counters, the text helpers of the
 * library (text.h: hex, percent coding, tokens), carrier access (single / repeated /
 * combined fields) and the extraction accumulator that every format writes into.
 */
#include "prop_internal.h"

#include <stdlib.h>

/* ---- counters --------------------------------------------------------------------------- */

/* Process-wide, owned by this file. Relaxed atomics: they are statistics, nothing else is
 * published through them. Names of registered counters are written once under stat_mu,
 * before n_stats is raised (release), and never change: readers load n_stats (acquire). */
static _Atomic uint64_t prop_stats[DPT_PSTAT_MAX];
static const char *const builtin_names[DPT_PSTAT_BUILTIN_COUNT] = {
    "traceparent_invalid", "tracestate_dropped", "baggage_members_dropped",
    "baggage_entries_not_sent", "b3_invalid", "jaeger_invalid", "edge_contexts_dropped",
    "ottrace_invalid",
};
static char user_names[DPT_PSTAT_MAX - DPT_PSTAT_BUILTIN_COUNT][48];
static _Atomic size_t n_stats = DPT_PSTAT_BUILTIN_COUNT;
static pthread_mutex_t stat_mu = PTHREAD_MUTEX_INITIALIZER;

void dpt__prop_count(int which, uint64_t n) { dpt_propagation_stat_add(which, n); }

void dpt_propagation_stat_add(int i, uint64_t n)
{
    if (i >= 0 && (size_t)i < atomic_load_explicit(&n_stats, memory_order_relaxed))
        atomic_fetch_add_explicit(&prop_stats[i], n, memory_order_relaxed);
}

size_t dpt_propagation_get_stats(uint64_t *out, size_t max)
{
    size_t n = atomic_load_explicit(&n_stats, memory_order_acquire);
    for (size_t i = 0; out && i < n && i < max; i++)
        out[i] = atomic_load_explicit(&prop_stats[i], memory_order_relaxed);
    return n;
}

const char *dpt_propagation_stat_name(size_t i)
{
    size_t n = atomic_load_explicit(&n_stats, memory_order_acquire);
    if (i >= n) return NULL;
    return i < DPT_PSTAT_BUILTIN_COUNT ? builtin_names[i] : user_names[i - DPT_PSTAT_BUILTIN_COUNT];
}

int dpt_propagation_stat_register(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= sizeof user_names[0]) {
        dpt__log(DPT_LOG_WARN, "propagation counter: a name of 1 to %zu bytes is needed",
                 sizeof user_names[0] - 1);
        return -1;
    }
    pthread_mutex_lock(&stat_mu);
    size_t n = atomic_load_explicit(&n_stats, memory_order_relaxed);
    int idx = -1;
    for (size_t i = 0; i < n && idx < 0; i++)
        if (strcmp(dpt_propagation_stat_name(i), name) == 0) idx = (int)i;
    if (idx < 0 && n < DPT_PSTAT_MAX) {
        memcpy(user_names[n - DPT_PSTAT_BUILTIN_COUNT], name, len + 1);
        idx = (int)n;
        atomic_store_explicit(&n_stats, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&stat_mu);
    if (idx < 0)
        dpt__log(DPT_LOG_WARN, "propagation counter \"%s\" not added: all %d counters are in use",
                 name, DPT_PSTAT_MAX);
    return idx;
}

/* ---- hex ----------------------------------------------------------------------------------- */

#define X16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
const int8_t dpt__lhex[256] = {
    X16(-1), X16(-1), X16(-1),
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,           /* 0x30 */
    X16(-1), X16(-1),                                             /* 0x40, 0x50: no uppercase */
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, /* 0x60 */
    X16(-1),
    X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1), X16(-1),
};
#undef X16

int dpt__anyhex(unsigned char c)
{
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return dpt__lhex[c];
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define REP8(b) (0x0101010101010101ull * (uint64_t)(b))
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

bool dpt__lhex_decode(const char *s, uint8_t *out, size_t n)
{
    size_t i = 0;
#ifdef REP8
    for (; i + 4 <= n; i += 4)
        if (!lhex8(s + 2 * i, out + i)) return false;
#endif
    /* The rest a byte at a time; accumulate an "invalid" bit instead of branching. */
    int bad = 0;
    for (; i < n; i++) {
        /* NOLINTNEXTLINE(bugprone-signed-char-misuse,cert-str34-c): int8_t table, -1 marks invalid */
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

void dpt__lhex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) memcpy(out + 2 * i, hexpairs + 2 * (size_t)in[i], 2);
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
    for (; i < n; i++) acc |= p[i];
    return acc == 0;
}

bool dpt__tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool dpt__is_token(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!dpt__tchar((unsigned char)s[i])) return false;
    return true;
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
            char e[3] = { '%', hx[c >> 4], hx[c & 15] };
            dpt__buf_put(b, e, 3);
        }
    }
}

/* ---- carrier access ------------------------------------------------------------------------ */

size_t dpt__in_count(const dpt__in *in, const char *name, size_t cap)
{
    size_t n = 0, len;
    while (n < cap && in->g->get(in->c, name, n, &len)) n++;
    return n;
}

const char *dpt__in_single(const dpt__in *in, const char *name, size_t *len, size_t *count)
{
    size_t l0 = 0, l1 = 0;
    const char *v = in->g->get(in->c, name, 0, &l0);
    if (!v) {
        *count = 0;
        return NULL;
    }
    if (in->g->get(in->c, name, 1, &l1)) {
        *count = 2;
        return NULL;
    }
    *count = 1;
    *len = l0;
    return v;
}

size_t dpt__in_joined(const dpt__in *in, const char *name, dpt__buf *b, size_t max, bool *cut)
{
    size_t n = 0, len = 0;
    const char *v;
    *cut = false;
    while (n < DPT__MAX_FIELD_VALUES && (v = in->g->get(in->c, name, n, &len)) != NULL) {
        /* Hostile input can repeat a long line many times: stop at max bytes. */
        if (b->len + (n ? 1 : 0) + len > max) {
            *cut = true;
            break;
        }
        if (n) dpt__buf_putc(b, ',');
        dpt__buf_put(b, v, len);
        n++;
    }
    return n;
}

/* ---- extraction accumulator ---------------------------------------------------------------- */

void dpt__extract_set_sc(dpt__extract *x, const dpt_span_context *sc, dpt_tracestate *ts)
{
    if (x->ts) dpt_tracestate_release(x->ts);
    x->sc = *sc;
    x->sc.remote = true;
    x->ts = ts;
    x->have_sc = true;
}

dpt_err dpt_extraction_set_span_context(dpt_extraction *x, const dpt_span_context *sc,
                                        const dpt_tracestate *ts)
{
    if (!x || !sc || !dpt_span_context_is_valid(sc)) return DPT_EINVAL;
    dpt__extract_set_sc(x, sc, dpt_tracestate_retain(ts));
    return DPT_OK;
}

void dpt_extraction_saw_trace_field(dpt_extraction *x)
{
    if (x) x->saw_trace_field = true;
}

dpt_span_context dpt_extraction_span_context(const dpt_extraction *x)
{
    dpt_span_context z;
    memset(&z, 0, sizeof z);
    return x && x->have_sc ? x->sc : z;
}

dpt_err dpt_extraction_add_baggage(dpt_extraction *x, const char *key, size_t key_len,
                                   const char *value, size_t value_len, const char *meta,
                                   size_t meta_len)
{
    if (!x) return DPT_EINVAL;
    dpt_baggage *nb = NULL;
    dpt_err e = dpt_baggage_set_n(x->bg, key, key_len, value, value_len, meta, meta ? meta_len : 0, &nb);
    if (e == DPT_OK) {
        dpt_baggage_release(x->bg);
        x->bg = nb;
    } else {
        if (e == DPT_ENOMEM) x->oom = true;
        else dpt__prop_count(DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED, 1);
    }
    return e;
}
