/* internal.h - private structures and helpers shared by the modules of libdptrace.
 *
 * Nothing here is API: names are dpt__* and may change at any time. Modules outside
 * src/core (propagation, export, http, async) may use these helpers; they are linked into
 * the same library.
 */
#ifndef DPT_INTERNAL_H
#define DPT_INTERNAL_H

#include "dptrace.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#define DPT__LIKELY(x) __builtin_expect(!!(x), 1)
#define DPT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DPT__HIDDEN __attribute__((visibility("hidden")))
/* Private helpers that the optional libraries (libdptrace-http) link against: exported
 * from the shared library under dpt__ names, which are not API. */
#define DPT__SHARED DPT_EXTERN
#define DPT__CACHELINE 64
/* Thread-locals of the hot path use the initial-exec TLS model: one instruction per access
 * instead of a __tls_get_addr call in PIC code. The library's TLS is about 150 bytes, well
 * inside the static TLS surplus glibc keeps for libraries loaded with dlopen(). */
#define DPT__TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* ---- allocation hook (fault injection in tests; see tests/unit/test_oom.c) ---------- */
/* Every allocation of the library goes through these so that tests can fail the n-th. */
DPT__SHARED void *dpt__malloc(size_t n);
DPT__SHARED void *dpt__calloc(size_t n, size_t size);
DPT__SHARED void *dpt__realloc(void *p, size_t n);
DPT__SHARED void *dpt__aligned_alloc(size_t align, size_t n);
DPT__SHARED char *dpt__strndup(const char *s, size_t n);
/* Test hook: the next allocations fail after `after` successes (-1: never). Exported
 * under a dpt__ name for the test suite only. */
DPT_EXTERN void dpt__test_fail_alloc_after(long after);
DPT_EXTERN uint64_t dpt__test_alloc_count(void);

/* ---- diagnostics ---------------------------------------------------------------------- */
DPT__SHARED void dpt__log(dpt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- clock ---------------------------------------------------------------------------- */
/* Unix time in ns: CLOCK_MONOTONIC plus an offset to CLOCK_REALTIME refreshed about once a
 * second, so that durations are monotonic and each read is one vDSO call. */
DPT__SHARED uint64_t dpt__now_ns(void);

/* ---- ids -------------------------------------------------------------------------------- */
/* Per-thread wyrand state (ids.c): seeded lazily from getrandom(), forgotten in a forked
 * child. Inline: an id costs a multiply, not a call. */
typedef struct dpt__rng {
    uint64_t s[4];
    bool seeded;
} dpt__rng;
extern DPT__TLS dpt__rng dpt__tl_rng;
DPT__SHARED void dpt__rng_seed(dpt__rng *r);
static inline uint64_t dpt__rand64(void)
{
    dpt__rng *r = &dpt__tl_rng;
    if (DPT__UNLIKELY(!r->seeded)) dpt__rng_seed(r);
    /* wyrand: passes BigCrush and PractRand */
    uint64_t x = (r->s[0] += 0xa0761d6478bd642full);
    __uint128_t m = (__uint128_t)x * (x ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

/* Inline id generation for the span start (the public dpt_*_generate call these). */
static inline void dpt__new_trace_id(dpt_trace_id *id)
{
    uint64_t a, b;
    do {
        a = dpt__rand64();
        b = dpt__rand64();
    } while (DPT__UNLIKELY((a | b) == 0));
    memcpy(id->b, &a, 8);
    memcpy(id->b + 8, &b, 8);
}

static inline void dpt__new_span_id(dpt_span_id *id)
{
    uint64_t a;
    do {
        a = dpt__rand64();
    } while (DPT__UNLIKELY(a == 0));
    memcpy(id->b, &a, 8);
}
DPT__SHARED void dpt__hex_encode(const uint8_t *in, size_t n, char *out);

/* ---- growable buffer and streaming JSON writer (json.c) ------------------------------- */
typedef struct dpt__buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom; /* an allocation failed: content is truncated, callers report DPT_ENOMEM */
} dpt__buf;

DPT__SHARED void dpt__buf_init(dpt__buf *b);
DPT__SHARED void dpt__buf_free(dpt__buf *b);
DPT__SHARED bool dpt__buf_reserve(dpt__buf *b, size_t extra);
DPT__SHARED void dpt__buf_put(dpt__buf *b, const void *p, size_t n);
DPT__SHARED void dpt__buf_putc(dpt__buf *b, char c);
DPT__SHARED void dpt__buf_puts(dpt__buf *b, const char *s);
DPT__SHARED void dpt__buf_printf(dpt__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes the content as a malloc'd NUL-terminated string (b is reset). NULL on oom. */
DPT__SHARED char *dpt__buf_take(dpt__buf *b, size_t *len);

#define DPT__JSON_MAX_DEPTH 64
typedef struct dpt__json {
    dpt__buf *b;
    uint32_t depth;
    bool need_comma[DPT__JSON_MAX_DEPTH];
    bool after_key;
} dpt__json;

DPT__SHARED void dpt__json_init(dpt__json *j, dpt__buf *b);
DPT__SHARED void dpt__json_obj_begin(dpt__json *j);
DPT__SHARED void dpt__json_obj_end(dpt__json *j);
DPT__SHARED void dpt__json_arr_begin(dpt__json *j);
DPT__SHARED void dpt__json_arr_end(dpt__json *j);
DPT__SHARED void dpt__json_key(dpt__json *j, const char *key);
DPT__SHARED void dpt__json_keyn(dpt__json *j, const char *key, size_t len);
/* Escapes every control character, '"' and '\\'; invalid UTF-8 bytes become U+FFFD. */
DPT__SHARED void dpt__json_str(dpt__json *j, const char *s, size_t len);
DPT__SHARED void dpt__json_cstr(dpt__json *j, const char *s);
DPT__SHARED void dpt__json_int(dpt__json *j, int64_t v);
DPT__SHARED void dpt__json_uint(dpt__json *j, uint64_t v);
/* Finite doubles in shortest round-trip form; NaN/Infinity as the strings "NaN",
 * "Infinity", "-Infinity" (the protobuf JSON mapping's spelling). */
DPT__SHARED void dpt__json_double(dpt__json *j, double v);
DPT__SHARED void dpt__json_bool(dpt__json *j, bool v);
DPT__SHARED void dpt__json_null(dpt__json *j);
/* A 64-bit integer as a decimal string ("123"), as OTLP/JSON wants. */
DPT__SHARED void dpt__json_u64str(dpt__json *j, uint64_t v);
DPT__SHARED void dpt__json_i64str(dpt__json *j, int64_t v);
/* A value as JSON: scalars natively, arrays as arrays. */
DPT__SHARED void dpt__json_value(dpt__json *j, const dpt_value *v);

/* UTF-8: the length of the longest prefix of s that is valid UTF-8; and a copy of s with
 * each invalid byte replaced by U+FFFD (appended to out). */
DPT__SHARED size_t dpt__utf8_valid_prefix(const char *s, size_t len);
DPT__SHARED void dpt__utf8_sanitize(const char *s, size_t len, dpt__buf *out);
/* Largest n <= max such that cutting s at n does not split a UTF-8 sequence. */
DPT__SHARED size_t dpt__utf8_cut(const char *s, size_t len, size_t max);
/* RFC 3339 UTC with nanoseconds: "2026-11-25T20:34:23.123456789Z" (31 chars + NUL). */
DPT__SHARED void dpt__format_rfc3339(uint64_t unix_ns, char out[40]);

/* ---- arena: bump allocation for one span record --------------------------------------- */
typedef struct dpt__arena_blk {
    struct dpt__arena_blk *next;
    size_t cap;
    size_t used;
    _Alignas(16) char data[];
} dpt__arena_blk;

typedef struct dpt__arena {
    char *cur;             /* next free byte of the current block */
    char *end;
    dpt__arena_blk *blocks; /* overflow blocks, newest first */
    size_t bytes;          /* bytes handed out (for the store's byte bound) */
    size_t budget;         /* most bytes this span may take (span limit) */
    bool over;             /* an allocation was refused for the budget */
} dpt__arena;

/* ---- counters ------------------------------------------------------------------------- */
enum {
    DPT__C_STARTED,
    DPT__C_SAMPLED,
    DPT__C_RECORDING,
    DPT__C_ENDED,
    DPT__C_EXPORTED,
    DPT__C_EXPORT_FAILED,
    DPT__C_DROPPED_QUEUE,
    DPT__C_DROPPED_STORE,
    DPT__C_ATTRS_DROPPED,
    DPT__C_EVENTS_DROPPED,
    DPT__C_LINKS_DROPPED,
    DPT__C_ENDED_BY_TASK,
    DPT__C_COUNT
};

/* Adds n to counter c of provider p (NULL p: nothing). Per-thread single-writer blocks:
 * no locked instruction; readers sum the blocks (provider.c). The fast path is inline:
 * the thread's cached block for the provider it counted for last. */
typedef struct dpt__tl_counters {
    uint64_t provider_id;
    _Atomic uint64_t *c; /* the block's counters */
    uint64_t token;
} dpt__tl_counters;
extern DPT__TLS dpt__tl_counters dpt__tl_cb;
DPT__HIDDEN void dpt__count_slow(dpt_provider *p, int c, uint64_t n);
static inline uint64_t dpt__provider_counters_id(const dpt_provider *p);
static inline void dpt__count(dpt_provider *p, int c, uint64_t n)
{
    if (DPT__UNLIKELY(!p)) return;
    if (DPT__LIKELY(dpt__tl_cb.provider_id == dpt__provider_counters_id(p))) {
        /* single writer: a relaxed load and store, no locked instruction */
        _Atomic uint64_t *x = &dpt__tl_cb.c[c];
        atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + n, memory_order_relaxed);
        return;
    }
    dpt__count_slow(p, c, n);
}

/* ---- span records ---------------------------------------------------------------------- */
#define DPT__INLINE_ATTRS 8
#define DPT__INLINE_ARENA 448

enum { DPT__REC_FREE = 0, DPT__REC_NONRECORDING, DPT__REC_RECORDING, DPT__REC_ENDED };

/* One span. The public dpt_span_data view is the first member so a record and its view
 * are the same address. Records come from a pool (pool.c) and are recycled, never freed
 * while the process runs with spans in flight; `gen` changes at every start and end so
 * a stale dpt_span handle can be detected (see span.c). */
typedef struct dpt__span {
    dpt_span_data d;
    /* The hand-off line: the only fields the thread that releases a finished record (the
     * export thread) writes, kept in one cache line so that handing a record to another
     * core and back moves as little as possible. */
    _Alignas(DPT__CACHELINE) _Atomic uint32_t refs; /* references to the finished record
                                 (pipeline, store, snapshots); recycled at 0 */
    uint8_t state;            /* DPT__REC_* */
    dpt_tracestate *ts;       /* reference held by the record; NULL when empty */
    dpt__arena arena;
    /* Producer side. */
    _Alignas(DPT__CACHELINE) _Atomic uint64_t gen; /* even: free or ended; odd: live.
                                 Relaxed loads from stale handles only compare it. */
    uint16_t attr_cap;        /* capacity of d.attrs */
    uint16_t event_cap;
    uint16_t link_cap;
    dpt_tracer *tracer;
    struct dpt__span *next;   /* free lists */
    struct dpt__span *store_next_in_trace;
    dpt_attr attrs_inline[DPT__INLINE_ATTRS];
    _Alignas(16) char arena_inline[DPT__INLINE_ARENA];
} dpt__span;

/* Record pool (pool.c): per-thread magazines over a global depot. The fast paths (a
 * record from / to the thread's current magazine) are inline. */
#define DPT__MAG_SIZE 64
typedef struct dpt__mag {
    struct dpt__mag *next;
    uint32_t n;
    struct dpt__span *items[DPT__MAG_SIZE];
} dpt__mag;
typedef struct dpt__tcache {
    dpt__mag *cur;
    dpt__mag *prev;
    dpt__mag *def;   /* deferred releases of this thread, not yet handed to the depot */
    bool registered;
} dpt__tcache;
extern DPT__TLS dpt__tcache dpt__tc;
DPT__HIDDEN struct dpt__span *dpt__span_alloc_slow(void);
DPT__HIDDEN void dpt__span_recycle_slow(struct dpt__span *s);
static inline struct dpt__span *dpt__span_alloc(void)
{
    dpt__mag *m = dpt__tc.cur;
    if (DPT__LIKELY(m != NULL && m->n != 0)) return m->items[--m->n];
    return dpt__span_alloc_slow();
}
/* Recycles a record; the inline path is the one of a non-recording span (no arena, no
 * tracestate), the rest goes through dpt__span_recycle_slow. */
static inline void dpt__span_recycle(struct dpt__span *s);
/* Drops one reference to a finished record later, on the thread that next allocates
 * records (see pool.c); and hands the calling thread's pending ones to the depot. */
DPT__HIDDEN void dpt__span_release_deferred(dpt__span *s);
DPT__HIDDEN void dpt__span_release_deferred_flush(void);
/* Approximate bytes of a finished record (struct + overflow arena). */
DPT__HIDDEN size_t dpt__span_bytes(const dpt__span *s);
/* Arena allocation inside a record (16-byte aligned). NULL on ENOMEM or when the span's
 * byte budget is spent (then arena.over is set). The common case, room in the current
 * block, is inline; dpt__arena_alloc_slow takes new blocks. */
DPT__HIDDEN void *dpt__arena_alloc_slow(dpt__span *s, size_t n);
static inline void *dpt__arena_alloc(dpt__span *s, size_t n)
{
    dpt__arena *a = &s->arena;
    n = (n + 15) & ~(size_t)15;
    if (DPT__LIKELY((size_t)(a->end - a->cur) >= n && a->bytes + n <= a->budget)) {
        void *p = a->cur;
        a->cur += n;
        a->bytes += n;
        return p;
    }
    return dpt__arena_alloc_slow(s, n);
}
static inline char *dpt__arena_strdup(dpt__span *s, const char *p, size_t n)
{
    char *d = (char *)dpt__arena_alloc(s, n + 1);
    if (DPT__LIKELY(d != NULL)) {
        if (n) memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

static inline void dpt__span_recycle(dpt__span *s)
{
    dpt__mag *m = dpt__tc.cur;
    if (DPT__LIKELY(s->ts == NULL && s->arena.blocks == NULL && s->arena.cur == s->arena_inline &&
                    m != NULL && m->n < DPT__MAG_SIZE)) {
        s->state = DPT__REC_FREE;
        m->items[m->n++] = s;
        return;
    }
    dpt__span_recycle_slow(s);
}
DPT__HIDDEN void dpt__arena_reset(dpt__span *s);

/* ---- tracers and provider (provider.c) ------------------------------------------------ */
#define DPT__MAX_PROCESSORS 8

struct dpt_tracer {
    dpt_provider *provider;
    char *name;
    char *version;
    struct dpt_tracer *next;
};

struct dpt_processor {
    dpt_processor_ops ops;
    void *state;
};

struct dpt_exporter {
    dpt_exporter_ops ops;
    void *state;
};

struct dpt_provider {
    dpt_sampler *sampler;
    dpt_span_limits limits;
    dpt_attr *resource;       /* owned copies */
    size_t n_resource;
    char *resource_strings;   /* one block for all resource strings */
    dpt_processor *procs[DPT__MAX_PROCESSORS];
    _Atomic uint32_t n_procs;
    bool has_on_start;
    _Atomic bool shut_down;
    bool disabled;
    _Atomic bool abandoned_work; /* a processor gave up on a hung exporter at shutdown */
    pthread_mutex_t mu;       /* tracer list, add_processor, shutdown */
    dpt_tracer *tracers;
    uint64_t counters_id;     /* key of this provider's per-thread counter blocks */
};

static inline uint64_t dpt__provider_counters_id(const dpt_provider *p) { return p->counters_id; }

DPT__HIDDEN void dpt__provider_register_atexit(dpt_provider *p);
DPT__HIDDEN void dpt__provider_unregister_atexit(dpt_provider *p);

/* Finished-span hand-off to processors (provider.c). Takes the record's first reference. */
DPT__HIDDEN void dpt__provider_on_end(dpt_provider *p, dpt__span *s);

/* ---- samplers (sampler.c) --------------------------------------------------------------- */
enum {
    DPT__SAMPLER_ALWAYS_ON,
    DPT__SAMPLER_ALWAYS_OFF,
    DPT__SAMPLER_RATIO,
    DPT__SAMPLER_PROBABILITY,
    DPT__SAMPLER_PARENT,
    DPT__SAMPLER_CUSTOM,
    DPT__SAMPLER_RATE
};

struct dpt_sampler {
    int type;
    uint64_t bound;         /* RATIO: upper bound on 63 bits; PROBABILITY: threshold T */
    char th[32];            /* PROBABILITY: encoded threshold, "" for p = 0 */
    dpt_sampler *d[5];      /* PARENT: root, remote sampled/not, local sampled/not */
    dpt_sample_fn fn;       /* CUSTOM */
    void *user;
    void (*free_user)(void *);
    double per_second;      /* RATE */
    double tokens;
    uint64_t last_ns;
    pthread_mutex_t mu;     /* RATE: the bucket */
    char *desc;
};

/* The decision of the cases that need no call (always_on, always_off, and parent-based
 * whose chosen delegate is one of them): DPT_DROP or DPT_RECORD_AND_SAMPLE; -1 otherwise. */
static inline int dpt__sampler_fast(const dpt_sampler *s, const dpt_span_context *parent)
{
    if (s->type == DPT__SAMPLER_PARENT) {
        const dpt_sampler *d = s->d[0];
        if (parent) {
            bool sampled = parent->flags & DPT_FLAG_SAMPLED;
            d = parent->remote ? s->d[sampled ? 1 : 2] : s->d[sampled ? 3 : 4];
        }
        s = d;
    }
    if (s->type == DPT__SAMPLER_ALWAYS_ON) return DPT_RECORD_AND_SAMPLE;
    if (s->type == DPT__SAMPLER_ALWAYS_OFF) return DPT_DROP;
    return -1;
}

/* ---- tracestate (tracestate.c) ---------------------------------------------------------- */
struct dpt_tracestate {
    _Atomic uint32_t refs;
    uint32_t len;
    char str[]; /* serialized, NUL-terminated */
};
/* Validation of one key / value per the W3C grammar. */
DPT__HIDDEN bool dpt__tracestate_key_ok(const char *k, size_t n);
DPT__HIDDEN bool dpt__tracestate_value_ok(const char *v, size_t n);

/* ---- context (context.c) ---------------------------------------------------------------- */
struct dpt_context {
    _Atomic uint32_t refs;
    dpt_span_context sc;
    dpt_span span;            /* local span, or DPT_SPAN_NONE */
    dpt_tracestate *ts;
    dpt_baggage *bg;
};

/* The parent a new span resolves to: span context, tracestate and baggage, borrowed. */
typedef struct dpt__parent {
    dpt_span_context sc;
    const dpt_tracestate *ts;
    const dpt_baggage *bg;
    bool valid;
} dpt__parent;

DPT__HIDDEN void dpt__current_parent(dpt__parent *out);

/* Attribute copy into a record with limits (attr.c). Returns DPT_OK or why not. */
DPT__HIDDEN dpt_err dpt__attr_copy(dpt__span *s, dpt_attr *dst, const dpt_attr *src,
                                   uint32_t key_len, uint32_t value_len_limit);
DPT__HIDDEN uint32_t dpt__key_len(const dpt_attr *a);
DPT__HIDDEN bool dpt__attr_valid(const dpt_attr *a);
DPT__HIDDEN bool dpt__attr_valid_value(const dpt_value *v);
/* The key length of a valid attribute, 0 for an invalid one. */
DPT__HIDDEN uint32_t dpt__attr_check(const dpt_attr *a);

/* Redaction (redact.c): what to store instead of a value, if anything. text is the
 * marker or buf. */
typedef struct dpt__redact_result {
    int action; /* dpt_redact_action */
    const char *text;
    size_t len;
} dpt__redact_result;
DPT__HIDDEN dpt__redact_result dpt__redact(const char *key, size_t klen, const dpt_value *v,
                                           char *buf, size_t cap);

/* The per-thread verdict cache of redact.c, and its inline use: true when key is known
 * (same address, same bytes, same policy) not to match any pattern and the policy has no
 * custom rule, so the value is kept without calling into redact.c. */
#define DPT__VERDICT_SLOTS 64
#define DPT__VERDICT_KEY_MAX 48
typedef struct dpt__verdict {
    const char *ptr;
    const void *pol;
    uint32_t len;
    bool match;
    char copy[DPT__VERDICT_KEY_MAX];
} dpt__verdict;
extern DPT__TLS dpt__verdict dpt__tl_verdicts[DPT__VERDICT_SLOTS];
extern _Atomic(const void *) dpt__redact_plain;
static inline bool dpt__redact_known_keep(const char *key, size_t len)
{
    const void *p = atomic_load_explicit(&dpt__redact_plain, memory_order_acquire);
    if (!p || len > DPT__VERDICT_KEY_MAX) return false;
    uintptr_t a = (uintptr_t)key;
    const dpt__verdict *v = &dpt__tl_verdicts[(a ^ (a >> 6) ^ (a >> 12)) & (DPT__VERDICT_SLOTS - 1)];
    return v->ptr == key && v->len == len && v->pol == p && !v->match && memcmp(v->copy, key, len) == 0;
}

/* Objects deliberately never freed because a thread we gave up on may still use them
 * (a hung exporter): kept reachable from a global list, so they are not reported as leaks. */
DPT__HIDDEN void dpt__graveyard_add(void *p);

/* Resets per-thread state in a child after fork (ids, pools). */
DPT__HIDDEN void dpt__ids_atfork_child(void);

#endif /* DPT_INTERNAL_H */
