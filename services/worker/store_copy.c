/*
 * store_copy.c — see store.h: whole-file copies of a store (checkpoints)
 * and backups in and out (the backup format of backupfile.h).
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupfile.h"
#include "dbschema.h"
#include "log.h"

#include "store_internal.h"

/* ------------------------------------------------------------------ copies */

/*
 * A checkpoint (checkpointer.c) uses SQLite's online backup from a
 * read-only connection: one backup step over every page runs inside one read
 * transaction, and WAL lets that see the last commit while the writer goes
 * on. The destination is written without a journal or syncs: it is a new
 * file that nobody opens until it is complete, read back at once through
 * the page cache; the replica that receives it makes its own copy durable.
 */
int store_dump(const char *src_path, const char *dst_path, struct store_pos *pos)
{
    remove(dst_path);
    sqlite3 *src = store_open_db(src_path, SQLITE_OPEN_READONLY);
    sqlite3 *dst = src ? store_open_db(dst_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : NULL;
    int rc = -1;
    if (dst && store_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") == 0) {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        int step = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        if (b) sqlite3_backup_finish(b);
        if (step != SQLITE_DONE)
            log_error("sqlite backup failed err=%s", sqlite3_errmsg(dst));
        else
            rc = store_read_pos_of(dst, "main", pos);
    }
    sqlite3_close(dst);
    sqlite3_close(src);
    if (rc) remove(dst_path);
    return rc;
}

int store_peek(const char *path, struct store_pos *pos)
{
    sqlite3 *db = store_open_db(path, SQLITE_OPEN_READWRITE);
    int rc = db ? store_read_pos_of(db, "main", pos) : -1;
    sqlite3_close(db);
    return rc;
}

/* ---------------------------------------------------------------- backups */

/*
 * Both directions move rows table by table with INSERT ... SELECT between
 * this database and an attached one; every name in the SQL comes from the
 * schema (dbschema.h), never from a file or the network, and the attached
 * file's own name is a bound parameter.
 */

/* "a, b, c": the columns of t. */
static void column_list(const struct db_table *t, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ncols && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", t->cols[i].name);
}

/* Copies every table's rows from schema `from` into `into` ("main", "src"
 * or "bk"); adds the row counts to counts[] (one per table) if given. */
static int copy_tables(sqlite3 *db, const char *from, const char *into, int64_t *counts, char *err, size_t n)
{
    char cols[256], sql[700];
    for (int i = 0; i < db_ntables; i++) {
        const struct db_table *t = &db_tables[i];
        column_list(t, cols, sizeof cols);
        snprintf(sql, sizeof sql, "INSERT INTO %s.%s (%s) SELECT %s FROM %s.%s", into, t->name, cols, cols, from,
                 t->name);
        char *msg = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, n, "copying %s: %s", t->name, msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            return -1;
        }
        if (counts) counts[i] = sqlite3_changes(db);
    }
    return 0;
}

static int attach(sqlite3 *db, const char *path, const char *as, char *err, size_t n)
{
    char *uri = sqlite3_mprintf("file:%s?mode=ro", path);
    char sql[64];
    snprintf(sql, sizeof sql, "ATTACH DATABASE ? AS %s", as);
    sqlite3_stmt *st = NULL;
    int rc = uri && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
                     sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE
                 ? 0 : -1;
    if (rc) snprintf(err, n, "cannot attach %s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_free(uri);
    return rc;
}

int store_backup(const char *src_path, const char *out_path, struct backup_meta *meta, char *err, size_t errlen)
{
    remove(out_path);
    sqlite3 *db = store_open_db(out_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    struct store_pos pos = { 0 };
    int rc = db && store_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") == 0 &&
                     store_exec(db, db_schema_sql) == 0 &&
                     store_exec(db, "CREATE TABLE rs_backup (k TEXT PRIMARY KEY, v NOT NULL);") == 0
                 ? 0 : -1;
    if (rc) snprintf(err, errlen, "cannot create %s", out_path);
    if (rc == 0) rc = attach(db, src_path, "src", err, errlen);
    /* One read transaction over the source: the rows and the position of one commit. */
    if (rc == 0 && (store_exec(db, "BEGIN") || copy_tables(db, "src", "main", NULL, err, errlen) ||
                    store_exec(db, "INSERT INTO main.sqlite_sequence SELECT * FROM src.sqlite_sequence") ||
                    store_read_pos_of(db, "src", &pos))) {
        if (!*err) snprintf(err, errlen, "reading %s: %s", src_path, sqlite3_errmsg(db));
        rc = -1;
    }
    if (rc == 0) {
        meta->seq = pos.applied_seq;
        meta->epoch = pos.max_epoch;
        sqlite3_stmt *st;
        rc = store_prepare(db, "INSERT INTO rs_backup VALUES ('format', ?), ('seq', ?), ('epoch', ?), "
                         "('made_at_ms', ?), ('made_by', ?)", &st);
        if (rc == 0) {
            sqlite3_bind_text(st, 1, BACKUP_FORMAT, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, meta->seq);
            sqlite3_bind_int64(st, 3, meta->epoch);
            sqlite3_bind_int64(st, 4, meta->made_at_ms);
            sqlite3_bind_text(st, 5, meta->made_by, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            sqlite3_finalize(st);
        }
        if (rc == 0) rc = store_exec(db, "COMMIT");
        if (rc) snprintf(err, errlen, "writing the backup: %s", sqlite3_errmsg(db));
    }
    if (db && !sqlite3_get_autocommit(db)) store_exec(db, "ROLLBACK");
    if (db) store_exec(db, "DETACH DATABASE src");
    /* A plain file: no journal or WAL beside it once closed. */
    if (rc == 0 && store_exec(db, "PRAGMA journal_mode=DELETE")) rc = -1;
    sqlite3_close(db);
    if (rc) remove(out_path);
    return rc;
}

int store_restore_attach(struct store *st, const char *backup_path, char *err, size_t errlen)
{
    return attach(st->db, backup_path, "bk", err, errlen);
}

void store_restore_detach(struct store *st)
{
    store_exec(st->db, "DETACH DATABASE bk");
}

int store_restore(struct store *st, int64_t *users, int64_t *rides, int64_t *members, char *err, size_t errlen)
{
    if (store_exec(st->db, "SAVEPOINT restore")) return -1;
    char sql[800];
    int rc = 0;
    for (int i = db_ntables - 1; i >= 0 && rc == 0; i--) { /* children first: every row by its own statement */
        snprintf(sql, sizeof sql, "DELETE FROM main.%s", db_tables[i].name);
        rc = store_exec(st->db, sql);
    }
    int64_t counts[8] = { 0 }; /* one per table */
    if (rc == 0) rc = copy_tables(st->db, "bk", "main", counts, err, errlen);
    for (int i = 0; i < db_ntables && rc == 0; i++) {
        if (db_tables[i].auto_col < 0) continue;
        /* The next id stays above every id either side ever gave out. */
        const char *t = db_tables[i].name;
        snprintf(sql, sizeof sql,
                 "UPDATE main.sqlite_sequence SET seq = MAX(seq, IFNULL((SELECT seq FROM bk.sqlite_sequence "
                 "WHERE name = '%s'), 0)) WHERE name = '%s'; INSERT INTO main.sqlite_sequence (name, seq) "
                 "SELECT name, seq FROM bk.sqlite_sequence WHERE name = '%s' AND NOT EXISTS "
                 "(SELECT 1 FROM main.sqlite_sequence WHERE name = '%s')", t, t, t, t);
        rc = store_exec(st->db, sql);
    }
    if (rc) {
        if (!*err) snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
        store_exec(st->db, "ROLLBACK TO restore; RELEASE restore");
        return -1;
    }
    store_exec(st->db, "RELEASE restore");
    *users = *rides = *members = 0;
    for (int i = 0; i < db_ntables; i++) {
        const char *t = db_tables[i].name;
        *(!strcmp(t, "users") ? users : !strcmp(t, "rides") ? rides : members) += counts[i];
    }
    return 0;
}
