/* fuzz_otlp_file.c - libFuzzer target for what the dptrace CLI reads: an OTLP JSON lines
 * file goes through both passes of the trace set (scan, select, collect, order) the way
 * `dptrace view` and `report` use them, and every attribute value is rendered as text.
 * The input is handed over through a memfd, so the reader sees a real file. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "otlp_read.h"
#include "traceset.h"
#include "util.h"

static int fd = -1;
static char path[64];

static bool render_attrs(void *user, const otlp_span *sp)
{
    sbuf *b = user;
    json_t *attrs = json_object_get(sp->span, "attributes");
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv)
    {
        otlp_value_text(json_object_get(kv, "value"), b, 4096);
        (void)otlp_value_type(json_object_get(kv, "value"));
    }
    char out[256];
    sanitize_cols(sp->name, sp->name_len, 40, false, out);
    json_str(b, sp->name, sp->name_len);
    b->len = 0; /* keep memory flat */
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("otlp", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();

    /* The reader on its own, with every value rendered. */
    sbuf b = {0};
    otlp_stats st;
    otlp_input in;
    if (otlp_input_open(&in, path) == 0) {
        otlp_read_opts o = {
            .in = &in, .path = path, .label = "fuzz", .on_span = render_attrs, .user = &b};
        otlp_read_file(&o, &st);
        otlp_input_close(&in);
    }
    sb_free(&b);

    /* The trace set, as view and report drive it. */
    traceset ts;
    traceset_init(&ts, path, false);
    if (traceset_scan(&ts) == 0) {
        uint32_t *order = NULL;
        uint32_t n = traceset_by_duration(&ts, false, &order);
        for (uint32_t i = 0; i < n && i < 4; i++)
            traceset_select(&ts, order[i], true);
        free(order);
        if (traceset_collect(&ts) == 0)
            for (uint32_t i = 0; i < ts.n_sel; i++)
                traceset_order(&ts.sel[i]);
    }
    traceset_free(&ts);
    return 0;
}
