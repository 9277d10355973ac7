/* stress.c - two threads (by default for 10 s) doing random mixes of everything the API
 * offers, through one batch processor whose exporter fails and stalls at random and a
 * trace store at the same time; then the accounting invariant and the memory bound.
 *
 * Usage: dptrace_stress [seconds]   (or DPT_STRESS_SECONDS; DPT_STRESS_SEED fixes the seed)
 * Exit status 0 when every check held; the first failures are printed. What is checked:
 *   - during the run: return codes of every call against the documented set, stale handles
 *     (setters after end give DPT_ESTATE), the current span after nested scopes (early
 *     break included), parenting through attached contexts, out-of-order detach repair;
 *   - in the exporter: each span's fields (end >= start, lengths, limits, the byte budget),
 *     no secret set under a sensitive key ever reaches it, the OTLP/JSON encoding is valid
 *     UTF-8 even for invalid UTF-8 values;
 *   - at the end: ended == exported + dropped_queue + export_failed (one batch processor),
 *     the provider's exported/failed counts equal what the exporter saw, and peak RSS stayed
 *     under a bound computed from the configured queue, store and span budget.
 */
#define _GNU_SOURCE
#include <dptrace.h>
#include <dptrace/plugin.h>
#include <dptrace/export.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<dptrace/async.h>)
#include <dptrace/async.h>
#define STRESS_TASKS 1
#else
/* Without the async module there are no tasks to switch: that part is skipped. */
#define STRESS_TASKS 0
#endif

#define THREADS 2
#define QUEUE_SIZE 256 /* small enough that exporter stalls fill the ring and spans get staged */
#define BATCH_SIZE 128
#define STORE_SPANS 2000
#define STORE_BYTES (8u << 20)
#define SECRET "s3cr3t-7f3a9c" /* only ever set under sensitive keys */

/* ---- checks ------------------------------------------------------------------------------ */

static atomic_ulong failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (atomic_fetch_add(&failures, 1) < 20) {                                             \
                fprintf(stderr, "stress: FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* xorshift64*: per thread, seeded from the run seed, so a failing seed can be replayed
 * (thread interleavings differ, the operation mix does not). */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(rng *r, uint32_t n)
{
    return (uint32_t)(rnd(r) % n);
}

/* Whether s[0..n) is valid UTF-8 (what OTLP/JSON output must be). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else
            return false;
        if (i + k >= n) return false; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- the chaos exporter: fails and stalls at random, checks what it is given ------------- */

typedef struct chaos {
    rng r;
    dpt_encoder *enc;
    uint32_t max_span_bytes;
    /* Written by the export thread only; read by main after shutdown joined it. */
    uint64_t calls, fail_calls, slow_calls, ok_spans, failed_spans, encoded_bytes;
} chaos;

static bool has_secret(const dpt_attr *a, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const dpt_value *v = &a[i].value;
        if (v->type == DPT_VAL_STRING && v->u.s && memmem(v->u.s, v->len, SECRET, strlen(SECRET)))
            return true;
        if (v->type == DPT_VAL_STRING_ARRAY)
            for (uint32_t j = 0; j < v->len; j++)
                if (v->u.sa[j] && strstr(v->u.sa[j], SECRET)) return true;
    }
    return false;
}

/* Bytes of strings a span holds: what max_span_bytes bounds (names, values, events,
 * links). Fixed-size parts (ids, numbers) are not counted, so this is a lower bound. */
/* The string bytes of attribute values. Keys are not counted: a key the process has seen
 * before (interned, keys.c) is not copied into the span but shared from the process's key
 * table, which is bounded on its own, so DPTRACE_SPAN_MAX_BYTES ("bytes one span may hold
 * for names, values, events and links", dptrace.h) does not charge it. (Counting keys made
 * a span filled to its budget read 10 bytes over with seed 0x5fa56b0e4386.) */
static size_t attr_bytes(const dpt_attr *a, uint32_t n)
{
    size_t b = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (a[i].value.type == DPT_VAL_STRING) b += a[i].value.len;
        if (a[i].value.type == DPT_VAL_STRING_ARRAY)
            for (uint32_t j = 0; j < a[i].value.len; j++)
                b += strlen(a[i].value.u.sa[j]);
    }
    return b;
}

static void check_span(chaos *c, const dpt_span_data *d)
{
    CHECK(d->end_ns >= d->start_ns, "end %llu < start %llu", (unsigned long long)d->end_ns,
          (unsigned long long)d->start_ns);
    CHECK(d->name && strlen(d->name) == d->name_len, "name length %u", d->name_len);
    CHECK(dpt_span_context_is_valid(&d->ctx), "invalid span context");
    CHECK(d->n_attrs <= 128 && d->n_events <= 128 && d->n_links <= 128, "limits: %u %u %u",
          d->n_attrs, d->n_events, d->n_links);
    size_t bytes = d->name_len + attr_bytes(d->attrs, d->n_attrs);
    bool secret = has_secret(d->attrs, d->n_attrs);
    for (uint32_t i = 0; i < d->n_events; i++) {
        bytes += d->events[i].name_len + attr_bytes(d->events[i].attrs, d->events[i].n_attrs);
        secret |= has_secret(d->events[i].attrs, d->events[i].n_attrs);
    }
    for (uint32_t i = 0; i < d->n_links; i++) {
        bytes += attr_bytes(d->links[i].attrs, d->links[i].n_attrs);
        secret |= has_secret(d->links[i].attrs, d->links[i].n_attrs);
    }
    CHECK(bytes <= c->max_span_bytes, "span holds %zu string bytes, budget %u", bytes,
          c->max_span_bytes);
    CHECK(!secret, "a value set under a sensitive key reached the exporter (span %s)", d->name);
}

static dpt_err chaos_export(void *st, const dpt_span_data *const *spans, size_t n)
{
    chaos *c = st;
    c->calls++;
    for (size_t i = 0; i < n; i++)
        check_span(c, spans[i]);
    /* Every fourth batch goes through the OTLP/JSON encoder: invalid UTF-8 must come out
     * repaired. (Not every batch: encoding 8 MiB batches would dominate the run.) */
    if (c->enc && below(&c->r, 4) == 0) {
        const uint8_t *out = NULL;
        size_t len = 0;
        dpt_err e = dpt_encoder_encode(c->enc, spans, n, &out, &len);
        CHECK(e == DPT_OK, "encode: %s", dpt_strerror(e));
        if (e == DPT_OK) {
            CHECK(utf8_valid(out, len), "OTLP/JSON output is not valid UTF-8");
            c->encoded_bytes += len;
        }
    }
    uint32_t roll = below(&c->r, 100);
    if (roll < 15) { /* a failing collector */
        c->fail_calls++;
        c->failed_spans += n;
        return DPT_EEXPORT;
    }
    if (roll < 25) { /* a slow one: 1-30 ms, sometimes longer than a force_flush waits */
        c->slow_calls++;
        struct timespec ts = {0, (long)(1 + below(&c->r, 30)) * 1000000L};
        nanosleep(&ts, NULL);
    }
    c->ok_spans += n;
    return DPT_OK;
}

static void chaos_destroy(void *st)
{
    (void)st; /* main reads the counters after shutdown, then frees it */
}

/* ---- shared state -------------------------------------------------------------------------- */

/* Set up by main before the workers start, torn down after they are joined. */
static dpt_provider *g_prov;
static dpt_tracer *g_tracer;
static dpt_store *g_store;
static char *g_big; /* 256 KiB of 'x' and a NUL, read-only while the workers run */
#define BIG_LEN (256u << 10)
static atomic_bool g_stop;

/* Mailboxes through which the threads hand contexts and tasks to each other. A slot owns
 * one reference; mb_mu guards the slots. */
#define SLOTS 8
static pthread_mutex_t mb_mu = PTHREAD_MUTEX_INITIALIZER;
static void *mb_ctx[SLOTS];       /* dpt_context * */
static dpt_trace_id mb_trace[64]; /* recent trace ids, for store lookups */
static unsigned mb_trace_n;
#if STRESS_TASKS
static void *mb_task[SLOTS]; /* dpt_task * */
static void *mb_cont[SLOTS]; /* dpt_cont *, heap-allocated, waiting to run */
#endif

/* Puts v into slot i of box, taking the previous occupant out (returned to the caller). */
static void *mb_swap(void **box, unsigned i, void *v)
{
    pthread_mutex_lock(&mb_mu);
    void *old = box[i % SLOTS];
    box[i % SLOTS] = v;
    pthread_mutex_unlock(&mb_mu);
    return old;
}

static void note_trace(const dpt_trace_id *id)
{
    pthread_mutex_lock(&mb_mu);
    mb_trace[mb_trace_n++ % 64] = *id;
    pthread_mutex_unlock(&mb_mu);
}

/* ---- workers ------------------------------------------------------------------------------- */

typedef struct worker {
    int id;
    rng r;
    pthread_t th;
    dpt_span_context recent[8]; /* for links */
    uint64_t ops, spans, nested, attached, ooo_detach, tasks, task_busy, conts, flushes, flush_ok,
        flush_timeout, store_hits, huge, invalid_utf8, etoobig;
} worker;

static const char *sensitive_keys[] = {"user.password", "http.request.header.authorization",
                                       "db.api_key", "session.token", "http.request.header.cookie"};

/* Sets one random attribute on s and checks the return code against what the value is. */
static void random_attr(worker *w, dpt_span s)
{
    char key[32], val[64];
    snprintf(key, sizeof key, "k%u", below(&w->r, 40)); /* repeats: overwrite path */
    dpt_err e;
    switch (below(&w->r, 12)) {
    case 0: { /* huge: beyond the per-span byte budget, or eating most of it */
        size_t n = 1024 + below(&w->r, BIG_LEN - 1024);
        e = dpt_span_set_strn(s, "big", 3, g_big, n);
        w->huge++;
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "huge value: %s", dpt_strerror(e));
        break;
    }
    case 1: { /* invalid UTF-8, with NULs inside */
        char bad[48];
        for (size_t i = 0; i < sizeof bad; i++)
            bad[i] = (char)(0x80 + below(&w->r, 0x80));
        bad[below(&w->r, sizeof bad)] = 0;
        e = dpt_span_set_strn(s, key, strlen(key), bad, sizeof bad);
        w->invalid_utf8++;
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "invalid UTF-8: %s", dpt_strerror(e));
        break;
    }
    case 2: { /* a secret under a sensitive key: must be redacted before storage */
        e = dpt_span_set_str(s, sensitive_keys[below(&w->r, 5)], "Bearer " SECRET);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "sensitive: %s", dpt_strerror(e));
        break;
    }
    case 3:
        e = dpt_span_set_str(s, "", "empty key");
        CHECK(e == DPT_EINVAL, "empty key gave %s", dpt_strerror(e));
        break;
    case 4:
        e = dpt_span_set_double(s, key, below(&w->r, 2) ? NAN : INFINITY);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "double: %s", dpt_strerror(e));
        break;
    case 5: {
        int64_t ia[64];
        uint32_t n = below(&w->r, 64);
        for (uint32_t i = 0; i < n; i++)
            ia[i] = (int64_t)rnd(&w->r);
        dpt_attr a = DPT_INT_ARRAY(key, ia, n);
        e = dpt_span_set_attr(s, &a);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "int array: %s", dpt_strerror(e));
        break;
    }
    case 6: {
        const char *sa[3] = {"a", "\xff\xfe", SECRET};
        dpt_attr a = DPT_STR_ARRAY(sensitive_keys[0], sa, 3); /* redacted as a whole */
        e = dpt_span_set_attr(s, &a);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "string array: %s", dpt_strerror(e));
        break;
    }
    default:
        snprintf(val, sizeof val, "v%llu", (unsigned long long)rnd(&w->r));
        e = dpt_span_set_str(s, key, val);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "string: %s", dpt_strerror(e));
    }
    if (e == DPT_ETOOBIG) w->etoobig++;
}

static void random_event(worker *w, dpt_span s)
{
    dpt_attr a[3] = {DPT_INT("i", (int64_t)rnd(&w->r)), DPT_STR("db.api_key", SECRET),
                     DPT_STRN("blob", g_big, below(&w->r, 8192))};
    dpt_err e = dpt_span_add_event(s, below(&w->r, 2) ? "evt" : "", a, below(&w->r, 4));
    CHECK(e == DPT_OK || e == DPT_ETOOBIG, "event: %s", dpt_strerror(e));
}

/* A span with random attributes, events, links, status; then the stale-handle checks. */
static void op_span(worker *w)
{
    dpt_link links[3];
    dpt_attr la = DPT_STR("session.token", SECRET);
    size_t nl = below(&w->r, 4);
    for (size_t i = 0; i < nl; i++) {
        memset(&links[i], 0, sizeof links[i]);
        links[i].ctx = w->recent[below(&w->r, 8)];
        links[i].attrs = &la;
        links[i].n_attrs = below(&w->r, 2);
    }
    dpt_span_opts o = {0};
    o.root = below(&w->r, 4) == 0;
    o.links = links;
    o.n_links = nl;
    dpt_span s = dpt_span_start(g_tracer, "op", (dpt_span_kind)(1 + below(&w->r, 5)), &o);
    CHECK(dpt_span_is_recording(s), "always_on span not recording");
    for (uint32_t i = below(&w->r, 24); i; i--)
        random_attr(w, s);
    for (uint32_t i = below(&w->r, 6); i; i--)
        random_event(w, s);
    if (below(&w->r, 4) == 0) {
        dpt_link l = {0};
        l.ctx = w->recent[below(&w->r, 8)];
        dpt_err e = dpt_span_add_link(s, &l);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG || e == DPT_EINVAL, "link: %s", dpt_strerror(e));
    }
    switch (below(&w->r, 5)) {
    case 0:
        dpt_span_set_status(s, DPT_STATUS_ERROR, "boom");
        break;
    case 1:
        dpt_span_record_error(s, "E", "\xc3\x28 invalid");
        break;
    case 2:
        dpt_span_update_name(s, "renamed");
        break;
    default:
        break;
    }
    dpt_span_context sc = dpt_span_get_context(s);
    w->recent[below(&w->r, 8)] = sc;
    if (below(&w->r, 8) == 0) note_trace(&sc.trace_id);
    /* end_at in the past is clamped to the start */
    dpt_err e = below(&w->r, 8) ? dpt_span_end(s) : dpt_span_end_at(s, 1);
    CHECK(e == DPT_OK, "end: %s", dpt_strerror(e));
    CHECK(dpt_span_end(s) == DPT_ESTATE, "second end accepted");
    CHECK(dpt_span_set_int(s, "late", 1) == DPT_ESTATE, "setter after end accepted");
    CHECK(!dpt_span_is_recording(s), "ended span still recording");
    w->spans++;
}

static bool same_trace(const dpt_span_context *a, const dpt_span_context *b)
{
    return memcmp(&a->trace_id, &b->trace_id, sizeof a->trace_id) == 0;
}

static bool same_span(const dpt_span_context *a, const dpt_span_context *b)
{
    return same_trace(a, b) && memcmp(&a->span_id, &b->span_id, sizeof a->span_id) == 0;
}

/* Nested scoped spans, with early exits; the current span must be restored each time. */
static void op_nested(worker *w, int depth)
{
    dpt_span_context outer = dpt_span_context_current();
    DPT_WITH_SPAN(g_tracer, "nested", DPT_SPAN_INTERNAL)
    {
        dpt_span s = dpt_span_current();
        dpt_span_context sc = dpt_span_get_context(s);
        CHECK(dpt_span_is_recording(s), "scoped span not current");
        if (dpt_span_context_is_valid(&outer))
            CHECK(same_trace(&sc, &outer), "child of the current span in another trace");
        random_attr(w, s);
        if (depth > 0 && below(&w->r, 3)) op_nested(w, depth - 1);
        dpt_span_context again = dpt_span_context_current();
        CHECK(same_span(&again, &sc), "current span not restored after an inner scope");
        if (below(&w->r, 6) == 0) break; /* leaves the scope early: the span still ends */
        random_event(w, s);
    }
    dpt_span_context after = dpt_span_context_current();
    CHECK(same_span(&after, &outer), "current span not restored after a scope");
    w->nested++;
}

/* Capture a context (sometimes with baggage), swap it for one the other thread captured,
 * attach that, and check that spans started under it join its trace. */
static void op_context(worker *w)
{
    dpt_context *c = dpt_context_current();
    CHECK(c != NULL, "dpt_context_current returned NULL");
    if (c && below(&w->r, 2)) {
        dpt_baggage *b = NULL;
        dpt_err e =
            dpt_baggage_set(dpt_context_baggage(c), below(&w->r, 2) ? "tenant" : "db.password",
                            below(&w->r, 8) ? "acme" : g_big + BIG_LEN - 20000, NULL, &b);
        CHECK(e == DPT_OK || e == DPT_ETOOBIG, "baggage: %s", dpt_strerror(e));
        if (e == DPT_OK) {
            dpt_context *c2 = dpt_context_with_baggage(c, b);
            if (c2) {
                dpt_context_release(c);
                c = c2;
            }
        }
        dpt_baggage_release(b);
    }
    dpt_context *other = mb_swap(mb_ctx, below(&w->r, SLOTS), c);
    if (!other) return;
    dpt_span_context osc = dpt_context_span_context(other);
    dpt_token tok = dpt_context_attach(other);
    CHECK(tok != 0, "attach failed");
    const dpt_baggage *bg = dpt_baggage_current();
    CHECK(bg == dpt_context_baggage(other), "attached context's baggage not current");
    dpt_span s = dpt_span_start(g_tracer, "under-attached", DPT_SPAN_CONSUMER, NULL);
    dpt_span_context sc = dpt_span_get_context(s);
    if (dpt_span_context_is_valid(&osc)) CHECK(same_trace(&sc, &osc), "parent context ignored");
    if (below(&w->r, 4) == 0) {
        /* Out-of-order detach: detaching the outer token pops the inner attach too. */
        dpt_token inner = dpt_span_make_current(s);
        CHECK(inner != 0, "make_current failed");
        CHECK(dpt_context_detach(tok) == DPT_ESTATE, "out-of-order detach not reported");
        CHECK(dpt_context_detach(inner) == DPT_EINVAL, "a repaired token still detaches");
        w->ooo_detach++;
    } else {
        CHECK(dpt_context_detach(tok) == DPT_OK, "detach failed");
    }
    dpt_span_end(s);
    dpt_context_release(other);
    w->attached++;
}

#if STRESS_TASKS
static void cont_body(void *arg)
{
    worker *w = arg;
    dpt_span s = dpt_task_span_start(g_tracer, "in-cont", DPT_SPAN_INTERNAL, NULL);
    random_attr(w, s);
    dpt_span_end(s);
}

/* Task switches: start a task, work inside it, leave it with a continuation pending, and
 * hand task and continuation to whichever thread takes them; sometimes leave the root span
 * open for the task's end to close. */
static void op_task(worker *w)
{
    dpt_span root = DPT_SPAN_NONE;
    dpt_task *tk = dpt_task_start(g_tracer, "task", DPT_SPAN_SERVER, NULL, &root);
    CHECK(tk != NULL, "dpt_task_start failed");
    if (!tk) return;
    dpt_span_context before = dpt_span_context_current();
    CHECK(dpt_task_enter(tk) == DPT_OK, "enter of a fresh task failed");
    dpt_span_context inside = dpt_span_context_current();
    dpt_span_context rc = dpt_span_get_context(root);
    CHECK(same_span(&inside, &rc), "task root span not current inside the task");
    op_nested(w, 2);
    dpt_cont *c = calloc(1, sizeof *c);
    if (c) dpt_cont_start(c, g_tracer, "cont", DPT_SPAN_CLIENT, NULL);
    CHECK(dpt_task_leave(tk) == DPT_OK, "leave failed");
    dpt_span_context back = dpt_span_context_current();
    CHECK(same_span(&back, &before), "context not restored by leave");
    if (below(&w->r, 2)) dpt_span_end(root);
    /* Hand over the continuation and the task; run/end what the other thread left. */
    dpt_cont *oc = c ? mb_swap(mb_cont, below(&w->r, SLOTS), c) : NULL;
    if (oc) {
        dpt_cont_run(oc, cont_body, w);
        free(oc);
        w->conts++;
    }
    dpt_task *ot = mb_swap(mb_task, below(&w->r, SLOTS), tk);
    if (ot) {
        dpt_err e = dpt_task_enter(ot);
        /* EBUSY: a continuation of it runs on the other thread right now; ESTATE: ended. */
        CHECK(e == DPT_OK || e == DPT_EBUSY || e == DPT_ESTATE, "enter: %s", dpt_strerror(e));
        if (e == DPT_OK) {
            dpt_span s = dpt_task_span_start(g_tracer, "switched", DPT_SPAN_INTERNAL, NULL);
            random_attr(w, s);
            if (below(&w->r, 2)) dpt_span_end(s); /* else the task's end closes it */
            if (below(&w->r, 3) == 0) {
                e = dpt_task_end(ot);
                CHECK(e == DPT_OK || e == DPT_ESTATE, "task end: %s", dpt_strerror(e));
            }
            CHECK(dpt_task_leave(ot) == DPT_OK, "leave of a switched task failed");
        } else if (e == DPT_EBUSY) {
            w->task_busy++;
        }
        dpt_task_release(ot); /* the last reference ends it */
    }
    w->tasks++;
}
#endif

static void op_flush(worker *w)
{
    dpt_err e = dpt_provider_force_flush(g_prov, 1 + below(&w->r, 20));
    CHECK(e == DPT_OK || e == DPT_ETIMEDOUT || e == DPT_EEXPORT, "flush: %s", dpt_strerror(e));
    w->flushes++;
    if (e == DPT_OK) w->flush_ok++;
    if (e == DPT_ETIMEDOUT) w->flush_timeout++;
}

static void op_store(worker *w)
{
    dpt_trace_id id;
    pthread_mutex_lock(&mb_mu);
    bool have = mb_trace_n > 0;
    if (have) id = mb_trace[below(&w->r, mb_trace_n < 64 ? mb_trace_n : 64)];
    pthread_mutex_unlock(&mb_mu);
    if (!have) return;
    dpt_trace_snapshot *snap = NULL;
    dpt_err e = dpt_store_get_trace(g_store, &id, &snap);
    CHECK(e == DPT_OK || e == DPT_ENOTFOUND, "store get: %s", dpt_strerror(e));
    if (e != DPT_OK) return;
    size_t n = dpt_trace_snapshot_count(snap);
    CHECK(n > 0, "empty snapshot");
    for (size_t i = 0; i < n; i++) {
        const dpt_span_data *d = dpt_trace_snapshot_span(snap, i);
        CHECK(d && memcmp(&d->ctx.trace_id, &id, sizeof id) == 0, "snapshot span of another trace");
    }
    char *json = NULL;
    size_t len = 0;
    e = dpt_trace_snapshot_to_json(snap, &json, &len);
    CHECK(e == DPT_OK && json && utf8_valid((const unsigned char *)json, len), "snapshot JSON: %s",
          dpt_strerror(e));
    dpt_free(json);
    dpt_trace_snapshot_free(snap);
    w->store_hits++;
}

static void *work(void *arg)
{
    worker *w = arg;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        uint32_t op = below(&w->r, 100);
        if (op < 45)
            op_span(w);
        else if (op < 65)
            op_nested(w, (int)below(&w->r, 8));
        else if (op < 80)
            op_context(w);
#if STRESS_TASKS
        else if (op < 92)
            op_task(w);
#endif
        else if (op < 98)
            op_store(w);
        else
            op_flush(w);
        w->ops++;
    }
    /* Nothing may stay current on this thread after its operations. */
    dpt_span_context left = dpt_span_context_current();
    CHECK(!dpt_span_context_is_valid(&left), "a span stayed current on the worker");
    return NULL;
}

/* ---- main ---------------------------------------------------------------------------------- */

static atomic_ulong log_warn, log_error;

static void count_log(dpt_log_level lvl, const char *msg, void *user)
{
    (void)msg;
    (void)user;
    if (lvl >= DPT_LOG_ERROR)
        atomic_fetch_add(&log_error, 1);
    else
        atomic_fetch_add(&log_warn, 1);
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *env = getenv("DPT_STRESS_SECONDS");
    double secs = argc > 1 ? atof(argv[1]) : env ? atof(env) : 10.0;
    if (!(secs > 0)) secs = 10.0;
    const char *seed_env = getenv("DPT_STRESS_SEED");
    uint64_t seed =
        seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    if (!seed) seed = 1;
    dpt_log_set_handler(count_log, NULL, DPT_LOG_WARN);

    g_big = malloc(BIG_LEN + 1);
    if (!g_big) return 2;
    memset(g_big, 'x', BIG_LEN);
    g_big[BIG_LEN] = '\0'; /* op_context passes its tail as a C string */

    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    static const dpt_exporter_ops ops = {chaos_export, NULL, NULL, chaos_destroy};
    chaos *cx = calloc(1, sizeof *cx);
    if (!cx) return 2;
    cx->r.s = seed ^ 0x9E3779B97F4A7C15ULL;
    cx->enc = dpt_encoder_new(DPT_FORMAT_OTLP_JSON);
    cx->max_span_bytes = lim.max_span_bytes;
    /* Export timeout well above the longest stall: the batch processor never gives up on
     * a call, so every span it hands over is either exported or failed. */
    /* The default byte budget: when the ring is full, spans are staged (kept compactly),
     * the path where a record is shared with the store (0 here left it untried). */
    dpt_batch_config bc = {QUEUE_SIZE, BATCH_SIZE, 5, 5000, DPT_BATCH_DEFAULT_QUEUE_BYTES};
    dpt_store_config sc = {STORE_SPANS, STORE_BYTES};
    g_store = dpt_store_new(&sc);
    dpt_processor *procs[2] = {dpt_processor_batch(dpt_exporter_new(&ops, cx), &bc),
                               dpt_processor_store(g_store)};
    if (!g_store || !procs[0] || !procs[1]) {
        fprintf(stderr, "stress: set-up failed\n");
        return 2;
    }
    dpt_provider_config pc = {0};
    pc.service_name = "stress";
    pc.sampler = dpt_sampler_always_on(); /* every recording span is sampled: the batch
                                             processor sees each ended span */
    pc.limits = &lim;
    pc.processors = procs;
    pc.n_processors = 2;
    if (!((g_prov = dpt_provider_new(&pc)))) return 2;
    g_tracer = dpt_provider_get_tracer(g_prov, "stress", "1");

    long rss_start = peak_rss_kib();
    double t0 = now_s();
    worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        w[i].id = i;
        w[i].r.s = seed + 0x1000193ULL * (uint64_t)(i + 1);
        if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0) return 2;
    }
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&g_stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].th, NULL);
    double ran = now_s() - t0;

    /* Whatever the mailboxes still hold is released (tasks end, continuations finish). */
    for (int i = 0; i < SLOTS; i++) {
        dpt_context_release(mb_ctx[i]);
#if STRESS_TASKS
        if (mb_cont[i]) {
            dpt_cont_finish(mb_cont[i]);
            free(mb_cont[i]);
        }
        dpt_task_release(mb_task[i]);
#endif
    }

    dpt_err se = dpt_provider_shutdown(g_prov, 30000);
    CHECK(se == DPT_OK, "shutdown: %s", dpt_strerror(se));
    dpt_stats st;
    dpt_provider_get_stats(g_prov, &st);
    dpt_store_stats ss;
    dpt_store_get_stats(g_store, &ss);

    uint64_t out = st.spans_exported + st.spans_dropped_queue + st.spans_export_failed;
    CHECK(st.spans_ended == out,
          "accounting: ended %llu != exported %llu + dropped_queue %llu + export_failed %llu",
          (unsigned long long)st.spans_ended, (unsigned long long)st.spans_exported,
          (unsigned long long)st.spans_dropped_queue, (unsigned long long)st.spans_export_failed);
    CHECK(st.spans_exported == cx->ok_spans, "exported %llu, the exporter accepted %llu",
          (unsigned long long)st.spans_exported, (unsigned long long)cx->ok_spans);
    CHECK(st.spans_export_failed == cx->failed_spans,
          "export_failed %llu, the exporter failed %llu",
          (unsigned long long)st.spans_export_failed, (unsigned long long)cx->failed_spans);
    CHECK(st.spans_started == st.spans_ended, "started %llu, ended %llu: spans left open",
          (unsigned long long)st.spans_started, (unsigned long long)st.spans_ended);
    CHECK(ss.spans <= STORE_SPANS && ss.bytes <= STORE_BYTES,
          "store over its bounds: %llu spans, %llu bytes", (unsigned long long)ss.spans,
          (unsigned long long)ss.bytes);

    /* Memory bound: the queue full of spans at the byte budget, its staged copies (up to
     * max_queue_bytes), the store at its bound, the
     * open spans of both threads (depth <= 12 each), and 64 MiB for the allocator, the
     * stacks, the test's own buffers and encoder output. Sanitizer shadow memory makes RSS
     * meaningless there, so the bound is only checked in plain builds. */
    long peak = peak_rss_kib();
    long bound =
        rss_start +
        (long)(((uint64_t)QUEUE_SIZE * lim.max_span_bytes + STORE_BYTES +
                DPT_BATCH_DEFAULT_QUEUE_BYTES + (uint64_t)THREADS * 12 * lim.max_span_bytes) >>
               10) +
        (64L << 10);
#ifndef DPT_UNDER_SANITIZER
    CHECK(peak <= bound, "peak RSS %ld KiB over the bound %ld KiB", peak, bound);
#endif

    worker t = {0};
    for (int i = 0; i < THREADS; i++) {
        t.ops += w[i].ops;
        t.spans += w[i].spans;
        t.nested += w[i].nested;
        t.attached += w[i].attached;
        t.ooo_detach += w[i].ooo_detach;
        t.tasks += w[i].tasks;
        t.task_busy += w[i].task_busy;
        t.conts += w[i].conts;
        t.flushes += w[i].flushes;
        t.flush_ok += w[i].flush_ok;
        t.flush_timeout += w[i].flush_timeout;
        t.store_hits += w[i].store_hits;
        t.huge += w[i].huge;
        t.invalid_utf8 += w[i].invalid_utf8;
        t.etoobig += w[i].etoobig;
    }
    printf("stress: %.1f s, %d threads, seed 0x%llx\n", ran, THREADS, (unsigned long long)seed);
    printf("stress: operations %llu: spans %llu, nested scopes %llu, attaches %llu (out-of-order "
           "%llu), "
           "tasks %llu (enter busy %llu), continuations %llu, store reads %llu, flushes %llu (ok "
           "%llu, "
           "timed out %llu)\n",
           (unsigned long long)t.ops, (unsigned long long)t.spans, (unsigned long long)t.nested,
           (unsigned long long)t.attached, (unsigned long long)t.ooo_detach,
           (unsigned long long)t.tasks, (unsigned long long)t.task_busy,
           (unsigned long long)t.conts, (unsigned long long)t.store_hits,
           (unsigned long long)t.flushes, (unsigned long long)t.flush_ok,
           (unsigned long long)t.flush_timeout);
    printf("stress: values huge %llu, invalid UTF-8 %llu, refused by the byte budget %llu\n",
           (unsigned long long)t.huge, (unsigned long long)t.invalid_utf8,
           (unsigned long long)t.etoobig);
    printf("stress: spans started %llu, ended %llu = exported %llu + dropped_queue %llu + "
           "export_failed "
           "%llu; ended by task %llu; store evicted %llu, holds %llu; attrs dropped %llu, events "
           "dropped %llu\n",
           (unsigned long long)st.spans_started, (unsigned long long)st.spans_ended,
           (unsigned long long)st.spans_exported, (unsigned long long)st.spans_dropped_queue,
           (unsigned long long)st.spans_export_failed, (unsigned long long)st.spans_ended_by_task,
           (unsigned long long)ss.evicted_spans, (unsigned long long)ss.spans,
           (unsigned long long)st.attrs_dropped, (unsigned long long)st.events_dropped);
    printf("stress: exporter calls %llu (failed %llu, slow %llu), OTLP/JSON encoded %.1f MiB; "
           "log warnings %lu, errors %lu\n",
           (unsigned long long)cx->calls, (unsigned long long)cx->fail_calls,
           (unsigned long long)cx->slow_calls, (double)cx->encoded_bytes / (1 << 20),
           atomic_load(&log_warn), atomic_load(&log_error));
    printf("stress: peak RSS %.1f MiB (bound %.1f MiB%s)\n", (double)peak / 1024,
           (double)bound / 1024,
#ifdef DPT_UNDER_SANITIZER
           ", not checked under a sanitizer"
#else
           ""
#endif
    );

    dpt_provider_free(g_prov);
    dpt_store_free(g_store);
    dpt_encoder_free(cx->enc);
    free(cx);
    free(g_big);
    unsigned long f = atomic_load(&failures);
    printf("stress: %s (%lu failed checks)\n", f ? "FAILED" : "passed", f);
    return f ? 1 : 0;
}
