/* keys.h - interned attribute keys (keys.c): a key a thread sets again and again (nearly
 * always a string literal) is stored once, process-wide, and records point at that copy
 * instead of copying the key into every span. The entry also remembers the redaction
 * verdict, so a known harmless key costs one pointer comparison instead of a lookup.
 */
#ifndef DPT_KEYS_H
#define DPT_KEYS_H

#include "common.h"
#include "redact.h"

#define DPT__IKEY_MAX 128 /* longer keys are copied into each span */

/* An interned key: immutable once published, never freed (records point at s). */
typedef struct dpt__ikey {
    uint32_t len;
    uint32_t bit; /* dpt__key_bit of the key, for the span's key filter */
    /* The redaction policy (its dpt__redact_plain address) under which this key is known
     * harmless, DPT__KEEP_UNKNOWN when not known (never 0, the address of no policy, so
     * that one comparison tells both): written by any thread, only compared. */
    _Atomic uintptr_t keep_under;
    char s[]; /* len bytes and a NUL */
} dpt__ikey;
#define DPT__KEEP_UNKNOWN UINTPTR_MAX

/* The key's bit in a span record's key filter (pool.h, key_bloom): a set of the keys the
 * span has, so that a new key whose bit is clear needs no comparison with the keys already
 * set. A function of the bytes (interned or not, equal keys get the same bit): the length
 * and three characters, which tell the usual semantic-convention keys apart (the eleven an
 * HTTP server sets take eleven different bits). len >= 1. */
static inline uint32_t dpt__key_bit(const char *key, uint32_t len)
{
    const unsigned char *u = (const unsigned char *)key;
    uint32_t h = (len << 1) ^ ((uint32_t)u[len - 1] << 2) ^ u[len >> 1] ^ u[0];
    return 1u << (h & 31);
}

/* Per-thread cache keyed by the key's address, verified against the interned bytes (an
 * address reused for other bytes is a miss). `hash` and `len` remember a key seen once,
 * so that only a key seen twice at the same address is interned: keys built at run time
 * in a reused buffer do not fill the table. `fixed`: the key's bytes (with its NUL) lie in
 * a read-only segment of the main program or of the object holding the library (keys.c),
 * which cannot change while the library is loaded, so the address alone identifies the key
 * (no strcmp): the usual string literal, also that of a plugin carrying the library inside
 * it (the nginx module). */
typedef struct dpt__kslot {
    const char *ptr;
    const dpt__ikey *k;
    uint64_t hash;
    uint32_t len;
    uint32_t fixed;
} dpt__kslot;

/* The cache is on the heap behind one thread-local pointer (allocated at the thread's
 * first lookup, freed at its exit): initial-exec TLS must stay small for the library to be
 * loadable with dlopen(). Before the first lookup it points at an empty table that is
 * never written (keys.c), never NULL. */
#define DPT__KSLOTS 128
extern DPT__TLS dpt__kslot *dpt__tl_keys;

static inline size_t dpt__kslot_index(const char *key)
{
    uintptr_t a = (uintptr_t)key;
    return ((a >> 3) ^ (a >> 10)) & (DPT__KSLOTS - 1);
}

/* &t[dpt__kslot_index(key)], with the shifts folded into the slot size (32 bytes): bits
 * 3..9 and 10..16 of the address land on bits 5..11 of the byte offset directly. */
static inline const dpt__kslot *dpt__kslot_of(const dpt__kslot *t, const char *key)
{
    _Static_assert(sizeof(dpt__kslot) == 32, "dpt__kslot_of assumes 32-byte slots");
    uintptr_t a = (uintptr_t)key;
    uintptr_t off = ((a << 2) ^ (a >> 5)) & ((DPT__KSLOTS - 1) * sizeof(dpt__kslot));
    return (const dpt__kslot *)(const void *)((const char *)t + off);
}

DPT__HIDDEN const dpt__ikey *dpt__key_lookup_slow(const char *key, uint32_t len);

/* The interned copy of key[0..len), or NULL (not interned yet, too long, table full). */
static inline const dpt__ikey *dpt__key_lookup(const char *key, uint32_t len)
{
    const dpt__kslot *sl = dpt__kslot_of(dpt__tl_keys, key);
    const dpt__ikey *k = sl->k;
    if (DPT__LIKELY(sl->ptr == key && k != NULL && k->len == len &&
                    (sl->fixed || memcmp(k->s, key, len) == 0)))
        return k;
    return dpt__key_lookup_slow(key, len);
}

/* The interned copy of the NUL-terminated key, when this thread's cache (t: dpt__tl_keys,
 * which a caller looking up many keys loads once) has it for this address: a literal of the main
 * program or of the library's object by the address alone
 * (`fixed`), any other key
 * verified with strcmp, which also gives the length without a strlen. NULL: not cached
 * here (the caller takes the general path, which learns it). */
static inline const dpt__ikey *dpt__key_cached_in(const dpt__kslot *t, const char *key)
{
    const dpt__kslot *sl = dpt__kslot_of(t, key);
    const dpt__ikey *k = sl->k;
    if (DPT__LIKELY(sl->ptr == key && k != NULL) &&
        DPT__LIKELY(sl->fixed || strcmp(k->s, key) == 0))
        return k;
    return NULL;
}
static inline const dpt__ikey *dpt__key_cached(const char *key)
{
    return dpt__key_cached_in(dpt__tl_keys, key);
}

/* dpt__key_cached for a key known by its address alone (`fixed`), NULL otherwise: no call,
 * for the setters' fast path (any other key takes dpt__key_cached out of line). */
static inline const dpt__ikey *dpt__key_cached_fixed_in(const dpt__kslot *t, const char *key)
{
    const dpt__kslot *sl = dpt__kslot_of(t, key);
    if (DPT__UNLIKELY(sl->ptr != key || !sl->fixed)) return NULL;
    const dpt__ikey *k = sl->k;
    if (!k) __builtin_unreachable(); /* fixed is only set together with k (keys.c) */
    return k;
}
static inline const dpt__ikey *dpt__key_cached_fixed(const char *key)
{
    return dpt__key_cached_fixed_in(dpt__tl_keys, key);
}

/* Whether the key's value is kept as it is under the current redaction policy, as far as
 * the entry knows (false: ask redact.c). */
static inline bool dpt__key_known_keep(const dpt__ikey *k)
{
    /* Relaxed: the policy address is only compared, never dereferenced here. */
    uintptr_t plain = (uintptr_t)atomic_load_explicit(&dpt__redact_plain, memory_order_relaxed);
    /* keep_under is never 0 (DPT__KEEP_UNKNOWN until learned under a policy), so an equal
     * one means a policy (plain != 0) that keeps the key. */
    return atomic_load_explicit(&k->keep_under, memory_order_relaxed) == plain;
}

/* Records that k is harmless under the current plain policy when redact.c's own verdict
 * cache says so for the caller's copy of the key (orig, just looked up by redact.c). */
static inline void dpt__key_learn(const dpt__ikey *k, const char *orig)
{
    uintptr_t plain = (uintptr_t)atomic_load_explicit(&dpt__redact_plain, memory_order_relaxed);
    if (plain && dpt__redact_known_keep(orig, k->len))
        atomic_store_explicit(&((dpt__ikey *)k)->keep_under, plain, memory_order_relaxed);
}

#endif
