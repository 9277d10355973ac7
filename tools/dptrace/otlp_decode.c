/* otlp_decode.c - OTLP/HTTP request bodies to OTLP JSON lines. The protobuf side walks
 * the wire format with the project's one reader (src/common/pb_read.h) and writes JSON as
 * it goes: no intermediate structs. Fields may come in any order and repeat, so each
 * message is scanned once for its scalar fields and once per repeated field; every scan
 * is bounded by the message's bytes, so the work stays linear. The JSON side parses with
 * jansson under the CLI's tree budget and writes each span back compactly.
 *
 * Each line holds one resource and one scope with some of their spans; a new line
 * repeats the resource and scope, so that no line passes OTLP_DEC_LINE_MAX.
 */
#include "otlp_decode.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "otlp_read.h"
#include "pb_read.h"

/* ---- the line writer ------------------------------------------------------------------ */

typedef struct lw {
    otlp_decoded *d;
    sbuf res, scope; /* the resource's and scope's opening text, repeated on each line */
    size_t line_start;
    bool open;
    uint32_t in_line; /* spans on the open line */
} lw;

static void why(otlp_decoded *d, const char *msg)
{
    if (!d->why[0]) snprintf(d->why, sizeof d->why, "%s", msg);
}

static void line_open(lw *w)
{
    sbuf *b = &w->d->lines;
    w->line_start = b->len;
    sb_puts(b, "{\"resourceSpans\":[");
    sb_putn(b, w->res.p ? w->res.p : "", w->res.len);
    sb_putn(b, w->scope.p ? w->scope.p : "", w->scope.len);
    w->open = true;
    w->in_line = 0;
}

static void truncate_to(sbuf *b, size_t len)
{
    b->len = len;
    if (b->p) b->p[len] = '\0';
}

static void line_close(lw *w)
{
    if (!w->open) return;
    if (w->in_line == 0)
        truncate_to(&w->d->lines, w->line_start);
    else
        sb_puts(&w->d->lines, "]}]}]}\n");
    w->open = false;
}

/* Writes one span with put(ctx), on the open line or, when it would make that line too
 * long, on a new one; a span too long for any line is taken back and rejected. */
typedef bool (*put_fn)(sbuf *b, const void *ctx);

static bool add_span(lw *w, put_fn put, const void *ctx)
{
    sbuf *b = &w->d->lines;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!w->open) line_open(w);
        size_t pos = b->len;
        if (w->in_line) sb_putc(b, ',');
        if (!put(b, ctx)) {
            truncate_to(b, pos);
            return false; /* malformed */
        }
        if (b->len - w->line_start + 8 <= OTLP_DEC_LINE_MAX) {
            w->in_line++;
            w->d->spans++;
            return true;
        }
        truncate_to(b, pos);
        if (w->in_line == 0) break;
        line_close(w); /* the span goes on a line of its own */
    }
    w->d->rejected++;
    char msg[96];
    snprintf(msg, sizeof msg, "a span with its resource and scope is longer than %zu MiB as JSON",
             OTLP_DEC_LINE_MAX >> 20);
    why(w->d, msg);
    return true;
}

/* ---- protobuf to JSON ----------------------------------------------------------------- */

typedef struct pctx {
    otlp_decoded *d;
    bool bad;
} pctx;

static bool malformed(otlp_decoded *d, const char *where)
{
    if (!d->why[0]) snprintf(d->why, sizeof d->why, "malformed protobuf: %s", where);
    return false;
}

static void put_hex(sbuf *b, const uint8_t *p, size_t n)
{
    char hex[2 * 16 + 1];
    id_hex(p, n, hex);
    sb_putc(b, '"');
    sb_putn(b, hex, 2 * n);
    sb_putc(b, '"');
}

static void put_b64(sbuf *b, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sb_putc(b, '"');
    char out[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[0] = tab[v >> 18 & 63];
        out[1] = tab[v >> 12 & 63];
        out[2] = '=';
        out[3] = '=';
        if (i + 1 < n) out[2] = tab[v >> 6 & 63];
        if (i + 2 < n) out[3] = tab[v & 63];
        sb_putn(b, out, 4);
    }
    sb_putc(b, '"');
}

static void put_str(sbuf *b, const pbr_field *f)
{
    json_str(b, (const char *)f->data, f->len); /* invalid UTF-8 becomes U+FFFD */
}

static void put_u64_str(sbuf *b, uint64_t v)
{
    sb_printf(b, "\"%llu\"", (unsigned long long)v);
}

/* The wire type a known field must have; anything else is malformed, as protobuf's own
 * parsers have it. */
static bool wire_ok(const pbr_field *f, uint32_t wire)
{
    return f->wire == wire;
}

static bool put_anyvalue(pctx *c, sbuf *b, pbr_msg m, int depth);

static bool put_keyvalue(pctx *c, sbuf *b, pbr_msg m, int depth)
{
    pbr_field f, key = {0}, val = {0};
    bool has_val = false;
    int r;
    while ((r = pbr_next(&m, &f)) > 0) {
        if (f.num == 1) {
            if (!wire_ok(&f, PBR_LEN)) return malformed(c->d, "KeyValue.key");
            key = f;
        } else if (f.num == 2) {
            if (!wire_ok(&f, PBR_LEN)) return malformed(c->d, "KeyValue.value");
            val = f;
            has_val = true;
        }
    }
    if (r < 0) return malformed(c->d, "KeyValue");
    sb_puts(b, "{\"key\":");
    if (key.data)
        put_str(b, &key);
    else
        sb_puts(b, "\"\"");
    sb_puts(b, ",\"value\":");
    if (has_val) {
        if (!put_anyvalue(c, b, pbr_sub(&val), depth + 1)) return false;
    } else {
        sb_puts(b, "{}");
    }
    sb_putc(b, '}');
    return true;
}

/* "[kv,kv,...]" from the fields numbered num of m. */
static bool put_kvs(pctx *c, sbuf *b, pbr_msg m, uint32_t num, int depth)
{
    pbr_field f;
    int r;
    bool first = true;
    sb_putc(b, '[');
    while ((r = pbr_next(&m, &f)) > 0) {
        if (f.num != num) continue;
        if (!wire_ok(&f, PBR_LEN)) return malformed(c->d, "attributes");
        if (!first) sb_putc(b, ',');
        first = false;
        if (!put_keyvalue(c, b, pbr_sub(&f), depth)) return false;
    }
    sb_putc(b, ']');
    return r == 0 || malformed(c->d, "attributes");
}

static bool put_anyvalue(pctx *c, sbuf *b, pbr_msg m, int depth)
{
    if (depth > OTLP_DEC_MAX_DEPTH) return malformed(c->d, "values nested too deep");
    pbr_field f, v = {0};
    int r;
    while ((r = pbr_next(&m, &f)) > 0) {
        static const uint8_t wire_of[9] = {0,       PBR_LEN, PBR_VARINT, PBR_VARINT, PBR_I64,
                                           PBR_LEN, PBR_LEN, PBR_LEN,    PBR_VARINT};
        if (f.num >= 1 && f.num <= 8) {
            if (!wire_ok(&f, wire_of[f.num])) return malformed(c->d, "AnyValue");
            v = f; /* oneof: the last one wins */
        }
    }
    if (r < 0) return malformed(c->d, "AnyValue");
    switch (v.num) {
    case 1:
        sb_puts(b, "{\"stringValue\":");
        put_str(b, &v);
        sb_putc(b, '}');
        break;
    case 2:
        sb_puts(b, v.u ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
        break;
    case 3:
        sb_printf(b, "{\"intValue\":\"%lld\"}", (long long)(int64_t)v.u);
        break;
    case 4: {
        double d;
        memcpy(&d, &v.u, sizeof d);
        if (isnan(d))
            sb_puts(b, "{\"doubleValue\":\"NaN\"}");
        else if (isinf(d))
            sb_puts(b,
                    d > 0 ? "{\"doubleValue\":\"Infinity\"}" : "{\"doubleValue\":\"-Infinity\"}");
        else
            sb_printf(b, "{\"doubleValue\":%.17g}", d);
        break;
    }
    case 5: {
        pbr_msg a = pbr_sub(&v);
        pbr_field e;
        bool first = true;
        sb_puts(b, "{\"arrayValue\":{\"values\":[");
        while ((r = pbr_next(&a, &e)) > 0) {
            if (e.num != 1) continue;
            if (!wire_ok(&e, PBR_LEN)) return malformed(c->d, "ArrayValue");
            if (!first) sb_putc(b, ',');
            first = false;
            if (!put_anyvalue(c, b, pbr_sub(&e), depth + 1)) return false;
        }
        if (r < 0) return malformed(c->d, "ArrayValue");
        sb_puts(b, "]}}");
        break;
    }
    case 6:
        sb_puts(b, "{\"kvlistValue\":{\"values\":");
        if (!put_kvs(c, b, pbr_sub(&v), 1, depth + 1)) return false;
        sb_puts(b, "}}");
        break;
    case 7:
        sb_puts(b, "{\"bytesValue\":");
        put_b64(b, v.data, v.len);
        sb_putc(b, '}');
        break;
    default: /* none, or a string-table index (profiles only): no value */
        sb_puts(b, "{}");
        break;
    }
    return true;
}

/* Event (trace.proto Span.Event): 1 time fixed64, 2 name, 3 attributes, 4 dropped. */
static bool put_event(pctx *c, sbuf *b, pbr_msg m)
{
    pbr_field f, name = {0};
    uint64_t t = 0, dropped = 0;
    int r;
    pbr_msg scan = m;
    while ((r = pbr_next(&scan, &f)) > 0) {
        if ((f.num == 1 && !wire_ok(&f, PBR_I64)) || (f.num == 2 && !wire_ok(&f, PBR_LEN)) ||
            (f.num == 4 && !wire_ok(&f, PBR_VARINT)))
            return malformed(c->d, "Span.Event");
        if (f.num == 1)
            t = f.u;
        else if (f.num == 2)
            name = f;
        else if (f.num == 4)
            dropped = f.u;
    }
    if (r < 0) return malformed(c->d, "Span.Event");
    sb_puts(b, "{\"timeUnixNano\":");
    put_u64_str(b, t);
    sb_puts(b, ",\"name\":");
    if (name.data)
        put_str(b, &name);
    else
        sb_puts(b, "\"\"");
    sb_puts(b, ",\"attributes\":");
    if (!put_kvs(c, b, m, 3, 0)) return false;
    sb_printf(b, ",\"droppedAttributesCount\":%u}", (unsigned)dropped);
    return true;
}

/* Link: 1 trace_id, 2 span_id, 3 trace_state, 4 attributes, 5 dropped, 6 flags fixed32. */
static bool put_link(pctx *c, sbuf *b, pbr_msg m)
{
    pbr_field f, tid = {0}, sid = {0}, ts = {0};
    uint64_t dropped = 0, flags = 0;
    bool has_flags = false;
    int r;
    pbr_msg scan = m;
    while ((r = pbr_next(&scan, &f)) > 0) {
        if ((f.num >= 1 && f.num <= 4 && !wire_ok(&f, PBR_LEN)) ||
            (f.num == 5 && !wire_ok(&f, PBR_VARINT)) || (f.num == 6 && !wire_ok(&f, PBR_I32)))
            return malformed(c->d, "Span.Link");
        if (f.num == 1)
            tid = f;
        else if (f.num == 2)
            sid = f;
        else if (f.num == 3)
            ts = f;
        else if (f.num == 5)
            dropped = f.u;
        else if (f.num == 6)
            flags = f.u, has_flags = true;
    }
    if (r < 0) return malformed(c->d, "Span.Link");
    sb_puts(b, "{\"traceId\":");
    if (tid.len == 16)
        put_hex(b, tid.data, 16);
    else
        put_b64(b, tid.data, tid.len); /* odd length: kept, shown as unreadable */
    sb_puts(b, ",\"spanId\":");
    if (sid.len == 8)
        put_hex(b, sid.data, 8);
    else
        put_b64(b, sid.data, sid.len);
    if (ts.len) {
        sb_puts(b, ",\"traceState\":");
        put_str(b, &ts);
    }
    sb_puts(b, ",\"attributes\":");
    if (!put_kvs(c, b, m, 4, 0)) return false;
    sb_printf(b, ",\"droppedAttributesCount\":%u", (unsigned)dropped);
    if (has_flags) sb_printf(b, ",\"flags\":%u", (unsigned)flags);
    sb_putc(b, '}');
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

typedef struct span_ctx {
    pctx *c;
    pbr_msg m;
    pbr_field tid, sid, pid, ts, name, status;
    uint64_t kind, start, end, flags, d_attrs, d_events, d_links;
    bool has_flags, has_status;
} span_ctx;

/* Span (trace.proto): 1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id, 5 name,
 * 6 kind, 7 start fixed64, 8 end fixed64, 9 attributes, 10 dropped attributes, 11 events,
 * 12 dropped events, 13 links, 14 dropped links, 15 status, 16 flags fixed32. */
static bool put_span(sbuf *b, const void *ctx)
{
    const span_ctx *s = ctx;
    pctx *c = s->c;
    sb_puts(b, "{\"traceId\":");
    put_hex(b, s->tid.data, 16);
    sb_puts(b, ",\"spanId\":");
    put_hex(b, s->sid.data, 8);
    if (s->ts.len) {
        sb_puts(b, ",\"traceState\":");
        put_str(b, &s->ts);
    }
    if (s->pid.len) {
        sb_puts(b, ",\"parentSpanId\":");
        put_hex(b, s->pid.data, 8);
    }
    if (s->has_flags) sb_printf(b, ",\"flags\":%u", (unsigned)s->flags);
    sb_puts(b, ",\"name\":");
    if (s->name.data)
        put_str(b, &s->name);
    else
        sb_puts(b, "\"\"");
    sb_printf(b, ",\"kind\":%u,\"startTimeUnixNano\":", (unsigned)(s->kind > 5 ? 0 : s->kind));
    put_u64_str(b, s->start);
    sb_puts(b, ",\"endTimeUnixNano\":");
    put_u64_str(b, s->end);
    sb_puts(b, ",\"attributes\":");
    if (!put_kvs(c, b, s->m, 9, 0)) return false;
    sb_printf(b, ",\"droppedAttributesCount\":%u,\"events\":[", (unsigned)s->d_attrs);
    pbr_msg scan = s->m;
    pbr_field f;
    bool first = true;
    while (pbr_next(&scan, &f) > 0) {
        if (f.num != 11) continue;
        if (!first) sb_putc(b, ',');
        first = false;
        if (!put_event(c, b, pbr_sub(&f))) return false;
    }
    sb_printf(b, "],\"droppedEventsCount\":%u,\"links\":[", (unsigned)s->d_events);
    scan = s->m;
    first = true;
    while (pbr_next(&scan, &f) > 0) {
        if (f.num != 13) continue;
        if (!first) sb_putc(b, ',');
        first = false;
        if (!put_link(c, b, pbr_sub(&f))) return false;
    }
    sb_printf(b, "],\"droppedLinksCount\":%u", (unsigned)s->d_links);
    if (s->has_status) {
        /* Status: 2 message, 3 code (1 is reserved) */
        pbr_msg st = pbr_sub(&s->status);
        pbr_field msg = {0};
        uint64_t code = 0;
        int r;
        while ((r = pbr_next(&st, &f)) > 0) {
            if ((f.num == 2 && !wire_ok(&f, PBR_LEN)) || (f.num == 3 && !wire_ok(&f, PBR_VARINT)))
                return malformed(c->d, "Status");
            if (f.num == 2)
                msg = f;
            else if (f.num == 3)
                code = f.u;
        }
        if (r < 0) return malformed(c->d, "Status");
        sb_puts(b, ",\"status\":{");
        if (msg.len) {
            sb_puts(b, "\"message\":");
            put_str(b, &msg);
            sb_putc(b, ',');
        }
        sb_printf(b, "\"code\":%u}", (unsigned)(code > 2 ? 0 : code));
    }
    sb_putc(b, '}');
    return true;
}

static bool do_span(pctx *c, lw *w, pbr_msg m)
{
    span_ctx s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.m = m;
    pbr_field f;
    int r;
    static const uint8_t wire_of[17] = {
        0,       PBR_LEN,    PBR_LEN, PBR_LEN,    PBR_LEN, PBR_LEN,    PBR_VARINT, PBR_I64, PBR_I64,
        PBR_LEN, PBR_VARINT, PBR_LEN, PBR_VARINT, PBR_LEN, PBR_VARINT, PBR_LEN,    PBR_I32};
    while ((r = pbr_next(&m, &f)) > 0) {
        if (f.num > 16)
            continue; /* a field added after this was written: ignored, as protobuf does */
        if (!wire_ok(&f, wire_of[f.num])) return malformed(c->d, "Span");
        switch (f.num) {
        case 1:
            s.tid = f;
            break;
        case 2:
            s.sid = f;
            break;
        case 3:
            s.ts = f;
            break;
        case 4:
            s.pid = f;
            break;
        case 5:
            s.name = f;
            break;
        case 6:
            s.kind = f.u;
            break;
        case 7:
            s.start = f.u;
            break;
        case 8:
            s.end = f.u;
            break;
        case 10:
            s.d_attrs = f.u;
            break;
        case 12:
            s.d_events = f.u;
            break;
        case 14:
            s.d_links = f.u;
            break;
        case 15:
            s.status = f, s.has_status = true;
            break;
        case 16:
            s.flags = f.u, s.has_flags = true;
            break;
        default:
            break;
        }
    }
    if (r < 0) return malformed(c->d, "Span");
    /* trace.proto: trace_id is 16 bytes and span_id 8, all-zero ids are invalid; the
     * parent is empty for a root span. Such a span is rejected, not the whole request. */
    if (s.tid.len != 16 || all_zero(s.tid.data, 16) || s.sid.len != 8 || all_zero(s.sid.data, 8) ||
        (s.pid.len != 0 && s.pid.len != 8)) {
        c->d->rejected++;
        why(c->d, "a span has an invalid traceId, spanId or parentSpanId");
        return true;
    }
    if (s.pid.len == 8 && all_zero(s.pid.data, 8))
        s.pid.len = 0; /* an all-zero parent means none */
    return add_span(w, put_span, &s);
}

/* InstrumentationScope: 1 name, 2 version, 3 attributes, 4 dropped. */
static bool put_scope(pctx *c, sbuf *b, pbr_msg m)
{
    pbr_field f, name = {0}, version = {0};
    uint64_t dropped = 0;
    int r;
    pbr_msg scan = m;
    while ((r = pbr_next(&scan, &f)) > 0) {
        if ((f.num >= 1 && f.num <= 3 && !wire_ok(&f, PBR_LEN)) ||
            (f.num == 4 && !wire_ok(&f, PBR_VARINT)))
            return malformed(c->d, "InstrumentationScope");
        if (f.num == 1)
            name = f;
        else if (f.num == 2)
            version = f;
        else if (f.num == 4)
            dropped = f.u;
    }
    if (r < 0) return malformed(c->d, "InstrumentationScope");
    sb_puts(b, "{\"name\":");
    if (name.data)
        put_str(b, &name);
    else
        sb_puts(b, "\"\"");
    if (version.len) {
        sb_puts(b, ",\"version\":");
        put_str(b, &version);
    }
    sb_puts(b, ",\"attributes\":");
    if (!put_kvs(c, b, m, 3, 0)) return false;
    sb_printf(b, ",\"droppedAttributesCount\":%u}", (unsigned)dropped);
    return true;
}

/* ScopeSpans: 1 scope, 2 spans, 3 schema_url. */
static bool do_scope_spans(pctx *c, lw *w, pbr_msg m)
{
    pbr_field f, scope = {0}, url = {0};
    bool has_scope = false;
    int r;
    pbr_msg scan = m;
    while ((r = pbr_next(&scan, &f)) > 0) {
        if (f.num >= 1 && f.num <= 3 && !wire_ok(&f, PBR_LEN)) return malformed(c->d, "ScopeSpans");
        if (f.num == 1)
            scope = f, has_scope = true;
        else if (f.num == 3)
            url = f;
    }
    if (r < 0) return malformed(c->d, "ScopeSpans");
    w->scope.len = 0;
    sb_puts(&w->scope, "{");
    if (has_scope) {
        sb_puts(&w->scope, "\"scope\":");
        if (!put_scope(c, &w->scope, pbr_sub(&scope))) return false;
        sb_putc(&w->scope, ',');
    }
    if (url.len) {
        sb_puts(&w->scope, "\"schemaUrl\":");
        put_str(&w->scope, &url);
        sb_putc(&w->scope, ',');
    }
    sb_puts(&w->scope, "\"spans\":[");
    scan = m;
    while (pbr_next(&scan, &f) > 0) {
        if (f.num == 2 && !do_span(c, w, pbr_sub(&f))) return false;
    }
    line_close(w);
    return true;
}

/* Resource (resource.proto): 1 attributes, 2 dropped_attributes_count, 3 entity_refs. */
static bool put_resource(pctx *c, sbuf *b, pbr_msg m)
{
    pbr_field f;
    uint64_t dropped = 0;
    int r;
    pbr_msg scan = m;
    while ((r = pbr_next(&scan, &f)) > 0) {
        if ((f.num == 1 && !wire_ok(&f, PBR_LEN)) || (f.num == 2 && !wire_ok(&f, PBR_VARINT)))
            return malformed(c->d, "Resource");
        if (f.num == 2) dropped = f.u;
    }
    if (r < 0) return malformed(c->d, "Resource");
    sb_puts(b, "{\"attributes\":");
    if (!put_kvs(c, b, m, 1, 0)) return false;
    sb_printf(b, ",\"droppedAttributesCount\":%u}", (unsigned)dropped);
    return true;
}

/* ResourceSpans: 1 resource, 2 scope_spans, 3 schema_url. */
static bool do_resource_spans(pctx *c, lw *w, pbr_msg m)
{
    pbr_field f, res = {0}, url = {0};
    bool has_res = false;
    int r;
    pbr_msg scan = m;
    while ((r = pbr_next(&scan, &f)) > 0) {
        if (f.num >= 1 && f.num <= 3 && !wire_ok(&f, PBR_LEN))
            return malformed(c->d, "ResourceSpans");
        if (f.num == 1)
            res = f, has_res = true;
        else if (f.num == 3)
            url = f;
    }
    if (r < 0) return malformed(c->d, "ResourceSpans");
    w->res.len = 0;
    sb_putc(&w->res, '{');
    if (has_res) {
        sb_puts(&w->res, "\"resource\":");
        if (!put_resource(c, &w->res, pbr_sub(&res))) return false;
        sb_putc(&w->res, ',');
    }
    if (url.len) {
        sb_puts(&w->res, "\"schemaUrl\":");
        put_str(&w->res, &url);
        sb_putc(&w->res, ',');
    }
    sb_puts(&w->res, "\"scopeSpans\":[");
    scan = m;
    while (pbr_next(&scan, &f) > 0) {
        if (f.num == 2 && !do_scope_spans(c, w, pbr_sub(&f))) return false;
    }
    return true;
}

static void finish(lw *w, otlp_decoded *out, size_t start, bool ok)
{
    line_close(w);
    if (!ok) {
        truncate_to(&out->lines, start);
        out->spans = 0;
    }
    sb_free(&w->res);
    sb_free(&w->scope);
}

int otlp_decode_proto(const uint8_t *p, size_t n, otlp_decoded *out)
{
    pctx c = {out, false};
    lw w = {.d = out};
    size_t start = out->lines.len;
    pbr_msg m = pbr_init(p, n);
    pbr_field f;
    int r;
    bool ok = true;
    /* ExportTraceServiceRequest: 1 resource_spans. */
    while (ok && (r = pbr_next(&m, &f)) > 0) {
        if (f.num != 1) continue;
        if (!wire_ok(&f, PBR_LEN))
            ok = malformed(out, "ExportTraceServiceRequest");
        else
            ok = do_resource_spans(&c, &w, pbr_sub(&f));
    }
    if (ok && r < 0) ok = malformed(out, "ExportTraceServiceRequest");
    finish(&w, out, start, ok);
    return ok ? OTLP_DEC_OK : OTLP_DEC_MALFORMED;
}

/* ---- OTLP/JSON ------------------------------------------------------------------------ */

typedef struct dump_ctx {
    sbuf *b;
} dump_ctx;

static int dump_cb(const char *s, size_t n, void *data)
{
    sb_putn(((dump_ctx *)data)->b, s, n);
    return 0;
}

static void dump(sbuf *b, json_t *v)
{
    dump_ctx d = {b};
    (void)json_dump_callback(v, dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY);
}

static bool json_id(json_t *v, size_t n, bool allow_empty)
{
    if (!v || json_is_null(v)) return allow_empty;
    if (!json_is_string(v)) return false;
    uint8_t id[16];
    size_t len = json_string_length(v);
    if (len == 0) return allow_empty;
    return id_decode(json_string_value(v), len, id, n) && (allow_empty || !id_is_zero(id, n));
}

static bool put_json_span(sbuf *b, const void *ctx)
{
    dump(b, (json_t *)ctx);
    return true;
}

static int bad_json(otlp_decoded *d, const char *msg)
{
    if (!d->why[0]) snprintf(d->why, sizeof d->why, "%s", msg);
    return OTLP_DEC_MALFORMED;
}

int otlp_decode_json(const char *p, size_t n, otlp_decoded *out)
{
    json_error_t err;
    bool over = false;
    json_t *root = otlp_json_load(p, n, &err, &over);
    if (!root) {
        if (over) {
            snprintf(out->why, sizeof out->why, "the JSON body needs more than %u MiB to parse",
                     OTLP_TREE_BUDGET >> 20);
            return OTLP_DEC_TOO_BIG;
        }
        snprintf(out->why, sizeof out->why, "not JSON: line %d column %d: %s", err.line, err.column,
                 err.text);
        return OTLP_DEC_MALFORMED;
    }
    int rc = OTLP_DEC_OK;
    lw w = {.d = out};
    size_t start = out->lines.len;
    json_t *rss = json_object_get(root, "resourceSpans");
    if (!json_is_object(root) || (rss && !json_is_array(rss))) {
        rc = bad_json(out, "not an ExportTraceServiceRequest: resourceSpans must be an array");
        goto done;
    }
    size_t i, j, k;
    json_t *rs, *ss, *s;
    json_array_foreach(rss, i, rs)
    {
        json_t *sss = json_object_get(rs, "scopeSpans");
        bool old = false;
        if (!sss && (sss = json_object_get(rs, "instrumentationLibrarySpans")))
            old = true; /* OTLP before 0.15 called them so; written out in today's names */
        if (!json_is_object(rs) || (sss && !json_is_array(sss))) {
            rc = bad_json(out, "a ResourceSpans is not an object with a scopeSpans array");
            goto done;
        }
        w.res.len = 0;
        sb_putc(&w.res, '{');
        json_t *res = json_object_get(rs, "resource"), *url = json_object_get(rs, "schemaUrl");
        if (res) {
            sb_puts(&w.res, "\"resource\":");
            dump(&w.res, res);
            sb_putc(&w.res, ',');
        }
        if (json_is_string(url)) {
            sb_puts(&w.res, "\"schemaUrl\":");
            dump(&w.res, url);
            sb_putc(&w.res, ',');
        }
        sb_puts(&w.res, "\"scopeSpans\":[");
        json_array_foreach(sss, j, ss)
        {
            json_t *spans = json_object_get(ss, "spans");
            if (!json_is_object(ss) || (spans && !json_is_array(spans))) {
                rc = bad_json(out, "a ScopeSpans is not an object with a spans array");
                goto done;
            }
            w.scope.len = 0;
            sb_putc(&w.scope, '{');
            json_t *scope = json_object_get(ss, old ? "instrumentationLibrary" : "scope");
            url = json_object_get(ss, "schemaUrl");
            if (scope) {
                sb_puts(&w.scope, "\"scope\":");
                dump(&w.scope, scope);
                sb_putc(&w.scope, ',');
            }
            if (json_is_string(url)) {
                sb_puts(&w.scope, "\"schemaUrl\":");
                dump(&w.scope, url);
                sb_putc(&w.scope, ',');
            }
            sb_puts(&w.scope, "\"spans\":[");
            json_array_foreach(spans, k, s)
            {
                /* The OTLP/JSON rules: ids in hex (the reader also takes base64, as
                 * older Collectors wrote them), 16 and 8 bytes, not all zero. */
                if (!json_is_object(s) || !json_id(json_object_get(s, "traceId"), 16, false) ||
                    !json_id(json_object_get(s, "spanId"), 8, false) ||
                    !json_id(json_object_get(s, "parentSpanId"), 8, true)) {
                    out->rejected++;
                    why(out, "a span has an invalid traceId, spanId or parentSpanId");
                    continue;
                }
                add_span(&w, put_json_span, s);
            }
            line_close(&w);
        }
    }
done:
    finish(&w, out, start, rc == OTLP_DEC_OK);
    json_decref(root);
    return rc;
}

void otlp_decoded_reset(otlp_decoded *out)
{
    truncate_to(&out->lines, 0);
    out->spans = out->rejected = 0;
    out->why[0] = '\0';
}

void otlp_decoded_free(otlp_decoded *out)
{
    sb_free(&out->lines);
    memset(out, 0, sizeof *out);
}
