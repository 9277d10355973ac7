/* console_exporter.c - the console exporter: one readable block per span, for a developer
 * watching a terminal (OTEL_TRACES_EXPORTER=console).
 */
#include "common.h"
#include "dptrace/export.h"

#include <inttypes.h>
#include <stdlib.h>

/* ---- console exporter ------------------------------------------------------------------ */

typedef struct console {
    FILE *out;
    dpt__buf buf; /* reused: one write per batch */
} console;

static void value_text(dpt__buf *b, const dpt_value *v)
{
    dpt__json j;
    dpt__json_init(&j, b);
    dpt__json_value(&j, v);
}

static dpt_err console_export(void *st, const dpt_span_data *const *spans, size_t n)
{
    console *c = st;
    dpt__buf *b = &c->buf;
    b->len = 0;
    b->oom = false;
    for (size_t i = 0; i < n; i++) {
        const dpt_span_data *d = spans[i];
        char tid[33], sid[17], pid[17], t[40];
        dpt_trace_id_to_hex(&d->ctx.trace_id, tid);
        dpt_span_id_to_hex(&d->ctx.span_id, sid);
        dpt_span_id_to_hex(&d->parent_span_id, pid);
        dpt__format_rfc3339(d->start_ns, t);
        dpt__buf_puts(b, "span ");
        dpt__json j;
        dpt__json_init(&j, b);
        dpt__json_str(&j, d->name, d->name_len);
        dpt__buf_printf(b, " [%s] %.3f ms %s\n  trace=%s span=%s parent=%s start=%s\n",
                        dpt_span_kind_name((dpt_span_kind)d->kind),
                        (double)(d->end_ns - d->start_ns) / 1e6,
                        dpt_status_code_name((dpt_status_code)d->status), tid, sid,
                        dpt_span_id_is_valid(&d->parent_span_id) ? pid : "-", t);
        if (d->status_msg_len)
            dpt__buf_printf(b, "  status: %.*s\n", (int)d->status_msg_len, d->status_msg);
        for (uint32_t k = 0; k < d->n_attrs; k++) {
            dpt__buf_printf(b, "  %.*s = ", (int)d->attrs[k].key_len, d->attrs[k].key);
            value_text(b, &d->attrs[k].value);
            dpt__buf_putc(b, '\n');
        }
        for (uint32_t k = 0; k < d->n_events; k++) {
            const dpt_event *e = &d->events[k];
            dpt__buf_printf(b, "  event +%.3f ms %.*s", (double)(e->time_ns - d->start_ns) / 1e6,
                            (int)e->name_len, e->name);
            for (uint32_t a = 0; a < e->n_attrs; a++) {
                dpt__buf_printf(b, " %.*s=", (int)e->attrs[a].key_len, e->attrs[a].key);
                value_text(b, &e->attrs[a].value);
            }
            dpt__buf_putc(b, '\n');
        }
        for (uint32_t k = 0; k < d->n_links; k++) {
            dpt_trace_id_to_hex(&d->links[k].ctx.trace_id, tid);
            dpt_span_id_to_hex(&d->links[k].ctx.span_id, sid);
            dpt__buf_printf(b, "  link trace=%s span=%s\n", tid, sid);
        }
    }
    if (b->oom) return DPT_ENOMEM;
    if (b->len && fwrite(b->p, 1, b->len, c->out) != b->len) return DPT_EIO;
    fflush(c->out);
    return DPT_OK;
}

static void console_destroy(void *st)
{
    console *c = st;
    dpt__buf_free(&c->buf);
    free(c);
}

dpt_exporter *dpt_exporter_console(FILE *out)
{
    console *c = dpt__calloc(1, sizeof *c);
    if (!c) return NULL;
    c->out = out ? out : stdout;
    static const dpt_exporter_ops ops = {console_export, NULL, NULL, console_destroy};
    return dpt_exporter_new(&ops, c);
}
