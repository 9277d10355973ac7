/* util.h - small helpers shared by the dptrace CLI commands: an append-only arena, a
 * growable string buffer, id hex/base64 decoding, duration formatting and the output
 * sanitiser that keeps terminal escapes from trace files off the user's terminal.
 */
#ifndef DPTRACE_CLI_UTIL_H
#define DPTRACE_CLI_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every command: 0 success, 1 a runtime failure (unreadable file, trace not
 * found, write error), 2 bad usage. Malformed lines alone do not fail a command: they are
 * reported and counted, and the command goes on with the rest. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Allocation that cannot fail: on exhaustion the CLI prints a message and exits. A tool
 * reading untrusted files is bounded by design (see docs/cli.md), so running out of
 * memory means the machine is too small for the requested selection, not a bug to
 * recover from. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Arena: bump allocation in 64 KiB blocks, freed all at once. Used for the spans of the
 * selected traces, whose lifetime is the whole command. */
typedef struct arena_block arena_block;
typedef struct arena {
    arena_block *head;
    size_t used;  /* bytes used in head */
    size_t cap;   /* capacity of head */
    size_t total; /* bytes handed out, for the memory report */
} arena;
void *arena_alloc(arena *a, size_t n);
char *arena_strndup(arena *a, const char *s, size_t n);
void arena_free(arena *a);

/* Growable byte buffer, always NUL-terminated. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;
void sb_putn(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_putc(sbuf *b, char c);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sbuf *b);

/* Decodes a trace (16 bytes) or span (8 bytes) id written as hex (either case) or, as
 * older collectors wrote it, standard base64. Returns false when s is neither. */
bool id_decode(const char *s, size_t len, uint8_t *out, size_t n_bytes);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void id_hex(const uint8_t *id, size_t n, char *out);
bool id_is_zero(const uint8_t *id, size_t n);

/* "812 ns", "12.3 us", "84.2 ms", "1.52 s", "2m03s". ascii selects "us" over "µs". */
void fmt_duration(uint64_t ns, bool ascii, char *out, size_t cap);
/* 1234567 -> "1,234,567". */
void fmt_count(uint64_t n, char *out, size_t cap);

/* Copies s into out for terminal display: control characters (C0, DEL, C1), bidi
 * controls and invalid UTF-8 become '?', so nothing from a file can move the cursor or
 * change colours. At most max_cols terminal columns are used (wide CJK and emoji
 * characters take two, combining marks none) and at most max_cols code points kept; a
 * cut ends with "…" (or "~" when ascii). Returns the number of columns written (a wide
 * character that would straddle the edge is left out, so it may be max_cols - 1). Work
 * is bounded by max_cols, not len. out must hold 4 * max_cols + 4 bytes. */
size_t sanitize_cols(const char *s, size_t len, size_t max_cols, bool ascii, char *out);

/* The largest n <= max such that s[0..n) does not end inside a UTF-8 sequence. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Appends s as a JSON string literal (with quotes) that is also safe inside an HTML
 * <script> element: <, >, &, ', U+2028 and U+2029 are written as \u escapes, control
 * characters too, and invalid UTF-8 becomes U+FFFD. */
void json_str(sbuf *b, const char *s, size_t len);

/* Parses a non-negative decimal integer that must fit in uint64_t / int; false otherwise. */
bool parse_u64(const char *s, uint64_t *out);
bool parse_int_arg(const char *s, int min, int max, int *out);

/* Prints "dptrace: <msg>\n" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The single FILE operand of a reading command (view, report) after option parsing: the
 * path, or NULL after reporting a missing or extra operand (usage printed when missing). */
const char *cli_one_file(const char *cmd, int argc, char **argv, int optind, void (*usage)(FILE *));

#endif
