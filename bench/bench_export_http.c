/* bench_export_http.c - export throughput over OTLP/HTTP (protobuf) to a loopback
 * collector (the test collector of tests/export) that answers each request after an
 * added latency, with a given number of requests in flight.
 *
 *   bench_export_http LATENCY_MS IN_FLIGHT [RATE_PER_S [SECONDS [QUEUE [BATCH [GRPC_URL]]]]]
 *
 * With GRPC_URL (http://127.0.0.1:PORT of a running OTLP/gRPC server, e.g.
 * `node tests/export/grpc/server.js default=delay:20`) the OTLP/gRPC exporter is measured
 * against it instead, LATENCY_MS being then only a label; delivered spans are counted by
 * the exporter (the server's count is its own).
 *
 * One producer thread ends spans (2 attributes each) at RATE_PER_S for SECONDS, in bursts
 * every millisecond; then the provider is flushed. Prints spans/s delivered (counted by
 * the collector) over the whole run including the flush, the drops, and the bytes per
 * span. A result is one run: repeat it and report the spread.
 */
#include "collector.h"
#include "dptrace.h"
#include "dptrace/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s LATENCY_MS IN_FLIGHT [RATE [SECONDS [QUEUE [BATCH]]]]\n",
                argv[0]);
        return 2;
    }
    unsigned latency = (unsigned)atoi(argv[1]);
    unsigned in_flight = (unsigned)atoi(argv[2]);
    double rate = argc > 3 ? atof(argv[3]) : 300000;
    double seconds = argc > 4 ? atof(argv[4]) : 2;
    unsigned queue = argc > 5 ? (unsigned)atoi(argv[5]) : 2048;
    unsigned batch = argc > 6 ? (unsigned)atoi(argv[6]) : 512;
    const char *grpc_url = argc > 7 ? argv[7] : NULL;

    collector *col = collector_start(0);
    if (!col) {
        fprintf(stderr, "cannot start the collector\n");
        return 1;
    }
    col_action a = {latency ? COL_STALL : COL_OK, 0, NULL, latency, 0, NULL, 0};
    collector_set_default(col, a);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/traces", collector_port(col));

    dpt_http_exporter_config cfg;
    dpt_http_exporter_config_default(&cfg);
    cfg.url = grpc_url ? grpc_url : url;
    cfg.max_in_flight = in_flight;
    if (grpc_url) cfg.protocol = DPT_OTLP_GRPC;
    dpt_exporter *e = dpt_exporter_otlp_http(&cfg);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.max_queue_size = queue;
    bc.max_export_batch_size = batch;
    bc.schedule_delay_ms = 100;
    dpt_processor *proc = dpt_processor_batch(e, &bc);
    dpt_provider_config pc = {0};
    pc.service_name = "bench";
    pc.sampler = dpt_sampler_always_on();
    pc.processors = &proc;
    pc.n_processors = 1;
    dpt_provider *p = dpt_provider_new(&pc);
    if (!p) return 1;
    dpt_tracer *t = dpt_provider_get_tracer(p, "bench", NULL);

    uint64_t t0 = now_ns();
    uint64_t end = t0 + (uint64_t)(seconds * 1e9);
    double per_ms = rate / 1000.0;
    double owed = 0;
    uint64_t made = 0;
    for (uint64_t tick = t0; tick < end; tick += 1000000) {
        owed += per_ms;
        while (owed >= 1) {
            dpt_span s = dpt_span_start(t, "GET /item", DPT_SPAN_SERVER, NULL);
            dpt_span_set_int(s, "http.response.status_code", 200);
            dpt_span_set_str(s, "http.route", "/item/{id}");
            dpt_span_end(s);
            owed -= 1;
            made++;
        }
        uint64_t n = now_ns();
        if (n < tick + 1000000) {
            struct timespec ts = {0, (long)(tick + 1000000 - n)};
            nanosleep(&ts, NULL);
        }
    }
    dpt_provider_force_flush(p, 30000);
    double el = (double)(now_ns() - t0) / 1e9;
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    dpt_http_exporter_stats hs;
    dpt_exporter_http_get_stats(e, &hs);
    size_t got = grpc_url ? (size_t)hs.spans_sent : collector_spans_accepted(col);
    printf("%s latency %3u ms  in_flight %2u  offered %7.0f/s  exported %8.0f spans/s  "
           "(collector %zu, dropped %llu, failed %llu, %.1f B/span, max in flight %u)\n",
           grpc_url ? "otlp/grpc" : "otlp/http", latency, in_flight, (double)made / el,
           (double)st.spans_exported / el, got, (unsigned long long)st.spans_dropped_queue,
           (unsigned long long)st.spans_export_failed,
           hs.spans_sent ? (double)hs.bytes_sent / (double)hs.spans_sent : 0.0,
           hs.max_in_flight_seen);
    dpt_provider_free(p);
    collector_stop(col);
    return got == st.spans_exported ? 0 : 1;
}
