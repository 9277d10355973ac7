# migrate-0.1.sed - renames a program written against dptrace 0.1.0 to the current API
# (docs/CHANGES.md). Usage: sed -i -f scripts/migrate-0.1.sed FILE.c ...
# dpt_provider_new(&cfg, &p) and dpt_propagator_composite(list, n, &out) now return the object
# (or NULL): those calls are changed by hand.
s/\bdpt_set_log_handler\b/dpt_log_set_handler/g
s/\bdpt_set_redaction\b/dpt_redaction_set/g
s/\bdpt_register_exporter_factory\b/dpt_exporter_factory_register/g
s/\bdpt_current_span_context\b/dpt_span_context_current/g
s/\bdpt_current_span\b/dpt_span_current/g
s/\bdpt_current_baggage\b/dpt_baggage_current/g
s/\bdpt_simple_processor_new\b/dpt_processor_simple/g
s/\bdpt_batch_processor_new\b/dpt_processor_batch/g
s/\bdpt_multi_processor_new\b/dpt_processor_multi/g
s/\bdpt_store_processor\b/dpt_processor_store/g
s/\bdpt_console_exporter_new\b/dpt_exporter_console/g
s/\bdpt_memory_exporter_new\b/dpt_exporter_memory/g
s/\bdpt_memory_exporter_\([a-z_]*\)\b/dpt_exporter_memory_\1/g
s/\bdpt_file_exporter_new_format\b/dpt_exporter_file_format/g
s/\bdpt_file_exporter_new\b/dpt_exporter_file/g
s/\bdpt_otlp_http_exporter_new\b/dpt_exporter_otlp_http/g
s/\bdpt_otlp_http_exporter_from_env\b/dpt_exporter_otlp_http_from_env/g
s/\bdpt_zipkin_http_exporter_new\b/dpt_exporter_zipkin_http/g
s/\bdpt_zipkin_http_exporter_from_env\b/dpt_exporter_zipkin_http_from_env/g
s/\bdpt_http_exporter_get_stats\b/dpt_exporter_http_get_stats/g
s/\bdpt_tracer_get\b/dpt_provider_get_tracer/g
s/\bdpt_provider_global\b/dpt_provider_get_global/g
s/\bdpt_propagator_global\b/dpt_propagator_get_global/g
s/\bdpt_client_span_start\b/dpt_span_start_client/g
s/\bdpt_server_span_start\b/dpt_span_start_server/g
s/\bdpt_store_trace_json\b/dpt_store_get_trace_json/g
