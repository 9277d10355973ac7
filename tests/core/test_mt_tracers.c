/* test_mt_tracers.c - TracerProvider and Tracer used from several threads at once (trace
 * api.md: "TracerProvider - all methods MUST be documented that implementations need to be
 * safe for concurrent use by default"; the same for Tracer): tracers are looked up and
 * created with scopes (attributes, schema URL) while spans start and end through them, and
 * every thread gets the same tracer for the same scope. Run under ThreadSanitizer. */
#include "test_util.h"

#include <pthread.h>

#define THREADS 4
#define ROUNDS 2000

static dpt_provider *prov;
static dpt_tracer *seen[THREADS][8];

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int k = i % 8;
        char name[16];
        snprintf(name, sizeof name, "lib%d", k);
        dpt_attr a[] = {DPT_INT("shard", k)};
        dpt_tracer *t = dpt_provider_get_tracer_opts(
            prov, name,
            &(dpt_tracer_opts){
                .version = "1", .schema_url = "https://example.com/s", .attrs = a, .n_attrs = 1});
        if (seen[me][k] && seen[me][k] != t) return (void *)1;
        seen[me][k] = t;
        dpt_span s = dpt_span_start(t, "op", DPT_SPAN_INTERNAL, NULL);
        dpt_span_set_int(s, "i", i);
        dpt_span_end(s);
        if (i % 500 == 0) dpt_provider_force_flush(prov, 1000);
    }
    return NULL;
}

static void test_tracers_and_spans_from_several_threads(void **state)
{
    (void)state;
    dpt_exporter *mem = dpt_exporter_memory(THREADS * ROUNDS);
    dpt_processor *proc = dpt_processor_batch(mem, NULL);
    prov = dpt_provider_new(&(dpt_provider_config){.processors = &proc, .n_processors = 1});
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    for (int k = 0; k < 8; k++)
        for (int i = 1; i < THREADS; i++)
            assert_ptr_equal(seen[i][k], seen[0][k]); /* one tracer per scope */
    assert_int_equal(dpt_provider_force_flush(prov, 10000), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(mem), THREADS * ROUNDS);
    dpt_provider_free(prov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tracers_and_spans_from_several_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
