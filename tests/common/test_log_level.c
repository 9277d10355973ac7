/* test_log_level.c - the diagnostic level from the environment: OTEL_LOG_LEVEL (the
 * specification's variable, configuration/sdk-environment-variables.md: "Log level used by
 * the SDK internal logger"), DPTRACE_LOG_LEVEL as a more specific alias, and an invalid
 * value reported. Each case runs in a forked child whose stderr is captured, because the
 * level is read once per process, at the first message. */
#include "test_util.h"

/* In a child: the given variables (NULL: unset), then one warning (an unknown sampler). */
typedef struct levels {
    const char *otel, *dpt;
} levels;

static void provoke_warning(void *arg)
{
    const levels *l = arg;
    if (l->otel)
        setenv("OTEL_LOG_LEVEL", l->otel, 1);
    else
        unsetenv("OTEL_LOG_LEVEL");
    if (l->dpt)
        setenv("DPTRACE_LOG_LEVEL", l->dpt, 1);
    else
        unsetenv("DPTRACE_LOG_LEVEL");
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("OTEL_TRACES_SAMPLER", "bogus_sampler", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    dpt_provider_free(dpt_provider_from_env());
}

/* What such a child wrote to stderr. */
static void run_child(const char *otel, const char *dpt, char *out, size_t cap)
{
    levels l = {otel, dpt};
    child_stderr(provoke_warning, &l, out, cap);
}

static void test_otel_log_level_error_hides_warnings(void **state)
{
    (void)state;
    char out[2048];
    run_child("error", NULL, out, sizeof out);
    assert_string_equal(out, "");
    run_child("ERROR", NULL, out, sizeof out); /* enum values are case-insensitive */
    assert_string_equal(out, "");
    run_child("warn", NULL, out, sizeof out);
    assert_non_null(strstr(out, "OTEL_TRACES_SAMPLER=bogus_sampler"));
    run_child(NULL, NULL, out, sizeof out); /* default: warn (our choice, see configuration.md) */
    assert_non_null(strstr(out, "bogus_sampler"));
}

static void test_dptrace_log_level_is_an_alias_that_wins(void **state)
{
    (void)state;
    char out[2048];
    run_child("debug", "off", out, sizeof out);
    assert_string_equal(out, "");
    run_child(NULL, "error", out, sizeof out);
    assert_string_equal(out, "");
}

static void test_an_unknown_level_is_reported(void **state)
{
    (void)state;
    char out[2048];
    run_child(NULL, "verbose", out, sizeof out);
    assert_non_null(strstr(out, "DPTRACE_LOG_LEVEL=verbose"));
    run_child("loud", NULL, out, sizeof out);
    assert_non_null(strstr(out, "OTEL_LOG_LEVEL=loud"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otel_log_level_error_hides_warnings),
        cmocka_unit_test(test_dptrace_log_level_is_an_alias_that_wins),
        cmocka_unit_test(test_an_unknown_level_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
