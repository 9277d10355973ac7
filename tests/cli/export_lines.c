/* export_lines.c - writes batches at the extremes of the span byte budget through
 * dptrace's file exporter, for the test that the CLI reads every line the exporter writes
 * (issue 13, problem 5):
 *   export_lines ctrl FILE   512 spans whose values are control bytes (written \u00XX,
 *                            6 bytes each) up to the 64 KiB span budget: ~200 MB of JSON
 *   export_lines tiny FILE   512 spans of 128 tiny attributes each (the most JSON nodes
 *                            per byte the exporter writes)
 *   export_lines huge FILE   span budget raised to 2 MiB: one span of 1.5 MB of control
 *                            bytes (9 MB of JSON, more than a line may hold) among 511
 *                            small ones
 * Prints "export: <dpt_err name>" of the shutdown and exits 0 when the provider worked.
 */
#include <dptrace.h>
#include <dptrace/export.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const char *mode = argv[1];
    dpt_exporter *e = dpt_exporter_file(argv[2]);
    dpt_batch_config bc;
    dpt_batch_config_default(&bc);
    bc.max_export_batch_size = 512;
    bc.max_queue_size = 2048;
    dpt_processor *proc = dpt_processor_batch(e, &bc);
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    if (!strcmp(mode, "huge")) lim.max_span_bytes = 2u << 20;
    dpt_provider_config cfg = {
        .service_name = "export-lines", .limits = &lim, .processors = &proc, .n_processors = 1};
    dpt_provider *p = dpt_provider_new(&cfg);
    if (!p) return 1;
    dpt_tracer *t = dpt_provider_get_tracer(p, "export_lines", "1");
    char *ctrl = malloc(1600000);
    for (size_t i = 0; i < 1600000; i++)
        ctrl[i] = (char)(1 + i % 31); /* every one of them escaped as \u00XX (or \t, \n) */
    for (int i = 0; i < 512; i++) {
        dpt_span s = dpt_span_start(t, "op", DPT_SPAN_INTERNAL, NULL);
        if (!strcmp(mode, "ctrl")) {
            /* 15 values of 4,000 bytes: just under the 64 KiB budget with keys and name */
            for (int k = 0; k < 15; k++) {
                char key[8];
                snprintf(key, sizeof key, "c%d", k);
                dpt_span_set_strn(s, key, strlen(key), ctrl, 4000);
            }
        } else if (!strcmp(mode, "tiny")) {
            for (int k = 0; k < 128; k++) {
                char key[8];
                snprintf(key, sizeof key, "a%d", k);
                dpt_span_set_int(s, key, k);
            }
        } else if (i == 100) {
            dpt_span_set_strn(s, "big", 3, ctrl, 1500000);
        } else {
            dpt_span_set_int(s, "i", i);
        }
        dpt_span_end(s);
    }
    dpt_err err = dpt_provider_shutdown(p, 60000);
    printf("shutdown: %s\n", dpt_strerror(err));
    dpt_provider_free(p);
    free(ctrl);
    return 0;
}
