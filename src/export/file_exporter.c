/* file_exporter.c - appends each exported batch to a file as one line of OTLP/JSON (an
 * ExportTraceServiceRequest, the OpenTelemetry Collector file exporter's format) or of
 * Zipkin JSON. One write() per line on an O_APPEND descriptor: the kernel places each
 * line at the end of the file as a unit, so processes sharing the file never interleave.
 */
#include "encode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct file_exp {
    int fd;              /* -1 once shut down */
    dpt_encoder enc;     /* reused for every batch: no allocation in steady state */
    char *path;          /* for diagnostics */
    bool warned;         /* a write error is logged once, not once per batch */
} file_exp;

static dpt_err write_line(file_exp *f, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(f->fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
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

static dpt_err file_export(void *state, const dpt_span_data *const *spans, size_t n)
{
    file_exp *f = state;
    if (f->fd < 0)
        return DPT_ESTATE;
    size_t live = 0;
    for (size_t i = 0; spans && i < n; i++)
        live += spans[i] != NULL;
    if (live == 0)
        return DPT_OK;
    const uint8_t *p;
    size_t len;
    dpt_err err = dpt_encoder_encode(&f->enc, spans, n, &p, &len);
    if (err != DPT_OK)
        return err;
    /* The encoder's buffer has room for its NUL terminator: the newline replaces it so
     * the line goes out in a single write without copying. */
    ((uint8_t *)p)[len] = '\n';
    return write_line(f, p, len + 1);
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
    if (f->fd < 0)
        return DPT_ESTATE;
    close(f->fd);
    f->fd = -1;
    return DPT_OK;
}

static void file_destroy(void *state)
{
    file_exp *f = state;
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
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
    if (!f)
        return NULL;
    dpt__encoder_init(&f->enc, fmt);
    f->path = dpt__strndup(path, strlen(path));
    f->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (!f->path || f->fd < 0) {
        if (f->fd < 0)
            dpt__log(DPT_LOG_ERROR, "file exporter: cannot open %s: %s", path, strerror(errno));
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
