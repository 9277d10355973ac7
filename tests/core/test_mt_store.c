/* test_mt_store.c - 8 threads end spans into one store while another thread reads whole
 * traces; run under ThreadSanitizer too (label tsan). */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define WRITERS 8
#define TRACES_PER_WRITER 300
#define SPANS_PER_TRACE 5

static dpt_provider *prov;
static dpt_tracer *tracer;
static dpt_store *store;
static dpt_trace_id ids[WRITERS][TRACES_PER_WRITER];
static _Atomic int writers_done;
static _Atomic int published[WRITERS]; /* ids[w][0..published[w]) are ready to read */

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int i = 0; i < TRACES_PER_WRITER; i++) {
        dpt_span root =
            dpt_span_start(tracer, "root", DPT_SPAN_SERVER, &(dpt_span_opts){.root = true});
        ids[w][i] = dpt_span_get_context(root).trace_id;
        dpt_token tok = dpt_span_make_current(root);
        for (int k = 1; k < SPANS_PER_TRACE; k++) {
            DPT_WITH_SPAN(tracer, "child", DPT_SPAN_INTERNAL)
            {
                dpt_span_set_int(dpt_span_current(), "k", k);
            }
        }
        dpt_context_detach(tok);
        dpt_span_end(root);
        /* Release: the reader that sees the new count sees ids[w][i]. */
        atomic_store_explicit(&published[w], i + 1, memory_order_release);
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static _Atomic long snapshots_checked;

static void *reader(void *arg)
{
    (void)arg;
    for (;;) {
        /* one more full pass after the writers finished, so the reader always checks */
        bool last = atomic_load(&writers_done) == WRITERS;
        for (int w = 0; w < WRITERS; w++) {
            int ready = atomic_load_explicit(&published[w], memory_order_acquire);
            for (int i = 0; i < ready; i += 7) {
                dpt_trace_snapshot *snap;
                dpt_trace_id id = ids[w][i];
                /* a published trace is complete and nothing is evicted: it must be whole */
                assert_int_equal(dpt_store_get_trace(store, &id, &snap), DPT_OK);
                size_t n = dpt_trace_snapshot_count(snap);
                assert_int_equal(n, SPANS_PER_TRACE);
                for (size_t k = 0; k < n; k++) {
                    const dpt_span_data *d = dpt_trace_snapshot_span(snap, k);
                    assert_memory_equal(d->ctx.trace_id.b, id.b, 16);
                }
                char *json;
                size_t len;
                assert_int_equal(dpt_trace_snapshot_to_json(snap, &json, &len), DPT_OK);
                dpt_free(json);
                dpt_trace_snapshot_free(snap);
                atomic_fetch_add(&snapshots_checked, 1);
            }
        }
        if (last) break;
    }
    return NULL;
}

static void test_concurrent_writers_and_a_reader_keep_traces_whole(void **state)
{
    (void)state;
    store = dpt_store_new(&(dpt_store_config){.max_spans = 100000, .max_bytes = 256u << 20});
    dpt_processor *proc = dpt_processor_store(store);
    dpt_provider_config cfg = {
        .sampler = dpt_sampler_always_on(), .processors = &proc, .n_processors = 1};
    assert_non_null((prov = dpt_provider_new(&cfg)));
    tracer = dpt_provider_get_tracer(prov, "mt", NULL);
    pthread_t th[WRITERS], rd;
    pthread_create(&rd, NULL, reader, NULL);
    for (int w = 0; w < WRITERS; w++)
        pthread_create(&th[w], NULL, writer, (void *)(intptr_t)w);
    for (int w = 0; w < WRITERS; w++)
        pthread_join(th[w], NULL);
    pthread_join(rd, NULL);
    assert_true(atomic_load(&snapshots_checked) > 0);
    dpt_store_stats st;
    dpt_store_get_stats(store, &st);
    assert_int_equal(st.spans, WRITERS * TRACES_PER_WRITER * SPANS_PER_TRACE);
    assert_int_equal(st.traces, WRITERS * TRACES_PER_WRITER);
    for (int w = 0; w < WRITERS; w++) {
        for (int i = 0; i < TRACES_PER_WRITER; i++) {
            dpt_trace_snapshot *snap;
            assert_int_equal(dpt_store_get_trace(store, &ids[w][i], &snap), DPT_OK);
            assert_int_equal(dpt_trace_snapshot_count(snap), SPANS_PER_TRACE);
            dpt_trace_snapshot_free(snap);
        }
    }
    dpt_stats ps;
    dpt_provider_get_stats(prov, &ps);
    assert_int_equal(ps.spans_ended, WRITERS * TRACES_PER_WRITER * SPANS_PER_TRACE);
    dpt_provider_free(prov);
    dpt_store_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_writers_and_a_reader_keep_traces_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
