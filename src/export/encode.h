/* encode.h - private interface shared by the encoders of src/export (OTLP protobuf, OTLP
 * JSON, Zipkin JSON) and the exporters built on them. An encoder owns its output buffer
 * and scratch space, so an exporter that keeps one encodes batch after batch with no
 * allocation once the buffers have grown to the batch size.
 */
#ifndef DPT_EXPORT_ENCODE_H
#define DPT_EXPORT_ENCODE_H

#include "dptrace/export.h"
#include "core.h"

struct dpt_encoder {
    dpt_format fmt;
    dpt__buf out;   /* the encoded payload */
    dpt__buf tmp;   /* UTF-8 sanitising scratch for one string at a time */
    uint32_t *ord;  /* span indices in (resource, scope) group order */
    uint32_t *ord2; /* second pass of the grouping */
    uint8_t *mark;  /* "already placed" flags of the grouping */
    size_t scratch_cap;
};

/* Sets up an encoder in place (no allocation until the first encode). */
DPT__HIDDEN void dpt__encoder_init(dpt_encoder *e, dpt_format fmt);
DPT__HIDDEN void dpt__encoder_release(dpt_encoder *e);

/* The element type of an array value type; DPT_VAL_NONE for a scalar type. */
static inline uint32_t dpt__elem_type(uint32_t array_type)
{
    switch (array_type) {
    case DPT_VAL_STRING_ARRAY:
        return DPT_VAL_STRING;
    case DPT_VAL_BOOL_ARRAY:
        return DPT_VAL_BOOL;
    case DPT_VAL_INT_ARRAY:
        return DPT_VAL_INT;
    case DPT_VAL_DOUBLE_ARRAY:
        return DPT_VAL_DOUBLE;
    default:
        return DPT_VAL_NONE;
    }
}

/* Fills e->ord with the indices of the non-NULL spans, grouped by provider (resource) and,
 * inside a provider, by tracer (scope), keeping batch order inside each group. Returns the
 * number of indices, or (size_t)-1 when the scratch space cannot be allocated. */
DPT__HIDDEN size_t dpt__encoder_group(dpt_encoder *e, const dpt_span_data *const *spans, size_t n);
/* Starts a payload: empties e->out and groups the spans (dpt__encoder_group). */
static inline size_t dpt__encoder_begin(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    e->out.len = 0;
    e->out.oom = false;
    return dpt__encoder_group(e, spans, n);
}

/* The writers: each resets e->out and writes one whole payload into it. They return
 * DPT_OK or DPT_ENOMEM (e->out.oom). */
DPT__HIDDEN dpt_err dpt__otlp_proto_write(dpt_encoder *e, const dpt_span_data *const *spans,
                                          size_t n);
DPT__HIDDEN dpt_err dpt__otlp_json_write(dpt_encoder *e, const dpt_span_data *const *spans,
                                         size_t n);
DPT__HIDDEN dpt_err dpt__zipkin_json_write(dpt_encoder *e, const dpt_span_data *const *spans,
                                           size_t n);

/* Small shared helpers. */
static inline dpt_provider *dpt__span_provider(const dpt_span_data *d)
{
    return d->tracer ? dpt_tracer_provider(d->tracer) : NULL;
}

/* Length of a stored string whose length field may still say DPT_NUL. */
static inline size_t dpt__slen(const char *s, uint32_t len)
{
    if (!s) return 0;
    return len == DPT_NUL ? strlen(s) : len;
}

static inline bool dpt__id_is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* The OTLP span/link flags: W3C trace flags in the low 8 bits, then whether the remote
 * bit is known (bit 8, always: we know it) and whether the context is remote (bit 9).
 * Field facts from opentelemetry/proto/trace/v1/trace.proto (SpanFlags). */
#define DPT__OTLP_FLAG_HAS_IS_REMOTE 0x100u
#define DPT__OTLP_FLAG_IS_REMOTE 0x200u

static inline uint32_t dpt__otlp_flags(uint8_t w3c, bool remote)
{
    /* OTLP: "Bits 0-7 are the 8 bits of the W3C trace flags": ours only, not the B3 mark. */
    return (uint32_t)(w3c & (DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM)) | DPT__OTLP_FLAG_HAS_IS_REMOTE |
           (remote ? DPT__OTLP_FLAG_IS_REMOTE : 0);
}

/* The value of the resource attribute "service.name" or NULL. */
DPT__HIDDEN const dpt_value *dpt__resource_get(const dpt_provider *p, const char *key);

#endif /* DPT_EXPORT_ENCODE_H */
