/* test_text_hex.c - the lowercase hex helpers of src/common/text.c that every id passes
 * through (traceparent, B3, Jaeger): each byte value at each position of each length,
 * so that the wide (SSE2, SWAR) paths and the byte-at-a-time tail agree. */
#include "test_util.h"
#include "common.h"

#include <stdio.h>

/* W3C Trace Context (section 3.2.2): trace-id and parent-id are lowercase hex
 * ("HEXDIGLC = DIGIT / "a" / "b" / "c" / "d" / "e" / "f""); anything else is invalid. */
static void test_lhex_decode_accepts_exactly_the_lowercase_digits_everywhere(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 3, 4, 7, 8, 9, 12, 16, 17, 24};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        char s[2 * 24 + 1]; /* snprintf writes a NUL after the last pair */
        uint8_t want[24], got[24];
        for (size_t i = 0; i < n; i++) {
            want[i] = (uint8_t)(i * 37 + 11);
            snprintf(s + 2 * i, 3, "%02x", want[i]);
        }
        assert_true(dpt__lhex_decode(s, got, n));
        assert_memory_equal(got, want, n);
        for (size_t pos = 0; pos < 2 * n; pos++) {
            char keep = s[pos];
            for (int c = 0; c < 256; c++) {
                s[pos] = (char)c;
                bool valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                bool ok = dpt__lhex_decode(s, got, n);
                if (ok != valid) fail_msg("n %zu, position %zu, byte 0x%02x", n, pos, c);
                if (ok) {
                    int v = c <= '9' ? c - '0' : c - 'a' + 10;
                    uint8_t b = want[pos / 2];
                    b = pos % 2 ? (uint8_t)((b & 0xf0) | v) : (uint8_t)((b & 0x0f) | v << 4);
                    assert_int_equal(got[pos / 2], b);
                }
            }
            s[pos] = keep;
        }
    }
}

static void test_lhex_encode_writes_two_lowercase_digits_per_byte(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 4, 5, 8, 9, 16, 20};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        for (size_t pos = 0; pos < n; pos++)
            for (int v = 0; v < 256; v++) {
                uint8_t in[20];
                char out[41], want[41];
                for (size_t i = 0; i < n; i++)
                    in[i] = (uint8_t)(i * 53 + 7);
                in[pos] = (uint8_t)v;
                memset(out, '#', sizeof out);
                dpt__lhex_encode(in, n, out);
                for (size_t i = 0; i < n; i++)
                    snprintf(want + 2 * i, 3, "%02x", in[i]);
                assert_memory_equal(out, want, 2 * n);
                assert_int_equal(out[2 * n], '#'); /* no byte past 2n written */
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lhex_decode_accepts_exactly_the_lowercase_digits_everywhere),
        cmocka_unit_test(test_lhex_encode_writes_two_lowercase_digits_per_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
