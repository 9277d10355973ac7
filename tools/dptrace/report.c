/* report.c - `dptrace report`: writes one self-contained HTML page (inline CSS and JS,
 * no network, a strict Content-Security-Policy) with a trace list and a waterfall per
 * trace. The trace data goes into a JSON block escaped for HTML; the page's script only
 * ever puts it into the DOM as text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"
#include "traceset.h"

#define MAX_IDS 64
#define REPORT_DEFAULT_MAX_SPANS 50000u
/* Per-span detail bounds: a hostile or huge file must not blow the page (or memory) up. */
#define MAX_VALUE_BYTES 4096u
#define MAX_ITEMS 128u                /* attributes, events, links shown per span */
#define MAX_DETAIL_TOTAL (256u << 20) /* bytes of span details in all */
#define MAX_RESOURCES 4096u

extern const char dpt_report_template[];
extern const size_t dpt_report_template_len;

void usage_report(FILE *out)
{
    fputs("usage: dptrace report FILE -o OUT.html [options]\n"
          "\n"
          "Writes a self-contained HTML page (no network access, works offline) with the\n"
          "list of traces of an OTLP JSON lines file, a waterfall per trace and span\n"
          "details (attributes, events, links, status, resource) on click.\n"
          "\n"
          "Options:\n"
          "  -o, --output OUT    the HTML file to write ('-' for stdout); required\n"
          "  -t, --trace ID      include this trace only (repeatable; unique prefix ok)\n"
          "  -s, --slowest N     include the N slowest traces only\n"
          "  -e, --errors        include traces with an error status only\n"
          "      --max-spans N   span budget (default 50000): when the file holds more,\n"
          "                      traces with errors, then the slowest, are kept first\n"
          "      --progress      show reading progress on stderr even when not a terminal\n"
          "  -q, --quiet         no progress\n"
          "  -h, --help          this help\n"
          "\n"
          "Exit status: 0 ok, 1 unreadable file, no valid span, trace not found or write\n"
          "error, 2 bad arguments.\n",
          out);
}

/* ---- span details, built in pass 2 ----------------------------------------------------- */

typedef struct res_map {
    uint64_t *hash;
    uint32_t *idx;
    uint32_t cap;
    uint64_t detail_bytes;
    bool detail_full;
    /* The spans of one resource come one after the other: the last resource's index is
     * reused while the reader is on the same resource object of the same line, so each
     * resource is rendered once per line that holds it, not once per span. */
    const json_t *last_res;
    uint64_t last_line;
    int last_idx;
} res_map;

static res_map g_res; /* owned by the running report command; one per process */

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void put_value(sbuf *b, json_t *v)
{
    sbuf t = {0};
    /* Rendering stops at the cut: a 30 MB value costs 4 KiB here, not 30 MB. */
    if (otlp_value_text(v, &t, MAX_VALUE_BYTES)) {
        json_t *str = json_object_get(v, "stringValue");
        if (json_is_string(str))
            sb_printf(&t, "\xe2\x80\xa6 (%zu bytes)", json_string_length(str));
        else
            sb_puts(&t, "\xe2\x80\xa6 (cut)");
    }
    json_str(b, t.p ? t.p : "", t.len);
    sb_free(&t);
}

/* [[key, text, type], ...] */
static void put_attrs(sbuf *b, json_t *attrs)
{
    sb_putc(b, '[');
    size_t i, n = json_array_size(attrs), shown = 0;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (shown == MAX_ITEMS) break;
        json_t *k = json_object_get(a, "key"), *v = json_object_get(a, "value");
        if (shown++) sb_putc(b, ',');
        sb_putc(b, '[');
        const char *ks = json_is_string(k) ? json_string_value(k) : "?";
        size_t kl = json_is_string(k) ? json_string_length(k) : 1;
        json_str(b, ks, utf8_cut(ks, kl, 256));
        sb_putc(b, ',');
        put_value(b, v);
        sb_putc(b, ',');
        const char *ty = otlp_value_type(v);
        json_str(b, ty, strlen(ty));
        sb_putc(b, ']');
    }
    if (n > shown) {
        char more[64];
        snprintf(more, sizeof more, "%zu more not shown", n - shown);
        sb_puts(b, shown ? ",[\"\\u2026\"," : "[\"\\u2026\",");
        json_str(b, more, strlen(more));
        sb_puts(b, ",\"\"]");
    }
    sb_putc(b, ']');
}

static void put_id(sbuf *b, json_t *v, size_t n)
{
    uint8_t id[16];
    char hex[33];
    if (json_is_string(v) && id_decode(json_string_value(v), json_string_length(v), id, n)) {
        id_hex(id, n, hex);
        json_str(b, hex, 2 * n);
    } else {
        json_str(b, "?", 1);
    }
}

static uint32_t json_u32(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < UINT32_MAX
               ? (uint32_t)json_integer_value(v)
               : 0;
}

static int resource_index(traceset *ts, json_t *resource)
{
    if (!resource) return -1;
    sbuf b = {0};
    put_attrs(&b, json_object_get(resource, "attributes"));
    uint64_t h = fnv(b.p, b.len);
    res_map *m = &g_res;
    if (!m->cap) {
        m->cap = 2 * MAX_RESOURCES;
        m->hash = xcalloc(m->cap, sizeof *m->hash);
        m->idx = xcalloc(m->cap, sizeof *m->idx);
    }
    uint32_t slot = (uint32_t)(h & (m->cap - 1));
    while (m->idx[slot]) {
        uint32_t i = m->idx[slot] - 1;
        if (m->hash[slot] == h && strcmp(ts->res_json[i], b.p) == 0) {
            sb_free(&b);
            return (int)i;
        }
        slot = (slot + 1) & (m->cap - 1);
    }
    if (ts->n_res >= MAX_RESOURCES) {
        sb_free(&b);
        return -1;
    }
    if (ts->n_res == ts->cap_res) {
        ts->cap_res = ts->cap_res ? ts->cap_res * 2 : 16;
        ts->res_json = xrealloc(ts->res_json, ts->cap_res * sizeof *ts->res_json);
    }
    ts->res_json[ts->n_res] = b.p; /* ownership moves to ts */
    m->hash[slot] = h;
    m->idx[slot] = ++ts->n_res;
    return (int)(ts->n_res - 1);
}

static const char *span_detail(traceset *ts, const otlp_span *sp)
{
    if (g_res.detail_full) return NULL;
    sbuf b = {0};
    json_t *s = sp->span;
    sb_puts(&b, "{\"a\":");
    put_attrs(&b, json_object_get(s, "attributes"));

    json_t *events = json_object_get(s, "events");
    sb_puts(&b, ",\"e\":[");
    size_t i, shown = 0;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        if (shown == MAX_ITEMS) break;
        uint64_t t = 0;
        otlp_time(json_object_get(e, "timeUnixNano"), &t);
        long long off = t >= sp->start_ns
                            ? (long long)(t - sp->start_ns > (uint64_t)1 << 53 ? (uint64_t)1 << 53
                                                                               : t - sp->start_ns)
                            : -1;
        json_t *name = json_object_get(e, "name");
        sb_printf(&b, "%s[%lld,", shown++ ? "," : "", off);
        const char *ns = json_is_string(name) ? json_string_value(name) : "";
        json_str(&b, ns, utf8_cut(ns, strlen(ns), 1024));
        sb_putc(&b, ',');
        put_attrs(&b, json_object_get(e, "attributes"));
        sb_putc(&b, ']');
    }
    sb_putc(&b, ']');

    json_t *links = json_object_get(s, "links"), *l;
    sb_puts(&b, ",\"l\":[");
    shown = 0;
    json_array_foreach(links, i, l)
    {
        if (shown == MAX_ITEMS) break;
        sb_puts(&b, shown++ ? ",[" : "[");
        put_id(&b, json_object_get(l, "traceId"), 16);
        sb_putc(&b, ',');
        put_id(&b, json_object_get(l, "spanId"), 8);
        sb_putc(&b, ',');
        put_attrs(&b, json_object_get(l, "attributes"));
        sb_putc(&b, ']');
    }
    sb_putc(&b, ']');

    if (!sp->resource || sp->resource != g_res.last_res || sp->line != g_res.last_line) {
        g_res.last_idx = resource_index(ts, sp->resource);
        g_res.last_res = sp->resource;
        g_res.last_line = sp->line;
    }
    sb_printf(&b, ",\"r\":%d", g_res.last_idx);
    if (sp->scope) {
        json_t *n = json_object_get(sp->scope, "name"), *v = json_object_get(sp->scope, "version");
        const char *nn = json_is_string(n) ? json_string_value(n) : "";
        const char *vv = json_is_string(v) ? json_string_value(v) : "";
        sb_puts(&b, ",\"sc\":[");
        json_str(&b, nn, utf8_cut(nn, strlen(nn), 256));
        sb_putc(&b, ',');
        json_str(&b, vv, utf8_cut(vv, strlen(vv), 256));
        sb_putc(&b, ']');
    }
    json_t *tst = json_object_get(s, "traceState");
    if (json_is_string(tst) && json_string_length(tst)) {
        sb_puts(&b, ",\"ts\":");
        json_str(&b, json_string_value(tst),
                 utf8_cut(json_string_value(tst), json_string_length(tst), 1024));
    }
    sb_printf(&b, ",\"d\":[%u,%u,%u]}", json_u32(json_object_get(s, "droppedAttributesCount")),
              json_u32(json_object_get(s, "droppedEventsCount")),
              json_u32(json_object_get(s, "droppedLinksCount")));

    g_res.detail_bytes += b.len;
    if (g_res.detail_bytes > MAX_DETAIL_TOTAL) {
        g_res.detail_full = true;
        sb_free(&b);
        return NULL;
    }
    const char *out = arena_strndup(&ts->mem, b.p, b.len);
    sb_free(&b);
    return out;
}

/* ---- writing the page ------------------------------------------------------------------ */

static void put_trace(sbuf *b, const traceset *ts, sel_trace *st)
{
    const trace_sum *sum = &ts->sums[st->sum];
    traceset_order(st);
    char hex[33];
    id_hex(sum->id, 16, hex);
    sb_puts(b, "{\"id\":\"");
    sb_puts(b, hex);
    sb_puts(b, "\",\"name\":");
    const char *rn = st->root_name ? st->root_name : "";
    json_str(b, rn, strlen(rn));
    sb_puts(b, ",\"service\":");
    const char *rs = st->root_service ? st->root_service : "";
    json_str(b, rs, utf8_cut(rs, strnlen(rs, TS_NAME_MAX + 1), TS_NAME_MAX));
    /* Milliseconds as a double lose nothing that matters for display; offsets inside the
     * trace stay exact integer nanoseconds. */
    sb_printf(b, ",\"startMs\":%.3f,\"dur\":%llu,\"nSpans\":%u,\"errors\":%u,\"dropped\":%u",
              (double)sum->start / 1e6, (unsigned long long)trace_duration(sum), sum->spans,
              sum->errors, st->dropped);
    sb_puts(b, ",\"services\":[");
    uint32_t n_svc = 0;
    const char *seen[32];
    for (uint32_t i = 0; i < st->n && n_svc < 32; i++) {
        const char *s = st->spans[i].service ? st->spans[i].service : "?";
        bool dup = false;
        for (uint32_t j = 0; j < n_svc && !dup; j++)
            dup = seen[j] == s; /* interned: one pointer per name */
        if (dup) continue;
        if (n_svc) sb_putc(b, ',');
        seen[n_svc++] = s;
        json_str(b, s, utf8_cut(s, strnlen(s, TS_NAME_MAX + 1), TS_NAME_MAX));
    }
    sb_puts(b, "],\"spans\":[");
    for (uint32_t i = 0; i < st->n; i++) {
        const span_rec *s = &st->spans[i];
        char sid[17], pid[17];
        id_hex(s->id, 8, sid);
        if (s->has_parent)
            id_hex(s->parent, 8, pid);
        else
            pid[0] = '\0';
        sb_printf(b, "%s[\"%s\",\"%s\",%u,", i ? "," : "", sid, pid, s->depth);
        json_str(b, s->name, strlen(s->name));
        sb_putc(b, ',');
        const char *svc = s->service ? s->service : "";
        json_str(b, svc, utf8_cut(svc, strnlen(svc, TS_NAME_MAX + 1), TS_NAME_MAX));
        uint64_t off = s->start - sum->start, dur = s->end - s->start;
        sb_printf(b, ",%u,%llu,%llu,%u,", s->kind, (unsigned long long)off, (unsigned long long)dur,
                  s->status);
        json_str(b, s->status_msg, strlen(s->status_msg));
        sb_printf(b, ",%d,", s->orphan);
        sb_puts(b, s->detail ? s->detail : "null");
        sb_putc(b, ']');
    }
    sb_puts(b, "]}");
}

/* Writes the template with @NONCE@ and @DATA@ replaced. */
static int write_page(FILE *out, const char *nonce, const traceset *ts, const char *path)
{
    const char *t = dpt_report_template, *end = t + dpt_report_template_len;
    while (t < end) {
        const char *at = memchr(t, '@', (size_t)(end - t));
        if (!at) {
            (void)fwrite(t, 1, (size_t)(end - t), out);
            break;
        }
        (void)fwrite(t, 1, (size_t)(at - t), out);
        size_t rest = (size_t)(end - at);
        if (rest >= 7 && memcmp(at, "@NONCE@", 7) == 0) {
            fputs(nonce, out);
            t = at + 7;
        } else if (rest >= 6 && memcmp(at, "@DATA@", 6) == 0) {
            sbuf b = {0};
            char when[64];
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            if (strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm) == 0) when[0] = 0;
            sb_puts(&b, "{\"file\":");
            json_str(&b, path, strlen(path));
            sb_puts(&b, ",\"generated\":");
            json_str(&b, when, strlen(when));
            uint64_t shown_spans = 0, dropped = 0;
            for (uint32_t i = 0; i < ts->n_sel; i++) {
                shown_spans += ts->sel[i].n;
                dropped += ts->sel[i].dropped;
            }
            sb_printf(
                &b,
                ",\"stats\":{\"spans\":%llu,\"traces\":%u,\"lines\":%llu,\"badLines\":%llu,"
                "\"badSpans\":%llu,\"shownTraces\":%u,\"shownSpans\":%llu,"
                "\"droppedSpans\":%llu}",
                (unsigned long long)ts->spans, ts->n_sums, (unsigned long long)ts->stats1.lines,
                (unsigned long long)ts->stats1.bad_lines, (unsigned long long)ts->stats1.bad_spans,
                ts->n_sel, (unsigned long long)shown_spans, (unsigned long long)dropped);
            sb_puts(&b, ",\"resources\":[");
            for (uint32_t i = 0; i < ts->n_res; i++) {
                if (i) sb_putc(&b, ',');
                sb_puts(&b, ts->res_json[i]);
            }
            sb_puts(&b, "],\"traces\":[");
            (void)fwrite(b.p, 1, b.len, out);
            for (uint32_t i = 0; i < ts->n_sel; i++) {
                b.len = 0;
                if (i) sb_putc(&b, ',');
                put_trace(&b, ts, &ts->sel[i]);
                (void)fwrite(b.p, 1, b.len, out);
            }
            fputs("]}", out);
            sb_free(&b);
            t = at + 6;
        } else {
            fputc('@', out);
            t = at + 1;
        }
    }
    return ferror(out) ? -1 : 0; /* write errors are sticky: the (void) fwrites above land here */
}

static const traceset *g_ts;

static int cmp_start(const void *a, const void *b)
{
    const sel_trace *x = a, *y = b;
    const trace_sum *tx = &g_ts->sums[x->sum], *ty = &g_ts->sums[y->sum];
    if (tx->start != ty->start) return tx->start < ty->start ? -1 : 1;
    return memcmp(tx->id, ty->id, 16);
}

int cmd_report(int argc, char **argv)
{
    const char *id_v[MAX_IDS], *out_path = NULL;
    cli_strs ids = {id_v, 0};
    int slowest = 0, max_spans = REPORT_DEFAULT_MAX_SPANS;
    bool errors = false;
    int prog = PROGRESS_AUTO;
    const cli_opt opts[] = {
        {"output", 'o', OPT_STR, &out_path, 0, 0, NULL},
        {"trace", 't', OPT_STRS, &ids, 0, MAX_IDS, NULL},
        {"slowest", 's', OPT_INT, &slowest, 1, 100000000, NULL},
        {"errors", 'e', OPT_FLAG, &errors, 0, 0, NULL},
        {"max-spans", 0, OPT_INT, &max_spans, 1, 100000000, NULL},
        {"progress", 0, OPT_SET, &prog, PROGRESS_ALWAYS, 0, NULL},
        {"quiet", 'q', OPT_SET, &prog, PROGRESS_NEVER, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL},
    };
    int first = cli_parse("report", argc, argv, opts, usage_report);
    if (first < 0) return first == CLI_PARSE_HELP ? CLI_OK : CLI_USAGE;
    if (!cli_check_trace_ids("report", &ids)) return CLI_USAGE;
    int n_ids = ids.n;
    const char *path = cli_one_file("report", argc, argv, first, usage_report);
    if (!path) return CLI_USAGE;
    if (!out_path || !*out_path) {
        cli_err("report: missing -o OUT.html");
        usage_report(stderr);
        return CLI_USAGE;
    }

    traceset ts;
    traceset_init(&ts, path, progress_enabled((progress_mode)prog));
    ts.span_budget = (uint64_t)max_spans;
    memset(&g_res, 0, sizeof g_res);
    int rc = CLI_OK;
    uint32_t *order = NULL;
    char *tmp = NULL;
    FILE *out = NULL;
    if (traceset_scan(&ts) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    if (ts.spans == 0 && ts.stats1.lines > 0) {
        cli_err("%s: no valid span in %llu line%s", path, (unsigned long long)ts.stats1.lines,
                ts.stats1.lines == 1 ? "" : "s");
        rc = CLI_FAIL;
        goto done;
    }

    if (n_ids) {
        for (int k = 0; k < n_ids; k++) {
            int64_t i = traceset_find(&ts, ids.v[k]);
            if (i < 0) {
                cli_err(i == -2 ? "report: trace id prefix '%s' matches several traces"
                                : "report: no trace '%s' in the file",
                        ids.v[k]);
                rc = CLI_FAIL;
                goto done;
            }
            traceset_select(&ts, (uint32_t)i, true);
        }
    } else {
        uint32_t n = traceset_by_duration(&ts, errors, &order);
        if (slowest && (uint32_t)slowest < n) n = (uint32_t)slowest;
        /* Within the span budget: traces with errors first, then the slowest. Greedy: a
         * trace that does not fit is skipped and smaller ones still get in. */
        uint64_t used = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (uint32_t k = 0; k < n; k++) {
                const trace_sum *t = &ts.sums[order[k]];
                if ((pass == 0) != (t->errors > 0) || t->sel >= 0) continue;
                if (used + t->spans > (uint64_t)max_spans && ts.n_sel > 0) continue;
                used += t->spans;
                traceset_select(&ts, order[k], true);
            }
        }
    }
    ts.detail_fn = span_detail;
    if (traceset_collect(&ts) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    /* The page lists traces by start time. */
    g_ts = &ts;
    qsort(ts.sel, ts.n_sel, sizeof *ts.sel, cmp_start);
    for (uint32_t i = 0; i < ts.n_sel; i++)
        ts.sums[ts.sel[i].sum].sel = (int32_t)i;
    if (ts.n_sel < ts.n_sums)
        fprintf(stderr, "dptrace: report: %u of %u traces included (--max-spans %d)\n", ts.n_sel,
                ts.n_sums, max_spans);
    if (g_res.detail_full)
        cli_err("report: span details past %u MiB were left out", MAX_DETAIL_TOTAL >> 20);

    uint8_t rnd[16];
    char nonce[33];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
        /* The nonce only has to be unguessable by the trace data, which is fixed before
         * the page is written; still, prefer the kernel's randomness. */
        uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
        for (size_t i = 0; i < sizeof rnd; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            rnd[i] = (uint8_t)(x >> 56);
        }
    }
    id_hex(rnd, sizeof rnd, nonce);

    bool to_stdout = strcmp(out_path, "-") == 0;
    if (to_stdout) {
        out = stdout;
    } else {
        /* Write beside the target and rename: a reader never sees half a page. The
         * temporary name is mkstemp's (O_EXCL, unpredictable), so nobody can plant a
         * link there; its mode follows the umask as a plain fopen's would. */
        size_t n = strlen(out_path) + 32;
        tmp = xmalloc(n);
        snprintf(tmp, n, "%s.tmp.XXXXXX", out_path);
        int fd = mkstemp(tmp);
        mode_t um = umask(0);
        umask(um);
        if (fd >= 0)
            (void)fchmod(fd, 0666 & ~um); /* on failure mkstemp's 0600 stays: only stricter */
        out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!out) {
            cli_err("report: cannot write %s: %s", tmp, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(tmp);
            }
            rc = CLI_FAIL;
            goto done;
        }
    }
    int werr = write_page(out, nonce, &ts, path);
    if (to_stdout) {
        if (fflush(out) != 0 || werr) {
            cli_err("report: cannot write the output");
            rc = CLI_FAIL;
        }
    } else {
        if (fclose(out) != 0 || werr) {
            cli_err("report: cannot write %s: %s", tmp, strerror(errno));
            unlink(tmp);
            rc = CLI_FAIL;
        } else if (rename(tmp, out_path) != 0) {
            cli_err("report: cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
            unlink(tmp);
            rc = CLI_FAIL;
        }
        out = NULL;
    }
    if (rc == CLI_OK && !to_stdout) {
        uint64_t spans = 0;
        for (uint32_t i = 0; i < ts.n_sel; i++)
            spans += ts.sel[i].n;
        fprintf(stderr, "dptrace: wrote %s (%u trace%s, %llu span%s)\n", out_path, ts.n_sel,
                ts.n_sel == 1 ? "" : "s", (unsigned long long)spans, spans == 1 ? "" : "s");
    }
done:
    free(tmp);
    free(order);
    free(g_res.hash);
    free(g_res.idx);
    memset(&g_res, 0, sizeof g_res);
    traceset_free(&ts);
    return rc;
}
