/* clock.c - the span clock: Unix nanoseconds from CLOCK_MONOTONIC plus an offset to
 * CLOCK_REALTIME refreshed about once a second, so that durations are monotonic (an NTP
 * step during a span cannot make it negative) and each read is one vDSO call.
 */
#include "clock.h"

#include <time.h>

/* ---- clock ------------------------------------------------------------------------- */

/* offset = REALTIME - MONOTONIC, refreshed when a thread notices it is a second old.
 * Both fields are relaxed atomics: a reader mixing an old offset with a new stamp is off
 * by at most the NTP slew of one second, which is harmless. */
_Atomic int64_t dpt__clk_offset;
_Atomic uint64_t dpt__clk_due; /* monotonic ns of the last refresh plus a second; 0: never */
#define clk_offset dpt__clk_offset
#define clk_due dpt__clk_due

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void refresh_offset(uint64_t mono)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t m2 = mono_ns();
    int64_t real = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
    atomic_store_explicit(&clk_offset, real - (int64_t)((mono + m2) / 2), memory_order_relaxed);
    atomic_store_explicit(&clk_due, m2 + 1000000000ull, memory_order_relaxed);
}

uint64_t dpt__now_ns_refresh(uint64_t m)
{
    refresh_offset(m);
    return (uint64_t)((int64_t)m + atomic_load_explicit(&clk_offset, memory_order_relaxed));
}

uint64_t dpt__now_ns(void)
{
    uint64_t m = mono_ns();
    if (DPT__UNLIKELY(m > atomic_load_explicit(&clk_due, memory_order_relaxed))) refresh_offset(m);
    return (uint64_t)((int64_t)m + atomic_load_explicit(&clk_offset, memory_order_relaxed));
}
