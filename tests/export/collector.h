/* collector.h - a scriptable OTLP/Zipkin test collector on loopback (libmicrohttpd, one
 * thread per connection). Each request takes the next scripted behaviour (answer a
 * status with or without Retry-After, stall, partial success) or, when the script is
 * empty, the default one. It decodes what it receives (gzip, OTLP protobuf or JSON,
 * Zipkin JSON) and counts requests, spans and client connections for the assertions.
 */
#ifndef TEST_COLLECTOR_H
#define TEST_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct collector collector;

typedef enum col_kind {
    COL_OK,      /* 200 (202 for Zipkin paths), empty body */
    COL_STATUS,  /* status (+ Retry-After text when given) */
    COL_STALL,   /* wait stall_ms (or until the collector stops), then 200 */
    COL_PARTIAL, /* 200 with partial_success{rejected, message} in the request's format */
    COL_BIG,     /* 200 with a body of big_bytes zero bytes (streamed, not held) */
} col_kind;

typedef struct col_action {
    col_kind kind;
    int status;
    const char *retry_after; /* header value, or NULL */
    uint32_t stall_ms;
    int64_t rejected;
    const char *message; /* COL_PARTIAL; COL_STATUS: a JSON error body
                            {"code":3,"message":...} (3xx: a Location header) */
    uint64_t big_bytes;  /* COL_BIG */
} col_action;

typedef struct col_request {
    uint64_t at_ms; /* monotonic ms when the body was complete */
    int answered;   /* the status answered (0 while the answer stalls) */
    size_t spans;   /* spans decoded from the body */
    bool gzip;
    char path[128];
    char content_type[64];
    char api_key[64];   /* value of the x-api-key header (cut to 63 bytes) */
    size_t api_key_len; /* its full length */
    char user_agent[64];
    unsigned client_port; /* identifies the TCP connection */
    uint64_t body_hash;   /* FNV-1a of the body as sent (compressed when gzip) */
    size_t body_len;
} col_request;

/* Starts on 127.0.0.1 (port 0: any free port). NULL on failure. */
collector *collector_start(uint16_t port);
/* The same over TLS, with a PEM certificate and key. */
collector *collector_start_tls(uint16_t port, const char *cert_file, const char *key_file);
uint16_t collector_port(collector *c);
/* Stops listening (connections are then refused) / listens again on the same port. */
void collector_pause(collector *c);
bool collector_resume(collector *c);
void collector_stop(collector *c); /* also releases stalled requests; frees c */

/* Appends behaviours for the next requests; default is used when none is left. */
void collector_script(collector *c, const col_action *a, size_t n);
void collector_set_default(collector *c, col_action a);
/* Releases every stalled request now (they answer 200). */
void collector_release_stalls(collector *c);

/* Counters and a copy of request i (false past the end). Thread-safe. */
size_t collector_requests(collector *c);
size_t collector_spans_accepted(collector *c); /* spans in requests answered 2xx (not COL_BIG) */
uint64_t collector_big_bytes_served(collector *c); /* of COL_BIG answers, at most so far */
size_t collector_spans_received(collector *c);     /* in every request */
bool collector_request(collector *c, size_t i, col_request *out);
/* Waits until at least n requests arrived or timeout_ms passed. */
bool collector_wait_requests(collector *c, size_t n, uint32_t timeout_ms);

uint64_t col_now_ms(void);
/* A loopback port nothing listens on (a collector's, closed again); 0 on failure. */
uint16_t col_closed_port(void);

/* A collector in a forked child process, for tests that measure this process (its resident
 * memory, which threads call what): the child's threads and memory are not counted. It
 * answers with dflt (NULL: COL_OK); with cert and key it also runs a TLS collector. */
typedef struct col_remote {
    int pid;
    int cmd, reply;    /* pipe ends: to the child, from the child */
    uint16_t port;     /* plain HTTP */
    uint16_t tls_port; /* 0 without a certificate */
} col_remote;
bool col_remote_start(col_remote *r, const col_action *dflt, const char *cert, const char *key);
/* Releases stalled requests, stops the child; the spans its plain collector accepted
 * (UINT64_MAX when the child failed). */
uint64_t col_remote_stop(col_remote *r);

/* A self-signed certificate for 127.0.0.1 and localhost in dir (dir/cert.pem,
 * dir/key.pem), made with the openssl tool; false without the tool. */
bool col_make_cert(const char *dir, char *cert, char *key, size_t cap);

#endif /* TEST_COLLECTOR_H */
