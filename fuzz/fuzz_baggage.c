/* fuzz_baggage.c - libFuzzer target: the W3C baggage parser and serializer.
 * Invariant: parse -> format -> parse gives the same entries, and the header we send stays
 * within 8192 bytes.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dpt_baggage *b = NULL, *b2 = NULL;
    uint32_t dropped = 0;
    if (dpt_w3c_baggage_parse((const char *)data, size, NULL, &b, &dropped) != DPT_OK) return 0;
    char *s = NULL;
    size_t len = 0;
    if (dpt_w3c_baggage_format(b, &s, &len, &dropped) == DPT_OK) {
        FUZZ_CHECK(len <= DPT_W3C_BAGGAGE_MAX_BYTES);
        if (s && dropped == 0 &&
            dpt_w3c_baggage_parse(s, len, NULL, &b2, NULL) == DPT_OK) {
            FUZZ_CHECK(dpt_baggage_count(b) == dpt_baggage_count(b2));
            for (size_t i = 0; i < dpt_baggage_count(b); i++) {
                const char *k, *v, *m, *k2, *v2, *m2;
                dpt_baggage_entry(b, i, &k, &v, &m);
                FUZZ_CHECK(dpt_baggage_entry(b2, i, &k2, &v2, &m2) == DPT_OK);
                FUZZ_CHECK(strcmp(k, k2) == 0 && strcmp(v, v2) == 0);
                FUZZ_CHECK((m == NULL) == (m2 == NULL) && (!m || strcmp(m, m2) == 0));
            }
        }
    }
    dpt_free(s);
    dpt_baggage_release(b);
    dpt_baggage_release(b2);
    return 0;
}
