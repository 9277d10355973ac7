/* tree.c - a YAML configuration file read with libyaml's event parser into a small tree:
 * mappings, sequences and scalars, each with its position for error messages.
 *
 * What the configuration data model asks of the parser happens here: environment variable
 * substitution in scalar values (never in keys), before the values are typed; values typed
 * by the YAML 1.2 core schema (configuration/data-model.md: "YAML configuration files
 * SHOULD be parsed using v1.2 YAML core schema"), where a quoted value is always a string.
 * What a hostile file could do is bounded: the file size, the nesting depth, the number of
 * nodes and the length of a value. Aliases share the anchored node instead of copying it,
 * and an anchor is known only once its node is complete, so an alias can never point at
 * one of its own ancestors (no cycles); the schema walk bounds the expansion.
 */
#include "tree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

/* ---- arena ----------------------------------------------------------------------------- */

typedef struct blk {
    struct blk *next;
    size_t used, cap;
    _Alignas(16) char data[];
} blk;

static void *arena_alloc(void **arena, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    blk *b = *arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        blk *nb = dpt__malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->used = 0;
        nb->cap = cap;
        /* A big block goes behind the current one, so the current one keeps filling. */
        if (b && n > 16384) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            *arena = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(void *arena)
{
    for (blk *b = arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
}

static char *arena_str(void **arena, const char *s, size_t n)
{
    char *d = arena_alloc(arena, n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* ---- core schema typing ----------------------------------------------------------------- */

static bool is_digits(const char *s, size_t n, int base)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = base == 8 ? (c >= '0' && c <= '7')
                  : base == 16
                      ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                      : (c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static bool one_of(const char *s, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0) return true;
    return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int_digits = i - d0, frac_digits = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        frac_digits = i - f0;
    }
    if (!int_digits && !frac_digits) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0) return false;
    }
    return i == n;
}

/* Types a plain scalar s[0..n) by the YAML 1.2 core schema (tag resolution table). */
static void type_plain(dpt__node *nd)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *s = nd->s;
    size_t n = nd->len;
    nd->type = DPT__S_STR;
    if (one_of(s, n, nulls)) {
        nd->type = DPT__S_NULL;
    } else if (one_of(s, n, trues) || one_of(s, n, falses)) {
        nd->type = DPT__S_BOOL;
        nd->b = s[0] == 't' || s[0] == 'T';
    } else if ((n > 2 && s[0] == '0' && s[1] == 'o' && is_digits(s + 2, n - 2, 8)) ||
               (n > 2 && s[0] == '0' && s[1] == 'x' && is_digits(s + 2, n - 2, 16)) ||
               is_digits(s + (s[0] == '-' || s[0] == '+'), n - (s[0] == '-' || s[0] == '+'), 10)) {
        int base = s[1] == 'o' ? 8 : s[1] == 'x' ? 16 : 10;
        const char *p = base == 10 ? s : s + 2;
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, base);
        if (errno == ERANGE) { /* an integer, but not one we can hold: typed as a float */
            nd->type = DPT__S_FLOAT;
            nd->d = base == 10 ? strtod(s, NULL) : INFINITY;
        } else {
            nd->type = DPT__S_INT;
            nd->i = v;
            nd->d = (double)v;
        }
    } else if (is_float(s, n)) {
        nd->type = DPT__S_FLOAT;
        nd->d = strtod(s, NULL);
    } else if (one_of(s, n, infs)) {
        nd->type = DPT__S_FLOAT;
        nd->d = INFINITY;
    } else if (one_of(s, n, ninfs)) {
        nd->type = DPT__S_FLOAT;
        nd->d = -INFINITY;
    } else if (one_of(s, n, nans)) {
        nd->type = DPT__S_FLOAT;
        nd->d = NAN;
    }
}

/* ---- building the tree ---------------------------------------------------------------- */

typedef struct anchor {
    const char *name;
    dpt__node *node;
} anchor;

typedef struct builder {
    yaml_parser_t p;
    const char *(*getenv_fn)(const char *);
    dpt__tree_error *err;
    void **arena;
    size_t nodes;
    anchor *anchors;
    size_t n_anchors, cap_anchors;
    dpt__buf tmp;
} builder;

static dpt_err fail(builder *b, dpt_err e, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dpt_err fail(builder *b, dpt_err e, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err->msg, sizeof b->err->msg, fmt, ap);
    va_end(ap);
    b->err->line = m ? (uint32_t)m->line + 1 : 0;
    b->err->col = m ? (uint32_t)m->column + 1 : 0;
    return e;
}

static dpt_err next_event(builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->p, ev)) return DPT_OK;
    if (b->p.error == YAML_MEMORY_ERROR) return fail(b, DPT_ENOMEM, NULL, "out of memory");
    return fail(b, DPT_EPARSE, &b->p.problem_mark, "YAML: %s%s%s",
                b->p.problem ? b->p.problem : "syntax error", b->p.context ? " " : "",
                b->p.context ? b->p.context : "");
}

static dpt__node *new_node(builder *b, dpt__node_kind kind, const yaml_mark_t *m)
{
    if (++b->nodes > DPT__CF_MAX_NODES) return NULL;
    dpt__node *nd = arena_alloc(b->arena, sizeof *nd);
    if (!nd) return NULL;
    nd->kind = kind;
    nd->line = (uint32_t)m->line + 1;
    nd->col = (uint32_t)m->column + 1;
    return nd;
}

static dpt_err node_error(builder *b, const yaml_mark_t *m)
{
    if (b->nodes > DPT__CF_MAX_NODES)
        return fail(b, DPT_ETOOBIG, m, "more than %d nodes in the document", DPT__CF_MAX_NODES);
    return fail(b, DPT_ENOMEM, m, "out of memory");
}

static dpt_err add_anchor(builder *b, const yaml_char_t *name, dpt__node *nd, const yaml_mark_t *m)
{
    if (!name) return DPT_OK;
    if (b->n_anchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 16;
        anchor *na = dpt__realloc(b->anchors, cap * sizeof *na);
        if (!na) return fail(b, DPT_ENOMEM, m, "out of memory");
        b->anchors = na;
        b->cap_anchors = cap;
    }
    const char *s = arena_str(b->arena, (const char *)name, strlen((const char *)name));
    if (!s) return fail(b, DPT_ENOMEM, m, "out of memory");
    /* A later anchor of the same name replaces the earlier one (YAML: "the most recent"). */
    b->anchors[b->n_anchors++] = (anchor){s, nd};
    return DPT_OK;
}

static dpt_err scalar_node(builder *b, const yaml_event_t *ev, dpt__node **out)
{
    const char *raw = (const char *)ev->data.scalar.value;
    size_t raw_len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
                 ev->data.scalar.style == YAML_ANY_SCALAR_STYLE;
    enum { T_AUTO, T_STR, T_CHECK } how = plain ? T_AUTO : T_STR;
    if (tag) {
        if (strcmp(tag, "!") == 0 || strcmp(tag, "tag:yaml.org,2002:str") == 0)
            how = T_STR;
        else if (strcmp(tag, "tag:yaml.org,2002:int") == 0 ||
                 strcmp(tag, "tag:yaml.org,2002:float") == 0 ||
                 strcmp(tag, "tag:yaml.org,2002:bool") == 0 ||
                 strcmp(tag, "tag:yaml.org,2002:null") == 0)
            how = T_CHECK;
        else
            return fail(b, DPT_EPARSE, &ev->start_mark, "tag %s is not supported", tag);
    }
    b->tmp.len = 0;
    b->tmp.oom = false;
    char msg[200] = "";
    dpt_err e = dpt__subst(raw, raw_len, b->getenv_fn, &b->tmp, msg, sizeof msg);
    if (e == DPT_ENOMEM) return fail(b, e, &ev->start_mark, "out of memory");
    if (e != DPT_OK) return fail(b, e, &ev->start_mark, "%s", msg);
    if (b->tmp.len > DPT__CF_MAX_SCALAR)
        return fail(b, DPT_ETOOBIG, &ev->start_mark,
                    "a value of %zu bytes (after substitution) is longer "
                    "than %u",
                    b->tmp.len, DPT__CF_MAX_SCALAR);
    dpt__node *nd = new_node(b, DPT__N_SCALAR, &ev->start_mark);
    if (!nd) return node_error(b, &ev->start_mark);
    nd->s = arena_str(b->arena, b->tmp.p ? b->tmp.p : "", b->tmp.len);
    if (!nd->s) return fail(b, DPT_ENOMEM, &ev->start_mark, "out of memory");
    nd->len = b->tmp.len;
    nd->type = DPT__S_STR;
    if (how != T_STR) type_plain(nd);
    if (how == T_CHECK) {
        const char *want = tag + strlen("tag:yaml.org,2002:");
        bool ok =
            (strcmp(want, "int") == 0 && nd->type == DPT__S_INT) ||
            (strcmp(want, "float") == 0 && (nd->type == DPT__S_FLOAT || nd->type == DPT__S_INT)) ||
            (strcmp(want, "bool") == 0 && nd->type == DPT__S_BOOL) ||
            (strcmp(want, "null") == 0 && nd->type == DPT__S_NULL);
        if (!ok)
            return fail(b, DPT_EPARSE, &ev->start_mark, "'%.40s' is not a valid !!%s", nd->s, want);
        if (nd->type == DPT__S_INT && strcmp(want, "float") == 0) nd->type = DPT__S_FLOAT;
    }
    *out = nd;
    return add_anchor(b, ev->data.scalar.anchor, nd, &ev->start_mark);
}

static dpt_err build(builder *b, yaml_event_t *ev, int depth, dpt__node **out);

/* The children of a mapping or sequence, up to the end event. ev is the start event (the
 * caller deletes it). */
static dpt_err collection(builder *b, yaml_event_t *start, int depth, dpt__node **out)
{
    bool map = start->type == YAML_MAPPING_START_EVENT;
    if (depth >= DPT__CF_MAX_DEPTH)
        return fail(b, DPT_ETOOBIG, &start->start_mark, "nesting deeper than %d levels",
                    DPT__CF_MAX_DEPTH);
    dpt__node *nd = new_node(b, map ? DPT__N_MAP : DPT__N_SEQ, &start->start_mark);
    if (!nd) return node_error(b, &start->start_mark);
    size_t cap = 0, n = 0;
    yaml_mark_t key_mark = start->start_mark;
    const char **keys = NULL;
    dpt__node **vals = NULL;
    dpt_err e = DPT_OK;
    for (;;) {
        yaml_event_t ev;
        if ((e = next_event(b, &ev)) != DPT_OK) break;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            const char **nk = map ? dpt__realloc(keys, ncap * sizeof(const char *)) : NULL;
            if (map && nk) keys = nk;
            dpt__node **nv = dpt__realloc(vals, ncap * sizeof(dpt__node *));
            if (nv) vals = nv;
            if ((map && !nk) || !nv) {
                yaml_event_delete(&ev);
                e = fail(b, DPT_ENOMEM, NULL, "out of memory");
                break;
            }
            cap = ncap;
        }
        if (map) {
            /* Keys are plain strings: never substituted, never typed ("Mapping keys are not
             * candidates for substitution"). */
            if (ev.type != YAML_SCALAR_EVENT) {
                e = fail(b, DPT_EPARSE, &ev.start_mark, "a mapping key must be a plain string");
                yaml_event_delete(&ev);
                break;
            }
            const char *k = (const char *)ev.data.scalar.value;
            size_t kl = ev.data.scalar.length;
            if (memchr(k, 0, kl)) {
                e = fail(b, DPT_EPARSE, &ev.start_mark, "a mapping key contains a NUL byte");
                yaml_event_delete(&ev);
                break;
            }
            for (size_t i = 0; i < n && e == DPT_OK; i++)
                if (keys[i] && strlen(keys[i]) == kl && memcmp(keys[i], k, kl) == 0)
                    e = fail(b, DPT_EPARSE, &ev.start_mark, "duplicate key '%.64s'", k);
            if (e == DPT_OK && !(keys[n] = arena_str(b->arena, k, kl)))
                e = fail(b, DPT_ENOMEM, NULL, "out of memory");
            if (e == DPT_OK && ++b->nodes > DPT__CF_MAX_NODES) e = node_error(b, &ev.start_mark);
            key_mark = ev.start_mark;
            yaml_event_delete(&ev);
            if (e != DPT_OK) break;
            if ((e = next_event(b, &ev)) != DPT_OK) break;
        }
        e = build(b, &ev, depth + 1, &vals[n]);
        /* An empty value ("key:" alone) has no position of its own worth showing: messages
         * about it point at its key. */
        if (e == DPT_OK && map && ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
            ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev.data.scalar.anchor) {
            vals[n]->line = (uint32_t)key_mark.line + 1;
            vals[n]->col = (uint32_t)key_mark.column + 1;
        }
        yaml_event_delete(&ev);
        if (e != DPT_OK) break;
        n++;
    }
    if (e == DPT_OK && n) {
        nd->vals = arena_alloc(b->arena, n * sizeof(dpt__node *));
        nd->keys = map ? arena_alloc(b->arena, n * sizeof(const char *)) : NULL;
        if (!nd->vals || (map && !nd->keys)) {
            e = fail(b, DPT_ENOMEM, NULL, "out of memory");
        } else {
            memcpy(nd->vals, vals, n * sizeof(dpt__node *));
            if (map) memcpy(nd->keys, keys, n * sizeof(const char *));
            nd->n = n;
        }
    }
    free(keys);
    free(vals);
    if (e != DPT_OK) return e;
    *out = nd;
    const yaml_char_t *anchor_name =
        map ? start->data.mapping_start.anchor : start->data.sequence_start.anchor;
    return add_anchor(b, anchor_name, nd, &start->start_mark);
}

static dpt_err build(builder *b, yaml_event_t *ev, int depth, dpt__node **out)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar_node(b, ev, out);
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.tag &&
            strcmp((const char *)ev->data.sequence_start.tag, "tag:yaml.org,2002:seq") != 0)
            return fail(b, DPT_EPARSE, &ev->start_mark, "tag %s is not supported",
                        ev->data.sequence_start.tag);
        return collection(b, ev, depth, out);
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.tag &&
            strcmp((const char *)ev->data.mapping_start.tag, "tag:yaml.org,2002:map") != 0)
            return fail(b, DPT_EPARSE, &ev->start_mark, "tag %s is not supported",
                        ev->data.mapping_start.tag);
        return collection(b, ev, depth, out);
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = b->n_anchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, name) == 0) {
                *out = b->anchors[i].node;
                return DPT_OK;
            }
        }
        return fail(b, DPT_EPARSE, &ev->start_mark, "alias *%.64s refers to no complete anchor",
                    name);
    }
    default:
        return fail(b, DPT_EPARSE, &ev->start_mark, "unexpected YAML event");
    }
}

dpt_err dpt__tree_parse(const char *text, size_t len, const char *(*getenv_fn)(const char *),
                        dpt__tree *t, dpt__tree_error *err)
{
    memset(t, 0, sizeof *t);
    memset(err, 0, sizeof *err);
    builder b = {.getenv_fn = getenv_fn, .err = err, .arena = &t->arena};
    if (len > DPT__CF_MAX_FILE)
        return fail(&b, DPT_ETOOBIG, NULL, "%zu bytes: larger than %u", len, DPT__CF_MAX_FILE);
    if (!yaml_parser_initialize(&b.p)) return fail(&b, DPT_ENOMEM, NULL, "out of memory");
    dpt__buf_init(&b.tmp);
    yaml_parser_set_input_string(&b.p, (const unsigned char *)(text ? text : ""), len);
    dpt_err e;
    int docs = 0;
    for (;;) {
        yaml_event_t ev;
        if ((e = next_event(&b, &ev)) != DPT_OK) break;
        yaml_event_type_t type = ev.type;
        if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
            e = fail(&b, DPT_EPARSE, &ev.start_mark, "more than one YAML document");
        else if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
                 type == YAML_MAPPING_START_EVENT || type == YAML_ALIAS_EVENT)
            e = build(&b, &ev, 0, &t->root);
        yaml_event_delete(&ev);
        if (e != DPT_OK || type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&b.p);
    dpt__buf_free(&b.tmp);
    free(b.anchors);
    if (e != DPT_OK) dpt__tree_free(t);
    return e;
}

void dpt__tree_free(dpt__tree *t)
{
    if (!t) return;
    arena_free(t->arena);
    t->arena = NULL;
    t->root = NULL;
}

const dpt__node *dpt__node_get(const dpt__node *map, const char *key)
{
    if (!map || map->kind != DPT__N_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->vals[i];
    return NULL;
}
