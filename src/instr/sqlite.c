/* sqlite.c - SQLite statements as CLIENT spans, through sqlite3_trace_v2.
 *
 * SQLITE_TRACE_STMT (first step of a run) starts the span, SQLITE_TRACE_ROW counts the
 * rows, SQLITE_TRACE_PROFILE (the run is over: done, error, reset or finalize) ends it,
 * SQLITE_TRACE_CLOSE frees the connection's state. Statements of one connection can be in
 * flight together (a SELECT being read while UPDATEs run), so the state keeps a slot per
 * running statement. SQLite calls these callbacks with the connection's mutex held, on
 * the stepping thread, so the state needs no lock of its own.
 *
 * The trace interface does not say whether a run failed (the PROFILE callback comes before
 * the error code is stored). dpt_sqlite_step / dpt_sqlite_exec know: while one of them
 * runs, the PROFILE of its statement leaves the span "pending" in a thread-local slot and
 * the wrapper ends it with the result code.
 */
#include <sqlite3.h>

#include "instr_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 16

typedef struct slot {
    sqlite3_stmt *stmt; /* NULL: free */
    dpt_span span;
    int64_t rows;
    bool returns_rows;
    bool writes; /* INSERT, UPDATE, DELETE, REPLACE: rows affected are recorded */
} slot;

/* A statement text seen before: programs run the same prepared statements again and
 * again, so the sanitized text and the summary are kept (keyed by the text's address,
 * length and hash: an address reused for another text does not match). */
#define QCACHE 8
typedef struct query {
    const char *sql;
    size_t len;
    uint64_t hash;
    char *text; /* sanitized (malloc'd), NULL when not needed */
    char summary[256];
    size_t summary_len;
    bool writes;
} query;

typedef struct dbstate {
    sqlite3 *db;
    dpt_tracer *tracer;
    bool raw, no_text;
    char *ns;
    slot slots[SLOTS];
    query cache[QCACHE];
    int next_q;
    struct dbstate *next;
} dbstate;

/* Instrumented connections, for dpt_sqlite_uninstrument. Guarded by reg_mu; the hot path
 * never looks here (the state comes with every callback). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static dbstate *registry;

/* What a wrapper running on this thread is waiting for (thread-local: each thread steps
 * its own statements). */
typedef struct wrap {
    sqlite3_stmt *stepping; /* dpt_sqlite_step: this statement's PROFILE is deferred */
    sqlite3 *exec_db;       /* dpt_sqlite_exec: every top-level PROFILE on it is deferred */
    dpt_span pending;       /* ended by the wrapper with the result */
    sqlite3 *pending_db;
} wrap;
static _Thread_local wrap tl;

static void untraced(void)
{
    uint64_t n = atomic_fetch_add_explicit(&dpt__instr_sqlite_untraced, 1, memory_order_relaxed);
    /* Counted always, logged for the first and then every 1024th (rate-limited). */
    if ((n & 1023) == 0)
        dpt__log(DPT_LOG_WARN,
                 "sqlite: more than %d statements running on one connection; %llu not traced",
                 SLOTS, (unsigned long long)n + 1);
}

static bool is_write(const char *summary)
{
    return strncmp(summary, "INSERT", 6) == 0 || strncmp(summary, "UPDATE", 6) == 0 ||
           strncmp(summary, "DELETE", 6) == 0 || strncmp(summary, "REPLACE", 7) == 0 ||
           strncmp(summary, "insert", 6) == 0 || strncmp(summary, "update", 6) == 0 ||
           strncmp(summary, "delete", 6) == 0 || strncmp(summary, "replace", 7) == 0;
}

/* The text attributes of a statement, from the cache or computed into it. */
static const query *describe(dbstate *st, const char *sql)
{
    size_t len = strlen(sql);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)sql[i]) * 0x100000001b3ull;
    for (int i = 0; i < QCACHE; i++) {
        query *q = &st->cache[i];
        if (q->sql == sql && q->len == len && q->hash == h) return q;
    }
    query *q = &st->cache[st->next_q];
    st->next_q = (st->next_q + 1) % QCACHE;
    free(q->text);
    q->text = NULL;
    q->sql = sql;
    q->len = len;
    q->hash = h;
    q->summary_len = dpt_instr_summarize_sql(sql, len, q->summary, sizeof q->summary);
    if (q->summary_len >= sizeof q->summary) q->summary_len = sizeof q->summary - 1;
    q->writes = q->summary_len && is_write(q->summary);
    if (!st->no_text && !st->raw) {
        size_t need = dpt_instr_sanitize_sql(sql, len, NULL, 0);
        q->text = malloc(need + 1);
        if (q->text) dpt_instr_sanitize_sql(sql, len, q->text, need + 1);
    }
    return q;
}

static void on_stmt(dbstate *st, sqlite3_stmt *stmt, const char *sql)
{
    if (!sql || (sql[0] == '-' && sql[1] == '-')) return; /* a trigger's body: same run */
    if (tl.exec_db == st->db && tl.pending_db == st->db) {
        /* dpt_sqlite_exec moved on to its next statement: the previous one succeeded. */
        dpt_span_end(tl.pending);
        tl.pending = DPT_SPAN_NONE;
        tl.pending_db = NULL;
    }
    slot *free_slot = NULL;
    for (int i = 0; i < SLOTS; i++) {
        if (st->slots[i].stmt == stmt) { /* a run that never reported its end */
            dpt_span_end(st->slots[i].span);
            st->slots[i].stmt = NULL;
        }
        if (!st->slots[i].stmt && !free_slot) free_slot = &st->slots[i];
    }
    if (!free_slot) {
        untraced();
        return;
    }
    /* The span starts bare; the text work (cached per statement text) is done only when it
     * records. The built-in samplers do not read attributes. */
    dpt_span span = dpt_span_start(st->tracer, "sqlite", DPT_SPAN_CLIENT, NULL);
    free_slot->span = span;
    free_slot->stmt = stmt;
    free_slot->rows = 0;
    free_slot->returns_rows = false;
    free_slot->writes = false;
    if (!dpt_span_is_recording(span)) return;
    const query *q = describe(st, sql);
    dpt_attr attrs[5];
    size_t n = 0;
    attrs[n++] = DPT_STR("db.system.name", "sqlite");
    if (!st->no_text && (st->raw || q->text))
        attrs[n++] = DPT_STR("db.query.text", st->raw ? sql : q->text);
    if (q->summary_len) attrs[n++] = DPT_STRN("db.query.summary", q->summary, q->summary_len);
    if (st->ns) attrs[n++] = DPT_STR("db.namespace", st->ns);
    dpt_span_set_attrs(span, attrs, n);
    if (q->summary_len) dpt_span_update_name(span, q->summary);
    free_slot->returns_rows = sqlite3_column_count(stmt) > 0;
    free_slot->writes = q->writes;
}

static slot *find(dbstate *st, sqlite3_stmt *stmt)
{
    for (int i = 0; i < SLOTS; i++)
        if (st->slots[i].stmt == stmt) return &st->slots[i];
    return NULL;
}

static void on_profile(dbstate *st, sqlite3_stmt *stmt)
{
    slot *s = find(st, stmt);
    if (!s) return;
    dpt_span span = s->span;
    if (dpt_span_is_recording(span)) {
        if (s->returns_rows) dpt_span_set_int(span, "db.response.returned_rows", s->rows);
        if (s->writes)
            dpt_span_set_int(span, "dptrace.db.rows_affected", sqlite3_changes64(st->db));
    }
    s->stmt = NULL;
    bool defer = tl.stepping == stmt || tl.exec_db == st->db;
    if (defer) {
        if (tl.pending_db) dpt_span_end(tl.pending); /* a nested statement's, now done */
        tl.pending = span;
        tl.pending_db = st->db;
    } else {
        dpt_span_end(span);
    }
}

static void end_all(dbstate *st)
{
    for (int i = 0; i < SLOTS; i++) {
        if (!st->slots[i].stmt) continue;
        dpt_span_end(st->slots[i].span);
        st->slots[i].stmt = NULL;
    }
    if (tl.pending_db == st->db) {
        dpt_span_end(tl.pending);
        tl.pending = DPT_SPAN_NONE;
        tl.pending_db = NULL;
    }
}

static void forget(dbstate *st)
{
    pthread_mutex_lock(&reg_mu);
    for (dbstate **pp = &registry; *pp; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
    for (int i = 0; i < QCACHE; i++)
        free(st->cache[i].text);
    free(st->ns);
    free(st);
}

static int on_trace(unsigned type, void *ctx, void *p, void *x)
{
    dbstate *st = ctx;
    switch (type) {
    case SQLITE_TRACE_STMT:
        on_stmt(st, p, x);
        break;
    case SQLITE_TRACE_ROW: {
        slot *s = find(st, p);
        if (s) s->rows++;
        break;
    }
    case SQLITE_TRACE_PROFILE:
        on_profile(st, p);
        break;
    case SQLITE_TRACE_CLOSE:
        end_all(st);
        forget(st);
        break;
    default:
        break;
    }
    return 0;
}

dpt_err dpt_sqlite_instrument(sqlite3 *db, const dpt_sqlite_opts *opts)
{
    static const dpt_sqlite_opts none = {0};
    if (!db) return DPT_EINVAL;
    if (!opts) opts = &none;
    dpt_sqlite_uninstrument(db); /* instrumenting twice replaces the first */
    dbstate *st = calloc(1, sizeof *st);
    if (!st) return DPT_ENOMEM;
    st->db = db;
    st->tracer = dpt__instr_tracer(opts->tracer);
    st->raw = opts->raw_query_text;
    st->no_text = opts->no_query_text;
    if (opts->db_namespace && !(st->ns = strdup(opts->db_namespace))) {
        free(st);
        return DPT_ENOMEM;
    }
    unsigned mask =
        SQLITE_TRACE_STMT | SQLITE_TRACE_ROW | SQLITE_TRACE_PROFILE | SQLITE_TRACE_CLOSE;
    pthread_mutex_lock(&reg_mu);
    st->next = registry;
    registry = st;
    pthread_mutex_unlock(&reg_mu);
    if (sqlite3_trace_v2(db, mask, on_trace, st) != SQLITE_OK) {
        forget(st);
        return DPT_EIO;
    }
    return DPT_OK;
}

dpt_err dpt_sqlite_uninstrument(sqlite3 *db)
{
    if (!db) return DPT_EINVAL;
    pthread_mutex_lock(&reg_mu);
    dbstate *st = registry;
    while (st && st->db != db)
        st = st->next;
    pthread_mutex_unlock(&reg_mu);
    if (!st) return DPT_ENOTFOUND;
    sqlite3_trace_v2(db, 0, NULL, NULL);
    end_all(st);
    forget(st);
    return DPT_OK;
}

/* Records result rc of a wrapper on the pending span of db, and ends it. */
static void settle(sqlite3 *db, int rc)
{
    if (tl.pending_db != db) return;
    dpt_span span = tl.pending;
    tl.pending = DPT_SPAN_NONE;
    tl.pending_db = NULL;
    int primary = rc & 0xff;
    if (primary != SQLITE_OK && primary != SQLITE_ROW && primary != SQLITE_DONE &&
        dpt_span_is_recording(span)) {
        /* The conventions: db.response.status_code is the most specific code known (the
         * extended result code here), and error.type matches it. */
        char code[16];
        int ext = sqlite3_extended_errcode(db);
        snprintf(code, sizeof code, "%d", (ext & 0xff) == primary ? ext : rc);
        dpt_span_set_str(span, "db.response.status_code", code);
        dpt_span_set_str(span, "error.type", code);
        dpt_span_set_status(span, DPT_STATUS_ERROR, sqlite3_errmsg(db));
    }
    dpt_span_end(span);
}

int dpt_sqlite_step(sqlite3_stmt *stmt)
{
    if (!stmt) return sqlite3_step(stmt);
    sqlite3 *db = sqlite3_db_handle(stmt);
    wrap saved = tl; /* a step inside a step (an SQL function running SQL) */
    tl.stepping = stmt;
    tl.exec_db = NULL;
    tl.pending = DPT_SPAN_NONE;
    tl.pending_db = NULL;
    int rc = sqlite3_step(stmt);
    settle(db, rc);
    if (tl.pending_db) dpt_span_end(tl.pending); /* another connection's: no result known */
    tl = saved;
    return rc;
}

int dpt_sqlite_exec(sqlite3 *db, const char *sql, int (*callback)(void *, int, char **, char **),
                    void *arg, char **errmsg)
{
    wrap saved = tl;
    tl.stepping = NULL;
    tl.exec_db = db;
    tl.pending = DPT_SPAN_NONE;
    tl.pending_db = NULL;
    int rc = sqlite3_exec(db, sql, callback, arg, errmsg);
    settle(db, rc);
    if (tl.pending_db) dpt_span_end(tl.pending);
    tl = saved;
    return rc;
}
