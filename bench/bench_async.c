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

#include "bench.h"
#include "dptrace.h"
#include "dptrace/async.h"
#include "dptrace/export.h"

uint64_t dpt__test_alloc_count(void); /* test hook of the core (common.h) */

static const dpt_context *g_ctx;
static dpt_task *g_task;
static dpt_cont g_cont;
static dpt_tracer *g_tracer;

static void run_attach(long n)
{
    for (long i = 0; i < n; i++)
        dpt_context_detach(dpt_context_attach(g_ctx));
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

static double allocs_per_op(void (*fn)(long), long n)
{
    uint64_t a0 = dpt__test_alloc_count();
    fn(n);
    return (double)(dpt__test_alloc_count() - a0) / (double)n;
}

void dpt_bench_async(void)
{
    static const char *const mine[] = {"context_attach_detach", "context_attach_detach_baggage",
                                       "task_enter_leave", "cont_resume_suspend",
                                       "cont_start_finish_span"};
    bool any = false;
    for (size_t i = 0; i < sizeof mine / sizeof *mine; i++)
        any |= bench_wanted(mine[i]);
    if (!any) return;
    const long n = bench_ops(2);
    /* A provider whose spans go nowhere: the continuation numbers are about the context. */
    dpt_processor *proc = dpt_processor_simple(dpt_exporter_memory(0));
    dpt_provider_config cfg = {.service_name = "bench", .processors = &proc, .n_processors = 1};
    dpt_provider *p = NULL;
    if (!((p = dpt_provider_new(&cfg)))) return;
    g_tracer = dpt_provider_get_tracer(p, "bench-async", NULL);

    dpt_span_context sc = {.flags = DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM};
    sc.trace_id = dpt_trace_id_generate();
    sc.span_id = dpt_span_id_generate();
    dpt_context *ctx = dpt_context_new(&sc, NULL, NULL);
    g_ctx = ctx;
    if (bench_wanted("context_attach_detach"))
        bench_report("context_attach_detach", bench_measure(run_attach, n));
    double a_attach = allocs_per_op(run_attach, n / 10);

    dpt_baggage *bg = NULL;
    dpt_baggage_set(NULL, "tenant", "acme", NULL, &bg);
    dpt_context *ctx_bg = dpt_context_with_baggage(ctx, bg);
    g_ctx = ctx_bg;
    if (bench_wanted("context_attach_detach_baggage"))
        bench_report("context_attach_detach_baggage", bench_measure(run_attach, n));

    g_task = dpt_task_new(ctx);
    if (bench_wanted("task_enter_leave"))
        bench_report("task_enter_leave", bench_measure(run_enter, n));
    double a_enter = allocs_per_op(run_enter, n / 10);

    dpt_task_enter(g_task);
    dpt_cont_capture(&g_cont);
    dpt_task_leave(g_task);
    if (bench_wanted("cont_resume_suspend"))
        bench_report("cont_resume_suspend", bench_measure(run_cont, n));
    dpt_cont_finish(&g_cont);
    if (bench_wanted("cont_start_finish_span"))
        bench_report("cont_start_finish_span", bench_measure(run_cont_span, n / 4));

    if (bench_wanted("context_attach_detach"))
        bench_report_value("allocs_per_attach_detach", a_attach, "allocations");
    if (bench_wanted("task_enter_leave"))
        bench_report_value("allocs_per_task_enter_leave", a_enter, "allocations");
    dpt_task_end(g_task);
    dpt_task_release(g_task);
    dpt_context_release(ctx_bg);
    dpt_baggage_release(bg);
    dpt_context_release(ctx);
    dpt_provider_free(p);
}
