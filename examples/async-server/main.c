/* main.c - the async-server example program: the traced libuv server on loopback, either
 * serving until SIGINT/SIGTERM or, with --demo N, driving itself with N concurrent
 * requests from the load client on another thread and exiting. Spans go to --out FILE
 * (OTLP/JSON lines) or wherever OTEL_TRACES_EXPORTER says (dpt_provider_from_env). */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace.h"
#include "dptrace/export.h"

typedef struct demo {
    uv_thread_t thread;
    uv_async_t done;
    as_server *srv;
    int port;
    size_t n;
    uint32_t max_delay_ms;
    as_result *results;
    int ok;
} demo;

static void demo_client(void *arg)
{
    demo *d = arg;
    d->ok = as_client_run("127.0.0.1", d->port, d->n, d->max_delay_ms, d->results);
    uv_async_send(&d->done); /* back to the server's loop thread */
}

static void on_demo_done(uv_async_t *a)
{
    demo *d = a->data;
    as_server_stop(d->srv);
    uv_close((uv_handle_t *)a, NULL);
}

static uv_signal_t sigint, sigterm;

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    as_server_stop(s->data);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
}

static void usage(void)
{
    fprintf(stderr, "usage: async-server [--port N] [--out FILE] [--demo N] [--max-delay MS]\n"
                    "  --port N       listen on 127.0.0.1:N (default 0: any free port)\n"
                    "  --out FILE     append spans to FILE as OTLP/JSON lines (default: from\n"
                    "                 the OTEL_* environment)\n"
                    "  --demo N       send N concurrent requests to itself, then exit\n"
                    "  --max-delay MS longest timer wait of a demo request (default 50)\n");
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *out = NULL;
    long n_demo = -1;
    long max_delay = 50;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--demo") == 0 && i + 1 < argc)
            n_demo = atol(argv[++i]);
        else if (strcmp(argv[i], "--max-delay") == 0 && i + 1 < argc)
            max_delay = atol(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (port < 0 || port > 65535 || n_demo == 0 || n_demo > 100000 || max_delay < 0 ||
        max_delay > 60000) {
        usage();
        return 2;
    }

    dpt_provider *prov = NULL;
    if (out) {
        dpt_exporter *e = dpt_exporter_file(out);
        dpt_processor *proc = e ? dpt_processor_batch(e, NULL) : NULL;
        dpt_provider_config cfg = {
            .service_name = "async-server", .processors = &proc, .n_processors = 1};
        if (!proc || !((prov = dpt_provider_new(&cfg)))) {
            fprintf(stderr, "async-server: cannot write spans to %s\n", out);
            return 1;
        }
    } else {
        prov = dpt_provider_from_env();
    }

    uv_loop_t *loop = uv_default_loop();
    as_server_config cfg = {.host = "127.0.0.1",
                            .port = port,
                            .tracer = dpt_provider_get_tracer(prov, "async-server", "0.1.0"),
                            .max_delay_ms = 60000};
    as_server *srv = NULL;
    int rc = as_server_start(loop, &cfg, &srv);
    if (rc < 0) {
        fprintf(stderr, "async-server: listen: %s\n", uv_strerror(rc));
        dpt_provider_free(prov);
        return 1;
    }
    printf("async-server listening on 127.0.0.1:%d\n", as_server_port(srv));
    fflush(stdout);

    demo d = {.srv = srv,
              .port = as_server_port(srv),
              .n = (size_t)n_demo,
              .max_delay_ms = (uint32_t)max_delay};
    if (n_demo > 0) {
        d.results = calloc((size_t)n_demo, sizeof *d.results);
        if (!d.results) return 1;
        uv_async_init(loop, &d.done, on_demo_done);
        d.done.data = &d;
        uv_thread_create(&d.thread, demo_client, &d);
    } else {
        uv_signal_init(loop, &sigint);
        uv_signal_init(loop, &sigterm);
        sigint.data = sigterm.data = srv;
        uv_signal_start(&sigint, on_signal, SIGINT);
        uv_signal_start(&sigterm, on_signal, SIGTERM);
    }
    uv_run(loop, UV_RUN_DEFAULT);

    printf("async-server: %llu request(s) answered OK, %llu with an error\n",
           (unsigned long long)as_server_ok(srv), (unsigned long long)as_server_errors(srv));
    int status = 0;
    if (n_demo > 0) {
        uv_thread_join(&d.thread);
        printf("client: %d of %ld replies OK\n", d.ok, n_demo);
        for (long i = 0; i < n_demo && i < 3; i++)
            printf("  sent traceparent %s -> %s\n", d.results[i].traceparent, d.results[i].reply);
        status = d.ok == n_demo ? 0 : 1;
        free(d.results);
    }
    as_server_free(srv);
    uv_loop_close(loop);
    dpt_provider_shutdown(prov, 5000);
    dpt_provider_free(prov);
    return status;
}
