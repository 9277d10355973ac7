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
        "", T32 ":" S16 ":0", T32 ":" S16 ":0:1:5", T32 "1:" S16 ":0:1", T32 ":" S16 "1:0:1",
        T32 ":" S16 ":0:100", T32 ":" S16 ":0:", ":" S16 ":0:1", T32 "::0:1", T32 ":" S16 ":x:1",
        "0:" S16 ":0:1", T32 ":0:0:1", T32 ":" S16 ":0:1%", T32 "%3G" S16 ":0:1", "g:1:0:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpt_span_context sc;
        if (dpt_jaeger_parse(bad[i], DPT_NUL, &sc, NULL) != DPT_EPARSE) fail_msg("accepted: %s", bad[i]);
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
    assert_int_equal(dpt_propagator_extract(dpt_propagator_jaeger(), &dpt_headers_getter, &in, &c), DPT_OK);
    const dpt_baggage *bg = dpt_context_baggage(c);
    assert_int_equal(dpt_baggage_count(bg), 2);
    assert_string_equal(dpt_baggage_get(bg, "user"), "alice b");
    assert_string_equal(dpt_baggage_get(bg, "tier"), "gold");
    assert_int_equal(dpt_propagator_inject(dpt_propagator_jaeger(), c, &dpt_headers_setter, &out), DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "uber-trace-id", 0, NULL), T32 ":" S16 ":0:01");
    assert_string_equal(dpt_headers_get(&out, "uberctx-user", 0, NULL), "alice%20b");
    assert_string_equal(dpt_headers_get(&out, "uberctx-tier", 0, NULL), "gold");
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
}

static void test_jaeger_repeated_trace_header_is_invalid(void **st)
{
    (void)st;
    dpt_headers in = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "uber-trace-id", DPT_NUL, T32 ":" S16 ":0:1", DPT_NUL);
    dpt_headers_add(&in, "uber-trace-id", DPT_NUL, T32 ":" S16 ":0:1", DPT_NUL);
    dpt_context *c = NULL;
    assert_int_equal(dpt_propagator_extract(dpt_propagator_jaeger(), &dpt_headers_getter, &in, &c), DPT_EPARSE);
    dpt_context_release(c);
    dpt_headers_free(&in);
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
        cmocka_unit_test(test_jaeger_repeated_trace_header_is_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
