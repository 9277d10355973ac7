/* test_prop_b3.c - Zipkin B3: the single header (all forms), the multi-header form, and
 * which of the two wins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"
#include "dptrace/export.h"

#define T32 "80f198ee56343ba864fe8b2a57d3eff7"
#define T16 "64fe8b2a57d3eff7"
#define S16 "e457b5a2e4d86bd1"
#define P16 "05e3ac9a4f6e3b90"

static dpt_err b3(const char *s, dpt_b3 *out)
{
    return dpt_b3_parse(s, DPT_NUL, out);
}

static void test_b3_single_full_form(void **st)
{
    (void)st;
    dpt_b3 r;
    assert_int_equal(b3(T32 "-" S16 "-1-" P16, &r), DPT_OK);
    char h[33];
    dpt_trace_id_to_hex(&r.sc.trace_id, h);
    assert_string_equal(h, T32);
    assert_int_equal(r.sampled, 1);
    assert_int_equal(r.sc.flags, DPT_FLAG_SAMPLED);
    char p[17];
    dpt_span_id_to_hex(&r.parent, p);
    assert_string_equal(p, P16);
}

static void test_b3_single_pads_64_bit_trace_id(void **st)
{
    (void)st;
    dpt_b3 r;
    assert_int_equal(b3(T16 "-" S16 "-0", &r), DPT_OK);
    char h[33];
    dpt_trace_id_to_hex(&r.sc.trace_id, h);
    assert_string_equal(h, "0000000000000000" T16);
    assert_int_equal(r.sampled, 0);
}

static void test_b3_single_without_sampling_state_is_deferred(void **st)
{
    (void)st;
    dpt_b3 r;
    assert_int_equal(b3(T32 "-" S16, &r), DPT_OK);
    assert_int_equal(r.sampled, -1);
    assert_int_equal(r.sc.flags, 0);
    assert_int_equal(b3(T32 "-" S16 "-" P16, &r), DPT_OK); /* parent without a state */
    assert_int_equal(r.sampled, -1);
}

static void test_b3_single_debug_means_sampled(void **st)
{
    (void)st;
    dpt_b3 r;
    assert_int_equal(b3(T32 "-" S16 "-d", &r), DPT_OK);
    assert_true(r.debug);
    assert_int_equal(r.sampled, 1);
    char out[64];
    assert_int_equal(dpt_b3_format(&r, out), 51);
    assert_string_equal(out, T32 "-" S16 "-d");
}

static void test_b3_single_sampling_state_alone(void **st)
{
    (void)st;
    dpt_b3 r;
    assert_int_equal(b3("0", &r), DPT_OK);
    assert_int_equal(r.sampled, 0);
    assert_false(dpt_span_context_is_valid(&r.sc));
    assert_int_equal(b3("1", &r), DPT_OK);
    assert_int_equal(r.sampled, 1);
    assert_int_equal(b3("d", &r), DPT_OK);
    assert_true(r.debug);
    assert_int_equal(b3("2", &r), DPT_EPARSE);
}

static void test_b3_single_rejects_malformed_values(void **st)
{
    (void)st;
    static const char *bad[] = {
        "",
        T32,
        T32 "-",
        T32 "-" S16 "-",
        T32 "-" S16 "-2",
        T32 "-" S16 "-1-",
        T32 "-" S16 "-1-" P16 "-x",
        T32 "-" S16 "-11",
        "80F198EE56343BA864FE8B2A57D3EFF7-" S16 "-1",
        "00000000000000000000000000000000-" S16 "-1",
        T32 "-0000000000000000-1",
        T32 "-" S16 "-1-0000000000000000",
        "123-" S16 "-1",
        T32 "0-" S16 "-1",
        T32 "-" S16 "0-1",
        "x" T32 "-" S16 "-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpt_b3 r;
        if (b3(bad[i], &r) != DPT_EPARSE) fail_msg("accepted: %s", bad[i]);
    }
}

static void test_b3_null_arguments(void **st)
{
    (void)st;
    dpt_b3 r;
    assert_int_equal(dpt_b3_parse(NULL, 0, &r), DPT_EINVAL);
    assert_int_equal(dpt_b3_parse("1", 1, NULL), DPT_EINVAL);
    char out[64];
    assert_int_equal(dpt_b3_format(NULL, out), 0);
    assert_int_equal(dpt_b3_format(&r, NULL), 0);
}

static dpt_context *extract(const dpt_propagator *p, const char *const *kv, dpt_err *rc)
{
    dpt_headers h = DPT_HEADERS_INIT;
    for (; kv[0]; kv += 2)
        dpt_headers_add(&h, kv[0], DPT_NUL, kv[1], DPT_NUL);
    dpt_context *c = NULL;
    *rc = dpt_propagator_extract(p, &dpt_headers_getter, &h, &c);
    dpt_headers_free(&h);
    assert_non_null(c);
    return c;
}

static void test_b3_multi_extract_and_inject(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract(dpt_propagator_b3multi(),
                             (const char *[]){"X-B3-TraceId", T16, "X-B3-SpanId", S16,
                                              "X-B3-ParentSpanId", P16, "X-B3-Sampled", "1", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3multi(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "x-b3-traceid", 0, NULL), "0000000000000000" T16);
    assert_string_equal(dpt_headers_get(&out, "x-b3-spanid", 0, NULL), S16);
    assert_string_equal(dpt_headers_get(&out, "x-b3-sampled", 0, NULL), "1");
    dpt_headers_free(&out);
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "b3", 0, NULL), "0000000000000000" T16 "-" S16 "-1");
    dpt_headers_free(&out);
    dpt_context_release(c);
}

static void test_b3_multi_sampled_values(void **st)
{
    (void)st;
    struct {
        const char *v;
        dpt_err rc;
        uint8_t flags;
    } cases[] = {
        {"1", DPT_OK, 1},     {"true", DPT_OK, 1},    {"0", DPT_OK, 0},
        {"false", DPT_OK, 0}, {"yes", DPT_EPARSE, 0}, {"", DPT_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_err rc;
        dpt_context *c = extract(dpt_propagator_b3multi(),
                                 (const char *[]){"x-b3-traceid", T32, "x-b3-spanid", S16,
                                                  "x-b3-sampled", cases[i].v, NULL},
                                 &rc);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(dpt_context_span_context(c).flags, cases[i].flags);
        dpt_context_release(c);
    }
}

/* B3: "Debug is encoded as X-B3-Flags: 1 ... Debug implies an accept decision, so don't
 * also send the X-B3-Sampled header." OpenTelemetry (B3 Extract): "MUST preserve a debug
 * trace flag, if received, and propagate it with subsequent requests". */
static void test_b3_multi_flags_debug_implies_sampled_and_round_trips(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract(dpt_propagator_b3multi(),
                             (const char *[]){"x-b3-traceid", T32, "x-b3-spanid", S16, "x-b3-flags",
                                              "1", "x-b3-sampled", "0", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    assert_int_equal(dpt_context_span_context(c).flags, DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3multi(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "x-b3-flags", 0, NULL), "1");
    assert_null(dpt_headers_get(&out, "x-b3-sampled", 0, NULL));
    dpt_headers_free(&out);
    /* the single form writes the debug state as 'd' */
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "b3", 0, NULL), T32 "-" S16 "-d");
    dpt_headers_free(&out);
    /* traceparent never carries it: "Vendors MUST set those [other flags] to zero" */
    assert_int_equal(
        dpt_propagator_inject(dpt_propagator_tracecontext(), c, &dpt_headers_setter, &out), DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "traceparent", 0, NULL), "00-" T32 "-" S16 "-01");
    dpt_headers_free(&out);
    dpt_context_release(c);
    /* "Absent or any other value can be ignored." */
    c = extract(dpt_propagator_b3multi(),
                (const char *[]){"x-b3-traceid", T32, "x-b3-spanid", S16, "x-b3-flags", "2", NULL},
                &rc);
    assert_int_equal(dpt_context_span_context(c).flags, 0);
    dpt_context_release(c);
}

static void test_b3_single_debug_round_trips_in_both_forms(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c =
        extract(dpt_propagator_b3(), (const char *[]){"b3", T32 "-" S16 "-d", NULL}, &rc);
    assert_int_equal(rc, DPT_OK);
    assert_int_equal(dpt_context_span_context(c).flags, DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "b3", 0, NULL), T32 "-" S16 "-d");
    dpt_headers_free(&out);
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3multi(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "x-b3-flags", 0, NULL), "1");
    dpt_headers_free(&out);
    dpt_context_release(c);
}

/* OpenTelemetry's B3 requirements: "MUST preserve a debug trace flag, if received, and
 * propagate it with subsequent requests": a sampled span started from a debug context
 * sends debug downstream too (B3: "Debug implies an accept decision", so a span the
 * sampler dropped does not). The mark is not a W3C flag: OTLP ("Bits 0-7 are the 8 bits of
 * the W3C trace flags") gets only sampled, Zipkin v2 JSON gets "debug": true. */
static void test_b3_debug_is_carried_on_by_sampled_children(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c =
        extract(dpt_propagator_b3(), (const char *[]){"b3", T32 "-" S16 "-d", NULL}, &rc);
    assert_int_equal(rc, DPT_OK);
    dpt_exporter *mem = dpt_exporter_memory(4);
    dpt_processor *proc = dpt_processor_simple(mem);
    dpt_provider_config cfg = {0};
    cfg.processors = &proc;
    cfg.n_processors = 1;
    cfg.sampler = dpt_sampler_always_on();
    dpt_provider *p = dpt_provider_new(&cfg);
    assert_non_null(p);
    dpt_tracer *t = dpt_provider_get_tracer(p, "b3", NULL);
    dpt_span child = dpt_span_start(t, "child", DPT_SPAN_CLIENT, &(dpt_span_opts){.parent = c});
    dpt_span_context sc = dpt_span_get_context(child);
    assert_int_equal(sc.flags & (DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG),
                     DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG);
    dpt_context *cc = dpt_context_with_span(c, child);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_inject(dpt_propagator_b3(), cc, &dpt_headers_setter, &out),
                     DPT_OK);
    const char *b = dpt_headers_get(&out, "b3", 0, NULL);
    assert_non_null(b);
    assert_int_equal(strlen(b), 32 + 1 + 16 + 2);
    assert_memory_equal(b, T32 "-", 33);
    assert_string_equal(b + 49, "-d");
    dpt_headers_free(&out);
    dpt_context_release(cc);
    dpt_span_end(child);

    assert_int_equal(dpt_exporter_memory_count(mem), 1);
    const dpt_span_data *d = dpt_exporter_memory_get(mem, 0);
    char *js = NULL;
    size_t n = 0;
    assert_int_equal(dpt_otlp_json_encode(&d, 1, &js, &n), DPT_OK);
    /* sampled (1) | has-is-remote (0x100) | is-remote (0x200): 769, no 0x80 */
    assert_non_null(strstr(js, "\"flags\":769"));
    dpt_free(js);
    assert_int_equal(dpt_zipkin_json_encode(&d, 1, &js, &n), DPT_OK);
    assert_non_null(strstr(js, "\"debug\":true"));
    dpt_free(js);
    dpt_span_data_release(d);

    /* the same for a span started under the context made current (no options) */
    dpt_token tok = dpt_context_attach(c);
    dpt_span cur = dpt_span_start(t, "current", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_get_context(cur).flags & (DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG),
                     DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG);
    dpt_span_end(cur);
    dpt_context_detach(tok);
    dpt_provider_free(p);

    /* a child the sampler drops does not claim debug */
    cfg.sampler = dpt_sampler_always_off();
    cfg.processors = NULL;
    cfg.n_processors = 0;
    p = dpt_provider_new(&cfg);
    t = dpt_provider_get_tracer(p, "b3", NULL);
    dpt_span off = dpt_span_start(t, "off", DPT_SPAN_CLIENT, &(dpt_span_opts){.parent = c});
    assert_int_equal(dpt_span_get_context(off).flags & (DPT_FLAG_SAMPLED | DPT_FLAG_B3_DEBUG), 0);
    dpt_span_end(off);
    dpt_provider_free(p);
    dpt_context_release(c);
}

/* B3, Multiple Headers: "When extracting state headers, the first value wins." A repeated
 * X-B3-TraceId (same or not) continues the first one; dptrace applies the same rule to a
 * repeated b3 header (OpenTelemetry JS does too). */
static void test_b3_repeated_headers_first_value_wins(void **st)
{
    (void)st;
    const char *const cases[][11] = {
        {"x-b3-traceid", T32, "x-b3-traceid", T32, "x-b3-spanid", S16, NULL},
        {"x-b3-traceid", T32, "x-b3-traceid", "11111111111111111111111111111111", "x-b3-spanid",
         S16, "x-b3-spanid", "2222222222222222", "x-b3-sampled", "1", NULL},
        {"x-b3-traceid", T32, "x-b3-traceid", "not hex", "x-b3-spanid", S16, "x-b3-sampled", "1",
         "x-b3-sampled", "maybe", NULL},
        {"b3", T32 "-" S16 "-1", "b3", "11111111111111111111111111111111-2222222222222222-0", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_err rc;
        dpt_context *c = extract(dpt_propagator_b3multi(), cases[i], &rc);
        assert_int_equal(rc, DPT_OK);
        dpt_span_context sc = dpt_context_span_context(c);
        char h[33], sp[17];
        dpt_trace_id_to_hex(&sc.trace_id, h);
        dpt_span_id_to_hex(&sc.span_id, sp);
        assert_string_equal(h, T32);
        assert_string_equal(sp, S16);
        dpt_context_release(c);
    }
}

static void test_b3_multi_rejects_missing_or_bad_ids(void **st)
{
    (void)st;
    const char *const cases[][7] = {
        {"x-b3-traceid", T32, NULL},
        {"x-b3-spanid", S16, NULL},
        {"x-b3-traceid", "abc", "x-b3-spanid", S16, NULL},
        {"x-b3-traceid", T32, "x-b3-spanid", "E457B5A2E4D86BD1", NULL},
        {"x-b3-traceid", "not hex", "x-b3-traceid", T32, "x-b3-spanid", S16, NULL},
    };
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_err rc;
        dpt_context *c = extract(dpt_propagator_b3multi(), cases[i], &rc);
        assert_int_equal(rc, DPT_EPARSE);
        dpt_context_release(c);
    }
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(after[DPT_PSTAT_B3_INVALID], before[DPT_PSTAT_B3_INVALID] + 5);
}

static void test_b3_single_header_wins_over_multi(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract(dpt_propagator_b3(),
                             (const char *[]){"b3", T32 "-" S16 "-0", "x-b3-traceid",
                                              "11111111111111111111111111111111", "x-b3-spanid",
                                              "2222222222222222", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    char h[33];
    dpt_span_context sc = dpt_context_span_context(c);
    dpt_trace_id_to_hex(&sc.trace_id, h);
    assert_string_equal(h, T32);
    dpt_context_release(c);
    /* an empty b3 header counts as absent */
    c = extract(dpt_propagator_b3(),
                (const char *[]){"b3", " ", "x-b3-traceid", T32, "x-b3-spanid", S16, NULL}, &rc);
    assert_int_equal(rc, DPT_OK);
    dpt_context_release(c);
}

static void test_b3_sampling_only_header_gives_no_context(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract(dpt_propagator_b3(), (const char *[]){"b3", "0", NULL}, &rc);
    assert_int_equal(rc, DPT_EPARSE);
    dpt_span_context sc = dpt_context_span_context(c);
    assert_false(dpt_span_context_is_valid(&sc));
    dpt_context_release(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b3_single_full_form),
        cmocka_unit_test(test_b3_single_pads_64_bit_trace_id),
        cmocka_unit_test(test_b3_single_without_sampling_state_is_deferred),
        cmocka_unit_test(test_b3_single_debug_means_sampled),
        cmocka_unit_test(test_b3_single_sampling_state_alone),
        cmocka_unit_test(test_b3_single_rejects_malformed_values),
        cmocka_unit_test(test_b3_null_arguments),
        cmocka_unit_test(test_b3_multi_extract_and_inject),
        cmocka_unit_test(test_b3_multi_sampled_values),
        cmocka_unit_test(test_b3_multi_flags_debug_implies_sampled_and_round_trips),
        cmocka_unit_test(test_b3_single_debug_round_trips_in_both_forms),
        cmocka_unit_test(test_b3_debug_is_carried_on_by_sampled_children),
        cmocka_unit_test(test_b3_repeated_headers_first_value_wins),
        cmocka_unit_test(test_b3_multi_rejects_missing_or_bad_ids),
        cmocka_unit_test(test_b3_single_header_wins_over_multi),
        cmocka_unit_test(test_b3_sampling_only_header_gives_no_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
