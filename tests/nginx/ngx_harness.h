/* ngx_harness.h - runs the real nginx binary with ngx_http_dptrace_module for the tests and
 * the benchmark: its own prefix, configuration and logs under a work directory, never
 * the system's nginx. nginx cannot listen on port 0, so the harness binds the listening
 * sockets itself (127.0.0.1, ephemeral ports) and hands them over the way nginx hands
 * them to a new binary on upgrade: inherited file descriptors named in the NGINX
 * environment variable. No port is ever guessed, so parallel runs never collide.
 * Also: starting the mesh demo's services, and reading the OTLP JSON lines they write.
 */
#ifndef NGX_HARNESS_H
#define NGX_HARNESS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static inline void h_die(const char *fmt, const char *arg)
{
    fprintf(stderr, "harness: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

static inline void h_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline const char *h_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) h_die("%s is not set (run through ctest)", name);
    return v;
}

/* ---- child processes ---------------------------------------------------------------- */

#define H_MAX_PIDS 16
static pid_t h_pids[H_MAX_PIDS];
static int h_npids;

/* Stops every child still running: SIGTERM first (an nginx master then stops its
 * workers; a SIGKILLed master would leave them running), SIGKILL after 3 s. */
static inline void h_kill_all(void)
{
    for (int i = 0; i < h_npids; i++)
        if (h_pids[i] > 0) kill(h_pids[i], SIGTERM);
    for (int t = 0; t < 150; t++) {
        int alive = 0;
        for (int i = 0; i < h_npids; i++) {
            if (h_pids[i] <= 0) continue;
            if (waitpid(h_pids[i], NULL, WNOHANG) == h_pids[i])
                h_pids[i] = 0;
            else
                alive++;
        }
        if (!alive) return;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < h_npids; i++)
        if (h_pids[i] > 0) kill(h_pids[i], SIGKILL);
}

/* Starts argv[0] with env (NULL-terminated "K=V" list added to a minimal environment),
 * stdout and stderr to logfile. */
static inline pid_t h_spawn(char *const argv[], char *const env[], const char *logfile)
{
    char *envp[32];
    int n = 0;
    static char path[512];
    snprintf(path, sizeof path, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    envp[n++] = path;
    for (int i = 0; env && env[i] && n < 31; i++)
        envp[n++] = env[i];
    envp[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) h_die("cannot start %s", argv[0]);
    if (h_npids < H_MAX_PIDS) h_pids[h_npids++] = pid;
    return pid;
}

/* Waits (bounded) for a process to exit; returns its status, -1 on timeout. */
static inline int h_wait_exit(pid_t pid, long timeout_ms)
{
    for (long t = 0; t < timeout_ms; t += 20) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            for (int i = 0; i < h_npids; i++)
                if (h_pids[i] == pid) h_pids[i] = 0;
            return st;
        }
        h_sleep_ms(20);
    }
    return -1;
}

/* The content of a small file, or "" (static buffer). */
static inline const char *h_read_small(const char *path)
{
    static char buf[256];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- the mesh demo ------------------------------------------------------------------ */

typedef struct h_mesh {
    unsigned inventory, payments, orders, gateway;
} h_mesh;

/* Starts one service on a free port; returns the port it wrote to its ready file. */
static inline unsigned h_start_service(const char *mesh_dir, const char *work, const char *name,
                                       char *const extra[], char *const env[])
{
    char bin[1024], ready[1024], log[1024];
    snprintf(bin, sizeof bin, "%s/%s", mesh_dir, name);
    snprintf(ready, sizeof ready, "%s/%s.port", work, name);
    snprintf(log, sizeof log, "%s/%s.log", work, name);
    unlink(ready);
    char *argv[16];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = h_spawn(argv, env, log);
    for (int t = 0; t < 500; t++) { /* 10 s */
        const char *p = h_read_small(ready);
        if (*p) return (unsigned)atoi(p);
        if (waitpid(pid, NULL, WNOHANG) == pid) h_die("%s exited before it was ready", name);
        h_sleep_ms(20);
    }
    h_die("%s not ready after 10 s", name);
    return 0;
}

/* Starts inventory, payments, orders and gateway, exporting to traces (a file). */
static inline h_mesh h_start_mesh(const char *mesh_dir, const char *work, const char *traces)
{
    static char file[1100], db[1024];
    snprintf(file, sizeof file, "DPTRACE_EXPORT_FILE=%s", traces);
    snprintf(db, sizeof db, "%s/inventory.db", work);
    unlink(db);
    char *env[] = {file, "OTEL_TRACES_EXPORTER=file", "OTEL_BSP_SCHEDULE_DELAY=100",
                   "DPTRACE_LOG_LEVEL=error", NULL};
    h_mesh m;
    char *inv_args[] = {"--db", db, NULL};
    m.inventory = h_start_service(mesh_dir, work, "inventory", inv_args, env);
    m.payments = h_start_service(mesh_dir, work, "payments", NULL, env);
    char inv[64], pay[64], ord[64];
    snprintf(inv, sizeof inv, "http://127.0.0.1:%u", m.inventory);
    snprintf(pay, sizeof pay, "http://127.0.0.1:%u", m.payments);
    char *ord_args[] = {"--inventory", inv, "--payments", pay, NULL};
    m.orders = h_start_service(mesh_dir, work, "orders", ord_args, env);
    snprintf(ord, sizeof ord, "http://127.0.0.1:%u", m.orders);
    char *gw_args[] = {"--orders", ord, NULL};
    m.gateway = h_start_service(mesh_dir, work, "gateway", gw_args, env);
    return m;
}

/* ---- nginx -------------------------------------------------------------------------- */

/* A TCP socket bound to 127.0.0.1:0 (listening when listen_too); *port gets the port. The
 * descriptor is inheritable (no close-on-exec) and non-blocking, as nginx makes the sockets
 * it opens itself: with several workers every worker is woken for a new connection and all
 * but one find none; on a blocking socket those block in accept() for good and stop serving
 * their other connections (requests then time out, and the worker outlives its master). */
static inline int h_bind(unsigned *port, bool listen_too)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) h_die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) h_die("bind: %s", strerror(errno));
    if (listen_too && listen(fd, 511) != 0) h_die("listen: %s", strerror(errno));
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct h_nginx {
    char prefix[512];
    char conf[1024];
    pid_t master;
} h_nginx;

/* Writes conf_text as PREFIX/conf/nginx.conf and starts nginx in the foreground (daemon
 * off in conf_text) with the listening sockets fds[0..n) inherited. Waits until
 * GET http://127.0.0.1:ready_port/ answers (any status). */
static inline void h_start_nginx(h_nginx *ng, const char *nginx_bin, const char *prefix,
                                 const char *conf_text, const int *fds, int n, unsigned ready_port)
{
    snprintf(ng->prefix, sizeof ng->prefix, "%s", prefix);
    char d[1024];
    const char *sub[] = {"", "/conf", "/logs", "/tmp"};
    for (int i = 0; i < 4; i++) {
        snprintf(d, sizeof d, "%s%s", prefix, sub[i]);
        mkdir(d, 0755);
    }
    snprintf(ng->conf, sizeof ng->conf, "%s/conf/nginx.conf", prefix);
    FILE *f = fopen(ng->conf, "w");
    if (!f || fputs(conf_text, f) < 0 || fclose(f) != 0) h_die("cannot write %s", ng->conf);
    static char inherit[256];
    int k = snprintf(inherit, sizeof inherit, "NGINX=");
    for (int i = 0; i < n; i++)
        k += snprintf(inherit + k, sizeof inherit - (size_t)k, "%d;", fds[i]);
    char *env[] = {inherit, NULL};
    char log[1024];
    snprintf(log, sizeof log, "%s/logs/stderr.log", prefix);
    char *argv[] = {(char *)nginx_bin, "-p", ng->prefix, "-c", ng->conf, NULL};
    ng->master = h_spawn(argv, env, log);
    for (int t = 0; t < 500; t++) { /* 10 s */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)ready_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        /* the socket is ours and listening from the start: wait for a worker's answer */
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            const char *req = "GET /__ready HTTP/1.0\r\n\r\n";
            char buf[16];
            struct timeval tv = {0, 200000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (write(fd, req, strlen(req)) > 0 && read(fd, buf, sizeof buf) > 0) {
                close(fd);
                return;
            }
        }
        close(fd);
        if (waitpid(ng->master, NULL, WNOHANG) == ng->master) {
            fprintf(stderr, "%s\n", h_read_small(log));
            h_die("nginx exited at start (see %s)", log);
        }
        h_sleep_ms(20);
    }
    h_die("nginx did not answer within 10 s (%s)", log);
}

/* `nginx -s SIGNAL` with the same prefix and configuration (what an operator runs). */
static inline int h_nginx_signal(const h_nginx *ng, const char *nginx_bin, const char *sig)
{
    char log[1024];
    snprintf(log, sizeof log, "%s/logs/signal.log", ng->prefix);
    char *argv[] = {(char *)nginx_bin, "-p", (char *)ng->prefix, "-c",
                    (char *)ng->conf,  "-s", (char *)sig,        NULL};
    pid_t pid = h_spawn(argv, NULL, log);
    int st = h_wait_exit(pid, 10000);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The worker processes of master (children of it), at most max. */
static inline int h_workers(pid_t master, pid_t *out, int max)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char p[64], buf[512];
        snprintf(p, sizeof p, "/proc/%d/stat", pid);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')'); /* "pid (comm) S ppid ..." */
        int ppid = 0;
        char state;
        if (rp && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == master && state != 'Z')
            out[n++] = pid;
    }
    if (d) closedir(d);
    return n;
}

/* ---- the spans written (OTLP JSON lines) --------------------------------------------- */

typedef struct h_span {
    char trace[33], id[17], parent[17];
    char name[160], service[64];
    int kind, status;
    int n_links;
    json_t *attrs; /* borrowed from the loaded document */
} h_span;

typedef struct h_spans {
    h_span *v;
    size_t n, cap;
    json_t **docs;
    size_t n_docs, cap_docs;
} h_spans;

static inline void h_spans_free(h_spans *s)
{
    for (size_t i = 0; i < s->n_docs; i++)
        json_decref(s->docs[i]);
    free(s->docs);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static inline json_t *h_attr(json_t *attrs, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "key")) ?: "", key) == 0)
            return json_object_get(a, "value");
    }
    return NULL;
}

/* A string attribute of a span, or NULL. */
static inline const char *h_attr_str(const h_span *s, const char *key)
{
    return json_string_value(json_object_get(h_attr(s->attrs, key), "stringValue"));
}

/* An int attribute (OTLP JSON writes 64-bit ints as strings), or -1. */
static inline long long h_attr_int(const h_span *s, const char *key)
{
    json_t *v = json_object_get(h_attr(s->attrs, key), "intValue");
    if (json_is_string(v)) return atoll(json_string_value(v));
    if (json_is_integer(v)) return json_integer_value(v);
    return -1;
}

static inline void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Reads every span of the file (a line being written is skipped). */
static inline h_spans h_load(const char *path)
{
    h_spans s = {0};
    FILE *f = fopen(path, "r");
    if (!f) return s;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') break; /* incomplete */
        json_t *doc = json_loads(line, 0, NULL);
        if (!doc) continue;
        if (s.n_docs == s.cap_docs) {
            s.cap_docs = s.cap_docs ? s.cap_docs * 2 : 64;
            s.docs = realloc(s.docs, s.cap_docs * sizeof *s.docs);
        }
        s.docs[s.n_docs++] = doc;
        size_t i, j, k;
        json_t *rs, *ss, *sp;
        json_array_foreach(json_object_get(doc, "resourceSpans"), i, rs)
        {
            const char *svc = json_string_value(json_object_get(
                h_attr(json_object_get(json_object_get(rs, "resource"), "attributes"),
                       "service.name"),
                "stringValue"));
            json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
            {
                json_array_foreach(json_object_get(ss, "spans"), k, sp)
                {
                    if (s.n == s.cap) {
                        s.cap = s.cap ? s.cap * 2 : 256;
                        s.v = realloc(s.v, s.cap * sizeof *s.v);
                    }
                    h_span *m = &s.v[s.n++];
                    memset(m, 0, sizeof *m);
                    copy_str(m->trace, sizeof m->trace,
                             json_string_value(json_object_get(sp, "traceId")));
                    copy_str(m->id, sizeof m->id, json_string_value(json_object_get(sp, "spanId")));
                    copy_str(m->parent, sizeof m->parent,
                             json_string_value(json_object_get(sp, "parentSpanId")));
                    copy_str(m->name, sizeof m->name,
                             json_string_value(json_object_get(sp, "name")));
                    copy_str(m->service, sizeof m->service, svc);
                    m->kind = (int)json_integer_value(json_object_get(sp, "kind"));
                    m->status = (int)json_integer_value(
                        json_object_get(json_object_get(sp, "status"), "code"));
                    m->n_links = (int)json_array_size(json_object_get(sp, "links"));
                    m->attrs = json_object_get(sp, "attributes");
                }
            }
        }
    }
    free(line);
    fclose(f);
    return s;
}

#endif
