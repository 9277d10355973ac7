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
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_WAIT_MS 10000L

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
    /* Not blocking: a FIFO that no writer opened (or a writer that never writes) would
     * otherwise hold the provider's creation, and so the service, forever. A pipe gets
     * READ_WAIT_MS in all to deliver the document. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err->message, sizeof err->message, "cannot open: %s", strerror(errno));
        log_error(path, err);
        return NULL;
    }
    dpt__buf b;
    dpt__buf_init(&b);
    char chunk[8192];
    struct stat st;
    bool fifo = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
    bool too_big = false, read_error = false, timed_out = false;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            dpt__buf_put(&b, chunk, (size_t)n);
            if (b.len > DPT__CF_MAX_FILE) {
                too_big = true;
                break;
            }
            continue;
        }
        if (n == 0 && !(fifo && b.len == 0)) break; /* end of file */
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) {
            read_error = true;
            break;
        }
        /* no data yet, or a FIFO whose writer has not come yet: wait, within the bound */
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (waited >= READ_WAIT_MS) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        /* A FIFO without a writer reads as end of file at once: look again shortly. */
        int wait = (int)(READ_WAIT_MS - waited);
        if (n == 0 && wait > 20) wait = 20;
        if (poll(&pfd, 1, wait) > 0 && n == 0 && !(pfd.revents & POLLIN)) usleep(20000);
    }
    if (close(fd) != 0) read_error = true;
    dpt_config *c = NULL;
    if (too_big || read_error || timed_out || b.oom) {
        snprintf(err->message, sizeof err->message, "%s",
                 too_big      ? "larger than 1 MiB"
                 : timed_out  ? "no complete document within 10 s (a pipe whose writer is silent)"
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
static dpt_provider *create(const dpt_config *cfg, bool install_propagators, dpt_sampler *sampler)
{
    if (!cfg) {
        dpt_sampler_free(sampler);
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
            dpt_sampler_free(sampler);
            return NULL;
        }
    }
    dpt__config c = cfg->c; /* a shallow copy: the strings stay cfg's, and outlive the build */
    if (!install_propagators) c.propagators = NULL;
    c.sampler_given = sampler;
    return dpt__config_build(&c);
}

dpt_provider *dpt_provider_from_config(const dpt_config *cfg)
{
    return create(cfg, false, NULL);
}

dpt_propagator *dpt_propagator_from_config(const dpt_config *cfg)
{
    /* from_names logs what it could not use and returns NULL only on ENOMEM. */
    return dpt_propagator_from_names(cfg && cfg->c.propagators ? cfg->c.propagators : "none");
}

/* OTEL_CONFIG_FILE's provider, with the caller's sampler when it gives one. */
static dpt_provider *from_file(const char *path, dpt_sampler *sampler)
{
    dpt_config *cfg = dpt_config_parse_file(path, NULL);
    if (!cfg) {
        dpt_sampler_free(sampler);
        dpt__log(DPT_LOG_ERROR, "configuration file %s not used: tracing is off",
                 path ? path : "(null)");
        return NULL;
    }
    dpt_provider *p = create(cfg, true, sampler);
    dpt_config_free(cfg);
    return p;
}

dpt_provider *dpt_provider_from_config_file(const char *path)
{
    return from_file(path, NULL);
}

dpt_err dpt_config_register(void)
{
    dpt__config_set_file_hook(from_file);
    return DPT_OK;
}

/* Linking the shared library is enough: registered when the library is loaded. With the
 * static library this object is only linked when the program calls into it, which
 * dpt_config_register() does. */
__attribute__((constructor)) static void config_autoregister(void)
{
    dpt_config_register();
}
