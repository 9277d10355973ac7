/* counters.c - self-telemetry counters.
 *
 * Counters are per-thread blocks with a single writer each, so counting a span is a plain
 * load and store (no locked instruction on the hot path); readers sum the blocks. Blocks
 * live in one global list and are never freed: a thread's cached pointer stays valid after
 * its provider is gone, and blocks of exited threads are reused.
 */
#include "export_async.h"
#include "counters.h"

#include <stdlib.h>

/* ---- per-thread counter blocks ---------------------------------------------------------- */

typedef struct cblock {
    _Atomic uint64_t c[DPT__C_COUNT];
    uint64_t provider_id; /* 0: free */
    uint64_t owner;       /* thread token of the writer; 0: none (adoptable) */
    struct cblock *next;
} cblock;

/* Global list of blocks: owned by the process, protected by cb_mu. */
static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;
static cblock *cb_list;
/* Provider ids key the blocks; never reused, so a block of a freed provider never counts
 * for a new one. */
static _Atomic uint64_t next_provider_id = 1;

uint64_t dpt__counters_new_id(void)
{
    return atomic_fetch_add(&next_provider_id, 1);
}
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

static void cb_fork_prepare(void)
{
    pthread_mutex_lock(&cb_mu);
}
static void cb_fork_release(void)
{
    pthread_mutex_unlock(&cb_mu);
}

/* Registered from a constructor so the handlers exist before any thread can hold cb_mu. */
__attribute__((constructor)) static void cb_atfork(void)
{
    pthread_atfork(cb_fork_prepare, cb_fork_release, cb_fork_release);
}

static void cb_init(void)
{
    pthread_key_create(&cb_key, cb_thread_exit);
}

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
        /* plain: counting must not fail under tests; lines of its own: written per span */
        b = dpt__calloc_lines(sizeof *b, true);
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

_Atomic uint64_t *dpt__counters_slow(dpt_provider *p)
{
    cblock *b = cb_slow(p);
    return b ? b->c : NULL;
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
    uint64_t c[DPT__C_COUNT] = {0};
    pthread_mutex_lock(&cb_mu);
    for (cblock *b = cb_list; b; b = b->next)
        if (b->provider_id == p->counters_id)
            for (int i = 0; i < DPT__C_COUNT; i++)
                c[i] += atomic_load_explicit(&b->c[i], memory_order_relaxed);
    pthread_mutex_unlock(&cb_mu);
    out->spans_started =
        c[DPT__C_STARTED_NONREC] + c[DPT__C_STARTED_SAMPLED] + c[DPT__C_STARTED_RECONLY];
    out->spans_sampled = c[DPT__C_STARTED_SAMPLED];
    out->spans_recording = c[DPT__C_STARTED_SAMPLED] + c[DPT__C_STARTED_RECONLY];
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

void dpt__counters_retire(dpt_provider *p)
{
    pthread_mutex_lock(&cb_mu);
    for (cblock *b = cb_list; b; b = b->next) {
        if (b->provider_id != p->counters_id) continue;
        b->provider_id = 0;
        for (int i = 0; i < DPT__C_COUNT; i++)
            atomic_store_explicit(&b->c[i], 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&cb_mu);
}
