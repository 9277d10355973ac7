/* build.c - the configuration model turned into a provider: one construction for every
 * configuration source (environment, file).
 */
#include "config.h"
#include "dptrace/export.h"

#include <stdlib.h>

typedef struct strnode {
    struct strnode *next;
    char s[];
} strnode;

void dpt__config_init(dpt__config *c)
{
    memset(c, 0, sizeof *c);
    dpt_span_limits_default(&c->limits);
    c->sampler = DPT__SAMPLE_ALWAYS_ON;
    c->parent_based = true;
    c->sampler_arg = 1.0;
    c->shutdown_at_exit = true;
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

static dpt_sampler *make_sampler(const dpt__config *c)
{
    dpt_sampler *s;
    switch (c->sampler) {
    case DPT__SAMPLE_ALWAYS_OFF: s = dpt_sampler_always_off(); break;
    case DPT__SAMPLE_TRACEIDRATIO: s = dpt_sampler_traceid_ratio(c->sampler_arg); break;
    case DPT__SAMPLE_PROBABILITY: s = dpt_sampler_probability(c->sampler_arg); break;
    case DPT__SAMPLE_RATELIMITING: s = dpt_sampler_rate_limiting(c->sampler_arg); break;
    default: s = dpt_sampler_always_on();
    }
    return c->parent_based && s ? dpt_sampler_parent_based(s, NULL, NULL, NULL, NULL) : s;
}

/* One processor per configured exporter; "none" contributes nothing. */
static size_t make_processors(const dpt__config *c, dpt_processor **procs, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_exporters && n < max; i++) {
        const dpt__config_exporter *x = &c->exporters[i];
        if (strcmp(x->name, "none") == 0) continue;
        dpt_exporter_factory_fn fn = dpt__exporter_factory_find(x->name);
        if (!fn) {
            dpt__log(DPT_LOG_WARN,
                     "exporter '%s' is not available (known: file, console, otlp/stdout, memory, none; "
                     "otlp and zipkin need libdptrace-http and dpt_http_register()); ignored", x->name);
            continue;
        }
        dpt_exporter_settings set = { x->keys, x->values, x->n_settings };
        dpt_exporter *e = fn(x->n_settings ? &set : NULL);
        if (!e) continue; /* the factory logged why */
        dpt_processor *pr = x->simple ? dpt_processor_simple(e) : dpt_processor_batch(e, &x->bsp);
        if (pr) procs[n++] = pr;
    }
    return n;
}

dpt_provider *dpt__config_build(const dpt__config *c)
{
    dpt_provider_config cfg = { 0 };
    cfg.disabled = c->disabled;
    cfg.service_name = c->service_name;
    cfg.resource_attrs = c->resource;
    cfg.n_resource_attrs = c->n_resource;
    cfg.limits = &c->limits;
    dpt_processor *procs[DPT__CONFIG_MAX_EXPORTERS];
    cfg.processors = procs;
    cfg.n_processors = c->disabled ? 0 : make_processors(c, procs, DPT__CONFIG_MAX_EXPORTERS);
    cfg.sampler = make_sampler(c);
    cfg.shutdown_at_exit = c->shutdown_at_exit;
    return dpt_provider_new(&cfg);
}
