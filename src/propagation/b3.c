/* b3.c - Zipkin B3 propagation: the single `b3` header and the X-B3-* multi-header form.
 *
 * Extraction follows OpenTelemetry's B3 propagator: a non-empty `b3` header wins and the
 * X-B3-* headers are read only without it. The grammar is the B3 spec's, strictly (lower
 * hex, 16 or 32 digit trace ids, exact positions). A repeated header is read by the B3
 * rule for state headers, "the first value wins" (also for b3 itself). The debug state is
 * carried on the span context as DPT_FLAG_B3_DEBUG and written back ('d', X-B3-Flags: 1).
 */
#include "prop_internal.h"

/* Decodes a 16 or 32 lowercase-hex trace id; 16 digits are a 64-bit id, left-padded. */
static bool trace_id_hex(const char *s, size_t n, dpt_trace_id *out)
{
    memset(out, 0, sizeof *out);
    if (n == 32) return dpt__lhex_decode(s, out->b, 16);
    if (n == 16) return dpt__lhex_decode(s, out->b + 8, 8);
    return false;
}

static bool sampling_char(char c, dpt_b3 *out)
{
    switch (c) {
    case '0':
        out->sampled = 0;
        return true;
    case '1':
        out->sampled = 1;
        return true;
    case 'd':
        out->sampled = 1;
        out->debug = true;
        return true;
    default:
        return false;
    }
}

dpt_err dpt_b3_parse(const char *s, size_t len, dpt_b3 *out)
{
    if (!out) return DPT_EINVAL;
    memset(out, 0, sizeof *out);
    out->sampled = -1;
    if (!s) return DPT_EINVAL;
    if (len == DPT_NUL) len = strlen(s);
    dpt__trim_ows(&s, &len);
    if (len == 1) return sampling_char(s[0], out) ? DPT_OK : DPT_EPARSE;
    /* The trace id ends at the first '-': position 16 or 32. */
    size_t tl = len > 16 && s[16] == '-' ? 16 : 32;
    if (len < tl + 1 + 16 || s[tl] != '-') goto bad;
    dpt_b3 r;
    memset(&r, 0, sizeof r);
    r.sampled = -1;
    if (!trace_id_hex(s, tl, &r.sc.trace_id) || !dpt__lhex_decode(s + tl + 1, r.sc.span_id.b, 8))
        goto bad;
    size_t i = tl + 1 + 16;
    if (i < len) { /* "-<state>" and/or "-<parent>" */
        if (s[i] != '-') goto bad;
        i++;
        if (len - i == 1 || (len - i > 1 && s[i + 1] == '-')) {
            if (!sampling_char(s[i], &r)) goto bad;
            i++;
            if (i < len) {
                if (s[i] != '-') goto bad;
                i++;
            }
        }
        if (i < len) {
            if (len - i != 16 || !dpt__lhex_decode(s + i, r.parent.b, 8) ||
                dpt__all_zero(r.parent.b, 8))
                goto bad;
        } else if (s[i - 1] == '-') {
            goto bad; /* a trailing '-' */
        }
    }
    if (dpt__all_zero(r.sc.trace_id.b, 16) || dpt__all_zero(r.sc.span_id.b, 8)) goto bad;
    r.sc.flags = r.sampled == 1 ? DPT_FLAG_SAMPLED : 0;
    if (r.debug) r.sc.flags |= DPT_FLAG_B3_DEBUG;
    r.sc.remote = true;
    *out = r;
    return DPT_OK;
bad:
    return DPT_EPARSE;
}

size_t dpt_b3_format(const dpt_b3 *b3, char out[64])
{
    if (!out) return 0;
    out[0] = 0;
    if (!b3 || !dpt_span_context_is_valid(&b3->sc)) return 0;
    dpt__lhex_encode(b3->sc.trace_id.b, 16, out);
    out[32] = '-';
    dpt__lhex_encode(b3->sc.span_id.b, 8, out + 33);
    out[49] = '-';
    out[50] = (char)(b3->debug ? 'd' : b3->sampled == 1 ? '1' : '0');
    out[51] = 0;
    return 51;
}

/* ---- multi-header ---------------------------------------------------------------------- */

/* X-B3-Sampled: "1"/"0" per the spec, "true"/"false" from older tracers. */
static int sampled_value(const char *v, size_t n)
{
    if ((n == 1 && v[0] == '1') ||
        (n == 4 && (memcmp(v, "true", 4) == 0 || memcmp(v, "True", 4) == 0)))
        return 1;
    if ((n == 1 && v[0] == '0') ||
        (n == 5 && (memcmp(v, "false", 5) == 0 || memcmp(v, "False", 5) == 0)))
        return 0;
    return -2;
}

/* B3: "When extracting state headers, the first value wins." */
static const char *first(const dpt__in *in, const char *name, size_t *len)
{
    *len = 0;
    return in->g->get(in->c, name, 0, len);
}

static void multi_extract(const dpt__in *in, dpt__extract *x)
{
    size_t tl = 0, sl = 0, ml = 0, fl = 0;
    const char *t = first(in, "x-b3-traceid", &tl);
    const char *sp = first(in, "x-b3-spanid", &sl);
    if (!t && !sp) return;
    x->saw_trace_field = true;
    const char *smp = first(in, "x-b3-sampled", &ml);
    const char *fg = first(in, "x-b3-flags", &fl);
    dpt_span_context sc;
    memset(&sc, 0, sizeof sc);
    if (!t || !sp) goto bad;
    dpt__trim_ows(&t, &tl);
    dpt__trim_ows(&sp, &sl);
    if (!trace_id_hex(t, tl, &sc.trace_id) || sl != 16 || !dpt__lhex_decode(sp, sc.span_id.b, 8))
        goto bad;
    if (dpt__all_zero(sc.trace_id.b, 16) || dpt__all_zero(sc.span_id.b, 8)) goto bad;
    int sampled = 0;
    if (smp) {
        dpt__trim_ows(&smp, &ml);
        sampled = sampled_value(smp, ml);
        if (sampled < 0) goto bad;
    }
    /* B3: "Debug is encoded as X-B3-Flags: 1. Absent or any other value can be ignored.
     * Debug implies an accept decision". */
    if (fg) dpt__trim_ows(&fg, &fl);
    bool debug = fg && fl == 1 && fg[0] == '1';
    sc.flags = (sampled || debug) ? DPT_FLAG_SAMPLED : 0;
    if (debug) sc.flags |= DPT_FLAG_B3_DEBUG;
    dpt__extract_set_sc(x, &sc, NULL);
    return;
bad:
    dpt__prop_count(DPT_PSTAT_B3_INVALID, 1);
}

static void b3_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st;
    const dpt__in in_ = {g, carrier}, *in = &in_;
    size_t len = 0;
    const char *v = first(in, "b3", &len);
    if (v) {
        const char *t = v;
        size_t tl = len;
        dpt__trim_ows(&t, &tl);
        if (tl == 0) v = NULL; /* an empty b3 header is no header: try the multi form */
    }
    if (!v) {
        multi_extract(in, x);
        return;
    }
    x->saw_trace_field = true;
    dpt_b3 b3;
    if (dpt_b3_parse(v, len, &b3) != DPT_OK) {
        dpt__prop_count(DPT_PSTAT_B3_INVALID, 1);
        return;
    }
    /* A bare sampling state carries no ids: there is no context to continue. */
    if (dpt_span_context_is_valid(&b3.sc)) dpt__extract_set_sc(x, &b3.sc, NULL);
}

static dpt_err b3_inject_single(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st;
    dpt_b3 b3;
    memset(&b3, 0, sizeof b3);
    b3.sc = dpt_context_span_context(ctx);
    b3.sampled = (b3.sc.flags & DPT_FLAG_SAMPLED) ? 1 : 0;
    b3.debug = (b3.sc.flags & DPT_FLAG_B3_DEBUG) != 0;
    char buf[64];
    size_t n = dpt_b3_format(&b3, buf);
    return n ? s->set(c, "b3", buf, n) : DPT_OK;
}

static dpt_err b3_inject_multi(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st;
    dpt_span_context sc = dpt_context_span_context(ctx);
    if (!dpt_span_context_is_valid(&sc)) return DPT_OK;
    char t[33], sp[17]; /* setters get NUL-terminated values */
    dpt__lhex_encode(sc.trace_id.b, 16, t);
    dpt__lhex_encode(sc.span_id.b, 8, sp);
    t[32] = sp[16] = 0;
    dpt_err e = s->set(c, "x-b3-traceid", t, 32);
    if (e == DPT_OK) e = s->set(c, "x-b3-spanid", sp, 16);
    /* B3: "Debug implies an accept decision, so don't also send the X-B3-Sampled header." */
    if (e == DPT_OK && (sc.flags & DPT_FLAG_B3_DEBUG)) return s->set(c, "x-b3-flags", "1", 1);
    if (e == DPT_OK) e = s->set(c, "x-b3-sampled", (sc.flags & DPT_FLAG_SAMPLED) ? "1" : "0", 1);
    return e;
}

static size_t b3_fields(void *st, const char **names, size_t max)
{
    (void)st;
    if (max) names[0] = "b3";
    return 1;
}

static size_t b3multi_fields(void *st, const char **names, size_t max)
{
    (void)st;
    static const char *const f[] = {"x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"};
    for (size_t i = 0; i < 4 && i < max; i++)
        names[i] = f[i];
    return 4;
}

const dpt_propagator_ops dpt__b3_ops = {b3_extract, b3_inject_single, b3_fields, NULL};
const dpt_propagator_ops dpt__b3multi_ops = {b3_extract, b3_inject_multi, b3multi_fields, NULL};
