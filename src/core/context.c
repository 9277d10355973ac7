/* context.c - the per-thread context stack, dpt_context values and scoped spans.
 *
 * Each thread has a stack of entries (span context, tracestate, baggage, span handle);
 * the top is "current". Entries copy the span context and hold references to tracestate
 * and baggage, so a child can be parented correctly even after its parent span ended.
 * The stack is reached through one thread-local pointer so that an async task can swap in
 * its own stack in O(1) (src/async). attach returns a token that encodes the entry's
 * depth and a serial number; detaching out of order is detected, reported and repaired.
 */
#include "context.h"
#include "ids.h"
#include "pool.h"
#include "span.h"
#include "tracestate.h"

#include <stdio.h>
#include <stdlib.h>

DPT__TLS dpt__ctx_stack *dpt__tl_stack; /* current stack of this thread */
#define tl_stack dpt__tl_stack
static DPT__TLS dpt__ctx_stack *tl_own_stack; /* the thread's own stack (freed at exit) */
static pthread_key_t stack_key;
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

static void entry_release(dpt__ctx_entry *e)
{
    if (e->ts) dpt_tracestate_release(e->ts);
    if (e->bg) dpt_baggage_release(e->bg);
    if (e->vals) dpt__ctx_val_release(e->vals);
    e->ts = NULL;
    e->bg = NULL;
    e->vals = NULL;
}

void dpt__stack_clear(dpt__ctx_stack *st)
{
    while (st->depth)
        entry_release(&st->e[--st->depth]);
}

void dpt__stack_free(dpt__ctx_stack *st)
{
    if (!st) return;
    dpt__stack_clear(st);
    free(st->e);
    free(st);
}

static void thread_exit(void *unused)
{
    (void)unused;
    dpt__stack_free(tl_own_stack);
    tl_own_stack = NULL;
    tl_stack = NULL;
}

static void stack_key_init(void)
{
    pthread_key_create(&stack_key, thread_exit);
}

dpt__ctx_stack *dpt__stack_new(void)
{
    dpt__ctx_stack *st = dpt__calloc_lines(sizeof *st, false);
    /* A random first serial makes tokens unique across stacks (a thread's own stack and
     * the tasks it enters), so a token detached on the wrong stack is reported instead of
     * popping an unrelated entry that happens to have the same depth and serial. */
    if (st) st->serial = (uint32_t)dpt__rand64();
    return st;
}

/* The calling thread's current stack, created on first use (NULL on ENOMEM). */
dpt__ctx_stack *dpt__stack_current(void)
{
    if (DPT__LIKELY(tl_stack != NULL)) return tl_stack;
    if (!tl_own_stack) {
        pthread_once(&stack_once, stack_key_init);
        tl_own_stack = dpt__stack_new();
        if (!tl_own_stack) return NULL;
        pthread_setspecific(stack_key, tl_own_stack);
    }
    tl_stack = tl_own_stack;
    return tl_stack;
}

dpt__ctx_stack *dpt__stack_swap(dpt__ctx_stack *st)
{
    dpt__ctx_stack *old = dpt__stack_current();
    tl_stack = st ? st : tl_own_stack;
    return old;
}

static dpt__ctx_entry *top(const dpt__ctx_stack *st)
{
    return st && st->depth ? &st->e[st->depth - 1] : NULL;
}

/* Pushes an entry; the caller fills it. Returns the token, 0 when full or on ENOMEM. */
static dpt__ctx_entry *push(dpt__ctx_stack *st, dpt_token *tok)
{
    if (!st) return NULL;
    if (st->depth == st->cap) {
        if (st->cap >= DPT__CTX_STACK_MAX) {
            dpt__log(DPT_LOG_WARN, "context stack full (%d entries): attach ignored",
                     DPT__CTX_STACK_MAX);
            return NULL;
        }
        uint32_t cap = st->cap ? st->cap * 2 : 16;
        dpt__ctx_entry *e = dpt__realloc(st->e, sizeof *e * cap);
        if (!e) return NULL;
        st->e = e;
        st->cap = cap;
    }
    dpt__ctx_entry *e = &st->e[st->depth++];
    memset(e, 0, sizeof *e);
    st->serial++;
    e->token = ((uint64_t)st->serial << 16) | st->depth;
    *tok = e->token;
    return e;
}

/* ---- user values: keys and the value lists -------------------------------------------- */

struct dpt_context_key {
    char name[48];
    void (*free_value)(void *value);
};

/* Keys live as long as the process (like pthread keys, they are made once at start-up and
 * compared by address); a fixed table avoids an allocation that could never be freed.
 * n_keys only grows; key_mu serialises creation. */
#define MAX_KEYS 128
static dpt_context_key keys[MAX_KEYS];
static _Atomic uint32_t n_keys;
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;

dpt_context_key *dpt_context_key_new(const char *name, void (*free_value)(void *value))
{
    pthread_mutex_lock(&key_mu);
    uint32_t n = atomic_load_explicit(&n_keys, memory_order_relaxed);
    dpt_context_key *k = n < MAX_KEYS ? &keys[n] : NULL;
    if (k) {
        snprintf(k->name, sizeof k->name, "%s", name ? name : "");
        k->free_value = free_value;
        atomic_store_explicit(&n_keys, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&key_mu);
    if (!k) dpt__log(DPT_LOG_ERROR, "dpt_context_key_new: more than %d keys", MAX_KEYS);
    return k;
}

const char *dpt_context_key_name(const dpt_context_key *k)
{
    return k ? k->name : "";
}

dpt__ctx_val *dpt__ctx_val_retain(dpt__ctx_val *v)
{
    if (v) atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed); /* caller holds one */
    return v;
}

void dpt__ctx_val_release(dpt__ctx_val *v)
{
    /* Iterative: a long list is freed without recursion. acq_rel as for contexts. */
    while (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
        dpt__ctx_val *next = v->next;
        if (v->key->free_value) v->key->free_value(v->value);
        free(v);
        v = next;
    }
}

/* ---- dpt_context values ----------------------------------------------------------------- */

static dpt_context *ctx_alloc(const dpt_span_context *sc, dpt_span span, const dpt_tracestate *ts,
                              const dpt_baggage *bg, dpt__ctx_val *vals)
{
    /* malloc, not calloc: glibc's calloc skips the thread cache, and a context per request
     * (every extract) made it a fifth of a traceparent round trip. Every field is set. */
    dpt_context *c = dpt__malloc(sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    if (sc)
        c->sc = *sc;
    else
        memset(&c->sc, 0, sizeof c->sc);
    c->span = span;
    c->ts = dpt_tracestate_retain(ts);
    c->bg = dpt_baggage_retain(bg);
    c->vals = dpt__ctx_val_retain(vals);
    return c;
}

dpt_context *dpt_context_new(const dpt_span_context *sc, const dpt_tracestate *ts,
                             const dpt_baggage *bg)
{
    return ctx_alloc(sc, DPT_SPAN_NONE, ts, bg, NULL);
}

dpt_context *dpt_context_with_baggage(const dpt_context *c, const dpt_baggage *bg)
{
    if (!c) return ctx_alloc(NULL, DPT_SPAN_NONE, NULL, bg, NULL);
    return ctx_alloc(&c->sc, c->span, c->ts, bg, c->vals);
}

#define MAX_VALUES 256 /* values in one context: a guard against a set-in-a-loop leak */

dpt_context *dpt_context_with_value(const dpt_context *c, const dpt_context_key *key, void *value)
{
    uint32_t depth = c && c->vals ? c->vals->depth : 0;
    if (!key || depth >= MAX_VALUES) {
        if (key)
            dpt__log(DPT_LOG_WARN, "dpt_context_with_value: more than %d values in one context",
                     MAX_VALUES);
        if (key && key->free_value) key->free_value(value);
        return NULL;
    }
    dpt__ctx_val *v = dpt__calloc(1, sizeof *v);
    if (!v) {
        if (key->free_value) key->free_value(value);
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->depth = depth + 1;
    v->key = key;
    v->value = value;
    v->next = dpt__ctx_val_retain(c ? c->vals : NULL);
    dpt_context *n = c ? ctx_alloc(&c->sc, c->span, c->ts, c->bg, v)
                       : ctx_alloc(NULL, DPT_SPAN_NONE, NULL, NULL, v);
    dpt__ctx_val_release(v); /* the context holds it now (or, on ENOMEM, nobody) */
    return n;
}

static void *vals_get(const dpt__ctx_val *v, const dpt_context_key *key)
{
    for (; v; v = v->next)
        if (v->key == key) return v->value;
    return NULL;
}

void *dpt_context_get_value(const dpt_context *c, const dpt_context_key *key)
{
    return c && key ? vals_get(c->vals, key) : NULL;
}

dpt_context *dpt_context_with_span(const dpt_context *c, dpt_span s)
{
    /* The context and a tracestate reference are taken inside the span: another thread
     * may end it meanwhile (span.h). */
    dpt_span_context sc;
    dpt_tracestate *ts = NULL;
    if (!dpt__span_context_ts(s, &sc, &ts)) memset(&sc, 0, sizeof sc);
    dpt_context *x = ctx_alloc(&sc, s, ts, c ? c->bg : NULL, c ? c->vals : NULL);
    dpt_tracestate_release(ts);
    return x;
}

dpt_context *dpt_context_retain(const dpt_context *c)
{
    dpt_context *x = (dpt_context *)c;
    if (!x) return NULL;
    /* A borrowed view (refs 0) lives only for the call it was lent to: a copy is kept. */
    if (atomic_load_explicit(&x->refs, memory_order_relaxed) == 0)
        return ctx_alloc(&x->sc, x->span, x->ts, x->bg, x->vals);
    atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed); /* caller holds one */
    return x;
}

void dpt_context_release(const dpt_context *c)
{
    dpt_context *x = (dpt_context *)c;
    if (!x || atomic_load_explicit(&x->refs, memory_order_relaxed) == 0) return; /* borrowed */
    /* acq_rel: the last releaser must see all other holders' reads before freeing. */
    if (atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) != 1) return;
    dpt_tracestate_release(x->ts);
    dpt_baggage_release(x->bg);
    dpt__ctx_val_release(x->vals);
    free(x);
}

dpt_span_context dpt_context_span_context(const dpt_context *c)
{
    dpt_span_context z = {0};
    return c ? c->sc : z;
}

dpt_span dpt_context_span(const dpt_context *c)
{
    return c ? c->span : DPT_SPAN_NONE;
}
const dpt_tracestate *dpt_context_tracestate(const dpt_context *c)
{
    return c ? c->ts : NULL;
}
const dpt_baggage *dpt_context_baggage(const dpt_context *c)
{
    return c ? c->bg : NULL;
}

dpt_context *dpt_context_current(void)
{
    dpt__ctx_entry *e = top(dpt__stack_current());
    if (!e) return ctx_alloc(NULL, DPT_SPAN_NONE, NULL, NULL, NULL);
    return ctx_alloc(&e->sc, e->span, e->ts, e->bg, e->vals);
}

dpt__ctx_val *dpt__current_vals(void)
{
    dpt__ctx_entry *e = top(tl_stack);
    return e ? e->vals : NULL;
}

void *dpt_context_value_current(const dpt_context_key *key)
{
    dpt__ctx_entry *e = top(tl_stack);
    return e && key ? vals_get(e->vals, key) : NULL;
}

/* Fills a borrowed view (refs 0, no references taken) from a stack entry, or empty. */
static void view_of(const dpt__ctx_entry *e, dpt_context *v)
{
    memset(v, 0, sizeof *v);
    if (!e) return;
    v->sc = e->sc;
    v->span = e->span;
    v->ts = e->ts;
    v->bg = e->bg;
    v->vals = e->vals;
}

const dpt_context *dpt__parent_context(const dpt_span_opts *o, const dpt__parent *par,
                                       dpt_context *scratch)
{
    if (o && o->parent) return o->parent;
    view_of(o && o->root ? NULL : top(tl_stack), scratch);
    if (o && !o->root && o->parent_span.rec && par->owned_ts) {
        /* An explicit local parent span, in the current context's baggage and values. */
        scratch->sc = par->sc;
        scratch->span = o->parent_span;
        scratch->ts = (dpt_tracestate *)par->ts;
    }
    return scratch;
}

/* ---- attach / detach ------------------------------------------------------------------ */

dpt_token dpt_context_attach(const dpt_context *c)
{
    if (!c) return 0;
    dpt_token tok = 0;
    dpt__ctx_entry *e = push(dpt__stack_current(), &tok);
    if (!e) return 0;
    e->sc = c->sc;
    e->span = c->span;
    e->ts = dpt_tracestate_retain(c->ts);
    e->bg = dpt_baggage_retain(c->bg);
    e->vals = dpt__ctx_val_retain(c->vals);
    return tok;
}

dpt_err dpt__stack_detach(dpt__ctx_stack *st, dpt_token tok)
{
    if (!st || tok == 0) return DPT_EINVAL;
    uint32_t idx = (uint32_t)(tok & 0xffff);
    if (idx == 0 || idx > st->depth || st->e[idx - 1].token != tok) {
        dpt__log(DPT_LOG_WARN, "detach with an unknown or already detached token");
        return DPT_EINVAL;
    }
    dpt_err err = DPT_OK;
    if (idx != st->depth) {
        dpt__log(DPT_LOG_WARN,
                 "context detached out of order: %u later attach(es) detached with it",
                 st->depth - idx);
        err = DPT_ESTATE;
    }
    while (st->depth >= idx)
        entry_release(&st->e[--st->depth]);
    return err;
}

dpt_err dpt_context_detach(dpt_token tok)
{
    return dpt__stack_detach(tl_stack, tok);
}

dpt_token dpt_span_make_current(dpt_span s)
{
    dpt_span_context sc;
    dpt_tracestate *ts = NULL;
    if (!dpt__span_context_ts(s, &sc, &ts)) return 0;
    dpt__ctx_stack *st = dpt__stack_current();
    dpt_token tok = 0;
    dpt__ctx_entry *e = push(st, &tok);
    if (!e) {
        dpt_tracestate_release(ts);
        return 0;
    }
    dpt__ctx_entry *prev =
        st->depth > 1 ? &st->e[st->depth - 2] : NULL; /* push may have moved the array */
    e->sc = sc;
    e->span = s;
    e->ts = ts; /* the reference taken above */
    e->bg = prev ? dpt_baggage_retain(prev->bg) : NULL;
    e->vals = prev ? dpt__ctx_val_retain(prev->vals) : NULL;
    return tok;
}

dpt_span dpt_span_current(void)
{
    dpt__ctx_entry *e = top(tl_stack);
    return e ? e->span : DPT_SPAN_NONE;
}

dpt_span_context dpt_span_context_current(void)
{
    dpt__ctx_entry *e = top(tl_stack);
    dpt_span_context z = {0};
    return e ? e->sc : z;
}

const dpt_baggage *dpt_baggage_current(void)
{
    dpt__ctx_entry *e = top(tl_stack);
    return e ? e->bg : NULL;
}

/* ---- scoped spans ----------------------------------------------------------------------- */

dpt_scope dpt_scope_begin(dpt_tracer *t, const char *name, dpt_span_kind kind)
{
    dpt_scope sc;
    sc.span = dpt_span_start(t, name, kind, NULL);
    sc.token = dpt_span_make_current(sc.span);
    sc.once = 1;
    return sc;
}

void dpt_scope_end(dpt_scope *sc)
{
    if (!sc) return;
    if (sc->token) dpt_context_detach(sc->token);
    dpt_span_end(sc->span);
    sc->token = 0;
    sc->span = DPT_SPAN_NONE;
}
