/*
 * test_sqlgen.c — SQL building and binding (services/worker/sqlgen.c), and
 * the schema script (common/db/dbschema.c), against a real SQLite database.
 *
 * The text tests pin the exact SQL of each kind of operation, since the
 * worker may cache statements by text. The round trip runs operations
 * parsed from JSON through sqlgen into an in-memory database with foreign
 * keys on, as the worker does, and reads rows back as "a|b;" strings (text
 * in the row is compared byte for byte, with its length).
 */
#include "dbop.h"
#include "json.h"
#include "test.h"
#include "sqlgen.h"

#include <stdlib.h>

static cJSON *tree;
static struct dbop op;
static char sql[SQLGEN_MAX_SQL];

/* Parses text into the global op; the tree lives until the next call. */
static int parse(const char *text, unsigned flags)
{
    char err[160];
    cJSON_Delete(tree);
    tree = json_parse(text, strlen(text));
    if (tree && dbop_parse(tree, flags, &op, err, sizeof err) == 0) return 1;
    printf("# %s: %s\n", text, tree ? err : "not JSON");
    return 0;
}

/* SQL of text, or "(error)". */
static const char *build(const char *text, unsigned flags)
{
    if (!parse(text, flags)) return "(not parsed)";
    return sqlgen_build(&op, sql, sizeof sql) == 0 ? sql : "(error)";
}

TEST(sql_text_per_kind)
{
    CHECK_STR(build("{\"op\":\"select\",\"table\":\"users\"}", 0),
              "SELECT \"username\", \"password\" FROM \"users\"");
    CHECK_STR(build("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                    "\"where\":{\"source\":1,\"ts\":{\"ge\":5,\"lt\":9}},"
                    "\"order\":[{\"column\":\"ts\",\"dir\":\"desc\"},{\"column\":\"ride_id\"}],\"limit\":10}", 0),
              "SELECT \"ride_id\", \"ts\" FROM \"rides\" WHERE \"source\" = ? AND \"ts\" >= ? AND \"ts\" < ?"
              " ORDER BY \"ts\" DESC, \"ride_id\" ASC LIMIT ?");
    CHECK_STR(build("{\"op\":\"count\",\"table\":\"ride_members\"}", 0),
              "SELECT COUNT(*) FROM \"ride_members\"");
    CHECK_STR(build("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":{\"ne\":1,\"le\":2,\"gt\":3}}}", 0),
              "SELECT COUNT(*) FROM \"rides\" WHERE \"ts\" <> ? AND \"ts\" <= ? AND \"ts\" > ?");
    CHECK_STR(build("{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"password\":\"p\",\"username\":\"u\"}}", 0),
              "INSERT INTO \"users\" (\"username\", \"password\") VALUES (?, ?)");
    CHECK_STR(build("{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"ride_id\":3,\"created_by\":\"u\","
                    "\"ts\":1,\"source\":2,\"destination\":3}}", DBOP_ALLOW_AUTO),
              "INSERT INTO \"rides\" (\"ride_id\", \"created_by\", \"ts\", \"source\", \"destination\")"
              " VALUES (?, ?, ?, ?, ?)");
    CHECK_STR(build("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"source\":1,\"ts\":2},"
                    "\"where\":{\"ride_id\":{\"eq\":3}}}", 0),
              "UPDATE \"rides\" SET \"ts\" = ?, \"source\" = ? WHERE \"ride_id\" = ?");
    CHECK_STR(build("{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"u\"}}", 0),
              "DELETE FROM \"users\" WHERE \"username\" = ?");
}

TEST(sql_text_of_after)
{
    CHECK_STR(build("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                    "\"order\":[{\"column\":\"username\"}],\"after\":{\"username\":\"b\"},\"limit\":2,"
                    "\"max_bytes\":100}", 0),
              "SELECT \"username\" FROM \"users\" WHERE \"username\" > ? ORDER BY \"username\" ASC LIMIT ?");
    CHECK_STR(build("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\"],"
                    "\"where\":{\"source\":1,\"destination\":2,\"ts\":{\"gt\":5}},"
                    "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],\"after\":{\"ride_id\":3,\"ts\":9}}", 0),
              "SELECT \"ride_id\" FROM \"rides\" WHERE \"source\" = ? AND \"destination\" = ? AND \"ts\" > ?"
              " AND (\"ts\", \"ride_id\") > (?, ?) ORDER BY \"ts\" ASC, \"ride_id\" ASC");
    CHECK_STR(build("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\"],"
                    "\"order\":[{\"column\":\"ts\",\"dir\":\"desc\"},{\"column\":\"ride_id\",\"dir\":\"desc\"}],"
                    "\"after\":{\"ride_id\":3,\"ts\":9}}", 0),
              "SELECT \"ride_id\" FROM \"rides\" WHERE (\"ts\", \"ride_id\") < (?, ?)"
              " ORDER BY \"ts\" DESC, \"ride_id\" DESC");
}

TEST(clear_and_small_buffers)
{
    CHECK(parse("{\"op\":\"clear\"}", DBOP_ALLOW_CLEAR));
    CHECK_INT(sqlgen_build(&op, sql, sizeof sql), -1);
    CHECK_STR(sqlgen_clear_sql(), "DELETE FROM \"ride_members\"; DELETE FROM \"rides\"; DELETE FROM \"users\";");

    CHECK(parse("{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"u\"}}", 0));
    size_t need = strlen("DELETE FROM \"users\" WHERE \"username\" = ?") + 1;
    char small[64];
    CHECK_INT(sqlgen_build(&op, small, need), 0);
    CHECK_INT(strlen(small), need - 1);
    for (size_t n = 1; n < need; n++) {
        memset(small, 'x', sizeof small);
        CHECK_INT(sqlgen_build(&op, small, n), -1);
        CHECK_STR(small, "");            /* never a cut statement */
    }
    CHECK_INT(sqlgen_build(&op, small, 0), -1);
}

TEST(longest_operation_fits_max_sql)
{
    const char *text = "{\"op\":\"select\",\"table\":\"rides\",\"where\":{"
        "\"destination\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4,\"gt\":5,\"ge\":6},"
        "\"created_by\":{\"eq\":\"a\",\"ne\":\"b\",\"lt\":\"c\",\"le\":\"d\",\"gt\":\"e\",\"ge\":\"f\"},"
        "\"source\":{\"le\":4,\"ne\":2,\"ge\":6,\"lt\":3}},"
        "\"order\":[{\"column\":\"destination\",\"dir\":\"desc\"},{\"column\":\"created_by\",\"dir\":\"desc\"},"
        "{\"column\":\"source\",\"dir\":\"desc\"},{\"column\":\"ride_id\",\"dir\":\"desc\"},"
        "{\"column\":\"ts\",\"dir\":\"desc\"}],\"limit\":5,"
        "\"after\":{\"destination\":1,\"created_by\":\"a\",\"source\":1,\"ride_id\":1,\"ts\":1}}";
    CHECK(strcmp(build(text, 0), "(error)") != 0);
    CHECK(strlen(sql) < SQLGEN_MAX_SQL);
    printf("# longest SQL: %zu bytes of %d\n", strlen(sql), SQLGEN_MAX_SQL);
}

/* ---- round trip in SQLite ---- */

static sqlite3 *db;
static char rows[2048];
static int64_t changes;

/* Runs text (parsed with flags) through sqlgen into db. Rows go to `rows`
 * as "v|v;" (text values in brackets with their length: "[3:abc]"), row
 * changes to `changes`. Returns the final sqlite3_step code (SQLITE_DONE
 * when all went well) or the failing prepare/bind code. */
static int run(const char *text, unsigned flags)
{
    sqlite3_stmt *st = NULL;
    size_t len = 0;
    rows[0] = '\0';
    changes = -1;
    if (!parse(text, flags) || sqlgen_build(&op, sql, sizeof sql) != 0) return -1;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlgen_bind(st, &op);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) break;
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            if (sqlite3_column_type(st, c) == SQLITE_TEXT) {
                const unsigned char *s = sqlite3_column_text(st, c);
                int n = sqlite3_column_bytes(st, c);
                len += (size_t)snprintf(rows + len, sizeof rows - len, "%s[%d:%.*s]", c ? "|" : "", n, n, s);
            } else {
                len += (size_t)snprintf(rows + len, sizeof rows - len, "%s%lld", c ? "|" : "",
                                        (long long)sqlite3_column_int64(st, c));
            }
            if (len >= sizeof rows) { rc = -2; break; }
        }
        if (rc == -2) break;
        len += (size_t)snprintf(rows + len, sizeof rows - len, ";");
        if (len >= sizeof rows) { rc = -2; break; }
    }
    changes = sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

static int open_db(void)
{
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 0;
    return sqlite3_exec(db, "PRAGMA foreign_keys=ON;", NULL, NULL, NULL) == SQLITE_OK &&
           sqlite3_exec(db, db_schema_sql, NULL, NULL, NULL) == SQLITE_OK;
}

static void close_db(void) { sqlite3_close(db); db = NULL; }

static int exec_ok(const char *s) { return sqlite3_exec(db, s, NULL, NULL, NULL) == SQLITE_OK; }

TEST(schema_matches_table_list)
{
    CHECK(open_db());
    CHECK(exec_ok(db_schema_sql));           /* IF NOT EXISTS: a second run is harmless */
    for (int t = 0; t < db_ntables; t++) {
        char q[200];
        snprintf(q, sizeof q, "SELECT COUNT(*) FROM pragma_table_info('%s')", db_tables[t].name);
        sqlite3_stmt *st;
        CHECK_INT(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
        CHECK_INT(sqlite3_step(st), SQLITE_ROW);
        int n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        CHECK_INT(n, db_tables[t].ncols);
        for (int c = 0; c < db_tables[t].ncols; c++) {
            snprintf(q, sizeof q, "SELECT type, \"notnull\" FROM pragma_table_info('%s') WHERE name = '%s'",
                     db_tables[t].name, db_tables[t].cols[c].name);
            CHECK_INT(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
            CHECK_INT(sqlite3_step(st), SQLITE_ROW);
            char type[16];
            snprintf(type, sizeof type, "%s", (const char *)sqlite3_column_text(st, 0));
            int notnull = sqlite3_column_int(st, 1);
            sqlite3_finalize(st);
            CHECK_STR(type, db_tables[t].cols[c].type == DB_TEXT ? "TEXT" : "INTEGER");
            CHECK_INT(notnull, 1);
        }
    }
    close_db();
}

#define NASTY "x'); DROP TABLE users;--"
#define UNI   "\\u00e9\\ud83d\\ude97 \\\"q\\\" \\\\"      /* JSON escapes of: é🚗 "q" \ */
#define UNI_BYTES "\xc3\xa9\xf0\x9f\x9a\x97 \"q\" \\"

TEST(round_trip)
{
    CHECK(open_db());
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"alice\",\"password\":\"pw\"}}", 0),
              SQLITE_DONE);
    CHECK_INT(changes, 1);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"" NASTY "\",\"password\":\""
                  UNI "\"}}", 0), SQLITE_DONE);
    /* the SQL-looking name is data, and comes back as it went in */
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"password\",\"username\"],"
                  "\"where\":{\"username\":\"" NASTY "\"}}", 0), SQLITE_DONE);
    char want[256];
    snprintf(want, sizeof want, "[%zu:%s]|[%zu:%s];", strlen(UNI_BYTES), UNI_BYTES, strlen(NASTY), NASTY);
    CHECK_STR(rows, want);
    CHECK_INT(run("{\"op\":\"count\",\"table\":\"users\"}", 0), SQLITE_DONE);
    CHECK_STR(rows, "2;");

    /* constraint conflicts: duplicate user, ride by an unknown user */
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"alice\",\"password\":\"x\"}}", 0),
              SQLITE_CONSTRAINT);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"nobody\",\"ts\":1,"
                  "\"source\":1,\"destination\":2}}", 0), SQLITE_CONSTRAINT);

    /* rides: the database picks ride_id, or the log entry carries it */
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"alice\",\"ts\":100,"
                  "\"source\":1,\"destination\":2}}", 0), SQLITE_DONE);
    CHECK_INT(sqlite3_last_insert_rowid(db), 1);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"ride_id\":42,\"created_by\":\"" NASTY "\","
                  "\"ts\":300,\"source\":1,\"destination\":2}}", DBOP_ALLOW_AUTO), SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"alice\",\"ts\":200,"
                  "\"source\":1,\"destination\":3}}", 0), SQLITE_DONE);
    CHECK_INT(sqlite3_last_insert_rowid(db), 43);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":42,\"username\":\"alice\"}}", 0),
              SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":1,\"username\":\"" NASTY "\"}}", 0),
              SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":1,\"username\":\"" NASTY "\"}}", 0),
              SQLITE_CONSTRAINT);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":99,\"username\":\"alice\"}}", 0),
              SQLITE_CONSTRAINT);

    /* select with where, order and limit */
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                  "\"where\":{\"source\":1,\"ts\":{\"gt\":100}},\"order\":[{\"column\":\"ts\",\"dir\":\"desc\"}]}", 0),
              SQLITE_DONE);
    CHECK_STR(rows, "42|300;43|200;");
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\"],"
                  "\"order\":[{\"column\":\"ts\"}],\"limit\":2}", 0), SQLITE_DONE);
    CHECK_STR(rows, "1;43;");
    CHECK_INT(run("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"destination\":{\"ne\":3},"
                  "\"created_by\":\"alice\"}}", 0), SQLITE_DONE);
    CHECK_STR(rows, "1;");

    /* update */
    CHECK_INT(run("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"ts\":150,\"destination\":9},"
                  "\"where\":{\"ride_id\":1}}", 0), SQLITE_DONE);
    CHECK_INT(changes, 1);
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"rides\",\"where\":{\"ride_id\":1}}", 0), SQLITE_DONE);
    CHECK_STR(rows, "1|[5:alice]|150|1|9;");
    CHECK_INT(run("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"created_by\":\"nobody\"},"
                  "\"where\":{\"ride_id\":1}}", 0), SQLITE_CONSTRAINT);

    /* deleting a user cascades to their rides and every membership of those */
    CHECK_INT(run("{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"alice\"}}", 0), SQLITE_DONE);
    CHECK_INT(changes, 1);
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"created_by\"]}", 0), SQLITE_DONE);
    snprintf(want, sizeof want, "42|[%zu:%s];", strlen(NASTY), NASTY);
    CHECK_STR(rows, want);
    CHECK_INT(run("{\"op\":\"count\",\"table\":\"ride_members\"}", 0), SQLITE_DONE);
    CHECK_STR(rows, "0;");

    /* deleting a ride cascades to its members */
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":42,\"username\":\"" NASTY "\"}}", 0),
              SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"delete\",\"table\":\"rides\",\"where\":{\"ride_id\":42}}", 0), SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"count\",\"table\":\"ride_members\"}", 0), SQLITE_DONE);
    CHECK_STR(rows, "0;");

    /* the users table survived its name being used as data */
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"]}", 0), SQLITE_DONE);
    snprintf(want, sizeof want, "[%zu:%s];", strlen(NASTY), NASTY);
    CHECK_STR(rows, want);
    close_db();
}

/* Paging walks every row once, in order, whatever the page size; with ties
 * in the first order column the second one decides. */
TEST(after_pages_through_every_row_once)
{
    CHECK(open_db());
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"u\",\"password\":\"p\"}}", 0),
              SQLITE_DONE);
    char text[400], all[2048] = "";
    for (int i = 1; i <= 9; i++) {   /* ts 10, 10, 10, 20, 20, 20, ... on two routes */
        snprintf(text, sizeof text, "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"u\","
                 "\"ts\":%d,\"source\":%d,\"destination\":2}}", 10 * ((i + 2) / 3), 1 + i % 2);
        CHECK_INT(run(text, 0), SQLITE_DONE);
    }
    CHECK_INT(run("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                  "\"where\":{\"source\":1,\"destination\":2},"
                  "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}]}", 0), SQLITE_DONE);
    snprintf(all, sizeof all, "%s", rows);
    CHECK_STR(all, "2|10;4|20;6|20;8|30;");
    for (int page = 1; page <= 3; page++) {
        char got[2048] = "";
        int64_t ts = -1, id = -1;
        for (;;) {
            if (ts < 0)
                snprintf(text, sizeof text, "{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                         "\"where\":{\"source\":1,\"destination\":2},"
                         "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],\"limit\":%d}", page);
            else
                snprintf(text, sizeof text, "{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                         "\"where\":{\"source\":1,\"destination\":2},"
                         "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],\"limit\":%d,"
                         "\"after\":{\"ts\":%lld,\"ride_id\":%lld}}", page, (long long)ts, (long long)id);
            CHECK_INT(run(text, 0), SQLITE_DONE);
            if (!rows[0]) break;
            strcat(got, rows);
            /* the last row of the page: "id|ts;" */
            const char *last = rows + strlen(rows) - 1;
            while (last > rows && last[-1] != ';') last--;
            CHECK_INT(sscanf(last, "%lld|%lld;", (long long *)&id, (long long *)&ts), 2);
        }
        CHECK_STR(got, all);
    }
    close_db();
}

/* The queries behind the paged lists read an index in order: no table scan,
 * no sort, however many rows. */
static int plan_uses_index(const char *text, const char *index)
{
    char q[SQLGEN_MAX_SQL + 32], plan[1024] = "";
    if (!parse(text, 0) || sqlgen_build(&op, sql, sizeof sql) != 0) return 0;
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) return 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = strlen(plan);
        snprintf(plan + n, sizeof plan - n, "%s; ", (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    int ok = strstr(plan, index) && !strstr(plan, "TEMP B-TREE") && !strstr(plan, "SCAN rides") &&
             strstr(plan, "SEARCH");
    printf("# %s: %s\n", ok ? "plan" : "BAD plan", plan);
    return ok;
}

TEST(paged_lists_use_an_index)
{
    CHECK(open_db());
    CHECK(plan_uses_index("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                          "\"order\":[{\"column\":\"username\"}],\"after\":{\"username\":\"b\"},\"limit\":2}",
                          "sqlite_autoindex_users_1"));
    CHECK(plan_uses_index("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                          "\"where\":{\"username\":\"b\"},\"limit\":1}", "sqlite_autoindex_users_1"));
    /* The rides list's first page, then a later one: the row value alone is
     * the range (with a "ts" filter beside it SQLite would start from that
     * filter instead, and scan every row before the cursor). */
    CHECK(plan_uses_index("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"created_by\",\"ts\"],"
                          "\"where\":{\"source\":1,\"destination\":2,\"ts\":{\"gt\":5}},"
                          "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],\"limit\":100}", "rides_route"));
    CHECK(plan_uses_index("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"created_by\",\"ts\"],"
                          "\"where\":{\"source\":1,\"destination\":2},"
                          "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],"
                          "\"after\":{\"ts\":9,\"ride_id\":3},\"limit\":100}", "ts>?"));
    close_db();
}

/* ... and a page deep into a long list costs what the first one does: the
 * cursor is where the index search starts (counted in SQLite VM steps). */
TEST(a_deep_page_reads_only_its_rows)
{
    CHECK(open_db());
    CHECK(exec_ok("INSERT INTO users VALUES ('u', 'p');"
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
                  " INSERT INTO rides (created_by, ts, source, destination) SELECT 'u', 1000 + i / 3, 1, 2 FROM n;"));
    CHECK(parse("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                "\"where\":{\"source\":1,\"destination\":2},"
                "\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],"
                "\"after\":{\"ts\":7665,\"ride_id\":19995},\"limit\":10}", 0));
    CHECK_INT(sqlgen_build(&op, sql, sizeof sql), 0);
    sqlite3_stmt *st;
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlgen_bind(st, &op), SQLITE_OK);
    int n = 0;
    int64_t first = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        if (n++ == 0) first = sqlite3_column_int64(st, 0);
    int steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_finalize(st);
    CHECK_INT(n, 5);
    CHECK_INT(first, 19996);
    printf("# %d VM steps for a page at the end of 20000 rows\n", steps);
    CHECK(steps < 500);
    close_db();
}

TEST(clear_script_empties_everything)
{
    CHECK(open_db());
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"a\",\"password\":\"p\"}}", 0),
              SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"a\",\"ts\":1,"
                  "\"source\":1,\"destination\":2}}", 0), SQLITE_DONE);
    CHECK_INT(run("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":1,\"username\":\"a\"}}", 0),
              SQLITE_DONE);
    int before = sqlite3_total_changes(db);
    CHECK(exec_ok(sqlgen_clear_sql()));
    CHECK_INT(sqlite3_total_changes(db) - before, 3);
    for (int t = 0; t < db_ntables; t++) {
        char text[96];
        snprintf(text, sizeof text, "{\"op\":\"count\",\"table\":\"%s\"}", db_tables[t].name);
        CHECK_INT(run(text, 0), SQLITE_DONE);
        CHECK_STR(rows, "0;");
    }
    close_db();
}

/* The worker names a row's members after sqlite3_column_name: quoting the
 * identifiers must not show in those names. */
TEST(result_columns_carry_schema_names)
{
    CHECK(open_db());
    CHECK(parse("{\"op\":\"select\",\"table\":\"rides\"}", 0));
    CHECK_INT(sqlgen_build(&op, sql, sizeof sql), 0);
    sqlite3_stmt *st;
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int n = sqlite3_column_count(st), same = n == op.table->ncols;
    for (int c = 0; same && c < n; c++)
        same = strcmp(sqlite3_column_name(st, c), op.table->cols[c].name) == 0;
    sqlite3_finalize(st);
    CHECK(same);
    close_db();
}

TEST(bind_checks_the_statement)
{
    CHECK(open_db());
    sqlite3_stmt *st;
    CHECK(parse("{\"op\":\"count\",\"table\":\"users\",\"where\":{\"username\":\"a\"}}", 0));
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM users", -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlgen_bind(st, &op), SQLITE_RANGE);        /* too few placeholders */
    sqlite3_finalize(st);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM users WHERE username = ? AND password = ?",
                                 -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlgen_bind(st, &op), SQLITE_RANGE);        /* too many */
    sqlite3_finalize(st);
    close_db();
}

int main(void)
{
    test_suite = "test_sqlgen";
    RUN(sql_text_per_kind);
    RUN(clear_and_small_buffers);
    RUN(longest_operation_fits_max_sql);
    RUN(schema_matches_table_list);
    RUN(sql_text_of_after);
    RUN(round_trip);
    RUN(after_pages_through_every_row_once);
    RUN(paged_lists_use_an_index);
    RUN(a_deep_page_reads_only_its_rows);
    RUN(clear_script_empties_everything);
    RUN(result_columns_carry_schema_names);
    RUN(bind_checks_the_statement);
    if (db) close_db();
    cJSON_Delete(tree);
    return test_done();
}
