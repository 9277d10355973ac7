/* config.c - dpt_provider_from_env(): the OpenTelemetry environment variables.
 *
 * Every value is validated; an invalid one is reported through the log and the default
 * is used, so a typo in a deployment never disables tracing silently or crashes the
 * service. See docs/configuration.md for the full list.
 */
#include "provider.h"
#include "context.h"
#include "dptrace/export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- exporter factories ---------------------------------------------------------------- */

#define MAX_FACTORIES 16
/* Registry: global, written rarely (registration), read when a provider is built. */
static pthread_mutex_t fac_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    dpt_exporter_factory_fn fn;
} factories[MAX_FACTORIES];

dpt_err dpt_exporter_factory_register(const char *name, dpt_exporter_factory_fn fn)
{
    if (!name || !*name || strlen(name) >= sizeof factories[0].name || !fn) return DPT_EINVAL;
    dpt_err e = DPT_EFULL;
    pthread_mutex_lock(&fac_mu);
    for (int i = 0; i < MAX_FACTORIES; i++) {
        if (!factories[i].fn || strcmp(factories[i].name, name) == 0) {
            memcpy(factories[i].name, name, strlen(name) + 1); /* length checked above */
            factories[i].fn = fn;
            e = DPT_OK;
            break;
        }
    }
    pthread_mutex_unlock(&fac_mu);
    return e;
}

static dpt_exporter_factory_fn find_factory(const char *name)
{
    dpt_exporter_factory_fn fn = NULL;
    pthread_mutex_lock(&fac_mu);
    for (int i = 0; i < MAX_FACTORIES; i++)
        if (factories[i].fn && strcmp(factories[i].name, name) == 0) fn = factories[i].fn;
    pthread_mutex_unlock(&fac_mu);
    return fn;
}

/* ---- value parsing ---------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool env_bool(const char *name, bool def)
{
    const char *v = env(name);
    if (!v) return def;
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) return true;
    if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) return false;
    dpt__log(DPT_LOG_WARN, "%s=%s is not a boolean; using %s", name, v, def ? "true" : "false");
    return def;
}

/* A non-negative integer setting; invalid values are logged and ignored. */
static bool env_uint(const char *name, uint32_t *out)
{
    const char *v = env(name);
    if (!v) return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ') end++;
    if (errno || *end || x < 0 || x > (long long)UINT32_MAX - 1) {
        dpt__log(DPT_LOG_WARN, "%s=%s is not a valid non-negative integer; using the default", name, v);
        return false;
    }
    *out = (uint32_t)x;
    return true;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (NUL-terminated); false on a bad escape. */
static bool pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) return false;
            int hi = hexv(s[i + 1]), lo = hexv(s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= cap) return false;
        out[o++] = c;
    }
    out[o] = 0;
    return true;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

#define MAX_RES_ATTRS 64

typedef struct res_attrs {
    dpt_attr a[MAX_RES_ATTRS];
    char keys[MAX_RES_ATTRS][256];
    char vals[MAX_RES_ATTRS][256];
    size_t n;
} res_attrs;

/* OTEL_RESOURCE_ATTRIBUTES: key1=value1,key2=value2 (values percent-encoded). As the
 * specification says, an invalid value discards the whole variable. */
static void parse_resource(const char *v, res_attrs *r)
{
    r->n = 0;
    if (!v) return;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        size_t n = len;
        trim(&item, &n);
        if (n) {
            const char *eq = memchr(item, '=', n);
            if (!eq || r->n == MAX_RES_ATTRS) goto bad;
            const char *k = item, *val = eq + 1;
            size_t kn = (size_t)(eq - item), vn = n - kn - 1;
            trim(&k, &kn);
            trim(&val, &vn);
            if (!kn || !pct_decode(k, kn, r->keys[r->n], sizeof r->keys[0]) ||
                !pct_decode(val, vn, r->vals[r->n], sizeof r->vals[0]))
                goto bad;
            r->a[r->n] = DPT_STR(r->keys[r->n], r->vals[r->n]);
            r->n++;
        }
        p += len + (comma ? 1 : 0);
    }
    return;
bad:
    dpt__log(DPT_LOG_WARN, "OTEL_RESOURCE_ATTRIBUTES is malformed; ignored");
    r->n = 0;
}

static double sampler_arg(double def)
{
    const char *v = env("OTEL_TRACES_SAMPLER_ARG");
    if (!v) return def;
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= 0.0 && x <= 1.0)) {
        dpt__log(DPT_LOG_WARN, "OTEL_TRACES_SAMPLER_ARG=%s is not in [0, 1]; using %g", v, def);
        return def;
    }
    return x;
}

static dpt_sampler *sampler_from_env(void)
{
    const char *v = env("OTEL_TRACES_SAMPLER");
    if (!v) v = "parentbased_always_on";
    bool pb = strncmp(v, "parentbased_", 12) == 0;
    const char *base = pb ? v + 12 : v;
    dpt_sampler *s = NULL;
    if (strcmp(base, "always_on") == 0) s = dpt_sampler_always_on();
    else if (strcmp(base, "always_off") == 0) s = dpt_sampler_always_off();
    else if (strcmp(base, "traceidratio") == 0) s = dpt_sampler_traceid_ratio(sampler_arg(1.0));
    else if (strcmp(base, "probability") == 0) s = dpt_sampler_probability(sampler_arg(1.0));
    else if (strcmp(base, "ratelimiting") == 0) {
        const char *a = env("OTEL_TRACES_SAMPLER_ARG");
        double r = a ? strtod(a, NULL) : 100.0;
        s = dpt_sampler_rate_limiting(r > 0 ? r : 100.0);
    } else {
        dpt__log(DPT_LOG_WARN, "OTEL_TRACES_SAMPLER=%s is not supported; using parentbased_always_on", v);
        pb = true;
        s = dpt_sampler_always_on();
    }
    if (pb && s) s = dpt_sampler_parent_based(s, NULL, NULL, NULL, NULL);
    return s;
}

static void limits_from_env(dpt_span_limits *l)
{
    dpt_span_limits_default(l);
    uint32_t x;
    /* General limits first; the span-specific ones override them. */
    if (env_uint("OTEL_ATTRIBUTE_COUNT_LIMIT", &x)) l->attr_count = l->attrs_per_event = l->attrs_per_link = x;
    if (env_uint("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &x)) l->attr_value_len = x;
    if (env_uint("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", &x)) l->attr_count = x;
    if (env_uint("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", &x)) l->attr_value_len = x;
    if (env_uint("OTEL_SPAN_EVENT_COUNT_LIMIT", &x)) l->event_count = x;
    if (env_uint("OTEL_SPAN_LINK_COUNT_LIMIT", &x)) l->link_count = x;
    if (env_uint("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", &x)) l->attrs_per_event = x;
    if (env_uint("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", &x)) l->attrs_per_link = x;
    if (env_uint("DPTRACE_SPAN_MAX_BYTES", &x)) l->max_span_bytes = x;
}

static void bsp_from_env(dpt_batch_config *c)
{
    dpt_batch_config_default(c);
    uint32_t x;
    if (env_uint("OTEL_BSP_SCHEDULE_DELAY", &x)) c->schedule_delay_ms = x;
    if (env_uint("OTEL_BSP_EXPORT_TIMEOUT", &x)) c->export_timeout_ms = x;
    if (env_uint("OTEL_BSP_MAX_QUEUE_SIZE", &x) && x) c->max_queue_size = x;
    if (env_uint("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &x) && x) c->max_export_batch_size = x;
    if (c->max_export_batch_size > c->max_queue_size) {
        dpt__log(DPT_LOG_WARN, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE > OTEL_BSP_MAX_QUEUE_SIZE; clamped");
        c->max_export_batch_size = c->max_queue_size;
    }
}

static dpt_exporter *file_factory(void)
{
    const char *path = env("DPTRACE_EXPORT_FILE");
    return dpt_exporter_file(path ? path : "traces.jsonl");
}

static dpt_exporter *console_factory(void) { return dpt_exporter_console(stdout); }

/* Builds the processors for OTEL_TRACES_EXPORTER into procs; returns their number. */
static size_t exporters_from_env(dpt_processor **procs, size_t max)
{
    const char *list = env("OTEL_TRACES_EXPORTER");
    if (!list) {
        /* Our embedded default is the file exporter, so that nothing is sent to a
         * collector that was never configured; naming an OTLP endpoint selects otlp. */
        list = (env("OTEL_EXPORTER_OTLP_ENDPOINT") || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) ? "otlp" : "file";
    }
    dpt_batch_config bsp;
    bsp_from_env(&bsp);
    size_t n = 0;
    const char *p = list;
    while (*p && n < max) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *name = p;
        trim(&name, &len);
        char nm[32];
        if (len && len < sizeof nm) {
            memcpy(nm, name, len);
            nm[len] = 0;
            dpt_exporter *e = NULL;
            bool simple = false;
            if (strcmp(nm, "none") == 0) {
                /* nothing */
            } else if (strcmp(nm, "console") == 0 || strcmp(nm, "logging") == 0) {
                e = console_factory();
                simple = true;
            } else if (strcmp(nm, "file") == 0) {
                e = file_factory();
            } else {
                dpt_exporter_factory_fn fn = find_factory(nm);
                if (fn) e = fn();
                else
                    dpt__log(DPT_LOG_WARN,
                             "OTEL_TRACES_EXPORTER: exporter '%s' is not available (for otlp and "
                             "zipkin link libdptrace-http and call dpt_http_register())", nm);
            }
            if (e) {
                dpt_processor *pr = simple ? dpt_processor_simple(e) : dpt_processor_batch(e, &bsp);
                if (pr) procs[n++] = pr;
            }
        }
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

dpt_provider *dpt_provider_from_env(void)
{
    dpt_provider_config cfg = { 0 };
    cfg.disabled = env_bool("OTEL_SDK_DISABLED", false);
    res_attrs *ra = dpt__calloc(1, sizeof *ra);
    if (!ra) return NULL;
    parse_resource(env("OTEL_RESOURCE_ATTRIBUTES"), ra);
    /* OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES. */
    const char *svc = env("OTEL_SERVICE_NAME");
    if (!svc)
        for (size_t i = 0; i < ra->n; i++)
            if (strcmp(ra->keys[i], "service.name") == 0) svc = ra->vals[i];
    cfg.service_name = svc;
    cfg.resource_attrs = ra->a;
    cfg.n_resource_attrs = ra->n;
    dpt_span_limits limits;
    limits_from_env(&limits);
    cfg.limits = &limits;
    dpt_processor *procs[DPT__MAX_PROCESSORS];
    cfg.n_processors = cfg.disabled ? 0 : exporters_from_env(procs, DPT__MAX_PROCESSORS);
    cfg.processors = procs;
    cfg.sampler = sampler_from_env();
    cfg.shutdown_at_exit = env_bool("DPTRACE_SHUTDOWN_AT_EXIT", true);
    dpt_provider *p = dpt_provider_new(&cfg);
    free(ra);
    return p;
}
