/* curl.c - libcurl transfers as CLIENT spans (dpt_curl_perform, dpt_curl_span_*).
 *
 * The trace headers reach the request without touching the caller's header list: curl's
 * struct curl_slist is a public linked list, so the helper puts its own nodes (traceparent,
 * tracestate, baggage, living in the dpt_curl_span) in front of the caller's first node and
 * hands that chain to CURLOPT_HTTPHEADER for the transfer; afterwards the handle gets the
 * caller's list back. Nothing is copied or allocated unless the caller's list already
 * carries a trace field (then a filtered copy is made) or the lines outgrow the inline
 * buffer (large baggage).
 */
#include <curl/curl.h>

#include "instr_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 8  /* trace fields one propagator writes (b3 multi writes 3) */
#define MAX_BLOCKS 10 /* heap blocks for lines that do not fit the inline buffer */

struct dpt_curl_span {
    CURL *c;
    struct curl_slist *caller;   /* the caller's list, put back at the end */
    struct curl_slist *filtered; /* owned copy of it without trace fields, or NULL */
    struct curl_slist nodes[MAX_FIELDS];
    size_t n_nodes;
    dpt_span span;
    const char *tmpl; /* url_template, for the name given after the transfer */
    bool named;       /* the method was known at the start */
    bool url_known;   /* url.full & co. were set at the start */
    bool allocated;   /* made by dpt_curl_span_start: free it at the end */
    size_t used;
    char *blocks[MAX_BLOCKS];
    size_t n_blocks;
    char buf[704];
};

/* Memory for header lines and copies: the inline buffer first, then heap blocks. */
static char *take(dpt_curl_span *s, size_t n)
{
    if (sizeof s->buf - s->used >= n) {
        char *p = s->buf + s->used;
        s->used += n;
        return p;
    }
    if (s->n_blocks == MAX_BLOCKS) return NULL;
    char *p = malloc(n);
    if (p) s->blocks[s->n_blocks++] = p;
    return p;
}

/* Setter over the span's own nodes: "name: value", replacing an earlier value. */
static dpt_err node_set(void *carrier, const char *name, const char *value, size_t len)
{
    dpt_curl_span *s = carrier;
    size_t nl = strlen(name);
    /* A CR or LF would split the request's header block (the propagators never produce
     * one, but a custom propagator might). */
    if (memchr(value, '\r', len) || memchr(value, '\n', len)) return DPT_EINVAL;
    char *line = take(s, nl + 2 + len + 1);
    if (!line) {
        atomic_fetch_add_explicit(&dpt__instr_curl_inject_failed, 1, memory_order_relaxed);
        return DPT_ENOMEM;
    }
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, len);
    line[nl + 2 + len] = '\0';
    for (size_t i = 0; i < s->n_nodes; i++) {
        const char *d = s->nodes[i].data;
        if (strncasecmp_ascii(d, name, nl) == 0 && d[nl] == ':') {
            s->nodes[i].data = line;
            return DPT_OK;
        }
    }
    if (s->n_nodes == MAX_FIELDS) return DPT_ETOOBIG;
    s->nodes[s->n_nodes].data = line;
    s->nodes[s->n_nodes].next = NULL;
    s->n_nodes++;
    return DPT_OK;
}

static const dpt_setter node_setter = {node_set};

/* Whether header line d is one of the propagator's fields. */
static bool is_field(const char *d, const char *const *fields, size_t n)
{
    const char *colon = strchr(d, ':');
    size_t nl = colon ? (size_t)(colon - d) : strlen(d); /* "name;" empties a header */
    if (!colon) {
        const char *semi = strchr(d, ';');
        if (semi) nl = (size_t)(semi - d);
    }
    for (size_t i = 0; i < n; i++)
        if (strlen(fields[i]) == nl && strncasecmp_ascii(d, fields[i], nl) == 0) return true;
    return false;
}

/* Chains the span's nodes in front of the caller's list (or of a copy of it without the
 * trace fields, when it carries some) and sets CURLOPT_HTTPHEADER. */
static void install_headers(dpt_curl_span *s, const dpt_propagator *p)
{
    struct curl_slist *tail = s->caller;
    const char *fields[16];
    size_t nf = dpt_propagator_fields(p ? p : dpt_propagator_get_global(), fields, 16);
    if (nf > 16) nf = 16;
    bool clash = false;
    for (struct curl_slist *l = s->caller; l && !clash; l = l->next)
        clash = l->data && is_field(l->data, fields, nf);
    if (clash) {
        /* The caller's own trace fields give way to the span's, for this transfer only. */
        struct curl_slist *copy = NULL;
        bool ok = true;
        for (struct curl_slist *l = s->caller; l && ok; l = l->next) {
            if (!l->data || is_field(l->data, fields, nf)) continue;
            struct curl_slist *c = curl_slist_append(copy, l->data);
            if (c)
                copy = c;
            else
                ok = false;
        }
        if (ok) {
            s->filtered = copy;
            tail = copy;
        } else {
            curl_slist_free_all(copy); /* memory: send both rather than lose the caller's */
        }
    }
    for (size_t i = 0; i < s->n_nodes; i++)
        s->nodes[i].next = i + 1 < s->n_nodes ? &s->nodes[i + 1] : tail;
    curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->n_nodes ? &s->nodes[0] : tail);
}

/* Span name "{method}" or "{method} {template}"; "HTTP" for a method the conventions do
 * not know. */
static void span_name(char *out, size_t cap, const char *method, const char *tmpl)
{
    const char *m = method && strcmp(method, "_OTHER") != 0 ? method : "HTTP";
    size_t ml = strlen(m), tl = tmpl ? strlen(tmpl) : 0;
    if (ml >= cap) ml = cap - 1;
    memcpy(out, m, ml);
    size_t n = ml;
    if (tmpl && n + 1 < cap) {
        if (tl > cap - n - 2) tl = cap - n - 2;
        out[n++] = ' ';
        memcpy(out + n, tmpl, tl);
        n += tl;
    }
    out[n] = '\0';
}

/* Adds url.full (redacted), server.address and server.port for url to attrs. Returns the
 * count added; the redacted text lives in buf (or *heap when longer). */
static size_t url_attrs(const char *url, dpt_attr *attrs, char *buf, size_t cap, char **heap)
{
    size_t n = 0, len = strlen(url);
    size_t need = dpt_instr_redact_url(url, len, buf, cap);
    const char *full = buf;
    if (need >= cap && (*heap = malloc(need + 1)) != NULL) {
        dpt_instr_redact_url(url, len, *heap, need + 1);
        full = *heap;
    }
    attrs[n++] = DPT_STR("url.full", full);
    const char *host;
    size_t host_len;
    long port;
    if (dpt__url_host_port(url, len, &host, &host_len, &port)) {
        attrs[n++] = DPT_STRN("server.address", host, host_len);
        if (port >= 0) attrs[n++] = DPT_INT("server.port", port);
    }
    return n;
}

static void start(dpt_curl_span *s, CURL *c, struct curl_slist *headers, const dpt_curl_opts *o)
{
    static const dpt_curl_opts none = {0};
    if (!o) o = &none;
    s->c = c;
    s->caller = headers;
    dpt_attr attrs[6];
    size_t n = 0;
    char urlbuf[1024];
    char *heap = NULL;
    const char *method = NULL;
    if (o->method) {
        method = dpt__http_method(o->method, strlen(o->method));
        attrs[n++] = DPT_STR("http.request.method", method);
        if (strcmp(method, o->method) != 0)
            attrs[n++] = DPT_STR("http.request.method_original", o->method);
        s->named = true;
    }
    if (o->url) {
        n += url_attrs(o->url, attrs + n, urlbuf, sizeof urlbuf, &heap);
        s->url_known = true;
    }
    if (o->url_template) {
        size_t tl = strlen(o->url_template);
        char *t = s->allocated ? take(s, tl + 1) : NULL;
        if (t) memcpy(t, o->url_template, tl + 1);
        s->tmpl = s->allocated ? t : o->url_template;
    }
    char name[160];
    span_name(name, sizeof name, method, o->url_template);
    s->span = dpt_span_start_client(dpt__instr_tracer(o->tracer), name, o->parent, o->propagator,
                                    &node_setter, s, attrs, n);
    free(heap);
    if (o->url_template) dpt_span_set_str(s->span, "url.template", o->url_template);
    install_headers(s, o->propagator);
}

/* A low-cardinality error.type for a transport error. */
static const char *curl_error_type(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "CURLE_COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "CURLE_COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_CONNECT:
        return "CURLE_COULDNT_CONNECT";
    case CURLE_SSL_CONNECT_ERROR:
        return "CURLE_SSL_CONNECT_ERROR";
    case CURLE_PEER_FAILED_VERIFICATION:
        return "CURLE_PEER_FAILED_VERIFICATION";
    case CURLE_SEND_ERROR:
        return "CURLE_SEND_ERROR";
    case CURLE_RECV_ERROR:
        return "CURLE_RECV_ERROR";
    case CURLE_GOT_NOTHING:
        return "CURLE_GOT_NOTHING";
    case CURLE_PARTIAL_FILE:
        return "CURLE_PARTIAL_FILE";
    case CURLE_WRITE_ERROR:
        return "CURLE_WRITE_ERROR";
    case CURLE_READ_ERROR:
        return "CURLE_READ_ERROR";
    case CURLE_TOO_MANY_REDIRECTS:
        return "CURLE_TOO_MANY_REDIRECTS";
    case CURLE_URL_MALFORMAT:
        return "CURLE_URL_MALFORMAT";
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "CURLE_UNSUPPORTED_PROTOCOL";
    case CURLE_OUT_OF_MEMORY:
        return "CURLE_OUT_OF_MEMORY";
    case CURLE_HTTP2:
        return "CURLE_HTTP2";
    case CURLE_HTTP2_STREAM:
        return "CURLE_HTTP2_STREAM";
    default:
        return "_OTHER";
    }
}

static void finish(dpt_curl_span *s, CURLcode rc)
{
    dpt_span span = s->span;
    if (dpt_span_is_recording(span)) {
        CURL *c = s->c;
        char *m = NULL, *u = NULL, *ip = NULL;
        long status = 0, pport = 0, ver = 0, redirects = 0;
        curl_off_t up = 0, down = 0;
        dpt_attr attrs[16];
        size_t n = 0;
        char urlbuf[1024];
        char *heap = NULL;
        if (!s->named && curl_easy_getinfo(c, CURLINFO_EFFECTIVE_METHOD, &m) == CURLE_OK && m) {
            const char *method = dpt__http_method(m, strlen(m));
            attrs[n++] = DPT_STR("http.request.method", method);
            if (strcmp(method, m) != 0) attrs[n++] = DPT_STR("http.request.method_original", m);
            char name[160];
            span_name(name, sizeof name, method, s->tmpl);
            dpt_span_update_name(span, name);
        }
        if (!s->url_known && curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &u) == CURLE_OK && u &&
            *u)
            n += url_attrs(u, attrs + n, urlbuf, sizeof urlbuf, &heap);
        if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0)
            attrs[n++] = DPT_INT("http.response.status_code", status);
        if (curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && *ip) {
            attrs[n++] = DPT_STR("network.peer.address", ip);
            if (curl_easy_getinfo(c, CURLINFO_PRIMARY_PORT, &pport) == CURLE_OK && pport > 0)
                attrs[n++] = DPT_INT("network.peer.port", pport);
        }
        if (curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &ver) == CURLE_OK) {
            const char *v = ver == CURL_HTTP_VERSION_1_0   ? "1.0"
                            : ver == CURL_HTTP_VERSION_1_1 ? "1.1"
                            : ver == CURL_HTTP_VERSION_2_0 ? "2"
                            : ver == CURL_HTTP_VERSION_3   ? "3"
                                                           : NULL;
            if (v) attrs[n++] = DPT_STR("network.protocol.version", v);
        }
        if (curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects) == CURLE_OK && redirects > 0)
            attrs[n++] = DPT_INT("http.request.resend_count", redirects);
        if (curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
            attrs[n++] = DPT_INT("http.request.body.size", up);
        if (status > 0 && curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down) == CURLE_OK)
            attrs[n++] = DPT_INT("http.response.body.size", down);
        dpt_span_set_attrs(span, attrs, n);
        free(heap);
        if (rc != CURLE_OK && rc != CURLE_ABORTED_BY_CALLBACK) {
            dpt_span_set_str(span, "error.type", curl_error_type(rc));
            dpt_span_set_status(span, DPT_STATUS_ERROR, curl_easy_strerror(rc));
        } else if (rc == CURLE_OK && status >= 400) {
            /* Client spans: 4xx and 5xx are errors; the code says why (no description). */
            char code[24];
            snprintf(code, sizeof code, "%ld", status);
            dpt_span_set_str(span, "error.type", code);
            dpt_span_set_status(span, DPT_STATUS_ERROR, NULL);
        }
    }
    dpt_span_end(span);
    curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->caller);
    curl_slist_free_all(s->filtered);
    for (size_t i = 0; i < s->n_blocks; i++)
        free(s->blocks[i]);
}

CURLcode dpt_curl_perform(CURL *c, struct curl_slist *headers, const dpt_curl_opts *opts)
{
    if (!c) return CURLE_BAD_FUNCTION_ARGUMENT;
    dpt_curl_span s;
    memset(&s, 0, offsetof(dpt_curl_span, buf));
    start(&s, c, headers, opts);
    CURLcode rc = curl_easy_perform(c);
    finish(&s, rc);
    return rc;
}

dpt_curl_span *dpt_curl_span_start(CURL *c, struct curl_slist *headers, const dpt_curl_opts *opts)
{
    if (!c) return NULL;
    dpt_curl_span *s = malloc(sizeof *s);
    if (!s) return NULL;
    memset(s, 0, offsetof(dpt_curl_span, buf));
    s->allocated = true;
    start(s, c, headers, opts);
    return s;
}

void dpt_curl_span_end(dpt_curl_span *s, CURLcode result)
{
    if (!s) return;
    finish(s, result);
    free(s);
}

dpt_span dpt_curl_span_get(const dpt_curl_span *s)
{
    return s ? s->span : DPT_SPAN_NONE;
}
