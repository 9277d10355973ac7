/* test_redact.c - sensitive values are replaced before they are stored: span, event and
 * link attributes, baggage; custom patterns and a rewriting rule. */
#include "test_util.h"

static int reset(void **state)
{
    (void)state;
    return dpt_redaction_set(NULL) == DPT_OK ? 0 : -1;
}

static void test_default_patterns_match_common_secret_keys(void **state)
{
    (void)state;
    const char *yes[] = { "password", "db.password", "http.request.header.authorization", "user_passwd",
                          "http.response.header.set-cookie", "Cookie", "api_key", "x-api-key", "client.secret",
                          "oauth.access_token", "session.id", "credit_card.number", "card-number", "private_key" };
    const char *no[] = { "http.request.method", "url.path", "user.id", "db.statement", "server.address" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) assert_true(dpt_redaction_matches(yes[i], DPT_NUL));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) assert_false(dpt_redaction_matches(no[i], DPT_NUL));
}

static void test_values_never_reach_the_exporter(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span other = dpt_span_start(tp.t, "other", DPT_SPAN_INTERNAL, NULL);
    dpt_attr la[] = { DPT_STR("auth.token", "tok-123") };
    dpt_link lk = { .ctx = dpt_span_get_context(other), .attrs = la, .n_attrs = 1 };
    dpt_span s = dpt_span_start(tp.t, "login", DPT_SPAN_SERVER, &(dpt_span_opts){ .links = &lk, .n_links = 1 });
    dpt_span_set_str(s, "user.password", "hunter2");
    dpt_span_set_int(s, "session.id", 987654);
    dpt_span_set_str(s, "user.name", "alice");
    dpt_attr ea[] = { DPT_STR("http.request.header.authorization", "Bearer abc.def") };
    dpt_span_add_event(s, "request", ea, 1);
    dpt_span_end(s);
    dpt_span_end(other);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(find_attr(d, "user.password")->value.u.s, DPT_REDACTED);
    const dpt_attr *sid = find_attr(d, "session.id");
    assert_int_equal(sid->value.type, DPT_VAL_STRING); /* non-string values are replaced too */
    assert_string_equal(sid->value.u.s, DPT_REDACTED);
    assert_string_equal(find_attr(d, "user.name")->value.u.s, "alice");
    assert_string_equal(d->events[0].attrs[0].value.u.s, DPT_REDACTED);
    assert_string_equal(d->links[0].attrs[0].value.u.s, DPT_REDACTED);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_baggage_values_are_redacted_and_not_copied_to_attributes(void **state)
{
    (void)state;
    dpt_baggage *bg, *bg2;
    assert_int_equal(dpt_baggage_set(NULL, "session_token", "s3cr3t", NULL, &bg), DPT_OK);
    assert_string_equal(dpt_baggage_get(bg, "session_token"), DPT_REDACTED);
    assert_int_equal(dpt_baggage_set(bg, "tenant", "acme", NULL, &bg2), DPT_OK);
    assert_string_equal(dpt_baggage_get(bg2, "tenant"), "acme");
    tprov tp = tprov_new(NULL, NULL);
    dpt_context *c = dpt_context_with_baggage(NULL, bg2);
    dpt_token tok = dpt_context_attach(c);
    DPT_WITH_SPAN(tp.t, "s", DPT_SPAN_INTERNAL) {}
    dpt_context_detach(tok);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 0); /* baggage is not added to attributes */
    dpt_span_data_release(d);
    dpt_context_release(c);
    dpt_baggage_release(bg);
    dpt_baggage_release(bg2);
    tprov_free(&tp);
}

static dpt_redact_action strip_query(void *user, const char *key, size_t klen, const dpt_value *v,
                                     char *buf, size_t cap, size_t *out)
{
    (void)user;
    if (klen != 8 || memcmp(key, "url.full", 8) != 0 || v->type != DPT_VAL_STRING) return DPT_REDACT_KEEP;
    size_t n = v->len == DPT_NUL ? strlen(v->u.s) : v->len;
    const char *q = memchr(v->u.s, '?', n);
    if (!q) return DPT_REDACT_KEEP;
    size_t keep = (size_t)(q - v->u.s);
    if (keep + 2 > cap) return DPT_REDACT_REPLACE;
    memcpy(buf, v->u.s, keep);
    memcpy(buf + keep, "?_", 2);
    *out = keep + 2;
    return DPT_REDACT_REWRITE;
}

static void test_custom_patterns_marker_and_rewriting_rule(void **state)
{
    (void)state;
    const char *pats[] = { "ssn", "iban" };
    dpt_redaction r = { .patterns = pats, .n_patterns = 2, .fn = strip_query, .marker = "***" };
    assert_int_equal(dpt_redaction_set(&r), DPT_OK);
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_str(s, "customer.ssn", "123-45-6789");
    dpt_span_set_str(s, "payment.IBAN", "DE89");
    dpt_span_set_str(s, "password", "x");
    dpt_span_set_str(s, "url.full", "https://a.example/p?token=abc&x=1");
    dpt_span_set_str(s, "url.path", "/p");
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(find_attr(d, "customer.ssn")->value.u.s, "***");
    assert_string_equal(find_attr(d, "payment.IBAN")->value.u.s, "***");
    assert_string_equal(find_attr(d, "password")->value.u.s, "***"); /* defaults still on */
    assert_string_equal(find_attr(d, "url.full")->value.u.s, "https://a.example/p?_");
    assert_string_equal(find_attr(d, "url.path")->value.u.s, "/p");
    dpt_span_data_release(d);
    tprov_free(&tp);

    dpt_redaction only = { .patterns = pats, .n_patterns = 1, .no_defaults = true };
    assert_int_equal(dpt_redaction_set(&only), DPT_OK);
    assert_false(dpt_redaction_matches("password", DPT_NUL));
    assert_true(dpt_redaction_matches("SSN", DPT_NUL));
    const char *bad[] = { "" };
    dpt_redaction invalid = { .patterns = bad, .n_patterns = 1 };
    assert_int_equal(dpt_redaction_set(&invalid), DPT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_patterns_match_common_secret_keys, reset, reset),
        cmocka_unit_test_setup_teardown(test_values_never_reach_the_exporter, reset, reset),
        cmocka_unit_test_setup_teardown(test_baggage_values_are_redacted_and_not_copied_to_attributes, reset, reset),
        cmocka_unit_test_setup_teardown(test_custom_patterns_marker_and_rewriting_rule, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
