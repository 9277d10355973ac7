/* batch.c - the batch span processor: per-thread hand-off lanes and one export thread.
 *
 * Ending a span hands its record to the queue (queue.c): a lane of the ending thread, so
 * producers share no cache line, no lock and no locked instruction; a full lane stages
 * the span compactly within the byte budget, and only a span beyond the budget is dropped
 * (and counted). The application thread never blocks and never waits for the exporter;
 * when the exporter declares that it never blocks either, a producer that backs up exports
 * its own backlog instead (help(), "Producers that export" below).
 * The export thread sleeps until a lane holds a full batch (the producer that sees it
 * wakes the thread: a Dekker pair on `sleeping`, so no wake-up is lost) or the schedule
 * delay passes; while spans keep coming fast it looks again every 25 us - 2 ms instead of
 * being woken, so that producers do not pay a wake-up per batch. It exports from a
 * preallocated batch array and gives the records back: no allocation per span.
 *
 * fork(): the child inherits a copy of the queue but no thread. A global fork generation,
 * bumped in the child, makes the next on_end in the child discard the inherited spans
 * (the parent exports them) and start a fresh thread.
 *
 * Export side (kept apart from the queue, below "export-side accounting"): every span
 * pushed gets exactly one outcome - exported, failed or dropped - counted once, under mu,
 * by whoever learns it: the export thread, an exporter's completion (several requests in
 * flight, see export_async.h) or a shutdown that gave up on a hung exporter. Each batch
 * processor keeps its own counts (one pipeline); the provider's totals are those of its
 * first pipeline, so ended == exported + dropped + failed holds with several exporters.
 * Shutdown has one deadline: exports started during it end by then, and when it passes
 * the exporter is told to cancel what is in flight.
 *
 * Locks: cons is the queue's consumer side (pop, done, pending, tidy) and makes exports one
 * at a time; the export thread takes it around each drain, a producer only with trylock.
 * mu guards the state below. Order: cons before mu (the export thread only trylocks cons
 * while it holds mu).
 */
#include "pool.h"
#include "processor.h"
#include "provider.h"
#include "counters.h"
#include "context.h"
#include "export_async.h"
#include "queue.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

typedef struct batch {
    dpt__batch_hot hot; /* first: what the span end reads (processor.h) */
    dpt_batch_config cfg;
    dpt_exporter *exp;
    bool producers_export; /* the exporter never blocks: producers may run it (help) */
    bool sched_batch;      /* the export thread's policy, read at creation (common.h) */
    dpt_provider *prov;    /* set on first on_end */
    _Alignas(DPT__CACHELINE) _Atomic bool sleeping;       /* read by producers at a full batch */
    _Alignas(DPT__CACHELINE) _Atomic uint64_t help_until; /* mono ns: producers export */
    pthread_mutex_t cons; /* the queue's consumer side: the export thread or a producer */
    _Alignas(DPT__CACHELINE) pthread_mutex_t mu; /* guards the fields below + cvs */
    pthread_cond_t wake;                         /* consumer waits here */
    pthread_cond_t done;                         /* flushers and shutdown wait here */
    bool stop;
    bool finished;          /* the thread has exited its loop */
    _Atomic bool abandoned; /* shutdown gave up waiting for a hung exporter */
    bool thread_started;
    uint64_t flush_req; /* force_flush calls so far */
    uint64_t flush_ack; /* the last of them fully served (exported + exporter flushed) */
    pthread_t thread;
    const dpt_span_data **items; /* room for a batch that is gathered (max_export_batch_size) */
    dpt__qpop pop;               /* what items came from, given back after the export */
    _Atomic uint32_t test_hold;  /* test hook: the export thread exports nothing while set */
    void (*_Atomic test_before_help)(void); /* test hook (dpt__batch_test_before_help) */
    _Atomic uint64_t naps;  /* timed naps of the export thread (dpt__batch_test_naps) */
    _Atomic bool test_late; /* test hook: a producer that finds the processor shut
                               pushes anyway, as one that looked just before */

    /* ---- export-side accounting (not touched by on_end except to count a drop) ---- */
    uint64_t settled;                  /* pushed spans whose outcome is counted (mu) */
    uint64_t in_flight;                /* spans handed to an exporter, outcome not known (mu) */
    _Atomic uint64_t stop_deadline_ms; /* shutdown's deadline; UINT64_MAX before it */
    dpt__ratelimit fail_rl;            /* "batch export failed" lines */
    _Atomic uint64_t st_exported, st_failed, st_dropped; /* this pipeline's counts */
    uint64_t seq;            /* creation order: the first pipeline is the primary */
    const dpt_provider *reg; /* the provider this pipeline is registered with (reg_mu) */
    _Atomic bool registered; /* reg is set: the counting paths' unlocked check */
    struct batch *reg_next;
} batch;

_Atomic uint64_t dpt__batch_fork_generation;
#define fork_generation dpt__batch_fork_generation
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}
static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

void dpt_batch_config_default(dpt_batch_config *c)
{
    if (!c) return;
    c->max_queue_size = 2048;
    c->max_export_batch_size = 512;
    c->schedule_delay_ms = 5000;
    c->export_timeout_ms = 30000;
    c->max_queue_bytes = DPT_BATCH_DEFAULT_QUEUE_BYTES;
}

static void abs_deadline(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool ts_passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* ---- export thread ---------------------------------------------------------------------- */

/* ---- export-side accounting ------------------------------------------------------------ */

/* Pipelines by provider, for dpt_provider_get_stats: a list of the live batch processors
 * that have seen a span, guarded by reg_mu (taken once per processor to register, and by
 * stats readers). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static batch *reg_list;
static _Atomic uint64_t batch_seq;

static void pipe_register(batch *b, const dpt_provider *p)
{
    if (!p) return;
    pthread_mutex_lock(&reg_mu);
    if (!b->reg) {
        b->reg = p;
        b->reg_next = reg_list;
        reg_list = b;
    }
    pthread_mutex_unlock(&reg_mu);
    /* Release: a thread that sees the flag skips the lock (reg itself is read only under
     * reg_mu). */
    atomic_store_explicit(&b->registered, true, memory_order_release);
}

static void pipe_unregister(batch *b)
{
    pthread_mutex_lock(&reg_mu);
    for (batch **pp = &reg_list; *pp; pp = &(*pp)->reg_next)
        if (*pp == b) {
            *pp = b->reg_next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
}

static void settle_late(batch *b);

void dpt__pipelines_stats(const dpt_provider *p, dpt_stats *out)
{
    size_t n = 0;
    uint64_t last = 0;
    /* Shut pipelines first count what producers queued after their last look (settle_late;
     * b->mu is taken before reg_mu elsewhere, so not under it). */
    batch *shut[DPT_STATS_MAX_PIPELINES];
    size_t nshut = 0;
    pthread_mutex_lock(&reg_mu);
    for (batch *b = reg_list; b && nshut < DPT_STATS_MAX_PIPELINES; b = b->reg_next)
        if (b->reg == p && atomic_load(&b->hot.shut)) shut[nshut++] = b;
    pthread_mutex_unlock(&reg_mu);
    for (size_t i = 0; i < nshut; i++) {
        pthread_mutex_lock(&shut[i]->mu);
        settle_late(shut[i]);
        pthread_mutex_unlock(&shut[i]->mu);
    }
    pthread_mutex_lock(&reg_mu);
    /* In creation order: pick the next smallest seq each time (a handful of pipelines). */
    while (n < DPT_STATS_MAX_PIPELINES) {
        batch *next = NULL;
        for (batch *b = reg_list; b; b = b->reg_next)
            if (b->reg == p && (n == 0 || b->seq > last) && (!next || b->seq < next->seq)) next = b;
        if (!next) break;
        last = next->seq;
        dpt_pipeline_stats *ps = &out->pipelines[n++];
        ps->spans_exported = atomic_load_explicit(&next->st_exported, memory_order_relaxed);
        ps->spans_export_failed = atomic_load_explicit(&next->st_failed, memory_order_relaxed);
        ps->spans_dropped_queue = atomic_load_explicit(&next->st_dropped, memory_order_relaxed);
    }
    pthread_mutex_unlock(&reg_mu);
    out->n_pipelines = (uint32_t)n;
    if (n) {
        /* Each span counted once: by the first pipeline. */
        out->spans_exported = out->pipelines[0].spans_exported;
        out->spans_export_failed = out->pipelines[0].spans_export_failed;
        out->spans_dropped_queue = out->pipelines[0].spans_dropped_queue;
    }
}

/* Counts n spans of this pipeline as dropped (any thread; a cold path of on_end). */
static void count_dropped(batch *b, const dpt_provider *p, uint64_t n)
{
    if (!n) return;
    if (DPT__UNLIKELY(!atomic_load_explicit(&b->registered, memory_order_acquire)))
        pipe_register(b, p);
    atomic_fetch_add_explicit(&b->st_dropped, n, memory_order_relaxed);
}

static void count(batch *b, int c, uint64_t n)
{
    if (!n) return;
    if (DPT__UNLIKELY(!atomic_load_explicit(&b->registered, memory_order_acquire)))
        pipe_register(b, b->prov);
    if (c == DPT__C_EXPORTED)
        atomic_fetch_add_explicit(&b->st_exported, n, memory_order_relaxed);
    else if (c == DPT__C_EXPORT_FAILED)
        atomic_fetch_add_explicit(&b->st_failed, n, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&b->st_dropped, n, memory_order_relaxed);
}

/* The outcome of n spans an exporter had (mu not held). After shutdown gave up on the
 * exporter (abandoned) the spans were counted then: only the in-flight figure moves. */
static void account(batch *b, size_t n, dpt_err err)
{
    pthread_mutex_lock(&b->mu);
    b->in_flight -= n;
    if (!atomic_load(&b->abandoned)) {
        count(b, err == DPT_OK ? DPT__C_EXPORTED : DPT__C_EXPORT_FAILED, n);
        b->settled += n;
        if (err != DPT_OK)
            dpt__log_limited(&b->fail_rl, DPT_LOG_WARN, "batch export of %zu spans failed: %s", n,
                             dpt_strerror(err));
    }
    pthread_cond_broadcast(&b->done);
    pthread_mutex_unlock(&b->mu);
}

/* Spans queued after the export thread's last look (mu held). A producer that saw the
 * processor open just before shutdown closed it pushes its span a moment later, when no
 * export thread will look at the queue again (it finished, or shutdown gave up on it):
 * every pushed span not settled and not in an exporter's hands is one of those, and is
 * counted as dropped here - by shutdown as it returns, by every dpt_provider_get_stats
 * after it, and by the processor's destruction - so no span is left without an outcome
 * and none is counted twice (settled moves with the count, under mu). The producers pay
 * nothing for it: no fence on the span end. */
static void settle_late(batch *b)
{
    bool abandoned = atomic_load(&b->abandoned);
    if (!atomic_load(&b->hot.shut) || !(b->finished || abandoned)) return;
    /* Abandoned: in_flight was counted as failed then, and account() counts it no more. */
    uint64_t open = b->settled + (abandoned ? 0 : b->in_flight);
    uint64_t pushed = dpt__queue_pushed(b->hot.q);
    if (pushed > open) {
        count(b, DPT__C_DROPPED_QUEUE, pushed - open);
        b->settled += pushed - open;
    }
}

/* Completion of an asynchronous export (an exporter's thread). */
static void on_export_done(void *cookie, size_t n, dpt_err err)
{
    account(cookie, n, err);
}

/* The context export_spans sees (export_async.h): set around each call by the export
 * thread. Thread-local; NULL outside an export. */
static _Thread_local const dpt__export_ctx *tl_export_ctx;

const dpt__export_ctx *dpt__export_ctx_current(void)
{
    return tl_export_ctx;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Hands one batch to the exporter with its deadline: the export timeout
 * (OTEL_BSP_EXPORT_TIMEOUT: "how long the export can run before it is cancelled"), or
 * shutdown's deadline when that is sooner. */
static void export_batch(batch *b, size_t n)
{
    dpt__export_ctx ctx;
    uint64_t stop = atomic_load(&b->stop_deadline_ms);
    ctx.deadline_ms = dpt__sat_add(dpt__export_mono_ms(), b->cfg.export_timeout_ms);
    if (stop < ctx.deadline_ms) ctx.deadline_ms = stop;
    ctx.done = on_export_done;
    ctx.cookie = b;
    pthread_mutex_lock(&b->mu);
    b->in_flight += n; /* before the call: the completion may come before it returns */
    pthread_mutex_unlock(&b->mu);
    tl_export_ctx = &ctx;
    uint64_t t0 = mono_ns();
    dpt_err e = b->exp->ops.export_spans(b->exp->state, b->pop.items, n);
    /* How fast the exporter takes spans bounds what the queue stages (queue.c). */
    dpt__queue_export_rate(b->hot.q, n, mono_ns() - t0);
    tl_export_ctx = NULL;
    if (e != DPT__EXPORT_PENDING) account(b, n, e);
}

/* Exports everything queued now, in batches. Returns the number of spans handled. Once
 * shutdown abandoned this processor (a hung exporter), spans are only released: they were
 * counted as failed then, and the provider (tracers, counters) may be gone, so nothing
 * here may touch it any more. */
static size_t drain(batch *b, bool export_them, bool mine)
{
    size_t total = 0;
    b->pop.buf = b->items;
    for (;;) {
        size_t n = mine ? dpt__queue_pop_mine(b->hot.q, &b->pop, b->cfg.max_export_batch_size)
                        : dpt__queue_pop(b->hot.q, &b->pop, b->cfg.max_export_batch_size);
        if (DPT__UNLIKELY(b->pop.lost)) {
            /* staged spans that could not be rebuilt (out of memory): dropped */
            pthread_mutex_lock(&b->mu);
            if (!atomic_load(&b->abandoned)) {
                count(b, DPT__C_DROPPED_QUEUE, b->pop.lost);
                b->settled += b->pop.lost;
            }
            pthread_mutex_unlock(&b->mu);
        }
        if (!n) break;
        total += n;
        bool abandoned = atomic_load(&b->abandoned);
        if (!abandoned && !b->prov) b->prov = b->pop.items[0]->tracer->provider;
        if (abandoned) {
            /* nothing: already counted */
        } else if (export_them) {
            export_batch(b, n);
        } else {
            pthread_mutex_lock(&b->mu);
            if (!atomic_load(&b->abandoned)) {
                count(b, DPT__C_DROPPED_QUEUE, n);
                b->settled += n;
            }
            pthread_mutex_unlock(&b->mu);
        }
        /* The exporter is done with the records (an asynchronous one encoded them before
         * returning): back to their producers. */
        bool more = b->pop.more;
        dpt__queue_done(b->hot.q, &b->pop);
        if (n < b->cfg.max_export_batch_size && !more) break;
    }
    return total;
}

/* While spans keep coming, the export thread looks at the queue again after a nap instead
 * of sleeping until a producer wakes it: a wake-up costs the producer a system call per
 * batch, a nap costs the export thread a timer. The nap adapts between these bounds:
 * shorter while a look finds a lane's ring over half full, longer when it finds less than
 * a batch in all; past the longest the thread goes back to sleeping until woken.
 * When a batch takes longer than NAP_SLOW_NS to fill, the thread sleeps until woken at
 * once: the naps would take four or more timer wake-ups (10-25 us of CPU each on a
 * virtual machine) to find one batch, where the producer's one wake-up per batch costs
 * less (docs/BENCHMARKS.md: an nginx worker at 120,000 spans/s made 4-5 naps a batch). */
#define NAP_MIN_NS 25000ull
#define NAP_FIRST_NS 100000ull
#define NAP_MAX_NS 2000000ull
#define NAP_SLOW_NS 1000000ull

static void nap(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* Test hook: while held, the export thread exports nothing (a descheduled thread). */
static void wait_hold(batch *b)
{
    while (atomic_load_explicit(&b->test_hold, memory_order_acquire) && !b->stop) {
        pthread_mutex_unlock(&b->mu);
        nap(200000);
        pthread_mutex_lock(&b->mu);
    }
}

void dpt__batch_test_hold(dpt_processor *p, bool hold)
{
    if (!p || p->ops.on_end != dpt__batch_on_end) return;
    batch *b = p->state;
    atomic_store_explicit(&b->test_hold, hold ? 1u : 0u, memory_order_release);
}

uint64_t dpt__batch_test_naps(dpt_processor *p)
{
    if (!p || p->ops.on_end != dpt__batch_on_end) return 0;
    batch *b = p->state;
    return atomic_load(&b->naps);
}

void dpt__batch_test_before_help(dpt_processor *p, void (*fn)(void))
{
    if (!p || p->ops.on_end != dpt__batch_on_end) return;
    batch *b = p->state;
    atomic_store(&b->test_before_help, fn);
}

bool dpt__batch_test_sleeping(dpt_processor *p)
{
    if (!p || p->ops.on_end != dpt__batch_on_end) return false;
    batch *b = p->state;
    return atomic_load(&b->sleeping);
}

void dpt__batch_test_late_pushes(dpt_processor *p, bool on)
{
    if (!p || p->ops.on_end != dpt__batch_on_end) return;
    batch *b = p->state;
    atomic_store(&b->test_late, on);
}

/* Spans waiting, as far as the export thread can tell while it holds mu: when a producer
 * is exporting (it holds cons), nothing for the thread to do. */
static uint64_t pending_try(batch *b)
{
    if (pthread_mutex_trylock(&b->cons)) return 0;
    uint64_t n = dpt__queue_pending(b->hot.q);
    pthread_mutex_unlock(&b->cons);
    return n;
}

#define HELP_NS 2000000ull
#define HELP_PART 128u /* spans a producer that exports exports at (DPT__Q_PART) */

/* Producers exported within the last HELP_NS (help() below). */
static bool producers_exporting(batch *b)
{
    return b->producers_export &&
           mono_ns() < atomic_load_explicit(&b->help_until, memory_order_relaxed);
}

static void *export_thread(void *arg)
{
    batch *b = arg;
    uint64_t nap_ns = 0;  /* 0: sleep until woken or the schedule delay */
    uint64_t full_at = 0; /* when the last look found a full batch (mono_ns), 0: none */
    /* Naps of tens of microseconds: the default 50 us timer slack would double them. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    /* Named, and its wake-ups do not preempt the producers (common.h). */
    dpt__background_thread("dpt-export", b->sched_batch);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        struct timespec deadline;
        abs_deadline(&deadline, b->cfg.schedule_delay_ms);
        while (!b->stop && b->flush_ack >= b->flush_req) {
            if (pending_try(b) >= b->cfg.max_export_batch_size || ts_passed(&deadline)) break;
            if (nap_ns && producers_exporting(b)) nap_ns = 0; /* they keep up: sleep */
            if (nap_ns) {
                pthread_mutex_unlock(&b->mu);
                atomic_fetch_add_explicit(&b->naps, 1, memory_order_relaxed);
                nap(nap_ns);
                pthread_mutex_lock(&b->mu);
                if (pending_try(b) >= b->cfg.max_export_batch_size) break;
                nap_ns *= 2; /* less than a batch came: look less often */
                if (nap_ns > NAP_MAX_NS) nap_ns = 0;
                continue;
            }
            /* Dekker: publish that we sleep, then look at the queue once more. */
            atomic_store_explicit(&b->sleeping, true, memory_order_seq_cst);
            uint64_t pending = 0; /* a producer holding cons exports: nothing to look at */
            if (!pthread_mutex_trylock(&b->cons)) {
                pending = dpt__queue_pending(b->hot.q);
                if (pending < b->cfg.max_export_batch_size)
                    dpt__queue_tidy(b->hot.q); /* retire the lanes of exited threads */
                pthread_mutex_unlock(&b->cons);
            }
            if (pending >= b->cfg.max_export_batch_size) break;
            int rc = pthread_cond_timedwait(&b->wake, &b->mu, &deadline);
            if (rc == ETIMEDOUT) break;
        }
        atomic_store_explicit(&b->sleeping, false, memory_order_relaxed);
        wait_hold(b);
        bool stop = b->stop;
        uint64_t req = b->flush_req;
        bool flush_pending = b->flush_ack < req;
        pthread_mutex_unlock(&b->mu);

        /* Everything published before the flush request (or the stop) is exported by this
         * drain: a lane publishes a span with one release store before its end returns. */
        pthread_mutex_lock(&b->cons);
        uint64_t fullest = dpt__queue_fullest(b->hot.q); /* at the look that woke us */
        size_t handled = drain(b, true, false);
        if (flush_pending && b->exp->ops.force_flush) /* once for all the calls waiting */
            b->exp->ops.force_flush(b->exp->state, b->cfg.export_timeout_ms);
        if (producers_exporting(b)) {
            nap_ns = 0; /* producers export their own: no looking, sleep until woken */
            full_at = 0;
        } else if (handled >= b->cfg.max_export_batch_size) {
            /* Spans keep coming: nap. Shorter while a lane's ring was over half full when
             * we looked (past its max_queue_size the producer copies spans into staging,
             * which costs it more); two producers filling their lanes at half the rate
             * each need no shorter naps than one - every wake-up takes a core from them.
             * Unless a batch filled slowly since the last full one: then sleep until woken. */
            uint64_t now = mono_ns();
            uint64_t per_batch =
                full_at ? (now - full_at) / (handled / b->cfg.max_export_batch_size) : 0;
            full_at = now;
            if (per_batch > NAP_SLOW_NS)
                nap_ns = 0;
            else if (!nap_ns)
                nap_ns = NAP_FIRST_NS;
            else if (fullest > b->cfg.max_queue_size / 2 && nap_ns / 2 >= NAP_MIN_NS)
                nap_ns /= 2;
        } else {
            full_at = 0;
        }
        dpt__queue_tidy(b->hot.q);
        uint64_t left = dpt__queue_pending(b->hot.q);
        pthread_mutex_unlock(&b->cons);

        pthread_mutex_lock(&b->mu);
        if (flush_pending && req > b->flush_ack) b->flush_ack = req;
        pthread_cond_broadcast(&b->done);
        if (stop && left == 0) break;
    }
    b->finished = true;
    pthread_cond_broadcast(&b->done);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static bool start_thread(batch *b)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &ca);
    pthread_cond_init(&b->done, &ca);
    pthread_condattr_destroy(&ca);
    b->finished = false;
    b->stop = false;
    b->hot.fork_gen = atomic_load(&fork_generation);
    /* Block all signals in the export thread: signals belong to the application. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&b->thread, NULL, export_thread, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    b->thread_started = rc == 0;
    if (rc) dpt__log(DPT_LOG_ERROR, "batch processor: cannot start export thread (%d)", rc);
    return rc == 0;
}

/* In a forked child: forget the parent's queue (the parent exports it) and restart. The
 * lanes are dropped: their producers are threads of the parent, which do not exist here. */
static void after_fork(batch *b)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->cons, NULL);
    pthread_mutex_lock(&b->mu);
    if (b->hot.fork_gen != atomic_load(&fork_generation)) {
        count(b, DPT__C_DROPPED_QUEUE, dpt__queue_after_fork(b->hot.q));
        b->settled = dpt__queue_pushed(b->hot.q); /* all of them dropped now */
        b->in_flight = 0;                         /* the parent's exporter reports those */
        b->flush_ack = b->flush_req;
        atomic_store(&b->sleeping, false);
        if (!b->stop && !atomic_load(&b->hot.shut))
            start_thread(b);
        else
            b->hot.fork_gen = atomic_load(&fork_generation);
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- processor interface ------------------------------------------------------------- */

/* A full batch wakes the export thread if it sleeps. The queue ran the producer half of
 * the Dekker pair (a fence after its publications) before it said DPT__Q_WAKE. */
static void wake_if_sleeping(batch *b)
{
    if (atomic_load_explicit(&b->sleeping, memory_order_relaxed)) {
        pthread_mutex_lock(&b->mu);
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->mu);
    }
}

/* Producers that export. When the exporter never blocks, a producer exports its own
 * lane's backlog itself instead of waking the export thread whenever production is fast:
 * its lane backs up (DPT__Q_BEHIND: half its ring waits, or it stages), or the export
 * thread is awake (napping because batches come fast, or held away), or a producer
 * exported within HELP_NS. It then exports from HELP_PART spans on (DPT__Q_PART), not a
 * whole batch: fewer records in flight stay in its caches (two producers: median 1.80x
 * one, against 1.76x exporting at 512, in alternating runs). Only a sleeping export thread
 * (batches come slowly: an nginx worker) is woken as before, at a full batch, so a
 * producer that the thread keeps up with never runs the exporter. A producer never waits
 * to export: cons is taken with trylock, and when another thread is exporting it looks
 * again 64 spans later. Its records never leave its core and no thread is woken; on a
 * machine whose cores are all producing, the export thread would get a core only by
 * taking it from a producer, a context switch and a cold cache per batch
 * (docs/BENCHMARKS.md: two producers went from 0.87x the throughput of one to about
 * 1.7-1.9x). While producers export, the export thread sleeps instead of napping. */

static void help(batch *b)
{
    void (*hook)(void) = atomic_load_explicit(&b->test_before_help, memory_order_relaxed);
    if (DPT__UNLIKELY(hook != NULL)) hook();
    if (pthread_mutex_trylock(&b->cons)) return; /* someone is exporting: look again later */
    /* Shutdown sets shut before the export thread's last drain, which takes cons: seen
     * here, the exporter may be shut down already, so leave it to the thread. */
    if (atomic_load(&b->hot.shut)) {
        pthread_mutex_unlock(&b->cons);
        wake_if_sleeping(b);
        return;
    }
    atomic_store_explicit(&b->help_until, mono_ns() + HELP_NS, memory_order_relaxed);
    drain(b, true, true);
    pthread_mutex_unlock(&b->cons);
}

/* The queue said DPT__Q_PART, DPT__Q_WAKE or DPT__Q_BEHIND for a span just pushed. */
static void wake(batch *b, int r)
{
    if (b->producers_export && !atomic_load_explicit(&b->hot.shut, memory_order_relaxed) &&
        (r == DPT__Q_BEHIND || !atomic_load_explicit(&b->sleeping, memory_order_relaxed) ||
         producers_exporting(b)))
        help(b);
    else if (r != DPT__Q_PART) /* a part batch never wakes the thread */
        wake_if_sleeping(b);
}

/* Queues a sampled record, taking over one reference of the caller. */
static bool take(batch *b, dpt__span *s)
{
    dpt_provider *p = s->tracer->provider;
    if (DPT__UNLIKELY(b->hot.fork_gen !=
                      atomic_load_explicit(&fork_generation, memory_order_relaxed)))
        after_fork(b);
    if (DPT__UNLIKELY(atomic_load_explicit(&b->hot.shut, memory_order_relaxed)) &&
        !atomic_load_explicit(&b->test_late, memory_order_relaxed)) {
        count_dropped(b, p, 1);
        return false;
    }
    int r = dpt__queue_push(b->hot.q, s);
    if (DPT__LIKELY(r == DPT__Q_QUEUED)) return true;
    if (r >= DPT__Q_PART) {
        wake(b, r);
        return true;
    }
    count_dropped(b, p, 1);
    return false;
}

bool dpt__batch_take(void *st, dpt__span *s)
{
    if (!(s->d.ctx.flags & DPT_FLAG_SAMPLED)) return false;
    return take(st, s);
}

bool dpt__batch_took(void *st, dpt__span *s, int pushed)
{
    batch *b = st;
    if (pushed >= DPT__Q_PART) {
        wake(b, pushed);
        return true;
    }
    count_dropped(b, s->tracer->provider, 1);
    return false;
}

void dpt__batch_on_end(void *st, const dpt_span_data *d)
{
    if (!(d->ctx.flags & DPT_FLAG_SAMPLED)) return;
    dpt_span_data_retain(d);
    if (!take(st, (dpt__span *)d)) dpt_span_data_release(d);
}

static dpt_err batch_flush(void *st, uint32_t timeout_ms)
{
    batch *b = st;
    if (b->hot.fork_gen != atomic_load(&fork_generation)) after_fork(b);
    pthread_mutex_lock(&b->mu);
    if (!b->thread_started || b->finished) {
        pthread_mutex_unlock(&b->mu);
        return DPT_ESTATE;
    }
    uint64_t mine = ++b->flush_req;
    pthread_cond_signal(&b->wake);
    struct timespec deadline;
    abs_deadline(&deadline, timeout_ms);
    dpt_err e = DPT_OK;
    while (b->flush_ack < mine && !b->finished) {
        if (pthread_cond_timedwait(&b->done, &b->mu, &deadline) == ETIMEDOUT) {
            e = DPT_ETIMEDOUT;
            break;
        }
    }
    if (e == DPT_OK && b->flush_ack < mine) e = DPT_ESTATE; /* the thread ended first */
    pthread_mutex_unlock(&b->mu);
    return e;
}

static void ms_to_ts(struct timespec *ts, uint64_t ms)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* Waits (mu held) until the export thread finished or deadline_ms passed. */
static bool wait_finished(batch *b, uint64_t deadline_ms)
{
    struct timespec ts;
    ms_to_ts(&ts, deadline_ms);
    while (!b->finished)
        if (pthread_cond_timedwait(&b->done, &b->mu, &ts) == ETIMEDOUT) break;
    return b->finished;
}

/* A cancelled export reports within this much after the deadline (a turn of the
 * exporter's I/O loop and of the export thread, a few ms, more on a loaded machine);
 * beyond it the exporter is taken to hang. */
#define CANCEL_GRACE_MS 45

static dpt_err batch_shutdown(void *st, uint32_t timeout_ms)
{
    batch *b = st;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&b->hot.shut, &expected, true)) return DPT_ESTATE;
    if (b->hot.fork_gen != atomic_load(&fork_generation)) after_fork(b);
    uint64_t deadline = dpt__sat_add(dpt__export_mono_ms(), timeout_ms);
    uint64_t hard = dpt__sat_add(deadline, CANCEL_GRACE_MS); /* every wait below ends by it */
    uint64_t lost_before = atomic_load(&b->st_failed) + atomic_load(&b->st_dropped);
    atomic_store(&b->stop_deadline_ms, deadline);
    pthread_mutex_lock(&b->mu);
    if (!b->thread_started) {
        pthread_mutex_unlock(&b->mu);
        pthread_mutex_lock(&b->cons);
        drain(b, true, false);
        pthread_mutex_unlock(&b->cons);
        if (b->exp->ops.shutdown) b->exp->ops.shutdown(b->exp->state, timeout_ms);
        pthread_mutex_lock(&b->mu);
        b->finished = true; /* no thread will look at the queue again */
        settle_late(b);
        pthread_mutex_unlock(&b->mu);
        return DPT_OK;
    }
    b->stop = true;
    pthread_cond_signal(&b->wake);
    if (pthread_equal(pthread_self(), b->thread)) {
        /* Called from inside the exporter (the export thread itself): it cannot wait for
         * itself. The loop sees `stop`, exports what is queued and ends; destroy joins. */
        pthread_mutex_unlock(&b->mu);
        return DPT_OK;
    }
    dpt_err e = DPT_OK;
    bool cancelled = false;
    if (!wait_finished(b, deadline)) {
        /* Time is up with an export still running (a stalled collector, a backoff wait):
         * the exporter cancels it; the export thread then fails the rest of the queue at
         * once (its deadline has passed) and ends. */
        pthread_mutex_unlock(&b->mu);
        if (b->exp->ops.shutdown) b->exp->ops.shutdown(b->exp->state, 0);
        cancelled = true;
        pthread_mutex_lock(&b->mu);
        wait_finished(b, hard);
        /* Done in time, all counted, but not all delivered: not a hang (DPT_ETIMEDOUT
         * would tell the provider to keep its memory for a thread that still runs). */
        e = DPT_EEXPORT;
    }
    if (b->finished) {
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
        b->thread_started = false;
        /* Requests still in flight get what is left of the deadline (the exporter's
         * force_flush waits for them), then the exporter's shutdown cancels the rest. */
        uint64_t now = dpt__export_mono_ms();
        if (b->exp->ops.force_flush && now < deadline)
            b->exp->ops.force_flush(b->exp->state, (uint32_t)(deadline - now));
        pthread_mutex_lock(&b->mu);
        if (b->in_flight) {
            cancelled = true; /* what the shutdown below cancels is not delivered */
            if (e == DPT_OK) e = DPT_EEXPORT;
        }
        pthread_mutex_unlock(&b->mu);
        if (b->exp->ops.shutdown) {
            now = dpt__export_mono_ms();
            dpt_err se =
                b->exp->ops.shutdown(b->exp->state, now < hard ? (uint32_t)(hard - now) : 0);
            if (e == DPT_OK && se != DPT_OK) e = DPT_EEXPORT;
        }
        pthread_mutex_lock(&b->mu);
        if (b->in_flight) {
            /* A completion can trail the exporter's own shutdown by a turn of its loop. */
            struct timespec ts;
            ms_to_ts(&ts, hard);
            while (b->in_flight)
                if (pthread_cond_timedwait(&b->done, &b->mu, &ts) == ETIMEDOUT) break;
        }
    }
    if (!b->finished || b->in_flight) {
        /* The exporter hangs and ignores cancellation. Give up on it: every span without
         * an outcome yet (in its hands or still queued) is counted as failed, here and only
         * here (account() counts nothing once abandoned is set, under the same lock). */
        atomic_store(&b->abandoned, true);
        uint64_t lost = dpt__queue_pushed(b->hot.q) - b->settled;
        count(b, DPT__C_EXPORT_FAILED, lost);
        b->settled += lost;
        bool detach = !b->finished;
        pthread_mutex_unlock(&b->mu);
        dpt__log(DPT_LOG_ERROR,
                 "batch processor shutdown timed out after %u ms: the exporter did not return; "
                 "%llu spans not exported",
                 timeout_ms,
                 (unsigned long long)(atomic_load(&b->st_failed) + atomic_load(&b->st_dropped) -
                                      lost_before));
        if (detach) {
            pthread_detach(b->thread);
            b->thread_started = false; /* detached: never joined */
        }
        return DPT_ETIMEDOUT;
    }
    settle_late(b);
    pthread_mutex_unlock(&b->mu);
    uint64_t lost = atomic_load(&b->st_failed) + atomic_load(&b->st_dropped) - lost_before;
    if (lost)
        dpt__log(cancelled ? DPT_LOG_ERROR : DPT_LOG_WARN,
                 "batch processor shutdown%s: %llu spans not exported",
                 cancelled ? " reached its deadline" : "", (unsigned long long)lost);
    return e;
}

static void batch_destroy(void *st)
{
    batch *b = st;
    if (!atomic_load(&b->hot.shut)) batch_shutdown(b, 5000);
    pthread_mutex_lock(&b->mu);
    bool hung = atomic_load(&b->abandoned);
    pthread_mutex_unlock(&b->mu);
    if (hung) {
        /* The detached thread may still run inside the exporter (or be leaving it):
         * freeing would pull memory from under it. Keep this processor deliberately
         * (logged), reachable from the graveyard. */
        dpt__log(DPT_LOG_ERROR, "batch processor destroyed while its exporter hangs: kept");
        pipe_unregister(b);
        dpt__graveyard_add(b);
        return;
    }
    if (b->thread_started && !pthread_equal(pthread_self(), b->thread)) {
        /* Shut down from inside the exporter: the thread is finishing on its own. */
        pthread_join(b->thread, NULL);
        b->thread_started = false;
    }
    /* Spans a producer pushed while shutdown raced with it: counted (once), then freed. */
    pthread_mutex_lock(&b->mu);
    b->finished = true; /* joined, or never started */
    settle_late(b);
    pthread_mutex_unlock(&b->mu);
    dpt__queue_free(b->hot.q);
    pipe_unregister(b);
    dpt_exporter_free(b->exp);
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->cons);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->done);
    free(b->items);
    free(b);
}

dpt_processor *dpt_processor_batch(dpt_exporter *e, const dpt_batch_config *cfg)
{
    if (!e) return NULL;
    pthread_once(&fork_once, install_fork_handler);
    batch *b = dpt__calloc(1, sizeof *b);
    if (!b) goto fail;
    if (cfg)
        b->cfg = *cfg;
    else
        dpt_batch_config_default(&b->cfg);
    dpt_batch_config def;
    dpt_batch_config_default(&def);
    if (!b->cfg.max_queue_size) b->cfg.max_queue_size = def.max_queue_size;
    if (b->cfg.max_queue_size > (1u << 24)) {
        dpt__log(DPT_LOG_WARN, "batch processor: max_queue_size %u is over the limit; using %u",
                 b->cfg.max_queue_size, 1u << 24);
        b->cfg.max_queue_size = 1u << 24;
    }
    if (!b->cfg.max_export_batch_size) b->cfg.max_export_batch_size = def.max_export_batch_size;
    if (b->cfg.max_export_batch_size > b->cfg.max_queue_size)
        b->cfg.max_export_batch_size = b->cfg.max_queue_size;
    if (!b->cfg.schedule_delay_ms) b->cfg.schedule_delay_ms = 1;
    if (!b->cfg.export_timeout_ms) b->cfg.export_timeout_ms = def.export_timeout_ms;
    b->hot.q =
        dpt__queue_new(b->cfg.max_queue_size, b->cfg.max_queue_bytes, b->cfg.max_export_batch_size);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers; the element is one */
    b->items = dpt__calloc(b->cfg.max_export_batch_size, sizeof(*b->items));
    if (!b->hot.q || !b->items) goto fail_b;
    b->exp = e;
    b->sched_batch = dpt__background_prepare(); /* the environment, read here (common.h) */
    b->producers_export = e->nonblocking;
    if (b->producers_export && HELP_PART < b->cfg.max_export_batch_size)
        dpt__queue_set_part(b->hot.q, HELP_PART);
    atomic_init(&b->stop_deadline_ms, UINT64_MAX);
    b->fail_rl.burst = 1; /* the exporter says why; this line only says how many */
    b->seq = atomic_fetch_add(&batch_seq, 1);
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->cons, NULL);
    if (!start_thread(b)) {
        pthread_mutex_destroy(&b->mu);
        pthread_mutex_destroy(&b->cons);
        goto fail_b;
    }
    static const dpt_processor_ops ops = {NULL, dpt__batch_on_end, batch_flush, batch_shutdown,
                                          batch_destroy};
    return dpt_processor_new(&ops, b);
fail_b:
    dpt__queue_free(b->hot.q);
    free(b->items);
    free(b);
fail:
    dpt_exporter_free(e);
    return NULL;
}
