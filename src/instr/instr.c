/* instr.c - the counters of libdptrace-instr: what a helper could not record is counted
 * here (and logged by the helper), never lost silently.
 */
#include "instr_internal.h"

_Atomic uint64_t dpt__instr_sqlite_untraced;
_Atomic uint64_t dpt__instr_curl_inject_failed;

void dpt_instr_get_stats(dpt_instr_stats *out)
{
    if (!out) return;
    out->sqlite_statements_untraced =
        atomic_load_explicit(&dpt__instr_sqlite_untraced, memory_order_relaxed);
    out->curl_inject_failed =
        atomic_load_explicit(&dpt__instr_curl_inject_failed, memory_order_relaxed);
}
