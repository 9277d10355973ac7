/* test_mt_batch.c - several threads end spans into one batch processor while others
 * flush; every span is accounted for. Run under ThreadSanitizer too (label tsan). */
#include "test_util.h"

#include <pthread.h>

#define THREADS 4
#define PER_THREAD 20000

static dpt_provider *prov;
static dpt_tracer *tracer;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        dpt_span s = dpt_span_start(tracer, "s", DPT_SPAN_INTERNAL, NULL);
        dpt_span_set_int(s, "i", i);
        dpt_span_end(s);
        if (i % 5000 == 0) dpt_provider_force_flush(prov, 5000);
    }
    return NULL;
}

static void test_producers_and_flushers_account_for_every_span(void **state)
{
    (void)state;
    dpt_exporter *mem = dpt_exporter_memory(THREADS * PER_THREAD);
    dpt_batch_config cfg = {.max_queue_size = 1024,
                            .max_export_batch_size = 128,
                            .schedule_delay_ms = 5,
                            .export_timeout_ms = 1000};
    dpt_processor *proc = dpt_processor_batch(mem, &cfg);
    dpt_provider_config c = {
        .sampler = dpt_sampler_always_on(), .processors = &proc, .n_processors = 1};
    assert_non_null((prov = dpt_provider_new(&c)));
    tracer = dpt_provider_get_tracer(prov, "mt", NULL);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, producer, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(dpt_provider_shutdown(prov, 10000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(prov, &st);
    assert_int_equal(st.spans_ended, THREADS * PER_THREAD);
    assert_int_equal(st.spans_exported + st.spans_dropped_queue + st.spans_export_failed,
                     st.spans_ended);
    assert_int_equal(dpt_exporter_memory_count(mem), st.spans_exported);
    assert_true(st.spans_exported > 0);
    dpt_provider_free(prov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producers_and_flushers_account_for_every_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
