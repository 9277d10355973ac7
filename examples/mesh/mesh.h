/* mesh.h - the small framework shared by the mesh demo's services (gateway, orders,
 * inventory, payments): a traced libmicrohttpd server on 127.0.0.1, a traced libcurl
 * client, and the process life cycle (ready file, SIGTERM -> drain -> flush -> exit).
 * Everything dptrace-specific a service author would write lives here, in plain sight.
 */
#ifndef MESH_H
#define MESH_H

#include <dptrace.h>
#include <dptrace/propagation.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/* One incoming request, as a handler sees it. The server span is current on the calling
 * thread (with the request's baggage) while the handler runs. */
typedef struct mesh_request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;           /* without the query string */
    const char *route;          /* the matched route template, e.g. "/stock/{sku}" */
    const char *param;          /* the {…} part of the path, or "" */
    dpt_span span;              /* the SERVER span */
    const dpt_baggage *baggage; /* the incoming baggage (NULL: none) */
} mesh_request;

/* What a handler answers. */
typedef struct mesh_response {
    int status;
    char body[512];
    char error[128]; /* status message for a 5xx answer (default "HTTP <status>") */
} mesh_response;

typedef void (*mesh_handler_fn)(mesh_request *req, mesh_response *resp);

/* A route: method and path template; a template ending in "{name}" matches any last
 * segment (handed over as req->param). */
typedef struct mesh_route {
    const char *method;
    const char *template;
    mesh_handler_fn fn;
} mesh_route;

typedef struct mesh_service {
    const char *name;
    dpt_provider *provider;
    dpt_tracer *tracer;
    uint16_t port;
    const char *ready_file;
    bool untrusted_edge; /* --untrusted-edge 1: start new traces, link the caller's */
    const mesh_route *routes;
    size_t n_routes;
} mesh_service;

/* The process's service (one per process; set by mesh_init). */
extern mesh_service mesh;

/* Parses --port N and --ready-file PATH (and leaves the rest to the service through
 * mesh_arg), names the service (OTEL_SERVICE_NAME unless already set), builds the
 * provider from the environment (file exporter by default; OTLP/Zipkin when
 * libdptrace-http is linked) and the tracer. Exits with a message on bad arguments. */
void mesh_init(const char *name, int argc, char **argv);
/* The value of option --name given to the program, or def. */
const char *mesh_arg(const char *name, const char *def);

/* Serves routes until SIGTERM or SIGINT, then stops accepting, lets requests in flight
 * finish, calls on_stop (may be NULL; e.g. drain a queue) and shuts the provider down,
 * which flushes every span. Returns the process exit code. */
int mesh_serve(const mesh_route *routes, size_t n_routes, void (*on_stop)(void));

/* A query argument of the request, or NULL. */
const char *mesh_query(const mesh_request *req, const char *key);
/* A request header (case-insensitive), or NULL. */
const char *mesh_header(const mesh_request *req, const char *name);

/* The result of an outgoing call. */
typedef struct mesh_http_result {
    long status; /* HTTP status, 0 when the request failed */
    char body[512];
    char error[128]; /* transport error text when status is 0 */
} mesh_http_result;

/* Calls method url with a CLIENT span (child of the current span) that carries W3C
 * traceparent/tracestate and baggage in the request headers, records the HTTP semantic
 * convention attributes and marks 4xx/5xx and transport errors as errors. route (may be
 * NULL) is the URL template for the span name ("GET /stock/{sku}"). */
void mesh_http_call(const char *method, const char *url, const char *route, mesh_http_result *out);

/* A log line of the service on stderr ("gateway: <message> trace_id=... span_id=...
 * trace_flags=01"): the current span's context goes with every line, so a line in the log
 * leads to its trace (dpt_log_fields). */
void mesh_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sleeps a few milliseconds (lo..hi), to give the waterfalls something to show. */
void mesh_work_ms(int lo, int hi);

#endif
