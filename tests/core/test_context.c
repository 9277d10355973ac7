/* test_context.c - current span per thread, scoped spans on every exit path, attach and
 * detach, baggage inheritance, explicit remote parents. */
#include "test_util.h"

static tprov tp;

static int setup(void **state)
{
    (void)state;
    tp = tprov_new(NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tprov_free(&tp);
    return 0;
}

static dpt_span_context ctx_of(size_t i)
{
    const dpt_span_data *d = tprov_span(&tp, i);
    dpt_span_context c = d->ctx;
    dpt_span_data_release(d);
    return c;
}

static dpt_span_id parent_of(size_t i)
{
    const dpt_span_data *d = tprov_span(&tp, i);
    dpt_span_id p = d->parent_span_id;
    dpt_span_data_release(d);
    return p;
}

static void test_span_without_parent_uses_the_current_span(void **state)
{
    (void)state;
    dpt_span outer = dpt_span_start(tp.t, "outer", DPT_SPAN_SERVER, NULL);
    dpt_token tok = dpt_span_make_current(outer);
    assert_true(tok != 0);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &outer, sizeof outer);
    dpt_span inner = dpt_span_start(tp.t, "inner", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(inner);
    assert_int_equal(dpt_context_detach(tok), DPT_OK);
    assert_null(dpt_span_current().rec);
    dpt_span_end(outer);
    assert_memory_equal(parent_of(0).b, ctx_of(1).span_id.b, 8);
}

static int scoped_return(void)
{
    DPT_WITH_SPAN(tp.t, "returns", DPT_SPAN_INTERNAL)
    {
        return 7; /* the span must end here too */
    }
    return 0;
}

static void test_with_span_ends_on_every_exit_path(void **state)
{
    (void)state;
    DPT_WITH_SPAN(tp.t, "normal", DPT_SPAN_INTERNAL)
    {
        assert_true(dpt_span_is_recording(dpt_span_current()));
        DPT_WITH_SPAN(tp.t, "nested", DPT_SPAN_INTERNAL) {}
    }
    for (int i = 0; i < 3; i++) {
        DPT_WITH_SPAN(tp.t, "breaks", DPT_SPAN_INTERNAL)
        {
            if (i == 0) break;
        }
    }
    assert_int_equal(scoped_return(), 7);
    {
        DPT_WITH_SPAN(tp.t, "gotos", DPT_SPAN_INTERNAL)
        {
            goto out;
        }
    }
out:
    assert_null(dpt_span_current().rec);
    /* normal, nested, 3 x breaks, returns, gotos */
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 7);
    /* nested ended first and is the child of normal */
    assert_memory_equal(parent_of(0).b, ctx_of(1).span_id.b, 8);
    dpt_span_context none = dpt_span_context_current();
    assert_false(dpt_span_context_is_valid(&none));
}

static void scoped_fn(int fail)
{
    DPT_SCOPED_SPAN(s, tp.t, "scoped", DPT_SPAN_INTERNAL);
    if (fail) {
        dpt_span_record_error(s, "E", "failed");
        return;
    }
    dpt_span_set_int(s, "ok", 1);
}

static void test_scoped_span_ends_at_scope_exit(void **state)
{
    (void)state;
    scoped_fn(0);
    scoped_fn(1);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 2);
    const dpt_span_data *d = tprov_span(&tp, 1);
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    dpt_span_data_release(d);
    assert_null(dpt_span_current().rec);
}

static void test_detach_out_of_order_is_reported_and_repaired(void **state)
{
    (void)state;
    logcap cap = {0};
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_WARN);
    dpt_context *c1 = dpt_context_new(&(dpt_span_context){.trace_id = dpt_trace_id_generate(),
                                                          .span_id = dpt_span_id_generate(),
                                                          .remote = true},
                                      NULL, NULL);
    dpt_context *c2 = dpt_context_with_baggage(c1, NULL);
    dpt_token t1 = dpt_context_attach(c1);
    dpt_token t2 = dpt_context_attach(c2);
    assert_true(t1 && t2 && t1 != t2);
    assert_int_equal(dpt_context_detach(t1), DPT_ESTATE); /* t2 still attached */
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "out of order"));
    assert_int_equal(dpt_context_detach(t2), DPT_EINVAL); /* already popped with t1 */
    assert_int_equal(dpt_context_detach(12345), DPT_EINVAL);
    assert_int_equal(dpt_context_detach(0), DPT_EINVAL);
    dpt_span_context now = dpt_span_context_current();
    assert_false(dpt_span_context_is_valid(&now));
    dpt_context_release(c1);
    dpt_context_release(c2);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_OFF);
}

static void test_remote_parent_context_is_continued(void **state)
{
    (void)state;
    dpt_span_context remote = {.trace_id = dpt_trace_id_generate(),
                               .span_id = dpt_span_id_generate(),
                               .flags = DPT_FLAG_SAMPLED,
                               .remote = true};
    dpt_tracestate *ts;
    assert_int_equal(dpt_tracestate_parse("vendor=x", DPT_NUL, &ts), DPT_OK);
    dpt_context *c = dpt_context_new(&remote, ts, NULL);
    dpt_tracestate_release(ts);
    dpt_span s = dpt_span_start(tp.t, "server", DPT_SPAN_SERVER, &(dpt_span_opts){.parent = c});
    dpt_context_release(c);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_memory_equal(d->ctx.trace_id.b, remote.trace_id.b, 16);
    assert_memory_equal(d->parent_span_id.b, remote.span_id.b, 8);
    assert_true(d->parent_remote);
    assert_string_equal(d->tracestate, "vendor=x");
    /* The remote parent had no random flag: a continued trace must not claim it. */
    assert_false(d->ctx.flags & DPT_FLAG_RANDOM);
    dpt_span_data_release(d);
}

static void test_baggage_is_inherited_by_child_contexts(void **state)
{
    (void)state;
    dpt_baggage *bg;
    assert_int_equal(dpt_baggage_set(NULL, "tenant", "acme", NULL, &bg), DPT_OK);
    dpt_context *c = dpt_context_with_baggage(NULL, bg);
    dpt_baggage_release(bg);
    dpt_token tok = dpt_context_attach(c);
    dpt_context_release(c);
    assert_string_equal(dpt_baggage_get(dpt_baggage_current(), "tenant"), "acme");
    DPT_WITH_SPAN(tp.t, "child", DPT_SPAN_INTERNAL)
    {
        DPT_WITH_SPAN(tp.t, "grandchild", DPT_SPAN_INTERNAL)
        {
            assert_string_equal(dpt_baggage_get(dpt_baggage_current(), "tenant"), "acme");
            dpt_context *cap = dpt_context_current();
            assert_string_equal(dpt_baggage_get(dpt_context_baggage(cap), "tenant"), "acme");
            dpt_span_context sc = dpt_context_span_context(cap);
            dpt_span_context cur = dpt_span_context_current();
            assert_memory_equal(sc.span_id.b, cur.span_id.b, 8);
            dpt_context_release(cap);
        }
    }
    assert_int_equal(dpt_context_detach(tok), DPT_OK);
    assert_null(dpt_baggage_current());
}

static void test_root_option_ignores_the_current_span(void **state)
{
    (void)state;
    DPT_WITH_SPAN(tp.t, "outer", DPT_SPAN_INTERNAL)
    {
        dpt_span r =
            dpt_span_start(tp.t, "root", DPT_SPAN_INTERNAL, &(dpt_span_opts){.root = true});
        dpt_span_end(r);
    }
    assert_memory_not_equal(ctx_of(0).trace_id.b, ctx_of(1).trace_id.b, 16);
    assert_false(dpt_span_id_is_valid(&(dpt_span_id){0}));
    dpt_span_id p = parent_of(0);
    assert_false(dpt_span_id_is_valid(&p));
}

static void test_context_values_carry_the_span_across_threads(void **state)
{
    (void)state;
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    dpt_context *c = dpt_context_with_span(NULL, s);
    dpt_span cs = dpt_context_span(c);
    assert_memory_equal(&cs, &s, sizeof s);
    dpt_token tok = dpt_context_attach(c);
    dpt_span child = dpt_span_start(tp.t, "child", DPT_SPAN_INTERNAL, NULL);
    dpt_span_end(child);
    dpt_context_detach(tok);
    dpt_context_release(c);
    dpt_span_end(s);
    assert_memory_equal(parent_of(0).b, ctx_of(1).span_id.b, 8);
}

static void test_a_child_started_after_its_parent_ended_is_still_parented(void **state)
{
    (void)state;
    dpt_span p = dpt_span_start(tp.t, "p", DPT_SPAN_INTERNAL, NULL);
    dpt_context *c = dpt_context_with_span(NULL, p);
    dpt_span_end(p);
    for (int i = 0; i < 200; i++)
        dpt_span_end(
            dpt_span_start(tp.t, "noise", DPT_SPAN_INTERNAL, &(dpt_span_opts){.root = true}));
    dpt_span late = dpt_span_start(tp.t, "late", DPT_SPAN_INTERNAL, &(dpt_span_opts){.parent = c});
    dpt_span_end(late);
    dpt_context_release(c);
    size_t n = dpt_exporter_memory_count(tp.mem);
    assert_memory_equal(parent_of(n - 1).b, ctx_of(0).span_id.b, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_span_without_parent_uses_the_current_span, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_with_span_ends_on_every_exit_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scoped_span_ends_at_scope_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach_out_of_order_is_reported_and_repaired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_remote_parent_context_is_continued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_baggage_is_inherited_by_child_contexts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_root_option_ignores_the_current_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_values_carry_the_span_across_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_child_started_after_its_parent_ended_is_still_parented, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
