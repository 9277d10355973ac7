/* test_instr_url.c - url.full redaction (http-spans.md, note on url.full: "MUST NOT contain
 * credentials ... SHOULD be https://REDACTED:REDACTED@www.example.com/"; query values of
 * the listed keys "SHOULD be redacted by default and replaced by the value REDACTED", key
 * preserved, keys matched case-sensitively). */
#include "test_util.h"

#include "dptrace/instr.h"

static void check(const char *in, const char *want)
{
    char out[512];
    size_t n = dpt_instr_redact_url(in, DPT_NUL, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_credentials_are_redacted(void **state)
{
    (void)state;
    check("https://username:password@www.example.com/",
          "https://REDACTED:REDACTED@www.example.com/");
    check("http://user@h:8080/p?q=1", "http://REDACTED@h:8080/p?q=1");
    check("http://a:b@c@host/x", "http://REDACTED:REDACTED@host/x"); /* the last '@' ends it */
    check("http://host/p@th", "http://host/p@th"); /* an '@' in the path is not userinfo */
}

static void test_sensitive_query_values_are_redacted_and_keys_kept(void **state)
{
    (void)state;
    /* the example of the conventions */
    check("https://www.example.com/path?color=blue&sig=REDACTED",
          "https://www.example.com/path?color=blue&sig=REDACTED");
    check("https://s3/o?X-Amz-Credential=AKIA&X-Amz-Signature=abc&X-Amz-Security-Token=t&a=1",
          "https://s3/o?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"
          "&X-Amz-Security-Token=REDACTED&a=1");
    check("https://g/o?X-Goog-Signature=s&AWSAccessKeyId=k&Signature=z#frag?sig=x",
          "https://g/o?X-Goog-Signature=REDACTED&AWSAccessKeyId=REDACTED&Signature=REDACTED"
          "#frag?sig=x");
    /* case-sensitive: SIG is not sig */
    check("https://h/?SIG=1&sig=2", "https://h/?SIG=1&sig=REDACTED");
    /* dptrace's own addition: keys the process redaction policy matches */
    check("http://h/login?user=bob&password=hunter2&access_token=abc",
          "http://h/login?user=bob&password=REDACTED&access_token=REDACTED");
    check("/relative?token=x&ok", "/relative?token=REDACTED&ok");
}

static void test_host_and_port_reach_the_parser_intact(void **state)
{
    (void)state;
    check("http://[::1]:8080/a?b=c", "http://[::1]:8080/a?b=c");
    check("", "");
    char out[4];
    assert_int_equal(dpt_instr_redact_url(NULL, 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    /* bounded output, full length returned */
    size_t n = dpt_instr_redact_url("http://u:p@h/?sig=1", DPT_NUL, out, sizeof out);
    assert_int_equal(n, strlen("http://REDACTED:REDACTED@h/?sig=REDACTED"));
    assert_string_equal(out, "htt");
    assert_int_equal(dpt_instr_redact_url("http://u:p@h/?sig=1", DPT_NUL, NULL, 0), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_are_redacted),
        cmocka_unit_test(test_sensitive_query_values_are_redacted_and_keys_kept),
        cmocka_unit_test(test_host_and_port_reach_the_parser_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
