/* test_async_interleave.c - 10,000 tasks interleaved on one thread: a scheduler resumes
 * them in random order, each resumption nests, ends or opens spans. Every span must have
 * the parent the task's own history says, in the task's own trace; the thread's context
 * must be back after every leave; a tenth of the tasks are dropped with spans open and
 * exactly those spans come back flagged ended_by_task. */
#include "test_async_util.h"

#define N_TASKS 10000
#define MAX_DEPTH 6
#define RESUMPTIONS 5

typedef struct expect {
    dpt_span_id id, parent;
    dpt_trace_id trace;
    uint32_t ended_by_task;
} expect;

typedef struct mtask {
    dpt_task *task;
    dpt_trace_id trace;
    dpt_span spans[MAX_DEPTH]; /* model of the task's stack: spans[0] is the root */
    dpt_span_id ids[MAX_DEPTH];
    dpt_token toks[MAX_DEPTH];
    uint32_t exp_idx[MAX_DEPTH]; /* where each open span's expectation is */
    int depth;
    int left; /* resumptions left */
} mtask;

static recorder *rec;
static dpt_provider *prov;
static dpt_tracer *tracer;
static expect *exps;
static size_t n_exps, cap_exps;
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint32_t expect_span(dpt_span s, const dpt_span_id *parent, const dpt_trace_id *trace)
{
    if (n_exps == cap_exps) {
        cap_exps = cap_exps ? cap_exps * 2 : 65536;
        exps = realloc(exps, cap_exps * sizeof *exps);
        assert_non_null(exps);
    }
    expect *e = &exps[n_exps];
    memset(e, 0, sizeof *e);
    e->id = dpt_span_get_context(s).span_id;
    if (parent) e->parent = *parent;
    e->trace = *trace;
    return (uint32_t)n_exps++;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(dpt_span_id));
}

/* One resumption: 1 to 3 actions on the task's stack. */
static void resume(mtask *m)
{
    assert_int_equal(dpt_task_enter(m->task), DPT_OK);
    assert_ptr_equal(dpt_task_current(), m->task);
    /* What is current is exactly what this task left current, whoever ran in between. */
    dpt_span_context cur = dpt_span_context_current();
    assert_true(span_id_eq(&cur.span_id, &m->ids[m->depth - 1]));
    assert_true(trace_id_eq(&cur.trace_id, &m->trace));
    int actions = 1 + (int)(next_rand() % 3);
    for (int a = 0; a < actions; a++) {
        uint64_t r = next_rand() % 3;
        if (r == 0 && m->depth < MAX_DEPTH) { /* open a child and keep it current */
            dpt_span s = dpt_task_span_start(tracer, "nest", DPT_SPAN_INTERNAL, NULL);
            m->exp_idx[m->depth] = expect_span(s, &m->ids[m->depth - 1], &m->trace);
            m->toks[m->depth] = dpt_span_make_current(s);
            assert_true(m->toks[m->depth] != 0);
            m->spans[m->depth] = s;
            m->ids[m->depth] = dpt_span_get_context(s).span_id;
            m->depth++;
        } else if (r == 1 && m->depth > 1) { /* close the innermost */
            m->depth--;
            assert_int_equal(dpt_context_detach(m->toks[m->depth]), DPT_OK);
            assert_int_equal(dpt_span_end(m->spans[m->depth]), DPT_OK);
        } else { /* a leaf: a scoped child of whatever is current */
            DPT_WITH_SPAN(tracer, "leaf", DPT_SPAN_INTERNAL)
            {
                expect_span(dpt_span_current(), &m->ids[m->depth - 1], &m->trace);
            }
        }
    }
    assert_int_equal(dpt_task_leave(m->task), DPT_OK);
}

static void finish(mtask *m, bool drop)
{
    if (drop) {
        /* Dropped mid-way: every span still open is the task's to end, flagged. */
        for (int i = 0; i < m->depth; i++)
            exps[m->exp_idx[i]].ended_by_task = 1;
        dpt_task_release(m->task);
        return;
    }
    assert_int_equal(dpt_task_enter(m->task), DPT_OK);
    while (m->depth > 1) {
        m->depth--;
        assert_int_equal(dpt_context_detach(m->toks[m->depth]), DPT_OK);
        dpt_span_end(m->spans[m->depth]);
    }
    dpt_span_end(m->spans[0]);
    assert_int_equal(dpt_task_leave(m->task), DPT_OK);
    assert_int_equal(dpt_task_end(m->task), DPT_OK);
    dpt_task_release(m->task);
}

static void test_ten_thousand_tasks_interleaved_in_random_order(void **state)
{
    (void)state;
    prov = recorder_provider(&rec);
    tracer = dpt_provider_get_tracer(prov, "interleave", NULL);
    /* A span current on the thread itself: every leave must bring it back. */
    dpt_span sched = dpt_span_start(tracer, "scheduler", DPT_SPAN_INTERNAL, NULL);
    dpt_token sched_tok = dpt_span_make_current(sched);
    dpt_span_id sched_id = dpt_span_get_context(sched).span_id;

    mtask *tasks = calloc(N_TASKS, sizeof *tasks);
    uint32_t *runnable = malloc(N_TASKS * sizeof *runnable);
    assert_non_null(tasks);
    assert_non_null(runnable);
    for (uint32_t i = 0; i < N_TASKS; i++) {
        mtask *m = &tasks[i];
        dpt_span root;
        m->task = dpt_task_start(tracer, "request", DPT_SPAN_SERVER, &(dpt_span_opts){.root = true},
                                 &root);
        assert_non_null(m->task);
        m->trace = dpt_span_get_context(root).trace_id;
        m->spans[0] = root;
        m->ids[0] = dpt_span_get_context(root).span_id;
        m->exp_idx[0] = expect_span(root, NULL, &m->trace);
        m->depth = 1;
        m->left = 1 + (int)(next_rand() % RESUMPTIONS);
        runnable[i] = i;
    }
    assert_int_equal(dpt__test_async_live_tasks(), N_TASKS);

    uint32_t n_run = N_TASKS, dropped = 0;
    while (n_run) {
        uint32_t k = (uint32_t)(next_rand() % n_run);
        mtask *m = &tasks[runnable[k]];
        resume(m);
        dpt_span_context here = dpt_span_context_current();
        assert_true(span_id_eq(&here.span_id, &sched_id));
        if (--m->left == 0) {
            bool drop = runnable[k] % 10 == 0;
            dropped += drop;
            finish(m, drop);
            runnable[k] = runnable[--n_run];
        }
    }
    assert_int_equal(dpt__test_async_live_tasks(), 0);
    assert_int_equal(dpt_context_detach(sched_tok), DPT_OK);
    dpt_span_end(sched);

    /* Every span recorded once, with the expected parent and trace. */
    assert_int_equal(rec->n, n_exps + 1); /* + the scheduler span */
    qsort(exps, n_exps, sizeof *exps, cmp_id);
    size_t flagged = 0;
    for (size_t i = 0; i < rec->n; i++) {
        rspan *s = &rec->v[i];
        if (span_id_eq(&s->id, &sched_id)) continue;
        expect *e = bsearch(&s->id, exps, n_exps, sizeof *exps, cmp_id);
        assert_non_null(e);
        if (!span_id_eq(&s->parent, &e->parent) || !trace_id_eq(&s->trace, &e->trace))
            fail_msg("span %zu (%s) has the wrong parent or trace", i, s->name);
        assert_int_equal(s->ended_by_task, e->ended_by_task);
        flagged += s->ended_by_task;
    }
    dpt_stats st;
    dpt_provider_get_stats(prov, &st);
    assert_int_equal(st.spans_ended_by_task, flagged);
    assert_true(dropped == N_TASKS / 10);
    assert_true(flagged >= dropped); /* at least each dropped task's root */
    free(tasks);
    free(runnable);
    free(exps);
    dpt_provider_free(prov);
}

int main(void)
{
    /* Dropped tasks report at WARN: keep the test's output quiet. */
    dpt_log_set_handler(alog_fn, &g_log, DPT_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand_tasks_interleaved_in_random_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
