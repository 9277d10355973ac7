/* config.h - the configuration model that every configuration source fills (the
 * OTEL_* environment in from_env.c, a declarative configuration file in the optional
 * libdptrace-config) and the one builder that turns it into a provider (build.c), plus the
 * exporter factory registry (exporters.c). Two sources, one construction: a setting means
 * the same whichever way it was given.
 *
 * The functions here are part of the stable private subset exported from libdptrace.so
 * (DPT__SHARED) because libdptrace-config, a separate library, builds on them.
 */
#ifndef DPT_CONFIG_H
#define DPT_CONFIG_H

#include "common.h"

#define DPT__CONFIG_MAX_RESOURCE 64
#define DPT__CONFIG_MAX_EXPORTERS 8
#define DPT__CONFIG_MAX_SETTINGS 32

enum { /* sampler kinds, in OTEL_TRACES_SAMPLER's spelling without "parentbased_" */
    DPT__SAMPLE_ALWAYS_ON,
    DPT__SAMPLE_ALWAYS_OFF,
    DPT__SAMPLE_TRACEIDRATIO,
    DPT__SAMPLE_PROBABILITY,
    DPT__SAMPLE_RATELIMITING
};

typedef struct dpt__config_exporter {
    char name[32];       /* a registered factory name ("otlp", "file", "console", ...) */
    bool simple;         /* simple processor instead of batch (console) */
    dpt_batch_config bsp;
    /* Settings for the factory (e.g. from a file); n_settings 0: the environment only. */
    const char *keys[DPT__CONFIG_MAX_SETTINGS];
    const char *values[DPT__CONFIG_MAX_SETTINGS];
    size_t n_settings;
} dpt__config_exporter;

typedef struct dpt__config {
    bool disabled;
    const char *service_name;             /* NULL: the provider's default */
    dpt_attr resource[DPT__CONFIG_MAX_RESOURCE];
    size_t n_resource;
    dpt_span_limits limits;
    int sampler;                          /* DPT__SAMPLE_* */
    bool parent_based;
    double sampler_arg;                   /* ratio / probability / spans per second */
    dpt__config_exporter exporters[DPT__CONFIG_MAX_EXPORTERS];
    size_t n_exporters;
    bool shutdown_at_exit;
    void *strings;                        /* owns the strings dpt__config_strdup made */
} dpt__config;

/* Defaults: enabled, default limits, parentbased_always_on, no exporter, shutdown at exit. */
DPT__SHARED void dpt__config_init(dpt__config *c);
DPT__SHARED void dpt__config_free(dpt__config *c);
/* Keeps a copy of s[0..n) in c->strings and returns it (NUL-terminated); NULL on ENOMEM. */
DPT__SHARED const char *dpt__config_strdup(dpt__config *c, const char *s, size_t n);
/* Fills c from the OTEL_* environment (from_env.c): every invalid value is logged with
 * the variable's name and what is used instead. */
DPT__SHARED void dpt__config_from_env(dpt__config *c);
/* Builds the provider c describes (build.c). NULL after logging why. */
DPT__SHARED dpt_provider *dpt__config_build(const dpt__config *c);

/* The factory registered under name (case-insensitive), or NULL. */
DPT__HIDDEN dpt_exporter_factory_fn dpt__exporter_factory_find(const char *name);

#endif
