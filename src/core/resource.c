/* resource.c - resources: create, merge, read.
 *
 * A resource is immutable and lives in one allocation (struct, attribute array, then every
 * key, string and array value), so it is copied in two passes (measure, copy) and freed
 * with one free(). Merge follows the resource SDK specification: every attribute of both,
 * the updating resource's value wins for a key in both, and the schema URL is the non-empty
 * one, or the common one (two different non-empty URLs are a merge error the specification
 * leaves to the implementation: we log it and keep the updating resource's URL).
 */
#include "resource.h"
#include "attr.h"

#include <stdalign.h>
#include <stdlib.h>

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t str_len(const dpt_value *v)
{
    return v->len == DPT_NUL ? (v->u.s ? strlen(v->u.s) : 0) : v->len;
}

/* Bytes the value of a needs beyond the dpt_attr itself (8-byte aligned pieces). */
static size_t value_bytes(const dpt_attr *a)
{
    const dpt_value *v = &a->value;
    size_t n = 0;
    switch (v->type) {
    case DPT_VAL_STRING:
        n = align8(str_len(v) + 1);
        break;
    case DPT_VAL_STRING_ARRAY:
        n = align8(sizeof(char *) * v->len);
        for (uint32_t i = 0; i < v->len; i++)
            n += align8(strlen(v->u.sa[i]) + 1);
        break;
    case DPT_VAL_BOOL_ARRAY:
        n = align8(sizeof(bool) * v->len);
        break;
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        n = align8(8 * (size_t)v->len);
        break;
    default:
        break;
    }
    return n;
}

/* Copies a's key and value into the block at *pos; dst receives the copy. */
static void copy_attr(dpt_attr *dst, const dpt_attr *a, uint32_t klen, char **pos)
{
    char *p = *pos;
    memcpy(p, a->key, klen);
    p[klen] = 0;
    dst->key = p;
    dst->key_len = klen;
    p += align8(klen + 1);
    dst->value = a->value;
    const dpt_value *v = &a->value;
    switch (v->type) {
    case DPT_VAL_STRING: {
        size_t n = str_len(v);
        if (n) memcpy(p, v->u.s, n);
        p[n] = 0;
        dst->value.u.s = p;
        dst->value.len = (uint32_t)n;
        p += align8(n + 1);
        break;
    }
    case DPT_VAL_STRING_ARRAY: {
        const char **arr = (const char **)(void *)p;
        p += align8(sizeof(char *) * v->len);
        for (uint32_t i = 0; i < v->len; i++) {
            size_t n = strlen(v->u.sa[i]);
            memcpy(p, v->u.sa[i], n + 1);
            arr[i] = p;
            p += align8(n + 1);
        }
        dst->value.u.sa = arr;
        break;
    }
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY: {
        size_t el = v->type == DPT_VAL_BOOL_ARRAY ? sizeof(bool) : 8;
        if (v->len) memcpy(p, v->u.ia, el * v->len);
        dst->value.u.ia = (const int64_t *)(void *)p;
        p += align8(el * v->len);
        break;
    }
    default:
        break;
    }
    *pos = p;
}

static bool same_key(const dpt_attr *a, uint32_t alen, const dpt_attr *b)
{
    uint32_t blen = dpt__key_len(b);
    return alen == blen && memcmp(a->key, b->key, alen) == 0;
}

dpt_resource *dpt__resource_build(const dpt_attr *const *in, size_t n, const char *schema_url)
{
    /* Keep the last occurrence of each key (an updating value wins), in first-seen order:
     * mark the earlier duplicates as replaced by pointing them at the later attribute. */
    const dpt_attr **keep = n ? dpt__calloc(n, sizeof(const dpt_attr *)) : NULL;
    if (n && !keep) return NULL;
    size_t kept = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const dpt_attr *a = in[i];
        uint32_t klen = dpt__attr_check(a);
        if (!klen) continue;
        size_t k;
        for (k = 0; k < kept; k++)
            if (same_key(keep[k], dpt__key_len(keep[k]), a)) break;
        if (k < kept) {
            keep[k] = a; /* later wins, position of the first stays */
            continue;
        }
        keep[kept++] = a;
    }
    for (size_t k = 0; k < kept; k++)
        bytes += align8(dpt__key_len(keep[k]) + 1) + value_bytes(keep[k]);
    size_t url_len = schema_url ? strlen(schema_url) : 0;
    size_t head = align8(sizeof(dpt_resource)) + align8(sizeof(dpt_attr) * kept);
    char *block = dpt__malloc(head + bytes + url_len + 1);
    if (!block) {
        free(keep);
        return NULL;
    }
    dpt_resource *r = (dpt_resource *)(void *)block;
    r->attrs = (dpt_attr *)(void *)(block + align8(sizeof(dpt_resource)));
    r->n = kept;
    char *pos = block + head;
    for (size_t k = 0; k < kept; k++)
        copy_attr(&r->attrs[k], keep[k], dpt__key_len(keep[k]), &pos);
    if (url_len) memcpy(pos, schema_url, url_len);
    pos[url_len] = 0;
    r->schema_url = pos;
    free(keep);
    return r;
}

dpt_resource *dpt_resource_new(const dpt_attr *attrs, size_t n, const char *schema_url)
{
    if (n && !attrs) {
        dpt__log(DPT_LOG_ERROR, "dpt_resource_new: %zu attributes but a NULL array", n);
        return NULL;
    }
    const dpt_attr **list = n ? dpt__calloc(n, sizeof(const dpt_attr *)) : NULL;
    if (n && !list) {
        dpt__log(DPT_LOG_ERROR, "dpt_resource_new: %s", dpt_strerror(DPT_ENOMEM));
        return NULL;
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        list[i] = &attrs[i];
        bad += !dpt__attr_valid(&attrs[i]);
    }
    if (bad)
        dpt__log(DPT_LOG_WARN,
                 "dpt_resource_new: %zu invalid attribute(s) (empty key or bad value) left out",
                 bad);
    dpt_resource *r = dpt__resource_build(list, n, schema_url);
    free(list);
    if (!r) dpt__log(DPT_LOG_ERROR, "dpt_resource_new: %s", dpt_strerror(DPT_ENOMEM));
    return r;
}

dpt_resource *dpt_resource_merge(const dpt_resource *old, const dpt_resource *updating)
{
    static const dpt_resource empty = {NULL, 0, ""};
    if (!old) old = &empty;
    if (!updating) updating = &empty;
    const char *url = updating->schema_url;
    if (!*old->schema_url) {
        url = updating->schema_url;
    } else if (!*updating->schema_url || strcmp(old->schema_url, updating->schema_url) == 0) {
        url = old->schema_url;
    } else {
        /* "Else this is a merging error [...] The resulting resource is undefined, and its
         * contents are implementation-specific." (resource/sdk.md, Merge) */
        dpt__log(DPT_LOG_WARN, "resource merge: schema URLs %s and %s differ; keeping %s",
                 old->schema_url, updating->schema_url, updating->schema_url);
    }
    size_t n = old->n + updating->n;
    /* One slot at least, so the loops below never see NULL. */
    const dpt_attr **list = dpt__calloc(n ? n : 1, sizeof(const dpt_attr *));
    if (!list) {
        dpt__log(DPT_LOG_ERROR, "dpt_resource_merge: %s", dpt_strerror(DPT_ENOMEM));
        return NULL;
    }
    for (size_t i = 0; i < old->n; i++)
        list[i] = &old->attrs[i];
    for (size_t i = 0; i < updating->n; i++)
        list[old->n + i] = &updating->attrs[i];
    dpt_resource *r = dpt__resource_build(list, n, url);
    free(list);
    if (!r) dpt__log(DPT_LOG_ERROR, "dpt_resource_merge: %s", dpt_strerror(DPT_ENOMEM));
    return r;
}

const dpt_attr *dpt_resource_attrs(const dpt_resource *r, size_t *n)
{
    if (n) *n = r ? r->n : 0;
    return r ? r->attrs : NULL;
}

const dpt_value *dpt_resource_get(const dpt_resource *r, const char *key)
{
    if (!r || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < r->n; i++)
        if (r->attrs[i].key_len == kl && memcmp(r->attrs[i].key, key, kl) == 0)
            return &r->attrs[i].value;
    return NULL;
}

const char *dpt_resource_schema_url(const dpt_resource *r)
{
    return r ? r->schema_url : "";
}

void dpt_resource_free(dpt_resource *r)
{
    free(r);
}

/* ---- OTEL_RESOURCE_ATTRIBUTES syntax ------------------------------------------------------ */

dpt_resource *dpt__resource_parse_list(const char *v, bool *malformed)
{
    *malformed = false;
    size_t cap = 8, n = 0;
    dpt_attr *attrs = dpt__calloc(cap, sizeof *attrs);
    dpt__buf strs; /* keys and values, NUL-separated; offsets fixed up at the end */
    dpt__buf_init(&strs);
    size_t(*offs)[3] = dpt__calloc(cap, sizeof *offs);
    dpt__kvlist it;
    dpt__kvlist_init(&it, v, v ? strlen(v) : 0);
    int rc = attrs && offs ? DPT__KV_MEMBER : DPT__KV_ENOMEM;
    while (rc == DPT__KV_MEMBER && (rc = dpt__kvlist_next(&it)) == DPT__KV_MEMBER) {
        if (n == cap) {
            cap *= 2;
            dpt_attr *na = dpt__realloc(attrs, cap * sizeof *na);
            if (na) attrs = na;
            size_t(*no)[3] = dpt__realloc(offs, cap * sizeof *no);
            if (no) offs = no;
            if (!na || !no) {
                rc = DPT__KV_ENOMEM;
                break;
            }
        }
        offs[n][0] = strs.len;
        dpt__buf_put(&strs, it.key.p, it.key.len + 1);
        offs[n][1] = strs.len;
        dpt__buf_put(&strs, it.value.p, it.value.len + 1);
        offs[n][2] = it.value.len;
        attrs[n].key_len = (uint32_t)it.key.len;
        n++;
    }
    *malformed = rc == DPT__KV_MALFORMED;
    dpt__kvlist_free(&it);
    dpt_resource *res = NULL;
    if (rc == DPT__KV_END && !strs.oom) {
        const dpt_attr **list = n ? dpt__calloc(n, sizeof(const dpt_attr *)) : NULL;
        if (!n || list) {
            for (size_t i = 0; i < n; i++) {
                attrs[i].key = strs.p + offs[i][0];
                attrs[i].value =
                    (dpt_value){DPT_VAL_STRING, (uint32_t)offs[i][2], {.s = strs.p + offs[i][1]}};
                list[i] = &attrs[i];
            }
            res = dpt__resource_build(list, n, NULL);
            free(list);
        }
    }
    dpt__buf_free(&strs);
    free(attrs);
    free(offs);
    return res;
}
