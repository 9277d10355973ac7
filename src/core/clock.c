/* clock.c - the span clock: Unix nanoseconds from CLOCK_MONOTONIC plus an offset to
 * CLOCK_REALTIME refreshed about once a second, so that durations are monotonic (an NTP
 * step during a span cannot make it negative) and each read is one vDSO call.
 *
 * Where the kernel keeps its own time with the TSC (its clocksource is "tsc": it found the
 * counter invariant and synchronised across CPUs) on x86-64, a read is the TSC itself,
 * scaled: at each refresh the factor is measured again over the last interval against
 * CLOCK_MONOTONIC (so it follows NTP's rate corrections as CLOCK_MONOTONIC does) and the
 * mapping restarts from CLOCK_MONOTONIC + offset, i.e. both paths give the same time to
 * within the error of one interval's extrapolation (well under a microsecond). A refresh
 * that finds the TSC's time more than a millisecond off turns the TSC path off for good
 * (a log line says so); DPTRACE_CLOCK=monotonic turns it off from the start.
 */
#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef DPT__TSC_CLOCK
#include <cpuid.h>
#endif

/* offset = REALTIME - MONOTONIC, refreshed when a thread notices it is a second old.
 * Both fields are relaxed atomics: a reader mixing an old offset with a new stamp is off
 * by at most the NTP slew of one second, which is harmless. */
_Atomic int64_t dpt__clk_offset;
_Atomic uint64_t dpt__clk_due; /* monotonic ns of the last refresh plus a second; 0: never */
#define clk_offset dpt__clk_offset
#define clk_due dpt__clk_due

dpt__tsc_map dpt__tsc;

#define REFRESH_NS 1000000000ull /* a second between refreshes */
#define FIRST_CAL_NS 20000000ull /* the first calibration: after 20 ms */
#define TSC_MAX_ERR_NS 1000000   /* a TSC time this far off turns the TSC path off */

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Two clocks read at (nearly) the same moment: `outer` on both sides of `inner`, the
 * closest of up to four tries, stopping at a gap of close_enough. A thread preempted
 * between the reads would otherwise pair them wrongly by half the pause (the offset was
 * once computed from the caller's own earlier read: a test with three threads on two
 * CPUs saw it 2 ms off for a second). Returns the outer midpoint; *in: inner's reading. */
static uint64_t bracket(uint64_t (*outer)(void), uint64_t (*inner)(void), uint64_t close_enough,
                        uint64_t *in)
{
    uint64_t best = UINT64_MAX, mid = 0;
    for (int i = 0; i < 4 && best > close_enough; i++) {
        uint64_t a = outer();
        uint64_t x = inner();
        uint64_t b = outer();
        if (b - a < best) {
            best = b - a;
            mid = a + (b - a) / 2;
            *in = x;
        }
    }
    return mid;
}

/* offset from CLOCK_REALTIME read between two CLOCK_MONOTONIC reads. */
static void refresh_offset(void)
{
    uint64_t real = 0;
    uint64_t mono = bracket(mono_ns, real_ns, 20000, &real);
    atomic_store_explicit(&clk_offset, (int64_t)real - (int64_t)mono, memory_order_relaxed);
    atomic_store_explicit(&clk_due, mono + REFRESH_NS, memory_order_relaxed);
}

#ifdef DPT__TSC_CLOCK
/* The refresh is one thread's at a time; the others read as if it had not started. */
static _Atomic uint32_t tsc_busy;
/* 0: not decided; 1: the TSC may be used; -1: never (or no longer) */
static int tsc_allowed;
/* The calibration point: a TSC value and CLOCK_MONOTONIC at the same moment. */
static uint64_t cal_tsc, cal_mono;
static bool cal_have;

static bool kernel_uses_tsc(void)
{
    const char *v = dpt__env("DPTRACE_CLOCK");
    if (v && dpt__str_ieq(v, "monotonic")) return false;
    if (v && !dpt__str_ieq(v, "auto"))
        dpt__log(DPT_LOG_WARN, "DPTRACE_CLOCK=%s is not auto or monotonic; using auto", v);
    unsigned a, b, c, d;
    /* CPUID 0x80000007 EDX bit 8: invariant TSC (constant rate, runs in every C-state). */
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return false;
    if (!__get_cpuid(0x80000007u, &a, &b, &c, &d) || !(d & (1u << 8))) return false;
    char cs[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (!f) return false;
    if (!fgets(cs, sizeof cs, f)) cs[0] = 0;
    (void)fclose(f);
    return strcmp(cs, "tsc\n") == 0 || strcmp(cs, "tsc") == 0;
}

static uint64_t tsc_read(void)
{
    return __rdtsc();
}

static void tsc_off(void)
{
    tsc_allowed = -1;
    atomic_store_explicit(&dpt__tsc.on, 0, memory_order_relaxed);
}

/* Publishes a mapping (under the sequence count). */
static void publish(uint64_t t, uint64_t ns, uint64_t mult, uint64_t span_ns)
{
    /* Ticks the mapping is used for: the reader that finds it expired refreshes. */
    uint64_t span = (uint64_t)(((unsigned __int128)span_ns << 32) / mult);
    uint32_t s = atomic_load_explicit(&dpt__tsc.seq, memory_order_relaxed);
    atomic_store_explicit(&dpt__tsc.seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&dpt__tsc.base_tsc, t, memory_order_relaxed);
    atomic_store_explicit(&dpt__tsc.base_ns, ns, memory_order_relaxed);
    atomic_store_explicit(&dpt__tsc.mult, mult, memory_order_relaxed);
    atomic_store_explicit(&dpt__tsc.span, span, memory_order_relaxed);
    atomic_store_explicit(&dpt__tsc.seq, s + 2, memory_order_release);
    atomic_store_explicit(&dpt__tsc.on, 1, memory_order_relaxed);
}

/* Called with tsc_busy held: measures the factor over the interval since the last
 * calibration point and publishes a mapping from now.
 *
 * The check that ends the TSC path compares the mapping in use with CLOCK_MONOTONIC; it is
 * made only over an interval the mapping was meant for (at most two refresh intervals).
 * After a longer quiet spell (no span read the clock) the mapping's extrapolation is not
 * evidence of anything (a factor right to 1 ppm is 1 ms off after 1,000 s): the mapping is
 * re-based on now with the factor it had, for a short calibration interval, after which
 * the check applies again. */
static void tsc_refresh(void)
{
    if (tsc_allowed == 0) tsc_allowed = kernel_uses_tsc() ? 1 : -1;
    if (tsc_allowed < 0) return;
    uint64_t m = 0;
    uint64_t t = bracket(tsc_read, mono_ns, 2000, &m);
    int64_t off = atomic_load_explicit(&clk_offset, memory_order_relaxed);
    uint64_t truth = (uint64_t)((int64_t)m + off);
    bool on = atomic_load_explicit(&dpt__tsc.on, memory_order_relaxed) != 0;
    uint64_t om = atomic_load_explicit(&dpt__tsc.mult, memory_order_relaxed);
    if (!cal_have || t <= cal_tsc || m <= cal_mono) {
        cal_tsc = t, cal_mono = m, cal_have = true;
        if (on) publish(t, truth, om, FIRST_CAL_NS);
        atomic_store_explicit(&clk_due, m + FIRST_CAL_NS, memory_order_relaxed);
        return;
    }
    uint64_t dm = m - cal_mono, dt = t - cal_tsc;
    if (on && (dm > 2 * REFRESH_NS + REFRESH_NS / 2 || dm < FIRST_CAL_NS / 2)) {
        /* A quiet spell (or a refresh forced too soon): re-based, calibrated anew. */
        cal_tsc = t, cal_mono = m;
        publish(t, truth, om, FIRST_CAL_NS);
        return;
    }
    if (dm < FIRST_CAL_NS / 2) return; /* too short to measure; the next refresh will */
    uint64_t mult = (uint64_t)(((unsigned __int128)dm << 32) / dt);
    if (on) {
        /* What the mapping in use says now, against CLOCK_MONOTONIC: a TSC that jumped
         * (a VM migrated, a CPU whose counter differs) ends the TSC path. */
        uint64_t bt = atomic_load_explicit(&dpt__tsc.base_tsc, memory_order_relaxed);
        uint64_t bn = atomic_load_explicit(&dpt__tsc.base_ns, memory_order_relaxed);
        uint64_t said = bn + (uint64_t)(((unsigned __int128)(t - bt) * om) >> 32);
        uint64_t err = said > truth ? said - truth : truth - said;
        if (t < bt || err > TSC_MAX_ERR_NS) {
            dpt__log(DPT_LOG_WARN,
                     "span clock: the TSC disagrees with CLOCK_MONOTONIC by %llu ns; "
                     "reading CLOCK_MONOTONIC from now on",
                     (unsigned long long)err);
            tsc_off();
            return;
        }
    }
    /* A little more than a refresh interval. */
    publish(t, truth, mult, REFRESH_NS + REFRESH_NS / 4);
    cal_tsc = t, cal_mono = m;
}

/* A child forked while another thread refreshed: nobody will release it there. */
static void child_after_fork(void)
{
    atomic_store(&tsc_busy, 0);
}
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork(void)
{
    pthread_atfork(NULL, NULL, child_after_fork);
}

int dpt__clock_test_tsc(void)
{
    return (int)atomic_load(&dpt__tsc.on);
}

void dpt__clock_test_age(uint64_t ns, int64_t ppm)
{
    /* As if the mapping and the calibration point were ns older, nobody having read the
     * clock since, and the factor ppm off. */
    while (atomic_exchange(&tsc_busy, 1))
        ;
    uint64_t mult = atomic_load(&dpt__tsc.mult);
    if (mult && cal_have) {
        uint64_t ticks = (uint64_t)(((unsigned __int128)ns << 32) / mult);
        uint32_t s = atomic_load(&dpt__tsc.seq);
        atomic_store(&dpt__tsc.seq, s + 1);
        atomic_store(&dpt__tsc.base_tsc, atomic_load(&dpt__tsc.base_tsc) - ticks);
        atomic_store(&dpt__tsc.base_ns, atomic_load(&dpt__tsc.base_ns) - ns);
        atomic_store(&dpt__tsc.mult, (uint64_t)((int64_t)mult + (int64_t)mult / 1000000 * ppm));
        atomic_store(&dpt__tsc.span, 0);
        atomic_store(&dpt__tsc.seq, s + 2);
        cal_tsc -= ticks;
        cal_mono -= ns;
    }
    atomic_store(&tsc_busy, 0);
}

void dpt__clock_test_expire(void)
{
    /* The TSC mapping expires at once (aged by nothing); the vDSO path's offset too. */
    dpt__clock_test_age(0, 0);
    atomic_store(&clk_due, 0);
}
#else
int dpt__clock_test_tsc(void)
{
    return 0;
}

void dpt__clock_test_age(uint64_t ns, int64_t ppm)
{
    (void)ns;
    (void)ppm;
}

void dpt__clock_test_expire(void)
{
    atomic_store(&clk_due, 0);
}
#endif

/* Refreshes the offset (and the TSC mapping, if no other thread is doing it); returns the
 * time by CLOCK_MONOTONIC m + offset (the TSC path's reference). */
uint64_t dpt__now_ns_refresh(uint64_t m)
{
#ifdef DPT__TSC_CLOCK
    pthread_once(&fork_once, register_fork);
    if (atomic_exchange_explicit(&tsc_busy, 1, memory_order_acquire) == 0) {
        refresh_offset();
        tsc_refresh();
        atomic_store_explicit(&tsc_busy, 0, memory_order_release);
    }
#else
    refresh_offset();
#endif
    return (uint64_t)((int64_t)m + atomic_load_explicit(&clk_offset, memory_order_relaxed));
}

uint64_t dpt__now_ns_slow(void)
{
    return dpt__now_ns_refresh(mono_ns());
}

uint64_t dpt__now_ns(void)
{
    return dpt__now_ns_inline();
}
