/* test_mt_async_migrate.c - tasks migrating between 4 threads, work-stealing style (run
 * under ThreadSanitizer too): every step of a task runs on a different thread than the
 * previous one, and every span still gets the parent the task's history says. Also: a
 * task entered on one thread is refused on another, and ending it from there too. */
#include "test_async_util.h"

#include <sched.h>
#include <stdatomic.h>

#define N_THREADS 4
#define N_TASKS 1000
#define STEPS 8
#define MAX_DEPTH 5
#define MAX_SPANS (1 + STEPS * 2)

typedef struct expect {
    dpt_span_id id, parent;
    dpt_trace_id trace;
} expect;

typedef struct mtask {
    dpt_task *task;
    dpt_trace_id trace;
    dpt_span spans[MAX_DEPTH];
    dpt_span_id ids[MAX_DEPTH];
    dpt_token toks[MAX_DEPTH];
    int depth;
    int steps_left;
    int last_thread;
    int threads_seen; /* bit mask */
    uint64_t rng;
    expect exp[MAX_SPANS];
    int n_exp;
    struct mtask *next; /* deque link */
} mtask;

/* One deque per worker: the owner pushes and pops at the tail, thieves take the head.
 * A mutex per deque is enough here: the test is about the tasks, not the deque. */
typedef struct deque {
    pthread_mutex_t mu;
    mtask *head, *tail;
} deque;

static deque dq[N_THREADS];
static _Atomic int finished;
static _Atomic int failures;
static recorder *rec;
static dpt_provider *prov;
static dpt_tracer *tracer;

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void push(int q, mtask *m)
{
    pthread_mutex_lock(&dq[q].mu);
    m->next = NULL;
    if (dq[q].tail)
        dq[q].tail->next = m;
    else
        dq[q].head = m;
    dq[q].tail = m;
    pthread_mutex_unlock(&dq[q].mu);
}

/* Takes the head of q unless it last ran on thread `self`. */
static mtask *take(int q, int self)
{
    pthread_mutex_lock(&dq[q].mu);
    mtask *m = dq[q].head;
    if (m && m->last_thread != self) {
        dq[q].head = m->next;
        if (!dq[q].head) dq[q].tail = NULL;
    } else {
        m = NULL;
    }
    pthread_mutex_unlock(&dq[q].mu);
    return m;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);                     \
            atomic_fetch_add(&failures, 1);                                                        \
        }                                                                                          \
    } while (0)

static void expect_span(mtask *m, dpt_span s, int parent_depth)
{
    if (m->n_exp == MAX_SPANS) return;
    expect *e = &m->exp[m->n_exp++];
    memset(e, 0, sizeof *e);
    e->id = dpt_span_get_context(s).span_id;
    if (parent_depth >= 0) e->parent = m->ids[parent_depth];
    e->trace = m->trace;
}

static void step(mtask *m, int self)
{
    CHECK(m->last_thread != self); /* it really migrated */
    CHECK(dpt_task_enter(m->task) == DPT_OK);
    dpt_span_context cur = dpt_span_context_current();
    CHECK(span_id_eq(&cur.span_id, &m->ids[m->depth - 1]));
    CHECK(trace_id_eq(&cur.trace_id, &m->trace));
    uint64_t r = xs(&m->rng) % 3;
    if (r == 0 && m->depth < MAX_DEPTH) {
        dpt_span s = dpt_task_span_start(tracer, "nest", DPT_SPAN_INTERNAL, NULL);
        expect_span(m, s, m->depth - 1);
        m->toks[m->depth] = dpt_span_make_current(s);
        m->spans[m->depth] = s;
        m->ids[m->depth] = dpt_span_get_context(s).span_id;
        m->depth++;
    } else if (r == 1 && m->depth > 1) {
        m->depth--;
        CHECK(dpt_context_detach(m->toks[m->depth]) == DPT_OK);
        CHECK(dpt_span_end(m->spans[m->depth]) == DPT_OK);
    }
    /* Always a leaf too, so that every step makes a span on this thread. */
    dpt_span leaf = dpt_span_start(tracer, "leaf", DPT_SPAN_INTERNAL, NULL);
    expect_span(m, leaf, m->depth - 1);
    dpt_span_end(leaf);
    if (--m->steps_left == 0) {
        while (m->depth > 1) {
            m->depth--;
            CHECK(dpt_context_detach(m->toks[m->depth]) == DPT_OK);
            dpt_span_end(m->spans[m->depth]);
        }
        dpt_span_end(m->spans[0]);
    }
    CHECK(dpt_task_leave(m->task) == DPT_OK);
    CHECK(dpt_task_current() == NULL);
    m->last_thread = self;
    m->threads_seen |= 1 << self;
}

static void *worker(void *arg)
{
    int self = (int)(intptr_t)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(self + 1);
    while (atomic_load(&finished) < N_TASKS) {
        mtask *m = take(self, self);
        for (int i = 1; !m && i < N_THREADS; i++)
            m = take((self + i) % N_THREADS, self); /* steal */
        if (!m) {
            sched_yield();
            continue;
        }
        step(m, self);
        if (m->steps_left == 0) {
            CHECK(dpt_task_end(m->task) == DPT_OK);
            dpt_task_release(m->task);
            m->task = NULL;
            atomic_fetch_add(&finished, 1);
        } else {
            /* Hand it to another thread: the next step must run elsewhere. */
            push((self + 1 + (int)(xs(&rng) % (N_THREADS - 1))) % N_THREADS, m);
        }
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(dpt_span_id));
}

static void test_tasks_migrating_between_four_threads_keep_their_parents(void **state)
{
    (void)state;
    prov = recorder_provider(&rec);
    tracer = dpt_provider_get_tracer(prov, "migrate", NULL);
    mtask *tasks = calloc(N_TASKS, sizeof *tasks);
    assert_non_null(tasks);
    for (int q = 0; q < N_THREADS; q++)
        pthread_mutex_init(&dq[q].mu, NULL);
    for (int i = 0; i < N_TASKS; i++) {
        mtask *m = &tasks[i];
        dpt_span root;
        m->task = dpt_task_start(tracer, "request", DPT_SPAN_SERVER, &(dpt_span_opts){.root = true},
                                 &root);
        assert_non_null(m->task);
        m->trace = dpt_span_get_context(root).trace_id;
        m->spans[0] = root;
        m->ids[0] = dpt_span_get_context(root).span_id;
        m->depth = 1;
        m->steps_left = STEPS;
        m->last_thread = -1;
        m->rng = 0x2545f4914f6cdd1dull + (uint64_t)i * 7919;
        expect_span(m, root, -1);
        push(i % N_THREADS, m);
    }
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(dpt__test_async_live_tasks(), 0);

    size_t n_exp = 0;
    for (int i = 0; i < N_TASKS; i++) {
        n_exp += (size_t)tasks[i].n_exp;
        /* STEPS steps, each on a different thread than the one before: at least 2. */
        assert_true(__builtin_popcount((unsigned)tasks[i].threads_seen) >= 2);
    }
    expect *all = malloc(n_exp * sizeof *all);
    assert_non_null(all);
    size_t k = 0;
    for (int i = 0; i < N_TASKS; i++)
        for (int j = 0; j < tasks[i].n_exp; j++)
            all[k++] = tasks[i].exp[j];
    qsort(all, n_exp, sizeof *all, cmp_id);
    assert_int_equal(rec->n, n_exp);
    for (size_t i = 0; i < rec->n; i++) {
        rspan *s = &rec->v[i];
        expect *e = bsearch(&s->id, all, n_exp, sizeof *all, cmp_id);
        assert_non_null(e);
        assert_true(span_id_eq(&s->parent, &e->parent));
        assert_true(trace_id_eq(&s->trace, &e->trace));
        assert_int_equal(s->ended_by_task, 0);
    }
    free(all);
    free(tasks);
    for (int q = 0; q < N_THREADS; q++)
        pthread_mutex_destroy(&dq[q].mu);
    dpt_provider_free(prov);
}

/* ---- two threads, one task -------------------------------------------------------------- */

typedef struct duel {
    dpt_task *task;
    pthread_barrier_t entered, tried;
    dpt_cont cont;
} duel;

static void *holder(void *arg)
{
    duel *d = arg;
    if (dpt_task_enter(d->task) != DPT_OK) atomic_fetch_add(&failures, 1);
    pthread_barrier_wait(&d->entered); /* the other thread tries now */
    pthread_barrier_wait(&d->tried);
    if (dpt_task_leave(d->task) != DPT_OK) atomic_fetch_add(&failures, 1);
    return NULL;
}

static void test_task_entered_on_another_thread_is_refused_and_reported(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    alog_install();
    duel d;
    dpt_span root;
    d.task = dpt_task_start(tp.t, "req", DPT_SPAN_SERVER, NULL, &root);
    d.cont = (dpt_cont)DPT_CONT_INIT;
    dpt_task_enter(d.task);
    dpt_span op = dpt_cont_start(&d.cont, tp.t, "op", DPT_SPAN_INTERNAL, NULL);
    dpt_task_leave(d.task);
    pthread_barrier_init(&d.entered, NULL, 2);
    pthread_barrier_init(&d.tried, NULL, 2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, holder, &d), 0);
    pthread_barrier_wait(&d.entered);

    assert_int_equal(dpt_task_enter(d.task), DPT_EBUSY);
    assert_int_equal(alog_count("entered on two threads at once", DPT_LOG_WARN), 1);
    assert_null(dpt_task_current());
    assert_int_equal(dpt_task_end(d.task), DPT_EBUSY);
    assert_int_equal(alog_count("end refused", DPT_LOG_WARN), 1);
    assert_int_equal(dpt_task_leave(d.task), DPT_ESTATE); /* not ours to leave */
    /* A continuation resumed here meanwhile still runs in its context... */
    assert_int_equal(dpt_cont_resume(&d.cont), DPT_EBUSY);
    dpt_span cur = dpt_span_current();
    assert_memory_equal(&cur, &op, sizeof op);
    dpt_span_end(dpt_span_start(tp.t, "child", DPT_SPAN_INTERNAL, NULL));
    /* ...and its finish leaves the span to the task rather than race with it. */
    dpt_cont_finish(&d.cont);
    dpt_cont_suspend(&d.cont);
    assert_int_equal(alog_count("left to the task's end", DPT_LOG_WARN), 1);
    assert_true(dpt_span_is_recording(op));
    pthread_barrier_wait(&d.tried);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&failures), 0);

    /* Once left there, it can be entered here. */
    assert_int_equal(dpt_task_enter(d.task), DPT_OK);
    assert_int_equal(dpt_task_leave(d.task), DPT_OK);
    dpt_span_end(root);
    dpt_task_release(d.task); /* ends "op", flagged */
    assert_false(dpt_span_is_recording(op));
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended_by_task, 1);
    pthread_barrier_destroy(&d.entered);
    pthread_barrier_destroy(&d.tried);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    tprov_free(&tp);
    assert_int_equal(dpt__test_async_live_tasks(), 0);
}

/* ---- ownership as mutual exclusion ---------------------------------------------------------- */

#define RACE_ROUNDS 2000

typedef struct race {
    dpt_task *task;
    dpt_tracer *tracer;
    long inside; /* plain, not atomic: only ever touched by the task's current owner */
    long total;
    _Atomic long refused;
} race;

static void *racer(void *arg)
{
    race *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        while (dpt_task_enter(r->task) != DPT_OK) {
            atomic_fetch_add(&r->refused, 1);
            sched_yield();
        }
        /* Exclusive here: the enter's acquire saw the previous owner's leave. */
        if (r->inside++ != 0) atomic_fetch_add(&failures, 1);
        r->total++;
        dpt_span s = dpt_task_span_start(r->tracer, "turn", DPT_SPAN_INTERNAL, NULL);
        dpt_token tok = dpt_span_make_current(s);
        dpt_context_detach(tok);
        dpt_span_end(s);
        r->inside--;
        if (dpt_task_leave(r->task) != DPT_OK) atomic_fetch_add(&failures, 1);
    }
    return NULL;
}

static void test_threads_racing_to_enter_one_task_take_turns(void **state)
{
    (void)state;
    prov = recorder_provider(&rec);
    /* Refused enters are reported: count them, quietly. */
    dpt_log_set_handler(alog_fn, &g_log, DPT_LOG_WARN);
    alog_reset();
    race r = {.tracer = dpt_provider_get_tracer(prov, "race", NULL)};
    dpt_span root;
    r.task = dpt_task_start(r.tracer, "shared", DPT_SPAN_SERVER, NULL, &root);
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer, &r), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(r.total, (long)N_THREADS * RACE_ROUNDS);
    assert_int_equal(alog_total(DPT_LOG_WARN) >= ALOG_MAX ? ALOG_MAX : alog_total(DPT_LOG_WARN),
                     atomic_load(&r.refused) >= ALOG_MAX ? ALOG_MAX : atomic_load(&r.refused));
    dpt_span_id root_id = dpt_span_get_context(root).span_id;
    dpt_span_end(root);
    dpt_task_release(r.task);
    /* Every turn's span is a child of the task's root. */
    assert_int_equal(rec->n, (size_t)N_THREADS * RACE_ROUNDS + 1);
    for (size_t i = 0; i + 1 < rec->n; i++)
        assert_true(span_id_eq(&rec->v[i].parent, &root_id));
    dpt_log_set_handler(NULL, NULL, DPT_LOG_WARN);
    dpt_provider_free(prov);
    assert_int_equal(dpt__test_async_live_tasks(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_migrating_between_four_threads_keep_their_parents),
        cmocka_unit_test(test_task_entered_on_another_thread_is_refused_and_reported),
        cmocka_unit_test(test_threads_racing_to_enter_one_task_take_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
