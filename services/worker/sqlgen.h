/*
 * sqlgen.h — SQL text and bound parameters for a parsed DB operation.
 *
 * The worker turns a struct dbop (validated by dbop_parse) into one SQLite
 * statement: sqlgen_build writes the SQL text, made only of names from the
 * schema (dbschema.h) and of "?" placeholders, and sqlgen_bind binds the
 * operation's values to those placeholders in the same order. No text the
 * client sent ever becomes SQL.
 *
 * Statement shapes (identifiers always double-quoted):
 *   select  SELECT "c1", "c2" FROM "t" [WHERE ...] [ORDER BY "c" ASC|DESC, ...] [LIMIT ?]
 *           with "after": ... AND ("o1", "o2") > (?, ?) (< when the order is
 *           desc; "o1" > ? for one column), the "order" columns in order
 *   count   SELECT COUNT(*) FROM "t" [WHERE ...]
 *   insert  INSERT INTO "t" ("c1", "c2") VALUES (?, ?)
 *   update  UPDATE "t" SET "c1" = ?, "c2" = ? WHERE ...
 *   delete  DELETE FROM "t" WHERE ...
 * with WHERE "c" <op> ? AND ..., <op> one of = <> < <= > >=. Parameters are
 * numbered in text order: insert/update values first, then the where
 * values, then the after values, then the limit. "max_bytes" is no SQL: the
 * worker stops reading rows (store.c). A select without "order" returns rows
 * in no particular order.
 *
 * The same operation always gives the same text (dbop_parse stores values
 * in table order), so a worker may cache prepared statements by text.
 *
 * "clear" is not one statement: run sqlgen_clear_sql() with sqlite3_exec
 * inside the write's transaction.
 */
#ifndef RS_SQLGEN_H
#define RS_SQLGEN_H

#include <stddef.h>
#include <sqlite3.h>

#include "dbop.h"

/* A buffer this large holds the SQL of any valid operation on this schema
 * (the longest: a select of every rides column with DBOP_MAX_FILTERS
 * conditions, a full ORDER BY and "after"; tests/unit/test_sqlgen.c checks it). */
#define SQLGEN_MAX_SQL 1024

/* Writes the SQL of op (any kind but clear) into sql, NUL-terminated.
 * Returns 0, or -1 if it does not fit in n bytes or op is a clear. */
int sqlgen_build(const struct dbop *op, char *sql, size_t n);

/* Binds op's values to st, prepared from sqlgen_build's text for the same
 * op. Text is copied (SQLITE_TRANSIENT), so the cJSON tree may go before
 * the statement. Returns SQLITE_OK, SQLITE_RANGE if st's parameter count
 * does not match op, or SQLite's error code from a bind. */
int sqlgen_bind(sqlite3_stmt *st, const struct dbop *op);

/* The script that empties every table, children before parents so that
 * every row is deleted (and counted) by its own statement, not by a
 * cascade. For sqlite3_exec; sqlite3_total_changes before and after gives
 * the number of rows deleted. */
const char *sqlgen_clear_sql(void);

#endif
