/* instr_internal.h - what the parts of libdptrace-instr share: the URL and method helpers
 * of url.c, the default tracer and the counters. Private: dpt__ names, not API.
 */
#ifndef DPT_INSTR_INTERNAL_H
#define DPT_INSTR_INTERNAL_H

#include "dptrace.h"
#include "dptrace/instr.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DPT__INSTR_SCOPE "dptrace.instr"

/* t, or the global provider's tracer for the helpers (NULL when there is none: spans
 * are then no-ops). */
static inline dpt_tracer *dpt__instr_tracer(dpt_tracer *t)
{
    return t ? t
             : dpt_provider_get_tracer(dpt_provider_get_global(), DPT__INSTR_SCOPE,
                                       DPTRACE_VERSION_STRING);
}

static inline int strncasecmp_ascii(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

/* Whether a query key's value is redacted in url.full / url.query. */
int dpt__query_key_sensitive(const char *key, size_t n);
/* Writes the query string q (without '?') with sensitive values replaced; returns the
 * full length (out may be NULL to measure). */
size_t dpt__query_redact(const char *q, size_t n, char *out, size_t cap);
/* Host (without IPv6 brackets) and port of an absolute URL; port -1 when neither given
 * nor known from the scheme. 0 when the URL has no authority. */
int dpt__url_host_port(const char *url, size_t n, const char **host, size_t *host_len, long *port);
/* Host and port of a Host header value ("h", "h:p", "[v6]:p"); port -1 when absent. */
int dpt__host_header(const char *h, size_t n, const char **host, size_t *host_len, long *port);
/* The method as http.request.method carries it: the known method itself, or "_OTHER". */
const char *dpt__http_method(const char *m, size_t n);

/* The library's diagnostic log (libdptrace's, honours dpt_log_set_handler). */
void dpt__log(dpt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counters behind dpt_instr_get_stats (relaxed atomics: independent monotonic counts). */
extern _Atomic uint64_t dpt__instr_sqlite_untraced;
extern _Atomic uint64_t dpt__instr_curl_inject_failed;

#endif
