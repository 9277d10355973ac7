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

/* The memory the parsed JSON tree of one line may take (jansson's allocations, counted
 * with their bookkeeping). Text costs 3 to 15 times its size as a tree (an empty object,
 * 3 bytes of text, is about 200 bytes of tree), so without a budget a 63 MiB line of `{}`
 * takes 5 GB; with it, a line's peak is its text plus this budget, and a line over it is
 * reported with its number and skipped. Typical OTLP lines up to about 10 MiB fit. */
#define OTLP_TREE_BUDGET (128u << 20)

/* Installs the counting allocator behind OTLP_TREE_BUDGET into jansson. Call once before
 * any other thread uses jansson (main does); idempotent. */
void otlp_json_setup(void);

/* Parses len bytes of JSON text with jansson under OTLP_TREE_BUDGET. Returns the tree or
 * NULL; *over_budget tells a tree too big from malformed text (err describes the latter).
 * Thread-safe (the count is per thread). */
json_t *otlp_json_load(const char *text, size_t len, json_error_t *err, bool *over_budget);

/* An input opened once for both passes of view and report. A regular file is read twice
 * through one descriptor (lseek); anything else (a pipe, "-" for stdin, /dev/stdin,
 * <(...), a FIFO, a character device) is copied while the first pass reads it into an
 * unlinked temporary file (in $TMPDIR, else /tmp) that the second pass reads: the input
 * is opened once and read once, so nothing blocks and nothing comes back empty. */
typedef struct otlp_input {
    const char *path; /* for messages ("-" is shown as "stdin") */
    int fd;           /* what the next pass reads */
    int spool;        /* the temporary copy of a non-seekable input, or -1 */
    bool spooling;    /* the first pass copies what it reads into spool */
    uint64_t size;    /* size of a regular file, 0 when unknown */
} otlp_input;

/* Opens path ("-" = standard input). Returns 0, or -1 after printing why. */
int otlp_input_open(otlp_input *in, const char *path);
/* Positions the input at its start for the next pass. Returns 0 or -1 (printed). */
int otlp_input_rewind(otlp_input *in);
void otlp_input_close(otlp_input *in);

/* One span as the reader hands it over. Strings and json_t pointers borrow from the parsed
 * line and are valid only during the callback. Ids are decoded; parent is all zero and
 * has_parent false for a root span. */
typedef struct otlp_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    int kind;                  /* OTLP SpanKind 0..5 (0 unspecified) */
    int status;                /* OTLP StatusCode 0 unset, 1 ok, 2 error */
    uint64_t start_ns, end_ns; /* end_ns >= start_ns (clamped) */
    const char *name;
    size_t name_len;
    const char *status_msg; /* "" when none */
    const char *service;    /* resource service.name, or NULL */
    size_t service_len;
    json_t *span;     /* the span object: attributes, events, links, ... */
    json_t *resource; /* the resource object, or NULL */
    json_t *scope;    /* the instrumentation scope object, or NULL */
    uint64_t line;    /* 1-based line number */
} otlp_span;

typedef struct otlp_stats {
    uint64_t bytes;         /* bytes read */
    uint64_t lines;         /* non-blank lines */
    uint64_t bad_lines;     /* lines skipped: not JSON, not a request, too long */
    uint64_t spans;         /* spans handed to the callback */
    uint64_t bad_spans;     /* spans skipped: missing or invalid ids or times */
    uint64_t skipped_lines; /* lines the line filter ruled out without parsing */
} otlp_stats;

typedef struct otlp_read_opts {
    otlp_input *in;     /* what to read (otlp_read_file) */
    const char *path;   /* its name in messages */
    const char *label;  /* progress label, e.g. "scanning" */
    bool progress;      /* show progress on stderr */
    bool report_errors; /* print malformed lines/spans (the first pass does, the second not) */
    /* Optional: return false to skip a line without parsing it (a cheap pre-filter). */
    bool (*line_filter)(void *user, const char *line, size_t len);
    /* Called for every valid span; return false to stop reading. */
    bool (*on_span)(void *user, const otlp_span *sp);
    void *user;
} otlp_read_opts;

/* Reads the input from where it stands to its end. Returns 0, or -1 when it cannot be
 * read (a message has been printed). Malformed content is never an error here: it is
 * counted in st and, with report_errors, described on stderr with its line number (the
 * first 20). */
int otlp_read_file(const otlp_read_opts *o, otlp_stats *st);

/* Hands the spans of one line held in memory (no newline) to o->on_span, counting in st
 * as otlp_read_file does; line_no is used in messages. o->in is not used. */
void otlp_read_line(const otlp_read_opts *o, otlp_stats *st, const char *line, size_t len,
                    uint64_t line_no);

/* Renders an OTLP AnyValue ({"stringValue":..} etc.) as display text into b: strings
 * as they are, numbers and booleans as JSON would, arrays as [a, b], kvlists as {k: v},
 * bytes as their base64 text. Unknown shapes render as their compact JSON. At most about
 * max bytes are appended (the text stops there, at a UTF-8 boundary), so the work is
 * bounded by max, not by the value's size; returns true when the value was cut. */
struct sbuf;
bool otlp_value_text(json_t *v, struct sbuf *b, size_t max);
/* The type name of an AnyValue: "string", "int", "double", "bool", "array", "kvlist",
 * "bytes" or "" when unknown. */
const char *otlp_value_type(json_t *v);

/* Reads a Unix-nanosecond time written as a decimal string or a JSON number. */
bool otlp_time(json_t *v, uint64_t *out);

#endif
