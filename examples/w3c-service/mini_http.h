/* mini_http.h - a small HTTP/1.1 server for the W3C test-suite service and its tests.
 *
 * Why not libmicrohttpd here: it reports header values by strlen(), so a NUL byte inside a
 * value silently cuts it short (0.9.75 does), and this service exists to show exactly what
 * arrived. This server keeps every byte and its length, and follows RFC 9110 5.5 for NUL,
 * CR and LF inside a field value: the request is rejected (400), never cut or continued.
 * One request per connection (it answers with Connection: close), loopback only, bounded
 * sizes and timeouts. Not a general-purpose server.
 */
#ifndef MINI_HTTP_H
#define MINI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "dptrace/propagation.h"

typedef struct mini_http mini_http;

/* A request as received: header names and values exactly as sent (values without the
 * optional whitespace after the colon and before the line end), in arrival order. */
typedef struct mini_http_request {
    const char *method;
    const char *target;
    const dpt_headers *headers; /* a read-only view */
    const char *body;           /* body_len bytes, NUL-terminated */
    size_t body_len;
} mini_http_request;

/* Called on a connection thread for every well-formed request; returns the status to
 * answer with and may set *text (a static or caller-owned string; NULL: empty body). */
typedef unsigned (*mini_http_handler)(void *user, const mini_http_request *req, const char **text);

/* Listens on 127.0.0.1:port (0: a free port; *bound receives it). NULL on failure, with
 * errno set. */
mini_http *mini_http_start(uint16_t port, mini_http_handler h, void *user, uint16_t *bound);
/* Stops accepting and waits (up to 10 s) for the requests being served. NULL is fine. */
void mini_http_stop(mini_http *s);

#endif /* MINI_HTTP_H */
