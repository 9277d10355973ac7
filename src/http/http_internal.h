/* http_internal.h - the HTTP client shared by the OTLP and Zipkin exporters of
 * libdptrace-http: one kept-alive libcurl connection, gzip, the retry policy, and
 * cancellation by shutdown. Private to src/http.
 */
#ifndef DPT_HTTP_INTERNAL_H
#define DPT_HTTP_INTERNAL_H

#include "dptrace/http.h"
#include "common.h"

#include <curl/curl.h>
#include <zlib.h>

typedef struct dpt__http_client {
    const char *name;          /* "otlp" / "zipkin", for logs */
    CURL *easy;                /* one handle, kept: libcurl reuses its connection */
    CURLM *multi;              /* drives the transfer so that shutdown can interrupt it */
    struct curl_slist *hdrs;
    char *url;
    char *ca_file, *cert_file, *key_file;
    uint32_t timeout_ms, initial_backoff_ms, max_backoff_ms, max_attempts;
    bool gzip;
    bool z_ready;
    z_stream z;                /* deflate state, reset (not reallocated) per export */
    dpt__buf gz;               /* compressed body */
    dpt__buf resp;             /* the latest answer's body, capped */
    char content_type[64];     /* the latest answer's Content-Type */
    uint64_t rng;              /* jitter; only the exporting thread uses it */
    unsigned consecutive_failures;

    /* Cancellation: shutdown sets stopping, wakes a transfer (curl_multi_wakeup) and a
     * backoff wait (cv), then waits for busy to clear. mu guards busy and the waits. */
    _Atomic bool stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* CLOCK_MONOTONIC */
    bool busy;

    /* Counters: written by the exporting thread, read by any (relaxed atomics). */
    _Atomic uint64_t st_exports, st_ok, st_failed, st_attempts, st_retries, st_spans_sent,
        st_spans_rejected, st_bytes_sent;
    _Atomic int st_last_status;
} dpt__http_client;

/* Sets up c from cfg (defaults where cfg says 0/NULL). DPT_ENOMEM / DPT_EUNSUPPORTED. */
DPT__HIDDEN dpt_err dpt__http_client_init(dpt__http_client *c, const char *name,
                                          const dpt_http_exporter_config *cfg,
                                          const char *default_url, const char *content_type);
DPT__HIDDEN void dpt__http_client_free(dpt__http_client *c);

/* POSTs body (n_spans spans) with the retry policy. On DPT_OK the answer was 2xx and its
 * body is in c->resp. DPT_ETIMEDOUT, DPT_EEXPORT (refused, non-retryable status, attempts
 * exhausted) or DPT_ESTATE (stopping). Called by one thread at a time. */
DPT__HIDDEN dpt_err dpt__http_send(dpt__http_client *c, const uint8_t *body, size_t len,
                                   size_t n_spans);

/* Stops c: no new export starts; an export in flight is interrupted. Waits up to
 * timeout_ms for it to return. DPT_ETIMEDOUT if it did not. Any thread. */
DPT__HIDDEN dpt_err dpt__http_client_stop(dpt__http_client *c, uint32_t timeout_ms);

DPT__HIDDEN uint64_t dpt__mono_ms(void);

#endif /* DPT_HTTP_INTERNAL_H */
