/* test_tracestate_baggage.c - the core tracestate and baggage values. */
#include "test_util.h"

static void test_tracestate_parses_and_canonicalises(void **state)
{
    (void)state;
    dpt_tracestate *ts;
    assert_int_equal(dpt_tracestate_parse(" a=1 ,, b@sys=x y ,\tc=3\t", DPT_NUL, &ts), DPT_OK);
    assert_string_equal(dpt_tracestate_str(ts, NULL), "a=1,b@sys=x y,c=3");
    char buf[16];
    assert_int_equal(dpt_tracestate_get(ts, "b@sys", buf, sizeof buf), DPT_OK);
    assert_string_equal(buf, "x y");
    assert_int_equal(dpt_tracestate_get(ts, "zz", buf, sizeof buf), DPT_ENOTFOUND);
    assert_int_equal(dpt_tracestate_get(ts, "a", buf, 1), DPT_ETOOBIG);
    dpt_tracestate_release(ts);
    assert_int_equal(dpt_tracestate_parse("", 0, &ts), DPT_OK);
    assert_null(ts);
}

static void test_tracestate_rejects_invalid_members_whole(void **state)
{
    (void)state;
    const char *bad[] = { "A=1", "a=1,a=2", "a", "a=", "=1", "a=1,b=x,", "a=x\x01", "1a=1", "a=b,c",
                          "t@=1", "@s=1", "a=b=c", "a@sys1234567890123=x" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dpt_tracestate *ts = (dpt_tracestate *)1;
        dpt_err e = dpt_tracestate_parse(bad[i], DPT_NUL, &ts);
        if (strcmp(bad[i], "a=1,b=x,") == 0) { /* trailing empty member is allowed */
            assert_int_equal(e, DPT_OK);
            dpt_tracestate_release(ts);
            continue;
        }
        assert_int_equal(e, DPT_EPARSE);
        assert_null(ts);
    }
}

static void test_tracestate_allows_32_members_not_33(void **state)
{
    (void)state;
    char buf[512];
    size_t o = 0;
    for (int i = 0; i < 33; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%sk%02d=1", i ? "," : "", i);
    dpt_tracestate *ts;
    assert_int_equal(dpt_tracestate_parse(buf, DPT_NUL, &ts), DPT_EPARSE);
    buf[strlen(buf) - 6] = 0; /* drop ",k32=1" */
    assert_int_equal(dpt_tracestate_parse(buf, DPT_NUL, &ts), DPT_OK);
    dpt_tracestate *ts2;
    /* adding a 33rd member drops the right-most one */
    assert_int_equal(dpt_tracestate_set(ts, "new", "v", &ts2), DPT_OK);
    const char *s = dpt_tracestate_str(ts2, NULL);
    assert_true(strncmp(s, "new=v,k00=1", 11) == 0);
    assert_null(strstr(s, "k31"));
    dpt_tracestate_release(ts);
    dpt_tracestate_release(ts2);
}

static void test_tracestate_set_moves_key_to_front_and_removes(void **state)
{
    (void)state;
    dpt_tracestate *ts, *ts2, *ts3;
    dpt_tracestate_parse("a=1,b=2,c=3", DPT_NUL, &ts);
    assert_int_equal(dpt_tracestate_set(ts, "b", "9", &ts2), DPT_OK);
    assert_string_equal(dpt_tracestate_str(ts2, NULL), "b=9,a=1,c=3");
    assert_string_equal(dpt_tracestate_str(ts, NULL), "a=1,b=2,c=3"); /* immutable */
    assert_int_equal(dpt_tracestate_set(ts2, "a", NULL, &ts3), DPT_OK);
    assert_string_equal(dpt_tracestate_str(ts3, NULL), "b=9,c=3");
    dpt_tracestate_release(ts3);
    assert_int_equal(dpt_tracestate_set(ts, "Bad", "1", &ts3 /* unchanged on error */), DPT_EINVAL);
    assert_int_equal(dpt_tracestate_set(ts, "ok", "bad,value", &ts3), DPT_EINVAL);
    dpt_tracestate_release(ts);
    dpt_tracestate_release(ts2);
}

static void test_tracestate_longer_than_512_is_truncated_by_the_w3c_rule(void **state)
{
    (void)state;
    char big[200];
    memset(big, 'x', 199);
    big[199] = 0;
    char buf[2048];
    snprintf(buf, sizeof buf, "a=1,long1=%s,b=2,long2=%s,c=3,long3=%s", big, big, big);
    dpt_tracestate *ts;
    assert_int_equal(dpt_tracestate_parse(buf, DPT_NUL, &ts), DPT_OK);
    size_t len;
    const char *s = dpt_tracestate_str(ts, &len);
    assert_true(len <= DPT_TRACESTATE_MAX_LEN);
    /* members over 128 chars go first, from the end: short ones survive */
    assert_non_null(strstr(s, "a=1"));
    assert_non_null(strstr(s, "c=3"));
    assert_null(strstr(s, "long3"));
    dpt_tracestate_release(ts);
}

static void test_baggage_is_immutable_and_ordered(void **state)
{
    (void)state;
    dpt_baggage *b1, *b2, *b3;
    assert_int_equal(dpt_baggage_set(NULL, "k1", "v1", NULL, &b1), DPT_OK);
    assert_int_equal(dpt_baggage_set(b1, "k2", "v2", "prop=1", &b2), DPT_OK);
    assert_int_equal(dpt_baggage_count(b1), 1);
    assert_int_equal(dpt_baggage_count(b2), 2);
    assert_null(dpt_baggage_get(b1, "k2"));
    const char *k, *v, *m;
    assert_int_equal(dpt_baggage_entry(b2, 1, &k, &v, &m), DPT_OK);
    assert_string_equal(k, "k2");
    assert_string_equal(m, "prop=1");
    assert_int_equal(dpt_baggage_entry(b2, 2, &k, &v, &m), DPT_ENOTFOUND);
    assert_int_equal(dpt_baggage_set(b2, "k1", "new", NULL, &b3), DPT_OK);
    assert_string_equal(dpt_baggage_get(b3, "k1"), "new");
    assert_string_equal(dpt_baggage_get(b2, "k1"), "v1");
    dpt_baggage_release(b3);
    assert_int_equal(dpt_baggage_remove(b2, "k1", &b3), DPT_OK);
    assert_int_equal(dpt_baggage_count(b3), 1);
    dpt_baggage_release(b3);
    assert_int_equal(dpt_baggage_remove(b2, "nope", &b3), DPT_ENOTFOUND);
    assert_ptr_equal(b3, b2);
    dpt_baggage_release(b3);
    assert_int_equal(dpt_baggage_set(b2, "", "v", NULL, &b3), DPT_EINVAL);
    assert_int_equal(dpt_baggage_set(b2, "k", NULL, NULL, &b3), DPT_EINVAL);
    dpt_baggage_release(b1);
    dpt_baggage_release(b2);
}

static void test_baggage_is_bounded(void **state)
{
    (void)state;
    dpt_baggage *b = NULL, *n;
    char key[16];
    int i;
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        dpt_err e = dpt_baggage_set(b, key, "v", NULL, &n);
        if (e != DPT_OK) {
            assert_int_equal(e, DPT_ETOOBIG);
            break;
        }
        dpt_baggage_release(b);
        b = n;
    }
    assert_int_equal(i, DPT_BAGGAGE_MAX_ENTRIES);
    dpt_baggage_release(b);
    static char huge[DPT_BAGGAGE_MAX_BYTES + 10];
    memset(huge, 'v', sizeof huge - 1);
    assert_int_equal(dpt_baggage_set(NULL, "k", huge, NULL, &n), DPT_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tracestate_parses_and_canonicalises),
        cmocka_unit_test(test_tracestate_rejects_invalid_members_whole),
        cmocka_unit_test(test_tracestate_allows_32_members_not_33),
        cmocka_unit_test(test_tracestate_set_moves_key_to_front_and_removes),
        cmocka_unit_test(test_tracestate_longer_than_512_is_truncated_by_the_w3c_rule),
        cmocka_unit_test(test_baggage_is_immutable_and_ordered),
        cmocka_unit_test(test_baggage_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
