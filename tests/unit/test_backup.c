/*
 * test_backup.c — the backup format (common/db/backupfile.h) and the store's
 * two ends of it (services/worker/store.h): store_backup makes a file that
 * backupfile_check accepts, with the data of the last commit and nothing of
 * the bookkeeping; backupfile_check refuses a corrupt, a foreign and a
 * truncated file; store_restore makes a store's tables exactly the
 * backup's, never reusing a ride id.
 */
#include "backupfile.h"
#include "dbop.h"
#include "json.h"
#include "test.h"
#include "store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/rs-backup.XXXXXX";
static char path_a[300], path_b[300], backup[300];

static int write_op(struct store *st, const char *text, int64_t seq)
{
    char err[160], rid[32];
    cJSON *j = json_parse(text, strlen(text));
    struct dbop op;
    cJSON *result = NULL;
    int status = -1;
    if (j && dbop_parse(j, DBOP_ALLOW_AUTO, &op, err, sizeof err) == 0) {
        status = store_apply(st, &op, j, &result, err, sizeof err);
        snprintf(rid, sizeof rid, "rid-%lld", (long long)seq);
        if (status == 200 && store_record(st, rid, seq, 1000, 200, "{}")) status = -1;
    }
    cJSON_Delete(result);
    cJSON_Delete(j);
    return status;
}

static int add_user(struct store *st, const char *name, int64_t seq)
{
    char text[200];
    snprintf(text, sizeof text,
             "{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"%s\",\"password\":\"%040d\"}}", name, 0);
    return write_op(st, text, seq);
}

static int add_ride(struct store *st, const char *by, int64_t seq)
{
    char text[200];
    snprintf(text, sizeof text,
             "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"%s\",\"ts\":%lld,\"source\":1,"
             "\"destination\":2}}", by, (long long)seq);
    return write_op(st, text, seq);
}

static int64_t scalar(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* Store a: alice, bob and two rides (ids 1, 2) committed at seq 4; carol
 * in an open batch. */
static struct store *make_a(void)
{
    struct store *st = store_open(path_a);
    if (!st) return NULL;
    struct store_pos pos = store_position(st);
    if (store_begin(st) || add_user(st, "alice", 1) != 200 || add_user(st, "bob", 2) != 200 ||
        add_ride(st, "alice", 3) != 200 || add_ride(st, "bob", 4) != 200)
        return st;
    pos.applied_seq = 4;
    pos.max_epoch = 7;
    store_commit(st, &pos);
    store_begin(st);
    add_user(st, "carol", 5);
    return st;
}

TEST(backup_holds_the_last_commit_and_no_bookkeeping)
{
    struct store *a = make_a();
    CHECK(a != NULL);
    struct backup_meta meta = { .made_at_ms = 123 };
    snprintf(meta.made_by, sizeof meta.made_by, "w1");
    char err[300] = "";
    CHECK_INT(store_backup(path_a, backup, &meta, err, sizeof err), 0);
    CHECK_INT(meta.seq, 4);
    CHECK_INT(meta.epoch, 7);
    store_rollback(a);
    store_close(a);
    struct backup_meta got;
    CHECK_INT(backupfile_check(backup, &got, err, sizeof err), 0);
    CHECK_INT(got.seq, 4);
    CHECK_INT(got.epoch, 7);
    CHECK_INT(got.made_at_ms, 123);
    CHECK_STR(got.made_by, "w1");
    CHECK_INT(scalar(backup, "SELECT COUNT(*) FROM users"), 2);
    CHECK_INT(scalar(backup, "SELECT COUNT(*) FROM rides"), 2);
    CHECK_INT(scalar(backup, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'rs_requests%' OR name = 'rs_meta'"), 0);
    /* A plain file: no WAL, nothing beside it. */
    char side[320];
    snprintf(side, sizeof side, "%s-wal", backup);
    CHECK(access(side, F_OK) != 0);
}

TEST(corrupt_foreign_and_truncated_files_are_refused)
{
    char err[300], bad[320];
    struct backup_meta m;
    /* A worker's own database: bookkeeping tables, no rs_backup. */
    CHECK_INT(backupfile_check(path_a, &m, err, sizeof err), -1);
    CHECK(strstr(err, "not a Rideshare backup") != NULL);
    /* Not SQLite at all. */
    snprintf(bad, sizeof bad, "%s/junk.db", dir);
    FILE *f = fopen(bad, "wb");
    CHECK(f != NULL);
    for (int i = 0; i < 8192; i++) fputc(i * 7 & 0xff, f);
    fclose(f);
    CHECK_INT(backupfile_check(bad, &m, err, sizeof err), -1);
    /* The backup with pages overwritten. */
    snprintf(bad, sizeof bad, "%s/corrupt.db", dir);
    FILE *in = fopen(backup, "rb"), *out = fopen(bad, "wb");
    CHECK(in && out);
    int c;
    long k = 0;
    while ((c = fgetc(in)) != EOF) fputc(k++ > 4096 && k % 97 == 0 ? c ^ 0x5a : c, out);
    fclose(in);
    fclose(out);
    CHECK_INT(backupfile_check(bad, &m, err, sizeof err), -1);
    /* Truncated to its first page. */
    CHECK_INT(truncate(bad, 4096), 0);
    CHECK_INT(backupfile_check(bad, &m, err, sizeof err), -1);
    /* Missing: a clear message, not a crash. */
    snprintf(bad, sizeof bad, "%s/none.db", dir);
    CHECK_INT(backupfile_check(bad, &m, err, sizeof err), -1);
}

TEST(restore_makes_the_tables_the_backups_and_never_reuses_a_ride_id)
{
    struct store *b = store_open(path_b);
    CHECK(b != NULL);
    struct store_pos pos = store_position(b);
    CHECK_INT(store_begin(b), 0);
    CHECK_INT(add_user(b, "zed", 1), 200);
    for (int i = 0; i < 5; i++) CHECK_INT(add_ride(b, "zed", 2 + i), 200); /* ride ids 1..5 */
    pos.applied_seq = 6;
    CHECK_INT(store_commit(b, &pos), 0);
    char err[300] = "";
    CHECK_INT(store_restore_attach(b, backup, err, sizeof err), 0);
    CHECK_INT(store_begin(b), 0);
    int64_t users, rides, members;
    CHECK_INT(store_restore(b, &users, &rides, &members, err, sizeof err), 0);
    CHECK_INT(users, 2);
    CHECK_INT(rides, 2);
    CHECK_INT(members, 0);
    pos.applied_seq = 7;
    CHECK_INT(store_commit(b, &pos), 0);
    store_restore_detach(b);
    /* The next ride id is above both sides' (5 here, 2 in the backup). */
    CHECK_INT(store_begin(b), 0);
    CHECK_INT(add_ride(b, "alice", 8), 200);
    pos.applied_seq = 8;
    CHECK_INT(store_commit(b, &pos), 0);
    store_close(b);
    CHECK_INT(scalar(path_b, "SELECT COUNT(*) FROM users WHERE username IN ('alice', 'bob')"), 2);
    CHECK_INT(scalar(path_b, "SELECT COUNT(*) FROM users"), 2);
    CHECK_INT(scalar(path_b, "SELECT MAX(ride_id) FROM rides"), 6);
    CHECK_INT(scalar(path_b, "SELECT COUNT(*) FROM rides"), 3);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    snprintf(path_a, sizeof path_a, "%s/a.db", dir);
    snprintf(path_b, sizeof path_b, "%s/b.db", dir);
    snprintf(backup, sizeof backup, "%s/backup.db", dir);
    RUN(backup_holds_the_last_commit_and_no_bookkeeping);
    RUN(corrupt_foreign_and_truncated_files_are_refused);
    RUN(restore_makes_the_tables_the_backups_and_never_reuses_a_ride_id);
    test_remove_dir(dir);
    return test_done();
}
