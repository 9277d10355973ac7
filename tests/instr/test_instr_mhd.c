/* test_instr_mhd.c - libmicrohttpd requests as SERVER spans (dpt_mhd_request_*), driven
 * by libcurl and raw sockets on loopback. Rules checked: http-spans.md (HTTP server span:
 * attributes, name, status) and W3C Trace Context / Baggage (the incoming context is
 * continued). */
#include <curl/curl.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "dptrace/instr.h"

static tprov tp;
static struct MHD_Daemon *daemon_;
static unsigned port;
static bool untrusted;
static char seen_tenant[64]; /* baggage tenant.id seen by the handler (current context) */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    (void)cls, (void)data;
    if (!*con_cls) {
        dpt_mhd_opts o = {.tracer = tp.t, .untrusted_edge = untrusted};
        *con_cls = dpt_mhd_request_start(c, url, method, version, &o);
        return MHD_YES;
    }
    dpt_mhd_request *r = *con_cls;
    if (*size) {
        *size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    if (strncmp(url, "/items/", 7) == 0)
        dpt_mhd_request_set_route(r, "/items/{id}");
    else if (strcmp(url, "/fail") == 0)
        status = 500;
    else if (strcmp(url, "/missing") == 0)
        status = 404;
    dpt_token t = dpt_context_attach(dpt_mhd_request_context(r));
    const char *tenant = dpt_baggage_get(dpt_baggage_current(), "tenant.id");
    snprintf(seen_tenant, sizeof seen_tenant, "%s", tenant ? tenant : "");
    dpt_context_detach(t);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = dpt_mhd_queue_response(r, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int setup(void **state)
{
    (void)state;
    tp = tprov_new(NULL, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                               NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &a,
                               MHD_OPTION_NOTIFY_COMPLETED, dpt_mhd_completed, NULL,
                               MHD_OPTION_CONNECTION_TIMEOUT, 1u, MHD_OPTION_END);
    if (!daemon_) return -1;
    port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    tprov_free(&tp);
    return 0;
}

static int clear(void **state)
{
    (void)state;
    dpt_exporter_memory_clear(tp.mem);
    untrusted = false;
    return 0;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static long get(const char *path, const char *h1, const char *h2)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (h1) h = curl_slist_append(h, h1);
    if (h2) h = curl_slist_append(h, h2);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "instr-test/1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

/* The span ends in the completion callback, which runs after the client has its answer:
 * wait (bounded) for it. */
static const dpt_span_data *wait_span(void)
{
    for (int i = 0; i < 500 && dpt_exporter_memory_count(tp.mem) == 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    return tprov_span(&tp, 0);
}

/* W3C Trace Context: the server span continues the caller's trace, as a child of the
 * caller's span; W3C Baggage: the baggage is current while the handler runs. */
static void test_incoming_context_is_continued(void **state)
{
    (void)state;
    assert_int_equal(get("/x",
                         "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "baggage: tenant.id=acme"),
                     200);
    const dpt_span_data *d = wait_span();
    char hex[33];
    dpt_trace_id_to_hex(&d->ctx.trace_id, hex);
    assert_string_equal(hex, "0af7651916cd43dd8448eb211c80319c");
    dpt_span_id_to_hex(&d->parent_span_id, hex);
    assert_string_equal(hex, "b7ad6b7169203331");
    assert_true(d->parent_remote);
    assert_int_equal(d->kind, DPT_SPAN_SERVER);
    assert_string_equal(seen_tenant, "acme");
    dpt_span_data_release(d);
}

/* http-spans.md, HTTP server span: attributes, and the name "{method} {http.route}". */
static void test_attributes_and_route(void **state)
{
    (void)state;
    assert_int_equal(get("/items/42", NULL, NULL), 200);
    const dpt_span_data *d = wait_span();
    assert_string_equal(d->name, "GET /items/{id}");
    assert_string_equal(attr_str(d, "http.route"), "/items/{id}");
    assert_string_equal(attr_str(d, "http.request.method"), "GET");
    assert_string_equal(attr_str(d, "url.path"), "/items/42");
    assert_string_equal(attr_str(d, "url.scheme"), "http");
    assert_string_equal(attr_str(d, "server.address"), "127.0.0.1"); /* from Host */
    assert_int_equal(attr_int(d, "server.port"), port);
    assert_string_equal(attr_str(d, "client.address"), "127.0.0.1");
    assert_true(attr_int(d, "network.peer.port") > 0);
    assert_string_equal(attr_str(d, "network.protocol.version"), "1.1");
    assert_string_equal(attr_str(d, "user_agent.original"), "instr-test/1");
    assert_int_equal(attr_int(d, "http.response.status_code"), 200);
    assert_int_equal(d->status, DPT_STATUS_UNSET);
    dpt_span_data_release(d);
}

/* http-spans.md, Status: 4xx "MUST be left unset in case of SpanKind.SERVER"; 5xx error. */
static void test_5xx_is_an_error_and_4xx_is_not(void **state)
{
    (void)state;
    assert_int_equal(get("/fail", NULL, NULL), 500);
    const dpt_span_data *d = wait_span();
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_string_equal(attr_str(d, "error.type"), "500");
    dpt_span_data_release(d);
    dpt_exporter_memory_clear(tp.mem);
    assert_int_equal(get("/missing", NULL, NULL), 404);
    d = wait_span();
    assert_int_equal(d->status, DPT_STATUS_UNSET);
    assert_null(find_attr(d, "error.type"));
    assert_int_equal(attr_int(d, "http.response.status_code"), 404);
    dpt_span_data_release(d);
}

/* http-spans.md ("HTTP server call: connection dropped before response body was sent"):
 * a request that does not complete is an error. Here the client sends 3 of 100 body
 * bytes and goes quiet; the daemon's 1 s timeout ends the request. */
static void test_request_that_never_completes_is_an_error(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *req = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    const dpt_span_data *d = wait_span(); /* up to 5 s: the timeout is 1 s */
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_string_equal(attr_str(d, "error.type"), "timeout");
    assert_int_equal(attr_int(d, "http.request.body.size"), 100);
    dpt_span_data_release(d);
    close(fd);
}

/* Untrusted edge (docs/propagation.md): a new trace, linked to the caller's span. */
static void test_untrusted_edge_starts_a_new_trace(void **state)
{
    (void)state;
    untrusted = true;
    assert_int_equal(get("/x",
                         "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "baggage: tenant.id=evil"),
                     200);
    const dpt_span_data *d = wait_span();
    char hex[33];
    dpt_trace_id_to_hex(&d->ctx.trace_id, hex);
    assert_string_not_equal(hex, "0af7651916cd43dd8448eb211c80319c");
    assert_int_equal(d->n_links, 1);
    assert_string_equal(seen_tenant, "");
    dpt_span_data_release(d);
}

/* Hostile headers are handled as the propagators handle them: two traceparent lines are
 * invalid (W3C Trace Context 3.2.2: "MUST" not be repeated), so a new trace starts. */
static void test_repeated_traceparent_starts_a_new_trace(void **state)
{
    (void)state;
    assert_int_equal(get("/x",
                         "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "traceparent: 00-11111111111111111111111111111111-2222222222222222-01"),
                     200);
    const dpt_span_data *d = wait_span();
    assert_false(d->parent_remote);
    assert_false(dpt_span_id_is_valid(&d->parent_span_id));
    dpt_span_data_release(d);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_incoming_context_is_continued, clear),
        cmocka_unit_test_setup(test_attributes_and_route, clear),
        cmocka_unit_test_setup(test_5xx_is_an_error_and_4xx_is_not, clear),
        cmocka_unit_test_setup(test_request_that_never_completes_is_an_error, clear),
        cmocka_unit_test_setup(test_untrusted_edge_starts_a_new_trace, clear),
        cmocka_unit_test_setup(test_repeated_traceparent_starts_a_new_trace, clear),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
