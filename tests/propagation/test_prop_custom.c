/* test_prop_custom.c - a propagation format defined outside the library: the ops table,
 * registration by name for OTEL_PROPAGATORS, the extraction accumulator, counters of its
 * own, and the constructor rule (the object, or NULL after logging why).
 *
 * The format ("xctx", dptrace's own test format): one field
 *   x-ctx: <32 hex trace id>.<16 hex span id>.<0|1>
 * and baggage in x-ctx-bag: key=value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

typedef struct xstate {
    int stat; /* our counter's index */
    int freed;
} xstate;

static void x_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    xstate *s = st;
    size_t n = 0;
    const char *v = g->get(carrier, "x-ctx", 0, &n);
    if (v) {
        dpt_extraction_saw_trace_field(x);
        dpt_span_context sc;
        memset(&sc, 0, sizeof sc);
        if (n == 51 && v[32] == '.' && v[49] == '.' &&
            dpt_trace_id_from_hex(v, 32, &sc.trace_id) == DPT_OK &&
            dpt_span_id_from_hex(v + 33, 16, &sc.span_id) == DPT_OK &&
            (v[50] == '0' || v[50] == '1')) {
            sc.flags = v[50] == '1' ? DPT_FLAG_SAMPLED : 0;
            if (dpt_extraction_set_span_context(x, &sc, NULL) != DPT_OK)
                dpt_propagation_stat_add(s->stat, 1);
        } else {
            dpt_propagation_stat_add(s->stat, 1);
        }
    }
    const char *b = g->get(carrier, "x-ctx-bag", 0, &n);
    const char *eq = b ? memchr(b, '=', n) : NULL;
    if (eq)
        dpt_extraction_add_baggage(x, b, (size_t)(eq - b), eq + 1, n - (size_t)(eq - b) - 1, NULL,
                                   0);
}

static dpt_err x_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *carrier)
{
    (void)st;
    dpt_span_context sc = dpt_context_span_context(ctx);
    if (!dpt_span_context_is_valid(&sc)) return DPT_OK;
    char t[33], sp[17], v[64];
    dpt_trace_id_to_hex(&sc.trace_id, t);
    dpt_span_id_to_hex(&sc.span_id, sp);
    int n = snprintf(v, sizeof v, "%s.%s.%d", t, sp, (sc.flags & DPT_FLAG_SAMPLED) ? 1 : 0);
    return s->set(carrier, "x-ctx", v, (size_t)n);
}

static size_t x_fields(void *st, const char **names, size_t max)
{
    (void)st;
    if (max) names[0] = "x-ctx";
    return 1;
}

static void x_free(void *st)
{
    ((xstate *)st)->freed++;
}

static const dpt_propagator_ops x_ops = {x_extract, x_inject, x_fields, x_free};

/* The whole path: defined here, registered by name, chosen in OTEL_PROPAGATORS next to a
 * built-in, extracted and injected. */
static void test_custom_format_selected_by_otel_propagators(void **st)
{
    (void)st;
    xstate state = {dpt_propagation_stat_register("xctx_invalid"), 0};
    assert_true(state.stat >= DPT_PSTAT_BUILTIN_COUNT);
    dpt_propagator *mine = dpt_propagator_new("xctx", &x_ops, &state);
    assert_non_null(mine);
    assert_int_equal(dpt_propagator_register("xctx", mine), DPT_OK);
    setenv("OTEL_PROPAGATORS", "xctx, baggage", 1);
    dpt_propagator *p = dpt_propagator_from_env();
    unsetenv("OTEL_PROPAGATORS");
    const char *f[4];
    assert_int_equal(dpt_propagator_fields(p, f, 4), 2);
    assert_string_equal(f[0], "x-ctx");
    assert_string_equal(f[1], "baggage");

    dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "X-Ctx", DPT_NUL, TID "." SID ".1", DPT_NUL);
    dpt_headers_add(&in, "x-ctx-bag", DPT_NUL, "tenant=acme", DPT_NUL);
    dpt_headers_add(&in, "baggage", DPT_NUL, "user=bob", DPT_NUL);
    dpt_context *c = NULL;
    assert_int_equal(dpt_propagator_extract(p, &dpt_headers_getter, &in, &c), DPT_OK);
    dpt_span_context sc = dpt_context_span_context(c);
    char h[33];
    dpt_trace_id_to_hex(&sc.trace_id, h);
    assert_string_equal(h, TID);
    assert_true(sc.remote);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
    assert_string_equal(dpt_baggage_get(dpt_context_baggage(c), "tenant"), "acme");
    assert_string_equal(dpt_baggage_get(dpt_context_baggage(c), "user"), "bob");
    assert_int_equal(dpt_propagator_inject(p, c, &dpt_headers_setter, &out), DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "x-ctx", 0, NULL), TID "." SID ".1");
    assert_non_null(strstr(dpt_headers_get(&out, "baggage", 0, NULL), "tenant=acme"));
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_headers_free(&out);

    /* an invalid field of the format: counted in its own counter, and "present but
     * invalid" is reported as such */
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    dpt_headers_add(&in, "x-ctx", DPT_NUL, "garbage", DPT_NUL);
    assert_int_equal(dpt_propagator_extract(p, &dpt_headers_getter, &in, &c), DPT_EPARSE);
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(after[state.stat], before[state.stat] + 1);
    assert_string_equal(dpt_propagation_stat_name((size_t)state.stat), "xctx_invalid");
    assert_int_equal(dpt_propagation_stat_register("xctx_invalid"), state.stat); /* same name */
    dpt_context_release(c);
    dpt_headers_free(&in);

    dpt_propagator_free(p);
    assert_int_equal(state.freed, 0); /* the composite does not own its members */
    assert_int_equal(dpt_propagator_register("xctx", NULL), DPT_OK);
    dpt_propagator_free(mine);
    assert_int_equal(state.freed, 1);
}

/* The project's rule: a constructor returns the object, or NULL after logging why. */
static void test_custom_constructor_and_registry_errors(void **st)
{
    (void)st;
    xstate state = {0, 0};
    static const dpt_propagator_ops no_inject = {x_extract, NULL, NULL, NULL};
    assert_null(dpt_propagator_new("x", NULL, NULL));
    assert_null(dpt_propagator_new("x", &no_inject, NULL));
    assert_null(dpt_propagator_new("", &x_ops, &state));
    assert_null(dpt_propagator_new("a-name-that-is-longer-than-31-bytes", &x_ops, &state));
    dpt_propagator *mine = dpt_propagator_new("mine", &x_ops, &state);
    assert_non_null(mine);
    assert_int_equal(dpt_propagator_register("tracecontext", mine), DPT_EINVAL); /* built-in */
    assert_int_equal(dpt_propagator_register("B3", mine), DPT_EINVAL); /* case-insensitive */
    assert_int_equal(dpt_propagator_register("has space", mine), DPT_EINVAL);
    assert_int_equal(dpt_propagator_register(NULL, mine), DPT_EINVAL);
    assert_int_equal(dpt_propagator_register("mine", mine), DPT_OK);
    assert_int_equal(dpt_propagator_register("MINE", mine), DPT_EINVAL); /* taken */
    assert_int_equal(dpt_propagator_register("other", NULL), DPT_ENOTFOUND);
    char name[16];
    int i = 0;
    dpt_err e = DPT_OK;
    for (; i < 40 && e == DPT_OK; i++) {
        snprintf(name, sizeof name, "p%d", i);
        e = dpt_propagator_register(name, mine);
    }
    assert_int_equal(e, DPT_ETOOBIG);
    for (int k = 0; k < i - 1; k++) {
        snprintf(name, sizeof name, "p%d", k);
        assert_int_equal(dpt_propagator_register(name, NULL), DPT_OK);
    }
    assert_int_equal(dpt_propagator_register("mine", NULL), DPT_OK);
    /* a registered name no longer known is an unknown name */
    dpt_propagator *p = dpt_propagator_from_names("mine");
    assert_int_equal(dpt_propagator_fields(p, NULL, 0), 0);
    dpt_propagator_free(p);
    dpt_propagator_free(mine);
    assert_int_equal(dpt_propagation_stat_register(NULL), -1);
    assert_int_equal(dpt_propagation_stat_register(""), -1);
    assert_null(dpt_propagation_stat_name(DPT_PSTAT_MAX));
    dpt_propagation_stat_add(-1, 1);            /* ignored */
    dpt_propagation_stat_add(DPT_PSTAT_MAX, 1); /* ignored */
    dpt_extraction_saw_trace_field(NULL);
    assert_int_equal(dpt_extraction_set_span_context(NULL, NULL, NULL), DPT_EINVAL);
    assert_int_equal(dpt_extraction_add_baggage(NULL, "k", 1, "v", 1, NULL, 0), DPT_EINVAL);
}

/* An extraction records only valid span contexts, and a later format's context replaces
 * an earlier one (the composite order rule of dpt_propagator_composite). */
static void x2_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st, (void)g, (void)carrier;
    dpt_span_context sc = dpt_extraction_span_context(x);
    assert_true(dpt_span_context_is_valid(&sc)); /* tracecontext ran first */
    dpt_span_context zero;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(dpt_extraction_set_span_context(x, &zero, NULL), DPT_EINVAL);
    sc.span_id.b[7] ^= 1;
    assert_int_equal(dpt_extraction_set_span_context(x, &sc, NULL), DPT_OK);
}

static void test_custom_format_sees_and_replaces_earlier_context(void **st)
{
    (void)st;
    static const dpt_propagator_ops ops = {x2_extract, x_inject, NULL, NULL};
    dpt_propagator *mine = dpt_propagator_new("x2", &ops, NULL);
    const dpt_propagator *l[] = {dpt_propagator_tracecontext(), mine};
    dpt_propagator *p = dpt_propagator_composite(l, 2);
    dpt_headers in = DPT_HEADERS_INIT;
    dpt_headers_add(&in, "traceparent", DPT_NUL, "00-" TID "-" SID "-01", DPT_NUL);
    dpt_context *c = NULL;
    assert_int_equal(dpt_propagator_extract(p, &dpt_headers_getter, &in, &c), DPT_OK);
    char s[17];
    dpt_span_context sc = dpt_context_span_context(c);
    dpt_span_id_to_hex(&sc.span_id, s);
    assert_string_equal(s, "00f067aa0ba902b6");
    assert_int_equal(dpt_propagator_fields(p, NULL, 0), 2); /* x2 has no fields op */
    dpt_context_release(c);
    dpt_headers_free(&in);
    dpt_propagator_free(p);
    dpt_propagator_free(mine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_format_selected_by_otel_propagators),
        cmocka_unit_test(test_custom_constructor_and_registry_errors),
        cmocka_unit_test(test_custom_format_sees_and_replaces_earlier_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
