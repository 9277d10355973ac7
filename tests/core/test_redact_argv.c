/* test_redact_argv.c - the command-line redaction of `dptrace exec` (tools/dptrace/
 * argv_redact.c, compiled into this test: the CLI is not a library).
 *
 * The rules are dptrace's own (docs/security.md, "dptrace exec"): issue 12 asks that
 * --key=value, --key value, header-style "Key: value" and URLs with credentials or tokens
 * never reach process.command_args; the key patterns and the URL rule are the library's.
 */
#include "test_util.h"

#include "../../tools/dptrace/argv_redact.c"

static int reset(void **state)
{
    (void)state;
    return dpt_redaction_set(NULL) == DPT_OK ? 0 : -1;
}

/* Redacts argv (a NULL-terminated list) and compares with want (same length). */
static void check(const char *const *argv, const char *const *want)
{
    int n = 0;
    while (argv[n])
        n++;
    char **got = argv_redact(n, (char *const *)argv);
    assert_non_null(got);
    for (int i = 0; i < n; i++)
        if (strcmp(got[i], want[i]) != 0)
            fail_msg("arg %d: got \"%s\", want \"%s\"", i, got[i], want[i]);
    argv_redact_free(got, n);
}

#define R DPT_REDACTED

static void test_key_value_options(void **st)
{
    (void)st;
    check((const char *[]){"tool", "--password=hunter2", "--api-key=abc", "-token=t", "--name=x",
                           NULL},
          (const char *[]){"tool", "--password=" R, "--api-key=" R, "-token=" R, "--name=x"});
    /* environment-style assignments (env, make) and nested ones (--set k=v) */
    check((const char *[]){"env", "DB_PASSWORD=s3cr3t", "HOME=/root", "--set", "client_secret=z",
                           "--set=jwt=j", NULL},
          (const char *[]){"env", "DB_PASSWORD=" R, "HOME=/root", "--set", "client_secret=" R,
                           "--set=jwt=" R});
}

static void test_option_followed_by_its_value(void **st)
{
    (void)st;
    check((const char *[]){"mysql", "--password", "hunter2", "--user", "root", "-v", NULL},
          (const char *[]){"mysql", "--password", R, "--user", "root", "-v"});
    check((const char *[]){"cli", "--token", "-starts-with-dash", "--bearer", "b", "last", NULL},
          (const char *[]){"cli", "--token", R, "--bearer", R, "last"});
    /* a value is not an option: after "--password -U", the next argument is plain (found by
     * fuzz_argv_redact: a second pass over the redacted line must change nothing) */
    check((const char *[]){"cli", "--password", "-U", "alice:x", NULL},
          (const char *[]){"cli", "--password", R, "alice:x"});
    /* the last argument may be a sensitive option with no value: nothing to redact */
    check((const char *[]){"cli", "--secret", NULL}, (const char *[]){"cli", "--secret"});
}

static void test_user_password_options(void **st)
{
    (void)st;
    /* curl -u / --user USER:PASSWORD, --proxy-user; -u without ':' is left alone
     * (python -u script.py) */
    check((const char *[]){"curl", "-u", "alice:pw", "--user=bob:pw2", "--proxy-user", "p:q", NULL},
          (const char *[]){"curl", "-u", "alice:" R, "--user=bob:" R, "--proxy-user", "p:" R});
    check((const char *[]){"python", "-u", "script.py", NULL},
          (const char *[]){"python", "-u", "script.py"});
}

static void test_header_lines(void **st)
{
    (void)st;
    check((const char *[]){"curl", "-H", "Authorization: Bearer abc.def", "-H", "X-Api-Key:k1",
                           "-H", "Accept: text/html", "--header=Cookie: sid=1", NULL},
          (const char *[]){"curl", "-H", "Authorization: " R, "-H", "X-Api-Key:" R, "-H",
                           "Accept: text/html", "--header=Cookie: " R});
}

static void test_urls_with_credentials_and_tokens(void **st)
{
    (void)st;
    check((const char *[]){"curl", "https://user:pass@api.example.com/v1?token=abc&page=2",
                           "--url=https://h.example/?sig=s", "git@github.com:o/r.git",
                           "see https://a:b@h/x now", NULL},
          (const char *[]){"curl",
                           "https://REDACTED:REDACTED@api.example.com/v1?token=REDACTED&page=2",
                           "--url=https://h.example/?sig=REDACTED", "git@github.com:o/r.git",
                           "see https://REDACTED:REDACTED@h/x now"});
}

static void test_request_bodies(void **st)
{
    (void)st;
    check((const char *[]){"curl", "-d", "user=alice&password=pw&x=1", "-d",
                           "{\"password\": \"p w\", \"n\": 1, \"token\":42}",
                           "--data={\"auth\":\"a\\\"b\",\"ok\":\"v\"}", NULL},
          (const char *[]){"curl", "-d", "user=alice&password=" R "&x=1", "-d",
                           "{\"password\": \"" R "\", \"n\": 1, \"token\":\"" R "\"}",
                           "--data={\"auth\":\"" R "\",\"ok\":\"v\"}"});
}

/* What must stay: ordinary arguments are recorded verbatim. */
static void test_ordinary_arguments_are_kept(void **st)
{
    (void)st;
    check((const char *[]){"make", "-j2", "CFLAGS=-O2 -g", "--author=Ann", "/tmp/a b", "a:b",
                           "x=y&z=w", "", NULL},
          (const char *[]){"make", "-j2", "CFLAGS=-O2 -g", "--author=Ann", "/tmp/a b", "a:b",
                           "x=y&z=w", ""});
    assert_null(argv_redact(-1, NULL));
    char **e = argv_redact(0, NULL);
    assert_non_null(e);
    argv_redact_free(e, 0);
    argv_redact_free(NULL, 3);
}

/* A command line inside one argument - sh -c '...', the CI use of docs/cli.md - gets the
 * same rules word by word (quotes kept). Before, only its URLs, bodies and a leading
 * NAME=VALUE were seen: 'export DB_PASSWORD=x; curl -u bob:pw --token t h' went out whole. */
static void test_a_shell_command_in_one_argument(void **st)
{
    (void)st;
    check((const char *[]){"sh", "-c",
                           "export DB_PASSWORD=s3cr3t; curl -u bob:pw --token t https://h/x", NULL},
          (const char *[]){
              "sh", "-c", "export DB_PASSWORD=" R "; curl -u bob:" R " --token " R " https://h/x"});
    check((const char *[]){"bash", "-lc", "deploy --password 'p w' \"--api-key=k\"|tee log", NULL},
          (const char *[]){"bash", "-lc", "deploy --password '" R "' \"--api-key=" R "\"|tee log"});
    /* a quoted header line, and a JSON body with spaces (a whole-argument rule) */
    check((const char *[]){"sh", "-c",
                           "curl -H 'Authorization: Bearer abc' -d '{\"token\": \"t\"}' h", NULL},
          (const char *[]){"sh", "-c",
                           "curl -H 'Authorization: " R "' -d '{\"token\": \"" R "\"}' h"});
    /* ordinary scripts are kept as written */
    check((const char *[]){"sh", "-c", "make -j2 && make test; echo \"done: $?\" > out.txt", NULL},
          (const char *[]){"sh", "-c", "make -j2 && make test; echo \"done: $?\" > out.txt"});
}

/* Short options that carry a password in the tools that define them (their manuals:
 * mysql "-pPASSWORD, no space"; sshpass "-p password"; redis-cli "-a <password>"; zip/unzip
 * "-P password"; 7z "-p{Password}"; openssl "pass:password"). dptrace's own table
 * (docs/security.md); before it, mysql -pSECRET went out whole. */
static void test_tool_password_short_options(void **st)
{
    (void)st;
    check((const char *[]){"/usr/bin/mysql", "-uroot", "-ps3cr3t", "-vpX", "-p", "shop", NULL},
          (const char *[]){"/usr/bin/mysql", "-uroot", "-p" R, "-vp" R, "-p", "shop"});
    check((const char *[]){"sudo", "-u", "admin", "mysqldump", "-phunter2", "db", NULL},
          (const char *[]){"sudo", "-u", "admin", "mysqldump", "-p" R, "db"});
    check((const char *[]){"sshpass", "-p", "pw", "ssh", "host", NULL},
          (const char *[]){"sshpass", "-p", R, "ssh", "host"});
    check((const char *[]){"timeout", "5", "redis-cli", "-a", "pw", "-h", "h", "PING", NULL},
          (const char *[]){"timeout", "5", "redis-cli", "-a", R, "-h", "h", "PING"});
    check((const char *[]){"zip", "-P", "pw", "-r", "a.zip", "d", NULL},
          (const char *[]){"zip", "-P", R, "-r", "a.zip", "d"});
    check((const char *[]){"openssl", "enc", "-pass", "pass:pw", "-in", "f", NULL},
          (const char *[]){"openssl", "enc", "-pass", "pass:" R, "-in", "f"});
    /* the same letters mean something else in other tools: kept */
    check((const char *[]){"ssh", "-p2222", "-p", "22", "host", NULL},
          (const char *[]){"ssh", "-p2222", "-p", "22", "host"});
    check((const char *[]){"psql", "-p", "5432", "-a", NULL},
          (const char *[]){"psql", "-p", "5432", "-a"});
    /* inside a script: the command word of each command */
    check((const char *[]){"sh", "-c",
                           "mysql -uroot -pX shop < q.sql && ssh -p2222 h; "
                           "DB=1 sshpass -p 'p w' scp f h:",
                           NULL},
          (const char *[]){"sh", "-c",
                           "mysql -uroot -p" R " shop < q.sql && ssh -p2222 h; "
                           "DB=1 sshpass -p '" R "' scp f h:"});
}

/* Custom patterns apply too (DPTRACE_REDACT_KEYS or dpt_redaction_set). */
static void test_custom_patterns_apply(void **st)
{
    (void)st;
    const char *pats[] = {"iban"};
    dpt_redaction r = {.patterns = pats, .n_patterns = 1};
    assert_int_equal(dpt_redaction_set(&r), DPT_OK);
    check((const char *[]){"pay", "--iban", "DE89", "--IBAN=DE89", NULL},
          (const char *[]){"pay", "--iban", R, "--IBAN=" R});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_value_options, reset, reset),
        cmocka_unit_test_setup_teardown(test_option_followed_by_its_value, reset, reset),
        cmocka_unit_test_setup_teardown(test_user_password_options, reset, reset),
        cmocka_unit_test_setup_teardown(test_header_lines, reset, reset),
        cmocka_unit_test_setup_teardown(test_urls_with_credentials_and_tokens, reset, reset),
        cmocka_unit_test_setup_teardown(test_request_bodies, reset, reset),
        cmocka_unit_test_setup_teardown(test_ordinary_arguments_are_kept, reset, reset),
        cmocka_unit_test_setup_teardown(test_custom_patterns_apply, reset, reset),
        cmocka_unit_test_setup_teardown(test_a_shell_command_in_one_argument, reset, reset),
        cmocka_unit_test_setup_teardown(test_tool_password_short_options, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
