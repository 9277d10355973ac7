/* test_async_util.h - helpers of the async tests: a log handler that keeps every message
 * (thread-safe) for assertions, and a compact span recorder processor that survives tens
 * of thousands of spans without retaining records. */
#ifndef DPT_TEST_ASYNC_UTIL_H
#define DPT_TEST_ASYNC_UTIL_H

#include <pthread.h>

#include "test_util.h"
#include "dptrace/async.h"

/* The test hook of src/async/task.c: tasks allocated and not yet freed. */
uint64_t dpt__test_async_live_tasks(void);
/* Allocation fault injection of src/core/util.c (internal.h). */
void dpt__test_fail_alloc_after(long after);

/* ---- log capture ------------------------------------------------------------------------ */

#define ALOG_MAX 64

typedef struct alog {
    pthread_mutex_t mu;
    int count;
    int levels[ALOG_MAX];
    char msgs[ALOG_MAX][256];
} alog;

static alog g_log = {.mu = PTHREAD_MUTEX_INITIALIZER};

static inline void alog_fn(dpt_log_level lvl, const char *msg, void *user)
{
    alog *l = user;
    pthread_mutex_lock(&l->mu);
    if (l->count < ALOG_MAX) {
        l->levels[l->count] = (int)lvl;
        snprintf(l->msgs[l->count], sizeof l->msgs[0], "%s", msg);
    }
    l->count++;
    pthread_mutex_unlock(&l->mu);
}

static inline void alog_install(void)
{
    pthread_mutex_lock(&g_log.mu);
    g_log.count = 0;
    pthread_mutex_unlock(&g_log.mu);
    dpt_log_set_handler(alog_fn, &g_log, DPT_LOG_DEBUG);
}

static inline void alog_reset(void)
{
    pthread_mutex_lock(&g_log.mu);
    g_log.count = 0;
    pthread_mutex_unlock(&g_log.mu);
}

/* How many captured messages at level >= lvl contain needle. */
static inline int alog_count(const char *needle, dpt_log_level lvl)
{
    int n = 0;
    pthread_mutex_lock(&g_log.mu);
    for (int i = 0; i < g_log.count && i < ALOG_MAX; i++)
        if (g_log.levels[i] >= (int)lvl && strstr(g_log.msgs[i], needle)) n++;
    pthread_mutex_unlock(&g_log.mu);
    return n;
}

static inline int alog_total(dpt_log_level lvl)
{
    int n = 0;
    pthread_mutex_lock(&g_log.mu);
    for (int i = 0; i < g_log.count && i < ALOG_MAX; i++)
        if (g_log.levels[i] >= (int)lvl) n++;
    pthread_mutex_unlock(&g_log.mu);
    return n;
}

/* ---- compact span recorder -------------------------------------------------------------- */

typedef struct rspan {
    dpt_trace_id trace;
    dpt_span_id id, parent;
    uint32_t ended_by_task;
    char name[32];
} rspan;

typedef struct recorder {
    pthread_mutex_t mu;
    rspan *v;
    size_t n, cap;
} recorder;

static inline void recorder_on_end(void *st, const dpt_span_data *d)
{
    recorder *r = st;
    pthread_mutex_lock(&r->mu);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        rspan *v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&r->mu);
            return;
        }
        r->v = v;
        r->cap = cap;
    }
    rspan *s = &r->v[r->n++];
    s->trace = d->ctx.trace_id;
    s->id = d->ctx.span_id;
    s->parent = d->parent_span_id;
    s->ended_by_task = d->ended_by_task;
    snprintf(s->name, sizeof s->name, "%s", d->name);
    pthread_mutex_unlock(&r->mu);
}

static inline void recorder_destroy(void *st)
{
    recorder *r = st;
    free(r->v);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* A provider (always_on) whose only processor records into *out (owned by the provider). */
static inline dpt_provider *recorder_provider(recorder **out)
{
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    pthread_mutex_init(&r->mu, NULL);
    static const dpt_processor_ops ops = {.on_end = recorder_on_end, .destroy = recorder_destroy};
    dpt_processor *proc = dpt_processor_new(&ops, r);
    assert_non_null(proc);
    dpt_provider_config cfg = {0};
    cfg.service_name = "async-test";
    cfg.sampler = dpt_sampler_always_on();
    cfg.processors = &proc;
    cfg.n_processors = 1;
    dpt_provider *p = NULL;
    assert_non_null((p = dpt_provider_new(&cfg)));
    *out = r;
    return p;
}

static inline bool span_id_eq(const dpt_span_id *a, const dpt_span_id *b)
{
    return memcmp(a->b, b->b, 8) == 0;
}

static inline bool trace_id_eq(const dpt_trace_id *a, const dpt_trace_id *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

/* The exported span named name in tp's memory exporter (a reference the caller releases);
 * fails the test if absent. */
static inline const dpt_span_data *tprov_span_named(tprov *tp, const char *name)
{
    size_t n = dpt_exporter_memory_count(tp->mem);
    for (size_t i = 0; i < n; i++) {
        const dpt_span_data *d = dpt_exporter_memory_get(tp->mem, i);
        if (d && strcmp(d->name, name) == 0) return d;
        dpt_span_data_release(d);
    }
    fail_msg("no exported span named %s", name);
    return NULL;
}

/* Asserts that span `child` is a child of span `parent` in the same trace. */
static inline void tprov_assert_parent(tprov *tp, const char *child, const char *parent)
{
    const dpt_span_data *c = tprov_span_named(tp, child), *p = tprov_span_named(tp, parent);
    assert_memory_equal(c->parent_span_id.b, p->ctx.span_id.b, 8);
    assert_memory_equal(c->ctx.trace_id.b, p->ctx.trace_id.b, 16);
    dpt_span_data_release(c);
    dpt_span_data_release(p);
}

/* ---- the fixture of the async unit tests: one provider with a memory exporter ------------ */
/* Define DPT_TEST_ASYNC_FIXTURE before including this header to get `tp`, setup/teardown
 * (teardown also checks that the test left no task alive) and the span_named /
 * assert_parent shorthands. */
#ifdef DPT_TEST_ASYNC_FIXTURE
static tprov tp;

static int setup(void **state)
{
    (void)state;
    tp = tprov_new(NULL, NULL);
    alog_install();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tprov_free(&tp);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    /* Every test must leave no task behind. */
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    return 0;
}

#define span_named(name) tprov_span_named(&tp, (name))
#define assert_parent(child, parent) tprov_assert_parent(&tp, (child), (parent))
#endif

#endif
