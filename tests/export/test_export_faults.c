/* test_export_faults.c - the fault matrix of the OTLP/HTTP export pipeline (issue 11): a
 * provider with a batch processor exporting to a loopback collector that fails in one way
 * per case - refused, down then up, silent, killed mid-run, 400 with a JSON error, 429/503
 * with every kind of Retry-After, a 1 GB answer (250x the client's 4 MiB limit), an endless
 * chunked answer, a slow drip,
 * a redirect. Every case asserts the same promises:
 *   - ending a span never waits for the network (its latency stays far below any export
 *     timeout: a loose bound, not a timing goal);
 *   - ended == exported + dropped + failed, exactly, at shutdown and after it;
 *   - what the collector accepted == exported;
 *   - shutdown returns within its deadline + 50 ms;
 *   - the warnings are few (rate-limited) and no log line holds a credential.
 * Where a rule comes from the OpenTelemetry specification the case says so; the rest is
 * "dptrace's own choice" as written in docs/export.md.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "dptrace.h"
#include "dptrace/http.h"

#define N_SPANS 1000
#define SHUTDOWN_MS 400
#define SHUTDOWN_SLACK_MS 50 /* issue 11: "shutdown returns within its deadline + 50 ms" */
#define MAX_WARNINGS 12      /* over a case of ~2 s; without the rate limit: one per batch */
#define SECRET_PW "pw-s3cr3t"
#define SECRET_TOKEN "tok-5ecret"

/* ---- a raw TCP server for the faults libmicrohttpd cannot play ---------------------- */

typedef enum raw_mode {
    RAW_SILENT,  /* accepts, reads, never answers */
    RAW_DRIP,    /* answers one byte every 100 ms */
    RAW_CHUNKED, /* 200, chunked, a chunk every 5 ms, never the last one */
    RAW_KILL,    /* reads the first request, then dies: resets every connection, stops
                    listening (later connections are refused) */
} raw_mode;

#define RAW_MAX_CONN 64

typedef struct raw_server {
    int lfd;
    uint16_t port;
    raw_mode mode;
    pthread_t acceptor;
    pthread_mutex_t mu;
    int fds[RAW_MAX_CONN];
    pthread_t threads[RAW_MAX_CONN];
    int n;
    _Atomic int stop; /* read by every connection thread */
    int requests;
} raw_server;

typedef struct raw_conn {
    raw_server *s;
    int fd;
} raw_conn;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads until the end of a request's headers (the body may follow; it is drained by the
 * later reads). False when the peer closed or the server stops. */
static bool read_request(raw_server *s, int fd)
{
    char buf[65536];
    for (int i = 0; i < 400 && !s->stop; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        if (memmem(buf, (size_t)n, "\r\n\r\n", 4)) return true;
    }
    return false;
}

static void drain_input(int fd)
{
    char buf[65536];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

static void *raw_conn_main(void *arg)
{
    raw_conn *c = arg;
    raw_server *s = c->s;
    int fd = c->fd;
    free(c);
    if (!read_request(s, fd)) return NULL;
    pthread_mutex_lock(&s->mu);
    s->requests++;
    pthread_mutex_unlock(&s->mu);
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                               "Content-Length: 0\r\n\r\n";
    static const char chunked[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n";
    size_t i = 0;
    switch (s->mode) {
    case RAW_SILENT:
        while (!s->stop) {
            drain_input(fd);
            sleep_ms(5);
        }
        break;
    case RAW_DRIP:
        while (!s->stop && i < sizeof head - 1) {
            drain_input(fd);
            if (send(fd, head + i++, 1, MSG_NOSIGNAL) != 1) break;
            sleep_ms(100);
        }
        break;
    case RAW_CHUNKED:
        if (send(fd, chunked, sizeof chunked - 1, MSG_NOSIGNAL) < 0) break;
        while (!s->stop) {
            drain_input(fd);
            if (send(fd, "4\r\nabcd\r\n", 9, MSG_NOSIGNAL) != 9) break;
            sleep_ms(5);
        }
        break;
    case RAW_KILL: {
        /* Dies: every connection reset, the port closed. */
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        for (int k = 0; k < s->n; k++) {
            struct linger lg = {1, 0};
            setsockopt(s->fds[k], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            shutdown(s->fds[k], SHUT_RDWR);
        }
        shutdown(s->lfd, SHUT_RDWR);
        pthread_mutex_unlock(&s->mu);
        break;
    }
    }
    return NULL;
}

static void *raw_accept_main(void *arg)
{
    raw_server *s = arg;
    while (!s->stop) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&s->mu);
        if (s->stop || s->n >= RAW_MAX_CONN) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        raw_conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        s->fds[s->n] = fd;
        pthread_create(&s->threads[s->n], NULL, raw_conn_main, c);
        s->n++;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static raw_server *raw_start(raw_mode mode)
{
    raw_server *s = calloc(1, sizeof *s);
    s->mode = mode;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0; /* ephemeral */
    socklen_t sl = sizeof sa;
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(s->lfd, 64) ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl))
        fail_msg("raw server: cannot listen on loopback");
    s->port = ntohs(sa.sin_port);
    pthread_create(&s->acceptor, NULL, raw_accept_main, s);
    return s;
}

static void raw_stop(raw_server *s)
{
    s->stop = 1;
    pthread_join(s->acceptor, NULL);
    for (int k = 0; k < s->n; k++) {
        pthread_join(s->threads[k], NULL);
        close(s->fds[k]);
    }
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A loopback port with nothing listening: bound once, then closed. */
static uint16_t refused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- log capture ------------------------------------------------------------------------ */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_warnings;
static int log_lines;
static int log_leaks;              /* lines holding a credential or a control character */
static long log_not_exported = -1; /* N of "batch processor shutdown...: N spans not exported" */
static char log_leak_line[600];

static void on_log(dpt_log_level level, const char *msg, void *user)
{
    (void)user;
    pthread_mutex_lock(&log_mu);
    log_lines++;
    if (level >= DPT_LOG_WARN) log_warnings++;
    const char *ne = strstr(msg, " spans not exported");
    if (ne && strncmp(msg, "batch processor shutdown", 24) == 0) {
        const char *q = ne;
        while (q > msg && q[-1] >= '0' && q[-1] <= '9')
            q--;
        log_not_exported = strtol(q, NULL, 10);
    }
    bool control = false;
    for (const char *p = msg; *p; p++)
        control |= (unsigned char)*p < 0x20 || *p == 0x7f;
    if (strstr(msg, SECRET_PW) || strstr(msg, SECRET_TOKEN) || control) {
        log_leaks++;
        snprintf(log_leak_line, sizeof log_leak_line, "%s", msg);
    }
    pthread_mutex_unlock(&log_mu);
}

static void log_reset(void)
{
    pthread_mutex_lock(&log_mu);
    log_warnings = log_lines = log_leaks = 0;
    log_leak_line[0] = '\0';
    log_not_exported = -1;
    pthread_mutex_unlock(&log_mu);
}

/* ---- the case runner -------------------------------------------------------------------- */

typedef enum server_kind { SRV_COLLECTOR, SRV_RAW, SRV_REFUSED } server_kind;

typedef enum expect {
    EXPECT_NONE_EXPORTED, /* nothing can be delivered */
    EXPECT_ALL_EXPORTED,  /* the fault is retried through: every span arrives */
    EXPECT_SOME_EXPORTED, /* some batches fail, later ones get through */
} expect;

typedef struct fault_case {
    const char *name;
    server_kind server;
    raw_mode raw;
    col_action script[4]; /* the collector's first answers; then its default (200) */
    size_t n_script;
    col_action dflt;
    bool down_first; /* the collector listens only after 300 ms */
    expect expect;
    bool grpc;       /* OTLP/gRPC instead of OTLP/HTTP (transport faults only) */
    bool expect_big; /* one answer over the response limit (4 MiB): failed, not retried */
} fault_case;

typedef struct producer {
    dpt_tracer *t;
    uint64_t max_end_ns;
    uint64_t total_ns;
} producer;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Ends N_SPANS spans over about half a second, timing each dpt_span_end. */
static void *produce(void *arg)
{
    producer *pr = arg;
    for (int i = 0; i < N_SPANS; i++) {
        dpt_span s = dpt_span_start(pr->t, "op", DPT_SPAN_INTERNAL, NULL);
        dpt_span_set_int(s, "i", i);
        uint64_t t0 = now_ns();
        dpt_span_end(s);
        uint64_t d = now_ns() - t0;
        pr->total_ns += d;
        if (d > pr->max_end_ns) pr->max_end_ns = d;
        if (i % 10 == 9) sleep_ms(5);
    }
    return NULL;
}

static void *resume_after(void *arg)
{
    sleep_ms(300);
    collector_resume(arg);
    return NULL;
}

static void run_case(const fault_case *fc)
{
    log_reset();
    collector *col = NULL;
    raw_server *raw = NULL;
    uint16_t port;
    if (fc->server == SRV_COLLECTOR) {
        col = collector_start(0);
        assert_non_null(col);
        port = collector_port(col);
        collector_set_default(col, fc->dflt);
        collector_script(col, fc->script, fc->n_script);
        if (fc->down_first) collector_pause(col);
    } else if (fc->server == SRV_RAW) {
        raw = raw_start(fc->raw);
        port = raw->port;
    } else {
        port = refused_port();
    }
    char url[160];
    snprintf(url, sizeof url, "http://dpt-user:" SECRET_PW "@127.0.0.1:%u%s", port,
             fc->grpc ? "" : "/v1/traces");

    dpt_http_exporter_config cfg;
    dpt_http_exporter_config_default(&cfg);
    cfg.url = url;
    dpt_http_header h = {"x-api-key", SECRET_TOKEN};
    cfg.headers = &h;
    cfg.n_headers = 1;
    cfg.timeout_ms = 3000;
    cfg.initial_backoff_ms = 50;
    cfg.max_backoff_ms = 200;
    cfg.max_attempts = 0; /* only the deadline limits the retries */
    cfg.max_in_flight = 4;
    if (fc->grpc) cfg.protocol = DPT_OTLP_GRPC;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    assert_non_null(e);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.max_queue_size = 2048;
    bc.max_export_batch_size = 64;
    bc.schedule_delay_ms = 20;
    bc.export_timeout_ms = 2500; /* OTEL_BSP_EXPORT_TIMEOUT: bounds every export */
    dpt_processor *proc = dpt_processor_batch(e, &bc);
    assert_non_null(proc);
    dpt_provider_config pc = {0};
    pc.service_name = "faults";
    pc.sampler = dpt_sampler_always_on();
    pc.processors = &proc;
    pc.n_processors = 1;
    dpt_provider *p = dpt_provider_new(&pc);
    assert_non_null(p);

    pthread_t up;
    if (fc->down_first) pthread_create(&up, NULL, resume_after, col);
    producer pr = {dpt_provider_get_tracer(p, "faults", NULL), 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, produce, &pr);
    pthread_join(th, NULL);
    if (fc->down_first) pthread_join(up, NULL);
    if (fc->expect == EXPECT_ALL_EXPORTED || fc->expect == EXPECT_SOME_EXPORTED)
        (void)dpt_provider_force_flush(p, 5000); /* let the retries run their course */
    else
        sleep_ms(200); /* exports are now stuck in the fault */

    dpt_stats before;
    dpt_provider_get_stats(p, &before);
    uint64_t t0 = col_now_ms();
    dpt_err err = dpt_provider_shutdown(p, SHUTDOWN_MS);
    uint64_t took = col_now_ms() - t0;
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    dpt_http_exporter_stats hs;
    assert_int_equal(dpt_exporter_http_get_stats(e, &hs), DPT_OK);
    sleep_ms(100); /* nothing may be counted twice after shutdown returned */
    dpt_stats st2;
    dpt_provider_get_stats(p, &st2);
    size_t accepted = col ? collector_spans_accepted(col) : 0;

    printf("fault-matrix: %-26s shutdown %3llu ms (%s), exported %4llu failed %4llu dropped %4llu, "
           "warnings %d, span end max %.1f us\n",
           fc->name, (unsigned long long)took, dpt_strerror(err),
           (unsigned long long)st.spans_exported, (unsigned long long)st.spans_export_failed,
           (unsigned long long)st.spans_dropped_queue, log_warnings, (double)pr.max_end_ns / 1e3);

    /* The application's thread never waits for the network: with an export timeout of
     * 1 s, a blocked span end would take that long. The bound is loose on purpose. */
    assert_true(pr.max_end_ns < 300u * 1000000u);
    /* Exact accounting, at shutdown and after. */
    assert_int_equal(st.spans_ended, N_SPANS);
    assert_int_equal(st.spans_exported + st.spans_export_failed + st.spans_dropped_queue, N_SPANS);
    assert_int_equal(st2.spans_exported, st.spans_exported);
    assert_int_equal(st2.spans_export_failed, st.spans_export_failed);
    assert_int_equal(st2.spans_dropped_queue, st.spans_dropped_queue);
    assert_int_equal(st.n_pipelines, 1);
    /* The exporter's own counts agree with the pipeline's. */
    assert_int_equal(hs.spans_sent, st.spans_exported);
    /* What the collector accepted is what we count as exported. */
    assert_int_equal(accepted, st.spans_exported);
    /* Shutdown cancels what is in flight and any backoff wait at its deadline. */
    assert_true(took <= SHUTDOWN_MS + SHUTDOWN_SLACK_MS);
    assert_true(err == DPT_OK || err == DPT_EEXPORT);
    /* Rate-limited diagnostics, never a credential or a control character. */
    if (log_leaks) fail_msg("log line with a credential or a control character: %s", log_leak_line);
    assert_true(log_warnings <= MAX_WARNINGS);
    /* The shutdown's "N spans not exported" is the spans it lost, and only then printed. */
    uint64_t lost = st.spans_export_failed + st.spans_dropped_queue - before.spans_export_failed -
                    before.spans_dropped_queue;
    if (lost)
        assert_int_equal(log_not_exported, (long)lost);
    else
        assert_int_equal(log_not_exported, -1);

    if (fc->expect_big) {
        assert_int_equal(hs.responses_too_large, 1);
        assert_int_equal(hs.retries, 0); /* not retried (and nothing else needed one) */
        /* that one batch, sent once: what the collector got and did not count accepted */
        assert_true(st.spans_export_failed > 0 && st.spans_export_failed <= 64);
        assert_int_equal(st.spans_export_failed,
                         collector_spans_received(col) - collector_spans_accepted(col));
        uint64_t served = collector_big_bytes_served(col);
        printf("fault-matrix: the client stopped the 1 GB answer after %llu bytes\n",
               (unsigned long long)served);
        /* read up to the limit, plus what the sockets buffered: far from 1 GB */
        assert_true(served < DPT_HTTP_DEFAULT_MAX_RESPONSE_BYTES + 16u * 1024u * 1024u);
    } else {
        assert_int_equal(hs.responses_too_large, 0);
    }
    assert_int_equal(hs.requests_too_large, 0);
    switch (fc->expect) {
    case EXPECT_NONE_EXPORTED:
        assert_int_equal(st.spans_exported, 0);
        break;
    case EXPECT_ALL_EXPORTED:
        assert_int_equal(st.spans_exported, N_SPANS);
        break;
    case EXPECT_SOME_EXPORTED:
        assert_true(st.spans_exported > 0 && st.spans_export_failed > 0);
        break;
    }
    dpt_provider_free(p);
    if (col) collector_stop(col);
    if (raw) raw_stop(raw);
}

static const col_action OK200 = {COL_OK, 0, NULL, 0, 0, NULL, 0};

static col_action status(int code, const char *retry_after)
{
    col_action a = {COL_STATUS, code, retry_after, 0, 0, NULL, 0};
    return a;
}

/* ---- the cases ----------------------------------------------------------------------------- */

static void test_refused_connections_fail_within_the_deadlines(void **state)
{
    (void)state;
    fault_case fc = {"refused", SRV_REFUSED, 0, {{0}}, 0, OK200, false, EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

/* OTLP/HTTP spec, "Retryable Response Codes" / connection errors: retried with backoff. */
static void test_a_collector_down_then_up_receives_everything(void **state)
{
    (void)state;
    fault_case fc = {"down 300 ms, then up", SRV_COLLECTOR, 0, {{0}}, 0, OK200, true,
                     EXPECT_ALL_EXPORTED};
    run_case(&fc);
}

static void test_a_collector_that_never_answers_is_cancelled_at_shutdown(void **state)
{
    (void)state;
    fault_case fc = {"accepts, never answers", SRV_RAW, RAW_SILENT, {{0}}, 0, OK200, false,
                     EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

static void test_a_collector_killed_mid_run(void **state)
{
    (void)state;
    fault_case fc = {"killed mid-run",    SRV_RAW, RAW_KILL, {{0}}, 0, OK200, false,
                     EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

/* OTLP/HTTP spec, "Failures": 400 is not retryable; the body is a Status whose message
 * the exporter shows (here sanitized: it carries an escape sequence and a forged line). */
static void test_400_with_a_json_error_is_final_and_logged_sanitized(void **state)
{
    (void)state;
    col_action bad = status(400, NULL);
    bad.message = "bad span \x1b[31mred\x1b[0m\ndptrace: warning: forged";
    fault_case fc = {"400 + JSON error body", SRV_COLLECTOR, 0, {{0}}, 0, bad, false,
                     EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

/* OTLP/HTTP spec: 429 and 503 are retryable, "the client SHOULD honor" Retry-After. */
static void test_retry_after_small_is_honoured(void **state)
{
    (void)state;
    fault_case fc = {"503 Retry-After: 1", SRV_COLLECTOR, 0, {status(503, "1")}, 1, OK200, false,
                     EXPECT_ALL_EXPORTED};
    run_case(&fc);
}

/* Issue 11: one reply with a huge Retry-After stopped all export for good (ra * 1000 and
 * now + wait wrapped). A wait past the deadline fails that export only. */
static void test_retry_after_huge_fails_one_export_not_all(void **state)
{
    (void)state;
    fault_case fc = {"429 Retry-After: 2^63-1",
                     SRV_COLLECTOR,
                     0,
                     {status(429, "9223372036854775807")},
                     1,
                     OK200,
                     false,
                     EXPECT_SOME_EXPORTED};
    run_case(&fc);
}

static void test_retry_after_negative_uses_the_backoff(void **state)
{
    (void)state;
    fault_case fc = {"503 Retry-After: -5", SRV_COLLECTOR, 0, {status(503, "-5")}, 1, OK200, false,
                     EXPECT_ALL_EXPORTED};
    run_case(&fc);
}

static void test_retry_after_http_date_in_the_past_uses_the_backoff(void **state)
{
    (void)state;
    fault_case fc = {"429 Retry-After: past date",
                     SRV_COLLECTOR,
                     0,
                     {status(429, "Thu, 01 Jan 1970 00:00:00 GMT")},
                     1,
                     OK200,
                     false,
                     EXPECT_ALL_EXPORTED};
    run_case(&fc);
}

static void test_retry_after_http_date_far_ahead_fails_one_export(void **state)
{
    (void)state;
    fault_case fc = {"503 Retry-After: year 9999",
                     SRV_COLLECTOR,
                     0,
                     {status(503, "Fri, 31 Dec 9999 23:59:59 GMT")},
                     1,
                     OK200,
                     false,
                     EXPECT_SOME_EXPORTED};
    run_case(&fc);
}

static void test_retry_after_garbage_and_fractions_use_the_backoff(void **state)
{
    (void)state;
    fault_case fc = {"503 Retry-After: garbage",
                     SRV_COLLECTOR,
                     0,
                     {status(503, "soon, maybe"), status(429, "0.5"), status(503, "")},
                     3,
                     OK200,
                     false,
                     EXPECT_ALL_EXPORTED};
    run_case(&fc);
}

static void test_a_collector_answering_503_forever_fails_within_the_deadlines(void **state)
{
    (void)state;
    fault_case fc = {
        "503 forever, Retry-After: 0", SRV_COLLECTOR, 0, {{0}}, 0, status(503, "0"), false,
        EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

/* dptrace's own choice: an answer's body is read to its end (so the connection stays
 * usable) but only its first 64 KiB are kept; the deadline bounds the time. */
/* OTLP ("OTLP/HTTP Response"): "The client MUST limit the size of the response body when
 * parsing it ... It is RECOMMENDED to use 4 MiB as the default limit ... If the limit is
 * exceeded, the client MUST treat the response as a non-retryable error and SHOULD record
 * the fact that the response was discarded." The first batch's answer is 1 GB (250x the bound):
 * that export fails without a retry, the client stops reading near the limit (not 1 GB), and the
 * later batches (plain 200s) are delivered. */
static void test_an_answer_over_the_limit_fails_that_export(void **state)
{
    (void)state;
    col_action big = {COL_BIG, 0, NULL, 0, 0, NULL, 1000u * 1000u * 1000u};
    fault_case fc = {"200 + 1 GB body",   SRV_COLLECTOR, 0, {big}, 1, OK200, false,
                     EXPECT_SOME_EXPORTED};
    fc.expect_big = true;
    run_case(&fc);
}

static void test_a_never_ending_chunked_answer_times_out(void **state)
{
    (void)state;
    fault_case fc = {"200, endless chunked body", SRV_RAW, RAW_CHUNKED, {{0}}, 0, OK200, false,
                     EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

static void test_a_slow_drip_answer_times_out(void **state)
{
    (void)state;
    fault_case fc = {"slow drip (1 B / 100 ms)", SRV_RAW, RAW_DRIP, {{0}}, 0, OK200, false,
                     EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

/* dptrace's own choice: redirects are not followed (a POST with credentials must not go
 * to another host because an answer says so); the batch fails at once. */
static void test_a_redirect_is_not_followed(void **state)
{
    (void)state;
    col_action r = status(307, NULL);
    r.message = "http://127.0.0.1:1/elsewhere";
    fault_case fc = {"307 redirect", SRV_COLLECTOR, 0, {{0}}, 0, r, false, EXPECT_NONE_EXPORTED};
    run_case(&fc);
}

/* The transport faults again with the OTLP/gRPC exporter (h2c): the same promises. */
static void test_grpc_transport_faults(void **state)
{
    (void)state;
    const fault_case cases[] = {
        {"grpc: refused", SRV_REFUSED, 0, {{0}}, 0, OK200, false, EXPECT_NONE_EXPORTED, true},
        {"grpc: accepts, never answers",
         SRV_RAW,
         RAW_SILENT,
         {{0}},
         0,
         OK200,
         false,
         EXPECT_NONE_EXPORTED,
         true},
        {"grpc: killed mid-run",
         SRV_RAW,
         RAW_KILL,
         {{0}},
         0,
         OK200,
         false,
         EXPECT_NONE_EXPORTED,
         true},
        {"grpc: endless HTTP/1.1 chunks",
         SRV_RAW,
         RAW_CHUNKED,
         {{0}},
         0,
         OK200,
         false,
         EXPECT_NONE_EXPORTED,
         true},
        {"grpc: slow drip", SRV_RAW, RAW_DRIP, {{0}}, 0, OK200, false, EXPECT_NONE_EXPORTED, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

int main(void)
{
    dpt_log_set_handler(on_log, NULL, DPT_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_connections_fail_within_the_deadlines),
        cmocka_unit_test(test_a_collector_down_then_up_receives_everything),
        cmocka_unit_test(test_a_collector_that_never_answers_is_cancelled_at_shutdown),
        cmocka_unit_test(test_a_collector_killed_mid_run),
        cmocka_unit_test(test_400_with_a_json_error_is_final_and_logged_sanitized),
        cmocka_unit_test(test_retry_after_small_is_honoured),
        cmocka_unit_test(test_retry_after_huge_fails_one_export_not_all),
        cmocka_unit_test(test_retry_after_negative_uses_the_backoff),
        cmocka_unit_test(test_retry_after_http_date_in_the_past_uses_the_backoff),
        cmocka_unit_test(test_retry_after_http_date_far_ahead_fails_one_export),
        cmocka_unit_test(test_retry_after_garbage_and_fractions_use_the_backoff),
        cmocka_unit_test(test_a_collector_answering_503_forever_fails_within_the_deadlines),
        cmocka_unit_test(test_an_answer_over_the_limit_fails_that_export),
        cmocka_unit_test(test_a_never_ending_chunked_answer_times_out),
        cmocka_unit_test(test_a_slow_drip_answer_times_out),
        cmocka_unit_test(test_a_redirect_is_not_followed),
        cmocka_unit_test(test_grpc_transport_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
