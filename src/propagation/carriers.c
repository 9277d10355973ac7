/* carriers.c - ready carriers: a list of header name/value pairs (case-insensitive names)
 * and the process environment (TRACEPARENT, TRACESTATE, BAGGAGE, ... for child processes).
 *
 * An owned header list keeps each "name\0value\0" in one allocation, so add is one malloc
 * and free walks the list once.
 */
#include "prop_internal.h"

#include <ctype.h>
#include <stdlib.h>

#define HF_OWNED 1u

void dpt_headers_wrap(dpt_headers *h, const dpt_header *arr, size_t n)
{
    if (!h) return;
    h->v = (dpt_header *)arr; /* never written through: cap 0 marks it borrowed */
    h->n = arr ? n : 0;
    h->cap = 0;
    h->flags = 0;
}

/* Turns a borrowed view into an owned list (copying every pair) before a change. */
static dpt_err make_owned(dpt_headers *h)
{
    if (h->flags & HF_OWNED) return DPT_OK;
    dpt_headers o = DPT_HEADERS_INIT;
    o.flags = HF_OWNED;
    for (size_t i = 0; i < h->n; i++) {
        dpt_err e =
            dpt_headers_add(&o, h->v[i].name, h->v[i].name_len, h->v[i].value, h->v[i].value_len);
        if (e != DPT_OK) {
            dpt_headers_free(&o);
            return e;
        }
    }
    *h = o;
    return DPT_OK;
}

dpt_err dpt_headers_add(dpt_headers *h, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    if (!h || !name || !value) return DPT_EINVAL;
    if (name_len == DPT_NUL) name_len = strlen(name);
    if (value_len == DPT_NUL) value_len = strlen(value);
    if (name_len == 0) return DPT_EINVAL;
    if (!(h->flags & HF_OWNED)) {
        if (h->n) {
            dpt_err e = make_owned(h);
            if (e != DPT_OK) return e;
        } else {
            h->v = NULL;
            h->cap = 0;
            h->flags = HF_OWNED;
        }
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        dpt_header *v = dpt__realloc(h->v, cap * sizeof *v);
        if (!v) return DPT_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    if (name_len > SIZE_MAX / 2 || value_len > SIZE_MAX / 2) return DPT_ETOOBIG;
    char *blk = dpt__malloc(name_len + value_len + 2);
    if (!blk) return DPT_ENOMEM;
    memcpy(blk, name, name_len);
    blk[name_len] = 0;
    memcpy(blk + name_len + 1, value, value_len);
    blk[name_len + 1 + value_len] = 0;
    h->v[h->n++] = (dpt_header){blk, name_len, blk + name_len + 1, value_len};
    return DPT_OK;
}

/* ASCII case folding without the locale: header names are ASCII tokens. */
static inline unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Compares the length first: on a typical request most names differ in length, so the
 * per-byte loop runs only for real candidates. */
static bool name_match_n(const dpt_header *x, const char *name, size_t n)
{
    if (x->name_len != n) return false;
    if (memcmp(x->name, name, n) == 0) return true; /* already lowercase: the usual case */
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)x->name[i]) != fold((unsigned char)name[i])) return false;
    return true;
}

static bool name_match(const dpt_header *x, const char *name)
{
    return name_match_n(x, name, strlen(name));
}

dpt_err dpt_headers_set(dpt_headers *h, const char *name, const char *value, size_t value_len)
{
    if (!h || !name || !value || !*name) return DPT_EINVAL;
    dpt_err e = make_owned(h);
    if (e != DPT_OK) return e;
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (name_match(&h->v[i], name))
            free((void *)h->v[i].name);
        else
            h->v[k++] = h->v[i];
    }
    h->n = k;
    return dpt_headers_add(h, name, DPT_NUL, value, value_len);
}

const char *dpt_headers_get(const dpt_headers *h, const char *name, size_t index, size_t *len)
{
    if (len) *len = 0;
    if (!h || !name) return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < h->n; i++) {
        if (!h->v[i].name || !h->v[i].value || !name_match_n(&h->v[i], name, n)) continue;
        if (index-- == 0) {
            if (len) *len = h->v[i].value_len;
            return h->v[i].value;
        }
    }
    return NULL;
}

void dpt_headers_free(dpt_headers *h)
{
    if (!h) return;
    if (h->flags & HF_OWNED) {
        for (size_t i = 0; i < h->n; i++)
            free((void *)h->v[i].name);
        free(h->v);
    }
    h->v = NULL;
    h->n = h->cap = 0;
    h->flags = 0;
}

static const char *hdr_get(void *c, const char *name, size_t index, size_t *len)
{
    return dpt_headers_get(c, name, index, len);
}

static const char *hdr_key(void *c, size_t index, size_t *len)
{
    const dpt_headers *h = c;
    if (!h || index >= h->n) return NULL;
    *len = h->v[index].name_len;
    return h->v[index].name;
}

static dpt_err hdr_set(void *c, const char *name, const char *value, size_t len)
{
    return dpt_headers_set(c, name, value, len);
}

const dpt_getter dpt_headers_getter = {hdr_get, hdr_key};
const dpt_setter dpt_headers_setter = {hdr_set};

/* ---- the environment ------------------------------------------------------------------------ */

#define ENV_NAME_MAX 128

/* TRACEPARENT from traceparent, X_B3_TRACEID from x-b3-traceid; false when too long. */
static bool env_name(const char *name, char out[ENV_NAME_MAX])
{
    size_t n = strlen(name);
    if (n == 0 || n >= ENV_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = isalnum(c) && c < 0x80 ? (char)toupper(c) : '_';
    }
    out[n] = 0;
    return true;
}

static const char *env_get(void *c, const char *name, size_t index, size_t *len)
{
    (void)c;
    char en[ENV_NAME_MAX];
    if (index != 0 || !env_name(name, en)) return NULL;
    const char *v = getenv(en);
    if (v && len) *len = strlen(v);
    return v;
}

static dpt_err env_set(void *c, const char *name, const char *value, size_t len)
{
    (void)c;
    (void)len; /* setenv takes the NUL-terminated value */
    char en[ENV_NAME_MAX];
    if (!env_name(name, en)) return DPT_EINVAL;
    return setenv(en, value, 1) == 0 ? DPT_OK : DPT_ENOMEM;
}

const dpt_getter dpt_env_getter = {env_get, NULL};
const dpt_setter dpt_env_setter = {env_set};

/* Collects "NAME=value" strings while injecting into an envp being built. */
typedef struct envb {
    char **v;
    size_t n, cap;
} envb;

static dpt_err envb_push(envb *b, char *s)
{
    if (b->n + 1 >= b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        char **v = dpt__realloc(b->v, cap * sizeof *v);
        if (!v) return DPT_ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = s;
    b->v[b->n] = NULL;
    return DPT_OK;
}

static dpt_err envp_set(void *c, const char *name, const char *value, size_t len)
{
    envb *b = c;
    char en[ENV_NAME_MAX];
    if (!env_name(name, en)) return DPT_EINVAL;
    size_t nl = strlen(en);
    /* Replace an earlier entry of the same variable (a composite may write a field twice). */
    for (size_t i = 0; i < b->n; i++) {
        if (strncmp(b->v[i], en, nl) == 0 && b->v[i][nl] == '=') {
            free(b->v[i]);
            memmove(&b->v[i], &b->v[i + 1], (b->n - i) * sizeof *b->v);
            b->n--;
            break;
        }
    }
    char *s = dpt__malloc(nl + 1 + len + 1);
    if (!s) return DPT_ENOMEM;
    memcpy(s, en, nl);
    s[nl] = '=';
    memcpy(s + nl + 1, value, len);
    s[nl + 1 + len] = 0;
    dpt_err e = envb_push(b, s);
    if (e != DPT_OK) free(s);
    return e;
}

void dpt_env_free(char **envp)
{
    if (!envp) return;
    for (char **p = envp; *p; p++)
        free(*p);
    free(envp);
}

dpt_err dpt_env_inject_envp(const dpt_propagator *p, const dpt_context *ctx, char *const *base,
                            char ***out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    envb inj = {0};
    static const dpt_setter envp_setter = {envp_set};
    dpt_err e = dpt_propagator_inject(p, ctx, &envp_setter, &inj);
    envb all = {0};
    if (e == DPT_OK) { /* allocate the array up front so that an empty result is {NULL} */
        e = envb_push(&all, NULL);
        all.n = 0;
    }
    /* Every variable the propagator may write is replaced, even when this context has no
     * value for it: a stale TRACESTATE must not pair with a new TRACEPARENT. */
    const char *fields[32];
    size_t nf = dpt_propagator_fields(p ? p : dpt_propagator_get_global(), fields, 32);
    if (nf > 32) nf = 32;
    char fen[32][ENV_NAME_MAX];
    for (size_t i = 0; i < nf; i++)
        if (!env_name(fields[i], fen[i])) fen[i][0] = 0;
    for (char *const *q = base; e == DPT_OK && q && *q; q++) {
        bool skip = false;
        for (size_t i = 0; i < nf && !skip; i++) {
            size_t l = strlen(fen[i]);
            skip = l && strncmp(*q, fen[i], l) == 0 && (*q)[l] == '=';
        }
        for (size_t i = 0; i < inj.n && !skip; i++) {
            const char *eq = strchr(inj.v[i], '=');
            size_t l = (size_t)(eq - inj.v[i]);
            skip = strncmp(*q, inj.v[i], l + 1) == 0;
        }
        if (skip) continue;
        char *s = dpt__strndup(*q, strlen(*q));
        if (!s)
            e = DPT_ENOMEM;
        else if ((e = envb_push(&all, s)) != DPT_OK)
            free(s);
    }
    for (size_t i = 0; e == DPT_OK && i < inj.n; i++) {
        e = envb_push(&all, inj.v[i]);
        if (e == DPT_OK) inj.v[i] = NULL; /* moved */
    }
    for (size_t i = 0; i < inj.n; i++)
        free(inj.v[i]);
    free(inj.v);
    if (e != DPT_OK) {
        if (all.v) {
            all.v[all.n] = NULL;
            dpt_env_free(all.v);
        }
        return e;
    }
    *out = all.v;
    return DPT_OK;
}
