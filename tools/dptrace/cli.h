/* cli.h - the commands of the dptrace CLI. Each takes the arguments after its name
 * (argv[0] is the command name) and returns the process exit code (see util.h).
 */
#ifndef DPTRACE_CLI_H
#define DPTRACE_CLI_H

#include <stdbool.h>
#include <stdio.h>

int cmd_view(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_collect(int argc, char **argv);

/* Usage texts, printed by --help (stdout, exit 0) and after a usage error (stderr). */
void usage_main(FILE *out);
void usage_view(FILE *out);
void usage_report(FILE *out);
void usage_exec(FILE *out);
void usage_collect(FILE *out);

/* Progress on stderr: "auto" shows it when stderr is a terminal. */
typedef enum { PROGRESS_AUTO, PROGRESS_ALWAYS, PROGRESS_NEVER } progress_mode;
bool progress_enabled(progress_mode m);

#endif
