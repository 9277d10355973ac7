/* queue.h - the batch processor's hand-off of finished spans to its export thread
 * (queue.c): one lane per producing thread, so that producers share no cache line.
 *
 * A lane is a single-producer/single-consumer ring of record pointers: the producer
 * publishes a record with one release store, the export thread reads it and gives the
 * slot back; the record itself goes back to the producer, which recycles it into its own
 * pool cache (records stay in the cache of the thread that fills them). When a lane's
 * ring is full, because the export thread was descheduled or the exporter is slow, the
 * producer stages the span instead: it copies it compactly (about 150 bytes for a small
 * span instead of a 1 KiB record) into chunks of its lane and recycles the record at
 * once; the export thread rebuilds staged spans into records of its own. One byte budget
 * (max_queue_bytes, 32 MiB by default) bounds the records waiting in rings and the staged
 * copies together; a span beyond it is dropped and counted by the caller.
 *
 * Without a byte budget (max_bytes 0) the queue keeps OpenTelemetry's rule exactly: at most
 * max_spans spans wait, in any lanes, and nothing is staged.
 */
#ifndef DPT_QUEUE_H
#define DPT_QUEUE_H

#include "common.h"
#include "pool.h"

typedef struct dpt__queue dpt__queue;
typedef struct dpt__lane dpt__lane;

/* A queue for one batch processor. ring_spans: records a lane's ring holds at most (and
 * the span bound without a byte budget); max_bytes: the byte budget (0: none); batch:
 * pending spans in one lane that make the producer wake a sleeping export thread. NULL on
 * ENOMEM. */
DPT__HIDDEN dpt__queue *dpt__queue_new(uint32_t ring_spans, uint64_t max_bytes, uint32_t batch);

/* Frees the queue; spans still queued are released and their number returned (the caller
 * counts them as dropped). No producer or consumer may run any more. */
DPT__HIDDEN uint64_t dpt__queue_free(dpt__queue *q);

/* Makes dpt__queue_push say DPT__Q_PART from n spans waiting in a lane (0, the default:
 * never). Set before any producer runs. */
DPT__HIDDEN void dpt__queue_set_part(dpt__queue *q, uint32_t n);

/* In a forked child: forgets every lane (their producers do not exist here; the parent
 * exports what they queued), releasing the records. Returns the spans discarded. */
DPT__HIDDEN uint64_t dpt__queue_after_fork(dpt__queue *q);

/* ---- producer side ----------------------------------------------------------------------- */

enum { DPT__Q_DROPPED = 0, DPT__Q_QUEUED = 1, DPT__Q_PART = 2, DPT__Q_WAKE = 3, DPT__Q_BEHIND = 4 };

/* Queues finished record r (sampled, ended), taking over the caller's reference to it.
 * Returns DPT__Q_QUEUED; DPT__Q_PART (queued, and the lane holds the part batch set with
 * dpt__queue_set_part: worth exporting by a producer that exports anyway); DPT__Q_WAKE
 * (queued, and the export thread should be woken if it sleeps: a batch is waiting); DPT__Q_BEHIND
 * (queued, and the consumer is behind: half the lane's ring waits, or the lane began staging -
 * batch.c lets such a producer export its own lane, dpt__queue_pop_mine); or DPT__Q_DROPPED (no
 * room: the reference is still the caller's). Any thread; lock-free except once per thread and
 * queue (lane creation) and once per staged chunk. */
DPT__HIDDEN int dpt__queue_push(dpt__queue *q, dpt__span *r);

/* ---- consumer side (one thread at a time: the caller serialises) ------------------------- */

/* What one pop handed out, given back to dpt__queue_done after the export. */
#define DPT__Q_SEGS 32
typedef struct dpt__qseg {
    dpt__lane *lane;
    uint64_t from, to; /* ring positions [from, to) */
    uint32_t staged;   /* spans rebuilt from the lane's staging, after the ring's */
} dpt__qseg;
typedef struct dpt__qpop {
    const dpt_span_data **buf;         /* the caller's: room for max spans */
    const dpt_span_data *const *items; /* the spans popped: buf, or a run of one lane's
                                          ring itself (valid until dpt__queue_done) */
    size_t n;
    dpt__qseg seg[DPT__Q_SEGS];
    uint32_t nseg;
    uint64_t lost; /* staged spans that could not be rebuilt (ENOMEM): count them dropped */
    bool more;     /* stopped early (DPT__Q_SEGS lanes visited with spans): pop again */
} dpt__qpop;

/* Takes up to max waiting spans (rings first, then staged spans): pop->items. A lane whose
 * ring alone fills the batch, or the only lane when nothing is staged, is handed over in
 * place: items points into its ring and the consumer copies (reads) none of its cells. */
DPT__HIDDEN size_t dpt__queue_pop(dpt__queue *q, dpt__qpop *pop, size_t max);
/* As dpt__queue_pop, but only from the calling thread's own lane (a producer that exports
 * its own backlog); pop->more says whether that lane has more. */
DPT__HIDDEN size_t dpt__queue_pop_mine(dpt__queue *q, dpt__qpop *pop, size_t max);
/* Gives back what pop handed out once the exporter is done with it: records nobody
 * retained go back to their producers; rebuilt ones to the calling thread's pool. */
DPT__HIDDEN void dpt__queue_done(dpt__queue *q, dpt__qpop *pop);
/* Spans waiting now (read by the consumer; approximate while producers run). */
DPT__HIDDEN uint64_t dpt__queue_pending(dpt__queue *q);
/* Consumer only: the largest ring backlog of one lane seen by the last dpt__queue_pending. */
DPT__HIDDEN uint64_t dpt__queue_fullest(const dpt__queue *q);
/* Spans accepted so far (any thread; exact once producers are quiet). */
DPT__HIDDEN uint64_t dpt__queue_pushed(dpt__queue *q);
/* The exporter took ns for n spans: staging is kept within what it sends in about a
 * second (queue.c). Consumer thread. */
DPT__HIDDEN void dpt__queue_export_rate(dpt__queue *q, size_t n, uint64_t ns);
/* Housekeeping between passes (consumer): retires the lanes of exited threads and gives
 * back the ring budget of lanes idle for a while. */
DPT__HIDDEN void dpt__queue_tidy(dpt__queue *q);

/* Test hook: bytes of budget in use (rings and staged chunks). */
DPT__HIDDEN uint64_t dpt__queue_test_bytes_used(const dpt__queue *q);

#endif
