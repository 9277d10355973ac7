/* task.c - dpt_task: a logical task with its own context stack, entered on any thread.
 *
 * Entering swaps the thread's context-stack pointer (context.c keeps it in one
 * thread-local) for the task's, after one compare-and-swap on a word that holds both the
 * entering thread's tag and the reference count: that CAS is what refuses a second
 * concurrent enter, and the leave's fetch_sub both releases ownership and drops the
 * reference. A task ends (owned spans ended and flagged, stack emptied) on dpt_task_end
 * or when its last reference goes, so a task that is simply dropped cannot leak.
 */
#include "async_internal.h"

#include <stdlib.h>

/* Source of thread tags. Global, shared by all threads: only ever fetch_add'ed. */
static _Atomic uint32_t next_tag = 1;
static DPT__TLS uint32_t tl_tag;   /* this thread's tag, 0 until first use */
static DPT__TLS dpt_task *tl_task; /* innermost task entered on this thread */
/* Tasks alive in the process (a test hook for leak assertions). Relaxed: a statistic. */
static _Atomic uint64_t live_tasks;

uint32_t dpt__thread_tag(void)
{
    if (DPT__UNLIKELY(tl_tag == 0)) {
        uint32_t t;
        do
            t = atomic_fetch_add_explicit(&next_tag, 1, memory_order_relaxed);
        while (t == 0); /* skip 0 after 2^32 threads: it means "entered nowhere" */
        tl_tag = t;
    }
    return tl_tag;
}

uint64_t dpt__test_async_live_tasks(void)
{
    return atomic_load_explicit(&live_tasks, memory_order_relaxed);
}

/* ---- allocation and end ------------------------------------------------------------------ */

static dpt_task *task_alloc(void)
{
    dpt_task *t = dpt__calloc(1, sizeof *t);
    if (!t) return NULL;
    /* A few entries up front: most tasks hold a base context and a span or two, and the
     * stack's own first growth would allocate 16. */
    t->st.e = dpt__malloc(sizeof *t->st.e * DPT__TASK_INITIAL_ENTRIES);
    if (!t->st.e) {
        free(t);
        return NULL;
    }
    t->st.cap = DPT__TASK_INITIAL_ENTRIES;
    t->st.serial = (uint32_t)dpt__rand64(); /* tokens unique across stacks (context.c) */
    atomic_init(&t->state, 1);
    atomic_init(&t->ended, false);
    t->owned = t->owned_inline;
    t->cap_owned = DPT__TASK_INLINE_OWNED;
    atomic_fetch_add_explicit(&live_tasks, 1, memory_order_relaxed);
    return t;
}

/* Ends the owned spans still open (newest first, so children end before parents) and
 * empties the stack. Caller holds the task. Returns how many recording spans it ended. */
static uint32_t task_close(dpt_task *t)
{
    uint32_t n = 0;
    char first[64] = "";
    for (uint32_t i = t->n_owned; i-- > 0;) {
        dpt_span s = t->owned[i];
        /* Marked and ended in one operation on the span (another thread may use it). */
        char name[64];
        if (dpt__span_end_by_task(s, name, sizeof name) == 1) {
            if (n == 0) snprintf(first, sizeof first, "%s", name);
            n++;
        }
    }
    t->n_owned = 0;
    if (t->owned != t->owned_inline) {
        free(t->owned);
        t->owned = t->owned_inline;
        t->cap_owned = DPT__TASK_INLINE_OWNED;
    }
    dpt__stack_clear(&t->st);
    if (n)
        dpt__log(DPT_LOG_WARN,
                 "task ended with %u open span(s) (first: \"%s\"): ended them with "
                 "dptrace.ended_by_task=true",
                 n, first);
    return n;
}

static void task_free(dpt_task *t)
{
    /* A drop is the normal end of a task whose last callback ran, so it is only DEBUG;
     * spans it left open are reported at WARN by task_close. */
    if (!t->end_called) dpt__log(DPT_LOG_DEBUG, "task dropped without dpt_task_end: released it");
    task_close(t);
    free(t->st.e);
    free(t);
    atomic_fetch_sub_explicit(&live_tasks, 1, memory_order_relaxed);
}

/* ---- ownership ------------------------------------------------------------------------------ */

int dpt__task_lock(dpt_task *t)
{
    uint64_t me = (uint64_t)dpt__thread_tag() << 32;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (DPT__TASK_OWNER(s)) return (s >> 32) == (me >> 32) ? 2 : 0;
        /* acquire: pairs with the release of the previous holder's unlock or leave, so
         * that its writes to the task are visible here. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, s | me, memory_order_acquire,
                                                  memory_order_relaxed))
            return 1;
    }
}

void dpt__task_unlock(dpt_task *t, int how)
{
    if (how != 1) return;
    uint64_t me = (uint64_t)dpt__thread_tag() << 32;
    /* release: our writes to the task happen-before the next holder's acquire. */
    atomic_fetch_sub_explicit(&t->state, me, memory_order_release);
}

dpt_err dpt__task_own(dpt_task *t, dpt_span s)
{
    if (t->n_owned == t->cap_owned) {
        /* Drop handles of spans that ended by themselves before growing: a long task that
         * starts and ends many spans keeps a list as long as its open spans. */
        uint32_t k = 0;
        for (uint32_t i = 0; i < t->n_owned; i++)
            if (dpt__span_live(t->owned[i])) t->owned[k++] = t->owned[i];
        t->n_owned = k;
    }
    if (t->n_owned == t->cap_owned) {
        uint32_t cap = t->cap_owned * 2;
        dpt_span *o = dpt__malloc(sizeof *o * cap);
        if (!o) return DPT_ENOMEM;
        memcpy(o, t->owned, sizeof *o * t->n_owned);
        if (t->owned != t->owned_inline) free(t->owned);
        t->owned = o;
        t->cap_owned = cap;
    }
    t->owned[t->n_owned++] = s;
    return DPT_OK;
}

/* ---- creation ---------------------------------------------------------------------------------
 */

/* Pushes c onto t's stack (t is new: only this thread knows it). Skips an empty context. */
static void task_push_base(dpt_task *t, const dpt_context *c)
{
    if (!c) return;
    dpt_span_context sc = dpt_context_span_context(c);
    if (!dpt_span_context_is_valid(&sc) && !dpt_context_baggage(c)) return;
    dpt__ctx_stack *prev = dpt__stack_swap(&t->st);
    dpt_context_attach(c); /* the base entry is never detached: the task's end clears it */
    dpt__stack_swap(prev);
}

dpt_task *dpt_task_new(const dpt_context *parent)
{
    dpt_task *t = task_alloc();
    if (!t) return NULL;
    if (parent) {
        task_push_base(t, parent);
    } else {
        dpt_context *cur = dpt_context_current();
        task_push_base(t, cur); /* NULL on ENOMEM: the task starts empty */
        dpt_context_release(cur);
    }
    return t;
}

dpt_task *dpt_task_start(dpt_tracer *tr, const char *name, dpt_span_kind kind,
                         const dpt_span_opts *opts, dpt_span *span_out)
{
    if (span_out) *span_out = DPT_SPAN_NONE;
    dpt_task *t = task_alloc();
    if (!t) return NULL;
    /* Started on the caller's stack, so the parent resolves exactly as dpt_span_start's. */
    dpt_span s = dpt_span_start(tr, name, kind, opts);
    dpt_context *parent =
        (opts && opts->parent) ? dpt_context_retain(opts->parent) : dpt_context_current();
    dpt_context *base = (s.rec && parent) ? dpt_context_with_span(parent, s) : NULL;
    /* Without a span (disabled provider) the task still continues the parent's trace. */
    bool ok = s.rec ? (base && dpt__task_own(t, s) == DPT_OK) : parent != NULL;
    if (ok) task_push_base(t, s.rec ? base : parent);
    dpt_context_release(base);
    dpt_context_release(parent);
    if (!ok) {
        /* ENOMEM: fail cleanly rather than return a task that lost its span. */
        dpt_span_end(s);
        t->end_called = true;
        task_free(t);
        return NULL;
    }
    if (span_out) *span_out = s;
    return t;
}

/* ---- references -------------------------------------------------------------------------------
 */

dpt_task *dpt_task_retain(dpt_task *t)
{
    /* Relaxed: the caller holds a reference, so the task cannot be freed meanwhile. */
    if (t) atomic_fetch_add_explicit(&t->state, 1, memory_order_relaxed);
    return t;
}

void dpt_task_release(dpt_task *t)
{
    if (!t) return;
    /* acq_rel: the last releaser frees the task and must see every other holder's writes
     * (their own release or leave published them). An entered thread holds a reference,
     * so this never frees a task that is entered somewhere. */
    uint64_t old = atomic_fetch_sub_explicit(&t->state, 1, memory_order_acq_rel);
    if (DPT__TASK_REFS(old) == 1) task_free(t);
}

/* ---- enter / leave ----------------------------------------------------------------------------
 */

dpt_err dpt_task_enter(dpt_task *t)
{
    if (!t) return DPT_EINVAL;
    uint32_t me = dpt__thread_tag();
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        uint32_t owner = DPT__TASK_OWNER(s);
        if (DPT__UNLIKELY(owner != 0)) {
            if (owner == me)
                dpt__log(DPT_LOG_WARN, "task entered twice on the same thread: enter refused");
            else
                dpt__log(DPT_LOG_WARN,
                         "task entered on two threads at once: enter refused (it is entered "
                         "on another thread)");
            return DPT_EBUSY;
        }
        /* acquire: pairs with the previous owner's release in leave (or unlock), so the
         * task's stack as it left it is what we see now. One CAS takes the ownership and
         * the reference together. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, s + ((uint64_t)me << 32) + 1,
                                                  memory_order_acquire, memory_order_relaxed))
            break;
    }
    if (DPT__UNLIKELY(atomic_load_explicit(&t->ended, memory_order_relaxed))) {
        /* release: nothing written, but keeps the hand-off symmetric for the next one. */
        atomic_fetch_sub_explicit(&t->state, ((uint64_t)me << 32) + 1, memory_order_release);
        return DPT_ESTATE;
    }
    t->prev_task = tl_task;
    t->prev_stack = dpt__stack_swap(&t->st);
    tl_task = t;
    return DPT_OK;
}

/* Restores the thread's previous state and drops the enter's reference. */
static void leave_one(dpt_task *t, uint32_t me)
{
    /* Whatever was attached after an end (inside the same callback) goes now. */
    if (atomic_load_explicit(&t->ended, memory_order_relaxed)) dpt__stack_clear(&t->st);
    tl_task = t->prev_task;
    dpt__stack_swap(t->prev_stack);
    t->prev_task = NULL;
    t->prev_stack = NULL;
    /* acq_rel: release publishes the task's stack to the next owner; acquire in case this
     * drops the last reference and frees the task. */
    uint64_t old =
        atomic_fetch_sub_explicit(&t->state, ((uint64_t)me << 32) + 1, memory_order_acq_rel);
    if (DPT__TASK_REFS(old) == 1) task_free(t);
}

dpt_err dpt_task_leave(dpt_task *t)
{
    if (!t) return DPT_EINVAL;
    uint32_t me = dpt__thread_tag();
    /* Relaxed: only this thread can have stored its own tag there. */
    if (DPT__UNLIKELY(DPT__TASK_OWNER(atomic_load_explicit(&t->state, memory_order_relaxed)) !=
                      me)) {
        dpt__log(DPT_LOG_WARN, "task left on a thread that did not enter it: leave ignored");
        return DPT_ESTATE;
    }
    dpt_err err = DPT_OK;
    if (DPT__UNLIKELY(tl_task != t)) {
        /* Tasks entered after t were not left: leave them first, as an out-of-order detach
         * pops what was attached after it. t is in this thread's chain (it is ours). */
        uint32_t n = 0;
        while (tl_task && tl_task != t) {
            leave_one(tl_task, me);
            n++;
        }
        dpt__log(DPT_LOG_WARN,
                 "task left out of order: %u task(s) entered after it were left first", n);
        err = DPT_ESTATE;
    }
    leave_one(t, me);
    return err;
}

dpt_task *dpt_task_current(void)
{
    return tl_task;
}

/* ---- end ----------------------------------------------------------------------------------------
 */

dpt_err dpt_task_end(dpt_task *t)
{
    if (!t) return DPT_EINVAL;
    int how = dpt__task_lock(t);
    if (!how) {
        dpt__log(DPT_LOG_WARN, "task ended while entered on another thread: end refused");
        return DPT_EBUSY;
    }
    dpt_err err = DPT_ESTATE;
    if (!atomic_load_explicit(&t->ended, memory_order_relaxed)) {
        t->end_called = true;
        atomic_store_explicit(&t->ended, true, memory_order_relaxed);
        task_close(t);
        err = DPT_OK;
    }
    dpt__task_unlock(t, how);
    return err;
}

bool dpt_task_is_ended(const dpt_task *t)
{
    return t && atomic_load_explicit(&((dpt_task *)t)->ended, memory_order_relaxed);
}

/* ---- spans -------------------------------------------------------------------------------------
 */

dpt_span dpt_task_span_start(dpt_tracer *tr, const char *name, dpt_span_kind kind,
                             const dpt_span_opts *opts)
{
    dpt_span s = dpt_span_start(tr, name, kind, opts);
    dpt_task *t = tl_task;
    /* tl_task is entered on this thread, so we hold it. An ended task takes nothing. */
    if (t && s.rec && !atomic_load_explicit(&t->ended, memory_order_relaxed) &&
        dpt__task_own(t, s) != DPT_OK)
        dpt__log(DPT_LOG_WARN, "out of memory: a span of a task is not tracked by it");
    return s;
}

dpt_err dpt_task_adopt_span(dpt_task *t, dpt_span s)
{
    if (!t || !s.rec) return DPT_EINVAL;
    int how = dpt__task_lock(t);
    if (!how) {
        dpt__log(DPT_LOG_WARN, "span given to a task entered on another thread: refused");
        return DPT_EBUSY;
    }
    dpt_err err =
        atomic_load_explicit(&t->ended, memory_order_relaxed) ? DPT_ESTATE : dpt__task_own(t, s);
    dpt__task_unlock(t, how);
    return err;
}
