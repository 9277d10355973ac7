/* test_oom.c - allocation failure at every point: each public function of the core returns
 * an error or degrades to a no-op span; nothing crashes, nothing leaks (the ASan build runs
 * this with LeakSanitizer). The hook makes the (k+1)-th allocation and all later ones fail,
 * for k = 0, 1, 2, ... until the scenario completes without hitting a failure. */
#include "test_util.h"
#include "core.h"

static dpt_err noop_export(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    (void)s;
    (void)n;
    return DPT_OK;
}

/* One pass through everything; returns how many operations reported an error. */
static int scenario(void)
{
    int errors = 0;
    static const dpt_exporter_ops ops = {noop_export, NULL, NULL, NULL};
    dpt_store *st = dpt_store_new(NULL);
    dpt_processor *procs[3];
    size_t np = 0;
    dpt_processor *pr = dpt_processor_simple(dpt_exporter_new(&ops, NULL));
    if (pr) procs[np++] = pr;
    pr = dpt_processor_store(st);
    if (pr) procs[np++] = pr;
    pr = dpt_processor_batch(dpt_exporter_memory(100), NULL);
    if (pr) procs[np++] = pr;
    errors += (int)(3 - np);
    dpt_provider_config cfg = {.service_name = "oom",
                               .sampler = dpt_sampler_probability(1.0),
                               .resource_attrs = (dpt_attr[]){DPT_STR("k", "v")},
                               .n_resource_attrs = 1,
                               .processors = procs,
                               .n_processors = np};
    dpt_provider *p = NULL;
    if (!((p = dpt_provider_new(&cfg)))) errors++;
    dpt_tracer *t = dpt_provider_get_tracer(p, "oom", "1");
    dpt_baggage *bg = NULL;
    if (dpt_baggage_set(NULL, "tenant", "acme", "p=1", &bg) != DPT_OK) errors++;
    dpt_tracestate *ts = NULL;
    if (dpt_tracestate_parse("a=1,b=2", DPT_NUL, &ts) != DPT_OK) errors++;
    dpt_span_context sc = {.trace_id = dpt_trace_id_generate(),
                           .span_id = dpt_span_id_generate(),
                           .flags = DPT_FLAG_SAMPLED,
                           .remote = true};
    dpt_context *remote = dpt_context_new(&sc, ts, bg);
    if (!remote) errors++;
    dpt_token tok = dpt_context_attach(remote);
    dpt_trace_id tid = sc.trace_id;
    DPT_WITH_SPAN(t, "outer", DPT_SPAN_SERVER)
    {
        dpt_span s = dpt_span_current();
        char big[600];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        for (int i = 0; i < 20; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            if (dpt_span_set_str(s, key, big) != DPT_OK && dpt_span_is_recording(s)) errors++;
        }
        const char *arr[] = {"a", "b"};
        dpt_span_set_attr(s, &DPT_STR_ARRAY("arr", arr, 2));
        dpt_attr ea[] = {DPT_INT("n", 1)};
        dpt_span_add_event(s, "e", ea, 1);
        dpt_span_add_link(s,
                          &(dpt_link){.ctx = sc, .tracestate = "x=y", .tracestate_len = DPT_NUL});
        dpt_span_record_error(s, "E", "boom");
        dpt_context *cap = dpt_context_current();
        dpt_context_release(cap);
        DPT_WITH_SPAN(t, "inner", DPT_SPAN_CLIENT)
        {
            dpt_span_set_int(dpt_span_current(), "i", 1);
        }
    }
    dpt_context_detach(tok);
    char *json = NULL;
    if (dpt_store_get_trace_json(st, &tid, &json, NULL) != DPT_OK) errors++;
    dpt_free(json);
    dpt_trace_snapshot *snap = NULL;
    if (dpt_store_get_trace(st, &tid, &snap) == DPT_OK) dpt_trace_snapshot_free(snap);
    dpt_provider_force_flush(p, 1000);
    dpt_context_release(remote);
    dpt_tracestate_release(ts);
    dpt_baggage_release(bg);
    dpt_provider_free(p);
    dpt_store_free(st);
    return errors;
}

static void test_every_allocation_failure_is_survived(void **state)
{
    (void)state;
    /* first a clean run, to know the scenario works when memory is there */
    assert_int_equal(scenario(), 0);
    int k;
    for (k = 0; k < 2000; k++) {
        dpt__test_fail_alloc_after(k);
        uint64_t before = dpt__test_alloc_count();
        int errors = scenario();
        dpt__test_fail_alloc_after(-1);
        uint64_t used = dpt__test_alloc_count() - before;
        if (errors == 0 && used <= (uint64_t)k) break; /* no allocation failed any more */
        if (getenv("OOM_VERBOSE"))
            fprintf(stderr, "k=%d errors=%d used=%llu\n", k, errors, (unsigned long long)used);
    }
    assert_true(k < 2000);
    assert_true(k >= 20);            /* the scenario really went through many failure points */
    assert_int_equal(scenario(), 0); /* and everything still works afterwards */
}

int main(void)
{
    dpt_log_set_handler(NULL, NULL, DPT_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_failure_is_survived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
