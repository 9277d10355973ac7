/* async_internal.h - the task structure, shared by the task (task.c) and continuation
 * (cont.c) modules. Private: nothing here is API. */
#ifndef DPT_ASYNC_INTERNAL_H
#define DPT_ASYNC_INTERNAL_H

#include "core.h"
#include "dptrace/async.h"

#define DPT__TASK_INLINE_OWNED 4
#define DPT__TASK_INITIAL_ENTRIES 4

/* One word holds both the owner and the reference count so that enter and leave are one
 * atomic operation each: bits 32..63 are the tag of the thread that entered the task (0:
 * entered nowhere), bits 0..31 the references (an entered thread holds one). */
#define DPT__TASK_OWNER(s) ((uint32_t)((s) >> 32))
#define DPT__TASK_REFS(s) ((uint32_t)(s))

struct dpt_task {
    _Atomic uint64_t state;
    /* Everything below is written only by the thread that holds the task: its owner (the
     * thread that entered it, or that took it with task_lock), or the last releaser. The
     * owner word's acquire/release hand-offs order these writes between threads. */
    _Atomic bool ended;         /* atomic only for dpt_task_is_ended's snapshot */
    bool end_called;            /* ended by dpt_task_end (rather than dropped) */
    dpt__ctx_stack st;          /* the task's context stack */
    dpt__ctx_stack *prev_stack; /* the entering thread's stack before enter */
    dpt_task *prev_task;        /* the entering thread's task before enter */
    dpt_span *owned;            /* spans to end at the task's end (some may be stale) */
    uint32_t n_owned;
    uint32_t cap_owned;
    dpt_span owned_inline[DPT__TASK_INLINE_OWNED];
};

/* The calling thread's tag (never 0). */
DPT__HIDDEN uint32_t dpt__thread_tag(void);

/* Takes the task for a short operation from outside (enter-free): returns 1 when it was
 * entered nowhere and is now held by this thread, 2 when this thread holds it already
 * (entered), 0 when another thread has it (nothing taken). */
DPT__HIDDEN int dpt__task_lock(dpt_task *t);
DPT__HIDDEN void dpt__task_unlock(dpt_task *t, int how);

/* Records s as owned by t. The caller holds t (entered or locked). */
DPT__HIDDEN dpt_err dpt__task_own(dpt_task *t, dpt_span s);

/* Test hook: tasks allocated and not yet freed in this process. */
DPT__HIDDEN uint64_t dpt__test_async_live_tasks(void);

#endif
