/* zipkin_json.c - a list of Zipkin v2 spans (POST /api/v2/spans) following OpenTelemetry's
 * Zipkin mapping: microsecond timestamp and duration, kind in upper case (absent for
 * internal spans), localEndpoint.serviceName from the resource's service.name, every
 * attribute as a string tag (arrays as JSON text), events as annotations, the status as
 * otel.status_code plus an "error" tag, dropped counts and the scope as otel.* tags, and the
 * resource's other attributes as tags (a span attribute of the same key wins).
 * Zipkin has no place for links or the trace state; they are left out.
 */
#include "encode.h"

#include <stdio.h>

/* A value as JSON, safe with NULL arrays, NULL strings and unknown types (the core
 * writer trusts its input; span data built by hand may not deserve it). */
static void value_json(dpt__json *j, const dpt_value *v)
{
    switch (v->type) {
    case DPT_VAL_STRING:
        dpt__json_str(j, v->u.s ? v->u.s : "", dpt__slen(v->u.s, v->len));
        return;
    case DPT_VAL_BOOL:
    case DPT_VAL_INT:
    case DPT_VAL_DOUBLE:
        dpt__json_value(j, v);
        return;
    case DPT_VAL_STRING_ARRAY:
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        dpt__json_arr_begin(j);
        for (uint32_t i = 0; v->u.sa && i < v->len; i++) {
            switch (v->type) {
            case DPT_VAL_STRING_ARRAY:
                dpt__json_cstr(j, v->u.sa[i] ? v->u.sa[i] : "");
                break;
            case DPT_VAL_BOOL_ARRAY:
                dpt__json_bool(j, v->u.ba[i]);
                break;
            case DPT_VAL_INT_ARRAY:
                dpt__json_int(j, v->u.ia[i]);
                break;
            default:
                dpt__json_double(j, v->u.da[i]);
                break;
            }
        }
        dpt__json_arr_end(j);
        return;
    default:
        dpt__json_null(j);
        return;
    }
}

/* Renders one value as tag text into e->tmp (scalars plainly, arrays as JSON). */
static void value_text(dpt_encoder *e, const dpt_value *v)
{
    dpt__buf *t = &e->tmp;
    t->len = 0;
    t->oom = false;
    switch (v->type) {
    case DPT_VAL_STRING:
        dpt__buf_put(t, v->u.s ? v->u.s : "", dpt__slen(v->u.s, v->len));
        break;
    case DPT_VAL_BOOL:
        dpt__buf_puts(t, v->u.b ? "true" : "false");
        break;
    case DPT_VAL_INT:
        dpt__buf_printf(t, "%lld", (long long)v->u.i);
        break;
    case DPT_VAL_DOUBLE: {
        /* The JSON writer has the shortest round-trip form; NaN and the infinities come
         * out quoted, and a tag wants them bare. */
        dpt__json j;
        dpt__json_init(&j, t);
        dpt__json_double(&j, v->u.d);
        if (t->len >= 2 && t->p[0] == '"') {
            memmove(t->p, t->p + 1, t->len - 2);
            t->len -= 2;
        }
        break;
    }
    case DPT_VAL_STRING_ARRAY:
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY: {
        dpt__json j;
        dpt__json_init(&j, t);
        value_json(&j, v);
        break;
    }
    default:
        break;
    }
}

static void tag_str(dpt__json *j, const char *key, const char *s, size_t n)
{
    dpt__json_key(j, key);
    dpt__json_str(j, s, n);
}

static void tag_uint(dpt__json *j, const char *key, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    tag_str(j, key, num, (size_t)n);
}

static bool has_attr(const dpt_attr *a, uint32_t n, const char *key, size_t kl)
{
    for (uint32_t i = 0; a && i < n; i++)
        if (a[i].key && dpt__slen(a[i].key, a[i].key_len) == kl && memcmp(a[i].key, key, kl) == 0)
            return true;
    return false;
}

/* The resource's attributes other than service.name (which is localEndpoint.serviceName)
 * as tags, as the mapping asks for service.namespace ("should be sent as a Zipkin tag");
 * a span attribute of the same key wins, and the status tags are never shadowed. */
static void put_resource_tags(dpt_encoder *e, dpt__json *j, const dpt_span_data *d, dpt_provider *p)
{
    size_t n = 0;
    const dpt_attr *r = p ? dpt_provider_resource(p, &n) : NULL;
    for (size_t i = 0; r && i < n; i++) {
        const char *key = r[i].key;
        size_t kl = dpt__slen(key, r[i].key_len);
        if (!key || (kl == 12 && memcmp(key, "service.name", 12) == 0) ||
            (kl == 16 && memcmp(key, "otel.status_code", 16) == 0) ||
            (kl == 5 && memcmp(key, "error", 5) == 0) || has_attr(d->attrs, d->n_attrs, key, kl))
            continue;
        value_text(e, &r[i].value);
        if (e->tmp.oom) e->out.oom = true;
        dpt__json_keyn(j, key, kl);
        dpt__json_str(j, e->tmp.p ? e->tmp.p : "", e->tmp.len);
    }
}

static void put_span(dpt_encoder *e, dpt__json *j, const dpt_span_data *d)
{
    static const char *const kinds[] = {NULL, NULL, "SERVER", "CLIENT", "PRODUCER", "CONSUMER"};
    char hex[33];
    dpt__json_obj_begin(j);
    dpt__hex_encode(d->ctx.trace_id.b, 16, hex);
    tag_str(j, "traceId", hex, 32);
    dpt__hex_encode(d->ctx.span_id.b, 8, hex);
    tag_str(j, "id", hex, 16);
    if (!dpt__id_is_zero(d->parent_span_id.b, 8)) {
        dpt__hex_encode(d->parent_span_id.b, 8, hex);
        tag_str(j, "parentId", hex, 16);
    }
    dpt__json_key(j, "name");
    dpt__json_str(j, d->name ? d->name : "", dpt__slen(d->name, d->name_len));
    if (d->kind < sizeof kinds / sizeof kinds[0] && kinds[d->kind]) {
        dpt__json_key(j, "kind");
        dpt__json_cstr(j, kinds[d->kind]);
    }
    dpt__json_key(j, "timestamp");
    dpt__json_uint(j, d->start_ns / 1000);
    /* The duration is end and start each truncated to microseconds, not the truncated
     * difference: an event at the span's end (truncated the same way) then never lands
     * after timestamp + duration. Zipkin reads a duration of 0 as "unknown": spans inside
     * one microsecond round up to 1. */
    uint64_t dur = d->end_ns > d->start_ns ? d->end_ns / 1000 - d->start_ns / 1000 : 0;
    dpt__json_key(j, "duration");
    dpt__json_uint(j, dur ? dur : 1);

    /* Zipkin v2: "debug": true forces the span to be stored (B3's debug decision). */
    if (d->ctx.flags & DPT_FLAG_B3_DEBUG) {
        dpt__json_key(j, "debug");
        dpt__json_bool(j, true);
    }

    dpt_provider *p = dpt__span_provider(d);
    const dpt_value *svc = dpt__resource_get(p, "service.name");
    dpt__json_key(j, "localEndpoint");
    dpt__json_obj_begin(j);
    dpt__json_key(j, "serviceName");
    if (svc && svc->type == DPT_VAL_STRING && svc->u.s)
        dpt__json_str(j, svc->u.s, dpt__slen(svc->u.s, svc->len));
    else
        dpt__json_cstr(j, "unknown_service");
    dpt__json_obj_end(j);

    if (d->events && d->n_events > 0) {
        dpt__json_key(j, "annotations");
        dpt__json_arr_begin(j);
        for (uint32_t i = 0; i < d->n_events; i++) {
            const dpt_event *ev = &d->events[i];
            const char *name = ev->name ? ev->name : "";
            size_t nl = dpt__slen(ev->name, ev->name_len);
            dpt__json_obj_begin(j);
            dpt__json_key(j, "timestamp");
            dpt__json_uint(j, ev->time_ns / 1000);
            dpt__json_key(j, "value");
            if (!ev->attrs || ev->n_attrs == 0) {
                dpt__json_str(j, name, nl);
            } else {
                /* {"<name>":{"<key>":<value>,...}} as text, as the mapping asks. */
                dpt__buf *t = &e->tmp;
                t->len = 0;
                t->oom = false;
                dpt__json tj;
                dpt__json_init(&tj, t);
                dpt__json_obj_begin(&tj);
                dpt__json_keyn(&tj, name, nl);
                dpt__json_obj_begin(&tj);
                for (uint32_t a = 0; a < ev->n_attrs; a++) {
                    const dpt_attr *at = &ev->attrs[a];
                    dpt__json_keyn(&tj, at->key ? at->key : "", dpt__slen(at->key, at->key_len));
                    value_json(&tj, &at->value);
                }
                dpt__json_obj_end(&tj);
                dpt__json_obj_end(&tj);
                if (t->oom) e->out.oom = true;
                dpt__json_str(j, t->p ? t->p : "", t->len);
            }
            dpt__json_obj_end(j);
        }
        dpt__json_arr_end(j);
    }

    dpt__json_key(j, "tags");
    dpt__json_obj_begin(j);
    for (uint32_t i = 0; d->attrs && i < d->n_attrs; i++) {
        const dpt_attr *a = &d->attrs[i];
        /* The status tags below win over attributes of the same name: a JSON object with
         * a key twice is read differently by different parsers. */
        size_t kl = dpt__slen(a->key, a->key_len);
        if (a->key && d->status != DPT_STATUS_UNSET &&
            ((kl == 16 && memcmp(a->key, "otel.status_code", 16) == 0) ||
             (kl == 5 && memcmp(a->key, "error", 5) == 0 && d->status == DPT_STATUS_ERROR)))
            continue;
        value_text(e, &a->value);
        if (e->tmp.oom) e->out.oom = true;
        dpt__json_keyn(j, a->key ? a->key : "", kl);
        dpt__json_str(j, e->tmp.p ? e->tmp.p : "", e->tmp.len);
    }
    put_resource_tags(e, j, d, p);
    if (d->tracer) {
        const char *sn = dpt_tracer_name(d->tracer);
        const char *sv = dpt_tracer_version(d->tracer);
        if (sn && *sn) tag_str(j, "otel.scope.name", sn, strlen(sn));
        if (sv && *sv) tag_str(j, "otel.scope.version", sv, strlen(sv));
    }
    if (d->status == DPT_STATUS_OK) {
        tag_str(j, "otel.status_code", "OK", 2);
    } else if (d->status == DPT_STATUS_ERROR) {
        tag_str(j, "otel.status_code", "ERROR", 5);
        /* The mapping puts the description in "error" (empty when there is none);
         * Zipkin marks a span failed by the tag's presence. */
        tag_str(j, "error", d->status_msg ? d->status_msg : "",
                dpt__slen(d->status_msg, d->status_msg_len));
    }
    if (d->dropped_attrs) tag_uint(j, "otel.dropped_attributes_count", d->dropped_attrs);
    if (d->dropped_events) tag_uint(j, "otel.dropped_events_count", d->dropped_events);
    if (d->dropped_links) tag_uint(j, "otel.dropped_links_count", d->dropped_links);
    dpt__json_obj_end(j);
    dpt__json_obj_end(j);
}

dpt_err dpt__zipkin_json_write(dpt_encoder *e, const dpt_span_data *const *spans, size_t n)
{
    e->out.len = 0;
    e->out.oom = false;
    dpt__json j;
    dpt__json_init(&j, &e->out);
    dpt__json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        if (spans[i]) put_span(e, &j, spans[i]);
    }
    dpt__json_arr_end(&j);
    return e->out.oom ? DPT_ENOMEM : DPT_OK;
}
