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
       DPT__SAMPLE_RATELIMITING,
       /* Only in a sampler tree (a configuration file): */
       DPT__SAMPLE_PARENT_BASED, /* delegates in d[0..5) */
       DPT__SAMPLE_ALWAYS_RECORD /* wraps d[0] */
};

#define DPT__CONFIG_MAX_SAMPLERS 32
#define DPT__CONFIG_MAX_PATTERNS 16

/* One node of a sampler tree. d[] are indices into dpt__config.samplers (-1: the
 * specification's default for that delegate). */
typedef struct dpt__config_sampler {
    int kind; /* DPT__SAMPLE_* */
    double arg;
    int d[5]; /* PARENT_BASED: root, remote sampled/not, local sampled/not; ALWAYS_RECORD: d[0] */
} dpt__config_sampler;

typedef struct dpt__config_exporter {
    char name[32]; /* a registered factory name ("otlp", "file", "console", ...) */
    bool simple;   /* simple processor instead of batch (console) */
    dpt_batch_config bsp;
    /* Settings for the factory (e.g. from a file); n_settings 0: the environment only. */
    const char *keys[DPT__CONFIG_MAX_SETTINGS];
    const char *values[DPT__CONFIG_MAX_SETTINGS];
    size_t n_settings;
    /* The factory gets the settings even when there are none, so that it does not read
     * the environment (a configuration file's exporters). */
    bool settings_given;
} dpt__config_exporter;

typedef struct dpt__config {
    bool disabled;
    const char *service_name; /* NULL: the provider's default */
    dpt_attr resource[DPT__CONFIG_MAX_RESOURCE];
    size_t n_resource;
    dpt_span_limits limits;
    int sampler; /* DPT__SAMPLE_* */
    bool parent_based;
    double sampler_arg; /* ratio / probability / spans per second */
    dpt__config_exporter exporters[DPT__CONFIG_MAX_EXPORTERS];
    size_t n_exporters;
    bool shutdown_at_exit;
    void *strings; /* owns the strings dpt__config_strdup made */
    /* Additions for the configuration file (libdptrace-config); the environment leaves
     * them at their defaults unless said otherwise. */
    const char *schema_url; /* the resource's schema URL; NULL: none */
    /* Resource attributes in OTEL_RESOURCE_ATTRIBUTES syntax (a file's attributes_list),
     * ranking below `resource`; a malformed list is logged and ignored as a whole. */
    const char *resource_list;
    /* Resource detectors to run (comma list of names, see dpt_resource_detect_names);
     * NULL: none. The environment sets DPTRACE_RESOURCE_DETECTORS (default "all").
     * Detected attributes rank below `resource`. */
    const char *detectors;
    /* Detected attributes kept: those matching an include pattern (none: all), minus those
     * matching an exclude pattern ('*' any run, '?' one character). */
    const char *detect_include[DPT__CONFIG_MAX_PATTERNS];
    size_t n_detect_include;
    const char *detect_exclude[DPT__CONFIG_MAX_PATTERNS];
    size_t n_detect_exclude;
    /* A sampler tree; when n_samplers > 0, samplers[0] is the root and replaces
     * sampler/parent_based/sampler_arg. */
    dpt__config_sampler samplers[DPT__CONFIG_MAX_SAMPLERS];
    size_t n_samplers;
    /* The propagators (OTEL_PROPAGATORS syntax) to install as the global propagator when
     * the provider is built; NULL: leave the global propagator alone (the environment's
     * OTEL_PROPAGATORS is read lazily by the propagation module). */
    const char *propagators;
    int log_level; /* dpt_log_level to set; -1: leave it */
    /* The id generator by name: NULL or "random" the default, "xray" dpt_id_generator_xray. */
    const char *id_generator;
    /* A configuration file's rule: an exporter that is not registered, or whose factory
     * fails, fails the whole build (NULL) instead of being skipped. */
    bool strict;
    /* The caller's sampler (dpt_provider_from_env_with_sampler): replaces every sampler
     * setting above. dpt__config_build takes it over, built or not. NULL: none. */
    dpt_sampler *sampler_given;
} dpt__config;

/* Defaults: enabled, default limits, parentbased_always_on, no exporter, shutdown at exit. */
DPT__SHARED void dpt__config_init(dpt__config *c);
DPT__SHARED void dpt__config_free(dpt__config *c);
/* Keeps a copy of s[0..n) in c->strings and returns it (NUL-terminated); NULL on ENOMEM. */
DPT__SHARED const char *dpt__config_strdup(dpt__config *c, const char *s, size_t n);
/* n zeroed bytes (16-byte aligned) owned by c, freed with it; NULL on ENOMEM. */
DPT__SHARED void *dpt__config_alloc(dpt__config *c, size_t n);
/* Whether s matches the glob pattern ('*': any run of characters, '?': one). */
DPT__SHARED bool dpt__glob_match(const char *pattern, const char *s);
/* Fills c from the OTEL_* environment (from_env.c): every invalid value is logged with
 * the variable's name and what is used instead. */
DPT__SHARED void dpt__config_from_env(dpt__config *c);
/* Builds the provider c describes (build.c). NULL after logging why; c->sampler_given is
 * the provider's or freed either way. */
DPT__SHARED dpt_provider *dpt__config_build(const dpt__config *c);

/* The factory registered under name (case-insensitive), or NULL. */
DPT__SHARED dpt_exporter_factory_fn dpt__exporter_factory_find(const char *name);

/* OTEL_CONFIG_FILE: libdptrace-config installs the function that builds a provider from a
 * configuration file (dpt_config_register()); dpt_provider_from_env() calls it when the
 * variable is set. Without it, the variable is reported and the environment is used.
 * sampler: replaces the file's (taken over, used or freed); NULL: the file's. */
typedef dpt_provider *(*dpt__config_file_fn)(const char *path, dpt_sampler *sampler);
DPT__SHARED void dpt__config_set_file_hook(dpt__config_file_fn fn);

#endif
