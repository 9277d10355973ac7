/* inventory.c - the mesh demo's stock service: GET /stock/{sku} answers how many items are
 * available, read from a SQLite database (--db PATH, default in memory) whose statements
 * dptrace traces by itself (dpt_sqlite_instrument): each query is a CLIENT span child of
 * the request's span, with its text sanitized and its summary as the name.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dptrace/instr.h>

#include "mesh.h"

/* One connection shared by the request threads: opened in serialized mode, SQLite locks
 * it around each call. */
static sqlite3 *db;

static void get_stock(mesh_request *req, mesh_response *resp)
{
    const char *sku = req->param;
    dpt_span_set_str(req->span, "app.sku", sku);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT qty FROM stock WHERE sku = ?", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = dpt_sqlite_step(st); /* like sqlite3_step; a failure is recorded on the span */
    if (rc == SQLITE_ROW) {
        int available = sqlite3_column_int(st, 0);
        dpt_span_set_int(req->span, "app.stock.available", available);
        snprintf(resp->body, sizeof resp->body, "{\"sku\":\"%.64s\",\"available\":%d}", sku,
                 available);
    } else if (rc == SQLITE_DONE) {
        resp->status = 404;
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"unknown sku\"}");
    } else {
        resp->status = 500;
        snprintf(resp->error, sizeof resp->error, "stock query failed: %.80s", sqlite3_errmsg(db));
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"database error\"}");
    }
    sqlite3_finalize(st);
    mesh_work_ms(0, 2);
}

static void close_db(void)
{
    sqlite3_close(db); /* ends the tracing of db too */
}

int main(int argc, char **argv)
{
    mesh_init("inventory", argc, argv);
    const char *path = mesh_arg("db", ":memory:");
    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        fprintf(stderr, "inventory: cannot open %s: %s\n", path, sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_busy_timeout(db, 2000);
    dpt_sqlite_opts so = {.tracer = mesh.tracer, .db_namespace = "inventory"};
    dpt_sqlite_instrument(db, &so);
    /* The catalogue: sku-1 .. sku-9, seeded once (the start-up statements are traced too). */
    int rc = dpt_sqlite_exec(
        db,
        "CREATE TABLE IF NOT EXISTS stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL);"
        "INSERT OR IGNORE INTO stock(sku, qty) VALUES ('sku-1', 17), ('sku-2', 24),"
        " ('sku-3', 31), ('sku-4', 38), ('sku-5', 45), ('sku-6', 12), ('sku-7', 19),"
        " ('sku-8', 26), ('sku-9', 33)",
        NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "inventory: cannot create the stock table: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    static const mesh_route routes[] = {{"GET", "/stock/{sku}", get_stock}};
    return mesh_serve(routes, 1, close_db);
}
