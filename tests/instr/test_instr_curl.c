/* test_instr_curl.c - libcurl transfers as CLIENT spans (dpt_curl_perform,
 * dpt_curl_span_*) against a loopback server that records the request headers. Rules
 * checked: http-spans.md (HTTP client span: attributes, status, url.full redaction,
 * resend count) and W3C Trace Context (the traceparent sent names the client span). */
#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

#include "dptrace/instr.h"
#include "echo_server.h"

static tprov tp;

static int setup(void **state)
{
    (void)state;
    tp = tprov_new(NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tprov_free(&tp);
    return 0;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static CURL *handle(const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", echo.port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    return c;
}

/* W3C Trace Context: the traceparent sent carries the trace id of the span and, as
 * parent-id, the id of the CLIENT span itself. */
static void test_traceparent_sent_names_the_client_span(void **state)
{
    (void)state;
    CURL *c = handle("/ok");
    dpt_curl_opts o = {.tracer = tp.t};
    assert_int_equal(dpt_curl_perform(c, NULL, &o), CURLE_OK);
    curl_easy_cleanup(c);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->kind, DPT_SPAN_CLIENT);
    const char *tp_hdr = echo_get("traceparent", 0);
    assert_non_null(tp_hdr);
    dpt_span_context sc;
    assert_int_equal(dpt_traceparent_parse(tp_hdr, strlen(tp_hdr), &sc), DPT_OK);
    assert_memory_equal(sc.trace_id.b, d->ctx.trace_id.b, 16);
    assert_memory_equal(sc.span_id.b, d->ctx.span_id.b, 8);
    assert_true(sc.flags & DPT_FLAG_SAMPLED);
    dpt_span_data_release(d);
}

/* dptrace's own contract: the caller's header list is sent, never changed, and the
 * handle gets it back after the transfer. */
static void test_callers_headers_are_kept_and_restored(void **state)
{
    (void)state;
    struct curl_slist *h = curl_slist_append(NULL, "X-Tenant: acme");
    h = curl_slist_append(h, "Accept: text/x-test");
    struct curl_slist *first = h, *second = h->next;
    char *d1 = first->data, *d2 = second->data;
    CURL *c = handle("/ok");
    assert_int_equal(dpt_curl_perform(c, h, &(dpt_curl_opts){.tracer = tp.t}), CURLE_OK);
    assert_ptr_equal(h, first);
    assert_ptr_equal(first->next, second);
    assert_null(second->next);
    assert_ptr_equal(first->data, d1);
    assert_ptr_equal(second->data, d2);
    assert_string_equal(d1, "X-Tenant: acme");
    assert_string_equal(echo_get("x-tenant", 0), "acme");
    assert_string_equal(echo_get("accept", 0), "text/x-test");
    assert_non_null(echo_get("traceparent", 0));
    /* A plain perform afterwards: the caller's headers, no trace header. */
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_string_equal(echo_get("x-tenant", 0), "acme");
    assert_null(echo_get("traceparent", 0));
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
}

/* W3C Trace Context 3.2 ("multiple traceparent headers" are invalid): a traceparent the
 * caller put in its list gives way to the span's, once, for this transfer only. */
static void test_callers_own_traceparent_is_replaced_for_the_transfer(void **state)
{
    (void)state;
    const char *old = "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    struct curl_slist *h = curl_slist_append(NULL, old);
    h = curl_slist_append(h, "TraceState: stale=1");
    h = curl_slist_append(h, "X-Keep: yes");
    CURL *c = handle("/ok");
    assert_int_equal(dpt_curl_perform(c, h, &(dpt_curl_opts){.tracer = tp.t}), CURLE_OK);
    assert_int_equal(echo_count("traceparent"), 1);
    assert_int_equal(echo_count("tracestate"), 0); /* the span has none */
    assert_string_not_equal(echo_get("traceparent", 0), old + strlen("traceparent: "));
    assert_string_equal(echo_get("x-keep", 0), "yes");
    assert_string_equal(h->data, old); /* the caller's list is untouched */
    assert_non_null(h->next->next);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
}

/* http-spans.md, HTTP client span: required and recommended attributes; url.full without
 * credentials and with sensitive query values redacted; name "{method} {url.template}". */
static void test_attributes_follow_the_http_client_conventions(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "http://bob:secret@127.0.0.1:%u/ok?sig=abc&x=1", echo.port);
    CURL *c = handle("/ok");
    curl_easy_setopt(c, CURLOPT_URL, url);
    dpt_curl_opts o = {.tracer = tp.t, .url_template = "/ok"};
    assert_int_equal(dpt_curl_perform(c, NULL, &o), CURLE_OK);
    curl_easy_cleanup(c);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(d->name, "GET /ok");
    assert_string_equal(attr_str(d, "http.request.method"), "GET");
    char want[256];
    snprintf(want, sizeof want, "http://REDACTED:REDACTED@127.0.0.1:%u/ok?sig=REDACTED&x=1",
             echo.port);
    assert_string_equal(attr_str(d, "url.full"), want);
    assert_string_equal(attr_str(d, "server.address"), "127.0.0.1");
    assert_int_equal(attr_int(d, "server.port"), echo.port);
    assert_string_equal(attr_str(d, "network.peer.address"), "127.0.0.1");
    assert_int_equal(attr_int(d, "network.peer.port"), echo.port);
    assert_string_equal(attr_str(d, "network.protocol.version"), "1.1");
    assert_int_equal(attr_int(d, "http.response.status_code"), 200);
    assert_int_equal(attr_int(d, "http.response.body.size"), 5);
    assert_string_equal(attr_str(d, "url.template"), "/ok");
    assert_null(find_attr(d, "error.type")); /* "SHOULD NOT set error.type" on success */
    assert_int_equal(d->status, DPT_STATUS_UNSET);
    dpt_span_data_release(d);
}

/* http-spans.md, Status: 4xx "SHOULD be set to Error in case of SpanKind.CLIENT", 5xx too;
 * error.type is the status code; no description when the code says it. */
static void test_4xx_and_5xx_are_errors_of_the_client_span(void **state)
{
    (void)state;
    const char *paths[] = {"/notfound", "/fail"};
    const char *codes[] = {"404", "503"};
    for (int i = 0; i < 2; i++) {
        dpt_exporter_memory_clear(tp.mem);
        CURL *c = handle(paths[i]);
        assert_int_equal(dpt_curl_perform(c, NULL, &(dpt_curl_opts){.tracer = tp.t}), CURLE_OK);
        curl_easy_cleanup(c);
        const dpt_span_data *d = tprov_span(&tp, 0);
        assert_int_equal(d->status, DPT_STATUS_ERROR);
        assert_string_equal(attr_str(d, "error.type"), codes[i]);
        assert_int_equal(d->status_msg_len, 0);
        dpt_span_data_release(d);
    }
}

/* http-spans.md, error.type: a request that fails before a status is received carries a
 * low-cardinality identifier and no status code. */
static void test_transport_error_is_recorded(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd); /* nothing listens there now: connection refused */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", ntohs(a.sin_port));
    CURL *c = handle("/x");
    curl_easy_setopt(c, CURLOPT_URL, url);
    assert_int_equal(dpt_curl_perform(c, NULL, &(dpt_curl_opts){.tracer = tp.t}),
                     CURLE_COULDNT_CONNECT);
    curl_easy_cleanup(c);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_string_equal(attr_str(d, "error.type"), "CURLE_COULDNT_CONNECT");
    assert_true(d->status_msg_len > 0);
    assert_null(find_attr(d, "http.response.status_code"));
    dpt_span_data_release(d);
}

/* http-spans.md: one span for the top-most operation "MUST" carry the URL first asked for
 * and http.request.resend_count counts the redirects. */
static void test_redirects_count_as_resends(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/redirect", echo.port);
    CURL *c = handle("/redirect");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    dpt_curl_opts o = {.tracer = tp.t, .url = url, .method = "GET"};
    assert_int_equal(dpt_curl_perform(c, NULL, &o), CURLE_OK);
    curl_easy_cleanup(c);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(attr_str(d, "url.full"), url);
    assert_int_equal(attr_int(d, "http.request.resend_count"), 1);
    assert_int_equal(attr_int(d, "http.response.status_code"), 200);
    assert_non_null(echo_get("traceparent", 0)); /* the followed request carries it too */
    dpt_span_data_release(d);
}

/* http-spans.md, note [1]: an unknown method is "_OTHER" with the original kept, and the
 * span is named "HTTP". */
static void test_unknown_method_is_other(void **state)
{
    (void)state;
    CURL *c = handle("/ok");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "FOO");
    assert_int_equal(dpt_curl_perform(c, NULL, &(dpt_curl_opts){.tracer = tp.t}), CURLE_OK);
    curl_easy_cleanup(c);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(d->name, "HTTP");
    assert_string_equal(attr_str(d, "http.request.method"), "_OTHER");
    assert_string_equal(attr_str(d, "http.request.method_original"), "FOO");
    dpt_span_data_release(d);
}

/* The multi interface: one span per transfer, ended with the transfer's result. */
static void test_multi_interface(void **state)
{
    (void)state;
    CURLM *m = curl_multi_init();
    CURL *a = handle("/ok"), *b = handle("/fail");
    dpt_curl_span *sa = dpt_curl_span_start(a, NULL, &(dpt_curl_opts){.tracer = tp.t});
    dpt_curl_span *sb = dpt_curl_span_start(b, NULL, &(dpt_curl_opts){.tracer = tp.t});
    assert_non_null(sa);
    assert_non_null(sb);
    assert_true(dpt_span_is_recording(dpt_curl_span_get(sa)));
    curl_multi_add_handle(m, a);
    curl_multi_add_handle(m, b);
    int running = 1, done = 0;
    for (int spins = 0; done < 2 && spins < 1000; spins++) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            dpt_curl_span_end(msg->easy_handle == a ? sa : sb, msg->data.result);
            curl_multi_remove_handle(m, msg->easy_handle);
            done++;
        }
        if (done < 2) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    assert_int_equal(done, 2);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 2);
    int errors = 0;
    for (int i = 0; i < 2; i++) {
        const dpt_span_data *d = tprov_span(&tp, (size_t)i);
        errors += d->status == DPT_STATUS_ERROR;
        dpt_span_data_release(d);
    }
    assert_int_equal(errors, 1);
    curl_easy_cleanup(a);
    curl_easy_cleanup(b);
    curl_multi_cleanup(m);
    dpt_curl_span_end(NULL, CURLE_OK); /* NULL is a no-op */
}

/* The span is a child of the current span, and the current baggage is sent (W3C Baggage). */
static void test_child_of_current_span_with_baggage(void **state)
{
    (void)state;
    dpt_span parent = dpt_span_start(tp.t, "parent", DPT_SPAN_SERVER, NULL);
    dpt_baggage *bg = NULL;
    dpt_baggage_set(NULL, "tenant.id", "acme", NULL, &bg);
    dpt_context *pc = dpt_context_with_baggage(NULL, bg);
    dpt_context *ctx = dpt_context_with_span(pc, parent);
    dpt_token tok = dpt_context_attach(ctx);
    CURL *c = handle("/ok");
    assert_int_equal(dpt_curl_perform(c, NULL, &(dpt_curl_opts){.tracer = tp.t}), CURLE_OK);
    curl_easy_cleanup(c);
    dpt_context_detach(tok);
    dpt_context_release(ctx);
    dpt_context_release(pc);
    dpt_baggage_release(bg);
    dpt_span_context psc = dpt_span_get_context(parent);
    dpt_span_end(parent);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_memory_equal(d->parent_span_id.b, psc.span_id.b, 8);
    assert_string_equal(echo_get("baggage", 0), "tenant.id=acme");
    dpt_span_data_release(d);
}

/* An unsampled transfer records nothing but still carries the context (sampled bit 0),
 * so that the services behind it make the same decision. */
static void test_unsampled_transfer_still_propagates(void **state)
{
    (void)state;
    tprov off = tprov_new(dpt_sampler_always_off(), NULL);
    CURL *c = handle("/ok");
    assert_int_equal(dpt_curl_perform(c, NULL, &(dpt_curl_opts){.tracer = off.t}), CURLE_OK);
    curl_easy_cleanup(c);
    assert_int_equal(dpt_exporter_memory_count(off.mem), 0);
    const char *h = echo_get("traceparent", 0);
    assert_non_null(h);
    assert_int_equal(strlen(h), 55);
    assert_int_equal(strtol(h + 53, NULL, 16) & DPT_FLAG_SAMPLED, 0); /* trace-flags */
    tprov_free(&off);
}

static int clear(void **state)
{
    (void)state;
    dpt_exporter_memory_clear(tp.mem);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (echo_start() != 0) {
        fprintf(stderr, "cannot start the loopback server\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_traceparent_sent_names_the_client_span, clear),
        cmocka_unit_test_setup(test_callers_headers_are_kept_and_restored, clear),
        cmocka_unit_test_setup(test_callers_own_traceparent_is_replaced_for_the_transfer, clear),
        cmocka_unit_test_setup(test_attributes_follow_the_http_client_conventions, clear),
        cmocka_unit_test_setup(test_4xx_and_5xx_are_errors_of_the_client_span, clear),
        cmocka_unit_test_setup(test_transport_error_is_recorded, clear),
        cmocka_unit_test_setup(test_redirects_count_as_resends, clear),
        cmocka_unit_test_setup(test_unknown_method_is_other, clear),
        cmocka_unit_test_setup(test_multi_interface, clear),
        cmocka_unit_test_setup(test_child_of_current_span_with_baggage, clear),
        cmocka_unit_test_setup(test_unsampled_transfer_still_propagates, clear),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    echo_stop();
    curl_global_cleanup();
    return rc;
}
