/* test_log_hostile.c - diagnostics that quote hostile values: an environment variable
 * holding a newline, ESC or a megabyte of text gives one bounded line naming the variable,
 * never a forged second line or a terminal escape. dptrace's own choice, from the rule
 * "bad input gets a clear error ... and a rate-limited diagnostic" (docs/security.md,
 * "environment variables: validated, logged, default used"). */
#include "test_util.h"

typedef struct caught {
    int n;
    size_t longest;
    bool control;     /* a control byte reached the handler */
    bool named;       /* some message named the variable */
    char first[1100]; /* the first message naming the variable */
} caught;

static const char *watched;

static void catch_fn(dpt_log_level lvl, const char *msg, void *user)
{
    (void)lvl;
    caught *c = user;
    c->n++;
    size_t n = strlen(msg);
    if (n > c->longest) c->longest = n;
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) c->control = true;
    if (strstr(msg, watched) && !c->named) {
        c->named = true;
        snprintf(c->first, sizeof c->first, "%s", msg);
    }
}

/* Builds a provider from the environment with var=value and returns what was logged. */
static caught provoke(const char *var, const char *value)
{
    caught c = {0};
    watched = var;
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    setenv(var, value, 1);
    dpt_log_set_handler(catch_fn, &c, DPT_LOG_DEBUG);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(p); /* a sane default, never no provider */
    dpt_provider_free(p);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_ERROR);
    unsetenv(var);
    return c;
}

static void test_control_characters_in_a_value_cannot_forge_a_log_line(void **state)
{
    (void)state;
    const char *vars[] = {"OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER", "OTEL_BSP_MAX_QUEUE_SIZE",
                          "OTEL_SPAN_EVENT_COUNT_LIMIT"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        caught c = provoke(vars[i], "x\ndptrace: error: FORGED\r\x1b[31mred\x7f");
        assert_true(c.named);
        assert_false(c.control);
        /* the bytes are shown, escaped, so the operator sees what was there */
        assert_non_null(strstr(c.first, "x\\x0adptrace: error: FORGED\\x0d\\x1b[31mred\\x7f"));
    }
}

static void test_a_megabyte_value_gives_one_bounded_message(void **state)
{
    (void)state;
    size_t n = 1u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i % 7 == 6 ? '\n' : 'A');
    big[n] = 0;
    caught c = provoke("OTEL_TRACES_SAMPLER", big);
    assert_true(c.named);
    assert_false(c.control);
    assert_true(c.longest < 1024);           /* bounded whatever the input (100x and more) */
    assert_non_null(strstr(c.first, "...")); /* says it was cut */
    free(big);
}

/* The default handler (stderr): the forged text stays on the variable's line. */
static void forge_through_the_default_handler(void *arg)
{
    (void)arg;
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN); /* stderr, as by default */
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    setenv("OTEL_TRACES_SAMPLER", "bogus\ndptrace: error: FORGED", 1);
    dpt_provider_free(dpt_provider_from_env());
}

static void test_the_default_handler_writes_one_line_per_message(void **state)
{
    (void)state;
    char out[4096];
    child_stderr(forge_through_the_default_handler, NULL, out, sizeof out);
    assert_non_null(strstr(out, "OTEL_TRACES_SAMPLER=bogus\\x0adptrace: error: FORGED"));
    /* without the escape, "dptrace: error: FORGED" would start a line of its own */
    assert_false(strncmp(out, "dptrace: error: FORGED", 22) == 0);
    assert_null(strstr(out, "\ndptrace: error: FORGED"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_characters_in_a_value_cannot_forge_a_log_line),
        cmocka_unit_test(test_a_megabyte_value_gives_one_bounded_message),
        cmocka_unit_test(test_the_default_handler_writes_one_line_per_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
