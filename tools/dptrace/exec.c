/* exec.c - `dptrace exec`: runs a command as one span. The span continues the trace found
 * in dptrace's own environment (TRACEPARENT, TRACESTATE, BAGGAGE), the child gets the new
 * span's context the same way, and the exit status becomes the span status. Export follows
 * the OTEL_* environment (dpt_provider_from_env; the file exporter by default).
 */
#define _GNU_SOURCE /* environ */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "argv_redact.h"
#include "cli.h"
#include "util.h"

#ifdef DPT_CLI_HAVE_CORE
#include <dptrace.h>
#include <dptrace/propagation.h>
#ifdef DPT_CLI_HAVE_HTTP
#include <dptrace/http.h>
#endif
#endif

/* Exit codes of exec's own failures, as env(1) and timeout(1) use them, so they do not
 * collide with the command's: 125 dptrace failed, 126 not executable, 127 not found. */
enum { EXEC_FAILED = 125, EXEC_CANNOT_RUN = 126, EXEC_NOT_FOUND = 127 };

#define MAX_ATTRS 64

void usage_exec(FILE *out)
{
    fputs("usage: dptrace exec [options] -- CMD [ARGS...]\n"
          "\n"
          "Runs CMD as a span. The span continues the trace given to dptrace in TRACEPARENT\n"
          "(and TRACESTATE, BAGGAGE), and CMD gets the span's own context in those variables,\n"
          "so a traced child, or a nested `dptrace exec`, continues the trace. A non-zero\n"
          "exit status or a signal makes the span an error. Spans are exported as the\n"
          "OTEL_* environment says: by default to the file DPTRACE_EXPORT_FILE (traces.jsonl);\n"
          "OTEL_EXPORTER_OTLP_ENDPOINT sends them to a collector.\n"
          "\n"
          "Options:\n"
          "  -n, --name NAME      span name (default: the command's base name)\n"
          "  -k, --kind KIND      internal (default), server, client, producer or consumer\n"
          "  -a, --attr KEY=VALUE a string attribute (repeatable, up to 64)\n"
          "      --service NAME   service.name (default: OTEL_SERVICE_NAME, else dptrace-exec)\n"
          "  -h, --help           this help\n"
          "\n"
          "Exit status: the command's; 128+N when it was killed by signal N; 125 when dptrace\n"
          "itself fails or the arguments are wrong, 126 when CMD cannot run, 127 when it is\n"
          "not found.\n"
          "\n"
          "Example:\n"
          "  dptrace exec --name build -- make -j2\n"
          "  dptrace exec --name ci -- sh -c 'dptrace exec -- make && dptrace exec -- make test'\n",
          out);
}

#ifndef DPT_CLI_HAVE_CORE

int cmd_exec(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_exec(stdout);
            return CLI_OK;
        }
    }
    cli_err("exec: this dptrace was built without libdptrace");
    return EXEC_FAILED;
}

#else

/* The child's pid, for the signal handlers that forward termination requests to it.
 * Written once by the main thread before the handlers are installed. */
static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

static bool parse_kind(const char *s, dpt_span_kind *out)
{
    static const char *const names[] = {"internal", "server", "client", "producer", "consumer"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (dpt_span_kind)(DPT_SPAN_INTERNAL + i);
            return true;
        }
    }
    return false;
}

/* Sets name=value (value NULL: unsets) and remembers the old value in *saved. */
static void env_swap(const char *name, const char *value, char **saved, bool *had)
{
    const char *old = getenv(name);
    *had = old != NULL;
    *saved = old ? xstrdup(old) : NULL;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void env_restore(const char *name, char *saved, bool had)
{
    if (had)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

int cmd_exec(int argc, char **argv)
{
    enum { O_SERVICE = 256 };
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'}, {"kind", required_argument, NULL, 'k'},
        {"attr", required_argument, NULL, 'a'}, {"service", required_argument, NULL, O_SERVICE},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *service = NULL;
    dpt_span_kind kind = DPT_SPAN_INTERNAL;
    dpt_attr attrs[MAX_ATTRS + 8];
    char *attr_keys[MAX_ATTRS];
    size_t n_attrs = 0, n_user = 0;
    int rc = EXEC_FAILED, c;
    optind = 1;
    opterr = 0;
    /* '+': stop at the first non-option, so the command's own options stay its own. */
    while ((c = getopt_long(argc, argv, "+:n:k:a:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            name = optarg;
            break;
        case 'k':
            if (!parse_kind(optarg, &kind)) {
                cli_err("exec: --kind wants internal, server, client, producer or consumer, "
                        "not '%s'",
                        optarg);
                goto usage;
            }
            break;
        case 'a': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                cli_err("exec: --attr wants KEY=VALUE, not '%s'", optarg);
                goto usage;
            }
            if (n_attrs == MAX_ATTRS) {
                cli_err("exec: at most %d --attr options", MAX_ATTRS);
                goto usage;
            }
            char *key = xmalloc((size_t)(eq - optarg) + 1);
            memcpy(key, optarg, (size_t)(eq - optarg));
            key[eq - optarg] = '\0';
            attr_keys[n_user++] = key;
            attrs[n_attrs++] = DPT_STR(key, eq + 1);
            break;
        }
        case O_SERVICE:
            service = optarg;
            break;
        case 'h':
            usage_exec(stdout);
            rc = CLI_OK;
            goto out;
        case ':':
            cli_err("exec: option '%s' needs a value", argv[optind - 1]);
            goto usage;
        default:
            cli_err("exec: unknown option '%s'", argv[optind - 1]);
            goto usage;
        }
    }
    if (optind >= argc) {
        cli_err("exec: missing the command to run (dptrace exec [options] -- CMD ARGS...)");
        goto usage;
    }
    char **cmd = argv + optind;
    const char *base = strrchr(cmd[0], '/');
    base = base ? base + 1 : cmd[0];
    if (!name) name = base;

    /* The provider reads OTEL_SERVICE_NAME now; the child must not inherit our choice,
     * so the variable is put back right after. (Changing it while the provider's threads
     * run is safe: dptrace's own threads never read the environment.) */
    const char *svc = service;
    if (!svc && !getenv("OTEL_SERVICE_NAME")) {
        const char *ra = getenv("OTEL_RESOURCE_ATTRIBUTES");
        if (!ra || !strstr(ra, "service.name=")) svc = "dptrace-exec";
    }
    char *saved = NULL;
    bool had = false;
    if (svc) env_swap("OTEL_SERVICE_NAME", svc, &saved, &had);
#ifdef DPT_CLI_HAVE_HTTP
    dpt_http_register();
#endif
    dpt_provider *prov = dpt_provider_from_env();
    if (svc) env_restore("OTEL_SERVICE_NAME", saved, had);
    dpt_tracer *tracer = dpt_provider_get_tracer(prov, "dptrace-exec", DPTRACE_VERSION_STRING);

    /* Continue the caller's trace, if it handed us one. */
    dpt_context *incoming = NULL;
    dpt_propagator_extract(NULL, &dpt_env_getter, NULL, &incoming);

    attrs[n_attrs++] = DPT_STR("process.executable.name", base);
    /* The command line as recorded: values of sensitive options, headers and URLs
     * redacted (argv_redact.c); without memory for that copy, no command line at all. */
    char **shown = argv_redact(argc - optind, cmd);
    if (shown)
        attrs[n_attrs++] = DPT_STR_ARRAY("process.command_args", (const char *const *)shown,
                                         (size_t)(argc - optind));
    dpt_span_opts so = {.parent = incoming, .attrs = attrs, .n_attrs = n_attrs};
    dpt_span span = dpt_span_start(tracer, name, kind, &so);
    argv_redact_free(shown, argc - optind);

    /* The child's environment: ours, with the span's context (and the baggage we were
     * given) in TRACEPARENT & co. */
    dpt_context *child_ctx = dpt_context_with_span(incoming, span);
    dpt_context_release(incoming);
    char **envp = NULL;
    dpt_err e = dpt_env_inject_envp(NULL, child_ctx, environ, &envp);
    dpt_context_release(child_ctx);
    if (e != DPT_OK) {
        cli_err("exec: cannot build the child's environment: %s", dpt_strerror(e));
        envp = NULL;
    }

    /* Like system(3): while the child runs, ^C and ^\ are its business; termination
     * requests sent to dptrace are passed on, so the span still ends and is exported. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward_signal}, old_int,
                     old_quit, old_term, old_hup;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    pid_t pid;
    posix_spawnattr_t sa;
    posix_spawnattr_init(&sa);
    sigset_t dflt;
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGQUIT);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGHUP);
    posix_spawnattr_setsigdefault(&sa, &dflt);
    posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGDEF);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int serr = posix_spawnp(&pid, cmd[0], NULL, &sa, cmd, envp ? envp : environ);
    posix_spawnattr_destroy(&sa);
    dpt_env_free(envp);
    if (serr != 0) {
        cli_err("exec: cannot run %s: %s", cmd[0], strerror(serr));
        char msg[256];
        snprintf(msg, sizeof msg, "cannot run: %s", strerror(serr));
        dpt_span_record_error(span, "exec", msg);
        rc = serr == ENOENT ? EXEC_NOT_FOUND : EXEC_CANNOT_RUN;
    } else {
        child_pid = pid;
        sigaction(SIGTERM, &fwd, &old_term);
        sigaction(SIGHUP, &fwd, &old_hup);
        dpt_span_set_int(span, "process.pid", pid);
        int status = 0;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        child_pid = 0;
        if (w < 0) {
            cli_err("exec: waiting for %s: %s", cmd[0], strerror(errno));
            dpt_span_set_status(span, DPT_STATUS_ERROR, "lost the child process");
            rc = EXEC_FAILED;
        } else if (WIFEXITED(status)) {
            rc = WEXITSTATUS(status);
            dpt_span_set_int(span, "process.exit.code", rc);
            if (rc != 0) {
                char msg[64];
                snprintf(msg, sizeof msg, "exit status %d", rc);
                dpt_span_set_status(span, DPT_STATUS_ERROR, msg);
            }
        } else if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            rc = 128 + sig;
            dpt_span_set_int(span, "process.exit.code", rc);
            char msg[96];
            snprintf(msg, sizeof msg, "killed by signal %d (%s)", sig, strsignal(sig));
            dpt_span_set_str(span, "process.exit.signal", strsignal(sig));
            dpt_span_set_status(span, DPT_STATUS_ERROR, msg);
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    dpt_span_end(span);
    /* Export before exiting: a CI step is short, the batch delay would lose the span. */
    dpt_provider_shutdown(prov, 10000);
    dpt_provider_free(prov);
    goto out;
usage:
    usage_exec(stderr);
    rc = EXEC_FAILED;
out:
    for (size_t i = 0; i < n_user; i++)
        free(attr_keys[i]);
    return rc;
}

#endif
