/* build.c - the configuration model turned into a provider: one construction for every
 * configuration source (environment, file).
 */
#include "config.h"
#include "dptrace/export.h"
#include "dptrace/propagation.h"
#include "dptrace/plugin.h"
#include "resource.h"

#include <stdlib.h>

typedef struct strnode {
    struct strnode *next;
    _Alignas(16) char s[];
} strnode;

void dpt__config_init(dpt__config *c)
{
    memset(c, 0, sizeof *c);
    dpt_span_limits_default(&c->limits);
    c->sampler = DPT__SAMPLE_ALWAYS_ON;
    c->parent_based = true;
    c->sampler_arg = 1.0;
    c->shutdown_at_exit = true;
    c->log_level = -1;
}

void dpt__config_free(dpt__config *c)
{
    for (strnode *n = c->strings; n;) {
        strnode *next = n->next;
        free(n);
        n = next;
    }
    c->strings = NULL;
}

const char *dpt__config_strdup(dpt__config *c, const char *s, size_t n)
{
    strnode *node = dpt__malloc(sizeof *node + n + 1);
    if (!node) return NULL;
    if (n) memcpy(node->s, s, n);
    node->s[n] = 0;
    node->next = c->strings;
    c->strings = node;
    return node->s;
}

void *dpt__config_alloc(dpt__config *c, size_t n)
{
    strnode *node = dpt__calloc(1, sizeof *node + n + 1);
    if (!node) return NULL;
    node->next = c->strings;
    c->strings = node;
    return node->s;
}

bool dpt__glob_match(const char *p, const char *s)
{
    /* Iterative matching with one backtrack point: linear for one '*', and never worse
     * than len(p) * len(s) steps. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '?' || (*p && *p != '*' && *p == *s)) {
            p++, s++;
        } else if (*p == '*') {
            star = p++;
            resume = s;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

static dpt_sampler *simple_sampler(int kind, double arg)
{
    switch (kind) {
    case DPT__SAMPLE_ALWAYS_OFF:
        return dpt_sampler_always_off();
    case DPT__SAMPLE_TRACEIDRATIO:
        return dpt_sampler_traceid_ratio(arg);
    case DPT__SAMPLE_PROBABILITY:
        return dpt_sampler_probability(arg);
    case DPT__SAMPLE_RATELIMITING:
        return dpt_sampler_rate_limiting(arg);
    default:
        return dpt_sampler_always_on();
    }
}

/* A node of a sampler tree (depth-bounded: the tree is built by the file parser, which
 * rejects cycles and deep nesting, but a bound here costs nothing). NULL on ENOMEM. */
static dpt_sampler *tree_sampler(const dpt__config *c, int i, int depth)
{
    if (i < 0 || (size_t)i >= c->n_samplers || depth > 16) return NULL;
    const dpt__config_sampler *n = &c->samplers[i];
    if (n->kind == DPT__SAMPLE_ALWAYS_RECORD) {
        dpt_sampler *root = tree_sampler(c, n->d[0], depth + 1);
        return root ? dpt_sampler_always_record(root) : NULL;
    }
    if (n->kind != DPT__SAMPLE_PARENT_BASED) return simple_sampler(n->kind, n->arg);
    dpt_sampler *d[5] = {NULL};
    for (int k = 0; k < 5; k++) {
        if (n->d[k] < 0) {
            /* The specification's defaults: root always_on, sampled parents always_on,
             * unsampled parents always_off. */
            if (k == 0)
                d[k] = dpt_sampler_always_on();
            else
                continue;
        } else {
            d[k] = tree_sampler(c, n->d[k], depth + 1);
        }
        if (!d[k]) {
            for (int j = 0; j < k; j++)
                dpt_sampler_free(d[j]);
            return NULL;
        }
    }
    return dpt_sampler_parent_based(d[0], d[1], d[2], d[3], d[4]);
}

static dpt_sampler *make_sampler(const dpt__config *c)
{
    if (c->n_samplers) return tree_sampler(c, 0, 0);
    dpt_sampler *s;
    switch (c->sampler) {
    case DPT__SAMPLE_ALWAYS_OFF:
        s = dpt_sampler_always_off();
        break;
    case DPT__SAMPLE_TRACEIDRATIO:
        s = dpt_sampler_traceid_ratio(c->sampler_arg);
        break;
    case DPT__SAMPLE_PROBABILITY:
        s = dpt_sampler_probability(c->sampler_arg);
        break;
    case DPT__SAMPLE_RATELIMITING:
        s = dpt_sampler_rate_limiting(c->sampler_arg);
        break;
    default:
        s = dpt_sampler_always_on();
    }
    return c->parent_based && s ? dpt_sampler_parent_based(s, NULL, NULL, NULL, NULL) : s;
}

/* The stand-in for an exporter that was configured but could not be made (a lenient
 * configuration goes on without it): every span it gets fails, so that the provider's
 * counts still add up (ended == exported + dropped + failed) instead of spans vanishing.
 * Why it could not be made was logged when it was tried. */
static dpt_err unavailable_export(void *state, const dpt_span_data *const *spans, size_t n)
{
    (void)state;
    (void)spans;
    (void)n;
    return DPT_EEXPORT;
}

static dpt_processor *unavailable_processor(void)
{
    static const dpt_exporter_ops ops = {.export_spans = unavailable_export};
    dpt_exporter *e = dpt_exporter_new(&ops, NULL);
    return e ? dpt_processor_simple(e) : NULL;
}

/* One processor per configured exporter; "none" contributes nothing. Returns the number
 * made, or -1 (nothing left made) when a strict configuration names an exporter that
 * cannot be made. */
static int make_processors(const dpt__config *c, dpt_processor **procs, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_exporters && n < max; i++) {
        const dpt__config_exporter *x = &c->exporters[i];
        if (strcmp(x->name, "none") == 0) continue;
        dpt_exporter_factory_fn fn = dpt__exporter_factory_find(x->name);
        if (!fn) {
            dpt__log(
                c->strict ? DPT_LOG_ERROR : DPT_LOG_WARN,
                "exporter '%s' is not available (known: file, console, otlp/stdout, memory, none; "
                "otlp and zipkin need libdptrace-http and dpt_http_register())%s",
                x->name, c->strict ? "" : "; ignored");
            if (c->strict) goto fail;
            continue;
        }
        dpt_exporter_settings set = {x->keys, x->values, x->n_settings};
        dpt_exporter *e = fn(x->n_settings || x->settings_given ? &set : NULL);
        if (!e) { /* the factory logged why */
            if (c->strict) goto fail;
            dpt_processor *pr = unavailable_processor();
            if (pr) procs[n++] = pr;
            continue;
        }
        dpt_processor *pr = x->simple ? dpt_processor_simple(e) : dpt_processor_batch(e, &x->bsp);
        if (pr)
            procs[n++] = pr;
        else if (c->strict)
            goto fail;
    }
    return (int)n;
fail:
    for (size_t i = 0; i < n; i++)
        dpt_processor_free(procs[i]);
    return -1;
}

/* Whether a detected attribute passes the include/exclude patterns. */
static bool detected_kept(const dpt__config *c, const char *key)
{
    bool in = c->n_detect_include == 0;
    for (size_t i = 0; i < c->n_detect_include && !in; i++)
        in = dpt__glob_match(c->detect_include[i], key);
    for (size_t i = 0; i < c->n_detect_exclude && in; i++)
        in = !dpt__glob_match(c->detect_exclude[i], key);
    return in;
}

/* The resource below the user's attributes: what the configured detectors find, filtered,
 * merged with the configured attributes and schema URL (which win). NULL when there is
 * nothing to add to what dpt_provider_new does itself, or on ENOMEM (*oom). */
static dpt_resource *make_resource(const dpt__config *c, bool *oom)
{
    *oom = false;
    dpt_resource *det = NULL;
    if (c->detectors && !c->disabled) {
        if (dpt_resource_detect_names(c->detectors, &det) == DPT_ENOMEM) {
            *oom = true;
            return NULL;
        }
        size_t n = 0;
        const dpt_attr *a = dpt_resource_attrs(det, &n);
        dpt_attr *kept = n ? dpt__calloc(n, sizeof *kept) : NULL;
        size_t k = 0;
        for (size_t i = 0; kept && i < n; i++)
            if (detected_kept(c, a[i].key)) kept[k++] = a[i];
        dpt_resource *f =
            (n && !kept) ? NULL : dpt_resource_new(kept, k, dpt_resource_schema_url(det));
        free(kept);
        dpt_resource_free(det);
        if (!f) {
            *oom = true;
            return NULL;
        }
        det = f;
    }
    if (c->resource_list) {
        bool malformed = false;
        dpt_resource *list = dpt__resource_parse_list(c->resource_list, &malformed);
        if (malformed)
            dpt__log(DPT_LOG_WARN,
                     "resource attributes list '%s' is malformed (a member without '=' or a bad "
                     "percent escape); the whole list is ignored",
                     c->resource_list);
        else if (!list)
            *oom = true;
        dpt_resource *m = list ? dpt_resource_merge(det, list) : NULL;
        dpt_resource_free(list);
        if (m || *oom) {
            dpt_resource_free(det);
            det = m;
        }
        if (*oom) return NULL;
    }
    if (!det && !c->schema_url) return NULL; /* the attributes go in as resource_attrs */
    dpt_resource *user = dpt_resource_new(c->resource, c->n_resource, c->schema_url);
    dpt_resource *r = user ? dpt_resource_merge(det, user) : NULL;
    dpt_resource_free(det);
    dpt_resource_free(user);
    *oom = r == NULL;
    return r;
}

/* Propagators installed from configuration files. The global slot does not own them and
 * another thread may be using one, so they are kept (reachable) until the process ends;
 * a process builds providers from files a handful of times. Guarded by prop_mu. */
static pthread_mutex_t prop_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kept_prop {
    struct kept_prop *next;
    dpt_propagator *p;
} * kept_props;

static void install_propagators(const char *names)
{
    dpt_propagator *p = dpt_propagator_from_names(names); /* unknown names are logged and skipped */
    struct kept_prop *k = p ? dpt__malloc(sizeof *k) : NULL;
    if (!k) {
        dpt_propagator_free(p);
        dpt__log(DPT_LOG_ERROR, "propagators '%s' could not be set up: %s", names,
                 dpt_strerror(DPT_ENOMEM));
        return;
    }
    k->p = p;
    pthread_mutex_lock(&prop_mu);
    k->next = kept_props;
    kept_props = k;
    pthread_mutex_unlock(&prop_mu);
    dpt_propagator_set_global(p);
}

dpt_provider *dpt__config_build(const dpt__config *c)
{
    if (c->log_level >= DPT_LOG_DEBUG && c->log_level <= DPT_LOG_OFF)
        dpt__log_set_level((dpt_log_level)c->log_level);
    bool oom;
    dpt_resource *res = make_resource(c, &oom);
    if (oom) {
        dpt_sampler_free(c->sampler_given);
        dpt__log(DPT_LOG_ERROR, "dpt_provider_new: %s (resource)", dpt_strerror(DPT_ENOMEM));
        return NULL;
    }
    dpt_provider_config cfg = {0};
    cfg.disabled = c->disabled;
    cfg.service_name = c->service_name;
    cfg.resource = res;
    cfg.resource_attrs = res ? NULL : c->resource;
    cfg.n_resource_attrs = res ? 0 : c->n_resource;
    cfg.limits = &c->limits;
    dpt_processor *procs[DPT__CONFIG_MAX_EXPORTERS];
    cfg.processors = procs;
    int np = c->disabled ? 0 : make_processors(c, procs, DPT__CONFIG_MAX_EXPORTERS);
    if (np < 0) {
        dpt_resource_free(res);
        dpt_sampler_free(c->sampler_given);
        dpt__log(DPT_LOG_ERROR, "dpt_provider_new: an exporter could not be made (see above)");
        return NULL;
    }
    cfg.n_processors = (size_t)np;
    cfg.sampler = c->sampler_given ? c->sampler_given : make_sampler(c);
    cfg.shutdown_at_exit = c->shutdown_at_exit;
    if (c->id_generator && strcmp(c->id_generator, "xray") == 0)
        cfg.id_generator = dpt_id_generator_xray();
    if (c->propagators) install_propagators(c->propagators);
    dpt_provider *p = dpt_provider_new(&cfg);
    dpt_resource_free(res);
    return p;
}
