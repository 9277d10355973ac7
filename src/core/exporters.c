/* exporters.c - the trace JSON format, the console exporter and the in-memory exporter.
 *
 * The trace JSON is the original design's shape, made strict: lowercase hex ids, RFC 3339
 * times with nanoseconds, attributes as a JSON object of typed values, and every string
 * escaped and UTF-8 clean (see json.c).
 */
#include "internal.h"

#include <inttypes.h>
#include <stdlib.h>

static const char *kind_name(uint8_t k)
{
    static const char *names[] = { "unspecified", "internal", "server", "client", "producer", "consumer" };
    return k <= 5 ? names[k] : "unspecified";
}

static const char *status_name(uint8_t s)
{
    return s == DPT_STATUS_OK ? "OK" : s == DPT_STATUS_ERROR ? "ERROR" : "UNSET";
}

static void attrs_obj(dpt__json *j, const dpt_attr *a, uint32_t n)
{
    dpt__json_obj_begin(j);
    for (uint32_t i = 0; i < n; i++) {
        dpt__json_keyn(j, a[i].key, a[i].key_len);
        dpt__json_value(j, &a[i].value);
    }
    dpt__json_obj_end(j);
}

static void time_field(dpt__json *j, const char *key, uint64_t ns)
{
    char t[40];
    dpt__format_rfc3339(ns, t);
    dpt__json_key(j, key);
    dpt__json_cstr(j, t);
}

DPT__HIDDEN void dpt__span_json(dpt__json *j, const dpt_span_data *d);
void dpt__span_json(dpt__json *j, const dpt_span_data *d)
{
    char hex[33];
    dpt__json_obj_begin(j);
    dpt__json_key(j, "name");
    dpt__json_str(j, d->name, d->name_len);
    dpt_trace_id_to_hex(&d->ctx.trace_id, hex);
    dpt__json_key(j, "trace_id");
    dpt__json_cstr(j, hex);
    dpt_span_id_to_hex(&d->ctx.span_id, hex);
    dpt__json_key(j, "span_id");
    dpt__json_cstr(j, hex);
    dpt__json_key(j, "parent_span_id");
    if (dpt_span_id_is_valid(&d->parent_span_id)) {
        dpt_span_id_to_hex(&d->parent_span_id, hex);
        dpt__json_cstr(j, hex);
    } else {
        dpt__json_null(j);
    }
    dpt__json_key(j, "kind");
    dpt__json_cstr(j, kind_name(d->kind));
    time_field(j, "start_time", d->start_ns);
    time_field(j, "end_time", d->end_ns);
    dpt__json_key(j, "duration_ns");
    dpt__json_uint(j, d->end_ns - d->start_ns);
    dpt__json_key(j, "trace_flags");
    dpt__json_uint(j, d->ctx.flags);
    if (d->tracestate_len) {
        dpt__json_key(j, "trace_state");
        dpt__json_str(j, d->tracestate, d->tracestate_len);
    }
    dpt__json_key(j, "scope");
    dpt__json_obj_begin(j);
    dpt__json_key(j, "name");
    dpt__json_cstr(j, dpt_tracer_name(d->tracer));
    dpt__json_key(j, "version");
    dpt__json_cstr(j, dpt_tracer_version(d->tracer));
    dpt__json_obj_end(j);
    dpt__json_key(j, "attributes");
    attrs_obj(j, d->attrs, d->n_attrs);
    dpt__json_key(j, "events");
    dpt__json_arr_begin(j);
    for (uint32_t i = 0; i < d->n_events; i++) {
        const dpt_event *e = &d->events[i];
        dpt__json_obj_begin(j);
        dpt__json_key(j, "name");
        dpt__json_str(j, e->name, e->name_len);
        time_field(j, "time", e->time_ns);
        dpt__json_key(j, "attributes");
        attrs_obj(j, e->attrs, e->n_attrs);
        dpt__json_obj_end(j);
    }
    dpt__json_arr_end(j);
    dpt__json_key(j, "links");
    dpt__json_arr_begin(j);
    for (uint32_t i = 0; i < d->n_links; i++) {
        const dpt_link *l = &d->links[i];
        dpt__json_obj_begin(j);
        dpt_trace_id_to_hex(&l->ctx.trace_id, hex);
        dpt__json_key(j, "trace_id");
        dpt__json_cstr(j, hex);
        dpt_span_id_to_hex(&l->ctx.span_id, hex);
        dpt__json_key(j, "span_id");
        dpt__json_cstr(j, hex);
        dpt__json_key(j, "attributes");
        attrs_obj(j, l->attrs, l->n_attrs);
        dpt__json_obj_end(j);
    }
    dpt__json_arr_end(j);
    dpt__json_key(j, "status");
    dpt__json_obj_begin(j);
    dpt__json_key(j, "code");
    dpt__json_cstr(j, status_name(d->status));
    if (d->status_msg_len) {
        dpt__json_key(j, "message");
        dpt__json_str(j, d->status_msg, d->status_msg_len);
    }
    dpt__json_obj_end(j);
    if (d->dropped_attrs || d->dropped_events || d->dropped_links) {
        dpt__json_key(j, "dropped");
        dpt__json_obj_begin(j);
        dpt__json_key(j, "attributes");
        dpt__json_uint(j, d->dropped_attrs);
        dpt__json_key(j, "events");
        dpt__json_uint(j, d->dropped_events);
        dpt__json_key(j, "links");
        dpt__json_uint(j, d->dropped_links);
        dpt__json_obj_end(j);
    }
    dpt__json_obj_end(j);
}

dpt_err dpt_trace_snapshot_to_json(const dpt_trace_snapshot *snap, char **out, size_t *len)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    size_t n = dpt_trace_snapshot_count(snap);
    if (!n) return DPT_EINVAL;
    dpt__buf b;
    dpt__buf_init(&b);
    dpt__json j;
    dpt__json_init(&j, &b);
    char hex[33];
    const dpt_span_data *first = dpt_trace_snapshot_span(snap, 0);
    dpt_trace_id_to_hex(&first->ctx.trace_id, hex);
    dpt__json_obj_begin(&j);
    dpt__json_key(&j, "trace_id");
    dpt__json_cstr(&j, hex);
    size_t nres;
    const dpt_attr *res = dpt_provider_resource(first->tracer->provider, &nres);
    dpt__json_key(&j, "resource");
    attrs_obj(&j, res, (uint32_t)nres);
    dpt__json_key(&j, "span_count");
    dpt__json_uint(&j, n);
    dpt__json_key(&j, "spans");
    dpt__json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) dpt__span_json(&j, dpt_trace_snapshot_span(snap, i));
    dpt__json_arr_end(&j);
    dpt__json_obj_end(&j);
    *out = dpt__buf_take(&b, len);
    return *out ? DPT_OK : DPT_ENOMEM;
}

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
                        kind_name(d->kind), (double)(d->end_ns - d->start_ns) / 1e6,
                        status_name(d->status), tid, sid,
                        dpt_span_id_is_valid(&d->parent_span_id) ? pid : "-", t);
        if (d->status_msg_len) dpt__buf_printf(b, "  status: %.*s\n", (int)d->status_msg_len, d->status_msg);
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
    static const dpt_exporter_ops ops = { console_export, NULL, NULL, console_destroy };
    return dpt_exporter_new(&ops, c);
}

/* ---- in-memory exporter --------------------------------------------------------------- */

typedef struct memexp {
    pthread_mutex_t mu;
    const dpt_span_data **spans;
    size_t n, max;
    uint64_t dropped;
    _Atomic bool failing;
} memexp;

static dpt_err mem_export(void *st, const dpt_span_data *const *spans, size_t n)
{
    memexp *m = st;
    if (atomic_load(&m->failing)) return DPT_EEXPORT;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n; i++) {
        if (m->n >= m->max) {
            m->dropped++;
            continue;
        }
        dpt_span_data_retain(spans[i]);
        m->spans[m->n++] = spans[i];
    }
    pthread_mutex_unlock(&m->mu);
    return DPT_OK;
}

static void mem_clear(memexp *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    const dpt_span_data **copy = m->spans;
    for (size_t i = 0; i < n; i++) dpt_span_data_release(copy[i]);
    m->n = 0;
    pthread_mutex_unlock(&m->mu);
}

static void mem_destroy(void *st)
{
    memexp *m = st;
    mem_clear(m);
    pthread_mutex_destroy(&m->mu);
    free(m->spans);
    free(m);
}

static const dpt_exporter_ops mem_ops = { mem_export, NULL, NULL, mem_destroy };

dpt_exporter *dpt_exporter_memory(size_t max_spans)
{
    memexp *m = dpt__calloc(1, sizeof *m);
    if (!m) return NULL;
    m->max = max_spans ? max_spans : 1;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers; the element is one */
    m->spans = dpt__calloc(m->max, sizeof(*m->spans));
    if (!m->spans) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    return dpt_exporter_new(&mem_ops, m);
}

static memexp *as_mem(dpt_exporter *e)
{
    return e && e->ops.export_spans == mem_export ? e->state : NULL;
}

size_t dpt_exporter_memory_count(dpt_exporter *e)
{
    memexp *m = as_mem(e);
    if (!m) return 0;
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}

const dpt_span_data *dpt_exporter_memory_get(dpt_exporter *e, size_t i)
{
    memexp *m = as_mem(e);
    if (!m) return NULL;
    pthread_mutex_lock(&m->mu);
    const dpt_span_data *d = i < m->n ? m->spans[i] : NULL;
    if (d) dpt_span_data_retain(d);
    pthread_mutex_unlock(&m->mu);
    return d;
}

void dpt_exporter_memory_clear(dpt_exporter *e)
{
    memexp *m = as_mem(e);
    if (m) mem_clear(m);
}

void dpt_exporter_memory_set_failing(dpt_exporter *e, bool failing)
{
    memexp *m = as_mem(e);
    if (m) atomic_store(&m->failing, failing);
}
