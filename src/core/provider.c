/* provider.c - the provider (resource, sampler, limits, processors) and its tracers, the
 * global provider slot and shutdown at exit.
 */
#include "provider.h"
#include "pool.h"
#include "processor.h"
#include "counters.h"
#include "attr.h"
#include "resource.h"

#include <errno.h>
#include <math.h>
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

/* The provider's resource, by the specification's precedence (resource/sdk.md): the SDK's
 * default resource (service.name "unknown_service:<program>", telemetry.sdk.*), merged with
 * cfg->resource (detectors, a configuration file), then cfg->resource_attrs (the user's
 * attributes, OTEL_RESOURCE_ATTRIBUTES), then cfg->service_name (OTEL_SERVICE_NAME): each
 * later source wins for a key. service.name stays the first attribute. */
static dpt_err build_resource(dpt_provider *p, const dpt_provider_config *cfg)
{
    char svc[256];
    snprintf(svc, sizeof svc, "unknown_service:%s", program_name());
    dpt_attr fixed[] = {
        DPT_STR("service.name", svc),
        DPT_STR("telemetry.sdk.name", "dptrace"),
        DPT_STR("telemetry.sdk.language", "c"),
        DPT_STR("telemetry.sdk.version", DPTRACE_VERSION_STRING),
    };
    dpt_attr named = DPT_STR("service.name", cfg->service_name);
    size_t n_base = cfg->resource ? cfg->resource->n : 0;
    size_t cap = 5 + n_base + cfg->n_resource_attrs;
    const dpt_attr **order = dpt__calloc(cap, sizeof(const dpt_attr *));
    if (!order) return DPT_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        order[n++] = &fixed[i];
    for (size_t i = 0; i < n_base; i++)
        order[n++] = &cfg->resource->attrs[i];
    for (size_t i = 0; i < cfg->n_resource_attrs; i++)
        order[n++] = &cfg->resource_attrs[i];
    if (cfg->service_name && *cfg->service_name) order[n++] = &named;
    p->res = dpt__resource_build(order, n, cfg->resource ? cfg->resource->schema_url : NULL);
    free(order);
    if (!p->res) return DPT_ENOMEM;
    p->resource = p->res->attrs;
    p->n_resource = p->res->n;
    return DPT_OK;
}

const dpt_resource *dpt_provider_get_resource(const dpt_provider *p)
{
    return p ? p->res : NULL;
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
    if (cfg->id_generator && (cfg->id_generator->trace_id || cfg->id_generator->span_id)) {
        p->idgen = *cfg->id_generator;
        atomic_store_explicit(&p->gate, DPT__GATE_IDS, memory_order_relaxed);
    }
    if (p->disabled) atomic_fetch_or_explicit(&p->gate, DPT__GATE_OFF, memory_order_relaxed);
    if (cfg->limits)
        p->limits = *cfg->limits;
    else
        dpt_span_limits_default(&p->limits);
    if (!p->limits.max_span_bytes) p->limits.max_span_bytes = 65536;
    p->attr_cap0 = p->limits.attr_count < DPT__INLINE_ATTRS ? (uint16_t)p->limits.attr_count
                                                            : DPT__INLINE_ATTRS;
    p->sampler = cfg->sampler;
    if (!p->sampler)
        p->sampler = dpt_sampler_parent_based(dpt_sampler_always_on(), NULL, NULL, NULL, NULL);
    if (!p->sampler) {
        err = DPT_ENOMEM;
        goto fail_p;
    }
    err = build_resource(p, cfg);
    if (err != DPT_OK) goto fail_p;
    for (size_t i = 0; i < cfg->n_processors; i++) {
        dpt_processor *pr = cfg->processors[i];
        if (!pr) continue;
        if (pr->ops.on_start || pr->ops.on_start_ctx) p->has_on_start = true;
        if (pr->ops.on_ending) atomic_fetch_add(&p->n_ending, 1);
        p->procs[atomic_load(&p->n_procs)] = pr;
        atomic_store(&p->n_procs, atomic_load(&p->n_procs) + 1);
        atomic_store(&p->sole_batch,
                     atomic_load(&p->n_procs) == 1 && pr->ops.on_end == dpt__batch_on_end
                         ? pr->state
                         : NULL);
    }
    if (cfg->shutdown_at_exit) dpt__provider_register_atexit(p);
    return p;
fail_p:
    dpt_resource_free(p->res);
    pthread_mutex_destroy(&p->mu);
    free(p);
    dpt_sampler_free(cfg->sampler);
    for (size_t i = 0; i < cfg->n_processors; i++)
        dpt__processor_destroy(cfg->processors[i]);
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
    if (proc->ops.on_start || proc->ops.on_start_ctx) p->has_on_start = true;
    atomic_store(&p->sole_batch, NULL); /* two processors now */
    if (proc->ops.on_ending) atomic_fetch_add(&p->n_ending, 1);
    /* Release: a thread that sees the new count also sees the slot filled. */
    atomic_store_explicit(&p->n_procs, n + 1, memory_order_release);
    pthread_mutex_unlock(&p->mu);
    return DPT_OK;
}

void dpt__provider_on_end(dpt_provider *p, dpt__span *s)
{
    dpt__count(p, DPT__C_ENDED, 1);
    dpt__provider_on_end_counted(p, s);
}

void dpt__provider_on_end_counted(dpt_provider *p, dpt__span *s)
{
    atomic_store_explicit(&s->refs, 1, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&p->n_procs, memory_order_acquire);
    if (DPT__LIKELY(n == 1 && p->procs[0]->ops.on_end == dpt__batch_on_end)) {
        /* The common pipeline: the batch queue takes our reference over. */
        if (dpt__batch_take(p->procs[0]->state, s)) return;
        atomic_store_explicit(&s->refs, 0, memory_order_relaxed);
        dpt__span_recycle(s);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        p->procs[i]->ops.on_end(p->procs[i]->state, &s->d);
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
    atomic_fetch_or_explicit(&p->gate, DPT__GATE_OFF, memory_order_relaxed);
    dpt_err e = each_processor(p, timeout_ms, true);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    dpt__log(DPT_LOG_INFO,
             "shutdown: started=%llu sampled=%llu ended=%llu exported=%llu failed=%llu "
             "dropped_queue=%llu dropped_store=%llu",
             (unsigned long long)st.spans_started, (unsigned long long)st.spans_sampled,
             (unsigned long long)st.spans_ended, (unsigned long long)st.spans_exported,
             (unsigned long long)st.spans_export_failed, (unsigned long long)st.spans_dropped_queue,
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
    for (uint32_t i = 0; i < n; i++)
        dpt__processor_destroy(p->procs[i]);
    if (atomic_load(&p->abandoned_work)) {
        /* A hung exporter may still read spans, and spans point at our tracers and
         * resource: keep the provider (reachable, logged) rather than free it under them. */
        dpt__log(DPT_LOG_ERROR, "provider freed while an exporter hangs: its tracers are kept");
        dpt__counters_retire(p);
        dpt__graveyard_add(p);
        return;
    }
    dpt_sampler_free(p->sampler);
    free(p->tracer_slots);
    for (dpt_tracer *t = p->tracers, *next; t; t = next) {
        next = t->next;
        free(t->name);
        free(t->version);
        dpt_resource_free(t->scope);
        free(t);
    }
    dpt__counters_retire(p);
    dpt_resource_free(p->res);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- tracers ---------------------------------------------------------------------------- */

/* Two attribute values are equal (same type and content). */
static bool value_eq(const dpt_value *a, const dpt_value *b)
{
    if (a->type != b->type || a->len != b->len) return false;
    switch (a->type) {
    case DPT_VAL_STRING:
        return a->len == 0 || memcmp(a->u.s, b->u.s, a->len) == 0;
    case DPT_VAL_BOOL:
        return a->u.b == b->u.b;
    case DPT_VAL_INT:
        return a->u.i == b->u.i;
    case DPT_VAL_DOUBLE:
        return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case DPT_VAL_STRING_ARRAY:
        for (uint32_t i = 0; i < a->len; i++)
            if (strcmp(a->u.sa[i], b->u.sa[i]) != 0) return false;
        return true;
    case DPT_VAL_BOOL_ARRAY:
        return a->len == 0 || memcmp(a->u.ba, b->u.ba, a->len * sizeof(bool)) == 0;
    case DPT_VAL_INT_ARRAY:
        return a->len == 0 || memcmp(a->u.ia, b->u.ia, (size_t)a->len * sizeof(int64_t)) == 0;
    default:
        for (uint32_t i = 0; i < a->len; i++)
            if (!(a->u.da[i] == b->u.da[i] || (isnan(a->u.da[i]) && isnan(b->u.da[i]))))
                return false;
        return true;
    }
}

/* Whether tracer t is the scope (name, version, schema URL, attributes) asked for; the
 * attributes compare as a set, as the copy made from them (s) keeps one value per key. */
static bool same_scope(const dpt_tracer *t, const char *name, const char *version, const char *url,
                       const dpt_resource *s)
{
    if (strcmp(t->name, name) != 0 || strcmp(t->version, version) != 0 ||
        strcmp(t->scope->schema_url, url) != 0 || t->scope->n != s->n)
        return false;
    for (size_t i = 0; i < s->n; i++) {
        const dpt_attr *a = &s->attrs[i];
        size_t k;
        for (k = 0; k < t->scope->n; k++) {
            const dpt_attr *b = &t->scope->attrs[k];
            if (a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0) break;
        }
        if (k == t->scope->n || !value_eq(&a->value, &t->scope->attrs[k].value)) return false;
    }
    return true;
}

/* FNV-1a over the NUL-terminated name, version and schema URL (the attributes are left
 * to same_scope: scopes that differ only by them share a hash). */
static uint64_t scope_hash(const char *name, const char *version, const char *url)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[3] = {name, version, url};
    for (int i = 0; i < 3; i++)
        for (const unsigned char *c = (const unsigned char *)parts[i];; c++) {
            h = (h ^ *c) * 1099511628211ull;
            if (!*c) break;
        }
    return h;
}

/* Puts t into the index (the caller holds p->mu and made room). */
static void index_put(dpt_tracer **slots, size_t cap, dpt_tracer *t)
{
    size_t i = (size_t)t->hash & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = t;
}

/* Room for one more tracer in the index, doubling it when half full; false when out of
 * memory (the tracer is then not made). */
static bool index_reserve(dpt_provider *p)
{
    if ((p->n_tracers + 1) * 2 <= p->tracer_cap) return true;
    size_t cap = p->tracer_cap ? p->tracer_cap * 2 : 16;
    /* an array of tracer pointers: */
    dpt_tracer **slots = dpt__calloc(cap, sizeof *slots); // NOLINT(bugprone-sizeof-expression)
    if (!slots) return false;
    for (dpt_tracer *t = p->tracers; t; t = t->next)
        index_put(slots, cap, t);
    free(p->tracer_slots);
    p->tracer_slots = slots;
    p->tracer_cap = cap;
    return true;
}

dpt_tracer *dpt_provider_get_tracer_opts(dpt_provider *p, const char *name,
                                         const dpt_tracer_opts *o)
{
    if (!p) return NULL;
    if (!name || !*name) {
        dpt__log(DPT_LOG_WARN, "tracer requested with an empty name");
        name = "";
    }
    const char *version = o && o->version ? o->version : "";
    const char *url = o && o->schema_url ? o->schema_url : "";
    size_t n_attrs = o && o->attrs ? o->n_attrs : 0;
    const dpt_attr **list = n_attrs ? dpt__calloc(n_attrs, sizeof(const dpt_attr *)) : NULL;
    if (n_attrs && !list) return NULL;
    for (size_t i = 0; i < n_attrs; i++)
        list[i] = &o->attrs[i];
    /* The scope's attributes and schema URL, copied the way a resource is. */
    dpt_resource *scope = dpt__resource_build(list, n_attrs, url);
    free(list);
    if (!scope) return NULL;
    uint64_t h = scope_hash(name, version, url);
    pthread_mutex_lock(&p->mu);
    dpt_tracer *t = NULL;
    if (p->tracer_cap)
        for (size_t i = (size_t)h & (p->tracer_cap - 1); p->tracer_slots[i];
             i = (i + 1) & (p->tracer_cap - 1)) {
            dpt_tracer *c = p->tracer_slots[i];
            if (c->hash == h && same_scope(c, name, version, url, scope)) {
                t = c;
                break;
            }
        }
    if (!t && index_reserve(p)) {
        t = dpt__calloc(1, sizeof *t);
        if (t) {
            t->provider = p;
            t->name = dpt__strndup(name, strlen(name));
            t->version = dpt__strndup(version, strlen(version));
            t->scope = scope;
            scope = NULL;
            if (!t->name || !t->version) {
                free(t->name);
                free(t->version);
                dpt_resource_free(t->scope);
                free(t);
                t = NULL;
            } else {
                t->hash = h;
                t->next = p->tracers;
                p->tracers = t;
                index_put(p->tracer_slots, p->tracer_cap, t);
                p->n_tracers++;
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    dpt_resource_free(scope);
    return t;
}

dpt_tracer *dpt_provider_get_tracer(dpt_provider *p, const char *name, const char *version)
{
    dpt_tracer_opts o = {.version = version};
    return dpt_provider_get_tracer_opts(p, name, &o);
}

const char *dpt_tracer_name(const dpt_tracer *t)
{
    return t ? t->name : "";
}
const char *dpt_tracer_version(const dpt_tracer *t)
{
    return t ? t->version : "";
}
const char *dpt_tracer_schema_url(const dpt_tracer *t)
{
    return t ? t->scope->schema_url : "";
}
const dpt_attr *dpt_tracer_attrs(const dpt_tracer *t, size_t *n)
{
    if (n) *n = t ? t->scope->n : 0;
    return t ? t->scope->attrs : NULL;
}
dpt_provider *dpt_tracer_provider(const dpt_tracer *t)
{
    return t ? t->provider : NULL;
}

/* ---- global provider -------------------------------------------------------------------- */

static _Atomic(dpt_provider *) global_provider; /* set by the application; read anywhere */

void dpt_provider_set_global(dpt_provider *p)
{
    atomic_store(&global_provider, p);
}
dpt_provider *dpt_provider_get_global(void)
{
    return atomic_load(&global_provider);
}

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
