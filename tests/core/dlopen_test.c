/* dlopen_test.c - libdptrace.so loaded with dlopen(), as plugins do (a dynamic nginx module,
 * a Python extension, any host that loads tracing at run time): the library's
 * initial-exec thread-locals must fit in the static TLS space glibc keeps for dlopen
 * ("cannot allocate memory in static TLS block" otherwise), and spans must work on the
 * loading thread and on a new one. Prints "ok" and exits 0 when they do. Our own rule,
 * recorded in docs/ARCHITECTURE.md (the hot path's thread-locals are a few pointers). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dptrace.h"

typedef dpt_provider *(*provider_new_fn)(const dpt_provider_config *);
typedef dpt_tracer *(*get_tracer_fn)(dpt_provider *, const char *, const char *);
typedef dpt_span (*start_fn)(dpt_tracer *, const char *, dpt_span_kind, const dpt_span_opts *);
typedef dpt_err (*set_str_fn)(dpt_span, const char *, const char *);
typedef dpt_err (*end_fn)(dpt_span);
typedef bool (*recording_fn)(dpt_span);
typedef void (*free_fn)(dpt_provider *);

static get_tracer_fn get_tracer;
static start_fn start;
static set_str_fn set_str;
static end_fn end;
static recording_fn recording;
static dpt_provider *prov;

static int one_span(void)
{
    dpt_span s = start(get_tracer(prov, "dlopen", NULL), "span", DPT_SPAN_INTERNAL, NULL);
    int ok = recording(s) && set_str(s, "key", "value") == DPT_OK && end(s) == DPT_OK;
    return ok;
}

static void *thread_main(void *arg)
{
    *(int *)arg = one_span();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    provider_new_fn pnew = (provider_new_fn)dlsym(h, "dpt_provider_new");
    get_tracer = (get_tracer_fn)dlsym(h, "dpt_provider_get_tracer");
    start = (start_fn)dlsym(h, "dpt_span_start");
    set_str = (set_str_fn)dlsym(h, "dpt_span_set_str");
    end = (end_fn)dlsym(h, "dpt_span_end");
    recording = (recording_fn)dlsym(h, "dpt_span_is_recording");
    free_fn pfree = (free_fn)dlsym(h, "dpt_provider_free");
    if (!pnew || !get_tracer || !start || !set_str || !end || !recording || !pfree) {
        fprintf(stderr, "dlsym failed\n");
        return 1;
    }
    dpt_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    prov = pnew(&cfg);
    int here = one_span(), there = 0;
    pthread_t t;
    pthread_create(&t, NULL, thread_main, &there);
    pthread_join(t, NULL);
    pfree(prov);
    if (!here || !there) {
        fprintf(stderr, "span on the loading thread: %d, on a new thread: %d\n", here, there);
        return 1;
    }
    puts("ok");
    return 0;
}
