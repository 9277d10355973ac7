/* redact.h - redaction of sensitive values (redact.c), and the inline check of
 * the per-thread verdict cache. */
#ifndef DPT_REDACT_H
#define DPT_REDACT_H

#include "common.h"

/* Redaction (redact.c): what to store instead of a value, if anything. text is the
 * marker or buf. */
typedef struct dpt__redact_result {
    int action; /* dpt_redact_action */
    const char *text;
    size_t len;
} dpt__redact_result;
DPT__HIDDEN dpt__redact_result dpt__redact(const char *key, size_t klen, const dpt_value *v,
                                           char *buf, size_t cap);

/* The per-thread verdict cache of redact.c, and its inline use: true when key is known
 * (same address, same bytes, same policy) not to match any pattern and the policy has no
 * custom rule, so the value is kept without calling into redact.c. */
#define DPT__VERDICT_SLOTS 64
#define DPT__VERDICT_KEY_MAX 48
typedef struct dpt__verdict {
    const char *ptr;
    const void *pol;
    uint32_t len;
    bool match;
    char copy[DPT__VERDICT_KEY_MAX];
} dpt__verdict;
/* The cache lives on the heap behind one thread-local pointer (allocated at the thread's
 * first miss, freed at its exit): initial-exec TLS must stay small for libdptrace.so to be
 * loadable with dlopen() (tests/core/dlopen_test). */
extern DPT__TLS dpt__verdict *dpt__tl_verdicts;
extern DPT__HIDDEN _Atomic(const void *) dpt__redact_plain;
static inline bool dpt__redact_known_keep(const char *key, size_t len)
{
    const void *p = atomic_load_explicit(&dpt__redact_plain, memory_order_acquire);
    if (!p || len > DPT__VERDICT_KEY_MAX) return false;
    const dpt__verdict *t = dpt__tl_verdicts;
    if (DPT__UNLIKELY(!t)) return false;
    uintptr_t a = (uintptr_t)key;
    const dpt__verdict *v = &t[(a ^ (a >> 6) ^ (a >> 12)) & (DPT__VERDICT_SLOTS - 1)];
    return v->ptr == key && v->len == len && v->pol == p && !v->match &&
           memcmp(v->copy, key, len) == 0;
}

#endif
