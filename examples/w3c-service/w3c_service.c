/* w3c_service.c - the test service of the W3C Trace Context test suite, built on dptrace.
 *
 * Listens on 127.0.0.1:<argv[1]|5000>. A POST whose body is a JSON array of
 * {"url": ..., "arguments": [...]} continues the incoming trace in a SERVER span, then, in
 * order and before answering, POSTs each "arguments" (JSON, "[]" when empty) to its "url"
 * from a new CLIENT span carrying exactly one traceparent (and tracestate when there is
 * one), and answers 200. libmicrohttpd serves, libcurl calls, jansson parses.
 */
#include <jansson.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dptrace.h"
#include "dptrace/http_carrier.h"
#include "dptrace/propagation.h"

#define MAX_BODY (1u << 20)

static dpt_tracer *tracer;

typedef struct request {
    char *body;
    size_t len;
    bool too_big;
} request;

/* Every header line, repeated names included, in arrival order: W3C asks that repeated
 * tracestate lines be combined and repeated traceparent lines be rejected. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    dpt_headers_add(cls, key, DPT_NUL, value ? value : "", DPT_NUL);
    return MHD_YES;
}

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* One outgoing call: a CLIENT span, its context injected into the curl header list. */
static void call(dpt_context *parent, const char *url, const char *body)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    dpt_span s = dpt_span_start_client(tracer, "POST", parent, NULL, &dpt_curl_setter, &hdrs,
                                       (dpt_attr[]){ DPT_STR("url.full", url) }, 1);
    CURL *c = curl_easy_init();
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
            dpt_span_set_status(s, DPT_STATUS_ERROR, curl_easy_strerror(rc));
            fprintf(stderr, "w3c-service: POST %s: %s\n", url, curl_easy_strerror(rc));
        } else {
            long status = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            dpt_span_set_int(s, "http.response.status_code", status);
        }
        curl_easy_cleanup(c);
    }
    dpt_span_end(s);
    curl_slist_free_all(hdrs);
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void handle(struct MHD_Connection *conn, const request *req)
{
    dpt_headers in = DPT_HEADERS_INIT;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &in);
    dpt_context *ctx = NULL;
    dpt_span srv = dpt_span_start_server(tracer, "POST /test", &dpt_headers_getter, &in, NULL, &ctx);
    json_error_t err;
    json_t *root = req->body ? json_loadb(req->body, req->len, 0, &err) : NULL;
    if (json_is_array(root)) {
        size_t i;
        json_t *item;
        json_array_foreach(root, i, item) {
            const char *url = json_string_value(json_object_get(item, "url"));
            if (!url) continue;
            json_t *args = json_object_get(item, "arguments");
            /* Never an empty body: a missing or empty list is sent as "[]". */
            char *body = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            call(ctx, url, body ? body : "[]");
            free(body);
        }
    }
    json_decref(root);
    dpt_span_end(srv);
    dpt_context_release(ctx);
    dpt_headers_free(&in);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    request *req = *con_cls;
    if (!req) { /* first call: headers only */
        req = calloc(1, sizeof *req);
        if (!req) return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) {
        if (req->len + *upload_size > MAX_BODY) {
            req->too_big = true;
        } else {
            char *b = realloc(req->body, req->len + *upload_size + 1);
            if (!b) return MHD_NO;
            memcpy(b + req->len, upload, *upload_size);
            req->body = b;
            req->len += *upload_size;
            b[req->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0) return answer(conn, 405, "POST only\n");
    if (req->too_big) return answer(conn, 413, "body too large\n");
    handle(conn, req);
    return answer(conn, 200, "ok\n");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
    }
    *con_cls = NULL;
}


int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 5000;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: %s [port]\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dpt_provider_config cfg = { .service_name = "w3c-service" };
    dpt_provider *prov = NULL;
    if (!((prov = dpt_provider_new(&cfg)))) return 1;
    tracer = dpt_provider_get_tracer(prov, "w3c-service", DPTRACE_VERSION_STRING);
    /* The suite speaks W3C Trace Context only; OTEL_PROPAGATORS may still override. */
    dpt_propagator *prop = dpt_propagator_from_env();
    dpt_propagator_set_global(prop);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* SIGINT/SIGTERM are blocked before the server's threads exist (they inherit the
     * mask) and taken with sigwait below: a handler plus pause() in main waits forever
     * when the kernel delivers the signal to one of the connection threads. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL,
        NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "w3c-service: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    printf("w3c-service listening on http://127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    MHD_stop_daemon(d);
    dpt_propagator_set_global(NULL);
    dpt_propagator_free(prop);
    dpt_provider_free(prov);
    curl_global_cleanup();
    return 0;
}
