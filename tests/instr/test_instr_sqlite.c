/* test_instr_sqlite.c - SQLite statements as CLIENT spans (dpt_sqlite_instrument) on an
 * in-memory database. Rules checked: database-spans.md and sql.md (kind CLIENT,
 * db.system.name "sqlite", db.query.text sanitized, name = db.query.summary, error code in
 * db.response.status_code and error.type). */
#include <sqlite3.h>

#include "test_util.h"

#include "dptrace/instr.h"

static tprov tp;
static sqlite3 *db;

static int setup(void **state)
{
    (void)state;
    tp = tprov_new(NULL, NULL);
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return -1;
    if (sqlite3_exec(db, "CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER)", 0, 0, 0))
        return -1;
    if (sqlite3_exec(db, "INSERT INTO stock VALUES('a', 5), ('b', 7), ('c', 9)", 0, 0, 0))
        return -1;
    return dpt_sqlite_instrument(db, &(dpt_sqlite_opts){.tracer = tp.t}) == DPT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sqlite3_close(db); /* frees the instrumentation state (SQLITE_TRACE_CLOSE) */
    tprov_free(&tp);
    return 0;
}

static int clear(void **state)
{
    (void)state;
    dpt_exporter_memory_clear(tp.mem);
    return 0;
}

/* One CLIENT span per statement, named by the summary, with the sanitized text: the
 * literal 'b' never reaches the span (database-spans.md, "Sanitization SHOULD replace all
 * literals with a placeholder value"); rows returned are counted. */
static void test_select_is_a_client_span_with_sanitized_text(void **state)
{
    (void)state;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT qty FROM stock WHERE sku >= 'b'", -1, &s, 0),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(s) == SQLITE_ROW)
        rows++;
    assert_int_equal(rows, 2);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1); /* ended at SQLITE_DONE */
    sqlite3_finalize(s);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_int_equal(d->kind, DPT_SPAN_CLIENT);
    assert_string_equal(d->name, "SELECT stock");
    assert_string_equal(attr_str(d, "db.system.name"), "sqlite");
    assert_string_equal(attr_str(d, "db.query.text"), "SELECT qty FROM stock WHERE sku >= ?");
    assert_string_equal(attr_str(d, "db.query.summary"), "SELECT stock");
    assert_int_equal(attr_int(d, "db.response.returned_rows"), 2);
    assert_null(find_attr(d, "dptrace.db.rows_affected"));
    dpt_span_data_release(d);
}

/* Parameterized text is kept; rows affected are recorded for writes; the span is a child
 * of the stepping thread's current span. */
static void test_update_counts_rows_and_is_a_child_of_the_current_span(void **state)
{
    (void)state;
    dpt_span parent = dpt_span_start(tp.t, "handler", DPT_SPAN_SERVER, NULL);
    dpt_token tok = dpt_span_make_current(parent);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "UPDATE stock SET qty = qty + ?1 WHERE qty > ?2", -1, &s, 0);
    sqlite3_bind_int(s, 1, 1);
    sqlite3_bind_int(s, 2, 6);
    assert_int_equal(dpt_sqlite_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    dpt_context_detach(tok);
    dpt_span_context pc = dpt_span_get_context(parent);
    dpt_span_end(parent);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(d->name, "UPDATE stock");
    assert_string_equal(attr_str(d, "db.query.text"),
                        "UPDATE stock SET qty = qty + ?1 WHERE qty > ?2");
    assert_int_equal(attr_int(d, "dptrace.db.rows_affected"), 2);
    assert_memory_equal(d->parent_span_id.b, pc.span_id.b, 8);
    assert_memory_equal(d->ctx.trace_id.b, pc.trace_id.b, 16);
    dpt_span_data_release(d);
}

/* sql.md: db.response.status_code is the most specific code (SQLite's extended result
 * code: 1555 = SQLITE_CONSTRAINT_PRIMARYKEY) and error.type matches it. */
static void test_failed_step_records_the_error(void **state)
{
    (void)state;
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "INSERT INTO stock VALUES('a', 1)", -1, &s, 0);
    assert_int_equal(dpt_sqlite_step(s), SQLITE_CONSTRAINT);
    sqlite3_finalize(s);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(d->name, "INSERT stock");
    assert_int_equal(d->status, DPT_STATUS_ERROR);
    assert_string_equal(attr_str(d, "db.response.status_code"), "1555");
    assert_string_equal(attr_str(d, "error.type"), "1555");
    assert_non_null(strstr(d->status_msg, "UNIQUE constraint failed"));
    assert_string_equal(attr_str(d, "db.query.text"), "INSERT INTO stock VALUES(?, ?)");
    dpt_span_data_release(d);
}

/* dpt_sqlite_exec: a span per statement of the script; the one that failed has the
 * error, the ones before it do not. */
static void test_exec_script_marks_the_failing_statement(void **state)
{
    (void)state;
    char *err = NULL;
    int rc = dpt_sqlite_exec(db,
                             "INSERT INTO stock VALUES('d', 1); UPDATE stock SET qty = 0 "
                             "WHERE sku = 'd'; INSERT INTO stock VALUES('d', 2); SELECT 1",
                             NULL, NULL, &err);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    sqlite3_free(err);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 3); /* SELECT 1 never ran */
    const char *names[] = {"INSERT stock", "UPDATE stock", "INSERT stock"};
    for (size_t i = 0; i < 3; i++) {
        const dpt_span_data *d = tprov_span(&tp, i);
        assert_string_equal(d->name, names[i]);
        assert_int_equal(d->status, i == 2 ? DPT_STATUS_ERROR : DPT_STATUS_UNSET);
        dpt_span_data_release(d);
    }
}

/* Statements in flight together (reading a SELECT while updating) each get their span. */
static void test_interleaved_statements(void **state)
{
    (void)state;
    sqlite3_stmt *sel, *upd;
    sqlite3_prepare_v2(db, "SELECT sku FROM stock", -1, &sel, 0);
    sqlite3_prepare_v2(db, "UPDATE stock SET qty = qty WHERE sku = ?", -1, &upd, 0);
    int n = 0;
    while (dpt_sqlite_step(sel) == SQLITE_ROW) {
        sqlite3_bind_text(upd, 1, (const char *)sqlite3_column_text(sel, 0), -1, SQLITE_TRANSIENT);
        assert_int_equal(dpt_sqlite_step(upd), SQLITE_DONE);
        sqlite3_reset(upd);
        n++;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    assert_true(n >= 3);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), (size_t)n + 1);
    int selects = 0;
    for (size_t i = 0; i <= (size_t)n; i++) {
        const dpt_span_data *d = tprov_span(&tp, i);
        if (strcmp(d->name, "SELECT stock") == 0) {
            selects++;
            assert_int_equal(attr_int(d, "db.response.returned_rows"), n);
        }
        dpt_span_data_release(d);
    }
    assert_int_equal(selects, 1);
}

/* A statement reset before its end (not all rows read) ends its span at the reset. */
static void test_reset_ends_the_span(void **state)
{
    (void)state;
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "SELECT * FROM stock", -1, &s, 0);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 0);
    sqlite3_reset(s);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    sqlite3_finalize(s);
}

/* More statements in flight than slots: the extra ones are counted, never lost silently. */
static void test_too_many_statements_in_flight_are_counted(void **state)
{
    (void)state;
    dpt_instr_stats before, after;
    dpt_instr_get_stats(&before);
    sqlite3_stmt *s[20];
    for (int i = 0; i < 20; i++) {
        sqlite3_prepare_v2(db, "SELECT sku FROM stock", -1, &s[i], 0);
        assert_int_equal(sqlite3_step(s[i]), SQLITE_ROW);
    }
    for (int i = 0; i < 20; i++)
        sqlite3_finalize(s[i]);
    dpt_instr_get_stats(&after);
    assert_int_equal(after.sqlite_statements_untraced - before.sqlite_statements_untraced, 4);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 16);
}

/* Options: no query text; uninstrument stops tracing (and is reported when repeated). */
static void test_options_and_uninstrument(void **state)
{
    (void)state;
    sqlite3 *d2;
    assert_int_equal(sqlite3_open(":memory:", &d2), SQLITE_OK);
    dpt_sqlite_opts o = {.tracer = tp.t, .no_query_text = true, .db_namespace = "main"};
    assert_int_equal(dpt_sqlite_instrument(d2, &o), DPT_OK);
    assert_int_equal(dpt_sqlite_exec(d2, "CREATE TABLE t(a)", NULL, NULL, NULL), SQLITE_OK);
    const dpt_span_data *d = tprov_span(&tp, 0);
    assert_string_equal(d->name, "CREATE TABLE t");
    assert_null(find_attr(d, "db.query.text"));
    assert_string_equal(attr_str(d, "db.namespace"), "main");
    dpt_span_data_release(d);
    assert_int_equal(dpt_sqlite_uninstrument(d2), DPT_OK);
    assert_int_equal(dpt_sqlite_uninstrument(d2), DPT_ENOTFOUND);
    sqlite3_exec(d2, "INSERT INTO t VALUES(1)", 0, 0, 0);
    assert_int_equal(dpt_exporter_memory_count(tp.mem), 1);
    sqlite3_close(d2);
    assert_int_equal(dpt_sqlite_instrument(NULL, NULL), DPT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_select_is_a_client_span_with_sanitized_text, clear),
        cmocka_unit_test_setup(test_update_counts_rows_and_is_a_child_of_the_current_span, clear),
        cmocka_unit_test_setup(test_failed_step_records_the_error, clear),
        cmocka_unit_test_setup(test_exec_script_marks_the_failing_statement, clear),
        cmocka_unit_test_setup(test_interleaved_statements, clear),
        cmocka_unit_test_setup(test_reset_ends_the_span, clear),
        cmocka_unit_test_setup(test_too_many_statements_in_flight_are_counted, clear),
        cmocka_unit_test_setup(test_options_and_uninstrument, clear),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
