/* test_export_json.c - the OTLP/JSON and Zipkin v2 JSON encoders, parsed back with
 * jansson and checked field by field against the values the spans were built with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "test_export_fixture.h"

static json_t *parse(const char *s, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) fail_msg("invalid JSON at %d: %s", err.position, err.text);
    return j;
}

/* "a.b.0.c": object keys and array indices; a key that itself contains dots (attribute
 * names such as "otel.status_code") is matched whole first. */
static json_t *get(json_t *o, const char *path)
{
    json_t *cur = o;
    const char *rest = path;
    while (*rest) {
        if (json_is_object(cur) && json_object_get(cur, rest)) return json_object_get(cur, rest);
        const char *dot = strchr(rest, '.');
        size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
        char tok[128];
        snprintf(tok, sizeof tok, "%.*s", (int)n, rest);
        cur =
            json_is_array(cur) ? json_array_get(cur, (size_t)atoi(tok)) : json_object_get(cur, tok);
        if (!cur) fail_msg("missing %s (at %s)", path, tok);
        rest += n + (dot ? 1 : 0);
    }
    return cur;
}

static bool has(json_t *o, const char *key)
{
    return json_object_get(o, key) != NULL;
}

static const char *str(json_t *o, const char *path)
{
    json_t *v = get(o, path);
    if (!json_is_string(v)) fail_msg("%s is not a string", path);
    return json_string_value(v);
}

/* The value object of attribute key in an OTLP attribute list. */
static json_t *otlp_attr(json_t *list, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(list, i, kv)
    {
        if (strcmp(str(kv, "key"), key) == 0) return get(kv, "value");
    }
    fail_msg("attribute %s not found", key);
    return NULL;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_otlp_json_encodes_every_span_field(void **state)
{
    (void)state;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.attr_count = 8;
    lim.event_count = 1;
    lim.attrs_per_event = 1;
    fx f;
    assert_int_equal(fx_open(&f, "checkout", &lim), 0);
    dpt_span_context sc = fx_rich_span(&f);
    const dpt_span_data *d[1];
    size_t n = fx_take(&f, d, 1);
    assert_int_equal(n, 1);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(dpt_otlp_json_encode(d, n, &out, &len), DPT_OK);
    assert_int_equal(strlen(out), len);
    json_t *root = parse(out, len);

    assert_int_equal(json_array_size(get(root, "resourceSpans")), 1);
    json_t *res_attrs = get(root, "resourceSpans.0.resource.attributes");
    assert_string_equal(str(otlp_attr(res_attrs, "service.name"), "stringValue"), "checkout");
    assert_string_equal(str(otlp_attr(res_attrs, "host.cpus"), "intValue"), "2");
    assert_string_equal(str(root, "resourceSpans.0.scopeSpans.0.scope.name"), "fx.scope");
    assert_string_equal(str(root, "resourceSpans.0.scopeSpans.0.scope.version"), "1.2.3");
    json_t *sp = get(root, "resourceSpans.0.scopeSpans.0.spans.0");

    char h[40] = {0};
    assert_string_equal(str(sp, "traceId"), FX_PARENT_TRACE);
    hex(sc.span_id.b, 8, h);
    assert_string_equal(str(sp, "spanId"), h);
    assert_string_equal(str(sp, "parentSpanId"), FX_PARENT_SPAN);
    assert_string_equal(str(sp, "traceState"), FX_TRACESTATE);
    assert_string_equal(str(sp, "name"), "GET /orders/{id}");
    assert_int_equal(json_integer_value(get(sp, "kind")), 2);
    assert_int_equal(json_integer_value(get(sp, "flags")), 0x303);
    /* 64-bit times as decimal strings, exact to the nanosecond. */
    assert_string_equal(str(sp, "startTimeUnixNano"), "1700000000123456789");
    assert_string_equal(str(sp, "endTimeUnixNano"), "1700000000987654321");

    json_t *attrs = get(sp, "attributes");
    assert_int_equal(json_array_size(attrs), 8);
    assert_string_equal(str(otlp_attr(attrs, "http.request.method"), "stringValue"), "GET");
    assert_true(json_is_false(get(otlp_attr(attrs, "cache.hit"), "boolValue")));
    assert_string_equal(str(otlp_attr(attrs, "http.response.status_code"), "intValue"), "503");
    assert_true(json_real_value(get(otlp_attr(attrs, "ratio"), "doubleValue")) == 0.125);
    json_t *arr = get(otlp_attr(attrs, "tags"), "arrayValue.values");
    assert_int_equal(json_array_size(arr), 3);
    assert_string_equal(str(arr, "0.stringValue"), "a");
    assert_string_equal(str(arr, "1.stringValue"), "");
    assert_string_equal(str(arr, "2.stringValue"), "c\"d");
    arr = get(otlp_attr(attrs, "ints"), "arrayValue.values");
    assert_string_equal(str(arr, "0.intValue"), "-1");
    assert_string_equal(str(arr, "1.intValue"), "0");
    assert_string_equal(str(arr, "2.intValue"), "9223372036854775807");
    arr = get(otlp_attr(attrs, "bools"), "arrayValue.values");
    assert_true(json_is_true(get(arr, "0.boolValue")));
    assert_true(json_is_false(get(arr, "1.boolValue")));
    arr = get(otlp_attr(attrs, "doubles"), "arrayValue.values");
    assert_true(json_number_value(get(arr, "1.doubleValue")) == -2.25e10);
    assert_int_equal(json_integer_value(get(sp, "droppedAttributesCount")), 2);

    assert_int_equal(json_array_size(get(sp, "events")), 1);
    assert_string_equal(str(sp, "events.0.timeUnixNano"), "1700000000500000001");
    assert_string_equal(str(sp, "events.0.name"), "retry");
    assert_string_equal(
        str(otlp_attr(get(sp, "events.0.attributes"), "exception.type"), "stringValue"), "Timeout");
    assert_int_equal(json_integer_value(get(sp, "events.0.droppedAttributesCount")), 1);
    assert_int_equal(json_integer_value(get(sp, "droppedEventsCount")), 1);

    assert_string_equal(str(sp, "links.0.traceId"), FX_LINK_TRACE);
    assert_string_equal(str(sp, "links.0.spanId"), FX_LINK_SPAN);
    assert_string_equal(str(sp, "links.0.traceState"), FX_LINK_TRACESTATE);
    assert_string_equal(str(otlp_attr(get(sp, "links.0.attributes"), "link.kind"), "stringValue"),
                        "follows");
    assert_int_equal(json_integer_value(get(sp, "links.0.flags")), 0x301);
    assert_false(has(sp, "droppedLinksCount")); /* 0: omitted */

    assert_int_equal(json_integer_value(get(sp, "status.code")), 2);
    assert_string_equal(str(sp, "status.message"), "upstream \"timeout\"");

    json_decref(root);
    dpt_free(out);
    fx_release(d, n);
    fx_close(&f);
}

static void test_otlp_json_omits_defaults_of_a_plain_root_span(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    fx_simple_span(f.t, "root");
    const dpt_span_data *d[1];
    size_t n = fx_take(&f, d, 1);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(dpt_otlp_json_encode(d, n, &out, &len), DPT_OK);
    json_t *root = parse(out, len);
    json_t *sp = get(root, "resourceSpans.0.scopeSpans.0.spans.0");
    const char *absent[] = {
        "parentSpanId",           "traceState",         "attributes",        "events", "links",
        "droppedAttributesCount", "droppedEventsCount", "droppedLinksCount", "status"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (has(sp, absent[i])) fail_msg("%s should be omitted", absent[i]);
    assert_int_equal(json_integer_value(get(sp, "kind")), 1);
    assert_int_equal(json_integer_value(get(sp, "flags")) & 0x300, 0x100);
    json_decref(root);
    dpt_free(out);
    fx_release(d, n);
    fx_close(&f);
}

static void test_json_encoders_escape_and_sanitize_strings(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    dpt_span s = dpt_span_start(f.t, "q\"\\\n\t\x01 \xff end", DPT_SPAN_CLIENT, NULL);
    dpt_span_set_double(s, "nan", NAN);
    dpt_span_set_double(s, "inf", -INFINITY);
    dpt_span_end(s);
    const dpt_span_data *d[1];
    size_t n = fx_take(&f, d, 1);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(dpt_otlp_json_encode(d, n, &out, &len), DPT_OK);
    json_t *root = parse(out, len);
    json_t *sp = get(root, "resourceSpans.0.scopeSpans.0.spans.0");
    assert_string_equal(str(sp, "name"), "q\"\\\n\t\x01 \xef\xbf\xbd end");
    /* protobuf's JSON mapping spells non-finite doubles as strings. */
    assert_string_equal(str(otlp_attr(get(sp, "attributes"), "nan"), "doubleValue"), "NaN");
    assert_string_equal(str(otlp_attr(get(sp, "attributes"), "inf"), "doubleValue"), "-Infinity");
    json_decref(root);
    dpt_free(out);

    assert_int_equal(dpt_zipkin_json_encode(d, n, &out, &len), DPT_OK);
    root = parse(out, len);
    assert_string_equal(str(root, "0.name"), "q\"\\\n\t\x01 \xef\xbf\xbd end");
    assert_string_equal(str(root, "0.tags.nan"), "NaN");
    assert_string_equal(str(root, "0.tags.inf"), "-Infinity");
    json_decref(root);
    dpt_free(out);
    fx_release(d, n);
    fx_close(&f);
}

static void test_zipkin_json_maps_spans_per_the_opentelemetry_mapping(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "checkout", NULL), 0);
    dpt_span_context sc = fx_rich_span(&f);
    fx_simple_span(f.t, "internal-root");
    dpt_span ok = dpt_span_start(f.t, "ok", DPT_SPAN_PRODUCER, NULL);
    dpt_span_set_str(ok, "otel.status_code", "user value"); /* the status mapping wins */
    dpt_span_set_str(ok, "error", "kept: status is not ERROR");
    dpt_span_set_status(ok, DPT_STATUS_OK, NULL);
    dpt_span_end(ok);
    const dpt_span_data *d[3];
    size_t n = fx_take(&f, d, 3);
    assert_int_equal(n, 3);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(dpt_zipkin_json_encode(d, n, &out, &len), DPT_OK);
    json_t *root = parse(out, len);
    assert_int_equal(json_array_size(root), 3);

    json_t *z = get(root, "0");
    char h[40] = {0};
    assert_string_equal(str(z, "traceId"), FX_PARENT_TRACE);
    hex(sc.span_id.b, 8, h);
    assert_string_equal(str(z, "id"), h);
    assert_string_equal(str(z, "parentId"), FX_PARENT_SPAN);
    assert_string_equal(str(z, "kind"), "SERVER");
    assert_string_equal(str(z, "name"), "GET /orders/{id}");
    assert_int_equal(json_integer_value(get(z, "timestamp")), FX_START_NS / 1000);
    assert_int_equal(json_integer_value(get(z, "duration")), FX_END_NS / 1000 - FX_START_NS / 1000);
    assert_string_equal(str(z, "localEndpoint.serviceName"), "checkout");
    json_t *tags = get(z, "tags");
    json_t *v;
    const char *k;
    json_object_foreach(tags, k, v)
    {
        if (!json_is_string(v)) fail_msg("tag %s is not a string", k);
    }
    assert_string_equal(str(tags, "http.request.method"), "GET");
    assert_string_equal(str(tags, "cache.hit"), "false");
    assert_string_equal(str(tags, "http.response.status_code"), "503");
    assert_string_equal(str(tags, "ratio"), "0.125");
    assert_string_equal(str(tags, "negative"), "-42");
    assert_string_equal(str(tags, "utf8"), "h\xc3\xa9llo \xe2\x82\xac");
    /* Arrays become JSON text. */
    json_t *tarr = parse(str(tags, "tags"), strlen(str(tags, "tags")));
    assert_int_equal(json_array_size(tarr), 3);
    assert_string_equal(json_string_value(json_array_get(tarr, 2)), "c\"d");
    json_decref(tarr);
    assert_string_equal(str(tags, "ints"), "[-1,0,9223372036854775807]");
    assert_string_equal(str(tags, "bools"), "[true,false]");
    assert_string_equal(str(tags, "otel.status_code"), "ERROR");
    assert_string_equal(str(tags, "error"), "upstream \"timeout\"");
    assert_string_equal(str(tags, "otel.scope.name"), "fx.scope");
    assert_string_equal(str(tags, "otel.scope.version"), "1.2.3");
    assert_int_equal(json_array_size(get(z, "annotations")), 2);
    assert_int_equal(json_integer_value(get(z, "annotations.0.timestamp")), FX_EVENT_NS / 1000);
    json_t *ev = parse(str(z, "annotations.0.value"), strlen(str(z, "annotations.0.value")));
    assert_string_equal(str(ev, "retry.exception.type"), "Timeout");
    assert_int_equal(json_integer_value(get(ev, "retry.retry")), 3);
    json_decref(ev);
    assert_string_equal(str(z, "annotations.1.value"), "cache.miss");

    z = get(root, "1"); /* internal root: no kind, no parentId, no status tags */
    assert_false(has(z, "kind"));
    assert_false(has(z, "parentId"));
    assert_false(has(get(z, "tags"), "error"));
    assert_false(has(get(z, "tags"), "otel.status_code"));
    assert_int_equal(json_integer_value(get(z, "duration")), 1000);
    z = get(root, "2");
    assert_string_equal(str(z, "kind"), "PRODUCER");
    assert_string_equal(str(z, "tags.otel.status_code"), "OK");
    assert_string_equal(str(z, "tags.error"), "kept: status is not ERROR");
    assert_true(json_integer_value(get(z, "duration")) >= 1);

    json_decref(root);
    dpt_free(out);
    fx_release(d, n);
    fx_close(&f);
}

/* Zipkin v2 (zipkin2 model, Span.duration): "timestamp + duration" is when the span ended;
 * an annotation at the span's end must not come after it. Times truncated to microseconds
 * separately (start 999 ns into a microsecond, 1001 ns long) once put the end 1 us
 * late. */
static void test_zipkin_event_at_the_end_is_not_after_timestamp_plus_duration(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "edge", NULL), 0);
    uint64_t ends[10];
    size_t k = 0;
    for (uint64_t off = 0; off < 1000; off += 111, k++) {
        uint64_t start = 1700000000000000000ull + off;
        ends[k] = start + 1001 + off;
        dpt_span_opts o = {0};
        o.start_ns = start;
        dpt_span s = dpt_span_start(f.t, "edge", DPT_SPAN_INTERNAL, &o);
        assert_int_equal(dpt_span_add_event_at(s, "last", ends[k], NULL, 0), DPT_OK);
        assert_int_equal(dpt_span_end_at(s, ends[k]), DPT_OK);
    }
    const dpt_span_data *d[10];
    assert_int_equal(fx_take(&f, d, 10), k);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(dpt_zipkin_json_encode(d, k, &out, &len), DPT_OK);
    json_t *root = parse(out, len);
    for (size_t i = 0; i < k; i++) {
        json_t *z = json_array_get(root, i);
        json_int_t ts = json_integer_value(get(z, "timestamp"));
        json_int_t dur = json_integer_value(get(z, "duration"));
        json_int_t ev = json_integer_value(get(z, "annotations.0.timestamp"));
        assert_true(ev >= ts);
        assert_true(ev <= ts + dur);
        assert_int_equal(ts + dur, (json_int_t)(ends[i] / 1000));
    }
    json_decref(root);
    dpt_free(out);
    fx_release(d, k);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otlp_json_encodes_every_span_field),
        cmocka_unit_test(test_otlp_json_omits_defaults_of_a_plain_root_span),
        cmocka_unit_test(test_json_encoders_escape_and_sanitize_strings),
        cmocka_unit_test(test_zipkin_json_maps_spans_per_the_opentelemetry_mapping),
        cmocka_unit_test(test_zipkin_event_at_the_end_is_not_after_timestamp_plus_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
