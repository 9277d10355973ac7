/* stage.h - compact copies of finished spans (stage.c), for the batch queue's lanes when
 * their hand-off ring is full (queue.c). */
#ifndef DPT_STAGE_H
#define DPT_STAGE_H

#include "common.h"
#include "pool.h"

/* At least the bytes the compact copy of finished record r takes (cheap: no second pass
 * over the strings for a span without events, links or arrays). */
DPT__HIDDEN size_t dpt__stage_bound(const dpt__span *r);
/* Writes the copy at out (room for dpt__stage_bound(r) bytes) and returns its length (a
 * multiple of 8); the record's tracestate reference moves into the copy (r->ts is
 * cleared), so r can be recycled at once. */
DPT__HIDDEN size_t dpt__stage_write(dpt__span *r, uint8_t *out);
/* Rebuilds a copy into a new record of the calling thread's pool, holding one reference
 * (NULL on ENOMEM; then the copy must be discarded). */
DPT__HIDDEN dpt__span *dpt__stage_read(const uint8_t *in);
/* Releases what a copy holds (its tracestate) without rebuilding it. */
DPT__HIDDEN void dpt__stage_discard(const uint8_t *in);
/* The length of the copy at in (its first four bytes). */
static inline uint32_t dpt__stage_len(const uint8_t *in)
{
    uint32_t l;
    memcpy(&l, in, 4);
    return l;
}

#endif
