/* memory_exporter.c - the in-memory exporter for tests: keeps references to exported spans
 * up to a bound, counts what it drops, and can be told to fail.
 */
#include "core.h"
#include "dptrace/export.h"

#include <stdlib.h>

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
    for (size_t i = 0; i < n; i++)
        dpt_span_data_release(copy[i]);
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

static const dpt_exporter_ops mem_ops = {mem_export, NULL, NULL, mem_destroy};

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
