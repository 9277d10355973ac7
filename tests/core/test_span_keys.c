/* test_span_keys.c - attribute keys on the setters' fast path: a key seen twice at one
 * address is interned (keys.c) and then found by its address, a literal of the main program
 * without comparing its bytes; every other key is still verified byte for byte. */
#include "test_util.h"

#include <stdlib.h>

/* The span's value of key, as a string ("" when absent or not a string). */
static const char *str_of(const dpt_span_data *d, const char *key)
{
    const dpt_attr *a = find_attr(d, key);
    return a && a->value.type == DPT_VAL_STRING ? a->value.u.s : "";
}

/* dptrace's own choice: keys are interned by address for speed, but an attribute's key is
 * always the bytes the caller passed at the time of the call. A heap buffer rewritten in
 * place (a longer key, then a shorter one) must not be taken for the key interned there. */
static void test_a_key_buffer_rewritten_in_place_is_not_taken_for_the_old_key(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    char *key = malloc(32);
    assert_non_null(key);
    strcpy(key, "app.first.key");
    for (int i = 0; i < 3; i++) { /* interned at the second span */
        dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
        assert_int_equal(dpt_span_set_str(s, key, "v1"), DPT_OK);
        dpt_span_end(s);
    }
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    strcpy(key, "app.other");
    assert_int_equal(dpt_span_set_str(s, key, "v2"), DPT_OK);
    strcpy(key, "x");
    assert_int_equal(dpt_span_set_int(s, key, 7), DPT_OK);
    dpt_span_end(s);
    free(key);

    assert_int_equal(dpt_exporter_memory_count(tp.mem), 4);
    const dpt_span_data *d2 = tprov_span(&tp, 2), *d3 = tprov_span(&tp, 3);
    assert_string_equal(str_of(d2, "app.first.key"), "v1");
    assert_int_equal(d3->n_attrs, 2);
    assert_string_equal(str_of(d3, "app.other"), "v2");
    assert_null(find_attr(d3, "app.first.key"));
    const dpt_attr *x = find_attr(d3, "x");
    assert_non_null(x);
    assert_int_equal(x->value.u.i, 7);
    dpt_span_data_release(d2);
    dpt_span_data_release(d3);
    tprov_free(&tp);
}

/* dptrace's own choice (as above): a literal found by its address keeps its exact bytes,
 * and a length-limited key that is a prefix of an interned literal is a key of its own. */
static void test_literal_keys_and_a_prefix_of_one_are_distinct_keys(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    static const char lit[] = "app.literal.key";
    for (int i = 0; i < 4; i++) {
        dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
        assert_int_equal(dpt_span_set_str(s, lit, "v"), DPT_OK);
        assert_int_equal(dpt_span_set_strn(s, lit, 3, "w", 1), DPT_OK);
        assert_int_equal(dpt_span_set_int(s, "app.count", i), DPT_OK);
        /* OpenTelemetry (common/README.md, Attribute): setting an existing key replaces
         * its value. */
        assert_int_equal(dpt_span_set_str(s, lit, "v2"), DPT_OK);
        dpt_span_end(s);
    }
    for (size_t i = 0; i < 4; i++) {
        const dpt_span_data *d = tprov_span(&tp, i);
        assert_int_equal(d->n_attrs, 3);
        assert_string_equal(str_of(d, lit), "v2");
        assert_string_equal(str_of(d, "app"), "w");
        assert_int_equal(find_attr(d, "app.count")->value.u.i, (int64_t)i);
        dpt_span_data_release(d);
    }
    tprov_free(&tp);
}

/* docs/security.md: a sensitive value is replaced before it is stored - also when its key
 * is a literal the setters find by address, and also after the policy changed. */
static void test_a_sensitive_literal_key_is_redacted_on_every_span(void **state)
{
    (void)state;
    assert_int_equal(dpt_redaction_set(NULL), DPT_OK);
    tprov tp = tprov_new(NULL, NULL);
    for (int i = 0; i < 3; i++) {
        dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
        dpt_span_set_str(s, "app.mode", "fast");
        dpt_span_set_str(s, "db.password", "hunter2");
        dpt_span_end(s);
    }
    const char *pats[] = {"mode"};
    dpt_redaction r = {.patterns = pats, .n_patterns = 1};
    assert_int_equal(dpt_redaction_set(&r), DPT_OK);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_str(s, "app.mode", "fast");
    dpt_span_end(s);
    for (size_t i = 0; i < 3; i++) {
        const dpt_span_data *d = tprov_span(&tp, i);
        assert_string_equal(str_of(d, "app.mode"), "fast");
        assert_string_equal(str_of(d, "db.password"), DPT_REDACTED);
        dpt_span_data_release(d);
    }
    const dpt_span_data *d = tprov_span(&tp, 3);
    assert_string_equal(str_of(d, "app.mode"), DPT_REDACTED);
    dpt_span_data_release(d);
    tprov_free(&tp);
    assert_int_equal(dpt_redaction_set(NULL), DPT_OK);
}

/* OpenTelemetry (common/README.md): attribute values are stored as given. Every length
 * from 0 to 40 bytes, under a key the fast path knows, crosses each of the record's short
 * copy cases (1-3, 4-7, 8-16 bytes, longer). */
static void test_values_of_every_short_length_are_copied_exactly(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    char v[41];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            v[i] = (char)('a' + (len + i) % 26);
        v[len] = 0;
        dpt_span s = dpt_span_start(tp.t, v, DPT_SPAN_INTERNAL, NULL);
        assert_int_equal(dpt_span_set_str(s, "app.value", v), DPT_OK);
        dpt_span_end(s);
        const dpt_span_data *d = tprov_span(&tp, len);
        assert_int_equal(d->name_len, len);
        assert_string_equal(d->name, v);
        const dpt_attr *a = find_attr(d, "app.value");
        assert_non_null(a);
        assert_int_equal(a->value.len, len);
        assert_string_equal(a->value.u.s, v);
        dpt_span_data_release(d);
    }
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_key_buffer_rewritten_in_place_is_not_taken_for_the_old_key),
        cmocka_unit_test(test_literal_keys_and_a_prefix_of_one_are_distinct_keys),
        cmocka_unit_test(test_a_sensitive_literal_key_is_redacted_on_every_span),
        cmocka_unit_test(test_values_of_every_short_length_are_copied_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
