/*
 * store_read.c — see store.h: the slaves' read-only connections. Each
 * reader has its own connection (WAL: readers never wait for the writer)
 * and answers a read with rows written as JSON text straight from SQLite.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbop.h"
#include "jsonout.h"
#include "log.h"
#include "sqlgen.h"

#include "store_internal.h"

/* Prepared statements of a reader, by SQL text: reads come in a few shapes
 * (sqlgen makes the same text for the same shape), so preparing each once
 * saves most of a small query's cost. */
#define READER_CACHE 16

struct store_reader {
    sqlite3 *db;
    struct { char *sql; sqlite3_stmt *stmt; } cache[READER_CACHE];
    unsigned next;   /* round-robin eviction */
};

struct store_reader *store_reader_open(const char *path)
{
    sqlite3 *db = store_open_db(path, SQLITE_OPEN_READONLY);
    if (!db) return NULL;
    struct store_reader *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->db = db;
    return r;
}

void store_reader_close(struct store_reader *r)
{
    if (!r) return;
    for (int i = 0; i < READER_CACHE; i++) {
        sqlite3_finalize(r->cache[i].stmt);
        free(r->cache[i].sql);
    }
    sqlite3_close(r->db);
    free(r);
}

static sqlite3_stmt *reader_stmt(struct store_reader *r, const char *sql)
{
    for (int i = 0; i < READER_CACHE; i++)
        if (r->cache[i].sql && strcmp(r->cache[i].sql, sql) == 0) {
            sqlite3_reset(r->cache[i].stmt);
            sqlite3_clear_bindings(r->cache[i].stmt);
            return r->cache[i].stmt;
        }
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) return NULL;
    unsigned i = r->next++ % READER_CACHE;
    sqlite3_finalize(r->cache[i].stmt);
    free(r->cache[i].sql);
    r->cache[i].sql = strdup(sql);
    r->cache[i].stmt = stmt;
    return stmt;
}

static void column_json(struct jsonout *o, sqlite3_stmt *stmt, int i)
{
    if (sqlite3_column_type(stmt, i) == SQLITE_INTEGER) {
        jo_int(o, sqlite3_column_int64(stmt, i));
    } else {
        const char *s = (const char *)sqlite3_column_text(stmt, i);
        jo_str(o, s ? s : "", (size_t)sqlite3_column_bytes(stmt, i));
    }
}

int store_read(struct store_reader *r, const struct dbop *op, char **result,
               char *err, size_t errlen)
{
    char sql[2048];
    *result = NULL;
    if (sqlgen_build(op, sql, sizeof sql)) {
        snprintf(err, errlen, "operation too large");
        return -1;
    }
    sqlite3_stmt *stmt = reader_stmt(r, sql);
    if (!stmt) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(r->db));
        return -1;
    }
    int rc = sqlgen_bind(stmt, op);
    struct jsonout o = { 0 };
    if (op->kind == DBOP_COUNT) {
        if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            jo_raw(&o, "{\"count\":", 9);
            jo_int(&o, sqlite3_column_int64(stmt, 0));
            jo_raw(&o, "}", 1);
            rc = SQLITE_DONE;
        }
    } else if (rc == SQLITE_OK) {
        /* max_bytes: the row that takes the text past it is the last; one
         * more step says whether any was left out ("more"). */
        jo_raw(&o, "{\"rows\":[", 9);
        int n = sqlite3_column_count(stmt), rows = 0, more = 0;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (rows && op->max_bytes > 0 && o.len > (size_t)op->max_bytes) {
                more = 1;
                rc = SQLITE_DONE;
                break;
            }
            if (rows++) jo_raw(&o, ",", 1);
            jo_raw(&o, "{", 1);
            for (int i = 0; i < n; i++) {
                const char *name = sqlite3_column_name(stmt, i);
                if (i) jo_raw(&o, ",", 1);
                jo_str(&o, name, strlen(name));
                jo_raw(&o, ":", 1);
                column_json(&o, stmt, i);
            }
            jo_raw(&o, "}", 1);
        }
        jo_raw(&o, "]", 1);
        if (op->max_bytes > 0) jo_raw(&o, more ? ",\"more\":true" : ",\"more\":false", more ? 12 : 13);
        jo_raw(&o, "}", 1);
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(r->db));
        free(o.buf);
        sqlite3_reset(stmt);
        return -1;
    }
    sqlite3_reset(stmt);
    *result = o.buf;
    return 0;
}
