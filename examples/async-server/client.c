/* client.c - the load client of the async-server example: n concurrent connections on a
 * libuv loop of its own, one REQ line each with a fresh traceparent, every reply collected.
 * It does not trace itself: the traceparent it sends stands for a caller's span. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace/propagation.h"

typedef struct cconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    char out[128];
    char in[64];
    size_t in_len;
    as_result *res;
} cconn;

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void finish(cconn *c)
{
    c->in[c->in_len] = 0;
    char *nl = strchr(c->in, '\n');
    if (nl) *nl = 0;
    snprintf(c->res->reply, sizeof c->res->reply, "%s", c->in);
    char expect[32];
    snprintf(expect, sizeof expect, "OK %llu ", (unsigned long long)c->res->id);
    c->res->ok = nl && strncmp(c->in, expect, strlen(expect)) == 0;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    cconn *c = h->data;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - 1 - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    cconn *c = st->data;
    if (nread < 0) { /* EOF: the server closes after its line */
        uv_read_stop(st);
        finish(c);
        return;
    }
    c->in_len += (size_t)nread;
    if (memchr(c->in, '\n', c->in_len) || c->in_len == sizeof c->in - 1) {
        uv_read_stop(st);
        finish(c);
    }
}

static void on_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status; /* a failed write shows as a missing reply */
}

static void on_connect(uv_connect_t *req, int status)
{
    cconn *c = req->data;
    if (status < 0) {
        snprintf(c->res->reply, sizeof c->res->reply, "connect: %s", uv_strerror(status));
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

int as_client_run(const char *host, int port, size_t n, uint32_t max_delay_ms, as_result *results)
{
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc < 0) return rc;
    struct sockaddr_in addr;
    rc = uv_ip4_addr(host, port, &addr);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        as_result *r = &results[i];
        memset(r, 0, sizeof *r);
        r->id = i + 1;
        dpt_span_context sc = {.flags = DPT_FLAG_SAMPLED};
        sc.trace_id = dpt_trace_id_generate();
        sc.span_id = dpt_span_id_generate();
        dpt_traceparent_format(&sc, r->traceparent);
        cconn *c = calloc(1, sizeof *c);
        if (!c) {
            rc = UV_ENOMEM;
            break;
        }
        c->res = r;
        /* Delays spread over 0..max so that requests overlap in every possible phase. */
        uint32_t delay = max_delay_ms ? (uint32_t)((i * 7919u) % (max_delay_ms + 1)) : 0;
        snprintf(c->out, sizeof c->out, "REQ %llu %u %s\n", (unsigned long long)r->id, delay,
                 r->traceparent);
        rc = uv_tcp_init(&loop, &c->tcp);
        if (rc < 0) {
            free(c);
            break;
        }
        c->tcp.data = c;
        c->connect.data = c;
        rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connect);
        if (rc < 0) uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* returns when every connection is closed */
    uv_loop_close(&loop);
    if (rc < 0) return rc;
    int ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += results[i].ok;
    return ok;
}
