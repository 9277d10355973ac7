/* env.c - reading the OpenTelemetry environment, the same way in every module.
 *
 * The rules are the specification's (configuration/sdk-environment-variables.md): an
 * empty value is the same as unset; a boolean is true only for case-insensitive "true"
 * and false for anything else (with a warning unless it is "false"); numbers that do not
 * parse are ignored with a warning; enum values are case-insensitive and unknown ones are
 * ignored with a warning. Every warning names the variable and what is used instead.
 */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

const char *dpt__env(const char *name)
{
    const char *v = name ? getenv(name) : NULL;
    return v && *v ? v : NULL;
}

bool dpt__str_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool dpt__env_bool(const char *name, bool def)
{
    const char *v = dpt__env(name);
    if (!v) return def;
    if (dpt__str_ieq(v, "true")) return true;
    if (!dpt__str_ieq(v, "false"))
        dpt__log(DPT_LOG_WARN, "%s=%s is not a boolean (only \"true\" is true); using false", name,
                 v);
    return false;
}

/* Skips the whitespace a value copied from a file may carry at its ends. */
static const char *trim_end(const char *s, const char *end)
{
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    (void)s;
    return end;
}

bool dpt__env_uint(const char *name, uint64_t max, uint64_t *out)
{
    const char *v = dpt__env(name);
    if (!v) return false;
    const char *p = v;
    while (*p == ' ' || *p == '\t')
        p++;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(p, &end, 10);
    if (errno || end == p || *p == '-' || *p == '+' || *trim_end(p, end) || x > max) {
        dpt__log(DPT_LOG_WARN, "%s=%s is not an integer in [0, %llu]; using the default", name, v,
                 (unsigned long long)max);
        return false;
    }
    *out = x;
    return true;
}

bool dpt__env_double(const char *name, double lo, double hi, double *out)
{
    const char *v = dpt__env(name);
    if (!v) return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *trim_end(v, end) || !isfinite(x) || x < lo || x > hi) {
        dpt__log(DPT_LOG_WARN, "%s=%s is not a number in [%g, %g]; using the default", name, v, lo,
                 hi);
        return false;
    }
    *out = x;
    return true;
}

int dpt__env_enum(const char *name, const char *const *names, size_t n, int def)
{
    const char *v = dpt__env(name);
    if (!v) return def;
    for (size_t i = 0; i < n; i++)
        if (dpt__str_ieq(v, names[i])) return (int)i;
    dpt__log(DPT_LOG_WARN, "%s=%s is not a known value; using %s", name, v,
             def >= 0 && (size_t)def < n ? names[def] : "the default");
    return def;
}
