/* alloc.c - the allocation hook. Every allocation of the library goes through dpt__malloc
 * & co so that the out-of-memory tests can make the n-th allocation fail and check that
 * every public function degrades cleanly.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* ---- allocation hook ------------------------------------------------------------------ */

/* Global, written only by tests before the code under test runs; read with relaxed
 * atomics so that the export thread may allocate concurrently without a data race. */
static _Atomic long fail_after = -1;
static _Atomic uint64_t alloc_count;

void dpt__test_fail_alloc_after(long after)
{
    atomic_store(&fail_after, after);
}
uint64_t dpt__test_alloc_count(void)
{
    return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}

static bool alloc_should_fail(void)
{
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    long f = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (DPT__LIKELY(f < 0)) return false;
    if (f == 0) return true;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return false;
}

void *dpt__malloc(size_t n)
{
    return alloc_should_fail() ? NULL : malloc(n ? n : 1);
}
void *dpt__calloc(size_t n, size_t size)
{
    return alloc_should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}
void *dpt__aligned_alloc(size_t align, size_t n)
{
    if (alloc_should_fail()) return NULL;
    void *p = NULL;
    return posix_memalign(&p, align, n ? n : 1) == 0 ? p : NULL;
}

void *dpt__calloc_lines(size_t n, bool plain)
{
    if (!plain && alloc_should_fail()) return NULL;
    size_t sz = (n + DPT__CACHELINE - 1) & ~(size_t)(DPT__CACHELINE - 1);
    if (sz < n) return NULL; /* n near SIZE_MAX */
    if (!sz) sz = DPT__CACHELINE;
    void *p = NULL;
    if (posix_memalign(&p, DPT__CACHELINE, sz) != 0) return NULL;
    memset(p, 0, sz);
    return p;
}

void *dpt__realloc(void *p, size_t n)
{
    return alloc_should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *dpt__strndup(const char *s, size_t n)
{
    char *d = dpt__malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}
