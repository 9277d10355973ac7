/* test_mt_batch_hiccup.c - the batch processor when its export thread does not run for a
 * while (descheduled on a busy machine), simulated with a test hook that holds the thread.
 * dptrace's own choice (dpt_batch_config, docs/configuration.md): with the default settings
 * a full hand-off ring does not drop; spans are kept in compact form within
 * max_queue_bytes (32 MiB) and exported when the thread runs again; only spans beyond the
 * budget are dropped, and every one of them is counted. The tests assert counts and
 * contents, never timing.
 */
#include "test_util.h"
#include "processor.h"

#include <pthread.h>

static _Atomic uint64_t seen, bad;

/* Checks every span it is given (the bench's span shape), keeps nothing. */
static dpt_err check_export(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    for (size_t i = 0; i < n; i++) {
        const dpt_span_data *d = s[i];
        const dpt_attr *m = find_attr(d, "http.request.method");
        const dpt_attr *c = find_attr(d, "http.response.status_code");
        bool ok = d->name_len == 16 && memcmp(d->name, "GET /orders/{id}", 17) == 0 &&
                  d->n_attrs == 2 && m && m->value.type == DPT_VAL_STRING && m->value.len == 3 &&
                  strcmp(m->value.u.s, "GET") == 0 && c && c->value.type == DPT_VAL_INT &&
                  c->value.u.i == 200 && d->end_ns >= d->start_ns &&
                  dpt_span_context_is_valid(&d->ctx);
        if (!ok) atomic_fetch_add(&bad, 1);
    }
    atomic_fetch_add(&seen, n);
    return DPT_OK;
}

static void spans(dpt_tracer *t, int n)
{
    for (int i = 0; i < n; i++) {
        dpt_span s = dpt_span_start(t, "GET /orders/{id}", DPT_SPAN_SERVER, NULL);
        dpt_span_set_str(s, "http.request.method", "GET");
        dpt_span_set_int(s, "http.response.status_code", 200);
        dpt_span_end(s);
    }
}

/* 100,000 spans: what one producer at the bench's full speed (about 10 M spans/s) ends in
 * the 10 ms the export thread is away. */
#define HICCUP_SPANS 100000

static void test_a_held_export_thread_loses_nothing_with_the_defaults(void **state)
{
    (void)state;
    static const dpt_exporter_ops ops = {check_export, NULL, NULL, NULL};
    atomic_store(&seen, 0);
    atomic_store(&bad, 0);
    dpt_processor *proc;
    dpt_provider *p = batch_provider(dpt_exporter_new(&ops, NULL), NULL, &proc);
    dpt_tracer *t = dpt_provider_get_tracer(p, "hiccup", NULL);
    dpt__batch_test_hold(proc, true);
    spans(t, HICCUP_SPANS);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_ended, HICCUP_SPANS);
    assert_int_equal(st.spans_dropped_queue, 0);
    assert_int_equal(atomic_load(&seen), 0); /* held: nothing went out yet */
    dpt__batch_test_hold(proc, false);
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, HICCUP_SPANS);
    assert_int_equal(st.spans_dropped_queue, 0);
    assert_int_equal(atomic_load(&seen), HICCUP_SPANS);
    assert_int_equal(atomic_load(&bad), 0); /* staged spans come back whole */
    dpt_provider_free(p);
}

/* Two threads at once, each with its own lane: the same, for both. */
static dpt_tracer *g_t;
static void *producer(void *arg)
{
    (void)arg;
    spans(g_t, HICCUP_SPANS / 2);
    return NULL;
}

static void test_two_producers_with_a_held_export_thread_lose_nothing(void **state)
{
    (void)state;
    static const dpt_exporter_ops ops = {check_export, NULL, NULL, NULL};
    atomic_store(&seen, 0);
    atomic_store(&bad, 0);
    dpt_processor *proc;
    dpt_provider *p = batch_provider(dpt_exporter_new(&ops, NULL), NULL, &proc);
    g_t = dpt_provider_get_tracer(p, "hiccup", NULL);
    dpt__batch_test_hold(proc, true);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, producer, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    dpt__batch_test_hold(proc, false);
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_ended, HICCUP_SPANS);
    assert_int_equal(st.spans_dropped_queue, 0);
    assert_int_equal(st.spans_exported, HICCUP_SPANS);
    assert_int_equal(atomic_load(&bad), 0);
    dpt_provider_free(p);
}

/* Records rebuilt from staged copies (on the export thread) go back to the pool of the
 * thread that lets them go last, and are started again: a start leaves a record's status,
 * events, links and drop counts alone when its `clean` flag says they hold their start
 * values (pool.h), and the staging reader clears that flag as it writes them. Here the
 * memory exporter keeps the rebuilt records and this thread releases them (clear), so its
 * next spans start on them. A span that sets none of those fields must come out with none
 * (OpenTelemetry: a span's status is Unset unless set, trace/api.md "Set Status"). */
static void test_records_rebuilt_from_staging_start_clean(void **state)
{
    (void)state;
    dpt_exporter *mem = dpt_exporter_memory(100000);
    dpt_processor *proc;
    dpt_provider *p = batch_provider(mem, NULL, &proc);
    dpt_tracer *t = dpt_provider_get_tracer(p, "clean", NULL);
    dpt_link lc = {0};
    lc.ctx.trace_id = dpt_trace_id_generate();
    lc.ctx.span_id = dpt_span_id_generate();
    for (int round = 0; round < 4; round++) {
        /* Held: past the ring (2048), these are staged, then rebuilt by the export thread
         * into records of its own. */
        dpt__batch_test_hold(proc, true);
        for (int i = 0; i < 6000; i++) {
            dpt_span s = dpt_span_start(t, "dirty", DPT_SPAN_INTERNAL, NULL);
            dpt_span_set_status(s, DPT_STATUS_ERROR, "boom");
            dpt_span_add_event(s, "ev", NULL, 0);
            dpt_span_add_link(s, &lc);
            dpt_span_end(s);
        }
        dpt__batch_test_hold(proc, false);
        assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
        assert_int_equal(dpt_exporter_memory_count(mem), 6000);
        dpt_exporter_memory_clear(mem); /* the last references: into this thread's pool */
        for (int i = 0; i < 6000; i++) {
            dpt_span s = dpt_span_start(t, "plain", DPT_SPAN_INTERNAL, NULL);
            dpt_span_end(s);
        }
        assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
        size_t n = dpt_exporter_memory_count(mem), dirty = 0;
        assert_int_equal(n, 6000);
        for (size_t i = 0; i < n; i++) {
            const dpt_span_data *d = dpt_exporter_memory_get(mem, i);
            assert_string_equal(d->name, "plain");
            if (d->status != DPT_STATUS_UNSET || d->status_msg_len || d->n_events || d->n_links ||
                d->dropped_attrs || d->dropped_events || d->dropped_links)
                dirty++;
            dpt_span_data_release(d);
        }
        assert_int_equal(dirty, 0);
        dpt_exporter_memory_clear(mem);
    }
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_dropped_queue, 0);
    dpt_provider_free(p);
}

/* Beyond the byte budget spans are dropped, each one counted: ended == exported + dropped. */
static void test_spans_beyond_the_byte_budget_are_dropped_and_counted(void **state)
{
    (void)state;
    static const dpt_exporter_ops ops = {check_export, NULL, NULL, NULL};
    atomic_store(&seen, 0);
    atomic_store(&bad, 0);
    dpt_batch_config cfg;
    dpt_batch_config_default(&cfg);
    cfg.max_queue_size = 64;
    cfg.max_queue_bytes = 1u << 20;
    dpt_processor *proc;
    dpt_provider *p = batch_provider(dpt_exporter_new(&ops, NULL), &cfg, &proc);
    dpt_tracer *t = dpt_provider_get_tracer(p, "hiccup", NULL);
    dpt__batch_test_hold(proc, true);
    spans(t, HICCUP_SPANS);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    /* 1 MiB holds fewer than 100,000 compact copies of ~130 bytes */
    assert_true(st.spans_dropped_queue > 0);
    assert_true(st.spans_dropped_queue < HICCUP_SPANS);
    dpt__batch_test_hold(proc, false);
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported + st.spans_dropped_queue + st.spans_export_failed,
                     HICCUP_SPANS);
    assert_int_equal(atomic_load(&seen), st.spans_exported);
    assert_int_equal(atomic_load(&bad), 0);
    dpt_provider_free(p);
}

/* A span staged compactly comes back with every field it had: values of every type,
 * events and links with their attributes, status, parent, tracestate, drop counts. */
static void test_staged_spans_keep_every_field(void **state)
{
    (void)state;
    dpt_exporter *mem = dpt_exporter_memory(1000);
    dpt_batch_config cfg;
    dpt_batch_config_default(&cfg);
    cfg.max_queue_size = 4; /* a tiny ring: nearly every span is staged */
    cfg.max_export_batch_size = 4;
    dpt_processor *proc;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.attr_count = 12;
    proc = dpt_processor_batch(mem, &cfg);
    dpt_provider_config c = {
        .sampler = dpt_sampler_always_on(), .processors = &proc, .n_processors = 1, .limits = &lim};
    dpt_provider *p = dpt_provider_new(&c);
    assert_non_null(p);
    dpt_tracer *t = dpt_provider_get_tracer(p, "staged", "2.0");
    dpt_tracestate *ts;
    assert_int_equal(dpt_tracestate_parse("vendor=abc,other=x", DPT_NUL, &ts), DPT_OK);
    dpt_span_context rc = {.flags = DPT_FLAG_SAMPLED, .remote = true};
    rc.trace_id = dpt_trace_id_generate();
    rc.span_id = dpt_span_id_generate();
    dpt_context *parent = dpt_context_new(&rc, ts, NULL);
    dpt__batch_test_hold(proc, true);
    const char *sa[] = {"a", "bb", ""};
    bool ba[] = {true, false};
    int64_t ia[] = {-1, 0, 1 << 30};
    double da[] = {0.5, -2.25};
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        dpt_span s =
            dpt_span_start(t, "staged-span", DPT_SPAN_CLIENT, &(dpt_span_opts){.parent = parent});
        char dyn_key[32];
        snprintf(dyn_key, sizeof dyn_key, "dyn.%d", i); /* a key not interned */
        dpt_span_set_int(s, dyn_key, i);
        dpt_span_set_str(s, "s", "string value");
        dpt_span_set_bool(s, "b", true);
        dpt_span_set_double(s, "d", 1.5);
        dpt_attr arr[] = {DPT_STR_ARRAY("sa", sa, 3), DPT_BOOL_ARRAY("ba", ba, 2),
                          DPT_INT_ARRAY("ia", ia, 3), DPT_DOUBLE_ARRAY("da", da, 2)};
        dpt_span_set_attrs(s, arr, 4);
        for (int k = 0; k < 6; k++)
            dpt_span_set_int(s, "over", k); /* overwritten in place */
        dpt_span_add_event(s, "ev", (dpt_attr[]){DPT_STR("ek", "ev"), DPT_INT("en", 7)}, 2);
        dpt_span_add_link(s, &(dpt_link){.ctx = rc,
                                         .tracestate = "l=1",
                                         .tracestate_len = DPT_NUL,
                                         .attrs = (dpt_attr[]){DPT_BOOL("lk", false)},
                                         .n_attrs = 1});
        dpt_span_set_status(s, DPT_STATUS_ERROR, "it broke");
        /* 9 attributes so far; the limit (12) takes 3 more, the other 2 are dropped and
         * counted in the span */
        for (int k = 0; k < 5; k++) {
            char key[16];
            snprintf(key, sizeof key, "extra.%d", k);
            dpt_span_set_int(s, key, k);
        }
        dpt_span_end(s);
    }
    dpt__batch_test_hold(proc, false);
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(mem), N);
    for (int i = 0; i < N; i++) {
        const dpt_span_data *d = dpt_exporter_memory_get(mem, (size_t)i);
        assert_string_equal(d->name, "staged-span");
        assert_int_equal(d->kind, DPT_SPAN_CLIENT);
        assert_memory_equal(d->ctx.trace_id.b, rc.trace_id.b, 16);
        assert_memory_equal(d->parent_span_id.b, rc.span_id.b, 8);
        assert_true(d->parent_remote);
        assert_string_equal(d->tracestate, "vendor=abc,other=x");
        assert_string_equal(dpt_tracer_name(d->tracer), "staged");
        assert_int_equal(d->status, DPT_STATUS_ERROR);
        assert_string_equal(d->status_msg, "it broke");
        assert_int_equal(d->n_attrs, 12);
        assert_int_equal(d->dropped_attrs, 2);
        const dpt_attr *a = find_attr(d, "s");
        assert_non_null(a);
        assert_string_equal(a->value.u.s, "string value");
        assert_true(find_attr(d, "b")->value.u.b);
        assert_true(find_attr(d, "d")->value.u.d == 1.5);
        char dyn_key[32];
        snprintf(dyn_key, sizeof dyn_key, "dyn.%d", i);
        assert_int_equal(find_attr(d, dyn_key)->value.u.i, i);
        a = find_attr(d, "sa");
        assert_int_equal(a->value.type, DPT_VAL_STRING_ARRAY);
        assert_int_equal(a->value.len, 3);
        assert_string_equal(a->value.u.sa[1], "bb");
        assert_string_equal(a->value.u.sa[2], "");
        a = find_attr(d, "ba");
        assert_true(a->value.u.ba[0] && !a->value.u.ba[1]);
        a = find_attr(d, "ia");
        assert_true(a->value.u.ia[0] == -1 && a->value.u.ia[2] == (1 << 30));
        a = find_attr(d, "da");
        assert_true(a->value.u.da[1] == -2.25);
        assert_int_equal(find_attr(d, "over")->value.u.i, 5);
        assert_int_equal(d->n_events, 1);
        assert_string_equal(d->events[0].name, "ev");
        assert_int_equal(d->events[0].n_attrs, 2);
        assert_string_equal(d->events[0].attrs[0].value.u.s, "ev");
        assert_int_equal(d->events[0].attrs[1].value.u.i, 7);
        assert_int_equal(d->n_links, 1);
        assert_string_equal(d->links[0].tracestate, "l=1");
        assert_int_equal(d->links[0].n_attrs, 1);
        assert_false(d->links[0].attrs[0].value.u.b);
        assert_memory_equal(d->links[0].ctx.span_id.b, rc.span_id.b, 8);
        dpt_span_data_release(d);
    }
    dpt_context_release(parent);
    dpt_tracestate_release(ts);
    dpt_provider_free(p);
}

/* Many short-lived threads, each with its own lane: one force_flush exports what all of
 * them ended ("ForceFlush ... export all ended spans": OpenTelemetry SDK, Span processor),
 * also when the lanes outnumber what one pass of the export thread visits. */
static dpt_tracer *g_short;
static void *short_lived(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        dpt_span_end(dpt_span_start(g_short, "short", DPT_SPAN_INTERNAL, NULL));
    return NULL;
}

static void test_flush_exports_the_spans_of_many_exited_threads(void **state)
{
    (void)state;
    dpt_exporter *mem = dpt_exporter_memory(10000);
    dpt_batch_config cfg;
    dpt_batch_config_default(&cfg);
    cfg.schedule_delay_ms = 60000; /* only the flush exports */
    dpt_processor *proc;
    dpt_provider *p = batch_provider(mem, &cfg, &proc);
    g_short = dpt_provider_get_tracer(p, "short", NULL);
    enum { THREADS = 300 };
    for (int i = 0; i < THREADS; i++) {
        pthread_t th;
        pthread_create(&th, NULL, short_lived, NULL);
        pthread_join(th, NULL);
    }
    assert_int_equal(dpt_provider_force_flush(p, 30000), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(mem), THREADS * 3);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, THREADS * 3);
    dpt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_held_export_thread_loses_nothing_with_the_defaults),
        cmocka_unit_test(test_two_producers_with_a_held_export_thread_lose_nothing),
        cmocka_unit_test(test_records_rebuilt_from_staging_start_clean),
        cmocka_unit_test(test_spans_beyond_the_byte_budget_are_dropped_and_counted),
        cmocka_unit_test(test_staged_spans_keep_every_field),
        cmocka_unit_test(test_flush_exports_the_spans_of_many_exited_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
