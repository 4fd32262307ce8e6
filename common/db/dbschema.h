/*
 * dbschema.h — the one place that knows the tables and columns.
 *
 * The orchestrator validates every operation against this schema before it
 * publishes anything; the worker validates again and builds its SQL from it.
 * SQL text is made only of names from these tables (never of strings from
 * the network), and every value is a bound parameter.
 *
 * Tables:
 *   users        (username TEXT key, password TEXT)
 *   rides        (ride_id INTEGER auto key, created_by TEXT -> users,
 *                 ts INTEGER unix seconds UTC, source INTEGER, destination INTEGER)
 *   ride_members (ride_id INTEGER -> rides, username TEXT -> users), key (ride_id, username)
 * Deleting a user deletes the rides they created and their memberships;
 * deleting a ride deletes its memberships (foreign keys ON DELETE CASCADE).
 */
#ifndef RS_DBSCHEMA_H
#define RS_DBSCHEMA_H

enum db_type { DB_TEXT, DB_INTEGER };

#define DBCOL_AUTO 1u   /* value chosen by the master on insert; clients may not set it */

struct db_column {
    const char *name;
    enum db_type type;
    unsigned flags;
};

#define DB_MAX_COLUMNS 8

struct db_table {
    const char *name;
    int ncols;
    struct db_column cols[DB_MAX_COLUMNS];
    int auto_col;          /* index of the DBCOL_AUTO column, or -1 */
};

extern const struct db_table db_tables[];
extern const int db_ntables;

/* NULL / -1 when unknown. */
const struct db_table *db_table_find(const char *name);
int db_column_find(const struct db_table *t, const char *name);

/* The CREATE TABLE / CREATE INDEX statements of the schema, as one SQL
 * script, for a worker's new database file. */
extern const char db_schema_sql[];

#endif
