/* test_async_context.c - dpt_context values carried between threads: captured on one,
 * attached on another; detach out of order, twice, or on the wrong thread is reported and
 * never corrupts a stack; a full stack refuses attaches without harm. */
#define DPT_TEST_ASYNC_FIXTURE
#include "test_async_util.h"

typedef struct worker {
    const dpt_context *ctx; /* attach this */
    dpt_token foreign;      /* and try to detach this token of another thread */
    dpt_err foreign_err;
    dpt_span seen_current;
    dpt_span seen_after;
} worker;

static void *worker_main(void *p)
{
    worker *w = p;
    dpt_token tok = dpt_context_attach(w->ctx);
    w->seen_current = dpt_span_current();
    dpt_span_end(dpt_span_start(tp.t, "on-worker", DPT_SPAN_INTERNAL, NULL));
    if (w->foreign) w->foreign_err = dpt_context_detach(w->foreign);
    dpt_context_detach(tok);
    w->seen_after = dpt_span_current();
    return NULL;
}

static void test_context_captured_on_one_thread_is_attached_on_another(void **state)
{
    (void)state;
    dpt_span parent = dpt_span_start(tp.t, "parent", DPT_SPAN_SERVER, NULL);
    dpt_baggage *bg = NULL;
    dpt_baggage_set(NULL, "k", "v", NULL, &bg);
    dpt_context *with_bg = dpt_context_with_baggage(NULL, bg);
    dpt_token t0 = dpt_context_attach(with_bg);
    dpt_token t1 = dpt_span_make_current(parent);
    dpt_context *captured = dpt_context_current();
    /* The capture is a value: what happens here afterwards does not change it. */
    dpt_context_detach(t1);
    dpt_context_detach(t0);
    dpt_context_release(with_bg);
    dpt_baggage_release(bg);
    assert_string_equal(dpt_baggage_get(dpt_context_baggage(captured), "k"), "v");

    worker w = {.ctx = captured};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, worker_main, &w), 0);
    pthread_join(th, NULL);
    dpt_context_release(captured);
    assert_memory_equal(&w.seen_current, &parent, sizeof parent);
    assert_null(w.seen_after.rec);
    dpt_span_end(parent);
    const dpt_span_data *c = span_named("on-worker"), *p = span_named("parent");
    assert_memory_equal(c->parent_span_id.b, p->ctx.span_id.b, 8);
    dpt_span_data_release(c);
    dpt_span_data_release(p);
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

static void test_token_detached_on_another_thread_is_refused_and_reported(void **state)
{
    (void)state;
    dpt_span mine = dpt_span_start(tp.t, "mine", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(mine);
    dpt_context *empty = dpt_context_new(NULL, NULL, NULL);
    worker w = {.ctx = empty, .foreign = tok};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, worker_main, &w), 0);
    pthread_join(th, NULL);
    dpt_context_release(empty);
    assert_int_equal(w.foreign_err, DPT_EINVAL);
    assert_int_equal(alog_count("unknown or already detached token", DPT_LOG_WARN), 1);
    /* This thread's stack was not touched. */
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &mine, sizeof mine);
    assert_int_equal(dpt_context_detach(tok), DPT_OK);
    dpt_span_end(mine);
}

static void test_out_of_order_detach_is_reported_and_repaired(void **state)
{
    (void)state;
    dpt_span a = dpt_span_start(tp.t, "a", DPT_SPAN_INTERNAL, NULL);
    dpt_span b = dpt_span_start(tp.t, "b", DPT_SPAN_INTERNAL, NULL);
    dpt_span c = dpt_span_start(tp.t, "c", DPT_SPAN_INTERNAL, NULL);
    dpt_token ta = dpt_span_make_current(a);
    dpt_token tb = dpt_span_make_current(b);
    dpt_token tc = dpt_span_make_current(c);
    assert_int_equal(dpt_context_detach(tb), DPT_ESTATE);
    assert_int_equal(alog_count("detached out of order: 1 later attach", DPT_LOG_WARN), 1);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &a, sizeof a); /* b and c are gone, a is intact */
    assert_int_equal(dpt_context_detach(tc), DPT_EINVAL);
    assert_int_equal(dpt_context_detach(tb), DPT_EINVAL); /* twice */
    assert_int_equal(alog_count("unknown or already detached token", DPT_LOG_WARN), 2);
    /* New attaches after the repair get fresh tokens that work. */
    dpt_token tb2 = dpt_span_make_current(b);
    assert_true(tb2 != tb);
    assert_int_equal(dpt_context_detach(tb2), DPT_OK);
    assert_int_equal(dpt_context_detach(ta), DPT_OK);
    assert_null(dpt_span_current().rec);
    dpt_span_end(a);
    dpt_span_end(b);
    dpt_span_end(c);
}

static void test_out_of_order_detach_inside_a_task_stays_in_the_task(void **state)
{
    (void)state;
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_INTERNAL, NULL);
    dpt_token to = dpt_span_make_current(outer);
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    dpt_task_enter(task);
    dpt_span x = dpt_task_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
    dpt_span y = dpt_task_span_start(tp.t, "y", DPT_SPAN_INTERNAL, NULL);
    dpt_token tx = dpt_span_make_current(x);
    dpt_span_make_current(y);
    assert_int_equal(dpt_context_detach(tx), DPT_ESTATE);
    assert_int_equal(alog_count("out of order", DPT_LOG_WARN), 1);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &root, sizeof root); /* repaired down to the task's base */
    dpt_task_leave(task);
    cur = dpt_span_current();
    assert_memory_equal(&cur, &outer, sizeof outer); /* the thread's stack is untouched */
    dpt_span_end(x);
    dpt_span_end(y);
    dpt_span_end(root);
    dpt_task_release(task);
    dpt_context_detach(to);
    dpt_span_end(outer);
}

static void test_full_stack_refuses_attach_without_harm(void **state)
{
    (void)state;
    dpt_context *c = dpt_context_new(NULL, NULL, NULL);
    static dpt_token toks[300];
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        toks[i] = dpt_context_attach(c);
        if (toks[i]) ok++;
    }
    assert_int_equal(ok, 256);
    assert_true(alog_count("context stack full", DPT_LOG_WARN) >= 1);
    for (int i = 299; i >= 0; i--)
        if (toks[i]) assert_int_equal(dpt_context_detach(toks[i]), DPT_OK);
    dpt_context_release(c);
    /* The same bound holds on a task's stack. */
    dpt_task *task = dpt_task_new(NULL);
    dpt_task_enter(task);
    c = dpt_context_new(NULL, NULL, NULL);
    ok = 0;
    for (int i = 0; i < 300; i++)
        ok += dpt_context_attach(c) != 0;
    assert_int_equal(ok, 256);
    dpt_task_leave(task);
    dpt_context_release(c);
    dpt_task_release(task); /* its 256 entries go with it (LeakSanitizer checks) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_context_captured_on_one_thread_is_attached_on_another),
        T(test_token_detached_on_another_thread_is_refused_and_reported),
        T(test_out_of_order_detach_is_reported_and_repaired),
        T(test_out_of_order_detach_inside_a_task_stays_in_the_task),
        T(test_full_stack_refuses_attach_without_harm),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
