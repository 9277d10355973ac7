/* tree.h - a configuration file as a tree of YAML nodes (tree.c), with environment
 * variable references already substituted in scalar values (subst.c), and the typing of
 * scalars by the YAML 1.2 core schema. libdptrace-config's private interface.
 */
#ifndef DPT_CONFIG_FILE_TREE_H
#define DPT_CONFIG_FILE_TREE_H

#include "common.h"

/* Bounds on what a file may make us build (documented in docs/configuration.md). */
#define DPT__CF_MAX_FILE (1u << 20)    /* bytes of YAML */
#define DPT__CF_MAX_DEPTH 64           /* nested mappings and sequences */
#define DPT__CF_MAX_NODES 100000       /* nodes in the document */
#define DPT__CF_MAX_SCALAR (64u << 10) /* bytes of one value after substitution */

typedef enum { DPT__N_SCALAR, DPT__N_MAP, DPT__N_SEQ } dpt__node_kind;

/* What a scalar is by the YAML 1.2 core schema (a quoted or block scalar is a string). */
typedef enum { DPT__S_NULL, DPT__S_BOOL, DPT__S_INT, DPT__S_FLOAT, DPT__S_STR } dpt__scalar_type;

typedef struct dpt__node dpt__node;
struct dpt__node {
    dpt__node_kind kind;
    uint32_t line, col; /* 1-based start position */
    /* Scalars: the value after substitution, NUL-terminated (it may hold NUL bytes: len
     * counts them). */
    const char *s;
    size_t len;
    dpt__scalar_type type;
    bool b;
    int64_t i;
    double d;
    /* Mappings: keys[k] (plain strings, never substituted) and vals[k]; sequences: vals. */
    const char **keys;
    dpt__node **vals;
    size_t n;
};

typedef struct dpt__tree {
    dpt__node *root; /* NULL for an empty document */
    void *arena;     /* every node and string */
} dpt__tree;

/* Where and why building the tree failed. */
typedef struct dpt__tree_error {
    char msg[256];
    uint32_t line, col;
} dpt__tree_error;

/* Parses one YAML document into t. `getenv_fn` (NULL: getenv) resolves ${NAME}
 * references. Returns DPT_OK, DPT_EPARSE (YAML syntax, duplicate key, bad substitution,
 * alias to an unknown anchor, more than one document, unsupported tag), DPT_ETOOBIG
 * (a bound above) or DPT_ENOMEM, with err filled on failure. */
DPT__HIDDEN dpt_err dpt__tree_parse(const char *text, size_t len,
                                    const char *(*getenv_fn)(const char *), dpt__tree *t,
                                    dpt__tree_error *err);
DPT__HIDDEN void dpt__tree_free(dpt__tree *t);

/* A mapping's value for key, or NULL. */
DPT__HIDDEN const dpt__node *dpt__node_get(const dpt__node *map, const char *key);

/* Environment variable substitution of one scalar value (subst.c), following the
 * configuration data model's rules: ${NAME}, ${env:NAME}, ${NAME:-default}, "$$" escapes a
 * '$', no recursive substitution. Appends the result to out. Returns DPT_OK, DPT_EPARSE
 * (a reference that does not follow the grammar: msg says which) or DPT_ENOMEM. */
DPT__HIDDEN dpt_err dpt__subst(const char *s, size_t len, const char *(*getenv_fn)(const char *),
                               dpt__buf *out, char *msg, size_t msg_cap);

#endif
