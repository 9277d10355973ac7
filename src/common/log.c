/* log.c - the diagnostic log: one handler for the process, a level, and rate limiting so
 * that a fault repeated a thousand times a second writes a few lines and a count.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

/* ---- diagnostic log ------------------------------------------------------------------- */

/* The handler triple is global, set rarely, read on every message: a mutex keeps the
 * three fields consistent; messages are rare (errors, drops), never on the hot path. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static dpt_log_fn log_fn;
static void *log_user;
static _Atomic int log_min = -1; /* -1: not yet read from the environment */

static void log_fork_prepare(void)
{
    pthread_mutex_lock(&log_mu);
}
static void log_fork_release(void)
{
    pthread_mutex_unlock(&log_mu);
}

/* A fork while another thread logs must not leave the child's copy of log_mu locked. */
__attribute__((constructor)) static void log_atfork(void)
{
    pthread_atfork(log_fork_prepare, log_fork_release, log_fork_release);
}

/* The level from the environment: OTEL_LOG_LEVEL (the specification's variable), with
 * DPTRACE_LOG_LEVEL, when set, taking precedence (it was our first name for it). Values
 * are case-insensitive: debug, info, warn (warning), error (fatal), off (none). The
 * default is warn, not the specification's info: an embedded library stays quiet unless
 * something is wrong. An unknown value falls back to warn and says so. */
static int level_from_env(const char **bad_var, const char **bad_val)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"debug", DPT_LOG_DEBUG},  {"info", DPT_LOG_INFO},   {"warn", DPT_LOG_WARN},
                 {"warning", DPT_LOG_WARN}, {"error", DPT_LOG_ERROR}, {"fatal", DPT_LOG_ERROR},
                 {"off", DPT_LOG_OFF},      {"none", DPT_LOG_OFF}};
    const char *var = "DPTRACE_LOG_LEVEL";
    const char *v = getenv(var);
    if (!v || !*v) {
        var = "OTEL_LOG_LEVEL";
        v = getenv(var);
    }
    if (!v || !*v) return DPT_LOG_WARN;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(v, names[i].name) == 0) return names[i].level;
    *bad_var = var;
    *bad_val = v;
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

void dpt__log_set_level(dpt_log_level min_level)
{
    atomic_store(&log_min, (int)min_level);
}

/* Messages quote values from outside (environment variables, configuration files,
 * propagator and exporter names): a control character in one must not end the line and
 * forge another one, or drive the terminal (ESC). Each becomes \xNN; a message cut
 * (longer than 511 bytes, or its escapes beyond the buffer) ends with "...". No message of
 * dptrace's own has a control character. */
static void log_escape(const char *in, bool cut, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (; *in; in++) {
        unsigned char ch = (unsigned char)*in;
        bool ctl = ch < 0x20 || ch == 0x7f;
        if (o + (ctl ? 4 : 1) + 4 > cap) {
            cut = true;
            break;
        }
        if (!ctl) {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 15];
    }
    if (cut) { /* the loop left room for it */
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* The level, read from the environment the first time (common.h: dpt__log_prime). */
static int log_level_now(void)
{
    int min = atomic_load_explicit(&log_min, memory_order_relaxed);
    if (min >= 0) return min;
    const char *bad_var = NULL, *bad_val = NULL;
    min = level_from_env(&bad_var, &bad_val);
    int unread = -1;
    /* Another thread may have read it, or dpt_log_set_handler set it, meanwhile. */
    if (!atomic_compare_exchange_strong(&log_min, &unread, min)) return unread;
    if (bad_var)
        dpt__log(DPT_LOG_WARN,
                 "%s=%s is not a log level (debug, info, warn, error, off); using warn", bad_var,
                 bad_val);
    return min;
}

void dpt__log_prime(void)
{
    (void)log_level_now();
}

void dpt__log(dpt_log_level level, const char *fmt, ...)
{
    int min = log_level_now();
    if ((int)level < min) return;
    char raw[512], msg[1024]; /* room for the escapes of a full raw message */
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    log_escape(raw, len >= (int)sizeof raw, msg, sizeof msg);
    pthread_mutex_lock(&log_mu);
    dpt_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_mu);
    if (fn) {
        fn(level, msg, user);
    } else {
        static const char *lv[] = {"debug", "info", "warning", "error", ""};
        fprintf(stderr, "dptrace: %s: %s\n", lv[level < 4 ? level : 3], msg);
    }
}

/* ---- rate limiting ---------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void dpt__log_limited(dpt__ratelimit *rl, dpt_log_level level, const char *fmt, ...)
{
    if (!rl) return;
    int min = atomic_load_explicit(&log_min, memory_order_relaxed);
    if (min >= 0 && (int)level < min) return;
    uint32_t burst = rl->burst ? rl->burst : 5;
    uint64_t period = rl->period_ms ? rl->period_ms : 10000;
    /* The first `burst` messages pass; after that one per period. Relaxed atomics and a
     * CAS on next_ms: two threads may both pass at a period boundary, which is harmless. */
    if (atomic_fetch_add_explicit(&rl->burst_used, 1, memory_order_relaxed) >= burst) {
        atomic_store_explicit(&rl->burst_used, burst, memory_order_relaxed);
        uint64_t now = mono_ms();
        uint64_t next = atomic_load_explicit(&rl->next_ms, memory_order_relaxed);
        if (now < next ||
            !atomic_compare_exchange_strong_explicit(&rl->next_ms, &next, now + period,
                                                     memory_order_relaxed, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
            return;
        }
    } else if (atomic_load_explicit(&rl->next_ms, memory_order_relaxed) == 0) {
        atomic_store_explicit(&rl->next_ms, mono_ms() + period, memory_order_relaxed);
    }
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint64_t sup = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
    if (sup)
        dpt__log(level, "%s (%llu similar messages suppressed)", msg, (unsigned long long)sup);
    else
        dpt__log(level, "%s", msg);
}
