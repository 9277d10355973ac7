/* bench.h - what bench.c offers the scenario files of other modules (bench_*.c): the
 * scenario filter, one measuring loop and one way to report, so that every figure is
 * taken and printed the same way (text or --json).
 */
#ifndef DPT_BENCH_H
#define DPT_BENCH_H

#include <stdbool.h>
#include <stdint.h>

/* The median of the repeats and their spread, in ns per operation. */
typedef struct bench_stat {
    double med, lo, hi;
    long ops; /* operations per repeat */
} bench_stat;

/* Whether the scenario `name` was asked for (all are when no name was given). */
bool bench_wanted(const char *name);

/* Runs fn(n / 4) once (warm-up), then fn(n) once per repeat, timing each. */
bench_stat bench_measure(void (*fn)(long), long n);

/* The number of operations a scenario should run per repeat, scaled from the default
 * (1,000,000) by the --ops option: a scenario that wants 4x the default asks for 4. */
long bench_ops(double scale);

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

/* Prints one scenario's line (or JSON object). */
void bench_report(const char *name, bench_stat s);

/* A figure that is not a time (allocations per op, a ratio): name, value, unit. */
void bench_report_value(const char *name, double v, const char *unit);

/* Hooks of the other modules' scenario files (weak: present when linked). */
void dpt_bench_propagation(void) __attribute__((weak));
void dpt_bench_export(void) __attribute__((weak));
void dpt_bench_async(void) __attribute__((weak));

#endif
