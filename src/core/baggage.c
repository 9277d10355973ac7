/* baggage.c - immutable, refcounted baggage sets.
 *
 * Every change makes a new set in one allocation (entries + strings), so a baggage can be
 * shared by contexts on any number of threads without locks. Sets are small (bounded by
 * DPT_BAGGAGE_MAX_ENTRIES / _BYTES), so copying on change is cheaper than a tree. Keys,
 * values and metadata carry their lengths (a percent-decoded value may hold NUL bytes) and
 * are NUL-terminated as well, for the NUL-terminated API.
 */
#include "redact.h"

#include <stdlib.h>

typedef struct entry {
    const char *key;
    const char *value;
    const char *meta; /* NULL when none */
    uint32_t klen, vlen, mlen;
} entry;

struct dpt_baggage {
    _Atomic uint32_t refs;
    uint32_t n;
    size_t bytes; /* keys + values + metadata */
    entry e[];
};

/* A string with its length, for building sets. */
typedef struct str {
    const char *p;
    size_t n;
} str;

static bool same_key(const entry *e, str k)
{
    return e->klen == k.n && memcmp(e->key, k.p, k.n) == 0;
}

/* Makes a set from the entries of `from` (all but skip) plus, when key.p is set, one new
 * entry at the end. */
static dpt_err make(const dpt_baggage *from, const str *skip, str key, str value, str meta,
                    dpt_baggage **out)
{
    uint32_t n = 0;
    size_t bytes = 0;
    uint32_t fn = from ? from->n : 0;
    for (uint32_t i = 0; i < fn; i++) {
        if (skip && same_key(&from->e[i], *skip)) continue;
        n++;
        bytes += (size_t)from->e[i].klen + from->e[i].vlen + from->e[i].mlen;
    }
    if (key.p) {
        n++;
        bytes += key.n + value.n + meta.n;
    }
    if (n > DPT_BAGGAGE_MAX_ENTRIES || bytes > DPT_BAGGAGE_MAX_BYTES) return DPT_ETOOBIG;
    if (n == 0) {
        *out = NULL;
        return DPT_OK;
    }
    size_t strbytes = bytes + 3 * (size_t)n; /* NULs */
    dpt_baggage *b = dpt__malloc(sizeof *b + sizeof(entry) * n + strbytes);
    if (!b) return DPT_ENOMEM;
    atomic_init(&b->refs, 1);
    b->n = n;
    b->bytes = bytes;
    char *p = (char *)&b->e[n];
#define DUP(dst, dlen, src, len)                                                                   \
    do {                                                                                           \
        memcpy(p, (src), (len));                                                                   \
        p[(len)] = 0;                                                                              \
        (dst) = p;                                                                                 \
        (dlen) = (uint32_t)(len);                                                                  \
        p += (len) + 1;                                                                            \
    } while (0)
    uint32_t k = 0;
    for (uint32_t i = 0; i < fn; i++) {
        const entry *f = &from->e[i];
        if (skip && same_key(f, *skip)) continue;
        DUP(b->e[k].key, b->e[k].klen, f->key, f->klen);
        DUP(b->e[k].value, b->e[k].vlen, f->value, f->vlen);
        if (f->meta)
            DUP(b->e[k].meta, b->e[k].mlen, f->meta, f->mlen);
        else
            b->e[k].meta = NULL, b->e[k].mlen = 0;
        k++;
    }
    if (key.p) {
        DUP(b->e[k].key, b->e[k].klen, key.p, key.n);
        DUP(b->e[k].value, b->e[k].vlen, value.p, value.n);
        if (meta.p && meta.n)
            DUP(b->e[k].meta, b->e[k].mlen, meta.p, meta.n);
        else
            b->e[k].meta = NULL, b->e[k].mlen = 0;
    }
#undef DUP
    *out = b;
    return DPT_OK;
}

/* W3C baggage-octet: what a property value may hold unescaped. */
static bool bagoctet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

/* Redacts the values of sensitive properties ("k=v" parts of the metadata whose key
 * matches the policy, like keys of attributes and entries): "user=bob;token=abc" keeps
 * "user" but sends "token=<marker>". The replacement is percent-escaped where it holds
 * bytes a property value may not carry, so the header stays valid. Returns true and fills
 * o when something was replaced. */
static bool redact_meta(str meta, dpt__buf *o)
{
    bool changed = false;
    size_t i = 0;
    while (i < meta.n) {
        size_t j = i;
        while (j < meta.n && meta.p[j] != ';')
            j++;
        const char *part = meta.p + i;
        size_t pl = j - i;
        const char *eq = memchr(part, '=', pl);
        bool done = false;
        if (eq) {
            const char *k = part, *v = eq + 1;
            size_t kl = (size_t)(eq - part), vl = pl - kl - 1;
            while (kl && (k[0] == ' ' || k[0] == '\t'))
                k++, kl--;
            while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
                kl--;
            char rbuf[256];
            dpt_value val = {DPT_VAL_STRING, (uint32_t)vl, {.s = v}};
            dpt__redact_result red = kl ? dpt__redact(k, kl, &val, rbuf, sizeof rbuf)
                                        : (dpt__redact_result){DPT_REDACT_KEEP, NULL, 0};
            if (red.action != DPT_REDACT_KEEP) {
                if (o->len) dpt__buf_putc(o, ';');
                dpt__buf_put(o, part, (size_t)(eq - part) + 1);
                static const char hx[] = "0123456789ABCDEF";
                for (size_t q = 0; q < red.len; q++) {
                    unsigned char c = (unsigned char)red.text[q];
                    /* A rewrite (the URL rule, a custom rule) works on the value as
                     * received, percent-escapes and all: its '%' stays; the marker is text,
                     * its '%' is escaped. Escaping both grew "%" to "%25", "%2525"... at
                     * every hop. */
                    if (bagoctet(c) && (c != '%' || red.action == DPT_REDACT_REWRITE)) {
                        dpt__buf_putc(o, (char)c);
                    } else {
                        char e[3] = {'%', hx[c >> 4], hx[c & 15]};
                        dpt__buf_put(o, e, 3);
                    }
                }
                changed = done = true;
            }
        }
        if (!done) {
            if (o->len) dpt__buf_putc(o, ';');
            dpt__buf_put(o, part, pl);
        }
        i = j + 1;
    }
    return changed;
}

dpt_err dpt_baggage_set_n(const dpt_baggage *b, const char *key, size_t key_len, const char *value,
                          size_t value_len, const char *metadata, size_t metadata_len,
                          dpt_baggage **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!key || !value) return DPT_EINVAL;
    if (key_len == DPT_NUL) key_len = strlen(key);
    if (value_len == DPT_NUL) value_len = strlen(value);
    if (metadata && metadata_len == DPT_NUL) metadata_len = strlen(metadata);
    if (!metadata) metadata_len = 0;
    if (key_len == 0) return DPT_EINVAL;
    if (key_len > DPT_BAGGAGE_MAX_BYTES || value_len > DPT_BAGGAGE_MAX_BYTES ||
        metadata_len > DPT_BAGGAGE_MAX_BYTES)
        return DPT_ETOOBIG;
    str k = {key, key_len}, v = {value, value_len}, m = {metadata, metadata_len};
    /* Redaction applies to baggage too: a sensitive value is never stored or propagated,
     * and neither is the value of a sensitive property. */
    char rbuf[1024], replaced[1024];
    dpt_value dv = {DPT_VAL_STRING, (uint32_t)value_len, {.s = value}};
    dpt__redact_result red = dpt__redact(key, key_len, &dv, rbuf, sizeof rbuf - 1);
    if (red.action != DPT_REDACT_KEEP) {
        size_t n = red.len < sizeof replaced - 1 ? red.len : sizeof replaced - 1;
        memcpy(replaced, red.text, n);
        replaced[n] = 0;
        v = (str){replaced, n};
    }
    dpt__buf mb;
    dpt__buf_init(&mb);
    if (m.n && redact_meta(m, &mb)) {
        if (mb.oom) {
            dpt__buf_free(&mb);
            return DPT_ENOMEM;
        }
        m = (str){mb.p, mb.len};
    }
    dpt_err e = make(b, &k, k, v, m, out);
    dpt__buf_free(&mb);
    return e;
}

dpt_err dpt_baggage_set(const dpt_baggage *b, const char *key, const char *value,
                        const char *metadata, dpt_baggage **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!key || !*key || !value) return DPT_EINVAL;
    return dpt_baggage_set_n(b, key, DPT_NUL, value, DPT_NUL, metadata, DPT_NUL, out);
}

static const entry *find(const dpt_baggage *b, str k)
{
    if (!b) return NULL;
    for (uint32_t i = 0; i < b->n; i++)
        if (same_key(&b->e[i], k)) return &b->e[i];
    return NULL;
}

dpt_err dpt_baggage_remove(const dpt_baggage *b, const char *key, dpt_baggage **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!key) return DPT_EINVAL;
    str k = {key, strlen(key)};
    if (!find(b, k)) {
        *out = dpt_baggage_retain(b);
        return DPT_ENOTFOUND;
    }
    return make(b, &k, (str){NULL, 0}, (str){NULL, 0}, (str){NULL, 0}, out);
}

const char *dpt_baggage_get(const dpt_baggage *b, const char *key)
{
    if (!key) return NULL;
    const entry *e = find(b, (str){key, strlen(key)});
    return e ? e->value : NULL;
}

const char *dpt_baggage_get_n(const dpt_baggage *b, const char *key, size_t key_len,
                              size_t *value_len)
{
    if (value_len) *value_len = 0;
    if (!key) return NULL;
    if (key_len == DPT_NUL) key_len = strlen(key);
    const entry *e = find(b, (str){key, key_len});
    if (e && value_len) *value_len = e->vlen;
    return e ? e->value : NULL;
}

size_t dpt_baggage_count(const dpt_baggage *b)
{
    return b ? b->n : 0;
}

dpt_err dpt_baggage_entry(const dpt_baggage *b, size_t i, const char **key, const char **value,
                          const char **metadata)
{
    if (!b || i >= b->n) return DPT_ENOTFOUND;
    if (key) *key = b->e[i].key;
    if (value) *value = b->e[i].value;
    if (metadata) *metadata = b->e[i].meta;
    return DPT_OK;
}

dpt_err dpt_baggage_entry_n(const dpt_baggage *b, size_t i, dpt_baggage_item *out)
{
    if (!out) return DPT_EINVAL;
    memset(out, 0, sizeof *out);
    if (!b || i >= b->n) return DPT_ENOTFOUND;
    const entry *e = &b->e[i];
    out->key = e->key;
    out->key_len = e->klen;
    out->value = e->value;
    out->value_len = e->vlen;
    out->metadata = e->meta;
    out->metadata_len = e->mlen;
    return DPT_OK;
}

dpt_baggage *dpt_baggage_retain(const dpt_baggage *b)
{
    dpt_baggage *x = (dpt_baggage *)b;
    /* Relaxed: the caller holds a reference already. */
    if (x) atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
    return x;
}

void dpt_baggage_release(const dpt_baggage *b)
{
    dpt_baggage *x = (dpt_baggage *)b;
    /* acq_rel: the last releaser sees all uses by other holders before freeing. */
    if (x && atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) == 1) free(x);
}
