/* dptrace/async.h - tracing through callbacks, coroutines and threads: tasks with their own
 * context stack, and continuations that carry a task and a context to a later callback.
 * Part of libdptrace (libc and pthreads only). Guide and guarantees: docs/async.md.
 */
#ifndef DPTRACE_ASYNC_H
#define DPTRACE_ASYNC_H

#include "../dptrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Tasks                                                                                 */
/* ------------------------------------------------------------------------------------ */

/* A task is one logical unit of work spread over callbacks (a request served by an event
 * loop, a coroutine): it has its own context stack, which is the calling thread's current
 * context while the task is entered. Everything dptrace's context functions do
 * (dpt_context_attach, dpt_span_make_current, DPT_WITH_SPAN, dpt_span_current, span
 * parenting) works on the task's stack between dpt_task_enter and dpt_task_leave.
 *
 * Lifetime is reference counted. dpt_task_new / dpt_task_start return one reference; each
 * continuation (dpt_cont) and each entered thread holds one more. When the last reference
 * goes, the task ends (if not yet) and is freed: dropping a task after its last callback
 * is the normal way to finish one, and nothing it holds can leak.
 *
 * Ending a task (dpt_task_end, or the last release) ends every span the task owns that is
 * still open, with the attribute dptrace.ended_by_task=true, dpt_span_data.ended_by_task
 * set, and the provider counter spans_ended_by_task incremented; the task reports it
 * through the diagnostic log (WARN). Spans the task owns: those started with
 * dpt_task_start, dpt_task_span_start, dpt_cont_start inside it, or given with
 * dpt_task_adopt_span. */
typedef struct dpt_task dpt_task;

/* A new task whose context stack starts with parent (NULL: the calling thread's current
 * context, captured now; it may be another task's). Returns one reference, NULL on ENOMEM.
 * Thread-safe. */
DPT_EXTERN dpt_task *dpt_task_new(const dpt_context *parent);

/* A new task and its root span in one call: the span is started like dpt_span_start(t,
 * name, kind, opts) on the calling thread, owned by the task, and is the task's current
 * span at the bottom of its stack. *span_out (may be NULL) receives the span, which the
 * caller normally ends when the work is done; if it is still open when the task ends, the
 * task ends it (flagged). Returns one reference; NULL on ENOMEM (then the span, if
 * started, has been ended and *span_out is DPT_SPAN_NONE). Thread-safe. */
DPT_EXTERN dpt_task *dpt_task_start(dpt_tracer *t, const char *name, dpt_span_kind kind,
                                    const dpt_span_opts *opts, dpt_span *span_out);

/* Reference counting. retain returns t. release drops one reference; the last one ends
 * the task (see above) and frees it. Thread-safe. NULL is ignored. A release of a task
 * that was never ended is reported at DEBUG ("task dropped without dpt_task_end": the
 * normal way to finish), the spans it had left open at WARN. */
DPT_EXTERN dpt_task *dpt_task_retain(dpt_task *t);
DPT_EXTERN void dpt_task_release(dpt_task *t);

/* Makes the task's context stack the calling thread's current one (and the task the
 * thread's current task), and takes a reference until dpt_task_leave. Lock-free: one
 * compare-and-swap; no allocation.
 * Returns DPT_OK; DPT_EBUSY when the task is entered right now on another thread or
 * already on this one (reported through the log; nothing changes); DPT_ESTATE when the
 * task has ended (nothing changes); DPT_EINVAL for NULL. A task may be entered on a
 * different thread each time. Tasks nest: entering task B inside task A is fine, leave
 * B before A. */
DPT_EXTERN dpt_err dpt_task_enter(dpt_task *t);

/* Restores the context stack and current task that were current before the matching
 * dpt_task_enter, and drops the reference that enter took (possibly the last one).
 * Must be called on the thread that entered. Returns DPT_OK; DPT_ESTATE when the task is
 * not entered on this thread (reported, nothing changes); DPT_ESTATE also when tasks
 * entered after it on this thread were not left yet: they are left first (reported and
 * repaired, like an out-of-order detach). DPT_EINVAL for NULL. */
DPT_EXTERN dpt_err dpt_task_leave(dpt_task *t);

/* The innermost task entered on the calling thread (borrowed), or NULL. */
DPT_EXTERN dpt_task *dpt_task_current(void);

/* Ends the task now: the spans it owns that are still open are ended (flagged, counted,
 * reported) and its context stack is emptied. The task object lives on while references
 * remain: entering it afterwards returns DPT_ESTATE, continuations of it still run their
 * callbacks, with only their own captured context. Call it from inside the task (entered
 * on this thread) or while it is entered nowhere. Note: called from a continuation's
 * callback, it also ends (flagged) that continuation's span, which is still open there;
 * end the task from a continuation without a span, or let the last one release it. Returns DPT_OK,
 * DPT_ESTATE when already ended, DPT_EBUSY when entered on another thread (reported; nothing
 * changes), DPT_EINVAL for NULL. Does not release the caller's reference. */
DPT_EXTERN dpt_err dpt_task_end(dpt_task *t);

/* Whether the task has ended. Thread-safe (a snapshot). */
DPT_EXTERN bool dpt_task_is_ended(const dpt_task *t);

/* Starts a span like dpt_span_start; when a task is entered on the calling thread, the
 * task owns it (ends it, flagged, if still open when the task ends). Same guarantees as
 * dpt_span_start. */
DPT_EXTERN dpt_span dpt_task_span_start(dpt_tracer *t, const char *name, dpt_span_kind kind,
                                        const dpt_span_opts *opts);

/* Gives span s to task t to end at the task's end if still open. Call it from inside the
 * task or while it is entered nowhere. DPT_OK, DPT_EINVAL (NULL task or no span),
 * DPT_ESTATE (task ended: the span is not taken), DPT_EBUSY (entered on another thread),
 * DPT_ENOMEM. */
DPT_EXTERN dpt_err dpt_task_adopt_span(dpt_task *t, dpt_span s);

/* ------------------------------------------------------------------------------------ */
/* Continuations: the async scoped span                                                  */
/* ------------------------------------------------------------------------------------ */

/* A continuation captures "where we are" (the current task and the current context) so
 * that a callback that runs later, on this thread or another, runs there; optionally it
 * owns a span that ends when the callback chain finishes (the async equivalent of
 * DPT_WITH_SPAN). It is a small value to embed in the request that the callback gets
 * back (no allocation of its own beyond the captured context). Fields are private.
 *
 *   dpt_cont c = DPT_CONT_INIT;
 *   dpt_cont_start(&c, tracer, "db.query", DPT_SPAN_CLIENT, NULL);   // child of current
 *   ... later, in the callback, on any thread:
 *   dpt_cont_resume(&c);        // enters the task, makes the "db.query" span current
 *   ...                         // spans started here are its children
 *   dpt_cont_finish(&c);        // the chain is done: the span ends, references drop
 *   dpt_cont_suspend(&c);       // restores the thread's context
 * or in one call: dpt_cont_run(&c, fn, arg).
 *
 * One continuation is used by one thread at a time (hand it over with the callback).
 * A continuation that is finished, or was never captured, is inert: every call is a
 * no-op. Each capture holds a task reference until finished: finish every continuation
 * (libuv always calls a request's callback, so the wrappers in dptrace/uv.h do). */
typedef struct dpt_cont {
    dpt_task *task;   /* reference, or NULL when no task was current */
    dpt_context *ctx; /* reference: the context the callback runs in */
    dpt_span span;    /* ended by finish; DPT_SPAN_NONE when none */
    dpt_token token;  /* the attach while resumed */
    uint32_t flags;   /* private state */
} dpt_cont;

#define DPT_CONT_INIT                                                                              \
    {                                                                                              \
        0, 0, {0, 0}, 0, 0                                                                         \
    } /* every member: -Wextra clean in C and C++ */

/* Captures the current task (a reference) and the current context into c. c must be
 * inert (zero or finished): DPT_ESTATE otherwise (nothing changes). DPT_ENOMEM leaves c
 * inert. Thread-safe for distinct c. */
DPT_EXTERN dpt_err dpt_cont_capture(dpt_cont *c);

/* Starts a span as dpt_task_span_start does (owned by the current task, if any) and
 * captures the current task and a context in which that span is current. The span ends
 * when the chain finishes. Returns the span (DPT_SPAN_NONE, and c inert, when c is not
 * inert or on ENOMEM; the span is then not started). */
DPT_EXTERN dpt_span dpt_cont_start(dpt_cont *c, dpt_tracer *t, const char *name, dpt_span_kind kind,
                                   const dpt_span_opts *opts);

/* Captures the current task and a context in which span s is current (s started by the
 * caller, e.g. with dpt_task_span_start and an explicit parent); the continuation ends s
 * when the chain finishes, and the current task, if any, takes ownership of s (see
 * dpt_task_adopt_span). s == DPT_SPAN_NONE: the same as dpt_cont_capture. DPT_OK,
 * DPT_EINVAL (NULL c), DPT_ESTATE (c not inert) or DPT_ENOMEM; on error s is not
 * touched (still the caller's to end). */
DPT_EXTERN dpt_err dpt_cont_capture_span(dpt_cont *c, dpt_span s);

/* The span the continuation will end (DPT_SPAN_NONE when none). */
DPT_EXTERN dpt_span dpt_cont_span(const dpt_cont *c);

/* The captured context (borrowed: valid while c is active; NULL when inert). Use it to
 * start work that runs alongside the task, e.g. dpt_task_new(dpt_cont_context(c)). */
DPT_EXTERN const dpt_context *dpt_cont_context(const dpt_cont *c);

/* Runs the captured state on the calling thread: enters the task (if any, and if it can
 * be entered) and attaches the captured context. Returns DPT_OK; DPT_EBUSY when the task is
 * entered on another thread (reported: the context is attached on the thread's own stack
 * instead, so spans are still parented right); DPT_ESTATE when the task ended (likewise)
 * or c is already resumed (nothing changes); DPT_EINVAL for NULL. Inert c: DPT_OK, no-op.
 * Always pair it with dpt_cont_suspend. */
DPT_EXTERN dpt_err dpt_cont_resume(dpt_cont *c);

/* Undoes resume: detaches the context and leaves the task. If the chain was finished while
 * resumed, the finish happens now (after the leave). No-op when not resumed. */
DPT_EXTERN void dpt_cont_suspend(dpt_cont *c);

/* Ends the chain: ends the span (if any; its task's ownership serialises this with the
 * task's end), releases the context and the task, and makes c inert. While resumed, the
 * finish is deferred to dpt_cont_suspend so the rest of the callback keeps its context.
 * Idempotent. */
DPT_EXTERN void dpt_cont_finish(dpt_cont *c);

/* resume, fn(arg), finish, suspend: a one-shot callback run in its captured context. */
DPT_EXTERN void dpt_cont_run(dpt_cont *c, void (*fn)(void *arg), void *arg);

/* Moves a continuation: *dst = *src and src becomes inert. dst must be inert (else
 * DPT_ESTATE, nothing moves). Wrappers use it to take the continuation out of memory that
 * the user's callback may free or reuse. */
DPT_EXTERN dpt_err dpt_cont_move(dpt_cont *dst, dpt_cont *src);

/* Whether c holds a capture (not inert). */
DPT_EXTERN bool dpt_cont_is_active(const dpt_cont *c);

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_ASYNC_H */
