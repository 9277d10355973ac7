/* baggage.c - W3C Baggage: the header parser and serializer, and the baggage propagator.
 *
 * Parsing keeps every valid member and drops (and counts) each invalid one on its own, as
 * the W3C Baggage spec allows. Members are first collected into a small table so that a
 * repeated key keeps its first position with its last value (what the other
 * OpenTelemetry implementations do), then the immutable dpt_baggage is built from it.
 * Decoded values keep their length: "%00" is a NUL byte inside the value, not its end.
 */
#include "prop_internal.h"

#include <stdlib.h>

/* W3C baggage-octet: printable US-ASCII except SP, DQUOTE, ',', ';' and '\'. */
static bool bagoctet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

#define is_token dpt__is_token

/* property = key OWS "=" OWS value / key, separated by OWS ";" OWS. Empty properties
 * are outside the grammar. */
static bool props_ok(const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != ';')
            j++;
        const char *p = s + i;
        size_t pl = j - i;
        dpt__trim_ows(&p, &pl);
        const char *eq = memchr(p, '=', pl);
        size_t kl = eq ? (size_t)(eq - p) : pl;
        const char *k = p;
        size_t kl2 = kl;
        dpt__trim_ows(&k, &kl2);
        if (k != p || !is_token(k, kl2)) return false;
        if (eq) {
            const char *v = eq + 1;
            size_t vl = pl - kl - 1;
            dpt__trim_ows(&v, &vl);
            for (size_t q = 0; q < vl; q++)
                if (!bagoctet((unsigned char)v[q])) return false;
        }
        if (j >= n) return true;
        i = j + 1;
    }
}

typedef struct item {
    size_t key, value, meta; /* offsets in the scratch buffer */
    size_t klen, vlen, mlen;
} item;

/* Parses one member into the scratch buffer; false when it is invalid. */
static bool parse_member(const char *m, size_t n, dpt__buf *sb, dpt__buf *dec, item *it)
{
    const char *semi = memchr(m, ';', n);
    size_t kvl = semi ? (size_t)(semi - m) : n;
    const char *eq = memchr(m, '=', kvl);
    if (!eq) return false;
    const char *k = m;
    size_t kl = (size_t)(eq - m);
    dpt__trim_ows(&k, &kl);
    if (!is_token(k, kl)) return false;
    const char *v = eq + 1;
    size_t vl = (size_t)(m + kvl - v);
    dpt__trim_ows(&v, &vl);
    for (size_t i = 0; i < vl; i++)
        if (!bagoctet((unsigned char)v[i])) return false;
    const char *meta = NULL;
    size_t ml = 0;
    if (semi) {
        meta = semi + 1;
        ml = (size_t)(m + n - meta);
        dpt__trim_ows(&meta, &ml);
        if (!props_ok(meta, ml)) return false;
    }
    size_t mark = sb->len;
    it->key = sb->len;
    it->klen = kl;
    dpt__buf_put(sb, k, kl);
    it->value = sb->len;
    if (!memchr(v, '%', vl)) {
        dpt__buf_put(sb, v, vl); /* baggage-octets are ASCII: already valid UTF-8 */
    } else {
        /* Decode, then replace what is not UTF-8 with U+FFFD (W3C Baggage: "percent-encoded
         * octet sequences that do not match the UTF-8 encoding scheme MUST be replaced");
         * a decoded NUL is valid UTF-8 and stays, with the length. */
        dec->len = 0;
        if (!dpt__pct_decode(v, vl, dec)) {
            sb->len = mark;
            return false;
        }
        if (dec->oom) sb->oom = true;
        dpt__utf8_sanitize(dec->p ? dec->p : "", dec->len, sb);
    }
    it->vlen = sb->len - it->value;
    it->meta = sb->len;
    it->mlen = ml;
    if (ml) dpt__buf_put(sb, meta, ml);
    return true;
}

dpt_err dpt_w3c_baggage_parse(const char *s, size_t len, const dpt_baggage *base, dpt_baggage **out,
                              uint32_t *dropped)
{
    if (dropped) *dropped = 0;
    if (!out) return DPT_EINVAL;
    *out = NULL;
    if (!s) return DPT_EINVAL;
    if (len == DPT_NUL) len = strlen(s);
    item items[DPT_BAGGAGE_MAX_ENTRIES];
    size_t n = 0;
    uint32_t drop = 0;
    size_t accepted = 0; /* bytes of accepted members as sent, with separators */
    dpt__buf sb, dec;    /* scratch: parsed strings; one decoded value */
    dpt__buf_init(&sb);
    dpt__buf_init(&dec);
    /* Empty members come from joined header lines: skipped, not an error. */
    size_t pos = 0, ml;
    const char *m;
    while (dpt__list_next(s, len, &pos, &m, &ml)) {
        item it;
        if (!parse_member(m, ml, &sb, &dec, &it)) {
            drop++;
            continue;
        }
        if (sb.oom) break; /* offsets may point past a truncated buffer */
        /* A repeated key replaces the value of the first occurrence in place. */
        bool dup = false;
        for (size_t q = 0; q < n; q++) {
            if (items[q].klen == it.klen &&
                memcmp(sb.p + items[q].key, sb.p + it.key, it.klen) == 0) {
                items[q].value = it.value;
                items[q].vlen = it.vlen;
                items[q].meta = it.meta;
                items[q].mlen = it.mlen;
                dup = true;
                break;
            }
        }
        if (dup) continue;
        /* Limits: whole members only; a member that does not fit is dropped and later,
         * smaller ones may still fit. */
        size_t add = ml + (n ? 1 : 0);
        if (n == DPT_BAGGAGE_MAX_ENTRIES || accepted + add > DPT_W3C_BAGGAGE_MAX_BYTES) {
            drop++;
            continue;
        }
        accepted += add;
        items[n++] = it;
    }
    dpt_err err = DPT_OK;
    if (sb.oom) {
        err = DPT_ENOMEM;
        goto done;
    }
    dpt_baggage *b = dpt_baggage_retain(base);
    for (size_t q = 0; q < n; q++) {
        dpt_baggage *nb = NULL;
        const item *t = &items[q];
        dpt_err e = dpt_baggage_set_n(b, sb.p + t->key, t->klen, sb.p + t->value, t->vlen,
                                      t->mlen ? sb.p + t->meta : NULL, t->mlen, &nb);
        if (e == DPT_ENOMEM) {
            dpt_baggage_release(b);
            err = DPT_ENOMEM;
            goto done;
        }
        if (e != DPT_OK) { /* over the in-memory bounds (with a large base) */
            drop++;
            continue;
        }
        dpt_baggage_release(b);
        b = nb;
    }
    *out = b;
done:
    dpt__buf_free(&sb);
    dpt__buf_free(&dec);
    if (drop) dpt__prop_count(DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED, drop);
    if (dropped) *dropped = drop;
    return err;
}

/* Metadata set through the API is sent verbatim, so it must not break the header. */
static bool meta_sendable(const char *m, size_t n)
{
    return n == 0 || props_ok(m, n);
}

dpt_err dpt_w3c_baggage_format(const dpt_baggage *b, char **out, size_t *len, uint32_t *dropped)
{
    if (dropped) *dropped = 0;
    if (len) *len = 0;
    if (!out) return DPT_EINVAL;
    *out = NULL;
    size_t n = dpt_baggage_count(b);
    if (n == 0) return DPT_OK;
    dpt__buf o, piece;
    dpt__buf_init(&o);
    dpt__buf_init(&piece);
    uint32_t drop = 0;
    for (size_t i = 0; i < n; i++) {
        dpt_baggage_item it;
        if (dpt_baggage_entry_n(b, i, &it) != DPT_OK) break;
        if (!is_token(it.key, it.key_len) ||
            (it.metadata && !meta_sendable(it.metadata, it.metadata_len))) {
            drop++;
            continue;
        }
        piece.len = 0;
        dpt__buf_put(&piece, it.key, it.key_len);
        dpt__buf_putc(&piece, '=');
        dpt__pct_encode(it.value, it.value_len, &piece);
        if (it.metadata_len) {
            dpt__buf_putc(&piece, ';');
            dpt__buf_put(&piece, it.metadata, it.metadata_len);
        }
        size_t add = piece.len + (o.len ? 1 : 0);
        if (o.len + add > DPT_W3C_BAGGAGE_MAX_BYTES) { /* never a partial entry */
            drop++;
            continue;
        }
        if (o.len) dpt__buf_putc(&o, ',');
        dpt__buf_put(&o, piece.p, piece.len);
    }
    dpt_err err = DPT_OK;
    if (o.oom || piece.oom) {
        err = DPT_ENOMEM;
    } else if (o.len) {
        size_t l = 0;
        *out = dpt__buf_take(&o, &l);
        if (!*out)
            err = DPT_ENOMEM;
        else if (len)
            *len = l;
    }
    dpt__buf_free(&o);
    dpt__buf_free(&piece);
    if (drop) dpt__prop_count(DPT_PSTAT_BAGGAGE_ENTRIES_NOT_SENT, drop);
    if (dropped) *dropped = drop;
    return err;
}

static void bg_extract(void *st, const dpt_getter *g, void *carrier, dpt_extraction *x)
{
    (void)st;
    const dpt__in in_ = {g, carrier}, *in = &in_;
    dpt__buf b;
    dpt__buf_init(&b);
    bool cut = false;
    if (dpt__in_joined(in, "baggage", &b, DPT__JOIN_MAX, &cut) || cut) {
        /* Lines past the byte bound are dropped whole, like members past the limits. */
        if (cut) dpt__prop_count(DPT_PSTAT_BAGGAGE_MEMBERS_DROPPED, 1);
        if (b.oom) {
            x->oom = true;
        } else if (b.len) {
            dpt_baggage *nb = NULL;
            dpt_err e = dpt_w3c_baggage_parse(b.p, b.len, x->bg, &nb, NULL);
            if (e == DPT_OK) {
                dpt_baggage_release(x->bg);
                x->bg = nb;
            } else if (e == DPT_ENOMEM) {
                x->oom = true;
            }
        }
    }
    dpt__buf_free(&b);
}

static dpt_err bg_inject(void *st, const dpt_context *ctx, const dpt_setter *s, void *c)
{
    (void)st;
    char *v = NULL;
    size_t len = 0;
    dpt_err e = dpt_w3c_baggage_format(dpt_context_baggage(ctx), &v, &len, NULL);
    if (e == DPT_OK && v) e = s->set(c, "baggage", v, len);
    free(v);
    return e;
}

static size_t bg_fields(void *st, const char **names, size_t max)
{
    (void)st;
    if (max) names[0] = "baggage";
    return 1;
}

const dpt_propagator_ops dpt__baggage_ops = {bg_extract, bg_inject, bg_fields, NULL};
