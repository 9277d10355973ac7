/* http_internal.h - the HTTP client shared by the OTLP and Zipkin exporters of
 * libdptrace-http: a bounded set of requests in flight on one libcurl multi handle driven
 * by an I/O thread, gzip, the retry policy, deadlines, and cancellation by shutdown.
 * Private to src/http.
 */
#ifndef DPT_HTTP_INTERNAL_H
#define DPT_HTTP_INTERNAL_H

#include "dptrace/http.h"
#include "common.h"
#include "pb_read.h"
#include "../core/export_async.h" /* the batch processor contract */

#include <curl/curl.h>
#include <sys/types.h>
#include <zlib.h>

struct dpt__http_client;

/* FREE -> WAITING (filled, or waiting to retry) <-> RUNNING -> DONE -> REPORTING -> FREE,
 * or REPORTED for a synchronous caller, which frees it. */
enum { XFER_FREE, XFER_WAITING, XFER_RUNNING, XFER_DONE, XFER_REPORTING, XFER_REPORTED };

/* One request slot: the encoded batch, its attempts and its answer. */
typedef struct dpt__xfer {
    struct dpt__http_client *c;
    CURL *easy;           /* kept: libcurl reuses its connection */
    int state;            /* XFER_*; guarded by c->mu */
    dpt__buf body;        /* the request body (compressed when gzip) */
    size_t n;             /* spans as passed to export (reported to done) */
    size_t live;          /* non-NULL spans among them */
    uint64_t deadline_ms; /* the whole export: attempts and waits */
    uint64_t start_at_ms; /* WAITING: when the next attempt may start */
    uint64_t backoff_ms;
    uint32_t attempts;
    dpt__buf resp;       /* the latest answer's body, capped */
    uint64_t resp_total; /* its length so far */
    bool resp_too_large; /* resp_total passed c->max_response_bytes: the transfer stopped */
    char content_type[64];
    dpt__export_done_fn done; /* NULL: a synchronous caller waits for `result` */
    void *cookie;
    dpt_err result;
    bool in_multi;
    /* gRPC: status, message and status details from the headers or trailers of the answer
     * (grpc-status -1: none came). */
    int grpc_status;
    char grpc_message[160];
    uint64_t grpc_retry_ms; /* RetryInfo.retry_delay from grpc-status-details-bin; 0: none */
} dpt__xfer;

typedef struct dpt__http_client {
    const char *name; /* "otlp" / "zipkin", for logs */
    char *url;
    char *url_log; /* url without credentials or query, for logs */
    struct curl_slist *hdrs;
    const char *user_agent;
    char *ca_file, *cert_file, *key_file;
    bool insecure;
    /* The proxy and the hosts that bypass it, from the environment as libcurl would read
     * it, but read once here (proxy_from_env): libcurl would call getenv() on the I/O
     * thread at every new connection (common.h, background threads). "" : none. */
    char *proxy, *no_proxy;
    bool sched_batch; /* the I/O thread's policy (dpt__background_prepare) */
    uint32_t timeout_ms, initial_backoff_ms, max_backoff_ms, max_attempts, max_in_flight;
    uint64_t max_request_bytes, max_response_bytes; /* the OTLP size limits (http.h) */
    bool gzip;
    bool grpc; /* OTLP/gRPC: HTTP/2, length-prefixed messages, grpc-status trailers */
    bool z_ready;
    z_stream z; /* deflate state of the submitting thread */
    /* Called on the I/O thread after a 2xx answer (partial success), c->mu not held. */
    void (*on_delivered)(struct dpt__http_client *c, dpt__xfer *x);

    /* The I/O thread and the slots. mu guards the slots' state, the flags and n_busy; cv
     * signals a freed slot, a finished synchronous export and the end of the I/O thread. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    CURLM *multi;
    pthread_t io;
    bool io_started;
    pid_t pid;    /* process that started the I/O thread (fork check) */
    dpt__xfer *x; /* max_in_flight slots */
    uint32_t n_busy;
    bool closing;                  /* shutdown began: no new export */
    _Atomic bool abort;            /* end every request now */
    bool quit;                     /* the I/O thread leaves */
    uint64_t rng;                  /* jitter; I/O thread only */
    unsigned consecutive_failures; /* I/O thread only */
    dpt__ratelimit fail_rl;        /* "spans not delivered" warnings */
    dpt__ratelimit note_rl;        /* partial-success messages */

    /* Counters: written under mu or by the I/O thread, read by any (relaxed atomics). */
    _Atomic uint64_t st_exports, st_ok, st_failed, st_attempts, st_retries, st_spans_sent,
        st_spans_rejected, st_bytes_sent, st_spans_failed;
    _Atomic int st_last_status;
    _Atomic uint32_t st_in_flight_max;
    _Atomic uint64_t st_requests_too_large, st_responses_too_large;
} dpt__http_client;

/* Counts one export of `live` spans that was not delivered (any thread). */
static inline void dpt__http_count_failed(dpt__http_client *c, size_t live)
{
    atomic_fetch_add_explicit(&c->st_failed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->st_spans_failed, live, memory_order_relaxed);
}

/* Sets up c from cfg (defaults where cfg says 0/NULL). DPT_EINVAL for an endpoint that is
 * not an http:// or https:// URL (logged once), DPT_ENOMEM, DPT_EUNSUPPORTED. */
DPT__HIDDEN dpt_err dpt__http_client_init(dpt__http_client *c, const char *name,
                                          const dpt_http_exporter_config *cfg,
                                          const char *default_url, const char *content_type,
                                          const char *user_agent, bool grpc);
DPT__HIDDEN void dpt__http_client_free(dpt__http_client *c);

/* Hands body (n spans, live of them non-NULL) to the I/O thread. With an export context
 * that has a done function, returns DPT__EXPORT_PENDING once the body is taken (waiting
 * for a free slot up to the deadline); otherwise waits for the outcome. DPT_OK: a 2xx
 * answer. DPT_ETIMEDOUT, DPT_EEXPORT, DPT_ENOMEM or DPT_ESTATE (shut down). Called by one
 * thread at a time. The body is copied (compressed, or framed for gRPC) into the request,
 * unless enc is given and the request sends it as it is: then the encoder's buffer, which
 * holds body, becomes the request's and the encoder gets the request's old one. */
DPT__HIDDEN dpt_err dpt__http_submit(dpt__http_client *c, dpt_encoder *enc, const uint8_t *body,
                                     size_t len, size_t n, size_t live);

/* Waits until no request is in flight (force_flush). DPT_ETIMEDOUT after timeout_ms. */
DPT__HIDDEN dpt_err dpt__http_client_drain(dpt__http_client *c, uint32_t timeout_ms);

/* Stops c: no new export starts; requests in flight and backoff waits are cancelled at
 * once (failed, reported to their done function or synchronous caller). Waits up to
 * timeout_ms for the I/O thread to report them; DPT_ETIMEDOUT if it did not (they are
 * reported later). Any thread; idempotent. */
DPT__HIDDEN dpt_err dpt__http_client_stop(dpt__http_client *c, uint32_t timeout_ms);

/* Copies [s, s+n) into out (cap bytes, NUL-terminated) for a log line: printable ASCII
 * kept, every other byte as \xNN, cut with "..." when longer. Never a control character. */
DPT__HIDDEN void dpt__log_sanitize(const char *s, size_t n, char *out, size_t cap);

/* url without user:password@ and query, for logs (malloc'd; NULL on ENOMEM). */
DPT__HIDDEN char *dpt__url_for_log(const char *url);

/* True when url is http:// or https:// with a host. */
DPT__HIDDEN bool dpt__url_is_http(const char *url);

#endif /* DPT_HTTP_INTERNAL_H */
