/* test_prop_jaeger.c - Jaeger: uber-trace-id (short ids, encoded separators, flags) and
 * uberctx-* baggage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define T32 "80f198ee56343ba864fe8b2a57d3eff7"
#define S16 "e457b5a2e4d86bd1"

static void test_jaeger_parses_full_ids(void **st)
{
    (void)st;
    dpt_span_context sc;
    bool debug = true;
    assert_int_equal(dpt_jaeger_parse(T32 ":" S16 ":0:1", DPT_NUL, &sc, &debug), DPT_OK);
    assert_false(debug);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
    char out[64];
    assert_int_equal(dpt_jaeger_format(&sc, out), 54);
    assert_string_equal(out, T32 ":" S16 ":0:01");
}

static void test_jaeger_pads_short_ids_and_accepts_uppercase(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_jaeger_parse("ABC:1f:0:0", DPT_NUL, &sc, NULL), DPT_OK);
    char out[64];
    dpt_jaeger_format(&sc, out);
    assert_string_equal(out, "00000000000000000000000000000abc:000000000000001f:0:00");
}

static void test_jaeger_accepts_percent_encoded_separators(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_jaeger_parse(T32 "%3A" S16 "%3a0%3A1", DPT_NUL, &sc, NULL), DPT_OK);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
}

static void test_jaeger_debug_flag_implies_sampled(void **st)
{
    (void)st;
    dpt_span_context sc;
    bool debug = false;
    assert_int_equal(dpt_jaeger_parse(T32 ":" S16 ":0:2", DPT_NUL, &sc, &debug), DPT_OK);
    assert_true(debug);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
}

static void test_jaeger_rejects_malformed_values(void **st)
{
    (void)st;
    static const char *bad[] = {
        "",
        T32 ":" S16 ":0",
        T32 ":" S16 ":0:1:5",
        T32 "1:" S16 ":0:1",
        T32 ":" S16 "1:0:1",
        T32 ":" S16 ":0:100",
        T32 ":" S16 ":0:",
        ":" S16 ":0:1",
        T32 "::0:1",
        T32 ":" S16 ":x:1",
        "0:" S16 ":0:1",
        T32 ":0:0:1",
        T32 ":" S16 ":0:1%",
        T32 "%3G" S16 ":0:1",
        "g:1:0:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpt_span_context sc;
        if (dpt_jaeger_parse(bad[i], DPT_NUL, &sc, NULL) != DPT_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_jaeger_null_arguments(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_jaeger_parse(NULL, 0, &sc, NULL), DPT_EINVAL);
    assert_int_equal(dpt_jaeger_parse("1:1:0:1", DPT_NUL, NULL, NULL), DPT_EINVAL);
    char out[64];
    assert_int_equal(dpt_jaeger_format(NULL, out), 0);
}

static void test_jaeger_propagator_reads_and_writes_uberctx_baggage(void **st)
{
    (void)st;
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "Uber-Trace-Id", DPT_NUL, T32 ":" S16 ":0:1", DPT_NUL);
    dpt_headers_add(&in, "uberctx-user", DPT_NUL, "alice%20b", DPT_NUL);
    dpt_headers_add(&in, "UBERCTX-Tier", DPT_NUL, "gold", DPT_NUL);
    dpt_headers_add(&in, "uberctx-bad", DPT_NUL, "%ZZ", DPT_NUL);
    dpt_headers_add(&in, "uberctx-", DPT_NUL, "nokey", DPT_NUL);
    dpt_context *c = NULL;
    assert_int_equal(dpt_propagator_extract(dpt_propagator_jaeger(), &dpt_headers_getter, &in, &c),
                     DPT_OK);
    const dpt_baggage *bg = dpt_context_baggage(c);
    assert_int_equal(dpt_baggage_count(bg), 2);
    assert_string_equal(dpt_baggage_get(bg, "user"), "alice b");
    assert_string_equal(dpt_baggage_get(bg, "tier"), "gold");
    assert_int_equal(dpt_propagator_inject(dpt_propagator_jaeger(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "uber-trace-id", 0, NULL), T32 ":" S16 ":0:01");
    assert_string_equal(dpt_headers_get(&out, "uberctx-user", 0, NULL), "alice%20b");
    assert_string_equal(dpt_headers_get(&out, "uberctx-tier", 0, NULL), "gold");
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
}

/* dptrace's own choice, after B3's rule for its state headers ("the first value wins") and
 * what OpenTelemetry JS's Jaeger propagator does: a repeated uber-trace-id continues the
 * first value. */
static void test_jaeger_repeated_trace_header_first_value_wins(void **st)
{
    (void)st;
    dpt_headers in = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "uber-trace-id", DPT_NUL, T32 ":" S16 ":0:1", DPT_NUL);
    dpt_headers_add(&in, "uber-trace-id", DPT_NUL, "1:2:0:0", DPT_NUL);
    dpt_context *c = NULL;
    assert_int_equal(dpt_propagator_extract(dpt_propagator_jaeger(), &dpt_headers_getter, &in, &c),
                     DPT_OK);
    char h[33];
    dpt_span_context sc = dpt_context_span_context(c);
    dpt_trace_id_to_hex(&sc.trace_id, h);
    assert_string_equal(h, T32);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
    dpt_context_release(c);
    dpt_headers_free(&in);
}

/* jaeger-client-go (propagation.go, parseCommaSeparatedMap): "jaeger-baggage: k1=v1, k2=v2"
 * carries baggage also without a trace context; a member is exactly key=value. Values are
 * percent-decoded one by one (dptrace's choice: an encoded ',' stays in its value), keys
 * must be tokens to be sent on as uberctx-<key>, and a uberctx-<key> field of the same key
 * wins. Invalid members are dropped one by one and counted. */
static void test_jaeger_baggage_header(void **st)
{
    (void)st;
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "jaeger-baggage", DPT_NUL, "k1=v1, k2 = a%2Cb ,bad,x=1=2,k y=3,k3=%zz",
                    DPT_NUL);
    dpt_headers_add(&in, "Jaeger-Baggage", DPT_NUL, "k4=v4,k5=old", DPT_NUL);
    dpt_headers_add(&in, "uberctx-k5", DPT_NUL, "new", DPT_NUL);
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    dpt_context *c = NULL;
    assert_int_equal(dpt_propagator_extract(dpt_propagator_jaeger(), &dpt_headers_getter, &in, &c),
                     DPT_ENOTFOUND);
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(after[DPT_PSTAT_JAEGER_INVALID], before[DPT_PSTAT_JAEGER_INVALID] + 4);
    const dpt_baggage *bg = dpt_context_baggage(c);
    assert_int_equal(dpt_baggage_count(bg), 4);
    assert_string_equal(dpt_baggage_get(bg, "k1"), "v1");
    assert_string_equal(dpt_baggage_get(bg, "k2"), "a,b");
    assert_string_equal(dpt_baggage_get(bg, "k4"), "v4");
    assert_string_equal(dpt_baggage_get(bg, "k5"), "new");
    /* Jaeger clients never write it: the entries go out as uberctx-<key>. */
    assert_int_equal(dpt_propagator_inject(dpt_propagator_jaeger(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_null(dpt_headers_get(&out, "jaeger-baggage", 0, NULL));
    assert_string_equal(dpt_headers_get(&out, "uberctx-k2", 0, NULL), "a%2Cb");
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
}

/* A percent-decoded NUL is part of the value (W3C Baggage decoding keeps every octet); it
 * goes back out encoded, not cut. */
static void test_jaeger_baggage_values_keep_their_length(void **st)
{
    (void)st;
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "uberctx-k", DPT_NUL, "a%00b", DPT_NUL);
    dpt_context *c = NULL;
    dpt_propagator_extract(dpt_propagator_jaeger(), &dpt_headers_getter, &in, &c);
    size_t vl = 0;
    const char *v = dpt_baggage_get_n(dpt_context_baggage(c), "k", DPT_NUL, &vl);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "a\0b", 3);
    assert_int_equal(dpt_propagator_inject(dpt_propagator_jaeger(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "uberctx-k", 0, NULL), "a%00b");
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jaeger_parses_full_ids),
        cmocka_unit_test(test_jaeger_pads_short_ids_and_accepts_uppercase),
        cmocka_unit_test(test_jaeger_accepts_percent_encoded_separators),
        cmocka_unit_test(test_jaeger_debug_flag_implies_sampled),
        cmocka_unit_test(test_jaeger_rejects_malformed_values),
        cmocka_unit_test(test_jaeger_null_arguments),
        cmocka_unit_test(test_jaeger_propagator_reads_and_writes_uberctx_baggage),
        cmocka_unit_test(test_jaeger_repeated_trace_header_first_value_wins),
        cmocka_unit_test(test_jaeger_baggage_header),
        cmocka_unit_test(test_jaeger_baggage_values_keep_their_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
