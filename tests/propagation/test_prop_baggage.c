/* test_prop_baggage.c - W3C Baggage: parsing (percent-encoding, properties, invalid
 * members, limits), serializing, and the baggage propagator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

static dpt_baggage *parse(const char *s, uint32_t *dropped)
{
    dpt_baggage *b = NULL;
    assert_int_equal(dpt_w3c_baggage_parse(s, DPT_NUL, NULL, &b, dropped), DPT_OK);
    return b;
}

static char *format(const dpt_baggage *b, uint32_t *dropped)
{
    char *s = NULL;
    size_t len = 0;
    assert_int_equal(dpt_w3c_baggage_format(b, &s, &len, dropped), DPT_OK);
    if (s) assert_int_equal(strlen(s), len);
    return s;
}

static void test_baggage_parses_members_with_whitespace(void **st)
{
    (void)st;
    uint32_t d = 9;
    dpt_baggage *b = parse(" userId = alice , serverNode=DF%2028,\tisProduction=false\t", &d);
    assert_int_equal(d, 0);
    assert_int_equal(dpt_baggage_count(b), 3);
    assert_string_equal(dpt_baggage_get(b, "userId"), "alice");
    assert_string_equal(dpt_baggage_get(b, "serverNode"), "DF 28");
    assert_string_equal(dpt_baggage_get(b, "isProduction"), "false");
    dpt_baggage_release(b);
}

static void test_baggage_decodes_percent_encoded_utf8(void **st)
{
    (void)st;
    dpt_baggage *b = parse("k=%E2%82%AC%2C%3B", NULL);
    assert_string_equal(dpt_baggage_get(b, "k"), "\xE2\x82\xAC,;");
    dpt_baggage_release(b);
}

static void test_baggage_replaces_invalid_utf8_with_replacement_character(void **st)
{
    (void)st;
    dpt_baggage *b = parse("k=a%FFb", NULL);
    assert_string_equal(dpt_baggage_get(b, "k"), "a\xEF\xBF\xBD"
                                                 "b");
    dpt_baggage_release(b);
}

static void test_baggage_drops_bad_percent_escape_but_keeps_other_members(void **st)
{
    (void)st;
    uint32_t d = 0;
    dpt_baggage *b = parse("a=1,b=%ZZ,c=%4,d=%,e=5", &d);
    assert_int_equal(d, 3);
    assert_int_equal(dpt_baggage_count(b), 2);
    assert_string_equal(dpt_baggage_get(b, "a"), "1");
    assert_string_equal(dpt_baggage_get(b, "e"), "5");
    dpt_baggage_release(b);
}

static void test_baggage_drops_invalid_members_without_losing_valid_ones(void **st)
{
    (void)st;
    uint32_t d = 0;
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    /* no '=', empty key, key not a token, space / quote / backslash in value, bad property */
    dpt_baggage *b = parse("ok1=1,novalue,=v,k y=1,bad=a b,q=\"x\",bs=a\\b,p=1;=x,ok2=2;prop", &d);
    assert_int_equal(d, 7);
    assert_int_equal(dpt_baggage_count(b), 2);
    assert_string_equal(dpt_baggage_get(b, "ok1"), "1");
    assert_string_equal(dpt_baggage_get(b, "ok2"), "2");
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(after[DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED],
                     before[DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED] + 7);
    dpt_baggage_release(b);
}

static void test_baggage_keeps_properties_as_metadata(void **st)
{
    (void)st;
    dpt_baggage *b =
        parse("key1=value1;property1;property2, key3=value3; propertyKey = propertyValue ", NULL);
    const char *k, *v, *m;
    assert_int_equal(dpt_baggage_entry(b, 0, &k, &v, &m), DPT_OK);
    assert_string_equal(m, "property1;property2");
    assert_int_equal(dpt_baggage_entry(b, 1, &k, &v, &m), DPT_OK);
    assert_string_equal(v, "value3");
    assert_string_equal(m, "propertyKey = propertyValue");
    char *s = format(b, NULL);
    assert_string_equal(s,
                        "key1=value1;property1;property2,key3=value3;propertyKey = propertyValue");
    dpt_free(s);
    dpt_baggage_release(b);
}

static void test_baggage_accepts_empty_value(void **st)
{
    (void)st;
    dpt_baggage *b = parse("k=", NULL);
    assert_string_equal(dpt_baggage_get(b, "k"), "");
    dpt_baggage_release(b);
}

static void test_baggage_repeated_key_keeps_first_position_last_value(void **st)
{
    (void)st;
    dpt_baggage *b = parse("a=1,b=2,a=3", NULL);
    char *s = format(b, NULL);
    assert_string_equal(s, "a=3,b=2");
    dpt_free(s);
    dpt_baggage_release(b);
}

static void test_baggage_ignores_empty_members_from_joined_lines(void **st)
{
    (void)st;
    uint32_t d = 5;
    dpt_baggage *b = parse(",a=1,, ,b=2,", &d);
    assert_int_equal(d, 0);
    assert_int_equal(dpt_baggage_count(b), 2);
    dpt_baggage_release(b);
}

/* W3C Baggage, value: "Any code points outside of the baggage-octet range MUST be
 * percent-encoded" and decoding restores them, so "%00" is a NUL octet inside the value,
 * not its end: k=a%00b,x=1%00,y=%002 round-trips exactly. */
static void test_baggage_percent_encoded_nul_keeps_the_value_length(void **st)
{
    (void)st;
    dpt_baggage *b = parse("k=a%00b,x=1%00,y=%002", NULL);
    struct {
        const char *k, *v;
        size_t n;
    } want[] = {{"k", "a\0b", 3},
                {"x", "1\0", 2},
                {"y",
                 "\0"
                 "2",
                 2}};
    for (size_t i = 0; i < 3; i++) {
        size_t vl = 99;
        const char *v = dpt_baggage_get_n(b, want[i].k, DPT_NUL, &vl);
        assert_non_null(v);
        assert_int_equal(vl, want[i].n);
        assert_memory_equal(v, want[i].v, vl);
    }
    char *s = format(b, NULL);
    assert_string_equal(s, "k=a%00b,x=1%00,y=%002");
    dpt_free(s);
    /* through the propagator too */
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "baggage", DPT_NUL, "k=a%00b,x=1%00,y=%002", DPT_NUL);
    dpt_context *c = NULL;
    dpt_propagator_extract(dpt_propagator_baggage(), &dpt_headers_getter, &in, &c);
    assert_int_equal(dpt_propagator_inject(dpt_propagator_baggage(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "baggage", 0, NULL), "k=a%00b,x=1%00,y=%002");
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
    dpt_baggage_release(b);
}

/* dptrace's own rule (docs/security.md): properties are key=value pairs like entries, so a
 * property whose key is sensitive has its value redacted like an entry's value would be:
 * user=bob;token=abc;secret=xyz keeps "user=bob" and hides token and secret. */
static void test_baggage_sensitive_properties_are_redacted(void **st)
{
    (void)st;
    dpt_baggage *b = parse("user=bob;token=abc;secret=xyz;plain=1;flag", NULL);
    assert_string_equal(dpt_baggage_get(b, "user"), "bob");
    const char *k, *v, *m;
    assert_int_equal(dpt_baggage_entry(b, 0, &k, &v, &m), DPT_OK);
    assert_string_equal(m, "token=" DPT_REDACTED ";secret=" DPT_REDACTED ";plain=1;flag");
    assert_null(strstr(m, "abc"));
    assert_null(strstr(m, "xyz"));
    char *s = format(b, NULL);
    assert_string_equal(s, "user=bob;token=" DPT_REDACTED ";secret=" DPT_REDACTED ";plain=1;flag");
    dpt_free(s);
    dpt_baggage_release(b);
    /* the API path redacts the same way */
    dpt_baggage *b2 = NULL;
    assert_int_equal(dpt_baggage_set(NULL, "user", "bob", "api_key = k1 ;x=2", &b2), DPT_OK);
    assert_int_equal(dpt_baggage_entry(b2, 0, &k, &v, &m), DPT_OK);
    assert_string_equal(m, "api_key =" DPT_REDACTED ";x=2");
    dpt_baggage_release(b2);
}

/* W3C Baggage, Limits: "A platform MUST propagate all list-members ... whenever both of
 * these conditions are met: ... 64 list-members or less ... 8192 bytes or less"; and the
 * grammar allows at most 180 ("list-member 0*179( OWS "," OWS list-member )"). dptrace
 * reads and sends up to 180 members within 8192 bytes and drops whole members beyond:
 * "it MUST NOT propagate any partial list-members". */
static void test_baggage_limits_follow_the_current_w3c_text(void **st)
{
    (void)st;
    char buf[4096];
    size_t o = 0;
    for (int i = 0; i < 181; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%sk%d=%d", i ? "," : "", i, i);
    uint32_t d = 0;
    dpt_baggage *b = parse(buf, &d);
    assert_int_equal(dpt_baggage_count(b), 180);
    assert_int_equal(d, 1);
    char *s = format(b, &d);
    assert_int_equal(d, 0);
    assert_non_null(strstr(s, ",k179=179"));
    assert_null(strstr(s, "k180="));
    dpt_free(s);
    dpt_baggage_release(b);
}

static void test_baggage_propagates_64_entries_within_8192_bytes(void **st)
{
    (void)st;
    char in[8192 + 64];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "%sk%02d=%0110d", i ? "," : "", i, i);
    assert_true(n <= 8192);
    uint32_t d = 1;
    dpt_baggage *b = parse(in, &d);
    assert_int_equal(d, 0);
    assert_int_equal(dpt_baggage_count(b), 64);
    char *s = format(b, &d);
    assert_int_equal(d, 0);
    assert_string_equal(s, in);
    dpt_free(s);
    dpt_baggage_release(b);
}

static void test_baggage_beyond_8192_bytes_drops_whole_members(void **st)
{
    (void)st;
    /* three members of 3000 bytes: the third would pass 8192 and is dropped whole, while
     * a small one after it still fits. */
    static char in[10000];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        n += (size_t)snprintf(in + n, sizeof in - n, "%sbig%d=", i ? "," : "", i);
        memset(in + n, 'x', 2994);
        n += 2994;
    }
    n += (size_t)snprintf(in + n, sizeof in - n, ",small=1");
    uint32_t d = 0;
    dpt_baggage *b = parse(in, &d);
    assert_int_equal(d, 1);
    assert_int_equal(dpt_baggage_count(b), 3);
    assert_null(dpt_baggage_get(b, "big2"));
    assert_string_equal(dpt_baggage_get(b, "small"), "1");
    dpt_baggage_release(b);
}

static void test_baggage_format_never_sends_a_partial_entry(void **st)
{
    (void)st;
    static char big[5000];
    memset(big, 'v', sizeof big - 1);
    dpt_baggage *b = NULL, *b2 = NULL, *b3 = NULL;
    assert_int_equal(dpt_baggage_set(NULL, "a", big, NULL, &b), DPT_OK);
    assert_int_equal(dpt_baggage_set(b, "b", big, NULL, &b2), DPT_OK);
    assert_int_equal(dpt_baggage_set(b2, "c", "1", NULL, &b3), DPT_OK);
    uint32_t d = 0;
    char *s = format(b3, &d);
    assert_int_equal(d, 1);
    assert_true(strlen(s) <= DPT_W3C_BAGGAGE_MAX_BYTES);
    assert_int_equal(strncmp(s, "a=vvv", 5), 0);
    assert_non_null(strstr(s, ",c=1"));
    assert_null(strstr(s, "b="));
    dpt_free(s);
    dpt_baggage_release(b);
    dpt_baggage_release(b2);
    dpt_baggage_release(b3);
}

static void test_baggage_format_percent_encodes_values(void **st)
{
    (void)st;
    dpt_baggage *b = NULL;
    assert_int_equal(dpt_baggage_set(NULL, "k", "a b,c;d%e\xE2\x82\xAC", NULL, &b), DPT_OK);
    char *s = format(b, NULL);
    assert_string_equal(s, "k=a%20b%2Cc%3Bd%25e%E2%82%AC");
    dpt_baggage *back = parse(s, NULL);
    assert_string_equal(dpt_baggage_get(back, "k"), "a b,c;d%e\xE2\x82\xAC");
    dpt_free(s);
    dpt_baggage_release(b);
    dpt_baggage_release(back);
}

static void test_baggage_format_skips_keys_that_are_not_tokens(void **st)
{
    (void)st;
    dpt_baggage *b = NULL, *b2 = NULL;
    assert_int_equal(dpt_baggage_set(NULL, "bad key", "1", NULL, &b), DPT_OK);
    assert_int_equal(dpt_baggage_set(b, "good", "2", NULL, &b2), DPT_OK);
    uint32_t d = 0;
    char *s = format(b2, &d);
    assert_int_equal(d, 1);
    assert_string_equal(s, "good=2");
    dpt_free(s);
    dpt_baggage_release(b);
    dpt_baggage_release(b2);
}

static void test_baggage_format_of_empty_baggage_is_null(void **st)
{
    (void)st;
    char *s = (char *)1;
    size_t len = 7;
    assert_int_equal(dpt_w3c_baggage_format(NULL, &s, &len, NULL), DPT_OK);
    assert_null(s);
    assert_int_equal(len, 0);
}

static void test_baggage_parse_adds_to_base(void **st)
{
    (void)st;
    dpt_baggage *base = NULL, *b = NULL;
    assert_int_equal(dpt_baggage_set(NULL, "x", "0", NULL, &base), DPT_OK);
    assert_int_equal(dpt_w3c_baggage_parse("y=1", DPT_NUL, base, &b, NULL), DPT_OK);
    assert_int_equal(dpt_baggage_count(b), 2);
    assert_int_equal(dpt_baggage_count(base), 1);
    dpt_baggage_release(base);
    dpt_baggage_release(b);
}

static void test_baggage_null_arguments(void **st)
{
    (void)st;
    dpt_baggage *b = NULL;
    assert_int_equal(dpt_w3c_baggage_parse(NULL, 0, NULL, &b, NULL), DPT_EINVAL);
    assert_int_equal(dpt_w3c_baggage_parse("a=1", DPT_NUL, NULL, NULL, NULL), DPT_EINVAL);
    assert_int_equal(dpt_w3c_baggage_format(NULL, NULL, NULL, NULL), DPT_EINVAL);
}

static void test_baggage_propagator_combines_lines_and_injects(void **st)
{
    (void)st;
    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "Baggage", DPT_NUL, "a=1", DPT_NUL);
    dpt_headers_add(&in, "BAGGAGE", DPT_NUL, "b=2", DPT_NUL);
    dpt_context *c = NULL;
    /* baggage alone is not a trace: ENOTFOUND, but the context carries it */
    assert_int_equal(dpt_propagator_extract(dpt_propagator_baggage(), &dpt_headers_getter, &in, &c),
                     DPT_ENOTFOUND);
    assert_int_equal(dpt_baggage_count(dpt_context_baggage(c)), 2);
    assert_int_equal(dpt_propagator_inject(dpt_propagator_baggage(), c, &dpt_headers_setter, &out),
                     DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "baggage", 0, NULL), "a=1,b=2");
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);
}

static void test_baggage_lines_past_64k_are_dropped_whole(void **st)
{
    (void)st;
    static char big[70000];
    memset(big, 'v', sizeof big - 1);
    memcpy(big, "big=", 4);
    dpt_headers h = DPT_HEADERS_INIT;
    dpt_headers_add(&h, "baggage", DPT_NUL, "a=1", DPT_NUL);
    dpt_headers_add(&h, "baggage", DPT_NUL, big, DPT_NUL);
    dpt_context *c = NULL;
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    assert_int_equal(dpt_propagator_extract(dpt_propagator_baggage(), &dpt_headers_getter, &h, &c),
                     DPT_ENOTFOUND);
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(dpt_baggage_count(dpt_context_baggage(c)), 1);
    assert_string_equal(dpt_baggage_get(dpt_context_baggage(c), "a"), "1");
    assert_true(after[DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED] >
                before[DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED]);
    dpt_context_release(c);
    dpt_headers_free(&h);
    /* a single line over the bound: nothing, and no error */
    dpt_headers_add(&h, "baggage", DPT_NUL, big, DPT_NUL);
    assert_int_equal(dpt_propagator_extract(dpt_propagator_baggage(), &dpt_headers_getter, &h, &c),
                     DPT_ENOTFOUND);
    assert_null(dpt_context_baggage(c));
    dpt_context_release(c);
    dpt_headers_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baggage_parses_members_with_whitespace),
        cmocka_unit_test(test_baggage_decodes_percent_encoded_utf8),
        cmocka_unit_test(test_baggage_replaces_invalid_utf8_with_replacement_character),
        cmocka_unit_test(test_baggage_drops_bad_percent_escape_but_keeps_other_members),
        cmocka_unit_test(test_baggage_drops_invalid_members_without_losing_valid_ones),
        cmocka_unit_test(test_baggage_keeps_properties_as_metadata),
        cmocka_unit_test(test_baggage_accepts_empty_value),
        cmocka_unit_test(test_baggage_repeated_key_keeps_first_position_last_value),
        cmocka_unit_test(test_baggage_ignores_empty_members_from_joined_lines),
        cmocka_unit_test(test_baggage_percent_encoded_nul_keeps_the_value_length),
        cmocka_unit_test(test_baggage_sensitive_properties_are_redacted),
        cmocka_unit_test(test_baggage_limits_follow_the_current_w3c_text),
        cmocka_unit_test(test_baggage_propagates_64_entries_within_8192_bytes),
        cmocka_unit_test(test_baggage_beyond_8192_bytes_drops_whole_members),
        cmocka_unit_test(test_baggage_format_never_sends_a_partial_entry),
        cmocka_unit_test(test_baggage_format_percent_encodes_values),
        cmocka_unit_test(test_baggage_format_skips_keys_that_are_not_tokens),
        cmocka_unit_test(test_baggage_format_of_empty_baggage_is_null),
        cmocka_unit_test(test_baggage_parse_adds_to_base),
        cmocka_unit_test(test_baggage_null_arguments),
        cmocka_unit_test(test_baggage_propagator_combines_lines_and_injects),
        cmocka_unit_test(test_baggage_lines_past_64k_are_dropped_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
