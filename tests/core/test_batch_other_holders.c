/* test_batch_other_holders.c - a batch processor next to other processors that keep the
 * finished record (a trace store, a memory exporter behind a simple processor): when the
 * batch queue's ring is full and it keeps a compact copy instead (staging), the record
 * must stay alive for the others. It used to be recycled there at once, whoever else held
 * it: the store kept a record that the next span reused, its chain looped and the next
 * eviction spun forever (the Python module's default pipeline, batch + store, hung its
 * caller or crashed), and a memory exporter read other spans' data. The export thread is
 * held with the test hook so that the ring fills whatever the machine's speed.
 * dptrace's own rule (docs/api.md: processors may keep records with dpt_span_data_retain;
 * docs/reliability.md: never a hang of the caller).
 */
#include "test_util.h"
#include "processor.h"

#include <unistd.h>

#define N_SPANS 20000 /* well past the default ring (2,048) */
#define STORE_SPANS 1000

static dpt_err discard(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    (void)s;
    (void)n;
    return DPT_OK;
}

static dpt_trace_id ids[N_SPANS];

static void end_numbered_spans(dpt_tracer *t)
{
    for (int i = 0; i < N_SPANS; i++) {
        dpt_span s = dpt_span_start(t, "numbered", DPT_SPAN_INTERNAL, NULL);
        dpt_span_set_int(s, "i", i);
        ids[i] = dpt_span_get_context(s).trace_id;
        dpt_span_end(s);
    }
}

static int64_t attr_i(const dpt_span_data *d)
{
    const dpt_attr *a = find_attr(d, "i");
    return a && a->value.type == DPT_VAL_INT ? a->value.u.i : -1;
}

static void test_a_store_keeps_its_records_while_the_queue_stages(void **state)
{
    (void)state;
    static const dpt_exporter_ops ops = {discard, NULL, NULL, NULL};
    dpt_processor *bp = dpt_processor_batch(dpt_exporter_new(&ops, NULL), NULL);
    dpt_store_config sc = {.max_spans = STORE_SPANS, .max_bytes = 64u << 20};
    dpt_store *st = dpt_store_new(&sc);
    dpt_processor *procs[2] = {bp, dpt_processor_store(st)};
    dpt_provider_config c = {
        .sampler = dpt_sampler_always_on(), .processors = procs, .n_processors = 2};
    dpt_provider *p = dpt_provider_new(&c);
    assert_non_null(p);
    dpt__batch_test_hold(bp, true); /* the ring fills, the rest is staged */
    end_numbered_spans(dpt_provider_get_tracer(p, "holders", NULL));
    dpt__batch_test_hold(bp, false);
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    /* The store holds the last STORE_SPANS spans, each still its own. */
    dpt_store_stats ss;
    dpt_store_get_stats(st, &ss);
    assert_int_equal(ss.spans, STORE_SPANS);
    for (int i = N_SPANS - STORE_SPANS; i < N_SPANS; i++) {
        dpt_trace_snapshot *snap = NULL;
        assert_int_equal(dpt_store_get_trace(st, &ids[i], &snap), DPT_OK);
        assert_int_equal(dpt_trace_snapshot_count(snap), 1);
        const dpt_span_data *d = dpt_trace_snapshot_span(snap, 0);
        assert_memory_equal(d->ctx.trace_id.b, ids[i].b, 16);
        assert_int_equal(attr_i(d), i);
        dpt_trace_snapshot_free(snap);
    }
    dpt_stats s;
    dpt_provider_get_stats(p, &s);
    assert_int_equal(s.spans_ended, N_SPANS);
    assert_int_equal(s.spans_exported + s.spans_dropped_queue + s.spans_export_failed, N_SPANS);
    dpt_provider_free(p);
    dpt_store_free(st);
}

static void test_a_memory_exporter_keeps_its_records_while_the_queue_stages(void **state)
{
    (void)state;
    static const dpt_exporter_ops ops = {discard, NULL, NULL, NULL};
    dpt_processor *bp = dpt_processor_batch(dpt_exporter_new(&ops, NULL), NULL);
    dpt_exporter *mem = dpt_exporter_memory(N_SPANS);
    dpt_processor *procs[2] = {bp, dpt_processor_simple(mem)};
    dpt_provider_config c = {
        .sampler = dpt_sampler_always_on(), .processors = procs, .n_processors = 2};
    dpt_provider *p = dpt_provider_new(&c);
    assert_non_null(p);
    dpt__batch_test_hold(bp, true);
    end_numbered_spans(dpt_provider_get_tracer(p, "holders", NULL));
    dpt__batch_test_hold(bp, false);
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(mem), N_SPANS);
    for (size_t i = 0; i < N_SPANS; i++) {
        const dpt_span_data *d = dpt_exporter_memory_get(mem, i);
        assert_non_null(d);
        if (attr_i(d) != (int64_t)i || memcmp(d->ctx.trace_id.b, ids[i].b, 16) != 0)
            fail_msg("span %zu came back as span %lld", i, (long long)attr_i(d));
        dpt_span_data_release(d);
    }
    dpt_provider_free(p);
}

int main(void)
{
    alarm(120); /* the broken code spun forever: fail, do not hang the suite */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_store_keeps_its_records_while_the_queue_stages),
        cmocka_unit_test(test_a_memory_exporter_keeps_its_records_while_the_queue_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
