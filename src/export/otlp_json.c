/* otlp_json.c - ExportTraceServiceRequest in the OTLP/JSON mapping: protobuf's JSON form
 * with lowerCamelCase names, except that ids are hex, enums are integers, and 64-bit
 * integers (times, intValue) are decimal strings. Fields holding their default value
 * (0, "", empty list, unset status) are omitted, as proto3's JSON mapping does; the
 * identifying fields (traceId, spanId, name, kind, times) are always written. The shape is
 * fixed, so it is written with jw.h's literal keys instead of a general JSON writer.
 */
#include "jw.h"

/* One AnyValue; i == SIZE_MAX: the scalar v itself, else element i of array v. */
static void put_any_scalar(dpt_encoder *e, uint32_t type, const dpt_value *v, size_t i)
{
    dpt__buf *b = &e->out;
    switch (type) {
    case DPT_VAL_STRING: {
        const char *s = i == SIZE_MAX ? v->u.s : v->u.sa[i];
        size_t n = i == SIZE_MAX ? dpt__slen(s, v->len) : (s ? strlen(s) : 0);
        JW_LIT(b, "{\"stringValue\":");
        dpt__jw_str(b, &e->tmp, s, n);
        break;
    }
    case DPT_VAL_BOOL:
        if (i == SIZE_MAX ? v->u.b : v->u.ba[i])
            JW_LIT(b, "{\"boolValue\":true");
        else
            JW_LIT(b, "{\"boolValue\":false");
        break;
    case DPT_VAL_INT:
        JW_LIT(b, "{\"intValue\":");
        dpt__jw_int_str(b, i == SIZE_MAX ? v->u.i : v->u.ia[i], true, 0);
        break;
    case DPT_VAL_DOUBLE:
        JW_LIT(b, "{\"doubleValue\":");
        dpt__jw_double(b, i == SIZE_MAX ? v->u.d : v->u.da[i]);
        break;
    default:
        dpt__jw_char(b, '{'); /* an empty AnyValue */
        break;
    }
    dpt__jw_char(b, '}');
}

static void put_any(dpt_encoder *e, const dpt_value *v)
{
    uint32_t elem = dpt__elem_type(v->type);
    if (elem == DPT_VAL_NONE) {
        put_any_scalar(e, v->type, v, SIZE_MAX);
        return;
    }
    dpt__buf *b = &e->out;
    /* A NULL array pointer is taken as empty, never dereferenced. */
    size_t n = v->u.sa ? v->len : 0;
    if (n == 0) {
        JW_LIT(b, "{\"arrayValue\":{}}");
        return;
    }
    JW_LIT(b, "{\"arrayValue\":{\"values\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) dpt__jw_char(b, ',');
        put_any_scalar(e, elem, v, i);
    }
    JW_LIT(b, "]}}");
}

/* ,"attributes":[...] and ,"droppedAttributesCount":n, each only when not empty/zero
 * (without the first comma when they open their object: first). */
static void put_attrs(dpt_encoder *e, const dpt_attr *a, size_t n, uint32_t dropped, bool first)
{
    dpt__buf *b = &e->out;
    if (a && n > 0) {
        if (first)
            JW_LIT(b, "\"attributes\":[");
        else
            JW_LIT(b, ",\"attributes\":[");
        first = false;
        for (size_t i = 0; i < n; i++) {
            if (i) dpt__jw_char(b, ',');
            JW_LIT(b, "{\"key\":");
            dpt__jw_str(b, &e->tmp, a[i].key, dpt__slen(a[i].key, a[i].key_len));
            JW_LIT(b, ",\"value\":");
            put_any(e, &a[i].value);
            dpt__jw_char(b, '}');
        }
        dpt__jw_char(b, ']');
    }
    if (dropped) {
        if (!first) dpt__jw_char(b, ',');
        JW_LIT(b, "\"droppedAttributesCount\":");
        dpt__jw_uint(b, dropped);
    }
}

/* Opens a Span or Link object with its ids and trace state (shared by both messages). */
static void put_ids(dpt_encoder *e, const dpt_span_context *sc, const char *ts, uint32_t ts_len)
{
    dpt__buf *b = &e->out;
    JW_LIT(b, "{\"traceId\":");
    dpt__jw_hex(b, sc->trace_id.b, 16);
    JW_LIT(b, ",\"spanId\":");
    dpt__jw_hex(b, sc->span_id.b, 8);
    size_t tsl = dpt__slen(ts, ts_len);
    if (tsl) {
        JW_LIT(b, ",\"traceState\":");
        dpt__jw_str(b, &e->tmp, ts, tsl);
    }
}

static void put_span(dpt_encoder *e, const dpt_span_data *d)
{
    dpt__buf *b = &e->out;
    put_ids(e, &d->ctx, d->tracestate, d->tracestate_len);
    if (!dpt__id_is_zero(d->parent_span_id.b, 8)) {
        JW_LIT(b, ",\"parentSpanId\":");
        dpt__jw_hex(b, d->parent_span_id.b, 8);
    }
    JW_LIT(b, ",\"flags\":");
    dpt__jw_uint(b, dpt__otlp_flags(d->ctx.flags, d->parent_remote));
    JW_LIT(b, ",\"name\":");
    dpt__jw_str(b, &e->tmp, d->name, dpt__slen(d->name, d->name_len));
    JW_LIT(b, ",\"kind\":");
    dpt__jw_uint(b, d->kind <= DPT_SPAN_CONSUMER ? d->kind : 0);
    JW_LIT(b, ",\"startTimeUnixNano\":");
    dpt__jw_int_str(b, 0, false, d->start_ns);
    JW_LIT(b, ",\"endTimeUnixNano\":");
    dpt__jw_int_str(b, 0, false, d->end_ns);
    put_attrs(e, d->attrs, d->n_attrs, d->dropped_attrs, false);

    if (d->events && d->n_events > 0) {
        JW_LIT(b, ",\"events\":[");
        for (uint32_t i = 0; i < d->n_events; i++) {
            const dpt_event *ev = &d->events[i];
            if (i) dpt__jw_char(b, ',');
            JW_LIT(b, "{\"timeUnixNano\":");
            dpt__jw_int_str(b, 0, false, ev->time_ns);
            JW_LIT(b, ",\"name\":");
            dpt__jw_str(b, &e->tmp, ev->name, dpt__slen(ev->name, ev->name_len));
            put_attrs(e, ev->attrs, ev->n_attrs, ev->dropped_attrs, false);
            dpt__jw_char(b, '}');
        }
        dpt__jw_char(b, ']');
    }
    if (d->dropped_events) {
        JW_LIT(b, ",\"droppedEventsCount\":");
        dpt__jw_uint(b, d->dropped_events);
    }

    if (d->links && d->n_links > 0) {
        JW_LIT(b, ",\"links\":[");
        for (uint32_t i = 0; i < d->n_links; i++) {
            const dpt_link *l = &d->links[i];
            if (i) dpt__jw_char(b, ',');
            put_ids(e, &l->ctx, l->tracestate, l->tracestate_len);
            put_attrs(e, l->attrs, l->n_attrs, l->dropped_attrs, false);
            JW_LIT(b, ",\"flags\":");
            dpt__jw_uint(b, dpt__otlp_flags(l->ctx.flags, l->ctx.remote));
            dpt__jw_char(b, '}');
        }
        dpt__jw_char(b, ']');
    }
    if (d->dropped_links) {
        JW_LIT(b, ",\"droppedLinksCount\":");
        dpt__jw_uint(b, d->dropped_links);
    }

    size_t msg_len =
        d->status == DPT_STATUS_ERROR ? dpt__slen(d->status_msg, d->status_msg_len) : 0;
    uint32_t code = d->status <= DPT_STATUS_ERROR ? d->status : 0;
    /* An unset status is left out, as the protobuf encoding leaves it out. */
    if (code || msg_len) {
        JW_LIT(b, ",\"status\":{");
        if (msg_len) {
            JW_LIT(b, "\"message\":");
            dpt__jw_str(b, &e->tmp, d->status_msg, msg_len);
        }
        if (code) {
            if (msg_len) dpt__jw_char(b, ',');
            JW_LIT(b, "\"code\":");
            dpt__jw_uint(b, code);
        }
        dpt__jw_char(b, '}');
    }
    dpt__jw_char(b, '}');
}

dpt_err dpt__otlp_json_write(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    dpt__buf *b = &e->out;
    size_t k = dpt__encoder_begin(e, spans, n);
    if (k == (size_t)-1) return DPT_ENOMEM;

    JW_LIT(b, "{\"resourceSpans\":[");
    size_t i = 0;
    while (i < k) {
        dpt_provider *p = dpt__span_provider(spans[e->ord[i]]);
        if (i) dpt__jw_char(b, ',');
        JW_LIT(b, "{\"resource\":{");
        size_t nres = 0;
        const dpt_attr *res = p ? dpt_provider_resource(p, &nres) : NULL;
        put_attrs(e, res, nres, 0, true);
        JW_LIT(b, "},\"scopeSpans\":[");
        bool first_scope = true;
        while (i < k && dpt__span_provider(spans[e->ord[i]]) == p) {
            const dpt_tracer *t = spans[e->ord[i]]->tracer;
            if (!first_scope) dpt__jw_char(b, ',');
            JW_LIT(b, "{\"scope\":{");
            first_scope = false;
            const char *name = t ? dpt_tracer_name(t) : NULL;
            const char *version = t ? dpt_tracer_version(t) : NULL;
            size_t nl = name ? strlen(name) : 0, vl = version ? strlen(version) : 0;
            if (nl) {
                JW_LIT(b, "\"name\":");
                dpt__jw_str(b, &e->tmp, name, nl);
            }
            if (vl) {
                if (nl) dpt__jw_char(b, ',');
                JW_LIT(b, "\"version\":");
                dpt__jw_str(b, &e->tmp, version, vl);
            }
            size_t nsa = 0;
            const dpt_attr *sa = t ? dpt_tracer_attrs(t, &nsa) : NULL;
            put_attrs(e, sa, nsa, 0, !nl && !vl);
            JW_LIT(b, "},");
            const char *surl = t ? dpt_tracer_schema_url(t) : "";
            if (*surl) {
                JW_LIT(b, "\"schemaUrl\":");
                dpt__jw_str(b, &e->tmp, surl, strlen(surl));
                dpt__jw_char(b, ',');
            }
            JW_LIT(b, "\"spans\":[");
            bool first_span = true;
            while (i < k && spans[e->ord[i]]->tracer == t &&
                   (t || dpt__span_provider(spans[e->ord[i]]) == p)) {
                if (!first_span) dpt__jw_char(b, ',');
                first_span = false;
                put_span(e, spans[e->ord[i]]);
                i++;
            }
            JW_LIT(b, "]}");
        }
        dpt__jw_char(b, ']');
        const char *rurl = dpt_resource_schema_url(p ? dpt_provider_get_resource(p) : NULL);
        if (*rurl) {
            JW_LIT(b, ",\"schemaUrl\":");
            dpt__jw_str(b, &e->tmp, rurl, strlen(rurl));
        }
        dpt__jw_char(b, '}');
    }
    JW_LIT(b, "]}");
    return b->oom ? DPT_ENOMEM : DPT_OK;
}
