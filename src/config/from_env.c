/* from_env.c - the OTEL_* environment read into the configuration model, and
 * dpt_provider_from_env().
 *
 * The value rules are the specification's (configuration/sdk-environment-variables.md
 * and common.md), applied by src/common/env.c: empty is unset, enums are case-insensitive,
 * only "true" is true, and every invalid value is logged with the variable's name and
 * what is used instead, so a typo in a deployment never disables tracing silently.
 * See docs/configuration.md for the full list.
 */
#include "config.h"
#include "resource.h"

#include <stdlib.h>
#include <strings.h>

/* Integers the specification asks us to accept: 0 .. 2^31 - 1 (common.md "Integer"). */
#define INT_MAX31 2147483647ull

/* OTEL_RESOURCE_ATTRIBUTES: key1=value1,key2=value2 with percent-encoded values, read by
 * the one parser of that syntax (dpt__resource_parse_list: a repeated key keeps its last
 * value). As the specification says, an invalid entry discards the whole variable. */
static void resource_from_env(dpt__config *c)
{
    const char *v = dpt__env("OTEL_RESOURCE_ATTRIBUTES");
    if (!v) return;
    bool malformed = false;
    dpt_resource *r = dpt__resource_parse_list(v, &malformed);
    size_t n = 0, n0 = c->n_resource;
    const dpt_attr *a = dpt_resource_attrs(r, &n);
    bool ok = r && n <= DPT__CONFIG_MAX_RESOURCE - n0;
    for (size_t i = 0; ok && i < n; i++) {
        const char *k = dpt__config_strdup(c, a[i].key, a[i].key_len);
        const char *s = dpt__config_strdup(c, a[i].value.u.s, a[i].value.len);
        ok = k && s;
        if (ok) {
            dpt_attr *d = &c->resource[c->n_resource++];
            *d = a[i];
            d->key = k;
            d->value.u.s = s;
        }
    }
    dpt_resource_free(r);
    if (ok) return;
    c->n_resource = n0;
    if (malformed)
        dpt__log(DPT_LOG_WARN,
                 "OTEL_RESOURCE_ATTRIBUTES is malformed (a member without '=', an empty "
                 "key or a bad percent escape); the whole variable is ignored");
    else if (r)
        dpt__log(DPT_LOG_WARN,
                 "OTEL_RESOURCE_ATTRIBUTES has more than %d attributes; the whole "
                 "variable is ignored",
                 DPT__CONFIG_MAX_RESOURCE);
    else
        dpt__log(DPT_LOG_ERROR, "OTEL_RESOURCE_ATTRIBUTES: %s", dpt_strerror(DPT_ENOMEM));
}

static void sampler_from_env(dpt__config *c)
{
    static const char *const names[] = {
        "always_on",
        "always_off",
        "traceidratio",
        "probability",
        "ratelimiting",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
        "parentbased_probability",
        "parentbased_ratelimiting",
    };
    int i = dpt__env_enum("OTEL_TRACES_SAMPLER", names, sizeof names / sizeof names[0], 5);
    c->parent_based = i >= 5;
    c->sampler = i % 5;
    /* "The specified value will only be used if OTEL_TRACES_SAMPLER is set. [...] Invalid
     * or unrecognized input MUST be logged and MUST be otherwise ignored." */
    if (!dpt__env("OTEL_TRACES_SAMPLER")) return;
    double x;
    switch (c->sampler) {
    case DPT__SAMPLE_TRACEIDRATIO:
    case DPT__SAMPLE_PROBABILITY:
        c->sampler_arg = 1.0;
        if (dpt__env_double("OTEL_TRACES_SAMPLER_ARG", 0.0, 1.0, &x)) c->sampler_arg = x;
        break;
    case DPT__SAMPLE_RATELIMITING:
        c->sampler_arg = 100.0;
        if (dpt__env_double("OTEL_TRACES_SAMPLER_ARG", 1e-9, 1e9, &x)) c->sampler_arg = x;
        break;
    default:
        if (dpt__env("OTEL_TRACES_SAMPLER_ARG"))
            dpt__log(DPT_LOG_WARN,
                     "OTEL_TRACES_SAMPLER_ARG is ignored: OTEL_TRACES_SAMPLER=%s takes no argument",
                     dpt__env("OTEL_TRACES_SAMPLER"));
    }
}

static void limit(const char *name, uint32_t *dst)
{
    uint64_t x;
    if (dpt__env_uint(name, INT_MAX31, &x)) *dst = (uint32_t)x;
}

static void limits_from_env(dpt_span_limits *l)
{
    dpt_span_limits_default(l);
    /* General limits first; the span-specific ones override them. */
    uint64_t v;
    if (dpt__env_uint("OTEL_ATTRIBUTE_COUNT_LIMIT", INT_MAX31, &v))
        l->attr_count = l->attrs_per_event = l->attrs_per_link = (uint32_t)v;
    limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &l->attr_value_len);
    limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", &l->attr_count);
    limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", &l->attr_value_len);
    limit("OTEL_SPAN_EVENT_COUNT_LIMIT", &l->event_count);
    limit("OTEL_SPAN_LINK_COUNT_LIMIT", &l->link_count);
    limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", &l->attrs_per_event);
    limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", &l->attrs_per_link);
    limit("DPTRACE_SPAN_MAX_BYTES", &l->max_span_bytes);
}

/* A positive integer (the specification: "Valid values are positive"). */
static void positive(const char *name, uint32_t *dst)
{
    uint64_t x;
    if (!dpt__env_uint(name, INT_MAX31, &x)) return;
    if (x == 0) {
        dpt__log(DPT_LOG_WARN, "%s=0 is not valid (must be positive); using %u", name, *dst);
        return;
    }
    *dst = (uint32_t)x;
}

static void bsp_from_env(dpt_batch_config *b)
{
    dpt_batch_config_default(b);
    uint64_t x;
    if (dpt__env_uint("OTEL_BSP_SCHEDULE_DELAY", INT_MAX31, &x)) b->schedule_delay_ms = (uint32_t)x;
    /* A timeout of 0 means no limit (common.md "Timeout"); we take "a very long time". */
    if (dpt__env_uint("OTEL_BSP_EXPORT_TIMEOUT", INT_MAX31, &x))
        b->export_timeout_ms = x ? (uint32_t)x : UINT32_MAX;
    positive("OTEL_BSP_MAX_QUEUE_SIZE", &b->max_queue_size);
    /* dptrace's own (docs/configuration.md): the batch queue's byte budget, 0 for the
     * specification's span count only */
    if (dpt__env_uint("DPTRACE_BSP_MAX_QUEUE_BYTES", (uint64_t)1 << 40, &x)) b->max_queue_bytes = x;
    positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &b->max_export_batch_size);
    if (b->max_export_batch_size > b->max_queue_size) {
        dpt__log(
            DPT_LOG_WARN,
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%u is larger than OTEL_BSP_MAX_QUEUE_SIZE=%u; using %u",
            b->max_export_batch_size, b->max_queue_size, b->max_queue_size);
        b->max_export_batch_size = b->max_queue_size;
    }
}

/* OTEL_TRACES_EXPORTER: a comma-separated list of registered names. Our default when it is
 * unset is the file exporter, not otlp, so that an embedded library sends nothing to a
 * collector nobody configured; naming an OTLP endpoint selects otlp. */
static void exporters_from_env(dpt__config *c)
{
    const char *list = dpt__env("OTEL_TRACES_EXPORTER");
    if (!list)
        list = (dpt__env("OTEL_EXPORTER_OTLP_ENDPOINT") ||
                dpt__env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
                   ? "otlp"
                   : "file";
    dpt_batch_config bsp;
    bsp_from_env(&bsp);
    size_t pos = 0, len;
    const char *name;
    while (dpt__list_next(list, strlen(list), &pos, &name, &len)) {
        bool dup = false;
        for (size_t i = 0; i < c->n_exporters; i++)
            dup |= strlen(c->exporters[i].name) == len &&
                   strncasecmp(c->exporters[i].name, name, len) == 0;
        if (len >= sizeof c->exporters[0].name) {
            dpt__log(DPT_LOG_WARN,
                     "OTEL_TRACES_EXPORTER: a name of %zu bytes is not an exporter; ignored", len);
        } else if (c->n_exporters == DPT__CONFIG_MAX_EXPORTERS) {
            dpt__log(DPT_LOG_WARN,
                     "OTEL_TRACES_EXPORTER: more than %d exporters; the rest are ignored",
                     DPT__CONFIG_MAX_EXPORTERS);
            break;
        } else if (!dup) {
            dpt__config_exporter *e = &c->exporters[c->n_exporters++];
            memcpy(e->name, name, len);
            e->name[len] = 0;
            for (char *q = e->name; *q; q++)
                if (*q >= 'A' && *q <= 'Z') *q = (char)(*q + 32);
            e->simple = strcmp(e->name, "console") == 0;
            e->bsp = bsp;
        }
    }
}

void dpt__config_from_env(dpt__config *c)
{
    /* "If "true", a no-op SDK implementation will be used for all telemetry signals. Any
     * other value or absence of the variable will have no effect." */
    c->disabled = dpt__env_bool("OTEL_SDK_DISABLED", false);
    resource_from_env(c);
    /* OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES. */
    c->service_name = dpt__env("OTEL_SERVICE_NAME");
    if (!c->service_name)
        for (size_t i = 0; i < c->n_resource; i++)
            if (strcmp(c->resource[i].key, "service.name") == 0)
                c->service_name = c->resource[i].value.u.s;
    limits_from_env(&c->limits);
    sampler_from_env(c);
    if (!c->disabled) exporters_from_env(c);
    c->shutdown_at_exit = dpt__env_bool("DPTRACE_SHUTDOWN_AT_EXIT", true);
    /* Resource detectors: dptrace's own variable (the specification leaves detector
     * selection to each language); all built-in detectors unless told otherwise. They rank
     * below OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME. */
    c->detectors = dpt__env("DPTRACE_RESOURCE_DETECTORS");
    if (!c->detectors) c->detectors = "all";
}

/* Set by libdptrace-config (dpt_config_register); read when a provider is built. */
static _Atomic(dpt__config_file_fn) file_hook;

void dpt__config_set_file_hook(dpt__config_file_fn fn)
{
    atomic_store(&file_hook, fn);
}

dpt_provider *dpt_provider_from_env(void)
{
    return dpt_provider_from_env_with_sampler(NULL);
}

dpt_provider *dpt_provider_from_env_with_sampler(dpt_sampler *sampler)
{
    /* "If OTEL_CONFIG_FILE is set, the file at the specified path is used to call Parse
     * [...] all other environment variables besides those referenced in the configuration
     * file for environment variable substitution MUST be ignored."
     * (configuration/sdk-environment-variables.md). OTEL_EXPERIMENTAL_CONFIG_FILE is its
     * deprecated name. */
    const char *file = dpt__env("OTEL_CONFIG_FILE");
    const char *var = "OTEL_CONFIG_FILE";
    if (!file) {
        file = dpt__env("OTEL_EXPERIMENTAL_CONFIG_FILE");
        var = "OTEL_EXPERIMENTAL_CONFIG_FILE";
    }
    if (file) {
        dpt__config_file_fn fn = atomic_load(&file_hook);
        if (fn) return fn(file, sampler);
        dpt__log(DPT_LOG_WARN,
                 "%s=%s is set but libdptrace-config is not linked (or dpt_config_register() "
                 "was not called); configuring from the other OTEL_* variables instead",
                 var, file);
    }
    dpt__config c;
    dpt__config_init(&c);
    dpt__config_from_env(&c);
    c.sampler_given = sampler;
    dpt_provider *p = dpt__config_build(&c);
    dpt__config_free(&c);
    return p;
}
