/* redact.c - the redaction policy: sensitive key patterns compiled into a DFA.
 *
 * Keys are matched on every attribute set, so the match must cost about a nanosecond per
 * key byte: the patterns are compiled (Aho-Corasick) into a table-driven automaton over a
 * folded alphabet (letters case-folded, digits, "other"; separators skipped), and a key is
 * scanned once with one table load per byte. The policy is immutable once published; a new
 * one replaces it atomically and the old ones stay reachable (never freed), so readers
 * need no lock and no reference count.
 */
#include "redact.h"

#include <stdlib.h>
#include <strings.h>

#define NCLASS 38      /* a-z, 0-9, other, separator */
#define SKIP 37        /* separators: a self-loop column, so the scan has no branch for them */
#define ACCEPT 0x8000u /* set in a transition whose target state accepts */
#define MAX_PATTERNS 64
#define MAX_PATTERN_LEN 64

typedef struct policy {
    uint16_t (*next)[NCLASS];
    uint8_t *accept;
    uint32_t nstates;
    dpt_redact_fn fn;
    void *user;
    char marker[64];
    uint32_t marker_len;
    struct policy *prev; /* older policies: kept reachable, never freed */
} policy;

static const char *const defaults[] = { "password", "passwd", "secret", "token", "apikey",
                                        "authorization", "cookie", "session", "creditcard",
                                        "cardnumber", "privatekey" };

static uint8_t cls[256];
static _Atomic(policy *) current;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t set_mu = PTHREAD_MUTEX_INITIALIZER; /* serialises replacements */

static void init_classes(void)
{
    for (int c = 0; c < 256; c++) {
        if (c >= 'a' && c <= 'z') cls[c] = (uint8_t)(c - 'a');
        else if (c >= 'A' && c <= 'Z') cls[c] = (uint8_t)(c - 'A');
        else if (c >= '0' && c <= '9') cls[c] = (uint8_t)(26 + c - '0');
        else if (c == '.' || c == '_' || c == '-' || c == ' ') cls[c] = SKIP;
        else cls[c] = 36;
    }
}

/* Builds the automaton: a trie, then failure links breadth-first turning it into a DFA. */
static policy *compile(const char *const *pats, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++) total += strlen(pats[i]);
    policy *p = dpt__calloc(1, sizeof *p);
    uint16_t (*next)[NCLASS] = dpt__calloc(total, sizeof *next);
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

static policy *build(const dpt_redaction *r, const char *env_keys, bool env_off)
{
    const char *pats[MAX_PATTERNS + 16];
    char envbuf[1024];
    size_t n = 0;
    bool defs = r ? !r->no_defaults : !env_off;
    if (defs)
        for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) pats[n++] = defaults[i];
    if (r) {
        for (size_t i = 0; i < r->n_patterns; i++) pats[n++] = r->patterns[i];
    } else if (env_keys) {
        snprintf(envbuf, sizeof envbuf, "%s", env_keys);
        for (char *save = NULL, *t = strtok_r(envbuf, ",", &save); t && n < MAX_PATTERNS; t = strtok_r(NULL, ",", &save))
            if (*t) pats[n++] = t;
    }
    policy *p = compile(pats, n);
    if (!p) return NULL;
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
    atomic_store_explicit(&dpt__redact_plain, p && !p->fn ? (const void *)p : NULL, memory_order_release);
}

static void init_from_env(void)
{
    init_classes();
    const char *off = getenv("DPTRACE_REDACT");
    bool env_off = off && (strcasecmp(off, "off") == 0 || strcasecmp(off, "false") == 0 || strcmp(off, "0") == 0);
    policy *p = build(NULL, getenv("DPTRACE_REDACT_KEYS"), env_off);
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

static bool scan(const policy *p, const char *key, size_t len)
{
    const unsigned char *k = (const unsigned char *)key;
    uint32_t s = 0;
    for (size_t i = 0; i < len; i++) {
        s = p->next[s & ~ACCEPT][cls[k[i]]];
        if (s & ACCEPT) return true;
    }
    return false;
}

/* Keys are nearly always string literals set over and over: a small per-thread cache of
 * verdicts keyed by the key's address, verified against a copy of the key's bytes (an
 * address reused for other bytes, or a new policy, is a miss), saves the scan. The cache
 * and its inline lookup for "known harmless" keys are in internal.h. */
#define CACHE_SLOTS DPT__VERDICT_SLOTS
#define CACHE_KEY_MAX DPT__VERDICT_KEY_MAX
typedef dpt__verdict verdict;
DPT__TLS dpt__verdict dpt__tl_verdicts[DPT__VERDICT_SLOTS];
#define tl_cache dpt__tl_verdicts
static bool match(const policy *p, const char *key, size_t len)
{
    if (len > CACHE_KEY_MAX) return scan(p, key, len);
    uintptr_t a = (uintptr_t)key;
    verdict *v = &tl_cache[(a ^ (a >> 6) ^ (a >> 12)) & (CACHE_SLOTS - 1)];
    if (v->ptr == key && v->len == len && v->pol == (const void *)p && memcmp(v->copy, key, len) == 0)
        return v->match;
    bool m = scan(p, key, len);
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
        if (r->n_patterns > MAX_PATTERNS || (r->n_patterns && !r->patterns)) return r->n_patterns > MAX_PATTERNS ? DPT_ETOOBIG : DPT_EINVAL;
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
        const char *off = getenv("DPTRACE_REDACT");
        p = build(NULL, getenv("DPTRACE_REDACT_KEYS"), off && strcasecmp(off, "off") == 0);
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
    return match(p, key, key_len);
}

dpt__redact_result dpt__redact(const char *key, size_t klen, const dpt_value *v, char *buf, size_t cap)
{
    dpt__redact_result r = { DPT_REDACT_KEEP, NULL, 0 };
    policy *p = get();
    if (DPT__UNLIKELY(!p)) return r;
    if (match(p, key, klen)) {
        r.action = DPT_REDACT_REPLACE;
        r.text = p->marker;
        r.len = p->marker_len;
        return r;
    }
    if (p->fn) {
        size_t out = 0;
        dpt_redact_action a = p->fn(p->user, key, klen, v, buf, cap, &out);
        if (a == DPT_REDACT_REPLACE) {
            r.action = a;
            r.text = p->marker;
            r.len = p->marker_len;
        } else if (a == DPT_REDACT_REWRITE && out <= cap) {
            r.action = a;
            r.text = buf;
            r.len = out;
        }
    }
    return r;
}
