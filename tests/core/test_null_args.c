/* test_null_args.c - every public core function accepts NULL handles, zero span handles
 * and bad arguments without crashing, and says so with an error code. */
#include "test_util.h"

static void test_null_handles_everywhere(void **state)
{
    (void)state;
    dpt_span none = DPT_SPAN_NONE;
    assert_non_null(dpt_strerror((dpt_err)-999));
    dpt_free(NULL);
    assert_int_equal(dpt_trace_id_from_hex(NULL, 0, NULL), DPT_EINVAL);
    dpt_trace_id_to_hex(NULL, NULL);
    dpt_span_id_to_hex(NULL, NULL);
    char hex[33];
    dpt_trace_id_to_hex(NULL, hex);
    assert_string_equal(hex, "00000000000000000000000000000000");
    assert_false(dpt_span_id_is_valid(NULL));

    assert_int_equal(dpt_tracestate_parse(NULL, 0, NULL), DPT_EINVAL);
    dpt_tracestate *ts = (dpt_tracestate *)1;
    assert_int_equal(dpt_tracestate_parse(NULL, 5, &ts), DPT_EINVAL);
    assert_string_equal(dpt_tracestate_str(NULL, NULL), "");
    assert_int_equal(dpt_tracestate_get(NULL, "a", hex, sizeof hex), DPT_ENOTFOUND);
    assert_int_equal(dpt_tracestate_get(NULL, NULL, NULL, 0), DPT_EINVAL);
    assert_int_equal(dpt_tracestate_set(NULL, NULL, NULL, NULL), DPT_EINVAL);
    assert_null(dpt_tracestate_retain(NULL));
    dpt_tracestate_release(NULL);

    dpt_baggage *bg;
    assert_int_equal(dpt_baggage_set(NULL, NULL, NULL, NULL, &bg), DPT_EINVAL);
    assert_int_equal(dpt_baggage_set(NULL, "k", "v", NULL, NULL), DPT_EINVAL);
    assert_int_equal(dpt_baggage_remove(NULL, NULL, &bg), DPT_EINVAL);
    assert_null(dpt_baggage_get(NULL, "k"));
    assert_int_equal(dpt_baggage_count(NULL), 0);
    assert_int_equal(dpt_baggage_entry(NULL, 0, NULL, NULL, NULL), DPT_ENOTFOUND);
    dpt_baggage_release(NULL);

    assert_null(dpt_provider_get_tracer(NULL, "x", NULL));
    assert_string_equal(dpt_tracer_name(NULL), "");
    assert_null(dpt_tracer_provider(NULL));
    size_t n = 9;
    assert_null(dpt_provider_resource(NULL, &n));
    assert_int_equal(n, 0);
    assert_int_equal(dpt_provider_force_flush(NULL, 0), DPT_EINVAL);
    assert_int_equal(dpt_provider_shutdown(NULL, 0), DPT_EINVAL);
    dpt_provider_free(NULL);
    const dpt_provider_config bad = {.n_processors = 1, .processors = NULL};
    assert_null(dpt_provider_new(&bad));
    assert_int_equal(dpt_provider_add_processor(NULL, NULL), DPT_EINVAL);
    dpt_stats st;
    dpt_provider_get_stats(NULL, &st);
    assert_int_equal(st.spans_started, 0);
    dpt_provider_get_stats(NULL, NULL);

    dpt_span s = dpt_span_start(NULL, NULL, 99, NULL);
    assert_null(s.rec);
    assert_int_equal(dpt_span_set_attr(none, NULL), DPT_ESTATE);
    assert_int_equal(dpt_span_set_attrs(none, NULL, 1), DPT_ESTATE);
    assert_int_equal(dpt_span_set_str(none, NULL, NULL), DPT_ESTATE);
    assert_int_equal(dpt_span_set_strn(none, NULL, 0, NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_set_int(none, NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_set_double(none, NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_set_bool(none, NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_add_event(none, NULL, NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_add_event_at(none, NULL, 0, NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_add_link(none, NULL), DPT_ESTATE);
    assert_int_equal(dpt_span_set_status(none, 7, NULL), DPT_ESTATE);
    assert_int_equal(dpt_span_record_error(none, NULL, NULL), DPT_ESTATE);
    assert_int_equal(dpt_span_update_name(none, NULL), DPT_ESTATE);
    assert_int_equal(dpt_span_end(none), DPT_ESTATE);
    assert_int_equal(dpt_span_end_at(none, 1), DPT_ESTATE);
    assert_false(dpt_span_is_recording(none));
    dpt_span_context sc = dpt_span_get_context(none);
    assert_false(dpt_span_context_is_valid(&sc));
    dpt_span_data_retain(NULL);
    dpt_span_data_release(NULL);

    dpt_context *c = dpt_context_new(NULL, NULL, NULL);
    assert_non_null(c);
    dpt_context_release(c);
    assert_null(dpt_context_retain(NULL));
    dpt_context_release(NULL);
    sc = dpt_context_span_context(NULL);
    assert_false(dpt_span_context_is_valid(&sc));
    assert_null(dpt_context_span(NULL).rec);
    assert_null(dpt_context_tracestate(NULL));
    assert_null(dpt_context_baggage(NULL));
    c = dpt_context_with_baggage(NULL, NULL);
    dpt_context_release(c);
    c = dpt_context_with_span(NULL, none);
    dpt_context_release(c);
    assert_int_equal(dpt_context_attach(NULL), 0);
    assert_int_equal(dpt_context_detach(0), DPT_EINVAL);
    assert_int_equal(dpt_span_make_current(none), 0);
    dpt_scope_end(NULL);
    DPT_WITH_SPAN(NULL, NULL, DPT_SPAN_INTERNAL)
    {
        assert_null(dpt_span_current().rec);
    }

    assert_null(dpt_exporter_new(NULL, NULL));
    dpt_exporter_free(NULL);
    assert_int_equal(dpt_exporter_export(NULL, NULL, 0), DPT_EINVAL);
    assert_null(dpt_processor_new(NULL, NULL));
    dpt_processor_free(NULL);
    assert_null(dpt_processor_simple(NULL));
    assert_null(dpt_processor_batch(NULL, NULL));
    dpt_batch_config_default(NULL);
    dpt_span_limits_default(NULL);
    assert_int_equal(dpt_exporter_memory_count(NULL), 0);
    assert_null(dpt_exporter_memory_get(NULL, 0));
    dpt_exporter_memory_clear(NULL);
    dpt_exporter_memory_set_failing(NULL, true);

    assert_null(dpt_processor_store(NULL));
    dpt_store_free(NULL);
    dpt_store_stats ss;
    dpt_store_get_stats(NULL, &ss);
    dpt_trace_snapshot *snap;
    assert_int_equal(dpt_store_get_trace(NULL, NULL, &snap), DPT_EINVAL);
    assert_int_equal(dpt_store_get_trace(NULL, NULL, NULL), DPT_EINVAL);
    assert_int_equal(dpt_trace_snapshot_count(NULL), 0);
    assert_null(dpt_trace_snapshot_span(NULL, 0));
    dpt_trace_snapshot_free(NULL);
    char *json;
    assert_int_equal(dpt_trace_snapshot_to_json(NULL, &json, NULL), DPT_EINVAL);
    assert_int_equal(dpt_store_get_trace_json(NULL, NULL, &json, NULL), DPT_EINVAL);
    assert_int_equal(dpt_store_export_trace(NULL, NULL, NULL), DPT_EINVAL);

    dpt_sampler_free(NULL);
    assert_string_equal(dpt_sampler_description(NULL), "");
    dpt_sampling_result r;
    dpt_sampler_should_sample(NULL, NULL, &r);
    assert_int_equal(r.decision, DPT_DROP);
    dpt_sampler_should_sample(NULL, NULL, NULL);
    assert_null(dpt_sampler_custom(NULL, NULL, NULL, NULL));
    assert_int_equal(dpt_exporter_factory_register("x", NULL), DPT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_handles_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
