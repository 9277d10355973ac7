/* mesh.c - the shared part of the mesh demo's services: traced HTTP server
 * (libmicrohttpd, a thread per connection on 127.0.0.1), traced HTTP client (libcurl),
 * W3C propagation through both, and a clean life cycle: SIGTERM stops accepting, lets
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
        if (strcmp(arg_keys[i], name) == 0)
            return arg_vals[i];
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
    if (port < 0 || port > 65535)
        die("--port wants 0..65535 (0: any free port)");
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

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");
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

/* Carrier over the request headers of a libmicrohttpd connection. MHD keeps repeated
 * headers as separate entries, so the index-th value is found by walking them. */
typedef struct hdr_walk {
    const char *name;
    size_t index, seen;
    const char *key, *value;
} hdr_walk;

static enum MHD_Result walk_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    hdr_walk *w = cls;
    if (w->name ? strcasecmp(key, w->name) == 0 : true) {
        if (w->seen++ == w->index) {
            w->key = key;
            w->value = value ? value : "";
            return MHD_NO;
        }
    }
    return MHD_YES;
}

static const char *mhd_get(void *carrier, const char *name, size_t index, size_t *len)
{
    hdr_walk w = { .name = name, .index = index };
    MHD_get_connection_values(carrier, MHD_HEADER_KIND, walk_value, &w);
    if (w.value)
        *len = strlen(w.value);
    return w.value;
}

static const char *mhd_key(void *carrier, size_t index, size_t *len)
{
    hdr_walk w = { .name = NULL, .index = index };
    MHD_get_connection_values(carrier, MHD_HEADER_KIND, walk_value, &w);
    if (w.key)
        *len = strlen(w.key);
    return w.key;
}

static const dpt_getter mhd_getter = { mhd_get, mhd_key };

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
        if (strcmp(r->method, method) != 0)
            continue;
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

static int marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)upload_data;
    /* MHD calls once with the headers, then per body chunk, then once more: answer on
     * the last call. The demo's requests carry no body worth reading. */
    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *param = "";
    const mesh_route *route = match(method, url, &param);
    char name[128];
    snprintf(name, sizeof name, "%s%s%s", method, route ? " " : "", route ? route->template : "");

    /* OpenTelemetry HTTP server span attributes. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char client[64] = "";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ci->client_addr;
        inet_ntop(AF_INET, &sin->sin_addr, client, sizeof client);
    }
    const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    const char *proto = strncmp(version, "HTTP/", 5) == 0 ? version + 5 : version;
    dpt_attr attrs[10];
    size_t n = 0;
    attrs[n++] = DPT_STR("http.request.method", method);
    attrs[n++] = DPT_STR("url.path", url);
    attrs[n++] = DPT_STR("url.scheme", "http");
    attrs[n++] = DPT_STR("server.address", "127.0.0.1");
    attrs[n++] = DPT_INT("server.port", mesh.port);
    attrs[n++] = DPT_STR("network.protocol.version", proto);
    if (*client)
        attrs[n++] = DPT_STR("client.address", client);
    if (ua)
        attrs[n++] = DPT_STR("user_agent.original", ua);
    if (route)
        attrs[n++] = DPT_STR("http.route", route->template);

    /* Continue the caller's trace (traceparent, tracestate, baggage). */
    dpt_context *ctx = NULL;
    dpt_server_opts so = { .attrs = attrs, .n_attrs = n, .untrusted_edge = mesh.untrusted_edge };
    dpt_span span = dpt_span_start_server(mesh.tracer, name, &mhd_getter, conn, &so, &ctx);
    dpt_token tok = dpt_context_attach(ctx);

    mesh_request req = { .conn = conn, .method = method, .path = url,
                         .route = route ? route->template : "", .param = param,
                         .span = span, .baggage = dpt_context_baggage(ctx) };
    mesh_response resp = { .status = 404 };
    snprintf(resp.body, sizeof resp.body, "{\"error\":\"no route\"}");
    if (route) {
        resp.status = 200;
        resp.body[0] = '\0';
        route->fn(&req, &resp);
    }
    dpt_span_set_int(span, "http.response.status_code", resp.status);
    if (resp.status >= 500) {
        /* Server spans: only 5xx are errors (a 4xx is the client's mistake). */
        char code[16];
        snprintf(code, sizeof code, "%d", resp.status);
        dpt_span_set_str(span, "error.type", code);
        char msg[160];
        snprintf(msg, sizeof msg, "%s%s", *resp.error ? "" : "HTTP ", *resp.error ? resp.error : code);
        dpt_span_set_status(span, DPT_STATUS_ERROR, msg);
    }
    /* The service's own access log line, with the trace context (logs lead to traces). */
    mesh_log("%s %s -> %d", method, url, resp.status);
    dpt_context_detach(tok);
    dpt_span_end(span);
    dpt_context_release(ctx);

    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(resp.body), resp.body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp.status, r);
    MHD_destroy_response(r);
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
        MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u: %s\n", mesh.name, mesh.port,
                strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (di)
        mesh.port = di->port;
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
    if (on_stop)
        on_stop();
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

/* Carrier over a libcurl header list. */
static dpt_err slist_set(void *carrier, const char *name, const char *value, size_t value_len)
{
    struct curl_slist **list = carrier;
    char line[8400];
    int n = snprintf(line, sizeof line, "%s: %.*s", name, (int)value_len, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return DPT_ETOOBIG;
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return DPT_ENOMEM;
    *list = l;
    return DPT_OK;
}

static const dpt_setter slist_setter = { slist_set };

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

void mesh_http_call(const char *method, const char *url, const char *route,
                    mesh_http_result *out)
{
    memset(out, 0, sizeof *out);
    char host[64] = "127.0.0.1";
    long port = 80;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        char *h = NULL, *p = NULL;
        if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
            snprintf(host, sizeof host, "%s", h);
        if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK)
            port = strtol(p, NULL, 10);
        curl_free(h);
        curl_free(p);
    }
    curl_url_cleanup(u);

    char name[128];
    snprintf(name, sizeof name, "%s%s%s", method, route ? " " : "", route ? route : "");
    dpt_attr attrs[] = { DPT_STR("http.request.method", method), DPT_STR("url.full", url),
                         DPT_STR("server.address", host), DPT_INT("server.port", port) };
    struct curl_slist *headers = NULL;
    /* A CLIENT span, child of the current span; traceparent and baggage go into headers. */
    dpt_span span = dpt_span_start_client(mesh.tracer, name, NULL, NULL, &slist_setter, &headers,
                                          attrs, sizeof attrs / sizeof *attrs);
    CURL *c = curl_easy_init();
    body_buf body = { out->body, 0, sizeof out->body };
    CURLcode rc = CURLE_FAILED_INIT;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
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
        rc = curl_easy_perform(c);
    }
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        dpt_span_set_int(span, "http.response.status_code", out->status);
        if (out->status >= 400) {
            /* Client spans: 4xx and 5xx are both errors. */
            char msg[32];
            snprintf(msg, sizeof msg, "HTTP %ld", out->status);
            dpt_span_set_str(span, "error.type", msg + 5);
            dpt_span_set_status(span, DPT_STATUS_ERROR, msg);
        }
    } else {
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
        dpt_span_set_str(span, "error.type", rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport");
        dpt_span_record_error(span, "curl", out->error);
    }
    dpt_span_end(span);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
}

void mesh_work_ms(int lo, int hi)
{
    /* Per-thread generator: rand() is not thread-safe, and the demo has many threads. */
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    int ms = lo + (hi > lo ? (int)(rand_r(&seed) % (unsigned)(hi - lo + 1)) : 0);
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
