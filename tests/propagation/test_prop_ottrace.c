/* test_prop_ottrace.c - the OpenTracing "ottrace" propagator (ot-tracer-*, ot-baggage-*).
 *
 * There is no written specification: each test names the implementation whose behaviour it
 * checks (OpenTelemetry JS @opentelemetry/propagator-ot-trace 0.29, OpenTelemetry Go
 * contrib propagators/ot, the OpenTracing basictracer), or says "dptrace's own choice".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define T16 "64fe8b2a57d3eff7"
#define T32 "80f198ee56343ba8" T16
#define S16 "e457b5a2e4d86bd1"

static dpt_context *extract(const char *const *kv, dpt_err *rc)
{
    dpt_headers h = DPT_HEADERS_INIT;
    for (; kv[0]; kv += 2)
        dpt_headers_add(&h, kv[0], DPT_NUL, kv[1], DPT_NUL);
    dpt_context *c = NULL;
    *rc = dpt_propagator_extract(dpt_propagator_ottrace(), &dpt_headers_getter, &h, &c);
    dpt_headers_free(&h);
    assert_non_null(c);
    return c;
}

static const char *trace_hex(const dpt_context *c, char h[33])
{
    dpt_span_context sc = dpt_context_span_context(c);
    dpt_trace_id_to_hex(&sc.trace_id, h);
    return h;
}

/* OpenTelemetry JS / Go: a 16-digit trace id is the low half of the trace id (padded with
 * zeros on the left); the context is remote, sampled by "true". Injection writes the same
 * three fields back, sampled as "true"/"false" (JS). */
static void test_ottrace_round_trip_64_bit(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract((const char *[]){"ot-tracer-traceid", T16, "ot-tracer-spanid", S16,
                                              "ot-tracer-sampled", "true", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    char h[33];
    assert_string_equal(trace_hex(c, h), "0000000000000000" T16);
    dpt_span_context sc = dpt_context_span_context(c);
    assert_true(sc.remote);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_inject(dpt_propagator_ottrace(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-traceid", 0, NULL), T16);
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-spanid", 0, NULL), S16);
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-sampled", 0, NULL), "true");
    dpt_headers_free(&out);
    dpt_context_release(c);
}

/* OpenTelemetry JS / Go: a 128-bit trace id is read whole but written as its low 64 bits
 * (the field is 64-bit: "trace ids MUST be 64-bits" for interop, Go's comment). */
static void test_ottrace_128_bit_trace_id_is_sent_as_its_low_half(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract((const char *[]){"ot-tracer-traceid", T32, "ot-tracer-spanid", S16,
                                              "ot-tracer-sampled", "false", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    char h[33];
    assert_string_equal(trace_hex(c, h), T32);
    dpt_headers out = DPT_HEADERS_INIT;
    dpt_propagator_inject(dpt_propagator_ottrace(), c, &dpt_headers_setter, &out);
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-traceid", 0, NULL), T16);
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-sampled", 0, NULL), "false");
    dpt_headers_free(&out);
    dpt_context_release(c);
}

/* OpenTracing basictracer (propagation_ot.go) writes ids with strconv.FormatInt(id, 16):
 * no leading zeros. dptrace's own choice: read 1-32 / 1-16 digits of either case, padded,
 * and write them back as 16 lowercase digits (OpenTelemetry JS rejects short ids). */
static void test_ottrace_accepts_short_and_uppercase_ids(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract((const char *[]){"ot-tracer-traceid", "A1B2", "ot-tracer-spanid", "3c",
                                              "ot-tracer-sampled", "true", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    char h[33];
    assert_string_equal(trace_hex(c, h), "0000000000000000000000000000a1b2");
    dpt_headers out = DPT_HEADERS_INIT;
    dpt_propagator_inject(dpt_propagator_ottrace(), c, &dpt_headers_setter, &out);
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-traceid", 0, NULL), "000000000000a1b2");
    assert_string_equal(dpt_headers_get(&out, "ot-tracer-spanid", 0, NULL), "000000000000003c");
    dpt_headers_free(&out);
    dpt_context_release(c);
}

/* basictracer reads ot-tracer-sampled with strconv.ParseBool; OpenTelemetry Go reads
 * "0"/"false"/"1"/"true" case-insensitively and rejects the context for anything else
 * (errInvalidSampledHeader); absent (or empty: Go cannot tell them apart) means no decision,
 * so not sampled. dptrace follows Go. */
static void test_ottrace_sampled_values(void **st)
{
    (void)st;
    struct {
        const char *v;
        dpt_err rc;
        uint8_t flags;
    } cases[] = {
        {"true", DPT_OK, 1},  {"TRUE", DPT_OK, 1},  {"1", DPT_OK, 1},  {"false", DPT_OK, 0},
        {"False", DPT_OK, 0}, {"0", DPT_OK, 0},     {NULL, DPT_OK, 0}, {"yes", DPT_EPARSE, 0},
        {"", DPT_OK, 0},      {"2", DPT_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_err rc;
        const char *kv[] = {"ot-tracer-traceid",
                            T16,
                            "ot-tracer-spanid",
                            S16,
                            cases[i].v ? "ot-tracer-sampled" : NULL,
                            cases[i].v,
                            NULL};
        dpt_context *c = extract(kv, &rc);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(dpt_context_span_context(c).flags, cases[i].flags);
        dpt_context_release(c);
    }
}

/* OpenTelemetry Go: "require either both traceID and spanID or none"; all-zero and
 * over-long ids are not ids. Every rejection is counted. */
static void test_ottrace_rejects_incomplete_or_bad_ids(void **st)
{
    (void)st;
    const char *const cases[][5] = {
        {"ot-tracer-traceid", T16, NULL},
        {"ot-tracer-spanid", S16, NULL},
        {"ot-tracer-traceid", "0000000000000000", "ot-tracer-spanid", S16, NULL},
        {"ot-tracer-traceid", T16, "ot-tracer-spanid", "0", NULL},
        {"ot-tracer-traceid", T32 "1", "ot-tracer-spanid", S16, NULL},
        {"ot-tracer-traceid", T16, "ot-tracer-spanid", S16 "1", NULL},
        {"ot-tracer-traceid", "xyz", "ot-tracer-spanid", S16, NULL},
    };
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_err rc;
        dpt_context *c = extract(cases[i], &rc);
        assert_int_equal(rc, DPT_EPARSE);
        dpt_span_context sc = dpt_context_span_context(c);
        assert_false(dpt_span_context_is_valid(&sc));
        dpt_context_release(c);
    }
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(after[DPT_PSTAT_OTTRACE_INVALID], before[DPT_PSTAT_OTTRACE_INVALID] + 7);
    assert_string_equal(dpt_propagation_stat_name(DPT_PSTAT_OTTRACE_INVALID), "ottrace_invalid");
}

/* OpenTelemetry JS: ot-baggage-<key> values are raw (no percent coding) and read only along
 * a valid span context; on inject, entries whose key is not a header name or whose value
 * is not a header value are skipped (dptrace counts them). */
static void test_ottrace_baggage(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c =
        extract((const char *[]){"ot-tracer-traceid", T16, "ot-tracer-spanid", S16,
                                 "OT-Baggage-User", "alice b%20", "ot-baggage-tier", "gold", NULL},
                &rc);
    assert_int_equal(rc, DPT_OK);
    const dpt_baggage *bg = dpt_context_baggage(c);
    assert_int_equal(dpt_baggage_count(bg), 2);
    assert_string_equal(dpt_baggage_get(bg, "user"), "alice b%20");
    dpt_baggage *b2 = NULL;
    dpt_baggage_set_n(bg, "ctl", DPT_NUL, "a\nb", DPT_NUL, NULL, 0, &b2);
    dpt_context *c2 = dpt_context_with_baggage(c, b2);
    dpt_headers out = DPT_HEADERS_INIT;
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    assert_int_equal(dpt_propagator_inject(dpt_propagator_ottrace(), c2, &dpt_headers_setter, &out),
                     DPT_OK);
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_string_equal(dpt_headers_get(&out, "ot-baggage-user", 0, NULL), "alice b%20");
    assert_string_equal(dpt_headers_get(&out, "ot-baggage-tier", 0, NULL), "gold");
    assert_null(dpt_headers_get(&out, "ot-baggage-ctl", 0, NULL));
    assert_int_equal(after[DPT_PSTAT_BAGGAGE_ENTRIES_NOT_SENT],
                     before[DPT_PSTAT_BAGGAGE_ENTRIES_NOT_SENT] + 1);
    dpt_headers_free(&out);
    dpt_context_release(c2);
    dpt_baggage_release(b2);
    dpt_context_release(c);
    /* no valid context: the baggage is not read either */
    c = extract((const char *[]){"ot-baggage-user", "alice", NULL}, &rc);
    assert_int_equal(rc, DPT_ENOTFOUND);
    assert_int_equal(dpt_baggage_count(dpt_context_baggage(c)), 0);
    dpt_context_release(c);
}

/* OpenTelemetry JS reads the first value of a repeated field (readHeader), which is also
 * B3's rule for its state headers: "the first value wins". */
static void test_ottrace_repeated_fields_first_value_wins(void **st)
{
    (void)st;
    dpt_err rc;
    dpt_context *c = extract((const char *[]){"ot-tracer-traceid", T16, "ot-tracer-traceid", "1",
                                              "ot-tracer-spanid", S16, "ot-tracer-sampled", "true",
                                              "ot-tracer-sampled", "bogus", NULL},
                             &rc);
    assert_int_equal(rc, DPT_OK);
    char h[33];
    assert_string_equal(trace_hex(c, h), "0000000000000000" T16);
    dpt_context_release(c);
}

static void test_ottrace_fields_and_empty_inject(void **st)
{
    (void)st;
    const char *f[4];
    assert_int_equal(dpt_propagator_fields(dpt_propagator_ottrace(), f, 4), 3);
    assert_string_equal(f[0], "ot-tracer-traceid");
    assert_string_equal(f[1], "ot-tracer-spanid");
    assert_string_equal(f[2], "ot-tracer-sampled");
    dpt_context *c = dpt_context_new(NULL, NULL, NULL);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_inject(dpt_propagator_ottrace(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_int_equal(out.n, 0);
    dpt_context_release(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ottrace_round_trip_64_bit),
        cmocka_unit_test(test_ottrace_128_bit_trace_id_is_sent_as_its_low_half),
        cmocka_unit_test(test_ottrace_accepts_short_and_uppercase_ids),
        cmocka_unit_test(test_ottrace_sampled_values),
        cmocka_unit_test(test_ottrace_rejects_incomplete_or_bad_ids),
        cmocka_unit_test(test_ottrace_baggage),
        cmocka_unit_test(test_ottrace_repeated_fields_first_value_wins),
        cmocka_unit_test(test_ottrace_fields_and_empty_inject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
