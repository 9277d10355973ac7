/* fuzz_argv_redact.c - libFuzzer target: the command-line redaction of `dptrace exec`
 * (tools/dptrace/argv_redact.c). The input is split into arguments at '\n' (a NUL ends
 * an argument, as in a real argv).
 * Invariants: one output argument per input argument, and an argument the first pass
 * marked is still marked after a second pass over the redacted command line (a redacted
 * argument never comes out clean). Neither exact idempotence nor the number of markers
 * holds on arbitrary bytes: a JSON value replaced by "[REDACTED]" adds quotes that can
 * change where a word or a URL ends on the second pass, so that one wider marker may
 * replace two (`;"token=2oken": "a\"b"` gives `;"token=[REDACTED] "[REDACTED]"`, then
 * `;"token=[REDACTED]`): less is shown, never more.
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
    for (const char *p = s; (p = strstr(p, "REDACTED")) != NULL; p += 8)
        n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *args[64];
    int n = 0;
    size_t i = 0;
    while (i <= size && n < 64) {
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
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
        for (int k = 0; k < n; k++)
            CHECK(markers(r1[k]) == 0 || markers(r2[k]) > 0);
        argv_redact_free(r2, n);
    }
    argv_redact_free(r1, n);
    for (int k = 0; k < n; k++)
        free(args[k]);
    return 0;
}
