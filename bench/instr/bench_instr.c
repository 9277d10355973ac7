/* bench_instr.c - what the instrumentation helpers (libdptrace-instr) cost per call: one
 * line per scenario, "name ns_per_op", the median of 7 repeats after a warm-up, with a
 * sampled span exported through a simple processor to a discarding exporter (as
 * bench.c's span_sampled_simple). Scenarios come in pairs, plain and traced, so the
 * difference is the helper's cost in the same run:
 *   sql_sanitize / sql_summary / url_redact      the sanitizers alone
 *   sqlite_select_plain / _traced                 an indexed SELECT on an in-memory db
 *   curl_span_start_end                           dpt_curl_span_start + _end, no transfer
 *   curl_get_plain / _traced                      GET over loopback (keep-alive) to a
 *                                                 libmicrohttpd server in this process
 *   mhd_request_plain / _traced                   the same GET, the server side traced
 * BENCH_FILTER=substring runs only the matching scenarios, BENCH_DIV=k divides the
 * operation counts (callgrind runs: instructions per operation = the difference of a
 * traced and a plain run divided by the operations, n/4 + 1 + 7 n per scenario).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <microhttpd.h>
#include <sqlite3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dptrace.h>
#include <dptrace/instr.h>
#include <dptrace/plugin.h>

#define REPEATS 7

static dpt_tracer *tracer;
static long divisor = 1;

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench(const char *name, void (*fn)(long), long n)
{
    const char *filter = getenv("BENCH_FILTER");
    if (filter && !strstr(name, filter)) return;
    n /= divisor;
    if (n < 1) n = 1;
    double r[REPEATS];
    fn(n / 4 + 1);
    for (int i = 0; i < REPEATS; i++) {
        uint64_t t0 = mono();
        fn(n);
        r[i] = (double)(mono() - t0) / (double)n;
    }
    qsort(r, REPEATS, sizeof *r, cmp_double);
    printf("%-28s %10.1f   (min %.1f, max %.1f)\n", name, r[REPEATS / 2], r[0], r[REPEATS - 1]);
    fflush(stdout);
}

/* ---- sanitizers ---------------------------------------------------------------------- */

static const char *query = "SELECT qty, price FROM stock WHERE sku = 'sku-42' AND shop = 7";
static volatile size_t sink;

static void run_sanitize(long n)
{
    char out[256];
    for (long i = 0; i < n; i++)
        sink += dpt_instr_sanitize_sql(query, DPT_NUL, out, sizeof out);
}

static void run_summary(long n)
{
    char out[256];
    for (long i = 0; i < n; i++)
        sink += dpt_instr_summarize_sql(query, DPT_NUL, out, sizeof out);
}

static void run_redact(long n)
{
    char out[256];
    const char *u = "https://user:pw@api.example.com:8443/v1/orders/42?sig=abc&page=2";
    for (long i = 0; i < n; i++)
        sink += dpt_instr_redact_url(u, DPT_NUL, out, sizeof out);
}

/* ---- SQLite ------------------------------------------------------------------------- */

static sqlite3 *db;
static sqlite3_stmt *sel;

static void sqlite_setup(void)
{
    sqlite3_open(":memory:", &db);
    sqlite3_exec(db, "CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER)", 0, 0, 0);
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    for (int i = 0; i < 1000; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO stock VALUES('sku-%d', %d)", i, i);
        sqlite3_exec(db, sql, 0, 0, 0);
    }
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    sqlite3_prepare_v2(db, "SELECT qty FROM stock WHERE sku = ?", -1, &sel, 0);
}

static void run_select(long n)
{
    for (long i = 0; i < n; i++) {
        char sku[16];
        int len = snprintf(sku, sizeof sku, "sku-%ld", i % 1000);
        sqlite3_bind_text(sel, 1, sku, len, SQLITE_TRANSIENT);
        while (dpt_sqlite_step(sel) == SQLITE_ROW)
            sink += (size_t)sqlite3_column_int(sel, 0);
        sqlite3_reset(sel);
    }
}

/* ---- HTTP: an in-process libmicrohttpd server, a libcurl client ------------------------ */

static struct MHD_Daemon *mhd;
static unsigned mhd_port;
static int traced_server;
static CURL *easy;
static char url[128];

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *u,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    (void)cls, (void)data;
    static int plain;
    if (!*con_cls) {
        if (traced_server) {
            dpt_mhd_opts o = {.tracer = tracer};
            *con_cls = dpt_mhd_request_start(c, u, method, version, &o);
        } else {
            *con_cls = &plain;
        }
        return MHD_YES;
    }
    *size = 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;
    if (traced_server) {
        dpt_mhd_request_set_route(*con_cls, "/bench");
        ret = dpt_mhd_queue_response(*con_cls, 200, r);
    } else {
        ret = MHD_queue_response(c, 200, r);
    }
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    if (traced_server) dpt_mhd_completed(cls, c, con_cls, toe);
    *con_cls = NULL;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static void http_setup(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handler,
                           NULL, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED, completed,
                           NULL, MHD_OPTION_END);
    mhd_port = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/bench", mhd_port);
    easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
}

static void run_curl_plain(long n)
{
    for (long i = 0; i < n; i++)
        curl_easy_perform(easy);
}

static void run_curl_traced(long n)
{
    dpt_curl_opts o = {.tracer = tracer, .url_template = "/bench"};
    for (long i = 0; i < n; i++)
        dpt_curl_perform(easy, NULL, &o);
}

static void run_curl_span(long n)
{
    dpt_curl_opts o = {.tracer = tracer, .url_template = "/bench", .url = url, .method = "GET"};
    for (long i = 0; i < n; i++)
        dpt_curl_span_end(dpt_curl_span_start(easy, NULL, &o), CURLE_OK);
}

static void run_mhd_plain(long n)
{
    traced_server = 0;
    run_curl_plain(n);
}

static void run_mhd_traced(long n)
{
    traced_server = 1;
    run_curl_plain(n);
    traced_server = 0;
}

/* ---- a discarding exporter ----------------------------------------------------------- */

static dpt_err discard_export(void *state, const dpt_span_data *const *spans, size_t n)
{
    (void)state, (void)spans;
    sink += n;
    return DPT_OK;
}

int main(void)
{
    if (getenv("BENCH_DIV")) divisor = atol(getenv("BENCH_DIV"));
    if (divisor < 1) divisor = 1;
    static const dpt_exporter_ops ops = {.export_spans = discard_export};
    dpt_processor *proc = dpt_processor_simple(dpt_exporter_new(&ops, NULL));
    dpt_provider_config cfg = {.service_name = "bench", .processors = &proc, .n_processors = 1};
    dpt_provider *p = dpt_provider_new(&cfg);
    tracer = dpt_provider_get_tracer(p, "bench", "1");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sqlite_setup();
    http_setup();

    bench("sql_sanitize", run_sanitize, 200000);
    bench("sql_summary", run_summary, 200000);
    bench("url_redact", run_redact, 200000);
    bench("sqlite_select_plain", run_select, 100000);
    dpt_sqlite_instrument(db, &(dpt_sqlite_opts){.tracer = tracer});
    bench("sqlite_select_traced", run_select, 100000);
    dpt_sqlite_uninstrument(db);
    bench("curl_span_start_end", run_curl_span, 100000);
    bench("curl_get_plain", run_curl_plain, 2000);
    bench("curl_get_traced", run_curl_traced, 2000);
    bench("mhd_request_plain", run_mhd_plain, 2000);
    bench("mhd_request_traced", run_mhd_traced, 2000);

    curl_easy_cleanup(easy);
    MHD_stop_daemon(mhd);
    sqlite3_finalize(sel);
    sqlite3_close(db);
    dpt_provider_free(p);
    curl_global_cleanup();
    return 0;
}
