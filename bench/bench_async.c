/* bench_async.c - async context benchmarks, called by bench.c (dpt_bench_async).
 *
 * context_attach_detach: attach a captured context and detach it (a hop of a callback
 * that carries a context). task_enter_leave: resume and suspend a task (its stack swapped
 * in and out, one CAS and one fetch_sub). Both must not allocate: the allocation count is
 * printed next to them. cont_resume_suspend and cont_start_finish show the continuation's
 * cost with and without its span and captured context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dptrace.h"
#include "dptrace/async.h"
#include "dptrace/export.h"

#define REPEATS 7

uint64_t dpt__test_alloc_count(void); /* test hook of the core (internal.h) */

static uint64_t now_ns(void)
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

static const dpt_context *g_ctx;
static dpt_task *g_task;
static dpt_cont g_cont;
static dpt_tracer *g_tracer;

static void run_attach(long n)
{
    for (long i = 0; i < n; i++) dpt_context_detach(dpt_context_attach(g_ctx));
}

static void run_enter(long n)
{
    for (long i = 0; i < n; i++) {
        dpt_task_enter(g_task);
        dpt_task_leave(g_task);
    }
}

static void run_cont(long n)
{
    for (long i = 0; i < n; i++) {
        dpt_cont_resume(&g_cont);
        dpt_cont_suspend(&g_cont);
    }
}

static void run_cont_span(long n)
{
    dpt_task_enter(g_task);
    for (long i = 0; i < n; i++) {
        dpt_cont c = DPT_CONT_INIT;
        dpt_cont_start(&c, g_tracer, "op", DPT_SPAN_INTERNAL, NULL);
        dpt_cont_finish(&c);
    }
    dpt_task_leave(g_task);
}

static double measure(void (*fn)(long), long n)
{
    double r[REPEATS];
    fn(n / 4);
    for (int i = 0; i < REPEATS; i++) {
        uint64_t t0 = now_ns();
        fn(n);
        r[i] = (double)(now_ns() - t0) / (double)n;
    }
    qsort(r, REPEATS, sizeof *r, cmp_double);
    return r[REPEATS / 2];
}

static double allocs_per_op(void (*fn)(long), long n)
{
    uint64_t a0 = dpt__test_alloc_count();
    fn(n);
    return (double)(dpt__test_alloc_count() - a0) / (double)n;
}

void dpt_bench_async(void (*report)(const char *name, double ns_per_op))
{
    const long n = 2000000;
    /* A provider whose spans go nowhere: the continuation numbers are about the context. */
    dpt_processor *proc = dpt_processor_simple(dpt_exporter_memory(0));
    dpt_provider_config cfg = { .service_name = "bench", .processors = &proc, .n_processors = 1 };
    dpt_provider *p = NULL;
    if (!((p = dpt_provider_new(&cfg)))) return;
    g_tracer = dpt_provider_get_tracer(p, "bench-async", NULL);

    dpt_span_context sc = { .flags = DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM };
    sc.trace_id = dpt_trace_id_generate();
    sc.span_id = dpt_span_id_generate();
    dpt_context *ctx = dpt_context_new(&sc, NULL, NULL);
    g_ctx = ctx;
    report("context_attach_detach", measure(run_attach, n));
    double a_attach = allocs_per_op(run_attach, n / 10);

    dpt_baggage *bg = NULL;
    dpt_baggage_set(NULL, "tenant", "acme", NULL, &bg);
    dpt_context *ctx_bg = dpt_context_with_baggage(ctx, bg);
    g_ctx = ctx_bg;
    report("context_attach_detach_baggage", measure(run_attach, n));

    g_task = dpt_task_new(ctx);
    report("task_enter_leave", measure(run_enter, n));
    double a_enter = allocs_per_op(run_enter, n / 10);

    dpt_task_enter(g_task);
    dpt_cont_capture(&g_cont);
    dpt_task_leave(g_task);
    report("cont_resume_suspend", measure(run_cont, n));
    dpt_cont_finish(&g_cont);
    report("cont_start_finish_span", measure(run_cont_span, n / 4));

    printf("%-32s %8.3f\n", "allocs_per_attach_detach", a_attach);
    printf("%-32s %8.3f\n", "allocs_per_task_enter_leave", a_enter);
    dpt_task_end(g_task);
    dpt_task_release(g_task);
    dpt_context_release(ctx_bg);
    dpt_baggage_release(bg);
    dpt_context_release(ctx);
    dpt_provider_free(p);
}
