/* edge.c - the mesh demo's edge: the distribution's nginx with ngx_http_dptrace_module in
 * front of the gateway, so a trace starts at nginx and runs down to inventory's SQLite
 * query. nginx cannot listen on port 0, so this launcher binds 127.0.0.1:0 itself, writes
 * the ready file and a small nginx.conf under --prefix, and execs nginx with the socket
 * inherited (the NGINX variable, as on a binary upgrade). It then is the nginx master:
 * SIGTERM stops it, and every worker flushes its spans on the way out.
 *   edge --port 0 --ready-file F --gateway URL --prefix DIR [--module SO] [--nginx BIN]
 * Spans go where the environment says (OTEL_TRACES_EXPORTER, DPTRACE_EXPORT_FILE, ...):
 * the module reads the master's OTEL_* variables.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EDGE_MODULE
#define EDGE_MODULE "ngx_http_dptrace_module.so"
#endif
#ifndef EDGE_NGINX
#define EDGE_NGINX "/usr/sbin/nginx"
#endif

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i += 2)
        if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, name) == 0) return argv[i + 1];
    return def;
}

static void die(const char *what)
{
    fprintf(stderr, "edge: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    const char *ready = arg(argc, argv, "ready-file", NULL);
    const char *gateway = arg(argc, argv, "gateway", "http://127.0.0.1:8080");
    const char *prefix = arg(argc, argv, "prefix", "edge-nginx");
    const char *module = arg(argc, argv, "module", EDGE_MODULE);
    const char *nginx = arg(argc, argv, "nginx", EDGE_NGINX);
    int want = atoi(arg(argc, argv, "port", "0"));
    if (want < 0 || want > 65535 || strncmp(gateway, "http://", 7) != 0) {
        fprintf(stderr, "usage: edge --port N --ready-file F --gateway http://HOST:PORT "
                        "--prefix DIR [--module SO] [--nginx BIN]\n");
        return 2;
    }

    /* The listening socket nginx inherits (no close-on-exec). Non-blocking, as nginx makes
     * the sockets it opens itself: with several workers every worker is woken for a new
     * connection and all but one find none; on a blocking socket those block in accept()
     * and stop serving their other connections. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)want),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 511) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("cannot listen on 127.0.0.1");
    unsigned port = ntohs(a.sin_port);

    char path[4096];
    mkdir(prefix, 0755);
    const char *sub[] = {"/conf", "/logs", "/tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", prefix, sub[i]);
        mkdir(path, 0755);
    }
    snprintf(path, sizeof path, "%s/conf/nginx.conf", prefix);
    FILE *f = fopen(path, "w");
    if (!f) die(path);
    fprintf(f,
            "load_module %s;\n"
            "daemon off;\n"
            "worker_processes 1;\n"
            "error_log stderr notice;\n"
            "pid logs/nginx.pid;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  dptrace on;                     # a SERVER span per request\n"
            "  dptrace_service_name nginx;\n"
            "  log_format traced '$remote_addr \"$request\" $status trace=$dptrace_trace_id "
            "span=$dptrace_span_id';\n"
            "  access_log logs/access.log traced;\n"
            "  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;\n"
            "  fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;\n"
            "  server {\n"
            "    listen 127.0.0.1:%u;\n"
            "    location /checkout {         # spans named \"GET /checkout\"\n"
            "      proxy_pass %s;              # a CLIENT span per attempt, context sent on\n"
            "    }\n"
            "    location / { proxy_pass %s; }\n"
            "  }\n"
            "}\n",
            module, port, gateway, gateway);
    if (fclose(f) != 0) die(path);

    if (ready) { /* connections queue on the socket until nginx's worker takes them */
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", ready);
        FILE *r = fopen(tmp, "w");
        if (!r || fprintf(r, "%u\n", port) < 0 || fclose(r) != 0 || rename(tmp, ready) != 0)
            die(ready);
    }
    char inherit[64];
    snprintf(inherit, sizeof inherit, "%d;", fd);
    setenv("NGINX", inherit, 1);
    fprintf(stderr, "edge: nginx listening on 127.0.0.1:%u in front of %s\n", port, gateway);
    char *nargv[] = {(char *)nginx, "-p", (char *)prefix, "-c", "conf/nginx.conf", NULL};
    execv(nginx, nargv);
    die(nginx);
    return 1;
}
