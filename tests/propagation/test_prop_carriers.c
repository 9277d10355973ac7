/* test_prop_carriers.c - carriers (header arrays, the environment, envp for a child) and
 * propagator objects (composites, OTEL_PROPAGATORS, the global one, fields, NULLs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define TPV "00-12345678901234567890123456789012-1234567890123456-01"

static void test_headers_get_is_case_insensitive_and_ordered(void **st)
{
    (void)st;
    dpt_headers h = DPT_HEADERS_INIT;
    assert_int_equal(dpt_headers_add(&h, "TraceState", DPT_NUL, "a=1", DPT_NUL), DPT_OK);
    assert_int_equal(dpt_headers_add(&h, "x", DPT_NUL, "y", DPT_NUL), DPT_OK);
    assert_int_equal(dpt_headers_add(&h, "TRACESTATE", DPT_NUL, "b=2", 3), DPT_OK);
    size_t len = 0;
    assert_string_equal(dpt_headers_get(&h, "tracestate", 0, &len), "a=1");
    assert_int_equal(len, 3);
    assert_string_equal(dpt_headers_get(&h, "tracestate", 1, NULL), "b=2");
    assert_null(dpt_headers_get(&h, "tracestate", 2, NULL));
    assert_null(dpt_headers_get(&h, "tracestat", 0, NULL));
    dpt_headers_free(&h);
    assert_int_equal(h.n, 0);
}

static void test_headers_set_replaces_every_value(void **st)
{
    (void)st;
    dpt_headers h = DPT_HEADERS_INIT;
    dpt_headers_add(&h, "Traceparent", DPT_NUL, "old1", DPT_NUL);
    dpt_headers_add(&h, "traceparent", DPT_NUL, "old2", DPT_NUL);
    assert_int_equal(dpt_headers_set(&h, "traceparent", "new", 3), DPT_OK);
    assert_string_equal(dpt_headers_get(&h, "traceparent", 0, NULL), "new");
    assert_null(dpt_headers_get(&h, "traceparent", 1, NULL));
    dpt_headers_free(&h);
}

static void test_headers_wrap_reads_without_copying_and_copies_on_write(void **st)
{
    (void)st;
    const dpt_header arr[] = {{"traceparent", 11, TPV, 55}};
    dpt_headers h;
    dpt_headers_wrap(&h, arr, 1);
    assert_ptr_equal(dpt_headers_get(&h, "TRACEPARENT", 0, NULL), arr[0].value);
    dpt_context *c = NULL;
    assert_int_equal(
        dpt_propagator_extract(dpt_propagator_tracecontext(), &dpt_headers_getter, &h, &c), DPT_OK);
    assert_int_equal(dpt_headers_add(&h, "b", 1, "2", 1), DPT_OK);
    assert_int_equal(h.n, 2);
    assert_ptr_not_equal(dpt_headers_get(&h, "traceparent", 0, NULL), arr[0].value);
    assert_string_equal(arr[0].name, "traceparent"); /* the borrowed array is untouched */
    dpt_headers_free(&h);
    dpt_context_release(c);
}

static void test_headers_null_arguments(void **st)
{
    (void)st;
    dpt_headers h = DPT_HEADERS_INIT;
    assert_int_equal(dpt_headers_add(NULL, "a", 1, "b", 1), DPT_EINVAL);
    assert_int_equal(dpt_headers_add(&h, NULL, 1, "b", 1), DPT_EINVAL);
    assert_int_equal(dpt_headers_add(&h, "a", 1, NULL, 1), DPT_EINVAL);
    assert_int_equal(dpt_headers_add(&h, "", DPT_NUL, "b", 1), DPT_EINVAL);
    assert_int_equal(dpt_headers_set(NULL, "a", "b", 1), DPT_EINVAL);
    assert_int_equal(dpt_headers_set(&h, NULL, "b", 1), DPT_EINVAL);
    assert_null(dpt_headers_get(NULL, "a", 0, NULL));
    assert_null(dpt_headers_get(&h, NULL, 0, NULL));
    dpt_headers_wrap(NULL, NULL, 3);
    dpt_headers_free(NULL);
}

static void test_env_roundtrip_through_setenv_and_getenv(void **st)
{
    (void)st;
    unsetenv("TRACESTATE");
    unsetenv("BAGGAGE");
    setenv("TRACEPARENT", TPV, 1);
    setenv("TRACESTATE", "a=1", 1);
    setenv("BAGGAGE", "k=v", 1);
    dpt_context *c = NULL;
    const dpt_propagator *list[] = {dpt_propagator_tracecontext(), dpt_propagator_baggage()};
    dpt_propagator *p = dpt_propagator_composite(list, 2);
    assert_non_null(p);
    assert_int_equal(dpt_propagator_extract(p, &dpt_env_getter, NULL, &c), DPT_OK);
    assert_string_equal(dpt_baggage_get(dpt_context_baggage(c), "k"), "v");
    unsetenv("TRACEPARENT");
    unsetenv("TRACESTATE");
    unsetenv("BAGGAGE");
    assert_int_equal(dpt_propagator_inject(p, c, &dpt_env_setter, NULL), DPT_OK);
    assert_string_equal(getenv("TRACEPARENT"), TPV);
    assert_string_equal(getenv("TRACESTATE"), "a=1");
    assert_string_equal(getenv("BAGGAGE"), "k=v");
    unsetenv("TRACEPARENT");
    unsetenv("TRACESTATE");
    unsetenv("BAGGAGE");
    dpt_context_release(c);
    dpt_propagator_free(p);
}

static void test_envp_for_child_replaces_stale_trace_variables(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_traceparent_parse(TPV, DPT_NUL, &sc), DPT_OK);
    dpt_context *c = dpt_context_new(&sc, NULL, NULL);
    char *base[] = {"PATH=/bin", "TRACEPARENT=stale", "TRACESTATE=stale=1", "HOME=/root", NULL};
    char **envp = NULL;
    assert_int_equal(dpt_env_inject_envp(dpt_propagator_tracecontext(), c, base, &envp), DPT_OK);
    size_t n = 0;
    bool path = false, home = false, tp = false;
    for (char **e = envp; *e; e++, n++) {
        path |= strcmp(*e, "PATH=/bin") == 0;
        home |= strcmp(*e, "HOME=/root") == 0;
        tp |= strcmp(*e, "TRACEPARENT=" TPV) == 0;
        assert_null(strstr(*e, "stale"));
    }
    assert_int_equal(n, 3);
    assert_true(path && home && tp);
    dpt_env_free(envp);
    assert_int_equal(dpt_env_inject_envp(dpt_propagator_tracecontext(), c, NULL, &envp), DPT_OK);
    assert_string_equal(envp[0], "TRACEPARENT=" TPV);
    assert_null(envp[1]);
    dpt_env_free(envp);
    assert_int_equal(dpt_env_inject_envp(NULL, c, NULL, NULL), DPT_EINVAL);
    dpt_env_free(NULL);
    dpt_context_release(c);
}

/* A real child: /usr/bin/env started with the built envp prints the variables it got. */
static void test_child_process_receives_the_context(void **st)
{
    (void)st;
    if (access("/usr/bin/env", X_OK) != 0) skip();
    dpt_span_context sc;
    dpt_traceparent_parse(TPV, DPT_NUL, &sc);
    dpt_baggage *bg = NULL;
    dpt_baggage_set(NULL, "user", "alice b", NULL, &bg);
    dpt_context *c = dpt_context_new(&sc, NULL, bg);
    const dpt_propagator *l[] = {dpt_propagator_tracecontext(), dpt_propagator_baggage()};
    dpt_propagator *p = dpt_propagator_composite(l, 2);
    char *base[] = {"PATH=/usr/bin:/bin", NULL};
    char **envp = NULL;
    assert_int_equal(dpt_env_inject_envp(p, c, base, &envp), DPT_OK);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    char *argv[] = {"env", NULL};
    assert_int_equal(posix_spawn(&pid, "/usr/bin/env", &fa, NULL, argv, envp), 0);
    close(fds[1]);
    char out[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_non_null(strstr(out, "TRACEPARENT=" TPV "\n"));
    assert_non_null(strstr(out, "BAGGAGE=user=alice%20b\n"));
    /* and the child side reads it back */
    setenv("TRACEPARENT", TPV, 1);
    setenv("BAGGAGE", "user=alice%20b", 1);
    dpt_context *in = NULL;
    assert_int_equal(dpt_propagator_extract(p, &dpt_env_getter, NULL, &in), DPT_OK);
    assert_string_equal(dpt_baggage_get(dpt_context_baggage(in), "user"), "alice b");
    unsetenv("TRACEPARENT");
    unsetenv("BAGGAGE");
    dpt_context_release(in);
    dpt_env_free(envp);
    dpt_context_release(c);
    dpt_baggage_release(bg);
    dpt_propagator_free(p);
}

/* OpenTelemetry, SDK environment variables: OTEL_PROPAGATORS is a comma-separated list,
 * "Values MUST be deduplicated in order to register a Propagator only once", and enum
 * values are read case-insensitively; unknown names are logged and skipped (dptrace's own
 * choice: the known ones still work). */
static void test_from_names_builds_composites(void **st)
{
    (void)st;
    const char *f[8];
    dpt_propagator *p = dpt_propagator_from_names(NULL);
    assert_non_null(p);
    assert_int_equal(dpt_propagator_fields(p, f, 8), 3);
    assert_string_equal(f[0], "traceparent");
    assert_string_equal(f[2], "baggage");
    dpt_propagator_free(p);
    p = dpt_propagator_from_names(" b3multi , jaeger,B3Multi");
    assert_int_equal(dpt_propagator_fields(p, f, 8), 5);
    assert_string_equal(f[0], "x-b3-traceid");
    assert_string_equal(f[3], "x-b3-flags");
    assert_string_equal(f[4], "uber-trace-id");
    dpt_propagator_free(p);
    p = dpt_propagator_from_names("TraceContext,xray");
    assert_non_null(p);
    assert_int_equal(dpt_propagator_fields(p, NULL, 0), 2);
    dpt_propagator_free(p);
    p = dpt_propagator_from_names("tracecontext,none");
    assert_int_equal(dpt_propagator_fields(p, NULL, 0), 0);
    dpt_propagator_free(p);
    p = dpt_propagator_from_names("ottrace");
    assert_int_equal(dpt_propagator_fields(p, f, 8), 3);
    assert_string_equal(f[0], "ot-tracer-traceid");
    dpt_propagator_free(p);
}

static void test_from_env_reads_otel_propagators(void **st)
{
    (void)st;
    setenv("OTEL_PROPAGATORS", "b3", 1);
    dpt_propagator *p = dpt_propagator_from_env();
    const char *f[2];
    assert_int_equal(dpt_propagator_fields(p, f, 2), 1);
    assert_string_equal(f[0], "b3");
    dpt_propagator_free(p);
    unsetenv("OTEL_PROPAGATORS");
}

static void test_composite_later_valid_context_wins(void **st)
{
    (void)st;
    dpt_headers h = DPT_HEADERS_INIT;
    dpt_headers_add(&h, "traceparent", DPT_NUL, TPV, DPT_NUL);
    dpt_headers_add(&h, "b3", DPT_NUL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-1",
                    DPT_NUL);
    const dpt_propagator *l1[] = {dpt_propagator_tracecontext(), dpt_propagator_b3()};
    const dpt_propagator *l2[] = {dpt_propagator_b3(), dpt_propagator_tracecontext()};
    dpt_propagator *p1 = dpt_propagator_composite(l1, 2);
    dpt_propagator *p2 = dpt_propagator_composite(l2, 2);
    dpt_context *c1 = NULL, *c2 = NULL;
    assert_int_equal(dpt_propagator_extract(p1, &dpt_headers_getter, &h, &c1), DPT_OK);
    assert_int_equal(dpt_propagator_extract(p2, &dpt_headers_getter, &h, &c2), DPT_OK);
    assert_int_equal(dpt_context_span_context(c1).trace_id.b[0], 0xaa);
    assert_int_equal(dpt_context_span_context(c2).trace_id.b[0], 0x12);
    dpt_context_release(c1);
    dpt_context_release(c2);
    dpt_propagator_free(p1);
    dpt_propagator_free(p2);
    dpt_headers_free(&h);
}

static void test_composite_rejects_bad_arguments(void **st)
{
    (void)st;
    /* The project's rule: a constructor returns the object, or NULL after logging why. */
    const dpt_propagator *l[17];
    for (int i = 0; i < 17; i++)
        l[i] = dpt_propagator_none();
    assert_null(dpt_propagator_composite(l, 17));
    assert_null(dpt_propagator_composite(NULL, 1));
    l[0] = NULL;
    assert_null(dpt_propagator_composite(l, 2));
    dpt_propagator *p = dpt_propagator_composite(NULL, 0); /* an empty composite is fine */
    assert_non_null(p);
    assert_int_equal(dpt_propagator_fields(p, NULL, 0), 0);
    dpt_propagator_free(p);
    dpt_propagator_free(NULL);
    dpt_propagator_free((dpt_propagator *)dpt_propagator_b3()); /* built-ins are ignored */
    assert_int_equal(dpt_propagator_fields(NULL, NULL, 0), 0);
}

static void test_global_propagator_can_be_replaced(void **st)
{
    (void)st;
    assert_non_null(dpt_propagator_get_global());
    dpt_propagator_set_global(dpt_propagator_jaeger());
    assert_ptr_equal(dpt_propagator_get_global(), dpt_propagator_jaeger());
    dpt_headers h = DPT_HEADERS_INIT;
    dpt_span_context sc;
    dpt_traceparent_parse(TPV, DPT_NUL, &sc);
    dpt_context *c = dpt_context_new(&sc, NULL, NULL);
    assert_int_equal(dpt_propagator_inject(NULL, c, &dpt_headers_setter, &h), DPT_OK);
    assert_non_null(dpt_headers_get(&h, "uber-trace-id", 0, NULL));
    dpt_propagator_set_global(NULL);
    assert_ptr_not_equal(dpt_propagator_get_global(), dpt_propagator_jaeger());
    dpt_context_release(c);
    dpt_headers_free(&h);
}

static void test_extract_and_inject_null_arguments(void **st)
{
    (void)st;
    dpt_context *c = NULL;
    dpt_headers h = DPT_HEADERS_INIT;
    assert_int_equal(dpt_propagator_extract(NULL, &dpt_headers_getter, &h, NULL), DPT_EINVAL);
    assert_int_equal(dpt_propagator_extract(NULL, NULL, &h, &c), DPT_EINVAL);
    assert_null(c);
    dpt_getter nog = {NULL, NULL};
    assert_int_equal(dpt_propagator_extract(NULL, &nog, &h, &c), DPT_EINVAL);
    assert_int_equal(dpt_propagator_inject(NULL, NULL, NULL, &h), DPT_EINVAL);
    /* a NULL carrier is handed to the callbacks as is: the header getter sees nothing */
    assert_int_equal(dpt_propagator_extract(NULL, &dpt_headers_getter, NULL, &c), DPT_ENOTFOUND);
    dpt_context_release(c);
}

static int fail_calls;
static dpt_err failing_set(void *c, const char *n, const char *v, size_t l)
{
    (void)c, (void)n, (void)v, (void)l;
    fail_calls++;
    return DPT_EIO;
}

static void test_inject_returns_the_setter_error(void **st)
{
    (void)st;
    dpt_span_context sc;
    dpt_traceparent_parse(TPV, DPT_NUL, &sc);
    dpt_context *c = dpt_context_new(&sc, NULL, NULL);
    dpt_setter s = {failing_set};
    fail_calls = 0;
    dpt_propagator *p = dpt_propagator_from_names("tracecontext,b3");
    assert_int_equal(dpt_propagator_inject(p, c, &s, NULL), DPT_EIO);
    assert_int_equal(fail_calls, 1); /* stops at the first error */
    dpt_propagator_free(p);
    dpt_context_release(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_get_is_case_insensitive_and_ordered),
        cmocka_unit_test(test_headers_set_replaces_every_value),
        cmocka_unit_test(test_headers_wrap_reads_without_copying_and_copies_on_write),
        cmocka_unit_test(test_headers_null_arguments),
        cmocka_unit_test(test_env_roundtrip_through_setenv_and_getenv),
        cmocka_unit_test(test_envp_for_child_replaces_stale_trace_variables),
        cmocka_unit_test(test_child_process_receives_the_context),
        cmocka_unit_test(test_from_names_builds_composites),
        cmocka_unit_test(test_from_env_reads_otel_propagators),
        cmocka_unit_test(test_composite_later_valid_context_wins),
        cmocka_unit_test(test_composite_rejects_bad_arguments),
        cmocka_unit_test(test_global_propagator_can_be_replaced),
        cmocka_unit_test(test_extract_and_inject_null_arguments),
        cmocka_unit_test(test_inject_returns_the_setter_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
