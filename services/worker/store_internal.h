/*
 * store_internal.h — what the files behind store.h share: the writer's
 * handle and the SQLite helpers (store.c defines them). Nothing else
 * includes it.
 */
#ifndef RS_STORE_INTERNAL_H
#define RS_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

struct store {
    sqlite3 *db;
    struct store_pos pos;
    sqlite3_stmt *lookup, *record, *setmeta, *forget;
};

/* sqlite3_exec / sqlite3_prepare_v2 that log a failure: 0 or -1. */
int store_exec(sqlite3 *db, const char *sql);
int store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* A connection with the store's settings (no mutex: one thread each, a
 * busy timeout). SQLITE_OPEN_URI lets ATTACH take "file:...?mode=ro" names
 * (backups); the paths opened here are plain paths, read as they are. */
sqlite3 *store_open_db(const char *path, int flags);

/* Reads the position from rs_meta of schema ("main", or an attached
 * database's name); 0, or -1 if a key is missing. */
int store_read_pos_of(sqlite3 *db, const char *schema, struct store_pos *pos);

#endif
