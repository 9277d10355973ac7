/* server.h - the async-server example: a libuv TCP server on loopback where every request
 * is a dptrace task (timer wait, thread-pool work, an outgoing call), and the small load
 * client that drives it. Shared by the example program and its end-to-end test. */
#ifndef AS_SERVER_H
#define AS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dptrace.h"

/* ---- server -------------------------------------------------------------------------------
 * Protocol: one request line per connection, one reply line, then the server closes.
 *   REQ <id> <delay_ms> [<traceparent>]  ->  OK <id> <hash>   (or ERR <id> <reason>)
 *   PING <traceparent>                   ->  PONG
 * A REQ waits delay_ms on a timer, hashes on the libuv thread pool, calls the server
 * itself with PING (the outgoing call, traceparent on the wire), then replies. Spans:
 * request (SERVER) with children timer.wait, work (with hash inside), upstream.call
 * (CLIENT, with the remote ping SERVER span under it) and response.write. */

typedef struct as_server as_server;

typedef struct as_server_config {
    const char *host;      /* listen address, e.g. "127.0.0.1" */
    int port;              /* 0: any free port (see as_server_port) */
    dpt_tracer *tracer;    /* may be NULL: no tracing */
    uint32_t hash_rounds;  /* size of the thread-pool work; 0: 20000 */
    uint32_t max_delay_ms; /* delays above are clamped; 0: 1000 */
} as_server_config;

/* Binds, listens and returns the server (uv error code on failure). Loop thread only. */
int as_server_start(uv_loop_t *loop, const as_server_config *cfg, as_server **out);
int as_server_port(const as_server *s);
/* Stops accepting; requests in flight finish, then uv_run returns. Loop thread only. */
void as_server_stop(as_server *s);
/* Frees a stopped server once uv_run has returned. */
void as_server_free(as_server *s);
/* Requests answered OK / with an error, so far. */
uint64_t as_server_ok(const as_server *s);
uint64_t as_server_errors(const as_server *s);

/* ---- client ------------------------------------------------------------------------------- */

typedef struct as_result {
    uint64_t id;
    char traceparent[56]; /* what the client sent: the parent of the server span */
    int ok;               /* 1 when the reply was "OK <id> ..." */
    char reply[64];
} as_result;

/* Opens n connections at once to host:port on a loop of its own, sends one REQ on each
 * (delays spread over 0..max_delay_ms, a fresh traceparent each) and waits for every
 * reply. Fills results[n]; returns the number of OK replies, or a negative uv error. */
int as_client_run(const char *host, int port, size_t n, uint32_t max_delay_ms, as_result *results);

#endif
