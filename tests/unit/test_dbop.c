/*
 * test_dbop.c — the validator of DB operations (common/db/dbop.c).
 *
 * Each error path of dbop_parse is driven by a small JSON text and checked
 * by a fragment of the expected message, so a message that changes wording
 * but still names the problem keeps passing, while a check that stops
 * firing (or fires for the wrong reason) does not. Accepted operations are
 * checked field by field. The cJSON tree of the last accepted operation is
 * kept in `tree` because a struct dbop points into it.
 */
#include "dbop.h"
#include "json.h"
#include "test.h"

#include <stdlib.h>

static cJSON *tree;
static char err[256];

/* Parses text with flags into *op; the tree stays alive until the next call. */
static int parse(const char *text, unsigned flags, struct dbop *op)
{
    cJSON_Delete(tree);
    tree = json_parse(text, strlen(text));
    if (!tree) { snprintf(err, sizeof err, "(not JSON)"); return -2; }
    return dbop_parse(tree, flags, op, err, sizeof err);
}

/* Whether text is rejected with a message containing want. */
static int rejects_f(const char *text, unsigned flags, const char *want)
{
    struct dbop op;
    int rc = parse(text, flags, &op);
    if (rc == -1 && strstr(err, want)) return 1;
    printf("# %s -> rc %d, err \"%s\", wanted \"%s\"\n", text, rc, rc ? err : "", want);
    return 0;
}
static int rejects(const char *text, const char *want) { return rejects_f(text, 0, want); }

static int accepts(const char *text, unsigned flags, struct dbop *op)
{
    int rc = parse(text, flags, op);
    if (rc == 0) return 1;
    printf("# %s -> rc %d, err \"%s\"\n", text, rc, err);
    return 0;
}

#define USER_INS "{\"op\":\"insert\",\"table\":\"users\",\"values\":"
#define RIDE_INS "{\"op\":\"insert\",\"table\":\"rides\",\"values\":"
#define RIDE_VALS "\"created_by\":\"a\",\"ts\":1,\"source\":2,\"destination\":3"

TEST(schema_lookup)
{
    const struct db_table *t = db_table_find("rides");
    CHECK(t != NULL);
    CHECK_STR(t->name, "rides");
    CHECK_INT(t->auto_col, 0);
    CHECK(t->cols[t->auto_col].flags & DBCOL_AUTO);
    CHECK_INT(db_column_find(t, "destination"), 4);
    CHECK_INT(db_column_find(t, "nope"), -1);
    CHECK_INT(db_column_find(t, NULL), -1);
    CHECK(db_table_find("Rides") == NULL);
    CHECK(db_table_find(NULL) == NULL);
    CHECK_INT(db_table_find("users")->auto_col, -1);
    CHECK_INT(db_table_find("ride_members")->auto_col, -1);
    CHECK_INT(db_ntables, 3);
}

TEST(rejects_non_objects)
{
    CHECK(rejects("[]", "must be a JSON object"));
    CHECK(rejects("\"insert\"", "must be a JSON object"));
    CHECK(rejects("1", "must be a JSON object"));
    CHECK(rejects("null", "must be a JSON object"));
    struct dbop op;
    CHECK_INT(dbop_parse(NULL, 0, &op, err, sizeof err), -1);
}

TEST(rejects_bad_op)
{
    CHECK(rejects("{}", "missing 'op'"));
    CHECK(rejects("{\"table\":\"users\"}", "missing 'op'"));
    CHECK(rejects("{\"op\":1,\"table\":\"users\"}", "'op' must be a string"));
    CHECK(rejects("{\"op\":[\"count\"],\"table\":\"users\"}", "'op' must be a string"));
    CHECK(rejects("{\"op\":\"drop\",\"table\":\"users\"}", "unknown op 'drop'"));
    CHECK(rejects("{\"op\":\"COUNT\",\"table\":\"users\"}", "unknown op 'COUNT'"));
    CHECK(rejects("{\"op\":\"count\",\"op\":\"count\",\"table\":\"users\"}", "duplicate key 'op'"));
}

TEST(rejects_unknown_duplicate_and_misplaced_keys)
{
    CHECK(rejects("{\"op\":\"count\",\"table\":\"users\",\"x\":1}", "unknown key 'x'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"users\",\"table\":\"rides\"}", "duplicate key 'table'"));
    CHECK(rejects(USER_INS "{\"username\":\"a\",\"password\":\"p\"},\"limit\":1}",
                  "key 'limit' is not allowed for insert"));
    CHECK(rejects(USER_INS "{\"username\":\"a\",\"password\":\"p\"},\"where\":{\"username\":\"a\"}}",
                  "key 'where' is not allowed for insert"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"users\",\"columns\":[\"username\"]}",
                  "key 'columns' is not allowed for count"));
    CHECK(rejects("{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"a\"},\"set\":{}}",
                  "key 'set' is not allowed for delete"));
    CHECK(rejects("{\"op\":\"update\",\"table\":\"users\",\"values\":{},\"set\":{\"password\":\"p\"},"
                  "\"where\":{\"username\":\"a\"}}", "key 'values' is not allowed for update"));
}

TEST(rejects_bad_table)
{
    CHECK(rejects("{\"op\":\"count\"}", "missing 'table'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":3}", "'table' must be a string"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"sqlite_master\"}", "unknown table 'sqlite_master'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"users;--\"}", "unknown table 'users;--'"));
}

TEST(clear_needs_its_flag_and_nothing_else)
{
    struct dbop op;
    CHECK(rejects("{\"op\":\"clear\"}", "op 'clear' is not allowed here"));
    CHECK(rejects_f("{\"op\":\"clear\"}", DBOP_ALLOW_AUTO, "not allowed here"));
    CHECK(accepts("{\"op\":\"clear\"}", DBOP_ALLOW_CLEAR, &op));
    CHECK_INT(op.kind, DBOP_CLEAR);
    CHECK(op.table == NULL);
    CHECK(dbop_is_write(&op));
    CHECK(rejects_f("{\"op\":\"clear\",\"table\":\"users\"}", DBOP_ALLOW_CLEAR, "takes no other keys"));
    CHECK(rejects_f("{\"op\":\"clear\",\"x\":1}", DBOP_ALLOW_CLEAR, "unknown key 'x'"));
}

TEST(insert_accepts_full_row_in_table_order)
{
    struct dbop op;
    CHECK(accepts(RIDE_INS "{\"destination\":3,\"source\":2,\"ts\":1585747800,\"created_by\":\"alice\"}}", 0, &op));
    CHECK_INT(op.kind, DBOP_INSERT);
    CHECK_STR(op.table->name, "rides");
    CHECK_INT(op.nset, 4);
    CHECK_INT(op.set[0].col, 1);
    CHECK_INT(op.set[0].v.type, DB_TEXT);
    CHECK_STR(op.set[0].v.s, "alice");
    CHECK_INT(op.set[0].v.len, 5);
    CHECK_INT(op.set[1].col, 2); CHECK_INT(op.set[1].v.i, 1585747800);
    CHECK_INT(op.set[2].col, 3); CHECK_INT(op.set[2].v.i, 2);
    CHECK_INT(op.set[3].col, 4); CHECK_INT(op.set[3].v.i, 3);
    CHECK_INT(op.set[3].v.type, DB_INTEGER);
    CHECK_INT(op.nwhere, 0);
    CHECK_INT(op.limit, -1);
    CHECK(dbop_is_write(&op));
}

TEST(insert_errors)
{
    CHECK(rejects("{\"op\":\"insert\",\"table\":\"users\"}", "missing 'values'"));
    CHECK(rejects(USER_INS "[\"a\",\"p\"]}", "'values' must be an object"));
    CHECK(rejects(USER_INS "\"a\"}", "'values' must be an object"));
    CHECK(rejects(USER_INS "{\"username\":\"a\"}}", "missing column 'password'"));
    CHECK(rejects(USER_INS "{}}", "missing column 'username'"));
    CHECK(rejects(USER_INS "{\"username\":\"a\",\"password\":\"p\",\"email\":\"e\"}}",
                  "unknown column 'email' in table 'users'"));
    CHECK(rejects(USER_INS "{\"username\":\"a\",\"password\":\"p\",\"username\":\"b\"}}",
                  "duplicate column 'username'"));
}

TEST(values_must_have_the_column_type)
{
    static const char *const not_text[] = { "1", "null", "true", "false", "[]", "{}", "[\"a\"]", "1.5" };
    static const char *const not_int[] = { "\"1\"", "1.5", "1e300", "-1e300", "null", "true", "[]",
                                           "{}", "[1]", "9007199254740992", "1000000000000000",
                                           "-1000000000000000" };
    char text[256];
    for (size_t i = 0; i < sizeof not_text / sizeof *not_text; i++) {
        snprintf(text, sizeof text, USER_INS "{\"username\":%s,\"password\":\"p\"}}", not_text[i]);
        CHECK(rejects(text, "column 'username' expects a string"));
    }
    for (size_t i = 0; i < sizeof not_int / sizeof *not_int; i++) {
        snprintf(text, sizeof text, RIDE_INS "{\"created_by\":\"a\",\"ts\":%s,\"source\":2,\"destination\":3}}",
                 not_int[i]);
        CHECK(rejects(text, "column 'ts' expects an integer"));
    }
    struct dbop op;
    CHECK(accepts(RIDE_INS "{\"created_by\":\"\",\"ts\":-999999999999999,\"source\":0,"
                  "\"destination\":999999999999999}}", 0, &op));
    CHECK_INT(op.set[0].v.len, 0);
    CHECK_INT(op.set[1].v.i, -DBOP_MAX_INT);
    CHECK_INT(op.set[3].v.i, DBOP_MAX_INT);
    CHECK(accepts(RIDE_INS "{\"created_by\":\"a\",\"ts\":1e3,\"source\":-0,\"destination\":2.0}}", 0, &op));
    CHECK_INT(op.set[1].v.i, 1000);
    CHECK_INT(op.set[2].v.i, 0);
    CHECK_INT(op.set[3].v.i, 2);
}

TEST(text_values_are_kept_verbatim)
{
    struct dbop op;
    CHECK(accepts(USER_INS "{\"username\":\"x'); DROP TABLE users;--\","
                  "\"password\":\"\\\"q\\\" \\u00e9\\ud83d\\ude97 \\\\ \\n\"}}", 0, &op));
    CHECK_STR(op.set[0].v.s, "x'); DROP TABLE users;--");
    CHECK_INT(op.set[0].v.len, strlen("x'); DROP TABLE users;--"));
    CHECK_STR(op.set[1].v.s, "\"q\" \xc3\xa9\xf0\x9f\x9a\x97 \\ \n");
    CHECK_INT(op.set[1].v.len, strlen("\"q\" \xc3\xa9\xf0\x9f\x9a\x97 \\ \n"));
    /* cJSON would end a string at an escaped NUL, so such text is refused
     * before it can be stored cut short. */
    static const char nul[] = USER_INS "{\"username\":\"a\\u0000b\",\"password\":\"p\"}}";
    CHECK(json_parse(nul, sizeof nul - 1) == NULL);
}

TEST(auto_column_only_with_its_flag)
{
    struct dbop op;
    CHECK(rejects(RIDE_INS "{\"ride_id\":7," RIDE_VALS "}}", "column 'ride_id' is chosen by the server"));
    CHECK(accepts(RIDE_INS "{\"ride_id\":7," RIDE_VALS "}}", DBOP_ALLOW_AUTO, &op));
    CHECK_INT(op.nset, 5);
    CHECK_INT(op.set[0].col, 0);
    CHECK_INT(op.set[0].v.i, 7);
    CHECK(accepts(RIDE_INS "{" RIDE_VALS "}}", DBOP_ALLOW_AUTO, &op));
    CHECK_INT(op.nset, 4);
    CHECK(rejects_f(RIDE_INS "{\"ride_id\":\"7\"," RIDE_VALS "}}", DBOP_ALLOW_AUTO,
                    "column 'ride_id' expects an integer"));
    /* never in an update, flag or not */
    CHECK(rejects_f("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"ride_id\":8},\"where\":{\"ride_id\":7}}",
                    DBOP_ALLOW_AUTO | DBOP_ALLOW_CLEAR, "column 'ride_id' is chosen by the server"));
    /* a plain column named ride_id in another table is settable */
    CHECK(accepts("{\"op\":\"insert\",\"table\":\"ride_members\",\"values\":{\"ride_id\":7,\"username\":\"a\"}}",
                  0, &op));
}

TEST(update_and_delete)
{
    struct dbop op;
    CHECK(accepts("{\"op\":\"update\",\"table\":\"rides\",\"where\":{\"ride_id\":7},"
                  "\"set\":{\"ts\":5,\"created_by\":\"b\"}}", 0, &op));
    CHECK_INT(op.kind, DBOP_UPDATE);
    CHECK_INT(op.nset, 2);
    CHECK_INT(op.set[0].col, 1);
    CHECK_INT(op.set[1].col, 2);
    CHECK_INT(op.nwhere, 1);
    CHECK_INT(op.where[0].col, 0);
    CHECK_INT(op.where[0].cmp, DBOP_EQ);
    CHECK_INT(op.where[0].v.i, 7);
    CHECK(rejects("{\"op\":\"update\",\"table\":\"rides\",\"where\":{\"ride_id\":7}}", "missing 'set'"));
    CHECK(rejects("{\"op\":\"update\",\"table\":\"rides\",\"set\":{},\"where\":{\"ride_id\":7}}",
                  "'set' must not be empty"));
    CHECK(rejects("{\"op\":\"update\",\"table\":\"rides\",\"set\":[],\"where\":{\"ride_id\":7}}",
                  "'set' must be an object"));
    CHECK(rejects("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"ts\":1,\"ts\":2},\"where\":{\"ride_id\":7}}",
                  "duplicate column 'ts' in 'set'"));
    CHECK(rejects("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"ts\":1}}", "missing 'where'"));
    CHECK(rejects("{\"op\":\"update\",\"table\":\"rides\",\"set\":{\"ts\":1},\"where\":{}}",
                  "'where' must not be empty"));
    CHECK(accepts("{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"a\"}}", 0, &op));
    CHECK_INT(op.kind, DBOP_DELETE);
    CHECK(dbop_is_write(&op));
    CHECK(rejects("{\"op\":\"delete\",\"table\":\"users\"}", "missing 'where'"));
    CHECK(rejects("{\"op\":\"delete\",\"table\":\"users\",\"where\":{}}", "'where' must not be empty"));
}

TEST(where_grammar)
{
    struct dbop op;
    CHECK(accepts("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"source\":1,"
                  "\"ts\":{\"gt\":10,\"le\":20},\"created_by\":{\"ne\":\"x\"}}}", 0, &op));
    CHECK_INT(op.kind, DBOP_COUNT);
    CHECK(!dbop_is_write(&op));
    CHECK_INT(op.nwhere, 4);
    CHECK_INT(op.where[0].col, 3); CHECK_INT(op.where[0].cmp, DBOP_EQ); CHECK_INT(op.where[0].v.i, 1);
    CHECK_INT(op.where[1].col, 2); CHECK_INT(op.where[1].cmp, DBOP_GT); CHECK_INT(op.where[1].v.i, 10);
    CHECK_INT(op.where[2].col, 2); CHECK_INT(op.where[2].cmp, DBOP_LE); CHECK_INT(op.where[2].v.i, 20);
    CHECK_INT(op.where[3].col, 1); CHECK_INT(op.where[3].cmp, DBOP_NE); CHECK_STR(op.where[3].v.s, "x");
    CHECK(accepts("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":{\"eq\":1,\"ne\":2,\"lt\":3,"
                  "\"le\":4,\"gt\":5,\"ge\":6}}}", 0, &op));
    CHECK_INT(op.nwhere, 6);
    for (int i = 0; i < 6; i++) CHECK_INT(op.where[i].cmp, i);
    CHECK(accepts("{\"op\":\"count\",\"table\":\"rides\",\"where\":{}}", 0, &op));
    CHECK_INT(op.nwhere, 0);

    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":[]}", "'where' must be an object"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":\"ts=1\"}", "'where' must be an object"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"nope\":1}}",
                  "unknown column 'nope' in table 'rides'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":{\"like\":1}}}",
                  "unknown operator 'like' for column 'ts'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":{}}}", "empty condition for column 'ts'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":1,\"ts\":2}}",
                  "duplicate column 'ts' in 'where'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":{\"gt\":1,\"gt\":2}}}",
                  "duplicate operator 'gt'"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":{\"gt\":\"1\"}}}",
                  "column 'ts' expects an integer"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":null}}", "column 'ts' expects an integer"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"where\":{\"ts\":[1,2]}}", "column 'ts' expects an integer"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"users\",\"where\":{\"username\":{\"eq\":1}}}",
                  "column 'username' expects a string"));
}

TEST(where_filter_bound)
{
    struct dbop op;
    /* 16 conditions: 6 + 6 + 4 */
    const char *sixteen = "{\"op\":\"count\",\"table\":\"rides\",\"where\":{"
        "\"ts\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4,\"gt\":5,\"ge\":6},"
        "\"source\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4,\"gt\":5,\"ge\":6},"
        "\"destination\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4}}}";
    CHECK(accepts(sixteen, 0, &op));
    CHECK_INT(op.nwhere, DBOP_MAX_FILTERS);
    const char *seventeen = "{\"op\":\"count\",\"table\":\"rides\",\"where\":{"
        "\"ts\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4,\"gt\":5,\"ge\":6},"
        "\"source\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4,\"gt\":5,\"ge\":6},"
        "\"destination\":{\"eq\":1,\"ne\":2,\"lt\":3,\"le\":4},\"ride_id\":9}}";
    CHECK(rejects(seventeen, "too many conditions in 'where' (at most 16)"));
}

TEST(select_columns)
{
    struct dbop op;
    CHECK(accepts("{\"op\":\"select\",\"table\":\"rides\"}", 0, &op));
    CHECK_INT(op.kind, DBOP_SELECT);
    CHECK(!dbop_is_write(&op));
    CHECK_INT(op.ncols, 5);
    for (int i = 0; i < 5; i++) CHECK_INT(op.cols[i], i);
    CHECK_INT(op.limit, -1);
    CHECK(accepts("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ts\",\"ride_id\"]}", 0, &op));
    CHECK_INT(op.ncols, 2);
    CHECK_INT(op.cols[0], 2);
    CHECK_INT(op.cols[1], 0);
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[]}", "'columns' must not be empty"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"columns\":\"ts\"}", "'columns' must be an array"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[1]}", "'columns' must be an array"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ts\",\"ts\"]}",
                  "duplicate column 'ts' in 'columns'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"*\"]}", "unknown column '*'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"users\",\"columns\":[\"ts\"]}",
                  "unknown column 'ts' in table 'users'"));
}

TEST(select_order)
{
    struct dbop op;
    CHECK(accepts("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\",\"dir\":\"desc\"},"
                  "{\"column\":\"ride_id\"},{\"dir\":\"asc\",\"column\":\"source\"}]}", 0, &op));
    CHECK_INT(op.norder, 3);
    CHECK_INT(op.order[0].col, 2); CHECK_INT(op.order[0].desc, 1);
    CHECK_INT(op.order[1].col, 0); CHECK_INT(op.order[1].desc, 0);
    CHECK_INT(op.order[2].col, 3); CHECK_INT(op.order[2].desc, 0);
    CHECK(accepts("{\"op\":\"select\",\"table\":\"rides\",\"order\":[]}", 0, &op));
    CHECK_INT(op.norder, 0);
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":{\"column\":\"ts\"}}", "'order' must be an array"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[\"ts\"]}", "'order' must be an array"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"dir\":\"asc\"}]}", "missing 'column' in 'order'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":2}]}", "'column' in 'order' must be a string"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"x\"}]}", "unknown column 'x'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\",\"dir\":\"up\"}]}",
                  "'dir' in 'order' must be \"asc\" or \"desc\""));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\",\"dir\":1}]}",
                  "'dir' in 'order' must be"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\",\"nulls\":\"first\"}]}",
                  "unknown key 'nulls' in 'order'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\",\"column\":\"source\"}]}",
                  "duplicate key 'column' in 'order'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"},{\"column\":\"ts\",\"dir\":\"desc\"}]}",
                  "duplicate column 'ts' in 'order'"));
}

/* A select's integer bounds: 1 and max are taken, anything else refused. */
static int bound_checked(const char *key, long long max, int64_t (*got)(const struct dbop *))
{
    struct dbop op;
    char text[128], want[96];
    snprintf(want, sizeof want, "'%s' must be an integer from 1 to %lld", key, max);
    for (long long ok = 1; ok <= max; ok = ok == 1 ? max : max + 1) {
        snprintf(text, sizeof text, "{\"op\":\"select\",\"table\":\"users\",\"%s\":%lld}", key, ok);
        if (!accepts(text, 0, &op) || got(&op) != ok) return 0;
    }
    char over[32];
    snprintf(over, sizeof over, "%lld", max + 1);
    const char *const bad[] = { "0", "-1", over, "1.5", "\"5\"", "null", "1e300", "true" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "{\"op\":\"select\",\"table\":\"users\",\"%s\":%s}", key, bad[i]);
        if (!rejects(text, want)) return 0;
    }
    return 1;
}

static int64_t limit_of(const struct dbop *op) { return op->limit; }
static int64_t max_bytes_of(const struct dbop *op) { return op->max_bytes; }

TEST(select_limit_and_max_bytes_bounds)
{
    CHECK(bound_checked("limit", DBOP_MAX_LIMIT, limit_of));
    CHECK(bound_checked("max_bytes", DBOP_MAX_BYTES, max_bytes_of));
    CHECK(rejects("{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"a\"},\"max_bytes\":5}",
                  "key 'max_bytes' is not allowed for delete"));
}

TEST(select_after_is_a_keyset_cursor)
{
    struct dbop op;
    /* values are stored in the order's order, whatever the object's */
    CHECK(accepts("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],"
                  "\"after\":{\"ride_id\":7,\"ts\":100},\"limit\":10}", 0, &op));
    CHECK_INT(op.nafter, 2);
    CHECK_INT(op.after[0].type, DB_INTEGER); CHECK_INT(op.after[0].i, 100);
    CHECK_INT(op.after[1].i, 7);
    CHECK(accepts("{\"op\":\"select\",\"table\":\"users\",\"order\":[{\"column\":\"username\",\"dir\":\"desc\"}],"
                  "\"after\":{\"username\":\"bob\"}}", 0, &op));
    CHECK_INT(op.nafter, 1);
    CHECK_STR(op.after[0].s, "bob");
    CHECK_INT(op.after[0].len, 3);
    CHECK(accepts("{\"op\":\"select\",\"table\":\"users\"}", 0, &op));
    CHECK_INT(op.nafter, 0);
    CHECK_INT(op.max_bytes, 0);

    CHECK(rejects("{\"op\":\"select\",\"table\":\"users\",\"after\":{\"username\":\"b\"}}", "'after' needs 'order'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"users\",\"order\":[],\"after\":{}}", "'after' needs 'order'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"users\",\"order\":[{\"column\":\"username\"}],\"after\":[\"b\"]}",
                  "'after' must be an object"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}],"
                  "\"after\":{\"ts\":1}}", "missing column 'ride_id' in 'after'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"}],"
                  "\"after\":{\"ts\":1,\"ride_id\":2}}", "column 'ride_id' in 'after' is not in 'order'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"}],"
                  "\"after\":{\"ts\":1,\"ts\":2}}", "duplicate column 'ts' in 'after'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"}],"
                  "\"after\":{\"ts\":\"1\"}}", "column 'ts' expects an integer"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"}],"
                  "\"after\":{\"nope\":1}}", "unknown column 'nope'"));
    CHECK(rejects("{\"op\":\"select\",\"table\":\"rides\",\"order\":[{\"column\":\"ts\"},"
                  "{\"column\":\"ride_id\",\"dir\":\"desc\"}],\"after\":{\"ts\":1,\"ride_id\":2}}",
                  "every 'order' column in the same direction"));
    CHECK(rejects("{\"op\":\"count\",\"table\":\"rides\",\"after\":{}}", "key 'after' is not allowed for count"));
}

TEST(messages_quote_client_text_safely)
{
    char name[300], text[400];
    memset(name, 'a', 200);
    name[200] = '\0';
    snprintf(text, sizeof text, "{\"op\":\"count\",\"table\":\"users\",\"where\":{\"%s\":1}}", name);
    CHECK(rejects(text, "unknown column 'aaaa"));
    CHECK(strstr(err, "...' in table 'users'") != NULL);
    CHECK(strlen(err) < 120);
    /* control bytes and non-ASCII become '?' */
    CHECK(rejects("{\"op\":\"c\\n\\u001b[31m\\u00e9\",\"table\":\"users\"}", "unknown op 'c?"));
    for (const char *p = err; *p; p++) CHECK(*p >= 0x20 && *p < 0x7f);
}

TEST(err_is_always_terminated)
{
    struct dbop op;
    char small[8];
    memset(small, 'x', sizeof small);
    cJSON_Delete(tree);
    tree = json_parse("[]", 2);
    CHECK_INT(dbop_parse(tree, 0, &op, small, sizeof small), -1);
    CHECK_INT(strlen(small), 7);
    CHECK_INT(dbop_parse(tree, 0, &op, NULL, 0), -1);   /* no buffer at all */
    cJSON_Delete(tree);
    const char *ok = "{\"op\":\"count\",\"table\":\"users\"}";
    tree = json_parse(ok, strlen(ok));
    small[0] = 'x';
    CHECK_INT(dbop_parse(tree, 0, &op, small, sizeof small), 0);
    CHECK_STR(small, "");                                 /* cleared on success */
}

TEST(kind_names)
{
    CHECK_STR(dbop_kind_name(DBOP_INSERT), "insert");
    CHECK_STR(dbop_kind_name(DBOP_UPDATE), "update");
    CHECK_STR(dbop_kind_name(DBOP_DELETE), "delete");
    CHECK_STR(dbop_kind_name(DBOP_SELECT), "select");
    CHECK_STR(dbop_kind_name(DBOP_COUNT), "count");
    CHECK_STR(dbop_kind_name(DBOP_CLEAR), "clear");
    CHECK_STR(dbop_kind_name((enum dbop_kind)99), "unknown");
}

int main(void)
{
    test_suite = "test_dbop";
    RUN(schema_lookup);
    RUN(rejects_non_objects);
    RUN(rejects_bad_op);
    RUN(rejects_unknown_duplicate_and_misplaced_keys);
    RUN(rejects_bad_table);
    RUN(clear_needs_its_flag_and_nothing_else);
    RUN(insert_accepts_full_row_in_table_order);
    RUN(insert_errors);
    RUN(values_must_have_the_column_type);
    RUN(text_values_are_kept_verbatim);
    RUN(auto_column_only_with_its_flag);
    RUN(update_and_delete);
    RUN(where_grammar);
    RUN(where_filter_bound);
    RUN(select_columns);
    RUN(select_order);
    RUN(select_limit_and_max_bytes_bounds);
    RUN(select_after_is_a_keyset_cursor);
    RUN(messages_quote_client_text_safely);
    RUN(err_is_always_terminated);
    RUN(kind_names);
    cJSON_Delete(tree);
    return test_done();
}
