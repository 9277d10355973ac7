/* fuzz_http_answer.c - libFuzzer target: what a collector sends back to the OTLP/HTTP,
 * OTLP/gRPC and Zipkin exporters, read by libdptrace-http's own parsers: gRPC header and
 * trailer lines (grpc-status, percent-encoded grpc-message, base64 grpc-status-details-bin
 * with a google.rpc.RetryInfo inside), the error text of a failed answer (google.rpc.Status
 * in protobuf, JSON "message", plain text), the partial-success answer (protobuf and
 * JSON), and OTEL_EXPORTER_OTLP_HEADERS. The parsers are static, so their files are
 * compiled into this target.
 *
 * Input: the first byte picks the parser, the rest is what the peer (or the variable)
 * holds. Invariants: every text meant for a log is NUL-terminated inside its buffer and
 * holds only printable ASCII (sanitized: no terminal escapes, no forged lines); a gRPC
 * status is 0..999; a partial-success message fits its buffer; every header parsed from
 * the variable has a non-empty name and stays inside the parse block.
 */
#include "../src/http/http_client.c"
#include "../src/http/http_exporters.c"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static void check_log_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    CHECK(n < cap);
    for (size_t i = 0; i < n; i++)
        CHECK(s[i] >= 0x20 && s[i] < 0x7f);
}

static void quiet(dpt_log_level l, const char *m, void *u)
{
    (void)l;
    (void)u;
    check_log_text(m, 2048); /* every diagnostic, too, is one clean line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        dpt_log_set_handler(quiet, NULL, DPT_LOG_DEBUG);
        init = 1;
    }
    if (size < 1) return 0;
    unsigned mode = data[0] % 5;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    dpt__xfer x;
    memset(&x, 0, sizeof x);
    x.grpc_status = -1;
    switch (mode) {
    case 0: { /* gRPC headers and trailers, one line per callback as libcurl gives them */
        size_t i = 0;
        while (i < n) {
            size_t j = i;
            while (j < n && s[j] != '\n')
                j++;
            char *line = malloc(j - i + 1); /* exact size: ASan sees any read past it */
            memcpy(line, s + i, j - i);
            line[j - i] = '\n';
            CHECK(on_grpc_header(line, 1, j - i + 1, &x) == j - i + 1);
            free(line);
            i = j + 1;
        }
        CHECK(x.grpc_status >= -1 && x.grpc_status <= 999);
        check_log_text(x.grpc_message, sizeof x.grpc_message);
        break;
    }
    case 1:
    case 2:
    case 3: { /* a failed answer's text, as protobuf, JSON or plain text */
        static const char *const types[] = {"application/x-protobuf", "application/json",
                                            "text/plain"};
        snprintf(x.content_type, sizeof x.content_type, "%s", types[mode - 1]);
        dpt__buf_init(&x.resp);
        dpt__buf_put(&x.resp, s, n);
        if (x.resp.oom) break;
        char text[160];
        answer_text(&x, text, sizeof text);
        check_log_text(text, sizeof text);
        /* and the same body as a 2xx partial success (on_delivered reads only a body) */
        int64_t rejected = 0;
        char raw[256] = "";
        if (x.resp.len == 0)
            ;
        else if (mode == 2)
            parse_partial_json(x.resp.p, x.resp.len, &rejected, raw, sizeof raw);
        else
            parse_partial_pb((const uint8_t *)x.resp.p, x.resp.len, &rejected, raw, sizeof raw);
        CHECK(strnlen(raw, sizeof raw) < sizeof raw);
        dpt__buf_free(&x.resp);
        break;
    }
    case 4: { /* OTEL_EXPORTER_OTLP_HEADERS */
        char *v = malloc(n + 1);
        memcpy(v, s, n);
        v[n] = '\0';
        dpt_http_header h[32];
        size_t nh = 0;
        char *block = parse_headers("OTEL_EXPORTER_OTLP_HEADERS", v, h, 32, &nh);
        CHECK(nh <= 32);
        size_t len = strlen(v);
        for (size_t i = 0; i < nh; i++) {
            CHECK(h[i].name[0] != '\0');
            CHECK(h[i].name >= block && h[i].name < block + len * 2 + 2);
            CHECK(h[i].value >= block && h[i].value < block + len * 2 + 2);
            CHECK(strlen(h[i].name) <= len && strlen(h[i].value) <= len);
        }
        free(block);
        free(v);
        break;
    }
    }
    return 0;
}
