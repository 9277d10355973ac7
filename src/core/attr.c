/* attr.c - validation and copying of attribute values into a span record's arena.
 *
 * The caller keeps its strings: everything is copied once, here, with the value length
 * limit applied on a UTF-8 character boundary, and after the redaction policy had its say
 * (redact.c): a sensitive value is replaced before any byte of it is stored.
 */
#include "attr.h"
#include "pool.h"
#include "redact.h"

uint32_t dpt__key_len(const dpt_attr *a)
{
    if (a->key_len != DPT_NUL) return a->key_len;
    size_t n = strlen(a->key);
    return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
}

uint32_t dpt__attr_check(const dpt_attr *a)
{
    if (!a || !a->key) return 0;
    uint32_t klen = dpt__key_len(a);
    return klen && dpt__attr_valid_value(&a->value) ? klen : 0;
}

bool dpt__attr_valid(const dpt_attr *a)
{
    return dpt__attr_check(a) != 0;
}

bool dpt__attr_valid_value(const dpt_value *v)
{
    switch (v->type) {
    case DPT_VAL_STRING:
        return v->u.s != NULL || v->len == 0;
    case DPT_VAL_BOOL:
    case DPT_VAL_INT:
    case DPT_VAL_DOUBLE:
        return true;
    case DPT_VAL_STRING_ARRAY:
        if (v->len && !v->u.sa) return false;
        for (uint32_t i = 0; i < v->len; i++)
            if (!v->u.sa[i]) return false;
        return true;
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        return v->len == 0 || v->u.ia != NULL;
    default:
        return false;
    }
}

static const char *copy_str(dpt__span *s, const char *p, size_t n, uint32_t limit,
                            uint32_t *out_len)
{
    if (limit && n > limit) n = dpt__utf8_cut(p, n, limit);
    *out_len = (uint32_t)n;
    return dpt__arena_strdup(s, p, n);
}

dpt_err dpt__attr_copy(dpt__span *s, dpt_attr *dst, const dpt_attr *src, uint32_t klen,
                       uint32_t limit)
{
    const char *key = dpt__arena_strdup(s, src->key, klen);
    if (!key) return DPT_ENOMEM;
    char rbuf[1024];
    dpt__redact_result red = {DPT_REDACT_KEEP, NULL, 0};
    if (!dpt__redact_known_keep(src->key, klen))
        red = dpt__redact(src->key, klen, &src->value, rbuf, sizeof rbuf);
    if (red.action != DPT_REDACT_KEEP) {
        /* The sensitive value is never copied: only its replacement is. */
        dpt_value rv = {DPT_VAL_STRING, 0, {.s = NULL}};
        rv.u.s = copy_str(s, red.text, red.len, limit, &rv.len);
        if (!rv.u.s) return DPT_ENOMEM;
        dst->key = key;
        dst->key_len = klen;
        dst->value = rv;
        return DPT_OK;
    }
    dpt_value v = src->value;
    switch (v.type) {
    case DPT_VAL_STRING: {
        size_t n = v.len == DPT_NUL ? (v.u.s ? strlen(v.u.s) : 0) : v.len;
        v.u.s = copy_str(s, v.u.s ? v.u.s : "", n, limit, &v.len);
        if (!v.u.s) return DPT_ENOMEM;
        break;
    }
    case DPT_VAL_STRING_ARRAY: {
        const char **arr = dpt__arena_alloc(s, sizeof(char *) * (v.len ? v.len : 1));
        if (!arr) return DPT_ENOMEM;
        for (uint32_t i = 0; i < v.len; i++) {
            uint32_t ignored;
            arr[i] = copy_str(s, src->value.u.sa[i], strlen(src->value.u.sa[i]), limit, &ignored);
            if (!arr[i]) return DPT_ENOMEM;
        }
        v.u.sa = arr;
        break;
    }
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY: {
        size_t el = v.type == DPT_VAL_BOOL_ARRAY ? sizeof(bool) : 8;
        void *arr = dpt__arena_alloc(s, el * (v.len ? v.len : 1));
        if (!arr) return DPT_ENOMEM;
        if (v.len) memcpy(arr, src->value.u.ia, el * v.len);
        v.u.ia = arr;
        break;
    }
    default:
        break;
    }
    dst->key = key;
    dst->key_len = klen;
    dst->value = v;
    return DPT_OK;
}
