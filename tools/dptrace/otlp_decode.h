/* otlp_decode.h - turns the body of an OTLP/HTTP trace export (ExportTraceServiceRequest,
 * in binary protobuf or in OTLP/JSON) into OTLP JSON lines, the format of the file that
 * `dptrace collect` writes and `view`/`report` read. Spans with invalid ids are left out
 * and counted (the partial success of OTLP/HTTP); bytes that are not a request at all make
 * the whole body malformed.
 */
#ifndef DPTRACE_CLI_OTLP_DECODE_H
#define DPTRACE_CLI_OTLP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Every line written is at most this long, like the lines of dptrace's file exporter,
 * so the CLI reads each one within its JSON tree budget (docs/cli.md). A batch is split
 * over as many lines as it needs; a span that alone would not fit is rejected. */
#define OTLP_DEC_LINE_MAX ((size_t)4 << 20)
/* Nesting of AnyValue arrays and key-value lists deeper than this is malformed. */
#define OTLP_DEC_MAX_DEPTH 32

typedef struct otlp_decoded {
    sbuf lines;        /* OTLP JSON lines, each ending with '\n' (lines.len 0: none) */
    uint64_t spans;    /* spans written */
    uint64_t rejected; /* spans left out */
    char why[200];     /* the first reason spans were left out, or why the body is bad */
} otlp_decoded;

enum { OTLP_DEC_OK = 0, OTLP_DEC_MALFORMED = -1, OTLP_DEC_TOO_BIG = -2 };

/* Decodes a binary protobuf ExportTraceServiceRequest (field numbers from
 * opentelemetry/proto/collector/trace/v1/trace_service.proto and the trace, common and
 * resource protos). Returns OTLP_DEC_OK (spans and rejected counted, lines appended to
 * out->lines) or OTLP_DEC_MALFORMED (out->why says where; out->lines is emptied).
 * Work and memory are linear in n. Thread-safe (no shared state). */
int otlp_decode_proto(const uint8_t *p, size_t n, otlp_decoded *out);

/* The same for an OTLP/JSON body. Also OTLP_DEC_TOO_BIG when its JSON tree needs more
 * than OTLP_TREE_BUDGET. */
int otlp_decode_json(const char *p, size_t n, otlp_decoded *out);

/* Empties out for the next body (keeps the buffer) / frees it. */
void otlp_decoded_reset(otlp_decoded *out);
void otlp_decoded_free(otlp_decoded *out);

#endif
