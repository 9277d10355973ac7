/* server.c - the async-server example: many concurrent requests on one libuv loop thread,
 * each one a dptrace task whose callbacks (timer, thread-pool work, the outgoing call's
 * connect/write/read, the reply) run in it through the dptrace/uv.h wrappers.
 *
 * The request code never attaches or detaches around callbacks by hand: it starts spans
 * with dpt_task_span_start (explicit parent where a step is a sibling, not a child, of
 * the previous one) and hands them to the wrappers, which end them when the step is done.
 */
#include "server.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace/async.h"
#include "dptrace/propagation.h"
#include "dptrace/uv.h"

#define LINE_MAX_LEN 200

struct as_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct sockaddr_in addr; /* where we listen; also the upstream of the outgoing call */
    dpt_tracer *tracer;
    uint32_t hash_rounds;
    uint32_t max_delay_ms;
    uint64_t ok, errors;
    int stopping;
};

enum { KIND_REQ = 1, KIND_PING = 2 };

/* One accepted connection and the request it carries. Freed when its last handle closes. */
typedef struct conn {
    as_server *srv;
    dpt_uv_stream client;
    char in[LINE_MAX_LEN + 1];
    size_t in_len;
    int kind;
    uint64_t id;
    uint32_t delay_ms;
    uint64_t hash;
    dpt_span server_span;
    dpt_uv_timer timer;
    dpt_uv_work work;
    /* the outgoing call */
    dpt_span up_span;
    dpt_uv_stream up;
    dpt_uv_connect_req up_connect;
    dpt_uv_write_req up_write;
    char up_out[80];
    char up_in[64];
    size_t up_len;
    /* the reply */
    dpt_uv_write_req reply;
    char out[96];
    int replied;
    int open_handles;
} conn;

static void on_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->open_handles == 0) free(c);
}

static uv_stream_t *client_stream(conn *c)
{
    return dpt_uv_stream_handle(&c->client);
}

/* ---- reply ------------------------------------------------------------------------------- */

static void on_replied(uv_write_t *req, int status)
{
    conn *c = req->data;
    (void)status; /* a client that went away: the span carries the error (uv.h) */
    dpt_span_end(c->server_span);
    /* The request's last step. Its task is not ended here: this callback's continuation
     * still has "response.write" open, and ends it when we return; then it drops the
     * task's last reference, which ends and frees the task. */
    dpt_uv_close(&c->client, on_handle_closed);
}

/* Sends the reply line; ok says whether it is a success. Runs inside the request's task. */
static void reply(conn *c, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply(conn *c, int ok, const char *fmt, ...)
{
    if (c->replied) return;
    c->replied = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->out, sizeof c->out, fmt, ap);
    va_end(ap);
    if (ok)
        c->srv->ok++;
    else {
        c->srv->errors++;
        dpt_span_set_status(c->server_span, DPT_STATUS_ERROR, c->out);
    }
    dpt_span s = dpt_task_span_start(c->srv->tracer, "response.write", DPT_SPAN_INTERNAL,
                                     &(dpt_span_opts){.parent_span = c->server_span});
    uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
    c->reply.req.data = c;
    if (dpt_uv_write(&c->reply, client_stream(c), &b, 1, s, on_replied) < 0) {
        dpt_span_end(c->server_span);
        dpt_uv_close(&c->client, on_handle_closed);
    }
}

/* ---- step 3: the outgoing call (PING to ourselves, traceparent on the wire) --------------- */

static void up_done(conn *c, const char *error)
{
    if (error) dpt_span_set_status(c->up_span, DPT_STATUS_ERROR, error);
    dpt_span_end(c->up_span);
    dpt_uv_close(&c->up, on_handle_closed);
    if (error)
        reply(c, 0, "ERR %llu upstream: %s\n", (unsigned long long)c->id, error);
    else
        reply(c, 1, "OK %llu %016llx\n", (unsigned long long)c->id, (unsigned long long)c->hash);
}

static void up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    conn *c = h->data;
    *buf = uv_buf_init(c->up_in + c->up_len, (unsigned)(sizeof c->up_in - 1 - c->up_len));
}

static void on_up_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn *c = st->data;
    if (nread < 0) {
        up_done(c, nread == UV_EOF ? "closed before replying" : uv_strerror((int)nread));
        return;
    }
    c->up_len += (size_t)nread;
    c->up_in[c->up_len] = 0;
    if (!strchr(c->up_in, '\n')) {
        if (c->up_len == sizeof c->up_in - 1) up_done(c, "reply too long");
        return;
    }
    dpt_uv_read_stop(&c->up);
    up_done(c, strncmp(c->up_in, "PONG\n", 5) == 0 ? NULL : "unexpected reply");
}

static void on_up_written(uv_write_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) dpt_span_record_error(c->up_span, "write", uv_strerror(status));
}

static void on_up_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) {
        up_done(c, uv_strerror(status));
        return;
    }
    /* Inside the task, upstream.call is current: the wrappers below capture it. */
    char tp[DPT_TRACEPARENT_LEN + 1];
    dpt_span_context sc = dpt_span_get_context(c->up_span);
    dpt_traceparent_format(&sc, tp);
    int n = snprintf(c->up_out, sizeof c->up_out, "PING %s\n", tp);
    uv_buf_t b = uv_buf_init(c->up_out, (unsigned)n);
    c->up_write.req.data = c;
    int rc = dpt_uv_write(&c->up_write, dpt_uv_stream_handle(&c->up), &b, 1, DPT_SPAN_NONE,
                          on_up_written);
    if (rc == 0) rc = dpt_uv_read_start(&c->up, up_alloc, on_up_read);
    if (rc < 0) up_done(c, uv_strerror(rc));
}

static void start_upstream_call(conn *c)
{
    as_server *srv = c->srv;
    c->up_span = dpt_task_span_start(srv->tracer, "upstream.call", DPT_SPAN_CLIENT,
                                     &(dpt_span_opts){.parent_span = c->server_span});
    dpt_span_set_str(c->up_span, "server.address", "127.0.0.1");
    /* Current on the task's stack while we set up the call, so that every wrapper below
     * (connect now; write and read from on_up_connect) captures it. */
    dpt_token tok = dpt_span_make_current(c->up_span);
    dpt_uv_tcp_init(srv->loop, &c->up);
    c->up.h.stream.data = c;
    c->open_handles++;
    c->up_connect.req.data = c;
    int rc = dpt_uv_tcp_connect(&c->up_connect, &c->up.h.tcp, (const struct sockaddr *)&srv->addr,
                                DPT_SPAN_NONE, on_up_connect);
    dpt_context_detach(tok);
    if (rc < 0) up_done(c, uv_strerror(rc));
}

/* ---- step 2: work on the libuv thread pool ----------------------------------------------- */

static void do_work(uv_work_t *req)
{
    conn *c = req->data;
    /* On a pool thread, in the work's sub-task: "work" is current, so this nests there. */
    DPT_WITH_SPAN(c->srv->tracer, "hash", DPT_SPAN_INTERNAL)
    {
        uint64_t h = 1469598103934665603ull ^ c->id;
        for (uint32_t i = 0; i < c->srv->hash_rounds; i++) {
            h ^= (h >> 29) + i;
            h *= 1099511628211ull;
        }
        c->hash = h;
        dpt_span_set_int(dpt_span_current(), "hash.rounds", c->srv->hash_rounds);
    }
}

static void after_work(uv_work_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) {
        reply(c, 0, "ERR %llu work: %s\n", (unsigned long long)c->id, uv_strerror(status));
        return;
    }
    start_upstream_call(c);
}

/* ---- step 1: the timer --------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    conn *c = t->data;
    dpt_uv_timer_close(&c->timer, on_handle_closed);
    /* A sibling of timer.wait: the parent is the request's span, not the current one. */
    dpt_span s = dpt_task_span_start(c->srv->tracer, "work", DPT_SPAN_INTERNAL,
                                     &(dpt_span_opts){.parent_span = c->server_span});
    c->work.req.data = c;
    int rc = dpt_uv_queue_work(c->srv->loop, &c->work, s, do_work, after_work);
    if (rc < 0) reply(c, 0, "ERR %llu queue: %s\n", (unsigned long long)c->id, uv_strerror(rc));
}

/* ---- the request line ------------------------------------------------------------------------ */

static void on_ping_replied(uv_write_t *req, int status)
{
    conn *c = req->data;
    (void)status;
    dpt_span_end(c->server_span);
    /* Ended explicitly (this continuation carries no span of its own, so nothing of it is
     * still open); the request path above shows the other way, the drop. */
    dpt_task_end(dpt_task_current());
    dpt_uv_close(&c->client, on_handle_closed);
}

/* Parses an optional traceparent token; NULL when absent or invalid (a new trace). */
static dpt_context *incoming_context(const char *tok)
{
    dpt_span_context sc;
    if (!tok || dpt_traceparent_parse(tok, strlen(tok), &sc) != DPT_OK) return NULL;
    return dpt_context_new(&sc, NULL, NULL);
}

static void handle_line(conn *c)
{
    as_server *srv = c->srv;
    char *save = NULL;
    char *verb = strtok_r(c->in, " \r\n", &save);
    c->kind = verb && strcmp(verb, "REQ") == 0    ? KIND_REQ
              : verb && strcmp(verb, "PING") == 0 ? KIND_PING
                                                  : 0;
    const char *a1 = strtok_r(NULL, " \r\n", &save);
    const char *a2 = c->kind == KIND_REQ ? strtok_r(NULL, " \r\n", &save) : NULL;
    const char *tp = c->kind == KIND_REQ ? strtok_r(NULL, " \r\n", &save) : a1;
    dpt_context *parent = incoming_context(tp);
    if (c->kind == KIND_REQ) {
        c->id = a1 ? strtoull(a1, NULL, 10) : 0;
        unsigned long d = a2 ? strtoul(a2, NULL, 10) : 0;
        c->delay_ms = d > srv->max_delay_ms ? srv->max_delay_ms : (uint32_t)d;
    }
    dpt_attr attrs[] = {DPT_INT("request.id", c->id), DPT_INT("request.delay_ms", c->delay_ms)};
    dpt_task *task = dpt_task_start(
        srv->tracer, c->kind == KIND_PING ? "ping" : "request", DPT_SPAN_SERVER,
        &(dpt_span_opts){.parent = parent, .attrs = attrs, .n_attrs = c->kind == KIND_REQ ? 2 : 0},
        &c->server_span);
    dpt_context_release(parent);
    /* From here on, everything this request does runs in its task. A NULL task (ENOMEM)
     * still works: enter fails and the callbacks run without context. */
    dpt_task_enter(task);
    if (c->kind == KIND_PING) {
        snprintf(c->out, sizeof c->out, "PONG\n");
        uv_buf_t b = uv_buf_init(c->out, 5);
        c->reply.req.data = c;
        c->replied = 1;
        if (dpt_uv_write(&c->reply, client_stream(c), &b, 1, DPT_SPAN_NONE, on_ping_replied) < 0) {
            dpt_span_end(c->server_span);
            dpt_uv_close(&c->client, on_handle_closed);
        }
    } else if (c->kind == KIND_REQ) {
        dpt_uv_timer_init(srv->loop, &c->timer);
        c->timer.timer.data = c;
        c->open_handles++;
        dpt_span w = dpt_task_span_start(srv->tracer, "timer.wait", DPT_SPAN_INTERNAL, NULL);
        dpt_span_set_int(w, "timer.ms", c->delay_ms);
        int rc = dpt_uv_timer_start(&c->timer, w, on_timer, c->delay_ms, 0);
        if (rc < 0) {
            dpt_uv_timer_close(&c->timer, on_handle_closed);
            reply(c, 0, "ERR %llu timer: %s\n", (unsigned long long)c->id, uv_strerror(rc));
        }
    } else {
        reply(c, 0, "ERR 0 bad request\n");
    }
    dpt_task_leave(task);
    /* Dropped: the pending callbacks hold the task now, and the last one releases it. */
    dpt_task_release(task);
}

static void client_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    conn *c = h->data;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(LINE_MAX_LEN - c->in_len));
}

static void on_client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn *c = st->data;
    if (nread < 0) { /* gone before a whole line: nothing was started */
        dpt_uv_close(&c->client, on_handle_closed);
        return;
    }
    c->in_len += (size_t)nread;
    c->in[c->in_len] = 0;
    if (!memchr(c->in, '\n', c->in_len)) {
        if (c->in_len == LINE_MAX_LEN) {
            dpt_uv_read_stop(&c->client);
            dpt_uv_close(&c->client, on_handle_closed);
        }
        return;
    }
    dpt_uv_read_stop(&c->client);
    handle_line(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    as_server *srv = listener->data;
    if (status < 0 || srv->stopping) return;
    conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = srv;
    if (dpt_uv_tcp_init(srv->loop, &c->client) < 0) {
        free(c);
        return;
    }
    c->client.h.stream.data = c;
    c->open_handles = 1;
    if (uv_accept(listener, client_stream(c)) < 0 ||
        dpt_uv_read_start(&c->client, client_alloc, on_client_read) < 0)
        dpt_uv_close(&c->client, on_handle_closed);
}

/* ---- server lifecycle --------------------------------------------------------------------------
 */

static void on_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

int as_server_start(uv_loop_t *loop, const as_server_config *cfg, as_server **out)
{
    as_server *s = calloc(1, sizeof *s);
    if (!s) return UV_ENOMEM;
    s->loop = loop;
    s->tracer = cfg->tracer;
    s->hash_rounds = cfg->hash_rounds ? cfg->hash_rounds : 20000;
    s->max_delay_ms = cfg->max_delay_ms ? cfg->max_delay_ms : 1000;
    int rc = uv_ip4_addr(cfg->host ? cfg->host : "127.0.0.1", cfg->port, &s->addr);
    if (rc == 0) rc = uv_tcp_init(loop, &s->listener);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&s->addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc == 0) {
        int len = sizeof s->addr;
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&s->addr, &len);
    }
    if (rc < 0) {
        s->stopping = 1;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return rc;
    }
    *out = s;
    return 0;
}

int as_server_port(const as_server *s)
{
    return ntohs(s->addr.sin_port);
}
uint64_t as_server_ok(const as_server *s)
{
    return s->ok;
}
uint64_t as_server_errors(const as_server *s)
{
    return s->errors;
}

void as_server_stop(as_server *s)
{
    if (!s || s->stopping) return;
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->listener, NULL);
}

void as_server_free(as_server *s)
{
    free(s);
}
