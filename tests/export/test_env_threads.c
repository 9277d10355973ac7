/* test_env_threads.c - dptrace's own threads never read the process environment.
 *
 * Why this matters: POSIX, getenv(): "The getenv() function need not be thread-safe"; and
 * setenv(): "The setenv() function need not be thread-safe." With glibc, a getenv() that
 * runs while another thread calls setenv() or unsetenv() can read a freed environ array
 * and crash. An application may change its environment (the Python binding did, around
 * dpt_provider_from_env(), while earlier providers' export threads were starting: a crash
 * in 1 of ~200 runs, SIGSEGV in getenv("DPTRACE_EXPORT_SCHED") on a new export thread).
 * Only the application's own threads can agree with it on when that is safe, so dptrace
 * reads every variable in the call that builds a component (dpt_provider_from_env, the
 * processor and exporter constructors) and never from the export or HTTP threads.
 *
 * How: this executable defines getenv(), which takes the place of libc's for the whole
 * process (the library, libcurl), and counts every call made from a thread other than the
 * test's own. A whole pipeline then runs: batch processors exporting OTLP/HTTP to a
 * loopback collector (in a forked child, so its threads are not counted), over TLS, to
 * Zipkin, to a refused port (retries and warnings logged from the export path), and to a
 * file, with span attributes that the redaction rules look at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "collector.h"
#include "dptrace.h"
#include "dptrace/http.h"

extern char **environ;

static pthread_t main_thread;
static _Atomic int off_main;    /* getenv calls from other threads */
static char off_main_what[512]; /* which: "thread-name: VARIABLE; ..." (distinct ones) */
static pthread_mutex_t what_mu = PTHREAD_MUTEX_INITIALIZER;

static char *lookup(const char *name);

/* Take libc's place: the same lookup, plus the count. secure_getenv is the one OpenSSL
 * calls (for SSL_CERT_FILE and the like). */
char *getenv(const char *name)
{
    return lookup(name);
}

char *secure_getenv(const char *name)
{
    return lookup(name); /* the test runs without set-user-ID */
}

static char *lookup(const char *name)
{
    if (main_thread != 0 && !pthread_equal(pthread_self(), main_thread)) {
        atomic_fetch_add(&off_main, 1);
        char comm[17] = "", one[96];
        prctl(PR_GET_NAME, comm, 0, 0, 0);
        snprintf(one, sizeof one, "%s: %s; ", comm, name);
        pthread_mutex_lock(&what_mu);
        size_t used = strlen(off_main_what);
        if (!strstr(off_main_what, one) && used + strlen(one) < sizeof off_main_what)
            memcpy(off_main_what + used, one, strlen(one) + 1);
        pthread_mutex_unlock(&what_mu);
    }
    if (!environ) return NULL; /* name: non-null, as <stdlib.h> declares */
    size_t n = strlen(name);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

static void spans_of(dpt_provider *p, int n)
{
    dpt_tracer *t = dpt_provider_get_tracer(p, "env-threads", NULL);
    for (int i = 0; i < n; i++) {
        dpt_span s = dpt_span_start(t, "op", DPT_SPAN_CLIENT, NULL);
        dpt_span_set_str(s, "url.full", "https://user:pw@example.com/p?token=abc");
        dpt_span_set_str(s, "http.request.header.authorization", "Bearer x");
        dpt_span_set_int(s, "i", i);
        dpt_span_end(s);
    }
}

static void test_no_dptrace_thread_reads_the_environment(void **state)
{
    (void)state;
    char tmp[] = "/tmp/dpt-env-threads-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char file[128], url[128], dead[128], zipkin[128], tls[128], cert[128], key[128];
    snprintf(file, sizeof file, "%s/spans.jsonl", tmp);
    bool have_tls = col_make_cert(tmp, cert, key, sizeof cert);
    /* The collectors (plain and TLS) in a child process: its threads are not counted. */
    col_remote rc;
    assert_true(col_remote_start(&rc, NULL, have_tls ? cert : NULL, key));
    uint16_t dead_port = col_closed_port();
    assert_true(dead_port != 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", rc.port);
    snprintf(zipkin, sizeof zipkin, "http://127.0.0.1:%u/api/v2/spans", rc.port);
    snprintf(tls, sizeof tls, "https://127.0.0.1:%u", rc.tls_port);
    snprintf(dead, sizeof dead, "http://user:secret@127.0.0.1:%u", dead_port);

    assert_int_equal(dpt_http_register(), DPT_OK);
    /* Nothing read yet: the log level, the clock, the redaction rules are all still to be
     * decided when the first provider is built. */
    setenv("OTEL_LOG_LEVEL", "debug", 1);
    unsetenv("DPTRACE_LOG_LEVEL");
    setenv("OTEL_SERVICE_NAME", "env-threads", 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "5", 1);
    setenv("OTEL_TRACES_EXPORTER", "otlp", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url, 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
    dpt_provider *live = dpt_provider_from_env();
    assert_non_null(live);

    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", dead, 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200", 1);
    setenv("OTEL_TRACES_EXPORTER", "otlp", 1);
    dpt_provider *down = dpt_provider_from_env();
    assert_non_null(down);

    setenv("OTEL_TRACES_EXPORTER", "file", 1);
    setenv("DPTRACE_EXPORT_FILE", file, 1);
    dpt_provider *to_file = dpt_provider_from_env();
    assert_non_null(to_file);

    setenv("OTEL_TRACES_EXPORTER", "zipkin", 1);
    setenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT", zipkin, 1);
    dpt_provider *to_zipkin = dpt_provider_from_env();
    assert_non_null(to_zipkin);

    /* OTLP over TLS, trusting the collector's certificate (OpenSSL on the I/O thread). */
    dpt_provider *over_tls = NULL;
    if (have_tls) {
        setenv("OTEL_TRACES_EXPORTER", "otlp", 1);
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tls, 1);
        setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", cert, 1);
        setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5000", 1);
        over_tls = dpt_provider_from_env();
        assert_non_null(over_tls);
    }

    /* The application changes its environment while the threads run (as it may). */
    for (int round = 0; round < 20; round++) {
        spans_of(live, 50);
        spans_of(down, 50);
        spans_of(to_file, 50);
        spans_of(to_zipkin, 50);
        if (over_tls) spans_of(over_tls, 50);
        setenv("DPT_TEST_CHURN", round % 2 ? "a" : "bb", 1);
        struct timespec ms = {0, 5000000};
        nanosleep(&ms, NULL);
    }
    assert_int_equal(dpt_provider_force_flush(live, 5000), DPT_OK);
    assert_int_equal(dpt_provider_force_flush(to_file, 5000), DPT_OK);
    (void)dpt_provider_force_flush(down, 1000); /* fails: nothing listens */
    assert_int_equal(dpt_provider_force_flush(to_zipkin, 5000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(live, &st);
    assert_int_equal(st.spans_exported, 1000); /* the pipelines did run */
    dpt_provider_get_stats(to_zipkin, &st);
    assert_int_equal(st.spans_exported, 1000);
    if (over_tls) {
        assert_int_equal(dpt_provider_force_flush(over_tls, 5000), DPT_OK);
        dpt_provider_get_stats(over_tls, &st);
        assert_int_equal(st.spans_exported, 1000);
    } else {
        fprintf(stderr, "no openssl tool: the TLS pipeline was not run\n");
    }
    dpt_provider_shutdown(live, 2000);
    dpt_provider_shutdown(down, 500);
    dpt_provider_shutdown(to_file, 2000);
    dpt_provider_free(live);
    dpt_provider_free(down);
    dpt_provider_free(to_file);
    dpt_provider_free(to_zipkin);
    dpt_provider_free(over_tls);
    assert_true(col_remote_stop(&rc) != UINT64_MAX);

    pthread_mutex_lock(&what_mu);
    if (atomic_load(&off_main) != 0)
        fprintf(stderr, "getenv from a dptrace thread (%d calls): %s\n", atomic_load(&off_main),
                off_main_what);
    pthread_mutex_unlock(&what_mu);
    assert_int_equal(atomic_load(&off_main), 0);
    unlink(file);
    unlink(cert);
    unlink(key);
    rmdir(tmp);
}

int main(void)
{
    main_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_dptrace_thread_reads_the_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
