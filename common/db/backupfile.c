/*
 * backupfile.c — see backupfile.h. The file is opened through a URI with
 * immutable=1: SQLite then reads it as it is, takes no locks and creates no
 * -journal, -wal or -shm beside it, so checking a backup never changes it.
 */
#include "backupfile.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbschema.h"

static int fail(char *err, size_t n, const char *msg, const char *detail)
{
    snprintf(err, n, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
    return -1;
}

/* Whether table t has exactly the schema's columns, in order. */
static int columns_match(sqlite3 *db, const struct db_table *t)
{
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", t->name); /* a name from the schema, never the file's */
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return 0;
    int i = 0, ok = 1;
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        ok = i < t->ncols && name && strcmp(name, t->cols[i].name) == 0;
        i++;
    }
    sqlite3_finalize(st);
    return ok && i == t->ncols;
}

/* Every table is one of the schema's (or rs_backup, or SQLite's own), and
 * every one of the schema's is there. */
static int tables_match(sqlite3 *db, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st, NULL) != SQLITE_OK)
        return fail(err, n, "not a SQLite database", sqlite3_errmsg(db));
    int seen = 0, rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const struct db_table *t = db_table_find(name);
        if (t) {
            if (!columns_match(db, t)) rc = fail(err, n, "not a Rideshare backup: unexpected columns in table", name);
            seen++;
        } else if (!name || (strcmp(name, "rs_backup") && strcmp(name, "sqlite_sequence"))) {
            rc = fail(err, n, "not a Rideshare backup: unexpected table", name ? name : "?");
        }
    }
    sqlite3_finalize(st);
    if (rc == 0 && seen != db_ntables) rc = fail(err, n, "not a Rideshare backup: tables missing", NULL);
    return rc;
}

static int read_meta(sqlite3 *db, struct backup_meta *meta, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT k, v FROM rs_backup", -1, &st, NULL) != SQLITE_OK)
        return fail(err, n, "not a Rideshare backup: no rs_backup table", NULL);
    int format = 0, found = 0;
    memset(meta, 0, sizeof *meta);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (!k) continue;
        if (!strcmp(k, "format")) {
            const char *v = (const char *)sqlite3_column_text(st, 1);
            format = v && !strcmp(v, BACKUP_FORMAT);
        } else if (!strcmp(k, "seq")) {
            meta->seq = sqlite3_column_int64(st, 1), found |= 1;
        } else if (!strcmp(k, "epoch")) {
            meta->epoch = sqlite3_column_int64(st, 1), found |= 2;
        } else if (!strcmp(k, "made_at_ms")) {
            meta->made_at_ms = sqlite3_column_int64(st, 1), found |= 4;
        } else if (!strcmp(k, "made_by")) {
            const char *v = (const char *)sqlite3_column_text(st, 1);
            snprintf(meta->made_by, sizeof meta->made_by, "%s", v ? v : "");
        }
    }
    sqlite3_finalize(st);
    if (!format) return fail(err, n, "not a Rideshare backup: format is not " BACKUP_FORMAT, NULL);
    if (found != 7) return fail(err, n, "not a Rideshare backup: rs_backup lacks seq, epoch or made_at_ms", NULL);
    return 0;
}

int backupfile_check(const char *path, struct backup_meta *meta, char *err, size_t n)
{
    sqlite3 *db = NULL;
    char *uri = sqlite3_mprintf("file:%s?mode=ro&immutable=1", path); /* path is the caller's, never the network's */
    int rc = uri && sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_free(uri);
    if (rc) {
        rc = fail(err, n, "cannot open the file", db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_stmt *st = NULL;
    const char *verdict = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        verdict = (const char *)sqlite3_column_text(st, 0);
    if (!verdict) rc = fail(err, n, "not a SQLite database, or unreadable", sqlite3_errmsg(db));
    else if (strcmp(verdict, "ok")) rc = fail(err, n, "the file is corrupt (SQLite integrity_check)", verdict);
    sqlite3_finalize(st);
    if (rc == 0) rc = tables_match(db, err, n);
    if (rc == 0) rc = read_meta(db, meta, err, n);
    sqlite3_close(db);
    return rc;
}
