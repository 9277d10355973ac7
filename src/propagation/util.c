/* util.c - shared pieces of the propagation module: drop counters (an indexed array that
 * formats of the application can extend), carrier access (single / repeated / combined
 * fields) and the extraction accumulator that every format writes into. The text helpers
 * (hex, percent coding, tokens) are the library's one set in src/common/text.c.
 */
#include "prop_internal.h"

#include <stdlib.h>

/* ---- counters --------------------------------------------------------------------------- */

/* Process-wide, owned by this file. Relaxed atomics: they are statistics, nothing else is
 * published through them. Names of registered counters are written once under stat_mu,
 * before n_stats is raised (release), and never change: readers load n_stats (acquire). */
static _Atomic uint64_t prop_stats[DPT_PSTAT_MAX];
static const char *const builtin_names[DPT_PSTAT_BUILTIN_COUNT] = {
    "traceparent_invalid",      "tracestate_dropped", "baggage_members_dropped",
    "baggage_entries_not_sent", "b3_invalid",         "jaeger_invalid",
    "edge_contexts_dropped",    "ottrace_invalid",
};
static char user_names[DPT_PSTAT_MAX - DPT_PSTAT_BUILTIN_COUNT][48];
static _Atomic size_t n_stats = DPT_PSTAT_BUILTIN_COUNT;
static pthread_mutex_t stat_mu = PTHREAD_MUTEX_INITIALIZER;

void dpt__prop_count(int which, uint64_t n)
{
    dpt_propagation_stat_add(which, n);
}

void dpt_propagation_stat_add(int i, uint64_t n)
{
    if (i >= 0 && (size_t)i < atomic_load_explicit(&n_stats, memory_order_relaxed))
        atomic_fetch_add_explicit(&prop_stats[i], n, memory_order_relaxed);
}

size_t dpt_propagation_get_stats(uint64_t *out, size_t max)
{
    size_t n = atomic_load_explicit(&n_stats, memory_order_acquire);
    for (size_t i = 0; out && i < n && i < max; i++)
        out[i] = atomic_load_explicit(&prop_stats[i], memory_order_relaxed);
    return n;
}

const char *dpt_propagation_stat_name(size_t i)
{
    size_t n = atomic_load_explicit(&n_stats, memory_order_acquire);
    if (i >= n) return NULL;
    return i < DPT_PSTAT_BUILTIN_COUNT ? builtin_names[i] : user_names[i - DPT_PSTAT_BUILTIN_COUNT];
}

int dpt_propagation_stat_register(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= sizeof user_names[0]) {
        dpt__log(DPT_LOG_WARN, "propagation counter: a name of 1 to %zu bytes is needed",
                 sizeof user_names[0] - 1);
        return -1;
    }
    pthread_mutex_lock(&stat_mu);
    size_t n = atomic_load_explicit(&n_stats, memory_order_relaxed);
    int idx = -1;
    for (size_t i = 0; i < n && idx < 0; i++)
        if (strcmp(dpt_propagation_stat_name(i), name) == 0) idx = (int)i;
    if (idx < 0 && n < DPT_PSTAT_MAX) {
        memcpy(user_names[n - DPT_PSTAT_BUILTIN_COUNT], name, len + 1);
        idx = (int)n;
        atomic_store_explicit(&n_stats, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&stat_mu);
    if (idx < 0)
        dpt__log(DPT_LOG_WARN, "propagation counter \"%s\" not added: all %d counters are in use",
                 name, DPT_PSTAT_MAX);
    return idx;
}

/* ---- carrier access ------------------------------------------------------------------------ */

size_t dpt__in_count(const dpt__in *in, const char *name, size_t cap)
{
    size_t n = 0, len;
    while (n < cap && in->g->get(in->c, name, n, &len))
        n++;
    return n;
}

const char *dpt__in_single(const dpt__in *in, const char *name, size_t *len, size_t *count)
{
    size_t l0 = 0, l1 = 0;
    const char *v = in->g->get(in->c, name, 0, &l0);
    if (!v) {
        *count = 0;
        return NULL;
    }
    if (in->g->get(in->c, name, 1, &l1)) {
        *count = 2;
        return NULL;
    }
    *count = 1;
    *len = l0;
    return v;
}

size_t dpt__in_joined(const dpt__in *in, const char *name, dpt__buf *b, size_t max, bool *cut)
{
    size_t n = 0, len = 0;
    const char *v;
    *cut = false;
    while (n < DPT__MAX_FIELD_VALUES && (v = in->g->get(in->c, name, n, &len)) != NULL) {
        /* Hostile input can repeat a long line many times: stop at max bytes. */
        if (b->len + (n ? 1 : 0) + len > max) {
            *cut = true;
            break;
        }
        if (n) dpt__buf_putc(b, ',');
        dpt__buf_put(b, v, len);
        n++;
    }
    return n;
}

/* ---- baggage in prefixed fields ------------------------------------------------------------- */

void dpt__extract_prefixed(const dpt__in *in, const char *prefix, int invalid, dpt_extraction *x,
                           dpt__prefixed_add_fn add)
{
    if (!in->g->key) return;
    size_t pl = strlen(prefix), nl = 0;
    const char *name;
    char full[256];
    for (size_t i = 0; i < DPT__MAX_FIELD_VALUES && (name = in->g->key(in->c, i, &nl)) != NULL;
         i++) {
        if (nl <= pl || !dpt__name_eq(name, pl, prefix)) continue;
        if (nl >= sizeof full) {
            dpt__prop_count(invalid, 1); /* a key no one can mean */
            continue;
        }
        /* The getter takes a NUL-terminated lowercase name; header names are
         * case-insensitive, so the baggage key is the lowercase suffix. */
        for (size_t q = 0; q < nl; q++) {
            char ch = name[q];
            full[q] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
        }
        full[nl] = 0;
        size_t vl = 0;
        const char *v = in->g->get(in->c, full, 0, &vl);
        if (!v || !add(x, full + pl, nl - pl, v, vl)) dpt__prop_count(invalid, 1);
        if (x->oom) return;
    }
}

dpt_err dpt__inject_prefixed(const dpt_context *ctx, const char *prefix, const dpt_setter *s,
                             void *c, dpt__prefixed_value_fn value)
{
    const dpt_baggage *bg = dpt_context_baggage(ctx);
    size_t cnt = dpt_baggage_count(bg);
    dpt__buf name, val;
    dpt__buf_init(&name);
    dpt__buf_init(&val);
    dpt_err e = DPT_OK;
    for (size_t i = 0; e == DPT_OK && i < cnt; i++) {
        dpt_baggage_item it;
        if (dpt_baggage_entry_n(bg, i, &it) != DPT_OK) break;
        val.len = 0;
        if (!dpt__is_token(it.key, it.key_len) || !value(it.value, it.value_len, &val)) {
            dpt__prop_count(DPT_PSTAT_BAGGAGE_ENTRIES_NOT_SENT, 1);
            continue;
        }
        name.len = 0;
        dpt__buf_puts(&name, prefix);
        dpt__buf_put(&name, it.key, it.key_len);
        dpt__buf_putc(&name, 0);
        dpt__buf_putc(&val, 0); /* setters get NUL-terminated values */
        if (name.oom || val.oom)
            e = DPT_ENOMEM;
        else
            e = s->set(c, name.p, val.p, val.len - 1);
    }
    dpt__buf_free(&name);
    dpt__buf_free(&val);
    return e;
}

/* ---- extraction accumulator ---------------------------------------------------------------- */

void dpt__extract_set_sc(dpt__extract *x, const dpt_span_context *sc, dpt_tracestate *ts)
{
    if (x->ts) dpt_tracestate_release(x->ts);
    x->sc = *sc;
    x->sc.remote = true;
    x->ts = ts;
    x->have_sc = true;
}

dpt_err dpt_extraction_set_span_context(dpt_extraction *x, const dpt_span_context *sc,
                                        const dpt_tracestate *ts)
{
    if (!x || !sc || !dpt_span_context_is_valid(sc)) return DPT_EINVAL;
    dpt__extract_set_sc(x, sc, dpt_tracestate_retain(ts));
    return DPT_OK;
}

void dpt_extraction_saw_trace_field(dpt_extraction *x)
{
    if (x) x->saw_trace_field = true;
}

dpt_span_context dpt_extraction_span_context(const dpt_extraction *x)
{
    dpt_span_context z;
    memset(&z, 0, sizeof z);
    return x && x->have_sc ? x->sc : z;
}

dpt_err dpt_extraction_add_baggage(dpt_extraction *x, const char *key, size_t key_len,
                                   const char *value, size_t value_len, const char *meta,
                                   size_t meta_len)
{
    if (!x) return DPT_EINVAL;
    dpt_baggage *nb = NULL;
    dpt_err e =
        dpt_baggage_set_n(x->bg, key, key_len, value, value_len, meta, meta ? meta_len : 0, &nb);
    if (e == DPT_OK) {
        dpt_baggage_release(x->bg);
        x->bg = nb;
    } else {
        if (e == DPT_ENOMEM)
            x->oom = true;
        else
            dpt__prop_count(DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED, 1);
    }
    return e;
}
