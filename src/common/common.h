/* common.h - the helpers every module of dptrace uses: allocation hook, diagnostic log,
 * byte buffer, JSON writer, UTF-8, text (hex, percent coding, HTTP tokens, RFC 3339) and
 * environment parsing.
 *
 * This is the one internal header the optional libraries (libdptrace-http, -instr,
 * -config, the nginx module, the Python binding) may include besides the public API. Its
 * functions are the documented stable subset that libdptrace.so exports under dpt__
 * names (DPT__SHARED); tests/core/test_symbols checks that nothing else private is
 * exported. Everything about spans, records and providers lives in src/core/core.h and is
 * private to libdptrace.
 */
#ifndef DPT_COMMON_H
#define DPT_COMMON_H

#include "dptrace.h"
#include "dptrace/plugin.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#define DPT__LIKELY(x) __builtin_expect(!!(x), 1)
#define DPT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DPT__HIDDEN __attribute__((visibility("hidden")))
/* The stable subset of private helpers that the optional libraries link against. */
#define DPT__SHARED DPT_EXTERN
#define DPT__CACHELINE 64
/* Thread-locals of the hot path use the initial-exec TLS model: one instruction per access
 * instead of a __tls_get_addr call in PIC code. The library's TLS is about 150 bytes, well
 * inside the static TLS surplus glibc keeps for libraries loaded with dlopen(). */
#define DPT__TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* ---- allocation hook (alloc.c; fault injection in tests, see tests/core/test_oom.c) ---- */
DPT__SHARED void *dpt__malloc(size_t n);
DPT__SHARED void *dpt__calloc(size_t n, size_t size);
DPT__SHARED void *dpt__realloc(void *p, size_t n);
DPT__SHARED void *dpt__aligned_alloc(size_t align, size_t n);
DPT__SHARED char *dpt__strndup(const char *s, size_t n);
/* Zeroed memory for a block that one thread writes on its hot path (its owner block,
 * counters, caches): whole cache lines of its own, so that no other thread's block shares
 * a line with it (two 24-byte blocks from calloc sit in one line, and every write of one
 * thread then takes the line from the other). `plain`: not subject to the tests' fault
 * injection (blocks whose allocation must not fail a test). Freed with free(). */
DPT__HIDDEN void *dpt__calloc_lines(size_t n, bool plain);
/* Test hooks: the next allocations fail after `after` successes (-1: never); and the
 * number of allocations so far. For the test suite and the bench only. */
DPT__SHARED void dpt__test_fail_alloc_after(long after);
DPT__SHARED uint64_t dpt__test_alloc_count(void);

/* ---- short copies ----------------------------------------------------------------------- */

/* Copies n bytes from s to d, reading and writing only [0, n). Span names and attribute
 * values are mostly short: overlapping 8- and 4-byte loads and stores copy up to 16 bytes
 * without a call to memcpy, which would cost more than the copy; longer ones go to memcpy.
 * Returns the high bits (0x80) of the bytes it loaded, OR-ed together, for n <= 16 (0: all
 * ASCII; the encoders test for it on the way), and all ones for a longer copy. Callers
 * that only copy ignore it (inline: the compiler drops the ORs). */
#define DPT__HI8 0x8080808080808080ull
static inline uint64_t dpt__copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
        return (a | b) & DPT__HI8;
    }
    if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
        return (a | b) & (uint32_t)DPT__HI8;
    }
    if (n < 4) {
        /* 1 to 3 bytes: the first, the middle and the last (some of them the same) */
        if (!n) return 0;
        d[0] = s[0];
        d[n >> 1] = s[n >> 1];
        d[n - 1] = s[n - 1];
        return (s[0] | s[n >> 1] | s[n - 1]) & 0x80u;
    }
    memcpy(d, s, n);
    return ~0ull;
}

/* dpt__copy that also copies 17 to 32 bytes without a call: the encoders' attribute keys
 * (a separate function, so that the span's own copies keep the shorter code). The same
 * result, for n <= 32. */
static inline uint64_t dpt__copy32(void *dst, const void *src, size_t n)
{
    if (n > 16 && n <= 32) {
        unsigned char *d = dst;
        const unsigned char *s = src;
        uint64_t a, b, y, z;
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        memcpy(&y, s + n - 16, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + 8, &b, 8);
        memcpy(d + n - 16, &y, 8);
        memcpy(d + n - 8, &z, 8);
        return (a | b | y | z) & DPT__HI8;
    }
    return dpt__copy(dst, src, n);
}

/* ---- diagnostics (log.c) --------------------------------------------------------------- */
DPT__SHARED void dpt__log(dpt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Reads the level from the environment now if nothing has yet (DPTRACE_LOG_LEVEL,
 * OTEL_LOG_LEVEL): otherwise the first message does, on whatever thread logs it. */
DPT__SHARED void dpt__log_prime(void);
/* Sets the lowest level delivered, keeping the handler (a configuration file's log_level). */
DPT__SHARED void dpt__log_set_level(dpt_log_level min_level);

/* A rate limit for one kind of message: at most `burst` messages, then one per `period_ms`
 * with the number suppressed in between ("... (37 similar messages suppressed)").
 * Zero-initialised it allows 5 messages then one every 10 s. Thread-safe. */
typedef struct dpt__ratelimit {
    _Atomic uint64_t next_ms; /* monotonic ms before which messages are suppressed */
    _Atomic uint32_t burst_used;
    _Atomic uint64_t suppressed;
    uint32_t burst;     /* 0: 5 */
    uint32_t period_ms; /* 0: 10000 */
} dpt__ratelimit;
DPT__SHARED void dpt__log_limited(dpt__ratelimit *rl, dpt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- growable buffer (buf.c) ------------------------------------------------------------ */
typedef struct dpt__buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom; /* an allocation failed: content is truncated, callers report DPT_ENOMEM */
} dpt__buf;

DPT__SHARED void dpt__buf_init(dpt__buf *b);
DPT__SHARED void dpt__buf_free(dpt__buf *b);
DPT__SHARED bool dpt__buf_reserve(dpt__buf *b, size_t extra);
DPT__SHARED void dpt__buf_put(dpt__buf *b, const void *p, size_t n);
DPT__SHARED void dpt__buf_putc(dpt__buf *b, char c);
DPT__SHARED void dpt__buf_puts(dpt__buf *b, const char *s);
DPT__SHARED void dpt__buf_printf(dpt__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes the content as a malloc'd NUL-terminated string (b is reset). NULL on oom. */
DPT__SHARED char *dpt__buf_take(dpt__buf *b, size_t *len);
/* Exchanges an encoder's output buffer (what dpt_encoder_encode just returned) with b: the
 * caller takes the payload without copying it, the encoder writes the next one into b's
 * old memory (src/export/encoder.c; an HTTP exporter's request body, libdptrace-http). */
struct dpt_encoder;
DPT__SHARED void dpt__encoder_swap_out(struct dpt_encoder *e, dpt__buf *b);

/* ---- streaming JSON writer (json.c) ------------------------------------------------------ */
#define DPT__JSON_MAX_DEPTH 64
typedef struct dpt__json {
    dpt__buf *b;
    uint32_t depth;
    bool need_comma[DPT__JSON_MAX_DEPTH];
    bool after_key;
} dpt__json;

DPT__SHARED void dpt__json_init(dpt__json *j, dpt__buf *b);
DPT__SHARED void dpt__json_obj_begin(dpt__json *j);
DPT__SHARED void dpt__json_obj_end(dpt__json *j);
DPT__SHARED void dpt__json_arr_begin(dpt__json *j);
DPT__SHARED void dpt__json_arr_end(dpt__json *j);
DPT__SHARED void dpt__json_key(dpt__json *j, const char *key);
DPT__SHARED void dpt__json_keyn(dpt__json *j, const char *key, size_t len);
/* Escapes every control character, '"' and '\\'; invalid UTF-8 bytes become U+FFFD. */
DPT__SHARED void dpt__json_str(dpt__json *j, const char *s, size_t len);
DPT__SHARED void dpt__json_cstr(dpt__json *j, const char *s);
DPT__SHARED void dpt__json_int(dpt__json *j, int64_t v);
DPT__SHARED void dpt__json_uint(dpt__json *j, uint64_t v);
/* Finite doubles in shortest round-trip form; NaN/Infinity as the strings "NaN",
 * "Infinity", "-Infinity" (the protobuf JSON mapping's spelling). */
DPT__SHARED void dpt__json_double(dpt__json *j, double v);
DPT__SHARED void dpt__json_bool(dpt__json *j, bool v);
DPT__SHARED void dpt__json_null(dpt__json *j);
/* A 64-bit integer as a decimal string ("123"), as OTLP/JSON wants. */
DPT__SHARED void dpt__json_u64str(dpt__json *j, uint64_t v);
DPT__SHARED void dpt__json_i64str(dpt__json *j, int64_t v);
/* A value as JSON: scalars natively, arrays as arrays. */
DPT__SHARED void dpt__json_value(dpt__json *j, const dpt_value *v);

/* ---- UTF-8 (utf8.c) -------------------------------------------------------------------- */
/* The length of the longest prefix of s that is valid UTF-8. */
DPT__SHARED size_t dpt__utf8_valid_prefix(const char *s, size_t len);
/* Appends s to out with each invalid byte replaced by U+FFFD. */
DPT__SHARED void dpt__utf8_sanitize(const char *s, size_t len, dpt__buf *out);
/* Length of the valid UTF-8 sequence starting at s[i], 0 when the byte at i does not start
 * one. Library-internal (not exported). */
DPT__HIDDEN size_t dpt__utf8_seq(const unsigned char *s, size_t len, size_t i);
/* Largest n <= max such that cutting s at n does not split a UTF-8 sequence. */
DPT__SHARED size_t dpt__utf8_cut(const char *s, size_t len, size_t max);

/* ---- text (text.c) ------------------------------------------------------------------------ */
/* Value of a lowercase hex digit, or -1 (uppercase is rejected: W3C and B3 say lowercase). */
DPT__SHARED extern const int8_t dpt__lhex[256];
/* Value of a hex digit of either case, or -1. */
DPT__SHARED int dpt__anyhex(unsigned char c);
/* Decodes exactly 2*n lowercase hex digits into out; false on any other byte. */
DPT__SHARED bool dpt__lhex_decode(const char *s, uint8_t *out, size_t n);
/* Encodes n bytes as 2*n lowercase hex digits (no NUL). */
DPT__SHARED void dpt__lhex_encode(const uint8_t *in, size_t n, char *out);
/* Encodes n bytes as 2*n lowercase hex digits plus a NUL. */
DPT__SHARED void dpt__hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly len == 2*n hex digits of either case; false otherwise. */
DPT__SHARED bool dpt__hex_decode(const char *s, size_t len, uint8_t *out, size_t n);
/* Decodes 1..2*n hex digits (either case), right-aligned into out (zero-padded left). */
DPT__SHARED bool dpt__hex_decode_padded(const char *s, size_t len, uint8_t *out, size_t n);
DPT__SHARED bool dpt__all_zero(const uint8_t *p, size_t n);
/* HTTP token character (RFC 9110 tchar). */
DPT__SHARED bool dpt__tchar(unsigned char c);
/* a[0..n) equals the lowercase NUL-terminated b, ASCII case-insensitively. */
DPT__SHARED bool dpt__name_eq(const char *a, size_t n, const char *b);
/* Percent-decodes s into b; false on a malformed escape ('%' not followed by two hex
 * digits). Decoded bytes may include NUL: b keeps the length. */
DPT__SHARED bool dpt__pct_decode(const char *s, size_t len, dpt__buf *b);
/* Appends s percent-encoded (everything but encodeURIComponent's unreserved set). */
DPT__SHARED void dpt__pct_encode(const char *s, size_t len, dpt__buf *b);
/* RFC 3339 UTC with nanoseconds: "2026-11-25T20:34:23.123456789Z" (31 chars + NUL). */
DPT__SHARED void dpt__format_rfc3339(uint64_t unix_ns, char out[40]);

/* Optional whitespace (SP / HTAB, RFC 9110 OWS) trimmed from both ends of [*s, *s + *len). */
static inline bool dpt__ows(char c)
{
    return c == ' ' || c == '\t';
}
static inline void dpt__trim_ows(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;
    while (n && dpt__ows(p[0]))
        p++, n--;
    while (n && dpt__ows(p[n - 1]))
        n--;
    *s = p;
    *len = n;
}

/* ---- lists (text.c) ------------------------------------------------------------------------ */
/* The next non-empty member of the comma-separated list s[0..len), from *pos (0 to start):
 * the member with OWS trimmed in [*m, *m + *ml), and *pos moved past it and its ','. Empty
 * members (",,", a trailing ',', header lines joined with ',') are skipped, as W3C Baggage
 * and OTEL_PROPAGATORS allow. false when none is left. */
DPT__SHARED bool dpt__list_next(const char *s, size_t len, size_t *pos, const char **m, size_t *ml);
/* Splits a member at its first '=' into key and value, both OWS-trimmed; false (outputs
 * untouched) when it has no '='. */
DPT__SHARED bool dpt__kv_split(const char *m, size_t ml, const char **k, size_t *kl, const char **v,
                               size_t *vl);

/* OpenTelemetry's key=value lists: OTEL_RESOURCE_ATTRIBUTES (resource/sdk.md), the
 * OTEL_EXPORTER_OTLP_*HEADERS variables (protocol/exporter.md, "in a format matching to
 * the W3C Baggage [...] Semi-colon delimited metadata is not supported") and the
 * configuration file's *_list forms of them. One reading for all: members from
 * dpt__list_next, split by dpt__kv_split at the first '=', key and value each
 * percent-decoded by dpt__pct_decode. A member is malformed when it has no '=', an empty
 * key, or a '%' not followed by two hex digits; the caller decides what that costs (the
 * resource rule discards the whole list, header lists drop the member). Not thread-safe
 * (one cursor per caller). */
typedef struct dpt__kvlist {
    const char *s;
    size_t len, pos;
    const char *m; /* the current member as written, OWS-trimmed (for positions in messages) */
    size_t ml;
    dpt__buf key, value; /* its decoded key and value: NUL-terminated, may hold NUL bytes */
} dpt__kvlist;
enum { DPT__KV_END = 0, DPT__KV_MEMBER = 1, DPT__KV_MALFORMED = -1, DPT__KV_ENOMEM = -2 };
/* Starts a cursor over s[0..len) (s NULL: an empty list). */
DPT__SHARED void dpt__kvlist_init(dpt__kvlist *it, const char *s, size_t len);
/* Reads the next member: DPT__KV_MEMBER (it->key / it->value filled), DPT__KV_END,
 * DPT__KV_MALFORMED (it->m is the member; the cursor moves on to the next one) or
 * DPT__KV_ENOMEM. */
DPT__SHARED int dpt__kvlist_next(dpt__kvlist *it);
DPT__SHARED void dpt__kvlist_free(dpt__kvlist *it);

/* ---- environment (env.c) ------------------------------------------------------------------ */
/* One reading of the OpenTelemetry environment's value types for every module, following
 * the specification's "Parsing empty value" and type rules: an empty value is unset;
 * enum-like values are case-insensitive; a boolean is true only for "true" (any case),
 * false for "false", and anything else is logged and read as false; an invalid value is
 * logged once, naming the variable and what is used instead. */
/* The value, or NULL when unset or empty. */
DPT__SHARED const char *dpt__env(const char *name);
/* OpenTelemetry boolean: def when unset or empty. */
DPT__SHARED bool dpt__env_bool(const char *name, bool def);
/* A non-negative integer <= max; false (logged, *out untouched) when unset or invalid. */
DPT__SHARED bool dpt__env_uint(const char *name, uint64_t max, uint64_t *out);
/* A double in [lo, hi]; false (logged) when unset or invalid. */
DPT__SHARED bool dpt__env_double(const char *name, double lo, double hi, double *out);
/* Index of the value in names (case-insensitive), def when unset, def (logged) when it
 * is none of them. */
DPT__SHARED int dpt__env_enum(const char *name, const char *const *names, size_t n, int def);
/* ASCII case-insensitive equality of two NUL-terminated strings. */
DPT__SHARED bool dpt__str_ieq(const char *a, const char *b);

/* ---- background threads (thread.c) ------------------------------------------------------ */
/* dptrace's own threads (the batch processor's export thread, the HTTP client's I/O
 * thread) never call getenv(): a setenv() in another thread may be running (thread.c).
 * dpt__background_prepare() reads, on the thread that creates the component, everything
 * such a thread would otherwise read from the environment: the log level
 * (dpt__log_prime) and DPTRACE_EXPORT_SCHED. It returns whether the thread should take the
 * SCHED_BATCH policy (unless DPTRACE_EXPORT_SCHED=other), so that its wake-ups do not
 * preempt the application's threads (docs/ARCHITECTURE.md, "Export threads").
 * dpt__background_thread() is called first by the thread itself: it names it (top -H,
 * perf, gdb) and takes that policy; it returns whether SCHED_BATCH was taken. */
DPT__SHARED bool dpt__background_prepare(void);
DPT__SHARED bool dpt__background_thread(const char *name, bool sched_batch);

/* ---- export context (src/core/batch.c) ---------------------------------------------------- */
/* The batch processor's deadline and completion for the export_spans call running on this
 * thread, for libdptrace-http; NULL outside one. The contract: src/core/export_async.h. */
struct dpt__export_ctx;
DPT__SHARED const struct dpt__export_ctx *dpt__export_ctx_current(void);

#endif /* DPT_COMMON_H */
