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

/* From instr_internal.h (libdptrace-instr's private helpers, linked statically here). */
int dpt__url_host_port(const char *url, size_t n, const char **host, size_t *host_len, long *port);
int dpt__host_header(const char *h, size_t n, const char **host, size_t *host_len, long *port);

/* server.address / server.port from hostile URLs and Host headers (found by fuzz_instr):
 * a port that is not a number left *port unwritten, so the libcurl helper recorded its
 * uninitialised stack variable as server.port (a stack address in the trace); a Host
 * header ":1:x" gave an empty server.address; the first ':' anywhere was taken for the
 * end of a scheme. dptrace's own rule: unknown is -1 / absent, never garbage. */
static void test_hostile_hosts_and_ports(void **state)
{
    (void)state;
    const char *h;
    size_t hl;
    long port = 12345;
    assert_int_equal(dpt__url_host_port("http://h.example:8a/x", 21, &h, &hl, &port), 1);
    assert_int_equal(port, -1);
    assert_int_equal((int)hl, 9);
    port = 12345;
    const char *v6 = "//u:p@[::2]:\0x";
    assert_int_equal(dpt__url_host_port(v6, strlen(v6), &h, &hl, &port), 1);
    assert_int_equal(port, -1);
    assert_int_equal(dpt__url_host_port("http://h.example:8080/x", 23, &h, &hl, &port), 1);
    assert_int_equal(port, 8080);
    assert_int_equal(dpt__host_header(":1:x", 4, &h, &hl, &port), 0);
    assert_int_equal(dpt__host_header("h:99999999", 10, &h, &hl, &port), 1);
    assert_int_equal(port, -1);
    /* not a scheme: the ':' is in the query of a string that is no URL */
    char once[128], twice[128];
    dpt_instr_redact_url("f?dsn=a:b&x=ht://i@h", DPT_NUL, once, sizeof once);
    assert_string_equal(once, "f?dsn=REDACTED&x=ht://i@h");
    dpt_instr_redact_url(once, DPT_NUL, twice, sizeof twice); /* was "f?dsn=...ht://REDACTED@h" */
    assert_string_equal(twice, once);
    check("svn+ssh://u:p@h/", "svn+ssh://REDACTED:REDACTED@h/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_are_redacted),
        cmocka_unit_test(test_sensitive_query_values_are_redacted_and_keys_kept),
        cmocka_unit_test(test_host_and_port_reach_the_parser_intact),
        cmocka_unit_test(test_hostile_hosts_and_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
