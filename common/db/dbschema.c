/*
 * dbschema.c — the tables of dbschema.h, as data and as SQL.
 *
 * db_tables is the schema the validator (dbop.c) and the SQL builder
 * (services/worker/sqlgen.c) work from: a client's table and column names
 * are only ever looked up here, and the SQL text is assembled from the
 * names stored here, never from the client's strings.
 *
 * db_schema_sql is the same schema as SQL for a new database file. The two
 * must agree column for column; tests/unit/test_sqlgen.c checks that every
 * column of db_tables exists in a database built from db_schema_sql.
 * Every column is NOT NULL: the DB API has no null values, so a NULL in a
 * file could only come from a bug. Foreign keys cascade deletes (a deleted
 * user takes their rides and memberships along); the worker turns
 * PRAGMA foreign_keys on for each connection, since SQLite leaves it off.
 */
#include "dbschema.h"

#include <string.h>

const struct db_table db_tables[] = {
    { "users", 2, {
        { "username", DB_TEXT, 0 },
        { "password", DB_TEXT, 0 },
      }, -1 },
    { "rides", 5, {
        { "ride_id",     DB_INTEGER, DBCOL_AUTO },
        { "created_by",  DB_TEXT,    0 },
        { "ts",          DB_INTEGER, 0 },
        { "source",      DB_INTEGER, 0 },
        { "destination", DB_INTEGER, 0 },
      }, 0 },
    { "ride_members", 2, {
        { "ride_id",  DB_INTEGER, 0 },
        { "username", DB_TEXT,    0 },
      }, -1 },
};

const int db_ntables = (int)(sizeof db_tables / sizeof db_tables[0]);

const struct db_table *db_table_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < db_ntables; i++)
        if (strcmp(db_tables[i].name, name) == 0) return &db_tables[i];
    return NULL;
}

int db_column_find(const struct db_table *t, const char *name)
{
    if (!t || !name) return -1;
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return i;
    return -1;
}

/* ride_id is INTEGER PRIMARY KEY AUTOINCREMENT so that an id is never
 * reused after a delete (a client holding an old rideId must not see
 * someone else's ride). The master normally chooses the id and carries it
 * in the log entry, so replicas insert it explicitly. The indexes serve the
 * rides API's searches (source, destination, upcoming ts), the per-user
 * cascades, and membership lookups by user. */
const char db_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS users (\n"
    "  username TEXT NOT NULL PRIMARY KEY,\n"
    "  password TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS rides (\n"
    "  ride_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n"
    "  created_by TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,\n"
    "  ts INTEGER NOT NULL,\n"
    "  source INTEGER NOT NULL,\n"
    "  destination INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS ride_members (\n"
    "  ride_id INTEGER NOT NULL REFERENCES rides(ride_id) ON DELETE CASCADE,\n"
    "  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,\n"
    "  PRIMARY KEY (ride_id, username)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS rides_route ON rides(source, destination, ts);\n"
    "CREATE INDEX IF NOT EXISTS rides_created_by ON rides(created_by);\n"
    "CREATE INDEX IF NOT EXISTS ride_members_username ON ride_members(username);\n";
