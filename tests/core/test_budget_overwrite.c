/* test_budget_overwrite.c - overwriting an attribute with a value the span's byte budget
 * cannot hold: the stress test found it returned DPT_ENOMEM (no memory was short) and was
 * not counted. It must be DPT_ETOOBIG, counted, and the old value kept. */
#include "test_util.h"

static void
test_overwrite_beyond_the_byte_budget_is_etoobig_counted_and_keeps_the_old_value(void **state)
{
    (void)state;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.max_span_bytes = 4096;
    tprov tp = tprov_new(NULL, &lim);
    static char big[8192];
    memset(big, 'x', sizeof big);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_set_str(s, "k", "small"), DPT_OK);
    assert_int_equal(dpt_span_set_strn(s, "k", 1, big, sizeof big), DPT_ETOOBIG);
    /* the span is still usable for what fits */
    assert_int_equal(dpt_span_set_int(s, "n", 1), DPT_OK);
    dpt_span_end(s);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.attrs_dropped, 1);
    const dpt_span_data *d = tprov_span(&tp, 0);
    const dpt_attr *a = find_attr(d, "k");
    assert_non_null(a);
    assert_int_equal(a->value.len, 5);
    assert_string_equal(a->value.u.s, "small");
    assert_int_equal(d->dropped_attrs, 1);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_overwrite_beyond_the_byte_budget_is_etoobig_counted_and_keeps_the_old_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
