/* http_client.c - POST with retries for the HTTP exporters, several requests in flight.
 *
 * The exporting thread encodes a batch, copies it (gzip) into a free request slot and
 * returns; an I/O thread per client drives every slot on one curl multi handle, so a
 * collector 20 ms away does not cap throughput at one batch per round trip. Memory is
 * bounded: max_in_flight slots, each holding one encoded batch; with every slot busy the
 * exporting thread waits (and the batch queue, not this client, absorbs or drops spans).
 * Shutdown and force_flush wake the I/O thread (curl_multi_wakeup) and cancel what is in
 * flight at once, without waiting for a stalled collector.
 *
 * Retry policy (OTLP/HTTP spec, "Retryable Response Codes"): 429, 502, 503, 504 and
 * connection-level errors are retried with exponential backoff and jitter, or after
 * Retry-After when the server gives one. Every wait is computed with saturating arithmetic
 * and bounded by the export deadline, whatever the server sends: a wait that would end
 * past the deadline is not started. Other statuses fail at once.
 */
#include "http_internal.h"
#include "base64.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RESP_CAP                                                                                   \
    ((size_t)64 * 1024) /* bytes of an answer kept (partial success or an                          \
                          error message fit in far less); the rest, up to                          \
                          max_response_bytes, is read and discarded */
#define POLL_MAX_MS 1000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    /* Not thread-safe in every libcurl: pthread_once makes it ours to serialise. */
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- text for logs ------------------------------------------------------------------ */

void dpt__log_sanitize(const char *s, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 8) {
        if (cap) out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool plain = ch >= 0x20 && ch < 0x7f && ch != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > cap) { /* room for "..." and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

static bool has_prefix_ci(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

bool dpt__url_is_http(const char *url)
{
    if (!url) return false;
    const char *rest = has_prefix_ci(url, "http://")    ? url + 7
                       : has_prefix_ci(url, "https://") ? url + 8
                                                        : NULL;
    if (!rest) return false;
    /* a host: something before the path that is not only credentials */
    size_t auth = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', auth);
    const char *host = at ? at + 1 : rest;
    size_t hlen = auth - (size_t)(host - rest);
    if (hlen == 0 || host[0] == ':') return false;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) return false; /* no spaces, no controls */
    return true;
}

char *dpt__url_for_log(const char *url)
{
    size_t n = strlen(url);
    char *out = dpt__malloc(n + 40);
    if (!out) return NULL;
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@') at = p; /* the last @ ends the user information */
    size_t o = 0;
    memcpy(out, url, (size_t)(auth - url));
    o = (size_t)(auth - url);
    if (at) {
        /* Semantic conventions (url.full): credentials become REDACTED. */
        memcpy(out + o, "REDACTED:REDACTED@", 18);
        o += 18;
        auth = at + 1;
    }
    size_t rest = strcspn(auth, "?#");
    memcpy(out + o, auth, rest);
    o += rest;
    if (auth[rest] == '?') { /* the query may carry a token */
        memcpy(out + o, "?REDACTED", 9);
        o += 9;
    }
    out[o] = '\0';
    return out;
}

/* ---- set-up -------------------------------------------------------------------------- */

/* Appends one header line to list h. On failure the whole list is freed and NULL returned
 * (curl_slist_append leaves the old list to the caller, which would leak it). */
static struct curl_slist *append_line(struct curl_slist *h, const char *text)
{
    struct curl_slist *nh = curl_slist_append(h, text);
    if (!nh) curl_slist_free_all(h);
    return nh;
}

/* Appends "name: value" (as append_line). Lines that do not fit the stack buffer (long
 * bearer tokens) are built on the heap: a header cut short would be sent silently wrong. */
static struct curl_slist *append_header(struct curl_slist *h, const char *name, const char *value)
{
    char line[512];
    char *big = NULL;
    const char *text = line;
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0) {
        curl_slist_free_all(h);
        return NULL;
    }
    if ((size_t)n >= sizeof line) {
        big = dpt__malloc((size_t)n + 1);
        if (!big) {
            curl_slist_free_all(h);
            return NULL;
        }
        (void)snprintf(big, (size_t)n + 1, "%s: %s", name, value);
        text = big;
    }
    struct curl_slist *nh = append_line(h, text);
    free(big);
    return nh;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    dpt__xfer *x = user;
    size_t n = size * nmemb;
    x->resp_total = dpt__sat_add(x->resp_total, n);
    if (x->resp_total > x->c->max_response_bytes) {
        /* OTLP ("OTLP/HTTP Response"): "If the limit is exceeded, the client MUST treat
         * the response as a non-retryable error". Returning less than n stops the
         * transfer (CURLE_WRITE_ERROR); on_transfer_end sees why. */
        x->resp_too_large = true;
        return 0;
    }
    size_t room = x->resp.len < RESP_CAP ? RESP_CAP - x->resp.len : 0;
    dpt__buf_put(&x->resp, ptr, n < room ? n : room);
    return n; /* beyond RESP_CAP read and dropped: the limit and the deadline bound it */
}

static char *dup_or_null(const char *s)
{
    return s && *s ? dpt__strndup(s, strlen(s)) : NULL;
}

static void *io_thread(void *arg);

/* ---- gRPC answers ------------------------------------------------------------------------ */

/* Walks the fields of one message with the project's wire reader (src/common/pb_read.h):
 * calls fn for each length-delimited field; false on malformed input. */
static bool pb_fields(const uint8_t *p, size_t n,
                      void (*fn)(uint32_t field, const uint8_t *v, size_t len, void *u), void *u)
{
    pbr_msg m = pbr_init(p, n);
    pbr_field f;
    int rc;
    while ((rc = pbr_next(&m, &f)) > 0)
        if (f.wire == PBR_LEN) fn(f.num, f.data, f.len, u);
    return rc == 0;
}

typedef struct any_walk {
    bool retry_info;
    const uint8_t *value;
    size_t value_len;
    uint64_t delay_ms;
} any_walk;

static void on_any_field(uint32_t f, const uint8_t *v, size_t len, void *u)
{
    any_walk *a = u;
    static const char ri[] = "google.rpc.RetryInfo";
    if (f == 1) /* type_url: ".../google.rpc.RetryInfo" */
        a->retry_info =
            len >= sizeof ri - 1 && memcmp(v + len - (sizeof ri - 1), ri, sizeof ri - 1) == 0;
    else if (f == 2) {
        a->value = v;
        a->value_len = len;
    }
}

static void on_retry_info_field(uint32_t f, const uint8_t *v, size_t len, void *u)
{
    any_walk *a = u;
    if (f != 1) return; /* RetryInfo.retry_delay: google.protobuf.Duration */
    pbr_msg m = pbr_init(v, len);
    pbr_field fd;
    uint64_t seconds = 0, nanos = 0;
    while (pbr_next(&m, &fd) > 0 && fd.wire == PBR_VARINT) {
        if (fd.num == 1) seconds = fd.u;
        if (fd.num == 2) nanos = fd.u;
    }
    if ((int64_t)seconds < 0 || (int64_t)nanos < 0) return; /* a negative delay is none */
    uint64_t ms = seconds > UINT64_MAX / 1000u ? UINT64_MAX : seconds * 1000u;
    a->delay_ms = dpt__sat_add(ms, (nanos + 999999u) / 1000000u);
}

static void on_status_field(uint32_t f, const uint8_t *v, size_t len, void *u)
{
    if (f != 3) return; /* google.rpc.Status.details: repeated google.protobuf.Any */
    any_walk a = {false, NULL, 0, 0};
    if (!pb_fields(v, len, on_any_field, &a) || !a.retry_info || !a.value) return;
    pb_fields(a.value, a.value_len, on_retry_info_field, &a);
    if (a.delay_ms) *(uint64_t *)u = a.delay_ms;
}

/* Headers and trailers of a gRPC answer (libcurl hands both to this callback). */
static size_t on_grpc_header(char *line, size_t size, size_t nitems, void *user)
{
    dpt__xfer *x = user;
    size_t n = size * nitems;
    size_t k = 0;
    while (k < n && line[k] != ':')
        k++;
    if (k == n) return n;
    const char *v = line + k + 1;
    size_t vn = n - k - 1;
    while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (k == 11 && strncasecmp(line, "grpc-status", 11) == 0) {
        int st = 0;
        bool ok = vn > 0 && vn < 4;
        for (size_t i = 0; ok && i < vn; i++) {
            ok = v[i] >= '0' && v[i] <= '9';
            st = st * 10 + (v[i] - '0');
        }
        x->grpc_status = ok ? st : 2; /* unparsable: UNKNOWN */
    } else if (k == 12 && strncasecmp(line, "grpc-message", 12) == 0) {
        /* percent-encoded (gRPC over HTTP/2, "grpc-message"); decoded, then sanitized */
        char raw[320];
        size_t o = 0;
        for (size_t i = 0; i < vn && o < sizeof raw; i++) {
            int h1, h2;
            if (v[i] == '%' && i + 2 < vn && (h1 = dpt__anyhex((unsigned char)v[i + 1])) >= 0 &&
                (h2 = dpt__anyhex((unsigned char)v[i + 2])) >= 0) {
                raw[o++] = (char)(h1 * 16 + h2);
                i += 2;
            } else {
                raw[o++] = v[i];
            }
        }
        dpt__log_sanitize(raw, o, x->grpc_message, sizeof x->grpc_message);
    } else if (k == 23 && strncasecmp(line, "grpc-status-details-bin", 23) == 0) {
        uint8_t bin[2048];
        size_t bn = 0;
        uint64_t delay = 0;
        if (dpt__b64_decode(v, vn, bin, sizeof bin, &bn) && bn &&
            pb_fields(bin, bn, on_status_field, &delay))
            x->grpc_retry_ms = delay;
    }
    return n;
}

static bool url_is_https(const char *url)
{
    return strncasecmp(url, "https://", 8) == 0;
}

static bool h2c_reuse_broken(const dpt__http_client *c)
{
    return !url_is_https(c->url) && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
}

/* The proxy libcurl would find in the environment for this URL, read now instead of by
 * libcurl on the I/O thread (common.h: background threads never call getenv). The same
 * rules as libcurl's own lookup: "<scheme>_proxy" in lower case, then in upper case except
 * for http (HTTP_PROXY can be set by a request's "Proxy:" header in CGI programs), then
 * all_proxy / ALL_PROXY; no_proxy / NO_PROXY lists the hosts that bypass it. An empty
 * variable is unset, for libcurl (curl_getenv) as for dpt__env. Returns false when memory
 * is exhausted. */
static bool proxy_from_env(dpt__http_client *c)
{
    bool https = url_is_https(c->url);
    const char *p = dpt__env(https ? "https_proxy" : "http_proxy");
    if (!p && https) p = dpt__env("HTTPS_PROXY");
    if (!p) p = dpt__env("all_proxy");
    if (!p) p = dpt__env("ALL_PROXY");
    const char *np = dpt__env("no_proxy");
    if (!np) np = dpt__env("NO_PROXY");
    c->proxy = dpt__strndup(p ? p : "", p ? strlen(p) : 0);
    c->no_proxy = dpt__strndup(np ? np : "", np ? strlen(np) : 0);
    return c->proxy && c->no_proxy;
}

static bool setup_easy(dpt__http_client *c, dpt__xfer *x)
{
    CURL *e = curl_easy_init();
    if (!e) return false;
    x->easy = e;
    x->c = c;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM: we are one thread of many */
    /* Both set, even empty: libcurl then does not look in the environment itself. */
    curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
    curl_easy_setopt(e, CURLOPT_NOPROXY, c->no_proxy);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    /* Redirects are not followed (dptrace's own choice): a POST with credentials in its
     * headers must not be sent to another host because a proxy said so. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->grpc) {
        /* gRPC needs HTTP/2: h2c with prior knowledge for http://, ALPN for https://. Wait
         * for a connection that can multiplex rather than open one per request. */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                         url_is_https(c->url) ? (long)CURL_HTTP_VERSION_2TLS
                                              : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        if (h2c_reuse_broken(c)) {
            /* libcurl before 8.0.0 fails every request on a reused h2c (prior knowledge)
             * connection with "Error in the HTTP2 framing layer" (curl issue 10634, fixed
             * in 8.0.0): one connection per call there, closed after it. */
            curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        } else {
            curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        }
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_grpc_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    }
    if (c->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return true;
}

/* Creates the multi handle, the slots and the I/O thread (again in a forked child, whose
 * copy of the parent's thread and sockets is unusable). Called with c->mu held. */
static dpt_err start_io(dpt__http_client *c)
{
    c->multi = curl_multi_init();
    if (!c->multi) return DPT_ENOMEM;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_in_flight);
    if (c->grpc && h2c_reuse_broken(c))
        curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    c->x = dpt__calloc(c->max_in_flight, sizeof *c->x);
    if (!c->x) return DPT_ENOMEM;
    for (uint32_t i = 0; i < c->max_in_flight; i++) {
        dpt__buf_init(&c->x[i].body);
        dpt__buf_init(&c->x[i].resp);
        if (!setup_easy(c, &c->x[i])) return DPT_ENOMEM;
    }
    c->n_busy = 0;
    c->quit = false;
    /* Signals belong to the application: block them all in the I/O thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->io, NULL, io_thread, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        dpt__log(DPT_LOG_ERROR, "%s exporter: cannot start its I/O thread (%d)", c->name, rc);
        return DPT_ENOMEM;
    }
    c->io_started = true;
    c->pid = getpid();
    return DPT_OK;
}

static void free_slots(dpt__http_client *c, bool cleanup_handles)
{
    for (uint32_t i = 0; c->x && i < c->max_in_flight; i++) {
        dpt__xfer *x = &c->x[i];
        if (x->easy && cleanup_handles) {
            if (x->in_multi) curl_multi_remove_handle(c->multi, x->easy);
            curl_easy_cleanup(x->easy);
        }
        dpt__buf_free(&x->body);
        dpt__buf_free(&x->resp);
    }
    free(c->x);
    c->x = NULL;
}

/* The client's lock and condition variable; the condition's waits use CLOCK_MONOTONIC,
 * as every deadline here does. Also run in a forked child, where the parent's are unusable. */
static void init_sync(dpt__http_client *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
}

dpt_err dpt__http_client_init(dpt__http_client *c, const char *name,
                              const dpt_http_exporter_config *cfg, const char *default_url,
                              const char *content_type, const char *user_agent, bool grpc)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->user_agent = user_agent;
    c->fail_rl.burst = 2;
    c->note_rl.burst = 2;
    init_sync(c);

    dpt_http_exporter_config d;
    dpt_http_exporter_config_default(&d);
    if (!cfg) cfg = &d;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : d.timeout_ms;
    c->initial_backoff_ms =
        cfg->initial_backoff_ms ? cfg->initial_backoff_ms : d.initial_backoff_ms;
    c->max_backoff_ms = cfg->max_backoff_ms ? cfg->max_backoff_ms : d.max_backoff_ms;
    if (c->max_backoff_ms < c->initial_backoff_ms) c->max_backoff_ms = c->initial_backoff_ms;
    c->max_attempts = cfg->max_attempts;
    c->max_in_flight = cfg->max_in_flight ? cfg->max_in_flight : d.max_in_flight;
    c->max_request_bytes =
        cfg->max_request_bytes ? cfg->max_request_bytes : DPT_HTTP_DEFAULT_MAX_REQUEST_BYTES;
    c->max_response_bytes =
        cfg->max_response_bytes ? cfg->max_response_bytes : DPT_HTTP_DEFAULT_MAX_RESPONSE_BYTES;
    if (c->max_in_flight > DPT_HTTP_MAX_IN_FLIGHT_LIMIT)
        c->max_in_flight = DPT_HTTP_MAX_IN_FLIGHT_LIMIT;
    c->gzip = cfg->gzip;
    c->grpc = grpc;
    c->insecure = cfg->insecure_skip_verify;
    c->rng = (uint64_t)(uintptr_t)c ^ ((uint64_t)time(NULL) << 20) ^ dpt__export_mono_ms();
    const char *u = cfg->url && *cfg->url ? cfg->url : default_url;
    c->url = dpt__strndup(u, strlen(u));
    c->url_log = dpt__url_for_log(u);
    c->ca_file = dup_or_null(cfg->ca_file);
    c->cert_file = dup_or_null(cfg->client_cert_file);
    c->key_file = dup_or_null(cfg->client_key_file);
    if (!c->url || !c->url_log || (cfg->ca_file && *cfg->ca_file && !c->ca_file) ||
        (cfg->client_cert_file && *cfg->client_cert_file && !c->cert_file) ||
        (cfg->client_key_file && *cfg->client_key_file && !c->key_file))
        return DPT_ENOMEM;
    if (!dpt__url_is_http(c->url)) {
        /* Checked here, once, rather than a "Couldn't resolve host" at every export. */
        char shown[160];
        dpt__log_sanitize(c->url_log, strlen(c->url_log), shown, sizeof shown);
        dpt__log(DPT_LOG_ERROR,
                 "%s exporter: endpoint \"%s\" is not an http:// or https:// URL; the exporter "
                 "is not created",
                 name, shown);
        return DPT_EINVAL;
    }
    if (c->insecure)
        dpt__log(DPT_LOG_WARN, "%s exporter: TLS certificate verification is off", name);
    if (!proxy_from_env(c)) return DPT_ENOMEM;
    c->sched_batch = dpt__background_prepare();

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        dpt__log(DPT_LOG_ERROR, "%s exporter: libcurl initialisation failed", name);
        return DPT_EUNSUPPORTED;
    }

    struct curl_slist *h = append_header(NULL, "Content-Type", content_type);
    /* libcurl sends "Expect: 100-continue" for bodies above 1 KiB and then waits up to a
     * second for a server that never answers it: turn it off. */
    h = h ? append_line(h, "Expect:") : NULL;
    if (h && c->gzip && !grpc) h = append_line(h, "Content-Encoding: gzip");
    if (h && grpc) {
        /* gRPC over HTTP/2: "TE: trailers" is required; compression is per message
         * (grpc-encoding), and we ask for uncompressed answers. */
        h = append_line(h, "TE: trailers");
        h = h ? append_line(h, "grpc-accept-encoding: identity") : NULL;
        if (h && c->gzip) h = append_line(h, "grpc-encoding: gzip");
    }
    for (size_t i = 0; h && cfg->headers && i < cfg->n_headers; i++) {
        const dpt_http_header *x = &cfg->headers[i];
        if (!x->name || !*x->name || !x->value || strpbrk(x->name, ":\r\n") ||
            strpbrk(x->value, "\r\n")) {
            /* The name only, sanitized: a value may be a credential. */
            char shown[64];
            dpt__log_sanitize(x->name ? x->name : "(null)", x->name ? strlen(x->name) : 6, shown,
                              sizeof shown);
            dpt__log(DPT_LOG_WARN, "%s exporter: header %s ignored (invalid)", name, shown);
            continue;
        }
        h = append_header(h, x->name, x->value);
    }
    if (!h) return DPT_ENOMEM;
    c->hdrs = h;

    if (c->gzip) {
        /* Level 1: OTLP payloads are repetitive and compress well even at the fastest
         * level, and the export thread's CPU is the application's CPU. */
        if (deflateInit2(&c->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return DPT_ENOMEM;
        c->z_ready = true;
    }
    pthread_mutex_lock(&c->mu);
    dpt_err err = start_io(c);
    pthread_mutex_unlock(&c->mu);
    return err;
}

void dpt__http_client_free(dpt__http_client *c)
{
    if (c->io_started && c->pid == getpid()) {
        pthread_mutex_lock(&c->mu);
        c->quit = true;
        atomic_store(&c->abort, true);
        pthread_mutex_unlock(&c->mu);
        curl_multi_wakeup(c->multi);
        pthread_join(c->io, NULL);
    }
    free_slots(c, true);
    if (c->multi) curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->hdrs);
    if (c->z_ready) deflateEnd(&c->z);
    free(c->url);
    free(c->url_log);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->proxy);
    free(c->no_proxy);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

/* ---- submitting -------------------------------------------------------------------------- */

/* Compresses body into out after its first `at` bytes (kept). */
static bool compress_into(dpt__http_client *c, const uint8_t *body, size_t len, dpt__buf *out,
                          size_t at)
{
    uLong bound = deflateBound(&c->z, (uLong)len);
    out->len = at;
    out->oom = false;
    if (!dpt__buf_reserve(out, bound) || out->oom) return false;
    if (deflateReset(&c->z) != Z_OK) return false;
    c->z.next_in = (Bytef *)body;
    c->z.avail_in = (uInt)len;
    c->z.next_out = (Bytef *)out->p + at;
    c->z.avail_out = (uInt)bound;
    if (deflate(&c->z, Z_FINISH) != Z_STREAM_END) return false;
    out->len = at + (bound - c->z.avail_out);
    return true;
}

static void abs_time(struct timespec *ts, uint64_t deadline_ms)
{
    ts->tv_sec = (time_t)(deadline_ms / 1000);
    ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
}

/* Waits on c->cv until deadline_ms (monotonic ms); false once it passed. */
static bool wait_until(dpt__http_client *c, uint64_t deadline_ms)
{
    if (dpt__export_mono_ms() >= deadline_ms) return false;
    struct timespec ts;
    /* A far deadline is capped: the caller re-checks its condition in a loop anyway. */
    uint64_t cap = dpt__sat_add(dpt__export_mono_ms(), 60000);
    abs_time(&ts, deadline_ms < cap ? deadline_ms : cap);
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    return true;
}

/* In a forked child the parent's I/O thread does not exist: start afresh. The inherited
 * requests belong to the parent, which reports them; here they are forgotten. */
static dpt_err after_fork(dpt__http_client *c)
{
    init_sync(c);
    /* The parent's handles share its sockets: leak them rather than close the parent's
     * connections' file descriptors' state from here (libcurl forbids sharing). */
    for (uint32_t i = 0; c->x && i < c->max_in_flight; i++) {
        dpt__buf_free(&c->x[i].body);
        dpt__buf_free(&c->x[i].resp);
    }
    free(c->x);
    c->x = NULL;
    c->multi = NULL;
    c->io_started = false;
    atomic_store(&c->abort, false);
    pthread_mutex_lock(&c->mu);
    dpt_err e = start_io(c);
    pthread_mutex_unlock(&c->mu);
    return e;
}

dpt_err dpt__http_submit(dpt__http_client *c, dpt_encoder *enc, const uint8_t *body, size_t len,
                         size_t n, size_t live)
{
    if (c->io_started && c->pid != getpid()) {
        dpt_err e = after_fork(c);
        if (e != DPT_OK) return e;
    }
    const dpt__export_ctx *ctx = dpt__export_ctx_current();
    uint64_t now = dpt__export_mono_ms();
    uint64_t deadline = dpt__sat_add(now, c->timeout_ms);
    if (ctx && ctx->deadline_ms < deadline)
        deadline = ctx->deadline_ms; /* OTEL_BSP_EXPORT_TIMEOUT */
    bool async = ctx && ctx->done;

    pthread_mutex_lock(&c->mu);
    if (c->closing || atomic_load(&c->abort) || !c->io_started) {
        pthread_mutex_unlock(&c->mu);
        return DPT_ESTATE; /* after shutdown: refused, not an export of ours */
    }
    atomic_fetch_add_explicit(&c->st_exports, 1, memory_order_relaxed);
    if (len > c->max_request_bytes) {
        /* OTLP ("OTLP/HTTP Request"): "If the limit is exceeded, the client MUST NOT make
         * the request and SHOULD record the fact that the request was discarded." */
        pthread_mutex_unlock(&c->mu);
        atomic_fetch_add_explicit(&c->st_requests_too_large, 1, memory_order_relaxed);
        dpt__http_count_failed(c, live);
        dpt__log_limited(&c->fail_rl, DPT_LOG_WARN,
                         "%s exporter: %zu spans not sent to %s: a request of %zu bytes is over "
                         "the limit of %llu (DPTRACE_EXPORT_MAX_REQUEST_BYTES)",
                         c->name, live, c->url_log, len, (unsigned long long)c->max_request_bytes);
        return DPT_EEXPORT;
    }
    dpt__xfer *x = NULL;
    dpt_err err = DPT_OK;
    for (;;) {
        if (c->closing || atomic_load(&c->abort) || !c->io_started) {
            err = DPT_ESTATE;
            break;
        }
        if (c->n_busy < c->max_in_flight) {
            for (uint32_t i = 0; i < c->max_in_flight && !x; i++)
                if (c->x[i].state == XFER_FREE) x = &c->x[i];
            break;
        }
        if (!wait_until(c, deadline)) {
            err = DPT_ETIMEDOUT;
            break;
        }
    }
    if (!x) {
        pthread_mutex_unlock(&c->mu);
        dpt__http_count_failed(c, live);
        return err;
    }
    x->state = XFER_WAITING; /* reserved: the I/O thread starts it only once it is filled */
    x->start_at_ms = UINT64_MAX;
    c->n_busy++;
    uint32_t busy = c->n_busy;
    pthread_mutex_unlock(&c->mu);
    if (busy > atomic_load_explicit(&c->st_in_flight_max, memory_order_relaxed))
        atomic_store_explicit(&c->st_in_flight_max, busy, memory_order_relaxed);

    /* Copy (or compress) outside the lock: the I/O thread keeps running the others. */
    /* gRPC frames the message: a compressed flag and a 4-byte big-endian length. */
    size_t at = c->grpc ? 5 : 0;
    bool ok;
    x->body.len = 0;
    x->body.oom = false;
    if (at) dpt__buf_put(&x->body, "\0\0\0\0\0", 5);
    if (enc && !at && !c->gzip) {
        /* Sent as encoded: no copy, the buffers change hands. */
        dpt__encoder_swap_out(enc, &x->body);
        ok = x->body.len == len && (const uint8_t *)x->body.p == body;
    } else if (c->gzip) {
        ok = !x->body.oom && compress_into(c, body, len, &x->body, at);
    } else {
        dpt__buf_put(&x->body, body, len);
        ok = !x->body.oom;
    }
    if (ok && at) {
        size_t m = x->body.len - 5;
        if (m > UINT32_MAX) {
            ok = false;
        } else {
            uint8_t *p = (uint8_t *)x->body.p;
            p[0] = c->gzip ? 1 : 0;
            p[1] = (uint8_t)(m >> 24);
            p[2] = (uint8_t)(m >> 16);
            p[3] = (uint8_t)(m >> 8);
            p[4] = (uint8_t)m;
        }
    }
    pthread_mutex_lock(&c->mu);
    if (!ok) {
        x->state = XFER_FREE;
        c->n_busy--;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        dpt__http_count_failed(c, live);
        dpt__log(DPT_LOG_WARN, "%s exporter: %zu spans not delivered: out of memory", c->name,
                 live);
        return DPT_ENOMEM;
    }
    x->n = n;
    x->live = live;
    x->deadline_ms = deadline;
    x->start_at_ms = 0;
    x->backoff_ms = c->initial_backoff_ms;
    x->attempts = 0;
    x->done = async ? ctx->done : NULL;
    x->cookie = async ? ctx->cookie : NULL;
    x->result = DPT_OK;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi); /* thread-safe by libcurl's contract */
    if (async) return DPT__EXPORT_PENDING;

    pthread_mutex_lock(&c->mu);
    while (x->state != XFER_REPORTED)
        pthread_cond_wait(&c->cv, &c->mu);
    err = x->result;
    x->state = XFER_FREE;
    c->n_busy--;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return err;
}

dpt_err dpt__http_client_drain(dpt__http_client *c, uint32_t timeout_ms)
{
    uint64_t deadline = dpt__sat_add(dpt__export_mono_ms(), timeout_ms);
    pthread_mutex_lock(&c->mu);
    bool idle;
    while (!(idle = c->n_busy == 0) && wait_until(c, deadline)) {
    }
    pthread_mutex_unlock(&c->mu);
    return idle ? DPT_OK : DPT_ETIMEDOUT;
}

dpt_err dpt__http_client_stop(dpt__http_client *c, uint32_t timeout_ms)
{
    if (!c->io_started || c->pid != getpid()) return DPT_OK;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv); /* an exporting thread waiting for a slot gives up */
    atomic_store(&c->abort, true);
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi); /* the I/O thread cancels and reports every request */
    /* That takes one turn of its loop, a few ms: wait for it up to timeout_ms (0: do not
     * wait; the cancellation still happens). */
    uint64_t deadline = dpt__sat_add(dpt__export_mono_ms(), timeout_ms);
    pthread_mutex_lock(&c->mu);
    while (c->n_busy && wait_until(c, deadline)) {
    }
    bool busy = c->n_busy != 0;
    pthread_mutex_unlock(&c->mu);
    return busy ? DPT_ETIMEDOUT : DPT_OK;
}

/* ---- the I/O thread -------------------------------------------------------------------- */

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t next_rand(dpt__http_client *c)
{
    uint64_t x = c->rng ? c->rng : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

/* Retry-After as milliseconds, saturated: libcurl gives seconds (from either form, the
 * HTTP-date relative to now); whatever the server sent, the product cannot wrap. 0: none
 * usable (absent, garbage, a date in the past, negative), the backoff applies. */
static uint64_t retry_after_ms(CURL *e)
{
    curl_off_t ra = 0;
    if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0) return 0;
    if ((uint64_t)ra > UINT64_MAX / 1000u) return UINT64_MAX;
    return (uint64_t)ra * 1000u;
}

/* The error text of a failed answer for the log: google.rpc.Status.message (field 2)
 * for protobuf (OTLP/HTTP "Failures"), "message" for JSON, else the body itself. */
static void answer_text(const dpt__xfer *x, char *out, size_t cap)
{
    const char *s = x->resp.p;
    size_t n = x->resp.len;
    out[0] = '\0';
    if (!n) return;
    if (strstr(x->content_type, "protobuf")) {
        pbr_msg m = pbr_init(s, n);
        pbr_field f;
        while (pbr_next(&m, &f) > 0) {
            if (f.num == 2 && f.wire == PBR_LEN) { /* google.rpc.Status.message */
                dpt__log_sanitize((const char *)f.data, f.len, out, cap);
                return;
            }
        }
        snprintf(out, cap, "(%zu bytes of protobuf)", n);
        return;
    }
    if (strstr(x->content_type, "json")) {
        /* A key search is enough for a log line; the value is cut at its closing quote. */
        const char *m = NULL;
        for (size_t i = 0; i + 9 <= n && !m; i++)
            if (memcmp(s + i, "\"message\"", 9) == 0) m = s + i + 9;
        if (m) {
            const char *end = s + n;
            while (m < end && (*m == ' ' || *m == ':' || *m == '\t' || *m == '\n' || *m == '\r'))
                m++;
            if (m < end && *m == '"') {
                const char *q = ++m;
                while (q < end && *q != '"')
                    q += (*q == '\\' && q + 1 < end) ? 2 : 1;
                dpt__log_sanitize(m, (size_t)(q - m), out, cap);
                return;
            }
        }
    }
    dpt__log_sanitize(s, n, out, cap);
}

static void log_failure(dpt__http_client *c, dpt__xfer *x, const char *what, const char *why)
{
    c->consecutive_failures++;
    /* A collector that is down fails every batch: two warnings, then one every 10 s that
     * says how many were not printed. */
    dpt__log_limited(&c->fail_rl, DPT_LOG_WARN,
                     "%s exporter: %zu spans not delivered to %s: %s (%s; %u consecutive failures)",
                     c->name, x->live, c->url_log, what, why, c->consecutive_failures);
}

static void start_attempt(dpt__http_client *c, dpt__xfer *x, uint64_t now)
{
    CURL *e = x->easy;
    x->resp.len = 0;
    x->resp.oom = false;
    x->resp_total = 0;
    x->resp_too_large = false;
    x->content_type[0] = '\0';
    x->grpc_status = -1;
    x->grpc_message[0] = '\0';
    x->grpc_retry_ms = 0;
    x->attempts++;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body.p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
    /* A backstop: the loop enforces the deadline itself. */
    uint64_t left = x->deadline_ms - now;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     (long)(left < (uint64_t)LONG_MAX ? left : (uint64_t)LONG_MAX));
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        x->result = DPT_EEXPORT;
        x->state = XFER_DONE;
        return;
    }
    x->in_multi = true;
    x->state = XFER_RUNNING;
    atomic_fetch_add_explicit(&c->st_attempts, 1, memory_order_relaxed);
    if (x->attempts > 1) atomic_fetch_add_explicit(&c->st_retries, 1, memory_order_relaxed);
}

static void stop_attempt(dpt__http_client *c, dpt__xfer *x)
{
    /* Removing an unfinished transfer closes its connection; a finished one stays in the
     * multi handle's cache for the next request. */
    if (x->in_multi) curl_multi_remove_handle(c->multi, x->easy);
    x->in_multi = false;
}

/* Ends x with err (I/O thread, c->mu held). */
static void finish(dpt__http_client *c, dpt__xfer *x, dpt_err err, const char *what,
                   const char *why)
{
    stop_attempt(c, x);
    x->result = err;
    x->state = XFER_DONE;
    if (err == DPT_OK) {
        atomic_fetch_add_explicit(&c->st_ok, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->st_spans_sent, x->live, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->st_bytes_sent, x->body.len, memory_order_relaxed);
        if (c->consecutive_failures)
            dpt__log(DPT_LOG_INFO, "%s exporter: delivering again after %u failures", c->name,
                     c->consecutive_failures);
        c->consecutive_failures = 0;
    } else {
        dpt__http_count_failed(c, x->live);
        log_failure(c, x, what, why);
    }
}

/* A transfer ended (I/O thread, c->mu held): done, retry later, or failed. */
static const char *grpc_code_name(int code)
{
    static const char *const names[] = {"OK",
                                        "CANCELLED",
                                        "UNKNOWN",
                                        "INVALID_ARGUMENT",
                                        "DEADLINE_EXCEEDED",
                                        "NOT_FOUND",
                                        "ALREADY_EXISTS",
                                        "PERMISSION_DENIED",
                                        "RESOURCE_EXHAUSTED",
                                        "FAILED_PRECONDITION",
                                        "ABORTED",
                                        "OUT_OF_RANGE",
                                        "UNIMPLEMENTED",
                                        "INTERNAL",
                                        "UNAVAILABLE",
                                        "DATA_LOSS",
                                        "UNAUTHENTICATED"};
    return code >= 0 && code <= 16 ? names[code] : "(unknown code)";
}

/* gRPC's mapping of an HTTP status that is not 200 ("HTTP to gRPC Status Code Mapping"). */
static int grpc_from_http(long status)
{
    switch (status) {
    case 400:
        return 13; /* INTERNAL */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
        return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504:
        return 14; /* UNAVAILABLE */
    default:
        return 2; /* UNKNOWN */
    }
}

/* OTLP/gRPC ("OTLP/gRPC Throttling" and the exporter spec's retryable codes): CANCELLED,
 * DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS, and RESOURCE_EXHAUSTED
 * only when the server sent RetryInfo (it can recover). */
static bool grpc_retryable(int code, bool retry_info)
{
    return code == 1 || code == 4 || code == 10 || code == 11 || code == 14 || code == 15 ||
           (code == 8 && retry_info);
}

/* The gRPC outcome of a finished HTTP/2 exchange: true when the caller retries, with
 * *server_wait (RetryInfo) and why filled; false when x was finished here. */
static bool grpc_outcome(dpt__http_client *c, dpt__xfer *x, long status, uint64_t *server_wait,
                         char *why, size_t cap)
{
    int gs = x->grpc_status;
    if (status != 200) {
        gs = grpc_from_http(status);
        snprintf(why, cap, "HTTP %ld, gRPC %s", status, grpc_code_name(gs));
    } else if (gs < 0) {
        finish(c, x, DPT_EEXPORT, "not retryable", "answer without grpc-status");
        return false;
    } else {
        snprintf(why, cap, "gRPC %s (%d)%s%.120s%s", grpc_code_name(gs), gs,
                 x->grpc_message[0] ? ", server said \"" : "", x->grpc_message,
                 x->grpc_message[0] ? "\"" : "");
    }
    if (gs == 0) {
        /* The answer is one length-prefixed ExportTraceServiceResponse (uncompressed: we
         * accept only identity): strip the prefix for the partial-success check. */
        if (x->resp.len >= 5 && x->resp.p[0] == 0) {
            memmove(x->resp.p, x->resp.p + 5, x->resp.len - 5);
            x->resp.len -= 5;
        } else {
            x->resp.len = 0;
        }
        finish(c, x, DPT_OK, NULL, NULL);
        return false;
    }
    if (!grpc_retryable(gs, x->grpc_retry_ms != 0)) {
        finish(c, x, DPT_EEXPORT, "not retryable", why);
        return false;
    }
    *server_wait = x->grpc_retry_ms;
    return true;
}

static void on_transfer_end(dpt__http_client *c, dpt__xfer *x, CURLcode rc, uint64_t now)
{
    long status = 0;
    char why[256];
    uint64_t server_wait = 0; /* Retry-After or RetryInfo, ms; 0: none */
    stop_attempt(c, x);
    if (x->resp_too_large) {
        atomic_fetch_add_explicit(&c->st_responses_too_large, 1, memory_order_relaxed);
        snprintf(why, sizeof why, "an answer of more than %llu bytes, discarded",
                 (unsigned long long)c->max_response_bytes);
        finish(c, x, DPT_EEXPORT, "answer too large, not retried", why);
        return;
    }
    if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT && now >= x->deadline_ms) {
            finish(c, x, DPT_ETIMEDOUT, "export timeout", "no answer in time");
            return;
        }
        snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
        if (!retryable_curl(rc)) {
            finish(c, x, DPT_EEXPORT, "not retryable", why);
            return;
        }
    } else {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        atomic_store_explicit(&c->st_last_status, (int)status, memory_order_relaxed);
        char *ct = NULL;
        if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(x->content_type, sizeof x->content_type, "%s", ct);
        if (c->grpc) {
            if (!grpc_outcome(c, x, status, &server_wait, why, sizeof why)) return;
        } else if (status >= 200 && status < 300) {
            finish(c, x, DPT_OK, NULL, NULL); /* on_delivered runs in report() */
            return;
        } else {
            char text[160];
            answer_text(x, text, sizeof text);
            snprintf(why, sizeof why, "HTTP %ld%s%s%s", status, text[0] ? ", server said \"" : "",
                     text, text[0] ? "\"" : "");
            if (!(status == 429 || status == 502 || status == 503 || status == 504)) {
                finish(c, x, DPT_EEXPORT,
                       status >= 300 && status < 400 ? "redirects are not followed"
                                                     : "not retryable",
                       why);
                return;
            }
            server_wait = retry_after_ms(x->easy);
        }
    }
    if (c->max_attempts && x->attempts >= c->max_attempts) {
        finish(c, x, DPT_EEXPORT, "attempts exhausted", why);
        return;
    }
    /* Equal jitter: between half and all of the backoff, so clients that failed together
     * do not come back together. Retry-After, when given, is the server's wish: followed
     * when it fits in the deadline. */
    uint64_t ra = server_wait;
    uint64_t wait = ra ? ra : x->backoff_ms / 2 + next_rand(c) % (x->backoff_ms / 2 + 1);
    x->backoff_ms = dpt__sat_add(x->backoff_ms, x->backoff_ms);
    if (x->backoff_ms > c->max_backoff_ms) x->backoff_ms = c->max_backoff_ms;
    uint64_t at = dpt__sat_add(now, wait);
    if (at >= x->deadline_ms) {
        finish(c, x, DPT_ETIMEDOUT,
               ra ? "the server's retry delay is beyond the export deadline"
                  : "no time left for another attempt",
               why);
        return;
    }
    dpt__log(DPT_LOG_DEBUG, "%s exporter: attempt %u failed (%s), retrying in %llu ms", c->name,
             x->attempts, why, (unsigned long long)wait);
    x->state = XFER_WAITING;
    x->start_at_ms = at;
}

/* Reports finished slots once each (outside the lock: on_delivered logs, done takes the
 * batch processor's lock): asynchronous slots are then freed, synchronous callers woken
 * (they free their slot). */
static void report(dpt__http_client *c)
{
    for (uint32_t i = 0; i < c->max_in_flight; i++) {
        dpt__xfer *x = &c->x[i];
        if (x->state != XFER_DONE) continue;
        dpt__export_done_fn done = x->done;
        void *cookie = x->cookie;
        size_t n = x->n;
        dpt_err err = x->result;
        x->state = XFER_REPORTING;
        pthread_mutex_unlock(&c->mu);
        if (err == DPT_OK && c->on_delivered) c->on_delivered(c, x);
        if (done) done(cookie, n, err);
        pthread_mutex_lock(&c->mu);
        if (done) {
            x->state = XFER_FREE;
            x->done = NULL;
            c->n_busy--;
        } else {
            x->state = XFER_REPORTED; /* the synchronous caller frees it */
        }
        pthread_cond_broadcast(&c->cv);
    }
}

static void *io_thread(void *arg)
{
    dpt__http_client *c = arg;
    /* Named, and its wake-ups do not preempt the application's threads (common.h). */
    dpt__background_thread("dpt-http", c->sched_batch);
    pthread_mutex_lock(&c->mu);
    while (!c->quit) {
        uint64_t now = dpt__export_mono_ms();
        bool abort_all = atomic_load(&c->abort);
        uint64_t wake = dpt__sat_add(now, POLL_MAX_MS);
        for (uint32_t i = 0; i < c->max_in_flight; i++) {
            dpt__xfer *x = &c->x[i];
            if (x->state == XFER_WAITING && x->start_at_ms == UINT64_MAX) continue; /* filling */
            if ((x->state == XFER_WAITING || x->state == XFER_RUNNING) && abort_all) {
                finish(c, x, DPT_ESTATE, "shut down", "cancelled");
                continue;
            }
            if ((x->state == XFER_WAITING || x->state == XFER_RUNNING) && now >= x->deadline_ms) {
                finish(c, x, DPT_ETIMEDOUT, "export timeout",
                       x->state == XFER_RUNNING ? "no answer in time" : "waiting to retry");
                continue;
            }
            if (x->state == XFER_WAITING && x->start_at_ms <= now) start_attempt(c, x, now);
            if (x->state == XFER_WAITING && x->start_at_ms < wake) wake = x->start_at_ms;
            if (x->state == XFER_RUNNING && x->deadline_ms < wake) wake = x->deadline_ms;
        }
        report(c);
        if (c->quit) break;
        pthread_mutex_unlock(&c->mu);

        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        bool ended = false;
        pthread_mutex_lock(&c->mu);
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            dpt__xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode rc = m->data.result;
            if (x && x->state == XFER_RUNNING) {
                on_transfer_end(c, x, rc, dpt__export_mono_ms());
                ended = true;
            }
        }
        if (ended) {
            report(c);
            continue; /* a retry may be due at once */
        }
        pthread_mutex_unlock(&c->mu);
        now = dpt__export_mono_ms();
        uint64_t ms = wake > now ? wake - now : 0;
        if (ms > POLL_MAX_MS) ms = POLL_MAX_MS;
        curl_multi_poll(c->multi, NULL, 0, (int)ms, NULL);
        pthread_mutex_lock(&c->mu);
    }
    /* Leaving (client freed): nothing may stay in flight. */
    for (uint32_t i = 0; i < c->max_in_flight; i++)
        if (c->x[i].state == XFER_WAITING || c->x[i].state == XFER_RUNNING)
            finish(c, &c->x[i], DPT_ESTATE, "shut down", "cancelled");
    report(c);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}
