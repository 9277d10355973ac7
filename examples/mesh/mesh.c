/* mesh.c - the shared part of the mesh demo's services: an HTTP server (libmicrohttpd, a
 * thread per connection on 127.0.0.1) and an HTTP client (libcurl), both traced by
 * dptrace's instrumentation helpers (dptrace/instr.h: SERVER and CLIENT spans, W3C
 * propagation, the HTTP attributes), and a clean life cycle: SIGTERM stops accepting, lets
 * requests in flight finish, and shuts the provider down, which exports every span.
 */
#define _GNU_SOURCE
#include "mesh.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <dptrace/instr.h>
#ifdef MESH_HAVE_HTTP
#include <dptrace/http.h>
#endif
#ifdef MESH_HAVE_CONFIG
#include <dptrace/config.h>
#endif

mesh_service mesh;

#define MAX_ARGS 16
static const char *arg_keys[MAX_ARGS], *arg_vals[MAX_ARGS];
static int n_args;

static void die(const char *msg)
{
    fprintf(stderr, "%s: %s\n", mesh.name ? mesh.name : "mesh", msg);
    exit(2);
}

void mesh_log(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* trace_id=... span_id=... trace_flags=01 of the current span (empty outside one). */
    dpt_log_fields f;
    dpt_log_fields_current(&f);
    fprintf(stderr, "%s: %s " DPT_LOG_FIELDS_FMT "\n", mesh.name ? mesh.name : "mesh", msg,
            DPT_LOG_FIELDS_ARGS(&f));
}

const char *mesh_arg(const char *name, const char *def)
{
    for (int i = 0; i < n_args; i++)
        if (strcmp(arg_keys[i], name) == 0) return arg_vals[i];
    return def;
}

void mesh_init(const char *name, int argc, char **argv)
{
    mesh.name = name;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc || n_args == MAX_ARGS) {
            fprintf(stderr, "usage: %s [--port N] [--ready-file PATH] [--NAME VALUE]...\n", name);
            exit(2);
        }
        arg_keys[n_args] = argv[i] + 2;
        arg_vals[n_args++] = argv[++i];
    }
    long port = strtol(mesh_arg("port", "0"), NULL, 10);
    if (port < 0 || port > 65535) die("--port wants 0..65535 (0: any free port)");
    mesh.port = (uint16_t)port;
    mesh.ready_file = mesh_arg("ready-file", NULL);
    mesh.untrusted_edge = strcmp(mesh_arg("untrusted-edge", "0"), "1") == 0;

    /* Block the stop signals before any thread exists (the provider's export thread,
     * the server's threads): they inherit the mask, and mesh_serve takes the signal
     * synchronously with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init failed");
    /* The demo script gives each process its service name; running one by hand works too. */
    setenv("OTEL_SERVICE_NAME", name, 0);
#ifdef MESH_HAVE_HTTP
    dpt_http_register(); /* OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_EXPORTER=zipkin */
#endif
#ifdef MESH_HAVE_CONFIG
    dpt_config_register(); /* OTEL_CONFIG_FILE: a configuration file instead of OTEL_* */
#endif
    mesh.provider = dpt_provider_from_env();
    dpt_provider_set_global(mesh.provider);
    mesh.tracer = dpt_provider_get_tracer(mesh.provider, "dptrace-mesh", DPTRACE_VERSION_STRING);
}

/* ---- incoming requests ------------------------------------------------------------------ */

const char *mesh_query(const mesh_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *mesh_header(const mesh_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static const mesh_route *match(const char *method, const char *path, const char **param)
{
    for (size_t i = 0; i < mesh.n_routes; i++) {
        const mesh_route *r = &mesh.routes[i];
        if (strcmp(r->method, method) != 0) continue;
        const char *brace = strchr(r->template, '{');
        if (!brace) {
            if (strcmp(r->template, path) == 0) {
                *param = "";
                return r;
            }
        } else {
            size_t pre = (size_t)(brace - r->template);
            if (strncmp(path, r->template, pre) == 0 && path[pre] && !strchr(path + pre, '/')) {
                *param = path + pre;
                return r;
            }
        }
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)upload_data;
    /* MHD calls once with the headers, then per body chunk, then once more: the SERVER
     * span starts on the first call (continuing the caller's trace) and ends in
     * dpt_mhd_completed once the response is sent. */
    if (*con_cls == NULL) {
        dpt_mhd_opts o = {.tracer = mesh.tracer, .untrusted_edge = mesh.untrusted_edge};
        *con_cls = dpt_mhd_request_start(conn, url, method, version, &o);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) { /* the demo's requests carry no body worth reading */
        *upload_data_size = 0;
        return MHD_YES;
    }
    dpt_mhd_request *r = *con_cls;
    const char *param = "";
    const mesh_route *route = match(method, url, &param);
    if (route) dpt_mhd_request_set_route(r, route->template);
    const dpt_context *ctx = dpt_mhd_request_context(r);
    mesh_request req = {.conn = conn,
                        .method = method,
                        .path = url,
                        .route = route ? route->template : "",
                        .param = param,
                        .span = dpt_mhd_request_span(r),
                        .baggage = dpt_context_baggage(ctx)};
    mesh_response resp = {.status = 404};
    snprintf(resp.body, sizeof resp.body, "{\"error\":\"no route\"}");
    if (route) {
        resp.status = 200;
        resp.body[0] = '\0';
        dpt_token tok = dpt_context_attach(ctx); /* the handler's spans are its children */
        route->fn(&req, &resp);
        /* The service's own access log line, with the trace context (logs lead to traces). */
        mesh_log("%s %s -> %d", method, url, resp.status);
        dpt_context_detach(tok);
    }
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(strlen(resp.body), resp.body, MHD_RESPMEM_MUST_COPY);
    if (!mr) return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", "application/json");
    enum MHD_Result ret = dpt_mhd_queue_response(r, (unsigned)resp.status, mr);
    MHD_destroy_response(mr);
    if (resp.status >= 500 && *resp.error) /* a 5xx is an error; say why */
        dpt_span_set_status(req.span, DPT_STATUS_ERROR, resp.error);
    return ret;
}

int mesh_serve(const mesh_route *routes, size_t n_routes, void (*on_stop)(void))
{
    mesh.routes = routes;
    mesh.n_routes = n_routes;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(mesh.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        mesh.port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_NOTIFY_COMPLETED, dpt_mhd_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 256u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u: %s\n", mesh.name, mesh.port,
                strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (di) mesh.port = di->port;
    fprintf(stderr, "%s: listening on 127.0.0.1:%u\n", mesh.name, mesh.port);
    if (mesh.ready_file) {
        /* Written once listening, renamed into place: whoever sees it can connect. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", mesh.ready_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", mesh.port) < 0 || fclose(f) != 0 ||
            rename(tmp, mesh.ready_file) != 0) {
            fprintf(stderr, "%s: cannot write %s\n", mesh.name, mesh.ready_file);
            MHD_stop_daemon(d);
            return 1;
        }
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "%s: %s, stopping\n", mesh.name, strsignal(sig));
    MHD_stop_daemon(d); /* joins the connection threads: requests in flight finish */
    if (on_stop) on_stop();
    dpt_err e = dpt_provider_shutdown(mesh.provider, 10000);
    dpt_stats st;
    dpt_provider_get_stats(mesh.provider, &st);
    fprintf(stderr, "%s: exported %llu spans (%llu failed, %llu dropped): %s\n", mesh.name,
            (unsigned long long)st.spans_exported, (unsigned long long)st.spans_export_failed,
            (unsigned long long)st.spans_dropped_queue, dpt_strerror(e));
    dpt_provider_free(mesh.provider);
    curl_global_cleanup();
    return e == DPT_OK ? 0 : 1;
}

/* ---- outgoing requests ------------------------------------------------------------------ */

typedef struct body_buf {
    char *p;
    size_t len, cap;
} body_buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    body_buf *b = user;
    size_t n = size * nmemb, room = b->cap - 1 - b->len;
    size_t take = n < room ? n : room;
    memcpy(b->p + b->len, data, take);
    b->len += take;
    b->p[b->len] = '\0';
    return n;
}

void mesh_http_call(const char *method, const char *url, const char *route, mesh_http_result *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(out->error, sizeof out->error, "curl_easy_init failed");
        return;
    }
    body_buf body = {out->body, 0, sizeof out->body};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "dptrace-mesh/" DPTRACE_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    /* A CLIENT span, child of the current span, with the trace context and baggage in the
     * request headers and the HTTP attributes; 4xx/5xx and transport errors are errors. */
    dpt_curl_opts o = {.tracer = mesh.tracer, .url_template = route, .url = url, .method = method};
    CURLcode rc = dpt_curl_perform(c, NULL, &o);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
}

void mesh_work_ms(int lo, int hi)
{
    /* Per-thread generator: rand() is not thread-safe, and the demo has many threads. */
    static _Thread_local unsigned seed;
    if (!seed) seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    int ms = lo + (hi > lo ? (int)(rand_r(&seed) % (unsigned)(hi - lo + 1)) : 0);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
