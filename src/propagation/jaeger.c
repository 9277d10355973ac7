/* jaeger.c - Jaeger propagation: `uber-trace-id: trace:span:parent:flags`, baggage in
 * `uberctx-<key>` fields, and the `jaeger-baggage: k1=v1, k2=v2` header that Jaeger
 * clients read (never write) to accept baggage from a request without a trace context.
 *
 * Jaeger clients write ids as variable-length hex (leading zeros dropped) and some
 * percent-encode the ':' separators, so both are accepted; ids are always written back as
 * 32 / 16 lowercase digits, as OpenTelemetry does. A repeated field is read by the rule B3
 * states for its headers, "the first value wins" (OpenTelemetry JS does the same).
 */
#include "prop_internal.h"

#include <stdlib.h>

#define JAEGER_DEBUG 0x02u

static dpt_err parse_plain(const char *s, size_t len, dpt_span_context *out, bool *debug)
{
    const char *f[4];
    size_t fl[4];
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ':') {
            if (k == 4) return DPT_EPARSE;
            f[k] = s + start;
            fl[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    if (k != 4) return DPT_EPARSE;
    dpt_span_context sc;
    memset(&sc, 0, sizeof sc);
    uint8_t parent[8], flags[1];
    if (!dpt__hex_decode_padded(f[0], fl[0], sc.trace_id.b, 16) ||
        !dpt__hex_decode_padded(f[1], fl[1], sc.span_id.b, 8) ||
        !dpt__hex_decode_padded(f[2], fl[2], parent, 8) ||
        !dpt__hex_decode_padded(f[3], fl[3], flags, 1))
        return DPT_EPARSE;
    if (dpt__all_zero(sc.trace_id.b, 16) || dpt__all_zero(sc.span_id.b, 8)) return DPT_EPARSE;
    /* Jaeger's debug bit implies sampled. */
    sc.flags = (flags[0] & (DPT_FLAG_SAMPLED | JAEGER_DEBUG)) ? DPT_FLAG_SAMPLED : 0;
    sc.remote = true;
    *out = sc;
    if (debug) *debug = (flags[0] & JAEGER_DEBUG) != 0;
    return DPT_OK;
}

dpt_err dpt_jaeger_parse(const char *s, size_t len, dpt_span_context *out, bool *debug)
{
    if (debug) *debug = false;
    if (!out) return DPT_EINVAL;
    memset(out, 0, sizeof *out);
    if (!s) return DPT_EINVAL;
    if (len == DPT_NUL) len = strlen(s);
    dpt__trim_ows(&s, &len);
    if (!memchr(s, '%', len)) return parse_plain(s, len, out, debug);
    /* Percent-encoded separators: decode first. The longest valid value is short, so a
     * stack buffer bounds the work on hostile input. */
    if (len > 256) return DPT_EPARSE;
    dpt__buf b;
    dpt__buf_init(&b);
    dpt_err e = DPT_EPARSE;
    if (dpt__pct_decode(s, len, &b) && !b.oom)
        e = parse_plain(b.p ? b.p : "", b.len, out, debug);
    else if (b.oom)
        e = DPT_ENOMEM;
    dpt__buf_free(&b);
    return e;
}

size_t dpt_jaeger_format(const dpt_span_context *sc, char out[64])
{
    if (!out) return 0;
    out[0] = 0;
    if (!sc || !dpt_span_context_is_valid(sc)) return 0;
    dpt__lhex_encode(sc->trace_id.b, 16, out);
    out[32] = ':';
    dpt__lhex_encode(sc->span_id.b, 8, out + 33);
    memcpy(out + 49, ":0:0", 4);
    out[53] = (sc->flags & DPT_FLAG_SAMPLED) ? '1' : '0';
    out[54] = 0;
    return 54;
}

#define PREFIX "uberctx-"

/* Percent-decodes [v, v + vl) and adds it as the baggage entry key (UTF-8 repaired as W3C
 * Baggage asks of decoded values). false when the escape is malformed. */
static bool add_decoded(dpt__extract *x, const char *key, size_t kl, const char *v, size_t vl)
{
    dpt__buf dec, val;
    dpt__buf_init(&dec);
    dpt__buf_init(&val);
    bool ok = dpt__pct_decode(v, vl, &dec);
    if (ok) {
        dpt__utf8_sanitize(dec.p ? dec.p : "", dec.len, &val);
        if (val.oom || dec.oom)
            x->oom = true;
        else
            dpt_extraction_add_baggage(x, key, kl, val.p ? val.p : "", val.len, NULL, 0);
    }
    dpt__buf_free(&dec);
    dpt__buf_free(&val);
    return ok;
}

/* jaeger-baggage: "k1=v1, k2=v2" (jaeger-client-go's parseCommaSeparatedMap: members split
 * on ',', a member is exactly one key '=' value). Each value is percent-decoded on its own,
 * so an encoded ',' or '=' stays inside the value. A key must be a token, so that it can
 * be sent on as uberctx-<key>. Invalid members are dropped and counted, one by one. */
static void jaeger_baggage_extract(const dpt__in *in, dpt__extract *x)
{
    size_t vl = 0;
    const char *v;
    for (size_t i = 0;
         i < DPT__MAX_FIELD_VALUES && (v = in->g->get(in->c, "jaeger-baggage", i, &vl)) != NULL;
         i++) {
        size_t pos = 0, ml, kl, l;
        const char *m, *k, *val;
        while (!x->oom && dpt__list_next(v, vl, &pos, &m, &ml)) {
            if (!dpt__kv_split(m, ml, &k, &kl, &val, &l) || memchr(val, '=', l) ||
                !dpt__is_token(k, kl) || !add_decoded(x, k, kl, val, l))
                dpt__prop_count(DPT_PSTAT_JAEGER_INVALID, 1);
        }
    }
}

static void jaeger_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st;
    const dpt__in in_ = {g, carrier}, *in = &in_;
    size_t len = 0;
    const char *v = in->g->get(in->c, "uber-trace-id", 0, &len);
    if (v) {
        x->saw_trace_field = true;
        dpt_span_context sc;
        dpt_err e = dpt_jaeger_parse(v, len, &sc, NULL);
        if (e == DPT_OK)
            dpt__extract_set_sc(x, &sc, NULL);
        else if (e == DPT_ENOMEM)
            x->oom = true;
        else
            dpt__prop_count(DPT_PSTAT_JAEGER_INVALID, 1);
    }
    /* jaeger-baggage first, so that a uberctx-<key> field of the same key wins: it is the
     * form Jaeger clients themselves write. */
    jaeger_baggage_extract(in, x);
    if (!x->oom) dpt__extract_prefixed(in, PREFIX, DPT_PSTAT_JAEGER_INVALID, x, add_decoded);
}

/* uberctx-<key> values are percent-encoded, as Jaeger clients write them. */
static bool pct_value(const char *v, size_t vl, dpt__buf *out)
{
    dpt__pct_encode(v, vl, out);
    return true;
}

static dpt_err jaeger_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st;
    dpt_span_context sc = dpt_context_span_context(ctx);
    char buf[64];
    size_t n = dpt_jaeger_format(&sc, buf);
    dpt_err e = n ? s->set(c, "uber-trace-id", buf, n) : DPT_OK;
    if (e == DPT_OK) e = dpt__inject_prefixed(ctx, PREFIX, s, c, pct_value);
    return e;
}

/* uberctx-* names depend on the baggage, so only the trace field is listed (as
 * OpenTelemetry's Jaeger propagators do). */
static size_t jaeger_fields(void *st, const char **names, size_t max)
{
    (void)st;
    if (max) names[0] = "uber-trace-id";
    return 1;
}

const dpt_propagator_ops dpt__jaeger_ops = {jaeger_extract, jaeger_inject, jaeger_fields, NULL};
