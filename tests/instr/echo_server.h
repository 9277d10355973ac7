/* echo_server.h - a loopback HTTP server for the instrumentation tests (libmicrohttpd, an
 * ephemeral port): it remembers the request headers of the last request and answers by
 * path: /ok 200 "hello", /notfound 404, /fail 503, /redirect 302 to /ok, /slow 200 after
 * 200 ms. Header-only; one server per test program.
 */
#ifndef ECHO_SERVER_H
#define ECHO_SERVER_H

#include <microhttpd.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ECHO_MAX_HEADERS 32

typedef struct echo_server {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t mu;
    int n; /* headers of the last request */
    char names[ECHO_MAX_HEADERS][64];
    char values[ECHO_MAX_HEADERS][1024];
    int requests;
} echo_server;

static echo_server echo;

static enum MHD_Result echo_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)cls;
    (void)kind;
    if (echo.n < ECHO_MAX_HEADERS) {
        snprintf(echo.names[echo.n], sizeof echo.names[0], "%s", key);
        snprintf(echo.values[echo.n], sizeof echo.values[0], "%s", value ? value : "");
        echo.n++;
    }
    return MHD_YES;
}

static enum MHD_Result echo_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *data,
                                    size_t *size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)data;
    static int first;
    if (!*con_cls) {
        *con_cls = &first;
        return MHD_YES;
    }
    if (*size) {
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&echo.mu);
    echo.n = 0;
    echo.requests++;
    MHD_get_connection_values(c, MHD_HEADER_KIND, echo_header, NULL);
    pthread_mutex_unlock(&echo.mu);
    unsigned status = 200;
    const char *body = "hello";
    if (strcmp(url, "/notfound") == 0)
        status = 404, body = "no";
    else if (strcmp(url, "/fail") == 0)
        status = 503, body = "down";
    else if (strcmp(url, "/redirect") == 0)
        status = 302, body = "";
    else if (strcmp(url, "/slow") == 0) {
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (status == 302) MHD_add_response_header(r, "Location", "/ok");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Starts the server on 127.0.0.1, an ephemeral port; 0 on success. */
static int echo_start(void)
{
    pthread_mutex_init(&echo.mu, NULL);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    echo.d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, echo_handler, NULL, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_END);
    if (!echo.d) return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(echo.d, MHD_DAEMON_INFO_BIND_PORT);
    echo.port = di ? di->port : 0;
    return echo.port ? 0 : -1;
}

static void echo_stop(void)
{
    if (echo.d) MHD_stop_daemon(echo.d);
    echo.d = NULL;
}

/* The index-th value of header name (case-insensitive) of the last request, or NULL. */
static const char *echo_get(const char *name, int index)
{
    for (int i = 0; i < echo.n; i++)
        if (strcasecmp(echo.names[i], name) == 0 && index-- == 0) return echo.values[i];
    return NULL;
}

static int echo_count(const char *name)
{
    int n = 0;
    for (int i = 0; i < echo.n; i++)
        n += strcasecmp(echo.names[i], name) == 0;
    return n;
}

#endif
