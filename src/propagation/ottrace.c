/* ottrace.c - the OpenTracing "ot" propagation format (OTEL_PROPAGATORS=ottrace):
 * ot-tracer-traceid, ot-tracer-spanid, ot-tracer-sampled, and baggage in ot-baggage-<key>.
 *
 * There is no written specification; the facts come from the implementations. The
 * OpenTracing basictracer writes ids with strconv.FormatInt(id, 16) (no leading zeros) and
 * sampled with FormatBool ("true"/"false"); OpenTelemetry Go writes "1"/"0"; OpenTelemetry
 * JS and Go write 16-digit ids (the low 64 bits of the trace id) and read 16 or 32 digits.
 * So extraction accepts 1-32 / 1-16 hex digits of either case (left-padded) and
 * true/false/1/0 (case-insensitive); injection writes 16 lowercase digits (the low half of
 * a 128-bit trace id: the format has room for no more) and "true"/"false", as
 * OpenTelemetry JS does. Baggage values are raw header values (no percent coding) and
 * are read only along a valid span context, as in OpenTelemetry JS.
 */
#include "prop_internal.h"

#define TRACE_ID "ot-tracer-traceid"
#define SPAN_ID "ot-tracer-spanid"
#define SAMPLED "ot-tracer-sampled"
#define PREFIX "ot-baggage-"

/* 1 sampled, 0 not, -1 invalid. Absent or empty means "not sampled" (no decision to
 * honour; OpenTelemetry Go cannot tell the two apart either). */
static int sampled_value(const char *v, size_t n)
{
    if (!v) return 0;
    dpt__trim_ows(&v, &n);
    if (n == 0) return 0;
    if (dpt__name_eq(v, n, "true") || dpt__name_eq(v, n, "1")) return 1;
    if (dpt__name_eq(v, n, "false") || dpt__name_eq(v, n, "0")) return 0;
    return -1;
}

/* A header value OpenTelemetry JS would send: HTAB, SP-~ and obs-text. */
static bool value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
    }
    return true;
}

/* ot-baggage-<key>: a raw header value, trimmed. */
static bool add_raw(dpt_extraction *x, const char *key, size_t kl, const char *v, size_t vl)
{
    if (!value_ok(v, vl)) return false;
    dpt__trim_ows(&v, &vl);
    dpt_extraction_add_baggage(x, key, kl, v, vl, NULL, 0);
    return true;
}

/* Raw values in a header: the value must be a header value. */
static bool raw_value(const char *v, size_t vl, dpt__buf *out)
{
    if (!value_ok(v, vl)) return false;
    dpt__buf_put(out, v, vl);
    return true;
}

static void ot_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st;
    const dpt__in in = {g, carrier};
    size_t tl = 0, sl = 0, ml = 0;
    /* As B3 says of its state headers: "the first value wins". */
    const char *t = g->get(carrier, TRACE_ID, 0, &tl);
    const char *s = g->get(carrier, SPAN_ID, 0, &sl);
    const char *m = g->get(carrier, SAMPLED, 0, &ml);
    if (!t && !s) return;
    x->saw_trace_field = true;
    dpt_span_context sc;
    memset(&sc, 0, sizeof sc);
    int sampled = sampled_value(m, ml);
    if (t) dpt__trim_ows(&t, &tl);
    if (s) dpt__trim_ows(&s, &sl);
    if (!t || !s || sampled < 0 || !dpt__hex_decode_padded(t, tl, sc.trace_id.b, 16) ||
        !dpt__hex_decode_padded(s, sl, sc.span_id.b, 8) || dpt__all_zero(sc.trace_id.b, 16) ||
        dpt__all_zero(sc.span_id.b, 8)) {
        dpt__prop_count(DPT_PSTAT_OTTRACE_INVALID, 1);
        return;
    }
    sc.flags = sampled ? DPT_FLAG_SAMPLED : 0;
    dpt__extract_set_sc(x, &sc, NULL);
    dpt__extract_prefixed(&in, PREFIX, DPT_PSTAT_OTTRACE_INVALID, x, add_raw);
}

static dpt_err ot_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st;
    dpt_span_context sc = dpt_context_span_context(ctx);
    if (!dpt_span_context_is_valid(&sc)) return DPT_OK;
    char t[17], sp[17]; /* setters get NUL-terminated values */
    /* A 64-bit trace id field: the low half, which is what OpenTelemetry JS and Go send. */
    dpt__lhex_encode(sc.trace_id.b + 8, 8, t);
    dpt__lhex_encode(sc.span_id.b, 8, sp);
    t[16] = sp[16] = 0;
    if (dpt__all_zero(sc.trace_id.b + 8, 8)) return DPT_OK; /* nothing valid to send */
    dpt_err e = s->set(c, TRACE_ID, t, 16);
    if (e == DPT_OK) e = s->set(c, SPAN_ID, sp, 16);
    if (e == DPT_OK) {
        bool on = (sc.flags & DPT_FLAG_SAMPLED) != 0;
        e = s->set(c, SAMPLED, on ? "true" : "false", on ? 4 : 5);
    }
    if (e == DPT_OK) e = dpt__inject_prefixed(ctx, PREFIX, s, c, raw_value);
    return e;
}

static size_t ot_fields(void *st, const char **names, size_t max)
{
    (void)st;
    static const char *const f[] = {TRACE_ID, SPAN_ID, SAMPLED};
    for (size_t i = 0; i < 3 && i < max; i++)
        names[i] = f[i];
    return 3;
}

const dpt_propagator_ops dpt__ottrace_ops = {ot_extract, ot_inject, ot_fields, NULL};
