/* encoder.c - the public encoder API (one-shot and reusable) and what the three formats
 * share: grouping a batch by resource and scope, and resource lookups.
 */
#include "encode.h"

#include <stdlib.h>

void dpt__encoder_init(dpt_encoder *e, dpt_format fmt)
{
    memset(e, 0, sizeof *e);
    e->fmt = fmt;
    dpt__buf_init(&e->out);
    dpt__buf_init(&e->tmp);
}

void dpt__encoder_release(dpt_encoder *e)
{
    dpt__buf_free(&e->out);
    dpt__buf_free(&e->tmp);
    free(e->ord);
    free(e->ord2);
    free(e->mark);
    e->ord = e->ord2 = NULL;
    e->mark = NULL;
    e->scratch_cap = 0;
}

static bool grow_scratch(dpt_encoder *e, size_t n)
{
    if (n <= e->scratch_cap) return true;
    size_t cap = e->scratch_cap ? e->scratch_cap : 64;
    while (cap < n)
        cap *= 2;
    if (cap > UINT32_MAX) return false;
    uint32_t *a = dpt__malloc(cap * sizeof *a);
    uint32_t *b = dpt__malloc(cap * sizeof *b);
    uint8_t *m = dpt__malloc(cap);
    if (!a || !b || !m) {
        free(a);
        free(b);
        free(m);
        return false;
    }
    free(e->ord);
    free(e->ord2);
    free(e->mark);
    e->ord = a;
    e->ord2 = b;
    e->mark = m;
    e->scratch_cap = cap;
    return true;
}

/* Stable grouping in two passes (provider, then tracer inside each provider range). Each
 * pass is O(n x groups); batches hold few providers and tracers, and the common case of a
 * single tracer is detected first and costs one scan. A hash table would bound the worst
 * case (n distinct tracers) better; with n <= a few thousand the quadratic case stays in
 * the low milliseconds, so we keep the simple code. */
size_t dpt__encoder_group(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    if (!grow_scratch(e, n)) return (size_t)-1;
    size_t k = 0;
    const dpt_tracer *first = NULL;
    bool single = true;
    for (size_t i = 0; i < n; i++) {
        if (!spans[i]) continue;
        if (k == 0)
            first = spans[i]->tracer;
        else if (spans[i]->tracer != first)
            single = false;
        e->ord[k++] = (uint32_t)i;
    }
    if (single || k < 2) return k;

    /* Pass 1: by provider, from e->ord into e->ord2. */
    memset(e->mark, 0, k);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (e->mark[i]) continue;
        dpt_provider *p = dpt__span_provider(spans[e->ord[i]]);
        for (size_t j = i; j < k; j++) {
            if (!e->mark[j] && dpt__span_provider(spans[e->ord[j]]) == p) {
                e->mark[j] = 1;
                e->ord2[m++] = e->ord[j];
            }
        }
    }
    /* Pass 2: by tracer inside each provider range, from e->ord2 back into e->ord. */
    memset(e->mark, 0, k);
    m = 0;
    size_t a = 0;
    while (a < k) {
        dpt_provider *p = dpt__span_provider(spans[e->ord2[a]]);
        size_t b = a;
        while (b < k && dpt__span_provider(spans[e->ord2[b]]) == p)
            b++;
        for (size_t i = a; i < b; i++) {
            if (e->mark[i]) continue;
            const dpt_tracer *t = spans[e->ord2[i]]->tracer;
            for (size_t j = i; j < b; j++) {
                if (!e->mark[j] && spans[e->ord2[j]]->tracer == t) {
                    e->mark[j] = 1;
                    e->ord[m++] = e->ord2[j];
                }
            }
        }
        a = b;
    }
    return m;
}

const dpt_value *dpt__resource_get(const dpt_provider *p, const char *key)
{
    if (!p) return NULL;
    size_t n = 0;
    const dpt_attr *r = dpt_provider_resource(p, &n);
    size_t kl = strlen(key);
    for (size_t i = 0; r && i < n; i++) {
        if (r[i].key && dpt__slen(r[i].key, r[i].key_len) == kl && memcmp(r[i].key, key, kl) == 0)
            return &r[i].value;
    }
    return NULL;
}

static dpt_err encode_into(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    if (!spans && n > 0) return DPT_EINVAL;
    dpt_err err;
    switch (e->fmt) {
    case DPT_FORMAT_OTLP_PROTO:
        err = dpt__otlp_proto_write(e, spans, n);
        break;
    case DPT_FORMAT_OTLP_JSON:
        err = dpt__otlp_json_write(e, spans, n);
        break;
    case DPT_FORMAT_ZIPKIN_JSON:
        err = dpt__zipkin_json_write(e, spans, n);
        break;
    default:
        return DPT_EINVAL;
    }
    if (err == DPT_OK) {
        /* NUL-terminate without counting it, so JSON payloads are C strings. */
        dpt__buf_putc(&e->out, '\0');
        if (e->out.oom) return DPT_ENOMEM;
        e->out.len--;
    }
    return err;
}

static dpt_err encode_once(dpt_format fmt, const dpt_span_data *const *spans, size_t n, void **out,
                           size_t *len)
{
    if (!out || !len) return DPT_EINVAL;
    *out = NULL;
    *len = 0;
    dpt_encoder e;
    dpt__encoder_init(&e, fmt);
    dpt_err err = encode_into(&e, spans, n);
    if (err == DPT_OK) {
        size_t l = 0;
        char *p = dpt__buf_take(&e.out, &l);
        if (!p) {
            err = DPT_ENOMEM;
        } else {
            *out = p;
            *len = l;
        }
    }
    dpt__encoder_release(&e);
    return err;
}

dpt_err dpt_otlp_proto_encode(const dpt_span_data *const *spans, size_t n, uint8_t **out,
                              size_t *len)
{
    return encode_once(DPT_FORMAT_OTLP_PROTO, spans, n, (void **)out, len);
}

dpt_err dpt_otlp_json_encode(const dpt_span_data *const *spans, size_t n, char **out, size_t *len)
{
    return encode_once(DPT_FORMAT_OTLP_JSON, spans, n, (void **)out, len);
}

dpt_err dpt_zipkin_json_encode(const dpt_span_data *const *spans, size_t n, char **out, size_t *len)
{
    return encode_once(DPT_FORMAT_ZIPKIN_JSON, spans, n, (void **)out, len);
}

dpt_encoder *dpt_encoder_new(dpt_format fmt)
{
    if (fmt != DPT_FORMAT_OTLP_PROTO && fmt != DPT_FORMAT_OTLP_JSON &&
        fmt != DPT_FORMAT_ZIPKIN_JSON)
        return NULL;
    dpt_encoder *e = dpt__malloc(sizeof *e);
    if (!e) return NULL;
    dpt__encoder_init(e, fmt);
    return e;
}

/* Buffers above this size are given back after a batch: one huge batch should not pin
 * its memory for the life of the exporter. */
#define DPT__ENCODER_KEEP_BYTES (8u << 20)

dpt_err dpt_encoder_encode(dpt_encoder *e, const dpt_span_data *const *spans, size_t n,
                           const uint8_t **out, size_t *len)
{
    if (!e || !out || !len) return DPT_EINVAL;
    *out = NULL;
    *len = 0;
    if (e->out.cap > DPT__ENCODER_KEEP_BYTES) {
        dpt__buf_free(&e->out);
        dpt__buf_init(&e->out);
    }
    dpt_err err = encode_into(e, spans, n);
    if (err == DPT_OK) {
        *out = (const uint8_t *)e->out.p;
        *len = e->out.len;
    }
    return err;
}

void dpt__encoder_swap_out(dpt_encoder *e, dpt__buf *b)
{
    dpt__buf t = e->out;
    e->out = *b;
    *b = t;
    e->out.len = 0;
    e->out.oom = false;
}

dpt_format dpt_encoder_format(const dpt_encoder *e)
{
    return e ? e->fmt : (dpt_format)0;
}

void dpt_encoder_free(dpt_encoder *e)
{
    if (!e) return;
    dpt__encoder_release(e);
    free(e);
}
