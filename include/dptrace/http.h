/* dptrace/http.h - OTLP/HTTP and Zipkin HTTP exporters (libdptrace-http: libcurl, zlib).
 *
 * Both exporters POST each batch once, retrying on 429, 502, 503, 504 and connection
 * errors with exponential backoff and jitter (honouring Retry-After), all inside the
 * export deadline (the exporter's timeout, or the batch processor's export timeout when
 * shorter); other answers are not retried, redirects are not followed. Up to
 * max_in_flight requests run at once on an I/O thread of the exporter, on kept-alive
 * connections; the application's threads never wait on the network. See docs/export.md.
 */
#ifndef DPTRACE_HTTP_H
#define DPTRACE_HTTP_H

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dpt_otlp_protocol {
    DPT_OTLP_HTTP_PROTOBUF = 0, /* "http/protobuf", the default */
    DPT_OTLP_HTTP_JSON = 1,     /* "http/json" */
    DPT_OTLP_GRPC = 2           /* "grpc": OTLP/gRPC over libcurl's HTTP/2 */
} dpt_otlp_protocol;

typedef struct dpt_http_header {
    const char *name;
    const char *value;
} dpt_http_header;

/* Settings of an HTTP exporter. Strings are copied by the constructor. */
typedef struct dpt_http_exporter_config {
    const char *url;                /* the full URL to POST to (NULL: the exporter's default:
                                       http://localhost:4318/v1/traces for OTLP,
                                       http://localhost:9411/api/v2/spans for Zipkin) */
    dpt_otlp_protocol protocol;     /* OTLP only */
    bool gzip;                      /* Content-Encoding: gzip */
    const dpt_http_header *headers; /* extra request headers */
    size_t n_headers;
    uint32_t timeout_ms; /* one export, all attempts and waits included (10000) */
    /* TLS (https URLs): CA bundle, client certificate and key (PEM files; NULL: system
     * defaults / none) and, for test set-ups only, no verification of the server. */
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
    bool insecure_skip_verify;
    /* Retry policy: wait initial_backoff_ms (with jitter: between half and all of it)
     * before the second attempt, doubling up to max_backoff_ms; at most max_attempts
     * attempts (0: only the timeout limits them). Defaults 1000, 5000, 5. */
    uint32_t initial_backoff_ms;
    uint32_t max_backoff_ms;
    uint32_t max_attempts;
    /* Requests in flight at once (each holds one encoded batch): 0 means the default, 16;
     * at most DPT_HTTP_MAX_IN_FLIGHT_LIMIT. With all of them busy, the exporting thread
     * waits for one (within the export deadline) and the batch queue absorbs the rest. */
    uint32_t max_in_flight;
    /* Size limits of the OTLP specification ("OTLP/HTTP Request", "OTLP/HTTP Response"; the
     * same for gRPC and Zipkin): a request body larger than max_request_bytes before
     * compression is not sent (its spans count as failed, requests_too_large counts it);
     * an answer longer than max_response_bytes is not read further and the export fails
     * without a retry (responses_too_large). 0: the specification's recommended defaults,
     * 64 MiB and 4 MiB. */
    uint64_t max_request_bytes;
    uint64_t max_response_bytes;
} dpt_http_exporter_config;

#define DPT_HTTP_DEFAULT_MAX_REQUEST_BYTES ((uint64_t)64 << 20)
#define DPT_HTTP_DEFAULT_MAX_RESPONSE_BYTES ((uint64_t)4 << 20)

#define DPT_HTTP_MAX_IN_FLIGHT_LIMIT 64

/* Fills c with the defaults above (url NULL, protobuf, no gzip, no headers). The url must
 * be http:// or https://: the constructors refuse anything else (one error logged). */
DPT_EXTERN void dpt_http_exporter_config_default(dpt_http_exporter_config *c);

/* OTLP/HTTP exporter with explicit settings (cfg NULL: defaults). NULL on ENOMEM or when
 * libcurl cannot be set up (logged). */
DPT_EXTERN dpt_exporter *dpt_exporter_otlp_http(const dpt_http_exporter_config *cfg);

/* OTLP/HTTP exporter configured from the environment (the OpenTelemetry variables; the
 * TRACES_ variant of each wins over the general one):
 *   OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT     general: base URL + "/v1/traces"; TRACES_: as is
 *   OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL     http/protobuf (default) | http/json | grpc
 *                                            (grpc: the endpoint is used as is, default
 *                                            http://localhost:4317; without a scheme,
 *                                            INSECURE=true means h2c, else TLS)
 *   OTEL_EXPORTER_OTLP_[TRACES_]HEADERS      k=v,k2=v2 (values percent-decoded)
 *   OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION  gzip | none
 *   OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT      milliseconds (10000)
 *   OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY   PEM files
 *   OTEL_EXPORTER_OTLP_[TRACES_]INSECURE     only for a gRPC endpoint without a scheme
 *                                            (the spec's rule); it never turns off
 *                                            certificate checks for https://
 *   DPTRACE_EXPORT_MAX_IN_FLIGHT             requests in flight at once (16, 1..64)
 *   DPTRACE_EXPORT_MAX_REQUEST_BYTES         max_request_bytes (64 MiB; 1024 or more)
 *   DPTRACE_EXPORT_MAX_RESPONSE_BYTES        max_response_bytes (4 MiB; 1024 or more)
 * Invalid values are logged and replaced by the default; an endpoint that is not an
 * http:// or https:// URL is logged once and no exporter is made (NULL). */
DPT_EXTERN dpt_exporter *dpt_exporter_otlp_http_from_env(void);

/* OTLP/gRPC exporter: unary calls of opentelemetry.proto.collector.trace.v1.TraceService/
 * Export over HTTP/2 (libcurl with nghttp2; h2c with prior knowledge for http://, ALPN for
 * https://), several calls multiplexed on one connection. cfg->url is the endpoint,
 * scheme://host:port (NULL: http://localhost:4317); gzip is gRPC message compression
 * (grpc-encoding: gzip). The status comes from the grpc-status trailer: CANCELLED,
 * DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS are retried, and
 * RESOURCE_EXHAUSTED only with a RetryInfo, whose delay is followed (within the
 * deadline); other codes fail the export. The same as dpt_exporter_otlp_http with
 * protocol DPT_OTLP_GRPC. NULL (logged) for an endpoint that is not http(s). */
DPT_EXTERN dpt_exporter *dpt_exporter_otlp_grpc(const dpt_http_exporter_config *cfg);

/* Zipkin v2 JSON exporter (POST to .../api/v2/spans). */
DPT_EXTERN dpt_exporter *dpt_exporter_zipkin_http(const dpt_http_exporter_config *cfg);
/* From OTEL_EXPORTER_ZIPKIN_ENDPOINT (http://localhost:9411/api/v2/spans),
 * OTEL_EXPORTER_ZIPKIN_TIMEOUT (ms, 10000) and the three DPTRACE_EXPORT_MAX_* above. */
DPT_EXTERN dpt_exporter *dpt_exporter_zipkin_http_from_env(void);

/* Registers the exporter factories "otlp" and "zipkin" for OTEL_TRACES_EXPORTER (see
 * dpt_exporter_factory_register). Call it before dpt_provider_from_env(). Idempotent,
 * thread-safe. */
DPT_EXTERN dpt_err dpt_http_register(void);

/* What an HTTP exporter did so far (monotonic counters). */
typedef struct dpt_http_exporter_stats {
    uint64_t exports;             /* export calls with at least one span */
    uint64_t exports_ok;          /* delivered (2xx, possibly with a partial success) */
    uint64_t exports_failed;      /* not delivered: error, timeout or shut down */
    uint64_t attempts;            /* HTTP requests started */
    uint64_t retries;             /* attempts after the first of an export */
    uint64_t spans_sent;          /* spans in delivered exports */
    uint64_t spans_rejected;      /* rejected_spans reported by partial-success answers */
    uint64_t bytes_sent;          /* request body bytes, after compression */
    int last_http_status;         /* status of the latest answer, 0 when none */
    uint64_t spans_failed;        /* spans in exports that were not delivered */
    uint32_t max_in_flight_seen;  /* the most requests that were in flight at once */
    uint64_t requests_too_large;  /* exports not sent: body over max_request_bytes */
    uint64_t responses_too_large; /* answers over max_response_bytes (export failed) */
} dpt_http_exporter_stats;

/* Reads the counters of an exporter made by this header's constructors (DPT_EINVAL for
 * any other exporter). Thread-safe. */
DPT_EXTERN dpt_err dpt_exporter_http_get_stats(dpt_exporter *e, dpt_http_exporter_stats *out);

#ifdef __cplusplus
}
#endif
#endif
