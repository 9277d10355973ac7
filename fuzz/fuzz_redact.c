/* fuzz_redact.c - libFuzzer target: the redaction policy's key matching (substrings,
 * whole words, Unicode look-alike folding) and the URL rule of url.full / url.query.
 * Invariants: a key that matches still matches behind an ASCII prefix ending in a
 * separator (matching is local to the key's words); rewriting a rewritten URL changes
 * nothing more (the rule is idempotent), and a result never grows past what was asked.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool m = dpt_redaction_matches(s, size);
    if (size < 400) {
        char pre[512];
        memcpy(pre, "x.", 2);
        memcpy(pre + 2, s, size);
        FUZZ_CHECK(!m || dpt_redaction_matches(pre, size + 2));
    }
    static char out[65536], again[65536];
    size_t n = 0, n2 = 0;
    dpt_err e = dpt_redaction_rewrite_url(s, size, out, sizeof out, &n);
    FUZZ_CHECK(e == DPT_OK || e == DPT_ENOTFOUND || e == DPT_ETOOBIG);
    if (e == DPT_OK) {
        FUZZ_CHECK(n <= sizeof out);
        dpt_err e2 = dpt_redaction_rewrite_url(out, n, again, sizeof again, &n2);
        FUZZ_CHECK(e2 == DPT_OK || e2 == DPT_ENOTFOUND);
        if (e2 == DPT_OK) FUZZ_CHECK(n2 == n && memcmp(out, again, n) == 0);
    }
    /* the attribute path: url.full through a span-less value check */
    dpt_baggage *b = NULL;
    if (dpt_baggage_set_n(NULL, "user", 4, "v", 1, s, size, &b) == DPT_OK) {
        dpt_baggage_item it;
        FUZZ_CHECK(dpt_baggage_entry_n(b, 0, &it) == DPT_OK);
    }
    dpt_baggage_release(b);
    return 0;
}
