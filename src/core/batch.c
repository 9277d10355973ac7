/* batch.c - the batch span processor: a bounded lock-free queue and one export thread.
 *
 * Ending a span enqueues its record on a bounded MPSC ring (Vyukov's bounded queue: one
 * CAS per enqueue, per-cell sequence numbers, no lock). A full queue drops the span and
 * counts it; the application thread never blocks and never waits for the exporter.
 * An enqueue that makes a full batch wakes the export thread if it sleeps; otherwise it
 * wakes on its schedule. The wake-up uses a Dekker pair (the consumer publishes `sleeping`
 * then re-reads the queue; a producer publishes its item then reads `sleeping`, both
 * sequentially consistent) so a wake-up is never lost. The export thread exports from a
 * preallocated batch array and recycles the records: no allocation per span.
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
 */
#include "pool.h"
#include "processor.h"
#include "counters.h"
#include "context.h"
#include "export_async.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

typedef struct cell {
    _Atomic uint64_t seq;
    dpt__span *span;
} cell;

typedef struct batch {
    dpt_batch_config cfg;
    dpt_exporter *exp;
    dpt_provider *prov;         /* set on first on_end */
    cell *ring;
    uint64_t mask;
    _Alignas(DPT__CACHELINE) _Atomic uint64_t enq_pos;  /* producers */
    _Alignas(DPT__CACHELINE) _Atomic uint64_t deq_pos;  /* written by the consumer only */
    _Atomic bool sleeping;
    _Alignas(DPT__CACHELINE) pthread_mutex_t mu;        /* guards the fields below + cvs */
    pthread_cond_t wake;        /* consumer waits here */
    pthread_cond_t done;        /* flushers and shutdown wait here */
    bool stop;
    bool finished;              /* the thread has exited its loop */
    _Atomic bool abandoned;     /* shutdown gave up waiting for a hung exporter */
    bool thread_started;
    uint64_t flush_target;      /* highest enq_pos a flusher waits for */
    uint64_t flush_req;         /* force_flush calls so far */
    uint64_t flush_ack;         /* the last of them fully served (exported + exporter flushed) */
    uint64_t done_pos;          /* every span below this was exported or dropped */
    uint64_t fork_gen;
    pthread_t thread;
    const dpt_span_data **items; /* the batch being exported (max_export_batch_size) */
    _Atomic bool shut;

    /* ---- export-side accounting (not touched by on_end except to count a drop) ---- */
    uint64_t settled;            /* pushed spans whose outcome is counted (mu) */
    uint64_t in_flight;          /* spans handed to an exporter, outcome not known (mu) */
    _Atomic uint64_t stop_deadline_ms; /* shutdown's deadline; UINT64_MAX before it */
    dpt__ratelimit fail_rl;      /* "batch export failed" lines */
    _Atomic uint64_t st_exported, st_failed, st_dropped; /* this pipeline's counts */
    uint64_t seq;                /* creation order: the first pipeline is the primary */
    const dpt_provider *reg;     /* the provider this pipeline is registered with (reg_mu) */
    _Atomic bool registered;     /* reg is set: the counting paths' unlocked check */
    struct batch *reg_next;
} batch;

static _Atomic uint64_t fork_generation;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { atomic_fetch_add(&fork_generation, 1); }
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, on_fork_child); }

void dpt_batch_config_default(dpt_batch_config *c)
{
    if (!c) return;
    c->max_queue_size = 2048;
    c->max_export_batch_size = 512;
    c->schedule_delay_ms = 5000;
    c->export_timeout_ms = 30000;
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

/* ---- the ring --------------------------------------------------------------------------- */

static bool ring_push(batch *b, dpt__span *s, uint64_t *pos_out)
{
    uint64_t pos = atomic_load_explicit(&b->enq_pos, memory_order_relaxed);
    for (;;) {
        cell *c = &b->ring[pos & b->mask];
        /* Acquire: pairs with the consumer's release when it freed this cell. */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            /* seq_cst: this RMW is the producer half of the Dekker pair with `sleeping`. */
            if (atomic_compare_exchange_weak_explicit(&b->enq_pos, &pos, pos + 1,
                                                      memory_order_seq_cst, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false; /* full */
        } else {
            pos = atomic_load_explicit(&b->enq_pos, memory_order_relaxed);
        }
    }
    cell *c = &b->ring[pos & b->mask];
    c->span = s;
    /* Release: the consumer that sees seq == pos + 1 sees span and the record's content. */
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    *pos_out = pos;
    return true;
}

static dpt__span *ring_pop(batch *b)
{
    uint64_t pos = atomic_load_explicit(&b->deq_pos, memory_order_relaxed);
    cell *c = &b->ring[pos & b->mask];
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire); /* pairs with push */
    if ((int64_t)(seq - (pos + 1)) < 0) return NULL;
    dpt__span *s = c->span;
    /* Release: hands the cell back to producers for the next lap. */
    atomic_store_explicit(&c->seq, pos + b->mask + 1, memory_order_release);
    atomic_store_explicit(&b->deq_pos, pos + 1, memory_order_release);
    return s;
}

/* Whether a full batch is published, read from the batch's last cell: that line is written
 * once by the producer that fills it, so polling it does not fight the producers for the
 * enqueue counter. */
static bool batch_ready(batch *b)
{
    uint64_t last = atomic_load_explicit(&b->deq_pos, memory_order_relaxed) + b->cfg.max_export_batch_size - 1;
    uint64_t seq = atomic_load_explicit(&b->ring[last & b->mask].seq, memory_order_acquire);
    return seq == last + 1;
}

static uint64_t ring_size(batch *b)
{
    return atomic_load(&b->enq_pos) - atomic_load_explicit(&b->deq_pos, memory_order_relaxed);
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

void dpt__pipelines_stats(const dpt_provider *p, dpt_stats *out)
{
    size_t n = 0;
    uint64_t last = 0;
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
    if (DPT__UNLIKELY(!atomic_load_explicit(&b->registered, memory_order_acquire))) pipe_register(b, p);
    atomic_fetch_add_explicit(&b->st_dropped, n, memory_order_relaxed);
}

static void count(batch *b, int c, uint64_t n)
{
    if (!n) return;
    if (DPT__UNLIKELY(!atomic_load_explicit(&b->registered, memory_order_acquire))) pipe_register(b, b->prov);
    if (c == DPT__C_EXPORTED) atomic_fetch_add_explicit(&b->st_exported, n, memory_order_relaxed);
    else if (c == DPT__C_EXPORT_FAILED) atomic_fetch_add_explicit(&b->st_failed, n, memory_order_relaxed);
    else atomic_fetch_add_explicit(&b->st_dropped, n, memory_order_relaxed);
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
    dpt_err e = b->exp->ops.export_spans(b->exp->state, b->items, n);
    tl_export_ctx = NULL;
    if (e != DPT__EXPORT_PENDING) account(b, n, e);
}

/* Exports everything queued now, in batches. Returns the number of spans handled. Once
 * shutdown abandoned this processor (a hung exporter), spans are only released: they were
 * counted as failed then, and the provider (tracers, counters) may be gone, so nothing
 * here may touch it any more. */
static size_t drain(batch *b, bool export_them)
{
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        while (n < b->cfg.max_export_batch_size) {
            dpt__span *s = ring_pop(b);
            if (!s) break;
            b->items[n++] = &s->d;
        }
        if (!n) break;
        total += n;
        bool abandoned = atomic_load(&b->abandoned);
        if (!abandoned && !b->prov) b->prov = b->items[0]->tracer->provider;
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
        for (size_t i = 0; i < n; i++) dpt__span_release_deferred((dpt__span *)b->items[i]);
        if (n < b->cfg.max_export_batch_size) break;
    }
    return total;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* Under sustained load, waiting a little for the next full batch is cheaper than going
 * to sleep: a sleeping thread on a virtual machine can take 100 us or more to wake, and a
 * producer at 5 M spans/s fills a 2048-span queue in 400 us. */
#define SPIN_US 200

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *export_thread(void *arg)
{
    batch *b = arg;
    bool busy = false;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        struct timespec deadline;
        abs_deadline(&deadline, b->cfg.schedule_delay_ms);
        while (!busy && !b->stop && b->flush_ack >= b->flush_req) {
            /* Dekker: publish that we sleep, then look at the queue once more. */
            atomic_store_explicit(&b->sleeping, true, memory_order_seq_cst);
            if (ring_size(b) >= b->cfg.max_export_batch_size || ts_passed(&deadline)) break;
            dpt__span_release_deferred_flush(); /* no record waits here while we sleep */
            int rc = pthread_cond_timedwait(&b->wake, &b->mu, &deadline);
            if (rc == ETIMEDOUT) break;
        }
        atomic_store_explicit(&b->sleeping, false, memory_order_relaxed);
        bool stop = b->stop;
        uint64_t target = b->flush_target;
        uint64_t req = b->flush_req;
        bool flush_pending = b->flush_ack < req;
        pthread_mutex_unlock(&b->mu);

        size_t handled = drain(b, true);
        bool served = false;
        if (flush_pending) {
            if (target > atomic_load(&b->deq_pos)) {
                /* A producer reserved a slot below the flush target but has not published
                 * it yet; it will within nanoseconds. */
                sched_yield();
            } else {
                /* Everything ended before the flush calls is exported: flush the exporter,
                 * once for all the calls waiting. */
                if (b->exp->ops.force_flush) b->exp->ops.force_flush(b->exp->state, b->cfg.export_timeout_ms);
                served = true;
            }
        }

        busy = false;
        if (!stop && handled >= b->cfg.max_export_batch_size) {
            /* pause, not sched_yield: yielding to a busy core's other tasks can cost a
             * whole scheduler slice, far longer than the queue takes to fill */
            uint64_t until = mono_us() + SPIN_US;
            while (!batch_ready(b) && mono_us() < until) cpu_relax();
            busy = batch_ready(b);
        }

        pthread_mutex_lock(&b->mu);
        b->done_pos = atomic_load(&b->deq_pos);
        if (served && req > b->flush_ack) b->flush_ack = req;
        pthread_cond_broadcast(&b->done);
        if (stop && ring_size(b) == 0) break;
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
    b->fork_gen = atomic_load(&fork_generation);
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
 * ring is rebuilt from scratch: a producer thread of the parent may have reserved a slot
 * and not yet published it when fork() happened, and that thread does not exist here, so
 * the slot would block the queue forever. */
static void after_fork(batch *b)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_lock(&b->mu);
    if (b->fork_gen != atomic_load(&fork_generation)) {
        uint64_t deq = atomic_load(&b->deq_pos), enq = atomic_load(&b->enq_pos);
        uint64_t dropped = 0;
        for (uint64_t pos = deq; pos < enq; pos++) {
            cell *c = &b->ring[pos & b->mask];
            if (atomic_load(&c->seq) == pos + 1) dpt_span_data_release(&c->span->d);
            dropped++;
        }
        count(b, DPT__C_DROPPED_QUEUE, dropped);
        b->settled = 0;
        b->in_flight = 0; /* the parent's exporter reports those */
        for (uint64_t i = 0; i <= b->mask; i++) atomic_store(&b->ring[i].seq, i);
        atomic_store(&b->enq_pos, 0);
        atomic_store(&b->deq_pos, 0);
        b->flush_target = b->done_pos = 0;
        b->flush_ack = b->flush_req;
        atomic_store(&b->sleeping, false);
        if (!b->stop && !atomic_load(&b->shut)) start_thread(b);
        else b->fork_gen = atomic_load(&fork_generation);
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- processor interface ------------------------------------------------------------- */

static void batch_on_end(void *st, const dpt_span_data *d)
{
    batch *b = st;
    if (!(d->ctx.flags & DPT_FLAG_SAMPLED)) return;
    dpt_provider *p = d->tracer->provider;
    if (DPT__UNLIKELY(b->fork_gen != atomic_load_explicit(&fork_generation, memory_order_relaxed)))
        after_fork(b);
    if (DPT__UNLIKELY(atomic_load_explicit(&b->shut, memory_order_relaxed))) {
        count_dropped(b, p, 1);
        return;
    }
    dpt_span_data_retain(d);
    uint64_t pos;
    if (DPT__UNLIKELY(!ring_push(b, (dpt__span *)d, &pos))) {
        dpt_span_data_release(d);
        count_dropped(b, p, 1);
        return;
    }
    /* A full batch wakes the exporter if it sleeps. `sleeping` is read first (seq_cst: the
     * producer half of the Dekker pair in export_thread); only then is the consumer's
     * position read, so producers do not pull its cache line while it drains. */
    if (DPT__UNLIKELY(atomic_load_explicit(&b->sleeping, memory_order_seq_cst)) &&
        pos + 1 - atomic_load_explicit(&b->deq_pos, memory_order_relaxed) >= b->cfg.max_export_batch_size) {
        pthread_mutex_lock(&b->mu);
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->mu);
    }
}

static dpt_err batch_flush(void *st, uint32_t timeout_ms)
{
    batch *b = st;
    if (b->fork_gen != atomic_load(&fork_generation)) after_fork(b);
    pthread_mutex_lock(&b->mu);
    if (!b->thread_started || b->finished) {
        pthread_mutex_unlock(&b->mu);
        return DPT_ESTATE;
    }
    uint64_t target = atomic_load(&b->enq_pos);
    if (target > b->flush_target) b->flush_target = target;
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
    if (!atomic_compare_exchange_strong(&b->shut, &expected, true)) return DPT_ESTATE;
    if (b->fork_gen != atomic_load(&fork_generation)) after_fork(b);
    uint64_t deadline = dpt__sat_add(dpt__export_mono_ms(), timeout_ms);
    uint64_t hard = dpt__sat_add(deadline, CANCEL_GRACE_MS); /* every wait below ends by it */
    uint64_t lost_before = atomic_load(&b->st_failed) + atomic_load(&b->st_dropped);
    atomic_store(&b->stop_deadline_ms, deadline);
    pthread_mutex_lock(&b->mu);
    if (!b->thread_started) {
        pthread_mutex_unlock(&b->mu);
        drain(b, true);
        if (b->exp->ops.shutdown) b->exp->ops.shutdown(b->exp->state, timeout_ms);
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
            dpt_err se = b->exp->ops.shutdown(b->exp->state, now < hard ? (uint32_t)(hard - now) : 0);
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
        uint64_t lost = atomic_load(&b->enq_pos) - b->settled;
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
    if (!atomic_load(&b->shut)) batch_shutdown(b, 5000);
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
    /* Spans a producer pushed while shutdown raced with it: counted, not lost silently. */
    dpt__span *s;
    while ((s = ring_pop(b))) {
        count_dropped(b, s->tracer->provider, 1);
        dpt_span_data_release(&s->d);
    }
    pipe_unregister(b);
    dpt_exporter_free(b->exp);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->done);
    free(b->items);
    free(b->ring);
    free(b);
}

dpt_processor *dpt_processor_batch(dpt_exporter *e, const dpt_batch_config *cfg)
{
    if (!e) return NULL;
    pthread_once(&fork_once, install_fork_handler);
    batch *b = dpt__calloc(1, sizeof *b);
    if (!b) goto fail;
    if (cfg) b->cfg = *cfg;
    else dpt_batch_config_default(&b->cfg);
    dpt_batch_config def;
    dpt_batch_config_default(&def);
    if (!b->cfg.max_queue_size) b->cfg.max_queue_size = def.max_queue_size;
    if (b->cfg.max_queue_size > (1u << 24)) b->cfg.max_queue_size = 1u << 24;
    if (!b->cfg.max_export_batch_size) b->cfg.max_export_batch_size = def.max_export_batch_size;
    if (b->cfg.max_export_batch_size > b->cfg.max_queue_size)
        b->cfg.max_export_batch_size = b->cfg.max_queue_size;
    if (!b->cfg.schedule_delay_ms) b->cfg.schedule_delay_ms = 1;
    if (!b->cfg.export_timeout_ms) b->cfg.export_timeout_ms = def.export_timeout_ms;
    uint64_t cap = 1;
    while (cap < b->cfg.max_queue_size) cap <<= 1; /* the ring needs a power of two */
    b->mask = cap - 1;
    b->ring = dpt__calloc(cap, sizeof(cell));
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers; the element is one */
    b->items = dpt__calloc(b->cfg.max_export_batch_size, sizeof(*b->items));
    if (!b->ring || !b->items) goto fail_b;
    for (uint64_t i = 0; i < cap; i++) atomic_init(&b->ring[i].seq, i);
    b->exp = e;
    atomic_init(&b->stop_deadline_ms, UINT64_MAX);
    b->fail_rl.burst = 1; /* the exporter says why; this line only says how many */
    b->seq = atomic_fetch_add(&batch_seq, 1);
    pthread_mutex_init(&b->mu, NULL);
    if (!start_thread(b)) {
        pthread_mutex_destroy(&b->mu);
        goto fail_b;
    }
    static const dpt_processor_ops ops = { NULL, batch_on_end, batch_flush, batch_shutdown, batch_destroy };
    return dpt_processor_new(&ops, b);
fail_b:
    free(b->ring);
    free(b->items);
    free(b);
fail:
    dpt_exporter_free(e);
    return NULL;
}
