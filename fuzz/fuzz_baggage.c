/* fuzz_baggage.c - libFuzzer target: the W3C baggage parser and serializer.
 * Invariant: parse -> format -> parse gives the same entries (compared with their lengths:
 * a decoded value may hold NUL bytes), and the header we send stays within 8192 bytes.
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
        if (s && dropped == 0 && dpt_w3c_baggage_parse(s, len, NULL, &b2, NULL) == DPT_OK) {
            FUZZ_CHECK(dpt_baggage_count(b) == dpt_baggage_count(b2));
            for (size_t i = 0; i < dpt_baggage_count(b); i++) {
                dpt_baggage_item x, y;
                FUZZ_CHECK(dpt_baggage_entry_n(b, i, &x) == DPT_OK);
                FUZZ_CHECK(dpt_baggage_entry_n(b2, i, &y) == DPT_OK);
                FUZZ_CHECK(x.key_len == y.key_len && memcmp(x.key, y.key, x.key_len) == 0);
                FUZZ_CHECK(x.value_len == y.value_len &&
                           memcmp(x.value, y.value, x.value_len) == 0);
                FUZZ_CHECK((x.metadata == NULL) == (y.metadata == NULL));
                FUZZ_CHECK(x.metadata_len == y.metadata_len &&
                           (!x.metadata || memcmp(x.metadata, y.metadata, x.metadata_len) == 0));
            }
        }
    }
    dpt_free(s);
    dpt_baggage_release(b);
    dpt_baggage_release(b2);
    return 0;
}
