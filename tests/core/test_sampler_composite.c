/* test_sampler_composite.c - OpenTelemetry's CompositeSampler and the built-in
 * ComposableSamplers (trace/sdk.md, "CompositeSampler", status Development), checked rule
 * by rule; the threshold and randomness arithmetic against the ProbabilitySampler, which
 * the specification says "can be implemented using a Composite(ComposableProbability(ratio))
 * configuration". */
#include "test_util.h"

#include "dptrace/propagation.h"

typedef struct outcome {
    dpt_decision decision;
    char ts[256]; /* the span's tracestate ("" when the parent's is kept and it is empty) */
    bool ts_new;  /* the sampler gave a new tracestate */
    size_t n_attrs;
    const dpt_attr *attrs;
} outcome;

static outcome run(const dpt_sampler *s, const dpt_trace_id *tid, const dpt_span_context *parent,
                   const char *parent_ts, const char *name)
{
    dpt_tracestate *pts = NULL;
    if (parent_ts) assert_int_equal(dpt_tracestate_parse(parent_ts, DPT_NUL, &pts), DPT_OK);
    dpt_sampling_params in = {.parent = parent,
                              .parent_tracestate = pts,
                              .trace_id = tid,
                              .name = name ? name : "x",
                              .kind = DPT_SPAN_SERVER};
    dpt_sampling_result r;
    dpt_sampler_should_sample(s, &in, &r);
    outcome o = {r.decision, "", r.tracestate != NULL, r.n_attrs, r.attrs};
    const dpt_tracestate *ts = r.tracestate ? r.tracestate : pts;
    snprintf(o.ts, sizeof o.ts, "%s", dpt_tracestate_str(ts, NULL));
    dpt_tracestate_release(r.tracestate);
    dpt_tracestate_release(pts);
    return o;
}

/* A trace id whose right-most 56 bits (the randomness R) are r. */
static dpt_trace_id tid_with_r(uint64_t r)
{
    dpt_trace_id t;
    memset(t.b, 0x5a, 16);
    for (int i = 0; i < 7; i++)
        t.b[15 - i] = (uint8_t)(r >> (8 * i));
    return t;
}

static dpt_span_context parent_ctx(bool sampled)
{
    dpt_span_context p = {.flags = sampled ? DPT_FLAG_SAMPLED : 0, .remote = true};
    p.trace_id = tid_with_r(1);
    dpt_span_id_from_hex("00f067aa0ba902b7", 16, &p.span_id);
    return p;
}

/* ComposableAlwaysOn: "threshold = 0", "adjusted_count_reliable true" -> sampled with
 * th:0 recorded. ComposableAlwaysOff: "no threshold" -> DROP, and "In case of negative
 * sampling decision, it removes the th value for the ot key from the Tracestate". */
static void test_always_on_and_always_off(void **st)
{
    (void)st;
    dpt_sampler *on = dpt_sampler_composite(dpt_composable_always_on());
    dpt_sampler *off = dpt_sampler_composite(dpt_composable_always_off());
    assert_string_equal(dpt_sampler_description(on), "CompositeSampler{ComposableAlwaysOn}");
    dpt_trace_id t = tid_with_r(0);
    outcome o = run(on, &t, NULL, NULL, NULL);
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_string_equal(o.ts, "ot=th:0");
    dpt_span_context p = parent_ctx(true);
    o = run(off, &t, &p, "ot=th:8;rv:12345678901234,vendor=1", NULL);
    assert_int_equal(o.decision, DPT_DROP);
    assert_string_equal(o.ts, "ot=rv:12345678901234,vendor=1");
    dpt_sampler_free(on);
    dpt_sampler_free(off);
}

/* ComposableProbability: "threshold determined by the configured sampling ratio", reliable;
 * the same decisions and th as the ProbabilitySampler for 20,000 trace ids, explicit
 * randomness (ot=rv:) included. */
static void test_probability_matches_the_probability_sampler(void **st)
{
    (void)st;
    const double ratios[] = {1.0, 0.5, 0.25, 0.1, 0.01, 1.0 / 3.0};
    for (size_t k = 0; k < sizeof ratios / sizeof *ratios; k++) {
        dpt_sampler *c = dpt_sampler_composite(dpt_composable_probability(ratios[k]));
        dpt_sampler *p = dpt_sampler_probability(ratios[k]);
        assert_non_null(c);
        size_t sampled = 0;
        for (int i = 0; i < 20000; i++) {
            dpt_trace_id t = dpt_trace_id_generate();
            const char *pts = (i % 5 == 0) ? "ot=rv:00000000000001" : NULL;
            outcome a = run(c, &t, NULL, pts, NULL), b = run(p, &t, NULL, pts, NULL);
            assert_int_equal(a.decision, b.decision);
            if (a.decision == DPT_RECORD_AND_SAMPLE) {
                assert_string_equal(a.ts, b.ts);
                sampled++;
            }
        }
        if (ratios[k] == 1.0) assert_int_equal(sampled, 20000);
        dpt_sampler_free(c);
        dpt_sampler_free(p);
    }
    /* "A ratio value of 0 ... a ComposableAlwaysOff instance SHOULD be returned"; outside
     * [2^-56, 1]: refused. */
    dpt_composable *zero = dpt_composable_probability(0.0);
    dpt_sampler *z = dpt_sampler_composite(zero);
    assert_string_equal(dpt_sampler_description(z), "CompositeSampler{ComposableAlwaysOff}");
    dpt_sampler_free(z);
    assert_null(dpt_composable_probability(1.5));
    assert_null(dpt_composable_probability(-0.1));
    assert_null(dpt_composable_probability(1e-20));
    assert_null(dpt_composable_probability(0.0 / 0.0));
}

/* R >= T samples: R right at the threshold and one below it (T for 0.5 is 2^55). */
static void test_threshold_edge(void **st)
{
    (void)st;
    dpt_sampler *half = dpt_sampler_composite(dpt_composable_probability(0.5));
    dpt_trace_id at = tid_with_r(1ull << 55), below = tid_with_r((1ull << 55) - 1);
    outcome o = run(half, &at, NULL, NULL, NULL);
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_string_equal(o.ts, "ot=th:8");
    assert_int_equal(run(half, &below, NULL, NULL, NULL).decision, DPT_DROP);
    dpt_sampler_free(half);
}

/* ComposableParentThreshold: roots go to the root delegate; with a parent, "the parent's
 * threshold if available; otherwise, if the parent's sampled flag is set, returns
 * threshold=0; otherwise ... no threshold", reliable "if the parent had a threshold". */
static void test_parent_threshold(void **st)
{
    (void)st;
    dpt_sampler *s =
        dpt_sampler_composite(dpt_composable_parent_threshold(dpt_composable_probability(0.5)));
    dpt_trace_id lo = tid_with_r(1), hi = tid_with_r((1ull << 56) - 1);
    /* root: the delegate's 50 % */
    assert_int_equal(run(s, &lo, NULL, NULL, NULL).decision, DPT_DROP);
    assert_int_equal(run(s, &hi, NULL, NULL, NULL).decision, DPT_RECORD_AND_SAMPLE);
    /* a sampled parent with th:c (25 %): its threshold decides, and is kept */
    dpt_span_context ps = parent_ctx(true), pn = parent_ctx(false);
    dpt_trace_id r_d = tid_with_r(0xd0000000000000ull), r_b = tid_with_r(0xb0000000000000ull);
    outcome o = run(s, &r_d, &ps, "ot=th:c", NULL);
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_string_equal(o.ts, "ot=th:c");
    assert_int_equal(run(s, &r_b, &ps, "ot=th:c", NULL).decision, DPT_DROP);
    /* a sampled parent without th: sampled whatever R, th not written (not reliable) */
    o = run(s, &lo, &ps, "vendor=1", NULL);
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_false(o.ts_new);
    assert_string_equal(o.ts, "vendor=1");
    /* an unsampled parent without th: dropped whatever R */
    assert_int_equal(run(s, &hi, &pn, NULL, NULL).decision, DPT_DROP);
    dpt_sampler_free(s);
}

/* ComposableRuleBased: "the SamplingIntent from the first matching sampler"; "If no rules
 * match, returns a non-sampling intent". The specification's example: health checks never,
 * checkouts always, the rest at 10 %. */
static bool name_is(void *user, const dpt_sampling_params *in)
{
    return strcmp(in->name, (const char *)user) == 0;
}
static bool name_starts(void *user, const dpt_sampling_params *in)
{
    return strncmp(in->name, (const char *)user, strlen((const char *)user)) == 0;
}

static void test_rule_based(void **st)
{
    (void)st;
    static char health[] = "GET /health", checkout[] = "POST /checkout", get[] = "GET ";
    dpt_composable_rule rules[] = {
        {name_is, health, dpt_composable_always_off()},
        {name_is, checkout, dpt_composable_always_on()},
        {name_starts, get, dpt_composable_probability(0.1)},
    };
    dpt_sampler *s =
        dpt_sampler_composite(dpt_composable_parent_threshold(dpt_composable_rule_based(rules, 3)));
    assert_non_null(s);
    dpt_trace_id hi = tid_with_r((1ull << 56) - 1), lo = tid_with_r(5);
    assert_int_equal(run(s, &hi, NULL, NULL, "GET /health").decision, DPT_DROP);
    outcome o = run(s, &lo, NULL, NULL, "POST /checkout");
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_string_equal(o.ts, "ot=th:0");
    o = run(s, &hi, NULL, NULL, "GET /orders");
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_string_equal(o.ts, "ot=th:e6666666666666");
    assert_int_equal(run(s, &lo, NULL, NULL, "GET /orders").decision, DPT_DROP);
    assert_int_equal(run(s, &hi, NULL, NULL, "DELETE /x").decision, DPT_DROP); /* no rule */
    dpt_sampler_free(s);
    /* a rule without a predicate or sampler: refused, its samplers freed (ASan sees) */
    dpt_composable_rule bad[] = {{name_is, health, dpt_composable_always_on()},
                                 {NULL, NULL, dpt_composable_always_on()}};
    assert_null(dpt_composable_rule_based(bad, 2));
}

/* ComposableAnnotating: "Delegates the sampling decision to another sampler but adds
 * attributes to sampled spans". */
static void test_annotating_adds_attributes_to_sampled_spans_only(void **st)
{
    (void)st;
    char rule[] = "checkout-always";
    dpt_attr a[] = {DPT_STR("sampling.rule", rule), DPT_INT("sampling.tier", 2)};
    dpt_sampler *s =
        dpt_sampler_composite(dpt_composable_annotating(dpt_composable_probability(0.5), a, 2));
    rule[0] = 'X'; /* copied */
    dpt_trace_id hi = tid_with_r((1ull << 56) - 1), lo = tid_with_r(3);
    outcome o = run(s, &hi, NULL, NULL, NULL);
    assert_int_equal(o.decision, DPT_RECORD_AND_SAMPLE);
    assert_int_equal(o.n_attrs, 2);
    assert_memory_equal(o.attrs[0].value.u.s, "checkout-always", 15);
    o = run(s, &lo, NULL, NULL, NULL);
    assert_int_equal(o.decision, DPT_DROP);
    assert_int_equal(o.n_attrs, 0);
    dpt_sampler_free(s);
    /* nested: both annotations, the inner one first */
    dpt_attr inner[] = {DPT_INT("inner", 1)}, outer[] = {DPT_INT("outer", 2), DPT_INT("o2", 3)};
    s = dpt_sampler_composite(dpt_composable_annotating(
        dpt_composable_annotating(dpt_composable_always_on(), inner, 1), outer, 2));
    o = run(s, &lo, NULL, NULL, NULL);
    assert_int_equal(o.n_attrs, 3);
    assert_int_equal(o.attrs[0].value.u.i, 1);
    assert_int_equal(o.attrs[1].value.u.i, 2);
    assert_int_equal(o.attrs[2].value.u.i, 3);
    dpt_sampler_free(s);
}

/* Through a provider: the span gets the decision, the attributes and the tracestate. */
static void test_composite_in_a_provider(void **st)
{
    (void)st;
    dpt_attr a[] = {DPT_STR("sampling.rule", "all")};
    tprov tp = tprov_new(dpt_sampler_composite(dpt_composable_parent_threshold(
                             dpt_composable_annotating(dpt_composable_always_on(), a, 1))),
                         NULL);
    dpt_span s = dpt_span_start(tp.t, "root", DPT_SPAN_SERVER, NULL);
    assert_true(dpt_span_is_recording(s));
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_non_null(find_attr(d, "sampling.rule"));
    assert_int_equal(d->tracestate_len, 7);
    assert_memory_equal(d->tracestate, "ot=th:0", 7);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

/* "In case of negative sampling decision, it removes the th value for the ot key from the
 * Tracestate", also when th was all it held: a dropped child of a parent whose tracestate
 * is just ot=th:8 sends no tracestate downstream (before, the parent's was kept, th and
 * all, and a ParentThreshold downstream would have sampled under an unsampled parent). */
static void test_a_dropped_span_sends_no_threshold_downstream(void **st)
{
    (void)st;
    dpt_sampler *off = dpt_sampler_composite(dpt_composable_always_off());
    dpt_span_context p = parent_ctx(true);
    dpt_trace_id t = tid_with_r(7);
    outcome o = run(off, &t, &p, "ot=th:8", NULL);
    assert_int_equal(o.decision, DPT_DROP);
    dpt_sampler_free(off);

    dpt_tracestate *pts = NULL;
    assert_int_equal(dpt_tracestate_parse("ot=th:8", DPT_NUL, &pts), DPT_OK);
    dpt_context *pc = dpt_context_new(&p, pts, NULL);
    tprov tp = tprov_new(dpt_sampler_composite(dpt_composable_always_off()), NULL);
    dpt_span s = dpt_span_start(tp.t, "x", DPT_SPAN_CLIENT, &(dpt_span_opts){.parent = pc});
    assert_false(dpt_span_is_recording(s));
    dpt_context *sc = dpt_context_with_span(pc, s);
    dpt_headers h = DPT_HEADERS_INIT;
    assert_int_equal(
        dpt_propagator_inject(dpt_propagator_tracecontext(), sc, &dpt_headers_setter, &h), DPT_OK);
    assert_non_null(dpt_headers_get(&h, "traceparent", 0, NULL));
    assert_null(dpt_headers_get(&h, "tracestate", 0, NULL));
    dpt_headers_free(&h);
    /* the same parent with another member: that member stays, th goes */
    dpt_tracestate *pts2 = NULL;
    assert_int_equal(dpt_tracestate_parse("ot=th:8,vendor=1", DPT_NUL, &pts2), DPT_OK);
    dpt_context *pc2 = dpt_context_new(&p, pts2, NULL);
    dpt_span s2 = dpt_span_start(tp.t, "y", DPT_SPAN_CLIENT, &(dpt_span_opts){.parent = pc2});
    dpt_context *sc2 = dpt_context_with_span(pc2, s2);
    assert_int_equal(
        dpt_propagator_inject(dpt_propagator_tracecontext(), sc2, &dpt_headers_setter, &h), DPT_OK);
    assert_string_equal(dpt_headers_get(&h, "tracestate", 0, NULL), "vendor=1");
    dpt_headers_free(&h);
    dpt_span_end(s);
    dpt_span_end(s2);
    dpt_context_release(sc);
    dpt_context_release(sc2);
    dpt_context_release(pc);
    dpt_context_release(pc2);
    dpt_tracestate_release(pts);
    dpt_tracestate_release(pts2);
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_always_on_and_always_off),
        cmocka_unit_test(test_probability_matches_the_probability_sampler),
        cmocka_unit_test(test_threshold_edge),
        cmocka_unit_test(test_parent_threshold),
        cmocka_unit_test(test_rule_based),
        cmocka_unit_test(test_annotating_adds_attributes_to_sampled_spans_only),
        cmocka_unit_test(test_composite_in_a_provider),
        cmocka_unit_test(test_a_dropped_span_sends_no_threshold_downstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
