/* http_exporters.c - the OTLP/HTTP and Zipkin exporters on top of http_client.c: their
 * settings (explicit or from the OTEL_EXPORTER_* variables), the encoding of each batch
 * with a reused encoder, partial-success answers, and the factories for
 * OTEL_TRACES_EXPORTER.
 */
#include "http_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

typedef struct http_exp {
    dpt__http_client c;
    dpt_encoder *enc; /* reused: the export thread allocates nothing per span */
    bool otlp;
} http_exp;

void dpt_http_exporter_config_default(dpt_http_exporter_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->protocol = DPT_OTLP_HTTP_PROTOBUF;
    c->timeout_ms = 10000;
    c->initial_backoff_ms = 1000;
    c->max_backoff_ms = 5000;
    c->max_attempts = 5;
    c->max_in_flight = 16;
}

/* ---- partial success ------------------------------------------------------------------ */

/* ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
 * ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
 * Read with the project's wire reader (src/common/pb_read.h). */
static bool parse_partial_pb(const uint8_t *p, size_t n, int64_t *rejected, char *msg, size_t cap)
{
    pbr_msg m = pbr_init(p, n);
    pbr_field f;
    bool found = false;
    int rc;
    while ((rc = pbr_next(&m, &f)) > 0) {
        if (f.num != 1 || f.wire != PBR_LEN) continue;
        found = true;
        pbr_msg q = pbr_init(f.data, f.len);
        pbr_field g;
        int rq;
        while ((rq = pbr_next(&q, &g)) > 0) {
            if (g.num == 1 && g.wire == PBR_VARINT) {
                *rejected = (int64_t)g.u;
            } else if (g.num == 2 && g.wire == PBR_LEN) {
                size_t k = g.len < cap - 1 ? g.len : cap - 1;
                memcpy(msg, g.data, k);
                msg[k] = '\0';
            }
        }
        if (rq < 0) return false;
    }
    return rc == 0 && found;
}

/* {"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}}: a key search is enough
 * for this one small, flat answer; a wrong guess only changes a log line. */
static bool parse_partial_json(const char *s, size_t n, int64_t *rejected, char *msg, size_t cap)
{
    char *body = dpt__strndup(s, n);
    if (!body) return false;
    bool found = strstr(body, "\"partialSuccess\"") != NULL;
    const char *r = strstr(body, "\"rejectedSpans\"");
    if (r) {
        r += strlen("\"rejectedSpans\"");
        while (*r && (isspace((unsigned char)*r) || *r == ':' || *r == '"'))
            r++;
        *rejected = strtoll(r, NULL, 10);
    }
    const char *m = strstr(body, "\"errorMessage\"");
    if (m) {
        m += strlen("\"errorMessage\"");
        while (*m && (isspace((unsigned char)*m) || *m == ':'))
            m++;
        if (*m == '"') {
            m++;
            size_t i = 0;
            while (m[i] && m[i] != '"' && i + 1 < cap) {
                msg[i] = m[i];
                i++;
            }
            msg[i] = '\0';
        }
    }
    free(body);
    return found;
}

/* After a 2xx answer (I/O thread): a partial success is final (the spec forbids retrying
 * it); its rejected count is kept and its message logged sanitized (no terminal escapes,
 * no forged lines) and rate-limited. */
static void on_delivered(dpt__http_client *c, dpt__xfer *xf)
{
    if (xf->resp.len == 0) return;
    int64_t rejected = 0;
    char raw[256] = "";
    bool json = strstr(xf->content_type, "json") != NULL;
    bool found = json ? parse_partial_json(xf->resp.p, xf->resp.len, &rejected, raw, sizeof raw)
                      : parse_partial_pb((const uint8_t *)xf->resp.p, xf->resp.len, &rejected, raw,
                                         sizeof raw);
    if (!found || (rejected == 0 && raw[0] == '\0')) return;
    /* A collector cannot reject more spans than it was sent: a larger (lying, or broken)
     * count is taken as the whole batch, so spans_rejected never exceeds what went out. */
    if (rejected > 0 && (uint64_t)rejected > xf->live) rejected = (int64_t)xf->live;
    if (rejected > 0)
        atomic_fetch_add_explicit(&c->st_spans_rejected, (uint64_t)rejected, memory_order_relaxed);
    char msg[200];
    dpt__log_sanitize(raw, strlen(raw), msg, sizeof msg);
    dpt__log_limited(&c->note_rl, rejected > 0 ? DPT_LOG_WARN : DPT_LOG_INFO,
                     "%s exporter: collector accepted the batch of %zu spans but rejected %lld: %s",
                     c->name, xf->live, (long long)rejected, msg[0] ? msg : "(no message)");
}

/* ---- exporter ops ---------------------------------------------------------------------- */

static dpt_err http_export(void *state, const dpt_span_data *const *spans, size_t n)
{
    http_exp *x = state;
    size_t live = 0;
    for (size_t i = 0; spans && i < n; i++)
        live += spans[i] != NULL;
    if (live == 0) return DPT_OK;
    const uint8_t *body;
    size_t len;
    dpt_err err = dpt_encoder_encode(x->enc, spans, n, &body, &len);
    if (err != DPT_OK) {
        atomic_fetch_add_explicit(&x->c.st_exports, 1, memory_order_relaxed);
        dpt__http_count_failed(&x->c, live);
        dpt__log(DPT_LOG_WARN, "%s exporter: encoding %zu spans failed: %s", x->c.name, live,
                 dpt_strerror(err));
        return err;
    }
    return dpt__http_submit(&x->c, x->enc, body, len, n, live);
}

/* Every request in flight answered (delivered or failed) within timeout_ms. */
static dpt_err http_flush(void *state, uint32_t timeout_ms)
{
    http_exp *x = state;
    return dpt__http_client_drain(&x->c, timeout_ms);
}

static dpt_err http_shutdown(void *state, uint32_t timeout_ms)
{
    http_exp *x = state;
    return dpt__http_client_stop(&x->c, timeout_ms);
}

static void http_destroy(void *state)
{
    http_exp *x = state;
    if (!x) return;
    dpt__http_client_free(&x->c);
    dpt_encoder_free(x->enc);
    free(x);
}

static const dpt_exporter_ops http_ops = {
    .export_spans = http_export,
    .force_flush = http_flush,
    .shutdown = http_shutdown,
    .destroy = http_destroy,
};

/* The gRPC method every OTLP/gRPC trace export calls (opentelemetry-proto,
 * collector/trace/v1/trace_service.proto: service TraceService { rpc Export }). */
#define GRPC_TRACE_EXPORT "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

static dpt_exporter *make(bool otlp, const dpt_http_exporter_config *cfg)
{
    http_exp *x = dpt__calloc(1, sizeof *x);
    if (!x) return NULL;
    x->otlp = otlp;
    bool grpc = otlp && cfg && cfg->protocol == DPT_OTLP_GRPC;
    dpt_format fmt = !otlp                                          ? DPT_FORMAT_ZIPKIN_JSON
                     : (cfg && cfg->protocol == DPT_OTLP_HTTP_JSON) ? DPT_FORMAT_OTLP_JSON
                                                                    : DPT_FORMAT_OTLP_PROTO;
    x->enc = dpt_encoder_new(fmt);
    /* gRPC: the endpoint (scheme://host:port) plus the method's path. */
    dpt_http_exporter_config gcfg;
    char *gurl = NULL;
    if (grpc) {
        gcfg = *cfg;
        const char *ep = cfg->url && *cfg->url ? cfg->url : "http://localhost:4317";
        size_t n = strlen(ep);
        while (n && ep[n - 1] == '/')
            n--;
        gurl = dpt__malloc(n + sizeof GRPC_TRACE_EXPORT);
        if (gurl) {
            memcpy(gurl, ep, n);
            memcpy(gurl + n, GRPC_TRACE_EXPORT, sizeof GRPC_TRACE_EXPORT);
        }
        gcfg.url = gurl;
        cfg = &gcfg;
    }
    /* OTLP: the form of the spec's "User Agent" section (protocol/exporter.md),
     * OTel-OTLP-Exporter-<language>/<version>. */
    dpt_err err =
        (grpc && !gurl)
            ? DPT_ENOMEM
            : dpt__http_client_init(&x->c,
                                    grpc   ? "otlp/grpc"
                                    : otlp ? "otlp"
                                           : "zipkin",
                                    cfg,
                                    otlp ? "http://localhost:4318/v1/traces"
                                         : "http://localhost:9411/api/v2/spans",
                                    grpc                           ? "application/grpc"
                                    : fmt == DPT_FORMAT_OTLP_PROTO ? "application/x-protobuf"
                                                                   : "application/json",
                                    otlp ? "OTel-OTLP-Exporter-C/" DPTRACE_VERSION_STRING
                                         : "dptrace/" DPTRACE_VERSION_STRING,
                                    grpc);
    free(gurl);
    if (otlp) x->c.on_delivered = on_delivered;
    if (!x->enc || err != DPT_OK) {
        if (err != DPT_EINVAL) /* an invalid endpoint was reported already */
            dpt__log(DPT_LOG_ERROR, "%s exporter: cannot be created: %s", otlp ? "otlp" : "zipkin",
                     dpt_strerror(x->enc ? err : DPT_ENOMEM));
        http_destroy(x);
        return NULL;
    }
    return dpt_exporter_new(&http_ops, x);
}

dpt_exporter *dpt_exporter_otlp_http(const dpt_http_exporter_config *cfg)
{
    return make(true, cfg);
}

dpt_exporter *dpt_exporter_otlp_grpc(const dpt_http_exporter_config *cfg)
{
    dpt_http_exporter_config d;
    if (cfg)
        d = *cfg;
    else
        dpt_http_exporter_config_default(&d);
    d.protocol = DPT_OTLP_GRPC;
    return make(true, &d);
}

dpt_exporter *dpt_exporter_zipkin_http(const dpt_http_exporter_config *cfg)
{
    return make(false, cfg);
}

dpt_err dpt_exporter_http_get_stats(dpt_exporter *e, dpt_http_exporter_stats *out)
{
    http_exp *he = dpt_exporter_state(e, http_export);
    if (!he || !out) return DPT_EINVAL;
    dpt__http_client *c = &he->c;
    out->exports = atomic_load_explicit(&c->st_exports, memory_order_relaxed);
    out->exports_ok = atomic_load_explicit(&c->st_ok, memory_order_relaxed);
    out->exports_failed = atomic_load_explicit(&c->st_failed, memory_order_relaxed);
    out->attempts = atomic_load_explicit(&c->st_attempts, memory_order_relaxed);
    out->retries = atomic_load_explicit(&c->st_retries, memory_order_relaxed);
    out->spans_sent = atomic_load_explicit(&c->st_spans_sent, memory_order_relaxed);
    out->spans_rejected = atomic_load_explicit(&c->st_spans_rejected, memory_order_relaxed);
    out->bytes_sent = atomic_load_explicit(&c->st_bytes_sent, memory_order_relaxed);
    out->last_http_status = atomic_load_explicit(&c->st_last_status, memory_order_relaxed);
    out->spans_failed = atomic_load_explicit(&c->st_spans_failed, memory_order_relaxed);
    out->max_in_flight_seen = atomic_load_explicit(&c->st_in_flight_max, memory_order_relaxed);
    out->requests_too_large = atomic_load_explicit(&c->st_requests_too_large, memory_order_relaxed);
    out->responses_too_large =
        atomic_load_explicit(&c->st_responses_too_large, memory_order_relaxed);
    return DPT_OK;
}

/* ---- environment ----------------------------------------------------------------------- */

/* The TRACES_ variable if set and non-empty, else the general one, else NULL. */
static const char *otlp_env(const char *suffix, bool *specific)
{
    char name[96];
    snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_TRACES_%s", suffix);
    const char *v = getenv(name);
    if (v && *v) {
        if (specific) *specific = true;
        return v;
    }
    if (specific) *specific = false;
    snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s", suffix);
    v = getenv(name);
    return v && *v ? v : NULL;
}

static bool parse_ms(const char *var, const char *s, uint32_t *out)
{
    if (!s) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    while (*end && isspace((unsigned char)*end))
        end++;
    if (errno || end == s || *end || *s == '-' || v == 0 || v > UINT32_MAX) {
        dpt__log(DPT_LOG_WARN, "%s=%s is not a positive number of milliseconds; using the default",
                 var, s);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static void max_in_flight_from_env(dpt_http_exporter_config *cfg)
{
    const char *s = getenv("DPTRACE_EXPORT_MAX_IN_FLIGHT");
    if (!s || !*s) return;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > DPT_HTTP_MAX_IN_FLIGHT_LIMIT) {
        dpt__log(DPT_LOG_WARN,
                 "DPTRACE_EXPORT_MAX_IN_FLIGHT is not a number from 1 to %d; using %u",
                 DPT_HTTP_MAX_IN_FLIGHT_LIMIT, cfg->max_in_flight);
        return;
    }
    cfg->max_in_flight = (uint32_t)v;
}

/* DPTRACE_EXPORT_MAX_REQUEST_BYTES / _RESPONSE_BYTES: a number of bytes, at least 1024. */
static void size_from_env(const char *var, uint64_t *out)
{
    const char *s = getenv(var);
    if (!s || !*s) return;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < 1024) {
        dpt__log(DPT_LOG_WARN, "%s is not a number of bytes of at least 1024; using the default",
                 var);
        return;
    }
    *out = (uint64_t)v;
}

static void limits_from_env(dpt_http_exporter_config *cfg)
{
    max_in_flight_from_env(cfg);
    size_from_env("DPTRACE_EXPORT_MAX_REQUEST_BYTES", &cfg->max_request_bytes);
    size_from_env("DPTRACE_EXPORT_MAX_RESPONSE_BYTES", &cfg->max_response_bytes);
}

/* OTEL_EXPORTER_OTLP_TRACES_<suffix>, else OTEL_EXPORTER_OTLP_<suffix>, as a Boolean by
 * the spec's rule (dpt__env_bool: only "true" is true, another value is warned about). */
static bool otlp_env_bool(const char *suffix)
{
    char name[96];
    snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_TRACES_%s", suffix);
    if (!dpt__env(name)) snprintf(name, sizeof name, "OTEL_EXPORTER_OTLP_%s", suffix);
    return dpt__env_bool(name, false);
}

/* Header lists: OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS or the
 * "headers" setting: "k1=v1,k2=v2" in the W3C Baggage list format (exporter.md, "Specifying
 * headers via environment variables"), keys and values percent-decoded, read by the shared
 * dpt__kvlist. A malformed member (no '=', an empty key, a '%' not followed by two hex
 * digits), or one that decodes to a NUL byte, is dropped on its own and reported by its
 * position: header values are credentials and never reach the log. Fills hdrs (names and
 * values point into the returned block, which the caller frees). */
static char *parse_headers(const char *what, const char *s, dpt_http_header *hdrs, size_t cap,
                           size_t *n)
{
    *n = 0;
    if (!s) return NULL;
    size_t len = strlen(s);
    /* Decoding never lengthens: each member's key and value fit in its own bytes + 2. */
    char *block = dpt__malloc(len * 2 + 2);
    if (!block) {
        dpt__log(DPT_LOG_ERROR, "%s: %s; no header is sent", what, dpt_strerror(DPT_ENOMEM));
        return NULL;
    }
    char *w = block;
    dpt__kvlist it;
    dpt__kvlist_init(&it, s, len);
    int r;
    for (size_t at = 1; (r = dpt__kvlist_next(&it)) != DPT__KV_END; at++) {
        if (r == DPT__KV_ENOMEM) {
            dpt__log(DPT_LOG_ERROR, "%s: %s; headers from entry %zu on are not sent", what,
                     dpt_strerror(DPT_ENOMEM), at);
            break;
        }
        if (r == DPT__KV_MEMBER &&
            (memchr(it.key.p, 0, it.key.len) || memchr(it.value.p, 0, it.value.len)))
            r = DPT__KV_MALFORMED;
        if (r == DPT__KV_MALFORMED) {
            dpt__log(DPT_LOG_WARN,
                     "%s: entry %zu is malformed (no '=', an empty name, a bad percent escape "
                     "or an encoded NUL) and is ignored (not shown: header values may be "
                     "credentials)",
                     what, at);
            continue;
        }
        if (*n == cap) {
            dpt__log(DPT_LOG_WARN, "%s: more than %zu headers; the rest are ignored", what, cap);
            break;
        }
        hdrs[*n].name = w;
        memcpy(w, it.key.p, it.key.len + 1);
        w += it.key.len + 1;
        hdrs[*n].value = w;
        memcpy(w, it.value.p, it.value.len + 1);
        w += it.value.len + 1;
        (*n)++;
    }
    dpt__kvlist_free(&it);
    return block;
}

dpt_exporter *dpt_exporter_otlp_http_from_env(void)
{
    dpt_http_exporter_config cfg;
    dpt_http_exporter_config_default(&cfg);
    char *url = NULL;
    bool specific = false;
    const char *proto = otlp_env("PROTOCOL", NULL);
    if (proto) {
        if (strcasecmp(proto, "http/json") == 0)
            cfg.protocol = DPT_OTLP_HTTP_JSON;
        else if (strcasecmp(proto, "grpc") == 0)
            cfg.protocol = DPT_OTLP_GRPC;
        else if (strcasecmp(proto, "http/protobuf") != 0)
            dpt__log(DPT_LOG_WARN,
                     "OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; using http/protobuf", proto);
    }
    bool grpc = cfg.protocol == DPT_OTLP_GRPC;
    const char *ep = otlp_env("ENDPOINT", &specific);
    if (ep && grpc) {
        /* Exporter spec: a gRPC endpoint is used as is (no per-signal path) and may come
         * without a scheme; then "Insecure" decides: true is plain h2c, false (the
         * default) TLS. With a scheme, the scheme decides. */
        if (!strstr(ep, "://")) {
            bool insecure = otlp_env_bool("INSECURE");
            size_t n = strlen(ep);
            url = dpt__malloc(n + sizeof "https://");
            if (!url) return NULL;
            snprintf(url, n + sizeof "https://", "%s%s", insecure ? "http://" : "https://", ep);
            cfg.url = url;
        } else {
            cfg.url = ep;
        }
    } else if (ep && specific) {
        cfg.url = ep; /* the signal-specific endpoint is used as is */
    } else if (ep) {
        /* The general endpoint is a base URL: append the signal path. */
        size_t n = strlen(ep);
        while (n && ep[n - 1] == '/')
            n--;
        url = dpt__malloc(n + sizeof "/v1/traces");
        if (!url) return NULL;
        memcpy(url, ep, n);
        memcpy(url + n, "/v1/traces", sizeof "/v1/traces");
        cfg.url = url;
    }
    const char *comp = otlp_env("COMPRESSION", NULL);
    if (comp) {
        if (strcasecmp(comp, "gzip") == 0)
            cfg.gzip = true;
        else if (strcasecmp(comp, "none") != 0)
            dpt__log(DPT_LOG_WARN, "OTLP compression %s is not supported; using none", comp);
    }
    const char *tmo = otlp_env("TIMEOUT", NULL);
    if (tmo) parse_ms("OTEL_EXPORTER_OTLP_TIMEOUT", tmo, &cfg.timeout_ms);
    cfg.ca_file = otlp_env("CERTIFICATE", NULL);
    cfg.client_cert_file = otlp_env("CLIENT_CERTIFICATE", NULL);
    cfg.client_key_file = otlp_env("CLIENT_KEY", NULL);
    /* Exporter spec, "Insecure": "only applies to OTLP/gRPC when an endpoint is provided
     * without the http or https scheme - OTLP/HTTP always uses the scheme provided for the
     * endpoint". So it never turns off certificate verification here. */
    if (!grpc && otlp_env_bool("INSECURE"))
        dpt__log(DPT_LOG_INFO, "OTEL_EXPORTER_OTLP_INSECURE applies only to OTLP/gRPC endpoints "
                               "without a scheme; OTLP/HTTP follows the endpoint's scheme");
    limits_from_env(&cfg);

    /* Both header variables apply; for a name in both, the TRACES_ value replaces the
     * general one (header names are case-insensitive). */
    dpt_http_header hdrs[64];
    size_t n1 = 0, n2 = 0;
    char *b1 = parse_headers("OTEL_EXPORTER_OTLP_HEADERS", getenv("OTEL_EXPORTER_OTLP_HEADERS"),
                             hdrs, 32, &n1);
    char *b2 = parse_headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                             getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), hdrs + n1, 32, &n2);
    size_t n = 0;
    for (size_t i = 0; i < n1; i++) {
        bool overridden = false;
        for (size_t k = 0; k < n2; k++)
            overridden |= strcasecmp(hdrs[i].name, hdrs[n1 + k].name) == 0;
        if (!overridden) hdrs[n++] = hdrs[i];
    }
    memmove(hdrs + n, hdrs + n1, n2 * sizeof hdrs[0]);
    cfg.headers = hdrs;
    cfg.n_headers = n + n2;

    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    free(b1);
    free(b2);
    free(url);
    return e;
}

dpt_exporter *dpt_exporter_zipkin_http_from_env(void)
{
    dpt_http_exporter_config cfg;
    dpt_http_exporter_config_default(&cfg);
    const char *ep = getenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT");
    if (ep && *ep) cfg.url = ep;
    const char *tmo = getenv("OTEL_EXPORTER_ZIPKIN_TIMEOUT");
    if (tmo && *tmo) parse_ms("OTEL_EXPORTER_ZIPKIN_TIMEOUT", tmo, &cfg.timeout_ms);
    limits_from_env(&cfg);
    return dpt_exporter_zipkin_http(&cfg);
}

/* Factories for the registry. Settings from a configuration file (libdptrace-config)
 * replace the environment entirely ("When OTEL_CONFIG_FILE is set, all other environment
 * variables [...] MUST be ignored", sdk-environment-variables.md). Keys: endpoint (the full
 * URL), protocol (http/protobuf, http/json; otlp only), compression (gzip, none), timeout
 * (ms, 0: no limit), headers (k=v,... values percent-encoded), certificate,
 * client_certificate, client_key. A bad value makes no exporter (logged): a configuration
 * file is checked when the provider is built, not at the first export. */
static dpt_exporter *from_settings(bool otlp, const dpt_exporter_settings *s)
{
    const char *name = otlp ? "otlp" : "zipkin";
    dpt_http_exporter_config cfg;
    dpt_http_exporter_config_default(&cfg);
    cfg.url = dpt_exporter_settings_get(s, "endpoint");
    const char *v = dpt_exporter_settings_get(s, "protocol");
    if (otlp && v && strcmp(v, "http/json") == 0) {
        cfg.protocol = DPT_OTLP_HTTP_JSON;
    } else if (otlp && v && strcmp(v, "grpc") == 0) {
        cfg.protocol = DPT_OTLP_GRPC;
    } else if (otlp && v && strcmp(v, "http/protobuf") != 0) {
        dpt__log(DPT_LOG_ERROR,
                 "otlp exporter: protocol %s is not supported (http/protobuf, http/json, grpc)", v);
        return NULL;
    }
    /* gRPC, an endpoint without a scheme: "insecure" (tls.insecure) chooses h2c over TLS,
     * as OTEL_EXPORTER_OTLP_INSECURE does. */
    char url[1024];
    if (cfg.protocol == DPT_OTLP_GRPC && cfg.url && !strstr(cfg.url, "://")) {
        const char *ins = dpt_exporter_settings_get(s, "insecure");
        snprintf(url, sizeof url, "%s%s", ins && strcmp(ins, "true") == 0 ? "http://" : "https://",
                 cfg.url);
        cfg.url = url;
    }
    v = dpt_exporter_settings_get(s, "compression");
    if (v && strcmp(v, "gzip") != 0 && strcmp(v, "none") != 0) {
        dpt__log(DPT_LOG_ERROR, "%s exporter: compression %s is not supported (gzip, none)", name,
                 v);
        return NULL;
    }
    cfg.gzip = v && strcmp(v, "gzip") == 0;
    if ((v = dpt_exporter_settings_get(s, "timeout"))) {
        char *end;
        errno = 0;
        unsigned long long ms = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-' || ms > UINT32_MAX) {
            dpt__log(DPT_LOG_ERROR, "%s exporter: timeout %s is not a number of milliseconds", name,
                     v);
            return NULL;
        }
        cfg.timeout_ms = ms ? (uint32_t)ms : UINT32_MAX; /* 0: no limit */
    }
    cfg.ca_file = dpt_exporter_settings_get(s, "certificate");
    cfg.client_cert_file = dpt_exporter_settings_get(s, "client_certificate");
    cfg.client_key_file = dpt_exporter_settings_get(s, "client_key");
    dpt_http_header hdrs[64];
    size_t n = 0;
    char hwhat[32];
    snprintf(hwhat, sizeof hwhat, "%s exporter: headers", name);
    char *block = parse_headers(hwhat, dpt_exporter_settings_get(s, "headers"), hdrs, 64, &n);
    cfg.headers = hdrs;
    cfg.n_headers = n;
    dpt_exporter *e = otlp ? dpt_exporter_otlp_http(&cfg) : dpt_exporter_zipkin_http(&cfg);
    free(block);
    return e;
}

static dpt_exporter *otlp_factory(const dpt_exporter_settings *s)
{
    return s ? from_settings(true, s) : dpt_exporter_otlp_http_from_env();
}

static dpt_exporter *zipkin_factory(const dpt_exporter_settings *s)
{
    return s ? from_settings(false, s) : dpt_exporter_zipkin_http_from_env();
}

dpt_err dpt_http_register(void)
{
    dpt_err err = dpt_exporter_factory_register("otlp", otlp_factory);
    if (err != DPT_OK) return err;
    return dpt_exporter_factory_register("zipkin", zipkin_factory);
}
