/* traceset.h - the two-pass model behind `view` and `report`. Pass 1 keeps a fixed-size
 * summary per trace (about 64 bytes: id, time span, counts); the command then selects the
 * traces it needs, and pass 2 keeps the spans of those traces only, up to a span budget.
 * Memory is therefore O(traces x 64 B + selected spans), whatever the file size.
 */
#ifndef DPTRACE_CLI_TRACESET_H
#define DPTRACE_CLI_TRACESET_H

#include <stdbool.h>
#include <stdint.h>

#include "otlp_read.h"
#include "util.h"

/* What pass 1 keeps per trace. */
typedef struct trace_sum {
    uint8_t id[16];
    uint64_t start, end; /* earliest start, latest end of its spans */
    uint32_t spans;
    uint32_t errors; /* spans with status ERROR */
    uint32_t next;   /* hash chain: index + 1 of the next entry, 0 ends */
    int32_t sel;     /* index in the selection, -1 when not selected */
} trace_sum;

/* A span kept in pass 2. Strings live in the set's arena. */
typedef struct span_rec {
    uint8_t id[8], parent[8];
    bool has_parent;
    uint8_t kind, status;
    uint8_t orphan; /* drawn as a root: 1 its parent is not in the file, 2 parent cycle */
    uint32_t depth; /* depth in the tree, set by traceset_order */
    uint64_t start, end;
    const char *name, *service, *status_msg;
    const char *detail; /* report only: JSON object text with attributes, events, ... */
} span_rec;

/* A selected trace. */
typedef struct sel_trace {
    uint32_t sum;    /* index in traceset.sums */
    bool want_spans; /* keep its spans (waterfall / report), else only its root */
    span_rec *spans; /* in display order after traceset_order */
    uint32_t n, cap;
    uint32_t dropped;                     /* spans not kept because the span budget ran out */
    const char *root_name, *root_service; /* the root span's, or the earliest span's */
    uint64_t root_start;
    bool root_is_root; /* the name comes from a span without a parent */
} sel_trace;

#define TS_MAX_SERVICES 256
/* Service names are interned: one copy each, found by a hash of the whole name, which
 * is computed once per resource (the spans of a resource come one after another), not
 * once per span. What shows a name reads at most TS_NAME_MAX bytes of it, so no per-span
 * step depends on how long a name in the file is. */
#define TS_NAME_MAX 1024

typedef struct service_count {
    const char *name; /* interned */
    uint64_t spans;
} service_count;

/* The interned strings: open addressing over a seeded hash, grown at half full. */
typedef struct strtab {
    struct strtab_slot {
        uint64_t hash;
        const char *s; /* NULL: free slot; text lives in the set's arena */
        uint32_t len;
        int32_t svc; /* index in services[] when counted in pass 1, else -1 */
    } * slots;
    uint32_t cap, n;
} strtab;

typedef struct traceset {
    const char *path;
    bool progress;
    otlp_input in; /* opened once by traceset_scan, read again by traceset_collect */
    bool in_open;
    strtab names;
    /* the service of the resource the reader is on: (its text, line) -> interned */
    const char *svc_text;
    uint64_t svc_line;
    const char *svc_name;
    int32_t svc_index;
    /* pass 1 */
    trace_sum *sums;
    uint32_t n_sums, cap_sums;
    uint32_t *buckets;
    uint32_t n_buckets;
    uint64_t spans, error_spans, orphan_hint;
    uint64_t min_start, max_end;
    service_count services[TS_MAX_SERVICES];
    uint32_t n_services;
    uint64_t other_service_spans; /* spans of services past TS_MAX_SERVICES */
    uint64_t no_service_spans;
    otlp_stats stats1;
    /* selection and pass 2 */
    sel_trace *sel;
    uint32_t n_sel, cap_sel;
    uint64_t span_budget; /* spans pass 2 may keep in all */
    uint64_t kept;
    /* report: builds span_rec.detail (a string in ts->mem) for each kept span */
    const char *(*detail_fn)(struct traceset *ts, const otlp_span *sp);
    bool noncanonical_ids; /* some traceId was not 32 lowercase hex digits */
    arena mem;
    otlp_stats stats2;
    /* report: resources and scopes are stored once, referred to by index */
    char **res_json;
    uint32_t n_res, cap_res;
} traceset;

/* path "-" reads standard input; any input that cannot be read twice is spooled (see
 * otlp_input). */
void traceset_init(traceset *ts, const char *path, bool progress);

/* The interned copy of a name, or NULL for NULL. */
const char *traceset_intern(traceset *ts, const char *s, size_t len);
void traceset_free(traceset *ts);

/* Pass 1. Returns 0, or -1 when the file cannot be read (message printed). */
int traceset_scan(traceset *ts);

/* The trace with this id (full 32 hex digits, or a unique prefix of at least 4). Returns
 * the index in sums, -1 when there is none, -2 when the prefix is ambiguous. */
int64_t traceset_find(const traceset *ts, const char *hex);

/* Duration of a trace. */
static inline uint64_t trace_duration(const trace_sum *t)
{
    return t->end - t->start;
}

/* Adds sums[i] to the selection (idempotent; want_spans only ever turns on). */
sel_trace *traceset_select(traceset *ts, uint32_t i, bool want_spans);

/* Indices of sums sorted by duration, longest first (ties: earlier start first). Only
 * those with errors when errors_only. Returns the count; *out is malloc'd. */
uint32_t traceset_by_duration(const traceset *ts, bool errors_only, uint32_t **out);

/* Fills r's ids, kind, status and times from sp; its strings are the caller's to set. */
void span_rec_init(span_rec *r, const otlp_span *sp);

/* Pass 2: collects the spans (or root names) of the selected traces. 0 or -1. */
int traceset_collect(traceset *ts);

/* Orders a selected trace's spans as a tree (depth-first, children by start time) and
 * sets depth and orphan. Robust against duplicate ids, cycles and self-parents. */
void traceset_order(sel_trace *t);

#endif
