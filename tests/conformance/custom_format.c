/* custom_format.c - a propagation format defined here, outside libdptrace, selected through
 * OTEL_PROPAGATORS and carried through the W3C test-suite service protocol.
 *
 * The format ("xctx", dptrace's own test format): one header
 *   x-ctx: <32 hex trace id>.<16 hex span id>.<0|1>
 * This program registers it, sets OTEL_PROPAGATORS=xctx, runs examples/w3c-service in its
 * own process (w3c_service.h) on a free loopback port, and plays the suite's harness: it
 * POSTs the protocol's JSON to the service and receives the service's calls on its own
 * loopback server. It checks that the service continued the incoming trace in the custom
 * format (same trace id, a new span id, the sampled bit), that it wrote no other format,
 * and that without the header a new trace starts. Exit 0 when all checks pass.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dptrace.h"
#include "dptrace/propagation.h"
#include "mini_http.h"
#include "w3c_service.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

/* ---- the format -------------------------------------------------------------------------- */

static void x_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st;
    size_t n = 0;
    const char *v = g->get(carrier, "x-ctx", 0, &n);
    if (!v) return;
    dpt_extraction_saw_trace_field(x);
    dpt_span_context sc;
    memset(&sc, 0, sizeof sc);
    if (n == 51 && v[32] == '.' && v[49] == '.' && (v[50] == '0' || v[50] == '1') &&
        dpt_trace_id_from_hex(v, 32, &sc.trace_id) == DPT_OK &&
        dpt_span_id_from_hex(v + 33, 16, &sc.span_id) == DPT_OK) {
        sc.flags = v[50] == '1' ? DPT_FLAG_SAMPLED : 0;
        dpt_extraction_set_span_context(x, &sc, NULL);
    }
}

static dpt_err x_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *carrier)
{
    (void)st;
    dpt_span_context sc = dpt_context_span_context(ctx);
    if (!dpt_span_context_is_valid(&sc)) return DPT_OK;
    char t[33], sp[17], v[64];
    dpt_trace_id_to_hex(&sc.trace_id, t);
    dpt_span_id_to_hex(&sc.span_id, sp);
    int n = snprintf(v, sizeof v, "%s.%s.%d", t, sp, (sc.flags & DPT_FLAG_SAMPLED) ? 1 : 0);
    return s->set(carrier, "x-ctx", v, (size_t)n);
}

static size_t x_fields(void *st, const char **names, size_t max)
{
    (void)st;
    if (max) names[0] = "x-ctx";
    return 1;
}

static const dpt_propagator_ops x_ops = {x_extract, x_inject, x_fields, NULL};

/* ---- the harness side ---------------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char got_ctx[128], got_tp[128];
static int got_calls;

static unsigned on_callback(void *user, const mini_http_request *req, const char **text)
{
    (void)user;
    size_t n = 0;
    const char *v = dpt_headers_get(req->headers, "x-ctx", 0, &n);
    const char *tp = dpt_headers_get(req->headers, "traceparent", 0, NULL);
    pthread_mutex_lock(&mu);
    snprintf(got_ctx, sizeof got_ctx, "%.*s", v ? (int)n : 0, v ? v : "");
    snprintf(got_tp, sizeof got_tp, "%s", tp ? tp : "");
    got_calls++;
    pthread_mutex_unlock(&mu);
    *text = "[]";
    return 200;
}

/* POSTs the protocol's body to the service with the given extra header line; returns the
 * HTTP status (0 on a transport error). */
static int post(uint16_t port, const char *header, uint16_t cb_port)
{
    char body[256], req[1024];
    int bl =
        snprintf(body, sizeof body, "[{\"url\": \"http://127.0.0.1:%u/cb\", \"arguments\": []}]",
                 (unsigned)cb_port);
    int rl =
        snprintf(req, sizeof req,
                 "POST /test HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
                 (unsigned)port, bl, header, body);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int status = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, (size_t)rl, MSG_NOSIGNAL) == rl) {
        char resp[256] = "";
        ssize_t r = recv(fd, resp, sizeof resp - 1, 0);
        if (r > 12) sscanf(resp, "HTTP/1.1 %d", &status);
    }
    if (fd >= 0) close(fd);
    return status;
}

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("not ok: " __VA_ARGS__);                                                        \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dpt_propagator *mine = dpt_propagator_new("xctx", &x_ops, NULL);
    if (!mine || dpt_propagator_register("xctx", mine) != DPT_OK) return 1;
    setenv("OTEL_PROPAGATORS", "xctx", 1);
    dpt_provider_config cfg = {.service_name = "custom-format-test"};
    dpt_provider *prov = dpt_provider_new(&cfg);
    dpt_tracer *t = dpt_provider_get_tracer(prov, "custom-format-test", NULL);
    dpt_propagator *p = dpt_propagator_from_env(); /* what w3c-service's main() does */
    dpt_propagator_set_global(p);

    uint16_t port = 0, cb_port = 0;
    mini_http *cb = mini_http_start(0, on_callback, NULL, &cb_port);
    mini_http *svc = w3c_service_start(t, 0, &port);
    if (!cb || !svc) {
        printf("SKIP: cannot listen on loopback\n");
        return 77;
    }
    printf("# service on 127.0.0.1:%u, harness callbacks on 127.0.0.1:%u\n", (unsigned)port,
           (unsigned)cb_port);

    /* 1. An incoming x-ctx is continued: same trace id, the client span's id, sampled. */
    int st = post(port, "X-Ctx: " TID "." SID ".1\r\n", cb_port);
    CHECK(st == 200, "service answered %d", st);
    pthread_mutex_lock(&mu);
    CHECK(got_calls == 1, "%d callbacks", got_calls);
    CHECK(strlen(got_ctx) == 51 && strncmp(got_ctx, TID ".", 33) == 0, "x-ctx sent on: \"%s\"",
          got_ctx);
    CHECK(strlen(got_ctx) == 51 && strncmp(got_ctx + 33, SID, 16) != 0,
          "span id not renewed: \"%s\"", got_ctx);
    CHECK(strlen(got_ctx) == 51 && got_ctx[50] == '1', "sampled bit lost: \"%s\"", got_ctx);
    CHECK(got_tp[0] == 0, "a traceparent was written too: \"%s\"", got_tp);
    pthread_mutex_unlock(&mu);

    /* 2. Without it a new trace starts, still written in the custom format. */
    st = post(port, "", cb_port);
    CHECK(st == 200, "service answered %d", st);
    pthread_mutex_lock(&mu);
    CHECK(got_calls == 2, "%d callbacks", got_calls);
    CHECK(strlen(got_ctx) == 51 && strncmp(got_ctx, TID, 32) != 0, "new trace expected: \"%s\"",
          got_ctx);
    pthread_mutex_unlock(&mu);

    /* 3. A malformed x-ctx is not continued. */
    st = post(port, "x-ctx: " TID "." SID ".7\r\n", cb_port);
    pthread_mutex_lock(&mu);
    CHECK(got_calls == 3 && strncmp(got_ctx, TID, 32) != 0, "malformed x-ctx continued: \"%s\"",
          got_ctx);
    pthread_mutex_unlock(&mu);

    w3c_service_stop(svc);
    mini_http_stop(cb);
    dpt_propagator_set_global(NULL);
    dpt_propagator_free(p);
    dpt_propagator_register("xctx", NULL);
    dpt_propagator_free(mine);
    dpt_provider_free(prov);
    curl_global_cleanup();
    printf("%s custom format through OTEL_PROPAGATORS and the w3c-service protocol (%d failures)\n",
           failures ? "not ok" : "ok", failures);
    return failures ? 1 : 0;
}
