/* model.c - a configuration file's tree checked against the opentelemetry-configuration
 * schema (file_format 1.x) and mapped onto the configuration model (src/config/config.h),
 * the same model the OTEL_* environment fills.
 *
 * The walk follows the schema by hand, one function per schema type, because what matters
 * is the mapping onto dptrace, and the error: every rejection names the node's path, line
 * and column. Objects of the schema reject unknown keys (additionalProperties: false), except
 * the top level, which the schema leaves open (those keys are reported and ignored). The
 * signals dptrace does not have (meter_provider, logger_provider) and instrumentation
 * settings are accepted without a look inside. Experimental (/development) types are read
 * where dptrace implements them and rejected as unsupported otherwise.
 */
#include "model.h"
#include "dptrace/propagation.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define MAX_VISITS 200000 /* nodes visited: bounds what aliases can expand to */

typedef struct walk {
    dpt__config *c;
    char (*exporter_paths)[DPT__CF_PATH_MAX];
    dpt_config_error *err;
    char path[256];
    size_t plen;
    size_t visits;
    bool have_attr_count, have_value_len;
} walk;

/* ---- errors and paths ------------------------------------------------------------------ */

static bool bad(walk *w, const dpt__node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool bad(walk *w, const dpt__node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err->message, sizeof w->err->message, fmt, ap);
    va_end(ap);
    snprintf(w->err->path, sizeof w->err->path, "%s", w->path);
    w->err->line = n ? n->line : 0;
    w->err->column = n ? n->col : 0;
    return false;
}

static size_t push_key(walk *w, const char *key)
{
    size_t m = w->plen;
    int k = snprintf(w->path + m, sizeof w->path - m, ".%s", key);
    if (k > 0) w->plen = m + (size_t)k < sizeof w->path ? m + (size_t)k : sizeof w->path - 1;
    return m;
}

static size_t push_index(walk *w, size_t i)
{
    size_t m = w->plen;
    int k = snprintf(w->path + m, sizeof w->path - m, "[%zu]", i);
    if (k > 0) w->plen = m + (size_t)k < sizeof w->path ? m + (size_t)k : sizeof w->path - 1;
    return m;
}

static void pop(walk *w, size_t m)
{
    w->plen = m;
    w->path[m] = 0;
}

/* A short description of a node for messages ("the string \"abc\"", "a mapping"). */
static const char *describe(const dpt__node *n, char *buf, size_t cap)
{
    if (!n) return "nothing";
    switch (n->kind) {
    case DPT__N_MAP:
        return "a mapping";
    case DPT__N_SEQ:
        return "a sequence";
    default:
        break;
    }
    switch (n->type) {
    case DPT__S_NULL:
        return "null";
    case DPT__S_BOOL:
        return n->b ? "true" : "false";
    case DPT__S_INT:
        snprintf(buf, cap, "the integer %lld", (long long)n->i);
        return buf;
    case DPT__S_FLOAT:
        snprintf(buf, cap, "the number %.40s", n->s);
        return buf;
    default:
        snprintf(buf, cap, "the string \"%.40s%s\"", n->s, n->len > 40 ? "..." : "");
        return buf;
    }
}

static bool visit(walk *w, const dpt__node *n)
{
    if (++w->visits > MAX_VISITS)
        return bad(w, n, "the document expands to more than %d nodes (aliases?)", MAX_VISITS);
    return true;
}

static bool is_null(const dpt__node *n)
{
    return !n || (n->kind == DPT__N_SCALAR && n->type == DPT__S_NULL);
}

/* ---- typed access -------------------------------------------------------------------------- */

/* n must be a mapping, or null when nullable (read as an empty mapping). */
static bool want_map(walk *w, const dpt__node *n, bool nullable)
{
    char d[80];
    if (!visit(w, n)) return false;
    if (n && n->kind == DPT__N_MAP) return true;
    if (nullable && is_null(n)) return true;
    return bad(w, n, "expected a mapping%s, got %s", nullable ? " or null" : "",
               describe(n, d, sizeof d));
}

/* Every key of map must be in allowed (NULL-terminated). */
static bool known_keys(walk *w, const dpt__node *map, const char *const *allowed)
{
    if (!map || map->kind != DPT__N_MAP) return true;
    for (size_t i = 0; i < map->n; i++) {
        const char *const *a;
        for (a = allowed; *a; a++)
            if (strcmp(*a, map->keys[i]) == 0) break;
        if (*a) continue;
        char known[200] = "";
        size_t o = 0;
        for (a = allowed; *a && o + 2 < sizeof known; a++)
            o +=
                (size_t)snprintf(known + o, sizeof known - o, "%s%s", a == allowed ? "" : ", ", *a);
        size_t m = push_key(w, map->keys[i]);
        bool r = bad(w, map->vals[i], "unknown key '%s' (known here: %s)", map->keys[i], known);
        pop(w, m);
        return r;
    }
    return true;
}

/* A mapping with exactly one key (the schema's plugin-style choices). */
static bool one_key(walk *w, const dpt__node *n, const char *what)
{
    if (!want_map(w, n, false)) return false;
    if (n->n != 1) return bad(w, n, "expected exactly one %s, got %zu keys", what, n->n);
    return true;
}

/* Reads an optional integer member. Returns 0 when absent or null (the default applies),
 * 1 when set, -1 on error. */
static int get_int(walk *w, const dpt__node *map, const char *key, int64_t min, int64_t max,
                   int64_t *out)
{
    const dpt__node *n = dpt__node_get(map, key);
    if (is_null(n)) return 0;
    size_t m = push_key(w, key);
    char d[80];
    int r = -1;
    if (n->kind != DPT__N_SCALAR || n->type != DPT__S_INT) {
        bad(w, n, "expected an integer, got %s", describe(n, d, sizeof d));
    } else if (n->i < min || n->i > max) {
        bad(w, n, "%lld is out of range [%lld, %lld]", (long long)n->i, (long long)min,
            (long long)max);
    } else {
        *out = n->i;
        r = 1;
    }
    pop(w, m);
    return r;
}

static int get_number(walk *w, const dpt__node *map, const char *key, double min, double max,
                      double *out)
{
    const dpt__node *n = dpt__node_get(map, key);
    if (is_null(n)) return 0;
    size_t m = push_key(w, key);
    char d[80];
    int r = -1;
    if (n->kind != DPT__N_SCALAR || (n->type != DPT__S_INT && n->type != DPT__S_FLOAT)) {
        bad(w, n, "expected a number, got %s", describe(n, d, sizeof d));
    } else if (!(n->d >= min && n->d <= max)) {
        bad(w, n, "%.40s is out of range [%g, %g]", n->s, min, max);
    } else {
        *out = n->d;
        r = 1;
    }
    pop(w, m);
    return r;
}

static int get_bool(walk *w, const dpt__node *map, const char *key, bool *out)
{
    const dpt__node *n = dpt__node_get(map, key);
    if (is_null(n)) return 0;
    size_t m = push_key(w, key);
    char d[80];
    int r = -1;
    if (n->kind != DPT__N_SCALAR || n->type != DPT__S_BOOL) {
        bad(w, n, "expected a boolean (true or false), got %s", describe(n, d, sizeof d));
    } else {
        *out = n->b;
        r = 1;
    }
    pop(w, m);
    return r;
}

/* A string member; *out points into the tree (copy it with keep()). */
static int get_str(walk *w, const dpt__node *map, const char *key, const dpt__node **out)
{
    const dpt__node *n = dpt__node_get(map, key);
    if (is_null(n)) return 0;
    size_t m = push_key(w, key);
    char d[80];
    int r = -1;
    if (n->kind != DPT__N_SCALAR || n->type != DPT__S_STR) {
        bad(w, n, "expected a string, got %s (quote it to make it a string)",
            describe(n, d, sizeof d));
    } else if (memchr(n->s, 0, n->len)) {
        bad(w, n, "the string contains a NUL byte");
    } else {
        *out = n;
        r = 1;
    }
    pop(w, m);
    return r;
}

static bool require(walk *w, const dpt__node *map, const char *key)
{
    if (dpt__node_get(map, key)) return true;
    return bad(w, map, "'%s' is required here", key);
}

static const char *keep(walk *w, const dpt__node *n, const char *s, size_t len)
{
    const char *k = dpt__config_strdup(w->c, s, len);
    if (!k) bad(w, n, "out of memory");
    return k;
}

/* ---- exporters --------------------------------------------------------------------------- */

static bool add_setting(walk *w, dpt__config_exporter *x, const dpt__node *n, const char *key,
                        const char *val, size_t len)
{
    if (x->n_settings == DPT__CONFIG_MAX_SETTINGS)
        return bad(w, n, "more than %d settings for one exporter", DPT__CONFIG_MAX_SETTINGS);
    const char *k = keep(w, n, key, strlen(key));
    const char *v = k ? keep(w, n, val, len) : NULL;
    if (!v) return false;
    x->keys[x->n_settings] = k;
    x->values[x->n_settings] = v;
    x->n_settings++;
    return true;
}

/* A string member passed on as a setting (under the factory's key name). */
static bool str_setting(walk *w, dpt__config_exporter *x, const dpt__node *map, const char *key,
                        const char *as)
{
    const dpt__node *n = NULL;
    int r = get_str(w, map, key, &n);
    return r < 0 ? false : r == 0 ? true : add_setting(w, x, n, as, n->s, n->len);
}

static bool int_setting(walk *w, dpt__config_exporter *x, const dpt__node *map, const char *key,
                        int64_t min, const char *as)
{
    int64_t v;
    int r = get_int(w, map, key, min, INT64_MAX, &v);
    if (r <= 0) return r == 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return add_setting(w, x, dpt__node_get(map, key), as, buf, strlen(buf));
}

/* An absolute path for a TLS file ("Absolute path to certificate file in PEM format"). */
static bool tls(walk *w, dpt__config_exporter *x, const dpt__node *map, bool grpc)
{
    const dpt__node *t = dpt__node_get(map, "tls");
    if (is_null(t)) return true;
    size_t m = push_key(w, "tls");
    static const char *const http_keys[] = {"ca_file", "key_file", "cert_file", NULL};
    static const char *const grpc_keys[] = {"ca_file", "key_file", "cert_file", "insecure", NULL};
    static const char *const from[] = {"ca_file", "key_file", "cert_file"};
    static const char *const to[] = {"certificate", "client_key", "client_certificate"};
    bool ok = want_map(w, t, true) && known_keys(w, t, grpc ? grpc_keys : http_keys);
    const dpt__node *files[3] = {NULL};
    for (int i = 0; ok && i < 3; i++) {
        int r = get_str(w, t, from[i], &files[i]);
        ok = r >= 0;
        if (ok && r == 1) {
            size_t m2 = push_key(w, from[i]);
            ok = files[i]->s[0] == '/'
                     ? add_setting(w, x, files[i], to[i], files[i]->s, files[i]->len)
                     : bad(w, files[i], "expected an absolute path");
            pop(w, m2);
        }
    }
    /* "If set, .client_certificate must also be set" (and the other way round). */
    if (ok && (files[1] != NULL) != (files[2] != NULL))
        ok = bad(w, t, "key_file and cert_file go together (mTLS needs both)");
    bool insecure = false;
    if (ok && grpc) {
        int r = get_bool(w, t, "insecure", &insecure);
        ok = r >= 0 && (r == 0 || add_setting(w, x, t, "insecure", insecure ? "true" : "false",
                                              insecure ? 4 : 5));
    }
    pop(w, m);
    return ok;
}

/* headers (name/value list, higher priority) + headers_list ("k=v,...", lower) as one
 * "k=v,..." setting with percent-encoded names and values. */
static bool headers(walk *w, dpt__config_exporter *x, const dpt__node *map)
{
    const dpt__node *h = dpt__node_get(map, "headers");
    const dpt__node *list = NULL;
    if (get_str(w, map, "headers_list", &list) < 0) return false;
    dpt__buf out;
    dpt__buf_init(&out);
    bool ok = true;
    size_t m = push_key(w, "headers");
    const char *names[64];
    size_t n_names = 0;
    if (!is_null(h)) {
        char d[80];
        if (h->kind != DPT__N_SEQ || h->n == 0)
            ok = bad(w, h, "expected a non-empty sequence, got %s", describe(h, d, sizeof d));
        for (size_t i = 0; ok && i < h->n; i++) {
            size_t m2 = push_index(w, i);
            const dpt__node *e = h->vals[i], *nm = NULL, *v = NULL;
            static const char *const keys[] = {"name", "value", NULL};
            ok = want_map(w, e, false) && known_keys(w, e, keys) && require(w, e, "name") &&
                 require(w, e, "value") && get_str(w, e, "name", &nm) >= 0;
            /* The value is a credential: a wrong type is reported without showing it (an
             * unquoted numeric key, or ${VAR} substituting 0xdeadbeef, reads as a number). */
            const dpt__node *vn = ok ? dpt__node_get(e, "value") : NULL;
            if (ok && !is_null(vn) && (vn->kind != DPT__N_SCALAR || vn->type != DPT__S_STR)) {
                size_t m3 = push_key(w, "value");
                ok = bad(w, vn,
                         "expected a string (quote it; the value is not shown: header values "
                         "may be credentials)");
                pop(w, m3);
            }
            ok = ok && get_str(w, e, "value", &v) >= 0;
            if (ok && !nm) ok = bad(w, e, "'name' must be a string");
            if (ok && n_names == 64) ok = bad(w, e, "more than 64 headers");
            /* "If an entry's .value is null, the entry is ignored." */
            if (ok && v && nm) {
                if (out.len) dpt__buf_putc(&out, ',');
                dpt__pct_encode(nm->s, nm->len, &out);
                dpt__buf_putc(&out, '=');
                dpt__pct_encode(v->s, v->len, &out);
                names[n_names++] = nm->s;
            }
            pop(w, m2);
        }
    }
    pop(w, m);
    if (ok && list) {
        /* Read as the exporter will read it (dpt__kvlist): a member the exporter would drop
         * is an error here, where a configuration file is checked. */
        m = push_key(w, "headers_list");
        dpt__kvlist it;
        dpt__kvlist_init(&it, list->s, list->len);
        int r;
        while (ok && (r = dpt__kvlist_next(&it)) != DPT__KV_END) {
            if (r == DPT__KV_ENOMEM) {
                ok = bad(w, list, "out of memory");
                break;
            }
            if (r == DPT__KV_MALFORMED || memchr(it.key.p, 0, it.key.len) ||
                memchr(it.value.p, 0, it.value.len)) {
                /* Header values are credentials: never in a message (docs/security.md,
                 * as for OTEL_EXPORTER_OTLP_HEADERS); an entry without '=' may be
                 * nothing but a token, so only its position is given. */
                size_t at = 1;
                for (const char *c = list->s; c < it.m; c++)
                    at += *c == ',';
                ok = bad(w, list,
                         "entry %zu is not a key=value entry (percent-encoded; not shown: "
                         "header values may be credentials)",
                         at);
                break;
            }
            bool overridden = false;
            for (size_t i = 0; i < n_names; i++)
                overridden |= strlen(names[i]) == it.key.len &&
                              strncasecmp(names[i], it.key.p, it.key.len) == 0;
            if (!overridden) {
                if (out.len) dpt__buf_putc(&out, ',');
                dpt__buf_put(&out, it.m, it.ml);
            }
        }
        dpt__kvlist_free(&it);
        pop(w, m);
    }
    if (ok && out.oom) ok = bad(w, map, "out of memory");
    if (ok && out.len) ok = add_setting(w, x, map, "headers", out.p, out.len);
    dpt__buf_free(&out);
    return ok;
}

static bool otlp(walk *w, dpt__config_exporter *x, const dpt__node *e, bool grpc)
{
    static const char *const http_keys[] = {"endpoint",          "tls",
                                            "headers",           "headers_list",
                                            "compression",       "max_request_size",
                                            "max_response_size", "timeout",
                                            "encoding",          NULL};
    static const char *const grpc_keys[] = {"endpoint",          "tls",         "headers",
                                            "headers_list",      "compression", "max_request_size",
                                            "max_response_size", "timeout",     NULL};
    if (!want_map(w, e, true) || !known_keys(w, e, grpc ? grpc_keys : http_keys)) return false;
    snprintf(x->name, sizeof x->name, "otlp");
    x->settings_given = true;
    if (!str_setting(w, x, e, "endpoint", "endpoint")) return false;
    const dpt__node *enc = NULL, *comp = NULL;
    if (!grpc && get_str(w, e, "encoding", &enc) < 0) return false;
    const char *proto = grpc ? "grpc" : "http/protobuf";
    if (enc && strcmp(enc->s, "json") == 0)
        proto = "http/json";
    else if (enc && strcmp(enc->s, "protobuf") != 0) {
        size_t m = push_key(w, "encoding");
        bool r = bad(w, enc, "'%.40s' is not an encoding (protobuf, json)", enc->s);
        pop(w, m);
        return r;
    }
    if (!add_setting(w, x, e, "protocol", proto, strlen(proto))) return false;
    if (get_str(w, e, "compression", &comp) < 0) return false;
    if (comp && strcmp(comp->s, "gzip") != 0 && strcmp(comp->s, "none") != 0) {
        size_t m = push_key(w, "compression");
        bool r = bad(w, comp, "compression '%.40s' is not supported (gzip, none)", comp->s);
        pop(w, m);
        return r;
    }
    if (comp && !add_setting(w, x, comp, "compression", comp->s, comp->len)) return false;
    return int_setting(w, x, e, "timeout", 0, "timeout") &&
           int_setting(w, x, e, "max_request_size", 0, "max_request_size") &&
           int_setting(w, x, e, "max_response_size", 1, "max_response_size") &&
           tls(w, x, e, grpc) && headers(w, x, e);
}

/* A plugin exporter's properties, flattened into settings: scalars as their text, nested
 * mappings as dotted keys ("tls.ca_file"), sequences of scalars joined with ','. */
static bool flatten(walk *w, dpt__config_exporter *x, const dpt__node *n, char *key, size_t klen,
                    int depth)
{
    if (!visit(w, n)) return false;
    if (depth > 8) return bad(w, n, "plugin properties nested deeper than 8 levels");
    if (n->kind == DPT__N_SCALAR)
        return add_setting(w, x, n, key, n->type == DPT__S_NULL ? "" : n->s,
                           n->type == DPT__S_NULL ? 0 : n->len);
    if (n->kind == DPT__N_SEQ) {
        dpt__buf b;
        dpt__buf_init(&b);
        bool ok = true;
        for (size_t i = 0; ok && i < n->n; i++) {
            if (n->vals[i]->kind != DPT__N_SCALAR)
                ok = bad(w, n->vals[i], "plugin property lists hold scalars only");
            if (i) dpt__buf_putc(&b, ',');
            if (ok) dpt__buf_put(&b, n->vals[i]->s, n->vals[i]->len);
        }
        ok = ok && add_setting(w, x, n, key, b.p ? b.p : "", b.len);
        dpt__buf_free(&b);
        return ok;
    }
    for (size_t i = 0; i < n->n; i++) {
        int k = snprintf(key + klen, 128 - klen, "%s%s", klen ? "." : "", n->keys[i]);
        if (k < 0 || klen + (size_t)k >= 128)
            return bad(w, n->vals[i], "plugin property name too long");
        size_t m = push_key(w, n->keys[i]);
        bool ok = flatten(w, x, n->vals[i], key, klen + (size_t)k, depth + 1);
        pop(w, m);
        key[klen] = 0;
        if (!ok) return false;
    }
    return true;
}

/* SpanExporter: exactly one of otlp_http, otlp_grpc, otlp_file/development, console, or a
 * plugin: an exporter factory registered under that name (dpt_exporter_factory_register). */
static bool exporter(walk *w, const dpt__node *proc, bool simple, const dpt_batch_config *bsp)
{
    const dpt__node *e = dpt__node_get(proc, "exporter");
    size_t m = push_key(w, "exporter");
    bool ok = one_key(w, e, "exporter");
    if (ok && w->c->n_exporters == DPT__CONFIG_MAX_EXPORTERS)
        ok = bad(w, e, "more than %d processors", DPT__CONFIG_MAX_EXPORTERS);
    if (!ok) {
        pop(w, m);
        return false;
    }
    dpt__config_exporter *x = &w->c->exporters[w->c->n_exporters];
    memset(x, 0, sizeof *x);
    x->simple = simple;
    x->bsp = *bsp;
    x->settings_given = true;
    const char *kind = e->keys[0];
    const dpt__node *v = e->vals[0];
    size_t m2 = push_key(w, kind);
    if (strcmp(kind, "otlp_http") == 0 || strcmp(kind, "otlp_grpc") == 0) {
        ok = otlp(w, x, v, kind[5] == 'g');
    } else if (strcmp(kind, "console") == 0) {
        static const char *const none[] = {NULL};
        ok = want_map(w, v, true) && known_keys(w, v, none);
        snprintf(x->name, sizeof x->name, "console");
    } else if (strcmp(kind, "otlp_file/development") == 0) {
        static const char *const keys[] = {"output_stream", NULL};
        const dpt__node *os = NULL;
        ok = want_map(w, v, true) && known_keys(w, v, keys) &&
             get_str(w, v, "output_stream", &os) >= 0;
        /* "Values include stdout, or scheme+destination. For example:
         * file:///path/to/file.jsonl." Default: stdout. */
        if (ok && (!os || strcmp(os->s, "stdout") == 0)) {
            snprintf(x->name, sizeof x->name, "otlp/stdout");
        } else if (ok && strncmp(os->s, "file://", 7) == 0 && os->s[7] == '/') {
            snprintf(x->name, sizeof x->name, "file");
            ok = add_setting(w, x, os, "path", os->s + 7, os->len - 7);
        } else if (ok) {
            size_t m3 = push_key(w, "output_stream");
            ok = bad(w, os, "'%.60s' is not stdout or a file:///absolute/path", os->s);
            pop(w, m3);
        }
    } else if (strlen(kind) >= sizeof x->name) {
        ok = bad(w, v, "exporter name of %zu bytes is too long", strlen(kind));
    } else {
        /* A plugin: the factory registered under the name gets the properties. */
        snprintf(x->name, sizeof x->name, "%s", kind);
        char key[128] = "";
        ok = want_map(w, v, true) && (is_null(v) || flatten(w, x, v, key, 0, 0));
    }
    if (ok) snprintf(w->exporter_paths[w->c->n_exporters], DPT__CF_PATH_MAX, "%.159s", w->path);
    pop(w, m2);
    pop(w, m);
    if (ok) w->c->n_exporters++;
    return ok;
}

/* ---- tracer provider ----------------------------------------------------------------------- */

static bool processor(walk *w, const dpt__node *p)
{
    if (!one_key(w, p, "processor")) return false;
    const char *kind = p->keys[0];
    const dpt__node *v = p->vals[0];
    size_t m = push_key(w, kind);
    bool ok;
    dpt_batch_config bsp;
    dpt_batch_config_default(&bsp);
    if (strcmp(kind, "batch") == 0) {
        static const char *const keys[] = {"schedule_delay", "export_timeout",
                                           "max_queue_size", "max_export_batch_size",
                                           "exporter",       NULL};
        int64_t x;
        ok = want_map(w, v, false) && known_keys(w, v, keys) && require(w, v, "exporter");
        int r = ok ? get_int(w, v, "schedule_delay", 0, UINT32_MAX, &x) : -1;
        if (r == 1) bsp.schedule_delay_ms = (uint32_t)x;
        /* "A value of 0 indicates no limit (infinity)." */
        r = r >= 0 ? get_int(w, v, "export_timeout", 0, UINT32_MAX, &x) : -1;
        if (r == 1) bsp.export_timeout_ms = x ? (uint32_t)x : UINT32_MAX;
        r = r >= 0 ? get_int(w, v, "max_queue_size", 1, 1 << 30, &x) : -1;
        if (r == 1) bsp.max_queue_size = (uint32_t)x;
        r = r >= 0 ? get_int(w, v, "max_export_batch_size", 1, 1 << 30, &x) : -1;
        if (r == 1) bsp.max_export_batch_size = (uint32_t)x;
        ok = r >= 0;
        if (ok && bsp.max_export_batch_size > bsp.max_queue_size)
            ok = bad(w, dpt__node_get(v, "max_export_batch_size"),
                     "max_export_batch_size %u is larger than "
                     "max_queue_size %u",
                     bsp.max_export_batch_size, bsp.max_queue_size);
        ok = ok && exporter(w, v, false, &bsp);
    } else if (strcmp(kind, "simple") == 0) {
        static const char *const keys[] = {"exporter", NULL};
        ok = want_map(w, v, false) && known_keys(w, v, keys) && require(w, v, "exporter") &&
             exporter(w, v, true, &bsp);
    } else {
        ok = bad(w, v, "span processor '%s' is not known (batch, simple)", kind);
    }
    pop(w, m);
    return ok;
}

/* Sampler: one node of the sampler tree, written at *index. */
static bool sampler(walk *w, const dpt__node *n, int depth, int *index)
{
    if (!one_key(w, n, "sampler")) return false;
    if (depth > 8) return bad(w, n, "samplers nested deeper than 8 levels");
    if (w->c->n_samplers == DPT__CONFIG_MAX_SAMPLERS)
        return bad(w, n, "more than %d samplers", DPT__CONFIG_MAX_SAMPLERS);
    int me = (int)w->c->n_samplers++;
    *index = me;
    dpt__config_sampler *s = &w->c->samplers[me];
    s->kind = DPT__SAMPLE_ALWAYS_ON;
    s->arg = 1.0;
    for (int k = 0; k < 5; k++)
        s->d[k] = -1;
    const char *kind = n->keys[0];
    const dpt__node *v = n->vals[0];
    size_t m = push_key(w, kind);
    bool ok = true;
    static const char *const none[] = {NULL};
    static const char *const ratio[] = {"ratio", NULL};
    if (strcmp(kind, "always_on") == 0 || strcmp(kind, "always_off") == 0) {
        ok = want_map(w, v, true) && known_keys(w, v, none);
        s->kind = strcmp(kind, "always_on") == 0 ? DPT__SAMPLE_ALWAYS_ON : DPT__SAMPLE_ALWAYS_OFF;
    } else if (strcmp(kind, "trace_id_ratio_based") == 0 ||
               strcmp(kind, "probability/development") == 0) {
        /* "defaultBehavior: 1.0 is used" */
        ok = want_map(w, v, true) && known_keys(w, v, ratio) &&
             get_number(w, v, "ratio", 0.0, 1.0, &s->arg) >= 0;
        s->kind = kind[0] == 't' ? DPT__SAMPLE_TRACEIDRATIO : DPT__SAMPLE_PROBABILITY;
    } else if (strcmp(kind, "parent_based") == 0) {
        static const char *const keys[] = {"root",
                                           "remote_parent_sampled",
                                           "remote_parent_not_sampled",
                                           "local_parent_sampled",
                                           "local_parent_not_sampled",
                                           NULL};
        s->kind = DPT__SAMPLE_PARENT_BASED;
        ok = want_map(w, v, true) && known_keys(w, v, keys);
        for (int k = 0; ok && k < 5; k++) {
            const dpt__node *d = dpt__node_get(v, keys[k]);
            if (is_null(d)) continue; /* the specification's default for this delegate */
            size_t m2 = push_key(w, keys[k]);
            int idx;
            ok = sampler(w, d, depth + 1, &idx);
            w->c->samplers[me].d[k] = idx; /* s may have moved: index again */
            pop(w, m2);
        }
    } else if (strcmp(kind, "always_record") == 0) {
        static const char *const keys[] = {"root", NULL};
        s->kind = DPT__SAMPLE_ALWAYS_RECORD;
        ok = want_map(w, v, false) && known_keys(w, v, keys) && require(w, v, "root");
        if (ok) {
            size_t m2 = push_key(w, "root");
            int idx;
            ok = sampler(w, dpt__node_get(v, "root"), depth + 1, &idx);
            w->c->samplers[me].d[0] = idx;
            pop(w, m2);
        }
    } else if (strcmp(kind, "rate_limiting") == 0) {
        /* dptrace's own sampler, as a plugin name: at most per_second root spans a second. */
        static const char *const keys[] = {"per_second", NULL};
        s->kind = DPT__SAMPLE_RATELIMITING;
        s->arg = 100.0;
        ok = want_map(w, v, true) && known_keys(w, v, keys) &&
             get_number(w, v, "per_second", 1e-9, 1e9, &s->arg) >= 0;
    } else if (strcmp(kind, "composite/development") == 0 ||
               strcmp(kind, "jaeger_remote/development") == 0) {
        ok = bad(w, v, "sampler '%s' is not supported by dptrace", kind);
    } else {
        ok = bad(w, v,
                 "sampler '%s' is not known (always_on, always_off, always_record, parent_based, "
                 "trace_id_ratio_based, probability/development, rate_limiting)",
                 kind);
    }
    pop(w, m);
    return ok;
}

/* SpanLimits over the general attribute_limits already read. */
static bool span_limits(walk *w, const dpt__node *l)
{
    static const char *const keys[] = {"attribute_value_length_limit",
                                       "attribute_value_depth_limit",
                                       "attribute_count_limit",
                                       "event_count_limit",
                                       "link_count_limit",
                                       "event_attribute_count_limit",
                                       "link_attribute_count_limit",
                                       NULL};
    if (!want_map(w, l, true) || !known_keys(w, l, keys)) return false;
    dpt_span_limits *s = &w->c->limits;
    int64_t x;
    int r;
    if ((r = get_int(w, l, "attribute_value_length_limit", 0, INT32_MAX, &x)) < 0) return false;
    if (r == 1) {
        if (x == 0) {
            size_t m = push_key(w, "attribute_value_length_limit");
            bool b =
                bad(w, dpt__node_get(l, "attribute_value_length_limit"),
                    "0 is not supported (it would empty every value; dptrace reads 0 as no limit "
                    "in its API): leave it out for no limit");
            pop(w, m);
            return b;
        }
        s->attr_value_len = (uint32_t)x;
    }
    if (get_int(w, l, "attribute_value_depth_limit", 1, INT32_MAX, &x) < 0) return false;
    /* dptrace values are scalars and flat arrays (depth 2 at most): any limit >= 2 holds. */
    if ((r = get_int(w, l, "attribute_count_limit", 0, INT32_MAX, &x)) < 0) return false;
    if (r == 1) s->attr_count = (uint32_t)x;
    if ((r = get_int(w, l, "event_count_limit", 0, INT32_MAX, &x)) < 0) return false;
    if (r == 1) s->event_count = (uint32_t)x;
    if ((r = get_int(w, l, "link_count_limit", 0, INT32_MAX, &x)) < 0) return false;
    if (r == 1) s->link_count = (uint32_t)x;
    if ((r = get_int(w, l, "event_attribute_count_limit", 0, INT32_MAX, &x)) < 0) return false;
    if (r == 1) s->attrs_per_event = (uint32_t)x;
    if ((r = get_int(w, l, "link_attribute_count_limit", 0, INT32_MAX, &x)) < 0) return false;
    if (r == 1) s->attrs_per_link = (uint32_t)x;
    return true;
}

static bool tracer_provider(walk *w, const dpt__node *tp)
{
    static const char *const keys[] = {
        "processors", "limits", "sampler", "id_generator", "tracer_configurator/development", NULL};
    if (!want_map(w, tp, false) || !known_keys(w, tp, keys) || !require(w, tp, "processors"))
        return false;
    const dpt__node *ps = dpt__node_get(tp, "processors");
    size_t m = push_key(w, "processors");
    char d[80];
    bool ok = true;
    if (ps->kind != DPT__N_SEQ || ps->n == 0)
        ok = bad(w, ps, "expected a non-empty sequence of processors, got %s",
                 describe(ps, d, sizeof d));
    for (size_t i = 0; ok && i < ps->n; i++) {
        size_t m2 = push_index(w, i);
        ok = processor(w, ps->vals[i]);
        pop(w, m2);
    }
    pop(w, m);
    if (!ok) return false;
    const dpt__node *l = dpt__node_get(tp, "limits");
    if (!is_null(l)) {
        m = push_key(w, "limits");
        ok = span_limits(w, l);
        pop(w, m);
        if (!ok) return false;
    }
    const dpt__node *s = dpt__node_get(tp, "sampler");
    if (!is_null(s)) {
        m = push_key(w, "sampler");
        int idx;
        ok = sampler(w, s, 0, &idx);
        pop(w, m);
        if (!ok) return false;
    }
    const dpt__node *ig = dpt__node_get(tp, "id_generator");
    if (!is_null(ig)) {
        m = push_key(w, "id_generator");
        ok = one_key(w, ig, "id generator");
        if (ok) {
            size_t m2 = push_key(w, ig->keys[0]);
            static const char *const none[] = {NULL};
            if (strcmp(ig->keys[0], "random") != 0 && strcmp(ig->keys[0], "xray") != 0)
                ok = bad(w, ig->vals[0], "id generator '%s' is not known (random, xray)",
                         ig->keys[0]);
            else
                ok = want_map(w, ig->vals[0], true) && known_keys(w, ig->vals[0], none);
            if (ok) w->c->id_generator = strcmp(ig->keys[0], "xray") == 0 ? "xray" : NULL;
            pop(w, m2);
        }
        pop(w, m);
        if (!ok) return false;
    }
    const dpt__node *tc = dpt__node_get(tp, "tracer_configurator/development");
    if (tc) {
        m = push_key(w, "tracer_configurator/development");
        ok = bad(w, tc, "the tracer configurator is not supported by dptrace");
        pop(w, m);
        return ok;
    }
    return true;
}

/* ---- resource -------------------------------------------------------------------------------- */

/* One AttributeNameValue into the model's resource list. */
static bool resource_attr(walk *w, const dpt__node *e)
{
    static const char *const keys[] = {"name", "value", "type", NULL};
    static const char *const types[] = {"string",    "bool",         "int",
                                        "double",    "string_array", "bool_array",
                                        "int_array", "double_array", NULL};
    const dpt__node *name = NULL, *type = NULL;
    if (!want_map(w, e, false) || !known_keys(w, e, keys) || !require(w, e, "name") ||
        !require(w, e, "value") || get_str(w, e, "name", &name) < 0 ||
        get_str(w, e, "type", &type) < 0)
        return false;
    if (!name || !name->len) return bad(w, e, "'name' must be a non-empty string");
    int t = 0;
    if (type) {
        for (t = 0; types[t] && strcmp(types[t], type->s) != 0; t++) {
        }
        if (!types[t]) {
            size_t m = push_key(w, "type");
            bool r =
                bad(w, type,
                    "'%.40s' is not an attribute type (string, bool, int, double, string_array, "
                    "bool_array, int_array, double_array)",
                    type->s);
            pop(w, m);
            return r;
        }
    }
    const dpt__node *v = dpt__node_get(e, "value");
    if (is_null(v)) return true; /* "nullBehavior: the entry is ignored" */
    if (w->c->n_resource == DPT__CONFIG_MAX_RESOURCE)
        return bad(w, e, "more than %d resource attributes", DPT__CONFIG_MAX_RESOURCE);
    size_t m = push_key(w, "value");
    char d[80];
    bool array = t >= 4;
    int scalar_t = array ? t - 4 : t; /* 0 string, 1 bool, 2 int, 3 double */
    static const char *const want[] = {"a string", "a boolean", "an integer", "a number"};
    const dpt__node *const *items = array ? (const dpt__node *const *)v->vals : &v;
    size_t n = array ? v->n : 1;
    bool ok = true;
    if (array && (v->kind != DPT__N_SEQ || v->n == 0))
        ok = bad(w, v, "type %s wants a non-empty sequence, got %s", types[t],
                 describe(v, d, sizeof d));
    for (size_t i = 0; ok && i < n; i++) {
        const dpt__node *it = items[i];
        bool match = it->kind == DPT__N_SCALAR &&
                     ((scalar_t == 0 && it->type == DPT__S_STR) ||
                      (scalar_t == 1 && it->type == DPT__S_BOOL) ||
                      (scalar_t == 2 && it->type == DPT__S_INT) ||
                      (scalar_t == 3 && (it->type == DPT__S_INT || it->type == DPT__S_FLOAT)));
        if (!match) {
            size_t m2 = array ? push_index(w, i) : w->plen;
            ok = bad(w, it, "type %s wants %s%s, got %s", types[t], want[scalar_t],
                     array ? " in each element" : "", describe(it, d, sizeof d));
            pop(w, m2);
        }
        if (ok && scalar_t == 0 && memchr(it->s, 0, it->len))
            ok = bad(w, it, "the string contains a NUL byte");
    }
    pop(w, m);
    if (!ok) return false;
    dpt_attr *a = &w->c->resource[w->c->n_resource];
    memset(a, 0, sizeof *a);
    a->key = keep(w, name, name->s, name->len);
    a->key_len = DPT_NUL;
    if (!a->key) return false;
    if (!array) {
        switch (scalar_t) {
        case 0:
            a->value.type = DPT_VAL_STRING;
            a->value.u.s = keep(w, v, v->s, v->len);
            a->value.len = (uint32_t)v->len;
            if (!a->value.u.s) return false;
            break;
        case 1:
            a->value.type = DPT_VAL_BOOL, a->value.u.b = v->b;
            break;
        case 2:
            a->value.type = DPT_VAL_INT, a->value.u.i = v->i;
            break;
        default:
            a->value.type = DPT_VAL_DOUBLE, a->value.u.d = v->d;
            break;
        }
    } else {
        static const size_t size[] = {sizeof(char *), sizeof(bool), sizeof(int64_t),
                                      sizeof(double)};
        static const uint32_t vt[] = {DPT_VAL_STRING_ARRAY, DPT_VAL_BOOL_ARRAY, DPT_VAL_INT_ARRAY,
                                      DPT_VAL_DOUBLE_ARRAY};
        void *arr = dpt__config_alloc(w->c, size[scalar_t] * n);
        if (!arr) return bad(w, v, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const dpt__node *it = items[i];
            switch (scalar_t) {
            case 0:
                if (!(((const char **)arr)[i] = keep(w, it, it->s, it->len))) return false;
                break;
            case 1:
                ((bool *)arr)[i] = it->b;
                break;
            case 2:
                ((int64_t *)arr)[i] = it->i;
                break;
            default:
                ((double *)arr)[i] = it->d;
                break;
            }
        }
        a->value.type = vt[scalar_t];
        a->value.len = (uint32_t)n;
        a->value.u.ia = arr;
    }
    w->c->n_resource++;
    return true;
}

/* A list of strings (minItems 1) into out[] (at most DPT__CONFIG_MAX_PATTERNS). */
static bool patterns(walk *w, const dpt__node *map, const char *key, const char **out, size_t *n)
{
    const dpt__node *l = dpt__node_get(map, key);
    if (is_null(l)) return true;
    size_t m = push_key(w, key);
    char d[80];
    bool ok = true;
    if (l->kind != DPT__N_SEQ || l->n == 0)
        ok =
            bad(w, l, "expected a non-empty sequence of strings, got %s", describe(l, d, sizeof d));
    else if (l->n > DPT__CONFIG_MAX_PATTERNS)
        ok = bad(w, l, "more than %d patterns", DPT__CONFIG_MAX_PATTERNS);
    for (size_t i = 0; ok && i < l->n; i++) {
        const dpt__node *it = l->vals[i];
        if (it->kind != DPT__N_SCALAR || it->type != DPT__S_STR) {
            size_t m2 = push_index(w, i);
            ok = bad(w, it, "expected a string, got %s", describe(it, d, sizeof d));
            pop(w, m2);
        } else {
            ok = (out[(*n)++] = keep(w, it, it->s, it->len)) != NULL;
        }
    }
    pop(w, m);
    return ok;
}

static bool detection(walk *w, const dpt__node *det)
{
    static const char *const keys[] = {"attributes", "detectors", NULL};
    static const char *const ie[] = {"included", "excluded", NULL};
    if (!want_map(w, det, false) || !known_keys(w, det, keys)) return false;
    const dpt__node *at = dpt__node_get(det, "attributes");
    if (!is_null(at)) {
        size_t m = push_key(w, "attributes");
        bool ok = want_map(w, at, false) && known_keys(w, at, ie) &&
                  patterns(w, at, "included", w->c->detect_include, &w->c->n_detect_include) &&
                  patterns(w, at, "excluded", w->c->detect_exclude, &w->c->n_detect_exclude);
        pop(w, m);
        if (!ok) return false;
    }
    const dpt__node *ds = dpt__node_get(det, "detectors");
    if (is_null(ds)) return true; /* "no resource detectors are enabled" */
    size_t m = push_key(w, "detectors");
    char d[80];
    bool ok = true;
    dpt__buf list;
    dpt__buf_init(&list);
    if (ds->kind != DPT__N_SEQ || ds->n == 0)
        ok = bad(w, ds, "expected a non-empty sequence of detectors, got %s",
                 describe(ds, d, sizeof d));
    for (size_t i = 0; ok && i < ds->n; i++) {
        size_t m2 = push_index(w, i);
        static const char *const none[] = {NULL};
        ok = one_key(w, ds->vals[i], "detector");
        if (ok) {
            size_t m3 = push_key(w, ds->vals[i]->keys[0]);
            ok = want_map(w, ds->vals[i]->vals[0], true) &&
                 known_keys(w, ds->vals[i]->vals[0], none);
            pop(w, m3);
        }
        if (ok) {
            if (list.len) dpt__buf_putc(&list, ',');
            dpt__buf_puts(&list, ds->vals[i]->keys[0]);
        }
        pop(w, m2);
    }
    pop(w, m);
    if (ok && list.oom) ok = bad(w, ds, "out of memory");
    if (ok && list.len) ok = (w->c->detectors = keep(w, ds, list.p, list.len)) != NULL;
    dpt__buf_free(&list);
    return ok;
}

static bool resource(walk *w, const dpt__node *r)
{
    static const char *const keys[] = {"attributes", "detection/development", "schema_url",
                                       "attributes_list", NULL};
    if (!want_map(w, r, true) || !known_keys(w, r, keys)) return false;
    const dpt__node *as = dpt__node_get(r, "attributes");
    if (!is_null(as)) {
        size_t m = push_key(w, "attributes");
        char d[80];
        bool ok = true;
        if (as->kind != DPT__N_SEQ || as->n == 0)
            ok = bad(w, as, "expected a non-empty sequence of attributes, got %s",
                     describe(as, d, sizeof d));
        for (size_t i = 0; ok && i < as->n; i++) {
            size_t m2 = push_index(w, i);
            ok = resource_attr(w, as->vals[i]);
            pop(w, m2);
        }
        pop(w, m);
        if (!ok) return false;
    }
    const dpt__node *list = NULL, *url = NULL;
    if (get_str(w, r, "attributes_list", &list) < 0 || get_str(w, r, "schema_url", &url) < 0)
        return false;
    if (list && !(w->c->resource_list = keep(w, list, list->s, list->len))) return false;
    if (url && !(w->c->schema_url = keep(w, url, url->s, url->len))) return false;
    const dpt__node *det = dpt__node_get(r, "detection/development");
    if (!is_null(det)) {
        size_t m = push_key(w, "detection/development");
        bool ok = detection(w, det);
        pop(w, m);
        if (!ok) return false;
    }
    return true;
}

/* ---- propagator -------------------------------------------------------------------------------
 */

/* Whether dptrace has a propagator of this name, built in or registered. */
static bool known_propagator(const char *name)
{
    return dpt_propagator_get(name) != NULL;
}

static bool add_name(walk *w, dpt__buf *list, const char *name, size_t n, const dpt__node *at)
{
    if (n == 0 || n > 64)
        return bad(w, at, "'%.*s' is not a propagator name", (int)(n > 64 ? 64 : n), name);
    char nm[65];
    memcpy(nm, name, n);
    nm[n] = 0;
    if (strpbrk(nm, ", \t") || !known_propagator(nm))
        return bad(
            w, at,
            "propagator '%s' is not known to dptrace (tracecontext, baggage, b3, b3multi, jaeger, "
            "ottrace, none, or one registered with dpt_propagator_register)",
            nm);
    /* "Entries from .composite_list are appended to the list here with duplicates filtered
     * out." */
    for (const char *p = list->p; p && p < list->p + list->len;) {
        const char *comma = memchr(p, ',', (size_t)(list->p + list->len - p));
        size_t l = comma ? (size_t)(comma - p) : (size_t)(list->p + list->len - p);
        if (l == n && memcmp(p, name, n) == 0) return true;
        p = comma ? comma + 1 : NULL;
    }
    if (list->len) dpt__buf_putc(list, ',');
    dpt__buf_put(list, name, n);
    return true;
}

static bool propagator(walk *w, const dpt__node *p)
{
    static const char *const keys[] = {"composite", "composite_list", NULL};
    if (!want_map(w, p, true) || !known_keys(w, p, keys)) return false;
    dpt__buf list;
    dpt__buf_init(&list);
    bool ok = true;
    const dpt__node *comp = dpt__node_get(p, "composite");
    if (!is_null(comp)) {
        size_t m = push_key(w, "composite");
        char d[80];
        if (comp->kind != DPT__N_SEQ || comp->n == 0)
            ok = bad(w, comp, "expected a non-empty sequence of propagators, got %s",
                     describe(comp, d, sizeof d));
        for (size_t i = 0; ok && i < comp->n; i++) {
            size_t m2 = push_index(w, i);
            static const char *const none[] = {NULL};
            ok = one_key(w, comp->vals[i], "propagator");
            if (ok) {
                size_t m3 = push_key(w, comp->vals[i]->keys[0]);
                ok = want_map(w, comp->vals[i]->vals[0], true) &&
                     known_keys(w, comp->vals[i]->vals[0], none) &&
                     add_name(w, &list, comp->vals[i]->keys[0], strlen(comp->vals[i]->keys[0]),
                              comp->vals[i]);
                pop(w, m3);
            }
            pop(w, m2);
        }
        pop(w, m);
    }
    const dpt__node *cl = NULL;
    if (ok && get_str(w, p, "composite_list", &cl) < 0) ok = false;
    if (ok && cl) {
        size_t m = push_key(w, "composite_list");
        for (const char *s = cl->s; ok && *s;) {
            const char *comma = strchr(s, ',');
            const char *name = s;
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            dpt__trim_ows(&name, &n);
            if (n) ok = add_name(w, &list, name, n, cl);
            if (!comma) break;
            s = comma + 1;
        }
        pop(w, m);
    }
    if (ok && list.oom) ok = bad(w, p, "out of memory");
    /* Neither composite nor composite_list: "a noop propagator is used". */
    if (ok)
        ok = (w->c->propagators =
                  keep(w, p, list.len ? list.p : "none", list.len ? list.len : 4)) != NULL;
    dpt__buf_free(&list);
    return ok;
}

/* ---- the document -----------------------------------------------------------------------------
 */

static bool file_format(walk *w, const dpt__node *root)
{
    const dpt__node *ff = NULL;
    if (!require(w, root, "file_format") || get_str(w, root, "file_format", &ff) < 0) return false;
    size_t m = push_key(w, "file_format");
    bool ok = true;
    if (!ff) {
        ok = bad(w, dpt__node_get(root, "file_format"),
                 "file_format must be a string such as \"%s\"", DPT_CONFIG_FILE_FORMAT);
    } else {
        /* "MAJOR.MINOR" with an optional meta tag ("1.0-rc.2"). */
        char *end;
        long major = strtol(ff->s, &end, 10);
        long minor = *end == '.' ? strtol(end + 1, &end, 10) : -1;
        if (end == ff->s || minor < 0 || (*end && *end != '-'))
            ok = bad(w, ff, "'%.40s' is not a file format version (MAJOR.MINOR, e.g. \"%s\")",
                     ff->s, DPT_CONFIG_FILE_FORMAT);
        else if (major != 1)
            ok = bad(w, ff,
                     "file_format %.40s is not supported: dptrace reads major version 1 (up to %s)",
                     ff->s, DPT_CONFIG_FILE_FORMAT);
        else if (minor > 1)
            dpt__log(
                DPT_LOG_WARN,
                "configuration file_format %.40s is newer than %s: properties dptrace does not "
                "know are rejected as unknown keys",
                ff->s, DPT_CONFIG_FILE_FORMAT);
    }
    pop(w, m);
    return ok;
}

static int severity(const char *s)
{
    static const struct {
        const char *prefix;
        int level;
    } map[] = {{"trace", DPT_LOG_DEBUG}, {"debug", DPT_LOG_DEBUG}, {"info", DPT_LOG_INFO},
               {"warn", DPT_LOG_WARN},   {"error", DPT_LOG_ERROR}, {"fatal", DPT_LOG_ERROR}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i].prefix);
        /* trace, trace2 .. trace4, and so on (SeverityNumber). */
        if (strncmp(s, map[i].prefix, n) == 0 &&
            (!s[n] || (s[n] >= '2' && s[n] <= '4' && !s[n + 1])))
            return map[i].level;
    }
    return -1;
}

static bool distribution(walk *w, const dpt__node *d)
{
    static const char *const keys[] = {"shutdown_at_exit", "max_span_bytes", NULL};
    if (!want_map(w, d, false)) return false;
    const dpt__node *ours = dpt__node_get(d, "dptrace");
    if (is_null(ours)) return true; /* other distributions' settings are theirs */
    size_t m = push_key(w, "dptrace");
    int64_t x = 0;
    int r;
    bool ok = want_map(w, ours, false) && known_keys(w, ours, keys) &&
              get_bool(w, ours, "shutdown_at_exit", &w->c->shutdown_at_exit) >= 0 &&
              (r = get_int(w, ours, "max_span_bytes", 1024, INT32_MAX, &x)) >= 0;
    if (ok && r == 1) w->c->limits.max_span_bytes = (uint32_t)x;
    pop(w, m);
    return ok;
}

bool dpt__model_from_tree(const dpt__node *root, dpt__config *c,
                          char (*exporter_paths)[DPT__CF_PATH_MAX], dpt_config_error *err)
{
    walk w = {.c = c, .exporter_paths = exporter_paths, .err = err};
    c->strict = true;
    c->shutdown_at_exit = true;
    if (!root) return bad(&w, NULL, "the document is empty ('file_format' is required)");
    if (!want_map(&w, root, false)) return false;
    if (!file_format(&w, root)) return false;
    static const char *const known[] = {"file_format",     "disabled",
                                        "log_level",       "attribute_limits",
                                        "logger_provider", "meter_provider",
                                        "propagator",      "tracer_provider",
                                        "resource",        "instrumentation/development",
                                        "distribution",    NULL};
    for (size_t i = 0; i < root->n; i++) {
        const char *const *k;
        for (k = known; *k && strcmp(*k, root->keys[i]) != 0; k++) {
        }
        /* The schema leaves the top level open (additionalProperties: true). */
        if (!*k)
            dpt__log(
                DPT_LOG_WARN,
                "configuration: top-level key '%s' (line %u) is not part of the schema dptrace "
                "knows; ignored",
                root->keys[i], root->vals[i]->line);
    }
    bool disabled = false;
    if (get_bool(&w, root, "disabled", &disabled) < 0) return false;
    c->disabled = disabled;
    const dpt__node *ll = NULL;
    if (get_str(&w, root, "log_level", &ll) < 0) return false;
    if (ll && (c->log_level = severity(ll->s)) < 0) {
        size_t m = push_key(&w, "log_level");
        bool r = bad(&w, ll,
                     "'%.40s' is not a severity (trace, debug, info, warn, error, fatal, or one of "
                     "them followed by 2, 3 or 4)",
                     ll->s);
        pop(&w, m);
        return r;
    }
    /* attribute_limits: the general limits; tracer_provider.limits override them. */
    const dpt__node *al = dpt__node_get(root, "attribute_limits");
    if (!is_null(al)) {
        static const char *const keys[] = {"attribute_value_length_limit",
                                           "attribute_value_depth_limit", "attribute_count_limit",
                                           NULL};
        size_t m = push_key(&w, "attribute_limits");
        int64_t x;
        int r;
        bool ok = want_map(&w, al, false) && known_keys(&w, al, keys) &&
                  (r = get_int(&w, al, "attribute_count_limit", 0, INT32_MAX, &x)) >= 0;
        if (ok && r == 1)
            c->limits.attr_count = c->limits.attrs_per_event = c->limits.attrs_per_link =
                (uint32_t)x;
        ok = ok && (r = get_int(&w, al, "attribute_value_length_limit", 0, INT32_MAX, &x)) >= 0;
        if (ok && r == 1 && x == 0)
            ok = bad(&w, dpt__node_get(al, "attribute_value_length_limit"),
                     "0 is not supported (it would empty every value): leave it out for no limit");
        if (ok && r == 1) c->limits.attr_value_len = (uint32_t)x;
        ok = ok && get_int(&w, al, "attribute_value_depth_limit", 1, INT32_MAX, &x) >= 0;
        pop(&w, m);
        if (!ok) return false;
    }
    static const char *const ignored[] = {"logger_provider", "meter_provider",
                                          "instrumentation/development"};
    for (size_t i = 0; i < 3; i++)
        if (dpt__node_get(root, ignored[i]))
            dpt__log(DPT_LOG_INFO, "configuration: %s is not read (dptrace is a traces-only SDK)",
                     ignored[i]);
    const dpt__node *res = dpt__node_get(root, "resource");
    if (!is_null(res)) {
        size_t m = push_key(&w, "resource");
        bool ok = resource(&w, res);
        pop(&w, m);
        if (!ok) return false;
    }
    /* "propagator [...] defaultBehavior: a noop propagator is used". */
    const dpt__node *p = dpt__node_get(root, "propagator");
    size_t m = push_key(&w, "propagator");
    bool ok = is_null(p) ? (c->propagators = "none") != NULL : propagator(&w, p);
    pop(&w, m);
    if (!ok) return false;
    const dpt__node *tp = dpt__node_get(root, "tracer_provider");
    if (is_null(tp)) {
        /* "tracer_provider [...] defaultBehavior: a noop tracer provider is used". */
        dpt__log(DPT_LOG_INFO, "configuration: no tracer_provider, so tracing is off");
        c->disabled = true;
    } else {
        m = push_key(&w, "tracer_provider");
        ok = tracer_provider(&w, tp);
        pop(&w, m);
        if (!ok) return false;
    }
    const dpt__node *dist = dpt__node_get(root, "distribution");
    if (!is_null(dist)) {
        m = push_key(&w, "distribution");
        ok = distribution(&w, dist);
        pop(&w, m);
        if (!ok) return false;
    }
    return true;
}
