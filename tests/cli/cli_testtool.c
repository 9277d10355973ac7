/* cli_testtool.c - helper for the CLI tests, independent of the CLI's own reader:
 *   spans FILE         one tab-separated line per span (trace, span, parent, name, kind,
 *                      status code, status message, attributes as k=v;...)
 *   report-data HTML   decodes the JSON block of a report page: "traces N spans M" and one
 *                      "trace ID SPANS" line per trace
 *   gen N FILE         writes N spans (10 per trace as a binary tree, 100 per line, one
 *                      trace in 10 failing), always the same file
 *   rss CMD ARGS...    runs CMD, prints "peak_rss_kb K elapsed_ms T cpu_ms C" on stderr,
 *                      exits as CMD
 *   hostile KIND SCALE FILE   files that once made view/report slow or big (issue 13):
 *                      bigres (one resource value of 4 MB x SCALE, 1000 x SCALE spans),
 *                      svcprefix (64 x SCALE services whose names share a 100 KB prefix,
 *                      64 x SCALE spans each), emptyobjs (one line of SCALE MiB of {}
 *                      objects, then a valid line)
 *   mesh-check FILE N  checks the mesh demo's traces for N checkout requests (shape,
 *                      one error in ten, baggage, the async step's links); prints a summary
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void attr_text(json_t *v, FILE *out)
{
    json_t *x;
    if ((x = json_object_get(v, "stringValue")))
        fputs(json_string_value(x), out);
    else if ((x = json_object_get(v, "intValue")))
        json_is_string(x) ? fputs(json_string_value(x), out)
                          : fprintf(out, "%lld", (long long)json_integer_value(x));
    else if ((x = json_object_get(v, "boolValue")))
        fputs(json_is_true(x) ? "true" : "false", out);
    else if ((x = json_object_get(v, "doubleValue")))
        fprintf(out, "%g", json_real_value(x));
    else if ((x = json_object_get(v, "arrayValue"))) {
        size_t i;
        json_t *e;
        fputc('[', out);
        json_array_foreach(json_object_get(x, "values"), i, e)
        {
            if (i) fputc(',', out);
            attr_text(e, out);
        }
        fputc(']', out);
    }
}

static int cmd_spans(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        json_t *root = json_loadb(line, (size_t)n, 0, &err);
        if (!root) continue;
        size_t i, j, k;
        json_t *rs, *ss, *s;
        json_array_foreach(json_object_get(root, "resourceSpans"), i, rs)
        {
            json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
            {
                json_array_foreach(json_object_get(ss, "spans"), k, s)
                {
                    json_t *st = json_object_get(s, "status");
                    json_t *pid = json_object_get(s, "parentSpanId");
                    printf("%s\t%s\t%s\t%s\t%lld\t%lld\t%s\t",
                           json_string_value(json_object_get(s, "traceId")),
                           json_string_value(json_object_get(s, "spanId")),
                           pid && json_string_length(pid) ? json_string_value(pid) : "-",
                           json_string_value(json_object_get(s, "name")),
                           (long long)json_integer_value(json_object_get(s, "kind")),
                           (long long)json_integer_value(json_object_get(st, "code")),
                           json_string_value(json_object_get(st, "message"))
                               ? json_string_value(json_object_get(st, "message"))
                               : "");
                    size_t a;
                    json_t *at;
                    json_array_foreach(json_object_get(s, "attributes"), a, at)
                    {
                        printf("%s%s=", a ? ";" : "",
                               json_string_value(json_object_get(at, "key")));
                        attr_text(json_object_get(at, "value"), stdout);
                    }
                    json_t *links = json_object_get(s, "links");
                    if (json_array_size(links)) printf("\tlinks=%zu", json_array_size(links));
                    putchar('\n');
                }
            }
        }
        json_decref(root);
    }
    free(line);
    fclose(f);
    return 0;
}

static int cmd_report_data(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        return 1;
    }
    buf[size] = '\0';
    fclose(f);
    const char *open = "<script type=\"application/json\" id=\"dpt-data\">";
    char *a = strstr(buf, open);
    char *b = a ? strstr(a, "</script>") : NULL;
    if (!a || !b) {
        fprintf(stderr, "no data block\n");
        return 1;
    }
    a += strlen(open);
    json_error_t err;
    json_t *root = json_loadb(a, (size_t)(b - a), 0, &err);
    if (!root) {
        fprintf(stderr, "data block is not JSON: %s\n", err.text);
        return 1;
    }
    json_t *traces = json_object_get(root, "traces");
    size_t spans = 0, i;
    json_t *t;
    json_array_foreach(traces, i, t) spans += json_array_size(json_object_get(t, "spans"));
    printf("traces %zu spans %zu\n", json_array_size(traces), spans);
    json_array_foreach(traces, i, t)
    {
        printf("trace %s %zu errors %lld name %s\n", json_string_value(json_object_get(t, "id")),
               json_array_size(json_object_get(t, "spans")),
               (long long)json_integer_value(json_object_get(t, "errors")),
               json_string_value(json_object_get(t, "name")));
    }
    json_decref(root);
    free(buf);
    return 0;
}

/* splitmix64: a fixed seed, so every run generates the same file. */
static uint64_t rng = 42;
static uint64_t next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmd_gen(long n, const char *path)
{
    static const char *const services[] = {"gateway", "orders", "inventory", "payments", "search"};
    static const char *const names[] = {"GET /checkout", "GET /orders/{id}", "GET /stock/{sku}",
                                        "POST /charge",  "SELECT",           "publish"};
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    uint64_t t0 = 1714564800000000000ull;
    long written = 0, trace = 0;
    while (written < n) {
        /* one line: one resource (service), 100 spans = 10 traces of 10 spans */
        const char *svc = services[(written / 100) % 5];
        fprintf(f,
                "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                "\"value\":{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
                "\"gen\"},\"spans\":[",
                svc);
        for (int k = 0; k < 100 && written < n; k++, written++) {
            if (written % 10 == 0) trace++;
            uint64_t lo = (uint64_t)trace;
            int pos = (int)(written % 10);
            uint64_t start = t0 + (uint64_t)trace * 1000000ull + (uint64_t)pos * 100000ull;
            uint64_t dur = 100000ull + next() % 5000000ull;
            bool err = trace % 10 == 0 && pos == 9;
            fprintf(f,
                    "%s{\"traceId\":\"%016llx%016llx\",\"spanId\":\"%016llx\","
                    "\"parentSpanId\":\"",
                    k ? "," : "", 0x1234567890abcdefull, (unsigned long long)lo,
                    (unsigned long long)(lo << 8 | (uint64_t)(pos + 1)));
            if (pos) /* a binary tree: span p's parent is span (p - 1) / 2 */
                fprintf(f, "%016llx",
                        (unsigned long long)(lo << 8 | (uint64_t)((pos - 1) / 2 + 1)));
            fprintf(f,
                    "\",\"name\":\"%s\",\"kind\":%d,\"startTimeUnixNano\":\"%llu\","
                    "\"endTimeUnixNano\":\"%llu\",\"attributes\":[{\"key\":\"http.request.method\","
                    "\"value\":{\"stringValue\":\"GET\"}},{\"key\":\"http.response.status_code\","
                    "\"value\":{\"intValue\":\"%d\"}}],\"status\":{%s}}",
                    names[pos % 6], pos == 0 ? 2 : 3, (unsigned long long)start,
                    (unsigned long long)(start + dur), err ? 500 : 200,
                    err ? "\"code\":2,\"message\":\"boom\"" : "");
        }
        fputs("]}]}]}\n", f);
    }
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static int cmd_rss(char **argv)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    long cpu = ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 + ru.ru_stime.tv_sec * 1000 +
               ru.ru_stime.tv_usec / 1000;
    fprintf(stderr, "peak_rss_kb %ld elapsed_ms %ld cpu_ms %ld\n", ru.ru_maxrss, ms, cpu);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- mesh-check ------------------------------------------------------------------------ */

typedef struct mspan {
    char trace[33], id[17], parent[17];
    char name[64], service[32], tenant[32];
    int kind, status, n_links, has_exception;
    char (*links)[2][33];
} mspan;

static mspan *ms;
static size_t n_ms, cap_ms;

static const char *attr_str(json_t *attrs, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "key")) ?: "", key) == 0)
            return json_string_value(json_object_get(json_object_get(a, "value"), "stringValue"));
    }
    return NULL;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int load_mesh(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        json_t *root = json_loadb(line, (size_t)n, 0, &err);
        if (!root) {
            fprintf(stderr, "mesh-check: malformed line: %s\n", err.text);
            return -1;
        }
        size_t i, j, k;
        json_t *rs, *ss, *s;
        json_array_foreach(json_object_get(root, "resourceSpans"), i, rs)
        {
            const char *svc = attr_str(
                json_object_get(json_object_get(rs, "resource"), "attributes"), "service.name");
            json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
            {
                json_array_foreach(json_object_get(ss, "spans"), k, s)
                {
                    if (n_ms == cap_ms) {
                        cap_ms = cap_ms ? 2 * cap_ms : 1024;
                        ms = realloc(ms, cap_ms * sizeof *ms);
                    }
                    mspan *m = &ms[n_ms++];
                    memset(m, 0, sizeof *m);
                    copy(m->trace, sizeof m->trace,
                         json_string_value(json_object_get(s, "traceId")));
                    copy(m->id, sizeof m->id, json_string_value(json_object_get(s, "spanId")));
                    copy(m->parent, sizeof m->parent,
                         json_string_value(json_object_get(s, "parentSpanId")));
                    copy(m->name, sizeof m->name, json_string_value(json_object_get(s, "name")));
                    copy(m->service, sizeof m->service, svc);
                    copy(m->tenant, sizeof m->tenant,
                         attr_str(json_object_get(s, "attributes"), "tenant.id"));
                    m->kind = (int)json_integer_value(json_object_get(s, "kind"));
                    m->status = (int)json_integer_value(
                        json_object_get(json_object_get(s, "status"), "code"));
                    size_t e;
                    json_t *ev;
                    json_array_foreach(json_object_get(s, "events"), e, ev) m->has_exception |=
                        strcmp(json_string_value(json_object_get(ev, "name")) ?: "", "exception") ==
                        0;
                    json_t *links = json_object_get(s, "links");
                    m->n_links = (int)json_array_size(links);
                    if (m->n_links) {
                        m->links = calloc((size_t)m->n_links, sizeof *m->links);
                        json_t *l;
                        json_array_foreach(links, e, l)
                        {
                            copy(m->links[e][0], 33,
                                 json_string_value(json_object_get(l, "traceId")));
                            copy(m->links[e][1], 33,
                                 json_string_value(json_object_get(l, "spanId")));
                        }
                    }
                }
            }
        }
        json_decref(root);
    }
    free(line);
    fclose(f);
    return 0;
}

/* The child of p (same trace) with this service, kind and name, or NULL. */
static mspan *child(const mspan *p, const char *service, int kind, const char *name)
{
    for (size_t i = 0; i < n_ms; i++) {
        mspan *m = &ms[i];
        if (!strcmp(m->trace, p->trace) && !strcmp(m->parent, p->id) &&
            !strcmp(m->service, service) && m->kind == kind && !strcmp(m->name, name))
            return m;
    }
    return NULL;
}

static mspan *by_id(const char *trace, const char *id)
{
    for (size_t i = 0; i < n_ms; i++)
        if (!strcmp(ms[i].trace, trace) && !strcmp(ms[i].id, id)) return &ms[i];
    return NULL;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "mesh-check: " __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int cmd_mesh_check(const char *path, long requests)
{
    CHECK(load_mesh(path) == 0, "cannot read %s", path);
    long checkouts = 0, errors = 0, producers = 0, linked = 0, batches = 0;
    for (size_t i = 0; i < n_ms; i++) {
        mspan *g = &ms[i];
        if (strcmp(g->service, "gateway") || g->kind != 2 || strcmp(g->name, "GET /checkout"))
            continue;
        checkouts++;
        CHECK(!*g->parent, "a gateway server span has a parent: the edge must start traces");
        /* gateway -> orders -> inventory, orders -> payments, each hop client then server */
        mspan *gc = child(g, "gateway", 3, "POST /orders");
        CHECK(gc, "trace %s: no gateway client span", g->trace);
        mspan *os = child(gc, "orders", 2, "POST /orders");
        CHECK(os, "trace %s: orders did not continue the trace", g->trace);
        mspan *oi = child(os, "orders", 3, "GET /stock/{sku}");
        CHECK(oi, "trace %s: no orders -> inventory client span", g->trace);
        CHECK(child(oi, "inventory", 2, "GET /stock/{sku}"),
              "trace %s: inventory did not continue the trace", g->trace);
        mspan *op = child(os, "orders", 3, "POST /charge");
        CHECK(op, "trace %s: no orders -> payments client span", g->trace);
        mspan *ps = child(op, "payments", 2, "POST /charge");
        CHECK(ps, "trace %s: payments did not continue the trace", g->trace);
        /* baggage: the gateway's tenant reaches orders and payments */
        CHECK(*g->tenant && !strcmp(g->tenant, os->tenant) && !strcmp(g->tenant, ps->tenant),
              "trace %s: tenant.id baggage not propagated (%s, %s, %s)", g->trace, g->tenant,
              os->tenant, ps->tenant);
        mspan *prod = child(os, "orders", 4, "send orders.fulfilment");
        if (g->status == 2) {
            errors++;
            CHECK(ps->status == 2 && ps->has_exception, "trace %s: failed without a payments error",
                  g->trace);
            CHECK(os->status == 2 && op->status == 2 && gc->status == 2,
                  "trace %s: error not on every hop", g->trace);
            CHECK(!prod, "trace %s: a failed order was queued", g->trace);
        } else {
            CHECK(ps->status != 2 && os->status != 2, "trace %s: error below an ok root", g->trace);
            CHECK(prod, "trace %s: no producer span for a confirmed order", g->trace);
            producers++;
        }
    }
    /* the async step: consumer batches in traces of their own, linked to every producer */
    for (size_t i = 0; i < n_ms; i++) {
        mspan *c = &ms[i];
        if (c->kind != 5) continue;
        batches++;
        CHECK(!*c->parent, "consumer span %s has a parent", c->id);
        for (int l = 0; l < c->n_links; l++) {
            mspan *p = by_id(c->links[l][0], c->links[l][1]);
            CHECK(p && p->kind == 4, "consumer %s links to %s/%s, not a producer span", c->id,
                  c->links[l][0], c->links[l][1]);
            CHECK(strcmp(p->trace, c->trace), "consumer %s is in its producer's trace", c->id);
            linked++;
        }
    }
    printf(
        "spans %zu checkout traces %ld errors %ld producers %ld linked %ld consumer batches %ld\n",
        n_ms, checkouts, errors, producers, linked, batches);
    CHECK(checkouts == requests, "%ld checkout traces, wanted %ld", checkouts, requests);
    CHECK(errors == requests / 10, "%ld failed traces, wanted one in ten (%ld)", errors,
          requests / 10);
    CHECK(linked == producers, "%ld producer spans but %ld links from consumers", producers,
          linked);
    CHECK(batches >= 1, "no consumer span");
    return 0;
}

/* ---- hostile files ------------------------------------------------------------------ */

static void put_span(FILE *f, unsigned long long trace, unsigned long long id, bool first)
{
    fprintf(f,
            "%s{\"traceId\":\"%032llx\",\"spanId\":\"%016llx\",\"name\":\"op\","
            "\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"}",
            first ? "" : ",", trace, id, 1714564800000000000ull + id * 1000,
            1714564800000000000ull + id * 1000 + 500);
}

static int cmd_hostile(const char *kind, long scale, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f || scale < 1) return 1;
    if (!strcmp(kind, "bigres")) {
        fputs("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
              "\"value\":{\"stringValue\":\"svc\"}},{\"key\":\"big\",\"value\":{\"stringValue\":\"",
              f);
        for (long i = 0; i < scale * 4 * 1024 * 1024; i++)
            fputc('x', f);
        fputs("\"}}]},\"scopeSpans\":[{\"spans\":[", f);
        for (long i = 0; i < scale * 1000; i++)
            put_span(f, 0xabc, (unsigned long long)i + 1, i == 0);
        fputs("]}]}]}\n", f);
    } else if (!strcmp(kind, "svcprefix")) {
        char *prefix = malloc(100 * 1024 + 1);
        memset(prefix, 'a', 100 * 1024);
        prefix[100 * 1024] = 0;
        unsigned long long id = 1;
        for (long r = 0; r < scale * 64; r++) {
            fprintf(f,
                    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                    "\"service.name\",\"value\":{\"stringValue\":\"%s-%ld\"}}]},"
                    "\"scopeSpans\":[{\"spans\":[",
                    prefix, r);
            for (long i = 0; i < scale * 64; i++, id++)
                put_span(f, 0x100 + (unsigned long long)r, id, i == 0);
            fputs("]}]}]}\n", f);
        }
        free(prefix);
    } else if (!strcmp(kind, "emptyobjs")) {
        fputs("{\"resourceSpans\":[{}", f);
        for (long i = 0; i < scale * 1024 * 1024 / 3; i++)
            fputs(",{}", f);
        fputs("]}\n{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[", f);
        put_span(f, 0xdef, 1, true);
        fputs("]}]}]}\n", f);
    } else {
        fclose(f);
        return 2;
    }
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "hostile"))
        return cmd_hostile(argv[2], atol(argv[3]), argv[4]);
    if (argc >= 4 && !strcmp(argv[1], "mesh-check")) return cmd_mesh_check(argv[2], atol(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "spans")) return cmd_spans(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "report-data")) return cmd_report_data(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "gen")) return cmd_gen(atol(argv[2]), argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "rss")) return cmd_rss(argv + 2);
    fprintf(stderr,
            "usage: cli_testtool spans FILE | report-data HTML | gen N FILE | rss CMD...\n");
    return 2;
}
