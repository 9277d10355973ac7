/* subst.c - environment variable substitution in configuration file values, as the
 * configuration data model defines it (configuration/data-model.md, "Environment variable
 * substitution"):
 *
 *   SUBSTITUTION-REF = "${" [PREFIX ":"] GENERIC-SUBSTITUTION "}"
 *   ENV-SUBSTITUTION = ENV-NAME [":-" DEFAULT-VALUE]      (PREFIX absent or "env")
 *
 * The input is read left to right: each "$$" is an escape for one '$', and the text between
 * escapes is matched against SUBSTITUTION-REF, so a '$' produced by an escape never starts
 * a reference. Substituted text is never scanned again (no recursion, no YAML structure
 * from the environment: this runs on one scalar value after the YAML is parsed).
 */
#include "tree.h"

#include <stdio.h>
#include <stdlib.h>

static bool alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Resolves the content of one reference (between "${" and "}") into out. */
static dpt_err resolve(const char *c, size_t n, const char *(*getenv_fn)(const char *),
                       dpt__buf *out, char *msg, size_t cap)
{
    size_t i = 0;
    /* PREFIX ":" - but "NAME:-default" is a name with a default, not a prefix. */
    if (n && alpha(c[0])) {
        size_t k = 1;
        while (k < n && (alpha(c[k]) || digit(c[k]) || c[k] == '_'))
            k++;
        if (k < n && c[k] == ':' && !(k + 1 < n && c[k + 1] == '-')) {
            if (!(k == 3 && memcmp(c, "env", 3) == 0)) {
                snprintf(msg, cap,
                         "'${%.*s}' is not a valid substitution: prefix '%.*s' is not supported "
                         "(the forms "
                         "are ${NAME}, ${env:NAME}, ${NAME:-default})",
                         (int)(n > 64 ? 64 : n), c, (int)(k > 32 ? 32 : k), c);
                return DPT_EPARSE;
            }
            i = k + 1;
        }
    }
    /* ENV-NAME = (ALPHA / "_") *(ALPHA / DIGIT / "_") */
    size_t name0 = i;
    if (i < n && (alpha(c[i]) || c[i] == '_')) {
        i++;
        while (i < n && (alpha(c[i]) || digit(c[i]) || c[i] == '_'))
            i++;
    }
    size_t name_len = i - name0;
    bool has_default = false;
    if (name_len && i + 2 <= n && c[i] == ':' && c[i + 1] == '-') {
        has_default = true;
        i += 2;
    }
    if (!name_len || (!has_default && i != n)) {
        snprintf(msg, cap,
                 "'${%.*s}' is not a valid substitution (${NAME} or ${NAME:-default}, NAME = "
                 "[A-Za-z_][A-Za-z0-9_]*)",
                 (int)(n > 64 ? 64 : n), c);
        return DPT_EPARSE;
    }
    char name[256];
    if (name_len >= sizeof name) {
        snprintf(msg, cap, "environment variable name of %zu bytes is too long", name_len);
        return DPT_EPARSE;
    }
    memcpy(name, c + name0, name_len);
    name[name_len] = 0;
    const char *v = getenv_fn(name);
    /* "DEFAULT-VALUE [...] is substituted if ENV-NAME is null, empty, or undefined. If a
     * referenced environment variable is not defined and does not have a DEFAULT-VALUE, it
     * MUST be replaced with an empty value." */
    if ((!v || !*v) && has_default)
        dpt__buf_put(out, c + i, n - i);
    else if (v)
        dpt__buf_puts(out, v);
    return out->oom ? DPT_ENOMEM : DPT_OK;
}

/* Substitutes the references of one segment (text without "$$" escapes). */
static dpt_err segment(const char *s, size_t n, const char *(*getenv_fn)(const char *),
                       dpt__buf *out, char *msg, size_t cap)
{
    size_t i = 0;
    while (i < n) {
        const char *ref = NULL;
        for (size_t k = i; k + 1 < n; k++) {
            if (s[k] == '$' && s[k + 1] == '{') {
                ref = s + k;
                break;
            }
        }
        const char *close = ref ? memchr(ref + 2, '}', (size_t)(s + n - (ref + 2))) : NULL;
        /* GENERIC-SUBSTITUTION has at least one character; "${}" and an unclosed "${" are
         * not references and stay as they are. */
        if (!ref || !close || close == ref + 2) {
            dpt__buf_put(out, s + i, n - i);
            break;
        }
        dpt__buf_put(out, s + i, (size_t)(ref - (s + i)));
        dpt_err e = resolve(ref + 2, (size_t)(close - ref - 2), getenv_fn, out, msg, cap);
        if (e != DPT_OK) return e;
        i = (size_t)(close + 1 - s);
    }
    return out->oom ? DPT_ENOMEM : DPT_OK;
}

static const char *real_getenv(const char *name)
{
    return getenv(name);
}

dpt_err dpt__subst(const char *s, size_t len, const char *(*getenv_fn)(const char *), dpt__buf *out,
                   char *msg, size_t cap)
{
    if (!getenv_fn) getenv_fn = real_getenv;
    size_t start = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == '$' && s[i + 1] == '$') {
            dpt_err e = segment(s + start, i - start, getenv_fn, out, msg, cap);
            if (e != DPT_OK) return e;
            dpt__buf_putc(out, '$');
            start = i + 2;
            i++;
        }
    }
    dpt_err e = segment(s + start, len - start, getenv_fn, out, msg, cap);
    return e != DPT_OK ? e : out->oom ? DPT_ENOMEM : DPT_OK;
}
