/* w3c_service.c - the test service of the W3C Trace Context test suite, built on dptrace.
 *
 * Listens on 127.0.0.1:<argv[1]|5000> (0: a free port, printed). A POST whose body is a JSON
 * array of {"url": ..., "arguments": [...]} continues the incoming trace in a SERVER span,
 * then, in order and before answering, POSTs each "arguments" (JSON, "[]" when empty) to its
 * "url" from a new CLIENT span carrying what the global propagator writes (by default
 * exactly one traceparent, and tracestate when there is one), and answers 200.
 * mini_http.c serves (it keeps header values whole: see mini_http.h), libcurl calls,
 * jansson parses. Built with W3C_SERVICE_NO_MAIN, the file is a library for tests that run
 * the service in their own process (w3c_service.h).
 */
#include <jansson.h>

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
#include "mini_http.h"
#include "w3c_service.h"

static dpt_tracer *tracer;

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
                                       (dpt_attr[]){DPT_STR("url.full", url)}, 1);
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

/* One test-protocol request: continue the incoming trace, make the calls in order, then
 * answer. The header values are exactly what arrived (mini_http keeps their lengths). */
static unsigned handle(void *user, const mini_http_request *req, const char **text)
{
    (void)user;
    if (strcmp(req->method, "POST") != 0) {
        *text = "POST only\n";
        return 405;
    }
    dpt_context *ctx = NULL;
    dpt_span srv = dpt_span_start_server(tracer, "POST /test", &dpt_headers_getter,
                                         (void *)req->headers, NULL, &ctx);
    json_error_t err;
    json_t *root = json_loadb(req->body, req->body_len, 0, &err);
    if (json_is_array(root)) {
        size_t i;
        json_t *item;
        json_array_foreach(root, i, item)
        {
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
    *text = "ok\n";
    return 200;
}

mini_http *w3c_service_start(dpt_tracer *t, uint16_t port, uint16_t *bound)
{
    tracer = t;
    return mini_http_start(port, handle, NULL, bound);
}

void w3c_service_stop(mini_http *s)
{
    mini_http_stop(s);
}

#ifndef W3C_SERVICE_NO_MAIN
int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : 5000;
    if (port < 0 || port > 65535 || (end && *end)) {
        fprintf(stderr, "usage: %s [port]   (0: any free port)\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dpt_provider_config cfg = {.service_name = "w3c-service"};
    dpt_provider *prov = NULL;
    if (!((prov = dpt_provider_new(&cfg)))) return 1;
    dpt_tracer *t = dpt_provider_get_tracer(prov, "w3c-service", DPTRACE_VERSION_STRING);
    /* The suite speaks W3C Trace Context only; OTEL_PROPAGATORS may still override. */
    dpt_propagator *prop = dpt_propagator_from_env();
    dpt_propagator_set_global(prop);

    /* SIGINT/SIGTERM are blocked before the server's threads exist (they inherit the
     * mask) and taken with sigwait below: a handler plus pause() in main waits forever
     * when the kernel delivers the signal to one of the connection threads. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    uint16_t bound = 0;
    mini_http *d = w3c_service_start(t, (uint16_t)port, &bound);
    if (!d) {
        fprintf(stderr, "w3c-service: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    printf("w3c-service listening on http://127.0.0.1:%u/test\n", (unsigned)bound);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    w3c_service_stop(d);
    dpt_propagator_set_global(NULL);
    dpt_propagator_free(prop);
    dpt_provider_free(prov);
    curl_global_cleanup();
    return 0;
}
#endif
