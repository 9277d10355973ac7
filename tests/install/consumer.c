/* consumer.c - a program built against the installed dptrace: one span into a store. */
#include <dptrace.h>
#include <dptrace/export.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    dpt_store *st = dpt_store_new(NULL);
    dpt_processor *proc = dpt_processor_store(st);
    dpt_provider_config cfg = {.service_name = "consumer", .processors = &proc, .n_processors = 1};
    dpt_provider *p;
    if (!((p = dpt_provider_new(&cfg)))) return 1;
    dpt_tracer *t = dpt_provider_get_tracer(p, "consumer", DPTRACE_VERSION_STRING);
    dpt_trace_id id;
    DPT_WITH_SPAN(t, "installed", DPT_SPAN_INTERNAL)
    {
        id = dpt_span_get_context(dpt_span_current()).trace_id;
    }
    char *json = NULL;
    int ok = dpt_store_get_trace_json(st, &id, &json, NULL) == DPT_OK &&
             strstr(json, "\"installed\"") != NULL;
    dpt_free(json);
    dpt_provider_free(p);
    dpt_store_free(st);
    puts(ok ? "ok" : "bad");
    return ok ? 0 : 1;
}
