/* provider.c - the provider (resource, sampler, limits, processors), tracers, counters,
 * and the generic processor/exporter wrappers (simple and multi processors).
 *
 * Counters are per-thread blocks with a single writer each, so counting a span is a plain
 * load and store (no locked instruction on the hot path); readers sum the blocks. Blocks
 * live in one global list and are never freed: a thread's cached pointer stays valid after
 * its provider is gone, and blocks of exited threads are reused.
 */
#include "export_async.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- per-thread counter blocks ---------------------------------------------------------- */

typedef struct cblock {
    _Atomic uint64_t c[DPT__C_COUNT];
    uint64_t provider_id;  /* 0: free */
    uint64_t owner;        /* thread token of the writer; 0: none (adoptable) */
    struct cblock *next;
} cblock;

/* Global list of blocks: owned by the process, protected by cb_mu. */
static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;
static cblock *cb_list;
static _Atomic uint64_t next_provider_id = 1;
static _Atomic uint64_t next_thread_token = 1;

/* Thread-local cache of the last provider's block (only this thread reads/writes it). */
DPT__TLS dpt__tl_counters dpt__tl_cb;
#define tl_cb dpt__tl_cb
static pthread_key_t cb_key;
static pthread_once_t cb_once = PTHREAD_ONCE_INIT;

static void cb_thread_exit(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&cb_mu);
    for (cblock *b = cb_list; b; b = b->next)
        if (b->owner == tl_cb.token) b->owner = 0; /* keep counts, let another thread write */
    pthread_mutex_unlock(&cb_mu);
}

static void cb_fork_prepare(void) { pthread_mutex_lock(&cb_mu); }
static void cb_fork_release(void) { pthread_mutex_unlock(&cb_mu); }

/* Registered from a constructor so the handlers exist before any thread can hold cb_mu. */
__attribute__((constructor)) static void cb_atfork(void)
{
    pthread_atfork(cb_fork_prepare, cb_fork_release, cb_fork_release);
}

static void cb_init(void) { pthread_key_create(&cb_key, cb_thread_exit); }

static cblock *cb_slow(dpt_provider *p)
{
    pthread_once(&cb_once, cb_init);
    if (!tl_cb.token) {
        tl_cb.token = atomic_fetch_add(&next_thread_token, 1);
        pthread_setspecific(cb_key, (void *)1);
    }
    uint64_t pid = p->counters_id;
    pthread_mutex_lock(&cb_mu);
    cblock *b, *free_b = NULL;
    for (b = cb_list; b; b = b->next) {
        if (b->provider_id == pid && (b->owner == 0 || b->owner == tl_cb.token)) break;
        if (!free_b && b->provider_id == 0) free_b = b;
    }
    if (!b && free_b) {
        b = free_b;
        b->provider_id = pid;
    }
    if (!b) {
        b = calloc(1, sizeof *b); /* not dpt__calloc: counting must not fail under tests */
        if (b) {
            b->provider_id = pid;
            b->next = cb_list;
            cb_list = b;
        }
    }
    if (b) b->owner = tl_cb.token;
    pthread_mutex_unlock(&cb_mu);
    if (b) {
        tl_cb.provider_id = pid;
        tl_cb.c = b->c;
    }
    return b;
}

void dpt__count_slow(dpt_provider *p, int c, uint64_t n)
{
    cblock *b = cb_slow(p);
    if (!b) return;
    /* Single writer: a relaxed load+store is exact and avoids a locked instruction. */
    uint64_t v = atomic_load_explicit(&b->c[c], memory_order_relaxed);
    atomic_store_explicit(&b->c[c], v + n, memory_order_relaxed);
}

void dpt_provider_get_stats(const dpt_provider *p, dpt_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!p) return;
    uint64_t c[DPT__C_COUNT] = { 0 };
    pthread_mutex_lock(&cb_mu);
    for (cblock *b = cb_list; b; b = b->next)
        if (b->provider_id == p->counters_id)
            for (int i = 0; i < DPT__C_COUNT; i++) c[i] += atomic_load_explicit(&b->c[i], memory_order_relaxed);
    pthread_mutex_unlock(&cb_mu);
    out->spans_started = c[DPT__C_STARTED];
    out->spans_sampled = c[DPT__C_SAMPLED];
    out->spans_recording = c[DPT__C_RECORDING];
    out->spans_ended = c[DPT__C_ENDED];
    out->spans_exported = c[DPT__C_EXPORTED];
    out->spans_export_failed = c[DPT__C_EXPORT_FAILED];
    out->spans_dropped_queue = c[DPT__C_DROPPED_QUEUE];
    out->spans_dropped_store = c[DPT__C_DROPPED_STORE];
    out->attrs_dropped = c[DPT__C_ATTRS_DROPPED];
    out->events_dropped = c[DPT__C_EVENTS_DROPPED];
    out->links_dropped = c[DPT__C_LINKS_DROPPED];
    out->spans_ended_by_task = c[DPT__C_ENDED_BY_TASK];
    dpt__pipelines_stats(p, out); /* batch pipelines keep their own counts (batch.c) */
}

static void counters_retire(dpt_provider *p)
{
    pthread_mutex_lock(&cb_mu);
    for (cblock *b = cb_list; b; b = b->next) {
        if (b->provider_id != p->counters_id) continue;
        b->provider_id = 0;
        for (int i = 0; i < DPT__C_COUNT; i++) atomic_store_explicit(&b->c[i], 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&cb_mu);
}

/* ---- limits, resource ------------------------------------------------------------------- */

void dpt_span_limits_default(dpt_span_limits *l)
{
    if (!l) return;
    l->attr_count = l->event_count = l->link_count = 128;
    l->attrs_per_event = l->attrs_per_link = 128;
    l->attr_value_len = 0;
    l->max_span_bytes = 65536;
}

static const char *program_name(void)
{
    extern char *program_invocation_short_name; /* glibc */
    return program_invocation_short_name ? program_invocation_short_name : "c";
}

/* Copies resource attributes (service.name first, then the user's, then telemetry.sdk.*),
 * keeping the first occurrence of a key. Strings live in one block. */
static dpt_err build_resource(dpt_provider *p, const dpt_provider_config *cfg)
{
    char svc[256];
    if (cfg->service_name && *cfg->service_name)
        snprintf(svc, sizeof svc, "%s", cfg->service_name);
    else
        snprintf(svc, sizeof svc, "unknown_service:%s", program_name());
    dpt_attr fixed[] = {
        DPT_STR("service.name", svc),
        DPT_STR("telemetry.sdk.name", "dptrace"),
        DPT_STR("telemetry.sdk.language", "c"),
        DPT_STR("telemetry.sdk.version", DPTRACE_VERSION_STRING),
    };
    size_t cap = 4 + cfg->n_resource_attrs;
    p->resource = dpt__calloc(cap, sizeof(dpt_attr));
    if (!p->resource) return DPT_ENOMEM;
    /* A throwaway record's arena would tie resource lifetime to the pool; use a buffer. */
    dpt__buf strings;
    dpt__buf_init(&strings);
    const dpt_attr *order[cap];
    size_t n = 0;
    order[n++] = &fixed[0];
    for (size_t i = 0; i < cfg->n_resource_attrs; i++)
        if (dpt__attr_valid(&cfg->resource_attrs[i])) order[n++] = &cfg->resource_attrs[i];
    for (size_t i = 1; i < 4; i++) order[n++] = &fixed[i];
    /* Scalars only in the resource keep it simple; arrays are rare there and skipped. */
    size_t kept = 0;
    size_t offs[cap][2];
    for (size_t i = 0; i < n; i++) {
        const dpt_attr *a = order[i];
        uint32_t kl = dpt__key_len(a);
        bool dup = false;
        for (size_t k = 0; k < kept; k++)
            if (p->resource[k].key_len == kl && memcmp(strings.p + offs[k][0], a->key, kl) == 0) dup = true;
        if (dup || a->value.type >= DPT_VAL_STRING_ARRAY) continue;
        offs[kept][0] = strings.len;
        dpt__buf_put(&strings, a->key, kl);
        dpt__buf_putc(&strings, 0);
        p->resource[kept] = *a;
        p->resource[kept].key_len = kl;
        if (a->value.type == DPT_VAL_STRING) {
            size_t vl = a->value.len == DPT_NUL ? strlen(a->value.u.s) : a->value.len;
            offs[kept][1] = strings.len;
            dpt__buf_put(&strings, a->value.u.s, vl);
            dpt__buf_putc(&strings, 0);
            p->resource[kept].value.len = (uint32_t)vl;
        }
        kept++;
    }
    if (strings.oom) {
        dpt__buf_free(&strings);
        return DPT_ENOMEM;
    }
    p->resource_strings = strings.p;
    for (size_t k = 0; k < kept; k++) {
        p->resource[k].key = p->resource_strings + offs[k][0];
        if (p->resource[k].value.type == DPT_VAL_STRING)
            p->resource[k].value.u.s = p->resource_strings + offs[k][1];
    }
    p->n_resource = kept;
    return DPT_OK;
}

const dpt_attr *dpt_provider_resource(const dpt_provider *p, size_t *n)
{
    if (n) *n = p ? p->n_resource : 0;
    return p ? p->resource : NULL;
}

/* ---- provider lifecycle ----------------------------------------------------------------- */

static void free_processor(dpt_processor *pr)
{
    if (!pr) return;
    if (pr->ops.destroy) pr->ops.destroy(pr->state);
    free(pr);
}

dpt_provider *dpt_provider_new(const dpt_provider_config *cfg)
{
    static const dpt_provider_config empty;
    if (!cfg) cfg = &empty;
    dpt_err err = DPT_OK;
    dpt_provider *p = NULL;
    if (cfg->n_processors > DPT__MAX_PROCESSORS || (cfg->n_processors && !cfg->processors) ||
        (cfg->n_resource_attrs && !cfg->resource_attrs)) {
        err = DPT_EINVAL;
        goto fail;
    }
    p = dpt__calloc(1, sizeof *p);
    if (!p) {
        err = DPT_ENOMEM;
        goto fail;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->counters_id = atomic_fetch_add(&next_provider_id, 1);
    p->disabled = cfg->disabled;
    if (cfg->limits) p->limits = *cfg->limits;
    else dpt_span_limits_default(&p->limits);
    if (!p->limits.max_span_bytes) p->limits.max_span_bytes = 65536;
    p->sampler = cfg->sampler;
    if (!p->sampler) p->sampler = dpt_sampler_parent_based(dpt_sampler_always_on(), NULL, NULL, NULL, NULL);
    if (!p->sampler) {
        err = DPT_ENOMEM;
        goto fail_p;
    }
    err = build_resource(p, cfg);
    if (err != DPT_OK) goto fail_p;
    for (size_t i = 0; i < cfg->n_processors; i++) {
        dpt_processor *pr = cfg->processors[i];
        if (!pr) continue;
        if (pr->ops.on_start) p->has_on_start = true;
        p->procs[atomic_load(&p->n_procs)] = pr;
        atomic_store(&p->n_procs, atomic_load(&p->n_procs) + 1);
    }
    if (cfg->shutdown_at_exit) dpt__provider_register_atexit(p);
    return p;
fail_p:
    free(p->resource);
    free(p->resource_strings);
    pthread_mutex_destroy(&p->mu);
    free(p);
    dpt_sampler_free(cfg->sampler);
    for (size_t i = 0; i < cfg->n_processors; i++) free_processor(cfg->processors[i]);
    dpt__log(DPT_LOG_ERROR, "dpt_provider_new: %s", dpt_strerror(err));
    return NULL;
fail:
    dpt_sampler_free(cfg->sampler);
    for (size_t i = 0; cfg->processors && i < cfg->n_processors && i < 64; i++)
        free_processor(cfg->processors[i]);
    dpt__log(DPT_LOG_ERROR, "dpt_provider_new: %s (invalid configuration)", dpt_strerror(err));
    return NULL;
}

dpt_err dpt_provider_add_processor(dpt_provider *p, dpt_processor *proc)
{
    if (!p || !proc) {
        free_processor(proc);
        return DPT_EINVAL;
    }
    pthread_mutex_lock(&p->mu);
    uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_relaxed);
    if (n >= DPT__MAX_PROCESSORS || atomic_load(&p->shut_down)) {
        pthread_mutex_unlock(&p->mu);
        free_processor(proc);
        return n >= DPT__MAX_PROCESSORS ? DPT_EFULL : DPT_ESTATE;
    }
    p->procs[n] = proc;
    if (proc->ops.on_start) p->has_on_start = true;
    /* Release: a thread that sees the new count also sees the slot filled. */
    atomic_store_explicit(&p->n_procs, n + 1, memory_order_release);
    pthread_mutex_unlock(&p->mu);
    return DPT_OK;
}

void dpt__provider_on_end(dpt_provider *p, dpt__span *s)
{
    dpt__count(p, DPT__C_ENDED, 1);
    atomic_store_explicit(&s->refs, 1, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) p->procs[i]->ops.on_end(p->procs[i]->state, &s->d);
    /* When no processor kept the record, ours is the only reference, and nobody can take
     * a new one without holding one: recycle without a locked decrement. Acquire pairs
     * with the release of a holder that let go in the meantime. */
    if (atomic_load_explicit(&s->refs, memory_order_acquire) == 1) {
        atomic_store_explicit(&s->refs, 0, memory_order_relaxed);
        dpt__span_recycle(s);
        return;
    }
    dpt_span_data_release(&s->d);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs op (force_flush or shutdown) on every processor within one shared deadline. */
static dpt_err each_processor(dpt_provider *p, uint32_t timeout_ms, bool shutdown)
{
    uint64_t deadline = mono_ms() + timeout_ms;
    dpt_err worst = DPT_OK;
    uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        dpt_processor *pr = p->procs[i];
        uint64_t now = mono_ms();
        uint32_t left = now >= deadline ? 0 : (uint32_t)(deadline - now);
        dpt_err (*fn)(void *, uint32_t) = shutdown ? pr->ops.shutdown : pr->ops.force_flush;
        if (!fn) continue;
        dpt_err e = fn(pr->state, left);
        if (e != DPT_OK) worst = e;
        if (shutdown && e == DPT_ETIMEDOUT) atomic_store(&p->abandoned_work, true);
    }
    return worst;
}

dpt_err dpt_provider_force_flush(dpt_provider *p, uint32_t timeout_ms)
{
    if (!p) return DPT_EINVAL;
    if (atomic_load(&p->shut_down)) return DPT_ESTATE;
    return each_processor(p, timeout_ms, false);
}

dpt_err dpt_provider_shutdown(dpt_provider *p, uint32_t timeout_ms)
{
    if (!p) return DPT_EINVAL;
    bool expected = false;
    /* One caller wins; others (a second call, another thread, an exporter callback) see
     * DPT_ESTATE at once and never wait on the winner, so no deadlock is possible. */
    if (!atomic_compare_exchange_strong(&p->shut_down, &expected, true)) return DPT_ESTATE;
    dpt_err e = each_processor(p, timeout_ms, true);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    dpt__log(DPT_LOG_INFO,
             "shutdown: started=%llu sampled=%llu ended=%llu exported=%llu failed=%llu "
             "dropped_queue=%llu dropped_store=%llu",
             (unsigned long long)st.spans_started, (unsigned long long)st.spans_sampled,
             (unsigned long long)st.spans_ended, (unsigned long long)st.spans_exported,
             (unsigned long long)st.spans_export_failed,
             (unsigned long long)st.spans_dropped_queue,
             (unsigned long long)st.spans_dropped_store);
    return e;
}

void dpt_provider_free(dpt_provider *p)
{
    if (!p) return;
    dpt__provider_unregister_atexit(p);
    if (dpt_provider_get_global() == p) dpt_provider_set_global(NULL);
    dpt_provider_shutdown(p, 5000);
    uint32_t n = atomic_load(&p->n_procs);
    for (uint32_t i = 0; i < n; i++) free_processor(p->procs[i]);
    if (atomic_load(&p->abandoned_work)) {
        /* A hung exporter may still read spans, and spans point at our tracers and
         * resource: keep the provider (reachable, logged) rather than free it under them. */
        dpt__log(DPT_LOG_ERROR, "provider freed while an exporter hangs: its tracers are kept");
        counters_retire(p);
        dpt__graveyard_add(p);
        return;
    }
    dpt_sampler_free(p->sampler);
    for (dpt_tracer *t = p->tracers, *next; t; t = next) {
        next = t->next;
        free(t->name);
        free(t->version);
        free(t);
    }
    counters_retire(p);
    free(p->resource);
    free(p->resource_strings);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- tracers ---------------------------------------------------------------------------- */

dpt_tracer *dpt_provider_get_tracer(dpt_provider *p, const char *name, const char *version)
{
    if (!p) return NULL;
    if (!name || !*name) {
        dpt__log(DPT_LOG_WARN, "tracer requested with an empty name");
        name = "";
    }
    if (!version) version = "";
    pthread_mutex_lock(&p->mu);
    dpt_tracer *t;
    for (t = p->tracers; t; t = t->next)
        if (strcmp(t->name, name) == 0 && strcmp(t->version, version) == 0) break;
    if (!t) {
        t = dpt__calloc(1, sizeof *t);
        if (t) {
            t->provider = p;
            t->name = dpt__strndup(name, strlen(name));
            t->version = dpt__strndup(version, strlen(version));
            if (!t->name || !t->version) {
                free(t->name);
                free(t->version);
                free(t);
                t = NULL;
            } else {
                t->next = p->tracers;
                p->tracers = t;
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return t;
}

const char *dpt_tracer_name(const dpt_tracer *t) { return t ? t->name : ""; }
const char *dpt_tracer_version(const dpt_tracer *t) { return t ? t->version : ""; }
dpt_provider *dpt_tracer_provider(const dpt_tracer *t) { return t ? t->provider : NULL; }

/* ---- global provider -------------------------------------------------------------------- */

static _Atomic(dpt_provider *) global_provider; /* set by the application; read anywhere */

void dpt_provider_set_global(dpt_provider *p) { atomic_store(&global_provider, p); }
dpt_provider *dpt_provider_get_global(void) { return atomic_load(&global_provider); }

/* ---- shutdown at exit ------------------------------------------------------------------- */

/* Providers that asked to be shut down at exit. Protected by exit_mu. */
static pthread_mutex_t exit_mu = PTHREAD_MUTEX_INITIALIZER;
static dpt_provider *exit_list[16];
static bool exit_registered;

static void at_exit(void)
{
    pthread_mutex_lock(&exit_mu);
    dpt_provider *list[16];
    memcpy(list, exit_list, sizeof list);
    memset(exit_list, 0, sizeof exit_list);
    pthread_mutex_unlock(&exit_mu);
    for (int i = 0; i < 16; i++)
        if (list[i]) dpt_provider_shutdown(list[i], 5000);
}

void dpt__provider_register_atexit(dpt_provider *p)
{
    pthread_mutex_lock(&exit_mu);
    if (!exit_registered) exit_registered = atexit(at_exit) == 0;
    for (int i = 0; i < 16; i++) {
        if (!exit_list[i]) {
            exit_list[i] = p;
            break;
        }
    }
    pthread_mutex_unlock(&exit_mu);
}

void dpt__provider_unregister_atexit(dpt_provider *p)
{
    pthread_mutex_lock(&exit_mu);
    for (int i = 0; i < 16; i++)
        if (exit_list[i] == p) exit_list[i] = NULL;
    pthread_mutex_unlock(&exit_mu);
}

/* ---- processor and exporter wrappers ----------------------------------------------------- */

dpt_processor *dpt_processor_new(const dpt_processor_ops *ops, void *state)
{
    if (!ops || !ops->on_end) return NULL;
    dpt_processor *p = dpt__calloc(1, sizeof *p);
    if (!p) {
        if (ops->destroy) ops->destroy(state);
        return NULL;
    }
    p->ops = *ops;
    p->state = state;
    return p;
}

void dpt_processor_free(dpt_processor *p) { free_processor(p); }

dpt_exporter *dpt_exporter_new(const dpt_exporter_ops *ops, void *state)
{
    if (!ops || !ops->export_spans) return NULL;
    dpt_exporter *e = dpt__calloc(1, sizeof *e);
    if (!e) {
        if (ops->destroy) ops->destroy(state);
        return NULL;
    }
    e->ops = *ops;
    e->state = state;
    return e;
}

void dpt_exporter_free(dpt_exporter *e)
{
    if (!e) return;
    if (e->ops.destroy) e->ops.destroy(e->state);
    free(e);
}

dpt_err dpt_exporter_export(dpt_exporter *e, const dpt_span_data *const *spans, size_t n)
{
    if (!e || (!spans && n)) return DPT_EINVAL;
    return e->ops.export_spans(e->state, spans, n);
}

/* Simple processor: export on the ending thread, one span at a time, under a mutex. */
typedef struct simple {
    dpt_exporter *exp;
    pthread_mutex_t mu;
    bool shut;
    /* The thread running an export call (0: none). Written under mu; read without it by
     * any thread, which only compares it with its own id: only the exporting thread itself
     * can see a match, so a relaxed atomic is enough. */
    _Atomic uintptr_t exporter;
} simple;

/* True when the calling thread is inside this processor's exporter (a callback that calls
 * force_flush or shutdown): it holds mu already and must not take it again. */
static bool simple_reentered(simple *s)
{
    return atomic_load_explicit(&s->exporter, memory_order_relaxed) == (uintptr_t)pthread_self();
}

static void simple_on_end(void *st, const dpt_span_data *d)
{
    simple *s = st;
    dpt_provider *p = d->tracer->provider;
    if (!(d->ctx.flags & DPT_FLAG_SAMPLED)) return;
    if (simple_reentered(s)) { /* a span ended inside the exporter: not exported (loop) */
        dpt__count(p, DPT__C_DROPPED_QUEUE, 1);
        return;
    }
    pthread_mutex_lock(&s->mu);
    dpt_err e = DPT_ESTATE;
    if (!s->shut) {
        atomic_store_explicit(&s->exporter, (uintptr_t)pthread_self(), memory_order_relaxed);
        e = s->exp->ops.export_spans(s->exp->state, &d, 1);
        atomic_store_explicit(&s->exporter, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DPT_OK) dpt__count(p, DPT__C_EXPORTED, 1);
    else if (e == DPT_ESTATE) dpt__count(p, DPT__C_DROPPED_QUEUE, 1);
    else dpt__count(p, DPT__C_EXPORT_FAILED, 1);
}

static dpt_err simple_flush(void *st, uint32_t timeout_ms)
{
    simple *s = st;
    if (simple_reentered(s)) return DPT_OK; /* everything before is being exported now */
    pthread_mutex_lock(&s->mu);
    dpt_err e = s->exp->ops.force_flush ? s->exp->ops.force_flush(s->exp->state, timeout_ms) : DPT_OK;
    pthread_mutex_unlock(&s->mu);
    return e;
}

static dpt_err simple_shutdown(void *st, uint32_t timeout_ms)
{
    simple *s = st;
    if (simple_reentered(s)) {
        s->shut = true; /* the exporter's own shutdown runs at destroy */
        return DPT_OK;
    }
    pthread_mutex_lock(&s->mu);
    dpt_err e = DPT_OK;
    if (!s->shut) {
        s->shut = true;
        if (s->exp->ops.shutdown) e = s->exp->ops.shutdown(s->exp->state, timeout_ms);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

static void simple_destroy(void *st)
{
    simple *s = st;
    dpt_exporter_free(s->exp);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

dpt_processor *dpt_processor_simple(dpt_exporter *e)
{
    if (!e) return NULL;
    simple *s = dpt__calloc(1, sizeof *s);
    if (!s) {
        dpt_exporter_free(e);
        return NULL;
    }
    s->exp = e;
    pthread_mutex_init(&s->mu, NULL);
    static const dpt_processor_ops ops = { NULL, simple_on_end, simple_flush, simple_shutdown, simple_destroy };
    return dpt_processor_new(&ops, s);
}

/* Multi processor: fan-out. */
typedef struct multi {
    size_t n;
    dpt_processor *p[];
} multi;

static void multi_on_start(void *st, const dpt_span_data *d)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i]->ops.on_start) m->p[i]->ops.on_start(m->p[i]->state, d);
}

static void multi_on_end(void *st, const dpt_span_data *d)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++) m->p[i]->ops.on_end(m->p[i]->state, d);
}

static dpt_err multi_each(multi *m, uint32_t timeout_ms, bool shutdown)
{
    dpt_err worst = DPT_OK;
    for (size_t i = 0; i < m->n; i++) {
        dpt_err (*fn)(void *, uint32_t) = shutdown ? m->p[i]->ops.shutdown : m->p[i]->ops.force_flush;
        dpt_err e = fn ? fn(m->p[i]->state, timeout_ms) : DPT_OK;
        if (e != DPT_OK) worst = e;
    }
    return worst;
}

static dpt_err multi_flush(void *st, uint32_t t) { return multi_each(st, t, false); }
static dpt_err multi_shutdown(void *st, uint32_t t) { return multi_each(st, t, true); }

static void multi_destroy(void *st)
{
    multi *m = st;
    for (size_t i = 0; i < m->n; i++) free_processor(m->p[i]);
    free(m);
}

dpt_processor *dpt_processor_multi(dpt_processor *const *procs, size_t n)
{
    if (!procs && n) return NULL;
    multi *m = dpt__calloc(1, sizeof *m + sizeof(dpt_processor *) * n);
    if (!m) {
        for (size_t i = 0; i < n; i++) free_processor(procs[i]);
        return NULL;
    }
    bool any_start = false;
    for (size_t i = 0; i < n; i++) {
        if (!procs[i]) continue;
        m->p[m->n++] = procs[i];
        if (procs[i]->ops.on_start) any_start = true;
    }
    dpt_processor_ops ops = { any_start ? multi_on_start : NULL, multi_on_end, multi_flush,
                              multi_shutdown, multi_destroy };
    return dpt_processor_new(&ops, m);
}
