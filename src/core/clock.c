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
_Atomic uint64_t dpt__clk_refreshed; /* monotonic ns of the last refresh; 0: never */
#define clk_offset dpt__clk_offset
#define clk_refreshed dpt__clk_refreshed

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
    atomic_store_explicit(&clk_refreshed, m2, memory_order_relaxed);
}

uint64_t dpt__now_ns_refresh(uint64_t m)
{
    refresh_offset(m);
    return (uint64_t)((int64_t)m + atomic_load_explicit(&clk_offset, memory_order_relaxed));
}

uint64_t dpt__now_ns(void)
{
    uint64_t m = mono_ns();
    uint64_t last = atomic_load_explicit(&clk_refreshed, memory_order_relaxed);
    if (DPT__UNLIKELY(last == 0 || m - last > 1000000000ull)) refresh_offset(m);
    return (uint64_t)((int64_t)m + atomic_load_explicit(&clk_offset, memory_order_relaxed));
}
