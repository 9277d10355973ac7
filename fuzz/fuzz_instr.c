/* fuzz_instr.c - libFuzzer target: libdptrace-instr's parsers of request data, which the
 * nginx module and the libcurl / libmicrohttpd / SQLite helpers run on what clients send:
 * the url.full / url.query redaction (dpt_instr_redact_url), the Host header and URL
 * host:port split, and the SQL sanitizer and summarizer (dpt_instr_sanitize_sql,
 * dpt_instr_summarize_sql).
 *
 * Invariants (the header's contract, include/dptrace/instr.h): each writer returns the
 * full length like snprintf, writes a NUL-terminated prefix of it into any smaller buffer,
 * and the same bytes into a buffer that fits; redaction and sanitizing are idempotent (a
 * second pass changes nothing); the sanitized SQL is never longer than its input; the
 * summary is at most 255 bytes; a port is -1 or 0..65535 and a host lies inside its input.
 */
#include <stdio.h>

#include "fuzz_common.h"
#include "dptrace/instr.h"
#include "instr_internal.h"

typedef size_t (*writer)(const char *, size_t, char *, size_t);

/* Runs w on s with a buffer that fits and with a cut one; returns the full output (malloc). */
static char *check_writer(writer w, const char *s, size_t n, size_t *out_len)
{
    size_t need = w(s, n, NULL, 0);
    char *full = malloc(need + 1);
    FUZZ_CHECK(w(s, n, full, need + 1) == need);
    FUZZ_CHECK(strlen(full) == need || memchr(full, 0, need)); /* NULs of the input may pass */
    size_t cut = need / 2;
    char *part = malloc(cut + 1);
    FUZZ_CHECK(w(s, n, part, cut + 1) == need);
    FUZZ_CHECK(part[cut] == '\0' && memcmp(part, full, cut) == 0);
    free(part);
    *out_len = need;
    return full;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0] % 4;
    char *s = malloc(size); /* exact size: ASan sees a read past the input */
    size_t n = size - 1;
    memcpy(s, data + 1, n);
    size_t len, len2;
    switch (mode) {
    case 0: { /* url.full */
        char *out = check_writer(dpt_instr_redact_url, s, n, &len);
        char *again = check_writer(dpt_instr_redact_url, out, len, &len2);
        FUZZ_CHECK(len2 == len && memcmp(out, again, len) == 0);
        free(again);
        free(out);
        const char *host;
        size_t hl;
        long port;
        if (dpt__url_host_port(s, n, &host, &hl, &port)) {
            FUZZ_CHECK(host >= s && host + hl <= s + n);
            FUZZ_CHECK(port >= -1 && port <= 65535);
        }
        break;
    }
    case 1: { /* a Host header */
        const char *host;
        size_t hl;
        long port;
        if (dpt__host_header(s, n, &host, &hl, &port)) {
            FUZZ_CHECK(hl > 0 && host >= s && host + hl <= s + n);
            FUZZ_CHECK(port >= -1 && port <= 65535);
        }
        size_t q = dpt__query_redact(s, n, NULL, 0);
        char *qo = malloc(q + 1);
        FUZZ_CHECK(dpt__query_redact(s, n, qo, q + 1) == q);
        free(qo);
        break;
    }
    case 2: { /* db.query.text */
        char *out = check_writer(dpt_instr_sanitize_sql, s, n, &len);
        FUZZ_CHECK(len <= n);
        char *again = check_writer(dpt_instr_sanitize_sql, out, len, &len2);
        FUZZ_CHECK(len2 == len && memcmp(out, again, len) == 0);
        free(again);
        free(out);
        break;
    }
    case 3: { /* db.query.summary */
        char *out = check_writer(dpt_instr_summarize_sql, s, n, &len);
        FUZZ_CHECK(len <= 255);
        free(out);
        break;
    }
    }
    free(s);
    return 0;
}
