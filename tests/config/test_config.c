/* test_config.c - dpt_provider_from_env(): every variable, and invalid values reported
 * and replaced by defaults. */
#include "test_util.h"

#include <unistd.h>

static logcap cap;

static int setup(void **state)
{
    (void)state;
    static const char *vars[] = {"OTEL_SDK_DISABLED",
                                 "OTEL_SERVICE_NAME",
                                 "OTEL_RESOURCE_ATTRIBUTES",
                                 "OTEL_TRACES_SAMPLER",
                                 "OTEL_TRACES_SAMPLER_ARG",
                                 "OTEL_TRACES_EXPORTER",
                                 "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                                 "OTEL_ATTRIBUTE_COUNT_LIMIT",
                                 "OTEL_SPAN_EVENT_COUNT_LIMIT",
                                 "OTEL_SPAN_LINK_COUNT_LIMIT",
                                 "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                                 "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                                 "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
                                 "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
                                 "OTEL_BSP_MAX_QUEUE_SIZE",
                                 "OTEL_EXPORTER_OTLP_ENDPOINT",
                                 "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                                 "DPTRACE_SHUTDOWN_AT_EXIT"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    memset(&cap, 0, sizeof cap);
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_WARN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dpt_log_set_handler(NULL, NULL, DPT_LOG_OFF);
    return 0;
}

static const char *resource_str(dpt_provider *p, const char *key)
{
    size_t n;
    const dpt_attr *r = dpt_provider_resource(p, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].key, key) == 0) return r[i].value.u.s;
    return NULL;
}

static void test_service_name_and_resource_attributes(void **state)
{
    (void)state;
    setenv("OTEL_RESOURCE_ATTRIBUTES",
           "deployment.environment=prod, service.name=fromres,team=a%20b", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(p);
    assert_string_equal(resource_str(p, "service.name"), "fromres");
    assert_string_equal(resource_str(p, "team"), "a b");
    assert_string_equal(resource_str(p, "deployment.environment"), "prod");
    assert_string_equal(resource_str(p, "telemetry.sdk.name"), "dptrace");
    dpt_provider_free(p);
    setenv("OTEL_SERVICE_NAME", "orders", 1);
    p = dpt_provider_from_env();
    assert_string_equal(resource_str(p, "service.name"), "orders");
    dpt_provider_free(p);
    assert_int_equal(cap.count, 0);
}

static void test_malformed_resource_attributes_are_ignored_and_reported(void **state)
{
    (void)state;
    setenv("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad%zz=2", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_null(resource_str(p, "good"));
    assert_true(cap.count >= 1);
    assert_non_null(strstr(cap.last, "OTEL_RESOURCE_ATTRIBUTES"));
    assert_non_null(strstr(resource_str(p, "service.name"), "unknown_service:"));
    dpt_provider_free(p);
}

/* One parser reads OTEL_RESOURCE_ATTRIBUTES wherever it appears (dpt__resource_parse_list),
 * so a repeated key means the same everywhere: the last value wins (dptrace's own choice,
 * as in OpenTelemetry JS, whose parser fills an object member by member), service.name
 * included. More attributes than the configuration holds discard the variable, as an
 * invalid entry does (resource/sdk.md: "In case of any error [...] the entire environment
 * variable value SHOULD be discarded"). */
static void test_resource_attributes_repeated_key_and_too_many(void **state)
{
    (void)state;
    setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=first,team=a,service.name=last,team=b", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_string_equal(resource_str(p, "service.name"), "last");
    assert_string_equal(resource_str(p, "team"), "b");
    dpt_provider_free(p);
    assert_int_equal(cap.count, 0);

    char many[1024] = "";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    setenv("OTEL_RESOURCE_ATTRIBUTES", many, 1);
    p = dpt_provider_from_env();
    assert_null(resource_str(p, "k0"));
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "more than 64"));
    dpt_provider_free(p);
}

static void test_sampler_variables(void **state)
{
    (void)state;
    setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
    dpt_provider *p = dpt_provider_from_env();
    dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
    dpt_span s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s));
    dpt_span_end(s);
    dpt_provider_free(p);

    setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
    p = dpt_provider_from_env();
    t = dpt_provider_get_tracer(p, "x", NULL);
    int rec = 0;
    for (int i = 0; i < 4000; i++) {
        s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
        rec += dpt_span_is_recording(s);
        dpt_span_end(s);
    }
    assert_in_range(rec, 800, 1200);
    dpt_provider_free(p);
    assert_int_equal(cap.count, 0);

    setenv("OTEL_TRACES_SAMPLER_ARG", "1.5", 1);
    p = dpt_provider_from_env();
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "OTEL_TRACES_SAMPLER_ARG"));
    dpt_provider_free(p);

    unsetenv("OTEL_TRACES_SAMPLER_ARG");
    setenv("OTEL_TRACES_SAMPLER", "no_such_sampler", 1);
    p = dpt_provider_from_env();
    /* Spec (sdk-environment-variables.md, Enum): "if the user provides a value the
     * implementation does not recognize, the implementation MUST generate a warning and
     * gracefully ignore the setting". */
    assert_non_null(strstr(cap.last, "OTEL_TRACES_SAMPLER=no_such_sampler"));
    assert_non_null(strstr(cap.last, "parentbased_always_on"));
    t = dpt_provider_get_tracer(p, "x", NULL);
    s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(s)); /* default parentbased_always_on */
    dpt_span_end(s);
    dpt_provider_free(p);
}

/* Our API (dptrace.h): dpt_provider_from_env_with_sampler() takes everything from the
 * environment except the sampler, which the caller gives (the Python binding's per-rate
 * tracers use it instead of changing the environment around dpt_provider_from_env). */
static int recording_of(dpt_provider *p, int n)
{
    dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
    int rec = 0;
    for (int i = 0; i < n; i++) {
        dpt_span s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
        rec += dpt_span_is_recording(s);
        dpt_span_end(s);
    }
    return rec;
}

static void test_a_given_sampler_replaces_the_environments(void **state)
{
    (void)state;
    setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
    setenv("OTEL_SERVICE_NAME", "given", 1);
    dpt_provider *p = dpt_provider_from_env_with_sampler(dpt_sampler_always_on());
    assert_non_null(p);
    assert_int_equal(recording_of(p, 10), 10);
    assert_string_equal(resource_str(p, "service.name"), "given"); /* the rest: the env's */
    dpt_provider_free(p);

    setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
    p = dpt_provider_from_env_with_sampler(
        dpt_sampler_parent_based(dpt_sampler_traceid_ratio(0.25), NULL, NULL, NULL, NULL));
    assert_in_range(recording_of(p, 4000), 800, 1200);
    dpt_provider_free(p);

    /* NULL: the environment's sampler, as dpt_provider_from_env() */
    setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
    p = dpt_provider_from_env_with_sampler(NULL);
    assert_int_equal(recording_of(p, 10), 0);
    dpt_provider_free(p);
    /* The environment did not change (the call reads it, never writes it). */
    assert_string_equal(getenv("OTEL_TRACES_SAMPLER"), "always_off");
    assert_null(getenv("OTEL_TRACES_SAMPLER_ARG"));
    assert_int_equal(cap.count, 0);
}

static void test_span_limit_variables(void **state)
{
    (void)state;
    setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2", 1);
    setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "1", 1);
    setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3", 1);
    setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "not-a-number", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "OTEL_SPAN_LINK_COUNT_LIMIT"));
    dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
    dpt_span s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_set_str(s, "a", "abcdef"), DPT_OK);
    assert_int_equal(dpt_span_set_int(s, "b", 1), DPT_OK);
    assert_int_equal(dpt_span_set_int(s, "c", 1), DPT_ETOOBIG);
    assert_int_equal(dpt_span_add_event(s, "e1", NULL, 0), DPT_OK);
    assert_int_equal(dpt_span_add_event(s, "e2", NULL, 0), DPT_ETOOBIG);
    dpt_span_end(s);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.attrs_dropped, 1);
    assert_int_equal(st.events_dropped, 1);
    dpt_provider_free(p);
}

static void test_sdk_disabled_gives_noop_spans(void **state)
{
    (void)state;
    setenv("OTEL_SDK_DISABLED", "true", 1);
    dpt_provider *p = dpt_provider_from_env();
    dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
    dpt_span s = dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s));
    assert_null(s.rec);
    dpt_provider_free(p);
    setenv("OTEL_SDK_DISABLED", "maybe", 1);
    p = dpt_provider_from_env();
    assert_non_null(strstr(cap.last, "OTEL_SDK_DISABLED"));
    dpt_provider_free(p);
}

static void test_unknown_exporter_is_reported(void **state)
{
    (void)state;
    setenv("OTEL_TRACES_EXPORTER", "nonesuch", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(p);
    assert_non_null(strstr(cap.last, "nonesuch"));
    dpt_provider_free(p);
}

/* dptrace's own rule (docs/export.md: ended == exported + dropped + failed, always): an
 * exporter named in the environment that cannot be made (an unopenable
 * DPTRACE_EXPORT_FILE) is reported, and the spans meant for it are counted as failed
 * instead of ending uncounted. */
static void test_an_exporter_that_cannot_be_made_still_counts_its_spans(void **state)
{
    (void)state;
    setenv("OTEL_TRACES_EXPORTER", "file", 1);
    setenv("DPTRACE_EXPORT_FILE", "/nonexistent-dptrace-dir/spans.jsonl", 1);
    dpt_provider *p = dpt_provider_from_env();
    unsetenv("DPTRACE_EXPORT_FILE");
    assert_non_null(p);
    assert_non_null(strstr(cap.last, "nonexistent-dptrace-dir"));
    dpt_tracer *t = dpt_provider_get_tracer(p, "t", NULL);
    for (int i = 0; i < 300; i++)
        dpt_span_end(dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL));
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_ended, 300);
    assert_int_equal(st.spans_exported + st.spans_dropped_queue + st.spans_export_failed, 300);
    assert_int_equal(st.spans_export_failed, 300);
    dpt_provider_free(p);
}

/* Spec (sdk-environment-variables.md, Boolean): "Any value that represents a Boolean MUST
 * be set to true only by the case-insensitive string "true" [...] If any value other than
 * a true value, case-insensitive string "false", empty, or unset is used, a warning SHOULD
 * be logged". OTEL_SDK_DISABLED=1 therefore leaves the SDK enabled. */
static void test_sdk_disabled_is_true_only_for_the_string_true(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        bool disabled;
        bool warns;
    } cases[] = {{"1", false, true},   {"TRUE", true, false},   {"True", true, false},
                 {"yes", false, true}, {"FALSE", false, false}, {"", false, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cap.count = 0;
        setenv("OTEL_SDK_DISABLED", cases[i].v, 1);
        dpt_provider *p = dpt_provider_from_env();
        dpt_span s =
            dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_INTERNAL, NULL);
        assert_int_equal(dpt_span_is_recording(s), !cases[i].disabled);
        dpt_span_end(s);
        assert_int_equal(cap.count > 0, cases[i].warns);
        if (cases[i].warns) assert_non_null(strstr(cap.last, "OTEL_SDK_DISABLED"));
        dpt_provider_free(p);
    }
}

/* Spec (sdk-environment-variables.md, Enum): "Enum values SHOULD be interpreted in a
 * case-insensitive manner." */
static void test_enum_values_are_case_insensitive(void **state)
{
    (void)state;
    setenv("OTEL_TRACES_SAMPLER", "ALWAYS_OFF", 1);
    dpt_provider *p = dpt_provider_from_env();
    dpt_span s =
        dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s));
    dpt_provider_free(p);
    setenv("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "0", 1);
    p = dpt_provider_from_env();
    s = dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s));
    dpt_provider_free(p);
    setenv("OTEL_TRACES_EXPORTER", "NONE", 1);
    p = dpt_provider_from_env();
    dpt_provider_free(p);
    assert_int_equal(cap.count, 0);
}

/* Spec (common.md, Numeric): "if the user provides a value which is outside the valid
 * range for the configuration item, the implementation SHOULD generate a warning and
 * gracefully ignore the setting"; OTEL_BSP_MAX_QUEUE_SIZE: "Valid values are positive";
 * OTEL_TRACES_SAMPLER_ARG: "Invalid or unrecognized input MUST be logged". Our own rule on
 * top: the warning names the variable and the value used instead. */
static void test_invalid_values_are_reported_with_the_variable_name(void **state)
{
    (void)state;
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "0", 1);
    setenv("OTEL_TRACES_EXPORTER", "memory", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "OTEL_BSP_MAX_QUEUE_SIZE=0"));
    assert_non_null(strstr(cap.last, "2048"));
    dpt_provider_free(p);

    cap.count = 0;
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "-5", 1);
    p = dpt_provider_from_env();
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "OTEL_BSP_MAX_QUEUE_SIZE=-5"));
    dpt_provider_free(p);
    unsetenv("OTEL_BSP_MAX_QUEUE_SIZE");

    cap.count = 0;
    setenv("OTEL_TRACES_SAMPLER", "parentbased_ratelimiting", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "lots", 1);
    p = dpt_provider_from_env();
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "OTEL_TRACES_SAMPLER_ARG=lots"));
    dpt_provider_free(p);
}

static dpt_exporter *made;
static dpt_exporter *my_factory(const dpt_exporter_settings *s)
{
    (void)s;
    made = dpt_exporter_memory(100);
    return made;
}

static void test_registered_factory_is_used_with_batching(void **state)
{
    (void)state;
    assert_int_equal(dpt_exporter_factory_register("mine", my_factory), DPT_OK);
    assert_int_equal(dpt_exporter_factory_register(NULL, my_factory), DPT_EINVAL);
    setenv("OTEL_TRACES_EXPORTER", "Mine", 1); /* names are enum values: case-insensitive */
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(made);
    dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
    for (int i = 0; i < 10; i++)
        dpt_span_end(dpt_span_start(t, "s", DPT_SPAN_INTERNAL, NULL));
    assert_int_equal(dpt_provider_force_flush(p, 5000), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(made), 10);
    dpt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_name_and_resource_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_resource_attributes_are_ignored_and_reported,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_attributes_repeated_key_and_too_many, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sampler_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_given_sampler_replaces_the_environments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_span_limit_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sdk_disabled_gives_noop_spans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_exporter_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_exporter_that_cannot_be_made_still_counts_its_spans,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_factory_is_used_with_batching, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sdk_disabled_is_true_only_for_the_string_true, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enum_values_are_case_insensitive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_values_are_reported_with_the_variable_name,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
