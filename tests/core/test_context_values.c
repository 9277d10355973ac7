/* test_context_values.c - user values in contexts (context/README.md: Create a key, Get
 * value, Set value): set, get, shadowing, ownership, and the value travelling with the
 * context across threads, tasks, continuations and spans made current. */
#include "test_util.h"

#include "dptrace/async.h"

#include <pthread.h>

static int freed;
static void free_counted(void *v)
{
    freed++;
    free(v);
}

static int *boxed(int x)
{
    int *p = malloc(sizeof *p);
    *p = x;
    return p;
}

/* context/README.md, Create a key: "The API MUST accept the following parameter: The key
 * name [...] Multiple calls to CreateKey with the same name SHOULD NOT return the same
 * value". Set value "MUST return a new Context containing the new value" and Get value
 * returns the value "for the given key". */
static void test_keys_are_distinct_and_values_are_per_key(void **state)
{
    (void)state;
    dpt_context_key *a = dpt_context_key_new("tenant", NULL);
    dpt_context_key *b = dpt_context_key_new("tenant", NULL);
    assert_non_null(a);
    assert_ptr_not_equal(a, b);
    assert_string_equal(dpt_context_key_name(a), "tenant");
    static int x = 1, y = 2;
    dpt_context *c1 = dpt_context_with_value(NULL, a, &x);
    dpt_context *c2 = dpt_context_with_value(c1, b, &y);
    assert_ptr_equal(dpt_context_get_value(c1, a), &x);
    assert_null(dpt_context_get_value(c1, b)); /* c1 unchanged by the second set */
    assert_ptr_equal(dpt_context_get_value(c2, a), &x);
    assert_ptr_equal(dpt_context_get_value(c2, b), &y);
    assert_null(dpt_context_get_value(NULL, a));
    assert_null(dpt_context_get_value(c2, NULL));
    dpt_context_release(c1);
    dpt_context_release(c2);
}

/* Setting a key again shadows the old value in the new context only; each value is freed
 * once, when the last context holding it goes (dptrace's ownership rule). */
static void test_values_are_owned_and_freed_once(void **state)
{
    (void)state;
    freed = 0;
    dpt_context_key *k = dpt_context_key_new("owned", free_counted);
    dpt_context *c1 = dpt_context_with_value(NULL, k, boxed(1));
    dpt_context *c2 = dpt_context_with_value(c1, k, boxed(2));
    assert_int_equal(*(int *)dpt_context_get_value(c1, k), 1);
    assert_int_equal(*(int *)dpt_context_get_value(c2, k), 2);
    dpt_context *c3 = dpt_context_retain(c2);
    dpt_context_release(c1);
    assert_int_equal(freed, 0); /* c2 still holds value 1 behind value 2 */
    dpt_context_release(c2);
    assert_int_equal(freed, 0);
    dpt_context_release(c3);
    assert_int_equal(freed, 2);
    /* A failed set frees the value it was given (no key). */
    assert_null(dpt_context_with_value(NULL, NULL, NULL));
}

/* The values travel with the current context: attach, spans made current on top of it, a
 * snapshot with dpt_context_current, and detach restoring the old state. */
static void test_values_follow_the_current_context(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_context_key *k = dpt_context_key_new("request.id", NULL);
    static char rid[] = "r-42";
    assert_null(dpt_context_value_current(k));
    dpt_context *c = dpt_context_with_value(NULL, k, rid);
    dpt_token tok = dpt_context_attach(c);
    assert_ptr_equal(dpt_context_value_current(k), rid);
    DPT_WITH_SPAN(tp.t, "child", DPT_SPAN_INTERNAL)
    {
        assert_ptr_equal(dpt_context_value_current(k), rid); /* kept under the span */
        dpt_context *snap = dpt_context_current();
        assert_ptr_equal(dpt_context_get_value(snap, k), rid);
        dpt_context_release(snap);
    }
    assert_int_equal(dpt_context_detach(tok), DPT_OK);
    assert_null(dpt_context_value_current(k));
    dpt_context_release(c);
    tprov_free(&tp);
}

typedef struct thread_arg {
    dpt_context *ctx;
    dpt_context_key *key;
    void *seen;
} thread_arg;

static void *reader(void *p)
{
    thread_arg *a = p;
    dpt_token tok = dpt_context_attach(a->ctx);
    a->seen = dpt_context_value_current(a->key);
    dpt_context_detach(tok);
    return NULL;
}

/* A context captured on one thread carries its values to another. */
static void test_values_cross_threads(void **state)
{
    (void)state;
    dpt_context_key *k = dpt_context_key_new("tenant", NULL);
    static char tenant[] = "acme";
    dpt_context *c = dpt_context_with_value(NULL, k, tenant);
    dpt_token tok = dpt_context_attach(c);
    thread_arg a = {dpt_context_current(), k, NULL};
    dpt_context_detach(tok);
    dpt_context_release(c);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, &a), 0);
    pthread_join(th, NULL);
    assert_ptr_equal(a.seen, tenant);
    dpt_context_release(a.ctx);
}

/* Tasks (dptrace/async.h) have their own context stacks: a value attached inside a task is
 * seen whenever the task is entered, on any thread, and not outside it. */
static void test_values_inside_tasks(void **state)
{
    (void)state;
    dpt_context_key *k = dpt_context_key_new("task.value", NULL);
    static char v[] = "in-task";
    dpt_task *t = dpt_task_new(NULL);
    assert_non_null(t);
    assert_int_equal(dpt_task_enter(t), DPT_OK);
    dpt_context *c = dpt_context_with_value(NULL, k, v);
    dpt_token tok = dpt_context_attach(c);
    dpt_context_release(c);
    assert_ptr_equal(dpt_context_value_current(k), v);
    dpt_task_leave(t);
    assert_null(dpt_context_value_current(k));
    assert_int_equal(dpt_task_enter(t), DPT_OK);
    assert_ptr_equal(dpt_context_value_current(k), v);
    dpt_context_detach(tok);
    dpt_task_leave(t);
    dpt_task_end(t);
    dpt_task_release(t);
}

/* dpt_context_with_span and dpt_context_with_baggage keep the values. */
static void test_derived_contexts_keep_values(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_context_key *k = dpt_context_key_new("kept", NULL);
    static char v[] = "v";
    dpt_context *c = dpt_context_with_value(NULL, k, v);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    dpt_context *cs = dpt_context_with_span(c, s);
    dpt_context *cb = dpt_context_with_baggage(cs, NULL);
    assert_ptr_equal(dpt_context_get_value(cs, k), v);
    assert_ptr_equal(dpt_context_get_value(cb, k), v);
    assert_true(dpt_span_context_is_valid(&(dpt_span_context){
        dpt_context_span_context(cb).trace_id, dpt_context_span_context(cb).span_id, 0, 0}));
    dpt_span_end(s);
    dpt_context_release(c);
    dpt_context_release(cs);
    dpt_context_release(cb);
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_are_distinct_and_values_are_per_key),
        cmocka_unit_test(test_values_are_owned_and_freed_once),
        cmocka_unit_test(test_values_follow_the_current_context),
        cmocka_unit_test(test_values_cross_threads),
        cmocka_unit_test(test_values_inside_tasks),
        cmocka_unit_test(test_derived_contexts_keep_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
