/* clock.h - the span clock (clock.c). */
#ifndef DPT_CLOCK_H
#define DPT_CLOCK_H

#include "common.h"

/* Unix time in ns: CLOCK_MONOTONIC plus an offset to CLOCK_REALTIME refreshed about once a
 * second, so that durations are monotonic and each read is one vDSO call. */
DPT__HIDDEN uint64_t dpt__now_ns(void);

#endif
