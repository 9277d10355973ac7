/* http_client.c - POST with retries for the HTTP exporters. A transfer runs through a
 * curl multi handle polled in short steps, so a shutdown from another thread interrupts it
 * at once (curl_multi_wakeup) instead of waiting for a stalled collector; the easy handle
 * is kept between exports so its connection is reused.
 *
 * Retry policy (OTLP/HTTP spec): 429, 502, 503, 504 and connection-level errors are
 * retried with exponential backoff and jitter, or after Retry-After when the server gives
 * one; everything happens inside the export timeout (a wait that would end past it is not
 * started). Other statuses fail at once.
 */
#include "http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RESP_CAP ((size_t)64 * 1024) /* bytes of an answer we keep (the spec's advice is 4 MiB;
                                partial success fits in far less) */

uint64_t dpt__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    /* Not thread-safe in every libcurl: pthread_once makes it ours to serialise. */
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Appends one header line to list h. On failure the whole list is freed and NULL returned
 * (curl_slist_append leaves the old list to the caller, which would leak it). */
static struct curl_slist *append_line(struct curl_slist *h, const char *text)
{
    struct curl_slist *nh = curl_slist_append(h, text);
    if (!nh)
        curl_slist_free_all(h);
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
    dpt__http_client *c = user;
    size_t n = size * nmemb;
    size_t room = c->resp.len < RESP_CAP ? RESP_CAP - c->resp.len : 0;
    dpt__buf_put(&c->resp, ptr, n < room ? n : room);
    return n; /* the rest is dropped, not an error */
}

static char *dup_or_null(const char *s)
{
    return s && *s ? dpt__strndup(s, strlen(s)) : NULL;
}

dpt_err dpt__http_client_init(dpt__http_client *c, const char *name,
                              const dpt_http_exporter_config *cfg, const char *default_url,
                              const char *content_type)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    dpt__buf_init(&c->gz);
    dpt__buf_init(&c->resp);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);

    dpt_http_exporter_config d;
    dpt_http_exporter_config_default(&d);
    if (!cfg)
        cfg = &d;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : d.timeout_ms;
    c->initial_backoff_ms = cfg->initial_backoff_ms ? cfg->initial_backoff_ms : d.initial_backoff_ms;
    c->max_backoff_ms = cfg->max_backoff_ms ? cfg->max_backoff_ms : d.max_backoff_ms;
    if (c->max_backoff_ms < c->initial_backoff_ms)
        c->max_backoff_ms = c->initial_backoff_ms;
    c->max_attempts = cfg->max_attempts;
    c->gzip = cfg->gzip;
    c->rng = (uint64_t)(uintptr_t)c ^ ((uint64_t)time(NULL) << 20) ^ dpt__mono_ms();
    c->url = dpt__strndup(cfg->url && *cfg->url ? cfg->url : default_url,
                          strlen(cfg->url && *cfg->url ? cfg->url : default_url));
    c->ca_file = dup_or_null(cfg->ca_file);
    c->cert_file = dup_or_null(cfg->client_cert_file);
    c->key_file = dup_or_null(cfg->client_key_file);
    if (!c->url || (cfg->ca_file && *cfg->ca_file && !c->ca_file) ||
        (cfg->client_cert_file && *cfg->client_cert_file && !c->cert_file) ||
        (cfg->client_key_file && *cfg->client_key_file && !c->key_file))
        return DPT_ENOMEM;

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        dpt__log(DPT_LOG_ERROR, "%s exporter: libcurl initialisation failed", name);
        return DPT_EUNSUPPORTED;
    }
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    if (!c->easy || !c->multi)
        return DPT_ENOMEM;

    struct curl_slist *h = append_header(NULL, "Content-Type", content_type);
    /* libcurl sends "Expect: 100-continue" for bodies above 1 KiB and then waits up to a
     * second for a server that never answers it: turn it off. */
    h = h ? append_line(h, "Expect:") : NULL;
    if (h && c->gzip)
        h = append_line(h, "Content-Encoding: gzip");
    for (size_t i = 0; h && cfg->headers && i < cfg->n_headers; i++) {
        const dpt_http_header *x = &cfg->headers[i];
        if (!x->name || !*x->name || !x->value || strpbrk(x->name, ":\r\n") ||
            strpbrk(x->value, "\r\n")) {
            dpt__log(DPT_LOG_WARN, "%s exporter: header %s ignored (invalid)", name,
                     x->name ? x->name : "(null)");
            continue;
        }
        h = append_header(h, x->name, x->value);
    }
    if (!h)
        return DPT_ENOMEM;
    c->hdrs = h;

    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "dptrace/" DPTRACE_VERSION_STRING);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM: we are one thread of many */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    if (cfg->insecure_skip_verify) {
        dpt__log(DPT_LOG_WARN, "%s exporter: TLS certificate verification is off", name);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (c->gzip) {
        /* Level 1: OTLP payloads are repetitive and compress well even at the fastest
         * level, and the export thread's CPU is the application's CPU. */
        if (deflateInit2(&c->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return DPT_ENOMEM;
        c->z_ready = true;
    }
    return DPT_OK;
}

void dpt__http_client_free(dpt__http_client *c)
{
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->hdrs);
    if (c->z_ready)
        deflateEnd(&c->z);
    dpt__buf_free(&c->gz);
    dpt__buf_free(&c->resp);
    free(c->url);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static bool compress_body(dpt__http_client *c, const uint8_t *body, size_t len)
{
    uLong bound = deflateBound(&c->z, (uLong)len);
    c->gz.len = 0;
    c->gz.oom = false;
    if (!dpt__buf_reserve(&c->gz, bound) || c->gz.oom)
        return false;
    if (deflateReset(&c->z) != Z_OK)
        return false;
    c->z.next_in = (Bytef *)body;
    c->z.avail_in = (uInt)len;
    c->z.next_out = (Bytef *)c->gz.p;
    c->z.avail_out = (uInt)bound;
    if (deflate(&c->z, Z_FINISH) != Z_STREAM_END)
        return false;
    c->gz.len = bound - c->z.avail_out;
    return true;
}

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

/* Sleeps ms unless stopping; false when woken by stop. */
static bool wait_ms(dpt__http_client *c, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (!atomic_load(&c->stopping) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    bool ok = !atomic_load(&c->stopping);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

enum { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL, ATTEMPT_TIMEOUT, ATTEMPT_STOPPED };

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
        return true;
    default:
        return false;
    }
}

/* One POST. Sets *status (0 without an answer), *retry_after_ms (0: none) and *why. */
static int attempt(dpt__http_client *c, const void *body, size_t len, uint64_t deadline,
                   long *status, uint64_t *retry_after_ms, char *why, size_t why_cap)
{
    *status = 0;
    *retry_after_ms = 0;
    why[0] = '\0';
    uint64_t now = dpt__mono_ms();
    if (now >= deadline)
        return ATTEMPT_TIMEOUT;
    c->resp.len = 0;
    c->resp.oom = false;
    c->content_type[0] = '\0';
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    /* A backstop: the loop below enforces the deadline itself. */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(deadline - now));
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        snprintf(why, why_cap, "curl_multi_add_handle failed");
        return ATTEMPT_FAIL;
    }
    atomic_fetch_add_explicit(&c->st_attempts, 1, memory_order_relaxed);

    int outcome = -1;
    CURLcode rc = CURLE_OK;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
            snprintf(why, why_cap, "curl_multi_perform failed");
            outcome = ATTEMPT_FAIL;
            break;
        }
        if (!running) {
            int left;
            CURLMsg *m;
            rc = CURLE_RECV_ERROR;
            while ((m = curl_multi_info_read(c->multi, &left)))
                if (m->msg == CURLMSG_DONE)
                    rc = m->data.result;
            break;
        }
        if (atomic_load(&c->stopping)) {
            outcome = ATTEMPT_STOPPED;
            break;
        }
        now = dpt__mono_ms();
        if (now >= deadline) {
            outcome = ATTEMPT_TIMEOUT;
            break;
        }
        uint64_t step = deadline - now;
        curl_multi_poll(c->multi, NULL, 0, (int)(step < 1000 ? step : 1000), NULL);
    }
    /* Removing an unfinished transfer closes its connection; a finished one keeps it in
     * the multi handle's cache for the next export. */
    curl_multi_remove_handle(c->multi, e);
    if (outcome >= 0) {
        if (outcome == ATTEMPT_TIMEOUT)
            snprintf(why, why_cap, "timed out");
        return outcome;
    }
    if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT && dpt__mono_ms() >= deadline) {
            snprintf(why, why_cap, "timed out");
            return ATTEMPT_TIMEOUT;
        }
        snprintf(why, why_cap, "%s", curl_easy_strerror(rc));
        return retryable_curl(rc) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    atomic_store_explicit(&c->st_last_status, (int)*status, memory_order_relaxed);
    char *ct = NULL;
    if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(c->content_type, sizeof c->content_type, "%s", ct);
    if (*status >= 200 && *status < 300)
        return ATTEMPT_OK;
    snprintf(why, why_cap, "HTTP %ld", *status);
    if (*status == 429 || *status == 502 || *status == 503 || *status == 504) {
        /* libcurl parses both forms of Retry-After (seconds, HTTP date) into seconds. */
        curl_off_t ra = 0;
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            *retry_after_ms = (uint64_t)ra * 1000u;
        return ATTEMPT_RETRY;
    }
    return ATTEMPT_FAIL;
}

static void log_failure(dpt__http_client *c, const char *what, const char *why, size_t n)
{
    /* A collector that is down fails every batch: say so when it starts failing and then
     * every 100th time, not every 5 seconds forever. */
    c->consecutive_failures++;
    dpt_log_level lvl = (c->consecutive_failures == 1 || c->consecutive_failures % 100 == 0)
                            ? DPT_LOG_WARN
                            : DPT_LOG_DEBUG;
    dpt__log(lvl, "%s exporter: %zu spans not delivered to %s: %s (%s; %u consecutive failures)",
             c->name, n, c->url, what, why, c->consecutive_failures);
}

dpt_err dpt__http_send(dpt__http_client *c, const uint8_t *body, size_t len, size_t n_spans)
{
    pthread_mutex_lock(&c->mu);
    if (atomic_load(&c->stopping)) {
        pthread_mutex_unlock(&c->mu);
        return DPT_ESTATE;
    }
    c->busy = true;
    pthread_mutex_unlock(&c->mu);

    atomic_fetch_add_explicit(&c->st_exports, 1, memory_order_relaxed);
    uint64_t start = dpt__mono_ms();
    uint64_t deadline = start + c->timeout_ms;
    const void *payload = body;
    size_t plen = len;
    dpt_err err = DPT_EEXPORT;
    char why[160] = "";
    const char *what = "failed";

    if (c->gzip) {
        if (!compress_body(c, body, len)) {
            what = "gzip failed";
            snprintf(why, sizeof why, "out of memory");
            err = DPT_ENOMEM;
            goto done;
        }
        payload = c->gz.p;
        plen = c->gz.len;
    }

    uint64_t backoff = c->initial_backoff_ms;
    for (uint32_t n = 1;; n++) {
        long status;
        uint64_t retry_after;
        if (n > 1)
            atomic_fetch_add_explicit(&c->st_retries, 1, memory_order_relaxed);
        int r = attempt(c, payload, plen, deadline, &status, &retry_after, why, sizeof why);
        if (r == ATTEMPT_OK) {
            atomic_fetch_add_explicit(&c->st_bytes_sent, plen, memory_order_relaxed);
            err = DPT_OK;
            break;
        }
        if (r == ATTEMPT_STOPPED) {
            what = "shut down";
            err = DPT_ESTATE;
            break;
        }
        if (r == ATTEMPT_TIMEOUT) {
            what = "export timeout";
            err = DPT_ETIMEDOUT;
            break;
        }
        if (r == ATTEMPT_FAIL) {
            what = "not retryable";
            break;
        }
        if (c->max_attempts && n >= c->max_attempts) {
            what = "attempts exhausted";
            break;
        }
        /* Equal jitter: between half and all of the backoff, so clients that failed
         * together do not come back together. Retry-After, when given, is the server's
         * wish and is followed as is. */
        uint64_t wait = retry_after ? retry_after
                                    : backoff / 2 + next_rand(c) % (backoff / 2 + 1);
        backoff = backoff * 2 > c->max_backoff_ms ? c->max_backoff_ms : backoff * 2;
        uint64_t now = dpt__mono_ms();
        if (now + wait >= deadline) {
            what = retry_after ? "Retry-After beyond the export timeout"
                               : "no time left for another attempt";
            err = DPT_ETIMEDOUT;
            break;
        }
        dpt__log(DPT_LOG_DEBUG, "%s exporter: attempt %u failed (%s), retrying in %llu ms",
                 c->name, n, why, (unsigned long long)wait);
        if (!wait_ms(c, wait)) {
            what = "shut down";
            err = DPT_ESTATE;
            break;
        }
    }

done:
    if (err == DPT_OK) {
        atomic_fetch_add_explicit(&c->st_ok, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->st_spans_sent, n_spans, memory_order_relaxed);
        if (c->consecutive_failures)
            dpt__log(DPT_LOG_INFO, "%s exporter: delivering again after %u failures",
                     c->name, c->consecutive_failures);
        c->consecutive_failures = 0;
    } else {
        atomic_fetch_add_explicit(&c->st_failed, 1, memory_order_relaxed);
        log_failure(c, what, why, n_spans);
    }
    pthread_mutex_lock(&c->mu);
    c->busy = false;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return err;
}

dpt_err dpt__http_client_stop(dpt__http_client *c, uint32_t timeout_ms)
{
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->stopping, true);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->multi)
        curl_multi_wakeup(c->multi); /* thread-safe by libcurl's contract */

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (c->busy && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    bool busy = c->busy;
    pthread_mutex_unlock(&c->mu);
    return busy ? DPT_ETIMEDOUT : DPT_OK;
}
