/* test_mt_exit.c - shutdown safety: from inside an exporter (simple and batch), twice,
 * and from two threads at once. Runs under ThreadSanitizer too (label tsan). */
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static dpt_provider *prov;
static dpt_tracer *tracer;

static _Atomic int reentrant_calls;
static dpt_err shutting_export(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    (void)s;
    (void)n;
    if (atomic_fetch_add(&reentrant_calls, 1) == 0) {
        /* an exporter that decides to shut everything down: must not deadlock */
        dpt_provider_force_flush(prov, 1000);
        dpt_provider_shutdown(prov, 1000);
    }
    return DPT_OK;
}

static void test_shutdown_from_inside_an_exporter(void **state)
{
    (void)state;
    static const dpt_exporter_ops ops = {shutting_export, NULL, NULL, NULL};
    for (int kind = 0; kind < 2; kind++) {
        atomic_store(&reentrant_calls, 0);
        dpt_exporter *e = dpt_exporter_new(&ops, NULL);
        dpt_processor *proc = kind ? dpt_processor_batch(e, NULL) : dpt_processor_simple(e);
        dpt_provider_config c = {
            .sampler = dpt_sampler_always_on(), .processors = &proc, .n_processors = 1};
        assert_non_null((prov = dpt_provider_new(&c)));
        tracer = dpt_provider_get_tracer(prov, "x", NULL);
        for (int i = 0; i < 10; i++)
            dpt_span_end(dpt_span_start(tracer, "s", DPT_SPAN_INTERNAL, NULL));
        dpt_provider_force_flush(prov, 2000);
        assert_true(atomic_load(&reentrant_calls) >= 1);
        assert_int_equal(dpt_provider_shutdown(prov, 1000), DPT_ESTATE); /* already shut down */
        dpt_span s = dpt_span_start(tracer, "after", DPT_SPAN_INTERNAL, NULL);
        assert_false(dpt_span_is_recording(s));
        dpt_provider_free(prov);
    }
}

static _Atomic int shutdown_ok;
static void *shut(void *arg)
{
    (void)arg;
    if (dpt_provider_shutdown(prov, 5000) == DPT_OK) atomic_fetch_add(&shutdown_ok, 1);
    return NULL;
}

static void test_shutdown_from_two_threads_wins_once(void **state)
{
    (void)state;
    dpt_processor *proc = dpt_processor_batch(dpt_exporter_memory(1000), NULL);
    dpt_provider_config c = {
        .sampler = dpt_sampler_always_on(), .processors = &proc, .n_processors = 1};
    assert_non_null((prov = dpt_provider_new(&c)));
    tracer = dpt_provider_get_tracer(prov, "x", NULL);
    for (int i = 0; i < 100; i++)
        dpt_span_end(dpt_span_start(tracer, "s", DPT_SPAN_INTERNAL, NULL));
    pthread_t a, b;
    pthread_create(&a, NULL, shut, NULL);
    pthread_create(&b, NULL, shut, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(atomic_load(&shutdown_ok), 1);
    dpt_stats st;
    dpt_provider_get_stats(prov, &st);
    assert_int_equal(st.spans_exported, 100);
    dpt_provider_free(prov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_from_inside_an_exporter),
        cmocka_unit_test(test_shutdown_from_two_threads_wins_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
