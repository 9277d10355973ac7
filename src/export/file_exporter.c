/* file_exporter.c - appends each exported batch to a file as lines of OTLP/JSON (an
 * ExportTraceServiceRequest, the OpenTelemetry Collector file exporter's format) or of
 * Zipkin JSON. One write() per line on an O_APPEND descriptor: the kernel places each
 * line at the end of the file as a unit, so processes sharing the file never interleave.
 * A batch whose line would be longer than DPT__FILE_MAX_LINE is split over several lines,
 * so that every line is one the dptrace CLI reads (see docs/cli.md).
 */
#include "encode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* The longest line written. The CLI skips lines over 64 MiB and lines whose JSON tree
 * needs more than 128 MiB; jansson's tree of the OTLP JSON written here is at most about
 * 21 times the text (spans of 128 small integer attributes), so 4 MiB lines are read
 * whatever they hold. A batch of 512 spans at the default
 * 64 KiB span budget can encode to 200 MB when every byte is a control character written
 * as \u00XX: that batch goes out as about 50 lines. */
#define DPT__FILE_MAX_LINE ((size_t)4 << 20)

typedef struct file_exp {
    int fd;           /* -1 once shut down */
    dpt_encoder enc;  /* reused for every batch: no allocation in steady state */
    char *path;       /* for diagnostics */
    bool warned;      /* a write error is logged once, not once per batch */
    uint64_t too_big; /* spans not written: alone longer than a line may be */
} file_exp;

static dpt_err write_line(file_exp *f, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(f->fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (!f->warned) {
                dpt__log(DPT_LOG_ERROR, "file exporter: write to %s failed: %s", f->path,
                         strerror(errno));
                f->warned = true;
            }
            return DPT_EIO;
        }
        /* A short write (disk full, a signal) continues where it stopped; the line may
         * then interleave with another process's, which is the best we can do. */
        off += (size_t)w;
    }
    f->warned = false;
    return DPT_OK;
}

static dpt_err write_spans(file_exp *f, const dpt_span_data *const *spans, size_t n,
                           const uint8_t **p, size_t *len)
{
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        live += spans[i] != NULL;
    *len = 0;
    if (live == 0) return DPT_OK;
    dpt_err err = dpt_encoder_encode(&f->enc, spans, n, p, len);
    if (err != DPT_OK) return err;
    if (*len > DPT__FILE_MAX_LINE) return DPT_ETOOBIG;
    /* The encoder's buffer has room for its NUL terminator: the newline replaces it so
     * the line goes out in a single write without copying. */
    ((uint8_t *)*p)[*len] = '\n';
    return write_line(f, *p, *len + 1);
}

static dpt_err file_export(void *state, const dpt_span_data *const *spans, size_t n)
{
    file_exp *f = state;
    if (f->fd < 0) return DPT_ESTATE;
    size_t live = 0;
    for (size_t i = 0; spans && i < n; i++)
        live += spans[i] != NULL;
    if (live == 0) return DPT_OK;
    /* Usually the whole batch is one line. When it is too long, halve the number of
     * spans per line until a line fits; after each line written, try twice as many. */
    const uint8_t *p;
    size_t len, i = 0, k = n;
    dpt_err result = DPT_OK;
    while (i < n) {
        size_t m = n - i < k ? n - i : k;
        dpt_err err = write_spans(f, spans + i, m, &p, &len);
        if (err == DPT_ETOOBIG && m > 1) {
            k = m / 2;
            continue;
        }
        if (err == DPT_ETOOBIG) {
            /* One span alone is too long: possible only when DPTRACE_SPAN_MAX_BYTES is
             * raised far above its default. It is left out, the batch reports the error
             * (the batch processor counts and logs it) and this is logged now and then. */
            if (f->too_big++ % 1000 == 0)
                dpt__log(DPT_LOG_ERROR,
                         "file exporter: a span encodes to %zu bytes, more than the %zu of a "
                         "line the dptrace CLI reads; not written (%llu so far)",
                         len, DPT__FILE_MAX_LINE, (unsigned long long)f->too_big);
            result = DPT_ETOOBIG;
        } else if (err != DPT_OK) {
            return err;
        } else if (k < n) {
            k = k > n / 2 ? n : 2 * k;
        }
        i += m;
    }
    return result;
}

static dpt_err file_flush(void *state, uint32_t timeout_ms)
{
    (void)state;
    (void)timeout_ms;
    /* Every line was handed to the kernel by write(); nothing is buffered here. fsync is
     * left out on purpose: it would make flush cost a disk round trip. */
    return DPT_OK;
}

static dpt_err file_shutdown(void *state, uint32_t timeout_ms)
{
    (void)timeout_ms;
    file_exp *f = state;
    if (f->fd < 0) return DPT_ESTATE;
    close(f->fd);
    f->fd = -1;
    return DPT_OK;
}

static void file_destroy(void *state)
{
    file_exp *f = state;
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    dpt__encoder_release(&f->enc);
    free(f->path);
    free(f);
}

static const dpt_exporter_ops file_ops = {
    .export_spans = file_export,
    .force_flush = file_flush,
    .shutdown = file_shutdown,
    .destroy = file_destroy,
};

dpt_exporter *dpt_exporter_file_format(const char *path, dpt_format fmt)
{
    if (!path || !*path) {
        dpt__log(DPT_LOG_ERROR, "file exporter: no path given");
        return NULL;
    }
    if (fmt != DPT_FORMAT_OTLP_JSON && fmt != DPT_FORMAT_ZIPKIN_JSON) {
        dpt__log(DPT_LOG_ERROR, "file exporter: only JSON formats can be written as lines");
        return NULL;
    }
    file_exp *f = dpt__calloc(1, sizeof *f);
    if (!f) return NULL;
    dpt__encoder_init(&f->enc, fmt);
    f->path = dpt__strndup(path, strlen(path));
    /* Not blocking: opening a FIFO that has no reader would wait for one, inside the
     * provider's creation, forever. A FIFO with a reader is fine (writes block only the
     * export thread, which shutdown's deadline bounds); without one it is an error. */
    /* 0600: spans can hold personal data; other local users do not read them. */
    f->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0600);
    int fl = f->fd >= 0 ? fcntl(f->fd, F_GETFL) : -1;
    if (fl >= 0) fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK);
    if (!f->path || f->fd < 0) {
        if (f->fd < 0)
            dpt__log(DPT_LOG_ERROR, "file exporter: cannot open %s: %s", path,
                     errno == ENXIO ? "a FIFO with no reader" : strerror(errno));
        f->fd = -1;
        file_destroy(f);
        return NULL;
    }
    /* dpt_exporter_new destroys f itself when it fails. */
    return dpt_exporter_new(&file_ops, f);
}

dpt_exporter *dpt_exporter_file(const char *path)
{
    return dpt_exporter_file_format(path, DPT_FORMAT_OTLP_JSON);
}
