/* otlp_read.c - reads OTLP JSON lines in fixed-size chunks, parses one line at a time with
 * jansson and walks resourceSpans -> scopeSpans -> spans, handing each valid span to a
 * callback. Lenient in what it accepts (ids in hex or base64, times as strings or numbers,
 * enums as numbers or names, the old instrumentationLibrarySpans shape), strict in what it
 * hands over (decoded ids, end >= start).
 */
#include "otlp_read.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define CHUNK (1u << 20)
#define MAX_REPORTED 20

typedef struct reader {
    const otlp_read_opts *o;
    otlp_stats *st;
    uint64_t reported;
    uint64_t line_no;
    /* progress */
    uint64_t file_size;
    bool tty;
    int last_decile;
    struct timespec last;
    bool stop;
} reader;

static void complain(reader *r, uint64_t line, const char *what, const char *detail)
{
    if (!r->o->report_errors) return;
    r->reported++;
    if (r->reported > MAX_REPORTED) return;
    if (r->tty && r->o->progress)
        fputs("\r\033[K", stderr); /* do not write over the progress line */
    /* jansson's messages quote the input: keep terminal controls from the file out. */
    char safe[4 * 160 + 8];
    sanitize_cols(detail ? detail : "", detail ? strlen(detail) : 0, 160, true, safe);
    fprintf(stderr, "dptrace: %s:%llu: %s%s%s\n", r->o->path, (unsigned long long)line, what,
            *safe ? ": " : "", safe);
}

/* ---- value helpers -------------------------------------------------------------------- */

bool otlp_time(json_t *v, uint64_t *out)
{
    if (json_is_string(v)) return parse_u64(json_string_value(v), out);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) return false;
        *out = (uint64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 0 || d >= 18446744073709551615.0) return false;
        *out = (uint64_t)d;
        return true;
    }
    return false;
}

/* An enum written as a number, or as its proto name ("SPAN_KIND_SERVER"): returns the
 * position of the name in names, or -1. */
static int enum_value(json_t *v, const char *const *names, int n)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i >= 0 && i < n ? (int)i : -1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (int i = 0; i < n; i++)
            if (strcmp(s, names[i]) == 0) return i;
    }
    return -1;
}

static const char *const kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
static const char *const status_names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                           "STATUS_CODE_ERROR"};

const char *otlp_value_type(json_t *v)
{
    if (!json_is_object(v)) return "";
    if (json_object_get(v, "stringValue")) return "string";
    if (json_object_get(v, "intValue")) return "int";
    if (json_object_get(v, "doubleValue")) return "double";
    if (json_object_get(v, "boolValue")) return "bool";
    if (json_object_get(v, "arrayValue")) return "array";
    if (json_object_get(v, "kvlistValue")) return "kvlist";
    if (json_object_get(v, "bytesValue")) return "bytes";
    return "";
}

/* Rendering with a byte limit: lim->end is the length of b at which text stops. */
typedef struct limit {
    size_t end;
    bool cut;
} limit;

static bool full(const sbuf *b, limit *lim)
{
    if (b->len >= lim->end) lim->cut = true;
    return lim->cut;
}

static void put_lim(sbuf *b, const char *s, size_t n, limit *lim)
{
    if (full(b, lim)) return;
    size_t room = lim->end - b->len;
    if (n > room) {
        n = utf8_cut(s, n, room);
        lim->cut = true;
    }
    sb_putn(b, s, n);
}

typedef struct dump_ctx {
    sbuf *b;
    limit *lim;
} dump_ctx;

static int dump_cb(const char *s, size_t n, void *data)
{
    dump_ctx *d = data;
    put_lim(d->b, s, n, d->lim);
    return d->lim->cut ? -1 : 0; /* -1 stops jansson: the rest would be cut anyway */
}

static void scalar_text(json_t *x, sbuf *b, limit *lim)
{
    char num[64];
    if (json_is_string(x)) {
        put_lim(b, json_string_value(x), json_string_length(x), lim);
    } else if (json_is_integer(x)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(x));
        put_lim(b, num, strlen(num), lim);
    } else if (json_is_real(x)) {
        snprintf(num, sizeof num, "%.17g", json_real_value(x));
        put_lim(b, num, strlen(num), lim);
    } else if (json_is_boolean(x)) {
        put_lim(b, json_is_true(x) ? "true" : "false", json_is_true(x) ? 4 : 5, lim);
    } else if (json_is_null(x)) {
        put_lim(b, "null", 4, lim);
    } else {
        dump_ctx d = {b, lim};
        (void)json_dump_callback(x, dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY);
    }
}

static void value_text(json_t *v, sbuf *b, int depth, limit *lim)
{
    json_t *x;
    if (full(b, lim)) return;
    /* Nesting is bounded by jansson's parser depth; this keeps deep values short too. */
    if (depth > 8) {
        put_lim(b, "...", 3, lim);
        return;
    }
    if (!json_is_object(v)) {
        scalar_text(v, b, lim);
        return;
    }
    if ((x = json_object_get(v, "stringValue")) || (x = json_object_get(v, "intValue")) ||
        (x = json_object_get(v, "doubleValue")) || (x = json_object_get(v, "boolValue")) ||
        (x = json_object_get(v, "bytesValue"))) {
        scalar_text(x, b, lim);
    } else if ((x = json_object_get(v, "arrayValue"))) {
        json_t *vals = json_object_get(x, "values");
        put_lim(b, "[", 1, lim);
        size_t i;
        json_t *e;
        json_array_foreach(vals, i, e)
        {
            if (full(b, lim)) return;
            if (i) put_lim(b, ", ", 2, lim);
            bool quote = json_is_object(e) && json_object_get(e, "stringValue");
            if (quote) put_lim(b, "\"", 1, lim);
            value_text(e, b, depth + 1, lim);
            if (quote) put_lim(b, "\"", 1, lim);
        }
        put_lim(b, "]", 1, lim);
    } else if ((x = json_object_get(v, "kvlistValue"))) {
        json_t *vals = json_object_get(x, "values");
        put_lim(b, "{", 1, lim);
        size_t i;
        json_t *e;
        json_array_foreach(vals, i, e)
        {
            if (full(b, lim)) return;
            if (i) put_lim(b, ", ", 2, lim);
            json_t *k = json_object_get(e, "key");
            if (json_is_string(k))
                put_lim(b, json_string_value(k), json_string_length(k), lim);
            else
                put_lim(b, "?", 1, lim);
            put_lim(b, ": ", 2, lim);
            value_text(json_object_get(e, "value"), b, depth + 1, lim);
        }
        put_lim(b, "}", 1, lim);
    } else if (json_object_size(v) == 0) {
        /* An empty AnyValue: OTLP's way of writing "no value". */
    } else {
        scalar_text(v, b, lim);
    }
}

bool otlp_value_text(json_t *v, struct sbuf *b, size_t max)
{
    limit lim = {b->len + max, false};
    value_text(v, b, 0, &lim);
    return lim.cut;
}

/* service.name from a resource's attributes (a string value), or NULL. */
static json_t *service_name(json_t *resource)
{
    json_t *attrs = json_object_get(resource, "attributes");
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        json_t *k = json_object_get(a, "key");
        if (json_is_string(k) && strcmp(json_string_value(k), "service.name") == 0) {
            json_t *v = json_object_get(json_object_get(a, "value"), "stringValue");
            return json_is_string(v) ? v : NULL;
        }
    }
    return NULL;
}

/* ---- the walk ------------------------------------------------------------------------- */

static void handle_span(reader *r, json_t *s, json_t *resource, json_t *service, json_t *scope)
{
    otlp_span sp;
    memset(&sp, 0, sizeof sp);
    sp.line = r->line_no;
    const char *why = NULL;
    json_t *tid = json_object_get(s, "traceId"), *sid = json_object_get(s, "spanId");
    json_t *pid = json_object_get(s, "parentSpanId");
    if (!json_is_object(s))
        why = "span is not an object";
    else if (!json_is_string(tid) ||
             !id_decode(json_string_value(tid), json_string_length(tid), sp.trace_id, 16) ||
             id_is_zero(sp.trace_id, 16))
        why = "invalid traceId";
    else if (!json_is_string(sid) ||
             !id_decode(json_string_value(sid), json_string_length(sid), sp.span_id, 8) ||
             id_is_zero(sp.span_id, 8))
        why = "invalid spanId";
    else if (pid && !json_is_null(pid) &&
             !(json_is_string(pid) &&
               (json_string_length(pid) == 0 ||
                id_decode(json_string_value(pid), json_string_length(pid), sp.parent_id, 8))))
        why = "invalid parentSpanId";
    else if (!otlp_time(json_object_get(s, "startTimeUnixNano"), &sp.start_ns))
        why = "invalid startTimeUnixNano";
    else if (!otlp_time(json_object_get(s, "endTimeUnixNano"), &sp.end_ns))
        why = "invalid endTimeUnixNano";
    if (why) {
        r->st->bad_spans++;
        complain(r, r->line_no, "span skipped", why);
        return;
    }
    sp.has_parent = !id_is_zero(sp.parent_id, 8);
    if (sp.end_ns < sp.start_ns) sp.end_ns = sp.start_ns;
    json_t *name = json_object_get(s, "name");
    sp.name = json_is_string(name) ? json_string_value(name) : "";
    sp.name_len = json_is_string(name) ? json_string_length(name) : 0;
    int k = enum_value(json_object_get(s, "kind"), kind_names, 6);
    sp.kind = k < 0 ? 0 : k;
    json_t *status = json_object_get(s, "status");
    int c = enum_value(json_object_get(status, "code"), status_names, 3);
    sp.status = c < 0 ? 0 : c;
    json_t *msg = json_object_get(status, "message");
    sp.status_msg = json_is_string(msg) ? json_string_value(msg) : "";
    sp.service = service ? json_string_value(service) : NULL;
    sp.service_len = service ? json_string_length(service) : 0;
    sp.span = s;
    sp.resource = resource;
    sp.scope = scope;
    r->st->spans++;
    if (!r->o->on_span(r->o->user, &sp)) r->stop = true;
}

static void handle_line(reader *r, const char *line, size_t len)
{
    json_error_t err;
    bool over = false;
    json_t *root = otlp_json_load(line, len, &err, &over);
    if (!root) {
        r->st->bad_lines++;
        char detail[200];
        if (over)
            snprintf(detail, sizeof detail, "its JSON tree needs more than %u MiB",
                     OTLP_TREE_BUDGET >> 20);
        else
            snprintf(detail, sizeof detail, "column %d: %s", err.column, err.text);
        complain(r, r->line_no, over ? "line skipped" : "malformed line skipped (not JSON)",
                 detail);
        return;
    }
    json_t *rss = json_object_get(root, "resourceSpans");
    if (!json_is_array(rss)) {
        r->st->bad_lines++;
        complain(r, r->line_no, "malformed line skipped",
                 "not an ExportTraceServiceRequest (no resourceSpans array)");
        json_decref(root);
        return;
    }
    size_t i, j, k;
    json_t *rs, *ss, *s;
    json_array_foreach(rss, i, rs)
    {
        json_t *resource = json_object_get(rs, "resource");
        json_t *service = service_name(resource);
        json_t *sss = json_object_get(rs, "scopeSpans");
        bool old = false;
        if (!sss) {
            /* OTLP before 0.15 (and old Collector files) called them so. */
            sss = json_object_get(rs, "instrumentationLibrarySpans");
            old = true;
        }
        json_array_foreach(sss, j, ss)
        {
            json_t *scope = json_object_get(ss, old ? "instrumentationLibrary" : "scope");
            json_t *spans = json_object_get(ss, "spans");
            json_array_foreach(spans, k, s)
            {
                handle_span(r, s, resource, service, scope);
                if (r->stop) goto out;
            }
        }
    }
out:
    json_decref(root);
}

static void progress(reader *r, bool final)
{
    if (!r->o->progress) return;
    uint64_t done = r->st->bytes;
    int pct = r->file_size ? (int)(done * 100 / r->file_size) : 100;
    if (pct > 100) pct = 100;
    char spans[32];
    fmt_count(r->st->spans, spans, sizeof spans);
    if (r->tty) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - r->last.tv_sec) * 1000 + (now.tv_nsec - r->last.tv_nsec) / 1000000;
        if (!final && ms < 200) return;
        r->last = now;
        if (final)
            fputs("\r\033[K", stderr);
        else
            fprintf(stderr, "\r\033[K%s %s: %3d%% (%s spans)", r->o->label, r->o->path, pct, spans);
    } else {
        /* Not a terminal (a log, CI): one line per 10 %, no carriage returns. */
        int decile = pct / 10;
        if (decile <= r->last_decile && !final) return;
        if (final && r->last_decile >= 10) return;
        r->last_decile = final ? 10 : decile;
        fprintf(stderr, "dptrace: %s %s: %d%% (%s spans)\n", r->o->label, r->o->path,
                final ? 100 : pct, spans);
    }
}

/* ---- jansson under a memory budget ----------------------------------------------------- */

/* Every jansson block carries its size in a 16-byte header (16 keeps malloc's alignment),
 * so that frees during a parse give their bytes back to the count. Counting is on only
 * inside otlp_json_load, per thread; blocks freed outside it are just freed. */
#define HDR 16u
static _Thread_local size_t tree_used, tree_budget;
static _Thread_local bool tree_over;

static void *budget_malloc(size_t n)
{
    if (n > SIZE_MAX - HDR) return NULL;
    if (tree_budget && (n + HDR > tree_budget - tree_used)) {
        tree_over = true;
        return NULL;
    }
    char *p = malloc(n + HDR);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    if (tree_budget) tree_used += n + HDR;
    return p + HDR;
}

static void budget_free(void *ptr)
{
    if (!ptr) return;
    char *p = (char *)ptr - HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    if (tree_budget) tree_used = tree_used >= n + HDR ? tree_used - (n + HDR) : 0;
    free(p);
}

void otlp_json_setup(void)
{
    static bool done;
    if (done) return;
    done = true;
    json_set_alloc_funcs(budget_malloc, budget_free);
}

json_t *otlp_json_load(const char *text, size_t len, json_error_t *err, bool *over_budget)
{
    otlp_json_setup();
    tree_used = 0;
    tree_over = false;
    tree_budget = OTLP_TREE_BUDGET;
    /* JSON_ALLOW_NUL: \u0000 is valid JSON (the file exporter and collect write it for a
     * NUL byte); the strings are then cut at it where a C string is needed. */
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, err);
    tree_budget = 0;
    if (over_budget) *over_budget = !root && tree_over;
    return root;
}

/* ---- input ---------------------------------------------------------------------------- */

int otlp_input_open(otlp_input *in, const char *path)
{
    memset(in, 0, sizeof *in);
    in->spool = -1;
    bool std_in = strcmp(path, "-") == 0;
    in->path = std_in ? "stdin" : path;
    in->fd = std_in ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
        cli_err("cannot open %s: %s", in->path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(in->fd, &sb) != 0) {
        cli_err("cannot read %s: %s", in->path, strerror(errno));
        otlp_input_close(in);
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        cli_err("cannot read %s: it is a directory", in->path);
        otlp_input_close(in);
        return -1;
    }
    /* A regular file can be read again; so can a descriptor that seeks (a block
     * device). Everything else is copied by the first pass. */
    if (S_ISREG(sb.st_mode)) {
        in->size = (uint64_t)sb.st_size;
        return 0;
    }
    const char *dir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/dptrace-spool-XXXXXX", dir && *dir ? dir : "/tmp");
    in->spool = mkstemp(tmpl);
    if (in->spool < 0) {
        cli_err("cannot make a temporary copy of %s (%s): %s", in->path, tmpl, strerror(errno));
        otlp_input_close(in);
        return -1;
    }
    unlink(tmpl); /* gone when closed, whatever happens */
    in->spooling = true;
    return 0;
}

int otlp_input_rewind(otlp_input *in)
{
    if (in->spool >= 0) {
        in->spooling = false;
        if (in->fd != in->spool) {
            close(in->fd);
            in->fd = in->spool;
        }
    }
    if (lseek(in->fd, 0, SEEK_SET) < 0) {
        cli_err("cannot read %s again: %s", in->path, strerror(errno));
        return -1;
    }
    return 0;
}

void otlp_input_close(otlp_input *in)
{
    if (in->fd >= 0) close(in->fd);
    if (in->spool >= 0 && in->spool != in->fd) close(in->spool);
    in->fd = in->spool = -1;
}

/* Appends what was read to the spool; false (printed) when the copy fails. */
static bool spool_write(otlp_input *in, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(in->spool, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            cli_err("cannot copy %s to a temporary file: %s", in->path,
                    w < 0 ? strerror(errno) : "short write");
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

void otlp_read_line(const otlp_read_opts *o, otlp_stats *st, const char *line, size_t len,
                    uint64_t line_no)
{
    reader r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.st = st;
    r.line_no = line_no;
    st->lines++;
    st->bytes += len + 1;
    handle_line(&r, line, len);
}

int otlp_read_file(const otlp_read_opts *o, otlp_stats *st)
{
    memset(st, 0, sizeof *st);
    otlp_input *in = o->in;
    int fd = in->fd;
    reader r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.st = st;
    r.file_size = in->size;
    r.tty = isatty(STDERR_FILENO);
    r.last_decile = -1;
    clock_gettime(CLOCK_MONOTONIC, &r.last);

    /* buf holds the current partial line plus one chunk; it grows up to the line limit. */
    size_t cap = (size_t)2 * CHUNK, len = 0;
    char *buf = xmalloc(cap);
    bool skipping = false; /* inside an over-long line: drop bytes until its newline */
    uint64_t skip_start = 0;
    int rc = 0;
    for (;;) {
        if (cap - len < CHUNK) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, CHUNK);
        if (n < 0) {
            if (errno == EINTR) continue;
            cli_err("cannot read %s: %s", in->path, strerror(errno));
            rc = -1;
            break;
        }
        bool eof = n == 0;
        if (n > 0 && in->spooling && !spool_write(in, buf + len, (size_t)n)) {
            rc = -1;
            break;
        }
        size_t scan = len;
        len += (size_t)n;
        st->bytes += (uint64_t)n;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + scan, '\n', len - scan);
            if (!nl) {
                if (!eof || start == len) break;
                nl = buf + len; /* the last line may lack its newline */
            }
            size_t end = (size_t)(nl - buf);
            r.line_no++;
            if (skipping) {
                skipping = false;
            } else {
                size_t l = end - start;
                while (l && (buf[start + l - 1] == '\r' || buf[start + l - 1] == ' ' ||
                             buf[start + l - 1] == '\t'))
                    l--;
                size_t b0 = start;
                while (b0 < start + l && (buf[b0] == ' ' || buf[b0] == '\t'))
                    b0++, l--;
                if (l > 0) {
                    st->lines++;
                    if (o->line_filter && !o->line_filter(o->user, buf + b0, l))
                        st->skipped_lines++;
                    else
                        handle_line(&r, buf + b0, l);
                }
            }
            start = end + 1;
            scan = start;
            if (r.stop || start >= len) break;
        }
        if (r.stop) break;
        /* Keep the unfinished line at the front of the buffer. */
        if (start > len) start = len;
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len > OTLP_MAX_LINE) {
            if (!skipping) {
                skip_start = r.line_no + 1;
                st->lines++;
                st->bad_lines++;
                char detail[64];
                snprintf(detail, sizeof detail, "longer than %u MiB", OTLP_MAX_LINE >> 20);
                complain(&r, skip_start, "malformed line skipped", detail);
            }
            skipping = true;
            len = 0;
        }
        if (eof) break;
        progress(&r, false);
    }
    (void)skip_start;
    free(buf);
    progress(&r, true);
    if (o->report_errors && r.reported > MAX_REPORTED)
        cli_err("%s: %llu more problems not shown", o->path,
                (unsigned long long)(r.reported - MAX_REPORTED));
    return rc;
}
