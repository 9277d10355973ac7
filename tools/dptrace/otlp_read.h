/* otlp_read.h - streaming reader of OTLP JSON lines files (one ExportTraceServiceRequest
 * per line, as dptrace's file exporter and the OpenTelemetry Collector's file exporter
 * write them). It holds one line at a time, so memory does not grow with the file.
 */
#ifndef DPTRACE_CLI_OTLP_READ_H
#define DPTRACE_CLI_OTLP_READ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* A line longer than this is reported as malformed and skipped without being held. The
 * Collector writes one export batch per line; 64 MiB is far above its batch sizes. */
#define OTLP_MAX_LINE (64u << 20)

/* One span as the reader hands it over. Strings and json_t pointers borrow from the parsed
 * line and are valid only during the callback. Ids are decoded; parent is all zero and
 * has_parent false for a root span. */
typedef struct otlp_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    int kind;   /* OTLP SpanKind 0..5 (0 unspecified) */
    int status; /* OTLP StatusCode 0 unset, 1 ok, 2 error */
    uint64_t start_ns, end_ns; /* end_ns >= start_ns (clamped) */
    const char *name;
    size_t name_len;
    const char *status_msg; /* "" when none */
    const char *service;    /* resource service.name, or NULL */
    json_t *span;           /* the span object: attributes, events, links, ... */
    json_t *resource;       /* the resource object, or NULL */
    json_t *scope;          /* the instrumentation scope object, or NULL */
    uint64_t line;          /* 1-based line number */
} otlp_span;

typedef struct otlp_stats {
    uint64_t bytes;       /* bytes read */
    uint64_t lines;       /* non-blank lines */
    uint64_t bad_lines;   /* lines skipped: not JSON, not a request, too long */
    uint64_t spans;       /* spans handed to the callback */
    uint64_t bad_spans;   /* spans skipped: missing or invalid ids or times */
    uint64_t skipped_lines; /* lines the line filter ruled out without parsing */
} otlp_stats;

typedef struct otlp_read_opts {
    const char *path;
    const char *label;    /* progress label, e.g. "scanning" */
    bool progress;        /* show progress on stderr */
    bool report_errors;   /* print malformed lines/spans (the first pass does, the second not) */
    /* Optional: return false to skip a line without parsing it (a cheap pre-filter). */
    bool (*line_filter)(void *user, const char *line, size_t len);
    /* Called for every valid span; return false to stop reading. */
    bool (*on_span)(void *user, const otlp_span *sp);
    void *user;
} otlp_read_opts;

/* Reads the whole file. Returns 0, or -1 when the file cannot be opened or read (a
 * message has been printed). Malformed content is never an error here: it is counted in
 * st and, with report_errors, described on stderr with its line number (the first 20). */
int otlp_read_file(const otlp_read_opts *o, otlp_stats *st);

/* Renders an OTLP AnyValue ({"stringValue":..} etc.) as display text into b: strings
 * as they are, numbers and booleans as JSON would, arrays as [a, b], kvlists as {k: v},
 * bytes as their base64 text. Unknown shapes render as their compact JSON. */
struct sbuf;
void otlp_value_text(json_t *v, struct sbuf *b);
/* The type name of an AnyValue: "string", "int", "double", "bool", "array", "kvlist",
 * "bytes" or "" when unknown. */
const char *otlp_value_type(json_t *v);

/* Reads a Unix-nanosecond time written as a decimal string or a JSON number. */
bool otlp_time(json_t *v, uint64_t *out);

#endif
