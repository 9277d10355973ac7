/* test_export_http.c - the OTLP/HTTP and Zipkin exporters against the loopback test
 * collector: delivery, formats, headers, gzip, connection reuse, the retry policy
 * (statuses, Retry-After in both forms, refused connections, stalls, timeouts), partial
 * success, configuration from the environment, and the batch pipeline's accounting
 * (exported + dropped + failed == ended) including shutdown with a hanging collector.
 * Timing bounds are generous lower/upper limits, never exact values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "thread_policy.h"
#include "common.h"
#include "dptrace/http.h"
#include "test_export_fixture.h"

static collector *col;
static char url[128];

static int setup(void **state)
{
    (void)state;
    /* Loopback only: a proxy from the environment must not intercept the requests. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    col = collector_start(0);
    if (!col) return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/traces", collector_port(col));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    collector_stop(col);
    return 0;
}

/* A fresh collector for each test, so counts start at zero. */
static int fresh(void **state)
{
    teardown(state);
    return setup(state);
}

static void cfg_fast(dpt_http_exporter_config *cfg)
{
    dpt_http_exporter_config_default(cfg);
    cfg->url = url;
    cfg->initial_backoff_ms = 100;
    cfg->max_backoff_ms = 400;
    cfg->max_attempts = 0;
    cfg->timeout_ms = 5000;
}

typedef struct batch_of {
    fx f;
    const dpt_span_data *d[64];
    size_t n;
} batch_of;

static void make_spans(batch_of *b, int n)
{
    assert_int_equal(fx_open(&b->f, "http-test", NULL), 0);
    for (int i = 0; i < n; i++)
        fx_rich_span(&b->f);
    b->n = fx_take(&b->f, b->d, 64);
    assert_int_equal(b->n, (size_t)n);
}

static void free_spans(batch_of *b)
{
    fx_release(b->d, b->n);
    fx_close(&b->f);
}

static dpt_http_exporter_stats stats_of(dpt_exporter *e)
{
    dpt_http_exporter_stats s;
    assert_int_equal(dpt_exporter_http_get_stats(e, &s), DPT_OK);
    return s;
}

static void test_otlp_http_delivers_protobuf_with_headers_on_one_connection(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 5);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_http_header hdr = {"x-api-key", "secret-1"};
    cfg.headers = &hdr;
    cfg.n_headers = 1;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    for (int i = 0; i < 3; i++)
        assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    assert_int_equal(collector_requests(col), 3);
    assert_int_equal(collector_spans_accepted(col), 15);
    col_request r0, r;
    assert_true(collector_request(col, 0, &r0));
    for (size_t i = 0; i < 3; i++) {
        assert_true(collector_request(col, i, &r));
        assert_string_equal(r.path, "/v1/traces");
        assert_string_equal(r.content_type, "application/x-protobuf");
        assert_string_equal(r.api_key, "secret-1");
        /* exporter spec, "User Agent": OTel-OTLP-Exporter-<language>/<version> */
        assert_true(strncmp(r.user_agent, "OTel-OTLP-Exporter-C/", 21) == 0);
        assert_false(r.gzip);
        assert_int_equal(r.client_port, r0.client_port); /* the connection was reused */
    }
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.exports, 3);
    assert_int_equal(s.exports_ok, 3);
    assert_int_equal(s.attempts, 3);
    assert_int_equal(s.retries, 0);
    assert_int_equal(s.spans_sent, 15);
    assert_int_equal(s.last_http_status, 200);
    dpt_exporter_free(e);
    free_spans(&b);
}

/* Our choice (src/common/thread.c, docs/ARCHITECTURE.md "Export threads"): the HTTP
 * client's I/O thread runs in SCHED_BATCH, so its wake-ups (a batch to send, an answer
 * arriving) do not preempt the application's threads, unless DPTRACE_EXPORT_SCHED=other. */
static void test_the_io_thread_runs_in_sched_batch_unless_told_otherwise(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 5);
    for (int other = 0; other < 2; other++) {
        if (other) setenv("DPTRACE_EXPORT_SCHED", "other", 1);
        dpt_http_exporter_config cfg;
        cfg_fast(&cfg);
        dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
        assert_non_null(e);
        assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
        assert_int_equal(thread_policy_of("dpt-http", 5000), other ? SCHED_OTHER : SCHED_BATCH);
        dpt_exporter_free(e);
        assert_int_equal(thread_policy_of("dpt-http", 0), -1);
    }
    unsetenv("DPTRACE_EXPORT_SCHED");
    free_spans(&b);
}

/* libcurl's proxy variables are honoured with libcurl's own rules (http_proxy in lower
 * case only for http://, all_proxy, no_proxy), but read when the exporter is made: libcurl
 * would read them on the I/O thread at each new connection, and a getenv() there can
 * crash against the application's setenv() (src/common/thread.c). */
static void test_proxy_variables_are_read_when_the_exporter_is_made(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 3);
    char proxy[64], dead_proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", collector_port(col));
    uint16_t dead = col_closed_port();
    assert_true(dead != 0);
    snprintf(dead_proxy, sizeof dead_proxy, "http://127.0.0.1:%u", dead);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.max_attempts = 1;
    cfg.timeout_ms = 2000;

    /* Through the proxy (the collector plays it): the endpoint's host is never resolved. */
    setenv("http_proxy", proxy, 1);
    cfg.url = "http://otlp.invalid:4318/v1/traces";
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    unsetenv("http_proxy"); /* read already: the exporter keeps what it found */
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    col_request r;
    assert_true(collector_request(col, 0, &r));
    assert_non_null(strstr(r.path, "otlp.invalid:4318/v1/traces")); /* a proxy's request */
    assert_int_equal(r.spans, 3);
    dpt_exporter_free(e);

    /* all_proxy when there is no http_proxy; no_proxy bypasses it for the listed hosts. */
    setenv("all_proxy", dead_proxy, 1);
    cfg.url = url;
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_not_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK); /* the proxy is down */
    dpt_exporter_free(e);
    setenv("no_proxy", "127.0.0.1", 1);
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    unsetenv("all_proxy");
    unsetenv("no_proxy");

    /* HTTP_PROXY in upper case is not used for http:// (libcurl's rule: in a CGI program a
     * request's "Proxy:" header becomes HTTP_PROXY). */
    setenv("HTTP_PROXY", dead_proxy, 1);
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    unsetenv("HTTP_PROXY");
    assert_int_equal(collector_spans_accepted(col), 9);
    setenv("no_proxy", "*", 1); /* as ctest sets it for these tests */
    setenv("NO_PROXY", "*", 1);
    free_spans(&b);
}

static void test_a_header_longer_than_512_bytes_is_sent_whole(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 1);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    /* Bearer tokens (JWTs) are often longer than a kilobyte. */
    static char token[2001];
    memset(token, 'a', sizeof token - 1);
    dpt_http_header hdr = {"x-api-key", token};
    cfg.headers = &hdr;
    cfg.n_headers = 1;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    col_request r;
    assert_true(collector_request(col, 0, &r));
    assert_int_equal(r.api_key_len, sizeof token - 1);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_otlp_http_json_with_gzip(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 7);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.protocol = DPT_OTLP_HTTP_JSON;
    cfg.gzip = true;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    col_request r;
    assert_true(collector_request(col, 0, &r));
    assert_true(r.gzip);
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.spans, 7); /* decompressed and parsed by the collector */
    dpt_http_exporter_stats s = stats_of(e);
    char *js = NULL;
    size_t len = 0;
    assert_int_equal(dpt_otlp_json_encode(b.d, b.n, &js, &len), DPT_OK);
    assert_true(s.bytes_sent < len / 2); /* compressed */
    dpt_free(js);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_retry_after_seconds_is_honoured_on_503(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 2);
    col_action a = {COL_STATUS, 503, "1", 0, 0, NULL};
    collector_script(col, &a, 1);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    uint64_t t0 = col_now_ms();
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    uint64_t took = col_now_ms() - t0;
    col_request r0, r1;
    assert_true(collector_request(col, 0, &r0));
    assert_true(collector_request(col, 1, &r1));
    assert_int_equal(r0.answered, 503);
    assert_int_equal(r1.answered, 200);
    /* Retry-After: 1 beats the 100 ms backoff. */
    assert_true(r1.at_ms - r0.at_ms >= 950);
    assert_true(took < 4000);
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.attempts, 2);
    assert_int_equal(s.retries, 1);
    assert_int_equal(s.exports_ok, 1);
    assert_int_equal(collector_spans_accepted(col), 2);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_retry_after_http_date_is_honoured_on_429(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 1);
    char date[64];
    time_t when = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    col_action a = {COL_STATUS, 429, date, 0, 0, NULL};
    collector_script(col, &a, 1);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    col_request r0, r1;
    assert_true(collector_request(col, 0, &r0));
    assert_true(collector_request(col, 1, &r1));
    /* The date has 1 s resolution: the wait is 1-2 s, far above the 100 ms backoff. */
    assert_true(r1.at_ms - r0.at_ms >= 900);
    assert_int_equal(stats_of(e).retries, 1);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_backoff_grows_between_retries_of_429_502_504(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 3);
    col_action a[] = {{COL_STATUS, 429, NULL, 0, 0, NULL},
                      {COL_STATUS, 502, NULL, 0, 0, NULL},
                      {COL_STATUS, 504, NULL, 0, 0, NULL}};
    collector_script(col, a, 3);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    assert_int_equal(collector_requests(col), 4);
    col_request r[4];
    for (size_t i = 0; i < 4; i++)
        assert_true(collector_request(col, i, &r[i]));
    /* Waits of at least half of 100, 200, 400 ms (jitter) and at most the full values
     * plus generous scheduling slack. */
    uint64_t w1 = r[1].at_ms - r[0].at_ms, w2 = r[2].at_ms - r[1].at_ms,
             w3 = r[3].at_ms - r[2].at_ms;
    assert_true(w1 >= 45 && w1 < 1100);
    assert_true(w2 >= 95 && w2 < 1200);
    assert_true(w3 >= 195 && w3 < 1400);
    assert_int_equal(r[3].answered, 200);
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.retries, 3);
    assert_int_equal(s.exports_ok, 1);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_400_and_other_4xx_are_not_retried(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 2);
    col_action a[] = {{COL_STATUS, 400, NULL, 0, 0, NULL},
                      {COL_STATUS, 401, "1", 0, 0, NULL},
                      {COL_STATUS, 500, NULL, 0, 0, NULL}};
    collector_script(col, a, 3);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    for (int i = 0; i < 3; i++)
        assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_EEXPORT);
    assert_int_equal(collector_requests(col), 3); /* one attempt each */
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.exports_failed, 3);
    assert_int_equal(s.retries, 0);
    assert_int_equal(s.last_http_status, 500);
    /* The next export works: a failure leaves the exporter usable. */
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_retry_after_beyond_the_timeout_fails_at_once(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 1);
    col_action a = {COL_STATUS, 503, "30", 0, 0, NULL};
    collector_script(col, &a, 1);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.timeout_ms = 2000;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    uint64_t t0 = col_now_ms();
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_ETIMEDOUT);
    assert_true(col_now_ms() - t0 < 1500);
    assert_int_equal(collector_requests(col), 1);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_refused_connections_are_retried_within_the_timeout(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 2);
    collector_pause(col); /* nothing listens: connect() is refused */
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.timeout_ms = 1500;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    uint64_t t0 = col_now_ms();
    dpt_err err = dpt_exporter_export(e, b.d, b.n);
    uint64_t took = col_now_ms() - t0;
    assert_true(err == DPT_ETIMEDOUT || err == DPT_EEXPORT);
    assert_true(took < 1500 + 1000);
    dpt_http_exporter_stats s = stats_of(e);
    assert_true(s.attempts >= 3); /* 100, 200, 400 ms backoffs fit in 1.5 s */
    assert_int_equal(s.exports_failed, 1);
    assert_int_equal(s.last_http_status, 0);
    dpt_exporter_free(e);
    free_spans(&b);
    assert_true(collector_resume(col));
}

typedef struct resume_arg {
    collector *c;
    uint32_t after_ms;
} resume_arg;

static void *resume_later(void *p)
{
    resume_arg *a = p;
    usleep(a->after_ms * 1000);
    collector_resume(a->c);
    return NULL;
}

static void test_export_succeeds_when_the_collector_comes_back(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 4);
    collector_pause(col);
    resume_arg ra = {col, 300};
    pthread_t th;
    pthread_create(&th, NULL, resume_later, &ra);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    pthread_join(th, NULL);
    dpt_http_exporter_stats s = stats_of(e);
    assert_true(s.retries >= 1);
    assert_int_equal(collector_spans_accepted(col), 4);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_stalled_collector_times_out_the_export(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 1);
    col_action a = {COL_STALL, 0, NULL, 10000, 0, NULL};
    collector_script(col, &a, 1);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.timeout_ms = 500;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    uint64_t t0 = col_now_ms();
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_ETIMEDOUT);
    uint64_t took = col_now_ms() - t0;
    assert_true(took >= 450 && took < 2000);
    collector_release_stalls(col);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_partial_success_is_accepted_and_counted(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 6);
    col_action a[] = {{COL_PARTIAL, 0, NULL, 0, 3, "three bad spans"},
                      {COL_PARTIAL, 0, NULL, 0, 2, "two more"}};
    collector_script(col, a, 2);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.spans_rejected, 3);
    assert_int_equal(s.retries, 0); /* partial success is never retried */
    dpt_exporter_free(e);

    cfg.protocol = DPT_OTLP_HTTP_JSON;
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    assert_int_equal(stats_of(e).spans_rejected, 2);
    dpt_exporter_free(e);

    /* A lying collector: 2^63-1 rejected of 6 sent counts 6 (dptrace's own rule: no count
     * says more spans than were sent). */
    col_action lie[] = {{COL_PARTIAL, 0, NULL, 0, INT64_MAX, "all and more"}};
    collector_script(col, lie, 1);
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    assert_int_equal(stats_of(e).spans_rejected, 6);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_zipkin_http_posts_a_json_span_list(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 3);
    char zurl[128];
    snprintf(zurl, sizeof zurl, "http://127.0.0.1:%u/api/v2/spans", collector_port(col));
    setenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT", zurl, 1);
    setenv("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "3000", 1);
    dpt_exporter *e = dpt_exporter_zipkin_http_from_env();
    unsetenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT");
    unsetenv("OTEL_EXPORTER_ZIPKIN_TIMEOUT");
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    col_request r;
    assert_true(collector_request(col, 0, &r));
    assert_string_equal(r.path, "/api/v2/spans");
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.answered, 202);
    assert_int_equal(r.spans, 3);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_otlp_exporter_from_env_variables(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 2);
    char base[96];
    snprintf(base, sizeof base, "http://127.0.0.1:%u/", collector_port(col));
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base, 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s%20cret, other = 1", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "not-a-number", 1);
    dpt_exporter *e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    col_request r;
    assert_true(collector_request(col, 0, &r));
    assert_string_equal(r.path, "/v1/traces"); /* base + signal path, one slash */
    assert_string_equal(r.api_key, "s cret");
    assert_true(r.gzip);
    assert_string_equal(r.content_type, "application/json");

    /* The signal-specific endpoint is used as is; its headers win. */
    char custom[128];
    snprintf(custom, sizeof custom, "http://127.0.0.1:%u/custom/path", collector_port(col));
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", custom, 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=traces", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1);
    e = dpt_exporter_otlp_http_from_env();
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    assert_true(collector_request(col, 1, &r));
    assert_string_equal(r.path, "/custom/path");
    assert_string_equal(r.api_key, "traces");
    assert_string_equal(r.content_type, "application/x-protobuf");
    const char *vars[] = {"OTEL_EXPORTER_OTLP_ENDPOINT",
                          "OTEL_EXPORTER_OTLP_HEADERS",
                          "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                          "OTEL_EXPORTER_OTLP_PROTOCOL",
                          "OTEL_EXPORTER_OTLP_TIMEOUT",
                          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                          "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                          "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    free_spans(&b);
}

static int n_warnings;
static char warnings[1024];

static void keep_warnings(dpt_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level < DPT_LOG_WARN) return;
    n_warnings++;
    size_t n = strlen(warnings);
    snprintf(warnings + n, sizeof warnings - n, "%s\n", msg);
}

/* OTLP ("OTLP/HTTP Request"): "The client SHOULD limit the size of the request body,
 * including before compression ... It is RECOMMENDED to use 64 MiB as the default limit.
 * Implementations SHOULD allow this limit to be configured. If the limit is exceeded, the
 * client MUST NOT make the request and SHOULD record the fact that the request was
 * discarded." Measured before gzip; a batch under the limit still goes; the variable
 * DPTRACE_EXPORT_MAX_REQUEST_BYTES sets it and a value under 1024 is refused (warned). */
static void test_a_request_over_the_size_limit_is_not_sent(void **state)
{
    (void)state;
    batch_of big, small;
    make_spans(&big, 40);
    make_spans(&small, 1);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.gzip = true; /* the limit applies before compression */
    cfg.max_request_bytes = 4096;
    n_warnings = 0;
    warnings[0] = 0;
    dpt_log_set_handler(keep_warnings, NULL, DPT_LOG_WARN);
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, big.d, big.n), DPT_EEXPORT);
    assert_int_equal(collector_requests(col), 0); /* not made */
    assert_int_equal(dpt_exporter_export(e, small.d, small.n), DPT_OK);
    assert_int_equal(collector_requests(col), 1);
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.requests_too_large, 1);
    assert_int_equal(s.exports, 2);
    assert_int_equal(s.exports_failed, 1);
    assert_int_equal(s.spans_failed, 40);
    assert_int_equal(s.spans_sent, 1);
    assert_int_equal(s.attempts, 1);
    assert_int_equal(n_warnings, 1);
    assert_non_null(strstr(warnings, "over the limit of 4096"));
    dpt_exporter_free(e);

    /* From the environment: 2048 applies; 100 is refused with a warning (the default). */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
    setenv("DPTRACE_EXPORT_MAX_REQUEST_BYTES", "2048", 1);
    e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, big.d, big.n), DPT_EEXPORT);
    assert_int_equal(stats_of(e).requests_too_large, 1);
    dpt_exporter_free(e);
    n_warnings = 0;
    warnings[0] = 0;
    setenv("DPTRACE_EXPORT_MAX_REQUEST_BYTES", "100", 1);
    e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    assert_non_null(strstr(warnings, "DPTRACE_EXPORT_MAX_REQUEST_BYTES is not a number"));
    assert_int_equal(dpt_exporter_export(e, big.d, big.n), DPT_OK); /* 64 MiB applies */
    assert_int_equal(stats_of(e).requests_too_large, 0);
    dpt_exporter_free(e);
    unsetenv("DPTRACE_EXPORT_MAX_REQUEST_BYTES");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    free_spans(&big);
    free_spans(&small);
}

/* Spec (sdk-environment-variables.md, Boolean): "Any value that represents a Boolean MUST
 * be set to true only by the case-insensitive string "true" [...] If any value other than
 * a true value, case-insensitive string "false", empty, or unset is used, a warning SHOULD
 * be logged". OTEL_EXPORTER_OTLP_INSECURE=1 is false, and said so; the per-signal variable
 * is the one read when both are set. */
static void test_insecure_other_than_true_or_false_is_warned_about(void **state)
{
    (void)state;
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces", 1);
    dpt_log_set_handler(keep_warnings, NULL, DPT_LOG_WARN);
    n_warnings = 0;
    warnings[0] = 0;
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "1", 1);
    dpt_exporter *e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    dpt_exporter_free(e);
    assert_non_null(strstr(warnings, "OTEL_EXPORTER_OTLP_INSECURE=1 is not a boolean"));
    n_warnings = 0;
    warnings[0] = 0;
    setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false", 1);
    e = dpt_exporter_otlp_http_from_env();
    dpt_exporter_free(e);
    assert_int_equal(n_warnings, 0);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    unsetenv("OTEL_EXPORTER_OTLP_INSECURE");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
}

/* Header values are percent-decoded by the project's one decoder (dpt__pct_decode, through
 * dpt__kvlist): exporter.md, "Specifying headers via environment variables", says the
 * format matches W3C Baggage, whose values are percent-encoded (RFC 3986 section 2.1,
 * 'pct-encoded = "%" HEXDIG HEXDIG', either case). Rejected, each entry on its own with a
 * warning that names its position and never the value: a '%' not followed by two hex
 * digits ("%zz", "%4", a final "%"), and an escape that decodes to a NUL byte (a header
 * value cannot hold one). The exporter's old decoder sent such values on as written. */
static void test_otlp_headers_with_bad_escapes_are_dropped_not_sent_as_written(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
    static const struct {
        const char *headers;
        const char *api_key; /* as the collector receives it; "" when not sent */
    } cases[] = {
        {"x-api-key=s%zzcret", ""},
        {"x-api-key=secre%4", ""},
        {"x-api-key=secret%", ""},
        {"x-api-key=sec%00ret", ""},
        {"x-api-key=%53%65c%72%65%74,x-other=%", "Secret"}, /* the bad entry alone dropped */
        {"x-api-key=%4a%4A", "JJ"},
    };
    dpt_log_set_handler(keep_warnings, NULL, DPT_LOG_WARN);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n_warnings = 0;
        warnings[0] = 0;
        setenv("OTEL_EXPORTER_OTLP_HEADERS", cases[i].headers, 1);
        dpt_exporter *e = dpt_exporter_otlp_http_from_env();
        assert_non_null(e);
        assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
        dpt_exporter_free(e);
        col_request r;
        assert_true(collector_request(col, (int)i, &r));
        assert_string_equal(r.api_key, cases[i].api_key);
        bool bad = strcmp(cases[i].api_key, "JJ") != 0;
        assert_int_equal(n_warnings, bad ? 1 : 0);
        if (bad) {
            assert_non_null(strstr(warnings, "OTEL_EXPORTER_OTLP_HEADERS: entry"));
            assert_null(strstr(warnings, "cret"));
            assert_null(strstr(warnings, "%"));
        }
    }
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    free_spans(&b);
}

static void test_provider_from_env_uses_registered_otlp_factory(void **state)
{
    (void)state;
    assert_int_equal(dpt_http_register(), DPT_OK);
    assert_int_equal(dpt_http_register(), DPT_OK); /* idempotent */
    setenv("OTEL_TRACES_EXPORTER", "otlp", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "20", 1);
    setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(p);
    dpt_tracer *t = dpt_provider_get_tracer(p, "env", NULL);
    for (int i = 0; i < 25; i++)
        fx_simple_span(t, "via-env");
    assert_int_equal(dpt_provider_shutdown(p, 5000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    dpt_provider_free(p);
    unsetenv("OTEL_TRACES_EXPORTER");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    unsetenv("OTEL_BSP_SCHEDULE_DELAY");
    assert_int_equal(st.spans_exported, 25);
    assert_int_equal(collector_spans_accepted(col), 25);
}

typedef struct export_arg {
    dpt_exporter *e;
    const dpt_span_data *const *d;
    size_t n;
    dpt_err err;
    uint64_t done_ms;
} export_arg;

static void *export_in_thread(void *p)
{
    export_arg *a = p;
    a->err = dpt_exporter_export(a->e, a->d, a->n);
    a->done_ms = col_now_ms();
    return NULL;
}

static void test_exporter_shutdown_interrupts_a_stalled_export(void **state)
{
    (void)state;
    batch_of b;
    make_spans(&b, 3);
    col_action a = {COL_STALL, 0, NULL, 60000, 0, NULL};
    collector_set_default(col, a);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.timeout_ms = 30000;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    export_arg ea = {e, b.d, b.n, DPT_OK, 0};
    pthread_t th;
    pthread_create(&th, NULL, export_in_thread, &ea);
    assert_true(collector_wait_requests(col, 1, 5000));
    /* The exporter's own shutdown, as a processor calls it, from this other thread. */
    uint64_t t0 = col_now_ms();
    assert_int_equal(dpt_exporter_shutdown(e, 2000), DPT_OK);
    uint64_t took = col_now_ms() - t0;
    pthread_join(th, NULL);
    assert_true(took < 1500);
    assert_true(ea.done_ms - t0 < 1500);
    assert_int_equal(ea.err, DPT_ESTATE);
    /* After shutdown nothing is sent any more. */
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_ESTATE);
    assert_int_equal(collector_requests(col), 1);
    dpt_http_exporter_stats s = stats_of(e);
    assert_int_equal(s.exports_failed, 1);
    collector_release_stalls(col);
    dpt_exporter_free(e);
    free_spans(&b);
}

static void test_https_verifies_the_collector_certificate(void **state)
{
    (void)state;
    char dir[64], cert[128], key[128], cmd[160];
    snprintf(dir, sizeof dir, "/tmp/dpt_tls_XXXXXX");
    assert_non_null(mkdtemp(dir));
    if (!col_make_cert(dir, cert, key, sizeof cert)) skip();
    collector *tc = collector_start_tls(0, cert, key);
    assert_non_null(tc);
    char surl[96];
    snprintf(surl, sizeof surl, "https://127.0.0.1:%u/v1/traces", collector_port(tc));
    batch_of b;
    make_spans(&b, 2);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.url = surl;

    /* Trusting the collector's certificate: delivered. */
    cfg.ca_file = cert;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    assert_int_equal(collector_spans_accepted(tc), 2);

    /* Not trusted (system CAs only): refused at once, a certificate problem is not
     * something a retry fixes. */
    cfg.ca_file = NULL;
    e = dpt_exporter_otlp_http(&cfg);
    uint64_t t0 = col_now_ms();
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_EEXPORT);
    assert_true(col_now_ms() - t0 < 2000);
    assert_int_equal(stats_of(e).attempts, 1);
    dpt_exporter_free(e);

    /* Verification off (test set-ups): delivered. */
    cfg.insecure_skip_verify = true;
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);

    /* A client certificate that cannot be loaded fails the export, without retries. */
    cfg.insecure_skip_verify = false;
    cfg.ca_file = cert;
    cfg.client_cert_file = "/nonexistent/client.pem";
    cfg.client_key_file = "/nonexistent/client.key";
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_EEXPORT);
    assert_int_equal(stats_of(e).attempts, 1);
    dpt_exporter_free(e);
    /* ... and one that loads is sent (the collector does not ask for it, but the
     * handshake works with it configured). */
    cfg.client_cert_file = cert;
    cfg.client_key_file = key;
    e = dpt_exporter_otlp_http(&cfg);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_OK);
    dpt_exporter_free(e);
    assert_int_equal(collector_spans_accepted(tc), 6);

    /* Exporter spec, "Insecure": "only applies to OTLP/gRPC when an endpoint is provided
     * without the http or https scheme - OTLP/HTTP always uses the scheme provided for the
     * endpoint". OTEL_EXPORTER_OTLP_INSECURE=true must not turn verification off. */
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", surl, 1);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true", 1);
    e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, b.d, b.n), DPT_EEXPORT); /* not trusted */
    dpt_exporter_free(e);
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_INSECURE");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE");
    assert_int_equal(collector_spans_accepted(tc), 6);

    collector_stop(tc);
    free_spans(&b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- endpoint validation, deadlines, concurrency, pipelines -------------------------- */

static int n_errors;
static char last_error[512];

static void count_errors(dpt_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= DPT_LOG_ERROR) {
        n_errors++;
        snprintf(last_error, sizeof last_error, "%s", msg);
    }
}

/* Exporter spec, "Endpoint (OTLP/HTTP)": a URL; issue 12: only http:// and https:// are
 * accepted, checked when the exporter is built, with one clear diagnostic. */
static void test_an_endpoint_that_is_not_http_is_refused_when_built(void **state)
{
    (void)state;
    const char *bad[] = {"not-a-url", "ftp://127.0.0.1/v1/traces", "file:///tmp/x",
                         "http://",   "http:// spaced/v1/traces",  "https://user:pw@/v1"};
    dpt_log_set_handler(count_errors, NULL, DPT_LOG_ERROR);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n_errors = 0;
        dpt_http_exporter_config cfg;
        cfg_fast(&cfg);
        cfg.url = bad[i];
        assert_null(dpt_exporter_otlp_http(&cfg));
        assert_int_equal(n_errors, 1);
        assert_non_null(strstr(last_error, "http:// or https://"));
        assert_null(strstr(last_error, ":pw@")); /* never a credential */
    }
    n_errors = 0;
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://127.0.0.1:21/v1/traces", 1);
    assert_null(dpt_exporter_otlp_http_from_env());
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    assert_int_equal(n_errors, 1);
    /* Upper-case schemes are schemes (RFC 3986: case-insensitive). */
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    char upper[128];
    snprintf(upper, sizeof upper, "HTTP://%s", url + 7);
    cfg.url = upper;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    dpt_exporter_free(e);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
}

static dpt_provider *pipeline(dpt_exporter **exp_out, const dpt_http_exporter_config *cfg,
                              uint32_t queue, uint32_t batch, uint32_t delay_ms);

/* SDK spec, Batching processor: exportTimeoutMillis is "how long the export can run before
 * it is cancelled" (OTEL_BSP_EXPORT_TIMEOUT); it bounds an export even when the exporter's
 * own timeout (OTEL_EXPORTER_OTLP_TIMEOUT) is longer. */
static void test_the_batch_export_timeout_cancels_a_stalled_export(void **state)
{
    (void)state;
    col_action a = {COL_STALL, 0, NULL, 60000, 0, NULL, 0};
    collector_set_default(col, a);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.timeout_ms = 30000;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.max_export_batch_size = 10;
    bc.schedule_delay_ms = 10;
    bc.export_timeout_ms = 300;
    dpt_processor *proc = dpt_processor_batch(e, &bc);
    dpt_provider_config pc = {0};
    pc.sampler = dpt_sampler_always_on();
    pc.processors = &proc;
    pc.n_processors = 1;
    dpt_provider *p = dpt_provider_new(&pc);
    dpt_tracer *t = dpt_provider_get_tracer(p, "bsp", NULL);
    for (int i = 0; i < 10; i++)
        fx_simple_span(t, "s");
    uint64_t t0 = col_now_ms();
    while (stats_of(e).exports_failed == 0 && col_now_ms() - t0 < 10000)
        usleep(5000);
    uint64_t took = col_now_ms() - t0;
    assert_int_equal(stats_of(e).exports_failed, 1);
    assert_true(took >= 250 && took < 5000); /* the 300 ms, not the exporter's 30 s */
    /* The exporter counts the failure on its I/O thread before it reports it to the batch
     * processor (report(), after finish()): wait for the pipeline's count too. */
    dpt_stats st;
    do {
        dpt_provider_get_stats(p, &st);
    } while (st.spans_export_failed < 10 && col_now_ms() - t0 < 10000 && usleep(2000) == 0);
    assert_int_equal(st.spans_export_failed, 10);
    collector_release_stalls(col);
    dpt_provider_free(p);
}

/* Issue 11: several requests in flight (bounded by max_in_flight) so that a slow
 * collector does not cap throughput at one batch per round trip; exact counts. */
static void test_several_requests_are_in_flight_and_bounded(void **state)
{
    (void)state;
    col_action a = {COL_STALL, 0, NULL, 150, 0, NULL, 0};
    collector_set_default(col, a);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.max_in_flight = 3;
    dpt_exporter *e;
    dpt_provider *p = pipeline(&e, &cfg, 2048, 20, 5);
    dpt_tracer *t = dpt_provider_get_tracer(p, "inflight", NULL);
    for (int i = 0; i < 400; i++)
        fx_simple_span(t, "s");
    assert_int_equal(dpt_provider_force_flush(p, 20000), DPT_OK);
    dpt_http_exporter_stats hs = stats_of(e);
    assert_int_equal(hs.max_in_flight_seen, 3); /* reached, never passed */
    assert_int_equal(hs.spans_sent, 400);
    assert_int_equal(collector_spans_accepted(col), 400);
    /* 20 requests of 150 ms, 3 at a time: about 1 s, where one at a time takes 3 s. */
    col_request first, last;
    assert_true(collector_request(col, 0, &first));
    assert_true(collector_request(col, collector_requests(col) - 1, &last));
    assert_true(last.at_ms - first.at_ms < 2500);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, 400);
    dpt_provider_free(p);
}

/* Our choice (no copy of the encoded batch): the request takes the encoder's buffer and the
 * encoder writes the next batch into the request's old one. A retried request must still
 * send its own bytes while later batches are encoded: 503 answers with several requests in
 * flight, each batch of different spans; every retry repeats an earlier body byte for byte
 * and every span is accepted once. (OTLP/HTTP "Retryable Response Codes": 503 is retried.) */
static void test_retried_bodies_are_their_own_while_later_batches_are_encoded(void **state)
{
    (void)state;
    col_action busy = {COL_STATUS, 503, "0", 0, 0, NULL, 0};
    col_action ok = {COL_OK, 0, NULL, 0, 0, NULL, 0};
    col_action stall = {COL_STALL, 0, NULL, 60, 0, NULL, 0};
    col_action script[] = {stall, busy, busy, stall, busy, ok, busy, stall, busy, busy};
    collector_script(col, script, sizeof script / sizeof script[0]);
    collector_set_default(col, ok);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.initial_backoff_ms = 10;
    cfg.max_backoff_ms = 20;
    cfg.max_in_flight = 3;
    dpt_exporter *e;
    dpt_provider *p = pipeline(&e, &cfg, 2048, 20, 5);
    dpt_tracer *t = dpt_provider_get_tracer(p, "swap", NULL);
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof name, "span-%d", i); /* every batch's bytes differ */
        fx_simple_span(t, name);
    }
    assert_int_equal(dpt_provider_force_flush(p, 20000), DPT_OK);
    dpt_http_exporter_stats hs = stats_of(e);
    assert_true(hs.retries >= 6);
    assert_int_equal(hs.spans_sent, 400);
    assert_int_equal(collector_spans_accepted(col), 400);
    size_t n = collector_requests(col);
    assert_int_equal(n, hs.attempts); /* each retry one more request */
    assert_int_equal(hs.attempts, hs.exports + hs.retries);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        col_request r, q;
        assert_true(collector_request(col, i, &r));
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            assert_true(collector_request(col, j, &q));
            seen = q.body_hash == r.body_hash && q.body_len == r.body_len;
        }
        distinct += !seen;
    }
    /* a retry is a copy of an earlier body, never a new one: one body per batch */
    assert_int_equal(distinct, hs.exports);
    assert_true(hs.exports >= 20);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, 400);
    assert_int_equal(st.spans_export_failed, 0);
    dpt_provider_free(p);
}

/* Issue 11, item 6: with two exporters each pipeline keeps its own counts, and the
 * provider's totals count each span once (ended == exported + dropped + failed). */
static void test_two_pipelines_keep_their_own_counts(void **state)
{
    (void)state;
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    char path[] = "/tmp/dpt_two_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    dpt_exporter *e1 = dpt_exporter_otlp_http(&cfg);
    dpt_exporter *e2 = dpt_exporter_file(path);
    assert_non_null(e1);
    assert_non_null(e2);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.schedule_delay_ms = 10;
    dpt_processor *procs[2] = {dpt_processor_batch(e1, &bc), dpt_processor_batch(e2, &bc)};
    dpt_provider_config pc = {0};
    pc.sampler = dpt_sampler_always_on();
    pc.processors = procs;
    pc.n_processors = 2;
    dpt_provider *p = dpt_provider_new(&pc);
    dpt_tracer *t = dpt_provider_get_tracer(p, "two", NULL);
    col_action bad = {COL_STATUS, 400, NULL, 0, 0, NULL, 0};
    collector_script(col, &bad, 1); /* the first OTLP batch fails */
    for (int i = 0; i < 400; i++) {
        fx_simple_span(t, "s");
        if (i == 0) assert_int_equal(dpt_provider_force_flush(p, 5000), DPT_OK);
    }
    assert_int_equal(dpt_provider_shutdown(p, 5000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_ended, 400);
    assert_int_equal(st.n_pipelines, 2);
    assert_int_equal(st.spans_exported + st.spans_export_failed + st.spans_dropped_queue, 400);
    /* the first pipeline is the OTLP one: its counts are the totals */
    assert_int_equal(st.pipelines[0].spans_export_failed, 1);
    assert_int_equal(st.pipelines[0].spans_exported, 399);
    assert_int_equal(st.spans_exported, 399);
    assert_int_equal(st.pipelines[1].spans_exported, 400);
    assert_int_equal(stats_of(e1).spans_sent, 399);
    assert_int_equal(collector_spans_accepted(col), 399);
    dpt_provider_free(p);
    unlink(path);
}

/* ---- the batch pipeline ----------------------------------------------------------------- */

static dpt_provider *pipeline(dpt_exporter **exp_out, const dpt_http_exporter_config *cfg,
                              uint32_t queue, uint32_t batch, uint32_t delay_ms)
{
    dpt_exporter *e = dpt_exporter_otlp_http(cfg);
    assert_non_null(e);
    *exp_out = e;
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.max_queue_size = queue;
    bc.max_export_batch_size = batch;
    bc.schedule_delay_ms = delay_ms;
    dpt_processor *proc = dpt_processor_batch(e, &bc);
    assert_non_null(proc);
    dpt_provider_config pc = {0};
    pc.service_name = "pipeline";
    pc.sampler = dpt_sampler_always_on();
    pc.processors = &proc;
    pc.n_processors = 1;
    dpt_provider *p = NULL;
    assert_non_null((p = dpt_provider_new(&pc)));
    return p;
}

static void test_batch_pipeline_loses_nothing_through_retries_and_failures(void **state)
{
    (void)state;
    /* Batches of 50; the collector answers 503, 429, 200, 400, 200, ... : two batches
     * succeed after retries, one is refused for good. */
    col_action a[] = {{COL_STATUS, 503, NULL, 0, 0, NULL},
                      {COL_STATUS, 429, "0", 0, 0, NULL},
                      {COL_OK, 0, NULL, 0, 0, NULL},
                      {COL_STATUS, 400, NULL, 0, 0, NULL}};
    collector_script(col, a, 4);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.initial_backoff_ms = 50;
    dpt_exporter *e;
    dpt_provider *p = pipeline(&e, &cfg, 2048, 50, 10000);
    dpt_tracer *t = dpt_provider_get_tracer(p, "pipe", NULL);
    for (int i = 0; i < 1000; i++)
        fx_simple_span(t, "s");
    assert_int_equal(dpt_provider_shutdown(p, 20000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    dpt_http_exporter_stats hs = stats_of(e);
    dpt_provider_free(p);
    assert_int_equal(st.spans_ended, 1000);
    assert_int_equal(st.spans_dropped_queue, 0); /* the queue had room */
    assert_int_equal(st.spans_exported + st.spans_export_failed + st.spans_dropped_queue, 1000);
    assert_int_equal(st.spans_export_failed, 50); /* the batch answered 400 */
    assert_int_equal(st.spans_exported, 950);
    assert_int_equal(collector_spans_accepted(col), 950);
    assert_int_equal(hs.retries, 2);
    assert_int_equal(hs.exports_failed, 1);
}

static void test_shutdown_with_a_hanging_collector_returns_within_its_deadline(void **state)
{
    (void)state;
    col_action a = {COL_STALL, 0, NULL, 60000, 0, NULL};
    collector_set_default(col, a);
    dpt_http_exporter_config cfg;
    cfg_fast(&cfg);
    cfg.timeout_ms = 30000;
    dpt_exporter *e;
    dpt_provider *p = pipeline(&e, &cfg, 2048, 100, 20);
    dpt_tracer *t = dpt_provider_get_tracer(p, "hang", NULL);
    for (int i = 0; i < 300; i++)
        fx_simple_span(t, "s");
    /* The export thread is now inside a request the collector will not answer. */
    assert_true(collector_wait_requests(col, 1, 5000));
    uint64_t t0 = col_now_ms();
    dpt_err err = dpt_provider_shutdown(p, 500);
    uint64_t took = col_now_ms() - t0;
    assert_true(err == DPT_EEXPORT); /* cancelled in time: every span counted, none sent */
    assert_true(took < 500 + 50);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_ended, 300);
    assert_int_equal(st.spans_exported + st.spans_export_failed + st.spans_dropped_queue, 300);
    assert_int_equal(st.spans_exported, 0);
    /* The request was cancelled at the deadline: nothing still runs, the provider can
     * be freed. */
    dpt_provider_free(p);
}

int main(void)
{
    setenv("no_proxy", "*", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_otlp_http_delivers_protobuf_with_headers_on_one_connection,
                               fresh),
        cmocka_unit_test_setup(test_proxy_variables_are_read_when_the_exporter_is_made, fresh),
        cmocka_unit_test_setup(test_a_header_longer_than_512_bytes_is_sent_whole, fresh),
        cmocka_unit_test_setup(test_the_io_thread_runs_in_sched_batch_unless_told_otherwise, fresh),
        cmocka_unit_test_setup(test_otlp_http_json_with_gzip, fresh),
        cmocka_unit_test_setup(test_retry_after_seconds_is_honoured_on_503, fresh),
        cmocka_unit_test_setup(test_retry_after_http_date_is_honoured_on_429, fresh),
        cmocka_unit_test_setup(test_backoff_grows_between_retries_of_429_502_504, fresh),
        cmocka_unit_test_setup(test_400_and_other_4xx_are_not_retried, fresh),
        cmocka_unit_test_setup(test_retry_after_beyond_the_timeout_fails_at_once, fresh),
        cmocka_unit_test_setup(test_refused_connections_are_retried_within_the_timeout, fresh),
        cmocka_unit_test_setup(test_export_succeeds_when_the_collector_comes_back, fresh),
        cmocka_unit_test_setup(test_stalled_collector_times_out_the_export, fresh),
        cmocka_unit_test_setup(test_partial_success_is_accepted_and_counted, fresh),
        cmocka_unit_test(test_insecure_other_than_true_or_false_is_warned_about),
        cmocka_unit_test_setup(test_a_request_over_the_size_limit_is_not_sent, fresh),
        cmocka_unit_test_setup(test_zipkin_http_posts_a_json_span_list, fresh),
        cmocka_unit_test_setup(test_otlp_exporter_from_env_variables, fresh),
        cmocka_unit_test_setup(test_otlp_headers_with_bad_escapes_are_dropped_not_sent_as_written,
                               fresh),
        cmocka_unit_test_setup(test_provider_from_env_uses_registered_otlp_factory, fresh),
        cmocka_unit_test_setup(test_exporter_shutdown_interrupts_a_stalled_export, fresh),
        cmocka_unit_test_setup(test_https_verifies_the_collector_certificate, fresh),
        cmocka_unit_test_setup(test_batch_pipeline_loses_nothing_through_retries_and_failures,
                               fresh),
        cmocka_unit_test_setup(test_shutdown_with_a_hanging_collector_returns_within_its_deadline,
                               fresh),
        cmocka_unit_test_setup(test_an_endpoint_that_is_not_http_is_refused_when_built, fresh),
        cmocka_unit_test_setup(test_the_batch_export_timeout_cancels_a_stalled_export, fresh),
        cmocka_unit_test_setup(test_several_requests_are_in_flight_and_bounded, fresh),
        cmocka_unit_test_setup(test_retried_bodies_are_their_own_while_later_batches_are_encoded,
                               fresh),
        cmocka_unit_test_setup(test_two_pipelines_keep_their_own_counts, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
