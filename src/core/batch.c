/* batch.c - the batch span processor: per-thread hand-off lanes and one export thread.
 *
 * Ending a span hands its record to the queue (queue.c): a lane of the ending thread, so
 * producers share no cache line, no lock and no locked instruction; a full lane stages
 * the span compactly within the byte budget, and only a span beyond the budget is dropped
 * (and counted). The application thread never blocks and never waits for the exporter.
 * The export thread sleeps until a lane holds a full batch (the producer that sees it
 * wakes the thread: a Dekker pair on `sleeping`, so no wake-up is lost) or the schedule
 * delay passes; while spans keep coming it looks again every 25 us - 2 ms instead of being
 * woken, so that producers do not pay a wake-up per batch. It exports from a preallocated
 * batch array and gives the records back: no allocation per span.
 *
 * fork(): the child inherits a copy of the queue but no thread. A global fork generation,
 * bumped in the child, makes the next on_end in the child discard the inherited spans
 * (the parent exports them) and start a fresh thread.
 */
#include "pool.h"
#include "processor.h"
#include "provider.h"
#include "counters.h"
#include "context.h"
#include "queue.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

typedef struct batch {
    dpt_batch_config cfg;
    dpt_exporter *exp;
    dpt_provider *prov; /* set on first on_end */
    dpt__queue *q;
    _Alignas(DPT__CACHELINE) _Atomic bool sleeping; /* read by producers at a full batch */
    _Alignas(DPT__CACHELINE) pthread_mutex_t mu;    /* guards the fields below + cvs */
    pthread_cond_t wake;                            /* consumer waits here */
    pthread_cond_t done;                            /* flushers and shutdown wait here */
    bool stop;
    bool finished;          /* the thread has exited its loop */
    _Atomic bool abandoned; /* shutdown gave up waiting for a hung exporter */
    bool thread_started;
    uint64_t flush_req; /* force_flush calls so far */
    uint64_t flush_ack; /* the last of them fully served (exported + exporter flushed) */
    uint64_t taken;     /* spans the export thread took from the queue */
    uint64_t done_pos;  /* spans taken whose outcome is counted */
    uint64_t fork_gen;
    pthread_t thread;
    const dpt_span_data **items; /* the batch being exported (max_export_batch_size) */
    dpt__qpop pop;
    _Atomic bool shut;
    _Atomic uint32_t test_hold; /* test hook: the export thread does not export while set */
} batch;

static _Atomic uint64_t fork_generation;
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

static void count(batch *b, int c, uint64_t n)
{
    if (n) dpt__count(b->prov, c, n);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exports everything queued now, in batches. Returns the number of spans handled. Once
 * shutdown abandoned this processor (a hung exporter), spans are only released: they were
 * counted as failed then, and the provider (tracers, counters) may be gone, so nothing
 * here may touch it any more. */
static size_t drain(batch *b, bool export_them)
{
    size_t total = 0;
    b->pop.items = b->items;
    for (;;) {
        size_t n = dpt__queue_pop(b->q, &b->pop, b->cfg.max_export_batch_size);
        bool abandoned = atomic_load(&b->abandoned);
        if (b->pop.lost && !abandoned) count(b, DPT__C_DROPPED_QUEUE, b->pop.lost);
        if (!n) break;
        total += n;
        pthread_mutex_lock(&b->mu);
        b->taken += n;
        pthread_mutex_unlock(&b->mu);
        if (!abandoned && !b->prov) b->prov = b->items[0]->tracer->provider;
        if (abandoned) {
            /* nothing: already counted */
        } else if (export_them) {
            uint64_t t0 = mono_ns();
            dpt_err e = b->exp->ops.export_spans(b->exp->state, b->items, n);
            dpt__queue_export_rate(b->q, n, mono_ns() - t0);
            /* Re-read: shutdown may have given up on us while we were in the exporter. */
            if (!atomic_load(&b->abandoned))
                count(b, e == DPT_OK ? DPT__C_EXPORTED : DPT__C_EXPORT_FAILED, n);
            if (e != DPT_OK)
                dpt__log(DPT_LOG_WARN, "batch export of %zu spans failed: %s", n, dpt_strerror(e));
        } else {
            count(b, DPT__C_DROPPED_QUEUE, n);
        }
        dpt__queue_done(b->q, &b->pop);
        pthread_mutex_lock(&b->mu);
        b->done_pos += n;
        pthread_mutex_unlock(&b->mu);
        if (n < b->cfg.max_export_batch_size) break;
    }
    return total;
}

/* While spans keep coming, the export thread looks at the queue again after a nap instead
 * of sleeping until a producer wakes it: a wake-up costs the producer a system call per
 * batch, a nap costs the export thread a timer. The nap adapts between these bounds:
 * shorter while each look finds several batches, longer when it finds less than one; past
 * the longest the thread goes back to sleeping until woken. */
#define NAP_MIN_NS 25000ull
#define NAP_FIRST_NS 100000ull
#define NAP_MAX_NS 2000000ull

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

static void *export_thread(void *arg)
{
    batch *b = arg;
    uint64_t nap_ns = 0; /* 0: sleep until woken or the schedule delay */
    /* Naps of tens of microseconds: the default 50 us timer slack would double them. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        struct timespec deadline;
        abs_deadline(&deadline, b->cfg.schedule_delay_ms);
        bool timed_out = false;
        while (!b->stop && b->flush_ack >= b->flush_req) {
            if (dpt__queue_pending(b->q) >= b->cfg.max_export_batch_size) break;
            if (ts_passed(&deadline)) {
                timed_out = true;
                break;
            }
            if (nap_ns) {
                pthread_mutex_unlock(&b->mu);
                nap(nap_ns);
                pthread_mutex_lock(&b->mu);
                if (dpt__queue_pending(b->q) >= b->cfg.max_export_batch_size) break;
                nap_ns *= 2; /* less than a batch came: look less often */
                if (nap_ns > NAP_MAX_NS) nap_ns = 0;
                continue;
            }
            /* Dekker: publish that we sleep, then look at the queue once more. */
            atomic_store_explicit(&b->sleeping, true, memory_order_seq_cst);
            if (dpt__queue_pending(b->q) >= b->cfg.max_export_batch_size) break;
            dpt__queue_tidy(b->q); /* retire the lanes of exited threads */
            int rc = pthread_cond_timedwait(&b->wake, &b->mu, &deadline);
            if (rc == ETIMEDOUT) {
                timed_out = true;
                break;
            }
        }
        atomic_store_explicit(&b->sleeping, false, memory_order_relaxed);
        wait_hold(b);
        bool stop = b->stop;
        uint64_t req = b->flush_req;
        bool flush_pending = b->flush_ack < req;
        pthread_mutex_unlock(&b->mu);

        /* Everything published before the flush request (or the stop) is exported by this
         * drain: a lane publishes a span with one release store before its end returns. */
        size_t handled = drain(b, true);
        (void)timed_out;
        if (flush_pending && b->exp->ops.force_flush) /* once for all the calls waiting */
            b->exp->ops.force_flush(b->exp->state, b->cfg.export_timeout_ms);
        if (handled >= b->cfg.max_export_batch_size) {
            if (!nap_ns)
                nap_ns = NAP_FIRST_NS;
            else if (handled >= 4u * b->cfg.max_export_batch_size && nap_ns / 2 >= NAP_MIN_NS)
                nap_ns /= 2;
        }
        dpt__queue_tidy(b->q);

        pthread_mutex_lock(&b->mu);
        if (flush_pending && req > b->flush_ack) b->flush_ack = req;
        pthread_cond_broadcast(&b->done);
        if (stop && dpt__queue_pending(b->q) == 0) break;
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
 * lanes are dropped: their producers are threads of the parent, which do not exist here. */
static void after_fork(batch *b)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_lock(&b->mu);
    if (b->fork_gen != atomic_load(&fork_generation)) {
        count(b, DPT__C_DROPPED_QUEUE, dpt__queue_after_fork(b->q));
        b->taken = b->done_pos = 0;
        b->flush_ack = b->flush_req;
        atomic_store(&b->sleeping, false);
        if (!b->stop && !atomic_load(&b->shut))
            start_thread(b);
        else
            b->fork_gen = atomic_load(&fork_generation);
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

/* Queues a sampled record, taking over one reference of the caller. */
static bool take(batch *b, dpt__span *s)
{
    dpt_provider *p = s->tracer->provider;
    if (DPT__UNLIKELY(b->fork_gen != atomic_load_explicit(&fork_generation, memory_order_relaxed)))
        after_fork(b);
    if (DPT__UNLIKELY(atomic_load_explicit(&b->shut, memory_order_relaxed))) {
        dpt__count(p, DPT__C_DROPPED_QUEUE, 1);
        return false;
    }
    int r = dpt__queue_push(b->q, s);
    if (DPT__LIKELY(r == DPT__Q_QUEUED)) return true;
    if (r == DPT__Q_WAKE) {
        wake_if_sleeping(b);
        return true;
    }
    dpt__count(p, DPT__C_DROPPED_QUEUE, 1);
    return false;
}

bool dpt__batch_take(void *st, dpt__span *s)
{
    if (!(s->d.ctx.flags & DPT_FLAG_SAMPLED)) return false;
    return take(st, s);
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
    if (b->fork_gen != atomic_load(&fork_generation)) after_fork(b);
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

static dpt_err batch_shutdown(void *st, uint32_t timeout_ms)
{
    batch *b = st;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&b->shut, &expected, true)) return DPT_ESTATE;
    if (b->fork_gen != atomic_load(&fork_generation)) after_fork(b);
    pthread_mutex_lock(&b->mu);
    if (!b->thread_started) {
        pthread_mutex_unlock(&b->mu);
        drain(b, true);
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
    struct timespec deadline;
    abs_deadline(&deadline, timeout_ms);
    dpt_err e = DPT_OK;
    while (!b->finished) {
        if (pthread_cond_timedwait(&b->done, &b->mu, &deadline) == ETIMEDOUT) {
            e = DPT_ETIMEDOUT;
            break;
        }
    }
    if (e == DPT_ETIMEDOUT) {
        /* The exporter hangs. Give up on it: count the batch in its hands and what is
         * still queued as failed, and leave the thread to finish on its own. */
        atomic_store(&b->abandoned, true);
        uint64_t lost = dpt__queue_pushed(b->q) - b->done_pos;
        count(b, DPT__C_EXPORT_FAILED, lost);
        dpt__log(DPT_LOG_ERROR,
                 "batch processor shutdown timed out after %u ms: %llu spans not exported",
                 timeout_ms, (unsigned long long)lost);
        pthread_mutex_unlock(&b->mu);
        pthread_detach(b->thread);
        b->thread_started = false; /* detached: never joined */
        return e;
    }
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->thread_started = false;
    if (b->exp->ops.shutdown) e = b->exp->ops.shutdown(b->exp->state, timeout_ms);
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
        dpt__graveyard_add(b);
        return;
    }
    if (b->thread_started && !pthread_equal(pthread_self(), b->thread)) {
        /* Shut down from inside the exporter: the thread is finishing on its own. */
        pthread_join(b->thread, NULL);
        b->thread_started = false;
    }
    /* Spans a producer pushed while shutdown raced with it: counted, not lost silently. */
    uint64_t left = dpt__queue_free(b->q);
    if (left && b->prov) dpt__count(b->prov, DPT__C_DROPPED_QUEUE, left);
    dpt_exporter_free(b->exp);
    pthread_mutex_destroy(&b->mu);
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
    if (b->cfg.max_queue_size > (1u << 24)) b->cfg.max_queue_size = 1u << 24;
    if (!b->cfg.max_export_batch_size) b->cfg.max_export_batch_size = def.max_export_batch_size;
    if (b->cfg.max_export_batch_size > b->cfg.max_queue_size)
        b->cfg.max_export_batch_size = b->cfg.max_queue_size;
    if (!b->cfg.schedule_delay_ms) b->cfg.schedule_delay_ms = 1;
    if (!b->cfg.export_timeout_ms) b->cfg.export_timeout_ms = def.export_timeout_ms;
    b->q =
        dpt__queue_new(b->cfg.max_queue_size, b->cfg.max_queue_bytes, b->cfg.max_export_batch_size);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers; the element is one */
    b->items = dpt__calloc(b->cfg.max_export_batch_size, sizeof(*b->items));
    if (!b->q || !b->items) goto fail_b;
    b->exp = e;
    pthread_mutex_init(&b->mu, NULL);
    if (!start_thread(b)) {
        pthread_mutex_destroy(&b->mu);
        goto fail_b;
    }
    static const dpt_processor_ops ops = {NULL, dpt__batch_on_end, batch_flush, batch_shutdown,
                                          batch_destroy};
    return dpt_processor_new(&ops, b);
fail_b:
    dpt__queue_free(b->q);
    free(b->items);
    free(b);
fail:
    dpt_exporter_free(e);
    return NULL;
}
