/* redact.c - the redaction policy: sensitive key patterns compiled into a DFA, whole-word
 * patterns, Unicode look-alike folding, and the URL rule of the semantic conventions.
 *
 * Keys are matched on every attribute set, so the match must cost about a nanosecond per
 * key byte: the patterns are compiled (Aho-Corasick) into a table-driven automaton over a
 * folded alphabet (letters case-folded, digits, "other"; separators skipped), and a key is
 * scanned once with one table load per byte; the per-thread verdict cache (redact.h)
 * makes even that rare. Only a cache miss pays for the rest: whole-word patterns ("auth",
 * not "author"), and for a key with non-ASCII bytes a second scan after folding common
 * look-alikes to ASCII (the table below, documented in docs/security.md). The policy is
 * immutable once published; a new one replaces it atomically and the old ones stay
 * reachable (never freed), so readers need no lock and no reference count.
 *
 * url.full (and http.url) and url.query are not replaced but rewritten, as the semantic
 * conventions ask: credentials in the authority become REDACTED, and so do the values of
 * the sensitive query parameters (their list, plus any parameter whose name matches a
 * sensitive key pattern).
 */
#include "redact.h"

#include <stdlib.h>
#include <strings.h>

#define NCLASS 38      /* a-z, 0-9, other, separator */
#define SKIP 37        /* separators: a self-loop column, so the scan has no branch for them */
#define ACCEPT 0x8000u /* set in a transition whose target state accepts */
#define MAX_PATTERNS 64
#define MAX_PATTERN_LEN 64

#define MAX_URL_PARAMS 32
#define URL_MARKER "REDACTED" /* the semantic conventions' literal */

typedef struct policy {
    uint16_t (*next)[NCLASS];
    uint8_t *accept;
    uint32_t nstates;
    bool words;                /* the default whole-word patterns apply */
    bool url_rule;             /* url.full / url.query are rewritten */
    bool url_key_sensitive[4]; /* a pattern matches url.full / http.url / url.query / http.target */
    size_t n_params;           /* sensitive query parameter names (case-sensitive) */
    char params[MAX_URL_PARAMS][MAX_PATTERN_LEN + 1];
    uint8_t param_len[MAX_URL_PARAMS];
    dpt_redact_fn fn;
    void *user;
    char marker[64];
    uint32_t marker_len;
    struct policy *prev; /* older policies: kept reachable, never freed */
} policy;

/* Substrings of a key, compared case-insensitively with '.', '_', '-' and ' ' ignored. */
static const char *const defaults[] = {
    "password",   "passwd",        "pwd",        "passphrase", "secret",    "token",
    "apikey",     "authorization", "bearer",     "jwt",        "cookie",    "session",
    "credential", "creditcard",    "cardnumber", "privatekey", "signature", "connectionstring",
};
/* Whole words of a key (split at separators, case changes and letter/digit changes):
 * "auth" is sensitive in "auth", "x-auth-token", "basicAuth", but "author" is not; "dsn"
 * in "sentry.dsn", not in "cloud.snapshot" (which the separator-blind substring match
 * would read as "clouDSNapshot"). */
static const char *const default_words[] = {"auth", "dsn"};
/* Semantic conventions (registry/attributes/url.md): "Query string values for the
 * following keys SHOULD be redacted by default and replaced by the value REDACTED";
 * "Matching of query parameter keys against the sensitive list SHOULD be case-sensitive". */
static const char *const default_params[] = {
    "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
    "AWSAccessKeyId",  "Signature",        "sig",
    "X-Goog-Signature"};

/* The attributes the URL rule rewrites (the semantic conventions' url.full and url.query,
 * and http.url, the older name of url.full). */
static const char *const url_keys[4] = {"url.full", "http.url", "url.query", "http.target"};

static uint8_t cls[256];
static _Atomic(policy *) current;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t set_mu = PTHREAD_MUTEX_INITIALIZER; /* serialises replacements */

static void init_classes(void)
{
    for (int c = 0; c < 256; c++) {
        if (c >= 'a' && c <= 'z')
            cls[c] = (uint8_t)(c - 'a');
        else if (c >= 'A' && c <= 'Z')
            cls[c] = (uint8_t)(c - 'A');
        else if (c >= '0' && c <= '9')
            cls[c] = (uint8_t)(26 + c - '0');
        else if (c == '.' || c == '_' || c == '-' || c == ' ')
            cls[c] = SKIP;
        else
            cls[c] = 36;
    }
}

/* Builds the automaton: a trie, then failure links breadth-first turning it into a DFA. */
static policy *compile(const char *const *pats, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(pats[i]);
    policy *p = dpt__calloc(1, sizeof *p);
    uint16_t(*next)[NCLASS] = dpt__calloc(total, sizeof *next);
    uint8_t *accept = dpt__calloc(total, 1);
    uint32_t *fail = dpt__calloc(total, sizeof *fail);
    uint32_t *queue = dpt__calloc(total, sizeof *queue);
    if (!p || !next || !accept || !fail || !queue) {
        free(p);
        free(next);
        free(accept);
        free(fail);
        free(queue);
        return NULL;
    }
    /* 0 in next[][] means "no trie edge" during construction (state 0 is the root). */
    uint32_t ns = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t s = 0;
        bool any = false;
        for (const unsigned char *c = (const unsigned char *)pats[i]; *c; c++) {
            uint8_t k = cls[*c];
            if (k == SKIP) continue;
            any = true;
            if (!next[s][k]) next[s][k] = (uint16_t)ns++;
            s = next[s][k];
        }
        if (any) accept[s] = 1;
    }
    uint32_t qh = 0, qt = 0;
    for (int k = 0; k < SKIP; k++)
        if (next[0][k]) {
            fail[next[0][k]] = 0;
            queue[qt++] = next[0][k];
        }
    while (qh < qt) {
        uint32_t s = queue[qh++];
        if (accept[fail[s]]) accept[s] = 1;
        for (int k = 0; k < SKIP; k++) {
            uint32_t t = next[s][k];
            if (t) {
                fail[t] = next[fail[s]][k];
                queue[qt++] = t;
            } else {
                next[s][k] = next[fail[s]][k];
            }
        }
    }
    for (uint32_t st = 0; st < ns; st++) {
        next[st][SKIP] = (uint16_t)st;
        for (int k = 0; k < NCLASS; k++)
            if (accept[next[st][k] & ~ACCEPT]) next[st][k] |= ACCEPT;
    }
    free(fail);
    free(queue);
    p->next = next;
    p->accept = accept;
    p->nstates = ns;
    return p;
}

static bool pattern_match(const struct policy *p, const char *key, size_t len);

static bool env_is_off(const char *v)
{
    return v && (strcasecmp(v, "off") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0);
}

/* DPTRACE_REDACT / DPTRACE_REDACT_URL: off, false, 0 turn the rule off; on, true, 1 or
 * unset keep it. Anything else keeps it too (the safe side), and says so: a typo such as
 * "no" or "disabled" must not pass for a setting that was taken. */
static bool env_off_checked(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) return false;
    if (env_is_off(v)) return true;
    if (strcasecmp(v, "on") != 0 && strcasecmp(v, "true") != 0 && strcmp(v, "1") != 0)
        dpt__log(DPT_LOG_WARN, "%s=%.64s is not on or off; redaction stays on", name, v);
    return false;
}

/* The URL rule and its parameter list: on with the defaults unless DPTRACE_REDACT_URL=off;
 * DPTRACE_REDACT_URL_PARAMS replaces the list (a full override, as the semantic
 * conventions describe for sensitive_query_parameters; "" for none). */
static void build_url_rule(policy *p, bool defs)
{
    p->url_rule = defs && !env_off_checked("DPTRACE_REDACT_URL");
    const char *env = getenv("DPTRACE_REDACT_URL_PARAMS");
    if (!env) {
        for (size_t i = 0; i < sizeof default_params / sizeof *default_params; i++) {
            snprintf(p->params[p->n_params], sizeof p->params[0], "%s", default_params[i]);
            p->param_len[p->n_params++] = (uint8_t)strlen(default_params[i]);
        }
        return;
    }
    const char *s = env;
    size_t ignored = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        dpt__trim_ows(&s, &n);
        if (n && (n > MAX_PATTERN_LEN || p->n_params == MAX_URL_PARAMS)) {
            ignored++;
        } else if (n) {
            memcpy(p->params[p->n_params], s, n);
            p->params[p->n_params][n] = 0;
            p->param_len[p->n_params++] = (uint8_t)n;
        }
        if (!e) break;
        s = e + 1;
    }
    if (ignored)
        dpt__log(DPT_LOG_WARN,
                 "DPTRACE_REDACT_URL_PARAMS: %zu names ignored (at most %d names of at most %d "
                 "bytes are kept)",
                 ignored, MAX_URL_PARAMS, MAX_PATTERN_LEN);
}

static policy *build(const dpt_redaction *r, const char *env_keys, bool env_off)
{
    const char *pats[MAX_PATTERNS + 32];
    char envbuf[MAX_PATTERNS * (MAX_PATTERN_LEN + 1) + 1];
    size_t n = 0;
    bool defs = r ? !r->no_defaults : !env_off;
    if (defs)
        for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
            pats[n++] = defaults[i];
    if (r) {
        for (size_t i = 0; i < r->n_patterns; i++)
            pats[n++] = r->patterns[i];
    } else if (env_keys) {
        /* The same bounds as dpt_redaction_set: MAX_PATTERNS patterns added to the
         * defaults, each up to MAX_PATTERN_LEN bytes. What is over is said, never dropped
         * silently: a key the operator listed would otherwise go out unredacted. */
        size_t added = 0, ignored = 0, len = strlen(env_keys);
        snprintf(envbuf, sizeof envbuf, "%s", env_keys);
        for (char *save = NULL, *t = strtok_r(envbuf, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            if (!*t) continue;
            if (added == MAX_PATTERNS || strlen(t) > MAX_PATTERN_LEN) {
                ignored++;
                continue;
            }
            pats[n++] = t;
            added++;
        }
        if (ignored || len >= sizeof envbuf)
            dpt__log(DPT_LOG_WARN,
                     "DPTRACE_REDACT_KEYS: %s%zu patterns ignored (at most %d patterns of at most "
                     "%d bytes, %zu bytes in all)",
                     len >= sizeof envbuf ? "the list is cut and " : "", ignored, MAX_PATTERNS,
                     MAX_PATTERN_LEN, sizeof envbuf - 1);
    }
    policy *p = compile(pats, n);
    if (!p) return NULL;
    p->words = defs;
    build_url_rule(p, defs);
    /* Decided once: a custom pattern such as "url" makes the URL keys plain sensitive. */
    for (int i = 0; i < 4; i++)
        p->url_key_sensitive[i] = pattern_match(p, url_keys[i], strlen(url_keys[i]));
    const char *m = r && r->marker ? r->marker : DPT_REDACTED;
    snprintf(p->marker, sizeof p->marker, "%s", m);
    p->marker_len = (uint32_t)strlen(p->marker);
    if (r) {
        p->fn = r->fn;
        p->user = r->user;
    }
    return p;
}

/* The current policy when it has no custom rule (then a cached "no match" is the whole
 * answer), NULL otherwise. Only compared, never dereferenced, by the inline lookup. */
_Atomic(const void *) dpt__redact_plain;

static void publish(policy *p)
{
    atomic_store_explicit(&current, p, memory_order_release);
    atomic_store_explicit(&dpt__redact_plain, p && !p->fn ? (const void *)p : NULL,
                          memory_order_release);
}

static void init_from_env(void)
{
    init_classes();
    policy *p = build(NULL, getenv("DPTRACE_REDACT_KEYS"), env_off_checked("DPTRACE_REDACT"));
    if (!p) dpt__log(DPT_LOG_ERROR, "redaction policy: out of memory; redaction is off");
    publish(p);
}

static policy *get(void)
{
    /* Acquire: pairs with the release store that published the policy's tables. */
    policy *p = atomic_load_explicit(&current, memory_order_acquire);
    if (DPT__LIKELY(p)) return p;
    pthread_once(&once, init_from_env);
    return atomic_load_explicit(&current, memory_order_acquire);
}

/* One pass of the automaton; *hi gets the OR of the bytes (a non-ASCII key is scanned
 * again after folding). */
static bool scan(const policy *p, const char *key, size_t len, unsigned *hi)
{
    const unsigned char *k = (const unsigned char *)key;
    uint32_t s = 0;
    unsigned h = 0;
    for (size_t i = 0; i < len; i++) {
        h |= k[i];
        s = p->next[s & ~ACCEPT][cls[k[i]]];
        if (s & ACCEPT) return true;
    }
    if (hi) *hi = h;
    return false;
}

static bool alnum(unsigned char c)
{
    return cls[c] < 36;
}
static bool upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}
static bool lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}
static bool digitc(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Whether a whole word of the key is one of the default words. Words are runs of letters
 * and digits, split where a lowercase letter meets an uppercase one ("basicAuth"), before
 * the last capital of an acronym that starts a word ("HTTPAuth"), and between letters and
 * digits ("auth2"). */
static bool words_match(const char *key, size_t len)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t i = 0;
    while (i < len) {
        while (i < len && !alnum(k[i]))
            i++;
        size_t st = i;
        while (i < len && alnum(k[i])) {
            if (i > st) {
                unsigned char a = k[i - 1], b = k[i];
                if (lower(a) && upper(b)) break;
                if (digitc(a) != digitc(b)) break;
                if (upper(a) && upper(b) && i + 1 < len && lower(k[i + 1])) break;
            }
            i++;
        }
        for (size_t w = 0; w < sizeof default_words / sizeof *default_words; w++) {
            size_t wl = strlen(default_words[w]);
            if (i - st == wl && strncasecmp(key + st, default_words[w], wl) == 0) return true;
        }
    }
    return false;
}

/* ---- Unicode look-alikes ----------------------------------------------------------------
 * A key can spell "password" with letters that only look Latin. Before a second scan, such
 * keys are folded to ASCII: what NFKC does to compatibility characters (fullwidth forms,
 * mathematical letters and digits, ligatures, long s, Kelvin sign) plus the common
 * confusables of Unicode's confusables list that NFKC leaves alone (Cyrillic and Greek
 * letters shaped like Latin ones, dotless i), with invisible format characters dropped and
 * space, dash, dot and low-line variants turned into the ASCII separator. Anything else
 * non-ASCII becomes a byte that matches no pattern letter. docs/security.md lists it all. */

typedef struct fold_entry {
    uint32_t cp;
    const char *to; /* "" drops the character */
} fold_entry;

/* Sorted by code point (binary search). */
static const fold_entry fold_table[] = {
    {0x00A0, " "},   {0x00AD, ""},    {0x0131, "i"},  {0x017F, "s"},  {0x034F, ""},
    {0x0391, "A"},   {0x0392, "B"},   {0x0395, "E"},  {0x0396, "Z"},  {0x0397, "H"},
    {0x0399, "I"},   {0x039A, "K"},   {0x039C, "M"},  {0x039D, "N"},  {0x039F, "O"},
    {0x03A1, "P"},   {0x03A4, "T"},   {0x03A5, "Y"},  {0x03A7, "X"},  {0x03B1, "a"},
    {0x03B9, "i"},   {0x03BA, "k"},   {0x03BD, "v"},  {0x03BF, "o"},  {0x03C1, "p"},
    {0x03C4, "t"},   {0x03C5, "u"},   {0x03C7, "x"},  {0x0405, "S"},  {0x0406, "I"},
    {0x0408, "J"},   {0x0410, "A"},   {0x0412, "B"},  {0x0415, "E"},  {0x041A, "K"},
    {0x041C, "M"},   {0x041D, "H"},   {0x041E, "O"},  {0x0420, "P"},  {0x0421, "C"},
    {0x0422, "T"},   {0x0425, "X"},   {0x0430, "a"},  {0x0435, "e"},  {0x043E, "o"},
    {0x0440, "p"},   {0x0441, "c"},   {0x0443, "y"},  {0x0445, "x"},  {0x0455, "s"},
    {0x0456, "i"},   {0x0458, "j"},   {0x04BB, "h"},  {0x04CF, "l"},  {0x0501, "d"},
    {0x051B, "q"},   {0x051D, "w"},   {0x1680, " "},  {0x180E, ""},   {0x2010, "-"},
    {0x2011, "-"},   {0x2012, "-"},   {0x2013, "-"},  {0x2014, "-"},  {0x2015, "-"},
    {0x2024, "."},   {0x202F, " "},   {0x205F, " "},  {0x210E, "h"},  {0x212A, "K"},
    {0x2212, "-"},   {0x3000, " "},   {0xFB00, "ff"}, {0xFB01, "fi"}, {0xFB02, "fl"},
    {0xFB03, "ffi"}, {0xFB04, "ffl"}, {0xFB05, "st"}, {0xFB06, "st"}, {0xFE33, "_"},
    {0xFE34, "_"},   {0xFE4D, "_"},   {0xFE4E, "_"},  {0xFE4F, "_"},  {0xFE52, "."},
    {0xFE58, "-"},   {0xFE63, "-"},   {0xFEFF, ""},
};

static const char *fold_cp(uint32_t cp, char one[2])
{
    /* NFKC: fullwidth ASCII variants U+FF01-FF5E are U+0021-007E. */
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
        one[0] = (char)(cp - 0xFF01 + 0x21);
        return one;
    }
    /* NFKC: Mathematical Alphanumeric Symbols, 13 alphabets of 52 letters from U+1D400 (the
     * reserved holes fold too: harmless), and 5 sets of digits from U+1D7CE. */
    if (cp >= 0x1D400 && cp <= 0x1D6A3) {
        uint32_t i = (cp - 0x1D400) % 52;
        one[0] = (char)(i < 26 ? 'A' + i : 'a' + (i - 26));
        return one;
    }
    if (cp >= 0x1D7CE && cp <= 0x1D7FF) {
        one[0] = (char)('0' + (cp - 0x1D7CE) % 10);
        return one;
    }
    /* Invisible format characters: zero-width space/joiners, direction marks and embeddings,
     * word joiner and invisible operators. */
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x2064))
        return "";
    if (cp >= 0x2000 && cp <= 0x200A) return " "; /* en quad .. hair space */
    size_t lo = 0, hi = sizeof fold_table / sizeof *fold_table;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fold_table[mid].cp == cp) return fold_table[mid].to;
        if (fold_table[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Folds key into out (at most cap bytes; a longer result is cut, which can only miss a
 * pattern past the cut). Returns the length. */
static size_t fold(const char *key, size_t len, char *out, size_t cap)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t o = 0;
    char one[2] = {0, 0};
    for (size_t i = 0; i < len && o < cap;) {
        unsigned char c = k[i];
        if (c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        /* Decode one UTF-8 sequence (shortest form, no surrogates); a bad byte is "other". */
        uint32_t cp = 0;
        size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        bool ok = n && i + n <= len;
        if (ok) {
            cp = c & (0x3Fu >> (n - 1));
            for (size_t q = 1; q < n && ok; q++) {
                ok = (k[i + q] & 0xC0) == 0x80;
                cp = (cp << 6) | (k[i + q] & 0x3F);
            }
            ok = ok && !(n == 3 && cp < 0x800) && !(n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
                 !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (!ok) {
            out[o++] = '\x01'; /* matches nothing */
            i++;
            continue;
        }
        i += n;
        const char *to = fold_cp(cp, one);
        if (!to) to = "\x01";
        for (; *to && o < cap; to++)
            out[o++] = *to;
    }
    return o;
}

/* The key patterns (substrings, words, look-alikes), without the cache. */
static bool pattern_match(const policy *p, const char *key, size_t len)
{
    unsigned hi = 0;
    if (scan(p, key, len, &hi)) return true;
    if (p->words && words_match(key, len)) return true;
    if (!(hi & 0x80)) return false;
    char f[512];
    size_t fl = fold(key, len, f, sizeof f);
    return scan(p, f, fl, NULL) || (p->words && words_match(f, fl));
}

/* The keys of the URL rule: 1 a full URL (url.full and its older name http.url) or a
 * request target (http.target, the older name of url.path + url.query), 2 a query
 * (url.query), 0 other. *slot gets the key's index in url_key_sensitive. */
static int url_key(const char *key, size_t len, int *slot)
{
    for (int i = 0; i < 4; i++)
        if (strlen(url_keys[i]) == len && memcmp(key, url_keys[i], len) == 0) {
            if (slot) *slot = i;
            return i == 2 ? 2 : 1;
        }
    return 0;
}

/* Keys are nearly always string literals set over and over: a small per-thread cache of
 * verdicts keyed by the key's address, verified against a copy of the key's bytes (an
 * address reused for other bytes, or a new policy, is a miss), saves the scan. The cache
 * and its inline lookup for "known harmless" keys are in internal.h. */
#define CACHE_SLOTS DPT__VERDICT_SLOTS
#define CACHE_KEY_MAX DPT__VERDICT_KEY_MAX
typedef dpt__verdict verdict;
DPT__TLS dpt__verdict *dpt__tl_verdicts; /* this thread's cache, or NULL */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static void cache_thread_exit(void *c)
{
    dpt__tl_verdicts = NULL;
    free(c);
}
static void cache_key_init(void)
{
    pthread_key_create(&cache_key, cache_thread_exit);
}

/* The calling thread's cache, allocated at its first use; NULL when memory is short (the
 * scan then simply runs every time). */
static verdict *thread_cache(void)
{
    verdict *t = dpt__tl_verdicts;
    if (DPT__LIKELY(t != NULL)) return t;
    pthread_once(&cache_once, cache_key_init);
    t = dpt__calloc(CACHE_SLOTS, sizeof *t);
    if (!t) return NULL;
    if (pthread_setspecific(cache_key, t) != 0) {
        free(t);
        return NULL;
    }
    dpt__tl_verdicts = t;
    return t;
}

static bool match(const policy *p, const char *key, size_t len)
{
    verdict *tl_cache = len <= CACHE_KEY_MAX ? thread_cache() : NULL;
    if (!tl_cache) return pattern_match(p, key, len) || (p->url_rule && url_key(key, len, NULL));
    uintptr_t a = (uintptr_t)key;
    verdict *v = &tl_cache[(a ^ (a >> 6) ^ (a >> 12)) & (CACHE_SLOTS - 1)];
    if (v->ptr == key && v->len == len && v->pol == (const void *)p &&
        memcmp(v->copy, key, len) == 0)
        return v->match;
    /* A URL key "matches" too: its value must go through the URL rule, never be kept by the
     * inline "known harmless" check. */
    bool m = pattern_match(p, key, len) || (p->url_rule && url_key(key, len, NULL));
    v->ptr = key;
    v->len = (uint32_t)len;
    v->pol = p;
    v->match = m;
    memcpy(v->copy, key, len);
    return m;
}

dpt_err dpt_redaction_set(const dpt_redaction *r)
{
    if (r) {
        if (r->n_patterns > MAX_PATTERNS || (r->n_patterns && !r->patterns))
            return r->n_patterns > MAX_PATTERNS ? DPT_ETOOBIG : DPT_EINVAL;
        for (size_t i = 0; i < r->n_patterns; i++) {
            size_t l = r->patterns[i] ? strlen(r->patterns[i]) : 0;
            if (l == 0 || l > MAX_PATTERN_LEN) return DPT_EINVAL;
        }
    }
    /* Run the one-time environment set-up first, so that it cannot replace this policy
     * later. */
    (void)get();
    policy *p;
    if (r) {
        p = build(r, NULL, false);
    } else {
        p = build(NULL, getenv("DPTRACE_REDACT_KEYS"), env_off_checked("DPTRACE_REDACT"));
    }
    if (!p) return DPT_ENOMEM;
    pthread_mutex_lock(&set_mu);
    policy *old = atomic_load(&current);
    p->prev = old;
    publish(p);
    pthread_mutex_unlock(&set_mu);
    return DPT_OK;
}

bool dpt_redaction_matches(const char *key, size_t key_len)
{
    policy *p = get();
    if (!p || !key) return false;
    if (key_len == DPT_NUL) key_len = strlen(key);
    return pattern_match(p, key, key_len);
}

/* ---- the URL rule ------------------------------------------------------------------------ */

/* A bounded output buffer: over is set (and nothing more written) once cap would pass. */
typedef struct obuf {
    char *p;
    size_t len, cap;
    bool over;
} obuf;

static void put(obuf *o, const char *s, size_t n)
{
    if (o->over || n > o->cap - o->len) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* A query parameter name is sensitive when it is on the list (case-sensitive, as the
 * semantic conventions say) or matches a key pattern (our rule: ?access_token=...). Names
 * are compared percent-decoded ("X%2DAmz%2DSignature" is X-Amz-Signature). */
static bool param_sensitive(const policy *p, const char *k, size_t kl)
{
    char dec[256];
    if (memchr(k, '%', kl) && kl < sizeof dec) {
        dpt__buf b;
        dpt__buf_init(&b);
        if (dpt__pct_decode(k, kl, &b) && !b.oom && b.len < sizeof dec) {
            memcpy(dec, b.p, b.len);
            kl = b.len;
            k = dec;
        }
        dpt__buf_free(&b);
    }
    for (size_t i = 0; i < p->n_params; i++)
        if (p->param_len[i] == kl && memcmp(p->params[i], k, kl) == 0) return true;
    return kl && pattern_match(p, k, kl);
}

/* Copies the parameter list [s, s + n) ("k=v&k=v") with the values of sensitive names
 * replaced by REDACTED: "When a query string value is redacted, the query string key
 * SHOULD still be preserved". Returns whether anything was replaced. */
static bool redact_params(const policy *p, const char *s, size_t n, obuf *o)
{
    bool changed = false;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        /* '&', and ';' which HTML 4 and many servers also take between parameters
         * (?a=1;token=x): a ';' inside a value only splits it, harmlessly. */
        while (j < n && s[j] != '&' && s[j] != ';')
            j++;
        const char *part = s + i, *eq = memchr(part, '=', j - i);
        if (eq && eq + 1 < s + j && param_sensitive(p, part, (size_t)(eq - part))) {
            put(o, part, (size_t)(eq - part) + 1);
            put(o, URL_MARKER, sizeof URL_MARKER - 1);
            /* A value already REDACTED (an instrumentation redacted it first) is no change:
             * otherwise a long URL that needs nothing more was replaced whole. */
            size_t vl = (size_t)(s + j - (eq + 1));
            changed |= vl != sizeof URL_MARKER - 1 || memcmp(eq + 1, URL_MARKER, vl) != 0;
        } else {
            put(o, part, j - i);
        }
        if (j < n) put(o, s + j, 1);
        i = j + 1;
    }
    return changed;
}

static bool scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

/* Rewrites a full URL (kind 1) or a query (kind 2) into o. Returns whether anything was
 * replaced. "url.full MUST NOT contain credentials passed via URL ... attribute's value
 * SHOULD be https://REDACTED:REDACTED@www.example.com/"; a user name alone becomes
 * REDACTED. The fragment is treated like the query: OAuth's implicit flow puts
 * access_token there. */
static bool rewrite_url(const policy *p, int kind, const char *u, size_t n, obuf *o)
{
    /* Most URLs have nothing to hide: no '@', no parameters. Say so without copying. */
    if (!memchr(u, '=', n) && (kind == 2 || !memchr(u, '@', n))) return false;
    if (kind == 2) return redact_params(p, u, n, o);
    bool changed = false;
    size_t i = 0, sch = 0;
    if (n && ((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
        while (sch < n && scheme_char(u[sch]))
            sch++;
    /* An authority after "scheme://", or after "//" alone (a scheme-relative URL, as an
     * http.url may be written). */
    size_t a = 0; /* where the authority starts; 0: none */
    if (sch && n - sch >= 3 && memcmp(u + sch, "://", 3) == 0)
        a = sch + 3;
    else if (n >= 2 && u[0] == '/' && u[1] == '/')
        a = 2;
    if (a) {
        size_t e = a;
        while (e < n && u[e] != '/' && u[e] != '?' && u[e] != '#')
            e++;
        const char *at = NULL;
        for (size_t q = a; q < e; q++)
            if (u[q] == '@') at = u + q;
        if (at) {
            static const char both[] = URL_MARKER ":" URL_MARKER;
            size_t ul = (size_t)(at - (u + a));
            put(o, u, a);
            if (memchr(u + a, ':', ul))
                put(o, both, sizeof both - 1);
            else
                put(o, URL_MARKER, sizeof URL_MARKER - 1);
            put(o, at, (size_t)(u + e - at));
            /* Credentials already REDACTED (by an instrumentation) are no change. */
            changed = !((ul == sizeof both - 1 && memcmp(u + a, both, ul) == 0) ||
                        (ul == sizeof URL_MARKER - 1 && memcmp(u + a, URL_MARKER, ul) == 0));
        } else {
            put(o, u, e);
        }
        i = e;
    }
    size_t j = i;
    while (j < n && u[j] != '?' && u[j] != '#')
        j++;
    put(o, u + i, j - i);
    i = j;
    if (i < n && u[i] == '?') {
        put(o, "?", 1);
        i++;
        j = i;
        while (j < n && u[j] != '#')
            j++;
        changed |= redact_params(p, u + i, j - i, o);
        i = j;
    }
    if (i < n && u[i] == '#') {
        put(o, "#", 1);
        i++;
        changed |= redact_params(p, u + i, n - i, o);
    }
    return changed;
}

dpt_err dpt_redaction_rewrite_url(const char *url, size_t len, char *out, size_t cap,
                                  size_t *out_len)
{
    if (out_len) *out_len = 0;
    if (!url || !out) return DPT_EINVAL;
    if (len == DPT_NUL) len = strlen(url);
    policy *p = get();
    if (!p || !p->url_rule) return DPT_ENOTFOUND;
    obuf o = {out, 0, cap, false};
    if (!rewrite_url(p, 1, url, len, &o)) return DPT_ENOTFOUND;
    if (o.over) return DPT_ETOOBIG;
    if (out_len) *out_len = o.len;
    return DPT_OK;
}

dpt__redact_result dpt__redact(const char *key, size_t klen, const dpt_value *v, char *buf,
                               size_t cap)
{
    dpt__redact_result r = {DPT_REDACT_KEEP, NULL, 0};
    policy *p = get();
    if (DPT__UNLIKELY(!p)) return r;
    char tmp[1024];
    dpt_value rv;
    size_t rlen = 0;
    bool rewritten = false;
    if (match(p, key, klen)) {
        int slot = 0;
        int uk = p->url_rule ? url_key(key, klen, &slot) : 0;
        if (!uk || p->url_key_sensitive[slot]) {
            r.action = DPT_REDACT_REPLACE;
            r.text = p->marker;
            r.len = p->marker_len;
            return r;
        }
        /* url.full / url.query: rewritten, not replaced. A value that needs a change but
         * does not fit is replaced whole: it is never stored unredacted. */
        if (v && v->type == DPT_VAL_STRING) {
            const char *s = v->u.s ? v->u.s : "";
            size_t n = v->len == DPT_NUL ? strlen(s) : v->len;
            obuf o = {tmp, 0, cap < sizeof tmp ? cap : sizeof tmp, false};
            if (rewrite_url(p, uk, s, n, &o)) {
                if (o.over) {
                    r.action = DPT_REDACT_REPLACE;
                    r.text = p->marker;
                    r.len = p->marker_len;
                    return r;
                }
                rewritten = true;
                rlen = o.len;
                rv = (dpt_value){DPT_VAL_STRING, (uint32_t)o.len, {.s = tmp}};
                v = &rv;
            }
        }
    }
    /* The custom rule sees every value no pattern matched (a URL after the URL rule). */
    dpt_redact_action a = DPT_REDACT_KEEP;
    size_t out = 0;
    if (p->fn) a = p->fn(p->user, key, klen, v, buf, cap, &out);
    if (a == DPT_REDACT_REPLACE) {
        r.action = a;
        r.text = p->marker;
        r.len = p->marker_len;
    } else if (a == DPT_REDACT_REWRITE && out <= cap) {
        r.action = a;
        r.text = buf;
        r.len = out;
    } else if (rewritten) {
        memcpy(buf, tmp, rlen); /* rlen <= cap: the obuf was bounded by it */
        r.action = DPT_REDACT_REWRITE;
        r.text = buf;
        r.len = rlen;
    }
    return r;
}
