/* exporters.c - the exporter factory registry: the names OTEL_TRACES_EXPORTER (or a
 * configuration file) can use. The built-in exporters (file, console, memory, none)
 * register here exactly as libdptrace-http registers otlp and zipkin, so a user's exporter
 * named in the environment is no different from ours.
 */
#include "config.h"
#include "dptrace/export.h"

#include <stdlib.h>
#include <strings.h>

#define MAX_FACTORIES 16

/* Registry: process-wide, written rarely (registration), read when a provider is built;
 * fac_mu protects it. The built-ins are added once, before the first lookup or
 * registration, so that a user may replace them. */
static pthread_mutex_t fac_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    dpt_exporter_factory_fn fn;
} factories[MAX_FACTORIES];
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

const char *dpt_exporter_settings_get(const dpt_exporter_settings *s, const char *key)
{
    if (!s || !key) return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i] && strcmp(s->keys[i], key) == 0) return s->values[i];
    return NULL;
}

static dpt_exporter *file_factory(const dpt_exporter_settings *s)
{
    const char *path = dpt_exporter_settings_get(s, "path");
    if (!path) path = dpt__env("DPTRACE_EXPORT_FILE");
    return dpt_exporter_file(path ? path : "traces.jsonl");
}

static dpt_exporter *console_factory(const dpt_exporter_settings *s)
{
    (void)s;
    return dpt_exporter_console(stdout);
}

/* The specification's "otlp/stdout": OTLP JSON lines (the file exporter's format) on
 * standard output. */
static dpt_exporter *stdout_factory(const dpt_exporter_settings *s)
{
    (void)s;
    return dpt_exporter_file("/dev/stdout");
}

static dpt_exporter *memory_factory(const dpt_exporter_settings *s)
{
    const char *max = dpt_exporter_settings_get(s, "max_spans");
    long n = max ? strtol(max, NULL, 10) : 0;
    return dpt_exporter_memory(n > 0 ? (size_t)n : 10000);
}

/* "none" exports nothing. The builder recognises the name and adds no processor at all (a
 * processor for a null exporter would still queue every span); the factory exists so that
 * "none" is a known name like any other. */
static dpt_err none_export(void *st, const dpt_span_data *const *spans, size_t n)
{
    (void)st, (void)spans, (void)n;
    return DPT_OK;
}
static dpt_exporter *none_factory(const dpt_exporter_settings *s)
{
    (void)s;
    static const dpt_exporter_ops ops = {.export_spans = none_export};
    return dpt_exporter_new(&ops, NULL);
}

static dpt_err do_register(const char *name, dpt_exporter_factory_fn fn)
{
    dpt_err e = DPT_EFULL;
    pthread_mutex_lock(&fac_mu);
    for (int i = 0; i < MAX_FACTORIES; i++) {
        if (!factories[i].fn || strcasecmp(factories[i].name, name) == 0) {
            memcpy(factories[i].name, name, strlen(name) + 1); /* length checked by callers */
            factories[i].fn = fn;
            e = DPT_OK;
            break;
        }
    }
    pthread_mutex_unlock(&fac_mu);
    return e;
}

static void register_builtins(void)
{
    do_register("file", file_factory);
    do_register("console", console_factory);
    do_register("otlp/stdout", stdout_factory);
    do_register("memory", memory_factory);
    do_register("none", none_factory);
}

dpt_err dpt_exporter_factory_register(const char *name, dpt_exporter_factory_fn fn)
{
    if (!name || !*name || strlen(name) >= sizeof factories[0].name || !fn) return DPT_EINVAL;
    pthread_once(&builtins_once, register_builtins);
    return do_register(name, fn);
}

dpt_exporter_factory_fn dpt__exporter_factory_find(const char *name)
{
    pthread_once(&builtins_once, register_builtins);
    dpt_exporter_factory_fn fn = NULL;
    pthread_mutex_lock(&fac_mu);
    for (int i = 0; i < MAX_FACTORIES; i++)
        if (factories[i].fn && strcasecmp(factories[i].name, name) == 0) fn = factories[i].fn;
    pthread_mutex_unlock(&fac_mu);
    return fn;
}
