/* baggage.c - immutable, refcounted baggage sets.
 *
 * Every change makes a new set in one allocation (entries + strings), so a baggage can be
 * shared by contexts on any number of threads without locks. Sets are small (bounded by
 * DPT_BAGGAGE_MAX_ENTRIES / _BYTES), so copying on change is cheaper than a tree.
 */
#include "redact.h"

#include <stdlib.h>

typedef struct entry {
    const char *key;
    const char *value;
    const char *meta; /* NULL when none */
} entry;

struct dpt_baggage {
    _Atomic uint32_t refs;
    uint32_t n;
    size_t bytes; /* keys + values + metadata */
    entry e[];
};

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* Makes a set from the entries of `from` (all but skip_key) plus one new entry. */
static dpt_err make(const dpt_baggage *from, const char *skip_key, const char *key,
                    const char *value, const char *meta, dpt_baggage **out)
{
    uint32_t n = 0;
    size_t bytes = 0;
    uint32_t fn = from ? from->n : 0;
    for (uint32_t i = 0; i < fn; i++) {
        if (skip_key && strcmp(from->e[i].key, skip_key) == 0) continue;
        n++;
        bytes += strlen(from->e[i].key) + strlen(from->e[i].value) + slen(from->e[i].meta);
    }
    if (key) {
        n++;
        bytes += strlen(key) + strlen(value) + slen(meta);
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
    uint32_t k = 0;
#define DUP(dst, src)                                                                              \
    do {                                                                                           \
        size_t l_ = strlen(src);                                                                   \
        memcpy(p, (src), l_ + 1);                                                                  \
        (dst) = p;                                                                                 \
        p += l_ + 1;                                                                               \
    } while (0)
    for (uint32_t i = 0; i < fn; i++) {
        if (skip_key && strcmp(from->e[i].key, skip_key) == 0) continue;
        DUP(b->e[k].key, from->e[i].key);
        DUP(b->e[k].value, from->e[i].value);
        if (from->e[i].meta) DUP(b->e[k].meta, from->e[i].meta);
        else b->e[k].meta = NULL;
        k++;
    }
    if (key) {
        DUP(b->e[k].key, key);
        DUP(b->e[k].value, value);
        if (meta && *meta) DUP(b->e[k].meta, meta);
        else b->e[k].meta = NULL;
    }
#undef DUP
    *out = b;
    return DPT_OK;
}

dpt_err dpt_baggage_set(const dpt_baggage *b, const char *key, const char *value,
                        const char *metadata, dpt_baggage **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!key || !*key || !value) return DPT_EINVAL;
    /* Redaction applies to baggage too: a sensitive value is never stored or propagated. */
    char rbuf[1024];
    dpt_value v = { DPT_VAL_STRING, (uint32_t)strnlen(value, UINT32_MAX - 1), { .s = value } };
    dpt__redact_result red = dpt__redact(key, strlen(key), &v, rbuf, sizeof rbuf - 1);
    char replaced[1024];
    if (red.action != DPT_REDACT_KEEP) {
        size_t n = red.len < sizeof replaced - 1 ? red.len : sizeof replaced - 1;
        memcpy(replaced, red.text, n);
        replaced[n] = 0;
        value = replaced;
    }
    return make(b, key, key, value, metadata, out);
}

dpt_err dpt_baggage_remove(const dpt_baggage *b, const char *key, dpt_baggage **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!key) return DPT_EINVAL;
    if (!dpt_baggage_get(b, key)) {
        *out = dpt_baggage_retain(b);
        return DPT_ENOTFOUND;
    }
    return make(b, key, NULL, NULL, NULL, out);
}

const char *dpt_baggage_get(const dpt_baggage *b, const char *key)
{
    if (!b || !key) return NULL;
    for (uint32_t i = 0; i < b->n; i++)
        if (strcmp(b->e[i].key, key) == 0) return b->e[i].value;
    return NULL;
}

size_t dpt_baggage_count(const dpt_baggage *b) { return b ? b->n : 0; }

dpt_err dpt_baggage_entry(const dpt_baggage *b, size_t i, const char **key, const char **value,
                          const char **metadata)
{
    if (!b || i >= b->n) return DPT_ENOTFOUND;
    if (key) *key = b->e[i].key;
    if (value) *value = b->e[i].value;
    if (metadata) *metadata = b->e[i].meta;
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
