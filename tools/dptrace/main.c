/* main.c - entry point of the dptrace CLI: dispatches to the view, report and exec
 * commands and prints the top-level help.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "otlp_read.h"
#include "util.h"

#ifndef DPTRACE_CLI_VERSION
#define DPTRACE_CLI_VERSION "0.1.0"
#endif

void usage_main(FILE *out)
{
    fputs("usage: dptrace <command> [options]\n"
          "\n"
          "Commands:\n"
          "  view FILE     terminal waterfall of the traces in an OTLP JSON lines file\n"
          "  report FILE   self-contained HTML page with every trace's waterfall\n"
          "  exec -- CMD   run a command as a span and pass its trace context on\n"
          "  collect       receive OTLP/HTTP traces from any SDK into a file, live view\n"
          "\n"
          "Options:\n"
          "  -h, --help     this help; `dptrace COMMAND --help` for a command's options\n"
          "  -V, --version  print the version\n"
          "\n"
          "FILE holds one OTLP ExportTraceServiceRequest in JSON per line, as written by\n"
          "dptrace's file exporter (OTEL_TRACES_EXPORTER=file) and the OpenTelemetry\n"
          "Collector's file exporter. See docs/cli.md.\n",
          out);
}

#ifndef DPT_CLI_HAVE_COLLECT
/* Built without libmicrohttpd or zlib: say so rather than pretend. */
void usage_collect(FILE *out)
{
    fputs("usage: dptrace collect [options]\n(not built: needs libmicrohttpd and zlib)\n", out);
}

int cmd_collect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("collect: this dptrace was built without libmicrohttpd and zlib");
    return CLI_FAIL;
}
#endif

bool progress_enabled(progress_mode m)
{
    if (m == PROGRESS_ALWAYS) return true;
    if (m == PROGRESS_NEVER) return false;
    return isatty(STDERR_FILENO);
}

int main(int argc, char **argv)
{
    /* Only the character type follows the locale: it decides UTF-8 drawing in `view`.
     * Numbers are always printed the C way so output stays parseable. */
    (void)setlocale(LC_CTYPE, ""); /* on failure the C locale stays: ASCII drawing */
    otlp_json_setup();             /* jansson's allocator, before any thread uses it */
    if (argc < 2) {
        usage_main(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            /* `dptrace help view` is `dptrace view --help`. */
            char *args[] = {argv[2], "--help", NULL};
            if (!strcmp(argv[2], "view")) return cmd_view(2, args);
            if (!strcmp(argv[2], "report")) return cmd_report(2, args);
            if (!strcmp(argv[2], "exec")) return cmd_exec(2, args);
            if (!strcmp(argv[2], "collect")) return cmd_collect(2, args);
            cli_err("unknown command '%s'", argv[2]);
            return CLI_USAGE;
        }
        usage_main(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("dptrace %s\n", DPTRACE_CLI_VERSION);
        return CLI_OK;
    }
    if (strcmp(cmd, "view") == 0) return cmd_view(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "exec") == 0) return cmd_exec(argc - 1, argv + 1);
    if (strcmp(cmd, "collect") == 0) return cmd_collect(argc - 1, argv + 1);
    cli_err("unknown command '%s' (try `dptrace --help`)", cmd);
    return CLI_USAGE;
}
