/* fuzz_tracestate.c - libFuzzer target: tracestate parsing (src/core/tracestate.c) as the
 * tracecontext propagator uses it. Invariant: a parsed tracestate is canonical (parsing
 * its string gives the same string), within the limits, and survives an update.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dpt_tracestate *ts = NULL, *ts2 = NULL, *ts3 = NULL;
    if (dpt_tracestate_parse((const char *)data, size, &ts) != DPT_OK || !ts) return 0;
    size_t len = 0;
    const char *s = dpt_tracestate_str(ts, &len);
    FUZZ_CHECK(len <= DPT_TRACESTATE_MAX_LEN && strlen(s) == len);
    FUZZ_CHECK(dpt_tracestate_parse(s, len, &ts2) == DPT_OK && ts2);
    FUZZ_CHECK(strcmp(s, dpt_tracestate_str(ts2, NULL)) == 0);
    if (dpt_tracestate_set(ts, "dpt", "x", &ts3) == DPT_OK && ts3) {
        char v[8];
        FUZZ_CHECK(dpt_tracestate_get(ts3, "dpt", v, sizeof v) == DPT_OK && strcmp(v, "x") == 0);
        FUZZ_CHECK(strncmp(dpt_tracestate_str(ts3, NULL), "dpt=x", 5) == 0);
    }
    dpt_tracestate_release(ts);
    dpt_tracestate_release(ts2);
    dpt_tracestate_release(ts3);
    return 0;
}
