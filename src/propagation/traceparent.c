/* traceparent.c - W3C Trace Context: the traceparent parser and formatter, and the
 * tracecontext propagator (traceparent + tracestate).
 *
 * The parser checks fixed positions instead of splitting on '-', so a valid header costs
 * one pass over 55 bytes and no allocation. Tracestate grammar, limits and truncation are
 * the core's (src/core/tracestate.c); this file only decides when to read it at all.
 */
#include "prop_internal.h"

/* Keeps the flags W3C defines (Level 1 sampled, Level 2 random); the others "MUST be set
 * to zero" when sending, so they are not carried either. */
#define KNOWN_FLAGS (DPT_FLAG_SAMPLED | DPT_FLAG_RANDOM)

dpt_err dpt_traceparent_parse(const char *s, size_t len, dpt_span_context *out)
{
    if (!out) return DPT_EINVAL;
    memset(out, 0, sizeof *out);
    if (!s) return DPT_EINVAL;
    if (len == DPT_NUL) len = strlen(s);
    dpt__trim_ows(&s, &len);
    if (len < DPT_TRACEPARENT_LEN) return DPT_EPARSE;
    uint8_t ver;
    if (!dpt__lhex_decode(s, &ver, 1) || ver == 0xff) return DPT_EPARSE;
    /* Version 00 has exactly four fields; a higher version may append more, after a '-'. */
    if (ver == 0 ? len != DPT_TRACEPARENT_LEN
                 : len > DPT_TRACEPARENT_LEN && s[DPT_TRACEPARENT_LEN] != '-')
        return DPT_EPARSE;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-') return DPT_EPARSE;
    dpt_span_context sc;
    uint8_t flags;
    /* cppcheck-suppress uninitvar ; an output argument: dpt__lhex_decode writes every byte */
    if (!dpt__lhex_decode(s + 3, sc.trace_id.b, 16) || !dpt__lhex_decode(s + 36, sc.span_id.b, 8) ||
        !dpt__lhex_decode(s + 53, &flags, 1))
        return DPT_EPARSE;
    if (dpt__all_zero(sc.trace_id.b, 16) || dpt__all_zero(sc.span_id.b, 8)) return DPT_EPARSE;
    sc.flags = flags & KNOWN_FLAGS;
    sc.remote = true;
    *out = sc;
    return DPT_OK;
}

size_t dpt_traceparent_format(const dpt_span_context *sc, char out[DPT_TRACEPARENT_LEN + 1])
{
    if (!out) return 0;
    out[0] = 0;
    if (!sc || !dpt_span_context_is_valid(sc)) return 0;
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    dpt__lhex_encode(sc->trace_id.b, 16, out + 3);
    out[35] = '-';
    dpt__lhex_encode(sc->span_id.b, 8, out + 36);
    out[52] = '-';
    uint8_t f = sc->flags & KNOWN_FLAGS;
    dpt__lhex_encode(&f, 1, out + 53);
    out[55] = 0;
    return DPT_TRACEPARENT_LEN;
}

static void tc_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st;
    const dpt__in in_ = {g, carrier}, *in = &in_;
    size_t len = 0, count = 0;
    const char *tp = dpt__in_single(in, "traceparent", &len, &count);
    dpt_span_context sc;
    /* A tracestate without a valid traceparent means nothing (W3C: discard it). Two
     * traceparent values cannot be told apart: W3C treats the request as having none
     * valid, so a new trace starts. */
    if (count) x->saw_trace_field = true;
    if (!tp || dpt_traceparent_parse(tp, len, &sc) != DPT_OK) {
        if (count) dpt__prop_count(DPT_PSTAT_TRACEPARENT_INVALID, 1);
        if (dpt__in_count(in, "tracestate", 1)) dpt__prop_count(DPT_PSTAT_TRACESTATE_DROPPED, 1);
        return;
    }
    dpt_tracestate *ts = NULL;
    size_t tl = 0;
    const char *t0 = in->g->get(in->c, "tracestate", 0, &tl);
    if (t0) {
        /* One line (the common case) is parsed in place; repeated lines are joined. */
        dpt__buf b;
        dpt__buf_init(&b);
        bool cut = false;
        if (in->g->get(in->c, "tracestate", 1, &len)) {
            dpt__in_joined(in, "tracestate", &b, DPT__JOIN_MAX, &cut);
            t0 = b.p;
            tl = b.len;
        }
        if (cut) {
            dpt__prop_count(DPT_PSTAT_TRACESTATE_DROPPED, 1); /* far over any valid length */
        } else if (b.oom) {
            x->oom = true;
        } else {
            dpt_err e = dpt_tracestate_parse(t0 ? t0 : "", tl, &ts);
            if (e == DPT_ENOMEM)
                x->oom = true;
            else if (e != DPT_OK)
                dpt__prop_count(DPT_PSTAT_TRACESTATE_DROPPED, 1);
        }
        dpt__buf_free(&b);
    }
    dpt__extract_set_sc(x, &sc, ts);
}

static dpt_err tc_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st;
    dpt_span_context sc = dpt_context_span_context(ctx);
    char tp[DPT_TRACEPARENT_LEN + 1];
    if (!dpt_traceparent_format(&sc, tp)) return DPT_OK;
    dpt_err e = s->set(c, "traceparent", tp, DPT_TRACEPARENT_LEN);
    if (e != DPT_OK) return e;
    size_t tl = 0;
    const char *ts = dpt_tracestate_str(dpt_context_tracestate(ctx), &tl);
    if (tl) e = s->set(c, "tracestate", ts, tl);
    return e;
}

static size_t tc_fields(void *st, const char **names, size_t max)
{
    (void)st;
    static const char *const f[] = {"traceparent", "tracestate"};
    for (size_t i = 0; i < 2 && i < max; i++)
        names[i] = f[i];
    return 2;
}

const dpt_propagator_ops dpt__tracecontext_ops = {tc_extract, tc_inject, tc_fields, NULL};
