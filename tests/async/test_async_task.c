/* test_async_task.c - dpt_task: its own context stack, enter/leave and their misuse
 * (twice, wrong thread, out of order), the end of a task (open spans ended, flagged,
 * counted, reported), release by refcount with nothing left behind, NULLs and ENOMEM. */
#define DPT_TEST_ASYNC_FIXTURE
#include "test_async_util.h"

static void test_enter_makes_the_task_stack_current_and_leave_restores(void **state)
{
    (void)state;
    dpt_span outer =
        dpt_span_start(tp.t, "outer", DPT_SPAN_INTERNAL, &(dpt_span_opts){.root = true});
    dpt_token tok = dpt_span_make_current(outer);
    dpt_span root;
    dpt_task *task =
        dpt_task_start(tp.t, "task-root", DPT_SPAN_SERVER, &(dpt_span_opts){.root = true}, &root);
    assert_non_null(task);
    assert_true(dpt_span_is_recording(root));
    /* Creating the task does not change the thread's context. */
    dpt_span before = dpt_span_current();
    assert_memory_equal(&before, &outer, sizeof outer);

    assert_int_equal(dpt_task_enter(task), DPT_OK);
    assert_ptr_equal(dpt_task_current(), task);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &root, sizeof root);
    dpt_span child = dpt_span_start(tp.t, "in-task", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(child);
    assert_int_equal(dpt_task_leave(task), DPT_OK);

    assert_null(dpt_task_current());
    cur = dpt_span_current();
    assert_memory_equal(&cur, &outer, sizeof outer);
    dpt_span_end(root);
    assert_int_equal(dpt_task_end(task), DPT_OK);
    dpt_task_release(task);
    dpt_context_detach(tok);
    dpt_span_end(outer);
    assert_parent("in-task", "task-root");
    const dpt_span_data *r = span_named("task-root");
    assert_false(dpt_span_id_is_valid(&r->parent_span_id)); /* root: not outer's child */
    assert_int_equal(r->ended_by_task, 0);
    dpt_span_data_release(r);
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

static void test_task_new_captures_the_current_context(void **state)
{
    (void)state;
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_SERVER, NULL);
    dpt_token tok = dpt_span_make_current(outer);
    dpt_task *task = dpt_task_new(NULL);
    dpt_context_detach(tok); /* the task keeps its own copy */
    assert_non_null(task);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span c = dpt_task_span_start(tp.t, "child", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(c);
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    dpt_task_release(task); /* dropped: no owned span open, nothing to report at WARN */
    dpt_span_end(outer);
    assert_parent("child", "outer");
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
    assert_int_equal(alog_count("dropped without dpt_task_end", DPT_LOG_DEBUG), 1);
}

static void test_task_new_with_explicit_parent_and_baggage(void **state)
{
    (void)state;
    dpt_span_context sc = {.flags = DPT_FLAG_SAMPLED, .remote = true};
    sc.trace_id = dpt_trace_id_generate();
    sc.span_id = dpt_span_id_generate();
    dpt_baggage *bg = NULL;
    assert_int_equal(dpt_baggage_set(NULL, "tenant", "acme", NULL, &bg), DPT_OK);
    dpt_context *parent = dpt_context_new(&sc, NULL, bg);
    dpt_task *task = dpt_task_new(parent);
    dpt_context_release(parent);
    dpt_baggage_release(bg);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    assert_string_equal(dpt_baggage_get(dpt_baggage_current(), "tenant"), "acme");
    dpt_span_context cur = dpt_span_context_current();
    assert_memory_equal(cur.span_id.b, sc.span_id.b, 8);
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    assert_null(dpt_baggage_current());
    assert_int_equal(dpt_task_end(task), DPT_OK);
    dpt_task_release(task);
}

static void test_context_attached_in_a_task_persists_across_resumptions(void **state)
{
    (void)state;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, NULL);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span step = dpt_task_span_start(tp.t, "step", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(step);
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    assert_null(dpt_span_current().rec); /* the thread's own stack is empty */

    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &step, sizeof step);
    dpt_span inner = dpt_span_start(tp.t, "inner", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(inner);
    assert_int_equal(dpt_context_detach(tok), DPT_OK);
    dpt_span_end(step);
    dpt_span_end(dpt_span_current()); /* the root, current at the bottom */
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    dpt_task_release(task);
    assert_parent("inner", "step");
    assert_parent("step", "req");
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

static void test_entering_a_task_twice_on_one_thread_is_refused_and_reported(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    assert_int_equal(dpt_task_enter(task), DPT_EBUSY);
    assert_int_equal(alog_count("entered twice on the same thread", DPT_LOG_WARN), 1);
    /* Nothing changed: still inside once, one leave restores the thread. */
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &root, sizeof root);
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    assert_null(dpt_task_current());
    assert_int_equal(dpt_task_leave(task), DPT_ESTATE); /* not entered any more */
    assert_int_equal(alog_count("did not enter it", DPT_LOG_WARN), 1);
    dpt_span_end(root);
    dpt_task_end(task);
    dpt_task_release(task);
}

static void test_nested_tasks_restore_each_other(void **state)
{
    (void)state;
    dpt_span ra, rb;
    dpt_task *a = dpt_task_start(tp.t, "a", DPT_SPAN_SERVER, NULL, &ra);
    dpt_task *b = dpt_task_start(tp.t, "b", DPT_SPAN_SERVER, NULL, &rb);
    assert_int_equal(dpt_task_enter(a), DPT_OK);
    assert_int_equal(dpt_task_enter(b), DPT_OK);
    assert_ptr_equal(dpt_task_current(), b);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &rb, sizeof rb);
    assert_int_equal(dpt_task_leave(b), DPT_OK);
    assert_ptr_equal(dpt_task_current(), a);
    cur = dpt_span_current();
    assert_memory_equal(&cur, &ra, sizeof ra);
    assert_int_equal(dpt_task_leave(a), DPT_OK);
    assert_null(dpt_task_current());
    dpt_span_end(ra);
    dpt_span_end(rb);
    dpt_task_release(a);
    dpt_task_release(b);
}

static void test_leaving_out_of_order_leaves_inner_tasks_first_and_reports(void **state)
{
    (void)state;
    dpt_task *a = dpt_task_start(tp.t, "a", DPT_SPAN_SERVER, NULL, NULL);
    dpt_task *b = dpt_task_start(tp.t, "b", DPT_SPAN_SERVER, NULL, NULL);
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(outer);
    assert_int_equal(dpt_task_enter(a), DPT_OK);
    assert_int_equal(dpt_task_enter(b), DPT_OK);
    assert_int_equal(dpt_task_leave(a), DPT_ESTATE); /* b was still entered */
    assert_int_equal(alog_count("left out of order: 1 task", DPT_LOG_WARN), 1);
    assert_null(dpt_task_current());
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &outer, sizeof outer);
    /* Both can be entered again (on any thread): nothing is stuck. */
    assert_int_equal(dpt_task_leave(b), DPT_ESTATE);
    assert_int_equal(dpt_task_enter(b), DPT_OK);
    assert_int_equal(dpt_task_leave(b), DPT_OK);
    assert_int_equal(dpt_context_detach(tok), DPT_OK);
    dpt_span_end(outer);
    alog_reset();
    dpt_task_release(a); /* their root spans are still open: ended by the tasks */
    dpt_task_release(b);
    assert_int_equal(alog_count("task ended with 1 open span", DPT_LOG_WARN), 2);
}

static void test_end_ends_open_spans_flagged_counted_and_reported(void **state)
{
    (void)state;
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span left_open = dpt_task_span_start(tp.t, "left-open", DPT_SPAN_CLIENT, NULL);
    dpt_span closed = dpt_task_span_start(tp.t, "closed", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(closed);
    dpt_span not_owned = dpt_span_start(tp.t, "not-owned", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_task_leave(task), DPT_OK);

    assert_int_equal(dpt_task_end(task), DPT_OK);
    assert_true(dpt_task_is_ended(task));
    assert_int_equal(dpt_task_end(task), DPT_ESTATE);
    assert_int_equal(
        alog_count("task ended with 2 open span(s) (first: \"left-open\")", DPT_LOG_WARN), 1);
    assert_false(dpt_span_is_recording(root));
    assert_false(dpt_span_is_recording(left_open));
    assert_true(dpt_span_is_recording(not_owned)); /* the task only ends its own spans */
    assert_int_equal(dpt_span_end(root), DPT_ESTATE);

    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 2);
    const char *names[] = {"req", "left-open"};
    for (int i = 0; i < 2; i++) {
        const dpt_span_data *d = span_named(names[i]);
        assert_int_equal(d->ended_by_task, 1);
        const dpt_attr *a = find_attr(d, "dptrace.ended_by_task");
        assert_non_null(a);
        assert_int_equal(a->value.type, DPT_VAL_BOOL);
        assert_true(a->value.u.b);
        dpt_span_data_release(d);
    }
    const dpt_span_data *d = span_named("closed");
    assert_int_equal(d->ended_by_task, 0);
    assert_null(find_attr(d, "dptrace.ended_by_task"));
    dpt_span_data_release(d);
    /* The ended task refuses to be entered; its handle is still safe. */
    assert_int_equal(dpt_task_enter(task), DPT_ESTATE);
    assert_null(dpt_task_current());
    dpt_task_release(task);
    dpt_span_end(not_owned);
    assert_int_equal(alog_count("dropped", DPT_LOG_DEBUG), 0); /* it was ended, not dropped */
}

static void test_dropped_task_is_released_and_its_open_spans_ended(void **state)
{
    (void)state;
    uint64_t live = dpt__test_async_live_tasks();
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "forgotten", DPT_SPAN_SERVER, NULL, &root);
    assert_int_equal(dpt__test_async_live_tasks(), live + 1);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    for (int i = 0; i < 10; i++) {
        dpt_span s = dpt_task_span_start(tp.t, "nested", DPT_SPAN_INTERNAL, NULL);
        dpt_span_make_current(s); /* never detached, never ended */
    }
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    dpt_task_release(task); /* dropped: no end, 11 spans open, 11 entries attached */
    assert_int_equal(dpt__test_async_live_tasks(), live);
    assert_int_equal(alog_count("dropped without dpt_task_end", DPT_LOG_DEBUG), 1);
    assert_int_equal(alog_count("task ended with 11 open span(s)", DPT_LOG_WARN), 1);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 11);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 11);
    assert_int_equal(st.spans_ended, 11);
    /* Children end before their parents: the root is exported last. */
    const dpt_span_data *last = tprov_span(&tp, 10);
    assert_string_equal(last->name, "forgotten");
    dpt_span_data_release(last);
}

static void test_task_released_while_entered_lives_until_leave(void **state)
{
    (void)state;
    uint64_t live = dpt__test_async_live_tasks();
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_task_release(task); /* the caller's reference; the enter holds another */
    assert_int_equal(dpt__test_async_live_tasks(), live + 1);
    dpt_span s = dpt_task_span_start(tp.t, "late", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(s);
    dpt_span_end(root);
    assert_int_equal(dpt_task_leave(task), DPT_OK); /* last reference: freed here */
    assert_int_equal(dpt__test_async_live_tasks(), live);
    assert_null(dpt_task_current());
    assert_null(dpt_span_current().rec);
    assert_parent("late", "req");
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

static void test_end_inside_the_task_then_leave_restores_the_thread(void **state)
{
    (void)state;
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(outer);
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span_end(root);
    assert_int_equal(dpt_task_end(task), DPT_OK); /* from inside: allowed */
    assert_null(dpt_span_current().rec);          /* the task's stack was emptied */
    dpt_span after = dpt_span_start(tp.t, "after-end", DPT_SPAN_INTERNAL, NULL);
    dpt_span_make_current(after); /* attached after the end: cleared at leave */
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &outer, sizeof outer);
    dpt_span_end(after);
    dpt_task_release(task);
    dpt_context_detach(tok);
    dpt_span_end(outer);
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
}

static void test_token_of_another_stack_is_rejected_not_misapplied(void **state)
{
    (void)state;
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_INTERNAL, NULL);
    dpt_token tok = dpt_span_make_current(outer);
    dpt_span root;
    dpt_task *task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    dpt_span s = dpt_span_start(tp.t, "inner", DPT_SPAN_INTERNAL, NULL);
    dpt_token itok = dpt_span_make_current(s);
    assert_true(itok != tok);
    /* The thread's token means nothing on the task's stack. */
    assert_int_equal(dpt_context_detach(tok), DPT_EINVAL);
    assert_int_equal(alog_count("unknown or already detached token", DPT_LOG_WARN), 1);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &s, sizeof s);
    assert_int_equal(dpt_context_detach(itok), DPT_OK);
    dpt_span_end(s);
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    assert_int_equal(dpt_context_detach(tok), DPT_OK); /* and it still works at home */
    dpt_span_end(outer);
    dpt_span_end(root);
    dpt_task_release(task);
}

static void test_adopted_span_is_ended_by_the_task(void **state)
{
    (void)state;
    dpt_task *task = dpt_task_new(NULL);
    dpt_span s = dpt_span_start(tp.t, "adopted", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_task_adopt_span(task, s), DPT_OK);
    assert_int_equal(dpt_task_adopt_span(task, DPT_SPAN_NONE), DPT_EINVAL);
    /* Many short spans do not grow the list without bound: ended ones are pruned. */
    assert_int_equal(dpt_task_enter(task), DPT_OK);
    for (int i = 0; i < 1000; i++)
        dpt_span_end(dpt_task_span_start(tp.t, "short", DPT_SPAN_INTERNAL, NULL));
    assert_int_equal(dpt_task_leave(task), DPT_OK);
    assert_int_equal(dpt_task_end(task), DPT_OK);
    assert_int_equal(dpt_task_adopt_span(task, s), DPT_ESTATE);
    const dpt_span_data *d = span_named("adopted");
    assert_int_equal(d->ended_by_task, 1);
    dpt_span_data_release(d);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 1);
    dpt_task_release(task);
}

static void test_unsampled_spans_of_a_task_are_ended_but_not_counted(void **state)
{
    (void)state;
    tprov off = tprov_new(dpt_sampler_always_off(), NULL);
    dpt_span root;
    dpt_task *task = dpt_task_start(off.t, "req", DPT_SPAN_SERVER, NULL, &root);
    assert_non_null(task);
    assert_non_null(root.rec);
    assert_false(dpt_span_is_recording(root));
    dpt_task_release(task);
    assert_int_equal(dpt_span_end(root), DPT_ESTATE); /* already returned to its pool */
    dpt_stats st;
    dpt_provider_get_stats(off.p, &st);
    assert_int_equal(st.spans_ended_by_task, 0);
    assert_int_equal(alog_total(DPT_LOG_WARN), 0);
    tprov_free(&off);
}

static void test_null_and_misuse_never_crash(void **state)
{
    (void)state;
    assert_null(dpt_task_retain(NULL));
    dpt_task_release(NULL);
    assert_int_equal(dpt_task_enter(NULL), DPT_EINVAL);
    assert_int_equal(dpt_task_leave(NULL), DPT_EINVAL);
    assert_int_equal(dpt_task_end(NULL), DPT_EINVAL);
    assert_false(dpt_task_is_ended(NULL));
    assert_int_equal(dpt_task_adopt_span(NULL, DPT_SPAN_NONE), DPT_EINVAL);
    /* A NULL tracer: no span, the task still works. */
    dpt_span s = {(void *)1, 1};
    dpt_task *t = dpt_task_start(NULL, NULL, (dpt_span_kind)99, NULL, &s);
    assert_non_null(t);
    assert_null(s.rec);
    assert_int_equal(dpt_task_enter(t), DPT_OK);
    assert_null(dpt_task_span_start(NULL, "x", DPT_SPAN_INTERNAL, NULL).rec);
    assert_int_equal(dpt_task_leave(t), DPT_OK);
    dpt_task_release(t);
    /* A task created where nothing is current starts empty. */
    t = dpt_task_new(NULL);
    assert_int_equal(dpt_task_enter(t), DPT_OK);
    assert_null(dpt_span_current().rec);
    dpt_span_context sc = dpt_span_context_current();
    assert_false(dpt_span_context_is_valid(&sc));
    assert_int_equal(dpt_task_leave(t), DPT_OK);
    dpt_task_release(t);
}

static void test_allocation_failures_leave_nothing_behind(void **state)
{
    (void)state;
    uint64_t live = dpt__test_async_live_tasks();
    int failed = 0, succeeded = 0;
    for (long n = 0; n < 12; n++) {
        dpt__test_fail_alloc_after(n);
        dpt_span root = DPT_SPAN_NONE;
        dpt_task *t = dpt_task_start(tp.t, "oom", DPT_SPAN_SERVER, NULL, &root);
        dpt_task *u = dpt_task_new(NULL);
        dpt__test_fail_alloc_after(-1);
        if (!t) {
            failed++;
            assert_null(root.rec); /* no span was left open behind a failed start */
        } else {
            succeeded++;
            assert_int_equal(dpt_task_enter(t), DPT_OK);
            assert_int_equal(dpt_task_leave(t), DPT_OK);
            dpt_span_end(root);
            dpt_task_end(t);
            dpt_task_release(t);
        }
        dpt_task_release(u);
    }
    assert_true(failed > 0);
    assert_true(succeeded > 0);
    assert_int_equal(dpt__test_async_live_tasks(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_enter_makes_the_task_stack_current_and_leave_restores),
        T(test_task_new_captures_the_current_context),
        T(test_task_new_with_explicit_parent_and_baggage),
        T(test_context_attached_in_a_task_persists_across_resumptions),
        T(test_entering_a_task_twice_on_one_thread_is_refused_and_reported),
        T(test_nested_tasks_restore_each_other),
        T(test_leaving_out_of_order_leaves_inner_tasks_first_and_reports),
        T(test_end_ends_open_spans_flagged_counted_and_reported),
        T(test_dropped_task_is_released_and_its_open_spans_ended),
        T(test_task_released_while_entered_lives_until_leave),
        T(test_end_inside_the_task_then_leave_restores_the_thread),
        T(test_token_of_another_stack_is_rejected_not_misapplied),
        T(test_adopted_span_is_ended_by_the_task),
        T(test_unsampled_spans_of_a_task_are_ended_but_not_counted),
        T(test_null_and_misuse_never_crash),
        T(test_allocation_failures_leave_nothing_behind),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
