/* argv_redact.c - the command-line redaction of `dptrace exec` (argv_redact.h).
 *
 * Each argument is looked at on its own and with the one before it:
 *   - the value after an option whose name is sensitive (--password VALUE, --token VALUE);
 *   - --user / --proxy-user / -u / -U USER:PASSWORD (curl, wget): the part after ':';
 *   - KEY=VALUE and --key=VALUE with a sensitive KEY (also environment assignments);
 *   - header lines "Key: value" with a sensitive Key (curl -H, wget --header);
 *   - URLs anywhere in an argument: credentials and sensitive query parameters (the
 *     library's url.full rule);
 *   - k=v&k=v lists and JSON "key": value pairs with a sensitive key (request bodies).
 *   - a command line inside one argument (sh -c '...'): the rules above, word by word;
 *   - short options that carry a password in the tools that define them (mysql -pSECRET,
 *     sshpass -p SECRET, redis-cli -a SECRET, zip -P SECRET, ...: tool_opts below), the
 *     tool being the command's first word (after sudo, env, nice and the like), and an
 *     openssl-style pass:SECRET anywhere.
 * A sensitive key is one the library's patterns match (dpt_redaction_matches), so the
 * defaults, DPTRACE_REDACT_KEYS and look-alike folding apply as for attributes.
 */
#include "argv_redact.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <dptrace.h>

#define MARKER DPT_REDACTED
#define MAX_DEPTH 4

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (!b->p || b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* An option or variable name: letters, digits, '.', '_', '-' (leading dashes included). */
static bool is_name(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) return false;
    return true;
}

static bool sensitive(const char *name, size_t n)
{
    while (n && *name == '-')
        name++, n--;
    return n && dpt_redaction_matches(name, n);
}

static bool user_option(const char *s, size_t n)
{
    static const char *const opts[] = {"-u", "-U", "--user", "--proxy-user"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        if (strlen(opts[i]) == n && memcmp(opts[i], s, n) == 0) return true;
    return false;
}

/* Tools whose short option carries a password, from their manuals. `attached`: the
 * password is written right after the letter (-pSECRET; in a cluster of short options,
 * -vpSECRET, everything after the letter is taken); `next`: the letter alone takes the
 * next argument (-p SECRET). mysql's -p alone prompts (the next argument is the database),
 * so only its attached form is a password. A value's shape does not matter: over-redaction
 * (-hpoint hides "oint") is accepted, as everywhere here. */
typedef struct tool_opt {
    const char *tool;
    char opt;
    bool attached, next;
} tool_opt;

static const tool_opt tool_opts[] = {
    {"mysql", 'p', true, false},
    {"mysqldump", 'p', true, false},
    {"mysqladmin", 'p', true, false},
    {"mysqlimport", 'p', true, false},
    {"mysqlcheck", 'p', true, false},
    {"mysqlshow", 'p', true, false},
    {"mysqlpump", 'p', true, false},
    {"mysqlbinlog", 'p', true, false},
    {"mysqlslap", 'p', true, false},
    {"mariadb", 'p', true, false},
    {"mariadb-dump", 'p', true, false},
    {"mariadb-admin", 'p', true, false},
    {"mariadb-import", 'p', true, false},
    {"mariadb-check", 'p', true, false},
    {"mariadb-show", 'p', true, false},
    {"sshpass", 'p', true, true},
    {"redis-cli", 'a', true, true},
    {"mongo", 'p', false, true},
    {"mongosh", 'p', false, true},
    {"mongodump", 'p', false, true},
    {"mongorestore", 'p', false, true},
    {"mongoexport", 'p', false, true},
    {"mongoimport", 'p', false, true},
    {"zip", 'P', true, true},
    {"unzip", 'P', true, true},
    {"7z", 'p', true, false},
    {"7za", 'p', true, false},
    {"7zz", 'p', true, false},
};

/* Commands that run the command after them (their own options and NAME=VALUE skipped). */
static bool wrapper(const char *s, size_t n)
{
    static const char *const w[] = {"sudo",    "doas", "env",    "nice",   "nohup",   "time",
                                    "timeout", "exec", "stdbuf", "ionice", "command", "xargs"};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        if (strlen(w[i]) == n && memcmp(w[i], s, n) == 0) return true;
    return false;
}

/* The tool_opts entry of the command word s[0..n) (its last path component), or NULL. */
static const tool_opt *tool_of(const char *s, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == '/') {
            s += i;
            n -= i;
            break;
        }
    for (size_t i = 0; i < sizeof tool_opts / sizeof *tool_opts; i++)
        if (strlen(tool_opts[i].tool) == n && memcmp(tool_opts[i].tool, s, n) == 0)
            return &tool_opts[i];
    return NULL;
}

/* Follows the command word through a command line: `start` while the command word is
 * still to come (at the beginning, after a wrapper, its options, timeout's duration, or a
 * NAME=VALUE prefix). */
typedef struct cmd_state {
    bool start;
    const tool_opt *tool;
} cmd_state;

static void cmd_see(cmd_state *c, const char *s, size_t n)
{
    if (!c->start) return;
    if (n == 0 || s[0] == '-' || (memchr(s, '=', n) && !memchr(s, '/', n)) ||
        (s[0] >= '0' && s[0] <= '9') || wrapper(s, n))
        return; /* still before the command word */
    c->tool = tool_of(s, n);
    c->start = false;
}

/* a[0..n) under the tool's password option: writes its redacted form and returns true,
 * or returns false (nothing written). *next_secret: the next argument is the password. */
static bool tool_option(sbuf *b, const tool_opt *t, const char *a, size_t n, bool *next_secret)
{
    *next_secret = false;
    if (!t || n < 2 || a[0] != '-' || a[1] == '-') return false;
    if (n == 2 && a[1] == t->opt) {
        *next_secret = t->next;
        return false;
    }
    if (!t->attached) return false;
    for (size_t i = 1; i < n; i++) {
        if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z'))) return false;
        if (a[i] == t->opt) {
            if (i + 1 == n) { /* the letter ends the cluster: the next argument */
                *next_secret = t->next;
                return false;
            }
            put(b, a, i + 1);
            puts_(b, MARKER);
            return true;
        }
    }
    return false;
}

/* USER:PASSWORD keeps USER. */
static void user_value(sbuf *b, const char *v, size_t n)
{
    const char *colon = memchr(v, ':', n);
    if (!colon) {
        put(b, v, n);
        return;
    }
    put(b, v, (size_t)(colon - v) + 1);
    puts_(b, MARKER);
}

static bool url_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

static bool url_end_char(char c)
{
    return c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '<' || c == '>';
}

/* Every scheme://... inside s through the library's URL rule. */
static void urls(sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *sep = NULL;
        for (size_t q = i; q + 3 <= n && !sep; q++)
            if (s[q] == ':' && s[q + 1] == '/' && s[q + 2] == '/') sep = s + q;
        if (!sep) break;
        const char *st = sep;
        while (st > s + i && url_scheme_char(st[-1]))
            st--;
        const char *en = sep + 3;
        while (en < s + n && !url_end_char(*en))
            en++;
        put(b, s + i, (size_t)(st - (s + i)));
        size_t ul = (size_t)(en - st), cap = ul * 9 + 64, out = 0;
        char *tmp = st == sep ? NULL : malloc(cap);
        dpt_err e = tmp ? dpt_redaction_rewrite_url(st, ul, tmp, cap, &out) : DPT_ENOTFOUND;
        if (e == DPT_OK)
            put(b, tmp, out);
        else if (e == DPT_ETOOBIG || (!tmp && st != sep))
            puts_(b, MARKER); /* never unredacted */
        else
            put(b, st, ul);
        free(tmp);
        i = (size_t)(en - s);
    }
    put(b, s + i, n - i);
}

/* k=v&k=v with sensitive names: the values go. */
static void params(sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        const char *eq = memchr(s + i, '=', j - i);
        if (eq && sensitive(s + i, (size_t)(eq - (s + i))) &&
            is_name(s + i, (size_t)(eq - (s + i)))) {
            put(b, s + i, (size_t)(eq - (s + i)) + 1);
            puts_(b, MARKER);
        } else {
            put(b, s + i, j - i);
        }
        if (j < n) put(b, "&", 1);
        i = j + 1;
    }
}

/* JSON "key": value pairs with a sensitive key: a string value becomes the marker, another
 * value (a number, true) the marker in quotes. A rough scanner, not a parser: it only has
 * to find the pairs, and it never drops a byte it does not replace. */
static void json(sbuf *b, const char *s, size_t n)
{
    size_t i = 0, done = 0;
    while (i < n) {
        if (s[i] != '"') {
            i++;
            continue;
        }
        size_t ks = i + 1, ke = ks;
        while (ke < n && s[ke] != '"')
            ke += s[ke] == '\\' ? 2 : 1;
        if (ke >= n) break;
        size_t c = ke + 1;
        while (c < n && (s[c] == ' ' || s[c] == '\t' || s[c] == '\n' || s[c] == '\r'))
            c++;
        if (c >= n || s[c] != ':' || !sensitive(s + ks, ke - ks)) {
            i = ke + 1;
            continue;
        }
        c++;
        while (c < n && (s[c] == ' ' || s[c] == '\t' || s[c] == '\n' || s[c] == '\r'))
            c++;
        size_t vs = c, ve = c;
        if (ve < n && s[ve] == '"') {
            ve++;
            while (ve < n && s[ve] != '"')
                ve += s[ve] == '\\' ? 2 : 1;
            if (ve > n) ve = n;
            put(b, s + done, vs - done);
            puts_(b, "\"" MARKER);
            done = ve; /* the closing quote (if any) is copied with the rest */
        } else {
            while (ve < n && s[ve] != ',' && s[ve] != '}' && s[ve] != ']' && s[ve] != ' ')
                ve++;
            put(b, s + done, vs - done);
            puts_(b, "\"" MARKER "\"");
            done = ve;
        }
        i = ve < n ? ve + 1 : n;
    }
    put(b, s + done, n - done);
}

static void value(sbuf *b, const char *s, size_t n, int depth);

/* "Key: value" with a sensitive Key; true when it applied. */
static bool header(sbuf *b, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s || (size_t)(colon - s) + 1 >= n || !is_name(s, (size_t)(colon - s)) ||
        !sensitive(s, (size_t)(colon - s)))
        return false; /* also "Key:" with nothing after it: nothing to hide */
    if ((size_t)(colon - s) + 2 < n && colon[1] == '/' && colon[2] == '/') return false; /* a URL */
    put(b, s, (size_t)(colon - s) + 1);
    if ((size_t)(colon - s) + 1 < n && colon[1] == ' ') put(b, " ", 1);
    puts_(b, MARKER);
    return true;
}

/* NAME=VALUE; true when it applied. */
static bool assignment(sbuf *b, const char *s, size_t n, int depth)
{
    const char *eq = memchr(s, '=', n);
    if (!eq || !is_name(s, (size_t)(eq - s)) || eq == s) return false;
    size_t nl = (size_t)(eq - s);
    put(b, s, nl + 1);
    if (sensitive(s, nl))
        puts_(b, MARKER);
    else if (user_option(s, nl))
        user_value(b, eq + 1, n - nl - 1);
    else
        value(b, eq + 1, n - nl - 1, depth + 1);
    return true;
}

/* openssl's pass:SECRET (-pass, -passin, -passout): writes pass:[REDACTED], true; or false. */
static bool pass_value(sbuf *b, const char *s, size_t n)
{
    if (n <= 5 || memcmp(s, "pass:", 5) != 0) return false;
    put(b, s, 5);
    puts_(b, MARKER);
    return true;
}

/* Everything a value may hide, in order: pass:SECRET, a header line, an assignment, then
 * URLs, k=v lists and JSON pairs. */
static void value(sbuf *b, const char *s, size_t n, int depth)
{
    if (pass_value(b, s, n)) return;
    if (header(b, s, n)) return;
    if (depth < MAX_DEPTH && assignment(b, s, n, depth)) return;
    sbuf t1 = {0}, t2 = {0};
    if (memchr(s, '/', n))
        urls(&t1, s, n);
    else
        put(&t1, s, n);
    if (t1.len && memchr(t1.p, '=', t1.len) && memchr(t1.p, '&', t1.len) &&
        !memchr(t1.p, '"', t1.len) && !memchr(t1.p, ':', t1.len))
        params(&t2, t1.p, t1.len);
    else if (t1.len)
        put(&t2, t1.p, t1.len);
    if (t2.len && memchr(t2.p, '"', t2.len))
        json(b, t2.p, t2.len);
    else if (t2.len)
        put(b, t2.p, t2.len);
    if (t1.oom || t2.oom) b->oom = true;
    free(t1.p);
    free(t2.p);
}

typedef enum { PLAIN, SECRET_NEXT, USER_NEXT } next_kind;

/* What the argument after a (whole) argument or word a[0..n) is: the value of a sensitive
 * option without "=VALUE", the USER:PASSWORD of -u, or plain. */
static next_kind after(const char *a, size_t n)
{
    if (n > 1 && a[0] == '-' && !memchr(a, '=', n) && is_name(a, n)) {
        if (sensitive(a, n)) return SECRET_NEXT;
        if (user_option(a, n)) return USER_NEXT;
    }
    return PLAIN;
}

static bool has_marker(const char *s, size_t n)
{
    for (size_t i = 0; i + sizeof MARKER - 1 <= n; i++)
        if (memcmp(s + i, MARKER, sizeof MARKER - 1) == 0) return true;
    return false;
}

static bool shell_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '|' || c == '(' ||
           c == ')' || c == '`' || c == '<' || c == '>';
}

/* A command line inside one argument (sh -c '...', bash -lc, ssh host '...'): the
 * option, user, assignment and header rules, word by word, over what the whole-argument
 * pass left (which already did URLs, k=v lists and JSON bodies, whose spaces would split
 * them here). A word may be quoted ('x y' or "x y"): the rules see it without its quotes,
 * which are kept. So
 * sh -c 'export DB_PASSWORD=x; curl -u bob:pw --token t h' hides x, pw and t. */
static void words(sbuf *b, const char *s, size_t n)
{
    next_kind next = PLAIN;
    cmd_state cmd = {true, NULL};
    size_t i = 0;
    while (i < n) {
        if (shell_sep(s[i])) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '<' && s[i] != '>')
                cmd.start = true, cmd.tool = NULL; /* ; | ( ` and new lines: a new command */
            put(b, s + i, 1);
            i++;
            continue;
        }
        size_t ws = i;
        while (i < n && !shell_sep(s[i])) {
            if (s[i] == '\'' || s[i] == '"') {
                char q = s[i++];
                while (i < n && s[i] != q)
                    i++;
            }
            if (i < n) i++;
        }
        const char *w = s + ws;
        size_t wl = i - ws;
        char q = 0;
        if (w[0] == '\'' || w[0] == '"') q = w[0];
        size_t open = q ? 1 : 0, close = q && wl > 1 && w[wl - 1] == q ? 1 : 0;
        const char *in = w + open;
        size_t il = wl - open - close;
        put(b, w, open);
        /* A word the whole-argument pass already redacted in part stays as it is (the
         * option rules would replace the rest with one marker: the same, less precise). */
        bool marked = has_marker(in, il), tool_next = false;
        if (s[ws] == '&') /* "&&" and "&" are read as words: a new command follows */
            cmd.start = true, cmd.tool = NULL;
        else if (next == PLAIN)
            cmd_see(&cmd, in, il);
        if (next == SECRET_NEXT && !marked)
            puts_(b, MARKER);
        else if (next == USER_NEXT && !marked)
            user_value(b, in, il);
        else if (next == PLAIN && !marked && tool_option(b, cmd.tool, in, il, &tool_next))
            ;
        else if (next != PLAIN ||
                 (!header(b, in, il) && !assignment(b, in, il, 0) && !pass_value(b, in, il)))
            put(b, in, il);
        put(b, w + wl - close, close);
        next = next == PLAIN ? (tool_next ? SECRET_NEXT : after(in, il)) : PLAIN;
    }
}

char **argv_redact(int argc, char *const *argv)
{
    if (argc < 0 || (argc && !argv)) return NULL;
    char **out = calloc((size_t)argc + 1, sizeof *out);
    if (!out) return NULL;
    next_kind next = PLAIN;
    cmd_state cmd = {true, NULL};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i] ? argv[i] : "";
        size_t n = strlen(a);
        sbuf b = {0};
        bool tool_next = false;
        if (next == PLAIN) cmd_see(&cmd, a, n);
        if (next == SECRET_NEXT)
            puts_(&b, MARKER);
        else if (next == USER_NEXT)
            user_value(&b, a, n);
        else if (!tool_option(&b, cmd.tool, a, n, &tool_next))
            value(&b, a, n, 0);
        if (!b.p) put(&b, "", 0);
        bool script = false;
        for (size_t k = 0; k < b.len && !script; k++)
            script = shell_sep(b.p[k]);
        if (script && !b.oom) { /* a command line in one argument: again, word by word */
            sbuf w = {0};
            words(&w, b.p, b.len);
            if (!w.p) put(&w, "", 0);
            free(b.p);
            b = w;
        }
        if (b.oom) {
            free(b.p);
            argv_redact_free(out, argc);
            return NULL;
        }
        out[i] = b.p;
        /* An option without "=VALUE" takes the next argument as its value; an argument that
         * was itself such a value is no option ("--password -U": -U is the password). */
        next = next == PLAIN ? (tool_next ? SECRET_NEXT : after(a, n)) : PLAIN;
    }
    return out;
}

void argv_redact_free(char **v, int argc)
{
    if (!v) return;
    for (int i = 0; i < argc; i++)
        free(v[i]);
    free(v);
}
