/* clock.h - the span clock (clock.c). */
#ifndef DPT_CLOCK_H
#define DPT_CLOCK_H

#include "common.h"

#include <time.h>

/* Unix time in ns: CLOCK_MONOTONIC plus an offset to CLOCK_REALTIME refreshed about once a
 * second, so that durations are monotonic and each read is one vDSO call. */
DPT__HIDDEN uint64_t dpt__now_ns(void);

/* The same, inline for the span start and end: one vDSO call, the refresh out of line.
 * offset = REALTIME - MONOTONIC and the monotonic time after which it is refreshed (a second
 * after its last refresh, clock.c): one comparison per read. */
extern DPT__HIDDEN _Atomic int64_t dpt__clk_offset;
extern DPT__HIDDEN _Atomic uint64_t dpt__clk_due;
DPT__HIDDEN uint64_t dpt__now_ns_refresh(uint64_t mono);
static inline uint64_t dpt__now_ns_inline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t m = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (DPT__UNLIKELY(m > atomic_load_explicit(&dpt__clk_due, memory_order_relaxed)))
        return dpt__now_ns_refresh(m);
    return (uint64_t)((int64_t)m + atomic_load_explicit(&dpt__clk_offset, memory_order_relaxed));
}

#endif
