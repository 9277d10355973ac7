/* quickstart.c - the smallest useful dptrace program: nested scoped spans, attributes,
 * an event, an error, kept in a trace store and printed as JSON. */
#include <dptrace.h>

#include <stdio.h>

static int load_order(dpt_tracer *t, int id)
{
    DPT_WITH_SPAN(t, "db.query orders", DPT_SPAN_CLIENT)
    {
        dpt_span s = dpt_span_current();
        dpt_span_set_str(s, "db.system", "postgresql");
        dpt_span_set_int(s, "order.id", id);
        if (id == 13) {
            dpt_span_record_error(s, "NotFound", "order 13 does not exist");
            return -1; /* the span ends here too */
        }
    }
    return 0;
}

int main(void)
{
    dpt_store *store = dpt_store_new(NULL);
    dpt_processor *proc = dpt_processor_store(store);
    dpt_provider_config cfg = {
        .service_name = "quickstart", .processors = &proc, .n_processors = 1};
    dpt_provider *p;
    if (!((p = dpt_provider_new(&cfg)))) return 1;
    dpt_tracer *t = dpt_provider_get_tracer(p, "quickstart", DPTRACE_VERSION_STRING);

    dpt_trace_id trace;
    DPT_WITH_SPAN(t, "GET /orders/{id}", DPT_SPAN_SERVER)
    {
        dpt_span req = dpt_span_current();
        trace = dpt_span_get_context(req).trace_id;
        dpt_span_set_str(req, "http.request.method", "GET");
        dpt_span_add_event(req, "cache.miss", NULL, 0);
        int rc = load_order(t, 42) | load_order(t, 13);
        dpt_span_set_int(req, "http.response.status_code", rc ? 404 : 200);
        if (rc) dpt_span_set_status(req, DPT_STATUS_ERROR, "order not found");
    }

    char *json;
    if (dpt_store_get_trace_json(store, &trace, &json, NULL) == DPT_OK) {
        puts(json);
        dpt_free(json);
    }
    dpt_provider_free(p);
    dpt_store_free(store);
    return 0;
}
