/* test_sampler.c - samplers: always on/off, ratio and probability consistency,
 * parent-based delegation, user samplers, rate limiting. */
#include "test_util.h"

static dpt_decision decide(const dpt_sampler *s, const dpt_trace_id *tid,
                           const dpt_span_context *parent, const dpt_tracestate *pts,
                           dpt_tracestate **ts_out)
{
    dpt_sampling_params in = {.parent = parent,
                              .parent_tracestate = pts,
                              .trace_id = tid,
                              .name = "x",
                              .kind = DPT_SPAN_INTERNAL};
    dpt_sampling_result out;
    dpt_sampler_should_sample(s, &in, &out);
    if (ts_out)
        *ts_out = out.tracestate;
    else
        dpt_tracestate_release(out.tracestate);
    return out.decision;
}

static void test_always_on_and_off(void **state)
{
    (void)state;
    dpt_sampler *on = dpt_sampler_always_on(), *off = dpt_sampler_always_off();
    dpt_trace_id t = dpt_trace_id_generate();
    assert_int_equal(decide(on, &t, NULL, NULL, NULL), DPT_RECORD_AND_SAMPLE);
    assert_int_equal(decide(off, &t, NULL, NULL, NULL), DPT_DROP);
    assert_string_equal(dpt_sampler_description(on), "AlwaysOnSampler");
    dpt_sampler_free(on);
    dpt_sampler_free(off);
}

static void test_ratio_sampler_rejects_out_of_range(void **state)
{
    (void)state;
    assert_null(dpt_sampler_traceid_ratio(-0.1));
    assert_null(dpt_sampler_traceid_ratio(1.5));
    assert_null(dpt_sampler_probability(0.0 / 0.0));
    assert_null(dpt_sampler_probability(2));
}

/* Two providers (each with its own id generator seed) decide the same for every trace. */
static void test_ratio_sampler_agrees_across_providers(void **state)
{
    (void)state;
    tprov a = tprov_new(dpt_sampler_traceid_ratio(0.3), NULL);
    tprov b = tprov_new(dpt_sampler_traceid_ratio(0.3), NULL);
    int sampled = 0;
    for (int i = 0; i < 20000; i++) {
        dpt_span_context remote = {
            .trace_id = dpt_trace_id_generate(), .span_id = dpt_span_id_generate(), .remote = true};
        dpt_context *c = dpt_context_new(&remote, NULL, NULL);
        dpt_span sa = dpt_span_start(a.t, "a", DPT_SPAN_SERVER, &(dpt_span_opts){.parent = c});
        dpt_span sb = dpt_span_start(b.t, "b", DPT_SPAN_SERVER, &(dpt_span_opts){.parent = c});
        assert_int_equal(dpt_span_is_recording(sa), dpt_span_is_recording(sb));
        sampled += dpt_span_is_recording(sa);
        dpt_span_end(sa);
        dpt_span_end(sb);
        dpt_context_release(c);
    }
    assert_in_range(sampled, 5400, 6600);
    tprov_free(&a);
    tprov_free(&b);
}

static int cmp_tid(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(dpt_trace_id));
}

/* Spec (sdk.md, TraceIdRatioBased): the decision is a function of the trace id alone. The
 * span start decides a ratio sampler inline, without calling it (span.c, sampler.h); every
 * span, whichever way it starts, must get the decision the sampler itself gives for its
 * trace id, and no trace id may repeat. Roots with a bare and a parent-based ratio sampler,
 * children of a local parent (the bare sampler decides them by the parent's trace id, on the
 * start's inline path), and starts with options. */
static void test_ratio_decided_at_start_is_the_samplers_own(void **state)
{
    (void)state;
    dpt_sampler *ref = dpt_sampler_traceid_ratio(0.25);
    for (int variant = 0; variant < 2; variant++) {
        dpt_sampler *s = dpt_sampler_traceid_ratio(0.25);
        if (variant) s = dpt_sampler_parent_based(s, NULL, NULL, NULL, NULL);
        tprov tp = tprov_new(s, NULL);
        enum { N = 20000 };
        dpt_trace_id *ids = calloc(N, sizeof *ids);
        assert_non_null(ids);
        int sampled = 0;
        for (int i = 0; i < N; i++) {
            dpt_attr a = DPT_INT("i", i);
            dpt_span_opts o = {.attrs = &a, .n_attrs = 1};
            dpt_span sp = dpt_span_start(tp.t, "root", DPT_SPAN_SERVER, i % 4 == 3 ? &o : NULL);
            dpt_span_context sc = dpt_span_get_context(sp);
            ids[i] = sc.trace_id;
            bool want = decide(ref, &sc.trace_id, NULL, NULL, NULL) == DPT_RECORD_AND_SAMPLE;
            assert_int_equal(dpt_span_is_recording(sp), want);
            assert_int_equal((sc.flags & DPT_FLAG_SAMPLED) != 0, want);
            sampled += want;
            if (!variant && i % 8 == 0) {
                /* a child of this span as the current one: the same trace, so the same answer */
                dpt_context *c = dpt_context_with_span(NULL, sp);
                dpt_token tok = dpt_context_attach(c);
                dpt_span ch = dpt_span_start(tp.t, "child", DPT_SPAN_INTERNAL, NULL);
                dpt_span_context cc = dpt_span_get_context(ch);
                assert_memory_equal(cc.trace_id.b, sc.trace_id.b, 16);
                assert_int_equal(dpt_span_is_recording(ch), want);
                dpt_span_end(ch);
                dpt_context_detach(tok);
                dpt_context_release(c);
            }
            dpt_span_end(sp);
        }
        assert_in_range(sampled, N / 4 - 600, N / 4 + 600);
        qsort(ids, N, sizeof *ids, cmp_tid);
        for (int i = 1; i < N; i++)
            assert_true(memcmp(&ids[i - 1], &ids[i], sizeof *ids) != 0);
        free(ids);
        tprov_free(&tp);
    }
    dpt_sampler_free(ref);
}

/* Over 1,000,000 random ids the fraction is within 0.5 % of p, and a higher p samples
 * every trace a lower p does. */
static void test_probability_sampler_is_accurate_and_consistent(void **state)
{
    (void)state;
    const double ps[] = {0.01, 0.1, 0.25, 0.5, 0.9};
    dpt_sampler *s[5];
    for (int i = 0; i < 5; i++)
        s[i] = dpt_sampler_probability(ps[i]);
    long counts[5] = {0};
    const long n = 1000000;
    for (long k = 0; k < n; k++) {
        dpt_trace_id t = dpt_trace_id_generate();
        bool prev = false;
        for (int i = 0; i < 5; i++) {
            bool yes = decide(s[i], &t, NULL, NULL, NULL) == DPT_RECORD_AND_SAMPLE;
            if (prev) assert_true(yes); /* monotone in p */
            prev = yes;
            counts[i] += yes;
        }
    }
    for (int i = 0; i < 5; i++) {
        double frac = (double)counts[i] / (double)n;
        double err = frac - ps[i];
        if (err < 0) err = -err;
        assert_true(err <= 0.005); /* within 0.5 percentage points */
    }
    for (int i = 0; i < 5; i++)
        dpt_sampler_free(s[i]);
}

static void test_probability_sampler_records_threshold_in_tracestate(void **state)
{
    (void)state;
    dpt_sampler *half = dpt_sampler_probability(0.5), *all = dpt_sampler_probability(1.0),
                *none = dpt_sampler_probability(0.0);
    /* R = last 7 bytes; 0xff.. is >= any threshold, 0x00.. is below any but 0 */
    dpt_trace_id hi, lo;
    memset(hi.b, 0xff, 16);
    memset(lo.b, 0, 16);
    lo.b[0] = 1;
    dpt_tracestate *ts = NULL;
    dpt_tracestate *parent;
    assert_int_equal(
        dpt_tracestate_parse("ot=rv:ffffffffffffff;foo:bar,vendor=1", DPT_NUL, &parent), DPT_OK);
    assert_int_equal(decide(half, &hi, NULL, NULL, &ts), DPT_RECORD_AND_SAMPLE);
    assert_string_equal(dpt_tracestate_str(ts, NULL), "ot=th:8");
    dpt_tracestate_release(ts);
    assert_int_equal(decide(half, &lo, NULL, NULL, NULL), DPT_DROP);
    /* explicit randomness in tracestate wins over the trace id; other ot sub-keys stay */
    assert_int_equal(decide(half, &lo, NULL, parent, &ts), DPT_RECORD_AND_SAMPLE);
    assert_string_equal(dpt_tracestate_str(ts, NULL), "ot=th:8;rv:ffffffffffffff;foo:bar,vendor=1");
    dpt_tracestate_release(ts);
    assert_int_equal(decide(all, &lo, NULL, NULL, &ts), DPT_RECORD_AND_SAMPLE);
    assert_string_equal(dpt_tracestate_str(ts, NULL), "ot=th:0");
    dpt_tracestate_release(ts);
    assert_int_equal(decide(none, &hi, NULL, NULL, NULL), DPT_DROP);
    dpt_sampler *tenth = dpt_sampler_probability(0.1);
    assert_int_equal(decide(tenth, &hi, NULL, NULL, &ts), DPT_RECORD_AND_SAMPLE);
    /* (1 - 0.1) * 2^56 = 0xe6666666666666 (rounded) */
    assert_string_equal(dpt_tracestate_str(ts, NULL), "ot=th:e6666666666666");
    dpt_tracestate_release(ts);
    dpt_tracestate_release(parent);
    dpt_sampler_free(half);
    dpt_sampler_free(all);
    dpt_sampler_free(none);
    dpt_sampler_free(tenth);
}

static void test_parent_based_uses_the_five_delegates(void **state)
{
    (void)state;
    dpt_sampler *pb = dpt_sampler_parent_based(dpt_sampler_always_off(), NULL, NULL, NULL, NULL);
    assert_non_null(strstr(dpt_sampler_description(pb), "ParentBased{root=AlwaysOffSampler"));
    dpt_trace_id t = dpt_trace_id_generate();
    dpt_span_context p = {.trace_id = t, .span_id = dpt_span_id_generate()};
    assert_int_equal(decide(pb, &t, NULL, NULL, NULL), DPT_DROP); /* root -> off */
    p.flags = DPT_FLAG_SAMPLED;
    p.remote = true;
    assert_int_equal(decide(pb, &t, &p, NULL, NULL), DPT_RECORD_AND_SAMPLE);
    p.flags = 0;
    assert_int_equal(decide(pb, &t, &p, NULL, NULL), DPT_DROP);
    p.remote = false;
    assert_int_equal(decide(pb, &t, &p, NULL, NULL), DPT_DROP);
    p.flags = DPT_FLAG_SAMPLED;
    assert_int_equal(decide(pb, &t, &p, NULL, NULL), DPT_RECORD_AND_SAMPLE);
    dpt_sampler_free(pb);
    /* custom delegates: remote-not-sampled -> on */
    pb = dpt_sampler_parent_based(dpt_sampler_always_on(), NULL, dpt_sampler_always_on(), NULL,
                                  NULL);
    p.flags = 0;
    p.remote = true;
    assert_int_equal(decide(pb, &t, &p, NULL, NULL), DPT_RECORD_AND_SAMPLE);
    dpt_sampler_free(pb);
    assert_null(dpt_sampler_parent_based(NULL, dpt_sampler_always_on(), NULL, NULL, NULL));
}

static int custom_calls;
static void custom_fn(void *user, const dpt_sampling_params *in, dpt_sampling_result *out)
{
    static const dpt_attr extra[] = {DPT_STR("sampler.reason", "by-name")};
    custom_calls++;
    (void)user;
    if (strcmp(in->name, "keep") == 0) {
        out->decision = DPT_RECORD_AND_SAMPLE;
        out->attrs = extra;
        out->n_attrs = 1;
        dpt_tracestate_set(in->parent_tracestate, "mine", "1", &out->tracestate);
    } else if (strcmp(in->name, "record") == 0) {
        out->decision = DPT_RECORD_ONLY;
    } else {
        out->decision = DPT_DROP;
    }
}

static int freed;
static void free_user(void *u)
{
    (void)u;
    freed++;
}

static void test_custom_sampler_adds_attributes_and_tracestate(void **state)
{
    (void)state;
    dpt_store *st = dpt_store_new(NULL);
    tprov tp = tprov_new(dpt_sampler_custom(custom_fn, NULL, free_user, "ByName"), NULL);
    dpt_provider_add_processor(tp.p, dpt_processor_store(st));
    dpt_span k = dpt_span_start(tp.t, "keep", DPT_SPAN_INTERNAL, NULL);
    dpt_span r = dpt_span_start(tp.t, "record", DPT_SPAN_INTERNAL, NULL);
    dpt_span d = dpt_span_start(tp.t, "drop", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(r));
    assert_false(dpt_span_get_context(r).flags & DPT_FLAG_SAMPLED);
    assert_false(dpt_span_is_recording(d));
    dpt_span_context rc = dpt_span_get_context(r);
    dpt_span_end(k);
    dpt_span_end(r);
    dpt_span_end(d);
    assert_int_equal(custom_calls, 3);
    /* exporters get only sampled spans; processors (the store) get recorded ones too */
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    const dpt_span_data *kd = tprov_span(&tp, 0);
    assert_string_equal(find_attr(kd, "sampler.reason")->value.u.s, "by-name");
    assert_string_equal(kd->tracestate, "mine=1");
    dpt_span_data_release(kd);
    dpt_trace_snapshot *snap;
    assert_int_equal(dpt_store_get_trace(st, &rc.trace_id, &snap), DPT_OK);
    assert_int_equal(dpt_trace_snapshot_count(snap), 1);
    dpt_trace_snapshot_free(snap);
    tprov_free(&tp);
    dpt_store_free(st);
    assert_int_equal(freed, 1);
}

static void test_rate_limiting_sampler_caps_decisions(void **state)
{
    (void)state;
    dpt_sampler *s = dpt_sampler_rate_limiting(10);
    int yes = 0;
    for (int i = 0; i < 1000; i++) {
        dpt_trace_id t = dpt_trace_id_generate();
        yes += decide(s, &t, NULL, NULL, NULL) == DPT_RECORD_AND_SAMPLE;
    }
    /* a full bucket of 10, plus at most what refills during the loop (a few ms) */
    assert_in_range(yes, 10, 12);
    dpt_sampler_free(s);
    assert_null(dpt_sampler_rate_limiting(-1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_always_on_and_off),
        cmocka_unit_test(test_ratio_sampler_rejects_out_of_range),
        cmocka_unit_test(test_ratio_sampler_agrees_across_providers),
        cmocka_unit_test(test_ratio_decided_at_start_is_the_samplers_own),
        cmocka_unit_test(test_probability_sampler_is_accurate_and_consistent),
        cmocka_unit_test(test_probability_sampler_records_threshold_in_tracestate),
        cmocka_unit_test(test_parent_based_uses_the_five_delegates),
        cmocka_unit_test(test_custom_sampler_adds_attributes_and_tracestate),
        cmocka_unit_test(test_rate_limiting_sampler_caps_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
