/* dptrace/config.h - file-based configuration (libdptrace-config, needs libyaml): the
 * OpenTelemetry declarative configuration file (the opentelemetry-configuration schema,
 * file_format 1.x) mapped onto the same provider construction as the OTEL_* environment.
 *
 *   export OTEL_CONFIG_FILE=/etc/myservice/otel.yaml
 *   dpt_config_register();                   (once; linking the shared library does it)
 *   dpt_provider *p = dpt_provider_from_env(); (reads the file, ignores other OTEL_* vars)
 *
 * or explicitly, with the error of a bad file in hand:
 *
 *   dpt_config_error err;
 *   dpt_config *cfg = dpt_config_parse_file("otel.yaml", &err);
 *   if (!cfg) fprintf(stderr, "%s:%u:%u: %s: %s\n", "otel.yaml", err.line, err.column,
 *                     err.path, err.message);
 *   dpt_provider *p = dpt_provider_from_config(cfg);
 *   dpt_propagator *prop = dpt_propagator_from_config(cfg);
 *   dpt_config_free(cfg);
 *
 * Parsing follows the configuration data model (configuration/data-model.md): YAML 1.2
 * core schema typing, ${VAR} / ${env:VAR} / ${VAR:-default} substitution in values ("$$"
 * for a '$'), and validation against the schema: a missing required property, an unknown
 * key, a value of the wrong type or out of range is an error naming the node's path
 * (".tracer_provider.processors[0].batch.schedule_delay") and its line and column.
 * docs/configuration.md lists what dptrace supports of the schema. The same conventions
 * hold as in dptrace.h.
 */
#ifndef DPTRACE_CONFIG_H
#define DPTRACE_CONFIG_H

#include "../dptrace.h"
#include "propagation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The file_format versions this library reads: major 1, up to this minor. A file with a
 * newer minor is read with a warning (its newer properties are unknown keys). */
#define DPT_CONFIG_FILE_FORMAT "1.1"

/* A parsed and validated configuration (the specification's in-memory configuration
 * model). Immutable: create providers and propagators from it as often as wanted, from any
 * thread; free it when done (what was created from it stays valid). */
typedef struct dpt_config dpt_config;

/* Why a file was rejected. */
typedef struct dpt_config_error {
    char message[256]; /* what is wrong */
    char path[256];    /* the node, e.g. ".tracer_provider.sampler"; "" for the document */
    uint32_t line;     /* 1-based position in the file; 0 when unknown */
    uint32_t column;
} dpt_config_error;

/* Parse: reads YAML text (len bytes; DPT_NUL: NUL-terminated) / a file (at most 1 MiB),
 * substitutes environment variables, validates. Returns the configuration, or NULL after
 * logging why; err (optional) then says why, where. Thread-safe (getenv is read). */
DPT_EXTERN dpt_config *dpt_config_parse(const char *yaml, size_t len, dpt_config_error *err);
DPT_EXTERN dpt_config *dpt_config_parse_file(const char *path, dpt_config_error *err);
DPT_EXTERN void dpt_config_free(dpt_config *c);

/* Create: the tracer provider the configuration describes (tracer_provider, resource,
 * attribute_limits, disabled, log_level). An absent tracer_provider gives a no-op
 * provider, as the schema says. An exporter that is not registered or whose factory fails
 * (a bad endpoint) fails the whole call: NULL after logging why. The global propagator is
 * not touched. Thread-safe. */
DPT_EXTERN dpt_provider *dpt_provider_from_config(const dpt_config *c);
/* Create: the configured propagators as a new composite (free with dpt_propagator_free);
 * the "none" propagator when the file configures none (the schema's default). NULL after
 * logging on ENOMEM. */
DPT_EXTERN dpt_propagator *dpt_propagator_from_config(const dpt_config *c);

/* Parse + create + install: the provider of the file at path, with its propagators made
 * the global propagator (kept until the process ends). What OTEL_CONFIG_FILE does. NULL
 * after logging why (the file is unreadable or invalid): tracing is then off, as the
 * specification's "fail fast" on a bad configuration wants, rather than configured in a way
 * nobody asked for. */
DPT_EXTERN dpt_provider *dpt_provider_from_config_file(const char *path);

/* Makes dpt_provider_from_env() honour OTEL_CONFIG_FILE (and its deprecated name
 * OTEL_EXPERIMENTAL_CONFIG_FILE) with dpt_provider_from_config_file. The shared library
 * does this when it is loaded; with the static library, call it once before
 * dpt_provider_from_env(). Idempotent, thread-safe, cannot fail (DPT_OK). */
DPT_EXTERN dpt_err dpt_config_register(void);

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_CONFIG_H */
