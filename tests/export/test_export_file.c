/* test_export_file.c - the file exporter: one OTLP/JSON request per line, appended, from
 * direct exports, from two processes sharing a file, and from a provider configured with
 * OTEL_TRACES_EXPORTER=file. (The JSON content itself is checked field by field in
 * tests/export/test_export_json.c with a JSON parser.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_export_fixture.h"

#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dpt_file_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads the file into lines; returns the count. Each line must end with '\n'. */
static size_t read_lines(const char *path, char ***out)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0, cap = 16;
    char **lines = malloc(cap * sizeof *lines);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t r;
    while ((r = getline(&line, &lcap, f)) >= 0) {
        assert_true(r > 0 && line[r - 1] == '\n');
        line[r - 1] = '\0';
        if (n == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *out = lines;
    return n;
}

static void free_lines(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void span_hex(const dpt_span_data *d, char out[17])
{
    dpt_span_id_to_hex(&d->ctx.span_id, out);
}

static void test_file_exporter_writes_one_request_per_nonempty_batch(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/a.jsonl", tmpdir);
    fx f;
    assert_int_equal(fx_open(&f, "files", NULL), 0);
    fx_simple_span(f.t, "one");
    fx_simple_span(f.t, "two");
    fx_simple_span(f.t, "three");
    const dpt_span_data *d[3];
    size_t n = fx_take(&f, d, 3);
    assert_int_equal(n, 3);

    dpt_exporter *e = dpt_exporter_file(path);
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, d, 2), DPT_OK);
    assert_int_equal(dpt_exporter_export(e, d, 0), DPT_OK); /* empty: no line */
    const dpt_span_data *only_null[1] = {NULL};
    assert_int_equal(dpt_exporter_export(e, only_null, 1), DPT_OK);
    assert_int_equal(dpt_exporter_export(e, d + 2, 1), DPT_OK);
    dpt_exporter_free(e);

    char **lines;
    size_t nl = read_lines(path, &lines);
    assert_int_equal(nl, 2);
    char hex[17];
    for (size_t i = 0; i < 2; i++) {
        assert_true(strncmp(lines[i], "{\"resourceSpans\":[", 18) == 0);
        assert_true(lines[i][strlen(lines[i]) - 1] == '}');
        assert_null(strchr(lines[i], '\n'));
    }
    span_hex(d[0], hex);
    assert_non_null(strstr(lines[0], hex));
    span_hex(d[1], hex);
    assert_non_null(strstr(lines[0], hex));
    span_hex(d[2], hex);
    assert_null(strstr(lines[0], hex));
    assert_non_null(strstr(lines[1], hex));
    assert_non_null(strstr(lines[1], "\"name\":\"three\""));
    free_lines(lines, nl);

    /* A second exporter on the same path appends; it never truncates. */
    e = dpt_exporter_file(path);
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, d, 1), DPT_OK);
    dpt_exporter_free(e);
    nl = read_lines(path, &lines);
    assert_int_equal(nl, 3);
    free_lines(lines, nl);

    fx_release(d, n);
    fx_close(&f);
}

static void test_file_exporters_in_two_processes_never_interleave_lines(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/shared.jsonl", tmpdir);
    fx f;
    assert_int_equal(fx_open(&f, "files", NULL), 0);
    for (int i = 0; i < 50; i++)
        fx_rich_span(&f);
    const dpt_span_data *d[50];
    size_t n = fx_take(&f, d, 50);
    assert_int_equal(n, 50);
    /* Two processes append large lines (tens of KiB) at the same time; with O_APPEND and
     * one write() per line each line lands whole. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    dpt_exporter *e = dpt_exporter_file(path);
    if (!e) _exit(pid == 0 ? 3 : 4);
    size_t batch = pid == 0 ? 25 : 50;
    for (int i = 0; i < 100; i++) {
        if (dpt_exporter_export(e, d, batch) != DPT_OK) {
            if (pid == 0) _exit(2);
            fail();
        }
    }
    dpt_exporter_free(e);
    if (pid == 0) _exit(0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    char **lines;
    size_t nl = read_lines(path, &lines);
    assert_int_equal(nl, 200);
    size_t len_small = 0, len_big = 0, n_small = 0, n_big = 0;
    for (size_t i = 0; i < nl; i++) {
        size_t l = strlen(lines[i]);
        if (strstr(lines[i], "resourceSpans") != lines[i] + 2)
            fail_msg("line %zu does not start a request", i);
        if (!len_small || l == len_small) {
            len_small = l;
            n_small++;
        } else if (!len_big || l == len_big) {
            len_big = l;
            n_big++;
        } else {
            fail_msg("line %zu has a third length: interleaved", i);
        }
    }
    assert_int_equal(n_small, 100);
    assert_int_equal(n_big, 100);
    free_lines(lines, nl);
    fx_release(d, n);
    fx_close(&f);
}

static void test_file_exporter_rejects_bad_paths_and_writes_zipkin_lines(void **state)
{
    (void)state;
    assert_null(dpt_exporter_file(NULL));
    assert_null(dpt_exporter_file(""));
    assert_null(dpt_exporter_file("/nonexistent-dir-dptrace/x.jsonl"));
    char path[128];
    snprintf(path, sizeof path, "%s/b.jsonl", tmpdir);
    assert_null(dpt_exporter_file_format(path, DPT_FORMAT_OTLP_PROTO));

    fx f;
    assert_int_equal(fx_open(&f, "files", NULL), 0);
    fx_simple_span(f.t, "x");
    const dpt_span_data *d[1];
    size_t n = fx_take(&f, d, 1);
    dpt_exporter *e = dpt_exporter_file_format(path, DPT_FORMAT_ZIPKIN_JSON);
    assert_non_null(e);
    assert_int_equal(dpt_exporter_export(e, d, n), DPT_OK);
    /* Through a provider-less path: shut the exporter down via a simple processor. */
    dpt_processor *proc = dpt_processor_simple(e);
    assert_non_null(proc);
    dpt_processor_free(proc); /* shuts down and destroys e */
    char **lines;
    size_t nl = read_lines(path, &lines);
    assert_int_equal(nl, 1);
    assert_true(lines[0][0] == '[' && strstr(lines[0], "\"localEndpoint\"") != NULL);
    free_lines(lines, nl);
    fx_release(d, n);
    fx_close(&f);
}

/* dptrace's own choice (docs/export.md): spans can hold personal data, so a trace file the
 * exporter creates is readable by its owner only (0600), whatever the umask allows; an
 * existing file keeps its mode. */
static void test_a_new_trace_file_is_private_to_its_owner(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/private.jsonl", tmpdir);
    mode_t old = umask(0);
    dpt_exporter *e = dpt_exporter_file(path);
    umask(old);
    assert_non_null(e);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    dpt_exporter_free(e);
    /* an existing file, made readable by its owner's choice, stays as it is */
    assert_int_equal(chmod(path, 0644), 0);
    e = dpt_exporter_file(path);
    assert_non_null(e);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    dpt_exporter_free(e);
}

/* A FIFO as the trace file: with no reader, opening it for writing used to wait for one
 * inside the provider's creation, forever (DPTRACE_EXPORT_FILE=/some/fifo hung the
 * service at start); now no exporter is made and the reason is logged. With a reader it
 * works as a file. dptrace's own rule: never a hang of the caller. */
static void test_a_fifo_without_a_reader_never_blocks(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/out.fifo", tmpdir);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_null(dpt_exporter_file(path)); /* returns, no reader */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the reader: counts lines */
        FILE *in = fopen(path, "r");
        int c, lines = 0;
        while (in && (c = fgetc(in)) != EOF)
            lines += c == '\n';
        _exit(lines == 1 ? 0 : 1);
    }
    dpt_exporter *e = NULL;
    for (int i = 0; i < 500 && !e; i++) { /* until the reader has opened its end */
        e = dpt_exporter_file(path);
        if (!e) usleep(10000);
    }
    assert_non_null(e);
    fx f;
    assert_int_equal(fx_open(&f, "fifo", NULL), 0);
    fx_simple_span(f.t, "x");
    const dpt_span_data *d[1];
    size_t n = fx_take(&f, d, 1);
    assert_int_equal(dpt_exporter_export(e, d, n), DPT_OK);
    dpt_processor_free(dpt_processor_simple(e)); /* shuts e down, closes the FIFO */
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fx_release(d, n);
    fx_close(&f);
    unlink(path);
}

static void test_provider_from_env_writes_spans_to_the_file_exporter(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/env.jsonl", tmpdir);
    setenv("OTEL_TRACES_EXPORTER", "file", 1);
    setenv("DPTRACE_EXPORT_FILE", path, 1);
    setenv("OTEL_SERVICE_NAME", "env-svc", 1);
    setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
    dpt_provider *p = dpt_provider_from_env();
    assert_non_null(p);
    dpt_tracer *t = dpt_provider_get_tracer(p, "env.scope", NULL);
    for (int i = 0; i < 10; i++)
        fx_simple_span(t, "from-env");
    assert_int_equal(dpt_provider_shutdown(p, 5000), DPT_OK);
    dpt_stats st;
    dpt_provider_get_stats(p, &st);
    assert_int_equal(st.spans_exported, 10);
    dpt_provider_free(p);
    unsetenv("OTEL_TRACES_EXPORTER");
    unsetenv("DPTRACE_EXPORT_FILE");

    char **lines;
    size_t nl = read_lines(path, &lines);
    assert_true(nl >= 1);
    size_t spans = 0;
    for (size_t i = 0; i < nl; i++) {
        assert_non_null(strstr(lines[i], "\"stringValue\":\"env-svc\""));
        for (const char *s = lines[i]; (s = strstr(s, "\"name\":\"from-env\"")); s++)
            spans++;
    }
    assert_int_equal(spans, 10);
    free_lines(lines, nl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_exporter_writes_one_request_per_nonempty_batch),
        cmocka_unit_test(test_file_exporters_in_two_processes_never_interleave_lines),
        cmocka_unit_test(test_file_exporter_rejects_bad_paths_and_writes_zipkin_lines),
        cmocka_unit_test(test_a_fifo_without_a_reader_never_blocks),
        cmocka_unit_test(test_a_new_trace_file_is_private_to_its_owner),
        cmocka_unit_test(test_provider_from_env_writes_spans_to_the_file_exporter),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
