/* sql.c - SQL text for database spans: the sanitizer behind db.query.text (every literal
 * becomes '?', comments go) and the query summary behind db.query.summary and the span
 * name ("INSERT orders SELECT stock"), both as the OpenTelemetry database conventions
 * describe them. One forward pass each over the text, no allocation: they run for every
 * traced statement.
 */
#include "instr_internal.h"

#include <string.h>

/* A bounded output: writes what fits, counts everything. */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static inline void put(sbuf *b, char c)
{
    if (b->len + 1 < b->cap) b->p[b->len] = c;
    b->len++;
}

static inline void puts_n(sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(b, s[i]);
}

static size_t finish(sbuf *b)
{
    if (b->cap) b->p[b->len < b->cap ? b->len : b->cap - 1] = '\0';
    return b->len;
}

static inline int is_ident(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c >= 0x80;
}

static inline int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int is_hex(unsigned char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Length of the numeric literal at s[i] (digits, '.', exponent, 0x hex), 0 if none. */
static size_t number_len(const char *s, size_t i, size_t n)
{
    size_t j = i;
    if (j + 1 < n && s[j] == '0' && (s[j + 1] | 0x20) == 'x' && j + 2 < n &&
        is_hex((unsigned char)s[j + 2])) {
        j += 2;
        while (j < n && is_hex((unsigned char)s[j]))
            j++;
        return j - i;
    }
    int digits = 0;
    while (j < n && is_digit((unsigned char)s[j]))
        j++, digits = 1;
    if (j < n && s[j] == '.') {
        j++;
        while (j < n && is_digit((unsigned char)s[j]))
            j++, digits = 1;
    }
    if (!digits) return 0;
    if (j < n && (s[j] | 0x20) == 'e') {
        size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k < n && is_digit((unsigned char)s[k])) {
            while (k < n && is_digit((unsigned char)s[k]))
                k++;
            j = k;
        }
    }
    return j - i;
}

/* Length of the quoted token at s[i] (quote q, doubled quote escapes it), to the end of
 * the text when unterminated. */
static size_t quoted_len(const char *s, size_t i, size_t n, char q)
{
    size_t j = i + 1;
    while (j < n) {
        if (s[j] == q) {
            if (j + 1 < n && s[j + 1] == q) {
                j += 2;
                continue;
            }
            return j + 1 - i;
        }
        j++;
    }
    return n - i;
}

/* Case-insensitive match of a keyword at s[i..], followed by a non-identifier byte. */
static int keyword_at(const char *s, size_t i, size_t n, const char *kw)
{
    size_t k = strlen(kw);
    if (i + k > n) return 0;
    for (size_t j = 0; j < k; j++)
        if ((s[i + j] | 0x20) != (kw[j] | 0x20)) return 0;
    return i + k == n || !is_ident((unsigned char)s[i + k]);
}

size_t dpt_instr_sanitize_sql(const char *sql, size_t len, char *out, size_t cap)
{
    sbuf b = {out, out ? cap : 0, 0};
    if (!sql) return finish(&b);
    size_t n = len == DPT_NUL ? strlen(sql) : len;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)sql[i];
        if (c == '-' && i + 1 < n && sql[i + 1] == '-') { /* comment to the end of line */
            while (i < n && sql[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && i + 1 < n && sql[i + 1] == '*') { /* block comment */
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (sql[j] == '*' && sql[j + 1] == '/') {
                    end = sql + j + 2;
                    break;
                }
            size_t after = end ? (size_t)(end - sql) : n;
            /* A comment separates tokens: UNION, an empty block comment and SELECT must
             * not read "UNIONSELECT", nor '-', a comment and '-' become a "--" comment. */
            if (i > 0 && !is_space((unsigned char)sql[i - 1]) && after < n &&
                !is_space((unsigned char)sql[after]))
                put(&b, ' ');
            i = after;
            continue;
        }
        if (c == '\'') { /* string literal */
            i += quoted_len(sql, i, n, '\'');
            put(&b, '?');
            continue;
        }
        if ((c | 0x20) == 'x' && i + 1 < n && sql[i + 1] == '\'' &&
            (i == 0 || !is_ident((unsigned char)sql[i - 1]))) { /* blob X'..' */
            i += 1 + quoted_len(sql, i + 1, n, '\'');
            put(&b, '?');
            continue;
        }
        if (c == '"' || c == '`') { /* quoted identifier: kept */
            size_t k = quoted_len(sql, i, n, (char)c);
            puts_n(&b, sql + i, k);
            i += k;
            continue;
        }
        if (c == '[') { /* [identifier] */
            size_t j = i + 1;
            while (j < n && sql[j] != ']')
                j++;
            j = j < n ? j + 1 : n;
            puts_n(&b, sql + i, j - i);
            i = j;
            continue;
        }
        if (c == '?' || c == ':' || c == '@' ||
            (c == '$' && (i == 0 || !is_ident((unsigned char)sql[i - 1])))) {
            /* a parameter: the marker and its name or number are kept */
            size_t j = i + 1;
            while (j < n && is_ident((unsigned char)sql[j]))
                j++;
            puts_n(&b, sql + i, j - i);
            i = j;
            continue;
        }
        if (is_ident(c) && !is_digit(c)) { /* identifier or keyword (digits inside kept) */
            size_t j = i + 1;
            while (j < n && is_ident((unsigned char)sql[j]))
                j++;
            puts_n(&b, sql + i, j - i);
            i = j;
            continue;
        }
        /* A number, with its sign: the conventions' test cases read "99+100" as "??". */
        size_t start = i;
        if ((c == '+' || c == '-') && i + 1 < n) start = i + 1;
        size_t k = number_len(sql, start, n);
        if (k) {
            i = start + k;
            put(&b, '?');
            continue;
        }
        put(&b, (char)c);
        i++;
    }
    return finish(&b);
}

/* ---- summary ------------------------------------------------------------------------- */

typedef struct tok {
    const char *p;
    size_t n;
    char kind; /* 'w' word/identifier, 'q' quoted identifier, 'p' punctuation, 'l' literal */
} tok;

/* The next token of s from *i, skipping spaces, comments and literals' contents. */
static int next_tok(const char *s, size_t n, size_t *i, tok *t)
{
    size_t j = *i;
    for (;;) {
        while (j < n && is_space((unsigned char)s[j]))
            j++;
        if (j + 1 < n && s[j] == '-' && s[j + 1] == '-') {
            while (j < n && s[j] != '\n')
                j++;
            continue;
        }
        if (j + 1 < n && s[j] == '/' && s[j + 1] == '*') {
            j += 2;
            while (j + 1 < n && !(s[j] == '*' && s[j + 1] == '/'))
                j++;
            j = j + 1 < n ? j + 2 : n;
            continue;
        }
        break;
    }
    if (j >= n) return 0;
    unsigned char c = (unsigned char)s[j];
    t->p = s + j;
    if (c == '\'') {
        t->n = quoted_len(s, j, n, '\'');
        t->kind = 'l';
    } else if (c == '"' || c == '`') {
        t->n = quoted_len(s, j, n, (char)c);
        t->kind = 'q';
    } else if (c == '[') {
        size_t k = j + 1;
        while (k < n && s[k] != ']')
            k++;
        t->n = (k < n ? k + 1 : n) - j;
        t->kind = 'q';
    } else if (is_ident(c) && !is_digit(c)) {
        size_t k = j + 1;
        /* a dotted name (schema.table, "dbo"."t") is one target */
        while (k < n && (is_ident((unsigned char)s[k]) || s[k] == '.'))
            k++;
        t->n = k - j;
        t->kind = 'w';
    } else if (is_digit(c) || (c == '.' && j + 1 < n && is_digit((unsigned char)s[j + 1]))) {
        size_t k = number_len(s, j, n);
        t->n = k ? k : 1;
        t->kind = 'l';
    } else {
        t->n = 1;
        t->kind = 'p';
    }
    *i = j + t->n;
    return 1;
}

static int tok_is(const tok *t, const char *kw)
{
    return t->kind == 'w' && keyword_at(t->p, 0, t->n, kw) && strlen(kw) == t->n;
}

static int tok_is_any(const tok *t, const char *const *kws)
{
    for (; *kws; kws++)
        if (tok_is(t, *kws)) return 1;
    return 0;
}

/* Words that end a FROM list or cannot be a table alias. */
static const char *const clause_words[] = {
    "where",  "group",     "order",  "limit",     "having",  "join", "inner",  "left",
    "right",  "full",      "cross",  "natural",   "outer",   "on",   "using",  "union",
    "except", "intersect", "window", "returning", "values",  "set",  "select", "as",
    "offset", "fetch",     "for",    "default",   "indexed", "not",  NULL};

static const char *const simple_ops[] = {"select",  "insert",   "update",    "delete",  "replace",
                                         "merge",   "upsert",   "pragma",    "begin",   "commit",
                                         "end",     "rollback", "savepoint", "release", "vacuum",
                                         "analyze", "attach",   "detach",    "reindex", NULL};
static const char *const ddl_ops[] = {"create", "alter", "drop", NULL};
static const char *const ddl_objects[] = {"table",    "index",    "view",      "trigger",  "schema",
                                          "database", "sequence", "procedure", "function", NULL};

#define SUMMARY_MAX 255

/* Appends one word of the summary unless it would pass the limit (the conventions cut
 * at a word boundary). Returns 0 once the summary is full. */
static int add_word(sbuf *b, const char *w, size_t n, int *full)
{
    if (*full) return 0;
    size_t need = (b->len ? 1 : 0) + n;
    if (b->len + need > SUMMARY_MAX) {
        *full = 1;
        return 0;
    }
    if (b->len) put(b, ' ');
    puts_n(b, w, n);
    return 1;
}

size_t dpt_instr_summarize_sql(const char *sql, size_t len, char *out, size_t cap)
{
    sbuf b = {out, out ? cap : 0, 0};
    if (!sql) return finish(&b);
    size_t n = len == DPT_NUL ? strlen(sql) : len;
    size_t i = 0;
    tok t;
    int full = 0;
    enum { NONE, ONE, LIST } expect = NONE; /* a target is expected next */
    int after_target = 0;                   /* in a FROM list, after a table (alias next) */
    int ddl_pending = 0;                    /* CREATE/ALTER/DROP seen, object word next */
    int after_or = 0;                       /* INSERT OR <REPLACE|IGNORE|...>: not an op */
    while (!full && next_tok(sql, n, &i, &t)) {
        if (after_or) {
            after_or = 0;
            continue;
        }
        if (tok_is(&t, "or") && !ddl_pending) {
            after_or = 1;
            continue;
        }
        if (ddl_pending) {
            /* CREATE [TEMP|UNIQUE|VIRTUAL] TABLE|INDEX ... [IF [NOT] EXISTS] name */
            if (tok_is(&t, "temp") || tok_is(&t, "temporary") || tok_is(&t, "unique") ||
                tok_is(&t, "virtual") || tok_is(&t, "or") || tok_is(&t, "replace"))
                continue;
            ddl_pending = 0;
            if (tok_is_any(&t, ddl_objects)) {
                add_word(&b, t.p, t.n, &full);
                expect = ONE;
                continue;
            }
        }
        if (expect != NONE) {
            if (tok_is(&t, "if") || tok_is(&t, "not") || tok_is(&t, "exists") || tok_is(&t, "or") ||
                tok_is(&t, "only") || tok_is(&t, "lateral"))
                continue; /* IF NOT EXISTS, INSERT OR REPLACE INTO, FROM ONLY t */
            if ((t.kind == 'w' || t.kind == 'q') && !tok_is_any(&t, clause_words) &&
                !tok_is_any(&t, simple_ops)) {
                add_word(&b, t.p, t.n, &full);
                if (expect == LIST) after_target = 1;
                expect = NONE;
                continue;
            }
            expect = NONE; /* '(' of a subquery, or anything else: no target */
        }
        if (after_target) {
            if (t.kind == 'p' && *t.p == ',') {
                after_target = 0;
                expect = LIST;
                continue;
            }
            if (tok_is(&t, "as")) continue;
            if ((t.kind == 'w' || t.kind == 'q') && !tok_is_any(&t, clause_words) &&
                !tok_is_any(&t, simple_ops))
                continue; /* an alias */
            after_target = 0;
        }
        if (t.kind != 'w') continue;
        if (tok_is_any(&t, simple_ops)) {
            add_word(&b, t.p, t.n, &full);
            if (tok_is(&t, "update")) expect = ONE;
            continue;
        }
        if (tok_is_any(&t, ddl_ops)) {
            add_word(&b, t.p, t.n, &full);
            ddl_pending = 1;
            continue;
        }
        if (tok_is(&t, "from")) {
            expect = LIST;
        } else if (tok_is(&t, "join") || tok_is(&t, "into")) {
            expect = ONE;
            after_target = 0;
        }
    }
    return finish(&b);
}
