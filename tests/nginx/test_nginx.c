/* test_nginx.c - ngx_http_dptrace_module in the real nginx binary, in front of the mesh
 * demo (nginx -> gateway -> orders -> inventory / payments), on loopback with its own
 * prefix under the build tree. Rules checked: http-spans.md (server and client spans,
 * status), W3C Trace Context (one trace from nginx to the last service; the traceparent
 * sent upstream names the attempt's span; invalid or repeated headers start a new trace),
 * and dptrace's own contract for the module (variables, directives, context modes, no
 * ended span lost over reloads and worker restarts, every drop counted).
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ngx_harness.h"

static const char *work, *nginx_bin, *module, *mesh_dir;
static char traces[600], access_log[600], error_log[600];
static h_mesh mesh;
static h_nginx ng;
static unsigned port, echo_port, dead_port;

/* ---- HTTP ------------------------------------------------------------------------------ */

typedef struct reply {
    long status;
    char body[2048];
    size_t len;
} reply;

static size_t on_body(char *d, size_t s, size_t n, void *u)
{
    reply *r = u;
    size_t k = s * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, d, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = '\0';
    return s * n;
}

/* GET path on nginx with extra header lines (NULL-terminated); a new connection each
 * time (a reload must not find the request on a worker's kept-alive connection). */
static reply get(const char *path, const char *const *headers)
{
    reply r = {0};
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else {
        long code = 0;
        double first = 0, total = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME, &first);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &total);
        fprintf(stderr,
                "GET %.60s...: %s (status %ld, first byte %.3f s, total %.3f s, %zu bytes)\n", path,
                curl_easy_strerror(rc), code, first, total, r.len);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return r;
}

/* ---- spans ----------------------------------------------------------------------------- */

static h_spans spans;

/* Reloads the trace file until pred holds (bounded: 10 s; the batch delay is 100 ms). */
static bool wait_for(bool (*pred)(const void *), const void *arg)
{
    for (int t = 0; t < 200; t++) {
        h_spans_free(&spans);
        spans = h_load(traces);
        if (pred(arg)) return true;
        h_sleep_ms(50);
    }
    return false;
}

/* The nginx SERVER span of the request tagged test.id = id (dptrace_span_attr), or NULL. */
static const h_span *server_span(const char *id)
{
    for (size_t i = 0; i < spans.n; i++) {
        const h_span *s = &spans.v[i];
        const char *t = h_attr_str(s, "test.id");
        if (s->kind == 2 && !strcmp(s->service, "nginx") && t && !strcmp(t, id)) return s;
    }
    return NULL;
}

static bool has_server_span(const void *id)
{
    return server_span(id) != NULL;
}

/* The span of trace with this parent, service, kind and name ("" name: any), or NULL. */
static const h_span *child(const h_span *p, const char *service, int kind, const char *name)
{
    for (size_t i = 0; i < spans.n; i++) {
        const h_span *s = &spans.v[i];
        if (!strcmp(s->trace, p->trace) && !strcmp(s->parent, p->id) &&
            !strcmp(s->service, service) && s->kind == kind && (!*name || !strcmp(s->name, name)))
            return s;
    }
    return NULL;
}

/* The access log line of the request tagged id ($arg_t first), or NULL. */
static const char *log_line(const char *id)
{
    static char line[1024];
    FILE *f = fopen(access_log, "r");
    if (!f) return NULL;
    const char *found = NULL;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(id);
        if (!strncmp(line, id, n) && line[n] == ' ') {
            found = line;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Field i (0-based, space separated) of a log line, into out. */
static const char *field(const char *line, int i, char *out, size_t cap)
{
    out[0] = '\0';
    for (const char *p = line; p && *p; i--) {
        const char *e = strpbrk(p, " \n");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i == 0) {
            snprintf(out, cap, "%.*s", (int)n, p);
            break;
        }
        p = e ? e + 1 : NULL;
    }
    return out;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int dead_fd;

static int setup(void **state)
{
    (void)state;
    work = h_env("WORK");
    nginx_bin = h_env("NGINX_BIN");
    module = h_env("NGINX_MODULE");
    mesh_dir = h_env("MESH");
    mkdir(work, 0755);
    snprintf(traces, sizeof traces, "%s/traces.jsonl", work);
    snprintf(access_log, sizeof access_log, "%s/nginx/logs/access.log", work);
    snprintf(error_log, sizeof error_log, "%s/nginx/logs/error.log", work);
    unlink(traces);
    unlink(access_log);
    unlink(error_log);
    atexit(h_kill_all);
    mesh = h_start_mesh(mesh_dir, work, traces);

    int fds[2];
    fds[0] = h_bind(&port, true);
    fds[1] = h_bind(&echo_port, true);
    /* Bound but not listening, and held: connecting to it is refused, and no other
     * process can take the port meanwhile. */
    dead_fd = h_bind(&dead_port, false);

    char conf[10240];
    snprintf(
        conf, sizeof conf,
        "load_module %s;\n"
        "daemon off;\nmaster_process on;\nworker_processes 2;\n"
        "error_log %s/nginx/logs/error.log notice;\n"
        "pid %s/nginx/logs/nginx.pid;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "  dptrace on;\n"
        "  dptrace_service_name nginx;\n"
        "  dptrace_exporter file;\n"
        "  dptrace_exporter_file %s;\n"
        "  dptrace_batch_schedule_delay 100ms;\n"
        "  dptrace_propagators tracecontext,baggage,jaeger,ottrace;\n"
        "  dptrace_span_attr test.id $arg_t;\n"
        "  log_format trace '$arg_t $status $dptrace_trace_id $dptrace_span_id "
        "$dptrace_parent_id $dptrace_parent_sampled $dptrace_traceparent';\n"
        "  access_log %s/nginx/logs/access.log trace;\n"
        "  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;\n"
        "  fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;\n"
        "  upstream retry { server 127.0.0.1:%u; server 127.0.0.1:%u; }\n"
        "  server {\n"
        "    listen 127.0.0.1:%u;\n"
        "    location = /fixed { return 200 \"ok\\n\"; }\n"
        "    location /checkout { proxy_pass http://127.0.0.1:%u; }\n"
        "    location /echo { proxy_pass http://127.0.0.1:%u; }\n"
        "    location /retry { proxy_pass http://retry/echo; proxy_next_upstream error; }\n"
        "    location /err { return 503; }\n"
        "    location /missing { return 404; }\n"
        "    location /off { dptrace off; return 200; }\n"
        "    location /maybe { dptrace $arg_trace; return 200; }\n"
        "    location /lean { dptrace_attributes required; return 200; }\n"
        "    location /named { dptrace_span_name \"custom $request_method\";\n"
        "                      dptrace_span_attr app.status $status; return 200; }\n"
        "    location /extract { dptrace_context extract; proxy_pass http://127.0.0.1:%u/echo; }\n"
        "    location /inject { dptrace_context inject; proxy_pass http://127.0.0.1:%u/echo; }\n"
        "    location /ignore { dptrace_context ignore; proxy_pass http://127.0.0.1:%u/echo; }\n"
        "    location /bgecho { proxy_pass http://127.0.0.1:%u/bg; }\n"
        "    location /bginject { dptrace_context inject; proxy_pass http://127.0.0.1:%u/bg; }\n"
        "  }\n"
        "  server {\n"
        "    listen 127.0.0.1:%u;\n"
        "    dptrace off;\n"
        "    access_log off;\n"
        "    location / { return 200 "
        "\"tp=$http_traceparent;ts=$http_tracestate;bg=$http_baggage\"; }\n"
        "    location /bg { return 200 \"uc=$http_uberctx_tenant;ob=$http_ot_baggage_tenant;"
        "ue=$http_uberctx_evil;oe=$http_ot_baggage_evil;je=$http_jaeger_baggage;"
        "bg=$http_baggage\"; }\n"
        "  }\n"
        "}\n",
        module, work, work, traces, work, dead_port, echo_port, port, mesh.gateway, echo_port,
        echo_port, echo_port, echo_port, echo_port, echo_port, echo_port);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/nginx", work);
    h_start_nginx(&ng, nginx_bin, prefix, conf, fds, 2, port);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_spans_free(&spans);
    h_kill_all();
    close(dead_fd);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* Every span of the checkout's trace is in the file: the services export on their own
 * schedules, and the outer spans (gateway, nginx) end last. */
static bool mesh_trace_complete(const void *arg)
{
    const h_span *s = server_span(arg);
    if (!s) return false;
    int seen = 0;
    const char *want[][2] = {{"nginx", "GET"},
                             {"gateway", "GET /checkout"},
                             {"gateway", "POST /orders"},
                             {"orders", "POST /orders"},
                             {"orders", "GET /stock/{sku}"},
                             {"inventory", "GET /stock/{sku}"},
                             {"inventory", "SELECT stock"}};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++)
        for (size_t i = 0; i < spans.n; i++)
            if (!strcmp(spans.v[i].trace, s->trace) && !strcmp(spans.v[i].service, want[w][0]) &&
                !strcmp(spans.v[i].name, want[w][1])) {
                seen++;
                break;
            }
    return seen == (int)(sizeof want / sizeof *want);
}

/* W3C Trace Context: one trace from nginx to the last service, each hop the child of the
 * previous one's span; the access log carries the trace id ($dptrace_trace_id). */
static void test_one_trace_from_nginx_to_the_last_service(void **state)
{
    (void)state;
    const char *h[] = {"x-tenant-id: tenant-7", NULL};
    reply r = get("/checkout?sku=sku-2&qty=1&t=mesh", h);
    assert_int_equal(r.status, 200);
    assert_true(wait_for(mesh_trace_complete, "mesh"));
    const h_span *ns = server_span("mesh");
    assert_string_equal(ns->name, "GET /checkout");
    assert_string_equal(ns->parent, ""); /* no incoming context: a new trace */
    const h_span *nc = child(ns, "nginx", 3, "GET");
    assert_non_null(nc);
    assert_int_equal(h_attr_int(nc, "http.response.status_code"), 200);
    const h_span *gs = child(nc, "gateway", 2, "GET /checkout");
    assert_non_null(gs);
    const h_span *gc = child(gs, "gateway", 3, "POST /orders");
    assert_non_null(gc);
    const h_span *os = child(gc, "orders", 2, "POST /orders");
    assert_non_null(os);
    const h_span *oc = child(os, "orders", 3, "GET /stock/{sku}");
    assert_non_null(oc);
    const h_span *is = child(oc, "inventory", 2, "GET /stock/{sku}");
    assert_non_null(is);
    const h_span *db = child(is, "inventory", 3, "SELECT stock");
    assert_non_null(db);
    assert_string_equal(h_attr_str(db, "db.query.text"), "SELECT qty FROM stock WHERE sku = ?");
    assert_string_equal(h_attr_str(os, "tenant.id"), "tenant-7"); /* baggage from the gateway */

    const char *line = log_line("mesh");
    assert_non_null(line);
    char f[128];
    assert_string_equal(field(line, 2, f, sizeof f), ns->trace);
    assert_string_equal(field(line, 3, f, sizeof f), ns->id);
}

/* http-spans.md, HTTP server span: attributes; the name is "{method} {route}" with the
 * location as the route. */
static void test_server_span_attributes(void **state)
{
    (void)state;
    const char *h[] = {"User-Agent: ngx-test/1", NULL};
    assert_int_equal(get("/fixed?t=attrs&token=secret", h).status, 200);
    assert_true(wait_for(has_server_span, "attrs"));
    const h_span *s = server_span("attrs");
    assert_string_equal(s->name, "GET /fixed");
    assert_string_equal(h_attr_str(s, "http.request.method"), "GET");
    assert_string_equal(h_attr_str(s, "http.route"), "/fixed");
    assert_string_equal(h_attr_str(s, "url.path"), "/fixed");
    assert_string_equal(h_attr_str(s, "url.scheme"), "http");
    assert_string_equal(h_attr_str(s, "url.query"), "t=attrs&token=REDACTED");
    assert_string_equal(h_attr_str(s, "server.address"), "127.0.0.1");
    assert_int_equal(h_attr_int(s, "server.port"), port);
    assert_string_equal(h_attr_str(s, "client.address"), "127.0.0.1");
    assert_string_equal(h_attr_str(s, "network.protocol.version"), "1.1");
    assert_string_equal(h_attr_str(s, "user_agent.original"), "ngx-test/1");
    assert_int_equal(h_attr_int(s, "http.response.status_code"), 200);
    assert_int_equal(h_attr_int(s, "http.response.body.size"), 3);
    assert_int_equal(s->status, 0);
}

/* A query longer than the module's 512-byte buffer (tracking parameters) was left out of
 * the span silently; it is recorded whole, its sensitive values still REDACTED
 * (http-spans.md: url.query "SHOULD" be recorded; dptrace's own rule: no silent loss). */
static void test_a_long_query_is_recorded_and_redacted(void **state)
{
    (void)state;
    static char path[2600], want[2700];
    int k = snprintf(path, sizeof path, "/fixed?t=longq");
    for (int i = 0; i < 200; i++)
        k += snprintf(path + k, sizeof path - (size_t)k, "&utm%d=x", i);
    snprintf(want, sizeof want, "%s&access_token=REDACTED", path + 7);
    snprintf(path + k, sizeof path - (size_t)k, "&access_token=s3cr3t");
    assert_int_equal(get(path, NULL).status, 200);
    assert_true(wait_for(has_server_span, "longq"));
    const char *q = h_attr_str(server_span("longq"), "url.query");
    assert_non_null(q);
    assert_true(strlen(q) > 1500);
    assert_string_equal(q, want);
    /* the same for the CLIENT span's url.full (a 1 KiB buffer before) */
    memcpy(path, "/echo?t=longu&", 14); /* over "/fixed?t=longq" */
    assert_int_equal(get(path, NULL).status, 200);
    assert_true(wait_for(has_server_span, "longu"));
    const h_span *c = child(server_span("longu"), "nginx", 3, "GET");
    assert_non_null(c);
    const char *u = h_attr_str(c, "url.full");
    assert_non_null(u);
    assert_true(strlen(u) > 1500);
    assert_non_null(strstr(u, "&access_token=REDACTED"));
    assert_null(strstr(u, "s3cr3t"));
}

/* http-spans.md, Status: a 5xx is an error of the server span, a 4xx is not. */
static void test_5xx_is_an_error_4xx_is_not(void **state)
{
    (void)state;
    assert_int_equal(get("/err?t=e503", NULL).status, 503);
    assert_int_equal(get("/missing?t=e404", NULL).status, 404);
    assert_true(wait_for(has_server_span, "e404") && wait_for(has_server_span, "e503"));
    const h_span *s = server_span("e503");
    assert_int_equal(s->status, 2);
    assert_string_equal(h_attr_str(s, "error.type"), "503");
    s = server_span("e404");
    assert_int_equal(s->status, 0);
    assert_null(h_attr_str(s, "error.type"));
}

/* W3C Trace Context: the incoming trace is continued ($dptrace_parent_id and
 * $dptrace_parent_sampled say what came in), the tracestate and baggage go upstream,
 * and the traceparent sent upstream names nginx's CLIENT span. */
static void test_incoming_context_is_continued_and_sent_upstream(void **state)
{
    (void)state;
    const char *h[] = {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                       "tracestate: vendor=x", "baggage: tenant.id=acme", NULL};
    reply r = get("/echo?t=cont", h);
    assert_int_equal(r.status, 200);
    assert_true(wait_for(has_server_span, "cont"));
    const h_span *s = server_span("cont");
    assert_string_equal(s->trace, "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(s->parent, "b7ad6b7169203331");
    const h_span *c = child(s, "nginx", 3, "GET");
    assert_non_null(c);
    char want[256];
    snprintf(want, sizeof want,
             "tp=00-0af7651916cd43dd8448eb211c80319c-%s-01;ts=vendor=x;bg=tenant.id=acme", c->id);
    assert_string_equal(r.body, want);
    const char *line = log_line("cont");
    assert_non_null(line);
    char f[128];
    assert_string_equal(field(line, 4, f, sizeof f), "b7ad6b7169203331");
    assert_string_equal(field(line, 5, f, sizeof f), "1");
}

/* http-spans.md: "a span for each attempt", http.request.resend_count on the resend; the
 * retry's request carries the retry's span id. The first server of the upstream refuses
 * connections. */
static void test_a_client_span_per_upstream_attempt(void **state)
{
    (void)state;
    reply r = get("/retry?t=retry", NULL);
    assert_int_equal(r.status, 200);
    assert_true(wait_for(has_server_span, "retry"));
    const h_span *s = server_span("retry");
    const h_span *a[2] = {NULL, NULL};
    int n = 0;
    for (size_t i = 0; i < spans.n && n < 2; i++)
        if (!strcmp(spans.v[i].parent, s->id) && spans.v[i].kind == 3) a[n++] = &spans.v[i];
    assert_int_equal(n, 2);
    if (h_attr_int(a[0], "http.request.resend_count") == 1) { /* export order may differ */
        const h_span *t = a[0];
        a[0] = a[1];
        a[1] = t;
    }
    assert_int_equal(a[0]->status, 2);
    assert_string_equal(h_attr_str(a[0], "error.type"), "upstream_error");
    assert_int_equal(h_attr_int(a[0], "network.peer.port"), dead_port);
    assert_int_equal(h_attr_int(a[0], "http.response.status_code"), -1); /* none received */
    assert_int_equal(h_attr_int(a[1], "http.request.resend_count"), 1);
    assert_int_equal(h_attr_int(a[1], "http.response.status_code"), 200);
    assert_int_equal(h_attr_int(a[1], "network.peer.port"), echo_port);
    assert_string_equal(h_attr_str(a[1], "server.address"), "retry");
    char want[128];
    snprintf(want, sizeof want, "tp=00-%s-%s-", s->trace, a[1]->id);
    assert_memory_equal(r.body, want, strlen(want));
}

/* Hostile headers are handled as the library's propagators handle them: an invalid or
 * repeated traceparent starts a new trace (W3C Trace Context 3.2: "MUST" be ignored), an
 * over-long tracestate is dropped, a huge baggage is cut to the W3C limits; nginx answers
 * every request, and what goes upstream is well-formed. */
static void test_hostile_headers(void **state)
{
    (void)state;
    static char big_ts[4200], big_bg[8000];
    int k = snprintf(big_ts, sizeof big_ts, "tracestate: ");
    for (int i = 0; i < 200 && k < 4000; i++)
        k += snprintf(big_ts + k, sizeof big_ts - (size_t)k, "k%d=v%d,", i, i);
    k = snprintf(big_bg, sizeof big_bg, "baggage: ");
    for (int i = 0; i < 400 && k < 7500; i++)
        k += snprintf(big_bg + k, sizeof big_bg - (size_t)k, "k%d=%d,", i, i);
    struct {
        const char *id;
        const char *h[4];
        bool continued;
    } cases[] = {
        {"bad-upper",
         {"traceparent: 00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", NULL},
         false},
        {"bad-zero",
         {"traceparent: 00-00000000000000000000000000000000-b7ad6b7169203331-01", NULL},
         false},
        {"bad-ff",
         {"traceparent: ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL},
         false},
        {"bad-twice",
         {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
          "traceparent: 00-11111111111111111111111111111111-2222222222222222-01", NULL},
         false},
        {"bad-bytes",
         {"traceparent: \x01\xff\xfe garbage \x7f", "baggage: \xff\xfe=\x01", NULL},
         false},
        {"big-ts",
         {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", big_ts, NULL},
         true},
        {"big-bg",
         {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", big_bg, NULL},
         true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[64];
        snprintf(path, sizeof path, "/echo?t=%s", cases[i].id);
        reply r = get(path, cases[i].h);
        assert_int_equal(r.status, 200);
        assert_true(wait_for(has_server_span, cases[i].id));
        const h_span *s = server_span(cases[i].id);
        if (cases[i].continued) {
            assert_string_equal(s->trace, "0af7651916cd43dd8448eb211c80319c");
        } else {
            assert_string_equal(s->parent, "");
            assert_string_not_equal(s->trace, "0af7651916cd43dd8448eb211c80319c");
        }
        /* upstream: exactly our traceparent (55 characters, this trace) */
        char want[64];
        snprintf(want, sizeof want, "tp=00-%s-", s->trace);
        assert_memory_equal(r.body, want, strlen(want));
        assert_int_equal(strchr(r.body, ';') - r.body, 3 + 55);
        if (!strcmp(cases[i].id, "big-ts")) assert_non_null(strstr(r.body, ";ts=;")); /* dropped */
        if (!strcmp(cases[i].id, "big-bg")) assert_true(strlen(strstr(r.body, ";bg=")) <= 4 + 8192);
    }
}

/* The context modes (dptrace's contract, docs/nginx.md): extract continues and leaves the
 * upstream headers alone; inject starts a new trace linked to the caller's and sends
 * ours; ignore starts a new trace and sends nothing. */
static void test_context_modes(void **state)
{
    (void)state;
    const char *in = "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const char *h[] = {in, "baggage: k=v", NULL};
    reply e = get("/extract?t=m-extract", h);
    reply i = get("/inject?t=m-inject", h);
    reply g = get("/ignore?t=m-ignore", h);
    assert_true(wait_for(has_server_span, "m-ignore") && wait_for(has_server_span, "m-inject") &&
                wait_for(has_server_span, "m-extract"));
    const h_span *s = server_span("m-extract");
    assert_string_equal(s->parent, "b7ad6b7169203331");
    assert_string_equal(e.body,
                        "tp=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;ts=;bg=k=v");
    s = server_span("m-inject");
    assert_string_equal(s->parent, "");
    assert_string_not_equal(s->trace, "0af7651916cd43dd8448eb211c80319c");
    assert_int_equal(s->n_links, 1);
    char want[64];
    snprintf(want, sizeof want, "tp=00-%s-", s->trace);
    assert_memory_equal(i.body, want, strlen(want));
    assert_non_null(strstr(i.body, ";bg=")); /* the caller's baggage is not sent on */
    assert_string_equal(strstr(i.body, ";bg="), ";bg=");
    s = server_span("m-ignore");
    assert_string_equal(s->parent, "");
    assert_string_equal(g.body,
                        "tp=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;ts=;bg=k=v");
}

/* Baggage carried in fields named after its keys (OTEL_PROPAGATORS jaeger: uberctx-<key>;
 * ottrace: ot-baggage-<key>). The module used to keep a pointer to the propagator's
 * reused, then freed, name buffer as the header name: upstream got heap bytes (pointers,
 * NUL, LF) as names. And the caller's own uberctx-* / jaeger-baggage / ot-baggage-* went
 * upstream untouched, also in the inject mode, whose contract is "the caller's baggage
 * dropped" (docs/nginx.md). dptrace's own contract for the module. */
static void test_prefixed_baggage_fields_go_upstream_well_named(void **state)
{
    (void)state;
    const char *h[] = {"baggage: tenant=acme,a0123456789012345678901234567890123456789=1",
                       "uberctx-evil: 1", "jaeger-baggage: x=2", "ot-baggage-evil: 3", NULL};
    reply p = get("/bgecho?t=bg-prop", h);
    assert_int_equal(p.status, 200);
    /* propagate: ours, named right (the caller's baggage is ours to pass on, once) */
    assert_non_null(strstr(p.body, "uc=acme;ob=acme;ue=1;oe=1;je=;"));
    const char *in[] = {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                        "baggage: tenant=acme",
                        "uberctx-evil: 1",
                        "jaeger-baggage: evil=2",
                        "ot-baggage-evil: 3",
                        NULL};
    reply i = get("/bginject?t=bg-inject", in);
    assert_int_equal(i.status, 200);
    /* inject: nothing of the caller's baggage, in any field */
    assert_string_equal(i.body, "uc=;ob=;ue=;oe=;je=;bg=");
}

/* dptrace on|off|$var, dptrace_span_name and dptrace_span_attr (evaluated at the end:
 * $status is known). */
static void test_directives(void **state)
{
    (void)state;
    assert_int_equal(get("/off?t=d-off", NULL).status, 200);
    assert_int_equal(get("/maybe?t=d-no&trace=0", NULL).status, 200);
    assert_int_equal(get("/maybe?t=d-yes&trace=1", NULL).status, 200);
    assert_int_equal(get("/named?t=d-named", NULL).status, 200);
    assert_int_equal(get("/lean?t=d-lean", NULL).status, 200);
    assert_true(wait_for(has_server_span, "d-yes"));
    /* /named overrides dptrace_span_attr: find it by name */
    bool named = false;
    for (int t = 0; t < 100 && !named; t++) {
        for (size_t i = 0; i < spans.n; i++)
            if (!strcmp(spans.v[i].name, "custom GET")) {
                named = true;
                assert_string_equal(h_attr_str(&spans.v[i], "app.status"), "200");
                assert_null(h_attr_str(&spans.v[i], "test.id"));
            }
        if (!named) wait_for(has_server_span, "d-yes");
    }
    assert_true(named);
    /* dptrace_attributes required: the conventions' required attributes only */
    assert_true(wait_for(has_server_span, "d-lean"));
    const h_span *lean = server_span("d-lean");
    assert_string_equal(h_attr_str(lean, "http.request.method"), "GET");
    assert_string_equal(h_attr_str(lean, "url.path"), "/lean");
    assert_string_equal(h_attr_str(lean, "url.scheme"), "http");
    assert_string_equal(h_attr_str(lean, "http.route"), "/lean");
    assert_int_equal(h_attr_int(lean, "http.response.status_code"), 200);
    assert_null(h_attr_str(lean, "client.address"));
    assert_null(h_attr_str(lean, "user_agent.original"));
    assert_int_equal(h_attr_int(lean, "http.response.body.size"), -1);
    assert_null(server_span("d-off"));
    assert_null(server_span("d-no"));
    const char *line = log_line("d-off");
    assert_non_null(line);
    char f[64];
    assert_string_equal(field(line, 2, f, sizeof f), "-"); /* no trace id: not traced */
}

/* No ended span is lost over `nginx -s reload` and a worker restart: every request
 * answered has its span in the file once nginx is stopped, and every worker's exit line
 * accounts for its spans (ended = exported + failed + dropped). */
static void test_reload_and_worker_restart_lose_no_span(void **state)
{
    (void)state;
    int answered = 0;
    char path[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 25; i++) {
            snprintf(path, sizeof path, "/fixed?t=reload-%d-%d", round, i);
            answered += get(path, NULL).status == 200;
        }
        if (round == 0) {
            pid_t before[8];
            int nb = h_workers(ng.master, before, 8);
            assert_int_equal(h_nginx_signal(&ng, nginx_bin, "reload"), 0);
            /* wait (bounded) until the old workers are gone and two new ones run */
            bool done = false;
            for (int t = 0; t < 200 && !done; t++) {
                pid_t now[8];
                int m = h_workers(ng.master, now, 8);
                done = m == 2;
                for (int j = 0; j < m; j++)
                    for (int k = 0; k < nb; k++)
                        done &= now[j] != before[k];
                if (!done) h_sleep_ms(50);
            }
            assert_true(done);
        } else if (round == 1) {
            pid_t w[8];
            int n = h_workers(ng.master, w, 8);
            assert_true(n >= 1);
            kill(w[0], SIGTERM); /* a worker stops (and flushes); the master starts a new one */
            for (int t = 0; t < 200; t++) {
                pid_t now[8];
                int m = h_workers(ng.master, now, 8);
                bool old = false;
                for (int j = 0; j < m; j++)
                    old |= now[j] == w[0];
                if (!old && m >= 2) break;
                h_sleep_ms(50);
            }
        }
    }
    assert_int_equal(answered, 75);
    kill(ng.master, SIGQUIT); /* graceful stop: workers flush in exit_process */
    int st = h_wait_exit(ng.master, 20000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

    h_spans_free(&spans);
    spans = h_load(traces);
    int found = 0;
    for (size_t i = 0; i < spans.n; i++) {
        const char *t = h_attr_str(&spans.v[i], "test.id");
        found += t && !strncmp(t, "reload-", 7) && spans.v[i].kind == 2;
    }
    assert_int_equal(found, answered);

    FILE *f = fopen(error_log, "r");
    assert_non_null(f);
    char line[1024];
    unsigned long long ended = 0, exported = 0, failed = 0, dropped = 0;
    int exits = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "dptrace: worker spans ended ");
        unsigned long long a, b, c, d;
        if (p &&
            sscanf(p, "dptrace: worker spans ended %llu, exported %llu, failed %llu, dropped %llu",
                   &a, &b, &c, &d) == 4) {
            ended += a, exported += b, failed += c, dropped += d;
            exits++;
            assert_int_equal(a, b + c + d);
        }
    }
    fclose(f);
    /* 2 workers replaced by the reload, 1 restarted, 2 stopped at the end */
    assert_true(exits >= 5);
    assert_int_equal(dropped + failed, 0);
    assert_true(exported >= (unsigned long long)answered);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_trace_from_nginx_to_the_last_service),
        cmocka_unit_test(test_server_span_attributes),
        cmocka_unit_test(test_a_long_query_is_recorded_and_redacted),
        cmocka_unit_test(test_5xx_is_an_error_4xx_is_not),
        cmocka_unit_test(test_incoming_context_is_continued_and_sent_upstream),
        cmocka_unit_test(test_a_client_span_per_upstream_attempt),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_context_modes),
        cmocka_unit_test(test_prefixed_baggage_fields_go_upstream_well_named),
        cmocka_unit_test(test_directives),
        /* last: it stops nginx */
        cmocka_unit_test(test_reload_and_worker_restart_lose_no_span),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
