/* test_store.c - the bounded trace store: lookup, whole-trace eviction, byte bound,
 * snapshots and the trace JSON. */
#include "test_util.h"

typedef struct sprov {
    dpt_provider *p;
    dpt_tracer *t;
    dpt_store *st;
} sprov;

static sprov sprov_new(size_t max_spans, size_t max_bytes)
{
    sprov sp = {0};
    sp.st = dpt_store_new(&(dpt_store_config){max_spans, max_bytes});
    assert_non_null(sp.st);
    dpt_processor *proc = dpt_processor_store(sp.st);
    dpt_provider_config cfg = {.service_name = "store-test",
                               .sampler = dpt_sampler_always_on(),
                               .processors = &proc,
                               .n_processors = 1};
    assert_non_null((sp.p = dpt_provider_new(&cfg)));
    sp.t = dpt_provider_get_tracer(sp.p, "store", NULL);
    return sp;
}

static void sprov_free(sprov *sp)
{
    dpt_provider_free(sp->p);
    dpt_store_free(sp->st);
}

/* Makes one trace of n spans (root + n-1 children) and returns its id. */
static dpt_trace_id make_trace(sprov *sp, int n, const char *name)
{
    dpt_span root = dpt_span_start(sp->t, name, DPT_SPAN_SERVER, &(dpt_span_opts){.root = true});
    dpt_trace_id id = dpt_span_get_context(root).trace_id;
    for (int i = 1; i < n; i++)
        dpt_span_end(dpt_span_start(sp->t, "child", DPT_SPAN_INTERNAL,
                                    &(dpt_span_opts){.parent_span = root}));
    dpt_span_end(root);
    return id;
}

static void test_store_returns_a_whole_trace(void **state)
{
    (void)state;
    sprov sp = sprov_new(100, 0);
    dpt_trace_id a = make_trace(&sp, 3, "a");
    dpt_trace_id b = make_trace(&sp, 2, "b");
    dpt_trace_snapshot *snap;
    assert_int_equal(dpt_store_get_trace(sp.st, &a, &snap), DPT_OK);
    assert_int_equal(dpt_trace_snapshot_count(snap), 3);
    assert_string_equal(dpt_trace_snapshot_span(snap, 2)->name, "a"); /* root ends last */
    assert_null(dpt_trace_snapshot_span(snap, 3));
    dpt_trace_snapshot_free(snap);
    assert_int_equal(dpt_store_get_trace(sp.st, &b, &snap), DPT_OK);
    assert_int_equal(dpt_trace_snapshot_count(snap), 2);
    dpt_trace_snapshot_free(snap);
    dpt_trace_id none = dpt_trace_id_generate();
    assert_int_equal(dpt_store_get_trace(sp.st, &none, &snap), DPT_ENOTFOUND);
    dpt_store_stats st;
    dpt_store_get_stats(sp.st, &st);
    assert_int_equal(st.spans, 5);
    assert_int_equal(st.traces, 2);
    sprov_free(&sp);
}

static void test_store_evicts_oldest_whole_traces(void **state)
{
    (void)state;
    sprov sp = sprov_new(10, 0);
    dpt_trace_id t1 = make_trace(&sp, 4, "t1");
    dpt_trace_id t2 = make_trace(&sp, 4, "t2");
    dpt_trace_id t3 = make_trace(&sp, 4, "t3"); /* needs room: t1 goes whole */
    dpt_trace_snapshot *snap;
    assert_int_equal(dpt_store_get_trace(sp.st, &t1, &snap), DPT_ENOTFOUND);
    assert_int_equal(dpt_store_get_trace(sp.st, &t2, &snap), DPT_OK);
    assert_int_equal(dpt_trace_snapshot_count(snap), 4);
    dpt_trace_snapshot_free(snap);
    assert_int_equal(dpt_store_get_trace(sp.st, &t3, &snap), DPT_OK);
    assert_int_equal(dpt_trace_snapshot_count(snap), 4);
    dpt_trace_snapshot_free(snap);
    dpt_store_stats st;
    dpt_store_get_stats(sp.st, &st);
    assert_int_equal(st.evicted_traces, 1);
    assert_int_equal(st.evicted_spans, 4);
    dpt_stats ps;
    dpt_provider_get_stats(sp.p, &ps);
    assert_int_equal(ps.spans_dropped_store, 4);
    sprov_free(&sp);
}

static void test_snapshot_stays_valid_after_eviction(void **state)
{
    (void)state;
    sprov sp = sprov_new(4, 0);
    dpt_trace_id t1 = make_trace(&sp, 3, "kept-by-snapshot");
    dpt_trace_snapshot *snap;
    assert_int_equal(dpt_store_get_trace(sp.st, &t1, &snap), DPT_OK);
    for (int i = 0; i < 50; i++)
        make_trace(&sp, 2, "noise");
    assert_int_equal(dpt_trace_snapshot_count(snap), 3);
    assert_string_equal(dpt_trace_snapshot_span(snap, 2)->name, "kept-by-snapshot");
    dpt_trace_snapshot_free(snap);
    sprov_free(&sp);
}

static void test_store_stays_inside_its_byte_bound_for_a_million_spans(void **state)
{
    (void)state;
    const size_t max_bytes = 4u << 20;
    sprov sp = sprov_new(1000000, max_bytes);
    char val[300];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = 0;
    dpt_store_stats st;
    for (int i = 0; i < 1000000; i++) {
        dpt_span s =
            dpt_span_start(sp.t, "s", DPT_SPAN_INTERNAL, &(dpt_span_opts){.root = (i % 10) == 0});
        if (i % 7 == 0) dpt_span_set_str(s, "big", val); /* some spans overflow the inline arena */
        dpt_span_end(s);
        if (i % 100000 == 0) {
            dpt_store_get_stats(sp.st, &st);
            assert_true(st.bytes <= max_bytes);
        }
    }
    dpt_store_get_stats(sp.st, &st);
    assert_true(st.bytes <= max_bytes);
    assert_true(st.evicted_spans > 900000);
    assert_int_equal(st.spans + st.evicted_spans + st.rejected_spans, 1000000);
    sprov_free(&sp);
}

static void test_oversized_span_is_rejected_and_counted(void **state)
{
    (void)state;
    sprov sp = sprov_new(100, 2048);
    dpt_span s = dpt_span_start(sp.t, "huge", DPT_SPAN_INTERNAL, NULL);
    static char val[10000];
    memset(val, 'x', sizeof val - 1);
    dpt_span_set_str(s, "v", val);
    dpt_span_end(s);
    dpt_store_stats st;
    dpt_store_get_stats(sp.st, &st);
    assert_int_equal(st.rejected_spans, 1);
    assert_int_equal(st.spans, 0);
    sprov_free(&sp);
}

static void test_trace_json_has_the_documented_shape(void **state)
{
    (void)state;
    sprov sp = sprov_new(100, 0);
    dpt_span root = dpt_span_start(sp.t, "GET /orders/{id}", DPT_SPAN_SERVER,
                                   &(dpt_span_opts){.start_ns = 1764102863123456789ull});
    dpt_span_set_str(root, "note", "quote\" back\\ nl\n ctl\x01 bad\xff");
    dpt_span_set_int(root, "http.response.status_code", 200);
    dpt_span_add_event(root, "cache.miss", NULL, 0);
    dpt_span_set_status(root, DPT_STATUS_ERROR, "upstream timeout");
    dpt_trace_id id = dpt_span_get_context(root).trace_id;
    dpt_span_end_at(root, 1764102863223456789ull);
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(dpt_store_get_trace_json(sp.st, &id, &json, &len), DPT_OK);
    assert_int_equal(strlen(json), len);
    char hex[33];
    dpt_trace_id_to_hex(&id, hex);
    assert_non_null(strstr(json, hex));
    assert_non_null(strstr(json, "\"name\":\"GET /orders/{id}\""));
    assert_non_null(strstr(json, "\"kind\":\"server\""));
    assert_non_null(strstr(json, "\"start_time\":\"2025-11-25T20:34:23.123456789Z\""));
    assert_non_null(strstr(json, "\"duration_ns\":100000000"));
    assert_non_null(strstr(json, "\"parent_span_id\":null"));
    assert_non_null(strstr(json, "\"http.response.status_code\":200"));
    assert_non_null(strstr(json, "quote\\\" back\\\\ nl\\n ctl\\u0001 bad\xEF\xBF\xBD"));
    assert_non_null(
        strstr(json, "\"status\":{\"code\":\"ERROR\",\"message\":\"upstream timeout\"}"));
    assert_non_null(strstr(json, "\"service.name\":\"store-test\""));
    dpt_free(json);
    dpt_trace_id none = dpt_trace_id_generate();
    assert_int_equal(dpt_store_get_trace_json(sp.st, &none, &json, &len), DPT_ENOTFOUND);
    /* export one trace through an exporter */
    dpt_exporter *mem = dpt_exporter_memory(10);
    assert_int_equal(dpt_store_export_trace(sp.st, &id, mem), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(mem), 1);
    dpt_exporter_free(mem);
    sprov_free(&sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_returns_a_whole_trace),
        cmocka_unit_test(test_store_evicts_oldest_whole_traces),
        cmocka_unit_test(test_snapshot_stays_valid_after_eviction),
        cmocka_unit_test(test_store_stays_inside_its_byte_bound_for_a_million_spans),
        cmocka_unit_test(test_oversized_span_is_rejected_and_counted),
        cmocka_unit_test(test_trace_json_has_the_documented_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
