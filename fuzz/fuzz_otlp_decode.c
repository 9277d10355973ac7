/* fuzz_otlp_decode.c - libFuzzer target for what `dptrace collect` does with a request
 * body: the first byte picks the protobuf or the JSON decoder, the rest is the body.
 * Besides crashes and sanitizer reports, a finding is a written line that is not JSON,
 * that is longer than OTLP_DEC_LINE_MAX, or that the CLI's reader would not read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_decode.h"
#include "otlp_read.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static bool count_span(void *user, const otlp_span *sp)
{
    (void)sp;
    (*(uint64_t *)user)++;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    otlp_decoded d;
    memset(&d, 0, sizeof d);
    int rc = data[0] & 1 ? otlp_decode_json((const char *)data + 1, size - 1, &d)
                         : otlp_decode_proto(data + 1, size - 1, &d);
    CHECK(rc == OTLP_DEC_OK || rc == OTLP_DEC_MALFORMED || rc == OTLP_DEC_TOO_BIG);
    if (rc != OTLP_DEC_OK) CHECK(d.lines.len == 0 && d.why[0]);
    uint64_t seen = 0;
    otlp_stats st;
    memset(&st, 0, sizeof st);
    otlp_read_opts o = {.path = "fuzz", .on_span = count_span, .user = &seen};
    const char *p = d.lines.p, *end = p ? p + d.lines.len : NULL;
    uint64_t n = 0;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        CHECK(nl); /* every line ends with a newline */
        CHECK((size_t)(nl - p) <= OTLP_DEC_LINE_MAX);
        otlp_read_line(&o, &st, p, (size_t)(nl - p), ++n);
        p = nl + 1;
    }
    CHECK(st.bad_lines == 0);              /* every line written is one the CLI reads */
    CHECK(seen + st.bad_spans == d.spans); /* and holds the spans counted as written */
    otlp_decoded_free(&d);
    return 0;
}
