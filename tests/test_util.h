/* test_util.h - helpers shared by the unit tests: a provider wired to an in-memory
 * exporter, attribute lookups, a log handler that records messages for assertions, and
 * the stderr of a forked child (for what is read once per process). */
#ifndef DPT_TEST_UTIL_H
#define DPT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "dptrace.h"
#include "dptrace/plugin.h"
#include "thread_policy.h"

typedef struct tprov {
    dpt_provider *p;
    dpt_tracer *t;
    dpt_exporter *mem; /* owned by the provider's simple processor */
} tprov;

/* A provider with the given sampler (NULL: always_on) exporting through a simple
 * processor into a memory exporter. */
static inline tprov tprov_new(dpt_sampler *s, const dpt_span_limits *limits)
{
    tprov tp = {0};
    tp.mem = dpt_exporter_memory(100000);
    dpt_processor *proc = dpt_processor_simple(tp.mem);
    dpt_provider_config cfg = {0};
    cfg.service_name = "test-service";
    cfg.sampler = s ? s : dpt_sampler_always_on();
    cfg.limits = limits;
    cfg.processors = &proc;
    cfg.n_processors = 1;
    assert_non_null((tp.p = dpt_provider_new(&cfg)));
    tp.t = dpt_provider_get_tracer(tp.p, "test", "1.0");
    assert_non_null(tp.t);
    return tp;
}

static inline void tprov_free(tprov *tp)
{
    dpt_provider_free(tp->p);
    memset(tp, 0, sizeof *tp);
}

/* A provider (always_on) whose one processor is a batch processor over e (cfg NULL:
 * defaults); *proc is that processor, for the batch test hooks. */
static inline dpt_provider *batch_provider(dpt_exporter *e, const dpt_batch_config *cfg,
                                           dpt_processor **proc)
{
    *proc = dpt_processor_batch(e, cfg);
    assert_non_null(*proc);
    dpt_provider_config c = {
        .sampler = dpt_sampler_always_on(), .processors = proc, .n_processors = 1};
    dpt_provider *p = dpt_provider_new(&c);
    assert_non_null(p);
    return p;
}

/* The i-th exported span (a reference the caller releases). */
static inline const dpt_span_data *tprov_span(tprov *tp, size_t i)
{
    const dpt_span_data *d = dpt_exporter_memory_get(tp->mem, i);
    assert_non_null(d);
    return d;
}

static inline const dpt_attr *find_attr(const dpt_span_data *d, const char *key)
{
    for (uint32_t i = 0; i < d->n_attrs; i++)
        if (strlen(key) == d->attrs[i].key_len &&
            memcmp(d->attrs[i].key, key, d->attrs[i].key_len) == 0)
            return &d->attrs[i];
    return NULL;
}

/* The string / int value of attribute key, or NULL / -1 when absent or of another type. */
static inline const char *attr_str(const dpt_span_data *d, const char *key)
{
    const dpt_attr *a = find_attr(d, key);
    return a && a->value.type == DPT_VAL_STRING ? a->value.u.s : NULL;
}

static inline int64_t attr_int(const dpt_span_data *d, const char *key)
{
    const dpt_attr *a = find_attr(d, key);
    return a && a->value.type == DPT_VAL_INT ? a->value.u.i : -1;
}

/* Runs fn(arg) in a forked child whose stderr goes to a pipe, and puts what it wrote in
 * out[0..cap) (NUL-terminated); the child must exit 0. For the environment and log
 * settings dptrace reads once per process. */
static inline void child_stderr(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Log capture. */
typedef struct logcap {
    int count;
    char last[512];
} logcap;

static inline void logcap_fn(dpt_log_level lvl, const char *msg, void *user)
{
    (void)lvl;
    logcap *c = user;
    c->count++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

#endif
