/* pipeline.c - where the Python module's spans go: libdptrace providers built from the
 * OTEL_* environment (batch processor, OTLP/HTTP, file, ...), the bounded trace store
 * shared by all of them, and a tiny "capture" processor that hands a span's record view
 * to the Span object that started or ended it. Also shutdown at interpreter exit.
 *
 * Why several providers: a libdptrace provider has one sampler, and a Python Tracer may
 * have its own Sampler. Each distinct sample rate gets a provider of its own, built by
 * dpt_provider_from_env_with_sampler() like the default one (same exporters, limits and
 * resource) with the sampler parentbased_traceidratio(rate): exactly what a C service
 * configured with that rate decides, trace id for trace id.
 */
#include "dpy.h"

#include <dptrace/export.h>
#ifdef DPY_HAVE_HTTP
#include <dptrace/http.h>
#endif

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PIPELINES 16

typedef struct pipeline {
    double rate; /* < 0: the environment's sampler */
    dpt_provider *provider;
} pipeline;

/* Written with the GIL held; read with it held too (force_flush/shutdown re-read n after
 * every wait, so a pipeline added meanwhile is seen). Providers are never freed: Span
 * objects hold handles that point at their tracers until the process ends. */
static pipeline pipelines[MAX_PIPELINES];
static int n_pipelines;
static dpt_store *store;
static bool store_made;
static bool shut_down;

/* ---- the capture processor ---------------------------------------------------------------
 * dpy_span_start / dpy_span_end point a thread-local slot at their result before calling
 * libdptrace, which calls the processors on the same thread, synchronously. So the slot
 * is only ever set for the span being started or ended by this thread. Spans of the
 * binding's providers are only started and ended here. */
static _Thread_local const dpt_span_data **tl_start_slot;
static _Thread_local const dpt_span_data **tl_end_slot;

static void capture_on_start(void *state, const dpt_span_data *d)
{
    (void)state;
    const dpt_span_data **slot = tl_start_slot;
    if (slot) {
        *slot = d; /* a view of the live record: valid while its handle is live */
        tl_start_slot = NULL;
    }
}

static void capture_on_end(void *state, const dpt_span_data *d)
{
    (void)state;
    const dpt_span_data **slot = tl_end_slot;
    if (slot) {
        dpt_span_data_retain(d); /* the Span object's reference, released at its dealloc */
        *slot = d;
        tl_end_slot = NULL;
    }
}

static const dpt_processor_ops capture_ops = {capture_on_start, capture_on_end, NULL, NULL, NULL};

dpt_span dpy_span_start(dpt_tracer *t, const char *name, dpt_span_kind kind, const dpt_span_opts *o,
                        const dpt_span_data **view)
{
    const dpt_span_data *v = NULL;
    tl_start_slot = &v;
    dpt_span h = dpt_span_start(t, name, kind, o);
    tl_start_slot = NULL;
    *view = v;
    return h;
}

const dpt_span_data *dpy_span_end(dpt_span h, uint64_t end_ns)
{
    const dpt_span_data *d = NULL;
    tl_end_slot = &d;
    dpt_span_end_at(h, end_ns);
    tl_end_slot = NULL;
    return d;
}

/* ---- providers ---------------------------------------------------------------------------- */

static size_t env_size(const char *name, size_t def, bool *set)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || v[0] == '-') {
        fprintf(stderr, "dptrace: %s=%s is not a number; using %zu\n", name, v, def);
        return def;
    }
    if (set) *set = true;
    return (size_t)x;
}

static void make_store(void)
{
    if (store_made) return;
    store_made = true;
    bool set = false;
    dpt_store_config c = {0};
    /* 1,000 spans by default, not libdptrace's 10,000: every span ended recycles the
     * oldest stored record, so the store's size is the working set the hot path walks
     * through; at 10,000 records (~12 MiB) it falls out of the caches and a span cost
     * 1.2-2 us more on the development machine, at 1,000 about 0.1-0.3 us
     * (docs/BENCHMARKS.md). */
    c.max_spans = env_size("DPTRACE_STORE_MAX_SPANS", 1000, &set);
    c.max_bytes = env_size("DPTRACE_STORE_MAX_BYTES", (size_t)16 << 20, NULL);
    if (set && c.max_spans == 0) return; /* the store is switched off */
    store = dpt_store_new(&c);
}

dpt_store *dpy_store(void)
{
    return store;
}

/* dpt_provider_from_env() with the sampler parentbased_traceidratio(rate) in place of the
 * environment's. The environment is not touched: a setenv() here would race the getenv()
 * of any other thread of the process (an earlier provider's export thread starting up did
 * read DPTRACE_EXPORT_SCHED then, and crashed in 1 of ~200 runs under ASan). */
static dpt_provider *provider_for(double rate)
{
    if (rate < 0) return dpt_provider_from_env();
    /* dpt_sampler_parent_based frees its arguments when it fails (NULL root included) */
    dpt_sampler *s =
        dpt_sampler_parent_based(dpt_sampler_traceid_ratio(rate), NULL, NULL, NULL, NULL);
    return s ? dpt_provider_from_env_with_sampler(s) : NULL;
}

dpt_provider *dpy_pipeline_get(double rate, bool *error)
{
    *error = false;
    for (int i = 0; i < n_pipelines; i++)
        if (pipelines[i].rate == rate) return pipelines[i].provider;
    if (shut_down) return NULL;
    if (n_pipelines == MAX_PIPELINES) {
        PyErr_Format(PyExc_ValueError,
                     "at most %d distinct sample rates per process (each has its own "
                     "export pipeline)",
                     MAX_PIPELINES - 1);
        *error = true;
        return NULL;
    }
#ifdef DPY_HAVE_HTTP
    dpt_http_register(); /* OTEL_TRACES_EXPORTER=otlp / zipkin, idempotent */
#endif
    make_store();
    dpt_provider *p = provider_for(rate);
    if (p) {
        if (store) dpt_provider_add_processor(p, dpt_processor_store(store));
        dpt_provider_add_processor(p, dpt_processor_new(&capture_ops, NULL));
    }
    /* Remembered even when NULL (out of memory, logged): spans are then no-ops. */
    pipelines[n_pipelines].rate = rate;
    pipelines[n_pipelines].provider = p;
    n_pipelines++;
    return p;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs force_flush or shutdown on each pipeline within one deadline, the GIL released
 * during each call so that other threads (and an in-process collector) keep running. */
static bool each_pipeline(uint32_t timeout_ms, bool shutdown)
{
    uint64_t deadline = mono_ms() + timeout_ms;
    bool ok = true;
    for (int i = 0; i < n_pipelines; i++) {
        dpt_provider *p = pipelines[i].provider;
        if (!p) continue;
        uint64_t now = mono_ms();
        uint32_t left = now >= deadline ? 0 : (uint32_t)(deadline - now);
        dpt_err e;
        Py_BEGIN_ALLOW_THREADS e =
            shutdown ? dpt_provider_shutdown(p, left) : dpt_provider_force_flush(p, left);
        Py_END_ALLOW_THREADS if (e != DPT_OK && !(shutdown && e == DPT_ESTATE)) ok = false;
    }
    return ok;
}

bool dpy_pipeline_flush(uint32_t timeout_ms)
{
    return each_pipeline(timeout_ms, false);
}

bool dpy_pipeline_shutdown(uint32_t timeout_ms)
{
    shut_down = true; /* no new pipelines; spans of existing ones become no-ops */
    return each_pipeline(timeout_ms, true);
}

void dpy_pipeline_stats(dpt_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n_pipelines; i++) {
        if (!pipelines[i].provider) continue;
        dpt_stats s;
        dpt_provider_get_stats(pipelines[i].provider, &s);
        out->spans_started += s.spans_started;
        out->spans_sampled += s.spans_sampled;
        out->spans_recording += s.spans_recording;
        out->spans_ended += s.spans_ended;
        out->spans_exported += s.spans_exported;
        out->spans_export_failed += s.spans_export_failed;
        out->spans_dropped_queue += s.spans_dropped_queue;
        out->spans_dropped_store += s.spans_dropped_store;
        out->attrs_dropped += s.attrs_dropped;
        out->events_dropped += s.events_dropped;
        out->links_dropped += s.links_dropped;
        out->spans_ended_by_task += s.spans_ended_by_task;
    }
}

/* Registered with Python's atexit: it runs before the interpreter is torn down, while
 * daemon threads may still run (their spans become no-ops once shut down). The C atexit
 * handler of dpt_provider_from_env comes later and finds the providers shut down. */
PyObject *dpy_atexit(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    const char *v = getenv("DPTRACE_SHUTDOWN_AT_EXIT");
    if (v && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)) Py_RETURN_NONE;
    dpy_pipeline_shutdown(5000);
    Py_RETURN_NONE;
}
