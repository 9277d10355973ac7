/* tracestate.c - W3C tracestate: strict parsing, lookup and update.
 *
 * A dpt_tracestate is an immutable refcounted string in canonical form (members joined by
 * ',' without whitespace). Parsing is strict (the W3C grammar, at most 32 distinct keys):
 * a member outside the grammar discards the whole value, as the W3C test suite expects. A
 * repeated key does not ("Vendors MAY also discard duplicate keys"): the duplicates are
 * dropped. An over-long valid value is truncated as the W3C recommends (drop members over
 * 128 bytes from the end, then members from the end) to DPT_TRACESTATE_MAX_LEN.
 */
#include "tracestate.h"

#include <stdlib.h>

#define RAW_INPUT_MAX 65536

typedef struct member {
    const char *p; /* "key=value" */
    uint32_t len;
    uint32_t key_len;
} member;

static bool lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}
static bool digit(char c)
{
    return c >= '0' && c <= '9';
}
/* keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@" */
static bool keychr(char c)
{
    return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/' || c == '@';
}

/* W3C Trace Context, tracestate key: key = ( lcalpha / DIGIT ) 0*255 ( keychar ). The
 * older tenant@system form (241 + 14 characters, a letter after the '@') is no longer a
 * separate rule: '@' is a key character like the others. */
bool dpt__tracestate_key_ok(const char *k, size_t n)
{
    if (n == 0 || n > 256) return false;
    if (!lcalpha(k[0]) && !digit(k[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!keychr(k[i])) return false;
    return true;
}

bool dpt__tracestate_value_ok(const char *v, size_t n)
{
    if (n == 0 || n > 256) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
    }
    return v[n - 1] != ' ';
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits s into members; returns the count, or -1 when a member is invalid or there are
 * more than 32 distinct keys. A repeated key keeps the value of its first occurrence at
 * the position of its last one: OpenTelemetry JS does exactly this (it parses the list
 * right to left into an insertion-ordered map), and agreeing with it byte for byte is
 * worth more than either of the other orders the W3C text equally allows. */
static int split(const char *s, size_t len, member *m)
{
    int n = 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && ows(s[a]))
            a++;
        while (b > a && ows(s[b - 1]))
            b--;
        if (b > a) { /* empty list members are allowed and skipped */
            const char *eq = memchr(s + a, '=', b - a);
            if (!eq) return -1;
            size_t kn = (size_t)(eq - (s + a));
            if (!dpt__tracestate_key_ok(s + a, kn)) return -1;
            if (!dpt__tracestate_value_ok(eq + 1, b - a - kn - 1)) return -1;
            int dup = -1;
            for (int k = 0; k < n && dup < 0; k++)
                if (m[k].key_len == kn && memcmp(m[k].p, s + a, kn) == 0) dup = k;
            if (dup >= 0) { /* W3C: "Vendors MAY also discard duplicate keys" */
                member first = m[dup];
                memmove(&m[dup], &m[dup + 1], sizeof(member) * (size_t)(n - dup - 1));
                m[n - 1] = first;
                i = j + 1;
                continue;
            }
            if (n == DPT_TRACESTATE_MAX_MEMBERS) return -1;
            m[n].p = s + a;
            m[n].len = (uint32_t)(b - a);
            m[n].key_len = (uint32_t)kn;
            n++;
        }
        i = j + 1;
    }
    return n;
}

static size_t joined_len(const member *m, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += m[i].len + (i ? 1 : 0);
    return t;
}

static void remove_at(member *m, int *n, int i)
{
    memmove(&m[i], &m[i + 1], sizeof(member) * (size_t)(*n - i - 1));
    (*n)--;
}

/* Builds the canonical string from members, truncating to the length limit. */
static dpt_tracestate *build(member *m, int n)
{
    /* W3C: first drop members longer than 128 characters, from the end; then members
     * from the end. */
    for (int i = n - 1; i >= 0 && joined_len(m, n) > DPT_TRACESTATE_MAX_LEN; i--)
        if (m[i].len > 128) remove_at(m, &n, i);
    while (n > 0 && joined_len(m, n) > DPT_TRACESTATE_MAX_LEN)
        n--;
    if (n == 0) return NULL;
    size_t total = joined_len(m, n);
    dpt_tracestate *ts = dpt__malloc(sizeof *ts + total + 1);
    if (!ts) return NULL;
    atomic_init(&ts->refs, 1);
    char *o = ts->str;
    for (int i = 0; i < n; i++) {
        if (i) *o++ = ',';
        memcpy(o, m[i].p, m[i].len);
        o += m[i].len;
    }
    *o = 0;
    ts->len = (uint32_t)total;
    return ts;
}

dpt_err dpt_tracestate_parse(const char *s, size_t len, dpt_tracestate **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!s) return len ? DPT_EINVAL : DPT_OK;
    if (len == DPT_NUL) len = strlen(s);
    if (len > RAW_INPUT_MAX) return DPT_ETOOBIG;
    member m[DPT_TRACESTATE_MAX_MEMBERS];
    int n = split(s, len, m);
    if (n < 0) return DPT_EPARSE;
    if (n == 0) return DPT_OK;
    *out = build(m, n);
    return *out ? DPT_OK : DPT_ENOMEM;
}

const char *dpt_tracestate_str(const dpt_tracestate *ts, size_t *len)
{
    if (len) *len = ts ? ts->len : 0;
    return ts ? ts->str : "";
}

dpt_err dpt_tracestate_get(const dpt_tracestate *ts, const char *key, char *buf, size_t cap)
{
    if (!key || !buf || !cap) return DPT_EINVAL;
    buf[0] = 0;
    if (!ts) return DPT_ENOTFOUND;
    size_t kn = strlen(key);
    const char *p = ts->str, *end = ts->str + ts->len;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c) c = end;
        if ((size_t)(c - p) > kn && p[kn] == '=' && memcmp(p, key, kn) == 0) {
            size_t vn = (size_t)(c - p) - kn - 1;
            if (vn + 1 > cap) return DPT_ETOOBIG;
            memcpy(buf, p + kn + 1, vn);
            buf[vn] = 0;
            return DPT_OK;
        }
        p = c + 1;
    }
    return DPT_ENOTFOUND;
}

dpt_err dpt_tracestate_set(const dpt_tracestate *ts, const char *key, const char *value,
                           dpt_tracestate **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!key) return DPT_EINVAL;
    size_t kn = strlen(key);
    if (!dpt__tracestate_key_ok(key, kn)) return DPT_EINVAL;
    size_t vn = value ? strlen(value) : 0;
    if (value && !dpt__tracestate_value_ok(value, vn)) return DPT_EINVAL;
    member m[DPT_TRACESTATE_MAX_MEMBERS + 1];
    int n = 0;
    char first[256 + 1 + 256 + 1];
    if (value) {
        memcpy(first, key, kn);
        first[kn] = '=';
        memcpy(first + kn + 1, value, vn);
        m[n++] = (member){first, (uint32_t)(kn + 1 + vn), (uint32_t)kn};
    }
    if (ts) {
        member old[DPT_TRACESTATE_MAX_MEMBERS];
        int on = split(ts->str, ts->len, old); /* canonical, so valid */
        for (int i = 0; i < on; i++) {
            if (old[i].key_len == kn && memcmp(old[i].p, key, kn) == 0) continue;
            m[n++] = old[i];
        }
    }
    if (n > DPT_TRACESTATE_MAX_MEMBERS) n = DPT_TRACESTATE_MAX_MEMBERS; /* drop right-most */
    if (n == 0) return DPT_OK;
    *out = build(m, n);
    return *out ? DPT_OK : DPT_ENOMEM;
}

dpt_tracestate *dpt_tracestate_retain(const dpt_tracestate *ts)
{
    dpt_tracestate *t = (dpt_tracestate *)ts;
    /* Relaxed increment: the caller already holds a reference, so the object cannot go
     * away concurrently; no data is published by the increment itself. */
    if (t) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void dpt_tracestate_release(const dpt_tracestate *ts)
{
    dpt_tracestate *t = (dpt_tracestate *)ts;
    /* acq_rel: the last releaser must see every other holder's accesses before free. */
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) free(t);
}
