/* test_json.c - the streaming JSON writer and the UTF-8 helpers. */
#include "test_util.h"
#include "common.h"

static char *render(void (*fn)(dpt__json *))
{
    static dpt__buf b;
    dpt__buf_free(&b);
    dpt__buf_init(&b);
    dpt__json j;
    dpt__json_init(&j, &b);
    fn(&j);
    return b.p;
}

static void nested(dpt__json *j)
{
    dpt__json_obj_begin(j);
    dpt__json_key(j, "a");
    dpt__json_arr_begin(j);
    dpt__json_int(j, -1);
    dpt__json_uint(j, 18446744073709551615ull);
    dpt__json_bool(j, true);
    dpt__json_null(j);
    dpt__json_double(j, 0.1);
    dpt__json_u64str(j, 42);
    dpt__json_arr_end(j);
    dpt__json_key(j, "b");
    dpt__json_obj_begin(j);
    dpt__json_obj_end(j);
    dpt__json_obj_end(j);
}

static void test_writer_places_commas_and_nesting(void **state)
{
    (void)state;
    assert_string_equal(render(nested),
                        "{\"a\":[-1,18446744073709551615,true,null,0.1,\"42\"],\"b\":{}}");
}

static void controls(dpt__json *j)
{
    char s[32];
    for (int i = 0; i < 32; i++)
        s[i] = (char)i;
    dpt__json_str(j, s, 32);
}

static void test_every_control_character_is_escaped(void **state)
{
    (void)state;
    const char *out = render(controls);
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    assert_non_null(strstr(out, "\\u0000\\u0001"));
    assert_non_null(strstr(out, "\\b\\t\\n\\u000b\\f\\r"));
}

static void bad_utf8(dpt__json *j)
{
    /* lone continuation, overlong '/', surrogate, > U+10FFFF, truncated 3-byte, valid é and 😀 */
    const char s[] = "a\x80"
                     "b\xc0\xaf"
                     "c\xed\xa0\x80"
                     "d\xf4\x90\x80\x80"
                     "e\xe2\x82"
                     "f\xc3\xa9\xf0\x9f\x98\x80";
    dpt__json_str(j, s, sizeof s - 1);
}

static void test_invalid_utf8_is_replaced_valid_is_kept(void **state)
{
    (void)state;
    const char *out = render(bad_utf8);
    const char *rep = "\xEF\xBF\xBD";
    char expect[256];
    snprintf(expect, sizeof expect, "\"a%sb%s%sc%s%s%sd%s%s%s%se%s%sf\xc3\xa9\xf0\x9f\x98\x80\"",
             rep, rep, rep, rep, rep, rep, rep, rep, rep, rep, rep, rep);
    assert_string_equal(out, expect);
    assert_int_equal(dpt__utf8_valid_prefix("ok\xc3\xa9", 4), 4);
    assert_int_equal(dpt__utf8_valid_prefix("ok\xc3", 3), 2);
}

static void specials(dpt__json *j)
{
    dpt__json_arr_begin(j);
    dpt__json_double(j, 1.0 / 0.0);
    dpt__json_double(j, -1.0 / 0.0);
    dpt__json_double(j, 0.0 / 0.0);
    dpt__json_double(j, 1e300);
    dpt__json_double(j, 123456789.125);
    dpt__json_arr_end(j);
}

static void test_doubles_round_trip_and_specials_are_strings(void **state)
{
    (void)state;
    assert_string_equal(render(specials),
                        "[\"Infinity\",\"-Infinity\",\"NaN\",1e+300,123456789.125]");
}

static void test_utf8_cut_never_splits_a_character(void **state)
{
    (void)state;
    const char *s = "a\xe2\x82\xac"; /* a€ */
    assert_int_equal(dpt__utf8_cut(s, 4, 3), 1);
    assert_int_equal(dpt__utf8_cut(s, 4, 2), 1);
    assert_int_equal(dpt__utf8_cut(s, 4, 4), 4);
    assert_int_equal(dpt__utf8_cut(s, 4, 1), 1);
}

static void test_rfc3339_has_nanoseconds(void **state)
{
    (void)state;
    char t[40];
    dpt__format_rfc3339(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000000000Z");
    dpt__format_rfc3339(1764102863000000001ull, t);
    assert_string_equal(t, "2025-11-25T20:34:23.000000001Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_places_commas_and_nesting),
        cmocka_unit_test(test_every_control_character_is_escaped),
        cmocka_unit_test(test_invalid_utf8_is_replaced_valid_is_kept),
        cmocka_unit_test(test_doubles_round_trip_and_specials_are_strings),
        cmocka_unit_test(test_utf8_cut_never_splits_a_character),
        cmocka_unit_test(test_rfc3339_has_nanoseconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
