/* test_span_name_budget.c - a span name over the span's byte budget used to become "":
 * it is cut on a UTF-8 character boundary to what the budget still allows, at the start
 * and on dpt_span_update_name. */
#include "test_util.h"

#include <stdlib.h>

/* true when s[0..n) is well-formed UTF-8 (no cut sequence at the end) */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (!len || i + len > n) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

/* n bytes of 3-byte characters (U+20AC) after a one-byte 'a': no cut at a multiple of 16
 * falls on a character boundary by luck */
static char *euro_name(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    s[0] = 'a';
    size_t i = 1;
    while (i + 3 <= n) {
        s[i++] = (char)0xE2;
        s[i++] = (char)0x82;
        s[i++] = (char)0xAC;
    }
    s[i] = '\0';
    return s;
}

static void check_cut(const dpt_span_data *d, const char *full, uint32_t budget)
{
    assert_non_null(d->name);
    assert_true(d->name_len > 0);
    assert_true(d->name_len < budget);
    assert_int_equal(strlen(d->name), d->name_len);
    assert_true(valid_utf8((const unsigned char *)d->name, d->name_len));
    assert_memory_equal(d->name, full, d->name_len); /* a prefix */
    /* only a partial character could have been kept beyond the cut */
    assert_true((d->name_len - 1) % 3 == 0);
}

static void test_a_name_over_the_budget_is_cut_at_a_character_boundary(void **state)
{
    (void)state;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.max_span_bytes = 4096;
    tprov tp = tprov_new(NULL, &lim);
    char *big = euro_name(100000);
    dpt_span s = dpt_span_start(tp.t, big, DPT_SPAN_INTERNAL, NULL);
    /* the span keeps working for what still fits */
    dpt_span_set_int(s, "n", 1);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_non_null(d);
    check_cut(d, big, lim.max_span_bytes);
    /* most of the budget went to the name: not a token prefix */
    assert_true(d->name_len > lim.max_span_bytes / 2);
    dpt_span_data_release(d);
    free(big);
    tprov_free(&tp);
}

static void test_update_name_over_the_budget_is_cut_too(void **state)
{
    (void)state;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.max_span_bytes = 4096;
    tprov tp = tprov_new(NULL, &lim);
    char *big = euro_name(20000);
    dpt_span s = dpt_span_start(tp.t, "short", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_update_name(s, big), DPT_OK);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_non_null(d);
    check_cut(d, big, lim.max_span_bytes);
    dpt_span_data_release(d);
    free(big);
    tprov_free(&tp);
}

static void test_a_name_that_fits_is_whole(void **state)
{
    (void)state;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.max_span_bytes = 4096;
    tprov tp = tprov_new(NULL, &lim);
    char *name = euro_name(1000);
    dpt_span s = dpt_span_start(tp.t, name, DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_non_null(d);
    assert_int_equal(d->name_len, strlen(name));
    assert_string_equal(d->name, name);
    dpt_span_data_release(d);
    free(name);
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_name_over_the_budget_is_cut_at_a_character_boundary),
        cmocka_unit_test(test_update_name_over_the_budget_is_cut_too),
        cmocka_unit_test(test_a_name_that_fits_is_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
