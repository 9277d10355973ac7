/* test_compliance_rows.c - rows of the OpenTelemetry compliance matrix (docs/compliance.md)
 * that no other test showed on its own: links added after creation and their order, every
 * span limit variable, and the AlwaysRecord sampler. */
#include "test_util.h"

#include "dptrace/plugin.h"

/* trace/api.md, Specifying links: links "can be added at Span creation" and with AddLink
 * "after Span creation"; "the order of links [...] MUST be preserved" (dptrace reads the
 * latter from the ordered collection the SDK keeps, exported in order). */
static void test_links_after_creation_keep_their_order(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span_context ctx[3];
    for (int i = 0; i < 3; i++) {
        dpt_span o =
            dpt_span_start(tp.t, "other", DPT_SPAN_PRODUCER, &(dpt_span_opts){.root = true});
        ctx[i] = dpt_span_get_context(o);
        dpt_span_end(o);
    }
    dpt_link first = {.ctx = ctx[0]};
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_CONSUMER,
                                &(dpt_span_opts){.links = &first, .n_links = 1});
    assert_int_equal(dpt_span_add_link(s, &(dpt_link){.ctx = ctx[1]}), DPT_OK);
    assert_int_equal(dpt_span_add_link(s, &(dpt_link){.ctx = ctx[2]}), DPT_OK);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 3);
    assert_int_equal(d->n_links, 3);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(d->links[i].ctx.span_id.b, ctx[i].span_id.b, 8);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

/* sdk-environment-variables.md, Span Limits and Attribute Limits: each variable, with the
 * span-specific ones over the general ones. */
static void test_every_span_limit_variable(void **state)
{
    (void)state;
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "3", 1);        /* general: events and links too */
    setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8", 1); /* general */
    setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5", 1);
    setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2", 1);
    setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "2", 1);
    setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "1", 1);
    setenv("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1", 1);
    unsetenv("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"); /* the general 3 applies */
    dpt_exporter *mem = dpt_exporter_memory(10);
    dpt_provider *p = dpt_provider_from_env();
    assert_int_equal(dpt_provider_add_processor(p, dpt_processor_simple(mem)), DPT_OK);
    dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
    dpt_span s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_str(s, "a", "abcdefghij");
    dpt_span_set_int(s, "b", 1);
    assert_int_equal(dpt_span_set_int(s, "c", 1), DPT_ETOOBIG); /* span attribute count 2 */
    dpt_attr ea[] = {DPT_INT("e1", 1), DPT_INT("e2", 2)};
    dpt_span_add_event(s, "one", ea, 2);
    dpt_span_add_event(s, "two", NULL, 0);
    assert_int_equal(dpt_span_add_event(s, "three", NULL, 0), DPT_ETOOBIG);
    dpt_span_context lc = dpt_span_get_context(s);
    dpt_attr la[] = {DPT_INT("l1", 1), DPT_INT("l2", 2), DPT_INT("l3", 3), DPT_INT("l4", 4)};
    assert_int_equal(dpt_span_add_link(s, &(dpt_link){.ctx = lc, .attrs = la, .n_attrs = 4}),
                     DPT_OK);
    assert_int_equal(dpt_span_add_link(s, &(dpt_link){.ctx = lc}), DPT_ETOOBIG);
    dpt_span_end(s);
    const dpt_span_data *d = dpt_exporter_memory_get(mem, 0);
    assert_int_equal(d->attrs[0].value.len, 5); /* span value length over the general 8 */
    assert_int_equal(d->events[0].n_attrs, 1);
    assert_int_equal(d->events[0].dropped_attrs, 1);
    assert_int_equal(d->links[0].n_attrs, 3);
    assert_int_equal(d->links[0].dropped_attrs, 1);
    dpt_span_data_release(d);
    dpt_provider_free(p);
    static const char *const vars[] = {"OTEL_ATTRIBUTE_COUNT_LIMIT",
                                       "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                                       "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                                       "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                                       "OTEL_SPAN_EVENT_COUNT_LIMIT",
                                       "OTEL_SPAN_LINK_COUNT_LIMIT",
                                       "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static int starts, ends;
static void count_start(void *st, const dpt_span_data *d)
{
    (void)st, (void)d;
    starts++;
}
static void count_end(void *st, const dpt_span_data *d)
{
    (void)st, (void)d;
    ends++;
}

/* trace/sdk.md, AlwaysRecord: DROP becomes RECORD_ONLY (processors see the span, it is not
 * sampled, so the exporter does not get it); RECORD_AND_SAMPLE stays. */
static void test_always_record_sampler(void **state)
{
    (void)state;
    dpt_sampler *s = dpt_sampler_always_record(dpt_sampler_always_off());
    assert_string_equal(dpt_sampler_description(s), "AlwaysRecord{AlwaysOffSampler}");
    tprov tp = tprov_new(s, NULL);
    static const dpt_processor_ops ops = {.on_start = count_start, .on_end = count_end};
    dpt_provider_add_processor(tp.p, dpt_processor_new(&ops, NULL));
    starts = ends = 0;
    dpt_span x = dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(x));
    assert_int_equal(dpt_span_get_context(x).flags & DPT_FLAG_SAMPLED, 0);
    dpt_span_end(x);
    assert_int_equal(starts, 1);
    assert_int_equal(ends, 1);
    assert_int_equal(dpt_exporter_memory_count(tp.mem),
                     0); /* the simple processor exports sampled only */
    tprov_free(&tp);
    tp = tprov_new(dpt_sampler_always_record(dpt_sampler_always_on()), NULL);
    x = dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_get_context(x).flags & DPT_FLAG_SAMPLED);
    dpt_span_end(x);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    tprov_free(&tp);
    assert_null(dpt_sampler_always_record(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_after_creation_keep_their_order),
        cmocka_unit_test(test_every_span_limit_variable),
        cmocka_unit_test(test_always_record_sampler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
