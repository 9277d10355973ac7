/* resource.h - resources (resource.c) and the built-in resource detectors (detect.c):
 * immutable attribute sets with a schema URL, merged with the specification's precedence.
 */
#ifndef DPT_RESOURCE_H
#define DPT_RESOURCE_H

#include "common.h"

/* One allocation per resource: the struct, its attribute array, and every string and
 * array value, so that a resource is freed with one free() and copied with two passes. */
struct dpt_resource {
    dpt_attr *attrs;
    size_t n;
    const char *schema_url; /* "" when none */
};

/* The schema URL of the semantic conventions the built-in detectors follow. */
#define DPT__SEMCONV_SCHEMA_URL "https://opentelemetry.io/schemas/1.44.0"

/* A resource holding copies of attrs[0..n) (later duplicates of a key replace earlier
 * ones; invalid attributes are skipped) and schema_url. NULL on ENOMEM (not logged: the
 * public constructors log). */
DPT__HIDDEN dpt_resource *dpt__resource_build(const dpt_attr *const *attrs, size_t n,
                                              const char *schema_url);

/* Parses OTEL_RESOURCE_ATTRIBUTES syntax (key=value,... percent-encoded) into a resource.
 * A malformed value gives NULL and *malformed = true (the specification discards the whole
 * variable); an empty or NULL text gives an empty resource. `what` names the source in
 * messages. NULL and *malformed = false on ENOMEM. */
DPT__HIDDEN dpt_resource *dpt__resource_parse_list(const char *text, bool *malformed);

/* service.instance.id of this process (a UUID v4, new in a forked child) into out. */
DPT__HIDDEN const char *dpt__service_instance_id(char out[37]);

/* Pure helpers of the detectors, for tests: the container id found in the text of
 * /proc/self/cgroup (v1) or, failing that, /proc/self/mountinfo (v2); either may be NULL.
 * out receives 64 lowercase hex digits; false when none was found. */
DPT__HIDDEN bool dpt__container_id_parse(const char *cgroup, const char *mountinfo, char out[65]);
/* host.arch for a uname machine string ("x86_64" -> "amd64"); NULL for an unknown one. */
DPT__HIDDEN const char *dpt__host_arch_name(const char *machine);

#endif
