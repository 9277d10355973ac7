/* fuzz_argv_redact.c - libFuzzer target: the command-line redaction of `dptrace exec`
 * (tools/dptrace/argv_redact.c). The input is split into arguments at '\n' (a NUL ends
 * an argument, as in a real argv).
 * Invariants: one output argument per input argument, and redacting the redacted command
 * line again never takes a marker away (no rule reveals what another rule hid). Exact
 * idempotence does not hold on arbitrary bytes: a JSON value replaced by "[REDACTED]" adds
 * quotes that can change where a URL found in the same argument ends on a second pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "argv_redact.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

/* Occurrences of REDACTED (the argument marker "[REDACTED]" and the URL rule's one). */
static size_t markers(const char *s)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "REDACTED")) != NULL; p += 8) n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *args[64];
    int n = 0;
    size_t i = 0;
    while (i <= size && n < 64) {
        size_t j = i;
        while (j < size && data[j] != '\n') j++;
        args[n] = malloc(j - i + 1);
        if (!args[n]) break;
        memcpy(args[n], data + i, j - i);
        args[n][j - i] = 0;
        n++;
        i = j + 1;
    }
    char **r1 = argv_redact(n, args);
    if (r1) {
        char **r2 = argv_redact(n, r1);
        CHECK(r2 != NULL);
        for (int k = 0; k < n; k++) CHECK(markers(r2[k]) >= markers(r1[k]));
        argv_redact_free(r2, n);
    }
    argv_redact_free(r1, n);
    for (int k = 0; k < n; k++) free(args[k]);
    return 0;
}
