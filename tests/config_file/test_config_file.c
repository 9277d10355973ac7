/* test_config_file.c - the declarative configuration file (dptrace/config.h): the schema
 * mapped onto the provider (resource, detectors, propagators, processors, exporters,
 * limits, samplers, id generator), substitution from the environment, OTEL_CONFIG_FILE in
 * dpt_provider_from_env, errors with the path of the offending node, and exports that
 * reach a loopback collector with the file's settings.
 *
 * With "--schema-examples DIR" (tests/config_file/schema_examples.sh) it checks the
 * opentelemetry-configuration repository's own example files instead.
 */
#include "test_util.h"

#include "common.h"

#include "dptrace/config.h"
#include "dptrace/export.h"
#include "dptrace/plugin.h"
#include "dptrace/propagation.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_COLLECTOR
#include "collector.h"
#include "dptrace/http.h"
#endif

/* ---- a test exporter factory: records its settings, exports into memory ----------------- */

static char seen_keys[32][64], seen_values[32][256];
static size_t seen_n;
static bool seen_called, seen_null_settings;
static dpt_exporter *captured; /* owned by the provider that got it */

static dpt_exporter *capture_factory(const dpt_exporter_settings *s)
{
    seen_called = true;
    seen_null_settings = s == NULL;
    seen_n = 0;
    for (size_t i = 0; s && i < s->n && i < 32; i++, seen_n++) {
        snprintf(seen_keys[i], sizeof seen_keys[i], "%s", s->keys[i]);
        snprintf(seen_values[i], sizeof seen_values[i], "%s", s->values[i]);
    }
    captured = dpt_exporter_memory(1000);
    return captured;
}

static const char *seen(const char *key)
{
    for (size_t i = 0; i < seen_n; i++)
        if (strcmp(seen_keys[i], key) == 0) return seen_values[i];
    return NULL;
}

static logcap cap;

static int setup(void **state)
{
    (void)state;
    memset(&cap, 0, sizeof cap);
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_ERROR);
    assert_int_equal(dpt_exporter_factory_register("capture", capture_factory), DPT_OK);
    seen_called = false;
    captured = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dpt_log_set_handler(NULL, NULL, DPT_LOG_OFF);
    return 0;
}

static char *data_path(const char *name)
{
    static char buf[1024];
    const char *dir = getenv("CONFIG_DATA");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "data", name);
    return buf;
}

static const char *res_str(dpt_provider *p, const char *key)
{
    const dpt_value *v = dpt_resource_get(dpt_provider_get_resource(p), key);
    return v && v->type == DPT_VAL_STRING ? v->u.s : NULL;
}

/* ---- the schema mapped onto the provider ------------------------------------------------------
 */

static void test_full_example_maps_onto_the_provider(void **state)
{
    (void)state;
    char out[] = "/tmp/dptrace-cfgtest-XXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    setenv("CFGTEST_OUT_FILE", out, 1);
    dpt_config_error err;
    dpt_config *cfg = dpt_config_parse_file(data_path("full.yaml"), &err);
    if (!cfg) fail_msg("%u:%u %s: %s", err.line, err.column, err.path, err.message);
    dpt_provider *p = dpt_provider_from_config(cfg);
    assert_non_null(p);

    /* The plugin exporter got its properties as settings (nested keys dotted, lists joined). */
    assert_true(seen_called);
    assert_false(seen_null_settings);
    assert_string_equal(seen("endpoint"), "http://127.0.0.1:9/v1/traces");
    assert_string_equal(seen("tls.ca_file"), "/etc/ssl/ca.pem");
    assert_string_equal(seen("tags"), "a,b");

    /* Resource: .attributes win over .attributes_list ("Entries have higher priority");
     * typed values; a null value is left out; detectors filtered by included/excluded. */
    assert_string_equal(res_str(p, "service.name"), "checkout");
    assert_string_equal(res_str(p, "service.namespace"), "shop");
    assert_string_equal(res_str(p, "service.version"), "2.3.1");
    const dpt_resource *r = dpt_provider_get_resource(p);
    assert_int_equal(dpt_resource_get(r, "deployment.replicas")->u.i, 3);
    assert_false(dpt_resource_get(r, "deployment.canary")->u.b);
    assert_true(dpt_resource_get(r, "build.ratio")->u.d == 0.5);
    const dpt_value *owners = dpt_resource_get(r, "service.owners");
    assert_int_equal(owners->type, DPT_VAL_STRING_ARRAY);
    assert_string_equal(owners->u.sa[1], "team-b");
    assert_int_equal(dpt_resource_get(r, "ports")->u.ia[1], 443);
    assert_null(dpt_resource_get(r, "ignored.when.null"));
    assert_int_equal(dpt_resource_get(r, "process.pid")->u.i, getpid());
    assert_non_null(res_str(p, "host.name"));
    assert_null(dpt_resource_get(r, "process.command")); /* excluded */
    assert_null(dpt_resource_get(r, "os.type"));         /* not included */
    assert_string_equal(dpt_resource_schema_url(r), "https://opentelemetry.io/schemas/1.44.0");

    /* Limits (tracer_provider.limits over attribute_limits), sampler, X-Ray ids. */
    dpt_tracer *t = dpt_provider_get_tracer(p, "cfg", NULL);
    dpt_span s = dpt_span_start(t, "op", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(s));
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        dpt_span_set_int(s, k, i);
    }
    for (int i = 0; i < 6; i++)
        dpt_span_add_event(s, "e", NULL, 0);
    char longv[5000];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    dpt_span_set_str(s, "k0", longv); /* overwrite: cut at 4096 by attribute_limits */
    dpt_span_context sc = dpt_span_get_context(s);
    uint32_t sec = (uint32_t)sc.trace_id.b[0] << 24 | (uint32_t)sc.trace_id.b[1] << 16 |
                   (uint32_t)sc.trace_id.b[2] << 8 | sc.trace_id.b[3];
    assert_true(sec <= (uint32_t)time(NULL) && sec + 5 >= (uint32_t)time(NULL));
    dpt_span_end(s);
    assert_int_equal(dpt_exporter_memory_count(captured), 1);
    const dpt_span_data *d = dpt_exporter_memory_get(captured, 0);
    assert_int_equal(d->n_attrs, 16);
    assert_int_equal(d->dropped_attrs, 4);
    assert_int_equal(d->n_events, 4);
    assert_int_equal(d->attrs[0].value.len, 4096);
    dpt_span_data_release(d);

    /* Propagators: composite, then composite_list with duplicates filtered out. */
    dpt_propagator *prop = dpt_propagator_from_config(cfg);
    const char *fields[16];
    size_t nf = dpt_propagator_fields(prop, fields, 16);
    assert_true(nf >= 4);
    assert_string_equal(fields[0], "traceparent");
    assert_string_equal(fields[1], "tracestate");
    assert_string_equal(fields[2], "baggage");
    assert_string_equal(fields[3], "x-b3-traceid");
    for (size_t i = 3; i < nf; i++)
        assert_string_not_equal(fields[i], "traceparent");
    dpt_propagator_free(prop);
    dpt_provider_free(p); /* the batch processor exports to the file on shutdown */
    dpt_config_free(cfg);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "resourceSpans"));
    fclose(f);
    unlink(out);
    unsetenv("CFGTEST_OUT_FILE");
    assert_int_equal(cap.count, 0);
}

/* configuration/data-model.md: values come from the environment through ${VAR} and
 * ${VAR:-default}; node types are interpreted after substitution. */
static void test_environment_style_file(void **state)
{
    (void)state;
    setenv("CFGTEST_SERVICE", "payments", 1);
    setenv("CFGTEST_RESOURCE_ATTRIBUTES", "team=blue,service.name=from-list", 1);
    setenv("CFGTEST_PROPAGATORS", "b3", 1);
    setenv("CFGTEST_ATTRIBUTE_COUNT_LIMIT", "2", 1);
    setenv("CFGTEST_RATIO", "0", 1);
    setenv("CFGTEST_WHERE", "there", 1);
    dpt_config *cfg = dpt_config_parse_file(data_path("env_style.yaml"), NULL);
    assert_non_null(cfg);
    dpt_provider *p = dpt_provider_from_config(cfg);
    assert_string_equal(res_str(p, "service.name"), "payments");
    assert_string_equal(res_str(p, "team"), "blue");
    assert_string_equal(seen("where"), "there");
    dpt_tracer *t = dpt_provider_get_tracer(p, "cfg", NULL);
    dpt_span s = dpt_span_start(t, "op", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s)); /* ratio 0 */
    dpt_span_end(s);
    dpt_propagator *prop = dpt_propagator_from_config(cfg);
    const char *f[4];
    assert_int_equal(dpt_propagator_fields(prop, f, 4), 1);
    assert_string_equal(f[0], "b3");
    dpt_propagator_free(prop);
    dpt_provider_free(p);
    dpt_config_free(cfg);

    /* The same file with nothing set: the defaults after ":-". */
    unsetenv("CFGTEST_SERVICE");
    unsetenv("CFGTEST_RESOURCE_ATTRIBUTES");
    unsetenv("CFGTEST_PROPAGATORS");
    unsetenv("CFGTEST_ATTRIBUTE_COUNT_LIMIT");
    unsetenv("CFGTEST_RATIO");
    unsetenv("CFGTEST_WHERE");
    cfg = dpt_config_parse_file(data_path("env_style.yaml"), NULL);
    assert_non_null(cfg);
    p = dpt_provider_from_config(cfg);
    assert_string_equal(res_str(p, "service.name"), "unknown_service");
    assert_string_equal(seen("where"), "nowhere");
    s = dpt_span_start(dpt_provider_get_tracer(p, "cfg", NULL), "op", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(s));
    dpt_span_end(s);
    prop = dpt_propagator_from_config(cfg);
    assert_int_equal(dpt_propagator_fields(prop, f, 4), 3); /* tracecontext, baggage */
    dpt_propagator_free(prop);
    dpt_provider_free(p);
    dpt_config_free(cfg);
    /* A value that substitutes to the wrong type is an error (".disabled" wants a bool). */
    setenv("CFGTEST_DISABLED", "maybe", 1);
    dpt_config_error err;
    assert_null(dpt_config_parse_file(data_path("env_style.yaml"), &err));
    assert_string_equal(err.path, ".disabled");
    assert_int_equal(err.line, 4);
    unsetenv("CFGTEST_DISABLED");
}

/* The schema's defaults: disabled: true and an absent tracer_provider give a no-op
 * provider; an absent propagator a no-op propagator; a present-but-null property its
 * default ("If a property is present and the value is null, Create MUST use the
 * nullBehavior, or defaultBehavior"). */
static void test_noop_defaults(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "file_format: '1.1'\n",
        "file_format: '1.1'\ndisabled: true\ntracer_provider:\n  processors:\n    - simple:\n      "
        "  exporter:\n          capture:\n",
    };
    for (size_t i = 0; i < 2; i++) {
        dpt_config *cfg = dpt_config_parse(docs[i], DPT_NUL, NULL);
        assert_non_null(cfg);
        dpt_provider *p = dpt_provider_from_config(cfg);
        dpt_span s =
            dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_INTERNAL, NULL);
        assert_false(dpt_span_is_recording(s));
        dpt_propagator *prop = dpt_propagator_from_config(cfg);
        assert_int_equal(dpt_propagator_fields(prop, NULL, 0), 0);
        dpt_propagator_free(prop);
        dpt_provider_free(p);
        dpt_config_free(cfg);
    }
    const char *nulls =
        "file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        "
        "schedule_delay:\n"
        "        exporter:\n          console:\n  sampler:\n    parent_based:\n      root:\n";
    dpt_config *cfg = dpt_config_parse(nulls, DPT_NUL, NULL);
    assert_non_null(cfg);
    dpt_config_free(cfg);
}

/* The samplers of the schema (trace/sdk.md's built-in samplers) as the file names them:
 * whether a root span, and a child of a sampled remote parent, are recorded and sampled. */
static void test_sampler_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *sampler; /* YAML under tracer_provider.sampler, indented by 4 */
        bool root_rec, root_sampled, child_sampled;
    } cases[] = {
        {"    always_on:\n", true, true, true},
        {"    always_off:\n", false, false, false},
        {"    parent_based:\n      root:\n        always_off:\n", false, false, true},
        {"    parent_based:\n      root:\n        always_on:\n      remote_parent_sampled:\n       "
         " always_off:\n",
         true, true, false},
        {"    always_record:\n      root:\n        always_off:\n", true, false, false},
        {"    trace_id_ratio_based:\n      ratio: 0\n", false, false, false},
        {"    probability/development:\n      ratio: 1\n", true, true, true},
        {"    rate_limiting:\n      per_second: 1000\n", true, true, true},
    };
    dpt_span_context remote = {.flags = DPT_FLAG_SAMPLED, .remote = true};
    dpt_trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32, &remote.trace_id);
    dpt_span_id_from_hex("00f067aa0ba902b7", 16, &remote.span_id);
    dpt_context *parent = dpt_context_new(&remote, NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[512];
        snprintf(doc, sizeof doc,
                 "file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n"
                 "        exporter:\n          capture:\n  sampler:\n%s",
                 cases[i].sampler);
        dpt_config_error err;
        dpt_config *cfg = dpt_config_parse(doc, DPT_NUL, &err);
        if (!cfg) fail_msg("case %zu: %s: %s", i, err.path, err.message);
        dpt_provider *p = dpt_provider_from_config(cfg);
        dpt_tracer *t = dpt_provider_get_tracer(p, "x", NULL);
        dpt_span root = dpt_span_start(t, "root", DPT_SPAN_INTERNAL, NULL);
        dpt_span child =
            dpt_span_start(t, "child", DPT_SPAN_SERVER, &(dpt_span_opts){.parent = parent});
        if (dpt_span_is_recording(root) != cases[i].root_rec ||
            ((dpt_span_get_context(root).flags & DPT_FLAG_SAMPLED) != 0) != cases[i].root_sampled ||
            ((dpt_span_get_context(child).flags & DPT_FLAG_SAMPLED) != 0) != cases[i].child_sampled)
            fail_msg("case %zu: %s", i, cases[i].sampler);
        dpt_span_end(root);
        dpt_span_end(child);
        dpt_provider_free(p);
        dpt_config_free(cfg);
    }
    dpt_context_release(parent);
}

/* ---- errors: the path, line and column of the offending node ------------------------------- */

typedef struct bad_case {
    const char *yaml;
    const char *path;    /* expected err.path */
    const char *message; /* a part of err.message */
    uint32_t line;       /* 0: not checked */
} bad_case;

static const char TP[] =
    "file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n";

static void test_malformed_documents_are_rejected_with_their_path(void **state)
{
    (void)state;
    char big[256];
    snprintf(big, sizeof big, "%s          capture:\n  sampler:\n    always_on:\n      extra: 1\n",
             TP);
    const bad_case cases[] = {
        {"", "", "file_format' is required", 0},
        {"# only a comment\n", "", "file_format", 0},
        {"tracer_provider: {}\n", "", "'file_format' is required", 1},
        {"file_format: 1.1\n", ".file_format", "expected a string", 1},
        {"file_format: '0.3'\n", ".file_format", "major version 1", 1},
        {"file_format: 'one'\n", ".file_format", "not a file format version", 1},
        {"file_format: '1.1'\ndisabled: 'yes'\n", ".disabled", "expected a boolean", 2},
        {"file_format: '1.1'\nlog_level: loud\n", ".log_level", "not a severity", 2},
        {"file_format: '1.1'\ntracer_provider:\n  processors: []\n", ".tracer_provider.processors",
         "non-empty", 3},
        {"file_format: '1.1'\ntracer_provider:\n  sampler:\n    always_on:\n", ".tracer_provider",
         "'processors' is required", 3},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n   "
         "       console:\n"
         "  samplr: {}\n",
         ".tracer_provider.samplr", "unknown key 'samplr'", 7},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        "
         "schedule_delay: soon\n"
         "        exporter:\n          console:\n",
         ".tracer_provider.processors[0].batch.schedule_delay",
         "expected an integer, got the string \"soon\"", 5},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        "
         "max_queue_size: 0\n"
         "        exporter:\n          console:\n",
         ".tracer_provider.processors[0].batch.max_queue_size", "out of range", 5},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        "
         "max_queue_size: 8\n"
         "        max_export_batch_size: 9\n        exporter:\n          console:\n",
         ".tracer_provider.processors[0].batch", "larger than max_queue_size", 6},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        "
         "schedule_delay: 1\n",
         ".tracer_provider.processors[0].batch", "'exporter' is required", 5},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n   "
         "       console:\n"
         "          otlp_http:\n",
         ".tracer_provider.processors[0].batch.exporter", "exactly one exporter", 6},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - queued:\n        exporter:\n  "
         "        console:\n",
         ".tracer_provider.processors[0].queued", "not known (batch, simple)", 5},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            encoding: xml\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.encoding", "not an encoding", 7},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            compression: zstd\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.compression", "not supported",
         7},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            tls:\n              ca_file: relative/ca.pem\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.tls.ca_file", "absolute path",
         8},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            tls:\n              key_file: /k.pem\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.tls", "go together", 8},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            headers_list: 'novalue'\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.headers_list", "key=value", 7},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            headers:\n              - name: a\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.headers[0]",
         "'value' is required", 8},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_http:\n"
         "            timeout: -1\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_http.timeout", "out of range", 7},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        otlp_file/development:\n"
         "            output_stream: /var/log/x.jsonl\n",
         ".tracer_provider.processors[0].simple.exporter.otlp_file/development.output_stream",
         "file:///", 7},
        {big, ".tracer_provider.sampler.always_on.extra", "unknown key 'extra'", 9},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  sampler:\n    trace_id_ratio_based:\n      ratio: 1.5\n",
         ".tracer_provider.sampler.trace_id_ratio_based.ratio", "out of range", 9},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  sampler:\n    always_on:\n    always_off:\n",
         ".tracer_provider.sampler", "exactly one sampler", 8},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  sampler:\n    always_record:\n      root:\n",
         ".tracer_provider.sampler.always_record.root", "expected a mapping, got null", 9},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  sampler:\n    parent_based:\n      root:\n        dice:\n",
         ".tracer_provider.sampler.parent_based.root.dice", "not known", 10},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  limits:\n    attribute_value_length_limit: 0\n",
         ".tracer_provider.limits.attribute_value_length_limit", "0 is not supported", 8},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  id_generator:\n    uuid:\n",
         ".tracer_provider.id_generator.uuid", "not known (random, xray)", 8},
        {"file_format: '1.1'\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n  "
         "        console:\n"
         "  tracer_configurator/development:\n    default_config:\n      enabled: false\n",
         ".tracer_provider.tracer_configurator/development", "not supported", 8},
        {"file_format: '1.1'\nresource:\n  attributes:\n    - name: n\n      value: 1\n",
         ".resource.attributes[0].value", "type string wants a string, got the integer 1", 5},
        {"file_format: '1.1'\nresource:\n  attributes:\n    - name: n\n      value: [1, 'two']\n   "
         "   type: int_array\n",
         ".resource.attributes[0].value[1]", "wants an integer in each element", 5},
        {"file_format: '1.1'\nresource:\n  attributes:\n    - name: n\n      value: x\n      type: "
         "uuid\n",
         ".resource.attributes[0].type", "not an attribute type", 6},
        {"file_format: '1.1'\nresource:\n  attributes:\n    - value: x\n",
         ".resource.attributes[0]", "'name' is required", 4},
        {"file_format: '1.1'\nresource:\n  detection/development:\n    detectors:\n      - host:\n "
         "         fqdn: true\n",
         ".resource.detection/development.detectors[0].host.fqdn", "unknown key", 6},
        {"file_format: '1.1'\npropagator:\n  composite:\n    - tracecontext:\n    - "
         "smoke_signals:\n",
         ".propagator.composite[1].smoke_signals", "not known", 5},
        {"file_format: '1.1'\npropagator:\n  composite_list: 'tracecontext,pigeon'\n",
         ".propagator.composite_list", "'pigeon' is not known", 3},
        {"file_format: '1.1'\ndistribution:\n  dptrace:\n    shutdown_at_exit: 1\n",
         ".distribution.dptrace.shutdown_at_exit", "expected a boolean", 4},
        /* YAML itself and the substitution grammar. */
        {"file_format: '1.1'\ntracer_provider:\n  processors: [\n", "", "YAML", 0},
        {"file_format: '1.1'\nfile_format: '1.1'\n", "", "duplicate key 'file_format'", 2},
        {"file_format: '1.1'\n---\nfile_format: '1.1'\n", "", "more than one YAML document", 2},
        {"file_format: '1.1'\nresource: *nothing\n", "", "refers to no complete anchor", 2},
        {"file_format: '1.1'\nlog_level: ${LEVEL:?required}\n", "", "not a valid substitution", 2},
        {"file_format: '1.1'\n? [a, b]\n: c\n", "", "mapping key must be a plain string", 2},
        {"file_format: '1.1'\nresource: !!set {a}\n", "", "tag", 2},
        {"file_format: \"1.1\"\nresource:\n  schema_url: \"a\\0b\"\n", ".resource.schema_url",
         "NUL", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_config_error err;
        cap.count = 0;
        dpt_config *cfg = dpt_config_parse(cases[i].yaml, DPT_NUL, &err);
        if (cfg) fail_msg("case %zu was accepted:\n%s", i, cases[i].yaml);
        if (strcmp(err.path, cases[i].path) != 0 || !strstr(err.message, cases[i].message) ||
            (cases[i].line && err.line != cases[i].line))
            fail_msg("case %zu: got %u:%u '%s': %s", i, err.line, err.column, err.path,
                     err.message);
        /* "returns NULL after logging why" */
        assert_int_equal(cap.count, 1);
        assert_non_null(strstr(cap.last, err.message));
    }
}

/* Bounds: a huge file, deep nesting, alias expansion ("billion laughs") all end in an
 * error, quickly. */
static void test_hostile_documents_are_bounded(void **state)
{
    (void)state;
    dpt_config_error err;
    dpt__buf b;
    dpt__buf_init(&b);
    dpt__buf_puts(&b, "file_format: '1.1'\nx: ");
    for (int i = 0; i < 100; i++)
        dpt__buf_putc(&b, '[');
    for (int i = 0; i < 100; i++)
        dpt__buf_putc(&b, ']');
    assert_null(dpt_config_parse(b.p, b.len, &err));
    assert_non_null(strstr(err.message, "nesting deeper than 64"));
    b.len = 0;
    dpt__buf_puts(&b, "file_format: '1.1'\n");
    while (b.len <= (1u << 20))
        dpt__buf_puts(&b, "# padding padding padding padding padding padding\n");
    assert_null(dpt_config_parse(b.p, b.len, &err));
    assert_non_null(strstr(err.message, "larger than"));
    /* Nine levels of ten aliases each would be 10^9 nodes to walk. */
    b.len = 0;
    dpt__buf_puts(&b, "file_format: '1.1'\nl0: &a0 {k: v}\n");
    for (int i = 1; i < 10; i++) {
        dpt__buf_printf(&b, "l%d: &a%d {", i, i);
        for (int k = 0; k < 10; k++)
            dpt__buf_printf(&b, "%sx%d: *a%d", k ? ", " : "", k, i - 1);
        dpt__buf_puts(&b, "}\n");
    }
    dpt__buf_puts(&b, "tracer_provider:\n  processors:\n    - simple:\n        exporter:\n         "
                      " capture: *a9\n");
    clock_t t0 = clock();
    assert_null(dpt_config_parse(b.p, b.len, &err));
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0); /* loose bound: no blow-up */
    if (!strstr(err.message, "expands to more than") && !strstr(err.message, "settings") &&
        !strstr(err.message, "nested deeper"))
        fail_msg("%s: %s", err.path, err.message);
    dpt__buf_free(&b);
    assert_null(dpt_config_parse_file("/nonexistent/otel.yaml", &err));
    assert_non_null(strstr(err.message, "cannot open"));
}

/* A configuration file that is a FIFO (mkfifo, or a pipe path): with no writer, or a
 * writer that never writes, the read used to block the provider's creation - and the
 * service - forever. It now waits at most 10 s in all, then fails with a reason; a writer
 * that comes within that time is read. dptrace's own rule (never a hang of the caller). */
static void *late_writer(void *path)
{
    struct timespec d = {0, 200 * 1000000L};
    nanosleep(&d, NULL);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("file_format: '1.0'\n", f);
        fclose(f);
    }
    return NULL;
}

static void test_a_fifo_never_hangs_the_caller(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/dpt-cf-fifo-%d.yaml", (int)getpid());
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    dpt_config_error err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(dpt_config_parse_file(path, &err)); /* nobody writes */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 60); /* loose: it returned, with its reason */
    assert_non_null(strstr(err.message, "within 10 s"));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_writer, path), 0);
    dpt_config *c = dpt_config_parse_file(path, &err); /* a writer comes 200 ms later */
    pthread_join(th, NULL);
    if (!c) fail_msg("%s", err.message);
    dpt_config_free(c);
    unlink(path);
}

/* Header values are credentials: a malformed headers_list entry or a header value of the
 * wrong type is reported by position, never shown (docs/security.md: "their values are
 * never logged (an invalid header is reported by name only)", as for
 * OTEL_EXPORTER_OTLP_HEADERS). Both used to quote the value, e.g. "Authorization Bearer
 * s3cr3t" or an unquoted numeric API key, into the error and the log. */
static void test_header_values_never_reach_an_error_or_the_log(void **state)
{
    (void)state;
    const char *pre = "file_format: '1.0'\ntracer_provider:\n  processors:\n    - simple:\n"
                      "        exporter:\n          otlp_http:\n";
    const char *bodies[] = {
        "            headers_list: 'x-a=1, Authorization Bearer s3cr3t'\n",
        "            headers_list: 'k%zz=s3cr3t'\n",
        /* a bad escape in a value: the exporter would drop the entry (dpt__kvlist), so the
         * file is refused where it is checked */
        "            headers_list: 'x-a=s3cr3t%zz'\n",
        "            headers:\n              - name: x-api-key\n                value: 73313371\n",
        "            headers:\n              - name: x-api-key\n                value: [s3cr3t]\n",
    };
    setenv("RT_NUMERIC_KEY", "0x5e3c7e7", 1);
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc, "%s%s", pre, bodies[i]);
        dpt_config_error err;
        cap.count = 0;
        cap.last[0] = 0;
        assert_null(dpt_config_parse(doc, DPT_NUL, &err));
        if (strstr(err.message, "s3cr3t") || strstr(err.message, "73313371") ||
            strstr(cap.last, "s3cr3t") || strstr(cap.last, "73313371"))
            fail_msg("case %zu leaks: %s / %s", i, err.message, cap.last);
        assert_true(cap.count > 0); /* still reported */
        assert_non_null(strstr(err.message, "not shown"));
    }
    /* ${VAR} substituting a hex token: typed as a number, reported without it */
    char doc[1024];
    snprintf(doc, sizeof doc, "%s%s", pre,
             "            headers:\n              - name: x-api-key\n                value: "
             "${RT_NUMERIC_KEY}\n");
    dpt_config_error err;
    assert_null(dpt_config_parse(doc, DPT_NUL, &err));
    assert_null(strstr(err.message, "5e3c7e7"));
    assert_null(strstr(err.message, "98813927")); /* 0x5e3c7e7 as a decimal integer */
    unsetenv("RT_NUMERIC_KEY");
}

/* configuration/sdk.md, Create: "If no PluginComponentProvider is registered with the type
 * and name, Create SHOULD return an error." */
static void test_create_fails_for_an_unregistered_exporter(void **state)
{
    (void)state;
    const char *doc =
        "file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n"
        "          nonesuch:\n            x: 1\n";
    dpt_config *cfg = dpt_config_parse(doc, DPT_NUL, NULL);
    assert_non_null(cfg);
    assert_null(dpt_provider_from_config(cfg));
    assert_non_null(strstr(cap.last, ".tracer_provider.processors[0].batch.exporter.nonesuch"));
    assert_non_null(strstr(cap.last, "not registered"));
    dpt_config_free(cfg);
}

/* ---- OTEL_CONFIG_FILE -------------------------------------------------------------------------
 */

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/dptrace-cfg-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* sdk-environment-variables.md: "When OTEL_CONFIG_FILE is set, all other environment
 * variables besides those referenced in the configuration file for environment variable
 * substitution MUST be ignored." */
static void test_otel_config_file_replaces_the_environment(void **state)
{
    (void)state;
    char *path = write_temp(
        "file_format: '1.1'\n"
        "resource:\n  attributes:\n    - name: service.name\n      value: ${CFGTEST_NAME}\n"
        "propagator:\n  composite:\n    - b3:\n"
        "tracer_provider:\n  processors:\n    - simple:\n        exporter:\n          capture:\n"
        "  sampler:\n    always_off:\n");
    setenv("OTEL_CONFIG_FILE", path, 1);
    setenv("CFGTEST_NAME", "from-file", 1);
    setenv("OTEL_SERVICE_NAME", "from-env-ignored", 1);
    setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    assert_int_equal(dpt_config_register(), DPT_OK);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(p);
    assert_string_equal(res_str(p, "service.name"), "from-file");
    assert_true(seen_called); /* the file's exporter, not OTEL_TRACES_EXPORTER=none */
    dpt_span s =
        dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s)); /* the file's always_off */
    dpt_span_end(s);
    /* The file's propagators became the global propagator. */
    const char *f[4];
    assert_int_equal(dpt_propagator_fields(dpt_propagator_get_global(), f, 4), 1);
    assert_string_equal(f[0], "b3");
    dpt_provider_free(p);
    /* Our API: a sampler given to dpt_provider_from_env_with_sampler replaces the file's
     * too; the rest still comes from the file. */
    seen_called = false;
    p = dpt_provider_from_env_with_sampler(dpt_sampler_always_on());
    assert_string_equal(res_str(p, "service.name"), "from-file");
    s = dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(s));
    dpt_span_end(s);
    assert_true(seen_called);
    dpt_provider_free(p);
    unlink(path);

    /* A broken file: no provider (tracing off), and an error that names the file. A
     * sampler given with it is freed (the ASan build's leak check would see it). */
    path = write_temp("file_format: '1.1'\ntracer_provider:\n  processors: {}\n");
    setenv("OTEL_CONFIG_FILE", path, 1);
    cap.count = 0;
    assert_null(dpt_provider_from_env());
    assert_true(cap.count >= 1);
    assert_non_null(strstr(cap.last, "tracing is off"));
    assert_null(dpt_provider_from_env_with_sampler(dpt_sampler_always_on()));
    unlink(path);
    unsetenv("OTEL_CONFIG_FILE");
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_TRACES_SAMPLER");
    dpt_propagator_set_global(NULL);
}

/* log_level sets the diagnostic level ("Configure the log level of the internal logger"). */
static void test_log_level(void **state)
{
    (void)state;
    dpt_config *cfg =
        dpt_config_parse("file_format: '1.1'\nlog_level: debug\ntracer_provider:\n  processors:\n"
                         "    - simple:\n        exporter:\n          capture:\n",
                         DPT_NUL, NULL);
    cap.count = 0;
    dpt_provider *p = dpt_provider_from_config(cfg);
    dpt_provider_free(p); /* logs its shutdown counts at INFO */
    assert_true(cap.count >= 1);
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_ERROR);
    dpt_config_free(cfg);
}

/* ---- exporters configured by the file reach a collector ----------------------------------- */

#ifdef HAVE_COLLECTOR
/* OTLP/HTTP settings from the file (endpoint, headers over headers_list, gzip, json) and
 * Zipkin as a plugin with its endpoint, against the loopback test collector. */
static void test_http_exporters_take_the_file_settings(void **state)
{
    (void)state;
    dpt_http_register();
    collector *col = collector_start(0);
    assert_non_null(col);
    char doc[2048];
    snprintf(
        doc, sizeof doc,
        "file_format: '1.1'\n"
        "tracer_provider:\n  processors:\n"
        "    - simple:\n        exporter:\n          otlp_http:\n"
        "            endpoint: http://127.0.0.1:%u/v1/traces\n"
        "            encoding: json\n            compression: gzip\n            timeout: 5000\n"
        "            headers:\n              - name: x-api-key\n                value: "
        "from-headers\n"
        "            headers_list: 'x-api-key=from-list,x-other=1'\n"
        "    - simple:\n        exporter:\n          zipkin:\n"
        "            endpoint: http://127.0.0.1:%u/api/v2/spans\n",
        collector_port(col), collector_port(col));
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=from-env-ignored", 1);
    dpt_config *cfg = dpt_config_parse(doc, DPT_NUL, NULL);
    assert_non_null(cfg);
    dpt_provider *p = dpt_provider_from_config(cfg);
    assert_non_null(p);
    dpt_span s = dpt_span_start(dpt_provider_get_tracer(p, "x", NULL), "s", DPT_SPAN_SERVER, NULL);
    dpt_span_end(s);
    assert_int_equal(dpt_provider_force_flush(p, 5000), DPT_OK);
    assert_true(collector_wait_requests(col, 2, 5000));
    bool otlp = false, zipkin = false;
    for (size_t i = 0; i < collector_requests(col); i++) {
        col_request r;
        assert_true(collector_request(col, i, &r));
        if (strcmp(r.path, "/v1/traces") == 0) {
            otlp = true;
            assert_true(r.gzip);
            assert_non_null(strstr(r.content_type, "json"));
            assert_string_equal(r.api_key, "from-headers");
            assert_int_equal(r.spans, 1);
        } else if (strcmp(r.path, "/api/v2/spans") == 0) {
            zipkin = true;
            assert_int_equal(r.spans, 1);
        }
    }
    assert_true(otlp);
    assert_true(zipkin);
    dpt_provider_free(p);
    dpt_config_free(cfg);
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    /* otlp_grpc makes the OTLP/gRPC exporter; a scheme-less endpoint with tls.insecure is
     * h2c (exporter.md: insecure "only applies to OTLP/gRPC when an endpoint is provided
     * without the http or https scheme"). Made without connecting. */
    cfg = dpt_config_parse(
        "file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n"
        "          otlp_grpc:\n            endpoint: 127.0.0.1:4317\n            tls:\n"
        "              insecure: true\n            compression: gzip\n",
        DPT_NUL, NULL);
    assert_non_null(cfg);
    p = dpt_provider_from_config(cfg);
    assert_non_null(p);
    dpt_provider_free(p);
    dpt_config_free(cfg);
    /* An endpoint the exporter refuses fails the whole Create. */
    cfg = dpt_config_parse(
        "file_format: '1.1'\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n"
        "          otlp_http:\n            endpoint: ftp://127.0.0.1/v1/traces\n",
        DPT_NUL, NULL);
    assert_non_null(cfg);
    assert_null(dpt_provider_from_config(cfg));
    dpt_config_free(cfg);
    collector_stop(col);
}
#endif

/* ---- the schema repository's examples ---------------------------------------------------------
 */

static dpt_exporter *memory_factory(const dpt_exporter_settings *s)
{
    (void)s;
    return dpt_exporter_memory(100);
}

/* Snippets that use what dptrace does not support, and the node it names. */
static const struct {
    const char *file, *path;
} unsupported[] = {
    {"ExperimentalTracerConfigurator_kitchen_sink.yaml",
     ".tracer_provider.tracer_configurator/development"},
    {"IdGenerator_custom.yaml", ".tracer_provider.id_generator.my_custom_id_generator"},
    {"Propagator_kitchen_sink.yaml", ".propagator.composite_list"},
    {"Sampler_composite_rule_based_drop_redis_ping.yaml",
     ".tracer_provider.sampler.composite/development"},
    {"Sampler_rule_based_kitchen_sink.yaml", ".tracer_provider.sampler.composite/development"},
};

static int check_dir(const char *dir, bool snippets)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int checked = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        const char *expect_path = NULL;
        for (size_t i = 0; snippets && i < sizeof unsupported / sizeof unsupported[0]; i++)
            if (strcmp(unsupported[i].file, e->d_name) == 0) expect_path = unsupported[i].path;
        dpt_config_error err;
        dpt_config *cfg = dpt_config_parse_file(path, &err);
        checked++;
        if (expect_path) {
            if (cfg || strcmp(err.path, expect_path) != 0) {
                printf("FAIL %s: expected an error at %s, got %s %s\n", e->d_name, expect_path,
                       cfg ? "success" : err.path, cfg ? "" : err.message);
                failed++;
            } else {
                printf("ok   %s: unsupported, as documented (%s: %s)\n", e->d_name, err.path,
                       err.message);
            }
            dpt_config_free(cfg);
            continue;
        }
        if (!cfg) {
            printf("FAIL %s: %u:%u %s: %s\n", e->d_name, err.line, err.column, err.path,
                   err.message);
            failed++;
            continue;
        }
        dpt_provider *p = dpt_provider_from_config(cfg);
        dpt_propagator *prop = dpt_propagator_from_config(cfg);
        if (!p) {
            printf("FAIL %s: parsed, but Create failed (%s)\n", e->d_name, cap.last);
            failed++;
        } else {
            printf("ok   %s\n", e->d_name);
        }
        dpt_propagator_free(prop);
        dpt_provider_free(p);
        dpt_config_free(cfg);
    }
    closedir(d);
    printf("%s: %d files, %d failed\n", dir, checked, failed);
    return failed ? -1 : checked;
}

static int schema_examples(const char *root)
{
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_ERROR);
#ifdef HAVE_COLLECTOR
    dpt_http_register();
#endif
    /* Nothing leaves the process: the file, stdout and console exporters write to memory. */
    dpt_exporter_factory_register("file", memory_factory);
    dpt_exporter_factory_register("otlp/stdout", memory_factory);
    dpt_exporter_factory_register("console", memory_factory);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/examples", root);
    int a = check_dir(dir, false);
    snprintf(dir, sizeof dir, "%s/snippets", root);
    int b = check_dir(dir, true);
    if (a <= 0 || b <= 0) {
        printf("schema examples: %s\n", a == 0 || b == 0 ? "no example files found" : "FAILED");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--schema-examples") == 0) return schema_examples(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_example_maps_onto_the_provider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_style_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noop_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sampler_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_documents_are_rejected_with_their_path,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_documents_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_values_never_reach_an_error_or_the_log, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_fifo_never_hangs_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_fails_for_an_unregistered_exporter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_otel_config_file_replaces_the_environment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_level, setup, teardown),
#ifdef HAVE_COLLECTOR
        cmocka_unit_test_setup_teardown(test_http_exporters_take_the_file_settings, setup,
                                        teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
