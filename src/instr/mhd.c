/* mhd.c - libmicrohttpd requests as SERVER spans (dpt_mhd_request_*).
 *
 * The span starts on the access handler's first call, from the context extracted from the
 * request headers, and ends in the daemon's completion callback, so it covers sending the
 * response too, and a request that dies on the way (timeout, client gone) is marked. The
 * request headers are read in one pass into an array that the propagator reads through
 * the header-array carrier, instead of one walk of MHD's list per field looked up.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "instr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64 /* headers past this many are not seen by extraction */

struct dpt_mhd_request {
    struct MHD_Connection *conn;
    dpt_span span;
    dpt_context *ctx;
    const char *method; /* the normalised method: a static string */
    bool status_set;
};

typedef struct collect {
    dpt_header h[MAX_HEADERS];
    size_t n;
    const char *host, *ua, *clen;
} collect;

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    collect *c = cls;
    if (!key) return MHD_YES;
    if (!value) value = "";
    if (c->n < MAX_HEADERS) c->h[c->n++] = (dpt_header){key, strlen(key), value, strlen(value)};
    if (!c->host && strcasecmp(key, "Host") == 0)
        c->host = value;
    else if (!c->ua && strcasecmp(key, "User-Agent") == 0)
        c->ua = value;
    else if (!c->clen && strcasecmp(key, "Content-Length") == 0)
        c->clen = value;
    return MHD_YES;
}

dpt_mhd_request *dpt_mhd_request_start(struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const dpt_mhd_opts *opts)
{
    static const dpt_mhd_opts none = {0};
    if (!opts) opts = &none;
    if (!conn) return NULL;
    dpt_mhd_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->conn = conn;
    if (!method) method = "";
    r->method = dpt__http_method(method, strlen(method));

    collect cl; /* 2 KB of the stack, instead of an allocation per request */
    collect *c = &cl;
    c->n = 0;
    c->host = c->ua = c->clen = NULL;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, on_header, c);

    dpt_attr attrs[14];
    size_t n = 0;
    attrs[n++] = DPT_STR("http.request.method", r->method);
    if (strcmp(r->method, method) != 0)
        attrs[n++] = DPT_STR("http.request.method_original", method);
    if (url) attrs[n++] = DPT_STR("url.path", url);
    attrs[n++] = DPT_STR("url.scheme", opts->https ? "https" : "http");
    const char *host;
    size_t host_len;
    long port;
    if (c->host && dpt__host_header(c->host, strlen(c->host), &host, &host_len, &port)) {
        attrs[n++] = DPT_STRN("server.address", host, host_len);
        if (port < 0) port = opts->https ? 443 : 80;
        attrs[n++] = DPT_INT("server.port", port);
    }
    char peer[INET6_ADDRSTRLEN] = "";
    long peer_port = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
            inet_ntop(AF_INET, &in->sin_addr, peer, sizeof peer);
            peer_port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, peer, sizeof peer);
            peer_port = ntohs(in6->sin6_port);
        }
    }
    if (*peer) {
        /* Without a proxy header to trust, the client is the peer (the conventions'
         * fallback for client.address). */
        attrs[n++] = DPT_STR("client.address", peer);
        attrs[n++] = DPT_STR("network.peer.address", peer);
        attrs[n++] = DPT_INT("network.peer.port", peer_port);
    }
    if (version && strncmp(version, "HTTP/", 5) == 0 && version[5])
        attrs[n++] = DPT_STR("network.protocol.version", version + 5);
    if (c->ua) attrs[n++] = DPT_STR("user_agent.original", c->ua);
    if (c->clen) {
        char *end = NULL;
        long long v = strtoll(c->clen, &end, 10);
        if (end != c->clen && *end == '\0' && v >= 0)
            attrs[n++] = DPT_INT("http.request.body.size", v);
    }

    dpt_headers hs;
    dpt_headers_wrap(&hs, c->h, c->n);
    dpt_server_opts so = {.propagator = opts->propagator,
                          .untrusted_edge = opts->untrusted_edge,
                          .attrs = attrs,
                          .n_attrs = n};
    const char *name = strcmp(r->method, "_OTHER") == 0 ? "HTTP" : r->method;
    r->span = dpt_span_start_server(dpt__instr_tracer(opts->tracer), name, &dpt_headers_getter, &hs,
                                    &so, &r->ctx);
    return r;
}

const dpt_context *dpt_mhd_request_context(const dpt_mhd_request *r)
{
    return r ? r->ctx : NULL;
}

dpt_span dpt_mhd_request_span(const dpt_mhd_request *r)
{
    return r ? r->span : DPT_SPAN_NONE;
}

void dpt_mhd_request_set_route(dpt_mhd_request *r, const char *route)
{
    if (!r || !route || !dpt_span_is_recording(r->span)) return;
    dpt_span_set_str(r->span, "http.route", route);
    char name[256];
    const char *m = strcmp(r->method, "_OTHER") == 0 ? "HTTP" : r->method;
    snprintf(name, sizeof name, "%s %s", m, route);
    dpt_span_update_name(r->span, name);
}

enum MHD_Result dpt_mhd_queue_response(dpt_mhd_request *r, unsigned int status,
                                       struct MHD_Response *response)
{
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, response);
    if (!r->status_set && dpt_span_is_recording(r->span)) {
        r->status_set = true;
        dpt_span_set_int(r->span, "http.response.status_code", status);
        if (status >= 500) {
            /* Server spans: only 5xx are errors; the code says why (no description). */
            char code[16];
            snprintf(code, sizeof code, "%u", status);
            dpt_span_set_str(r->span, "error.type", code);
            dpt_span_set_status(r->span, DPT_STATUS_ERROR, NULL);
        }
    }
    return ret;
}

void dpt_mhd_request_end(dpt_mhd_request *r, enum MHD_RequestTerminationCode toe)
{
    if (!r) return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        const char *type = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED   ? "timeout"
                           : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client_abort"
                           : toe == MHD_REQUEST_TERMINATED_READ_ERROR      ? "read_error"
                           : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                                                                           : "connection_error";
        /* A response that never reached the client is an error whatever its status. */
        dpt_span_set_str(r->span, "error.type", type);
        dpt_span_set_status(r->span, DPT_STATUS_ERROR, "the request did not complete");
    }
    dpt_span_end(r->span);
    dpt_context_release(r->ctx);
    free(r);
}

void dpt_mhd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    if (!con_cls) return;
    dpt_mhd_request_end(*con_cls, toe);
    *con_cls = NULL;
}
