/* config_file.c - libdptrace-config's public API (dptrace/config.h): the specification's
 * Parse (YAML text or file -> validated configuration) and Create (configuration ->
 * provider, propagators), and OTEL_CONFIG_FILE for dpt_provider_from_env().
 *
 * Create goes through dpt__config_build, the builder the environment uses, in strict mode:
 * an exporter that cannot be made fails the whole provider instead of being skipped,
 * because a configuration file that says where spans go should not half-work.
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct dpt_config {
    dpt__config c;
    char exporter_paths[DPT__CONFIG_MAX_EXPORTERS][DPT__CF_PATH_MAX];
};

static void log_error(const char *source, const dpt_config_error *e)
{
    if (e->line)
        dpt__log(DPT_LOG_ERROR, "configuration %s:%u:%u: %s%s%s", source, e->line, e->column,
                 e->path, e->path[0] ? ": " : "", e->message);
    else
        dpt__log(DPT_LOG_ERROR, "configuration %s: %s%s%s", source, e->path, e->path[0] ? ": " : "",
                 e->message);
}

static dpt_config *parse(const char *yaml, size_t len, const char *source, dpt_config_error *err)
{
    dpt_config_error local;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    dpt__tree t;
    dpt__tree_error te;
    dpt_err e = dpt__tree_parse(yaml, len, NULL, &t, &te);
    if (e != DPT_OK) {
        snprintf(err->message, sizeof err->message, "%s", te.msg);
        err->line = te.line;
        err->column = te.col;
        log_error(source, err);
        return NULL;
    }
    dpt_config *cfg = dpt__calloc(1, sizeof *cfg);
    if (!cfg) {
        dpt__tree_free(&t);
        snprintf(err->message, sizeof err->message, "%s", dpt_strerror(DPT_ENOMEM));
        log_error(source, err);
        return NULL;
    }
    dpt__config_init(&cfg->c);
    bool ok = dpt__model_from_tree(t.root, &cfg->c, cfg->exporter_paths, err);
    dpt__tree_free(&t); /* the model keeps copies of what it uses */
    if (!ok) {
        log_error(source, err);
        dpt_config_free(cfg);
        return NULL;
    }
    return cfg;
}

dpt_config *dpt_config_parse(const char *yaml, size_t len, dpt_config_error *err)
{
    if (len == DPT_NUL) len = yaml ? strlen(yaml) : 0;
    return parse(yaml ? yaml : "", len, "(text)", err);
}

dpt_config *dpt_config_parse_file(const char *path, dpt_config_error *err)
{
    dpt_config_error local;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (!path || !*path) {
        snprintf(err->message, sizeof err->message, "no file name");
        log_error("(file)", err);
        return NULL;
    }
    /* "YAML configuration files MUST use file extensions .yaml or .yml": a requirement on
     * the file, reported but not enforced (a pipe or /dev/stdin has no extension). */
    size_t pl = strlen(path);
    if (!(pl > 5 && strcmp(path + pl - 5, ".yaml") == 0) &&
        !(pl > 4 && strcmp(path + pl - 4, ".yml") == 0))
        dpt__log(DPT_LOG_WARN,
                 "configuration file %s: the specification wants a .yaml or .yml extension", path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->message, sizeof err->message, "cannot open: %s", strerror(errno));
        log_error(path, err);
        return NULL;
    }
    dpt__buf b;
    dpt__buf_init(&b);
    char chunk[8192];
    size_t n;
    bool too_big = false;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        dpt__buf_put(&b, chunk, n);
        if (b.len > DPT__CF_MAX_FILE) {
            too_big = true;
            break;
        }
    }
    bool read_error = ferror(f);
    if (fclose(f) != 0) read_error = true;
    dpt_config *c = NULL;
    if (too_big || read_error || b.oom) {
        snprintf(err->message, sizeof err->message, "%s",
                 too_big      ? "larger than 1 MiB"
                 : read_error ? "read error"
                              : dpt_strerror(DPT_ENOMEM));
        log_error(path, err);
    } else {
        c = parse(b.p ? b.p : "", b.len, path, err);
    }
    dpt__buf_free(&b);
    return c;
}

void dpt_config_free(dpt_config *c)
{
    if (!c) return;
    dpt__config_free(&c->c);
    free(c);
}

/* Create: the provider, with or without installing the file's propagators globally. */
static dpt_provider *create(const dpt_config *cfg, bool install_propagators)
{
    if (!cfg) {
        dpt__log(DPT_LOG_ERROR, "dpt_provider_from_config: no configuration");
        return NULL;
    }
    /* "If no PluginComponentProvider is registered with the type and name, Create SHOULD
     * return an error." (configuration/sdk.md, Create) */
    for (size_t i = 0; !cfg->c.disabled && i < cfg->c.n_exporters; i++) {
        const char *name = cfg->c.exporters[i].name;
        if (!dpt__exporter_factory_find(name)) {
            dpt__log(
                DPT_LOG_ERROR,
                "configuration %s: exporter '%s' is not registered (otlp and zipkin need "
                "libdptrace-http and dpt_http_register(); others dpt_exporter_factory_register())",
                cfg->exporter_paths[i], name);
            return NULL;
        }
    }
    dpt__config c = cfg->c; /* a shallow copy: the strings stay cfg's, and outlive the build */
    if (!install_propagators) c.propagators = NULL;
    return dpt__config_build(&c);
}

dpt_provider *dpt_provider_from_config(const dpt_config *cfg)
{
    return create(cfg, false);
}

dpt_propagator *dpt_propagator_from_config(const dpt_config *cfg)
{
    /* from_names logs what it could not use and returns NULL only on ENOMEM. */
    return dpt_propagator_from_names(cfg && cfg->c.propagators ? cfg->c.propagators : "none");
}

dpt_provider *dpt_provider_from_config_file(const char *path)
{
    dpt_config *cfg = dpt_config_parse_file(path, NULL);
    if (!cfg) {
        dpt__log(DPT_LOG_ERROR, "configuration file %s not used: tracing is off",
                 path ? path : "(null)");
        return NULL;
    }
    dpt_provider *p = create(cfg, true);
    dpt_config_free(cfg);
    return p;
}

dpt_err dpt_config_register(void)
{
    dpt__config_set_file_hook(dpt_provider_from_config_file);
    return DPT_OK;
}

/* Linking the shared library is enough: registered when the library is loaded. With the
 * static library this object is only linked when the program calls into it, which
 * dpt_config_register() does. */
__attribute__((constructor)) static void config_autoregister(void)
{
    dpt_config_register();
}
