/* clock.h - the span clock (clock.c). */
#ifndef DPT_CLOCK_H
#define DPT_CLOCK_H

#include "common.h"

#include <time.h>
#if defined(__x86_64__) && !defined(DPT_NO_TSC_CLOCK)
#include <x86intrin.h>
#define DPT__TSC_CLOCK 1
#endif

/* Unix time in ns. Durations are monotonic (CLOCK_MONOTONIC's rate, never NTP's steps):
 * CLOCK_MONOTONIC plus an offset to CLOCK_REALTIME refreshed about once a second, each
 * read one vDSO call; or, where the kernel itself keeps time with an invariant TSC, the
 * TSC scaled by a factor calibrated against CLOCK_MONOTONIC at those refreshes (clock.c).
 * The second is what a span's start and end read: a quarter of a sampled span's time went
 * to the two vDSO calls (25 ns each on a KVM guest, against 10 for a TSC read). */
DPT__HIDDEN uint64_t dpt__now_ns(void);

/* The TSC mapping, read under a sequence count: time = base_ns + ((tsc - base_tsc) * mult
 * >> 32) while tsc - base_tsc < span (about a second; past it, or when the TSC looks to
 * have gone backwards, the slow path refreshes). on = 0: the vDSO path. */
typedef struct dpt__tsc_map {
    _Atomic uint32_t seq; /* odd while the refresh writes */
    _Atomic uint32_t on;
    _Atomic uint64_t base_tsc;
    _Atomic uint64_t base_ns;
    _Atomic uint64_t mult; /* ns per tick, << 32 */
    _Atomic uint64_t span; /* ticks after base_tsc the mapping is used for */
} dpt__tsc_map;
extern DPT__HIDDEN dpt__tsc_map dpt__tsc;

/* The vDSO path: offset = REALTIME - MONOTONIC and the monotonic time after which it is
 * refreshed (a second after its last refresh, clock.c): one comparison per read. */
extern DPT__HIDDEN _Atomic int64_t dpt__clk_offset;
extern DPT__HIDDEN _Atomic uint64_t dpt__clk_due;
/* The out-of-line refresh of either path (and the TSC calibration); returns the time. */
DPT__HIDDEN uint64_t dpt__now_ns_refresh(uint64_t mono);
DPT__HIDDEN uint64_t dpt__now_ns_slow(void);

/* The span start's and end's read, inline. */
static inline uint64_t dpt__now_ns_inline(void)
{
#ifdef DPT__TSC_CLOCK
    if (DPT__LIKELY(atomic_load_explicit(&dpt__tsc.on, memory_order_relaxed))) {
        /* Seqlock read: the fields, then the count again (acquire fence between). */
        uint32_t s = atomic_load_explicit(&dpt__tsc.seq, memory_order_acquire);
        uint64_t bt = atomic_load_explicit(&dpt__tsc.base_tsc, memory_order_relaxed);
        uint64_t bn = atomic_load_explicit(&dpt__tsc.base_ns, memory_order_relaxed);
        uint64_t mul = atomic_load_explicit(&dpt__tsc.mult, memory_order_relaxed);
        uint64_t sp = atomic_load_explicit(&dpt__tsc.span, memory_order_relaxed);
        uint64_t d = __rdtsc() - bt;
        atomic_thread_fence(memory_order_acquire);
        if (DPT__LIKELY(d < sp && !(s & 1) &&
                        atomic_load_explicit(&dpt__tsc.seq, memory_order_relaxed) == s))
            return bn + (uint64_t)(((unsigned __int128)d * mul) >> 32);
        return dpt__now_ns_slow();
    }
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t m = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (DPT__UNLIKELY(m > atomic_load_explicit(&dpt__clk_due, memory_order_relaxed)))
        return dpt__now_ns_refresh(m);
    return (uint64_t)((int64_t)m + atomic_load_explicit(&dpt__clk_offset, memory_order_relaxed));
}

/* Tests: which path reads (1: the TSC), and a refresh now whatever is due (the next read
 * recalibrates). */
DPT__SHARED int dpt__clock_test_tsc(void);
DPT__SHARED void dpt__clock_test_expire(void);
/* Tests: the TSC mapping and its calibration point made ns older (nobody read the clock
 * since) and its factor ppm off. */
DPT__SHARED void dpt__clock_test_age(uint64_t ns, int64_t ppm);

#endif
