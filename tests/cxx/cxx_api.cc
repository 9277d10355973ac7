// cxx_api.cc - dptrace's headers used from C++20 (g++ and clang++, -Wall -Wextra -pedantic
// -Werror): the macros that are compound literals in C, span options with designated
// initialisers, scoped spans, and the optional headers. Prints "ok" when every check holds.
#include <dptrace.h>
#include <dptrace/async.h>
#include <dptrace/export.h>
#include <dptrace/plugin.h>
#include <dptrace/propagation.h>

#include <cstdio>
#include <cstring>

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);             \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main()
{
    dpt_exporter *mem = dpt_exporter_memory(16);
    dpt_processor *procs[] = {dpt_processor_simple(mem)};
    dpt_provider_config cfg{};
    cfg.service_name = "cxx";
    cfg.processors = procs;
    cfg.n_processors = 1;
    dpt_provider *p = dpt_provider_new(&cfg);
    CHECK(p != nullptr);
    dpt_tracer *t = dpt_provider_get_tracer(p, "cxx.test", "1.0");

    // Attributes through the same macros C uses.
    const dpt_attr attrs[] = {DPT_STR("http.request.method", "GET"),
                              DPT_INT("http.response.status_code", 200),
                              DPT_BOOL("cache.hit", true), DPT_DOUBLE("ratio", 0.5)};
    // C++20 designated initialisers in declaration order.
    dpt_span_opts opts{.parent = nullptr,
                       .parent_span = DPT_SPAN_NONE,
                       .root = true,
                       .start_ns = 0,
                       .attrs = attrs,
                       .n_attrs = 4,
                       .links = nullptr,
                       .n_links = 0};
    dpt_span s = dpt_span_start(t, "GET /orders/{id}", DPT_SPAN_SERVER, &opts);
    CHECK(dpt_span_is_recording(s));
    DPT_WITH_SPAN(t, "child", DPT_SPAN_INTERNAL)
    {
        CHECK(dpt_span_is_recording(dpt_span_current()));
    }
    CHECK(dpt_span_end(s) == DPT_OK);
    CHECK(dpt_exporter_memory_count(mem) == 2);
    const dpt_span_data *d = dpt_exporter_memory_get(mem, 1);
    CHECK(d && std::strcmp(d->name, "GET /orders/{id}") == 0 && d->n_attrs == 4);
    dpt_span_data_release(d);
    CHECK(std::strcmp(dpt_err_name(DPT_EINVAL), "DPT_EINVAL") == 0);
    dpt_provider_free(p);
    if (failures == 0) std::puts("ok");
    return failures ? 1 : 0;
}
