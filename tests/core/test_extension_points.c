/* test_extension_points.c - what users plug into the SDK: a sampler that sees the full
 * parent context, a processor whose on_start gets the parent context, custom id generators
 * (and the X-Ray one), exception events with extra attributes, and the trace context
 * fields for application log lines. */
#include "test_util.h"

#include "dptrace/plugin.h"

#include <time.h>

/* ---- sampler: full parent context ---------------------------------------------------------- */

static dpt_context_key *tenant_key;

typedef struct seen {
    int calls;
    bool had_ctx;
    dpt_span_context sc;
    const char *tenant;
    const char *baggage_user;
    dpt_context *kept;
} seen;

static void record_parent(void *user, const dpt_sampling_params *in, dpt_sampling_result *out)
{
    seen *s = user;
    s->calls++;
    s->had_ctx = in->parent_context != NULL;
    s->sc = dpt_context_span_context(in->parent_context);
    s->tenant = dpt_context_get_value(in->parent_context, tenant_key);
    s->baggage_user = dpt_baggage_get(dpt_context_baggage(in->parent_context), "user");
    if (!s->kept) s->kept = dpt_context_retain(in->parent_context); /* lent: retain copies */
    out->decision = DPT_RECORD_AND_SAMPLE;
}

/* trace/sdk.md, ShouldSample: "Context with parent Span. The Span's SpanContext may be
 * invalid to indicate a root span." - the sampler gets the whole context: span context,
 * baggage and the user's values, for an explicit parent and for the current context. */
static void test_custom_sampler_gets_the_full_parent_context(void **state)
{
    (void)state;
    tenant_key = dpt_context_key_new("tenant", NULL);
    seen sn = {0};
    tprov tp = tprov_new(dpt_sampler_custom(record_parent, &sn, NULL, "rec"), NULL);
    static char acme[] = "acme";
    dpt_baggage *bg = NULL;
    dpt_baggage_set(NULL, "user", "u1", NULL, &bg);
    dpt_span_context remote = {.flags = DPT_FLAG_SAMPLED, .remote = true};
    dpt_trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32, &remote.trace_id);
    dpt_span_id_from_hex("00f067aa0ba902b7", 16, &remote.span_id);
    dpt_context *base = dpt_context_new(&remote, NULL, bg);
    dpt_context *parent = dpt_context_with_value(base, tenant_key, acme);

    /* Explicit parent. */
    dpt_span s =
        dpt_span_start(tp.t, "explicit", DPT_SPAN_SERVER, &(dpt_span_opts){.parent = parent});
    assert_int_equal(sn.calls, 1);
    assert_true(sn.had_ctx);
    assert_memory_equal(sn.sc.span_id.b, remote.span_id.b, 8);
    assert_ptr_equal(sn.tenant, acme);
    assert_string_equal(sn.baggage_user, "u1");
    dpt_span_end(s);

    /* The current context (attached), then a child of a span made current in it. */
    dpt_token tok = dpt_context_attach(parent);
    s = dpt_span_start(tp.t, "current", DPT_SPAN_INTERNAL, NULL);
    assert_ptr_equal(sn.tenant, acme);
    assert_true(sn.sc.remote);
    dpt_token t2 = dpt_span_make_current(s);
    dpt_span c = dpt_span_start(tp.t, "child", DPT_SPAN_INTERNAL, NULL);
    assert_ptr_equal(sn.tenant, acme);
    assert_false(sn.sc.remote);
    assert_memory_equal(sn.sc.span_id.b, dpt_span_get_context(s).span_id.b, 8);
    dpt_span_end(c);
    dpt_context_detach(t2);
    dpt_span_end(s);
    dpt_context_detach(tok);

    /* A root span: a context without a valid span context. */
    s = dpt_span_start(tp.t, "root", DPT_SPAN_INTERNAL, &(dpt_span_opts){.root = true});
    assert_true(sn.had_ctx);
    assert_false(dpt_span_context_is_valid(&sn.sc));
    dpt_span_end(s);

    /* What the sampler retained is a context of its own, still readable. */
    assert_ptr_equal(dpt_context_get_value(sn.kept, tenant_key), acme);
    dpt_context_release(sn.kept);
    dpt_context_release(parent);
    dpt_context_release(base);
    dpt_baggage_release(bg);
    tprov_free(&tp);
}

/* ---- processor: on_start with the parent context ----------------------------------------- */

typedef struct starts {
    int n;
    const char *tenant;
    dpt_span parent_span;
    char name[32];
} starts;

static void on_start_ctx(void *state, const dpt_span_data *d, const dpt_context *parent)
{
    starts *st = state;
    st->n++;
    st->tenant = dpt_context_get_value(parent, tenant_key);
    st->parent_span = dpt_context_span(parent);
    snprintf(st->name, sizeof st->name, "%s", d->name);
}

static void on_end_nop(void *state, const dpt_span_data *d)
{
    (void)state, (void)d;
}

/* trace/sdk.md, OnStart: "parentContext - the parent Context of the span that the SDK
 * determined (the explicitly passed Context, the current Context or an empty Context if
 * that was explicitly requested)." */
static void test_processor_on_start_gets_the_parent_context(void **state)
{
    (void)state;
    if (!tenant_key) tenant_key = dpt_context_key_new("tenant", NULL);
    starts st = {0};
    static const dpt_processor_ops ops = {.on_end = on_end_nop, .on_start_ctx = on_start_ctx};
    tprov tp = tprov_new(NULL, NULL);
    /* Through the multi processor too. */
    dpt_processor *one = dpt_processor_new(&ops, &st);
    assert_int_equal(dpt_provider_add_processor(tp.p, dpt_processor_multi(&one, 1)), DPT_OK);
    static char v[] = "t1";
    dpt_context *c = dpt_context_with_value(NULL, tenant_key, v);
    dpt_token tok = dpt_context_attach(c);
    dpt_span parent = dpt_span_start(tp.t, "parent", DPT_SPAN_SERVER, NULL);
    assert_int_equal(st.n, 1);
    assert_ptr_equal(st.tenant, v);
    dpt_span child =
        dpt_span_start(tp.t, "child", DPT_SPAN_INTERNAL, &(dpt_span_opts){.parent_span = parent});
    assert_int_equal(st.n, 2);
    assert_string_equal(st.name, "child");
    assert_ptr_equal(st.tenant, v); /* the current context's values, with the explicit span */
    assert_ptr_equal(st.parent_span.rec, parent.rec);
    dpt_span_end(child);
    dpt_span root = dpt_span_start(tp.t, "root", DPT_SPAN_INTERNAL, &(dpt_span_opts){.root = true});
    assert_null(st.tenant); /* an empty context when a root was asked for */
    dpt_span_end(root);
    dpt_span_end(parent);
    dpt_context_detach(tok);
    dpt_context_release(c);
    tprov_free(&tp);
}

/* ---- id generators -------------------------------------------------------------------------- */

static void fixed_trace(void *user, dpt_trace_id *out)
{
    int *calls = user;
    (*calls)++;
    memset(out->b, 0, 16);
    out->b[0] = 0xab;
    out->b[15] = (uint8_t)*calls;
}

static void zero_span(void *user, dpt_span_id *out)
{
    (void)user;
    memset(out->b, 0, 8); /* invalid: the SDK must not use it */
}

/* trace/sdk.md, Id Generators: "The SDK MUST by default randomly generate both the TraceId
 * and the SpanId. The SDK MUST provide a mechanism for customizing the way IDs are
 * generated for both the TraceId and the SpanId." Trace ids of continued traces are the
 * parent's; an invalid id from a generator is replaced (dptrace's own choice). */
static void test_custom_id_generator(void **state)
{
    (void)state;
    int calls = 0;
    dpt_id_generator g = {fixed_trace, zero_span, &calls, false};
    dpt_exporter *mem = dpt_exporter_memory(10);
    dpt_processor *proc = dpt_processor_simple(mem);
    dpt_provider_config cfg = {.processors = &proc, .n_processors = 1, .id_generator = &g};
    dpt_provider *p = dpt_provider_new(&cfg);
    dpt_tracer *t = dpt_provider_get_tracer(p, "ids", NULL);
    dpt_span root = dpt_span_start(t, "root", DPT_SPAN_INTERNAL, NULL);
    dpt_span_context rc = dpt_span_get_context(root);
    assert_int_equal(calls, 1);
    assert_int_equal(rc.trace_id.b[0], 0xab);
    assert_int_equal(rc.trace_id.b[15], 1);
    assert_true(dpt_span_id_is_valid(&rc.span_id));
    /* Not random: the W3C Level 2 random flag is not claimed. */
    assert_int_equal(rc.flags & DPT_FLAG_RANDOM, 0);
    dpt_span child =
        dpt_span_start(t, "child", DPT_SPAN_INTERNAL, &(dpt_span_opts){.parent_span = root});
    assert_int_equal(calls, 1); /* a child keeps the trace id */
    assert_memory_equal(dpt_span_get_context(child).trace_id.b, rc.trace_id.b, 16);
    dpt_span_end(child);
    dpt_span_end(root);
    /* Shut down: no-op spans, the generator is not called. */
    dpt_provider_shutdown(p, 1000);
    assert_null(dpt_span_start(t, "late", DPT_SPAN_INTERNAL, NULL).rec);
    assert_int_equal(calls, 1);
    dpt_provider_free(p);
}

/* X-Ray trace ids: epoch seconds in the first 4 bytes (big-endian), the rest random; the
 * right-most 7 bytes being random, the W3C random flag stays set. */
static void test_xray_id_generator(void **state)
{
    (void)state;
    dpt_provider_config cfg = {.id_generator = dpt_id_generator_xray()};
    dpt_provider *p = dpt_provider_new(&cfg);
    dpt_tracer *t = dpt_provider_get_tracer(p, "xray", NULL);
    /* CLOCK_REALTIME, as the generator: time() reads the coarse clock, up to a tick behind
     * it, so across a second boundary it said the previous second (1 run in 300). */
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    dpt_span a = dpt_span_start(t, "a", DPT_SPAN_INTERNAL, NULL);
    dpt_span b = dpt_span_start(t, "b", DPT_SPAN_INTERNAL, NULL);
    clock_gettime(CLOCK_REALTIME, &t1);
    time_t before = t0.tv_sec, after = t1.tv_sec;
    dpt_span_context ca = dpt_span_get_context(a), cb = dpt_span_get_context(b);
    uint32_t sec = (uint32_t)ca.trace_id.b[0] << 24 | (uint32_t)ca.trace_id.b[1] << 16 |
                   (uint32_t)ca.trace_id.b[2] << 8 | ca.trace_id.b[3];
    assert_in_range(sec, (uint32_t)before, (uint32_t)after);
    assert_memory_not_equal(ca.trace_id.b + 4, cb.trace_id.b + 4, 12);
    assert_int_equal(ca.flags & DPT_FLAG_RANDOM, DPT_FLAG_RANDOM);
    dpt_span_end(a);
    dpt_span_end(b);
    dpt_provider_free(p);
}

/* ---- exceptions with extra attributes ------------------------------------------------------- */

/* trace/api.md, Record Exception: "If RecordException is provided, the method MUST accept
 * an optional parameter to provide any additional event attributes [...] If attributes with
 * the same name would be generated by the method already, the additional attributes take
 * precedence." */
static void test_record_error_with_extra_attributes(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "op", DPT_SPAN_INTERNAL, NULL);
    dpt_attr extra[] = {DPT_STR("exception.stacktrace", "main.c:42\nlib.c:7"), DPT_INT("retry", 2),
                        DPT_STR("exception.type", "user-type")};
    assert_int_equal(dpt_span_record_error_attrs(s, "ETIMEDOUT", "upstream timeout", extra, 3),
                     DPT_OK);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_string_equal(d->status_msg, "upstream timeout");
    assert_int_equal(d->n_events, 1);
    const dpt_event *ev = &d->events[0];
    assert_string_equal(ev->name, "exception");
    int type_count = 0;
    for (uint32_t i = 0; i < ev->n_attrs; i++) {
        if (strcmp(ev->attrs[i].key, "exception.type") == 0) {
            type_count++;
            assert_string_equal(ev->attrs[i].value.u.s, "user-type");
        }
    }
    assert_int_equal(type_count, 1);
    assert_int_equal(ev->n_attrs, 4); /* message, stacktrace, retry, type */
    dpt_span_data_release(d);
    /* Bad arguments and ended spans. */
    assert_int_equal(dpt_span_record_error_attrs(s, "x", "y", NULL, 0), DPT_ESTATE);
    dpt_span s2 = dpt_span_start(tp.t, "op2", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_record_error_attrs(s2, "x", "y", NULL, 2), DPT_EINVAL);
    /* Many extra attributes (beyond the inline buffer). */
    dpt_attr many[40];
    char keys[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[i] = (dpt_attr)DPT_INT(keys[i], i);
    }
    assert_int_equal(dpt_span_record_error_attrs(s2, "x", "y", many, 40), DPT_OK);
    dpt_span_end(s2);
    d = tprov_span(&tp, 1);
    assert_int_equal(d->events[0].n_attrs, 42);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

/* ---- trace context in log lines ------------------------------------------------------------- */

/* compatibility/logging_trace_context.md: "trace_id" and "span_id" lowercase and
 * hex-encoded, "trace_flags" in the W3C traceflags format; syslog uses the SD-ID
 * "opentelemetry"; JSON puts them as top-level fields. */
static void test_log_fields_formats(void **state)
{
    (void)state;
    dpt_span_context sc = {.flags = DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM};
    dpt_trace_id_from_hex("4BF92F3577B34DA6A3CE929D0E0E4736", 32, &sc.trace_id);
    dpt_span_id_from_hex("00f067aa0ba902b7", 16, &sc.span_id);
    dpt_log_fields f;
    assert_true(dpt_log_fields_from(&sc, &f));
    assert_string_equal(f.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(f.span_id, "00f067aa0ba902b7");
    assert_string_equal(f.trace_flags, "03");
    char buf[256];
    size_t n = dpt_log_fields_format(&f, DPT_LOG_STYLE_TEXT, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(
        buf, "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 trace_flags=03");
    dpt_log_fields_format(&f, DPT_LOG_STYLE_SYSLOG, buf, sizeof buf);
    assert_string_equal(buf, "[opentelemetry trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\" "
                             "span_id=\"00f067aa0ba902b7\" trace_flags=\"03\"]");
    dpt_log_fields_format(&f, DPT_LOG_STYLE_JOURNALD, buf, sizeof buf);
    assert_string_equal(
        buf, "TRACE_ID=4bf92f3577b34da6a3ce929d0e0e4736\nSPAN_ID=00f067aa0ba902b7\nTRACE_FLAGS=03");
    dpt_log_fields_format(&f, DPT_LOG_STYLE_JSON, buf, sizeof buf);
    assert_string_equal(
        buf, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
             "\"trace_flags\":\"03\"");
    /* Too small: nothing rather than a cut line. */
    assert_int_equal(dpt_log_fields_format(&f, DPT_LOG_STYLE_TEXT, buf, 20), 0);
    assert_string_equal(buf, "");
    /* printf-ready. */
    snprintf(buf, sizeof buf, "msg " DPT_LOG_FIELDS_FMT, DPT_LOG_FIELDS_ARGS(&f));
    assert_non_null(strstr(buf, "msg trace_id=4bf9"));
    /* No valid context: false, empty fields, nothing formatted. */
    assert_false(dpt_log_fields_from(NULL, &f));
    assert_string_equal(f.trace_id, "");
    assert_int_equal(dpt_log_fields_format(&f, DPT_LOG_STYLE_TEXT, buf, sizeof buf), 0);
}

static void test_log_fields_of_the_current_span(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_log_fields f;
    assert_false(dpt_log_fields_current(&f));
    DPT_WITH_SPAN(tp.t, "request", DPT_SPAN_SERVER)
    {
        assert_true(dpt_log_fields_current(&f));
        char hex[33];
        dpt_span_context sc = dpt_span_get_context(dpt_span_current());
        dpt_trace_id_to_hex(&sc.trace_id, hex);
        assert_string_equal(f.trace_id, hex);
        assert_string_equal(f.trace_flags, "03"); /* sampled + random */
    }
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_sampler_gets_the_full_parent_context),
        cmocka_unit_test(test_processor_on_start_gets_the_parent_context),
        cmocka_unit_test(test_custom_id_generator),
        cmocka_unit_test(test_xray_id_generator),
        cmocka_unit_test(test_record_error_with_extra_attributes),
        cmocka_unit_test(test_log_fields_formats),
        cmocka_unit_test(test_log_fields_of_the_current_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
