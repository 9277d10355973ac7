/* otlp_proto.c - ExportTraceServiceRequest in protobuf, written straight from span records
 * (no intermediate message structs). Field numbers are those of the OTLP .proto files:
 * collector/trace/v1/trace_service.proto, trace/v1/trace.proto, common/v1/common.proto
 * and resource/v1/resource.proto. proto3 scalars holding their default are left out,
 * except inside AnyValue's oneof, where being present is the information.
 */
#include "encode.h"
#include "pb.h"

/* ExportTraceServiceRequest */
#define F_REQ_RESOURCE_SPANS 1
/* ResourceSpans */
#define F_RS_RESOURCE 1
#define F_RS_SCOPE_SPANS 2
#define F_RS_SCHEMA_URL 3
/* Resource */
#define F_RES_ATTRIBUTES 1
/* ScopeSpans */
#define F_SS_SCOPE 1
#define F_SS_SPANS 2
#define F_SS_SCHEMA_URL 3
/* InstrumentationScope */
#define F_SCOPE_NAME 1
#define F_SCOPE_VERSION 2
#define F_SCOPE_ATTRIBUTES 3
/* Span */
#define F_SPAN_TRACE_ID 1
#define F_SPAN_SPAN_ID 2
#define F_SPAN_TRACE_STATE 3
#define F_SPAN_PARENT_SPAN_ID 4
#define F_SPAN_NAME 5
#define F_SPAN_KIND 6
#define F_SPAN_START 7
#define F_SPAN_END 8
#define F_SPAN_ATTRIBUTES 9
#define F_SPAN_DROPPED_ATTRS 10
#define F_SPAN_EVENTS 11
#define F_SPAN_DROPPED_EVENTS 12
#define F_SPAN_LINKS 13
#define F_SPAN_DROPPED_LINKS 14
#define F_SPAN_STATUS 15
#define F_SPAN_FLAGS 16
/* Span.Event */
#define F_EV_TIME 1
#define F_EV_NAME 2
#define F_EV_ATTRIBUTES 3
#define F_EV_DROPPED_ATTRS 4
/* Span.Link */
#define F_LINK_TRACE_ID 1
#define F_LINK_SPAN_ID 2
#define F_LINK_TRACE_STATE 3
#define F_LINK_ATTRIBUTES 4
#define F_LINK_DROPPED_ATTRS 5
#define F_LINK_FLAGS 6
/* Status */
#define F_STATUS_MESSAGE 2
#define F_STATUS_CODE 3
/* KeyValue */
#define F_KV_KEY 1
#define F_KV_VALUE 2
/* AnyValue (oneof) */
#define F_ANY_STRING 1
#define F_ANY_BOOL 2
#define F_ANY_INT 3
#define F_ANY_DOUBLE 4
#define F_ANY_ARRAY 5
/* ArrayValue */
#define F_ARRAY_VALUES 1

/* The high bits of s's bytes, ORed together: 0 when s is ASCII. Most strings are, and
 * short: words are ORed without a branch each, the last (partial) word is read as one
 * overlapping load, and a string under 8 bytes as two overlapping halves (or its first,
 * middle and last byte), so no string costs a byte loop. */
static inline uint64_t high_bits(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + n - 8, 8);
        acc |= w;
    } else if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        acc = a | z;
    } else if (n) {
        acc = (unsigned char)s[0] | (unsigned char)s[n >> 1] | (unsigned char)s[n - 1];
    }
    return acc & 0x8080808080808080ull;
}

/* Whether s is valid UTF-8: ASCII decided by high_bits, only a string with a high byte
 * pays for the full check. */
static inline bool utf8_ok(const char *s, size_t n)
{
    return DPT__LIKELY(high_bits(s, n) == 0) || dpt__utf8_valid_prefix(s, n) == n;
}

/* protobuf requires string fields to hold valid UTF-8 (decoders may reject the whole
 * request otherwise). The check is cheap; the copy happens only for invalid input. */
static void put_string(dpt_encoder *e, uint32_t field, const char *s, size_t n)
{
    if (!s) s = "", n = 0;
    if (DPT__LIKELY(utf8_ok(s, n))) {
        pb_bytes_field(&e->out, field, s, n);
        return;
    }
    e->tmp.len = 0;
    e->tmp.oom = false;
    dpt__utf8_sanitize(s, n, &e->tmp);
    if (e->tmp.oom) {
        e->out.oom = true;
        return;
    }
    pb_bytes_field(&e->out, field, e->tmp.p, e->tmp.len);
}

/* A proto3 string field: left out when empty. */
static inline void put_string_opt(dpt_encoder *e, uint32_t field, const char *s, size_t n)
{
    if (n) put_string(e, field, s, n);
}

static void put_scalar(dpt_encoder *e, uint32_t field, uint32_t type, const dpt_value *v, size_t i)
{
    dpt__buf *b = &e->out;
    pb_mark m = pb_begin(b, field, 1);
    switch (type) {
    case DPT_VAL_STRING:
        if (i == SIZE_MAX) {
            put_string(e, F_ANY_STRING, v->u.s, dpt__slen(v->u.s, v->len));
        } else {
            const char *s = v->u.sa[i];
            put_string(e, F_ANY_STRING, s, s ? strlen(s) : 0);
        }
        break;
    case DPT_VAL_BOOL:
        pb_uint_field(b, F_ANY_BOOL, (i == SIZE_MAX ? v->u.b : v->u.ba[i]) ? 1 : 0);
        break;
    case DPT_VAL_INT:
        /* int64 is a plain varint of the two's complement value: 10 bytes if negative. */
        pb_uint_field(b, F_ANY_INT, (uint64_t)(i == SIZE_MAX ? v->u.i : v->u.ia[i]));
        break;
    case DPT_VAL_DOUBLE:
        pb_double_field(b, F_ANY_DOUBLE, i == SIZE_MAX ? v->u.d : v->u.da[i]);
        break;
    default:
        break; /* an empty AnyValue */
    }
    pb_end(b, m);
}

static void put_any(dpt_encoder *e, uint32_t field, const dpt_value *v)
{
    uint32_t elem = dpt__elem_type(v->type);
    if (elem == DPT_VAL_NONE) {
        put_scalar(e, field, v->type, v, SIZE_MAX);
        return;
    }
    dpt__buf *b = &e->out;
    pb_mark any = pb_begin(b, field, 1);
    /* Written even when empty: an empty ArrayValue still says "this is an array". */
    pb_mark arr = pb_begin(b, F_ANY_ARRAY, 1);
    size_t n = v->u.sa ? v->len : 0;
    for (size_t i = 0; i < n; i++)
        put_scalar(e, F_ARRAY_VALUES, elem, v, i);
    pb_end(b, arr);
    pb_end(b, any);
}

/* dpt__copy32 with the high bits of everything it copied (high_bits of the source): the
 * ASCII test of a short key or value rides on its copy, one pass instead of two. */
static inline __attribute__((always_inline)) uint64_t copy_bits(uint8_t *d, const char *s, size_t n)
{
    uint64_t h = dpt__copy32(d, s, n);
    return DPT__LIKELY(n <= 32) ? h : high_bits(s, n);
}

/* A KeyValue with a scalar value and valid UTF-8 strings, written in one go: its size is
 * known before writing, so no length needs backpatching. The key and a string value are
 * tested for ASCII as they are copied; the bytes count only once b->len moves, so a
 * string that must be sanitised leaves nothing behind. Returns false when the slow,
 * general path must do it (arrays, strings to sanitise, no memory). */
static inline __attribute__((always_inline)) bool
put_kv_scalar(dpt_encoder *e, uint32_t field, const char *key, size_t klen, const dpt_value *v)
{
    size_t any;
    const char *sv = NULL;
    size_t slen = 0;
    uint64_t iv = 0;
    switch (v->type) {
    case DPT_VAL_STRING:
        sv = v->u.s ? v->u.s : "";
        slen = dpt__slen(v->u.s, v->len);
        any = 1 + (slen < 0x80 ? 1 : pb_varint_size(slen)) + slen;
        break;
    case DPT_VAL_BOOL:
        any = 2;
        break;
    case DPT_VAL_INT:
        iv = (uint64_t)v->u.i;
        any = 1 + pb_varint_size(iv);
        break;
    case DPT_VAL_DOUBLE:
        any = 9;
        break;
    default:
        return false;
    }
    dpt__buf *b = &e->out;
    uint8_t *p;
    uint64_t bits;
    if (DPT__LIKELY(klen - 1 < 0x7f && any < 0x80 && 4 + klen + any < 0x80 && field < 16)) {
        /* The usual KeyValue, under 128 bytes: every tag and length is one byte. */
        size_t kv = 4 + klen + any;
        if (!pb_room(b, 2 + kv)) return true; /* out of memory: b->oom reports it */
        p = (uint8_t *)b->p + b->len;
        p[0] = (uint8_t)((field << 3) | PB_LEN);
        p[1] = (uint8_t)kv;
        p[2] = (F_KV_KEY << 3) | PB_LEN;
        p[3] = (uint8_t)klen;
        bits = copy_bits(p + 4, key, klen);
        p += 4 + klen;
        p[0] = (F_KV_VALUE << 3) | PB_LEN;
        p[1] = (uint8_t)any;
        p += 2;
    } else {
        size_t kv = (klen ? 1 + pb_varint_size(klen) + klen : 0) + 1 + pb_varint_size(any) + any;
        size_t total = pb_varint_size((uint64_t)field << 3) + pb_varint_size(kv) + kv;
        if (!pb_room(b, total)) return true; /* out of memory: b->oom reports it */
        p = (uint8_t *)b->p + b->len;
        p += pb_put_varint(p, ((uint64_t)field << 3) | PB_LEN);
        p += pb_put_varint(p, kv);
        bits = 0;
        if (klen) {
            *p++ = (F_KV_KEY << 3) | PB_LEN;
            p += pb_put_varint(p, klen);
            bits = copy_bits(p, key, klen);
            p += klen;
        }
        *p++ = (F_KV_VALUE << 3) | PB_LEN;
        p += pb_put_varint(p, any);
    }
    switch (v->type) {
    case DPT_VAL_STRING:
        *p++ = (F_ANY_STRING << 3) | PB_LEN;
        if (DPT__LIKELY(slen < 0x80))
            *p++ = (uint8_t)slen;
        else
            p += pb_put_varint(p, slen);
        bits |= copy_bits(p, sv, slen);
        p += slen;
        break;
    case DPT_VAL_BOOL:
        *p++ = (F_ANY_BOOL << 3) | PB_VARINT;
        *p++ = v->u.b ? 1 : 0;
        break;
    case DPT_VAL_INT:
        *p++ = (F_ANY_INT << 3) | PB_VARINT;
        p += pb_put_varint(p, iv);
        break;
    default: {
        uint64_t d;
        memcpy(&d, &v->u.d, sizeof d);
        *p++ = (F_ANY_DOUBLE << 3) | PB_I64;
        pb_put_le64(p, d);
        p += 8;
        break;
    }
    }
    /* A high byte somewhere: valid UTF-8 is kept as written, anything else goes to the
     * general path (nothing counted yet). */
    if (DPT__UNLIKELY(bits != 0) &&
        (!utf8_ok(key, klen) || (v->type == DPT_VAL_STRING && !utf8_ok(sv, slen))))
        return false;
    b->len = (size_t)(p - (uint8_t *)b->p);
    return true;
}
static void put_attrs(dpt_encoder *e, uint32_t field, const dpt_attr *a, size_t n)
{
    if (!a) return;
    for (size_t i = 0; i < n; i++) {
        const char *key = a[i].key ? a[i].key : "";
        size_t klen = dpt__slen(a[i].key, a[i].key_len);
        if (DPT__LIKELY(put_kv_scalar(e, field, key, klen, &a[i].value))) continue;
        pb_mark kv = pb_begin(&e->out, field, 1);
        put_string_opt(e, F_KV_KEY, key, klen);
        put_any(e, F_KV_VALUE, &a[i].value);
        pb_end(&e->out, kv);
    }
}

static void put_span(dpt_encoder *e, const dpt_span_data *d)
{
    dpt__buf *b = &e->out;
    pb_mark sm = pb_begin(b, F_SS_SPANS, 2);
    pb_bytes_field(b, F_SPAN_TRACE_ID, d->ctx.trace_id.b, 16);
    pb_bytes_field(b, F_SPAN_SPAN_ID, d->ctx.span_id.b, 8);
    put_string_opt(e, F_SPAN_TRACE_STATE, d->tracestate,
                   dpt__slen(d->tracestate, d->tracestate_len));
    if (!dpt__id_is_zero(d->parent_span_id.b, 8))
        pb_bytes_field(b, F_SPAN_PARENT_SPAN_ID, d->parent_span_id.b, 8);
    put_string_opt(e, F_SPAN_NAME, d->name, dpt__slen(d->name, d->name_len));
    if (d->kind >= DPT_SPAN_INTERNAL && d->kind <= DPT_SPAN_CONSUMER)
        pb_uint_field(b, F_SPAN_KIND, d->kind);
    if (d->start_ns) pb_fixed64_field(b, F_SPAN_START, d->start_ns);
    if (d->end_ns) pb_fixed64_field(b, F_SPAN_END, d->end_ns);
    put_attrs(e, F_SPAN_ATTRIBUTES, d->attrs, d->n_attrs);
    if (d->dropped_attrs) pb_uint_field(b, F_SPAN_DROPPED_ATTRS, d->dropped_attrs);

    for (uint32_t i = 0; d->events && i < d->n_events; i++) {
        const dpt_event *ev = &d->events[i];
        pb_mark em = pb_begin(b, F_SPAN_EVENTS, 1);
        if (ev->time_ns) pb_fixed64_field(b, F_EV_TIME, ev->time_ns);
        put_string_opt(e, F_EV_NAME, ev->name, dpt__slen(ev->name, ev->name_len));
        put_attrs(e, F_EV_ATTRIBUTES, ev->attrs, ev->n_attrs);
        if (ev->dropped_attrs) pb_uint_field(b, F_EV_DROPPED_ATTRS, ev->dropped_attrs);
        pb_end(b, em);
    }
    if (d->dropped_events) pb_uint_field(b, F_SPAN_DROPPED_EVENTS, d->dropped_events);

    for (uint32_t i = 0; d->links && i < d->n_links; i++) {
        const dpt_link *l = &d->links[i];
        pb_mark lm = pb_begin(b, F_SPAN_LINKS, 1);
        pb_bytes_field(b, F_LINK_TRACE_ID, l->ctx.trace_id.b, 16);
        pb_bytes_field(b, F_LINK_SPAN_ID, l->ctx.span_id.b, 8);
        put_string_opt(e, F_LINK_TRACE_STATE, l->tracestate,
                       dpt__slen(l->tracestate, l->tracestate_len));
        put_attrs(e, F_LINK_ATTRIBUTES, l->attrs, l->n_attrs);
        if (l->dropped_attrs) pb_uint_field(b, F_LINK_DROPPED_ATTRS, l->dropped_attrs);
        pb_fixed32_field(b, F_LINK_FLAGS, dpt__otlp_flags(l->ctx.flags, l->ctx.remote));
        pb_end(b, lm);
    }
    if (d->dropped_links) pb_uint_field(b, F_SPAN_DROPPED_LINKS, d->dropped_links);

    size_t msg_len =
        d->status == DPT_STATUS_ERROR ? dpt__slen(d->status_msg, d->status_msg_len) : 0;
    uint32_t code = d->status <= DPT_STATUS_ERROR ? d->status : 0;
    if (code || msg_len) {
        pb_mark st = pb_begin(b, F_SPAN_STATUS, 1);
        put_string_opt(e, F_STATUS_MESSAGE, d->status_msg, msg_len);
        if (code) pb_uint_field(b, F_STATUS_CODE, code);
        pb_end(b, st);
    }
    pb_fixed32_field(b, F_SPAN_FLAGS, dpt__otlp_flags(d->ctx.flags, d->parent_remote));
    pb_end(b, sm);
}

dpt_err dpt__otlp_proto_write(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    dpt__buf *b = &e->out;
    size_t k = dpt__encoder_begin(e, spans, n);
    if (k == (size_t)-1) return DPT_ENOMEM;
    /* Grow once to a typical size so a batch does not pay for many reallocs. */
    if (k && !pb_room(b, k * 256)) return DPT_ENOMEM;

    size_t i = 0;
    while (i < k) {
        dpt_provider *p = dpt__span_provider(spans[e->ord[i]]);
        pb_mark rs = pb_begin(b, F_REQ_RESOURCE_SPANS, 3);
        size_t nres = 0;
        const dpt_attr *res = p ? dpt_provider_resource(p, &nres) : NULL;
        pb_mark rm = pb_begin(b, F_RS_RESOURCE, 2);
        put_attrs(e, F_RES_ATTRIBUTES, res, nres);
        pb_end(b, rm);
        while (i < k && dpt__span_provider(spans[e->ord[i]]) == p) {
            const dpt_tracer *t = spans[e->ord[i]]->tracer;
            pb_mark ss = pb_begin(b, F_RS_SCOPE_SPANS, 3);
            pb_mark sc = pb_begin(b, F_SS_SCOPE, 1);
            if (t) {
                const char *name = dpt_tracer_name(t);
                const char *version = dpt_tracer_version(t);
                put_string_opt(e, F_SCOPE_NAME, name, name ? strlen(name) : 0);
                put_string_opt(e, F_SCOPE_VERSION, version, version ? strlen(version) : 0);
                size_t nsa = 0;
                const dpt_attr *sa = dpt_tracer_attrs(t, &nsa);
                put_attrs(e, F_SCOPE_ATTRIBUTES, sa, nsa);
            }
            pb_end(b, sc);
            while (i < k && spans[e->ord[i]]->tracer == t &&
                   (t || dpt__span_provider(spans[e->ord[i]]) == p)) {
                put_span(e, spans[e->ord[i]]);
                i++;
            }
            const char *surl = t ? dpt_tracer_schema_url(t) : "";
            put_string_opt(e, F_SS_SCHEMA_URL, surl, strlen(surl));
            pb_end(b, ss);
        }
        const char *rurl = dpt_resource_schema_url(p ? dpt_provider_get_resource(p) : NULL);
        put_string_opt(e, F_RS_SCHEMA_URL, rurl, strlen(rurl));
        pb_end(b, rs);
    }
    return b->oom ? DPT_ENOMEM : DPT_OK;
}
