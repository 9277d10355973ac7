/* test_export_grpc.c - the OTLP/gRPC exporter against a real gRPC server (@grpc/grpc-js,
 * tests/export/grpc/server.js, requests decoded with the OpenTelemetry JavaScript protobuf
 * definitions): delivery, compression, the retryable status codes, RetryInfo, partial
 * success, the INSECURE rule, requests in flight, and the faults of the HTTP exporter's
 * matrix that apply (silent server, refused). Run through grpc/run.sh, which installs the
 * server's packages with `npm ci`; skipped (77) without node.
 *
 * Rules quoted: the OpenTelemetry specification, protocol/exporter.md (endpoint, insecure,
 * User Agent) and opentelemetry-proto docs/specification.md, "OTLP/gRPC" (retryable
 * codes, RetryInfo, partial success); gRPC's PROTOCOL-HTTP2.md (framing, trailers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dptrace.h"
#include "dptrace/http.h"

static const char *server_js;

/* ---- the gRPC server process ------------------------------------------------------------ */

typedef struct gsrv {
    pid_t pid;
    FILE *in, *out;
    uint16_t port;
    char url[64];
} gsrv;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool read_line(gsrv *g, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {fileno(g->out), POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    return fgets(buf, (int)cap, g->out) != NULL;
}

static void gsrv_start(gsrv *g, const char *script)
{
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    g->pid = fork();
    assert_true(g->pid >= 0);
    if (g->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execlp("node", "node", server_js, script, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    g->in = fdopen(to[1], "w");
    g->out = fdopen(from[0], "r");
    char line[128];
    if (!read_line(g, line, sizeof line, 30000) || sscanf(line, "PORT %hu", &g->port) != 1)
        fail_msg("the gRPC test server did not start");
    snprintf(g->url, sizeof g->url, "http://127.0.0.1:%u", g->port);
}

static json_t *gsrv_stats(gsrv *g)
{
    fputs("stats\n", g->in);
    fflush(g->in);
    char line[4096];
    if (!read_line(g, line, sizeof line, 10000)) fail_msg("no stats from the gRPC test server");
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    if (!j) fail_msg("bad stats line: %s", line);
    return j;
}

static long stat_int(json_t *j, const char *key)
{
    return (long)json_integer_value(json_object_get(j, key));
}

static void gsrv_stop(gsrv *g)
{
    fputs("quit\n", g->in);
    fclose(g->in);
    fclose(g->out);
    int st;
    uint64_t t0 = now_ms();
    while (waitpid(g->pid, &st, WNOHANG) == 0) {
        if (now_ms() - t0 > 5000) {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
}

/* ---- pipelines ------------------------------------------------------------------------------ */

typedef struct pipe_t {
    dpt_exporter *e;
    dpt_provider *p;
    dpt_tracer *t;
} pipe_t;

static void cfg_grpc(dpt_http_exporter_config *cfg, const char *url)
{
    dpt_http_exporter_config_default(cfg);
    cfg->url = url;
    cfg->protocol = DPT_OTLP_GRPC;
    cfg->initial_backoff_ms = 20;
    cfg->max_backoff_ms = 80;
    cfg->max_attempts = 0;
    cfg->timeout_ms = 5000;
}

static void pipe_open(pipe_t *pp, const dpt_http_exporter_config *cfg, uint32_t batch)
{
    pp->e = dpt_exporter_otlp_grpc(cfg);
    assert_non_null(pp->e);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.max_export_batch_size = batch;
    bc.schedule_delay_ms = 10;
    dpt_processor *proc = dpt_processor_batch(pp->e, &bc);
    dpt_provider_config pc = {0};
    pc.service_name = "grpc-test";
    pc.sampler = dpt_sampler_always_on();
    pc.processors = &proc;
    pc.n_processors = 1;
    pp->p = dpt_provider_new(&pc);
    assert_non_null(pp->p);
    pp->t = dpt_provider_get_tracer(pp->p, "grpc", "1.0");
}

static void spans(pipe_t *pp, int n)
{
    for (int i = 0; i < n; i++) {
        dpt_span s = dpt_span_start(pp->t, "op", DPT_SPAN_CLIENT, NULL);
        dpt_span_set_str(s, "k", "v");
        dpt_span_end(s);
    }
}

static dpt_http_exporter_stats hstats(pipe_t *pp)
{
    dpt_http_exporter_stats s;
    assert_int_equal(dpt_exporter_http_get_stats(pp->e, &s), DPT_OK);
    return s;
}

/* Shuts down, checks the accounting (every span one outcome, collector == exported) and
 * returns the provider's stats. */
static dpt_stats finish(pipe_t *pp, gsrv *g, int ended, uint32_t deadline_ms)
{
    uint64_t t0 = now_ms();
    dpt_err err = dpt_provider_shutdown(pp->p, deadline_ms);
    uint64_t took = now_ms() - t0;
    assert_true(err == DPT_OK || err == DPT_EEXPORT);
    assert_true(took <= deadline_ms + 50); /* issue 11: deadline + 50 ms */
    dpt_stats st;
    dpt_provider_get_stats(pp->p, &st);
    assert_int_equal(st.spans_ended, ended);
    assert_int_equal(st.spans_exported + st.spans_export_failed + st.spans_dropped_queue, ended);
    if (g) {
        json_t *j = gsrv_stats(g);
        assert_int_equal(stat_int(j, "spans_accepted"), (long)st.spans_exported);
        assert_int_equal(stat_int(j, "decode_errors"), 0);
        json_decref(j);
    }
    return st;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* OTLP/gRPC: unary Export calls; the server decodes every span with the official
 * definitions. Exporter spec, "User Agent": OTel-OTLP-Exporter-<language>/<version>. */
static void test_grpc_delivers_every_span_to_a_grpc_js_server(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "");
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    pipe_t pp;
    pipe_open(&pp, &cfg, 50);
    spans(&pp, 500);
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    json_t *j = gsrv_stats(&g);
    assert_int_equal(stat_int(j, "spans_received"), 500);
    assert_int_equal(stat_int(j, "spans_accepted"), 500);
    assert_non_null(
        strstr(json_string_value(json_object_get(j, "user_agent")), "OTel-OTLP-Exporter-C/"));
    json_decref(j);
    dpt_http_exporter_stats hs = hstats(&pp);
    assert_int_equal(hs.spans_sent, 500);
    assert_true(hs.bytes_sent > 500 * 20);
    dpt_stats st = finish(&pp, &g, 500, 5000);
    assert_int_equal(st.spans_exported, 500);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* Exporter spec, "Compression": gzip; for gRPC it is the message encoding (grpc-encoding
 * header, compressed-flag 1 in the message prefix). The server decodes every span, and the
 * same spans take far fewer bytes than without compression. */
static void test_grpc_gzip_is_grpc_message_compression(void **state)
{
    (void)state;
    uint64_t bytes[2];
    for (int gz = 0; gz < 2; gz++) {
        gsrv g;
        gsrv_start(&g, "");
        dpt_http_exporter_config cfg;
        cfg_grpc(&cfg, g.url);
        cfg.gzip = gz == 1;
        pipe_t pp;
        pipe_open(&pp, &cfg, 100);
        spans(&pp, 300);
        dpt_stats st = finish(&pp, &g, 300, 5000);
        assert_int_equal(st.spans_exported, 300);
        bytes[gz] = hstats(&pp).bytes_sent;
        dpt_provider_free(pp.p);
        gsrv_stop(&g);
    }
    assert_true(bytes[1] * 10 < bytes[0] * 9); /* random ids compress little; names do */
}

/* opentelemetry-proto, OTLP/gRPC "Failures": CANCELLED, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS are retryable. */
static void test_grpc_retryable_codes_are_retried(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "code:14,code:1,code:4,code:10,code:11,code:15");
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    cfg.max_in_flight = 1; /* one call at a time: the script runs in order */
    pipe_t pp;
    pipe_open(&pp, &cfg, 100);
    spans(&pp, 100);
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    dpt_http_exporter_stats hs = hstats(&pp);
    assert_int_equal(hs.retries, 6);
    assert_int_equal(hs.spans_sent, 100);
    dpt_stats st = finish(&pp, &g, 100, 5000);
    assert_int_equal(st.spans_exported, 100);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* The same: "RESOURCE_EXHAUSTED" is retryable only "if the server signals that a
 * recovery from resource exhaustion is possible" (RetryInfo); then the client "SHOULD"
 * wait retry_delay. Other codes (INVALID_ARGUMENT, UNAUTHENTICATED) are not retried. */
static void test_grpc_resource_exhausted_is_retried_only_with_retry_info(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "code:8,code:8:300,ok,code:3,code:16"); /* the retry takes "ok" */
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    cfg.max_in_flight = 1;
    pipe_t pp;
    pipe_open(&pp, &cfg, 10);
    spans(&pp, 10); /* code:8 without RetryInfo: fails */
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    assert_int_equal(hstats(&pp).exports_failed, 1);
    assert_int_equal(hstats(&pp).retries, 0);
    uint64_t t0 = now_ms();
    spans(&pp, 10); /* code:8 with RetryInfo 300 ms: waits, then delivered */
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    assert_true(now_ms() - t0 >= 250);
    assert_int_equal(hstats(&pp).retries, 1);
    assert_int_equal(hstats(&pp).spans_sent, 10);
    spans(&pp, 10); /* INVALID_ARGUMENT */
    spans(&pp, 10); /* UNAUTHENTICATED */
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    assert_int_equal(hstats(&pp).exports_failed, 3);
    assert_int_equal(hstats(&pp).retries, 1);
    dpt_stats st = finish(&pp, &g, 40, 5000);
    assert_int_equal(st.spans_exported, 10);
    assert_int_equal(st.spans_export_failed, 30);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* A RetryInfo delay beyond the deadline (here about 3,000 years) fails that export at once
 * instead of waiting or wrapping (issue 11: saturating waits bounded by the deadline). */
static void test_grpc_huge_retry_info_fails_one_export_not_all(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "code:14:99999999999999");
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    cfg.max_in_flight = 1;
    pipe_t pp;
    pipe_open(&pp, &cfg, 10);
    uint64_t t0 = now_ms();
    spans(&pp, 10);
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    assert_true(now_ms() - t0 < 3000);
    spans(&pp, 10);
    dpt_stats st = finish(&pp, &g, 20, 5000);
    assert_int_equal(st.spans_export_failed, 10);
    assert_int_equal(st.spans_exported, 10);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* OTLP/gRPC "Partial Success": accepted (not retried), rejected_spans counted. */
static void test_grpc_partial_success_is_counted(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "partial:3:three spans had no name");
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    pipe_t pp;
    pipe_open(&pp, &cfg, 20);
    spans(&pp, 20);
    assert_int_equal(dpt_provider_force_flush(pp.p, 10000), DPT_OK);
    dpt_http_exporter_stats hs = hstats(&pp);
    assert_int_equal(hs.spans_rejected, 3);
    assert_int_equal(hs.retries, 0);
    dpt_stats st = finish(&pp, &g, 20, 5000);
    assert_int_equal(st.spans_exported, 20);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* Several calls in flight, multiplexed; bounded by max_in_flight. */
static void test_grpc_several_calls_in_flight(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "");
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    cfg.max_in_flight = 4;
    pipe_t pp;
    pipe_open(&pp, &cfg, 10);
    spans(&pp, 2000);
    dpt_stats st = finish(&pp, &g, 2000, 10000);
    assert_true(hstats(&pp).max_in_flight_seen <= 4);
    assert_true(st.spans_exported > 0);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* Fault: a server that accepts calls and never answers. Shutdown cancels them at its
 * deadline (+50 ms), every span counted once. */
static void test_grpc_silent_server_is_cancelled_at_shutdown(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "default=silent");
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g.url);
    cfg.timeout_ms = 30000;
    pipe_t pp;
    pipe_open(&pp, &cfg, 50);
    spans(&pp, 300);
    usleep(300000);
    dpt_stats st = finish(&pp, &g, 300, 400);
    assert_int_equal(st.spans_exported, 0);
    assert_int_equal(st.spans_export_failed, 300);
    dpt_provider_free(pp.p);
    gsrv_stop(&g);
}

/* Fault: nothing listens. Retried until the deadline, then failed; nothing hangs. */
static void test_grpc_refused_fails_within_the_deadline(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, url);
    cfg.timeout_ms = 500;
    pipe_t pp;
    pipe_open(&pp, &cfg, 50);
    spans(&pp, 100);
    assert_int_equal(dpt_provider_force_flush(pp.p, 5000), DPT_OK);
    dpt_stats st = finish(&pp, NULL, 100, 1000);
    assert_int_equal(st.spans_export_failed, 100);
    dpt_provider_free(pp.p);
}

/* Exporter spec: OTEL_EXPORTER_OTLP_PROTOCOL=grpc; "Insecure ... only applies to OTLP/gRPC
 * when an endpoint is provided without the http or https scheme": host:port with
 * INSECURE=true is plain h2c (delivered); without it, TLS (this server speaks none: the
 * export fails). */
static void test_grpc_from_env_follows_the_insecure_rule(void **state)
{
    (void)state;
    gsrv g;
    gsrv_start(&g, "");
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", g.port);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ep, 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000", 1);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    const dpt_span_data *none[1] = {NULL};
    (void)none;
    dpt_exporter *e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    /* one span through a pipeline of our own */
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    dpt_processor *proc = dpt_processor_batch(e, &bc);
    dpt_provider_config pc = {0};
    pc.sampler = dpt_sampler_always_on();
    pc.processors = &proc;
    pc.n_processors = 1;
    dpt_provider *p = dpt_provider_new(&pc);
    dpt_span s =
        dpt_span_start(dpt_provider_get_tracer(p, "env", NULL), "one", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(s);
    assert_int_equal(dpt_provider_shutdown(p, 5000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, 1);
    dpt_provider_free(p);

    unsetenv("OTEL_EXPORTER_OTLP_INSECURE");
    e = dpt_exporter_otlp_http_from_env();
    assert_non_null(e);
    proc = dpt_processor_batch(e, &bc);
    pc.processors = &proc;
    pc.sampler = dpt_sampler_always_on(); /* the first provider owned the first one */
    p = dpt_provider_new(&pc);
    s = dpt_span_start(dpt_provider_get_tracer(p, "env", NULL), "two", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(s);
    (void)dpt_provider_shutdown(p, 5000);
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, 0);
    assert_int_equal(st.spans_export_failed, 1);
    dpt_provider_free(p);
    json_t *j = gsrv_stats(&g);
    assert_int_equal(stat_int(j, "spans_accepted"), 1);
    json_decref(j);
    unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
    gsrv_stop(&g);
}

/* ---- TLS ------------------------------------------------------------------------------------ */

/* A CA, a server certificate for 127.0.0.1 (IP subject alternative name) and a client
 * certificate, made with the openssl command in a fresh directory. false: no openssl. */
static char tls_dir[64];

static bool tls_files(void)
{
    if (tls_dir[0]) return true;
    if (system("command -v openssl >/dev/null 2>&1") != 0) return false;
    char tmpl[] = "/tmp/dpt-grpc-tls-XXXXXX";
    if (!mkdtemp(tmpl)) return false;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
             "-subj /CN=dptrace-test-ca 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
             "-subj /CN=127.0.0.1 2>/dev/null && "
             "printf 'subjectAltName=IP:127.0.0.1\n' > san.ext && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out server.pem -days 2 -extfile san.ext 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
             "-subj /CN=dptrace-client 2>/dev/null && "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out client.pem -days 2 2>/dev/null",
             tmpl);
    if (system(cmd) != 0) return false;
    snprintf(tls_dir, sizeof tls_dir, "%s", tmpl);
    return true;
}

static void tls_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tls_dir, name);
}

/* Starts the server with TLS (mutual when require_client) and sets g->url to https://. */
static void gsrv_start_tls(gsrv *g, bool require_client)
{
    char cert[128], key[128], ca[128];
    tls_path(cert, sizeof cert, "server.pem");
    tls_path(key, sizeof key, "server.key");
    tls_path(ca, sizeof ca, "ca.pem");
    setenv("GRPC_TLS_CERT", cert, 1);
    setenv("GRPC_TLS_KEY", key, 1);
    if (require_client) setenv("GRPC_TLS_CLIENT_CA", ca, 1);
    gsrv_start(g, "");
    unsetenv("GRPC_TLS_CERT");
    unsetenv("GRPC_TLS_KEY");
    unsetenv("GRPC_TLS_CLIENT_CA");
    snprintf(g->url, sizeof g->url, "https://127.0.0.1:%u", g->port);
}

/* Sends n spans over TLS with the given CA and client certificate (NULL: none) and returns
 * how many the server accepted of them; the accounting is checked as everywhere (finish,
 * and what the server accepted == what was counted exported). */
static long tls_run(gsrv *g, const char *ca_name, bool client_cert, int n, dpt_stats *out)
{
    char ca[128], cc[128], ck[128];
    dpt_http_exporter_config cfg;
    cfg_grpc(&cfg, g->url);
    cfg.max_attempts = 2;
    if (ca_name) {
        tls_path(ca, sizeof ca, ca_name);
        cfg.ca_file = ca;
    }
    if (client_cert) {
        tls_path(cc, sizeof cc, "client.pem");
        tls_path(ck, sizeof ck, "client.key");
        cfg.client_cert_file = cc;
        cfg.client_key_file = ck;
    }
    json_t *j = gsrv_stats(g);
    long before = stat_int(j, "spans_accepted");
    json_decref(j);
    pipe_t pp;
    pipe_open(&pp, &cfg, 50);
    spans(&pp, n);
    dpt_provider_force_flush(pp.p, 10000);
    *out = finish(&pp, NULL, n, 5000);
    j = gsrv_stats(g);
    long accepted = stat_int(j, "spans_accepted") - before;
    assert_int_equal(stat_int(j, "decode_errors"), 0);
    json_decref(j);
    assert_int_equal(accepted, (long)out->spans_exported); /* collector == exported */
    dpt_provider_free(pp.p);
    return accepted;
}

/* Exporter spec, "Certificate File": "The trusted certificate to use when verifying a
 * server's TLS credentials. Should only be used for a secure connection." OTLP/gRPC over
 * TLS (https://, ALPN h2) to a grpc-js server whose certificate a test CA signed: with that
 * CA every span arrives; without it (the system's trust store) the server is not trusted
 * and nothing is sent - every span counted as failed, none as exported. */
static void test_grpc_over_tls_verifies_the_server_certificate(void **state)
{
    (void)state;
    if (!tls_files()) skip();
    gsrv g;
    gsrv_start_tls(&g, false);
    dpt_stats st;
    assert_int_equal(tls_run(&g, "ca.pem", false, 200, &st), 200);
    assert_int_equal(st.spans_exported, 200);
    assert_int_equal(tls_run(&g, NULL, false, 100, &st), 0);
    assert_int_equal(st.spans_export_failed, 100);
    /* a CA that did not sign the server's certificate: refused as well (the client's
     * certificate is self-signed by nobody the server knows: any other PEM serves) */
    assert_int_equal(tls_run(&g, "client.pem", false, 60, &st), 0);
    assert_int_equal(st.spans_export_failed, 60);
    gsrv_stop(&g);
}

/* Exporter spec, "Client Certificate File" / "Client Certificate Key": "Client
 * certificate/chain trust for clients private key to use in mTLS communication". A server
 * that requires a client certificate gets every span with it and none without. */
static void test_grpc_mutual_tls_sends_the_client_certificate(void **state)
{
    (void)state;
    if (!tls_files()) skip();
    gsrv g;
    gsrv_start_tls(&g, true);
    dpt_stats st;
    assert_int_equal(tls_run(&g, "ca.pem", true, 150, &st), 150);
    assert_int_equal(st.spans_exported, 150);
    assert_int_equal(tls_run(&g, "ca.pem", false, 80, &st), 0);
    assert_int_equal(st.spans_export_failed, 80);
    gsrv_stop(&g);
}

int main(int argc, char **argv)
{
    server_js = argc > 1 ? argv[1] : getenv("DPT_GRPC_SERVER_JS");
    if (!server_js) {
        fprintf(stderr, "usage: %s path/to/server.js\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grpc_delivers_every_span_to_a_grpc_js_server),
        cmocka_unit_test(test_grpc_gzip_is_grpc_message_compression),
        cmocka_unit_test(test_grpc_retryable_codes_are_retried),
        cmocka_unit_test(test_grpc_resource_exhausted_is_retried_only_with_retry_info),
        cmocka_unit_test(test_grpc_huge_retry_info_fails_one_export_not_all),
        cmocka_unit_test(test_grpc_partial_success_is_counted),
        cmocka_unit_test(test_grpc_several_calls_in_flight),
        cmocka_unit_test(test_grpc_silent_server_is_cancelled_at_shutdown),
        cmocka_unit_test(test_grpc_refused_fails_within_the_deadline),
        cmocka_unit_test(test_grpc_from_env_follows_the_insecure_rule),
        cmocka_unit_test(test_grpc_over_tls_verifies_the_server_certificate),
        cmocka_unit_test(test_grpc_mutual_tls_sends_the_client_certificate),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (tls_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tls_dir);
    }
    return failed;
}
