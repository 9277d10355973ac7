/* bench.c - dptrace benchmarks: one line per scenario, "name ns_per_op", the median of
 * repeats after a warm-up. The `floor` scenario is the plain minimum work of a sampled
 * span written here without the library (two clock reads, ids, copying the same
 * attributes into a record, pushing it to a ring), so dptrace/floor is measured in one
 * run on one machine. Other modules add scenarios through the weak hooks at the end.
 */
#define _GNU_SOURCE
#include <dptrace.h>
#include <dptrace/plugin.h>
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPEATS 7

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

static void report(const char *name, double ns)
{
    printf("%-32s %8.1f\n", name, ns);
    fflush(stdout);
}

/* Runs fn(n) REPEATS times after one warm-up; returns the median ns per op. */
static double measure(void (*fn)(long), long n)
{
    double r[REPEATS];
    fn(n / 4);
    for (int i = 0; i < REPEATS; i++) {
        uint64_t t0 = mono();
        fn(n);
        r[i] = (double)(mono() - t0) / (double)n;
    }
    qsort(r, REPEATS, sizeof *r, cmp_double);
    return r[REPEATS / 2];
}

/* ---- floor ---------------------------------------------------------------------------- */

typedef struct floor_attr {
    char key[32];
    uint8_t type;
    union {
        char s[32];
        int64_t i;
    } v;
} floor_attr;

typedef struct floor_rec {
    uint8_t trace_id[16], span_id[8], parent[8];
    uint64_t start, end;
    char name[32];
    floor_attr attrs[2];
} floor_rec;

static floor_rec floor_ring[4096];
static floor_rec *volatile floor_slot[4096];
static uint64_t floor_rng = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift(void)
{
    floor_rng ^= floor_rng << 13;
    floor_rng ^= floor_rng >> 7;
    floor_rng ^= floor_rng << 17;
    return floor_rng;
}

static uint64_t wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run_floor(long n)
{
    for (long i = 0; i < n; i++) {
        floor_rec *r = &floor_ring[i & 4095];
        uint64_t a = xorshift(), b = xorshift(), c = xorshift();
        memcpy(r->trace_id, &a, 8);
        memcpy(r->trace_id + 8, &b, 8);
        memcpy(r->span_id, &c, 8);
        r->start = wall();
        strcpy(r->name, "GET /orders/{id}");
        strcpy(r->attrs[0].key, "http.request.method");
        r->attrs[0].type = 1;
        strcpy(r->attrs[0].v.s, "GET");
        strcpy(r->attrs[1].key, "http.response.status_code");
        r->attrs[1].type = 2;
        r->attrs[1].v.i = 200;
        r->end = wall();
        floor_slot[i & 4095] = r; /* the "push" */
    }
}

/* ---- dptrace scenarios --------------------------------------------------------------- */

static dpt_err discard_export(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    (void)s;
    (void)n;
    return DPT_OK;
}
static const dpt_exporter_ops discard_ops = { discard_export, NULL, NULL, NULL };

static dpt_tracer *bench_tracer;

static dpt_provider *make_provider(dpt_sampler *s, bool batch)
{
    dpt_exporter *e = dpt_exporter_new(&discard_ops, NULL);
    dpt_processor *proc = batch ? dpt_processor_batch(e, NULL) : dpt_processor_simple(e);
    dpt_provider_config cfg = { .service_name = "bench", .sampler = s, .processors = &proc, .n_processors = 1 };
    dpt_provider *p = NULL;
    if (!((p = dpt_provider_new(&cfg)))) {
        fprintf(stderr, "provider failed\n");
        exit(1);
    }
    bench_tracer = dpt_provider_get_tracer(p, "bench", "1");
    return p;
}

static void run_span(long n)
{
    for (long i = 0; i < n; i++) {
        dpt_span s = dpt_span_start(bench_tracer, "GET /orders/{id}", DPT_SPAN_SERVER, NULL);
        dpt_span_set_str(s, "http.request.method", "GET");
        dpt_span_set_int(s, "http.response.status_code", 200);
        dpt_span_end(s);
    }
}

static void run_span_bare(long n)
{
    for (long i = 0; i < n; i++)
        dpt_span_end(dpt_span_start(bench_tracer, "GET /orders/{id}", DPT_SPAN_SERVER, NULL));
}

static void run_nested(long n)
{
    for (long i = 0; i < n; i += 2) {
        DPT_WITH_SPAN(bench_tracer, "parent", DPT_SPAN_SERVER)
        {
            dpt_span_set_str(dpt_span_current(), "http.request.method", "GET");
            DPT_WITH_SPAN(bench_tracer, "child", DPT_SPAN_INTERNAL)
            {
                dpt_span_set_int(dpt_span_current(), "n", i);
            }
        }
    }
}

static void *thread_spans(void *arg)
{
    run_span((long)(intptr_t)arg);
    return NULL;
}

static double two_threads(long per_thread)
{
    pthread_t th[2];
    uint64_t t0 = mono();
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_spans, (void *)(intptr_t)per_thread);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    return (double)(mono() - t0) / (double)(2 * per_thread);
}

/* Hooks of other modules (weak: present when their bench files are linked). */
void dpt_bench_propagation(void (*rep)(const char *, double)) __attribute__((weak));
void dpt_bench_export(void (*rep)(const char *, double)) __attribute__((weak));
void dpt_bench_async(void (*rep)(const char *, double)) __attribute__((weak));

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n < 1000) n = 1000;
    printf("# dptrace bench: median of %d repeats of %ld ops, ns per op\n", REPEATS, n);
    double fl = measure(run_floor, n);
    report("floor", fl);

    dpt_provider *p = make_provider(dpt_sampler_always_on(), false);
    double simple = measure(run_span, n);
    report("span_sampled_simple", simple);
    uint64_t a0 = dpt__test_alloc_count();
    run_span(n);
    double allocs = (double)(dpt__test_alloc_count() - a0) / (double)n;
    double nested = measure(run_nested, n);
    report("span_nested_scoped", nested);
    dpt_provider_free(p);

    p = make_provider(dpt_sampler_always_off(), false);
    report("span_unsampled", measure(run_span_bare, n * 4));          /* start + end */
    report("span_unsampled_2attrs", measure(run_span, n * 4));        /* + the 2 setters */
    dpt_provider_free(p);

    p = make_provider(dpt_sampler_always_on(), true);
    /* Warm the record pool to its steady size first, so the drop count below is the
     * steady state's, not the cold start's. */
    run_span(n);
    dpt_provider_force_flush(p, 30000);
    dpt_stats st0;
    dpt_provider_get_stats(p, &st0);
    double batch = measure(run_span, n);
    report("span_sampled_batch", batch);
    a0 = dpt__test_alloc_count();
    run_span(n);
    double allocs_batch = (double)(dpt__test_alloc_count() - a0) / (double)n;
    dpt_provider_force_flush(p, 30000);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    double two[REPEATS];
    for (int i = 0; i < REPEATS; i++) two[i] = two_threads(n / 2);
    qsort(two, REPEATS, sizeof *two, cmp_double);
    report("span_sampled_batch_2threads", two[REPEATS / 2]);
    dpt_provider_force_flush(p, 30000);
    dpt_stats st2;
    dpt_provider_get_stats(p, &st2);
    dpt_provider_free(p);

    printf("%-32s %8.3f\n", "allocs_per_span_simple", allocs);
    printf("%-32s %8.3f\n", "allocs_per_span_batch", allocs_batch);
    printf("%-32s %8.2f\n", "ratio_sampled_simple_to_floor", simple / fl);
    printf("%-32s %8.2f\n", "ratio_batch_to_floor", batch / fl);
    printf("%-32s %8.2f\n", "scaling_2threads", batch / two[REPEATS / 2]);
    printf("# batch, one producer, after warm-up: ended=%llu exported=%llu dropped=%llu\n",
           (unsigned long long)(st.spans_ended - st0.spans_ended),
           (unsigned long long)(st.spans_exported - st0.spans_exported),
           (unsigned long long)(st.spans_dropped_queue - st0.spans_dropped_queue));
    printf("# batch, 2 producers: ended=%llu exported=%llu dropped=%llu\n",
           (unsigned long long)(st2.spans_ended - st.spans_ended),
           (unsigned long long)(st2.spans_exported - st.spans_exported),
           (unsigned long long)(st2.spans_dropped_queue - st.spans_dropped_queue));

    if (dpt_bench_propagation) dpt_bench_propagation(report);
    if (dpt_bench_export) dpt_bench_export(report);
    if (dpt_bench_async) dpt_bench_async(report);
    return 0;
}
