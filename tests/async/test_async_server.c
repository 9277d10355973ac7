/* test_async_server.c - end to end: the examples/async-server server on its own loop
 * thread, driven by the load client with 200 concurrent requests on loopback. Every
 * request must come back OK and leave exactly one complete trace of the expected shape:
 *
 *   request (SERVER, child of the client's traceparent)
 *   ├─ timer.wait   ├─ work ── hash   ├─ upstream.call (CLIENT) ── ping (SERVER)
 *   └─ response.write
 *
 * with no span ended by a task's end, no span in a foreign trace, and no task left. */
#include "test_async_util.h"

#include "dptrace/propagation.h"
#include "server.h"

#define N_REQUESTS 200
#define SPANS_PER_TRACE 7

static const char *const shape[SPANS_PER_TRACE] = {
    "request", "timer.wait", "work", "hash", "upstream.call", "ping", "response.write",
};

typedef struct server_thread {
    uv_loop_t loop;
    uv_async_t stop;
    uv_sem_t ready;
    as_server *srv;
    dpt_tracer *tracer;
    int port;
    int rc;
} server_thread;

static void on_stop(uv_async_t *a)
{
    server_thread *st = a->data;
    as_server_stop(st->srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void server_main(void *arg)
{
    server_thread *st = arg;
    st->rc = uv_loop_init(&st->loop);
    as_server_config cfg = {
        .host = "127.0.0.1", .port = 0, .tracer = st->tracer, .hash_rounds = 5000};
    if (st->rc == 0) st->rc = as_server_start(&st->loop, &cfg, &st->srv);
    if (st->rc == 0) {
        st->port = as_server_port(st->srv);
        uv_async_init(&st->loop, &st->stop, on_stop);
        st->stop.data = st;
    }
    uv_sem_post(&st->ready);
    if (st->rc == 0) uv_run(&st->loop, UV_RUN_DEFAULT); /* until every request is closed */
}

static int index_of(const char *name)
{
    for (int i = 0; i < SPANS_PER_TRACE; i++)
        if (strcmp(name, shape[i]) == 0) return i;
    return -1;
}

static void test_two_hundred_concurrent_requests_give_two_hundred_complete_traces(void **state)
{
    (void)state;
    recorder *rec;
    dpt_provider *prov = recorder_provider(&rec);
    server_thread st = {.tracer = dpt_provider_get_tracer(prov, "async-server", NULL)};
    assert_int_equal(uv_sem_init(&st.ready, 0), 0);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, server_main, &st), 0);
    uv_sem_wait(&st.ready);
    assert_int_equal(st.rc, 0);

    static as_result results[N_REQUESTS];
    int ok = as_client_run("127.0.0.1", st.port, N_REQUESTS, 30, results);
    for (int i = 0; i < N_REQUESTS && ok != N_REQUESTS; i++)
        if (!results[i].ok) fail_msg("request %d: reply \"%s\"", i + 1, results[i].reply);
    assert_int_equal(ok, N_REQUESTS);

    uv_async_send(&st.stop);
    uv_thread_join(&th); /* every handle closed, so every span ended */
    assert_int_equal(as_server_ok(st.srv), N_REQUESTS);
    assert_int_equal(as_server_errors(st.srv), 0);
    as_server_free(st.srv);
    assert_int_equal(uv_loop_close(&st.loop), 0);
    uv_sem_destroy(&st.ready);
    assert_int_equal(dpt__test_async_live_tasks(), 0);

    /* Group the spans by trace: each client trace id must own exactly one of each. */
    assert_int_equal(rec->n, (size_t)N_REQUESTS * SPANS_PER_TRACE);
    for (int r = 0; r < N_REQUESTS; r++) {
        dpt_span_context client;
        assert_int_equal(dpt_traceparent_parse(results[r].traceparent, 55, &client), DPT_OK);
        const rspan *by_name[SPANS_PER_TRACE] = {0};
        size_t in_trace = 0;
        for (size_t i = 0; i < rec->n; i++) {
            const rspan *s = &rec->v[i];
            if (!trace_id_eq(&s->trace, &client.trace_id)) continue;
            in_trace++;
            int k = index_of(s->name);
            if (k < 0) fail_msg("unexpected span %s in trace %d", s->name, r);
            if (by_name[k]) fail_msg("two %s spans in trace %d", s->name, r);
            by_name[k] = s;
            assert_int_equal(s->ended_by_task, 0);
        }
        assert_int_equal(in_trace, SPANS_PER_TRACE);
        const rspan *req = by_name[0], *work = by_name[2], *call = by_name[4];
        assert_true(span_id_eq(&req->parent, &client.span_id));
        assert_true(span_id_eq(&by_name[1]->parent, &req->id)); /* timer.wait */
        assert_true(span_id_eq(&work->parent, &req->id));
        assert_true(span_id_eq(&by_name[3]->parent, &work->id)); /* hash, on the pool */
        assert_true(span_id_eq(&call->parent, &req->id));
        assert_true(span_id_eq(&by_name[5]->parent, &call->id)); /* ping, over the wire */
        assert_true(span_id_eq(&by_name[6]->parent, &req->id));  /* response.write */
    }
    dpt_stats stats;
    dpt_provider_get_stats(prov, &stats);
    assert_int_equal(stats.spans_ended_by_task, 0);
    dpt_provider_free(prov);
}

int main(void)
{
    dpt_log_set_handler(alog_fn, &g_log, DPT_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_hundred_concurrent_requests_give_two_hundred_complete_traces),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* A clean run reports nothing at WARN (no open span at a task's end, no misuse). */
    if (alog_total(DPT_LOG_WARN) != 0) {
        fprintf(stderr, "unexpected warnings, first: %s\n", g_log.msgs[0]);
        rc = 1;
    }
    return rc;
}
