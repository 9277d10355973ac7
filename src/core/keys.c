/* keys.c - the process-wide table of interned attribute keys.
 *
 * A key is interned the second time a thread sets it from the same address with the same
 * bytes (a string literal, in practice): from then on spans point at the interned copy
 * instead of copying the key, and its redaction verdict is remembered in the entry. The
 * table is bounded (MAX_BYTES); entries are never freed, since any record may
 * point at them. Lookups of the thread's cache are inline (keys.h); this file holds the
 * slow path, under a mutex.
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include "keys.h"

#include <link.h>
#include <stdlib.h>

#define TABLE_SLOTS 8192               /* open addressing, power of two */
#define MAX_KEYS (TABLE_SLOTS / 2)     /* load factor at most 1/2 */
#define MAX_BYTES ((size_t)512 * 1024) /* entries, in total */
#define BLOCK_BYTES 4096u

/* The table: owned by the process, guarded by mu; `full` is read without it. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const dpt__ikey *table[TABLE_SLOTS];
static size_t n_keys, n_bytes;
static char *blk;
static size_t blk_left;
static _Atomic bool full;

/* A thread's cache before its first lookup (and after its exit): empty and never written,
 * so the inline lookups need no NULL test (no key is at address NULL). */
static dpt__kslot no_slots[DPT__KSLOTS];
DPT__TLS dpt__kslot *dpt__tl_keys = no_slots;
static pthread_key_t slots_key;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_free(void *p)
{
    free(p);
    dpt__tl_keys = no_slots;
}
static void table_lock(void)
{
    pthread_mutex_lock(&mu);
}
static void table_unlock(void)
{
    pthread_mutex_unlock(&mu);
}

/* The read-only segments of the main program and of the object this code is in (the
 * same one when the library is linked into the program; a shared libdptrace, or a plugin
 * such as the nginx module that carries the library inside it, otherwise): found once by
 * slots_init, then only read. Bytes there never change while they are mapped; the main
 * program is never unmapped, and the object holding this code is unmapped only with the
 * table and the caches themselves, so a literal of either is identified by its address. */
#define MAX_FIXED 16
static uintptr_t fixed_lo[MAX_FIXED], fixed_hi[MAX_FIXED];
static int n_fixed;

static int find_fixed(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    int *seen = arg;
    /* The first object listed is the main program. */
    bool main_prog = (*seen)++ == 0, self = false;
    uintptr_t me = (uintptr_t)&find_fixed;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        if (ph->p_type == PT_LOAD && me >= lo && me - lo < (uintptr_t)ph->p_memsz) self = true;
    }
    if (main_prog || self) {
        for (int i = 0; i < info->dlpi_phnum && n_fixed < MAX_FIXED; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W)) continue;
            fixed_lo[n_fixed] = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
            fixed_hi[n_fixed] = fixed_lo[n_fixed] + (uintptr_t)ph->p_memsz;
            n_fixed++;
        }
    }
    return self; /* stop once this code's object was seen (it follows the program) */
}

/* Whether key[0..len] (its NUL included) lies in one of the read-only segments found by
 * find_fixed. */
static uint32_t is_fixed(const char *key, uint32_t len)
{
    uintptr_t a = (uintptr_t)key;
    for (int i = 0; i < n_fixed; i++)
        if (a >= fixed_lo[i] && a < fixed_hi[i] && fixed_hi[i] - a > len) return 1;
    return 0;
}

static void slots_init(void)
{
    int seen = 0;
    dl_iterate_phdr(find_fixed, &seen);
    pthread_key_create(&slots_key, slots_free);
    /* A fork while another thread interns a key must not leave the child's mutex held. */
    pthread_atfork(table_lock, table_unlock, table_unlock);
}

static uint64_t hash_bytes(const char *s, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static dpt__ikey *entry_new(const char *key, uint32_t len)
{
    size_t need = (sizeof(dpt__ikey) + len + 1 + 15) & ~(size_t)15;
    if (n_bytes + need > MAX_BYTES) return NULL;
    if (need > blk_left) {
        /* plain malloc: interning is an optimization, it must not fail tests that make
         * the library's own allocations fail; the block is never freed */
        blk = malloc(BLOCK_BYTES);
        if (!blk) return NULL;
        blk_left = BLOCK_BYTES;
    }
    dpt__ikey *k = (dpt__ikey *)blk;
    blk += need;
    blk_left -= need;
    n_bytes += need;
    k->len = len;
    k->bit = dpt__key_bit(key, len);
    atomic_init(&k->keep_under, DPT__KEEP_UNKNOWN);
    memcpy(k->s, key, len);
    k->s[len] = 0;
    return k;
}

static const dpt__ikey *intern(const char *key, uint32_t len, uint64_t h)
{
    const dpt__ikey *found = NULL;
    pthread_mutex_lock(&mu);
    for (size_t i = h & (TABLE_SLOTS - 1);; i = (i + 1) & (TABLE_SLOTS - 1)) {
        const dpt__ikey *k = table[i];
        if (!k) {
            if (n_keys < MAX_KEYS && (found = entry_new(key, len)) != NULL) {
                table[i] = found;
                n_keys++;
            } else {
                atomic_store_explicit(&full, true, memory_order_relaxed);
            }
            break;
        }
        if (k->len == len && memcmp(k->s, key, len) == 0) {
            found = k;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return found;
}

const dpt__ikey *dpt__key_lookup_slow(const char *key, uint32_t len)
{
    if (len > DPT__IKEY_MAX || atomic_load_explicit(&full, memory_order_relaxed)) return NULL;
    if (DPT__UNLIKELY(dpt__tl_keys == no_slots)) {
        pthread_once(&slots_once, slots_init);
        dpt__kslot *t = dpt__calloc_lines(DPT__KSLOTS * sizeof *t, true); /* plain: entry_new */
        if (!t) return NULL;
        pthread_setspecific(slots_key, t);
        dpt__tl_keys = t;
    }
    dpt__kslot *sl = &dpt__tl_keys[dpt__kslot_index(key)];
    uint64_t h = hash_bytes(key, len);
    if (sl->ptr == key && sl->len == len && sl->hash == h && sl->k == NULL) {
        /* Seen before at this address with these bytes: a literal, intern it. The caller
         * passed len bytes; `fixed` also needs the NUL after them. */
        sl->k = intern(key, len, h);
        sl->fixed = sl->k && is_fixed(key, len) && key[len] == 0;
        return sl->k;
    }
    sl->ptr = key;
    sl->len = len;
    sl->hash = h;
    sl->k = NULL;
    sl->fixed = 0;
    return NULL;
}
