/* test_mt_span_on_ending.c - the processors' on_ending callback (OpenTelemetry's
 * SpanProcessor.OnEnding, trace/sdk.md, status Development), rule by rule:
 *   "The end timestamp MUST have been computed (the OnEnding method duration is not
 *    included in the span duration)."
 *   "The Span object MUST still be mutable (i.e., SetAttribute, AddLink, AddEvent can be
 *    called) while OnEnding is called."
 *   "This method MUST be called synchronously within the Span.End() API"
 *   "If multiple SpanProcessors are registered, their OnEnding callbacks are invoked in the
 *    order they have been registered."
 *   "The SDK MUST guarantee that the span can no longer be modified by any other thread
 *    before invoking OnEnding of the first SpanProcessor."
 *   "All registered SpanProcessor OnEnding callbacks are executed before any
 *    SpanProcessor's OnEnd callback is invoked."
 * Named test_mt_ for the thread that tries to change a span while it ends (run under TSan
 * too). What a dpt_span_end from inside the callback does is dptrace's own choice
 * (nothing: the span ends when the callbacks return). */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- a processor that records what it saw ---------------------------------------------- */

typedef struct watcher {
    char name;
    char *log; /* shared call log: "Ae" (A's on_ending), "Ad" (A's on_end) ... */
    int endings, ends;
    uint64_t end_ns_seen;
    dpt_span outer; /* the handle the application ended (set by the test) */
    dpt_err outer_set, own_set, own_end;
    dpt_span kept;          /* the callback's handle, kept past the call */
    bool change;            /* change the span: attribute, event, link, name, status */
    bool end_it;            /* call dpt_span_end on the callback's handle */
    int64_t late_at_ending; /* the "late" attribute when on_ending began (-1: absent) */
    int64_t late_at_end;
} watcher;

static int64_t late_value(const dpt_span_data *d)
{
    const dpt_attr *a = find_attr(d, "late");
    return a ? a->value.u.i : -1;
}

static void log_call(watcher *w, char what)
{
    size_t n = strlen(w->log);
    w->log[n] = w->name;
    w->log[n + 1] = what;
    w->log[n + 2] = 0;
}

static void w_on_ending(void *st, dpt_span span, const dpt_span_data *d)
{
    watcher *w = st;
    w->endings++;
    log_call(w, 'e');
    w->end_ns_seen = d->end_ns;
    w->late_at_ending = late_value(d);
    w->outer_set = dpt_span_set_int(w->outer, "outer.after.end", 1);
    w->kept = span;
    if (w->change) {
        w->own_set = dpt_span_set_str(span, "added.by", "on_ending");
        dpt_span_add_event(span, "ending", NULL, 0);
        dpt_span_context lc = {.flags = DPT_FLAG_SAMPLED};
        dpt_trace_id_from_hex("0af7651916cd43dd8448eb211c80319c", 32, &lc.trace_id);
        dpt_span_id_from_hex("b7ad6b7169203331", 16, &lc.span_id);
        dpt_link link = {.ctx = lc};
        dpt_span_add_link(span, &link);
        dpt_span_update_name(span, "renamed");
        dpt_span_set_status(span, DPT_STATUS_ERROR, "set in on_ending");
    }
    if (w->end_it) {
        w->own_end = dpt_span_end(span);
        /* still changeable after that: the span ends when the callbacks return */
        w->own_set = dpt_span_set_int(span, "after.own.end", 7);
    }
}

static void w_on_end(void *st, const dpt_span_data *d)
{
    watcher *w = st;
    w->ends++;
    log_call(w, 'd');
    w->late_at_end = late_value(d);
}

static const dpt_processor_ops watcher_ops = {.on_end = w_on_end, .on_ending = w_on_ending};

/* The spans of these tests, exported by tprov's simple processor (added first: its on_end
 * runs after every on_ending). */
static void add_watcher(tprov *tp, watcher *w)
{
    assert_int_equal(dpt_provider_add_processor(tp->p, dpt_processor_new(&watcher_ops, w)), DPT_OK);
}

/* ---- the rules ------------------------------------------------------------------------- */

/* End time computed first; the span mutable in the callback; the changes reach the on_end
 * of a processor registered before it (OnEnding all before any OnEnd). */
static void test_changes_in_on_ending_reach_every_exporter(void **st)
{
    (void)st;
    char log[64] = "";
    watcher w = {.name = 'A', .log = log, .change = true};
    tprov tp = tprov_new(NULL, NULL);
    add_watcher(&tp, &w);
    dpt_span s = dpt_span_start(tp.t, "original", DPT_SPAN_SERVER, NULL);
    w.outer = s;
    assert_int_equal(dpt_span_end_at(s, 0), DPT_OK); /* now: the end time is read first */
    assert_int_equal(w.endings, 1);
    assert_int_equal(w.ends, 1);
    assert_int_equal(w.own_set, DPT_OK);
    const dpt_span_data *d0 = tprov_span(&tp, 0);
    assert_int_equal(d0->end_ns, w.end_ns_seen); /* the callback saw the final end time */
    assert_true(d0->end_ns >= d0->start_ns);
    assert_string_equal(d0->name, "renamed");
    const dpt_attr *a = find_attr(d0, "added.by");
    assert_non_null(a);
    assert_int_equal(a->value.len, 9);
    assert_memory_equal(a->value.u.s, "on_ending", 9);
    assert_int_equal(d0->n_events, 1);
    assert_memory_equal(d0->events[0].name, "ending", 6);
    assert_int_equal(d0->n_links, 1);
    assert_int_equal(d0->status, DPT_STATUS_ERROR);
    dpt_span_data_release(d0);
    tprov_free(&tp);
}

/* An explicit end time is the one the callbacks see (the callbacks' duration is not in the
 * span's). */
static void test_explicit_end_time_is_set_before_on_ending(void **st)
{
    (void)st;
    char log[64] = "";
    watcher w = {.name = 'A', .log = log};
    tprov tp = tprov_new(NULL, NULL);
    add_watcher(&tp, &w);
    dpt_span s = dpt_span_start(tp.t, "timed", DPT_SPAN_INTERNAL,
                                &(dpt_span_opts){.start_ns = 1700000000000000000ull});
    w.outer = s;
    assert_int_equal(dpt_span_end_at(s, 1700000000123456789ull), DPT_OK);
    assert_int_equal(w.end_ns_seen, 1700000000123456789ull);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->end_ns, 1700000000123456789ull);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

/* Registration order, and every on_ending before any on_end (also through
 * dpt_processor_multi, which forwards on_ending to the processors it groups). */
static void test_on_ending_in_order_and_before_any_on_end(void **st)
{
    (void)st;
    char log[64] = "";
    watcher a = {.name = 'A', .log = log}, b = {.name = 'B', .log = log},
            c = {.name = 'C', .log = log};
    tprov tp = tprov_new(NULL, NULL);
    add_watcher(&tp, &a);
    dpt_processor *grouped[2] = {dpt_processor_new(&watcher_ops, &b),
                                 dpt_processor_new(&watcher_ops, &c)};
    assert_int_equal(dpt_provider_add_processor(tp.p, dpt_processor_multi(grouped, 2)), DPT_OK);
    dpt_span s = dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
    a.outer = b.outer = c.outer = s;
    dpt_span_end(s);
    assert_string_equal(log, "AeBeCeAdBdCd");
    tprov_free(&tp);
}

/* The application's handles are stale from the first on_ending on; the callback's handle
 * changes the span and is stale once the end returned. */
static void test_only_the_callback_handle_changes_the_span(void **st)
{
    (void)st;
    char log[64] = "";
    watcher w = {.name = 'A', .log = log, .change = true};
    tprov tp = tprov_new(NULL, NULL);
    add_watcher(&tp, &w);
    dpt_span s = dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
    w.outer = s;
    dpt_span_end(s);
    assert_int_equal(w.outer_set, DPT_ESTATE); /* the ended handle, inside the callback */
    assert_int_equal(w.own_set, DPT_OK);
    assert_int_equal(dpt_span_set_int(w.kept, "too.late", 1), DPT_ESTATE);
    assert_false(dpt_span_is_recording(w.kept));
    assert_int_equal(dpt_span_end(w.kept), DPT_ESTATE);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_null(find_attr(d, "outer.after.end"));
    assert_null(find_attr(d, "too.late"));
    dpt_span_data_release(d);
    assert_int_equal(w.ends, 1);
    tprov_free(&tp);
}

/* dptrace's choice: dpt_span_end from inside on_ending does nothing; the span ends once,
 * when the callbacks return, and stays changeable until then. */
static void test_end_inside_on_ending_does_nothing(void **st)
{
    (void)st;
    char log[64] = "";
    watcher a = {.name = 'A', .log = log, .end_it = true}, b = {.name = 'B', .log = log};
    tprov tp = tprov_new(NULL, NULL);
    add_watcher(&tp, &a);
    add_watcher(&tp, &b);
    dpt_span s = dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
    a.outer = b.outer = s;
    assert_int_equal(dpt_span_end(s), DPT_OK);
    assert_int_equal(a.own_end, DPT_ESTATE);
    assert_int_equal(a.own_set, DPT_OK);
    assert_string_equal(log, "AeBeAdBd"); /* B's on_ending still ran, on_end once each */
    dpt_stats stats;
    dpt_provider_get_stats(tp.p, &stats);
    assert_int_equal(stats.spans_ended, 1);
    const dpt_span_data *d = tprov_span(&tp, 0);
    const dpt_attr *v = find_attr(d, "after.own.end");
    assert_non_null(v);
    assert_int_equal(v->value.u.i, 7);
    dpt_span_data_release(d);
    assert_null(dpt_exporter_memory_get(tp.mem, 1)); /* exported once */
    tprov_free(&tp);
}

/* Processors see recording spans only: no on_ending for a span that is not recorded. */
static void test_no_on_ending_for_spans_not_recorded(void **st)
{
    (void)st;
    char log[64] = "";
    watcher w = {.name = 'A', .log = log};
    tprov tp = tprov_new(dpt_sampler_always_off(), NULL);
    add_watcher(&tp, &w);
    for (int i = 0; i < 10; i++)
        dpt_span_end(dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL));
    assert_int_equal(w.endings, 0);
    assert_int_equal(w.ends, 0);
    tprov_free(&tp);
}

/* With a batch processor: a provider created with one batch processor ends spans through
 * its inline path; a processor with on_ending added later must be called all the same,
 * and the batch's exporter gets the changes. */
static void test_on_ending_with_a_batch_processor(void **st)
{
    (void)st;
    char log[64] = "";
    watcher w = {.name = 'A', .log = log, .change = true};
    dpt_exporter *mem = dpt_exporter_memory(100);
    dpt_processor *bp = NULL;
    dpt_provider *p = batch_provider(mem, NULL, &bp);
    dpt_tracer *t = dpt_provider_get_tracer(p, "t", NULL);
    dpt_span_end(dpt_span_start(t, "before", DPT_SPAN_INTERNAL, NULL));
    assert_int_equal(dpt_provider_add_processor(p, dpt_processor_new(&watcher_ops, &w)), DPT_OK);
    dpt_span s = dpt_span_start(t, "after", DPT_SPAN_INTERNAL, NULL);
    w.outer = s;
    dpt_span_end(s);
    assert_int_equal(w.endings, 1);
    assert_int_equal(dpt_provider_force_flush(p, 10000), DPT_OK);
    const dpt_span_data *d = dpt_exporter_memory_get(mem, 1);
    assert_non_null(d);
    assert_string_equal(d->name, "renamed");
    assert_non_null(find_attr(d, "added.by"));
    dpt_span_data_release(d);
    dpt_provider_free(p);
}

/* Another thread keeps setting an attribute through the application's handle while the
 * span ends: nothing it does lands after the first on_ending began. */
typedef struct hammer {
    dpt_span s;
    _Atomic bool stop;
    _Atomic int64_t ok;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    for (int64_t i = 0; !atomic_load(&h->stop); i++)
        if (dpt_span_set_int(h->s, "late", i) == DPT_OK) atomic_fetch_add(&h->ok, 1);
    return NULL;
}

static void test_other_threads_cannot_change_an_ending_span(void **st)
{
    (void)st;
    char log[64] = "";
    watcher w = {.name = 'A', .log = log};
    tprov tp = tprov_new(NULL, NULL);
    add_watcher(&tp, &w);
    for (int round = 0; round < 200; round++) {
        log[0] = 0;
        dpt_span s = dpt_span_start(tp.t, "x", DPT_SPAN_INTERNAL, NULL);
        w.outer = s;
        hammer h = {.s = s};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, hammer_run, &h), 0);
        while (atomic_load(&h.ok) < 1 + round % 7) /* the other thread has the span */
            sched_yield();
        dpt_span_end(s);
        atomic_store(&h.stop, true);
        pthread_join(th, NULL);
        assert_int_equal(w.endings, round + 1);
        assert_true(w.late_at_ending >= 0);
        assert_int_equal(w.late_at_end, w.late_at_ending); /* unchanged since on_ending */
    }
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_in_on_ending_reach_every_exporter),
        cmocka_unit_test(test_explicit_end_time_is_set_before_on_ending),
        cmocka_unit_test(test_on_ending_in_order_and_before_any_on_end),
        cmocka_unit_test(test_only_the_callback_handle_changes_the_span),
        cmocka_unit_test(test_end_inside_on_ending_does_nothing),
        cmocka_unit_test(test_no_on_ending_for_spans_not_recorded),
        cmocka_unit_test(test_on_ending_with_a_batch_processor),
        cmocka_unit_test(test_other_threads_cannot_change_an_ending_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
