/* fuzz_config_file.c - libFuzzer target: the declarative configuration file
 * (libdptrace-config): YAML parsing, environment substitution, the schema walk, and Create
 * for what parses.
 *
 * Input: the bytes of a configuration file. Invariants: parsing never crashes and either
 * gives a configuration or an error with a message; an error's line is within the input;
 * Create on a parsed configuration gives a propagator and a provider or a logged NULL;
 * substitution of text without '$' is the identity. Nothing leaves the process: every
 * exporter factory a file can name is replaced by an in-memory exporter.
 */
#include <stdio.h>

#include "dptrace/config.h"
#include "dptrace/plugin.h"
#include "fuzz_common.h"
#include "tree.h"

static void quiet(dpt_log_level l, const char *m, void *u)
{
    (void)l, (void)m, (void)u;
}

static dpt_exporter *memory_factory(const dpt_exporter_settings *s)
{
    (void)s;
    return dpt_exporter_memory(16);
}

static const char *fixed_env(const char *name)
{
    return strcmp(name, "SET") == 0 ? "value" : strcmp(name, "NUM") == 0 ? "42" : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    dpt_log_set_handler(quiet, NULL, DPT_LOG_OFF);
    static const char *const names[] = {"file",   "otlp/stdout", "console", "otlp",
                                        "zipkin", "memory",      "none"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        dpt_exporter_factory_register(names[i], memory_factory);
    setenv("DPTRACE_RESOURCE_DETECTORS", "none", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An upper bound of YAML's line breaks: LF, CR, and NEL / LS / PS (whose UTF-8 forms hold
     * a 0x85 or start with 0xe2). */
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xe2;
    dpt_config_error err;
    dpt_config *cfg = dpt_config_parse((const char *)data, size, &err);
    if (!cfg) {
        FUZZ_CHECK(err.message[0] != 0);
        FUZZ_CHECK(err.line <= lines + 1);
    } else {
        dpt_propagator *p = dpt_propagator_from_config(cfg);
        FUZZ_CHECK(p != NULL);
        dpt_propagator_free(p);
        dpt_provider *prov = dpt_provider_from_config(cfg);
        dpt_provider_free(prov);
        dpt_config_free(cfg);
    }
    /* Substitution alone, on the raw bytes. */
    dpt__buf out;
    dpt__buf_init(&out);
    char msg[128];
    dpt_err e = dpt__subst((const char *)data, size, fixed_env, &out, msg, sizeof msg);
    if (!memchr(data, '$', size))
        FUZZ_CHECK(e == DPT_OK && out.len == size && (!size || memcmp(out.p, data, size) == 0));
    dpt__buf_free(&out);
    return 0;
}
