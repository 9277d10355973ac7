/* test_processors.c - the multi processor fan-out, custom processors with on_start, the
 * console exporter's readable output, and the exporter/processor wrappers. */
#include "test_util.h"

typedef struct counting {
    int starts, ends, flushes, shutdowns, destroyed;
} counting;

static void c_start(void *st, const dpt_span_data *d)
{
    counting *c = st;
    assert_non_null(d->name);
    c->starts++;
}
static void c_end(void *st, const dpt_span_data *d)
{
    counting *c = st;
    assert_true(d->end_ns >= d->start_ns);
    c->ends++;
}
static dpt_err c_flush(void *st, uint32_t t)
{
    (void)t;
    ((counting *)st)->flushes++;
    return DPT_OK;
}
static dpt_err c_shutdown(void *st, uint32_t t)
{
    (void)t;
    ((counting *)st)->shutdowns++;
    return DPT_OK;
}
static void c_destroy(void *st)
{
    ((counting *)st)->destroyed++;
}

static void test_multi_processor_fans_out_every_call(void **state)
{
    (void)state;
    static const dpt_processor_ops ops = {c_start, c_end, c_flush, c_shutdown, c_destroy};
    counting a = {0}, b = {0};
    dpt_processor *procs[] = {dpt_processor_new(&ops, &a), dpt_processor_new(&ops, &b)};
    dpt_processor *multi = dpt_processor_multi(procs, 2);
    assert_non_null(multi);
    dpt_provider_config cfg = {
        .sampler = dpt_sampler_always_on(), .processors = &multi, .n_processors = 1};
    dpt_provider *p;
    assert_non_null((p = dpt_provider_new(&cfg)));
    dpt_tracer *t = dpt_provider_get_tracer(p, "m", NULL);
    for (int i = 0; i < 5; i++)
        dpt_span_end(dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL));
    assert_int_equal(dpt_provider_force_flush(p, 1000), DPT_OK);
    assert_int_equal(dpt_provider_shutdown(p, 1000), DPT_OK);
    dpt_provider_free(p);
    assert_int_equal(a.starts, 5);
    assert_int_equal(b.ends, 5);
    assert_int_equal(a.flushes, 1);
    assert_int_equal(b.shutdowns, 1);
    assert_int_equal(a.destroyed, 1);
    assert_int_equal(b.destroyed, 1);
}

static void test_console_exporter_prints_readable_spans(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    dpt_processor *proc = dpt_processor_simple(dpt_exporter_console(f));
    dpt_provider_config cfg = {
        .sampler = dpt_sampler_always_on(), .processors = &proc, .n_processors = 1};
    dpt_provider *p;
    assert_non_null((p = dpt_provider_new(&cfg)));
    dpt_tracer *t = dpt_provider_get_tracer(p, "c", NULL);
    dpt_span s = dpt_span_start(t, "GET /items", DPT_SPAN_SERVER, NULL);
    dpt_span_set_int(s, "http.response.status_code", 503);
    dpt_span_add_event(s, "retry", (dpt_attr[]){DPT_INT("attempt", 2)}, 1);
    dpt_span_set_status(s, DPT_STATUS_ERROR, "unavailable");
    dpt_span_context sc = dpt_span_get_context(s);
    dpt_span_end(s);
    dpt_provider_free(p);
    rewind(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    char hex[33];
    dpt_trace_id_to_hex(&sc.trace_id, hex);
    assert_non_null(strstr(buf, "span \"GET /items\" [server]"));
    assert_non_null(strstr(buf, "ERROR"));
    assert_non_null(strstr(buf, hex));
    assert_non_null(strstr(buf, "http.response.status_code = 503"));
    assert_non_null(strstr(buf, "event +"));
    assert_non_null(strstr(buf, "attempt=2"));
    assert_non_null(strstr(buf, "status: unavailable"));
}

static void test_exporters_and_processors_refuse_bad_construction(void **state)
{
    (void)state;
    static const dpt_exporter_ops no_export = {NULL, NULL, NULL, NULL};
    assert_null(dpt_exporter_new(&no_export, NULL));
    static const dpt_processor_ops no_end = {NULL, NULL, NULL, NULL, NULL};
    assert_null(dpt_processor_new(&no_end, NULL));
    assert_null(dpt_processor_multi(NULL, 2));
    dpt_processor *empty = dpt_processor_multi(NULL, 0);
    assert_non_null(empty);
    dpt_processor_free(empty);
    /* more than 8 processors is refused, and what was handed over is freed */
    counting c = {0};
    static const dpt_processor_ops ops = {NULL, c_end, NULL, NULL, c_destroy};
    dpt_provider *p;
    dpt_provider_config cfg = {0};
    assert_non_null((p = dpt_provider_new(&cfg)));
    for (int i = 0; i < 8; i++)
        assert_int_equal(dpt_provider_add_processor(p, dpt_processor_new(&ops, &c)), DPT_OK);
    assert_int_equal(dpt_provider_add_processor(p, dpt_processor_new(&ops, &c)), DPT_EFULL);
    assert_int_equal(c.destroyed, 1);
    dpt_provider_free(p);
    assert_int_equal(c.destroyed, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_processor_fans_out_every_call),
        cmocka_unit_test(test_console_exporter_prints_readable_spans),
        cmocka_unit_test(test_exporters_and_processors_refuse_bad_construction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
