/* test_span.c - spans: attributes, events, links, status, limits, end semantics. */
#include "test_util.h"

static void test_span_records_name_kind_times_and_parent(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span parent = dpt_span_start(tp.t, "parent", DPT_SPAN_SERVER, NULL);
    dpt_span child = dpt_span_start(tp.t, "child", DPT_SPAN_CLIENT,
                                    &(dpt_span_opts){.parent_span = parent, .start_ns = 1000});
    dpt_span_end_at(child, 5000);
    dpt_span_end(parent);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 2);
    const dpt_span_data *c = tprov_span(&tp, 0), *p = tprov_span(&tp, 1);
    assert_string_equal(c->name, "child");
    assert_int_equal(c->kind, DPT_SPAN_CLIENT);
    assert_int_equal(p->kind, DPT_SPAN_SERVER);
    assert_int_equal(c->start_ns, 1000);
    assert_int_equal(c->end_ns, 5000);
    assert_memory_equal(c->ctx.trace_id.b, p->ctx.trace_id.b, 16);
    assert_memory_equal(c->parent_span_id.b, p->ctx.span_id.b, 8);
    assert_false(dpt_span_id_is_valid(&p->parent_span_id));
    assert_true(p->end_ns >= p->start_ns);
    /* Unix nanoseconds of today, not a monotonic clock. */
    assert_true(p->start_ns > 1700000000ull * 1000000000ull);
    dpt_span_data_release(c);
    dpt_span_data_release(p);
    tprov_free(&tp);
}

static void test_attributes_of_every_type_are_copied(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    char key[] = "k.str", val[] = "hello";
    const char *sa[] = {"a", "bb"};
    int64_t ia[] = {1, -2, 3};
    bool ba[] = {true, false};
    double da[] = {1.5, -0.25};
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_set_str(s, key, val), DPT_OK);
    key[0] = 'X'; /* the caller keeps ownership: changing it afterwards has no effect */
    val[0] = 'X';
    assert_int_equal(dpt_span_set_int(s, "k.int", -42), DPT_OK);
    assert_int_equal(dpt_span_set_double(s, "k.dbl", 2.5), DPT_OK);
    assert_int_equal(dpt_span_set_bool(s, "k.bool", true), DPT_OK);
    dpt_attr arrs[] = {DPT_STR_ARRAY("k.sa", sa, 2), DPT_INT_ARRAY("k.ia", ia, 3),
                       DPT_BOOL_ARRAY("k.ba", ba, 2), DPT_DOUBLE_ARRAY("k.da", da, 2)};
    assert_int_equal(dpt_span_set_attrs(s, arrs, 4), DPT_OK);
    assert_int_equal(dpt_span_set_strn(s, "k.n", 3, "abcdef", 3), DPT_OK);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 9);
    const dpt_attr *a = find_attr(d, "k.str");
    assert_non_null(a);
    assert_string_equal(a->value.u.s, "hello");
    assert_int_equal(a->value.len, 5);
    assert_int_equal(find_attr(d, "k.int")->value.u.i, -42);
    assert_true(find_attr(d, "k.dbl")->value.u.d == 2.5);
    assert_true(find_attr(d, "k.bool")->value.u.b);
    a = find_attr(d, "k.sa");
    assert_int_equal(a->value.type, DPT_VAL_STRING_ARRAY);
    assert_string_equal(a->value.u.sa[1], "bb");
    assert_int_equal(find_attr(d, "k.ia")->value.u.ia[1], -2);
    assert_false(find_attr(d, "k.ba")->value.u.ba[1]);
    assert_true(find_attr(d, "k.da")->value.u.da[1] == -0.25);
    assert_string_equal(find_attr(d, "k.n")->value.u.s, "abc");
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_setting_an_existing_key_replaces_its_value(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_int(s, "k", 1);
    dpt_span_set_str(s, "k", "two");
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 1);
    assert_string_equal(find_attr(d, "k")->value.u.s, "two");
    dpt_span_data_release(d);
    tprov_free(&tp);
}

/* Sets a list on span s (asserting success), ends it and returns the round-th exported
 * span (a reference the caller releases). */
static const dpt_span_data *set_list_and_end(tprov *tp, dpt_span s, const dpt_attr *a, size_t n,
                                             int round)
{
    assert_int_equal(dpt_span_set_attrs(s, a, n), DPT_OK);
    dpt_span_end(s);
    return tprov_span(tp, (size_t)round);
}

/* A list of attributes (dpt_span_set_attrs' own path, keys interned after the first span):
 * keys of one length, repeated keys in the list and keys set before by a setter, with a
 * key built in a stack buffer (not interned at the same address), all overwrite. */
static void test_attribute_lists_overwrite_repeated_keys(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    for (int round = 0; round < 3; round++) {
        dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_SERVER, NULL);
        char built[] = "client.address";
        dpt_span_set_str(s, built, "first");
        dpt_span_set_int(s, "server.port", 1);
        dpt_attr a[] = {
            DPT_STR("server.address", "example.com"),
            DPT_STR("client.address", "10.0.0.1"),
            DPT_INT("server.port", 8080),
            DPT_STR("url.scheme", "http"),
            DPT_STR("http.route", "/r"),
            DPT_STR("url.scheme", "https"),
            DPT_STRN("url.path", "/index.html", 6),
            DPT_BOOL("b.1", true),
            DPT_DOUBLE("d.1", 0.5),
            DPT_INT("i.1", 1),
            DPT_INT("i.2", 2),
            DPT_INT("i.1", 3),
        };
        const dpt_span_data *d = set_list_and_end(&tp, s, a, sizeof a / sizeof a[0], round);
        assert_int_equal(d->n_attrs, 10);
        assert_string_equal(find_attr(d, "server.address")->value.u.s, "example.com");
        assert_string_equal(find_attr(d, "client.address")->value.u.s, "10.0.0.1");
        assert_int_equal(find_attr(d, "server.port")->value.u.i, 8080);
        assert_string_equal(find_attr(d, "url.scheme")->value.u.s, "https");
        assert_string_equal(find_attr(d, "http.route")->value.u.s, "/r");
        assert_string_equal(find_attr(d, "url.path")->value.u.s, "/index");
        assert_int_equal(find_attr(d, "url.path")->value.len, 6);
        assert_true(find_attr(d, "b.1")->value.u.b);
        assert_true(find_attr(d, "d.1")->value.u.d == 0.5);
        assert_int_equal(find_attr(d, "i.1")->value.u.i, 3);
        assert_int_equal(find_attr(d, "i.2")->value.u.i, 2);
        dpt_span_data_release(d);
    }
    tprov_free(&tp);
}

/* Keys given with their length (a literal's sizeof - 1, as the nginx module passes them)
 * take the list's fast path once the literal is known by its address; a length that is a
 * prefix of that literal is another key ("url" of "url.scheme"), never the literal. */
static void test_attribute_lists_with_key_lengths(void **state)
{
    (void)state;
    static const char scheme[] = "url.scheme";
    tprov tp = tprov_new(NULL, NULL);
    for (int round = 0; round < 3; round++) {
        dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_SERVER, NULL);
        dpt_attr a[] = {
            {scheme, sizeof scheme - 1, {DPT_VAL_STRING, DPT_NUL, {.s = "https"}}},
            {scheme, 3, {DPT_VAL_STRING, 2, {.s = "u1"}}},
            {"server.port", sizeof "server.port" - 1, {DPT_VAL_INT, 0, {.i = 443}}},
        };
        const dpt_span_data *d = set_list_and_end(&tp, s, a, sizeof a / sizeof a[0], round);
        assert_int_equal(d->n_attrs, 3);
        assert_string_equal(find_attr(d, "url.scheme")->value.u.s, "https");
        assert_string_equal(find_attr(d, "url")->value.u.s, "u1");
        assert_int_equal(find_attr(d, "server.port")->value.u.i, 443);
        dpt_span_data_release(d);
    }
    tprov_free(&tp);
}

/* String values of every size class the setters copy (inline, 16 bytes at a time, memcpy
 * beyond 256 bytes), under a literal key seen before (the fast path) and a new one. */
static void test_string_values_of_any_length_are_copied_whole(void **state)
{
    (void)state;
    static const size_t lens[] = {0,  1,  3,  4,   7,   8,   15,  16,  17,
                                  31, 32, 33, 100, 255, 256, 257, 1000};
    char buf[1003]; /* 1000 bytes from offsets 0 to 2 */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)('a' + (i * 7) % 26);
    tprov tp = tprov_new(NULL, NULL);
    size_t k = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (int round = 0; round < 3; round++, k++) {
            char v[1001];
            memcpy(v, buf + round, lens[li]);
            v[lens[li]] = 0;
            dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
            assert_int_equal(dpt_span_set_str(s, "k.first", "x"), DPT_OK);
            assert_int_equal(dpt_span_set_str(s, "k.v", v), DPT_OK);
            dpt_span_end(s);
            const dpt_span_data *d = tprov_span(&tp, k);
            const dpt_attr *a = find_attr(d, "k.v");
            assert_non_null(a);
            assert_int_equal(a->value.len, lens[li]);
            assert_string_equal(a->value.u.s, v);
            assert_string_equal(find_attr(d, "k.first")->value.u.s, "x");
            dpt_span_data_release(d);
        }
    }
    tprov_free(&tp);
}

static void test_invalid_attributes_are_rejected(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_set_str(s, NULL, "v"), DPT_EINVAL);
    assert_int_equal(dpt_span_set_str(s, "", "v"), DPT_EINVAL);
    assert_int_equal(dpt_span_set_str(s, "k", NULL), DPT_EINVAL);
    dpt_attr bad = {"k", DPT_NUL, {99, 0, {.i = 0}}};
    assert_int_equal(dpt_span_set_attr(s, &bad), DPT_EINVAL);
    const char *sa[] = {"a", NULL};
    dpt_attr badarr = DPT_STR_ARRAY("k", sa, 2);
    assert_int_equal(dpt_span_set_attr(s, &badarr), DPT_EINVAL);
    assert_int_equal(dpt_span_set_attrs(s, NULL, 3), DPT_EINVAL);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 0);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_limits_drop_and_count(void **state)
{
    (void)state;
    dpt_span_limits l;
    dpt_span_limits_default(&l);
    l.attr_count = 3;
    l.event_count = 2;
    l.link_count = 1;
    l.attrs_per_event = 1;
    l.attr_value_len = 4;
    tprov tp = tprov_new(NULL, &l);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    char key[8];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        dpt_err e = dpt_span_set_int(s, key, i);
        assert_int_equal(e, i < 3 ? DPT_OK : DPT_ETOOBIG);
    }
    dpt_span_set_str(s, "k0", "abc\xc3\xa9"); /* "abcé": a cut at 4 bytes would split é */
    dpt_attr ea[] = {DPT_INT("a", 1), DPT_INT("b", 2)};
    for (int i = 0; i < 3; i++)
        dpt_span_add_event(s, "e", ea, 2);
    dpt_link lk = {.ctx = dpt_span_get_context(s)};
    assert_int_equal(dpt_span_add_link(s, &lk), DPT_OK);
    assert_int_equal(dpt_span_add_link(s, &lk), DPT_ETOOBIG);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 3);
    assert_int_equal(d->dropped_attrs, 2);
    assert_int_equal(d->n_events, 2);
    assert_int_equal(d->dropped_events, 1);
    assert_int_equal(d->events[0].n_attrs, 1);
    assert_int_equal(d->events[0].dropped_attrs, 1);
    assert_int_equal(d->n_links, 1);
    assert_int_equal(d->dropped_links, 1);
    const dpt_attr *a = find_attr(d, "k0");
    assert_int_equal(a->value.len, 3);
    assert_memory_equal(a->value.u.s, "abc", 3);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.attrs_dropped, 2 + 2); /* 2 span attributes + 1 per kept event */
    assert_int_equal(st.events_dropped, 1);
    assert_int_equal(st.links_dropped, 1);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_many_attributes_grow_past_the_inline_storage(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    char key[16], val[64];
    for (int i = 0; i < 128; i++) {
        snprintf(key, sizeof key, "key.%d", i);
        snprintf(val, sizeof val, "a rather long value number %d to fill the arena", i);
        assert_int_equal(dpt_span_set_str(s, key, val), DPT_OK);
    }
    assert_int_equal(dpt_span_set_int(s, "one.too.many", 1), DPT_ETOOBIG);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 128);
    assert_string_equal(find_attr(d, "key.127")->value.u.s,
                        "a rather long value number 127 to fill the arena");
    assert_string_equal(find_attr(d, "key.0")->value.u.s,
                        "a rather long value number 0 to fill the arena");
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_events_and_links_are_recorded(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span other = dpt_span_start(tp.t, "other", DPT_SPAN_PRODUCER, NULL);
    dpt_span_context oc = dpt_span_get_context(other);
    dpt_attr la[] = {DPT_STR("link.kind", "batch")};
    dpt_link lk = {
        .ctx = oc, .tracestate = "a=b", .tracestate_len = DPT_NUL, .attrs = la, .n_attrs = 1};
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_CONSUMER,
                                &(dpt_span_opts){.links = &lk, .n_links = 1, .root = true});
    dpt_attr ea[] = {DPT_INT("bytes", 42)};
    assert_int_equal(dpt_span_add_event_at(s, "chunk", 12345, ea, 1), DPT_OK);
    assert_int_equal(dpt_span_add_event(s, "done", NULL, 0), DPT_OK);
    dpt_link invalid = {0};
    assert_int_equal(dpt_span_add_link(s, &invalid), DPT_EINVAL);
    dpt_span_end(s);
    dpt_span_end(other);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_events, 2);
    assert_string_equal(d->events[0].name, "chunk");
    assert_int_equal(d->events[0].time_ns, 12345);
    assert_int_equal(d->events[0].attrs[0].value.u.i, 42);
    assert_true(d->events[1].time_ns >= d->start_ns);
    assert_int_equal(d->n_links, 1);
    assert_memory_equal(d->links[0].ctx.span_id.b, oc.span_id.b, 8);
    assert_string_equal(d->links[0].tracestate, "a=b");
    assert_string_equal(d->links[0].attrs[0].value.u.s, "batch");
    assert_memory_not_equal(d->ctx.trace_id.b, oc.trace_id.b, 16); /* root: new trace */
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_status_ok_is_final_and_unset_is_ignored(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span a = dpt_span_start(tp.t, "a", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_status(a, DPT_STATUS_ERROR, "boom");
    dpt_span_set_status(a, DPT_STATUS_UNSET, NULL);
    dpt_span_end(a);
    dpt_span b = dpt_span_start(tp.t, "b", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_status(b, DPT_STATUS_OK, "ignored message");
    dpt_span_set_status(b, DPT_STATUS_ERROR, "too late");
    dpt_span_end(b);
    dpt_span c = dpt_span_start(tp.t, "c", DPT_SPAN_INTERNAL, NULL);
    dpt_span_set_status(c, DPT_STATUS_ERROR, "first");
    dpt_span_set_status(c, DPT_STATUS_OK, NULL);
    dpt_span_end(c);
    const dpt_span_data *da = tprov_span(&tp, 0), *db = tprov_span(&tp, 1),
                        *dc = tprov_span(&tp, 2);
    assert_int_equal(da->status, DPT_STATUS_ERROR);
    assert_string_equal(da->status_msg, "boom");
    assert_int_equal(db->status, DPT_STATUS_OK);
    assert_string_equal(db->status_msg, "");
    assert_int_equal(dc->status, DPT_STATUS_OK);
    dpt_span_data_release(da);
    dpt_span_data_release(db);
    dpt_span_data_release(dc);
    tprov_free(&tp);
}

static void test_record_error_adds_exception_event_and_error_status(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_int_equal(dpt_span_record_error(s, "timeout", "upstream timed out"), DPT_OK);
    dpt_span_end(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_string_equal(d->status_msg, "upstream timed out");
    assert_int_equal(d->n_events, 1);
    assert_string_equal(d->events[0].name, "exception");
    assert_string_equal(d->events[0].attrs[0].key, "exception.type");
    assert_string_equal(d->events[0].attrs[1].value.u.s, "upstream timed out");
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_end_is_idempotent_and_setters_after_end_are_ignored(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_INTERNAL, NULL);
    assert_true(dpt_span_is_recording(s));
    assert_int_equal(dpt_span_end(s), DPT_OK);
    assert_false(dpt_span_is_recording(s));
    assert_int_equal(dpt_span_end(s), DPT_ESTATE);
    assert_int_equal(dpt_span_set_int(s, "late", 1), DPT_ESTATE);
    assert_int_equal(dpt_span_add_event(s, "late", NULL, 0), DPT_ESTATE);
    assert_int_equal(dpt_span_set_status(s, DPT_STATUS_ERROR, "late"), DPT_ESTATE);
    assert_int_equal(dpt_span_update_name(s, "late"), DPT_ESTATE);
    /* Many more spans recycle the record; the stale handle must stay harmless. */
    for (int i = 0; i < 1000; i++)
        dpt_span_end(dpt_span_start(tp.t, "other", DPT_SPAN_INTERNAL, NULL));
    assert_int_equal(dpt_span_end(s), DPT_ESTATE);
    assert_int_equal(dpt_span_set_str(s, "late", "x"), DPT_ESTATE);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1001);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->n_attrs, 0);
    assert_string_equal(d->name, "s");
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_update_name_and_end_before_start_is_clamped(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span s = dpt_span_start(tp.t, "old", DPT_SPAN_INTERNAL, &(dpt_span_opts){.start_ns = 5000});
    dpt_span_update_name(s, "new");
    dpt_span_end_at(s, 10);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(d->name, "new");
    assert_int_equal(d->end_ns, d->start_ns);
    dpt_span_data_release(d);
    tprov_free(&tp);
}

static void test_unsampled_span_is_a_cheap_noop_that_still_propagates(void **state)
{
    (void)state;
    tprov tp = tprov_new(dpt_sampler_always_off(), NULL);
    dpt_span s = dpt_span_start(tp.t, "s", DPT_SPAN_SERVER, NULL);
    assert_false(dpt_span_is_recording(s));
    dpt_span_context sc = dpt_span_get_context(s);
    assert_true(dpt_span_context_is_valid(&sc));
    assert_false(sc.flags & DPT_FLAG_SAMPLED);
    assert_int_equal(dpt_span_set_int(s, "k", 1), DPT_ESTATE);
    assert_int_equal(dpt_span_end(s), DPT_OK);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 0);
    dpt_stats st;
    dpt_provider_get_stats(tp.p, &st);
    assert_int_equal(st.spans_started, 1);
    assert_int_equal(st.spans_sampled, 0);
    assert_int_equal(st.spans_ended, 0);
    tprov_free(&tp);
}

static void test_shutdown_makes_tracers_noops(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    assert_int_equal(dpt_provider_shutdown(tp.p, 1000), DPT_OK);
    assert_int_equal(dpt_provider_shutdown(tp.p, 1000), DPT_ESTATE);
    assert_int_equal(dpt_provider_force_flush(tp.p, 1000), DPT_ESTATE);
    dpt_span s = dpt_span_start(tp.t, "after", DPT_SPAN_INTERNAL, NULL);
    assert_false(dpt_span_is_recording(s));
    assert_int_equal(dpt_span_end(s), DPT_ESTATE);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 0);
    tprov_free(&tp);
}

static void test_tracers_are_cached_per_scope(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    assert_ptr_equal(dpt_provider_get_tracer(tp.p, "test", "1.0"), tp.t);
    assert_ptr_not_equal(dpt_provider_get_tracer(tp.p, "test", "2.0"), tp.t);
    assert_string_equal(dpt_tracer_name(tp.t), "test");
    assert_string_equal(dpt_tracer_version(tp.t), "1.0");
    assert_ptr_equal(dpt_tracer_provider(tp.t), tp.p);
    size_t n;
    const dpt_attr *res = dpt_provider_resource(tp.p, &n);
    assert_true(n >= 4);
    assert_string_equal(res[0].key, "service.name");
    assert_string_equal(res[0].value.u.s, "test-service");
    tprov_free(&tp);
}

/* OpenTelemetry (Get a Tracer): the same name, version and schema URL give the same (or an
 * equivalent) tracer. Checked over 50,000 distinct names (a service naming tracers after
 * its routes): each is found again, none is confused with another. The tracers are
 * indexed by a hash (a list walked per call made this quadratic: 100,000 names took 86 s),
 * which this checks for correctness under many collisions of the slot index. */
static void test_many_distinct_tracers_are_each_found_again(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    enum { N = 50000 };
    dpt_tracer **ts = malloc(N * sizeof *ts);
    assert_non_null(ts);
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "route-%d", i);
        ts[i] = dpt_provider_get_tracer(tp.p, name, i % 2 ? "1.0" : NULL);
        assert_non_null(ts[i]);
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "route-%d", i);
        assert_ptr_equal(dpt_provider_get_tracer(tp.p, name, i % 2 ? "1.0" : NULL), ts[i]);
        assert_string_equal(dpt_tracer_name(ts[i]), name);
    }
    /* same name, another version or schema URL: another tracer */
    assert_ptr_not_equal(dpt_provider_get_tracer(tp.p, "route-1", NULL), ts[1]);
    dpt_tracer_opts o = {.version = "1.0", .schema_url = "https://opentelemetry.io/schemas/1.26.0"};
    assert_ptr_not_equal(dpt_provider_get_tracer_opts(tp.p, "route-1", &o), ts[1]);
    free(ts);
    tprov_free(&tp);
}

/* A record recycled after a span with a status, events, links, drops and a tracestate
 * starts the next span with none of them (the start skips the stores of fields a recycled
 * record already holds at their start values; every writer marks the record). */
typedef struct clean_check {
    const void *dirty[4096];
    size_t n_dirty;
    size_t plain_on_dirty; /* plain spans started on a record a dirty span had */
    size_t bad;
} clean_check;

static void clean_on_start(void *st, const dpt_span_data *d)
{
    clean_check *c = st;
    if (strcmp(d->name, "plain") != 0) {
        if (c->n_dirty < 4096) c->dirty[c->n_dirty++] = d;
        return;
    }
    for (size_t i = 0; i < c->n_dirty; i++)
        if (c->dirty[i] == d) {
            c->plain_on_dirty++;
            break;
        }
    if (d->status != DPT_STATUS_UNSET || d->status_msg == NULL || d->status_msg[0] ||
        d->status_msg_len || d->n_events || d->events || d->dropped_events || d->n_links ||
        d->links || d->dropped_links || d->dropped_attrs || d->ended_by_task || d->n_attrs ||
        d->end_ns || d->tracestate == NULL || d->tracestate[0] || d->tracestate_len)
        c->bad++;
}
static void clean_on_end(void *st, const dpt_span_data *d)
{
    (void)st;
    (void)d;
}
static dpt_err clean_drop(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    (void)s;
    (void)n;
    return DPT_OK;
}

static void test_recycled_record_starts_clean(void **state)
{
    (void)state;
    static clean_check c;
    memset(&c, 0, sizeof c);
    static const dpt_exporter_ops xops = {.export_spans = clean_drop};
    static const dpt_processor_ops pops = {.on_start = clean_on_start, .on_end = clean_on_end};
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    dpt_processor *pr[2] = {dpt_processor_batch(dpt_exporter_new(&xops, NULL), &bc),
                            dpt_processor_new(&pops, &c)};
    dpt_span_limits l = {.attr_count = 1,
                         .attr_value_len = 0,
                         .event_count = 1,
                         .link_count = 1,
                         .attrs_per_event = 8,
                         .attrs_per_link = 8};
    dpt_provider_config cfg = {.processors = pr, .n_processors = 2, .limits = &l};
    dpt_provider *p = dpt_provider_new(&cfg);
    assert_non_null(p);
    dpt_tracer *t = dpt_provider_get_tracer(p, "clean", NULL);
    dpt_tracestate *ts = NULL;
    assert_int_equal(dpt_tracestate_parse("k=v", 3, &ts), DPT_OK);
    dpt_span_context psc = {.flags = DPT_FLAG_SAMPLED};
    memset(psc.trace_id.b, 7, 16);
    memset(psc.span_id.b, 9, 8);
    dpt_context *pctx = dpt_context_new(&psc, ts, NULL);
    assert_non_null(pctx);
    for (int i = 0; i < 3000; i++) {
        switch (i % 6) {
        case 0: {
            dpt_span s = dpt_span_start(t, "ev", DPT_SPAN_INTERNAL, NULL);
            dpt_span_add_event(s, "e1", NULL, 0);
            dpt_span_add_event(s, "e2", NULL, 0); /* over the limit: dropped */
            dpt_span_end(s);
            break;
        }
        case 1: {
            dpt_span s = dpt_span_start(t, "link", DPT_SPAN_INTERNAL, NULL);
            dpt_link lk = {.ctx = psc};
            dpt_span_add_link(s, &lk);
            dpt_span_add_link(s, &lk); /* over the limit: dropped */
            dpt_span_end(s);
            break;
        }
        case 2: {
            dpt_span s = dpt_span_start(t, "status", DPT_SPAN_INTERNAL, NULL);
            dpt_span_set_int(s, "a", 1);
            dpt_span_set_int(s, "b", 2); /* over the limit: dropped */
            dpt_span_set_status(s, DPT_STATUS_ERROR, "boom");
            dpt_span_end(s);
            break;
        }
        case 3: {
            dpt_span_opts o = {.parent = pctx};
            dpt_span s = dpt_span_start(t, "ts", DPT_SPAN_INTERNAL, &o);
            dpt_span_end(s);
            break;
        }
        default: {
            dpt_span s = dpt_span_start(t, "plain", DPT_SPAN_INTERNAL, NULL);
            dpt_span_end(s);
            break;
        }
        }
        if (i % 64 == 63) dpt_provider_force_flush(p, 10000);
    }
    dpt_context_release(pctx);
    dpt_tracestate_release(ts);
    dpt_provider_free(p);
    assert_int_equal(c.bad, 0);
    assert_true(c.plain_on_dirty > 0);
}

/* dpt_span_opts that ask for nothing are the same as none (dpt_span_start takes the
 * fast path then): the parent is the current span, the start time now (dptrace.h:
 * "opts->parent, else opts->parent_span, else the calling thread's current span"). */
static void test_default_opts_are_the_same_as_none(void **state)
{
    (void)state;
    tprov tp = tprov_new(NULL, NULL);
    dpt_span_opts none = {0};
    int ran = 0;
    DPT_WITH_SPAN(tp.t, "outer", DPT_SPAN_SERVER)
    {
        dpt_span_context outer = dpt_span_get_context(dpt_span_current());
        dpt_span a = dpt_span_start(tp.t, "a", DPT_SPAN_INTERNAL, &none);
        dpt_span b = dpt_span_start(tp.t, "b", DPT_SPAN_INTERNAL, NULL);
        dpt_span_context ac = dpt_span_get_context(a), bc = dpt_span_get_context(b);
        assert_memory_equal(ac.trace_id.b, outer.trace_id.b, 16);
        assert_memory_equal(bc.trace_id.b, outer.trace_id.b, 16);
        dpt_span_end(a);
        dpt_span_end(b);
        ran = 1;
    }
    assert_int_equal(ran, 1);
    dpt_exporter *m = tp.mem;
    assert_int_equal(dpt_exporter_memory_count(m), 3);
    const dpt_span_data *outer = NULL, *a = NULL, *b = NULL;
    for (size_t i = 0; i < 3; i++) {
        const dpt_span_data *d = dpt_exporter_memory_get(m, i);
        if (strcmp(d->name, "outer") == 0) outer = d;
        if (strcmp(d->name, "a") == 0) a = d;
        if (strcmp(d->name, "b") == 0) b = d;
    }
    assert_non_null(outer);
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a->parent_span_id.b, outer->ctx.span_id.b, 8);
    assert_memory_equal(b->parent_span_id.b, outer->ctx.span_id.b, 8);
    assert_true(a->start_ns >= outer->start_ns && a->start_ns > 0);
    dpt_span_data_release(outer);
    dpt_span_data_release(a);
    dpt_span_data_release(b);
    tprov_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span_records_name_kind_times_and_parent),
        cmocka_unit_test(test_default_opts_are_the_same_as_none),
        cmocka_unit_test(test_attributes_of_every_type_are_copied),
        cmocka_unit_test(test_setting_an_existing_key_replaces_its_value),
        cmocka_unit_test(test_attribute_lists_overwrite_repeated_keys),
        cmocka_unit_test(test_attribute_lists_with_key_lengths),
        cmocka_unit_test(test_string_values_of_any_length_are_copied_whole),
        cmocka_unit_test(test_invalid_attributes_are_rejected),
        cmocka_unit_test(test_limits_drop_and_count),
        cmocka_unit_test(test_many_attributes_grow_past_the_inline_storage),
        cmocka_unit_test(test_events_and_links_are_recorded),
        cmocka_unit_test(test_status_ok_is_final_and_unset_is_ignored),
        cmocka_unit_test(test_record_error_adds_exception_event_and_error_status),
        cmocka_unit_test(test_end_is_idempotent_and_setters_after_end_are_ignored),
        cmocka_unit_test(test_update_name_and_end_before_start_is_clamped),
        cmocka_unit_test(test_unsampled_span_is_a_cheap_noop_that_still_propagates),
        cmocka_unit_test(test_shutdown_makes_tracers_noops),
        cmocka_unit_test(test_tracers_are_cached_per_scope),
        cmocka_unit_test(test_many_distinct_tracers_are_each_found_again),
        cmocka_unit_test(test_recycled_record_starts_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
