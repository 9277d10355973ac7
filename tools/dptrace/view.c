/* view.c - `dptrace view`: a summary of a trace file and terminal waterfalls (span tree,
 * service, kind, duration, a bar scaled to the trace, status). Colours only on a terminal
 * and never with NO_COLOR; everything taken from the file is sanitised before printing.
 */
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"
#include "render.h"
#include "traceset.h"

#define MAX_IDS 64
#define VIEW_DEFAULT_MAX_SPANS 200000u
#define MAX_INDENT 10 /* tree levels drawn; deeper ones are drawn at this depth with +N */

void usage_view(FILE *out)
{
    fputs("usage: dptrace view FILE [options]\n"
          "\n"
          "Shows the traces of an OTLP JSON lines file as terminal waterfalls. Without\n"
          "options: a summary of the file and the waterfall of the slowest trace.\n"
          "\n"
          "Options:\n"
          "  -t, --trace ID      show this trace (32 hex digits, or a unique prefix of at\n"
          "                      least 4); may be repeated\n"
          "  -s, --slowest N     show the N slowest traces (with --errors: of those with\n"
          "                      an error)\n"
          "  -e, --errors        show traces with an error status (the slowest one unless\n"
          "                      --slowest N says how many)\n"
          "      --color WHEN    auto (default: when stdout is a terminal and NO_COLOR is\n"
          "                      unset), always or never\n"
          "      --ascii         draw with ASCII only (default: UTF-8 when the locale is)\n"
          "      --width N       line width (default: the terminal's, else 100)\n"
          "      --max-spans N   keep at most N spans in memory (default 200000)\n"
          "      --progress      show reading progress on stderr even when not a terminal\n"
          "  -q, --quiet         no progress\n"
          "  -h, --help          this help\n"
          "\n"
          "Exit status: 0 ok, 1 unreadable file, no valid span or trace not found,\n"
          "2 bad arguments. Malformed lines are reported with their number and skipped.\n",
          out);
}

/* ---- drawing -------------------------------------------------------------------------- */

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[1;31m"

static const char *const palette[] = {"\033[36m", "\033[35m", "\033[34m", "\033[33m",
                                      "\033[32m", "\033[96m", "\033[95m", "\033[94m"};

static const char *svc_color(const pen *p, const char *svc)
{
    if (!p->color) return "";
    uint32_t h = 2166136261u;
    int n = 0; /* the first 64 bytes choose the colour: bounded work per span */
    for (const char *s = svc ? svc : ""; *s && n < 64; s++, n++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return palette[h % (sizeof palette / sizeof *palette)];
}

static const char *col(const pen *p, const char *c)
{
    return p->color ? c : "";
}

/* Prints s sanitised in exactly w columns (cut with an ellipsis or padded). */
static void put_cell(const pen *p, const char *s, int w, bool right)
{
    if (w <= 0) return;
    /* w columns never need more than 4 bytes each (plus the cut): no strlen of a long name */
    size_t len = s ? strnlen(s, 4 * (size_t)w + 8) : 0;
    char *buf = xmalloc(4 * (size_t)w + 8);
    size_t used = sanitize_cols(s ? s : "", len, (size_t)w, p->ascii, buf);
    int pad = w - (int)used;
    if (right)
        fprintf(p->out, "%*s%s", pad, "", buf);
    else
        fprintf(p->out, "%s%*s", buf, pad, "");
    free(buf);
}

static const char *kind_name(int k)
{
    static const char *const names[] = {"", "internal", "server", "client", "producer", "consumer"};
    return k >= 0 && k <= 5 ? names[k] : "";
}

static void fmt_time(uint64_t ns, char *out, size_t cap)
{
    time_t s = (time_t)(ns / 1000000000ull);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(out, cap, "?");
        return;
    }
    char tmp[32];
    if (strftime(tmp, sizeof tmp, "%Y-%m-%d %H:%M:%S", &tm) == 0) tmp[0] = 0;
    snprintf(out, cap, "%s.%03u UTC", tmp, (unsigned)(ns / 1000000ull % 1000));
}

static int display_width(const char *s, bool ascii)
{
    char buf[4 * 64 + 8];
    return (int)sanitize_cols(s ? s : "", s ? strnlen(s, 4 * 64 + 8) : 0, 64, ascii, buf);
}

void draw_waterfall(const pen *p, const trace_sum *sum, sel_trace *st)
{
    traceset_order(st);
    char hex[33], dur[32], when[64];
    id_hex(sum->id, 16, hex);
    fmt_duration(trace_duration(sum), p->ascii, dur, sizeof dur);
    fmt_time(sum->start, when, sizeof when);

    fprintf(p->out, "%strace %s%s  ", col(p, C_BOLD), hex, col(p, C_RESET));
    put_cell(p, st->root_name,
             display_width(st->root_name, p->ascii) > 60 ? 60
                                                         : display_width(st->root_name, p->ascii),
             false);
    if (st->root_service) {
        fputs(" (", p->out);
        fputs(svc_color(p, st->root_service), p->out);
        int w = display_width(st->root_service, p->ascii);
        put_cell(p, st->root_service, w > 40 ? 40 : w, false);
        fprintf(p->out, "%s)", col(p, C_RESET));
    }
    fputc('\n', p->out);
    /* Count services in the kept spans for the header line. */
    uint32_t n_svc = 0;
    const char *seen[16];
    for (uint32_t i = 0; i < st->n && n_svc < 16; i++) {
        const char *s = st->spans[i].service ? st->spans[i].service : "";
        bool dup = false;
        for (uint32_t j = 0; j < n_svc; j++)
            dup |= seen[j] == s; /* interned: one pointer per name */
        if (!dup) seen[n_svc++] = s;
    }
    fprintf(p->out, "  %sstart %s   duration %s   %u span%s", col(p, C_DIM), when, dur, sum->spans,
            sum->spans == 1 ? "" : "s");
    if (sum->errors)
        fprintf(p->out, "%s   %s%u error%s%s", col(p, C_RESET), col(p, C_RED), sum->errors,
                sum->errors == 1 ? "" : "s", col(p, C_RESET));
    fprintf(p->out, "%s   %u%s service%s%s\n", col(p, C_DIM), n_svc, n_svc == 16 ? "+" : "",
            n_svc == 1 ? "" : "s", col(p, C_RESET));
    if (st->dropped) fprintf(p->out, "  (%u spans not shown: --max-spans reached)\n", st->dropped);

    /* Column widths: service and name take what they need within limits, the bar the rest. */
    int svc_w = 7, name_w = 4;
    for (uint32_t i = 0; i < st->n; i++) {
        const span_rec *s = &st->spans[i];
        int w = display_width(s->service ? s->service : "?", p->ascii);
        if (w > svc_w) svc_w = w;
        uint32_t d = s->depth > MAX_INDENT ? MAX_INDENT + 2 : s->depth;
        w = (int)d * 3 + display_width(s->name, p->ascii);
        if (w > name_w) name_w = w;
    }
    if (svc_w > 16) svc_w = 16;
    if (name_w > 48) name_w = 48;
    const int kind_w = 8, dur_w = 9;
    int bar_w = p->width - (2 + svc_w + 2 + name_w + 2 + kind_w + 1 + dur_w + 2 + 2);
    if (bar_w < 10) bar_w = 10;

    /* Axis header. */
    fputs("\n  ", p->out);
    fputs(col(p, C_DIM), p->out);
    put_cell(p, "SERVICE", svc_w, false);
    fputs("  ", p->out);
    put_cell(p, "SPAN", name_w, false);
    fputs("  ", p->out);
    put_cell(p, "KIND", kind_w, false);
    fputc(' ', p->out);
    put_cell(p, "DURATION", dur_w, true);
    fputs("  ", p->out);
    char left[8] = "0", right[32];
    fmt_duration(trace_duration(sum), p->ascii, right, sizeof right);
    int rw = (int)strlen(right) - (p->ascii ? 0 : (strstr(right, "\xc2\xb5") ? 1 : 0));
    fprintf(p->out, "%s%*s%s%s\n", left, bar_w + 2 - 1 - rw, "", right, col(p, C_RESET));

    /* is_last[i]: no later sibling. Backward scan; seen[d] says a span of depth d came
     * after, with no shallower one in between. Amortised O(n). */
    bool *is_last = xcalloc(st->n ? st->n : 1, sizeof *is_last);
    uint32_t max_depth = 0;
    for (uint32_t i = 0; i < st->n; i++)
        if (st->spans[i].depth > max_depth) max_depth = st->spans[i].depth;
    bool *seen_d = xcalloc((size_t)max_depth + 2, sizeof *seen_d);
    uint32_t top = 0;
    for (uint32_t i = st->n; i-- > 0;) {
        uint32_t d = st->spans[i].depth;
        is_last[i] = !seen_d[d];
        seen_d[d] = true;
        for (uint32_t k = d + 1; k <= top; k++)
            seen_d[k] = false;
        top = d;
    }
    free(seen_d);
    bool anc_last[MAX_INDENT + 1];
    memset(anc_last, 0, sizeof anc_last);

    const char *vbar = p->ascii ? "|  " : "\xe2\x94\x82  ";
    const char *tee = p->ascii ? "|- " : "\xe2\x94\x9c\xe2\x94\x80 ";
    const char *elbow = p->ascii ? "`- " : "\xe2\x94\x94\xe2\x94\x80 ";
    const char *block = p->ascii ? "#" : "\xe2\x96\x88";
    const char *thin = p->ascii ? "|" : "\xe2\x96\x8f";
    uint64_t t0 = sum->start, span_ns = trace_duration(sum);
    sbuf line = {0};
    for (uint32_t i = 0; i < st->n; i++) {
        const span_rec *s = &st->spans[i];
        bool err = s->status == 2;
        fputs("  ", p->out);
        fputs(svc_color(p, s->service), p->out);
        put_cell(p, s->service ? s->service : "?", svc_w, false);
        fputs(col(p, C_RESET), p->out);
        fputs("  ", p->out);

        /* tree prefix */
        line.len = 0;
        if (line.p) line.p[0] = '\0';
        uint32_t d = s->depth;
        if (d <= MAX_INDENT) anc_last[d] = is_last[i];
        int prefix_cols = 0;
        if (d > 0) {
            uint32_t shown = d > MAX_INDENT ? MAX_INDENT : d;
            for (uint32_t l = 1; l < shown; l++) {
                sb_puts(&line, anc_last[l] ? "   " : vbar);
                prefix_cols += 3;
            }
            if (d > MAX_INDENT) {
                char more[16];
                snprintf(more, sizeof more, "+%u ", d - MAX_INDENT);
                sb_puts(&line, more);
                prefix_cols += (int)strlen(more);
            }
            sb_puts(&line, is_last[i] ? elbow : tee);
            prefix_cols += 3;
        }
        if (prefix_cols > name_w - 4) {
            /* Too deep for the column: keep the name readable. */
            line.len = 0;
            if (line.p) line.p[0] = '\0'; /* nothing appended yet: no buffer */
            char more[24];
            snprintf(more, sizeof more, "+%u ", d);
            sb_puts(&line, more);
            prefix_cols = (int)strlen(more);
        }
        fputs(col(p, C_DIM), p->out);
        fputs(line.p ? line.p : "", p->out);
        fputs(col(p, C_RESET), p->out);
        if (err) fputs(col(p, C_RED), p->out);
        put_cell(p, s->name, name_w - prefix_cols, false);
        if (err) fputs(col(p, C_RESET), p->out);
        fputs("  ", p->out);
        put_cell(p, kind_name(s->kind), kind_w, false);
        fputc(' ', p->out);
        char dbuf[32];
        fmt_duration(s->end - s->start, p->ascii, dbuf, sizeof dbuf);
        put_cell(p, dbuf, dur_w, true);
        fputs("  ", p->out);

        /* the bar: [start, end) scaled to the trace, at least one cell */
        double scale = span_ns ? (double)bar_w / (double)span_ns : 0;
        int c0 = (int)((double)(s->start - t0) * scale);
        int c1 = span_ns ? (int)((double)(s->end - t0) * scale + 0.999) : bar_w;
        if (c0 >= bar_w) c0 = bar_w - 1;
        if (c1 > bar_w) c1 = bar_w;
        if (c1 <= c0) c1 = c0 + 1;
        fputs(col(p, C_DIM), p->out);
        fputs(p->ascii ? "|" : "\xe2\x94\x82", p->out);
        fputs(col(p, C_RESET), p->out);
        fprintf(p->out, "%*s", c0, "");
        fputs(err ? col(p, C_RED) : svc_color(p, s->service), p->out);
        bool zero = s->end == s->start;
        for (int c = c0; c < c1; c++)
            fputs(zero ? thin : block, p->out);
        fputs(col(p, C_RESET), p->out);
        fprintf(p->out, "%*s", bar_w - c1, "");
        fputs(col(p, C_DIM), p->out);
        fputs(p->ascii ? "|" : "\xe2\x94\x82", p->out);
        fputs(col(p, C_RESET), p->out);

        /* notes: status and orphans */
        if (err) {
            fprintf(p->out, " %sERROR%s", col(p, C_RED), col(p, C_RESET));
            if (s->status_msg && *s->status_msg) {
                fputs(": ", p->out);
                int w = display_width(s->status_msg, p->ascii);
                put_cell(p, s->status_msg, w > 60 ? 60 : w, false);
            }
        }
        if (s->orphan) {
            char ph[17];
            id_hex(s->parent, 8, ph);
            if (s->orphan == 1)
                fprintf(p->out, " %s(orphan: parent %s not in file)%s", col(p, C_DIM), ph,
                        col(p, C_RESET));
            else
                fprintf(p->out, " %s(parent cycle at %s)%s", col(p, C_DIM), ph, col(p, C_RESET));
        }
        fputc('\n', p->out);
    }
    sb_free(&line);
    free(is_last);
}

/* ---- summary -------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_svc(const void *a, const void *b)
{
    const service_count *x = a, *y = b;
    if (x->spans != y->spans) return x->spans > y->spans ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void print_summary(const pen *p, traceset *ts, const uint32_t *slow, uint32_t n_slow)
{
    char n1[32], n2[32], n3[32], a[64], b[64], d[32];
    fmt_count(ts->spans, n1, sizeof n1);
    fmt_count(ts->n_sums, n2, sizeof n2);
    fmt_duration(ts->max_end - ts->min_start, p->ascii, d, sizeof d);
    fmt_time(ts->min_start, a, sizeof a);
    fmt_time(ts->max_end, b, sizeof b);
    fprintf(p->out, "%s", col(p, C_BOLD));
    put_cell(p, ts->path, display_width(ts->path, p->ascii), false);
    fprintf(p->out, "%s: %s span%s in %s trace%s", col(p, C_RESET), n1, ts->spans == 1 ? "" : "s",
            n2, ts->n_sums == 1 ? "" : "s");
    uint32_t n_svc = ts->n_services + (ts->other_service_spans ? 1 : 0);
    fprintf(p->out, " from %u%s service%s\n", n_svc, ts->other_service_spans ? "+" : "",
            n_svc == 1 ? "" : "s");
    fprintf(p->out, "  time:     %s .. %s (%s)\n", a, b, d);

    uint32_t err_traces = 0;
    for (uint32_t i = 0; i < ts->n_sums; i++)
        err_traces += ts->sums[i].errors ? 1 : 0;
    fmt_count(ts->error_spans, n1, sizeof n1);
    fmt_count(err_traces, n2, sizeof n2);
    fprintf(p->out, "  errors:   %s%s span%s in %s trace%s%s (%.1f%% of traces)\n",
            err_traces ? col(p, C_RED) : "", n1, ts->error_spans == 1 ? "" : "s", n2,
            err_traces == 1 ? "" : "s", err_traces ? col(p, C_RESET) : "",
            ts->n_sums ? 100.0 * err_traces / ts->n_sums : 0.0);

    service_count *svc = xmalloc((ts->n_services + 1) * sizeof *svc);
    memcpy(svc, ts->services, ts->n_services * sizeof *svc);
    qsort(svc, ts->n_services, sizeof *svc, cmp_svc);
    fputs("  services:", p->out);
    for (uint32_t i = 0; i < ts->n_services && i < 12; i++) {
        fmt_count(svc[i].spans, n3, sizeof n3);
        fputs(i ? ", " : " ", p->out);
        fputs(svc_color(p, svc[i].name), p->out);
        int w = display_width(svc[i].name, p->ascii);
        put_cell(p, svc[i].name, w > 32 ? 32 : w, false);
        fprintf(p->out, "%s %s", col(p, C_RESET), n3);
    }
    if (ts->n_services > 12) fprintf(p->out, ", ... (%u more)", ts->n_services - 12);
    if (ts->other_service_spans) {
        fmt_count(ts->other_service_spans, n3, sizeof n3);
        fprintf(p->out, ", others %s", n3);
    }
    if (ts->no_service_spans) {
        fmt_count(ts->no_service_spans, n3, sizeof n3);
        fprintf(p->out, "%s(no service.name) %s", ts->n_services ? ", " : " ", n3);
    }
    fputc('\n', p->out);
    free(svc);

    /* Percentiles of trace durations (nearest rank). */
    if (ts->n_sums) {
        uint64_t *durs = xmalloc(ts->n_sums * sizeof *durs);
        for (uint32_t i = 0; i < ts->n_sums; i++)
            durs[i] = trace_duration(&ts->sums[i]);
        qsort(durs, ts->n_sums, sizeof *durs, cmp_u64);
        const int pct[] = {50, 90, 99};
        fputs("  duration:", p->out);
        for (int k = 0; k < 3; k++) {
            size_t r = ((size_t)ts->n_sums * (size_t)pct[k] + 99) / 100;
            fmt_duration(durs[r ? r - 1 : 0], p->ascii, d, sizeof d);
            fprintf(p->out, " p%d %s ", pct[k], d);
        }
        fmt_duration(durs[ts->n_sums - 1], p->ascii, d, sizeof d);
        fprintf(p->out, " max %s\n", d);
        free(durs);
    }
    otlp_stats *s1 = &ts->stats1;
    if (s1->bad_lines || s1->bad_spans) {
        fmt_count(s1->bad_lines, n1, sizeof n1);
        fmt_count(s1->bad_spans, n2, sizeof n2);
        fprintf(p->out, "  skipped:  %s malformed line%s, %s invalid span%s\n", n1,
                s1->bad_lines == 1 ? "" : "s", n2, s1->bad_spans == 1 ? "" : "s");
    }

    if (n_slow) {
        fprintf(p->out, "\n%sslowest traces%s\n", col(p, C_BOLD), col(p, C_RESET));
        for (uint32_t k = 0; k < n_slow; k++) {
            const trace_sum *t = &ts->sums[slow[k]];
            const sel_trace *st = &ts->sel[t->sel];
            char hex[33];
            id_hex(t->id, 16, hex);
            fmt_duration(trace_duration(t), p->ascii, d, sizeof d);
            fprintf(p->out, "  %9s  %s  ", d, hex);
            fputs(svc_color(p, st->root_service), p->out);
            int w = display_width(st->root_service ? st->root_service : "?", p->ascii);
            put_cell(p, st->root_service ? st->root_service : "?", w > 16 ? 16 : w, false);
            fputs(col(p, C_RESET), p->out);
            fputs("  ", p->out);
            w = display_width(st->root_name, p->ascii);
            put_cell(p, st->root_name, w > 40 ? 40 : w, false);
            fprintf(p->out, "  %u span%s", t->spans, t->spans == 1 ? "" : "s");
            if (t->errors)
                fprintf(p->out, "  %s%u error%s%s", col(p, C_RED), t->errors,
                        t->errors == 1 ? "" : "s", col(p, C_RESET));
            fputc('\n', p->out);
        }
    }
}

/* ---- the command ---------------------------------------------------------------------- */

static int terminal_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int w;
    if (c && parse_int_arg(c, 40, 1000, &w)) return w;
    return 100;
}

static bool locale_is_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

void pen_init(pen *p, FILE *out, int color, bool ascii, int width)
{
    const char *nc = getenv("NO_COLOR");
    p->out = out;
    p->color = color == 1 || (color == 0 && isatty(fileno(out)) && !(nc && *nc));
    p->ascii = ascii || !locale_is_utf8();
    p->width = width ? width : terminal_width();
}

int cmd_view(int argc, char **argv)
{
    static const char *const when[] = {"auto", "always", "never", NULL};
    const char *id_v[MAX_IDS];
    cli_strs ids = {id_v, 0};
    int slowest = 0, width = 0, max_spans = VIEW_DEFAULT_MAX_SPANS;
    bool errors = false, ascii = false;
    int color = 0; /* index in when[] */
    int prog = PROGRESS_AUTO;
    const cli_opt opts[] = {
        {"trace", 't', OPT_STRS, &ids, 0, MAX_IDS, NULL},
        {"slowest", 's', OPT_INT, &slowest, 1, 1000000, NULL},
        {"errors", 'e', OPT_FLAG, &errors, 0, 0, NULL},
        {"color", 0, OPT_CHOICE, &color, 0, 0, when},
        {"colour", 0, OPT_CHOICE, &color, 0, 0, when},
        {"ascii", 0, OPT_FLAG, &ascii, 0, 0, NULL},
        {"width", 0, OPT_INT, &width, 40, 1000, NULL},
        {"max-spans", 0, OPT_INT, &max_spans, 1, 100000000, NULL},
        {"progress", 0, OPT_SET, &prog, PROGRESS_ALWAYS, 0, NULL},
        {"quiet", 'q', OPT_SET, &prog, PROGRESS_NEVER, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL},
    };
    int first = cli_parse("view", argc, argv, opts, usage_view);
    if (first < 0) return first == CLI_PARSE_HELP ? CLI_OK : CLI_USAGE;
    if (!cli_check_trace_ids("view", &ids)) return CLI_USAGE;
    bool have_slowest = slowest > 0;
    int n_ids = ids.n;
    const char *path = cli_one_file("view", argc, argv, first, usage_view);
    if (!path) return CLI_USAGE;

    pen p;
    pen_init(&p, stdout, color, ascii, width);

    traceset ts;
    traceset_init(&ts, path, progress_enabled((progress_mode)prog));
    ts.span_budget = (uint64_t)max_spans;
    int rc = CLI_OK;
    uint32_t *order = NULL, n_order = 0;
    if (traceset_scan(&ts) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    if (ts.spans == 0) {
        if (ts.stats1.lines > 0) {
            cli_err("%s: no valid span in %llu line%s", path, (unsigned long long)ts.stats1.lines,
                    ts.stats1.lines == 1 ? "" : "s");
            rc = CLI_FAIL;
        } else {
            printf("%s: no spans\n", path);
        }
        goto done;
    }

    /* Selection: which traces get a waterfall, which only a summary line. */
    bool summary = n_ids == 0 && !errors && !have_slowest;
    uint32_t n_show = 0, n_list = 0;
    if (n_ids) {
        for (int k = 0; k < n_ids; k++) {
            int64_t i = traceset_find(&ts, ids.v[k]);
            if (i == -2) {
                cli_err("view: trace id prefix '%s' matches several traces", ids.v[k]);
                rc = CLI_FAIL;
                goto done;
            }
            if (i < 0) {
                cli_err("view: no trace '%s' in %s", ids.v[k], path);
                rc = CLI_FAIL;
                goto done;
            }
            traceset_select(&ts, (uint32_t)i, true);
        }
        n_show = ts.n_sel;
    } else {
        n_order = traceset_by_duration(&ts, errors, &order);
        if (errors && n_order == 0) {
            printf("%s: no trace has an error status (%u traces)\n", path, ts.n_sums);
            goto done;
        }
        n_show = summary ? 1 : (have_slowest ? (uint32_t)slowest : 1);
        if (n_show > n_order) n_show = n_order;
        n_list = summary ? (n_order < 5 ? n_order : 5) : 0;
        uint32_t n = n_show > n_list ? n_show : n_list;
        for (uint32_t k = 0; k < n; k++)
            traceset_select(&ts, order[k], k < n_show);
    }
    if (traceset_collect(&ts) != 0) {
        rc = CLI_FAIL;
        goto done;
    }

    if (summary) {
        print_summary(&p, &ts, order, n_list);
        fputc('\n', p.out);
    } else if (errors && !n_ids) {
        fprintf(p.out, "%u trace%s with errors; showing the slowest %u%s\n\n", n_order,
                n_order == 1 ? "" : "s", n_show,
                n_show < n_order && !have_slowest ? " (use --slowest N for more)" : "");
    }
    for (uint32_t k = 0; k < n_show; k++) {
        uint32_t si = n_ids ? k : (uint32_t)ts.sums[order[k]].sel;
        if (k) fputc('\n', p.out);
        draw_waterfall(&p, &ts.sums[ts.sel[si].sum], &ts.sel[si]);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err("view: cannot write the output");
        rc = CLI_FAIL;
    }
done:
    free(order);
    traceset_free(&ts);
    return rc;
}
