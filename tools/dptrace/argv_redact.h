/* argv_redact.h - redaction of a command line before `dptrace exec` records it in
 * process.command_args.
 *
 * A command line often carries secrets: --password=..., -H 'Authorization: Bearer ...',
 * https://user:pass@host/?token=... The rules (docs/security.md, "dptrace exec") replace
 * the values that follow or contain a sensitive key, with the library's key patterns
 * (dpt_redaction_matches) and its URL rule (dpt_redaction_rewrite_url).
 */
#ifndef DPT_CLI_ARGV_REDACT_H
#define DPT_CLI_ARGV_REDACT_H

/* A copy of argv[0..argc) with sensitive values replaced by "[REDACTED]" (URL parts by
 * "REDACTED"). Returns an array of argc strings, or NULL when out of memory (record
 * nothing then). Free it with argv_redact_free. Thread-safe. */
char **argv_redact(int argc, char *const *argv);
void argv_redact_free(char **v, int argc);

#endif /* DPT_CLI_ARGV_REDACT_H */
