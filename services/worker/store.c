/*
 * store.c — see store.h: the writer's connection (open, position,
 * transactions, applying operations, request ids). Readers are in
 * store_read.c, copies and backups in store_copy.c; what they share in
 * store_internal.h.
 *
 * The file is in WAL mode with synchronous=NORMAL: a commit is durable
 * against a process crash (the WAL is written before commit returns) but may
 * lose the last transactions on power loss. That is enough here because the
 * replication log, not a replica's file, is the truth: a worker that crashed
 * is never reused, its replacement rebuilds from the log.
 *
 * Bookkeeping tables (names a client cannot reach: the schema in dbschema.c
 * does not list them, so no operation can name them):
 *   rs_meta(k, v)                           the position (struct store_pos)
 *   rs_requests(rid, seq, ts, status, body) outcome of each request id of
 *                                           the window (ts: its entry's time)
 * Forgetting old request ids costs one range delete on the ts index per
 * commit, proportional to the rows it removes: the table holds the window,
 * never the history.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupfile.h"
#include "dbop.h"
#include "dbschema.h"
#include "jsonout.h"
#include "json.h"
#include "log.h"
#include "sqlgen.h"

#include "store_internal.h"

static const char bookkeeping_sql[] =
    "CREATE TABLE IF NOT EXISTS rs_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rs_requests (rid TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS rs_requests_ts ON rs_requests (ts);"
    "INSERT OR IGNORE INTO rs_meta VALUES ('applied_seq', 0), ('log_offset', -1), ('log_bytes', 0),"
    " ('max_epoch', 0), ('incarnation', 0), ('req_horizon', 0);";

/* The position's fields by their rs_meta key: one list for reading and writing. */
#define POS_FIELDS(X) X(applied_seq) X(log_offset) X(log_bytes) X(max_epoch) X(incarnation) X(req_horizon)
#define POS_COUNT 6

int store_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite exec failed err=%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("sqlite prepare failed err=%s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int store_read_pos_of(sqlite3 *db, const char *schema, struct store_pos *pos)
{
    sqlite3_stmt *st;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT k, v FROM %s.rs_meta", schema);
    if (store_prepare(db, sql, &st)) return -1;
    int found = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (!k) continue;
#define READ_FIELD(f) if (strcmp(k, #f) == 0) { pos->f = v; found++; continue; }
        POS_FIELDS(READ_FIELD)
#undef READ_FIELD
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE && found == POS_COUNT ? 0 : -1;
}

sqlite3 *store_open_db(const char *path, int flags)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        log_error("sqlite open failed path=%s err=%s", path, db ? sqlite3_errmsg(db) : "oom");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

struct store *store_open(const char *path)
{
    sqlite3 *db = store_open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!db) return NULL;
    struct store *st = calloc(1, sizeof *st);
    if (!st) abort();
    st->db = db;
    /* journal_size_limit: the WAL is truncated back to this after a checkpoint, so a burst (or a
     * long read holding one back) does not leave a large file behind for good. */
    if (store_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                 " PRAGMA journal_size_limit=16777216;") ||
        store_exec(db, db_schema_sql) || store_exec(db, bookkeeping_sql) ||
        store_prepare(db, "SELECT seq, status, body FROM rs_requests WHERE rid = ?", &st->lookup) ||
        store_prepare(db, "INSERT INTO rs_requests (rid, seq, ts, status, body) VALUES (?, ?, ?, ?, ?)",
                &st->record) ||
        store_prepare(db, "UPDATE rs_meta SET v = ? WHERE k = ?", &st->setmeta) ||
        store_prepare(db, "DELETE FROM rs_requests WHERE ts < ?", &st->forget) || store_read_pos_of(db, "main", &st->pos)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st) return;
    sqlite3_finalize(st->lookup);
    sqlite3_finalize(st->record);
    sqlite3_finalize(st->setmeta);
    sqlite3_finalize(st->forget);
    sqlite3_close(st->db);
    free(st);
}

struct store_pos store_position(const struct store *st) { return st->pos; }

int store_begin(struct store *st) { return store_exec(st->db, "BEGIN IMMEDIATE"); }

void store_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db)) store_exec(st->db, "ROLLBACK");
}

static int set_meta(struct store *st, const char *k, int64_t v)
{
    sqlite3_reset(st->setmeta);
    sqlite3_bind_int64(st->setmeta, 1, v);
    sqlite3_bind_text(st->setmeta, 2, k, -1, SQLITE_STATIC);
    return sqlite3_step(st->setmeta) == SQLITE_DONE ? 0 : -1;
}

/* Deletes the request ids older than the horizon — at every commit, also
 * when the horizon did not move: an entry may carry a time already below it
 * (another master's clock), and every replica must forget it alike whatever
 * its batch boundaries. Without such rows it is one index probe. */
static int forget_requests(struct store *st, int64_t horizon)
{
    sqlite3_reset(st->forget);
    sqlite3_bind_int64(st->forget, 1, horizon);
    return sqlite3_step(st->forget) == SQLITE_DONE ? 0 : -1;
}

int store_commit(struct store *st, const struct store_pos *pos)
{
    int rc = forget_requests(st, pos->req_horizon);
#define WRITE_FIELD(f) if (rc == 0) rc = set_meta(st, #f, pos->f);
    POS_FIELDS(WRITE_FIELD)
#undef WRITE_FIELD
    if (rc || store_exec(st->db, "COMMIT")) {
        log_error("commit failed err=%s", sqlite3_errmsg(st->db));
        store_rollback(st);
        return -1;
    }
    st->pos = *pos;
    return 0;
}

/* Runs one write statement and counts the rows it changed: the rows named
 * by the operation, not those a cascade took with them (a clear counts every
 * row it removed). On a constraint failure returns 409 with the message; the
 * caller's savepoint undoes any partial effect. */
static int run_write(struct store *st, const struct dbop *op, int *changes, char *err, size_t errlen)
{
    if (op->kind == DBOP_CLEAR) {
        char *msg = NULL;
        int before = sqlite3_total_changes(st->db);
        if (sqlite3_exec(st->db, sqlgen_clear_sql(), NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "%s", msg ? msg : "clear failed");
            sqlite3_free(msg);
            return -1;
        }
        *changes = sqlite3_total_changes(st->db) - before;
        return 200;
    }
    char sql[2048];
    sqlite3_stmt *stmt;
    if (sqlgen_build(op, sql, sizeof sql)) {
        snprintf(err, errlen, "operation too large");
        return -1;
    }
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
        return -1;
    }
    int rc = sqlgen_bind(stmt, op);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    *changes = sqlite3_changes(st->db);
    if (rc == SQLITE_DONE) return 200;
    snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
    return (rc & 0xff) == SQLITE_CONSTRAINT ? 409 : -1;
}

int store_apply(struct store *st, const struct dbop *op, cJSON *op_json,
                cJSON **result, char *err, size_t errlen)
{
    *result = NULL;
    if (store_exec(st->db, "SAVEPOINT op")) return -1;
    int changes = 0;
    int status = run_write(st, op, &changes, err, errlen);
    if (status != 200) {
        store_exec(st->db, "ROLLBACK TO op; RELEASE op");
        return status;
    }
    store_exec(st->db, "RELEASE op");
    cJSON *res = cJSON_CreateObject();
    json_add_int(res, "changes", changes);
    const struct db_table *t = op->table;
    if (op->kind == DBOP_INSERT && t->auto_col >= 0) {
        int64_t id = sqlite3_last_insert_rowid(st->db);
        json_add_int(res, "id", id);
        /* Carry the chosen id in the operation, so replicas insert the same row. */
        cJSON *values = cJSON_GetObjectItemCaseSensitive(op_json, "values");
        const char *col = t->cols[t->auto_col].name;
        if (values && !cJSON_GetObjectItemCaseSensitive(values, col)) json_add_int(values, col, id);
    }
    *result = res;
    return 200;
}

int store_record(struct store *st, const char *rid, int64_t seq, int64_t ts, int status, const char *body)
{
    sqlite3_reset(st->record);
    sqlite3_bind_text(st->record, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->record, 2, seq);
    sqlite3_bind_int64(st->record, 3, ts);
    sqlite3_bind_int(st->record, 4, status);
    sqlite3_bind_text(st->record, 5, body, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st->record);
    sqlite3_clear_bindings(st->record);
    if (rc != SQLITE_DONE) {
        log_error("recording request failed rid=%s err=%s", rid, sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

int store_lookup(struct store *st, const char *rid, int64_t *seq, int *status, char **body)
{
    sqlite3_reset(st->lookup);
    sqlite3_bind_text(st->lookup, 1, rid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st->lookup), found = 0;
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st->lookup, 0);
        *status = sqlite3_column_int(st->lookup, 1);
        *body = strdup((const char *)sqlite3_column_text(st->lookup, 2));
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_reset(st->lookup);
    sqlite3_clear_bindings(st->lookup);
    return found;
}

int64_t store_request_count(struct store *st)
{
    sqlite3_stmt *q;
    int64_t n = -1;
    if (store_prepare(st->db, "SELECT COUNT(*) FROM rs_requests", &q)) return -1;
    if (sqlite3_step(q) == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}
