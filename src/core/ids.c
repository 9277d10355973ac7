/* ids.c - trace and span ids.
 *
 * Ids come from a per-thread wyrand generator seeded from getrandom(): no lock, no syscall
 * per id. A pthread_atfork child handler forgets the seed of the forking thread
 * (the only thread of the child), so two forked workers never share an id stream. The
 * W3C Level 2 "random" flag is honest: every trace id is 128 random bits.
 */
#include "ids.h"

#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

typedef dpt__rng rng;

DPT__TLS dpt__rng dpt__tl_rng; /* thread-local: no synchronisation needed */
#define tl_rng dpt__tl_rng
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    dpt__ids_atfork_child();
}
static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

void dpt__ids_atfork_child(void)
{
    tl_rng.seeded = false;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void dpt__rng_seed(rng *r)
{
    pthread_once(&atfork_once, install_atfork);
    uint64_t buf[4] = {0};
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = getrandom((char *)buf + got, sizeof buf - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            break;
        }
    }
    if (got < sizeof buf) {
        /* No getrandom (very old kernel, seccomp): mix time, pid and addresses. Worse
         * than real entropy but still distinct per process and thread. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid() ^
                     (uint64_t)(uintptr_t)r;
        for (int i = 0; i < 4; i++)
            buf[i] ^= splitmix64(&x);
        dpt__log(DPT_LOG_WARN, "getrandom() failed; ids seeded from time and pid");
    }
    uint64_t x = buf[0] ^ buf[1] ^ buf[2] ^ buf[3];
    for (int i = 0; i < 4; i++)
        r->s[i] = buf[i] ^ splitmix64(&x);
    r->seeded = true;
}

dpt_trace_id dpt_trace_id_generate(void)
{
    dpt_trace_id id;
    dpt__new_trace_id(&id);
    return id;
}

dpt_span_id dpt_span_id_generate(void)
{
    dpt_span_id id;
    dpt__new_span_id(&id);
    return id;
}

/* Word compares, not a loop: every extract and inject checks ids. */
bool dpt_trace_id_is_valid(const dpt_trace_id *id)
{
    if (!id) return false;
    uint64_t a, b;
    memcpy(&a, id->b, 8);
    memcpy(&b, id->b + 8, 8);
    return (a | b) != 0;
}

bool dpt_span_id_is_valid(const dpt_span_id *id)
{
    if (!id) return false;
    uint64_t a;
    memcpy(&a, id->b, 8);
    return a != 0;
}
bool dpt_span_context_is_valid(const dpt_span_context *sc)
{
    return sc && dpt__sc_valid(sc);
}

void dpt_trace_id_to_hex(const dpt_trace_id *id, char out[33])
{
    static const dpt_trace_id zero;
    if (out) dpt__hex_encode((id ? id : &zero)->b, 16, out);
}

void dpt_span_id_to_hex(const dpt_span_id *id, char out[17])
{
    static const dpt_span_id zero;
    if (out) dpt__hex_encode((id ? id : &zero)->b, 8, out);
}

dpt_err dpt_trace_id_from_hex(const char *hex, size_t len, dpt_trace_id *out)
{
    dpt_trace_id t = {{0}};
    dpt_err e = hex && len == 32 && dpt__hex_decode(hex, len, t.b, 16) ? DPT_OK : DPT_EINVAL;
    if (e == DPT_OK && out) *out = t;
    return e;
}

dpt_err dpt_span_id_from_hex(const char *hex, size_t len, dpt_span_id *out)
{
    dpt_span_id t = {{0}};
    dpt_err e = hex && len == 16 && dpt__hex_decode(hex, len, t.b, 8) ? DPT_OK : DPT_EINVAL;
    if (e == DPT_OK && out) *out = t;
    return e;
}

/* ---- X-Ray style ids ------------------------------------------------------------------------ */

/* AWS X-Ray trace ids carry the epoch second of the trace's start in their first 4 bytes
 * (its "1-<8 hex time>-<24 hex random>" form); the remaining 12 bytes are random, so the
 * W3C "random" flag (right-most 7 bytes random) stays true. */
static void xray_trace_id(void *user, dpt_trace_id *out)
{
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t sec = (uint32_t)ts.tv_sec;
    out->b[0] = (uint8_t)(sec >> 24);
    out->b[1] = (uint8_t)(sec >> 16);
    out->b[2] = (uint8_t)(sec >> 8);
    out->b[3] = (uint8_t)sec;
    uint64_t a = dpt__rand64(), b = dpt__rand64();
    memcpy(out->b + 4, &a, 8);
    memcpy(out->b + 12, &b, 4);
}

const dpt_id_generator *dpt_id_generator_xray(void)
{
    static const dpt_id_generator g = {xray_trace_id, NULL, NULL, true};
    return &g;
}
