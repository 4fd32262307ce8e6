/*
 * fuzz_request.c — libFuzzer target over the DB request path.
 *
 * An input is the body of a request to /api/v1/db/write, read or clear.
 * It goes the way a real one goes: json_parse, then dbop_parse as the
 * orchestrator calls it (flags 0) and as a replica applying a log entry
 * calls it (ride ids and clear allowed). Whatever the validator accepts
 * is then built into SQL, prepared and bound against an in-memory database
 * holding the real schema, and stepped, so a validated operation that
 * sqlgen turns into SQL SQLite refuses, or binds wrongly, aborts the run.
 * The database is opened once; each operation runs inside a savepoint that
 * is rolled back, which keeps iterations independent and fast.
 *
 *   make fuzz && cp -R tests/fuzz/corpus /tmp/fz &&
 *   build/fuzz/fuzz_request -max_total_time=60 /tmp/fz
 * (libFuzzer adds inputs to its first directory: give it a copy, as
 * tests/run.sh does, not the seed corpus itself.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "dbop.h"
#include "json.h"
#include "sqlgen.h"

static sqlite3 *db;

static void init(void)
{
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA foreign_keys=ON;", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, db_schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "INSERT INTO users VALUES('a','p');"
                         "INSERT INTO rides(created_by, ts, source, destination) VALUES('a', 1, 2, 3);"
                         "INSERT INTO ride_members VALUES(1, 'a');", NULL, NULL, NULL) != SQLITE_OK)
        abort();
}

/* The SQL of an accepted operation must always be valid, fully bound SQL;
 * the statement may still fail with a constraint error, never otherwise. */
static void execute(const struct dbop *op)
{
    char sql[SQLGEN_MAX_SQL];
    sqlite3_stmt *st = NULL;

    if (op->kind == DBOP_CLEAR) {
        if (sqlite3_exec(db, "SAVEPOINT f", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, sqlgen_clear_sql(), NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "ROLLBACK TO f; RELEASE f", NULL, NULL, NULL) != SQLITE_OK)
            abort();
        return;
    }
    if (sqlgen_build(op, sql, sizeof sql) != 0) abort();   /* SQLGEN_MAX_SQL is documented as enough */
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) abort();
    if (sqlgen_bind(st, op) != SQLITE_OK) abort();
    if (sqlite3_exec(db, "SAVEPOINT f", NULL, NULL, NULL) != SQLITE_OK) abort();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT) abort();
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "ROLLBACK TO f; RELEASE f", NULL, NULL, NULL) != SQLITE_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flag_sets[] = { 0, DBOP_ALLOW_AUTO | DBOP_ALLOW_CLEAR };
    if (!db) init();

    cJSON *tree = json_parse((const char *)data, size);
    if (!tree) return 0;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        struct dbop op;
        char err[128];
        if (dbop_parse(tree, flag_sets[i], &op, err, sizeof err) != 0) {
            if (strlen(err) == 0 || strlen(err) >= sizeof err) abort();   /* an error always says why */
            continue;
        }
        if (op.kind != DBOP_CLEAR && !op.table) abort();
        execute(&op);
    }
    cJSON_Delete(tree);
    return 0;
}
