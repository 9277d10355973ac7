/* collect.c - `dptrace collect`: a local OTLP/HTTP trace receiver for any OpenTelemetry
 * SDK. libmicrohttpd's one polling thread receives and decodes each POST /v1/traces
 * (protobuf or JSON, gzip or not) into OTLP JSON lines and answers per the OTLP/HTTP spec;
 * a writer thread appends the lines to the output file (rotating it by size), feeds the
 * live waterfall (--view) and regenerates the HTML report (--report). Between the two is
 * a queue bounded in bytes: when it is full the receiver answers 503 with Retry-After, so
 * memory stays bounded whatever the clients send.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "opts.h"
#include "otlp_decode.h"
#include "otlp_read.h"
#include "pb_read.h"
#include "render.h"

extern char **environ;

#define MIB ((size_t)1 << 20)
#define LIVE_NAME_MAX 256       /* bytes of a name or message kept for the live view */
#define LIVE_TRACE_SPANS 10000u /* spans kept per live trace; more are counted */

void usage_collect(FILE *out)
{
    fputs("usage: dptrace collect [options]\n"
          "\n"
          "Receives traces over OTLP/HTTP (POST /v1/traces, protobuf or JSON, gzip or not)\n"
          "from any OpenTelemetry SDK and appends them to an OTLP JSON lines file that\n"
          "`dptrace view` and `dptrace report` read. Point an SDK at it with\n"
          "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318. Ctrl-C (or SIGTERM) writes\n"
          "what was received and exits.\n"
          "\n"
          "Options:\n"
          "  -l, --listen ADDR      HOST:PORT, [IPv6]:PORT or PORT (default 127.0.0.1:4318;\n"
          "                         port 0 picks a free port, see --ready-file)\n"
          "  -o, --out FILE         the OTLP JSON lines file (default traces.jsonl)\n"
          "      --max-file-mb N    rotate FILE to FILE.1 at N MiB (default 100; 0: never)\n"
          "      --max-files N      rotated files kept (default 5)\n"
          "      --view             print each trace's waterfall once it is complete\n"
          "      --quiet-ms N       a trace is complete after N ms without a new span\n"
          "                         (default 2000)\n"
          "      --max-traces N     traces held for --view (default 1000); the oldest is\n"
          "                         dropped from the view (not from FILE) when full\n"
          "      --max-live-spans N spans held for --view in all (default 50000)\n"
          "      --report HTML      regenerate this HTML report from FILE periodically\n"
          "      --report-every N   seconds between reports (default 10)\n"
          "      --max-body-mb N    largest request body, also after gunzip (default 64)\n"
          "      --queue-mb N       bytes received but not yet written (default 256)\n"
          "      --ready-file F     write the port to F once listening\n"
          "      --color WHEN       auto, always or never (for --view)\n"
          "      --ascii            draw with ASCII only (for --view)\n"
          "      --width N          line width (for --view)\n"
          "  -q, --quiet            no status lines on stderr\n"
          "  -h, --help             this help\n"
          "\n"
          "Exit status: 0 after a signal, 1 when it cannot listen or write FILE, 2 bad\n"
          "arguments.\n",
          out);
}

/* ---- configuration and shared state --------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t len;
    char data[];
} chunk;

typedef struct live_trace {
    trace_sum sum;
    sel_trace st;
    arena mem;
    uint64_t last_ns;     /* when its last span arrived */
    int32_t hnext;        /* hash chain (slot index), -1 ends */
    int32_t older, newer; /* arrival order (slot indices), -1 ends */
    bool used;
    const char *svcs[16]; /* its services, one copy each (the waterfall counts pointers) */
    int n_svcs;
} live_trace;

typedef struct collector {
    /* options */
    const char *out_path, *report_path, *ready_file;
    size_t max_body, queue_cap;
    uint64_t max_file;
    int max_files, quiet_ms, max_traces, max_live_spans, report_every;
    bool view, quiet;
    pen pen;
    /* the queue between the receiver and the writer (mu) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chunk *head, *tail;
    size_t queued;
    bool stopping;
    /* counters: requests and spans (receiver thread; read at exit after it stopped) */
    uint64_t requests, spans, rejected, bad, too_big, busy, unsupported;
    size_t inflight; /* request bytes held by the receiver */
    /* writer thread */
    int fd;
    uint64_t file_size, lines_written, bytes_written, write_errors, line_no;
    bool dirty; /* written since the last report */
    uint64_t last_report_ns;
    pid_t report_pid;
    /* live view (writer thread) */
    live_trace *live;
    int32_t *buckets;
    uint32_t n_buckets;
    int32_t oldest, newest, free_slot;
    uint32_t n_live;
    uint64_t live_spans, evicted_traces, evicted_spans, shown_traces;
} collector;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the live view -------------------------------------------------------------------- */

static uint32_t trace_bucket(const collector *c, const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h >> 32) & (c->n_buckets - 1);
}

static void live_init(collector *c)
{
    c->live = xcalloc((size_t)c->max_traces, sizeof *c->live);
    c->n_buckets = 16;
    while (c->n_buckets < 2u * (uint32_t)c->max_traces)
        c->n_buckets *= 2;
    c->buckets = xmalloc(c->n_buckets * sizeof *c->buckets);
    for (uint32_t i = 0; i < c->n_buckets; i++)
        c->buckets[i] = -1;
    c->oldest = c->newest = -1;
    for (int i = 0; i < c->max_traces; i++)
        c->live[i].hnext = i + 1 < c->max_traces ? i + 1 : -1; /* free list */
    c->free_slot = 0;
}

static void live_remove(collector *c, int32_t i)
{
    live_trace *t = &c->live[i];
    int32_t *pp = &c->buckets[trace_bucket(c, t->sum.id)];
    while (*pp != i)
        pp = &c->live[*pp].hnext;
    *pp = t->hnext;
    if (t->older >= 0)
        c->live[t->older].newer = t->newer;
    else
        c->oldest = t->newer;
    if (t->newer >= 0)
        c->live[t->newer].older = t->older;
    else
        c->newest = t->older;
    c->live_spans -= t->st.n;
    free(t->st.spans);
    arena_free(&t->mem);
    memset(t, 0, sizeof *t);
    t->hnext = c->free_slot;
    c->free_slot = i;
    c->n_live--;
}

static void live_evict_oldest(collector *c)
{
    if (c->oldest < 0) return;
    c->evicted_traces++;
    c->evicted_spans += c->live[c->oldest].st.n;
    live_remove(c, c->oldest);
}

static live_trace *live_get(collector *c, const uint8_t id[16])
{
    uint32_t b = trace_bucket(c, id);
    for (int32_t i = c->buckets[b]; i >= 0; i = c->live[i].hnext)
        if (memcmp(c->live[i].sum.id, id, 16) == 0) return &c->live[i];
    if (c->free_slot < 0) live_evict_oldest(c);
    int32_t i = c->free_slot;
    live_trace *t = &c->live[i];
    c->free_slot = t->hnext;
    memset(t, 0, sizeof *t);
    memcpy(t->sum.id, id, 16);
    t->sum.start = UINT64_MAX;
    t->st.root_start = UINT64_MAX;
    t->used = true;
    t->hnext = c->buckets[b];
    c->buckets[b] = i;
    t->older = c->newest;
    t->newer = -1;
    if (c->newest >= 0)
        c->live[c->newest].newer = i;
    else
        c->oldest = i;
    c->newest = i;
    c->n_live++;
    return t;
}

static const char *keep(arena *a, const char *s, size_t len)
{
    return s ? arena_strndup(a, s, utf8_cut(s, len, LIVE_NAME_MAX)) : NULL;
}

static const char *keep_service(live_trace *t, const char *s, size_t len)
{
    if (!s) return NULL;
    len = utf8_cut(s, len, LIVE_NAME_MAX);
    for (int i = 0; i < t->n_svcs; i++)
        if (strncmp(t->svcs[i], s, len) == 0 && t->svcs[i][len] == '\0') return t->svcs[i];
    const char *k = arena_strndup(&t->mem, s, len);
    if (t->n_svcs < 16) t->svcs[t->n_svcs++] = k;
    return k;
}

static bool live_span(void *user, const otlp_span *sp)
{
    collector *c = user;
    live_trace *t = live_get(c, sp->trace_id);
    trace_sum *s = &t->sum;
    t->last_ns = now_ns();
    if (sp->start_ns < s->start) s->start = sp->start_ns;
    if (sp->end_ns > s->end) s->end = sp->end_ns;
    s->spans++;
    if (sp->status == 2) s->errors++;
    sel_trace *st = &t->st;
    bool better = !st->root_name || (!sp->has_parent && !st->root_is_root) ||
                  (sp->has_parent == !st->root_is_root && sp->start_ns < st->root_start);
    if (better) {
        st->root_name = keep(&t->mem, sp->name, sp->name_len);
        st->root_service = keep_service(t, sp->service, sp->service_len);
        st->root_start = sp->start_ns;
        st->root_is_root = !sp->has_parent;
    }
    if (st->n >= LIVE_TRACE_SPANS) {
        st->dropped++;
        return true;
    }
    if (st->n == st->cap) {
        st->cap = st->cap ? 2 * st->cap : 8;
        st->spans = xrealloc(st->spans, st->cap * sizeof *st->spans);
    }
    span_rec *r = &st->spans[st->n++];
    span_rec_init(r, sp);
    r->name = keep(&t->mem, sp->name, sp->name_len);
    r->service = keep_service(t, sp->service, sp->service_len);
    r->status_msg = keep(&t->mem, sp->status_msg, strlen(sp->status_msg));
    c->live_spans++;
    while (c->live_spans > (uint64_t)c->max_live_spans && c->oldest >= 0 &&
           &c->live[c->oldest] != t)
        live_evict_oldest(c);
    return true;
}

/* Prints and forgets the traces quiet for quiet_ms (all of them when all). */
static void live_tick(collector *c, bool all)
{
    uint64_t now = now_ns(), quiet = (uint64_t)c->quiet_ms * 1000000ull;
    int32_t i = c->oldest;
    while (i >= 0) {
        int32_t next = c->live[i].newer;
        live_trace *t = &c->live[i];
        if (all || now - t->last_ns >= quiet) {
            if (c->shown_traces++) fputc('\n', c->pen.out);
            draw_waterfall(&c->pen, &t->sum, &t->st);
            fflush(c->pen.out);
            live_remove(c, i);
        }
        i = next;
    }
}

/* ---- the writer ------------------------------------------------------------------------ */

static int open_out(collector *c)
{
    c->fd =
        open(c->out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600); /* spans: owner only */
    if (c->fd < 0) {
        cli_err("collect: cannot open %s: %s", c->out_path, strerror(errno));
        return -1;
    }
    struct stat sb;
    c->file_size = fstat(c->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    return 0;
}

/* FILE -> FILE.1 -> ... -> FILE.max_files (the last one is dropped). */
static void rotate(collector *c)
{
    size_t n = strlen(c->out_path) + 16;
    char *from = xmalloc(n), *to = xmalloc(n);
    for (int i = c->max_files; i >= 1; i--) {
        snprintf(to, n, "%s.%d", c->out_path, i);
        if (i == 1)
            snprintf(from, n, "%s", c->out_path);
        else
            snprintf(from, n, "%s.%d", c->out_path, i - 1);
        if (rename(from, to) != 0 && errno != ENOENT)
            cli_err("collect: cannot rename %s to %s: %s", from, to, strerror(errno));
    }
    if (c->max_files == 0) (void)unlink(c->out_path);
    free(from);
    free(to);
    close(c->fd);
    if (open_out(c) != 0) c->fd = -1;
}

static void write_chunk(collector *c, const chunk *k)
{
    if (c->fd < 0) {
        c->write_errors++;
        return;
    }
    size_t off = 0;
    while (off < k->len) {
        ssize_t w = write(c->fd, k->data + off, k->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (c->write_errors++ % 100 == 0)
                cli_err("collect: cannot write %s: %s", c->out_path,
                        w < 0 ? strerror(errno) : "short write");
            return;
        }
        off += (size_t)w;
    }
    c->file_size += k->len;
    c->bytes_written += k->len;
    c->dirty = true;
    for (size_t i = 0; i < k->len; i++)
        c->lines_written += k->data[i] == '\n';
    if (c->max_file && c->file_size >= c->max_file) rotate(c);
}

static void feed_live(collector *c, const chunk *k)
{
    otlp_stats st;
    memset(&st, 0, sizeof st);
    otlp_read_opts o = {.path = c->out_path, .on_span = live_span, .user = c};
    const char *p = k->data, *end = k->data + k->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        otlp_read_line(&o, &st, p, len, ++c->line_no);
        p += len + 1;
    }
}

/* Runs `dptrace report FILE -o HTML -q` as a child (this very program), so a long report
 * never stalls the writer; one at a time. */
static void report_start(collector *c)
{
    char *argv[] = {"dptrace", "report", (char *)c->out_path, "-o", (char *)c->report_path,
                    "-q",      NULL};
    pid_t pid;
    int e = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    if (e != 0) {
        cli_err("collect: cannot run the report: %s", strerror(e));
        return;
    }
    c->report_pid = pid;
    c->dirty = false;
    c->last_report_ns = now_ns();
}

static void report_poll(collector *c, bool wait)
{
    if (c->report_pid > 0) {
        int status;
        pid_t r = waitpid(c->report_pid, &status, wait ? 0 : WNOHANG);
        if (r == c->report_pid || (r < 0 && errno == ECHILD)) c->report_pid = 0;
    }
}

static void *writer_main(void *arg)
{
    collector *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (!c->head && !c->stopping) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 200 * 1000000L;
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->cv, &c->mu, &dl);
        }
        chunk *list = c->head;
        c->head = c->tail = NULL;
        bool stopping = c->stopping;
        pthread_mutex_unlock(&c->mu);
        while (list) {
            chunk *k = list;
            list = k->next;
            write_chunk(c, k);
            if (c->view) feed_live(c, k);
            pthread_mutex_lock(&c->mu);
            c->queued -= k->len;
            pthread_mutex_unlock(&c->mu);
            free(k);
        }
        if (c->view) live_tick(c, false);
        report_poll(c, false);
        if (c->report_path && c->dirty && c->report_pid == 0 &&
            now_ns() - c->last_report_ns >= (uint64_t)c->report_every * 1000000000ull)
            report_start(c);
        if (stopping) {
            pthread_mutex_lock(&c->mu);
            bool empty = !c->head;
            pthread_mutex_unlock(&c->mu);
            if (empty) break;
        }
    }
    if (c->view) live_tick(c, true);
    report_poll(c, true);
    if (c->report_path && c->dirty) {
        report_start(c);
        report_poll(c, true);
    }
    return NULL;
}

/* ---- the receiver ---------------------------------------------------------------------- */

enum { CT_OTHER, CT_PROTO, CT_JSON };

typedef struct request {
    sbuf body;
    int ctype;
    bool gzip, bad_encoding, too_big, busy;
} request;

static int content_type(const char *v)
{
    if (!v) return CT_OTHER;
    size_t n = strcspn(v, ";");
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    if ((n == 22 && !strncasecmp(v, "application/x-protobuf", n)) ||
        (n == 20 && !strncasecmp(v, "application/protobuf", n)))
        return CT_PROTO;
    if (n == 16 && !strncasecmp(v, "application/json", n)) return CT_JSON;
    return CT_OTHER;
}

static void put_varint(sbuf *b, uint64_t v)
{
    char buf[10];
    size_t n = 0;
    for (;; v >>= 7) {
        buf[n++] = (char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80) break;
    }
    sb_putn(b, buf, n);
}

/* google.rpc.Status (the body of every OTLP/HTTP failure): 1 code, 2 message. */
static void status_body(sbuf *b, bool json, int code, const char *msg)
{
    if (json) {
        sb_printf(b, "{\"code\":%d,\"message\":", code);
        json_str(b, msg, strlen(msg));
        sb_putc(b, '}');
        return;
    }
    sb_putc(b, 0x08); /* field 1, varint */
    put_varint(b, (uint64_t)code);
    sb_putc(b, 0x12); /* field 2, length-delimited */
    put_varint(b, strlen(msg));
    sb_puts(b, msg);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, bool json,
                               const sbuf *body, const char *retry_after, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body->len, body->p ? body->p : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            json ? "application/json" : "application/x-protobuf");
    if (retry_after) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result fail(struct MHD_Connection *conn, unsigned status, bool json, int code,
                            const char *msg, const char *retry_after, const char *allow)
{
    sbuf b = {0};
    status_body(&b, json, code, msg);
    enum MHD_Result r = respond(conn, status, json, &b, retry_after, allow);
    sb_free(&b);
    return r;
}

/* gunzip with an output bound: -1 corrupt, -2 over max, 0 ok. Concatenated members
 * (allowed by RFC 1952) are all read. */
static int gunzip(const sbuf *in, sbuf *out, size_t max)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return -1;
    z.next_in = (Bytef *)in->p;
    z.avail_in = (uInt)in->len;
    int rc = 0;
    char buf[65536];
    for (;;) {
        z.next_out = (Bytef *)buf;
        z.avail_out = sizeof buf;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t got = sizeof buf - z.avail_out;
        if (out->len + got > max) {
            rc = -2;
            break;
        }
        sb_putn(out, buf, got);
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            if (inflateReset(&z) != Z_OK) {
                rc = -1;
                break;
            }
            continue;
        }
        if (zr != Z_OK || (got == 0 && z.avail_in == 0)) {
            rc = -1; /* corrupt, or the stream ends early */
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    collector *c = cls;
    request *rq = *con_cls;
    if (!rq) {
        /* First call: headers only. Refuse what can be refused before the body comes. */
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        bool json = content_type(ct) == CT_JSON;
        if (strcmp(url, "/v1/traces") != 0)
            return fail(conn, MHD_HTTP_NOT_FOUND, json, 5,
                        "not found: dptrace collect receives traces at /v1/traces", NULL, NULL);
        if (strcmp(method, "POST") != 0)
            return fail(conn, MHD_HTTP_METHOD_NOT_ALLOWED, json, 12,
                        "method not allowed: POST OTLP traces to /v1/traces", NULL, "POST");
        if (content_type(ct) == CT_OTHER) {
            c->requests++;
            c->unsupported++;
            return fail(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, true, 3,
                        "unsupported Content-Type: use application/x-protobuf or "
                        "application/json",
                        NULL, NULL);
        }
        const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        uint64_t clen;
        if (cl && parse_u64(cl, &clen) && clen > c->max_body) {
            c->requests++;
            c->too_big++;
            char msg[96];
            snprintf(msg, sizeof msg, "the request body is larger than %zu MiB", c->max_body / MIB);
            return fail(conn, 413, json, 8, msg, NULL, NULL);
        }
        rq = xcalloc(1, sizeof *rq);
        rq->ctype = content_type(ct);
        rq->gzip = ce && !strcasecmp(ce, "gzip");
        rq->bad_encoding = ce && !rq->gzip && strcasecmp(ce, "identity") != 0;
        *con_cls = rq;
        return MHD_YES;
    }
    bool json = rq->ctype == CT_JSON;
    if (*upload_size) {
        /* Body bytes: keep them while within the body limit and the receiver's share of
         * memory; past either, note it and let the rest go by. */
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big || rq->busy) return MHD_YES;
        if (rq->body.len + n > c->max_body) {
            rq->too_big = true;
        } else if (c->inflight + n > c->queue_cap) {
            rq->busy = true;
        } else {
            sb_putn(&rq->body, upload, n);
            c->inflight += n;
        }
        if (rq->too_big || rq->busy) {
            c->inflight -= rq->body.len;
            sb_free(&rq->body);
        }
        return MHD_YES;
    }
    /* The whole body is in. */
    c->requests++;
    char msg[300];
    if (rq->too_big) {
        c->too_big++;
        snprintf(msg, sizeof msg, "the request body is larger than %zu MiB", c->max_body / MIB);
        return fail(conn, 413, json, 8, msg, NULL, NULL);
    }
    if (rq->busy) {
        c->busy++;
        return fail(conn, MHD_HTTP_SERVICE_UNAVAILABLE, json, 14,
                    "the collector's queue is full; retry later", "1", NULL);
    }
    if (rq->bad_encoding) {
        c->unsupported++;
        return fail(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, json, 3,
                    "unsupported Content-Encoding: use gzip or none", NULL, NULL);
    }
    sbuf plain = {0};
    const sbuf *body = &rq->body;
    if (rq->gzip) {
        int z = gunzip(&rq->body, &plain, c->max_body);
        if (z != 0) {
            sb_free(&plain);
            if (z == -2) {
                c->too_big++;
                snprintf(msg, sizeof msg,
                         "the request body is larger than %zu MiB after decompression",
                         c->max_body / MIB);
                return fail(conn, 413, json, 8, msg, NULL, NULL);
            }
            c->bad++;
            return fail(conn, MHD_HTTP_BAD_REQUEST, json, 3, "the gzip body is corrupt", NULL,
                        NULL);
        }
        body = &plain;
    }
    otlp_decoded d;
    memset(&d, 0, sizeof d);
    int rc = json ? otlp_decode_json(body->p ? body->p : "", body->len, &d)
                  : otlp_decode_proto((const uint8_t *)(body->p ? body->p : ""), body->len, &d);
    sb_free(&plain);
    enum MHD_Result ret;
    if (rc == OTLP_DEC_TOO_BIG) {
        c->too_big++;
        ret = fail(conn, 413, json, 8, d.why, NULL, NULL);
    } else if (rc != OTLP_DEC_OK) {
        c->bad++;
        ret = fail(conn, MHD_HTTP_BAD_REQUEST, json, 3, d.why, NULL, NULL);
    } else {
        bool queued = true;
        if (d.lines.len) {
            pthread_mutex_lock(&c->mu);
            if (c->queued + d.lines.len > c->queue_cap) {
                queued = false;
            } else {
                chunk *k = xmalloc(sizeof *k + d.lines.len);
                k->next = NULL;
                k->len = d.lines.len;
                memcpy(k->data, d.lines.p, d.lines.len);
                if (c->tail)
                    c->tail->next = k;
                else
                    c->head = k;
                c->tail = k;
                c->queued += k->len;
                pthread_cond_signal(&c->cv);
            }
            pthread_mutex_unlock(&c->mu);
        }
        if (!queued) {
            c->busy++;
            ret = fail(conn, MHD_HTTP_SERVICE_UNAVAILABLE, json, 14,
                       "the collector's queue is full; retry later", "1", NULL);
        } else {
            c->spans += d.spans;
            c->rejected += d.rejected;
            /* ExportTraceServiceResponse: empty on full success; partial_success (1)
             * with rejected_spans (1) and error_message (2) when spans were left out. */
            sbuf b = {0};
            if (d.rejected && json) {
                sb_printf(&b, "{\"partialSuccess\":{\"rejectedSpans\":\"%llu\",\"errorMessage\":",
                          (unsigned long long)d.rejected);
                json_str(&b, d.why, strlen(d.why));
                sb_puts(&b, "}}");
            } else if (d.rejected) {
                sbuf inner = {0};
                sb_putc(&inner, 0x08); /* rejected_spans: field 1, varint */
                put_varint(&inner, d.rejected);
                sb_putc(&inner, 0x12); /* error_message: field 2, length-delimited */
                put_varint(&inner, strlen(d.why));
                sb_puts(&inner, d.why);
                sb_putc(&b, 0x0a); /* partial_success: field 1, length-delimited */
                put_varint(&b, inner.len);
                sb_putn(&b, inner.p, inner.len);
                sb_free(&inner);
            } else if (json) {
                sb_puts(&b, "{}");
            }
            ret = respond(conn, MHD_HTTP_OK, json, &b, NULL, NULL);
            sb_free(&b);
        }
    }
    otlp_decoded_free(&d);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)conn;
    (void)code;
    collector *c = cls;
    request *rq = *con_cls;
    if (!rq) return;
    c->inflight -= rq->body.len;
    sb_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* HOST:PORT, [V6]:PORT, :PORT or PORT into a socket address. */
static bool parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256] = "127.0.0.1";
    const char *port = s;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) return false;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = '\0';
        port = e + 2;
    } else if (strrchr(s, ':')) {
        const char *colon = strrchr(s, ':');
        if ((size_t)(colon - s) >= sizeof host) return false;
        if (colon > s) {
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = '\0';
        }
        port = colon + 1;
    }
    uint64_t p;
    if (!parse_u64(port, &p) || p > 65535) return false;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) return false;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

int cmd_collect(int argc, char **argv)
{
    static const char *const when[] = {"auto", "always", "never", NULL};
    const char *listen_at = "127.0.0.1:4318";
    int max_file_mb = 100, max_body_mb = 64, queue_mb = 256, color = 0, width = 0;
    bool ascii = false;
    collector c;
    memset(&c, 0, sizeof c);
    c.out_path = "traces.jsonl";
    c.max_files = 5;
    c.quiet_ms = 2000;
    c.max_traces = 1000;
    c.max_live_spans = 50000;
    c.report_every = 10;
    const cli_opt opts[] = {
        {"listen", 'l', OPT_STR, &listen_at, 0, 0, NULL},
        {"out", 'o', OPT_STR, &c.out_path, 0, 0, NULL},
        {"max-file-mb", 0, OPT_INT, &max_file_mb, 0, 1000000, NULL},
        {"max-files", 0, OPT_INT, &c.max_files, 0, 1000, NULL},
        {"view", 0, OPT_FLAG, &c.view, 0, 0, NULL},
        {"quiet-ms", 0, OPT_INT, &c.quiet_ms, 1, 3600000, NULL},
        {"max-traces", 0, OPT_INT, &c.max_traces, 1, 1000000, NULL},
        {"max-live-spans", 0, OPT_INT, &c.max_live_spans, 1, 100000000, NULL},
        {"report", 0, OPT_STR, &c.report_path, 0, 0, NULL},
        {"report-every", 0, OPT_INT, &c.report_every, 1, 86400, NULL},
        {"max-body-mb", 0, OPT_INT, &max_body_mb, 1, 1024, NULL},
        {"queue-mb", 0, OPT_INT, &queue_mb, 1, 65536, NULL},
        {"ready-file", 0, OPT_STR, &c.ready_file, 0, 0, NULL},
        {"color", 0, OPT_CHOICE, &color, 0, 0, when},
        {"ascii", 0, OPT_FLAG, &ascii, 0, 0, NULL},
        {"width", 0, OPT_INT, &width, 40, 1000, NULL},
        {"quiet", 'q', OPT_FLAG, &c.quiet, 0, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL},
    };
    int first = cli_parse("collect", argc, argv, opts, usage_collect);
    if (first < 0) return first == CLI_PARSE_HELP ? CLI_OK : CLI_USAGE;
    if (first < argc) {
        cli_err("collect: unexpected argument '%s'", argv[first]);
        return CLI_USAGE;
    }
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (!parse_listen(listen_at, &addr, &addr_len)) {
        cli_err("collect: --listen wants HOST:PORT, [IPv6]:PORT or PORT, not '%s'", listen_at);
        return CLI_USAGE;
    }
    if (!*c.out_path || (c.report_path && !*c.report_path)) {
        cli_err("collect: empty file name");
        return CLI_USAGE;
    }
    c.max_file = (uint64_t)max_file_mb * MIB;
    c.max_body = (size_t)max_body_mb * MIB;
    c.queue_cap = (size_t)queue_mb * MIB;
    if (c.queue_cap < c.max_body) c.queue_cap = c.max_body;
    pen_init(&c.pen, stdout, color, ascii, width);
    if (open_out(&c) != 0) return CLI_FAIL;
    if (c.view) live_init(&c);
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);

    /* Signals go to sigwait below, not to whichever thread runs. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    (void)signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error code, not death */

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, &c, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_done, &c,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 256u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
    if (!d) {
        cli_err("collect: cannot listen on %s (in use, or not an address of this machine)",
                listen_at);
        close(c.fd);
        return CLI_FAIL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    pthread_t writer;
    if (pthread_create(&writer, NULL, writer_main, &c) != 0) {
        cli_err("collect: cannot start the writer thread");
        MHD_stop_daemon(d);
        return CLI_FAIL;
    }
    char host[128] = "";
    (void)getnameinfo((struct sockaddr *)&addr, addr_len, host, sizeof host, NULL, 0,
                      NI_NUMERICHOST);
    if (!c.quiet)
        fprintf(
            stderr, "dptrace collect: listening on http://%s%s%s:%u/v1/traces, writing %s%s%s\n",
            addr.ss_family == AF_INET6 ? "[" : "", host, addr.ss_family == AF_INET6 ? "]" : "",
            port, c.out_path, c.report_path ? ", report " : "", c.report_path ? c.report_path : "");
    if (c.ready_file) {
        FILE *f = fopen(c.ready_file, "w");
        if (f) {
            fprintf(f, "%u\n", port);
            if (fclose(f) != 0) cli_err("collect: cannot write %s", c.ready_file);
        }
    }
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    /* Stop receiving (requests in progress are answered first), then write everything
     * queued, show the traces still held, and write the last report. */
    MHD_stop_daemon(d);
    pthread_mutex_lock(&c.mu);
    c.stopping = true;
    pthread_cond_signal(&c.cv);
    pthread_mutex_unlock(&c.mu);
    pthread_join(writer, NULL);
    if (c.fd >= 0) close(c.fd);
    if (!c.quiet) {
        fprintf(stderr,
                "dptrace collect: %llu requests, %llu spans written to %s (%llu rejected), "
                "%llu malformed, %llu too large, %llu unsupported, %llu refused while busy",
                (unsigned long long)c.requests, (unsigned long long)c.spans, c.out_path,
                (unsigned long long)c.rejected, (unsigned long long)c.bad,
                (unsigned long long)c.too_big, (unsigned long long)c.unsupported,
                (unsigned long long)c.busy);
        if (c.view)
            fprintf(stderr, "; view: %llu traces shown, %llu evicted (%llu spans)",
                    (unsigned long long)c.shown_traces, (unsigned long long)c.evicted_traces,
                    (unsigned long long)c.evicted_spans);
        if (c.write_errors)
            fprintf(stderr, "; %llu write errors", (unsigned long long)c.write_errors);
        fputc('\n', stderr);
    }
    free(c.live);
    free(c.buckets);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    (void)sig;
    return c.write_errors ? CLI_FAIL : CLI_OK;
}
