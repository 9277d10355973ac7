/* test_async_cont.c - continuations, the async scoped span: a callback runs in the task
 * and context captured when it was set up, on this thread or another, and the span it
 * carries ends when the chain finishes; the last continuation of a dropped task frees it. */
#define DPT_TEST_ASYNC_FIXTURE
#include "test_async_util.h"

typedef struct cb_seen {
    dpt_task *task;
    dpt_span current;
    int calls;
} cb_seen;

static void record_cb(void *arg)
{
    cb_seen *s = arg;
    s->task = dpt_task_current();
    s->current = dpt_span_current();
    s->calls++;
    dpt_span_end(dpt_span_start(tp.t, "in-callback", DPT_SPAN_INTERNAL, NULL));
}

static void test_run_executes_in_the_captured_task_with_the_span_current(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_cont c = DPT_CONT_INIT;
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span op = dpt_cont_start(&c, tp.t, "timer.wait", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(op));
    assert_true(dpt_cont_is_active(&c));
    dpt_span got = dpt_cont_span(&c);
    assert_memory_equal(&got, &op, sizeof op);
    assert_int_equal(dpt_task_leave(task), DPT_OK);

    cb_seen seen = {0};
    dpt_cont_run(&c, record_cb, &seen); /* later, from the thread's own context */
    assert_int_equal(seen.calls, 1);
    assert_ptr_equal(seen.task, task);
    assert_memory_equal(&seen.current, &op, sizeof op);
    assert_false(dpt_cont_is_active(&c));
    assert_false(dpt_span_is_recording(op)); /* the chain ended its span */
    assert_null(dpt_task_current());
    assert_null(dpt_span_current().rec);
    dpt_cont_run(&c, record_cb, &seen); /* inert: runs the callback, with no context */
    assert_int_equal(seen.calls, 2);
    assert_null(seen.task);

    dpt_span_end(root);
    dpt_task_release(task);
    assert_parent("timer.wait", "req");
    const dpt_span_data *d = span_named("timer.wait");
    assert_int_equal(d->ended_by_task, 0);
    dpt_span_data_release(d);
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

typedef struct thread_arg {
    dpt_cont *c;
    cb_seen seen;
} thread_arg;

static void *run_on_thread(void *p)
{
    thread_arg *a = p;
    dpt_cont_run(a->c, record_cb, &a->seen);
    return NULL;
}

static void test_continuation_runs_on_another_thread(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_cont c = DPT_CONT_INIT;
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_cont_start(&c, tp.t, "offloaded", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    dpt_task_release(task); /* dropped: the continuation keeps it alive */
    assert_int_equal(dpt__test_async_live_tasks(), 1);

    thread_arg a = {.c = &c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_on_thread, &a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_ptr_equal(a.seen.task, task);
    /* The last reference went with the continuation: the task ended and ended its root. */
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    assert_int_equal(dpt_span_end(root), DPT_ESTATE);
    assert_parent("in-callback", "offloaded");
    assert_parent("offloaded", "req");
    const dpt_span_data *d = span_named("req");
    assert_int_equal(d->ended_by_task, 1);
    dpt_span_data_release(d);
}

static void finish_inside(void *arg)
{
    dpt_cont *c = arg;
    dpt_span before = dpt_span_current();
    dpt_cont_finish(c); /* deferred: the rest of the callback keeps its context */
    dpt_span after = dpt_span_current();
    assert_memory_equal(&before, &after, sizeof after);
    assert_true(dpt_span_is_recording(after));
    assert_true(dpt_cont_is_active(c));
}

static void test_finish_while_resumed_is_deferred_to_suspend(void **state)
{
    (void)state;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, NULL);
    dpt_cont c = DPT_CONT_INIT;
    dpt_task_enter(task);
    dpt_span op = dpt_cont_start(&c, tp.t, "op", DPT_SPAN_INTERNAL, NULL);
    dpt_task_leave(task);
    assert_int_equal(dpt_cont_resume(&c), DPT_OK);
    assert_int_equal(dpt_cont_resume(&c), DPT_ESTATE);
    assert_int_equal(alog_count("resumed twice", DPT_LOG_WARN), 1);
    finish_inside(&c);
    dpt_cont_suspend(&c);
    assert_false(dpt_cont_is_active(&c));
    assert_false(dpt_span_is_recording(op));
    assert_null(dpt_task_current());
    dpt_task_end(task);
    dpt_task_release(task);
}

static void test_suspend_and_resume_again_keeps_the_chain(void **state)
{
    (void)state;
    dpt_task *task = dpt_task_start(tp.t, "conn", DPT_SPAN_SERVER, NULL, NULL);
    dpt_task_enter(task);
    dpt_cont c = DPT_CONT_INIT;
    assert_int_equal(dpt_cont_capture(&c), DPT_OK);
    assert_int_equal(dpt_cont_capture(&c), DPT_ESTATE); /* would leak the first capture */
    dpt_task_leave(task);
    dpt_task_release(task);
    for (int i = 0; i < 3; i++) { /* a repeating callback (a read, a repeating timer) */
        assert_int_equal(dpt_cont_resume(&c), DPT_OK);
        assert_ptr_equal(dpt_task_current(), task);
        dpt_span_end(dpt_task_span_start(tp.t, "read", DPT_SPAN_INTERNAL, NULL));
        dpt_cont_suspend(&c);
        assert_null(dpt_task_current());
        assert_int_equal(dpt__test_async_live_tasks(), 1);
    }
    dpt_cont_finish(&c); /* not resumed: now; the last reference: the task goes */
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 4);
    assert_parent("read", "conn");
}

static void test_resume_while_the_task_is_entered_here_is_reported_context_still_right(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_task_enter(task);
    dpt_cont c = DPT_CONT_INIT;
    dpt_span op = dpt_cont_start(&c, tp.t, "op", DPT_SPAN_INTERNAL, NULL);
    /* Still inside the task: the continuation cannot enter it a second time. */
    assert_int_equal(dpt_cont_resume(&c), DPT_EBUSY);
    assert_int_equal(alog_count("entered twice on the same thread", DPT_LOG_WARN), 1);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &op, sizeof op);
    dpt_span_end(dpt_span_start(tp.t, "child", DPT_SPAN_INTERNAL, NULL));
    dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
    cur = dpt_span_current();
    assert_memory_equal(&cur, &root, sizeof root);
    dpt_task_leave(task);
    dpt_span_end(root);
    dpt_task_release(task);
    assert_parent("child", "op");
}

static void test_continuation_of_an_ended_task_runs_without_double_end(void **state)
{
    (void)state;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, NULL);
    dpt_task_enter(task);
    dpt_cont c = DPT_CONT_INIT;
    dpt_span op = dpt_cont_start(&c, tp.t, "op", DPT_SPAN_INTERNAL, NULL);
    dpt_task_leave(task);
    assert_int_equal(dpt_task_end(task), DPT_OK); /* ends "req" and "op" (flagged) */
    assert_false(dpt_span_is_recording(op));
    dpt_task_release(task); /* the continuation still holds it */
    assert_int_equal(dpt__test_async_live_tasks(), 1);

    assert_int_equal(dpt_cont_resume(&c), DPT_ESTATE); /* cannot enter: ended */
    assert_null(dpt_task_current());
    /* The captured context is attached on the thread: late spans still join the trace. */
    dpt_span late = dpt_span_start(tp.t, "late", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(late);
    dpt_cont_finish(&c);
    dpt_cont_suspend(&c);
    dpt_span_context sc = dpt_span_context_current();
    assert_false(dpt_span_context_is_valid(&sc)); /* the thread is back to nothing */
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 3); /* req, op, late: once each */
    assert_parent("late", "op");
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 2);
}

static void end_task_inside(void *arg)
{
    dpt_task *t = dpt_task_current();
    assert_non_null(t);
    assert_ptr_equal(t, arg);
    dpt_span_end(dpt_span_current()); /* the continuation's span, normally */
    assert_int_equal(dpt_task_end(t), DPT_OK);
}

static void test_task_ended_from_its_last_callback_is_clean(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_task_enter(task);
    dpt_cont c = DPT_CONT_INIT;
    dpt_cont_start(&c, tp.t, "write", DPT_SPAN_INTERNAL, NULL);
    dpt_task_leave(task);
    dpt_span_end(root);
    dpt_cont_run(&c, end_task_inside, task);
    assert_null(dpt_task_current());
    dpt_task_release(task);
    assert_int_equal(alog_total(DPT_LOG_WARN), 0); /* no spurious detach warning */
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 0);
}

static void test_capture_without_a_task_carries_the_context_only(void **state)
{
    (void)state;
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(outer);
    dpt_cont c = DPT_CONT_INIT, moved = DPT_CONT_INIT;
    assert_int_equal(dpt_cont_capture(&c), DPT_OK);
    dpt_context_detach(tok);
    assert_int_equal(dpt_cont_move(&moved, &c), DPT_OK);
    assert_false(dpt_cont_is_active(&c));
    assert_int_equal(dpt_cont_move(&moved, &moved), DPT_OK);
    dpt_cont other = DPT_CONT_INIT;
    assert_int_equal(dpt_cont_capture(&other), DPT_OK);
    assert_int_equal(dpt_cont_move(&moved, &other), DPT_ESTATE); /* dst busy */
    dpt_cont_finish(&other);

    cb_seen seen = {0};
    dpt_cont_run(&moved, record_cb, &seen);
    assert_null(seen.task);
    assert_memory_equal(&seen.current, &outer, sizeof outer);
    dpt_span_end(outer);
    assert_parent("in-callback", "outer");
}

static void test_capture_span_runs_a_caller_started_span_and_the_task_owns_it(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_task_enter(task);
    dpt_span wait = dpt_task_span_start(tp.t, "wait", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(wait);
    /* A sibling of "wait", not its child: the caller picks the parent. */
    dpt_span work =
        dpt_span_start(tp.t, "work", DPT_SPAN_INTERNAL, &(dpt_span_opts){.parent_span = root});
    dpt_cont a = DPT_CONT_INIT, b = DPT_CONT_INIT;
    assert_int_equal(dpt_cont_capture_span(&a, work), DPT_OK);
    assert_int_equal(dpt_cont_capture_span(&a, work), DPT_ESTATE);
    assert_int_equal(dpt_cont_capture_span(NULL, work), DPT_EINVAL);
    assert_int_equal(dpt_cont_capture_span(&b, DPT_SPAN_NONE), DPT_OK); /* plain capture */
    dpt_span_context bsc = dpt_context_span_context(dpt_cont_context(&b));
    assert_memory_equal(bsc.span_id.b, dpt_span_get_context(wait).span_id.b, 8);
    assert_null(dpt_cont_context(NULL));
    dpt_context_detach(tok);
    dpt_span_end(wait);
    dpt_task_leave(task);

    cb_seen seen = {0};
    dpt_cont_run(&a, record_cb, &seen);
    assert_memory_equal(&seen.current, &work, sizeof work);
    assert_false(dpt_span_is_recording(work));
    assert_null(dpt_cont_context(&a)); /* inert now */
    /* b is never run: the task's end ends nothing of b (it has no span) and b's finish
     * after the end only drops its references. */
    dpt_span_end(root);
    dpt_task_end(task);
    dpt_task_release(task);
    assert_int_equal(dpt__test_async_live_tasks(), 1);
    dpt_cont_finish(&b);
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    assert_parent("work", "req");
    assert_parent("wait", "req");
    assert_parent("in-callback", "work");
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 0);
}

static void test_task_ends_a_captured_span_whose_chain_never_finished(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_task_enter(task);
    dpt_span s = dpt_span_start(tp.t, "pending", DPT_SPAN_CLIENT, NULL);
    dpt_cont c = DPT_CONT_INIT;
    assert_int_equal(dpt_cont_capture_span(&c, s), DPT_OK);
    dpt_task_leave(task);
    dpt_span_end(root);
    assert_int_equal(dpt_task_end(task), DPT_OK);
    assert_false(dpt_span_is_recording(s)); /* ended by the task, flagged */
    dpt_cont_finish(&c);                    /* no second end */
    dpt_task_release(task);
    const dpt_span_data *d = span_named("pending");
    assert_int_equal(d->ended_by_task, 1);
    dpt_span_data_release(d);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 2);
}

static void test_null_continuations_are_harmless(void **state)
{
    (void)state;
    assert_int_equal(dpt_cont_capture(NULL), DPT_EINVAL);
    assert_null(dpt_cont_start(NULL, tp.t, "x", DPT_SPAN_INTERNAL, NULL).rec);
    assert_int_equal(dpt_cont_resume(NULL), DPT_EINVAL);
    dpt_cont_suspend(NULL);
    dpt_cont_finish(NULL);
    assert_false(dpt_cont_is_active(NULL));
    assert_null(dpt_cont_span(NULL).rec);
    assert_int_equal(dpt_cont_move(NULL, NULL), DPT_EINVAL);
    dpt_cont_run(NULL, NULL, NULL);
    dpt_cont z = DPT_CONT_INIT;
    assert_int_equal(dpt_cont_resume(&z), DPT_OK); /* inert: nothing to do */
    dpt_cont_suspend(&z);
    /* A NULL tracer: no span, but the context is still captured. */
    dpt_cont c = DPT_CONT_INIT;
    assert_null(dpt_cont_start(&c, NULL, "x", DPT_SPAN_INTERNAL, NULL).rec);
    assert_true(dpt_cont_is_active(&c));
    dpt_cont_finish(&c);
}

static void test_allocation_failure_leaves_the_continuation_inert(void **state)
{
    (void)state;
    int inert = 0;
    for (long n = 0; n < 6; n++) {
        dpt_cont c = DPT_CONT_INIT;
        dpt__test_fail_alloc_after(n);
        dpt_span s = dpt_cont_start(&c, tp.t, "oom", DPT_SPAN_INTERNAL, NULL);
        dpt__test_fail_alloc_after(-1);
        if (!dpt_cont_is_active(&c)) {
            inert++;
            assert_null(s.rec);
        }
        dpt_cont_finish(&c);
    }
    assert_true(inert > 0);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_recording, st.spans_ended); /* nothing left open */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_run_executes_in_the_captured_task_with_the_span_current),
        T(test_continuation_runs_on_another_thread),
        T(test_finish_while_resumed_is_deferred_to_suspend),
        T(test_suspend_and_resume_again_keeps_the_chain),
        T(test_resume_while_the_task_is_entered_here_is_reported_context_still_right),
        T(test_continuation_of_an_ended_task_runs_without_double_end),
        T(test_task_ended_from_its_last_callback_is_clean),
        T(test_capture_without_a_task_carries_the_context_only),
        T(test_capture_span_runs_a_caller_started_span_and_the_task_owns_it),
        T(test_task_ends_a_captured_span_whose_chain_never_finished),
        T(test_null_continuations_are_harmless),
        T(test_allocation_failure_leaves_the_continuation_inert),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
