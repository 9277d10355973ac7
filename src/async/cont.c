/* cont.c - continuations: a captured task + context (+ the span a callback chain ends)
 * carried to a later callback on any thread. The async form of the scoped span.
 *
 * A continuation is a caller-embedded value, so a callback chain costs one captured
 * dpt_context and no other allocation. Its finish ends the span under the task's
 * ownership word, which serialises it with the task's own end (no double end).
 */
#include "async_internal.h"

enum {
    CONT_CAPTURED = 1u, /* holds references: not inert */
    CONT_RESUMED = 2u,  /* between resume and suspend */
    CONT_ENTERED = 4u,  /* resume entered the task (else attached on the thread's stack) */
    CONT_FINISH = 8u    /* finish requested while resumed: done at suspend */
};

bool dpt_cont_is_active(const dpt_cont *c)
{
    return c && (c->flags & CONT_CAPTURED);
}

dpt_span dpt_cont_span(const dpt_cont *c)
{
    return c ? c->span : DPT_SPAN_NONE;
}

/* Captures the current task and base (NULL: the current context) with s current. */
static dpt_err capture(dpt_cont *c, dpt_span s, const dpt_context *base)
{
    /* The callback runs with s current and the baggage of base (or the current one). */
    dpt_context *ctx;
    if (s.rec) {
        /* Only the baggage and user values of the base are read: a borrowed view of the
         * current one spares capturing the whole current context first (one allocation
         * instead of two). */
        dpt_context cur = {.bg = (dpt_baggage *)dpt_baggage_current(), .vals = dpt__current_vals()};
        ctx = dpt_context_with_span(base ? base : &cur, s);
    } else {
        ctx = base ? dpt_context_retain(base) : dpt_context_current();
    }
    if (!ctx) return DPT_ENOMEM;
    dpt_task *t = dpt_task_current();
    /* The task (entered here, so ours) owns s: it ends s if the chain never finishes. */
    if (s.rec && t && !dpt_task_is_ended(t) && dpt__task_own(t, s) != DPT_OK) {
        dpt_context_release(ctx);
        return DPT_ENOMEM;
    }
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->task = dpt_task_retain(t);
    c->span = s;
    c->flags = CONT_CAPTURED;
    return DPT_OK;
}

dpt_err dpt_cont_capture(dpt_cont *c)
{
    if (!c) return DPT_EINVAL;
    if (c->flags) return DPT_ESTATE; /* would leak what it holds */
    return capture(c, DPT_SPAN_NONE, NULL);
}

dpt_err dpt_cont_capture_span(dpt_cont *c, dpt_span s)
{
    if (!c) return DPT_EINVAL;
    if (c->flags) return DPT_ESTATE; /* would leak what it holds */
    return capture(c, s, NULL);
}

dpt_span dpt_cont_start(dpt_cont *c, dpt_tracer *t, const char *name, dpt_span_kind kind,
                        const dpt_span_opts *opts)
{
    if (!c || c->flags) return DPT_SPAN_NONE;
    /* A plain start: capture() makes the task own it (once). */
    dpt_span s = dpt_span_start(t, name, kind, opts);
    if (capture(c, s, opts ? opts->parent : NULL) != DPT_OK) {
        dpt_span_end(s); /* ENOMEM: nothing captured, nothing left open */
        return DPT_SPAN_NONE;
    }
    return s;
}

const dpt_context *dpt_cont_context(const dpt_cont *c)
{
    return c && (c->flags & CONT_CAPTURED) ? c->ctx : NULL;
}

dpt_err dpt_cont_move(dpt_cont *dst, dpt_cont *src)
{
    if (!dst || !src) return DPT_EINVAL;
    if (dst == src) return DPT_OK;
    if (dst->flags) return DPT_ESTATE;
    *dst = *src;
    memset(src, 0, sizeof *src);
    return DPT_OK;
}

dpt_err dpt_cont_resume(dpt_cont *c)
{
    if (!c) return DPT_EINVAL;
    if (!(c->flags & CONT_CAPTURED)) return DPT_OK;
    if (c->flags & CONT_RESUMED) {
        dpt__log(DPT_LOG_WARN, "continuation resumed twice: resume ignored");
        return DPT_ESTATE;
    }
    dpt_err err = DPT_OK;
    if (c->task) {
        err = dpt_task_enter(c->task);
        if (err == DPT_OK) c->flags |= CONT_ENTERED;
    }
    /* Entered or not, the context goes on the current stack: when the task cannot be
     * entered, spans started by the callback are still parented right. */
    c->token = dpt_context_attach(c->ctx);
    c->flags |= CONT_RESUMED;
    return err;
}

/* Ends the span and drops the references. Not resumed. */
static void finish_now(dpt_cont *c)
{
    if (dpt__span_live(c->span)) {
        if (!c->task) {
            dpt_span_end(c->span);
        } else {
            /* The task may end this span too (at its end): hold the task while ending so
             * the two cannot race. */
            int how = dpt__task_lock(c->task);
            if (how) {
                dpt_span_end(c->span); /* a no-op if the task's end got there first */
                dpt__task_unlock(c->task, how);
            } else {
                dpt__log(DPT_LOG_WARN, "continuation finished while its task runs on another "
                                       "thread: its span is left to the task's end");
            }
        }
    }
    dpt_context_release(c->ctx);
    dpt_task *t = c->task;
    memset(c, 0, sizeof *c);
    dpt_task_release(t); /* last: it may end and free the task */
}

void dpt_cont_suspend(dpt_cont *c)
{
    if (!c || !(c->flags & CONT_RESUMED)) return;
    /* After the task's end inside the callback its stack was emptied: nothing to detach. */
    bool emptied = (c->flags & CONT_ENTERED) && dpt_task_is_ended(c->task);
    if (c->token && !emptied) dpt_context_detach(c->token);
    if (c->flags & CONT_ENTERED) dpt_task_leave(c->task);
    c->token = 0;
    c->flags &= ~(CONT_RESUMED | CONT_ENTERED);
    if (c->flags & CONT_FINISH) finish_now(c);
}

void dpt_cont_finish(dpt_cont *c)
{
    if (!c || !(c->flags & CONT_CAPTURED)) return;
    if (c->flags & CONT_RESUMED) {
        c->flags |= CONT_FINISH; /* the rest of the callback keeps its context */
        return;
    }
    finish_now(c);
}

void dpt_cont_run(dpt_cont *c, void (*fn)(void *arg), void *arg)
{
    dpt_cont_resume(c);
    if (fn) fn(arg);
    dpt_cont_finish(c);
    dpt_cont_suspend(c);
}
