/* test_export_proto.c - the OTLP protobuf encoder, checked with a strict little wire
 * decoder written here (field numbers from the OTLP .proto files), and the reusable
 * encoder's allocation behaviour. The independent decoder check is tests/interop/otlp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "pb_read.h"
#include "test_export_fixture.h"

/* ---- a strict protobuf reader --------------------------------------------------------- */

typedef struct pbv {
    const uint8_t *p;
    size_t n;
} pbv;

/* Visits field `field`'s idx-th occurrence with the project's one wire reader
 * (src/common/pb_read.h). For varint / fixed fields *num gets the value, for
 * length-delimited ones *sub the bytes. Fails the test on malformed input. */
static bool pb_get(pbv m, uint32_t field, int idx, uint64_t *num, pbv *sub)
{
    pbr_msg r = pbr_init(m.p, m.n);
    pbr_field f;
    int seen = 0, rc;
    while ((rc = pbr_next(&r, &f)) > 0) {
        if (f.num == field && seen++ == idx) {
            if (num) *num = f.u;
            if (sub) *sub = (pbv){f.data, f.len};
            return true;
        }
    }
    assert_int_equal(rc, 0); /* a malformed message fails the test */
    return false;
}

static int pb_count(pbv m, uint32_t field)
{
    int n = 0;
    while (pb_get(m, field, n, NULL, NULL))
        n++;
    return n;
}

static pbv pb_msg(pbv m, uint32_t field, int idx)
{
    pbv s = {NULL, 0};
    assert_true(pb_get(m, field, idx, NULL, &s));
    return s;
}

static uint64_t pb_num(pbv m, uint32_t field)
{
    uint64_t v = 0;
    pb_get(m, field, 0, &v, NULL);
    return v; /* absent: proto3 default 0 */
}

static void assert_pb_str(pbv m, uint32_t field, const char *want)
{
    pbv s = {NULL, 0};
    if (!pb_get(m, field, 0, NULL, &s)) {
        assert_string_equal("", want); /* absent means "" */
        return;
    }
    assert_int_equal(s.n, strlen(want));
    assert_memory_equal(s.p, want, s.n);
}

static void assert_pb_hex(pbv m, uint32_t field, const char *hex)
{
    pbv s = pb_msg(m, field, 0);
    char got[40];
    for (size_t i = 0; i < s.n && i < 16; i++)
        sprintf(got + 2 * i, "%02x", s.p[i]);
    got[2 * s.n] = '\0';
    assert_string_equal(got, hex);
}

/* The KeyValue for key in the repeated field `field` of m. */
static pbv pb_attr(pbv m, uint32_t field, const char *key)
{
    int n = pb_count(m, field);
    for (int i = 0; i < n; i++) {
        pbv kv = pb_msg(m, field, i), k = {NULL, 0};
        pb_get(kv, 1, 0, NULL, &k);
        if (k.n == strlen(key) && memcmp(k.p, key, k.n) == 0) return pb_msg(kv, 2, 0);
    }
    fail_msg("attribute %s not found", key);
    return (pbv){NULL, 0};
}

static double pb_double(pbv any)
{
    uint64_t v = 0;
    assert_true(pb_get(any, 4, 0, &v, NULL));
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static pbv encode(const dpt_span_data **d, size_t n, uint8_t **buf)
{
    size_t len = 0;
    assert_int_equal(dpt_otlp_proto_encode(d, n, buf, &len), DPT_OK);
    assert_non_null(*buf);
    return (pbv){*buf, len};
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_otlp_proto_encodes_every_span_field(void **state)
{
    (void)state;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.attr_count = 8;      /* 10 given: 2 dropped */
    lim.event_count = 1;     /* 2 added: 1 dropped */
    lim.attrs_per_event = 1; /* 2 given: 1 dropped */
    fx f;
    assert_int_equal(fx_open(&f, "checkout", &lim), 0);
    dpt_span_context sc = fx_rich_span(&f);
    const dpt_span_data *d[4];
    size_t n = fx_take(&f, d, 4);
    assert_int_equal(n, 1);

    uint8_t *buf = NULL;
    pbv req = encode(d, n, &buf);
    assert_int_equal(pb_count(req, 1), 1);
    pbv rs = pb_msg(req, 1, 0);
    pbv res = pb_msg(rs, 1, 0);
    pbv svc = pb_attr(res, 1, "service.name");
    assert_pb_str(svc, 1, "checkout");
    assert_int_equal(pb_num(pb_attr(res, 1, "host.cpus"), 3), 2);
    assert_int_equal(pb_count(rs, 2), 1);
    pbv ss = pb_msg(rs, 2, 0);
    pbv scope = pb_msg(ss, 1, 0);
    assert_pb_str(scope, 1, "fx.scope");
    assert_pb_str(scope, 2, "1.2.3");
    assert_int_equal(pb_count(ss, 2), 1);
    pbv sp = pb_msg(ss, 2, 0);

    char hex[40] = {0};
    hex_of(sc.trace_id.b, 16, hex);
    assert_string_equal(hex, FX_PARENT_TRACE);
    assert_pb_hex(sp, 1, FX_PARENT_TRACE);
    hex_of(sc.span_id.b, 8, hex);
    hex[16] = 0;
    assert_pb_hex(sp, 2, hex);
    assert_pb_str(sp, 3, FX_TRACESTATE);
    assert_pb_hex(sp, 4, FX_PARENT_SPAN);
    assert_pb_str(sp, 5, "GET /orders/{id}");
    assert_int_equal(pb_num(sp, 6), 2); /* SPAN_KIND_SERVER */
    assert_true(pb_num(sp, 7) == FX_START_NS);
    assert_true(pb_num(sp, 8) == FX_END_NS);

    /* Attributes: the first 8 were kept. */
    assert_int_equal(pb_count(sp, 9), 8);
    assert_pb_str(pb_attr(sp, 9, "http.request.method"), 1, "GET");
    pbv b = pb_attr(sp, 9, "cache.hit");
    assert_int_equal(pb_count(b, 2), 1); /* false is still present in the oneof */
    assert_int_equal(pb_num(b, 2), 0);
    assert_int_equal(pb_num(pb_attr(sp, 9, "http.response.status_code"), 3), 503);
    assert_true(pb_double(pb_attr(sp, 9, "ratio")) == 0.125);
    pbv arr = pb_msg(pb_attr(sp, 9, "tags"), 5, 0);
    assert_int_equal(pb_count(arr, 1), 3);
    assert_pb_str(pb_msg(arr, 1, 0), 1, "a");
    assert_int_equal(pb_count(pb_msg(arr, 1, 1), 1), 1); /* "" present */
    assert_pb_str(pb_msg(arr, 1, 1), 1, "");
    assert_pb_str(pb_msg(arr, 1, 2), 1, "c\"d");
    arr = pb_msg(pb_attr(sp, 9, "ints"), 5, 0);
    assert_int_equal(pb_count(arr, 1), 3);
    assert_true((int64_t)pb_num(pb_msg(arr, 1, 0), 3) == -1);
    assert_int_equal(pb_count(pb_msg(arr, 1, 1), 3), 1);
    assert_true((int64_t)pb_num(pb_msg(arr, 1, 2), 3) == INT64_MAX);
    arr = pb_msg(pb_attr(sp, 9, "bools"), 5, 0);
    assert_int_equal(pb_num(pb_msg(arr, 1, 0), 2), 1);
    assert_int_equal(pb_num(pb_msg(arr, 1, 1), 2), 0);
    arr = pb_msg(pb_attr(sp, 9, "doubles"), 5, 0);
    assert_true(pb_double(pb_msg(arr, 1, 1)) == -2.25e10);
    assert_int_equal(pb_num(sp, 10), 2); /* dropped attributes */

    /* Events: one kept with one of its two attributes, one dropped. */
    assert_int_equal(pb_count(sp, 11), 1);
    pbv ev = pb_msg(sp, 11, 0);
    assert_true(pb_num(ev, 1) == FX_EVENT_NS);
    assert_pb_str(ev, 2, "retry");
    assert_int_equal(pb_count(ev, 3), 1);
    assert_pb_str(pb_attr(ev, 3, "exception.type"), 1, "Timeout");
    assert_int_equal(pb_num(ev, 4), 1);
    assert_int_equal(pb_num(sp, 12), 1);

    /* The link, with its trace state, attributes and remote flags. */
    assert_int_equal(pb_count(sp, 13), 1);
    pbv ln = pb_msg(sp, 13, 0);
    assert_pb_hex(ln, 1, FX_LINK_TRACE);
    assert_pb_hex(ln, 2, FX_LINK_SPAN);
    assert_pb_str(ln, 3, FX_LINK_TRACESTATE);
    assert_int_equal(pb_num(pb_attr(ln, 4, "link.n"), 3), 7);
    assert_int_equal(pb_num(ln, 6), 0x01 | 0x100 | 0x200);
    assert_int_equal(pb_num(sp, 14), 0);

    pbv st = pb_msg(sp, 15, 0);
    assert_pb_str(st, 2, "upstream \"timeout\"");
    assert_int_equal(pb_num(st, 3), 2); /* STATUS_CODE_ERROR */
    /* Span flags: W3C sampled + random, parent remote known and true. */
    assert_int_equal(pb_num(sp, 16), 0x03 | 0x100 | 0x200);

    dpt_free(buf);
    fx_release(d, n);
    fx_close(&f);
}

static void test_otlp_proto_root_span_omits_parent_and_marks_local(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    fx_simple_span(f.t, "root");
    const dpt_span_data *d[2];
    size_t n = fx_take(&f, d, 2);
    assert_int_equal(n, 1);
    uint8_t *buf = NULL;
    pbv req = encode(d, n, &buf);
    pbv sp = pb_msg(pb_msg(pb_msg(req, 1, 0), 2, 0), 2, 0);
    assert_int_equal(pb_count(sp, 4), 0);  /* no parent_span_id */
    assert_int_equal(pb_count(sp, 3), 0);  /* no trace_state */
    assert_int_equal(pb_count(sp, 15), 0); /* status unset */
    assert_int_equal(pb_num(sp, 6), 1);    /* INTERNAL */
    assert_int_equal(pb_num(sp, 16) & 0x300, 0x100);
    dpt_free(buf);
    fx_release(d, n);
    fx_close(&f);
}

static void test_otlp_proto_groups_by_resource_and_scope(void **state)
{
    (void)state;
    fx a, b;
    assert_int_equal(fx_open(&a, "svc-a", NULL), 0);
    assert_int_equal(fx_open(&b, "svc-b", NULL), 0);
    dpt_tracer *a2 = dpt_provider_get_tracer(a.p, "second", NULL);
    fx_simple_span(a.t, "a1");
    fx_simple_span(b.t, "b1");
    fx_simple_span(a2, "a2-1");
    fx_simple_span(a.t, "a3");
    fx_simple_span(a2, "a2-2");
    const dpt_span_data *da[8], *db[8];
    size_t na = fx_take(&a, da, 8), nb = fx_take(&b, db, 8);
    assert_int_equal(na, 4);
    assert_int_equal(nb, 1);
    /* Interleaved, with a NULL entry that must be skipped. */
    const dpt_span_data *mix[] = {da[0], db[0], da[1], NULL, da[2], da[3]};
    uint8_t *buf = NULL;
    pbv req = encode(mix, 6, &buf);
    assert_int_equal(pb_count(req, 1), 2);
    pbv rs0 = pb_msg(req, 1, 0), rs1 = pb_msg(req, 1, 1);
    assert_pb_str(pb_attr(pb_msg(rs0, 1, 0), 1, "service.name"), 1, "svc-a");
    assert_pb_str(pb_attr(pb_msg(rs1, 1, 0), 1, "service.name"), 1, "svc-b");
    assert_int_equal(pb_count(rs0, 2), 2);
    pbv s0 = pb_msg(rs0, 2, 0), s1 = pb_msg(rs0, 2, 1);
    assert_pb_str(pb_msg(s0, 1, 0), 1, "fx.scope");
    assert_pb_str(pb_msg(s1, 1, 0), 1, "second");
    assert_int_equal(pb_count(pb_msg(s1, 1, 0), 2), 0); /* no version */
    assert_int_equal(pb_count(s0, 2), 2);
    assert_pb_str(pb_msg(s0, 2, 0), 5, "a1");
    assert_pb_str(pb_msg(s0, 2, 1), 5, "a3");
    assert_int_equal(pb_count(s1, 2), 2);
    assert_pb_str(pb_msg(s1, 2, 0), 5, "a2-1");
    assert_pb_str(pb_msg(s1, 2, 1), 5, "a2-2");
    assert_int_equal(pb_count(rs1, 2), 1);
    assert_pb_str(pb_msg(pb_msg(rs1, 2, 0), 2, 0), 5, "b1");
    dpt_free(buf);
    fx_release(da, na);
    fx_release(db, nb);
    fx_close(&a);
    fx_close(&b);
}

static void test_otlp_proto_replaces_invalid_utf8_only(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    dpt_span s = dpt_span_start(f.t, "bad\xff name", DPT_SPAN_CLIENT, NULL);
    dpt_span_set_str(s, "k\xc3", "v\xe2\x82");
    dpt_span_set_str(s, "ok", "\xc3\xa9t\xc3\xa9");
    dpt_span_end(s);
    const dpt_span_data *d[2];
    size_t n = fx_take(&f, d, 2);
    assert_int_equal(n, 1);
    uint8_t *buf = NULL;
    pbv req = encode(d, n, &buf);
    pbv sp = pb_msg(pb_msg(pb_msg(req, 1, 0), 2, 0), 2, 0);
    assert_pb_str(sp, 5, "bad\xef\xbf\xbd name");
    assert_pb_str(pb_attr(sp, 9, "ok"), 1, "\xc3\xa9t\xc3\xa9");
    /* The invalid key and value come out as valid UTF-8 with U+FFFD. */
    pbv kv = pb_msg(sp, 9, 0);
    pbv k = pb_msg(kv, 1, 0);
    assert_true(k.n >= 4 && memcmp(k.p, "k\xef\xbf\xbd", 4) == 0);
    dpt_free(buf);
    fx_release(d, n);
    fx_close(&f);
}

static void test_otlp_proto_lengths_exact_for_tiny_and_huge_messages(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    /* 60 spans of 40000-byte values: each span needs a 3-byte length where 2 are reserved,
     * and the scope and resource groups (2.4 MB > 2^21) need 4 where 3 are reserved; a
     * 200-byte value needs 2 where an attribute reserves 1; the last span needs 1 byte
     * where 2 are reserved. (Within the default span byte budget of 64 KiB.) */
    enum { NBIG = 60, BIG = 40000 };
    char *v = malloc(BIG + 1);
    assert_non_null(v);
    memset(v, 'x', BIG);
    v[BIG] = '\0';
    char mid[201];
    memset(mid, 'm', 200);
    mid[200] = '\0';
    for (int i = 0; i < NBIG; i++) {
        dpt_span s = dpt_span_start(f.t, "huge", DPT_SPAN_INTERNAL, NULL);
        v[0] = (char)('A' + i % 26);
        assert_int_equal(dpt_span_set_strn(s, "big", 3, v, BIG), DPT_OK);
        assert_int_equal(dpt_span_set_str(s, "mid", mid), DPT_OK);
        dpt_span_end(s);
    }
    fx_simple_span(f.t, "t"); /* a span far below 128 bytes */
    const dpt_span_data *d[NBIG + 1];
    size_t n = fx_take(&f, d, NBIG + 1);
    assert_int_equal(n, NBIG + 1);
    uint8_t *buf = NULL;
    pbv req = encode(d, n, &buf);
    assert_true(req.n > (2u << 20));
    pbv ss = pb_msg(pb_msg(req, 1, 0), 2, 0);
    assert_int_equal(pb_count(ss, 2), NBIG + 1);
    for (int i = 0; i < NBIG; i++) {
        pbv sp = pb_msg(ss, 2, i);
        pbv bigv = pb_msg(pb_attr(sp, 9, "big"), 1, 0);
        assert_int_equal(bigv.n, BIG);
        assert_true(bigv.p[0] == 'A' + i % 26 && bigv.p[BIG - 1] == 'x');
        assert_int_equal(pb_msg(pb_attr(sp, 9, "mid"), 1, 0).n, 200);
    }
    assert_pb_str(pb_msg(ss, 2, NBIG), 5, "t");
    /* The request is exactly its one field: nothing before or after. */
    pbv rs = pb_msg(req, 1, 0);
    assert_true(rs.p + rs.n == req.p + req.n);
    dpt_free(buf);
    free(v);
    fx_release(d, n);
    fx_close(&f);
}

/* One attribute of the length/byte-position test: what is set and what must come out. */
typedef struct lcase {
    char key[160], val[160], want_key[170], want_val[170];
    size_t klen, vlen, want_klen, want_vlen;
    bool is_int;
} lcase;

/* s (n bytes of c) with the byte at `bad` (or none: n) made invalid UTF-8; want gets what
 * the encoder must write: the invalid byte as U+FFFD. */
static void lfill(char *s, size_t n, char c, size_t bad, char *want, size_t *want_n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        s[i] = i == bad ? '\xff' : c;
        if (i == bad) {
            memcpy(want + w, "\xef\xbf\xbd", 3);
            w += 3;
        } else {
            want[w++] = c;
        }
    }
    *want_n = w;
}

/* docs/export.md, OTLP protobuf: strings are valid UTF-8 (an invalid byte becomes U+FFFD)
 * and lengths are minimal varints. The KeyValue fast path tests whole words for high bits
 * and copies keys and values in size classes (1-3, 4-7, 8-16, 17-32 bytes, longer) and
 * writes one-byte lengths below 128: a high byte at every position of every short length,
 * in keys and values, and every length around 128 come out exactly. */
static void test_otlp_proto_every_length_and_high_byte_position(void **state)
{
    (void)state;
    enum { MAXC = 3000, PER_SPAN = 100 };
    lcase *c = calloc(MAXC, sizeof *c);
    assert_non_null(c);
    size_t n = 0;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t bad = 0; bad <= len; bad++) {
            /* a value with a bad byte at `bad` (len: none), under a unique ASCII key */
            lcase *v = &c[n++];
            v->klen = (size_t)snprintf(v->key, sizeof v->key, "v%zu.%zu", len, bad);
            memcpy(v->want_key, v->key, v->klen);
            v->want_klen = v->klen;
            v->vlen = len;
            lfill(v->val, len, 'a' + (char)(len % 26), bad, v->want_val, &v->want_vlen);
            /* a key with a bad byte, string and integer values */
            for (int as_int = 0; as_int < 2; as_int++) {
                lcase *k = &c[n++];
                k->klen = len + 1;
                k->key[0] = as_int ? 'i' : 's';
                lfill(k->key + 1, len, 'k', bad, k->want_key + 1, &k->want_klen);
                k->want_key[0] = k->key[0];
                k->want_klen++;
                k->is_int = as_int;
                k->vlen = (size_t)snprintf(k->val, sizeof k->val, "%zu", bad);
                memcpy(k->want_val, k->val, k->vlen);
                k->want_vlen = k->vlen;
            }
        }
    }
    for (size_t len = 110; len <= 140; len++) {
        /* KeyValues on both sides of 128 bytes, keys and values alike */
        lcase *v = &c[n++];
        v->klen = (size_t)snprintf(v->key, sizeof v->key, "long.%zu", len);
        v->vlen = len;
        lfill(v->val, len, 'b', len, v->want_val, &v->want_vlen);
        lcase *k = &c[n++];
        k->klen = len;
        lfill(k->key, len, 'c', len, k->want_key, &k->want_klen);
        k->key[0] = 'L';
        k->want_key[0] = 'L';
        k->vlen = 1;
        k->val[0] = 'x';
        for (lcase *e = v; e <= k; e++) {
            if (e == v) {
                memcpy(e->want_key, e->key, e->klen);
                e->want_klen = e->klen;
            } else {
                e->want_val[0] = 'x';
                e->want_vlen = 1;
            }
        }
    }
    assert_true(n <= MAXC);

    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    size_t nspans = (n + PER_SPAN - 1) / PER_SPAN;
    for (size_t i = 0; i < n; i += PER_SPAN) {
        dpt_span s = dpt_span_start(f.t, "lengths", DPT_SPAN_INTERNAL, NULL);
        for (size_t j = i; j < n && j < i + PER_SPAN; j++) {
            dpt_attr a = DPT_STRN(c[j].key, c[j].val, c[j].vlen);
            if (c[j].is_int) a = (dpt_attr)DPT_INT(c[j].key, (int64_t)strtoll(c[j].val, NULL, 10));
            a.key_len = (uint32_t)c[j].klen;
            assert_int_equal(dpt_span_set_attr(s, &a), DPT_OK);
        }
        dpt_span_end(s);
    }
    const dpt_span_data **d = calloc(nspans, sizeof *d);
    assert_non_null(d);
    assert_int_equal(fx_take(&f, d, nspans), nspans);
    uint8_t *buf = NULL;
    pbv ss = pb_msg(pb_msg(encode(d, nspans, &buf), 1, 0), 2, 0);
    assert_int_equal(pb_count(ss, 2), nspans);
    for (size_t j = 0; j < n; j++) {
        pbv kv = pb_msg(pb_msg(ss, 2, (int)(j / PER_SPAN)), 9, (int)(j % PER_SPAN));
        pbv k = pb_msg(kv, 1, 0), any = pb_msg(kv, 2, 0);
        assert_int_equal(k.n, c[j].want_klen);
        assert_memory_equal(k.p, c[j].want_key, k.n);
        if (c[j].is_int) {
            assert_int_equal(pb_num(any, 3), strtoull(c[j].val, NULL, 10));
            continue;
        }
        pbv sv = {NULL, 0};
        assert_true(pb_get(any, 1, 0, NULL, &sv));
        assert_int_equal(sv.n, c[j].want_vlen);
        if (sv.n) assert_memory_equal(sv.p, c[j].want_val, sv.n);
    }
    dpt_free(buf);
    fx_release(d, nspans);
    free(d);
    fx_close(&f);
    free(c);
}

static void test_encoders_reject_bad_arguments_and_accept_empty_batches(void **state)
{
    (void)state;
    uint8_t *buf = (uint8_t *)"x";
    size_t len = 99;
    assert_int_equal(dpt_otlp_proto_encode(NULL, 3, &buf, &len), DPT_EINVAL);
    assert_int_equal(dpt_otlp_proto_encode(NULL, 0, NULL, &len), DPT_EINVAL);
    assert_int_equal(dpt_otlp_proto_encode(NULL, 0, &buf, &len), DPT_OK);
    assert_int_equal(len, 0);
    dpt_free(buf);
    const dpt_span_data *nulls[2] = {NULL, NULL};
    char *js = NULL;
    assert_int_equal(dpt_otlp_json_encode(nulls, 2, &js, &len), DPT_OK);
    assert_string_equal(js, "{\"resourceSpans\":[]}");
    dpt_free(js);
    assert_int_equal(dpt_zipkin_json_encode(nulls, 2, &js, &len), DPT_OK);
    assert_string_equal(js, "[]");
    dpt_free(js);
    assert_null(dpt_encoder_new((dpt_format)42));
    const uint8_t *out;
    assert_int_equal(dpt_encoder_encode(NULL, nulls, 2, &out, &len), DPT_EINVAL);
    dpt_encoder_free(NULL);
}

static void test_reused_encoder_allocates_nothing_in_steady_state(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    for (int i = 0; i < 64; i++)
        fx_rich_span(&f);
    const dpt_span_data *d[64];
    size_t n = fx_take(&f, d, 64);
    assert_int_equal(n, 64);
    dpt_format fmts[] = {DPT_FORMAT_OTLP_PROTO, DPT_FORMAT_OTLP_JSON, DPT_FORMAT_ZIPKIN_JSON};
    for (size_t k = 0; k < 3; k++) {
        dpt_encoder *e = dpt_encoder_new(fmts[k]);
        assert_non_null(e);
        assert_int_equal(dpt_encoder_format(e), fmts[k]);
        const uint8_t *out;
        size_t len1, len2;
        assert_int_equal(dpt_encoder_encode(e, d, n, &out, &len1), DPT_OK);
        uint8_t *first = malloc(len1);
        memcpy(first, out, len1);
        uint64_t before = dpt__test_alloc_count();
        assert_int_equal(dpt_encoder_encode(e, d, n, &out, &len2), DPT_OK);
        assert_int_equal(dpt__test_alloc_count(), before);
        assert_int_equal(len1, len2);
        assert_memory_equal(first, out, len1);
        assert_int_equal(out[len2], 0); /* NUL-terminated */
        free(first);
        dpt_encoder_free(e);
    }
    fx_release(d, n);
    fx_close(&f);
}

static void test_encoders_report_enomem_without_crashing(void **state)
{
    (void)state;
    fx f;
    assert_int_equal(fx_open(&f, "svc", NULL), 0);
    for (int i = 0; i < 4; i++)
        fx_rich_span(&f);
    const dpt_span_data *d[4];
    size_t n = fx_take(&f, d, 4);
    for (size_t k = 0; k < 3; k++) {
        /* Fail the 1st, 2nd, ... allocation until the encode gets through. */
        bool succeeded = false;
        for (long after = 0; after < 64 && !succeeded; after++) {
            uint8_t *buf = NULL;
            size_t len = 0;
            dpt__test_fail_alloc_after(after);
            dpt_err err = k == 0   ? dpt_otlp_proto_encode(d, n, &buf, &len)
                          : k == 1 ? dpt_otlp_json_encode(d, n, (char **)&buf, &len)
                                   : dpt_zipkin_json_encode(d, n, (char **)&buf, &len);
            dpt__test_fail_alloc_after(-1);
            if (err == DPT_OK) {
                succeeded = true;
                assert_non_null(buf);
            } else {
                assert_int_equal(err, DPT_ENOMEM);
                assert_null(buf);
            }
            dpt_free(buf);
        }
        assert_true(succeeded);
    }
    fx_release(d, n);
    fx_close(&f);
}

/* Span data not made by a provider (as tools build it), with every pointer NULL or odd:
 * NULL tracer, NULL strings with lengths, unknown value types and kinds, NULL arrays. */
static void test_encoders_survive_odd_hand_built_span_data(void **state)
{
    (void)state;
    const char *sarr[] = {NULL, "ok"};
    dpt_attr attrs[] = {
        {NULL, 5, {DPT_VAL_STRING, 3, {.s = NULL}}},
        {"k", DPT_NUL, {99, 0, {.i = 1}}},
        {"nullarr", DPT_NUL, {DPT_VAL_INT_ARRAY, 4, {.ia = NULL}}},
        {"sarr", DPT_NUL, {DPT_VAL_STRING_ARRAY, 2, {.sa = sarr}}},
        {"nul-len", DPT_NUL, {DPT_VAL_STRING, DPT_NUL, {.s = "abc"}}},
    };
    dpt_event ev[2];
    memset(ev, 0, sizeof ev);
    ev[0].name = NULL;
    ev[0].name_len = 4;
    ev[0].n_attrs = 3;
    ev[0].attrs = NULL;
    ev[1].name = "e";
    ev[1].name_len = DPT_NUL;
    ev[1].attrs = attrs;
    ev[1].n_attrs = 5;
    dpt_link ln;
    memset(&ln, 0, sizeof ln);
    ln.tracestate = NULL;
    ln.tracestate_len = 9;
    ln.n_attrs = 2;
    dpt_span_data d;
    memset(&d, 0, sizeof d);
    d.kind = 99;
    d.status = 7;
    d.name = NULL;
    d.name_len = 12;
    d.tracestate = NULL;
    d.tracestate_len = DPT_NUL;
    d.status_msg = NULL;
    d.status_msg_len = 50;
    d.attrs = attrs;
    d.n_attrs = 5;
    d.events = ev;
    d.n_events = 2;
    d.links = &ln;
    d.n_links = 1;
    d.n_attrs = 5;
    dpt_span_data d2 = d;
    d2.attrs = NULL; /* counts without arrays */
    d2.events = NULL;
    d2.links = NULL;
    d2.status = DPT_STATUS_ERROR;
    const dpt_span_data *batch[] = {&d, NULL, &d2};

    uint8_t *buf = NULL;
    pbv req = encode(batch, 3, &buf);
    pbv ss = pb_msg(pb_msg(req, 1, 0), 2, 0);
    assert_int_equal(pb_count(ss, 2), 2);
    pbv sp = pb_msg(ss, 2, 0);
    assert_int_equal(pb_count(sp, 6), 0); /* unknown kind: left unspecified */
    assert_int_equal(pb_count(sp, 9), 5);
    assert_int_equal(pb_count(pb_msg(pb_attr(sp, 9, "nullarr"), 5, 0), 1), 0);
    assert_pb_str(pb_msg(pb_msg(pb_attr(sp, 9, "sarr"), 5, 0), 1, 1), 1, "ok");
    assert_pb_str(pb_attr(sp, 9, "nul-len"), 1, "abc");
    dpt_free(buf);

    char *js = NULL;
    size_t len = 0;
    assert_int_equal(dpt_otlp_json_encode(batch, 3, &js, &len), DPT_OK);
    assert_true(len > 0 && js[0] == '{' && js[len - 1] == '}');
    assert_non_null(strstr(js, "\"nul-len\",\"value\":{\"stringValue\":\"abc\"}"));
    dpt_free(js);
    assert_int_equal(dpt_zipkin_json_encode(batch, 3, &js, &len), DPT_OK);
    assert_true(len > 0 && js[0] == '[' && js[len - 1] == ']');
    assert_non_null(strstr(js, "\"serviceName\":\"unknown_service\""));
    dpt_free(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otlp_proto_encodes_every_span_field),
        cmocka_unit_test(test_otlp_proto_root_span_omits_parent_and_marks_local),
        cmocka_unit_test(test_otlp_proto_groups_by_resource_and_scope),
        cmocka_unit_test(test_otlp_proto_replaces_invalid_utf8_only),
        cmocka_unit_test(test_otlp_proto_lengths_exact_for_tiny_and_huge_messages),
        cmocka_unit_test(test_otlp_proto_every_length_and_high_byte_position),
        cmocka_unit_test(test_encoders_reject_bad_arguments_and_accept_empty_batches),
        cmocka_unit_test(test_reused_encoder_allocates_nothing_in_steady_state),
        cmocka_unit_test(test_encoders_report_enomem_without_crashing),
        cmocka_unit_test(test_encoders_survive_odd_hand_built_span_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
