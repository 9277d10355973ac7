/* test_async_uv.c - the dptrace/uv.h wrappers on their less travelled paths: a repeating
 * timer that stops itself, a timer restarted from its own callback, thread-pool work that
 * is cancelled or leaves a span open, a failed write, a read chain ended by EOF. Each time:
 * the callbacks run in the task, spans end exactly once, and no task is left. */
#include "test_async_util.h"

#include <stdlib.h>
#include <unistd.h>

#include "dptrace/uv.h"

static tprov tp;
static uv_loop_t loop;

static int setup(void **state)
{
    (void)state;
    tp = tprov_new(NULL, NULL);
    alog_install();
    assert_int_equal(uv_loop_init(&loop), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    tprov_free(&tp);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    return 0;
}

#define span_named(name) tprov_span_named(&tp, (name))

static int count_named(const char *name)
{
    int k = 0;
    size_t n = dpt_exporter_memory_count(tp.mem);
    for (size_t i = 0; i < n; i++) {
        const dpt_span_data *d = dpt_exporter_memory_get(tp.mem, i);
        k += d && strcmp(d->name, name) == 0;
        dpt_span_data_release(d);
    }
    return k;
}

#define assert_parent(child, parent) tprov_assert_parent(&tp, (child), (parent))

/* A task with its root span, entered; the caller sets up callbacks, then calls drop(). */
static dpt_task *begin(const char *name, dpt_span *root)
{
    dpt_task *t = dpt_task_start(tp.t, name, DPT_SPAN_SERVER, NULL, root);
    assert_int_equal(dpt_task_enter(t), DPT_OK);
    return t;
}

static void drop(dpt_task *t)
{
    assert_int_equal(dpt_task_leave(t), DPT_OK);
    dpt_task_release(t); /* the pending callbacks hold it now */
}

/* ---- timers ----------------------------------------------------------------------------- */

typedef struct tick {
    dpt_uv_timer timer;
    dpt_task *task;
    dpt_span root;
    int calls;
    int wrong_task;
} tick;

static void on_closed_free_nothing(uv_handle_t *h)
{
    (void)h;
}

static void on_tick(uv_timer_t *h)
{
    tick *k = h->data;
    k->calls++;
    k->wrong_task += dpt_task_current() != k->task;
    dpt_span_end(dpt_span_start(tp.t, "tick", DPT_SPAN_INTERNAL, NULL));
    if (k->calls == 3) {
        dpt_uv_timer_stop(&k->timer); /* inside its own callback: the chain ends on return */
        dpt_span_end(k->root);
        dpt_uv_timer_close(&k->timer, on_closed_free_nothing);
    }
}

static void test_repeating_timer_runs_each_tick_in_the_task_and_ends_its_span_once(void **state)
{
    (void)state;
    tick k = {0};
    assert_int_equal(dpt_uv_timer_init(&loop, &k.timer), 0);
    k.timer.timer.data = &k;
    k.task = begin("req", &k.root);
    dpt_span wait = dpt_task_span_start(tp.t, "ticking", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_uv_timer_start(&k.timer, wait, on_tick, 1, 1), 0);
    drop(k.task);
    assert_int_equal(dpt__test_async_live_tasks(), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(k.calls, 3);
    assert_int_equal(k.wrong_task, 0);
    assert_int_equal(count_named("ticking"), 1);
    assert_int_equal(count_named("tick"), 3);
    assert_parent("tick", "ticking");
    assert_parent("ticking", "req");
    assert_int_equal(dpt__test_async_live_tasks(), 0); /* the chain held the last reference */
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

typedef struct restart {
    dpt_uv_timer timer;
    int calls;
} restart;

static void on_restart(uv_timer_t *h)
{
    restart *r = h->data;
    if (++r->calls == 1) {
        /* A new wait from inside the first: the first chain ends when this returns. */
        dpt_span s = dpt_task_span_start(tp.t, "second-wait", DPT_SPAN_INTERNAL, NULL);
        assert_int_equal(dpt_uv_timer_start(&r->timer, s, on_restart, 1, 0), 0);
        return;
    }
    dpt_uv_timer_close(&r->timer, on_closed_free_nothing);
}

static void test_timer_restarted_from_its_callback_chains_the_second_wait(void **state)
{
    (void)state;
    restart r = {0};
    dpt_uv_timer_init(&loop, &r.timer);
    r.timer.timer.data = &r;
    dpt_span root;
    dpt_task *t = begin("req", &root);
    dpt_uv_timer_start(&r.timer, dpt_task_span_start(tp.t, "first-wait", DPT_SPAN_INTERNAL, NULL),
                       on_restart, 1, 0);
    dpt_span_end(root);
    drop(t);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 2);
    assert_int_equal(count_named("first-wait"), 1);
    assert_int_equal(count_named("second-wait"), 1);
    assert_parent("second-wait", "first-wait"); /* started while the first was current */
    const dpt_span_data *d = span_named("second-wait");
    assert_int_equal(d->ended_by_task, 0);
    dpt_span_data_release(d);
}

/* ---- thread-pool work ---------------------------------------------------------------------- */

typedef struct job {
    dpt_uv_work work;
    uv_sem_t *hold; /* the blocker waits on it */
    int ran, after, status;
    dpt_task *after_task;
    int leave_open;
} job;

static void do_job(uv_work_t *req)
{
    job *j = req->data;
    if (j->hold) uv_sem_wait(j->hold);
    j->ran = 1;
    dpt_span s = dpt_task_span_start(tp.t, "in-pool", DPT_SPAN_INTERNAL, NULL);
    if (!j->leave_open) dpt_span_end(s);
}

static void after_job(uv_work_t *req, int status)
{
    job *j = req->data;
    j->after = 1;
    j->status = status;
    j->after_task = dpt_task_current();
}

static void test_cancelled_work_still_finishes_its_chain_with_an_error(void **state)
{
    (void)state;
    /* The pool has one thread (main sets UV_THREADPOOL_SIZE=1): a blocker occupies it, so
     * the second job is certainly still queued when it is cancelled. */
    uv_sem_t hold;
    uv_sem_init(&hold, 0);
    job blocker = {.hold = &hold}, victim = {0};
    blocker.work.req.data = &blocker;
    victim.work.req.data = &victim;
    dpt_span root;
    dpt_task *t = begin("req", &root);
    assert_int_equal(dpt_uv_queue_work(&loop, &blocker.work, DPT_SPAN_NONE, do_job, after_job), 0);
    dpt_span vs = dpt_task_span_start(tp.t, "victim", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_uv_queue_work(&loop, &victim.work, vs, do_job, after_job), 0);
    assert_int_equal(uv_cancel((uv_req_t *)&victim.work.req), 0);
    uv_sem_post(&hold);
    dpt_span_end(root);
    drop(t);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_sem_destroy(&hold);
    assert_int_equal(victim.ran, 0);
    assert_int_equal(victim.after, 1);
    assert_int_equal(victim.status, UV_ECANCELED);
    assert_ptr_equal(victim.after_task, t); /* still in the task */
    const dpt_span_data *d = span_named("victim");
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_int_equal(d->ended_by_task, 0);
    dpt_span_data_release(d);
    assert_int_equal(blocker.ran, 1);
}

static void test_span_left_open_in_work_cb_is_ended_by_its_sub_task(void **state)
{
    (void)state;
    job j = {.leave_open = 1};
    j.work.req.data = &j;
    dpt_span root;
    dpt_task *t = begin("req", &root);
    dpt_span ws = dpt_task_span_start(tp.t, "work", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_uv_queue_work(&loop, &j.work, ws, do_job, after_job), 0);
    dpt_span_end(root);
    drop(t);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(j.ran, 1);
    assert_ptr_equal(j.after_task, t);
    const dpt_span_data *d = span_named("in-pool");
    assert_int_equal(d->ended_by_task, 1);
    dpt_span_data_release(d);
    d = span_named("work");
    assert_int_equal(d->ended_by_task, 0); /* the request's own span ended normally */
    dpt_span_data_release(d);
    assert_parent("in-pool", "work");
    assert_int_equal(
        alog_count("task ended with 1 open span(s) (first: \"in-pool\")", DPT_LOG_WARN), 1);
}

/* ---- streams --------------------------------------------------------------------------------- */

static void test_failed_write_ends_its_span_with_the_error_and_holds_nothing(void **state)
{
    (void)state;
    dpt_uv_stream s;
    assert_int_equal(dpt_uv_tcp_init(&loop, &s), 0);
    dpt_span root;
    dpt_task *t = begin("req", &root);
    dpt_uv_write_req w;
    char msg[] = "x";
    uv_buf_t b = uv_buf_init(msg, 1);
    dpt_span ws = dpt_task_span_start(tp.t, "write", DPT_SPAN_INTERNAL, NULL);
    /* Not connected: libuv refuses synchronously, the callback never runs. */
    assert_true(dpt_uv_write(&w, dpt_uv_stream_handle(&s), &b, 1, ws, NULL) < 0);
    assert_false(dpt_cont_is_active(&w.cont));
    dpt_span_end(root);
    drop(t);
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    const dpt_span_data *d = span_named("write");
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    dpt_span_data_release(d);
    dpt_uv_close(&s, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* s lives on this stack frame */
}

typedef struct pipe_pair {
    dpt_uv_stream reader;
    uv_pipe_t writer;
    dpt_task *task;
    char buf[16];
    int reads, eof, wrong_task;
} pipe_pair;

static void pp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    pipe_pair *p = h->data;
    *b = uv_buf_init(p->buf, sizeof p->buf);
}

static void pp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    pipe_pair *p = st->data;
    p->wrong_task += dpt_task_current() != p->task;
    if (nread > 0) p->reads++;
    if (nread == UV_EOF) {
        p->eof = 1;
        dpt_uv_close(&p->reader, NULL);
    }
}

static void test_read_chain_runs_in_the_task_until_eof(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(uv_pipe(fds, 0, 0), 0);
    pipe_pair p = {0};
    assert_int_equal(dpt_uv_pipe_init(&loop, &p.reader, 0), 0);
    assert_int_equal(uv_pipe_open(&p.reader.h.pipe, fds[0]), 0);
    p.reader.h.stream.data = &p;
    dpt_span root;
    p.task = begin("conn", &root);
    assert_int_equal(dpt_uv_read_start(&p.reader, pp_alloc, pp_read), 0);
    dpt_span_end(root);
    drop(p.task);
    assert_true(write(fds[1], "hello", 5) == 5);
    close(fds[1]); /* EOF after the data */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(p.reads >= 1);
    assert_int_equal(p.eof, 1);
    assert_int_equal(p.wrong_task, 0);
    assert_int_equal(dpt__test_async_live_tasks(), 0); /* EOF ended the read chain */
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "1", 1); /* before libuv starts its pool */
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_repeating_timer_runs_each_tick_in_the_task_and_ends_its_span_once),
        T(test_timer_restarted_from_its_callback_chains_the_second_wait),
        T(test_cancelled_work_still_finishes_its_chain_with_an_error),
        T(test_span_left_open_in_work_cb_is_ended_by_its_sub_task),
        T(test_failed_write_ends_its_span_with_the_error_and_holds_nothing),
        T(test_read_chain_runs_in_the_task_until_eof),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
