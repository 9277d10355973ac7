/* otlp_json.c - ExportTraceServiceRequest in the OTLP/JSON mapping: protobuf's JSON form
 * with lowerCamelCase names, except that ids are hex, enums are integers, and 64-bit
 * integers (times, intValue) are decimal strings. Fields holding their default value
 * (0, "", empty list, unset status) are omitted, as proto3's JSON mapping does; the
 * identifying fields (traceId, spanId, name, kind, times) are always written.
 */
#include "encode.h"

static void put_hex_id(dpt__json *j, const char *key, const uint8_t *id, size_t n)
{
    char hex[33];
    dpt__hex_encode(id, n, hex);
    dpt__json_key(j, key);
    dpt__json_str(j, hex, n * 2);
}

static void put_any_scalar(dpt__json *j, uint32_t type, const dpt_value *v, size_t i)
{
    /* i < SIZE_MAX: element i of an array value; otherwise the scalar itself. */
    dpt__json_obj_begin(j);
    switch (type) {
    case DPT_VAL_STRING: {
        const char *s = i == SIZE_MAX ? v->u.s : (v->u.sa ? v->u.sa[i] : NULL);
        size_t n = i == SIZE_MAX ? dpt__slen(s, v->len) : (s ? strlen(s) : 0);
        dpt__json_key(j, "stringValue");
        dpt__json_str(j, s ? s : "", n);
        break;
    }
    case DPT_VAL_BOOL:
        dpt__json_key(j, "boolValue");
        dpt__json_bool(j, i == SIZE_MAX ? v->u.b : v->u.ba[i]);
        break;
    case DPT_VAL_INT:
        dpt__json_key(j, "intValue");
        dpt__json_i64str(j, i == SIZE_MAX ? v->u.i : v->u.ia[i]);
        break;
    case DPT_VAL_DOUBLE:
        dpt__json_key(j, "doubleValue");
        dpt__json_double(j, i == SIZE_MAX ? v->u.d : v->u.da[i]);
        break;
    default:
        break; /* an empty AnyValue */
    }
    dpt__json_obj_end(j);
}

static void put_any(dpt__json *j, const dpt_value *v)
{
    uint32_t elem;
    switch (v->type) {
    case DPT_VAL_STRING_ARRAY:
        elem = DPT_VAL_STRING;
        break;
    case DPT_VAL_BOOL_ARRAY:
        elem = DPT_VAL_BOOL;
        break;
    case DPT_VAL_INT_ARRAY:
        elem = DPT_VAL_INT;
        break;
    case DPT_VAL_DOUBLE_ARRAY:
        elem = DPT_VAL_DOUBLE;
        break;
    default:
        put_any_scalar(j, v->type, v, SIZE_MAX);
        return;
    }
    dpt__json_obj_begin(j);
    dpt__json_key(j, "arrayValue");
    dpt__json_obj_begin(j);
    /* A NULL array pointer is taken as empty, never dereferenced. */
    size_t n = v->u.sa ? v->len : 0;
    if (n > 0) {
        dpt__json_key(j, "values");
        dpt__json_arr_begin(j);
        for (size_t i = 0; i < n; i++)
            put_any_scalar(j, elem, v, i);
        dpt__json_arr_end(j);
    }
    dpt__json_obj_end(j);
    dpt__json_obj_end(j);
}

static void put_attrs(dpt__json *j, const dpt_attr *a, size_t n, uint32_t dropped)
{
    if (a && n > 0) {
        dpt__json_key(j, "attributes");
        dpt__json_arr_begin(j);
        for (size_t i = 0; i < n; i++) {
            dpt__json_obj_begin(j);
            dpt__json_key(j, "key");
            dpt__json_str(j, a[i].key ? a[i].key : "", dpt__slen(a[i].key, a[i].key_len));
            dpt__json_key(j, "value");
            put_any(j, &a[i].value);
            dpt__json_obj_end(j);
        }
        dpt__json_arr_end(j);
    }
    if (dropped) {
        dpt__json_key(j, "droppedAttributesCount");
        dpt__json_uint(j, dropped);
    }
}

static void put_str_field(dpt__json *j, const char *key, const char *s, uint32_t len)
{
    size_t n = dpt__slen(s, len);
    if (n == 0)
        return;
    dpt__json_key(j, key);
    dpt__json_str(j, s, n);
}

static void put_span(dpt__json *j, const dpt_span_data *d)
{
    dpt__json_obj_begin(j);
    put_hex_id(j, "traceId", d->ctx.trace_id.b, 16);
    put_hex_id(j, "spanId", d->ctx.span_id.b, 8);
    put_str_field(j, "traceState", d->tracestate, d->tracestate_len);
    if (!dpt__id_is_zero(d->parent_span_id.b, 8))
        put_hex_id(j, "parentSpanId", d->parent_span_id.b, 8);
    dpt__json_key(j, "flags");
    dpt__json_uint(j, dpt__otlp_flags(d->ctx.flags, d->parent_remote));
    dpt__json_key(j, "name");
    dpt__json_str(j, d->name ? d->name : "", dpt__slen(d->name, d->name_len));
    dpt__json_key(j, "kind");
    dpt__json_uint(j, d->kind <= DPT_SPAN_CONSUMER ? d->kind : 0);
    dpt__json_key(j, "startTimeUnixNano");
    dpt__json_u64str(j, d->start_ns);
    dpt__json_key(j, "endTimeUnixNano");
    dpt__json_u64str(j, d->end_ns);
    put_attrs(j, d->attrs, d->n_attrs, d->dropped_attrs);

    if (d->events && d->n_events > 0) {
        dpt__json_key(j, "events");
        dpt__json_arr_begin(j);
        for (uint32_t i = 0; i < d->n_events; i++) {
            const dpt_event *ev = &d->events[i];
            dpt__json_obj_begin(j);
            dpt__json_key(j, "timeUnixNano");
            dpt__json_u64str(j, ev->time_ns);
            dpt__json_key(j, "name");
            dpt__json_str(j, ev->name ? ev->name : "", dpt__slen(ev->name, ev->name_len));
            put_attrs(j, ev->attrs, ev->n_attrs, ev->dropped_attrs);
            dpt__json_obj_end(j);
        }
        dpt__json_arr_end(j);
    }
    if (d->dropped_events) {
        dpt__json_key(j, "droppedEventsCount");
        dpt__json_uint(j, d->dropped_events);
    }

    if (d->links && d->n_links > 0) {
        dpt__json_key(j, "links");
        dpt__json_arr_begin(j);
        for (uint32_t i = 0; i < d->n_links; i++) {
            const dpt_link *l = &d->links[i];
            dpt__json_obj_begin(j);
            put_hex_id(j, "traceId", l->ctx.trace_id.b, 16);
            put_hex_id(j, "spanId", l->ctx.span_id.b, 8);
            put_str_field(j, "traceState", l->tracestate, l->tracestate_len);
            put_attrs(j, l->attrs, l->n_attrs, l->dropped_attrs);
            dpt__json_key(j, "flags");
            dpt__json_uint(j, dpt__otlp_flags(l->ctx.flags, l->ctx.remote));
            dpt__json_obj_end(j);
        }
        dpt__json_arr_end(j);
    }
    if (d->dropped_links) {
        dpt__json_key(j, "droppedLinksCount");
        dpt__json_uint(j, d->dropped_links);
    }

    size_t msg_len = d->status == DPT_STATUS_ERROR ? dpt__slen(d->status_msg, d->status_msg_len) : 0;
    uint32_t code = d->status <= DPT_STATUS_ERROR ? d->status : 0;
    /* An unset status is left out, as the protobuf encoding leaves it out. */
    if (code || msg_len) {
        dpt__json_key(j, "status");
        dpt__json_obj_begin(j);
        if (msg_len) {
            dpt__json_key(j, "message");
            dpt__json_str(j, d->status_msg, msg_len);
        }
        if (code) {
            dpt__json_key(j, "code");
            dpt__json_uint(j, code);
        }
        dpt__json_obj_end(j);
    }
    dpt__json_obj_end(j);
}

dpt_err dpt__otlp_json_write(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    e->out.len = 0;
    e->out.oom = false;
    size_t k = dpt__encoder_group(e, spans, n);
    if (k == (size_t)-1)
        return DPT_ENOMEM;

    dpt__json j;
    dpt__json_init(&j, &e->out);
    dpt__json_obj_begin(&j);
    dpt__json_key(&j, "resourceSpans");
    dpt__json_arr_begin(&j);
    size_t i = 0;
    while (i < k) {
        const dpt_span_data *first = spans[e->ord[i]];
        dpt_provider *p = dpt__span_provider(first);
        dpt__json_obj_begin(&j);
        dpt__json_key(&j, "resource");
        dpt__json_obj_begin(&j);
        size_t nres = 0;
        const dpt_attr *res = p ? dpt_provider_resource(p, &nres) : NULL;
        put_attrs(&j, res, nres, 0);
        dpt__json_obj_end(&j);
        dpt__json_key(&j, "scopeSpans");
        dpt__json_arr_begin(&j);
        while (i < k && dpt__span_provider(spans[e->ord[i]]) == p) {
            const dpt_tracer *t = spans[e->ord[i]]->tracer;
            dpt__json_obj_begin(&j);
            dpt__json_key(&j, "scope");
            dpt__json_obj_begin(&j);
            const char *name = t ? dpt_tracer_name(t) : NULL;
            const char *version = t ? dpt_tracer_version(t) : NULL;
            put_str_field(&j, "name", name, DPT_NUL);
            put_str_field(&j, "version", version, DPT_NUL);
            dpt__json_obj_end(&j);
            dpt__json_key(&j, "spans");
            dpt__json_arr_begin(&j);
            while (i < k && spans[e->ord[i]]->tracer == t &&
                   (t || dpt__span_provider(spans[e->ord[i]]) == p)) {
                put_span(&j, spans[e->ord[i]]);
                i++;
            }
            dpt__json_arr_end(&j);
            dpt__json_obj_end(&j);
        }
        dpt__json_arr_end(&j);
        dpt__json_obj_end(&j);
    }
    dpt__json_arr_end(&j);
    dpt__json_obj_end(&j);
    return e->out.oom ? DPT_ENOMEM : DPT_OK;
}
