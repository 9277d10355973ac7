/* test_prop_traceparent.c - W3C Trace Context: traceparent parsing and formatting, and the
 * tracecontext propagator's handling of tracestate (combined lines, limits, discarding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

#define TID "12345678901234567890123456789012"
#define SID "1234567890123456"
#define TP(v, f) v "-" TID "-" SID "-" f

static bool parses(const char *s)
{
    dpt_span_context sc;
    return dpt_traceparent_parse(s, DPT_NUL, &sc) == DPT_OK;
}

/* W3C traceparent: "version-format = trace-id "-" parent-id "-" trace-flags" (version 00). */
static void test_traceparent_accepts_version_00(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_traceparent_parse(TP("00", "01"), DPT_NUL, &sc), DPT_OK);
    char hex[33];
    dpt_trace_id_to_hex(&sc.trace_id, hex);
    assert_string_equal(hex, TID);
    char sh[17];
    dpt_span_id_to_hex(&sc.span_id, sh);
    assert_string_equal(sh, SID);
    assert_int_equal(sc.flags, DPT_FLAG_SAMPLED);
    assert_true(sc.remote);
}

/* W3C: "HEXDIGLC = DIGIT / "a" / "b" / "c" / "d" / "e" / "f" ; lowercase hex character". */
static void test_traceparent_rejects_uppercase_hex(void **st)
{
    (void)st;
    assert_false(parses("00-1234567890123456789012345678901A-" SID "-01"));
    assert_false(parses("00-" TID "-123456789012345A-01"));
    assert_false(parses("00-" TID "-" SID "-0A"));
    assert_false(parses("0A-" TID "-" SID "-01"));
}

/* W3C trace-id: "If the trace-id value is invalid (for example if it contains non-allowed
 * characters or all zeros), vendors MUST ignore the entire header." */
static void test_traceparent_rejects_all_zero_trace_id(void **st)
{
    (void)st;
    assert_false(parses("00-00000000000000000000000000000000-" SID "-01"));
}

/* W3C parent-id: "parent-id = 16HEXDIGLC ; 8 bytes array identifier. All zeroes forbidden". */
static void test_traceparent_rejects_all_zero_span_id(void **st)
{
    (void)st;
    assert_false(parses("00-" TID "-0000000000000000-01"));
}

/* W3C version: "Version 255 ("ff") is invalid." */
static void test_traceparent_rejects_version_ff(void **st)
{
    (void)st;
    assert_false(parses(TP("ff", "01")));
}

/* W3C suite test_traceparent_version_0x00: version 00 with extra characters is invalid. */
static void test_traceparent_rejects_version_00_with_extra_characters(void **st)
{
    (void)st;
    assert_false(parses(TP("00", "01") "."));
    assert_false(parses(TP("00", "01") "-what-the-future-will-be-like"));
    assert_false(parses(TP("00", "01") "-"));
}

/* W3C, Versioning of traceparent: "If a higher version is detected, the implementation
 * SHOULD try to parse it"; the flags are "either at the end of the string or followed by a
 * dash". */
static void test_traceparent_accepts_higher_version_with_extra_fields(void **st)
{
    (void)st;
    assert_true(parses(TP("cc", "01")));
    assert_true(parses(TP("cc", "01") "-what-the-future-will-be-like"));
    assert_false(parses(TP("cc", "01") ".what-the-future-will-be-like"));
    assert_false(parses(TP("cc", "01") "x"));
}

/* W3C: "trace-id = 32HEXDIGLC", "parent-id = 16HEXDIGLC", "trace-flags = 2HEXDIGLC". */
static void test_traceparent_rejects_wrong_field_lengths(void **st)
{
    (void)st;
    assert_false(parses("0-" TID "-" SID "-01"));
    assert_false(parses("000-" TID "-" SID "-01"));
    assert_false(parses("00-" TID "3-" SID "-01"));
    assert_false(parses("00-1234567890123456789012345678901-" SID "-01"));
    assert_false(parses("00-" TID "-12345678901234567-01"));
    assert_false(parses("00-" TID "-123456789012345-01"));
    assert_false(parses("00-" TID "-" SID "-001"));
    assert_false(parses("00-" TID "-" SID "-1"));
    assert_false(parses(""));
}

/* W3C processing model: "If either trace-id, parent-id or trace-flags are invalid, the
 * vendor creates a new traceparent header". */
static void test_traceparent_rejects_illegal_characters(void **st)
{
    (void)st;
    assert_false(parses(".0-" TID "-" SID "-01"));
    assert_false(parses("00-.2345678901234567890123456789012-" SID "-01"));
    assert_false(parses("00-" TID "-.234567890123456-01"));
    assert_false(parses("00-" TID "-" SID "-.0"));
    assert_false(parses("00_" TID "-" SID "-01"));
}

/* RFC 9110 5.5 (OWS is not part of a field value); W3C suite test_traceparent_ows_handling. */
static void test_traceparent_allows_surrounding_spaces_and_tabs(void **st)
{
    (void)st;
    assert_true(parses(" " TP("00", "01")));
    assert_true(parses("\t" TP("00", "01")));
    assert_true(parses(TP("00", "01") " "));
    assert_true(parses("\t " TP("00", "01") " \t"));
    assert_false(parses("\n" TP("00", "01")));
}

/* W3C Other Flags: "Vendors MUST set those to zero"; Random Trace ID Flag: "If the flag is
 * set in the incoming traceparent header, it MUST also be set in all outgoing traceparent
 * headers which use the same trace-id." */
static void test_traceparent_keeps_random_flag_and_drops_unknown_flags(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_traceparent_parse(TP("00", "02"), DPT_NUL, &sc), DPT_OK);
    assert_int_equal(sc.flags, DPT_FLAG_RANDOM);
    assert_int_equal(dpt_traceparent_parse(TP("00", "ff"), DPT_NUL, &sc), DPT_OK);
    assert_int_equal(sc.flags, DPT_FLAG_RANDOM | DPT_FLAG_SAMPLED);
    char out[DPT_TRACEPARENT_LEN + 1];
    sc.flags = 0xff;
    assert_int_equal(dpt_traceparent_format(&sc, out), DPT_TRACEPARENT_LEN);
    assert_string_equal(out, TP("00", "03"));
}

/* Every byte value at every id position: accepted exactly when it is a lowercase hex digit,
 * and then decoded to its value (the decoder works on 8 digits at a time). */
static void test_traceparent_checks_every_byte_of_every_id_position(void **st)
{
    (void)st;
    char s[DPT_TRACEPARENT_LEN + 1];
    for (int pos = 3; pos < 52; pos++) {
        if (pos == 35) continue;
        for (int c = 0; c < 256; c++) {
            memcpy(s, TP("00", "01"), sizeof s);
            s[pos] = (char)c;
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            dpt_span_context sc;
            dpt_err e = dpt_traceparent_parse(s, DPT_TRACEPARENT_LEN, &sc);
            if ((e == DPT_OK) != hex) fail_msg("byte 0x%02x at %d: %d", c, pos, (int)e);
            if (hex) {
                char back[DPT_TRACEPARENT_LEN + 1];
                dpt_traceparent_format(&sc, back);
                if (memcmp(back, s, DPT_TRACEPARENT_LEN) != 0)
                    fail_msg("byte 0x%02x at %d: %s", c, pos, back);
            }
        }
    }
}

/* dptrace's own API rule: lengths are honoured (a value need not be NUL-terminated). */
static void test_traceparent_parse_respects_length_argument(void **st)
{
    (void)st;
    const char *s = TP("00", "01") "garbage";
    dpt_span_context sc;
    assert_int_equal(dpt_traceparent_parse(s, DPT_TRACEPARENT_LEN, &sc), DPT_OK);
    assert_int_equal(dpt_traceparent_parse(s, DPT_TRACEPARENT_LEN - 1, &sc), DPT_EPARSE);
}

/* dptrace's own API rule: nothing is written for an invalid context. */
static void test_traceparent_format_rejects_invalid_context(void **st)
{
    (void)st;
    dpt_span_context sc;
    memset(&sc, 0, sizeof sc);
    char out[DPT_TRACEPARENT_LEN + 1] = "x";
    assert_int_equal(dpt_traceparent_format(&sc, out), 0);
    assert_string_equal(out, "");
    assert_int_equal(dpt_traceparent_format(NULL, out), 0);
    assert_int_equal(dpt_traceparent_format(&sc, NULL), 0);
}

/* dptrace's own API rule: bad arguments give an error, never a crash. */
static void test_traceparent_null_arguments(void **st)
{
    (void)st;
    dpt_span_context sc;
    assert_int_equal(dpt_traceparent_parse(NULL, 0, &sc), DPT_EINVAL);
    assert_int_equal(dpt_traceparent_parse(TP("00", "01"), DPT_NUL, NULL), DPT_EINVAL);
}

/* ---- the propagator ------------------------------------------------------------------- */

typedef struct req {
    dpt_headers h;
    dpt_context *ctx;
    dpt_err rc;
} req;

/* Extracts from name/value pairs (NULL-terminated list) with the tracecontext propagator. */
static void extract(req *r, const char *const *kv)
{
    memset(r, 0, sizeof *r);
    for (; kv[0]; kv += 2)
        assert_int_equal(dpt_headers_add(&r->h, kv[0], DPT_NUL, kv[1], DPT_NUL), DPT_OK);
    r->rc =
        dpt_propagator_extract(dpt_propagator_tracecontext(), &dpt_headers_getter, &r->h, &r->ctx);
    assert_non_null(r->ctx);
}

static void done(req *r)
{
    dpt_context_release(r->ctx);
    dpt_headers_free(&r->h);
}

static const char *ts_of(req *r)
{
    return dpt_tracestate_str(dpt_context_tracestate(r->ctx), NULL);
}

/* W3C processing model: "Because the traceparent header is present, the vendor tries to
 * parse"; the context continues as a remote parent. */
static void test_extract_continues_a_valid_traceparent_as_remote(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"TraceParent", TP("00", "01"), NULL});
    assert_int_equal(r.rc, DPT_OK);
    dpt_span_context sc = dpt_context_span_context(r.ctx);
    assert_true(dpt_span_context_is_valid(&sc));
    assert_true(sc.remote);
    done(&r);
}

/* W3C suite test_traceparent_duplicated: two traceparent headers start a new trace. */
static void test_extract_rejects_repeated_traceparent(void **st)
{
    (void)st;
    uint64_t before[DPT_PSTAT_MAX], after[DPT_PSTAT_MAX];
    dpt_propagation_get_stats(before, DPT_PSTAT_MAX);
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "01"), "traceparent", TP("00", "01"),
                                 "tracestate", "foo=1", NULL});
    assert_int_equal(r.rc, DPT_EPARSE);
    dpt_span_context sc = dpt_context_span_context(r.ctx);
    assert_false(dpt_span_context_is_valid(&sc));
    assert_string_equal(ts_of(&r), "");
    dpt_propagation_get_stats(after, DPT_PSTAT_MAX);
    assert_int_equal(after[DPT_PSTAT_TRACEPARENT_INVALID],
                     before[DPT_PSTAT_TRACEPARENT_INVALID] + 1);
    assert_int_equal(after[DPT_PSTAT_TRACESTATE_DROPPED], before[DPT_PSTAT_TRACESTATE_DROPPED] + 1);
    done(&r);
}

/* W3C: "If a tracestate header is received without an accompanying traceparent header, it
 * is invalid and MUST be discarded." */
static void test_extract_without_traceparent_returns_notfound_and_drops_tracestate(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"tracestate", "foo=1", NULL});
    assert_int_equal(r.rc, DPT_ENOTFOUND);
    assert_string_equal(ts_of(&r), "");
    done(&r);
}

/* W3C: "If the vendor failed to parse traceparent, it MUST NOT attempt to parse
 * tracestate." */
static void test_extract_invalid_traceparent_drops_tracestate(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"traceparent", TP("ff", "01"), "tracestate", "foo=1", NULL});
    assert_int_equal(r.rc, DPT_EPARSE);
    assert_string_equal(ts_of(&r), "");
    done(&r);
}

/* W3C: "When receiving multiple tracestate header fields, they MUST be combined into a
 * single header according to RFC9110." */
static void test_extract_combines_repeated_tracestate_lines_in_order(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", "foo=1,bar=2",
                                 "tracestate", "", "TRACESTATE", "rojo=1,congo=2", "tracestate",
                                 "baz=3", NULL});
    assert_int_equal(r.rc, DPT_OK);
    assert_string_equal(ts_of(&r), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    done(&r);
}

/* W3C list: "Spaces and horizontal tabs surrounding list-members are ignored." */
static void test_extract_accepts_tracestate_whitespace(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate",
                                 "foo=1 \t , \t bar=2, \t baz=3\t", NULL});
    assert_string_equal(ts_of(&r), "foo=1,bar=2,baz=3");
    done(&r);
}

/* W3C Trace Context, processing model: "If the tracestate header cannot be parsed the
 * vendor MAY discard the entire header"; the W3C suite's test_tracestate_key_illegal_*,
 * _value_illegal_characters expect it (keys that start with '@', uppercase, '.', ' '). */
static void test_extract_discards_whole_tracestate_with_one_invalid_member(void **st)
{
    (void)st;
    static const char *bad[] = {"@foo=1,bar=2",      "FOO=1,bar=2", "foo.bar=1,bar=2",
                                "foo=bar=baz,bar=2", "foo=,bar=3",  "foo =1,bar=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req r;
        extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", bad[i], NULL});
        assert_int_equal(r.rc, DPT_OK); /* the traceparent itself is continued */
        assert_string_equal(ts_of(&r), "");
        done(&r);
    }
}

/* W3C Trace Context, Key: "key = ( lcalpha / DIGIT ) 0*255 ( keychar )", keychar includes
 * "@": the W3C suite's test_tracestate_key_illegal_vendor_format expects these inherited. */
static void test_extract_inherits_keys_with_at_signs(void **st)
{
    (void)st;
    static const char *good[] = {"foo@=1,bar=2", "foo@@bar=1,bar=2", "foo@bar@baz=1,bar=2",
                                 "9=&uiq-w,bar=2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        req r;
        extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", good[i], NULL});
        assert_string_equal(ts_of(&r), good[i]);
        done(&r);
    }
}

/* W3C Trace Context: "Vendors MAY also discard duplicate keys that were not generated by
 * them" - the list is inherited (W3C suite, test_tracestate_duplicated_keys), also when
 * the repeats come from separate tracestate lines. */
static void test_extract_keeps_tracestate_with_duplicate_keys(void **st)
{
    (void)st;
    struct {
        const char *a, *b, *out;
    } c[] = {
        {"foo=1,foo=1", NULL, "foo=1"},
        {"foo=1,foo=2", NULL, "foo=1"},
        {"foo=1", "foo=1", "foo=1"},
        {"foo=1", "foo=2", "foo=1"},
        {"foo=1,foo=2,bar=2", NULL, "foo=1,bar=2"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        req r;
        if (c[i].b)
            extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", c[i].a,
                                         "tracestate", c[i].b, NULL});
        else
            extract(&r,
                    (const char *[]){"traceparent", TP("00", "00"), "tracestate", c[i].a, NULL});
        assert_int_equal(r.rc, DPT_OK);
        assert_string_equal(ts_of(&r), c[i].out);
        done(&r);
    }
}

/* W3C list: "There can be a maximum of 32 list-members in a list" (suite:
 * test_tracestate_member_count_limit). */
static void test_extract_keeps_32_members_and_discards_33(void **st)
{
    (void)st;
    char v[512] = "";
    for (int i = 1; i <= 33; i++) {
        char m[16];
        snprintf(m, sizeof m, "%sbar%02d=%02d", i > 1 ? "," : "", i, i);
        strcat(v, m);
        if (i == 32) {
            req r;
            extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", v, NULL});
            char buf[8];
            assert_int_equal(
                dpt_tracestate_get(dpt_context_tracestate(r.ctx), "bar32", buf, sizeof buf),
                DPT_OK);
            assert_string_equal(buf, "32");
            done(&r);
        }
    }
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", v, NULL});
    assert_string_equal(ts_of(&r), "");
    done(&r);
}

/* W3C Trace Context, Key: "contain up to 256 characters"; the W3C suite's
 * test_tracestate_key_length_limit: 256 'z' kept, 257 discard the list, and '@' counts as
 * one more key character (241 + '@' + 14, 242 + "@v", "t@" + 15 'v' are all kept). */
static void test_extract_key_length_limits(void **st)
{
    (void)st;
    char k[300];
    struct {
        size_t tenant, vendor;
        bool ok;
    } cases[] = {
        {256, 0, true}, {257, 0, false}, {241, 14, true},
        {242, 1, true}, {1, 15, true},   {250, 6, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = 0;
        for (size_t i = 0; i < cases[c].tenant; i++)
            k[n++] = 't';
        if (cases[c].vendor) {
            k[n++] = '@';
            for (size_t i = 0; i < cases[c].vendor; i++)
                k[n++] = 'v';
        }
        memcpy(k + n, "=1", 3);
        req r;
        extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", "foo=1",
                                     "tracestate", k, NULL});
        assert_int_equal(strncmp(ts_of(&r), "foo=1", 5) == 0, cases[c].ok);
        if (cases[c].ok) assert_string_equal(ts_of(&r) + 6, k);
        done(&r);
    }
}

/* W3C Key and Value ABNF: every key character (lcalpha, DIGIT, "_", "-", "*", "/", "@")
 * and every value character (0x20-0x7E but "," and "="); suite:
 * test_tracestate_all_allowed_characters. */
static void test_extract_accepts_every_allowed_tracestate_character(void **st)
{
    (void)st;
    char v[600];
    size_t n = 0;
    const char *key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/";
    n += (size_t)snprintf(v, sizeof v, "%s=", key);
    for (int c = 0x20; c <= 0x7e; c++)
        if (c != ',' && c != '=') v[n++] = (char)c;
    v[n] = 0;
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "00"), "tracestate", v, NULL});
    assert_string_equal(ts_of(&r), v);
    done(&r);
}

/* W3C: "Vendors receiving a tracestate request header MUST send it to outgoing requests." */
static void test_inject_writes_traceparent_and_tracestate(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "03"), "tracestate", "b=2,a=1", NULL});
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(
        dpt_propagator_inject(dpt_propagator_tracecontext(), r.ctx, &dpt_headers_setter, &out),
        DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "traceparent", 0, NULL), TP("00", "03"));
    assert_null(dpt_headers_get(&out, "traceparent", 1, NULL));
    assert_string_equal(dpt_headers_get(&out, "tracestate", 0, NULL), "b=2,a=1");
    dpt_headers_free(&out);
    done(&r);
}

/* dptrace's own choice: no context, no header (a new trace is started by a span). */
static void test_inject_of_empty_context_writes_nothing(void **st)
{
    (void)st;
    dpt_context *c = dpt_context_new(NULL, NULL, NULL);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(
        dpt_propagator_inject(dpt_propagator_tracecontext(), c, &dpt_headers_setter, &out), DPT_OK);
    assert_int_equal(out.n, 0);
    dpt_context_release(c);
}

/* W3C: "Modified keys SHOULD be moved to the beginning (left) of the list." */
static void test_updated_tracestate_entry_moves_to_front(void **st)
{
    (void)st;
    req r;
    extract(&r, (const char *[]){"traceparent", TP("00", "01"), "tracestate", "a=1,ours=old,b=2",
                                 NULL});
    dpt_tracestate *ts = NULL;
    assert_int_equal(dpt_tracestate_set(dpt_context_tracestate(r.ctx), "ours", "new", &ts), DPT_OK);
    dpt_span_context sc = dpt_context_span_context(r.ctx);
    dpt_context *c = dpt_context_new(&sc, ts, NULL);
    dpt_headers out = DPT_HEADERS_INIT;
    assert_int_equal(
        dpt_propagator_inject(dpt_propagator_tracecontext(), c, &dpt_headers_setter, &out), DPT_OK);
    assert_string_equal(dpt_headers_get(&out, "tracestate", 0, NULL), "ours=new,a=1,b=2");
    dpt_headers_free(&out);
    dpt_context_release(c);
    dpt_tracestate_release(ts);
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_accepts_version_00),
        cmocka_unit_test(test_traceparent_rejects_uppercase_hex),
        cmocka_unit_test(test_traceparent_rejects_all_zero_trace_id),
        cmocka_unit_test(test_traceparent_rejects_all_zero_span_id),
        cmocka_unit_test(test_traceparent_rejects_version_ff),
        cmocka_unit_test(test_traceparent_rejects_version_00_with_extra_characters),
        cmocka_unit_test(test_traceparent_accepts_higher_version_with_extra_fields),
        cmocka_unit_test(test_traceparent_rejects_wrong_field_lengths),
        cmocka_unit_test(test_traceparent_rejects_illegal_characters),
        cmocka_unit_test(test_traceparent_allows_surrounding_spaces_and_tabs),
        cmocka_unit_test(test_traceparent_keeps_random_flag_and_drops_unknown_flags),
        cmocka_unit_test(test_traceparent_checks_every_byte_of_every_id_position),
        cmocka_unit_test(test_traceparent_parse_respects_length_argument),
        cmocka_unit_test(test_traceparent_format_rejects_invalid_context),
        cmocka_unit_test(test_traceparent_null_arguments),
        cmocka_unit_test(test_extract_continues_a_valid_traceparent_as_remote),
        cmocka_unit_test(test_extract_rejects_repeated_traceparent),
        cmocka_unit_test(test_extract_without_traceparent_returns_notfound_and_drops_tracestate),
        cmocka_unit_test(test_extract_invalid_traceparent_drops_tracestate),
        cmocka_unit_test(test_extract_combines_repeated_tracestate_lines_in_order),
        cmocka_unit_test(test_extract_accepts_tracestate_whitespace),
        cmocka_unit_test(test_extract_discards_whole_tracestate_with_one_invalid_member),
        cmocka_unit_test(test_extract_inherits_keys_with_at_signs),
        cmocka_unit_test(test_extract_keeps_tracestate_with_duplicate_keys),
        cmocka_unit_test(test_extract_keeps_32_members_and_discards_33),
        cmocka_unit_test(test_extract_key_length_limits),
        cmocka_unit_test(test_extract_accepts_every_allowed_tracestate_character),
        cmocka_unit_test(test_inject_writes_traceparent_and_tracestate),
        cmocka_unit_test(test_inject_of_empty_context_writes_nothing),
        cmocka_unit_test(test_updated_tracestate_entry_moves_to_front),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
