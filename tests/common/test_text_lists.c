/* test_text_lists.c - the comma-separated list helpers of src/common/text.c and the one
 * reader of OpenTelemetry's key=value lists (OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_HEADERS and the configuration file's *_list forms). */
#include "test_util.h"
#include "common.h"

/* Every member dpt__list_next yields, joined with '|'. */
static const char *members(const char *s)
{
    static char out[256];
    size_t pos = 0, o = 0, ml;
    const char *m;
    out[0] = 0;
    while (dpt__list_next(s, strlen(s), &pos, &m, &ml)) {
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", o ? "|" : "", (int)ml, m);
        assert_true(o < sizeof out);
    }
    return out;
}

/* W3C Baggage: "list-member 0*179( OWS "," OWS list-member )"; empty members arise from
 * header lines joined with ',' and are skipped (dptrace's own choice, as before). */
static void test_list_members_are_trimmed_and_empty_ones_skipped(void **state)
{
    (void)state;
    assert_string_equal(members(""), "");
    assert_string_equal(members(" , ,\t"), "");
    assert_string_equal(members("a"), "a");
    assert_string_equal(members(" a ,\tb c\t,,d,"), "a|b c|d");
    assert_string_equal(members(",x"), "x");
}

static void test_kv_split_at_the_first_equals_sign_with_ows_trimmed(void **state)
{
    (void)state;
    const char *m = " k = v=w ", *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    assert_true(dpt__kv_split(m, strlen(m), &k, &kl, &v, &vl));
    assert_int_equal(kl, 1);
    assert_memory_equal(k, "k", 1);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "v=w", 3);
    assert_true(dpt__kv_split("k=", 2, &k, &kl, &v, &vl));
    assert_int_equal(vl, 0);
    assert_false(dpt__kv_split("novalue", 7, &k, &kl, &v, &vl));
}

/* resource/sdk.md: "The `,` and `=` characters in keys and values MUST be percent
 * encoded. Other characters MAY be percent-encoded"; exporter.md: headers "in a format
 * matching to the W3C Baggage". */
static void test_kvlist_decodes_keys_and_values(void **state)
{
    (void)state;
    const char *s = " a%2Cb = x%3Dy%20z , e=, n=%00%41";
    dpt__kvlist it;
    dpt__kvlist_init(&it, s, strlen(s));
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_MEMBER);
    assert_string_equal(it.key.p, "a,b");
    assert_string_equal(it.value.p, "x=y z");
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_MEMBER);
    assert_string_equal(it.key.p, "e");
    assert_string_equal(it.value.p, ""); /* an empty value is a value */
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_MEMBER);
    assert_int_equal(it.value.len, 2); /* "%00" is a NUL byte, kept with the length */
    assert_memory_equal(it.value.p, "\0A", 2);
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_END);
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_END);
    dpt__kvlist_free(&it);
}

/* The escapes that are rejected: RFC 3986 section 2.1, 'pct-encoded = "%" HEXDIG HEXDIG':
 * a '%' not followed by two hex digits (of either case) makes the member malformed. A
 * member without '=' or with an empty key is malformed too. The cursor moves on, so a
 * caller may drop the member alone. */
static void test_kvlist_reports_malformed_members_and_moves_on(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "k=%", "k=%4", "k=%zz", "k=%4g", "k=a%", "k%=v", "%G1=v", "k=%%41", "novalue", "=v", " = v",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s,ok=1", bad[i]);
        dpt__kvlist it;
        dpt__kvlist_init(&it, s, strlen(s));
        assert_int_equal(dpt__kvlist_next(&it), DPT__KV_MALFORMED);
        assert_int_equal(it.ml, strlen(bad[i]) - (bad[i][0] == ' ' ? 1 : 0));
        assert_int_equal(dpt__kvlist_next(&it), DPT__KV_MEMBER);
        assert_string_equal(it.key.p, "ok");
        dpt__kvlist_free(&it);
    }
    /* Hex digits of either case are accepted. */
    dpt__kvlist it;
    dpt__kvlist_init(&it, "k=%4a%4A", 8);
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_MEMBER);
    assert_string_equal(it.value.p, "JJ");
    dpt__kvlist_free(&it);
    dpt__kvlist_init(&it, NULL, 0);
    assert_int_equal(dpt__kvlist_next(&it), DPT__KV_END);
    dpt__kvlist_free(&it);
}

static void test_kvlist_reports_out_of_memory(void **state)
{
    (void)state;
    dpt__kvlist it;
    dpt__kvlist_init(&it, "key=value", 9);
    dpt__test_fail_alloc_after(0);
    int r = dpt__kvlist_next(&it);
    dpt__test_fail_alloc_after(-1);
    assert_int_equal(r, DPT__KV_ENOMEM);
    dpt__kvlist_free(&it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_members_are_trimmed_and_empty_ones_skipped),
        cmocka_unit_test(test_kv_split_at_the_first_equals_sign_with_ows_trimmed),
        cmocka_unit_test(test_kvlist_decodes_keys_and_values),
        cmocka_unit_test(test_kvlist_reports_malformed_members_and_moves_on),
        cmocka_unit_test(test_kvlist_reports_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
