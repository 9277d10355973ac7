/* opts.c - the table-driven option parser shared by the dptrace commands (see opts.h).
 * getopt_long does the scanning; this file builds its tables and checks the values.
 */
#include "opts.h"

#include <getopt.h>
#include <string.h>

#include "util.h"

#define MAX_OPTS 32

/* The value of a long option without a short name is 256 + its index in the table. */
static int opt_code(const cli_opt *o, int i)
{
    return o->short_name ? o->short_name : 256 + i;
}

static bool has_value(opt_kind k)
{
    return k != OPT_FLAG && k != OPT_SET;
}

static bool take(const char *cmd, const cli_opt *o, const char *arg)
{
    switch (o->kind) {
    case OPT_FLAG:
        *(bool *)o->dst = true;
        return true;
    case OPT_SET:
        *(int *)o->dst = o->min;
        return true;
    case OPT_INT:
        if (!parse_int_arg(arg, o->min, o->max, (int *)o->dst)) {
            cli_err("%s: --%s wants a number from %d to %d, not '%s'", cmd, o->name, o->min, o->max,
                    arg);
            return false;
        }
        return true;
    case OPT_STR:
        *(const char **)o->dst = arg;
        return true;
    case OPT_STRS: {
        cli_strs *s = o->dst;
        if (s->n >= o->max) {
            cli_err("%s: at most %d --%s options", cmd, o->max, o->name);
            return false;
        }
        s->v[s->n++] = arg;
        return true;
    }
    case OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++) {
            if (strcmp(arg, o->choices[i]) == 0) {
                *(int *)o->dst = i;
                return true;
            }
        }
        fprintf(stderr, "dptrace: %s: --%s wants ", cmd, o->name);
        for (int i = 0; o->choices[i]; i++)
            fprintf(stderr, "%s%s", o->choices[i],
                    !o->choices[i + 1]   ? ""
                    : !o->choices[i + 2] ? " or "
                                         : ", ");
        fprintf(stderr, ", not '%s'\n", arg);
        return false;
    }
    return false;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, void (*usage)(FILE *))
{
    struct option longopts[MAX_OPTS + 2];
    char shorts[3 * MAX_OPTS + 4];
    size_t ns = 0;
    int n = 0;
    shorts[ns++] = ':'; /* report a missing value as ':' */
    for (; n < MAX_OPTS && opts[n].name; n++) {
        const cli_opt *o = &opts[n];
        longopts[n] = (struct option){o->name, has_value(o->kind) ? required_argument : no_argument,
                                      NULL, opt_code(o, n)};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (has_value(o->kind)) shorts[ns++] = ':';
        }
    }
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n + 1] = (struct option){NULL, 0, NULL, 0};
    shorts[ns++] = 'h';
    shorts[ns] = '\0';

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_PARSE_HELP;
        }
        if (c == ':') {
            cli_err("%s: option '%s' needs a value", cmd, argv[optind - 1]);
            usage(stderr);
            return CLI_PARSE_ERROR;
        }
        int i = 0;
        while (i < n && opt_code(&opts[i], i) != c)
            i++;
        if (i == n) {
            cli_err("%s: unknown option '%s'", cmd, argv[optind - 1]);
            usage(stderr);
            return CLI_PARSE_ERROR;
        }
        if (!take(cmd, &opts[i], optarg)) return CLI_PARSE_ERROR;
    }
    return optind;
}

bool cli_check_trace_ids(const char *cmd, const cli_strs *ids)
{
    for (int k = 0; k < ids->n; k++) {
        const char *s = ids->v[k];
        size_t len = strlen(s);
        bool hex = len >= 4 && len <= 32;
        for (size_t i = 0; hex && i < len; i++)
            hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                  (s[i] >= 'A' && s[i] <= 'F');
        if (!hex) {
            char shown[4 * 40 + 8];
            sanitize_cols(s, len, 40, true, shown);
            cli_err("%s: --trace wants a trace id (32 hex digits) or a prefix of at least 4, "
                    "not '%s'",
                    cmd, shown);
            return false;
        }
    }
    return true;
}
