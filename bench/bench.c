/* bench.c - dptrace benchmarks: `dptrace_bench [--json] [--ops N] [--repeats R] [SCENARIO...]`.
 *
 * One line per scenario, "name ns_per_op [min-max]", the median of repeats after a warm-up;
 * batch scenarios add the spans ended, exported and dropped while they ran. Two floors are
 * written here without the library, so that every dptrace figure is read as a ratio to
 * them measured in the same run on the same machine: `floor` (two clock reads, ids,
 * copying the name and two attributes into a record, pushing it to a ring) and
 * `floor_handoff` (the same, plus handing each record to a consumer thread that reads it:
 * what any asynchronous export pays, the record crossing cores). Multi-thread scenarios
 * time only the work: threads are started before the clock and wait on a barrier, and each
 * times itself. `floor_ilp` (register-only work) shows how much of a core the host gave
 * during a run; `span_sampled_batch_2threads_paired` measures two producers against one in
 * back-to-back triples on two pinned workers, beside the floors (docs/BENCHMARKS.md).
 * Scenario names may be shell patterns (`'span_*'`); span scenarios bring the floors.
 */
#define _GNU_SOURCE
#include <dptrace.h>
#include <dptrace/plugin.h>
#include "core.h"
#include "processor.h"
#include "bench.h"

#include <dirent.h>
#include <fnmatch.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/* ---- options, filter, measuring and reporting -------------------------------------------- */

static struct {
    bool json;
    int repeats;
    long ops;
    char **names;
    int n_names;
    int n_reported;        /* JSON: a comma before every object but the first */
    uint32_t queue_size;   /* batch scenarios: max_queue_size (0: the default) */
    long long queue_bytes; /* batch scenarios: max_queue_bytes (-1: the default) */
} opt = {false, 7, 1000000, NULL, 0, 0, 0, -1};

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool bench_wanted(const char *name)
{
    if (!opt.n_names) return true;
    for (int i = 0; i < opt.n_names; i++)
        if (fnmatch(opt.names[i], name, 0) == 0) return true;
    return false;
}

long bench_ops(double scale)
{
    long n = (long)((double)opt.ops * scale);
    return n < 1000 ? 1000 : n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bench_stat stat_of(double *r, int n, long ops)
{
    qsort(r, (size_t)n, sizeof *r, cmp_double);
    bench_stat s = {r[n / 2], r[0], r[n - 1], ops};
    return s;
}

bench_stat bench_measure(void (*fn)(long), long n)
{
    double r[64];
    int reps = opt.repeats;
    fn(n / 4);
    for (int i = 0; i < reps; i++) {
        uint64_t t0 = bench_now_ns();
        fn(n);
        r[i] = (double)(bench_now_ns() - t0) / (double)n;
    }
    return stat_of(r, reps, n);
}

/* Spans counted by a batch scenario, printed beside its time. */
typedef struct counts {
    bool set;
    uint64_t ended, exported, dropped, failed;
    double export_cpu_ns; /* CPU time of the export thread per span ended (-1: unknown) */
} counts;

/* CPU time (ns) the process's export threads ("dpt-export") have run so far, from
 * /proc/self/task/<tid>/schedstat; -1 when it cannot be read. The export thread's share
 * of the work is what two producers on two cores compete with. */
static double export_threads_cpu_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    double total = 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[320], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "dpt-export", 10) != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        f = fopen(path, "r");
        if (!f) continue;
        unsigned long long ns = 0;
        if (fscanf(f, "%llu", &ns) == 1) total += (double)ns, found++;
        fclose(f);
    }
    closedir(d);
    return found ? total : -1;
}

static void report_full(const char *name, bench_stat s, const counts *c)
{
    if (opt.json) {
        printf("%s\n    {\"name\": \"%s\", \"ns_per_op\": %.2f, \"min\": %.2f, \"max\": %.2f, "
               "\"ops\": %ld, \"repeats\": %d",
               opt.n_reported++ ? "," : "", name, s.med, s.lo, s.hi, s.ops, opt.repeats);
        if (c && c->set) {
            printf(", \"ended\": %llu, \"exported\": %llu, \"dropped\": %llu, \"failed\": %llu",
                   (unsigned long long)c->ended, (unsigned long long)c->exported,
                   (unsigned long long)c->dropped, (unsigned long long)c->failed);
            if (c->export_cpu_ns >= 0)
                printf(", \"export_cpu_ns_per_span\": %.2f", c->export_cpu_ns);
        }
        printf("}");
    } else {
        printf("%-30s %8.1f  [%.1f-%.1f]", name, s.med, s.lo, s.hi);
        if (c && c->set)
            printf("  ended=%llu exported=%llu dropped=%llu (%.3f %%)%s",
                   (unsigned long long)c->ended, (unsigned long long)c->exported,
                   (unsigned long long)c->dropped,
                   c->ended ? 100.0 * (double)c->dropped / (double)c->ended : 0.0,
                   c->failed ? " FAILED>0" : "");
        if (c && c->set && c->export_cpu_ns >= 0)
            printf(" export_cpu=%.1f ns/span", c->export_cpu_ns);
        printf("\n");
    }
    fflush(stdout);
}

void bench_report(const char *name, bench_stat s)
{
    report_full(name, s, NULL);
}

void bench_report_value(const char *name, double v, const char *unit)
{
    if (opt.json)
        printf("%s\n    {\"name\": \"%s\", \"value\": %.4f, \"unit\": \"%s\"}",
               opt.n_reported++ ? "," : "", name, v, unit);
    else
        printf("%-30s %8.3f  %s\n", name, v, unit);
    fflush(stdout);
}

/* ---- the floors --------------------------------------------------------------------------- */

typedef struct floor_attr {
    char key[32];
    uint8_t type;
    union {
        char s[32];
        int64_t i;
    } v;
} floor_attr;

typedef struct floor_rec {
    uint8_t trace_id[16], span_id[8], parent[8];
    uint64_t start, end;
    char name[32];
    floor_attr attrs[2];
} floor_rec;

#define FLOOR_N 4096
static floor_rec floor_ring[FLOOR_N];
static floor_rec *volatile floor_slot[FLOOR_N];
static uint64_t floor_rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The floor's clock: the cheapest read the machine has, a raw TSC read on x86-64 (not even
 * scaled to nanoseconds), as the library's span clock reads the TSC where it may; a vDSO
 * CLOCK_REALTIME read elsewhere. */
static inline uint64_t wall(void)
{
#if defined(__x86_64__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

/* The minimum work of a sampled span, into record r (rng: the generator's state). */
static inline void floor_fill(floor_rec *r, uint64_t *rng)
{
    uint64_t a = xorshift(rng), b = xorshift(rng), c = xorshift(rng);
    memcpy(r->trace_id, &a, 8);
    memcpy(r->trace_id + 8, &b, 8);
    memcpy(r->span_id, &c, 8);
    r->start = wall();
    strcpy(r->name, "GET /orders/{id}");
    strcpy(r->attrs[0].key, "http.request.method");
    r->attrs[0].type = 1;
    strcpy(r->attrs[0].v.s, "GET");
    strcpy(r->attrs[1].key, "http.response.status_code");
    r->attrs[1].type = 2;
    r->attrs[1].v.i = 200;
    r->end = wall();
}

static void run_floor(long n)
{
    for (long i = 0; i < n; i++) {
        floor_rec *r = &floor_ring[i & (FLOOR_N - 1)];
        floor_fill(r, &floor_rng);
        floor_slot[i & (FLOOR_N - 1)] = r; /* the "push" */
    }
}

/* floor_2threads: the floor on two threads at once, each with its own ring and generator
 * (thread-local), against floor_1thread, the same on one thread started the same way
 * (mt_measure): the scaling this machine gives two threads that share nothing, which bounds
 * what span_sampled_batch_2threads can reach. */
static _Thread_local floor_rec tl_ring[FLOOR_N];
static _Thread_local floor_rec *volatile tl_slot[FLOOR_N];

static void run_floor_tl(long n)
{
    uint64_t rng = floor_rng; /* this thread's own generator */
    for (long i = 0; i < n; i++) {
        floor_rec *r = &tl_ring[i & (FLOOR_N - 1)];
        floor_fill(r, &rng);
        tl_slot[i & (FLOOR_N - 1)] = r;
    }
}

/* floor_ilp: eight multiply-add chains and no memory: what code bound by the core's
 * throughput (as a span's start and end are) gets from this CPU. `floor` cannot show it:
 * its clock reads are bound by latency, which a busy neighbour does not lengthen. On a VM
 * the host may give part of a core's issue slots to another guest (an SMT sibling) for
 * seconds at a time: on the 2-vCPU guest of docs/BENCHMARKS.md this floor reads 1.6-1.7 ns
 * per iteration in quiet periods and 2.3-3.3 in busy ones, in which a sampled span costs
 * 60-68 ns instead of 35-38 with nothing changed in dptrace. Its spread [min-max] says
 * whether a run had such periods. */
static volatile uint64_t ilp_sink;

static void run_floor_ilp(long n)
{
    uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8;
    for (long i = 0; i < n; i++) {
        a = a * 3 + b;
        b = b * 5 + c;
        c = c * 7 + d;
        d = d * 9 + e;
        e = e * 11 + f;
        f = f * 13 + g;
        g = g * 15 + h;
        h = h * 17 + a;
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    }
    ilp_sink = a ^ b ^ c ^ d ^ e ^ f ^ g ^ h;
}

/* floor_handoff: a plain single-producer/single-consumer ring of records. The producer
 * fills the record in its ring slot and publishes it (one release store per record); the
 * consumer reads every word of it and gives the slots back in bulk. A producer that finds
 * the ring full waits: the floor loses nothing. */
static struct {
    _Alignas(64) _Atomic uint64_t head; /* written by the producer */
    _Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
    _Atomic bool stop;
    uint64_t sum;                     /* what the consumer read, so it is not optimized out */
    _Alignas(64) uint64_t tail_cache; /* producer's copy of tail */
    uint64_t waits;
} ho;

static void *handoff_consumer(void *arg)
{
    (void)arg;
    uint64_t t = atomic_load_explicit(&ho.tail, memory_order_relaxed), sum = 0;
    for (;;) {
        /* Acquire: pairs with the producer's release; the records below head are complete. */
        uint64_t h = atomic_load_explicit(&ho.head, memory_order_acquire);
        if (h == t) {
            if (atomic_load_explicit(&ho.stop, memory_order_relaxed)) break;
            __builtin_ia32_pause();
            continue;
        }
        for (; t < h; t++) {
            const uint64_t *w = (const uint64_t *)&floor_ring[t & (FLOOR_N - 1)];
            for (size_t k = 0; k < sizeof(floor_rec) / 8; k++)
                sum += w[k];
        }
        /* Release: the producer may overwrite these slots once it sees the new tail. */
        atomic_store_explicit(&ho.tail, t, memory_order_release);
    }
    ho.sum = sum;
    return NULL;
}

static void run_floor_handoff(long n)
{
    uint64_t h = atomic_load_explicit(&ho.head, memory_order_relaxed);
    for (long i = 0; i < n; i++, h++) {
        if (h - ho.tail_cache >= FLOOR_N) {
            ho.waits++;
            int spins = 0;
            while (h - (ho.tail_cache = atomic_load_explicit(&ho.tail, memory_order_acquire)) >=
                   FLOOR_N)
                if (++spins % 1024 == 0)
                    sched_yield(); /* a descheduled consumer */
                else
                    __builtin_ia32_pause();
        }
        floor_fill(&floor_ring[h & (FLOOR_N - 1)], &floor_rng);
        atomic_store_explicit(&ho.head, h + 1, memory_order_release);
    }
}

/* ---- dptrace scenarios -------------------------------------------------------------------- */

static dpt_err discard_export(void *st, const dpt_span_data *const *s, size_t n)
{
    (void)st;
    (void)s;
    (void)n;
    return DPT_OK;
}
static const dpt_exporter_ops discard_ops = {discard_export, NULL, NULL, NULL};

static dpt_tracer *bench_tracer;
static dpt_processor *bench_proc; /* the provider's processor, for the hiccup scenario */
/* The discarding exporter never blocks, and says so (dpt_exporter_set_nonblocking:
 * producers_export): a producer that backs up exports its own spans. The *_thread_export
 * and hiccup scenarios leave it unsaid, as a network or file exporter does: the export
 * thread alone exports. */
static dpt_provider *make_provider(dpt_sampler *s, bool batch, bool producers_export)
{
    dpt_exporter *e = dpt_exporter_new(&discard_ops, NULL);
    dpt_exporter_set_nonblocking(e, producers_export);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    if (opt.queue_size) bc.max_queue_size = opt.queue_size;
    if (opt.queue_bytes >= 0) bc.max_queue_bytes = (uint64_t)opt.queue_bytes;
    dpt_processor *proc = batch ? dpt_processor_batch(e, &bc) : dpt_processor_simple(e);
    bench_proc = proc;
    dpt_provider_config cfg = {
        .service_name = "bench", .sampler = s, .processors = &proc, .n_processors = 1};
    dpt_provider *p = dpt_provider_new(&cfg);
    if (!p) {
        fprintf(stderr, "provider failed\n");
        exit(1);
    }
    bench_tracer = dpt_provider_get_tracer(p, "bench", "1");
    return p;
}

/* The sampled span every span scenario times: a name, two attributes. */
static inline void span_loop(dpt_tracer *t, long n)
{
    for (long i = 0; i < n; i++) {
        dpt_span s = dpt_span_start(t, "GET /orders/{id}", DPT_SPAN_SERVER, NULL);
        dpt_span_set_str(s, "http.request.method", "GET");
        dpt_span_set_int(s, "http.response.status_code", 200);
        dpt_span_end(s);
    }
}

static void run_span(long n)
{
    span_loop(bench_tracer, n);
}

static void run_span_bare(long n)
{
    for (long i = 0; i < n; i++)
        dpt_span_end(dpt_span_start(bench_tracer, "GET /orders/{id}", DPT_SPAN_SERVER, NULL));
}

/* Per span: n counts spans, a parent and its child are two. */
static void run_nested(long n)
{
    for (long i = 0; i < n; i += 2) {
        DPT_WITH_SPAN(bench_tracer, "parent", DPT_SPAN_SERVER)
        {
            dpt_span_set_str(dpt_span_current(), "http.request.method", "GET");
            DPT_WITH_SPAN(bench_tracer, "child", DPT_SPAN_INTERNAL)
            {
                dpt_span_set_int(dpt_span_current(), "n", i);
            }
        }
    }
}

static counts stats_delta(const dpt_stats *a, const dpt_stats *b, double cpu_a, double cpu_b)
{
    counts c = {true,
                b->spans_ended - a->spans_ended,
                b->spans_exported - a->spans_exported,
                b->spans_dropped_queue - a->spans_dropped_queue,
                b->spans_export_failed - a->spans_export_failed,
                -1};
    if (cpu_a >= 0 && cpu_b >= 0 && c.ended) c.export_cpu_ns = (cpu_b - cpu_a) / (double)c.ended;
    return c;
}

/* Threads of a multi-thread scenario: started before the clock, released together by a
 * barrier; each reads the clock itself when released and when done, and the run lasts
 * from the first start to the last end. (The main thread read it once: on two CPUs both
 * busy with workers it got a CPU back only at the scheduler's next tick, milliseconds
 * late, and a short run came out several times too fast.) */
typedef struct mt_run {
    pthread_barrier_t go;
    void (*fn)(long);
    long per_thread;
    const int *pin; /* thread i runs on CPU pin[i] (NULL: where the scheduler puts it) */
    _Atomic int next;
    uint64_t start[16], end[16];
} mt_run;

static void pin_self(int cpu)
{
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CPU_SET(cpu, &cs);
    pthread_setaffinity_np(pthread_self(), sizeof cs, &cs);
}

static void *mt_worker(void *arg)
{
    mt_run *m = arg;
    int i = atomic_fetch_add(&m->next, 1);
    if (m->pin) pin_self(m->pin[i]);
    pthread_barrier_wait(&m->go);
    m->start[i] = bench_now_ns();
    m->fn(m->per_thread);
    m->end[i] = bench_now_ns();
    return NULL;
}

/* ns per operation of the total throughput of `threads` (at most 16) threads running
 * fn(per_thread); pin: NULL, or the CPU of each thread. */
static double mt_once(void (*fn)(long), int threads, long per_thread, const int *pin)
{
    mt_run m = {.fn = fn, .per_thread = per_thread, .pin = pin};
    pthread_t th[16];
    pthread_barrier_init(&m.go, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, mt_worker, &m);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&m.go);
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (int i = 0; i < threads; i++) {
        if (m.start[i] < t0) t0 = m.start[i];
        if (m.end[i] > t1) t1 = m.end[i];
    }
    return (double)(t1 - t0) / (double)(threads * per_thread);
}

static bench_stat mt_measure(void (*fn)(long), int threads, long total)
{
    double r[64];
    long per = total / threads;
    mt_once(fn, threads, per / 4, NULL);
    for (int i = 0; i < opt.repeats; i++)
        r[i] = mt_once(fn, threads, per, NULL);
    return stat_of(r, opt.repeats, per * threads);
}

/* A batch scenario: the default batch processor (production settings) with a discarding
 * exporter; ended/exported/dropped counted over the timed repeats (the warm-up excluded),
 * after a flush. threads == 0: on the main thread. */
static double batch_scenario(const char *name, void (*fn)(long), long n, int threads,
                             bool producers_export)
{
    dpt_provider *p = make_provider(dpt_sampler_always_on(), true, producers_export);
    fn(n / 4); /* the record pool reaches its steady size */
    dpt_provider_force_flush(p, 30000);
    dpt_stats a, b;
    dpt_provider_get_stats(p, &a);
    double cpu_a = export_threads_cpu_ns();
    bench_stat s = threads ? mt_measure(fn, threads, n) : bench_measure(fn, n);
    dpt_provider_force_flush(p, 30000);
    dpt_provider_get_stats(p, &b);
    /* the warm-up repeat of bench_measure/mt_measure is counted too: it ran in the window */
    counts c = stats_delta(&a, &b, cpu_a, export_threads_cpu_ns());
    report_full(name, s, &c);
    dpt_provider_free(p);
    return s.med;
}

/* The first two CPUs this process may run on; returns how many it found (at most 2). */
static int two_cpus(int out[2])
{
    cpu_set_t cs;
    int n = 0;
    if (sched_getaffinity(0, sizeof cs, &cs) != 0) return 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &cs)) out[n++] = c;
    return n;
}

/* Two long-lived worker threads pinned one to each of two CPUs, run in rounds: the main
 * thread says which workers run fn(per_thread) and sleeps until they are done; each worker
 * times itself. The threads of a service live long: a new thread's first spans pay for
 * its lane and its first records, which is not what a producer costs. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int round, done, quit;
    bool active[2];
    void (*fn)(long);
    long per_thread;
    uint64_t start[2], end[2];
    int cpu[2];
    pthread_t th[2];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void *pool_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pin_self(pool.cpu[id]);
    int seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.round == seen && !pool.quit)
            pthread_cond_wait(&pool.cv, &pool.mu);
        if (pool.quit) break;
        seen = pool.round;
        bool run = pool.active[id];
        pthread_mutex_unlock(&pool.mu);
        if (run) {
            pool.start[id] = bench_now_ns();
            pool.fn(pool.per_thread);
            pool.end[id] = bench_now_ns();
        }
        pthread_mutex_lock(&pool.mu);
        pool.done++;
        pthread_cond_broadcast(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

/* One round: the workers in `which` (bit 0: the first, bit 1: the second) each run
 * fn(per_thread); ns per operation of their total throughput. */
static double pool_round(int which, void (*fn)(long), long per_thread)
{
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.per_thread = per_thread;
    pool.active[0] = which & 1;
    pool.active[1] = (which & 2) != 0;
    pool.done = 0;
    pool.round++;
    pthread_cond_broadcast(&pool.cv);
    while (pool.done < 2)
        pthread_cond_wait(&pool.cv, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    uint64_t t0 = UINT64_MAX, t1 = 0;
    int n = 0;
    for (int i = 0; i < 2; i++)
        if (which & (1 << i)) {
            if (pool.start[i] < t0) t0 = pool.start[i];
            if (pool.end[i] > t1) t1 = pool.end[i];
            n++;
        }
    return (double)(t1 - t0) / (double)(n * per_thread);
}

static bool pool_start(void)
{
    if (two_cpus(pool.cpu) < 2) return false;
    for (int i = 0; i < 2; i++)
        pthread_create(&pool.th[i], NULL, pool_worker, (void *)(intptr_t)i);
    return true;
}

static void pool_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.quit = 1;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < 2; i++)
        pthread_join(pool.th[i], NULL);
}

/* Two producers against one, measured so that the machine's moment cancels out. On a VM
 * the capacity a vCPU gets for throughput-bound code changes by up to 2x within seconds
 * and differs between vCPUs (floor_ilp), so one producer timed now and two timed seconds
 * later compare two machines (scaling_2threads read anywhere from 1.05 to 1.93 on one
 * binary). Here the pool's workers take turns in short triples: the first alone, the
 * second alone, both at once (each half the operations), back to back; a triple's ratio is
 * the pair's throughput over the mean of the two single throughputs (2.0: the two CPUs
 * together do what each did alone a moment before). Every slice runs one triple of each
 * workload in turn, so that all of them see the same moments of the machine: the ILP
 * floor and the record floor (code that shares nothing: what the machine gives two
 * threads), sampled spans with no processor (the span code alone) and the batch scenario.
 * Medians over repeats x SLICES triples are reported with their spread. */
enum { SLICES = 8, PAIRED_KINDS = 4 };
static dpt_tracer *noproc_tracer;

static void run_span_noproc(long n)
{
    span_loop(noproc_tracer, n);
}

static void report_ratio(const char *name, double *r, int n)
{
    bench_stat s = stat_of(r, n, 0);
    if (opt.json)
        printf("%s\n    {\"name\": \"%s\", \"value\": %.4f, \"min\": %.4f, \"max\": %.4f, "
               "\"unit\": \"x\"}",
               opt.n_reported++ ? "," : "", name, s.med, s.lo, s.hi);
    else
        printf("%-30s %8.3f  [%.3f-%.3f] x\n", name, s.med, s.lo, s.hi);
    fflush(stdout);
}

/* span_sampled_batch_2threads_paired. Spans of the batch scenario's rounds are counted. */
static void paired_scenario(long n)
{
    if (!pool_start()) {
        fprintf(stderr, "span_sampled_batch_2threads_paired: skipped, fewer than 2 CPUs\n");
        return;
    }
    static const struct {
        const char *ratio, *single, *pair;
        long scale;
    } kinds[PAIRED_KINDS] = {
        {"scaling_floor_ilp_paired", NULL, NULL, 20},
        {"scaling_floor_paired", NULL, NULL, 1},
        {"scaling_noproc_paired", "span_sampled_noproc_pinned_1", "span_sampled_noproc_paired_2",
         1},
        {"scaling_2threads_paired", "span_sampled_batch_pinned_1",
         "span_sampled_batch_2threads_paired", 1},
    };
    void (*const fns[PAIRED_KINDS])(long) = {run_floor_ilp, run_floor_tl, run_span_noproc,
                                             run_span};
    dpt_provider_config nc = {.service_name = "bench", .sampler = dpt_sampler_always_on()};
    dpt_provider *np = dpt_provider_new(&nc);
    noproc_tracer = dpt_provider_get_tracer(np, "bench", "1");
    dpt_provider *p = make_provider(dpt_sampler_always_on(), true, true);
    run_span(n / 4);
    dpt_provider_force_flush(p, 30000);
    dpt_stats a, b;
    dpt_provider_get_stats(p, &a);

    static double one[PAIRED_KINDS][64 * SLICES * 2], two[PAIRED_KINDS][64 * SLICES],
        ratio[PAIRED_KINDS][64 * SLICES];
    long m = n / SLICES;
    for (int k = 0; k < PAIRED_KINDS; k++)
        pool_round(3, fns[k], m * kinds[k].scale); /* warm-up: both workers' records, lanes */
    int slices = opt.repeats * SLICES;
    for (int i = 0; i < slices; i++)
        for (int k = 0; k < PAIRED_KINDS; k++) {
            long ops = m * kinds[k].scale;
            double x = pool_round(1, fns[k], ops), y = pool_round(2, fns[k], ops);
            two[k][i] = pool_round(3, fns[k], ops / 2);
            one[k][2 * i] = x;
            one[k][2 * i + 1] = y;
            ratio[k][i] = (1.0 / two[k][i]) / ((1.0 / x + 1.0 / y) / 2.0);
        }
    dpt_provider_force_flush(p, 30000);
    dpt_provider_get_stats(p, &b);
    counts c = stats_delta(&a, &b, -1, -1);
    for (int k = 0; k < PAIRED_KINDS; k++) {
        if (kinds[k].single) {
            report_full(kinds[k].single, stat_of(one[k], 2 * slices, m), NULL);
            report_full(kinds[k].pair, stat_of(two[k], slices, m), k == 3 ? &c : NULL);
        }
        report_ratio(kinds[k].ratio, ratio[k], slices);
    }
    dpt_provider_free(p);
    dpt_provider_free(np);
    pool_stop();
}

/* span_sampled_batch_hiccup: the batch scenario while a helper thread holds the export
 * thread (the processor's test hook, as if the scheduler did not run it) for HICCUP_MS
 * every HICCUP_PERIOD_MS: the drops beside it say whether the queue absorbs such pauses at
 * the producer's full speed. */
#define HICCUP_MS 10
#define HICCUP_PERIOD_MS 100
static _Atomic bool hiccup_stop;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *hiccup_thread(void *arg)
{
    dpt_processor *proc = arg;
    while (!atomic_load(&hiccup_stop)) {
        sleep_ms(HICCUP_PERIOD_MS - HICCUP_MS);
        dpt__batch_test_hold(proc, true);
        sleep_ms(HICCUP_MS);
        dpt__batch_test_hold(proc, false);
    }
    return NULL;
}

static void hiccup_scenario(long n)
{
    /* With an exporter that may block (a network one): producers never export, the queue
     * alone absorbs the pauses. (A non-blocking one would be exported by the producer.) */
    dpt_provider *p = make_provider(dpt_sampler_always_on(), true, false);
    run_span(n / 4);
    dpt_provider_force_flush(p, 30000);
    dpt_stats a, b;
    dpt_provider_get_stats(p, &a);
    double cpu_a = export_threads_cpu_ns();
    pthread_t th;
    atomic_store(&hiccup_stop, false);
    pthread_create(&th, NULL, hiccup_thread, bench_proc);
    bench_stat s = bench_measure(run_span, n);
    atomic_store(&hiccup_stop, true);
    pthread_join(th, NULL);
    dpt__batch_test_hold(bench_proc, false);
    dpt_provider_force_flush(p, 30000);
    dpt_provider_get_stats(p, &b);
    counts c = stats_delta(&a, &b, cpu_a, export_threads_cpu_ns());
    report_full("span_sampled_batch_hiccup", s, &c);
    dpt_provider_free(p);
}

static double simple_scenario(const char *name, dpt_sampler *smp, void (*fn)(long), long n)
{
    dpt_provider *p = make_provider(smp, false, true);
    bench_stat s = bench_measure(fn, n);
    report_full(name, s, NULL);
    dpt_provider_free(p);
    return s.med;
}

static double allocs_per_op(dpt_sampler *smp, bool batch, void (*fn)(long), long n)
{
    dpt_provider *p = make_provider(smp, batch, true);
    fn(n);
    uint64_t a0 = dpt__test_alloc_count();
    fn(n);
    double r = (double)(dpt__test_alloc_count() - a0) / (double)n;
    dpt_provider_free(p);
    return r;
}

/* ---- machine and main --------------------------------------------------------------------- */

static void machine(char *out, size_t cap)
{
    char model[128] = "unknown cpu";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) snprintf(model, sizeof model, "%s", c + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    struct utsname u;
    uname(&u);
    snprintf(out, cap, "%s, %ld CPUs, %s %s", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
             u.release);
}

static void loadavg(char *out, size_t cap)
{
    snprintf(out, cap, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

static const char *const all_scenarios[] = {
    "floor",
    "floor_handoff",
    "floor_1thread",
    "floor_2threads",
    "floor_ilp",
    "span_sampled_simple",
    "span_sampled_batch",
    "span_sampled_batch_2threads",
    "span_sampled_batch_1thread",
    "span_sampled_batch_2threads_paired",
    "span_sampled_batch_hiccup",
    "span_sampled_batch_thread_export",
    "span_sampled_batch_2threads_thread_export",
    "span_nested_scoped_simple",
    "span_nested_scoped_batch",
    "span_unsampled",
    "span_unsampled_2attrs",
    "span_ratio_1pct_2attrs",
    "allocs_per_span_simple",
    "allocs_per_span_batch",
    "traceparent_roundtrip",
    "baggage_roundtrip",
    "otlp_proto_encode",
    "otlp_json_encode",
    "zipkin_json_encode",
    "context_attach_detach",
    "context_attach_detach_baggage",
    "task_enter_leave",
    "cont_resume_suspend",
    "cont_start_finish_span",
};

static void usage(void)
{
    fprintf(stderr, "usage: dptrace_bench [--json] [--ops N] [--repeats R] [--queue-size N]\n"
                    "                     [--queue-bytes N] [--list] [SCENARIO...]\n"
                    "  SCENARIO: a name or a shell pattern ('span_*'); none: all\n"
                    "  --queue-size/--queue-bytes: the batch scenarios' max_queue_size/_bytes\n");
}

int main(int argc, char **argv)
{
    static char *names[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0)
            opt.json = true;
        else if (strcmp(a, "--ops") == 0 && i + 1 < argc)
            opt.ops = atol(argv[++i]);
        else if (strcmp(a, "--repeats") == 0 && i + 1 < argc)
            opt.repeats = atoi(argv[++i]);
        else if (strcmp(a, "--queue-size") == 0 && i + 1 < argc)
            opt.queue_size = (uint32_t)atol(argv[++i]);
        else if (strcmp(a, "--queue-bytes") == 0 && i + 1 < argc)
            opt.queue_bytes = atoll(argv[++i]);
        else if (strcmp(a, "--list") == 0) {
            for (size_t k = 0; k < sizeof all_scenarios / sizeof *all_scenarios; k++)
                puts(all_scenarios[k]);
            return 0;
        } else if (a[0] == '-') {
            usage();
            return 2;
        } else if (a[strspn(a, "0123456789")] == 0) {
            opt.ops = atol(a); /* the old positional operation count */
        } else if (opt.n_names < 64) {
            names[opt.n_names++] = argv[i];
        }
    }
    if (opt.ops < 1000) opt.ops = 1000;
    if (opt.repeats < 1) opt.repeats = 1;
    if (opt.repeats > 64) opt.repeats = 64;
    opt.names = names;

    char mach[256], load0[64], date[64];
    machine(mach, sizeof mach);
    loadavg(load0, sizeof load0);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    if (opt.json)
        printf("{\n  \"machine\": \"%s\",\n  \"date\": \"%s\",\n  \"loadavg_start\": \"%s\",\n"
               "  \"repeats\": %d,\n  \"results\": [",
               mach, date, load0, opt.repeats);
    else
        printf("# dptrace bench: median [min-max] of %d repeats, ns per op\n# %s; %s; load %s\n",
               opt.repeats, mach, date, load0);

    long n = bench_ops(1.0);
    /* Span scenarios are read against the floors: measure them whenever one is wanted. */
    bool any_span = false;
    for (size_t k = 0; k < sizeof all_scenarios / sizeof *all_scenarios; k++)
        if (strncmp(all_scenarios[k], "span_", 5) == 0 && bench_wanted(all_scenarios[k]))
            any_span = true;
    double fl = 0, flh = 0;
    if (any_span || bench_wanted("floor")) {
        bench_stat s = bench_measure(run_floor, n);
        report_full("floor", s, NULL);
        fl = s.med;
    }
    if (any_span || bench_wanted("floor_handoff")) {
        pthread_t c;
        atomic_store(&ho.stop, false);
        pthread_create(&c, NULL, handoff_consumer, NULL);
        bench_stat s = bench_measure(run_floor_handoff, n);
        atomic_store(&ho.stop, true);
        pthread_join(c, NULL);
        report_full("floor_handoff", s, NULL);
        /* a full ring made the producer wait: the consumer was descheduled (a busy machine) */
        bench_report_value("floor_handoff_full_waits", (double)ho.waits, "waits");
        flh = s.med;
    }

    if (any_span || bench_wanted("floor_ilp"))
        report_full("floor_ilp", bench_measure(run_floor_ilp, n), NULL);

    double fl1 = 0, fl2 = 0;
    if (bench_wanted("span_sampled_batch_2threads") || bench_wanted("floor_1thread")) {
        bench_stat s = mt_measure(run_floor_tl, 1, n);
        report_full("floor_1thread", s, NULL);
        fl1 = s.med;
    }
    if (bench_wanted("span_sampled_batch_2threads") || bench_wanted("floor_2threads")) {
        bench_stat s = mt_measure(run_floor_tl, 2, n);
        report_full("floor_2threads", s, NULL);
        fl2 = s.med;
    }

    double simple = 0, batch = 0, batch1 = 0, batch2 = 0, nested_s = 0, nested_b = 0, uns = 0,
           uns2 = 0;
    if (bench_wanted("span_sampled_simple"))
        simple = simple_scenario("span_sampled_simple", dpt_sampler_always_on(), run_span, n);
    if (bench_wanted("span_sampled_batch"))
        batch = batch_scenario("span_sampled_batch", run_span, n, 0, true);
    if (bench_wanted("span_sampled_batch_1thread"))
        batch1 = batch_scenario("span_sampled_batch_1thread", run_span, n, 1, true);
    if (bench_wanted("span_sampled_batch_2threads"))
        batch2 = batch_scenario("span_sampled_batch_2threads", run_span, n, 2, true);
    if (bench_wanted("span_sampled_batch_2threads_paired")) paired_scenario(n);
    if (bench_wanted("span_sampled_batch_hiccup")) hiccup_scenario(bench_ops(4));
    double batch_te = 0, batch2_te = 0;
    if (bench_wanted("span_sampled_batch_thread_export"))
        batch_te = batch_scenario("span_sampled_batch_thread_export", run_span, n, 0, false);
    if (bench_wanted("span_sampled_batch_2threads_thread_export"))
        batch2_te =
            batch_scenario("span_sampled_batch_2threads_thread_export", run_span, n, 2, false);
    if (bench_wanted("span_nested_scoped_simple"))
        nested_s =
            simple_scenario("span_nested_scoped_simple", dpt_sampler_always_on(), run_nested, n);
    if (bench_wanted("span_nested_scoped_batch"))
        nested_b = batch_scenario("span_nested_scoped_batch", run_nested, n, 0, true);
    if (bench_wanted("span_unsampled"))
        uns = simple_scenario("span_unsampled", dpt_sampler_always_off(), run_span_bare,
                              bench_ops(4));
    if (bench_wanted("span_unsampled_2attrs"))
        uns2 = simple_scenario("span_unsampled_2attrs", dpt_sampler_always_off(), run_span,
                               bench_ops(4));
    /* The usual production sampler: parent-based, 1 % of new traces by trace id. */
    if (bench_wanted("span_ratio_1pct_2attrs"))
        simple_scenario(
            "span_ratio_1pct_2attrs",
            dpt_sampler_parent_based(dpt_sampler_traceid_ratio(0.01), NULL, NULL, NULL, NULL),
            run_span, bench_ops(4));
    (void)uns;
    (void)uns2;
    if (bench_wanted("allocs_per_span_simple"))
        bench_report_value("allocs_per_span_simple",
                           allocs_per_op(dpt_sampler_always_on(), false, run_span, n / 4),
                           "allocations");
    if (bench_wanted("allocs_per_span_batch"))
        bench_report_value("allocs_per_span_batch",
                           allocs_per_op(dpt_sampler_always_on(), true, run_span, n / 4),
                           "allocations");

    if (dpt_bench_propagation) dpt_bench_propagation();
    if (dpt_bench_export) dpt_bench_export();
    if (dpt_bench_async) dpt_bench_async();

    /* Ratios to the floors first in the docs; here after the figures they come from. */
    struct {
        const char *name;
        double v, base;
    } ratios[] = {
        {"ratio_simple_to_floor", simple, fl},
        {"ratio_batch_to_floor", batch, fl},
        {"ratio_batch_to_floor_handoff", batch, flh},
        {"ratio_nested_simple_to_floor", nested_s, fl},
        {"ratio_nested_batch_to_floor", nested_b, fl},
        {"ratio_nested_batch_to_floor_handoff", nested_b, flh},
        {"scaling_2threads", batch, batch2}, /* throughput of 2 producers / 1 producer */
        /* the same, both on threads started alike */
        {"scaling_2threads_vs_1thread", batch1, batch2},
        {"scaling_floor_2threads", fl1, fl2}, /* what the machine gives two threads */
        /* the same with an exporter that may block: the export thread alone exports */
        {"scaling_2threads_thread_export", batch_te, batch2_te},
    };
    for (size_t k = 0; k < sizeof ratios / sizeof *ratios; k++)
        if (ratios[k].v > 0 && ratios[k].base > 0)
            bench_report_value(ratios[k].name, ratios[k].v / ratios[k].base, "x");
    char load1[64];
    loadavg(load1, sizeof load1);
    if (opt.json)
        printf("\n  ],\n  \"loadavg_end\": \"%s\"\n}\n", load1);
    else
        printf("# load at the end %s\n", load1);
    return 0;
}
