/* cli_testtool.c - helper for the CLI tests, independent of the CLI's own reader:
 *   spans FILE         one tab-separated line per span (trace, span, parent, name, kind,
 *                      status code, status message, attributes as k=v;...)
 *   report-data HTML   decodes the JSON block of a report page: "traces N spans M" and one
 *                      "trace ID SPANS" line per trace
 *   gen N FILE         writes N spans (10 per trace as a binary tree, 100 per line, one
 *                      trace in 10 failing), always the same file
 *   rss CMD ARGS...    runs CMD, prints "peak_rss_kb K elapsed_ms T" on stderr, exits as CMD
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
            if (i)
                fputc(',', out);
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
        if (!root)
            continue;
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
                    if (json_array_size(links))
                        printf("\tlinks=%zu", json_array_size(links));
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
    static const char *const services[] = { "gateway", "orders", "inventory", "payments",
                                            "search" };
    static const char *const names[] = { "GET /checkout", "GET /orders/{id}", "GET /stock/{sku}",
                                         "POST /charge", "SELECT", "publish" };
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
        fprintf(f, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                   "\"value\":{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
                   "\"gen\"},\"spans\":[",
                svc);
        for (int k = 0; k < 100 && written < n; k++, written++) {
            if (written % 10 == 0)
                trace++;
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
            if (pos)
                /* a binary tree: span p's parent is span (p - 1) / 2 */
                fprintf(f, "%016llx", (unsigned long long)(lo << 8 | (uint64_t)((pos - 1) / 2 + 1)));
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
    if (pid < 0)
        return 1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    fprintf(stderr, "peak_rss_kb %ld elapsed_ms %ld\n", ru.ru_maxrss, ms);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "spans"))
        return cmd_spans(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "report-data"))
        return cmd_report_data(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "gen"))
        return cmd_gen(atol(argv[2]), argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "rss"))
        return cmd_rss(argv + 2);
    fprintf(stderr, "usage: cli_testtool spans FILE | report-data HTML | gen N FILE | rss CMD...\n");
    return 2;
}
