/* stage.c - compact copies of finished spans, for a batch queue whose hand-off ring is full
 * (queue.c): a record is 1 KiB whatever it holds, its compact copy is the bytes it uses
 * (about 130 for a span with a name and two attributes), so the byte budget holds about
 * eight times more spans while the export thread is away.
 *
 * The format is private and short-lived (written by the producing thread, read once by the
 * export thread of the same process): fields in native byte order, unaligned, pointers to
 * the tracer, to the tracestate (the record's reference moves into the copy) and to
 * interned keys (keys.h, never freed) kept as pointers.
 */
#include "stage.h"
#include "pool.h"
#include "tracestate.h"

#include <stdlib.h>

enum {
    F_EVENTS = 1,
    F_LINKS = 2,
    F_STATUS_MSG = 4,
    F_DROPS = 8,
    F_PARENT = 16,
    F_TS = 32,
    F_TASK = 64,
};

enum { KEY_BYTES = 0, KEY_INTERNED = 1 };

/* Whether p points into the record's own memory (inline arena or overflow blocks); a key
 * that does not was interned. */
static inline bool in_record(const dpt__span *r, const void *p)
{
    if ((uintptr_t)p - (uintptr_t)r < sizeof *r) return true;
    for (const dpt__arena_blk *b = r->arena.blocks; b; b = b->next)
        if ((const char *)p >= b->data && (const char *)p < b->data + b->cap) return true;
    return false;
}

/* ---- writer: one function, specialised for counting (COUNT) and for writing ---------------- */

typedef struct wr {
    uint8_t *p;
    size_t n;
} wr;

#define COUNT true
#define WRITE false

static inline void put(wr *w, bool count, const void *src, size_t n)
{
    if (!count) {
        memcpy(w->p, src, n);
        w->p += n;
    }
    w->n += n;
}
static inline void put_u8(wr *w, bool count, uint8_t v)
{
    put(w, count, &v, 1);
}
static inline void put_u32(wr *w, bool count, uint32_t v)
{
    put(w, count, &v, 4);
}
static inline void put_u64(wr *w, bool count, uint64_t v)
{
    put(w, count, &v, 8);
}
static inline void put_ptr(wr *w, bool count, const void *v)
{
    put(w, count, &v, sizeof v);
}
static inline void put_str(wr *w, bool count, const char *s, uint32_t n)
{
    put_u32(w, count, n);
    put(w, count, s, n);
}

static inline void put_value(wr *w, bool count, const dpt_value *v)
{
    put_u8(w, count, (uint8_t)v->type);
    switch (v->type) {
    case DPT_VAL_STRING:
        put_str(w, count, v->u.s, v->len);
        break;
    case DPT_VAL_BOOL:
        put_u8(w, count, v->u.b);
        break;
    case DPT_VAL_INT:
    case DPT_VAL_DOUBLE:
        put(w, count, &v->u, 8);
        break;
    case DPT_VAL_STRING_ARRAY:
        put_u32(w, count, v->len);
        for (uint32_t i = 0; i < v->len; i++)
            put_str(w, count, v->u.sa[i], (uint32_t)strlen(v->u.sa[i]));
        break;
    case DPT_VAL_BOOL_ARRAY:
        put_u32(w, count, v->len);
        put(w, count, v->u.ba, v->len);
        break;
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY:
        put_u32(w, count, v->len);
        put(w, count, v->u.ia, (size_t)v->len * 8);
        break;
    default:
        break;
    }
}

static inline void put_attrs(wr *w, bool count, const dpt__span *r, const dpt_attr *a, uint32_t n)
{
    put_u32(w, count, n);
    for (uint32_t i = 0; i < n; i++) {
        if (!in_record(r, a[i].key)) {
            put_u8(w, count, KEY_INTERNED);
            put_ptr(w, count, a[i].key);
            put_u32(w, count, a[i].key_len);
        } else {
            put_u8(w, count, KEY_BYTES);
            put_str(w, count, a[i].key, a[i].key_len);
        }
        put_value(w, count, &a[i].value);
    }
}

static inline size_t write_span(const dpt__span *r, uint8_t *out, bool count)
{
    const dpt_span_data *d = &r->d;
    wr w = {out, 0};
    uint8_t f = 0;
    uint64_t parent;
    memcpy(&parent, d->parent_span_id.b, 8);
    if (d->n_events) f |= F_EVENTS;
    if (d->n_links) f |= F_LINKS;
    if (d->status_msg_len) f |= F_STATUS_MSG;
    if (d->dropped_attrs | d->dropped_events | d->dropped_links) f |= F_DROPS;
    if (parent || d->parent_remote) f |= F_PARENT;
    if (r->ts) f |= F_TS;
    if (d->ended_by_task) f |= F_TASK;
    put_u32(&w, count, 0); /* the entry's length, filled in by the caller */
    uint8_t small[5] = {f, d->kind, d->status, d->ctx.flags, d->ctx.remote};
    put(&w, count, small, 5);
    put(&w, count, d->ctx.trace_id.b, 16);
    put(&w, count, d->ctx.span_id.b, 8);
    if (f & F_PARENT) {
        put_u64(&w, count, parent);
        put_u8(&w, count, d->parent_remote);
    }
    put_u64(&w, count, d->start_ns);
    put_u64(&w, count, d->end_ns);
    put_ptr(&w, count, d->tracer);
    if (f & F_TS) put_ptr(&w, count, r->ts);
    put_str(&w, count, d->name, d->name_len);
    put_attrs(&w, count, r, d->attrs, d->n_attrs);
    if (f & F_EVENTS) {
        put_u32(&w, count, d->n_events);
        for (uint32_t i = 0; i < d->n_events; i++) {
            const dpt_event *e = &d->events[i];
            put_str(&w, count, e->name, e->name_len);
            put_u64(&w, count, e->time_ns);
            put_u32(&w, count, e->dropped_attrs);
            put_attrs(&w, count, r, e->attrs, e->n_attrs);
        }
    }
    if (f & F_LINKS) {
        put_u32(&w, count, d->n_links);
        for (uint32_t i = 0; i < d->n_links; i++) {
            const dpt_link *l = &d->links[i];
            put(&w, count, &l->ctx, sizeof l->ctx);
            put_str(&w, count, l->tracestate, l->tracestate_len);
            put_u32(&w, count, l->dropped_attrs);
            put_attrs(&w, count, r, l->attrs, l->n_attrs);
        }
    }
    if (f & F_STATUS_MSG) put_str(&w, count, d->status_msg, d->status_msg_len);
    if (f & F_DROPS) {
        uint32_t drops[3] = {d->dropped_attrs, d->dropped_events, d->dropped_links};
        put(&w, count, drops, sizeof drops);
    }
    return (w.n + 7) & ~(size_t)7;
}

size_t dpt__stage_bound(const dpt__span *r)
{
    const dpt_span_data *d = &r->d;
    if (d->n_events || d->n_links) return write_span(r, NULL, COUNT);
    /* The fixed part, the name, the status message, and per attribute its key and value
     * with their tags and lengths: an upper bound without a second pass over the bytes. */
    size_t n = 96 + d->name_len + d->status_msg_len;
    for (uint32_t i = 0; i < d->n_attrs; i++) {
        const dpt_attr *a = &d->attrs[i];
        if (a->value.type > DPT_VAL_DOUBLE) return write_span(r, NULL, COUNT);
        n += 24 + a->key_len + (a->value.type == DPT_VAL_STRING ? a->value.len : 0);
    }
    return (n + 7) & ~(size_t)7;
}

size_t dpt__stage_write(dpt__span *r, uint8_t *out)
{
    size_t len = write_span(r, out, WRITE);
    uint32_t l = (uint32_t)len;
    memcpy(out, &l, 4);
    r->ts = NULL; /* the reference moved into the copy */
    return len;
}

/* ---- reader ------------------------------------------------------------------------------ */

typedef struct rd {
    const uint8_t *p;
} rd;

static inline void get(rd *r, void *dst, size_t n)
{
    memcpy(dst, r->p, n);
    r->p += n;
}
static inline uint8_t get_u8(rd *r)
{
    return *r->p++;
}
static inline uint32_t get_u32(rd *r)
{
    uint32_t v;
    get(r, &v, 4);
    return v;
}
static inline uint64_t get_u64(rd *r)
{
    uint64_t v;
    get(r, &v, 8);
    return v;
}
static inline const void *get_ptr(rd *r)
{
    const void *v;
    get(r, &v, sizeof v);
    return v;
}

/* A string of the copy, into the record's arena (NUL-terminated like every record string). */
static const char *get_str(rd *r, dpt__span *s, uint32_t *len)
{
    uint32_t n = get_u32(r);
    char *c = dpt__arena_strdup(s, (const char *)r->p, n);
    r->p += n;
    if (len) *len = n;
    return c ? c : "";
}

static bool get_value(rd *r, dpt__span *s, dpt_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = get_u8(r);
    switch (v->type) {
    case DPT_VAL_STRING:
        v->u.s = get_str(r, s, &v->len);
        break;
    case DPT_VAL_BOOL:
        v->u.b = get_u8(r) != 0;
        break;
    case DPT_VAL_INT:
    case DPT_VAL_DOUBLE:
        get(r, &v->u, 8);
        break;
    case DPT_VAL_STRING_ARRAY: {
        v->len = get_u32(r);
        const char **a = dpt__arena_alloc(s, sizeof(char *) * (v->len ? v->len : 1));
        if (!a) return false;
        for (uint32_t i = 0; i < v->len; i++)
            a[i] = get_str(r, s, NULL);
        v->u.sa = a;
        break;
    }
    case DPT_VAL_BOOL_ARRAY:
    case DPT_VAL_INT_ARRAY:
    case DPT_VAL_DOUBLE_ARRAY: {
        v->len = get_u32(r);
        size_t el = v->type == DPT_VAL_BOOL_ARRAY ? 1 : 8;
        void *a = dpt__arena_alloc(s, el * (v->len ? v->len : 1));
        if (!a) return false;
        get(r, a, el * v->len);
        v->u.ia = a;
        break;
    }
    default:
        break;
    }
    return true;
}

static const dpt_attr *get_attrs(rd *r, dpt__span *s, uint32_t *n_out, bool inline_ok)
{
    uint32_t n = get_u32(r);
    *n_out = n;
    if (!n) return NULL;
    dpt_attr *a = inline_ok && n <= DPT__INLINE_ATTRS ? s->attrs_inline
                                                      : dpt__arena_alloc(s, sizeof(dpt_attr) * n);
    if (!a) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (get_u8(r) == KEY_INTERNED) {
            a[i].key = get_ptr(r);
            a[i].key_len = get_u32(r);
        } else {
            a[i].key = get_str(r, s, &a[i].key_len);
        }
        if (!get_value(r, s, &a[i].value)) return NULL;
    }
    return a;
}

dpt__span *dpt__stage_read(const uint8_t *in)
{
    dpt__span *s = dpt__span_alloc();
    if (!s) return NULL;
    rd r = {in + 4};
    dpt_span_data *d = &s->d;
    memset(d, 0, sizeof *d);
    s->clean = 0; /* not the start values (pool.h) */
    /* Everything the span held fits again: no budget of its own here. */
    dpt__arena_start(s, UINT32_MAX);
    uint8_t f = get_u8(&r);
    d->kind = get_u8(&r);
    d->status = get_u8(&r);
    d->ctx.flags = get_u8(&r);
    d->ctx.remote = get_u8(&r) != 0;
    get(&r, d->ctx.trace_id.b, 16);
    get(&r, d->ctx.span_id.b, 8);
    if (f & F_PARENT) {
        get(&r, d->parent_span_id.b, 8);
        d->parent_remote = get_u8(&r) != 0;
    }
    d->start_ns = get_u64(&r);
    d->end_ns = get_u64(&r);
    d->tracer = get_ptr(&r);
    s->tracer = (dpt_tracer *)d->tracer;
    s->ts = (f & F_TS) ? (dpt_tracestate *)get_ptr(&r) : NULL;
    d->tracestate = s->ts ? s->ts->str : "";
    d->tracestate_len = s->ts ? s->ts->len : 0;
    d->name = get_str(&r, s, &d->name_len);
    d->attrs = get_attrs(&r, s, &d->n_attrs, true);
    if (!d->attrs) d->attrs = s->attrs_inline;
    if (f & F_EVENTS) {
        d->n_events = get_u32(&r);
        dpt_event *ev = dpt__arena_alloc(s, sizeof(dpt_event) * d->n_events);
        for (uint32_t i = 0; ev && i < d->n_events; i++) {
            ev[i].name = get_str(&r, s, &ev[i].name_len);
            ev[i].time_ns = get_u64(&r);
            ev[i].dropped_attrs = get_u32(&r);
            ev[i].attrs = get_attrs(&r, s, &ev[i].n_attrs, false);
        }
        d->events = ev;
        if (!ev) d->n_events = 0;
    }
    if (f & F_LINKS) {
        d->n_links = get_u32(&r);
        dpt_link *ln = dpt__arena_alloc(s, sizeof(dpt_link) * d->n_links);
        for (uint32_t i = 0; ln && i < d->n_links; i++) {
            get(&r, &ln[i].ctx, sizeof ln[i].ctx);
            ln[i].tracestate = get_str(&r, s, &ln[i].tracestate_len);
            ln[i].dropped_attrs = get_u32(&r);
            ln[i].attrs = get_attrs(&r, s, &ln[i].n_attrs, false);
        }
        d->links = ln;
        if (!ln) d->n_links = 0;
    }
    d->status_msg = "";
    if (f & F_STATUS_MSG) d->status_msg = get_str(&r, s, &d->status_msg_len);
    if (f & F_DROPS) {
        d->dropped_attrs = get_u32(&r);
        d->dropped_events = get_u32(&r);
        d->dropped_links = get_u32(&r);
    }
    d->ended_by_task = (f & F_TASK) ? 1 : 0;
    s->attr_cap = DPT__INLINE_ATTRS;
    atomic_store_explicit(&s->state, DPT__REC_ENDED, memory_order_relaxed);
    atomic_store_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void dpt__stage_discard(const uint8_t *in)
{
    rd r = {in + 4};
    uint8_t f = get_u8(&r);
    if (!(f & F_TS)) return;
    r.p += 4 + 16 + 8 + ((f & F_PARENT) ? 9 : 0) + 16 + sizeof(void *);
    dpt_tracestate_release((dpt_tracestate *)get_ptr(&r));
}
