/* jaeger.c - Jaeger propagation: `uber-trace-id: trace:span:parent:flags` and baggage in
 * `uberctx-<key>` fields.
 *
 * Jaeger clients write ids as variable-length hex (leading zeros dropped) and some
 * percent-encode the ':' separators, so both are accepted; ids are always written back as
 * 32 / 16 lowercase digits, as OpenTelemetry does.
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
    if (dpt__pct_decode(s, len, &b) && !b.oom) e = parse_plain(b.p ? b.p : "", b.len, out, debug);
    else if (b.oom) e = DPT_ENOMEM;
    dpt__buf_free(&b);
    return e;
}

size_t dpt_jaeger_format(const dpt_span_context *sc, char out[64])
{
    if (!out) return 0;
    out[0] = 0;
    if (!sc || !dpt_span_context_is_valid(sc)) return 0;
    dpt__hex_encode(sc->trace_id.b, 16, out);
    out[32] = ':';
    dpt__hex_encode(sc->span_id.b, 8, out + 33);
    memcpy(out + 49, ":0:0", 4);
    out[53] = (sc->flags & DPT_FLAG_SAMPLED) ? '1' : '0';
    out[54] = 0;
    return 54;
}

#define PREFIX "uberctx-"
#define PREFIX_LEN 8
#define MAX_KEYS 1024 /* bounds the walk over a hostile carrier */

static void baggage_extract(const dpt__in *in, dpt__extract *x)
{
    if (!in->g->key) return;
    size_t nl = 0;
    const char *name;
    for (size_t i = 0; i < MAX_KEYS && (name = in->g->key(in->c, i, &nl)) != NULL; i++) {
        if (nl <= PREFIX_LEN) continue;
        char lname[PREFIX_LEN + 1];
        for (size_t q = 0; q < PREFIX_LEN; q++) {
            char ch = name[q];
            lname[q] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
        }
        lname[PREFIX_LEN] = 0;
        if (strcmp(lname, PREFIX) != 0) continue;
        /* The getter takes a NUL-terminated lowercase name; header names are
         * case-insensitive, so the baggage key is the lowercase suffix. */
        char *full = dpt__strndup(name, nl);
        if (!full) {
            x->oom = true;
            return;
        }
        for (char *p = full; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
        size_t vl = 0;
        const char *v = in->g->get(in->c, full, 0, &vl);
        dpt__buf dec;
        dpt__buf_init(&dec);
        if (v && dpt__pct_decode(v, vl, &dec)) {
            dpt__buf val;
            dpt__buf_init(&val);
            dpt__utf8_sanitize(dec.p ? dec.p : "", dec.len, &val);
            dpt__buf_putc(&val, 0);
            if (val.oom || dec.oom) x->oom = true;
            else dpt__extract_add_baggage(x, full + PREFIX_LEN, val.p, NULL);
            dpt__buf_free(&val);
        } else {
            dpt__prop_count(DPT__PS_JAEGER_INVALID, 1);
        }
        dpt__buf_free(&dec);
        free(full);
    }
}

void dpt__jaeger_extract(const dpt__in *in, dpt__extract *x)
{
    size_t len = 0, count = 0;
    const char *v = dpt__in_single(in, "uber-trace-id", &len, &count);
    if (count) {
        x->saw_trace_field = true;
        dpt_span_context sc;
        dpt_err e = v ? dpt_jaeger_parse(v, len, &sc, NULL) : DPT_EPARSE;
        if (e == DPT_OK) dpt__extract_set_sc(x, &sc, NULL);
        else if (e == DPT_ENOMEM) x->oom = true;
        else dpt__prop_count(DPT__PS_JAEGER_INVALID, 1);
    }
    baggage_extract(in, x);
}

dpt_err dpt__jaeger_inject(const dpt_context *ctx, const dpt_setter *s, void *c)
{
    dpt_span_context sc = dpt_context_span_context(ctx);
    char buf[64];
    size_t n = dpt_jaeger_format(&sc, buf);
    dpt_err e = n ? s->set(c, "uber-trace-id", buf, n) : DPT_OK;
    const dpt_baggage *bg = dpt_context_baggage(ctx);
    size_t cnt = dpt_baggage_count(bg);
    dpt__buf name, val;
    dpt__buf_init(&name);
    dpt__buf_init(&val);
    for (size_t i = 0; e == DPT_OK && i < cnt; i++) {
        const char *k, *v;
        if (dpt_baggage_entry(bg, i, &k, &v, NULL) != DPT_OK) break;
        bool tok = *k != 0;
        for (const char *p = k; *p && tok; p++) tok = dpt__tchar((unsigned char)*p);
        if (!tok) { /* a key that cannot be part of a field name */
            dpt__prop_count(DPT__PS_BAGGAGE_NOT_SENT, 1);
            continue;
        }
        name.len = val.len = 0;
        dpt__buf_puts(&name, PREFIX);
        dpt__buf_puts(&name, k);
        dpt__buf_putc(&name, 0);
        dpt__pct_encode(v, strlen(v), &val);
        dpt__buf_putc(&val, 0);
        if (name.oom || val.oom) e = DPT_ENOMEM;
        else e = s->set(c, name.p, val.p, val.len - 1);
    }
    dpt__buf_free(&name);
    dpt__buf_free(&val);
    return e;
}
