/* sql.c - SQL text for database spans: the sanitizer behind db.query.text (every literal
 * becomes '?', comments go) and the query summary behind db.query.summary and the span
 * name ("INSERT orders SELECT stock"), both as the OpenTelemetry database conventions
 * describe them. One forward pass each over the text, no allocation: they run for every
 * traced statement.
 */
#include "instr_internal.h"

#include <stdint.h>
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
    if (b->len + n < b->cap) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        return;
    }
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

/* Length of the single-quoted literal at s[i]. A quote after an odd run of backslashes
 * ends it in standard SQL but not in MySQL or a PostgreSQL E'' string ('O\'Brien secret'):
 * where the dialects disagree, the rest of the text cannot be read safely either way, so
 * it all belongs to the literal. Less is shown, never data. */
static size_t literal_len(const char *s, size_t i, size_t n)
{
    size_t k = quoted_len(s, i, n, '\'');
    size_t bs = 0;
    while (k >= 2 + bs && s[i + k - 2 - bs] == '\\')
        bs++;
    return bs % 2 ? n - i : k;
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
        if (c == '#') { /* MySQL's comment to the end of line (PostgreSQL's XOR: dropped) */
            while (i < n && sql[i] != '\n')
                i++;
            continue;
        }
        if (c == '\'') { /* string literal */
            i += literal_len(sql, i, n);
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
        if (c == '$' && (i == 0 || !is_ident((unsigned char)sql[i - 1]))) {
            /* PostgreSQL's dollar-quoted string, $$text$$ or $tag$text$tag$: a literal
             * (it is not the parameter $name, which no '$' closes). */
            size_t t = i + 1;
            while (t < n && sql[t] != '$' && is_ident((unsigned char)sql[t]) &&
                   !(t == i + 1 && is_digit((unsigned char)sql[t])))
                t++;
            if (t < n && sql[t] == '$') {
                size_t tl = t + 1 - i, j = t + 1;
                while (j + tl <= n && memcmp(sql + j, sql + i, tl) != 0)
                    j++;
                i = j + tl <= n ? j + tl : n; /* unterminated: to the end, like a quote */
                put(&b, '?');
                continue;
            }
        }
        /* A parameter (the marker and its name or number are kept) or an identifier or
         * keyword (digits inside kept): copied as it is. */
        if (c == '?' || c == ':' || c == '@' ||
            (c == '$' && (i == 0 || !is_ident((unsigned char)sql[i - 1]))) ||
            (is_ident(c) && !is_digit(c))) {
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
        if ((j + 1 < n && s[j] == '-' && s[j + 1] == '-') || (j < n && s[j] == '#')) {
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
        t->n = literal_len(s, j, n);
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

/* The words the summary knows, classified once per token (a table scan that compares
 * the length and first letter before anything else). */
enum {
    K_CLAUSE = 1,   /* ends a FROM list, cannot be an alias or a target */
    K_OP = 2,       /* an operation: SELECT, INSERT, ... */
    K_DDL = 4,      /* CREATE, ALTER, DROP: the object word follows */
    K_OBJ = 8,      /* TABLE, INDEX, ...: the object of a DDL operation */
    K_SKIP = 16,    /* IF, NOT, EXISTS, ONLY, LATERAL: skipped before a target */
    K_DDL_MOD = 32, /* TEMP, UNIQUE, VIRTUAL, ...: skipped between DDL and object */
    K_FROM = 64,    /* FROM: a list of targets follows */
    K_ONE = 128,    /* JOIN, INTO: one target follows */
    K_UPDATE = 256, /* UPDATE: an operation with one target */
    K_OR = 512,     /* OR: INSERT OR REPLACE, UPDATE OR IGNORE */
    K_AS = 1024
};

typedef struct kword {
    const char *w;
    uint8_t len;
    uint16_t flags;
} kword;

/* By length, so that a token is compared with the words of its length only. */
static const kword kw2[] = {{"on", 2, K_CLAUSE},
                            {"as", 2, K_CLAUSE | K_AS},
                            {"if", 2, K_SKIP},
                            {"or", 2, K_OR | K_DDL_MOD}};
static const kword kw3[] = {
    {"set", 3, K_CLAUSE}, {"for", 3, K_CLAUSE}, {"not", 3, K_CLAUSE | K_SKIP}, {"end", 3, K_OP}};
static const kword kw4[] = {
    {"from", 4, K_FROM},   {"join", 4, K_CLAUSE | K_ONE}, {"into", 4, K_ONE},
    {"left", 4, K_CLAUSE}, {"full", 4, K_CLAUSE},         {"drop", 4, K_DDL},
    {"only", 4, K_SKIP},   {"temp", 4, K_DDL_MOD},        {"view", 4, K_OBJ}};
static const kword kw5[] = {
    {"where", 5, K_CLAUSE}, {"group", 5, K_CLAUSE}, {"order", 5, K_CLAUSE}, {"limit", 5, K_CLAUSE},
    {"inner", 5, K_CLAUSE}, {"right", 5, K_CLAUSE}, {"cross", 5, K_CLAUSE}, {"outer", 5, K_CLAUSE},
    {"using", 5, K_CLAUSE}, {"union", 5, K_CLAUSE}, {"fetch", 5, K_CLAUSE}, {"merge", 5, K_OP},
    {"begin", 5, K_OP},     {"alter", 5, K_DDL},    {"table", 5, K_OBJ},    {"index", 5, K_OBJ}};
static const kword kw6[] = {{"having", 6, K_CLAUSE},
                            {"except", 6, K_CLAUSE},
                            {"window", 6, K_CLAUSE},
                            {"values", 6, K_CLAUSE},
                            {"select", 6, K_CLAUSE | K_OP},
                            {"offset", 6, K_CLAUSE},
                            {"insert", 6, K_OP},
                            {"update", 6, K_OP | K_UPDATE},
                            {"delete", 6, K_OP},
                            {"upsert", 6, K_OP},
                            {"pragma", 6, K_OP},
                            {"commit", 6, K_OP},
                            {"vacuum", 6, K_OP},
                            {"attach", 6, K_OP},
                            {"detach", 6, K_OP},
                            {"create", 6, K_DDL},
                            {"exists", 6, K_SKIP},
                            {"unique", 6, K_DDL_MOD},
                            {"schema", 6, K_OBJ}};
static const kword kw7[] = {{"natural", 7, K_CLAUSE},  {"default", 7, K_CLAUSE},
                            {"indexed", 7, K_CLAUSE},  {"replace", 7, K_OP | K_DDL_MOD},
                            {"release", 7, K_OP},      {"analyze", 7, K_OP},
                            {"reindex", 7, K_OP},      {"lateral", 7, K_SKIP},
                            {"virtual", 7, K_DDL_MOD}, {"trigger", 7, K_OBJ}};
static const kword kw8[] = {
    {"rollback", 8, K_OP}, {"database", 8, K_OBJ}, {"sequence", 8, K_OBJ}, {"function", 8, K_OBJ}};
static const kword kw9[] = {{"intersect", 9, K_CLAUSE},
                            {"returning", 9, K_CLAUSE},
                            {"savepoint", 9, K_OP},
                            {"temporary", 9, K_DDL_MOD},
                            {"procedure", 9, K_OBJ}};
static const struct {
    const kword *v;
    size_t n;
} by_len[10] = {{NULL, 0}, {NULL, 0}, {kw2, 4},  {kw3, 4}, {kw4, 9},
                {kw5, 16}, {kw6, 19}, {kw7, 10}, {kw8, 4}, {kw9, 5}};

/* The flags of a word token (0: not a word we know). */
static unsigned classify(const tok *t)
{
    if (t->kind != 'w' || t->n < 2 || t->n > 9) return 0;
    char low[10];
    for (size_t i = 0; i < t->n; i++) {
        unsigned char c = (unsigned char)t->p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return 0;
        low[i] = (char)(c | 0x20);
    }
    const kword *v = by_len[t->n].v;
    for (size_t k = 0; k < by_len[t->n].n; k++)
        if (v[k].w[0] == low[0] && memcmp(v[k].w, low, t->n) == 0) return v[k].flags;
    return 0;
}

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
        unsigned k = classify(&t);
        if (after_or) {
            after_or = 0;
            continue;
        }
        if (ddl_pending) {
            /* CREATE [TEMP|UNIQUE|VIRTUAL|OR REPLACE] TABLE|INDEX ... [IF NOT EXISTS] name */
            if (k & K_DDL_MOD) continue;
            ddl_pending = 0;
            if (k & K_OBJ) {
                add_word(&b, t.p, t.n, &full);
                expect = ONE;
                continue;
            }
        }
        if (k & K_OR) {
            after_or = 1;
            continue;
        }
        if (expect != NONE) {
            if (k & K_SKIP) continue; /* IF NOT EXISTS, FROM ONLY t */
            if ((t.kind == 'w' || t.kind == 'q') && !(k & (K_CLAUSE | K_OP))) {
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
            if (k & K_AS) continue;
            if ((t.kind == 'w' || t.kind == 'q') && !(k & (K_CLAUSE | K_OP))) continue; /* alias */
            after_target = 0;
        }
        if (k & K_OP) {
            add_word(&b, t.p, t.n, &full);
            if (k & K_UPDATE) expect = ONE;
            continue;
        }
        if (k & K_DDL) {
            add_word(&b, t.p, t.n, &full);
            ddl_pending = 1;
            continue;
        }
        if (k & K_FROM) {
            expect = LIST;
        } else if (k & K_ONE) {
            expect = ONE;
            after_target = 0;
        }
    }
    return finish(&b);
}
