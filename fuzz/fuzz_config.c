/* fuzz_config.c - libFuzzer target: the configuration read from the environment
 * (OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), the span limit variables,
 * DPTRACE_SPAN_MAX_BYTES, OTEL_SERVICE_NAME, OTEL_PROPAGATORS).
 *
 * Input: newline-separated values, one per variable in the order of `vars` below (a
 * missing line unsets the variable; a NUL ends a value). Invariants: a provider is always
 * built (dpt_provider_from_env returns NULL only on ENOMEM), a span through it respects
 * every limit that was given as a plain decimal number, resource keys are non-empty, and
 * the propagator built from OTEL_PROPAGATORS injects what it extracts.
 */
#include <stdio.h>

#include "fuzz_common.h"
#include "dptrace/export.h"

/* The fuzz library holds the core and propagation only; config.c names the file exporter
 * (src/export), which OTEL_TRACES_EXPORTER=none below never asks for. */
dpt_exporter *dpt_exporter_file(const char *path)
{
    (void)path;
    abort();
}

static const char *const vars[] = {
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "DPTRACE_SPAN_MAX_BYTES",
    "OTEL_PROPAGATORS",
    "OTEL_SERVICE_NAME",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
};
#define NVARS (sizeof vars / sizeof vars[0])

static void quiet(dpt_log_level l, const char *m, void *u)
{
    (void)l;
    (void)m;
    (void)u;
}

/* The value as a plain decimal number (digits only, <= 9 of them), or -1. */
static long plain_number(const char *v)
{
    if (!v || !*v || strlen(v) > 9) return -1;
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    return strtol(v, NULL, 10);
}

/* The limit in force when a span-specific variable overrides a general one: known only
 * when the one that applies is a plain number (an invalid specific value falls back to the
 * general one, and which values are invalid is the parser's business). -1: unknown. */
static long effective(const char *specific, const char *general)
{
    if (specific && *specific) return plain_number(specific);
    return plain_number(general);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dpt_log_set_handler(quiet, NULL, DPT_LOG_OFF);
    /* Nothing leaves the process, and no atexit handler per provider. */
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* setenv() keeps every distinct value it was ever given (glibc never frees them), so a
     * long run would grow without bound: each variable instead points (putenv) at one
     * fixed buffer per variable, rewritten for every input. */
    static char envbuf[NVARS][64 + 16384 + 1];
    char *val[NVARS] = {0};
    size_t i = 0;
    for (size_t k = 0; k < NVARS; k++) {
        if (i > size) {
            unsetenv(vars[k]);
            continue;
        }
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
        val[k] = strndup((const char *)data + i, j - i); /* stops at a NUL too */
        if (!val[k]) abort();
        size_t nl = strlen(vars[k]), vl = strlen(val[k]);
        if (vl > 16384) vl = 16384;
        memcpy(envbuf[k], vars[k], nl);
        envbuf[k][nl] = '=';
        memcpy(envbuf[k] + nl + 1, val[k], vl);
        envbuf[k][nl + 1 + vl] = 0;
        putenv(envbuf[k]);
        i = j + 1;
    }

    dpt_provider *p = dpt_provider_from_env();
    FUZZ_CHECK(p != NULL);
    size_t nres = 0;
    const dpt_attr *res = dpt_provider_resource(p, &nres);
    for (size_t k = 0; k < nres; k++)
        FUZZ_CHECK(res[k].key && res[k].key_len > 0);

    dpt_exporter *mem = dpt_exporter_memory(4);
    FUZZ_CHECK(dpt_provider_add_processor(p, dpt_processor_simple(mem)) == DPT_OK);
    dpt_tracer *t = dpt_provider_get_tracer(p, "fuzz", NULL);
    static char big[300];
    memset(big, 'v', sizeof big - 1);
    dpt_attr attrs[3] = {DPT_STR("a", big), DPT_INT("b", 1), DPT_STR("c", "short")};
    dpt_span_opts o = {0};
    o.attrs = attrs;
    o.n_attrs = 3;
    dpt_span s = dpt_span_start(t, "span", DPT_SPAN_SERVER, &o);
    for (int k = 0; k < 3; k++)
        dpt_span_add_event(s, "e", attrs, 3);
    dpt_link l = {0};
    l.ctx = dpt_span_get_context(s);
    dpt_span_add_link(s, &l);
    dpt_span_add_link(s, &l);
    dpt_span_end(s);
    if (dpt_exporter_memory_count(mem) == 1) {
        const dpt_span_data *d = dpt_exporter_memory_get(mem, 0);
        long attr_count = effective(val[3], val[10]);
        long value_len = effective(val[11], val[4]);
        long events = plain_number(val[5]), links = plain_number(val[6]);
        if (attr_count >= 0) FUZZ_CHECK(d->n_attrs <= (uint32_t)attr_count);
        if (events >= 0) FUZZ_CHECK(d->n_events <= (uint32_t)events);
        if (links >= 0) FUZZ_CHECK(d->n_links <= (uint32_t)links);
        if (value_len > 0)
            for (uint32_t k = 0; k < d->n_attrs; k++)
                if (d->attrs[k].value.type == DPT_VAL_STRING)
                    FUZZ_CHECK(d->attrs[k].value.len <= (uint32_t)value_len);
        FUZZ_CHECK(d->n_attrs <= 3 && d->n_events <= 3 && d->n_links <= 2);
        dpt_span_data_release(d);
    }
    dpt_provider_free(p);

    /* OTEL_PROPAGATORS: whatever it names, the result injects a context it can extract. */
    dpt_propagator *prop = dpt_propagator_from_env();
    FUZZ_CHECK(prop != NULL);
    const char *fields[16];
    FUZZ_CHECK(dpt_propagator_fields(prop, fields, 16) <= 16);
    dpt_span_context sc = {0};
    sc.trace_id = dpt_trace_id_generate();
    sc.span_id = dpt_span_id_generate();
    sc.flags = DPT_FLAG_SAMPLED;
    dpt_context *c = dpt_context_new(&sc, NULL, NULL);
    dpt_headers h = DPT_HEADERS_INIT;
    if (c && dpt_propagator_inject(prop, c, &dpt_headers_setter, &h) == DPT_OK) {
        dpt_context *c2 = NULL;
        dpt_err e = dpt_propagator_extract(prop, &dpt_headers_getter, &h, &c2);
        if (e == DPT_OK && c2) {
            dpt_span_context sc2 = dpt_context_span_context(c2);
            /* A propagator that carries span contexts gives back the same one; formats
             * with 64-bit trace ids (OpenTracing's ot-tracer-traceid) keep the low 64
             * bits and give zeros above them. */
            if (dpt_span_context_is_valid(&sc2)) {
                static const uint8_t zero8[8];
                bool short_id = memcmp(sc2.trace_id.b, zero8, 8) == 0;
                FUZZ_CHECK(memcmp(sc.span_id.b, sc2.span_id.b, 8) == 0);
                FUZZ_CHECK((sc.flags & DPT_FLAG_SAMPLED) == (sc2.flags & DPT_FLAG_SAMPLED));
                FUZZ_CHECK(memcmp(sc.trace_id.b + 8, sc2.trace_id.b + 8, 8) == 0);
                if (!short_id) FUZZ_CHECK(sc_equal(&sc, &sc2));
            }
        }
        dpt_context_release(c2);
    }
    dpt_headers_free(&h);
    dpt_context_release(c);
    dpt_propagator_free(prop);
    for (size_t k = 0; k < NVARS; k++)
        free(val[k]);
    return 0;
}
