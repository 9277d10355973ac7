/* test_mt_span_concurrent.c - several threads change one span at once while another ends
 * it. The OpenTelemetry trace SDK specification (Concurrency requirements): "Span - All
 * methods MUST be documented that implementations need to be safe for concurrent use by
 * default." Every operation either lands in the exported span or reports that the span had
 * ended (DPT_ESTATE): the exported counts must equal the successful calls exactly, and the
 * span must end exactly once. Run under ThreadSanitizer too (label tsan), where spans are
 * always locked; the normal build exercises the owner's unlocked path and its revocation.
 */
#include "test_util.h"
#include "span.h"

#include <pthread.h>
#include <sched.h>

#define HAMMERS 3
#define ROUNDS 60
#define MAX_OPS 3000

typedef struct tally {
    int attrs_ok, attrs_big; /* set_attr: stored / dropped at the limit */
    int events_ok, events_big;
    int links_ok, links_big;
    int ends_ok;
    int late_changed; /* a change accepted after the end (must stay 0) */
} tally;

static dpt_span g_span;
static _Atomic int g_ops;
static _Atomic int g_go;

static void count_attr(tally *t, dpt_err e)
{
    if (e == DPT_OK)
        t->attrs_ok++;
    else if (e == DPT_ETOOBIG)
        t->attrs_big++;
}

/* One hammering thread: distinct keys per call, so that every OK is a new attribute. */
static void *hammer(void *arg)
{
    tally *t = arg;
    char key[48];
    while (!atomic_load(&g_go))
        sched_yield();
    dpt_span_context me = dpt_span_get_context(g_span);
    bool ended = false;
    for (int i = 0; i < MAX_OPS && !ended; i++) {
        dpt_err e = DPT_OK;
        switch (i % 6) {
        case 0:
            snprintf(key, sizeof key, "h%p.k%d", (void *)t, i);
            e = dpt_span_set_str(g_span, key, "value");
            count_attr(t, e);
            break;
        case 1:
            snprintf(key, sizeof key, "h%p.n%d", (void *)t, i);
            e = dpt_span_set_int(g_span, key, i);
            count_attr(t, e);
            break;
        case 2:
            e = dpt_span_add_event(g_span, "tick", (dpt_attr[]){DPT_INT("i", i)}, 1);
            if (e == DPT_OK)
                t->events_ok++;
            else if (e == DPT_ETOOBIG)
                t->events_big++;
            break;
        case 3:
            e = dpt_span_add_link(g_span, &(dpt_link){.ctx = me});
            if (e == DPT_OK)
                t->links_ok++;
            else if (e == DPT_ETOOBIG)
                t->links_big++;
            break;
        case 4:
            e = dpt_span_set_status(g_span, DPT_STATUS_ERROR, "busy");
            break;
        case 5:
            e = dpt_span_update_name(g_span, i & 1 ? "renamed-odd" : "renamed-even");
            break;
        }
        atomic_fetch_add(&g_ops, 1);
        ended = e == DPT_ESTATE; /* ended: every later call must say so too */
    }
    /* After the end, nothing changes the span any more (asserted by the main thread:
     * cmocka's checks belong to it). */
    if (ended && dpt_span_set_int(g_span, "late", 1) != DPT_ESTATE) t->late_changed++;
    if (dpt_span_end(g_span) == DPT_OK) t->ends_ok++;
    return NULL;
}

static void round_once(tprov *tp, size_t idx)
{
    tally t[HAMMERS + 1];
    memset(t, 0, sizeof t);
    g_span = dpt_span_start(tp->t, "shared", DPT_SPAN_INTERNAL, NULL);
    atomic_store(&g_ops, 0);
    atomic_store(&g_go, 0);
    pthread_t th[HAMMERS];
    for (int i = 0; i < HAMMERS; i++)
        pthread_create(&th[i], NULL, hammer, &t[i]);
    atomic_store(&g_go, 1);
    /* The owner works on its span too, then ends it while the others hammer. */
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "owner.k%d", i);
        count_attr(&t[HAMMERS], dpt_span_set_str(g_span, key, "v"));
    }
    for (int spins = 0; atomic_load(&g_ops) < 300 && spins < 1000000; spins++)
        sched_yield();
    if (dpt_span_end(g_span) == DPT_OK) t[HAMMERS].ends_ok++;
    for (int i = 0; i < HAMMERS; i++)
        pthread_join(th[i], NULL);

    tally sum = {0};
    for (int i = 0; i <= HAMMERS; i++) {
        sum.attrs_ok += t[i].attrs_ok;
        sum.attrs_big += t[i].attrs_big;
        sum.events_ok += t[i].events_ok;
        sum.events_big += t[i].events_big;
        sum.links_ok += t[i].links_ok;
        sum.links_big += t[i].links_big;
        sum.ends_ok += t[i].ends_ok;
        sum.late_changed += t[i].late_changed;
    }
    assert_int_equal(sum.late_changed, 0);
    /* "End ... MUST be ... called once": once only, whoever calls it. */
    assert_int_equal(sum.ends_ok, 1);
    assert_int_equal(dpt_exporter_memory_count(tp->mem), idx + 1);
    const dpt_span_data *d = tprov_span(tp, idx);
    /* Every successful call is in the span, every refused one counted: nothing lost or
     * duplicated by the race. */
    assert_int_equal(d->n_attrs, sum.attrs_ok);
    assert_int_equal(d->dropped_attrs, sum.attrs_big);
    assert_int_equal(d->n_events, sum.events_ok);
    assert_int_equal(d->dropped_events, sum.events_big);
    assert_int_equal(d->n_links, sum.links_ok);
    assert_int_equal(d->dropped_links, sum.links_big);
    for (uint32_t i = 0; i < d->n_attrs; i++) {
        assert_non_null(d->attrs[i].key);
        assert_true(d->attrs[i].key_len > 0);
    }
    /* the last name set, cut to what the span's byte budget still held */
    assert_true(d->name_len <= 12);
    assert_true(strncmp(d->name, "shared", d->name_len) == 0 ||
                strncmp(d->name, "renamed-odd", d->name_len) == 0 ||
                strncmp(d->name, "renamed-even", d->name_len) == 0);
    dpt_span_data_release(d);
}

static void run(uint32_t shared)
{
    uint32_t old = dpt__span_test_force_shared(shared);
    tprov tp = tprov_new(NULL, NULL);
    for (size_t r = 0; r < ROUNDS; r++)
        round_once(&tp, r);
    tprov_free(&tp);
    dpt__span_test_force_shared(old);
}

/* The owner's own path taken away by other threads (membarrier), where available. */
static void test_threads_hammering_one_biased_span_while_one_ends_it(void **state)
{
    (void)state;
    run(0);
}

/* Spans locked from their start (the mode without membarrier, and under TSan). */
static void test_threads_hammering_one_locked_span_while_one_ends_it(void **state)
{
    (void)state;
    run(1);
}

/* A span started on one thread and ended on another, many times: each end counts once. */
static _Atomic int ender_failures;
static void *ender(void *arg)
{
    dpt_span *s = arg;
    if (dpt_span_set_int(*s, "ended.by", 2) != DPT_OK) atomic_fetch_add(&ender_failures, 1);
    if (dpt_span_end(*s) != DPT_OK) atomic_fetch_add(&ender_failures, 1);
    return NULL;
}

static void test_span_handed_to_another_thread_is_ended_there_once(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    for (int i = 0; i < 200; i++) {
        dpt_span s = dpt_span_start(tp.t, "handed", DPT_SPAN_INTERNAL, NULL);
        assert_int_equal(dpt_span_set_int(s, "started.by", 1), DPT_OK);
        pthread_t th;
        pthread_create(&th, NULL, ender, &s);
        pthread_join(th, NULL);
        assert_int_equal(dpt_span_end(s), DPT_ESTATE);
    }
    assert_int_equal(atomic_load(&ender_failures), 0);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_ended, 200);
    const dpt_span_data *d = tprov_span(&tp, 199);
    assert_int_equal(d->n_attrs, 2);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_hammering_one_biased_span_while_one_ends_it),
        cmocka_unit_test(test_threads_hammering_one_locked_span_while_one_ends_it),
        cmocka_unit_test(test_span_handed_to_another_thread_is_ended_there_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
