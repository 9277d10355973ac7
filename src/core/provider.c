/* provider.c - the provider (resource, sampler, limits, processors) and its tracers, the
 * global provider slot and shutdown at exit.
 */
#include "provider.h"
#include "pool.h"
#include "processor.h"
#include "counters.h"
#include "attr.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

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
    p->counters_id = dpt__counters_new_id();
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
    for (size_t i = 0; i < cfg->n_processors; i++) dpt__processor_destroy(cfg->processors[i]);
    dpt__log(DPT_LOG_ERROR, "dpt_provider_new: %s", dpt_strerror(err));
    return NULL;
fail:
    dpt_sampler_free(cfg->sampler);
    for (size_t i = 0; cfg->processors && i < cfg->n_processors && i < 64; i++)
        dpt__processor_destroy(cfg->processors[i]);
    dpt__log(DPT_LOG_ERROR, "dpt_provider_new: %s (invalid configuration)", dpt_strerror(err));
    return NULL;
}

dpt_err dpt_provider_add_processor(dpt_provider *p, dpt_processor *proc)
{
    if (!p || !proc) {
        dpt__processor_destroy(proc);
        return DPT_EINVAL;
    }
    pthread_mutex_lock(&p->mu);
    uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_relaxed);
    if (n >= DPT__MAX_PROCESSORS || atomic_load(&p->shut_down)) {
        pthread_mutex_unlock(&p->mu);
        dpt__processor_destroy(proc);
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
    if (DPT__LIKELY(n == 1 && p->procs[0]->ops.on_end == dpt__batch_on_end)) {
        /* The common pipeline: the batch queue takes our reference over. */
        if (dpt__batch_take(p->procs[0]->state, s)) return;
        atomic_store_explicit(&s->refs, 0, memory_order_relaxed);
        dpt__span_recycle(s);
        return;
    }
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
    for (uint32_t i = 0; i < n; i++) dpt__processor_destroy(p->procs[i]);
    if (atomic_load(&p->abandoned_work)) {
        /* A hung exporter may still read spans, and spans point at our tracers and
         * resource: keep the provider (reachable, logged) rather than free it under them. */
        dpt__log(DPT_LOG_ERROR, "provider freed while an exporter hangs: its tracers are kept");
        dpt__counters_retire(p);
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
    dpt__counters_retire(p);
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
