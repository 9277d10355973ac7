/* dptrace/uv.h - libuv integration, header-only: a request's libuv callbacks (thread-pool
 * work, timers, stream reads and writes, connects) run in the task and context that were
 * current when the request was set up. Include <uv.h> is done here; link libuv yourself.
 *
 * Each wrapper is a struct that embeds the libuv request or handle as its FIRST member
 * together with a dpt_cont (dptrace/async.h); the libuv object's `data` field stays yours.
 * The wrappers take an optional span (DPT_SPAN_NONE: none), usually started with
 * dpt_task_span_start: the callback runs with it current and it ends when the callback
 * returns (for one-shot callbacks) or when the chain stops (read_stop, timer stop/close,
 * EOF or a read error). A negative libuv status marks the span as an error.
 *
 *   dpt_span s = dpt_task_span_start(tracer, "compress", DPT_SPAN_INTERNAL, NULL);
 *   dpt_uv_queue_work(loop, &req->work, s, compress_cb, compressed_cb);
 *
 * Rules (the same as libuv's): do not reuse a wrapper while its request is pending;
 * initialise handles with the dpt_uv_*_init functions; close them with the dpt_uv_*_close
 * functions (which also release what the wrapper holds). The callback may free the memory
 * of a one-shot request wrapper (work, write, connect): the wrappers do not touch it after
 * the callback returns. Thread-safety: as libuv's (one loop thread; work_cb on the pool).
 */
#ifndef DPTRACE_UV_H
#define DPTRACE_UV_H

#include <stddef.h>
#include <string.h>
#include <uv.h>

#include "async.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DPT_UV__OWNER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Captures the current task and context, with s current when s is a span. */
static inline void dpt_uv__reset(dpt_cont *c)
{
    dpt_cont zero = DPT_CONT_INIT; /* no compound literal: the header also compiles as C++ */
    *c = zero;
}

static inline void dpt_uv__capture(dpt_cont *c, dpt_span s)
{
    dpt_uv__reset(c);
    if (dpt_cont_capture_span(c, s) != DPT_OK) dpt_span_end(s); /* ENOMEM: run untraced */
}

static inline void dpt_uv__status(const dpt_cont *c, int status)
{
    if (status < 0 && status != UV_EOF)
        dpt_span_set_status(dpt_cont_span(c), DPT_STATUS_ERROR, uv_strerror(status));
}

/* ---- thread-pool work ------------------------------------------------------------------- */

/* work_cb runs on a pool thread in a sub-task of its own (so it never competes with the
 * request's task, which may be running on the loop thread meanwhile) whose context is the
 * captured one; spans it leaves open are ended with that sub-task when work_cb returns.
 * after_cb runs on the loop thread in the request's task. */
typedef struct dpt_uv_work {
    uv_work_t req; /* first: req.data is yours */
    dpt_cont cont;
    dpt_task *sub;
    uv_work_cb work_cb;
    uv_after_work_cb after_cb;
} dpt_uv_work;

static inline void dpt_uv__sub_end(dpt_uv_work *w)
{
    dpt_task *sub = w->sub;
    w->sub = NULL;
    dpt_task_end(sub);
    dpt_task_release(sub);
}

static inline void dpt_uv__work(uv_work_t *req)
{
    dpt_uv_work *w = DPT_UV__OWNER(req, dpt_uv_work, req);
    int entered = dpt_task_enter(w->sub) == DPT_OK;
    /* No sub-task (ENOMEM): still run in the captured context, on the pool thread's stack.
     * The loop thread does not touch w->cont until after_cb. */
    dpt_token tok = entered ? 0 : dpt_context_attach(dpt_cont_context(&w->cont));
    w->work_cb(req);
    if (entered)
        dpt_task_leave(w->sub);
    else if (tok)
        dpt_context_detach(tok);
    dpt_uv__sub_end(w); /* on the pool thread: after_cb sees it done (libuv orders them) */
}

static inline void dpt_uv__after_work(uv_work_t *req, int status)
{
    dpt_uv_work *w = DPT_UV__OWNER(req, dpt_uv_work, req);
    dpt_cont c = DPT_CONT_INIT;
    dpt_cont_move(&c, &w->cont); /* after_cb may free w */
    uv_after_work_cb cb = w->after_cb;
    if (w->sub) dpt_uv__sub_end(w); /* cancelled: work_cb never ran */
    dpt_uv__status(&c, status);
    dpt_cont_resume(&c);
    if (cb) cb(req, status);
    dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
}

/* uv_queue_work with the callbacks in the current task. span (may be DPT_SPAN_NONE) is
 * current in both callbacks and ends after after_cb. Returns uv_queue_work's result; on
 * error the span is ended (with the error) and nothing is held. */
static inline int dpt_uv_queue_work(uv_loop_t *loop, dpt_uv_work *w, dpt_span span,
                                    uv_work_cb work_cb, uv_after_work_cb after_cb)
{
    if (!w || !work_cb) {
        dpt_span_end(span);
        return UV_EINVAL;
    }
    dpt_uv__capture(&w->cont, span);
    w->sub = dpt_task_new(dpt_cont_context(&w->cont)); /* NULL on ENOMEM: runs untraced */
    w->work_cb = work_cb;
    w->after_cb = after_cb;
    int rc = uv_queue_work(loop, &w->req, dpt_uv__work, dpt_uv__after_work);
    if (rc < 0) {
        dpt_uv__status(&w->cont, rc);
        dpt_cont_finish(&w->cont);
        dpt_uv__sub_end(w);
    }
    return rc;
}

/* ---- timers -------------------------------------------------------------------------------- */

typedef struct dpt_uv_timer {
    uv_timer_t timer; /* first: timer.data is yours */
    dpt_cont cont;
    uv_timer_cb cb;
} dpt_uv_timer;

static inline int dpt_uv_timer_init(uv_loop_t *loop, dpt_uv_timer *t)
{
    dpt_uv__reset(&t->cont);
    t->cb = NULL;
    return uv_timer_init(loop, &t->timer);
}

static inline void dpt_uv__timer(uv_timer_t *h)
{
    dpt_uv_timer *t = DPT_UV__OWNER(h, dpt_uv_timer, timer);
    dpt_cont c = DPT_CONT_INIT;
    dpt_cont_move(&c, &t->cont); /* the callback may restart the timer (a new capture) */
    dpt_cont_resume(&c);
    t->cb(h);
    /* A repeating timer keeps its chain until stopped, closed or restarted. */
    int keep = uv_is_active((uv_handle_t *)h) && !uv_is_closing((uv_handle_t *)h) &&
               !dpt_cont_is_active(&t->cont);
    if (!keep) dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
    if (keep) dpt_cont_move(&t->cont, &c);
}

/* uv_timer_start with cb in the current task; span (may be DPT_SPAN_NONE), e.g. a "wait"
 * span, is current in cb and ends after the last call (one-shot: the first). A restart
 * ends the previous chain. */
static inline int dpt_uv_timer_start(dpt_uv_timer *t, dpt_span span, uv_timer_cb cb,
                                     uint64_t timeout, uint64_t repeat)
{
    if (!t || !cb) {
        dpt_span_end(span);
        return UV_EINVAL;
    }
    dpt_cont_finish(&t->cont);
    dpt_uv__capture(&t->cont, span);
    t->cb = cb;
    int rc = uv_timer_start(&t->timer, dpt_uv__timer, timeout, repeat);
    if (rc < 0) {
        dpt_uv__status(&t->cont, rc);
        dpt_cont_finish(&t->cont);
    }
    return rc;
}

static inline int dpt_uv_timer_stop(dpt_uv_timer *t)
{
    int rc = uv_timer_stop(&t->timer);
    dpt_cont_finish(&t->cont);
    return rc;
}

static inline void dpt_uv_timer_close(dpt_uv_timer *t, uv_close_cb close_cb)
{
    dpt_cont_finish(&t->cont);
    uv_close((uv_handle_t *)&t->timer, close_cb);
}

/* ---- streams: reads ------------------------------------------------------------------------- */

typedef struct dpt_uv_stream {
    union {
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h; /* first: h.stream.data is yours */
    dpt_cont read_cont;
    uv_read_cb read_cb;
    int reading;
} dpt_uv_stream;

static inline void dpt_uv__stream_init(dpt_uv_stream *s)
{
    dpt_uv__reset(&s->read_cont);
    s->read_cb = NULL;
    s->reading = 0;
}

static inline int dpt_uv_tcp_init(uv_loop_t *loop, dpt_uv_stream *s)
{
    dpt_uv__stream_init(s);
    return uv_tcp_init(loop, &s->h.tcp);
}

static inline int dpt_uv_pipe_init(uv_loop_t *loop, dpt_uv_stream *s, int ipc)
{
    dpt_uv__stream_init(s);
    return uv_pipe_init(loop, &s->h.pipe, ipc);
}

static inline uv_stream_t *dpt_uv_stream_handle(dpt_uv_stream *s)
{
    return &s->h.stream;
}

static inline void dpt_uv__read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    dpt_uv_stream *s = DPT_UV__OWNER(st, dpt_uv_stream, h);
    dpt_cont c = DPT_CONT_INIT;
    dpt_cont_move(&c, &s->read_cont);
    if (nread < 0) s->reading = 0; /* EOF or an error ends the chain */
    dpt_uv__status(&c, (int)(nread < 0 ? nread : 0));
    dpt_cont_resume(&c);
    s->read_cb(st, nread, buf);
    /* The handle's memory lives until its close callback, so s is still valid here. */
    int keep =
        s->reading && !uv_is_closing((uv_handle_t *)st) && !dpt_cont_is_active(&s->read_cont);
    if (!keep) dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
    if (keep) dpt_cont_move(&s->read_cont, &c);
}

/* uv_read_start with read_cb in the current task and context, for every read until
 * dpt_uv_read_stop, dpt_uv_close, EOF or an error. alloc_cb runs unwrapped. */
static inline int dpt_uv_read_start(dpt_uv_stream *s, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
    if (!s || !read_cb) return UV_EINVAL;
    dpt_cont_finish(&s->read_cont);
    dpt_uv__capture(&s->read_cont, DPT_SPAN_NONE);
    s->read_cb = read_cb;
    s->reading = 1;
    int rc = uv_read_start(&s->h.stream, alloc_cb, dpt_uv__read);
    if (rc < 0) {
        s->reading = 0;
        dpt_cont_finish(&s->read_cont);
    }
    return rc;
}

static inline int dpt_uv_read_stop(dpt_uv_stream *s)
{
    s->reading = 0;
    int rc = uv_read_stop(&s->h.stream);
    dpt_cont_finish(&s->read_cont); /* inside read_cb: finished when it returns */
    return rc;
}

static inline void dpt_uv_close(dpt_uv_stream *s, uv_close_cb close_cb)
{
    s->reading = 0;
    dpt_cont_finish(&s->read_cont);
    uv_close((uv_handle_t *)&s->h, close_cb);
}

/* ---- streams: writes, connects ------------------------------------------------------------- */

typedef struct dpt_uv_write_req {
    uv_write_t req; /* first: req.data is yours */
    dpt_cont cont;
    uv_write_cb cb;
} dpt_uv_write_req;

static inline void dpt_uv__write(uv_write_t *req, int status)
{
    dpt_uv_write_req *w = DPT_UV__OWNER(req, dpt_uv_write_req, req);
    dpt_cont c = DPT_CONT_INIT;
    dpt_cont_move(&c, &w->cont); /* cb may free w */
    uv_write_cb cb = w->cb;
    dpt_uv__status(&c, status);
    dpt_cont_resume(&c);
    if (cb) cb(req, status);
    dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
}

/* uv_write with cb in the current task; span (may be DPT_SPAN_NONE) ends after cb. */
static inline int dpt_uv_write(dpt_uv_write_req *w, uv_stream_t *s, const uv_buf_t bufs[],
                               unsigned int nbufs, dpt_span span, uv_write_cb cb)
{
    if (!w) {
        dpt_span_end(span);
        return UV_EINVAL;
    }
    dpt_uv__capture(&w->cont, span);
    w->cb = cb;
    int rc = uv_write(&w->req, s, bufs, nbufs, dpt_uv__write);
    if (rc < 0) {
        dpt_uv__status(&w->cont, rc);
        dpt_cont_finish(&w->cont);
    }
    return rc;
}

typedef struct dpt_uv_connect_req {
    uv_connect_t req; /* first: req.data is yours */
    dpt_cont cont;
    uv_connect_cb cb;
} dpt_uv_connect_req;

static inline void dpt_uv__connect(uv_connect_t *req, int status)
{
    dpt_uv_connect_req *k = DPT_UV__OWNER(req, dpt_uv_connect_req, req);
    dpt_cont c = DPT_CONT_INIT;
    dpt_cont_move(&c, &k->cont); /* cb may free k */
    uv_connect_cb cb = k->cb;
    dpt_uv__status(&c, status);
    dpt_cont_resume(&c);
    if (cb) cb(req, status);
    dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
}

/* uv_tcp_connect with cb in the current task; span (may be DPT_SPAN_NONE) ends after cb. */
static inline int dpt_uv_tcp_connect(dpt_uv_connect_req *k, uv_tcp_t *h,
                                     const struct sockaddr *addr, dpt_span span, uv_connect_cb cb)
{
    if (!k) {
        dpt_span_end(span);
        return UV_EINVAL;
    }
    dpt_uv__capture(&k->cont, span);
    k->cb = cb;
    int rc = uv_tcp_connect(&k->req, h, addr, dpt_uv__connect);
    if (rc < 0) {
        dpt_uv__status(&k->cont, rc);
        dpt_cont_finish(&k->cont);
    }
    return rc;
}

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_UV_H */
