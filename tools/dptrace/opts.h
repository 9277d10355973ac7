/* opts.h - the one option parser of the dptrace commands (view, report, collect): each
 * command describes its options in a table, and the parser turns that table into
 * getopt_long's, checks every value (numbers in range, choices) and prints the same
 * messages for the same mistakes in every command.
 */
#ifndef DPTRACE_CLI_OPTS_H
#define DPTRACE_CLI_OPTS_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    OPT_FLAG,   /* no value: *(bool *)dst = true */
    OPT_SET,    /* no value: *(int *)dst = min (e.g. --progress / --quiet on one mode) */
    OPT_INT,    /* *(int *)dst = value in [min, max] */
    OPT_STR,    /* *(const char **)dst = value (the last one wins) */
    OPT_STRS,   /* appended to *(cli_strs *)dst, at most max of them */
    OPT_CHOICE, /* *(int *)dst = index of the value in choices (NULL-terminated) */
} opt_kind;

typedef struct cli_strs {
    const char **v; /* caller's array of max entries */
    int n;
} cli_strs;

typedef struct cli_opt {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0 when there is none */
    opt_kind kind;
    void *dst;
    int min, max;
    const char *const *choices;
} cli_opt;

/* What cli_parse returned instead of the index of the first operand. */
enum { CLI_PARSE_HELP = -1, CLI_PARSE_ERROR = -2 };

/* Parses argv[1..] (argv[0] is the command name, cmd) against opts (terminated by an
 * entry whose name is NULL); -h/--help is built in. Returns the index of the first
 * operand; CLI_PARSE_HELP after printing usage on stdout; CLI_PARSE_ERROR after printing
 * the problem (and, for an unknown or incomplete option, the usage) on stderr. Not
 * thread-safe (getopt's globals); the caller owns dst and nothing is allocated. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, void (*usage)(FILE *));

/* Checks the --trace values of a command: 32 hex digits, or a prefix of at least 4.
 * Prints the problem and returns false for the first one that is neither. */
bool cli_check_trace_ids(const char *cmd, const cli_strs *ids);

#endif
