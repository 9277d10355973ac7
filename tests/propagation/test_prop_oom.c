/* test_prop_oom.c - propagation under allocation failure: every allocation of an
 * extract / inject round trip is made to fail in turn; each call must report DPT_ENOMEM
 * (or succeed) and leave nothing behind (the sanitizer builds check for leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"
#include "common.h" /* dpt__test_fail_alloc_after */

static const dpt_header in_headers[] = {
    {"traceparent", 11, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55},
    {"tracestate", 10, "a=1,b=2", 7},
    {"tracestate", 10, "c=3", 3},
    {"baggage", 7, "user=alice%20b,tier=gold;p=1", 28},
    {"uberctx-region", 14, "eu", 2},
    {"b3", 2, "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", 51},
};

static void roundtrip(const dpt_propagator *p, long fail_after, bool *completed)
{
    dpt_headers in, out = DPT_HEADERS_INIT;
    dpt_headers_wrap(&in, in_headers, sizeof in_headers / sizeof in_headers[0]);
    dpt__test_fail_alloc_after(fail_after);
    dpt_context *c = NULL;
    dpt_err e = dpt_propagator_extract(p, &dpt_headers_getter, &in, &c);
    if (e == DPT_ENOMEM) {
        assert_null(c);
    } else {
        assert_int_equal(e, DPT_OK);
        assert_non_null(c);
        dpt_err ie = dpt_propagator_inject(p, c, &dpt_headers_setter, &out);
        assert_true(ie == DPT_OK || ie == DPT_ENOMEM);
        if (ie == DPT_OK) {
            /* A successful inject wrote everything. */
            assert_non_null(dpt_headers_get(&out, "traceparent", 0, NULL));
            assert_non_null(dpt_headers_get(&out, "baggage", 0, NULL));
            *completed = true;
        }
        char **envp = NULL;
        dpt_err ee = dpt_env_inject_envp(p, c, NULL, &envp);
        assert_true(ee == DPT_OK || ee == DPT_ENOMEM);
        dpt_env_free(envp);
    }
    dpt__test_fail_alloc_after(-1);
    dpt_context_release(c);
    dpt_headers_free(&out);
}

static void test_every_allocation_failure_is_reported_and_leak_free(void **st)
{
    (void)st;
    dpt_propagator *p = dpt_propagator_from_names("tracecontext,baggage,jaeger,b3,ottrace");
    assert_non_null(p);
    bool completed = false;
    long n = 0;
    /* Walk up until a whole round trip succeeds with no failure injected in its range. */
    for (; n < 2000 && !completed; n++)
        roundtrip(p, n, &completed);
    assert_true(completed);
    assert_true(n > 3); /* several allocations really were failed on the way */
    dpt_propagator_free(p);
}

static void test_baggage_parse_under_allocation_failure(void **st)
{
    (void)st;
    const char *v = "a=1,b=%E2%82%AC,c=3;p,d=%FF";
    bool ok = false;
    for (long n = 0; n < 500 && !ok; n++) {
        dpt_baggage *b = NULL;
        dpt__test_fail_alloc_after(n);
        dpt_err e = dpt_w3c_baggage_parse(v, DPT_NUL, NULL, &b, NULL);
        dpt__test_fail_alloc_after(-1);
        assert_true(e == DPT_OK || e == DPT_ENOMEM);
        if (e == DPT_OK) {
            ok = dpt_baggage_count(b) == 4;
            assert_true(ok);
        } else {
            assert_null(b);
        }
        dpt_baggage_release(b);
    }
    assert_true(ok);
}

static void test_stats_null_argument(void **st)
{
    (void)st;
    assert_int_equal(dpt_propagation_get_stats(NULL, 0), dpt_propagation_get_stats(NULL, 99));
    assert_true(dpt_propagation_get_stats(NULL, 0) >= DPT_PSTAT_BUILTIN_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_failure_is_reported_and_leak_free),
        cmocka_unit_test(test_baggage_parse_under_allocation_failure),
        cmocka_unit_test(test_stats_null_argument),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
