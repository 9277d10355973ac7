/* traceset.c - pass 1 (per-trace summaries in a hash table), selection, pass 2 (spans of
 * the selected traces) and the tree order of a trace. See traceset.h for the memory bound.
 */
#define _GNU_SOURCE /* memmem */
#include "traceset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Hash seed, set once per process before the first table is built: trace ids come from
 * the file, and a file could be crafted to collide under a fixed hash. */
static uint64_t hash_key;

/* splitmix64's finaliser: every input bit reaches every output bit, which matters because
 * ids read as little-endian words often vary only in their top byte (sequential ids). */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t id_hash(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return mix64(mix64(a ^ hash_key) ^ b);
}

void traceset_init(traceset *ts, const char *path, bool progress)
{
    memset(ts, 0, sizeof *ts);
    ts->path = path;
    ts->progress = progress;
    ts->min_start = UINT64_MAX;
    ts->span_budget = UINT64_MAX;
    if (!hash_key && getrandom(&hash_key, sizeof hash_key, GRND_NONBLOCK) != sizeof hash_key)
        hash_key = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
}

/* A seeded hash of a string, 8 bytes at a time. */
static uint64_t str_hash(const char *s, size_t len)
{
    uint64_t h = hash_key ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix64(h ^ w);
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    return mix64(h ^ w);
}

static struct strtab_slot *intern_slot(traceset *ts, const char *s, size_t len)
{
    strtab *t = &ts->names;
    if (t->n * 2 >= t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        struct strtab_slot *slots = xcalloc(cap, sizeof *slots);
        for (uint32_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].s) continue;
            uint32_t j = (uint32_t)t->slots[i].hash & (cap - 1);
            while (slots[j].s)
                j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    uint64_t h = str_hash(s, len);
    uint32_t j = (uint32_t)h & (t->cap - 1);
    while (t->slots[j].s) {
        struct strtab_slot *e = &t->slots[j];
        if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0) return e;
        j = (j + 1) & (t->cap - 1);
    }
    struct strtab_slot *e = &t->slots[j];
    e->hash = h;
    e->s = arena_strndup(&ts->mem, s, len);
    e->len = (uint32_t)len;
    e->svc = -1;
    t->n++;
    return e;
}

const char *traceset_intern(traceset *ts, const char *s, size_t len)
{
    return s ? intern_slot(ts, s, len)->s : NULL;
}

void traceset_free(traceset *ts)
{
    if (ts->in_open) otlp_input_close(&ts->in);
    free(ts->names.slots);
    free(ts->sums);
    free(ts->buckets);
    for (uint32_t i = 0; i < ts->n_sel; i++)
        free(ts->sel[i].spans);
    free(ts->sel);
    for (uint32_t i = 0; i < ts->n_res; i++)
        free(ts->res_json[i]);
    free(ts->res_json);
    arena_free(&ts->mem);
    memset(ts, 0, sizeof *ts);
}

/* ---- pass 1 --------------------------------------------------------------------------- */

static void rehash(traceset *ts)
{
    uint32_t nb = ts->n_buckets ? ts->n_buckets * 2 : 1024;
    free(ts->buckets);
    ts->buckets = xcalloc(nb, sizeof *ts->buckets);
    ts->n_buckets = nb;
    for (uint32_t i = 0; i < ts->n_sums; i++) {
        uint32_t b = (uint32_t)(id_hash(ts->sums[i].id) & (nb - 1));
        ts->sums[i].next = ts->buckets[b];
        ts->buckets[b] = i + 1;
    }
}

static int64_t lookup(const traceset *ts, const uint8_t id[16])
{
    if (!ts->n_buckets) return -1;
    uint32_t b = (uint32_t)(id_hash(id) & (ts->n_buckets - 1));
    for (uint32_t e = ts->buckets[b]; e; e = ts->sums[e - 1].next)
        if (memcmp(ts->sums[e - 1].id, id, 16) == 0) return e - 1;
    return -1;
}

static trace_sum *get_or_add(traceset *ts, const uint8_t id[16])
{
    int64_t i = lookup(ts, id);
    if (i >= 0) return &ts->sums[i];
    if (ts->n_sums == UINT32_MAX - 1) {
        return NULL;
    }
    if (ts->n_sums == ts->cap_sums) {
        ts->cap_sums = ts->cap_sums ? ts->cap_sums * 2 : 1024;
        ts->sums = xrealloc(ts->sums, (size_t)ts->cap_sums * sizeof *ts->sums);
    }
    trace_sum *t = &ts->sums[ts->n_sums++];
    memset(t, 0, sizeof *t);
    memcpy(t->id, id, 16);
    t->start = UINT64_MAX;
    t->sel = -1;
    if (ts->n_sums > ts->n_buckets) {
        rehash(ts); /* links every entry, the new one included */
    } else {
        uint32_t b = (uint32_t)(id_hash(id) & (ts->n_buckets - 1));
        t->next = ts->buckets[b];
        ts->buckets[b] = ts->n_sums;
    }
    return t;
}

/* The interned service of a span, looked up once per resource: a one-entry cache on the
 * resource's service text (a pointer into the current line's tree) and line number. Sets
 * *svc to its index in services[] (pass 1 counts a name when first seen, while there is
 * room) or -1. */
static const char *span_service(traceset *ts, const otlp_span *sp, bool count, int32_t *svc)
{
    if (!sp->service) {
        *svc = -1;
        return NULL;
    }
    if (sp->service != ts->svc_text || sp->line != ts->svc_line) {
        struct strtab_slot *e = intern_slot(ts, sp->service, sp->service_len);
        if (count && e->svc < 0 && ts->n_services < TS_MAX_SERVICES) {
            e->svc = (int32_t)ts->n_services++;
            ts->services[e->svc].name = e->s;
        }
        ts->svc_text = sp->service;
        ts->svc_line = sp->line;
        ts->svc_name = e->s;
        ts->svc_index = e->svc;
    }
    *svc = ts->svc_index;
    return ts->svc_name;
}

static void count_service(traceset *ts, const otlp_span *sp)
{
    int32_t svc;
    if (!span_service(ts, sp, true, &svc))
        ts->no_service_spans++;
    else if (svc >= 0)
        ts->services[svc].spans++;
    else
        ts->other_service_spans++;
}

/* Whether the raw traceId is 32 lowercase hex digits, as pass 2's pre-filter expects. */
static bool canonical_id(const otlp_span *sp)
{
    json_t *t = json_object_get(sp->span, "traceId");
    const char *s = json_string_value(t);
    if (!s || json_string_length(t) != 32) return false;
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static bool scan_span(void *user, const otlp_span *sp)
{
    traceset *ts = user;
    trace_sum *t = get_or_add(ts, sp->trace_id);
    if (!t) return false;
    if (!ts->noncanonical_ids && !canonical_id(sp)) ts->noncanonical_ids = true;
    if (sp->start_ns < t->start) t->start = sp->start_ns;
    if (sp->end_ns > t->end) t->end = sp->end_ns;
    if (t->spans < UINT32_MAX) t->spans++;
    if (sp->status == 2) {
        if (t->errors < UINT32_MAX) t->errors++;
        ts->error_spans++;
    }
    ts->spans++;
    if (sp->start_ns < ts->min_start) ts->min_start = sp->start_ns;
    if (sp->end_ns > ts->max_end) ts->max_end = sp->end_ns;
    count_service(ts, sp);
    return true;
}

int traceset_scan(traceset *ts)
{
    if (!ts->in_open) {
        if (otlp_input_open(&ts->in, ts->path) != 0) return -1;
        ts->in_open = true;
        ts->path = ts->in.path;
    }
    otlp_read_opts o = {.in = &ts->in,
                        .path = ts->path,
                        .label = "scanning",
                        .progress = ts->progress,
                        .report_errors = true,
                        .on_span = scan_span,
                        .user = ts};
    int rc = otlp_read_file(&o, &ts->stats1);
    if (rc == 0 && ts->n_sums == UINT32_MAX - 1)
        cli_err("%s: more than 4 billion traces; the rest were ignored", ts->path);
    return rc;
}

int64_t traceset_find(const traceset *ts, const char *hex)
{
    size_t len = strlen(hex);
    uint8_t id[16];
    if (len == 32 && id_decode(hex, 32, id, 16)) return lookup(ts, id);
    if (len < 4 || len > 32) return -1;
    char want[33];
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        want[i] = c;
    }
    int64_t found = -1;
    char h[33];
    for (uint32_t i = 0; i < ts->n_sums; i++) {
        id_hex(ts->sums[i].id, 16, h);
        if (memcmp(h, want, len) == 0) {
            if (found >= 0) return -2;
            found = i;
        }
    }
    return found;
}

sel_trace *traceset_select(traceset *ts, uint32_t i, bool want_spans)
{
    trace_sum *t = &ts->sums[i];
    if (t->sel >= 0) {
        sel_trace *s = &ts->sel[t->sel];
        s->want_spans |= want_spans;
        return s;
    }
    if (ts->n_sel == ts->cap_sel) {
        ts->cap_sel = ts->cap_sel ? ts->cap_sel * 2 : 16;
        ts->sel = xrealloc(ts->sel, (size_t)ts->cap_sel * sizeof *ts->sel);
    }
    sel_trace *s = &ts->sel[ts->n_sel];
    memset(s, 0, sizeof *s);
    s->sum = i;
    s->want_spans = want_spans;
    s->root_start = UINT64_MAX;
    t->sel = (int32_t)ts->n_sel++;
    return s;
}

static const traceset *sort_ts;

static int by_duration(const void *a, const void *b)
{
    const trace_sum *x = &sort_ts->sums[*(const uint32_t *)a];
    const trace_sum *y = &sort_ts->sums[*(const uint32_t *)b];
    uint64_t dx = trace_duration(x), dy = trace_duration(y);
    if (dx != dy) return dx > dy ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

uint32_t traceset_by_duration(const traceset *ts, bool errors_only, uint32_t **out)
{
    uint32_t *idx = xmalloc((size_t)(ts->n_sums ? ts->n_sums : 1) * sizeof *idx);
    uint32_t n = 0;
    for (uint32_t i = 0; i < ts->n_sums; i++)
        if (!errors_only || ts->sums[i].errors) idx[n++] = i;
    sort_ts = ts;
    qsort(idx, n, sizeof *idx, by_duration);
    *out = idx;
    return n;
}

/* ---- pass 2 --------------------------------------------------------------------------- */

typedef struct collect_ctx {
    traceset *ts;
    uint32_t *seen; /* spans seen per selected trace, to check the pre-filter */
} collect_ctx;

/* Skips lines that cannot hold a selected trace without parsing them: finding each
 * "traceId":"<32 hex>" and looking it up costs far less than building the JSON tree. Only
 * used when pass 1 saw nothing but canonical ids; pass 2 then checks that every span it
 * counted was seen, and reads again without the filter if not (odd spacing or escapes). */
static bool prefilter(void *user, const char *line, size_t len)
{
    collect_ctx *c = user;
    static const char key[] = "\"traceId\":\"";
    const size_t klen = sizeof key - 1;
    const char *p = line, *end = line + len;
    while ((p = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
        p += klen;
        uint8_t id[16];
        if (end - p >= 32 && id_decode(p, 32, id, 16)) {
            int64_t i = lookup(c->ts, id);
            if (i >= 0 && c->ts->sums[i].sel >= 0) return true;
        }
    }
    return false;
}

void span_rec_init(span_rec *r, const otlp_span *sp)
{
    memset(r, 0, sizeof *r);
    memcpy(r->id, sp->span_id, 8);
    memcpy(r->parent, sp->parent_id, 8);
    r->has_parent = sp->has_parent;
    r->kind = (uint8_t)sp->kind;
    r->status = (uint8_t)sp->status;
    r->start = sp->start_ns;
    r->end = sp->end_ns;
}

static bool collect_span(void *user, const otlp_span *sp)
{
    collect_ctx *c = user;
    traceset *ts = c->ts;
    int64_t i = lookup(ts, sp->trace_id);
    if (i < 0 || ts->sums[i].sel < 0) return true;
    uint32_t si = (uint32_t)ts->sums[i].sel;
    sel_trace *s = &ts->sel[si];
    c->seen[si]++;
    /* The root name: a span without parent wins; else the earliest span. */
    bool better = !s->root_name || (!sp->has_parent && !s->root_is_root) ||
                  (sp->has_parent == !s->root_is_root && sp->start_ns < s->root_start);
    if (better) {
        s->root_name = arena_strndup(&ts->mem, sp->name, sp->name_len);
        int32_t svc;
        s->root_service = span_service(ts, sp, false, &svc);
        s->root_start = sp->start_ns;
        s->root_is_root = !sp->has_parent;
    }
    if (!s->want_spans) return true;
    if (ts->kept >= ts->span_budget || s->n >= ts->sums[i].spans) {
        s->dropped++;
        return true;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        if (s->cap > ts->sums[i].spans) s->cap = ts->sums[i].spans;
        s->spans = xrealloc(s->spans, (size_t)s->cap * sizeof *s->spans);
    }
    span_rec *r = &s->spans[s->n++];
    span_rec_init(r, sp);
    r->name = arena_strndup(&ts->mem, sp->name, sp->name_len);
    int32_t svc;
    r->service = span_service(ts, sp, false, &svc);
    r->status_msg = arena_strndup(&ts->mem, sp->status_msg, strlen(sp->status_msg));
    if (ts->detail_fn) r->detail = ts->detail_fn(ts, sp);
    ts->kept++;
    return true;
}

static void reset_collected(traceset *ts)
{
    for (uint32_t i = 0; i < ts->n_sel; i++) {
        sel_trace *s = &ts->sel[i];
        free(s->spans);
        s->spans = NULL;
        s->n = s->cap = s->dropped = 0;
        s->root_name = s->root_service = NULL;
        s->root_start = UINT64_MAX;
        s->root_is_root = false;
    }
    ts->kept = 0;
}

int traceset_collect(traceset *ts)
{
    collect_ctx c = {.ts = ts};
    c.seen = xcalloc(ts->n_sel ? ts->n_sel : 1, sizeof *c.seen);
    bool filter = !ts->noncanonical_ids && ts->n_sel > 0;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!ts->in_open || otlp_input_rewind(&ts->in) != 0) {
            rc = -1;
            break;
        }
        otlp_read_opts o = {.in = &ts->in,
                            .path = ts->path,
                            .label = "reading",
                            .progress = ts->progress,
                            .report_errors = false,
                            .line_filter = filter ? prefilter : NULL,
                            .on_span = collect_span,
                            .user = &c};
        rc = otlp_read_file(&o, &ts->stats2);
        if (rc != 0 || !filter) break;
        /* The pre-filter is only an optimisation: if it hid a span that pass 1 counted
         * (an id spelled with escapes, say), read again without it. */
        bool complete = true;
        for (uint32_t i = 0; i < ts->n_sel; i++)
            if (c.seen[i] < ts->sums[ts->sel[i].sum].spans) complete = false;
        if (complete) break;
        filter = false;
        reset_collected(ts);
        memset(c.seen, 0, ts->n_sel * sizeof *c.seen);
    }
    free(c.seen);
    return rc;
}

/* ---- tree order ----------------------------------------------------------------------- */

static const span_rec *sort_spans;

static int by_start(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const span_rec *x = &sort_spans[i], *y = &sort_spans[j];
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    /* Parents before children on equal starts (a child's end is usually earlier). */
    if (x->end != y->end) return x->end > y->end ? -1 : 1;
    return i < j ? -1 : i > j;
}

static uint64_t span_hash(const uint8_t id[8])
{
    uint64_t v;
    memcpy(&v, id, 8);
    return mix64(v ^ hash_key);
}

void traceset_order(sel_trace *t)
{
    uint32_t n = t->n;
    if (n == 0) return;
    uint32_t *order = xmalloc(n * sizeof *order);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    sort_spans = t->spans;
    qsort(order, n, sizeof *order, by_start);

    /* span id -> position in start order (first one wins on duplicates) */
    uint32_t nb = 16;
    while (nb < 2 * n)
        nb *= 2;
    uint32_t *map = xmalloc(nb * sizeof *map);
    memset(map, 0xff, nb * sizeof *map);
    for (uint32_t k = 0; k < n; k++) {
        const span_rec *s = &t->spans[order[k]];
        uint32_t h = (uint32_t)(span_hash(s->id) & (nb - 1));
        while (map[h] != UINT32_MAX) {
            if (memcmp(t->spans[order[map[h]]].id, s->id, 8) == 0) break;
            h = (h + 1) & (nb - 1);
        }
        if (map[h] == UINT32_MAX) map[h] = k;
    }

    /* parent position (UINT32_MAX: root), children as linked lists in start order */
    uint32_t *parent = xmalloc(n * sizeof *parent);
    uint32_t *first = xmalloc(n * sizeof *first);
    uint32_t *next = xmalloc(n * sizeof *next);
    uint8_t *orphan = xcalloc(n, sizeof *orphan);
    for (uint32_t k = 0; k < n; k++) {
        first[k] = next[k] = UINT32_MAX;
        parent[k] = UINT32_MAX;
        const span_rec *s = &t->spans[order[k]];
        if (!s->has_parent) continue;
        uint32_t h = (uint32_t)(span_hash(s->parent) & (nb - 1));
        while (map[h] != UINT32_MAX && memcmp(t->spans[order[map[h]]].id, s->parent, 8) != 0)
            h = (h + 1) & (nb - 1);
        if (map[h] == UINT32_MAX)
            orphan[k] = 1;
        else if (map[h] == k)
            orphan[k] = 2; /* its own parent */
        else
            parent[k] = map[h];
    }
    for (uint32_t k = n; k-- > 0;) {
        if (parent[k] != UINT32_MAX) {
            next[k] = first[parent[k]];
            first[parent[k]] = k;
        }
    }

    /* Iterative depth-first walk: a file can hold a chain a million spans deep. */
    uint32_t *stack = xmalloc(n * sizeof *stack);
    uint32_t *sdepth = xmalloc(n * sizeof *sdepth);
    bool *visited = xcalloc(n, sizeof *visited);
    span_rec *out = xmalloc(n * sizeof *out);
    uint32_t o = 0;
    for (int round = 0; round < 2; round++) {
        for (uint32_t k = 0; k < n; k++) {
            /* round 0: real roots; round 1: what is left (members of parent cycles) */
            if (visited[k] || (round == 0 && parent[k] != UINT32_MAX)) continue;
            if (round == 1) orphan[k] = 2;
            uint32_t sp = 0;
            stack[sp] = k;
            sdepth[sp++] = 0;
            visited[k] = true;
            while (sp > 0) {
                sp--;
                uint32_t cur = stack[sp], d = sdepth[sp];
                out[o] = t->spans[order[cur]];
                out[o].depth = d;
                out[o].orphan = orphan[cur];
                o++;
                /* Push children in reverse so the earliest comes out first. */
                uint32_t cnt = 0;
                for (uint32_t c = first[cur]; c != UINT32_MAX; c = next[c])
                    if (!visited[c]) cnt++;
                sp += cnt;
                uint32_t at = sp;
                for (uint32_t c = first[cur]; c != UINT32_MAX; c = next[c]) {
                    if (visited[c]) continue;
                    visited[c] = true;
                    stack[--at] = c;
                    sdepth[at] = d + 1;
                }
            }
        }
    }
    memcpy(t->spans, out, n * sizeof *out);
    free(out);
    free(visited);
    free(sdepth);
    free(stack);
    free(orphan);
    free(next);
    free(first);
    free(parent);
    free(map);
    free(order);
}
