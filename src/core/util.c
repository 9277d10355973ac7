/* util.c - error strings, the diagnostic log and the allocation hook.
 *
 * All library allocations go through dpt__malloc & co so that the out-of-memory tests
 * can make the n-th allocation fail and check that every public function degrades
 * cleanly.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

const char *dpt_strerror(dpt_err err)
{
    switch (err) {
    case DPT_OK: return "success";
    case DPT_EINVAL: return "invalid argument";
    case DPT_ENOMEM: return "out of memory";
    case DPT_ESTATE: return "invalid state (ended, stale or shut down)";
    case DPT_ETIMEDOUT: return "timed out";
    case DPT_EFULL: return "queue or store full";
    case DPT_EIO: return "input/output error";
    case DPT_ENOTFOUND: return "not found";
    case DPT_ETOOBIG: return "exceeds a limit";
    case DPT_EPARSE: return "malformed input";
    case DPT_EUNSUPPORTED: return "not supported";
    case DPT_EEXPORT: return "export failed";
    case DPT_EBUSY: return "busy";
    }
    return "unknown error";
}

void dpt_free(void *ptr) { free(ptr); }

/* ---- allocation hook ------------------------------------------------------------------ */

/* Global, written only by tests before the code under test runs; read with relaxed
 * atomics so that the export thread may allocate concurrently without a data race. */
static _Atomic long fail_after = -1;
static _Atomic uint64_t alloc_count;

void dpt__test_fail_alloc_after(long after) { atomic_store(&fail_after, after); }
uint64_t dpt__test_alloc_count(void) { return atomic_load_explicit(&alloc_count, memory_order_relaxed); }

static bool alloc_should_fail(void)
{
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    long f = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (DPT__LIKELY(f < 0)) return false;
    if (f == 0) return true;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return false;
}

void *dpt__malloc(size_t n) { return alloc_should_fail() ? NULL : malloc(n ? n : 1); }
void *dpt__calloc(size_t n, size_t size) { return alloc_should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1); }
void *dpt__aligned_alloc(size_t align, size_t n)
{
    if (alloc_should_fail()) return NULL;
    void *p = NULL;
    return posix_memalign(&p, align, n ? n : 1) == 0 ? p : NULL;
}

void *dpt__realloc(void *p, size_t n) { return alloc_should_fail() ? NULL : realloc(p, n ? n : 1); }


char *dpt__strndup(const char *s, size_t n)
{
    char *d = dpt__malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- diagnostic log ------------------------------------------------------------------- */

/* The handler triple is global, set rarely, read on every message: a mutex keeps the
 * three fields consistent; messages are rare (errors, drops), never on the hot path. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static dpt_log_fn log_fn;
static void *log_user;
static _Atomic int log_min = -1; /* -1: not yet read from DPTRACE_LOG_LEVEL */

static void log_fork_prepare(void) { pthread_mutex_lock(&log_mu); }
static void log_fork_release(void) { pthread_mutex_unlock(&log_mu); }

/* A fork while another thread logs must not leave the child's copy of log_mu locked. */
__attribute__((constructor)) static void log_atfork(void)
{
    pthread_atfork(log_fork_prepare, log_fork_release, log_fork_release);
}

static int level_from_env(void)
{
    const char *v = getenv("DPTRACE_LOG_LEVEL");
    if (!v || !*v) return DPT_LOG_WARN;
    static const char *names[] = { "debug", "info", "warn", "error", "off" };
    for (int i = 0; i < 5; i++)
        if (strcasecmp(v, names[i]) == 0) return i;
    return DPT_LOG_WARN;
}

void dpt_log_set_handler(dpt_log_fn fn, void *user, dpt_log_level min_level)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_user = user;
    atomic_store(&log_min, (int)min_level);
    pthread_mutex_unlock(&log_mu);
}

void dpt__log(dpt_log_level level, const char *fmt, ...)
{
    int min = atomic_load_explicit(&log_min, memory_order_relaxed);
    if (min < 0) {
        min = level_from_env();
        atomic_store(&log_min, min);
    }
    if ((int)level < min) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    dpt_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_mu);
    if (fn) {
        fn(level, msg, user);
    } else {
        static const char *lv[] = { "debug", "info", "warning", "error", "" };
        fprintf(stderr, "dptrace: %s: %s\n", lv[level < 4 ? level : 3], msg);
    }
}

/* ---- graveyard -------------------------------------------------------------------------- */

typedef struct grave {
    void *p;
    struct grave *next;
} grave;

/* Global list, only ever grown; protected by grave_mu. */
static pthread_mutex_t grave_mu = PTHREAD_MUTEX_INITIALIZER;
static grave *graves;

void dpt__graveyard_add(void *p)
{
    grave *g = malloc(sizeof *g);
    if (!g) return; /* then it simply leaks */
    g->p = p;
    pthread_mutex_lock(&grave_mu);
    g->next = graves;
    graves = g;
    pthread_mutex_unlock(&grave_mu);
}
