/*
 * test_store_copy.c — store_dump (services/worker/store.c): the copy a new
 * replica starts from is a complete store at the source's last commit.
 *
 * A store gets committed writes and one open, uncommitted batch; the copy
 * must hold exactly the committed rows, request ids and position, open as a
 * store of its own that resumes from that position, and go on taking
 * batches. A source that cannot be read gives -1 and leaves no file.
 */
#include "storetest.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/rs-store-copy.XXXXXX";
static char src[300], dst[300];

/* Applies one insert of a user inside the open batch, with its request id; the status. */
static int add_user(struct store *st, const char *name, int64_t seq)
{
    char text[200], err[160], rid[32];
    snprintf(text, sizeof text,
             "{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"%s\",\"password\":\"%040d\"}}",
             name, 0);
    int status = storetest_apply(st, text, 0, NULL, err, sizeof err);
    snprintf(rid, sizeof rid, "rid-%s", name);
    if (status == 200 && store_record(st, rid, seq, 1000 + seq, 200, "{\"changes\":1}")) status = -1;
    if (status != 200) printf("# %s: %s\n", text, err);
    return status;
}

TEST(copy_holds_the_last_commit)
{
    struct store *st = store_open(src);
    CHECK(st != NULL);
    if (!st) return;
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(add_user(st, "alice", 1), 200);
    CHECK_INT(add_user(st, "bob", 2), 200);
    struct store_pos pos = { .applied_seq = 2, .log_offset = 41, .max_epoch = 3 };
    CHECK_INT(store_commit(st, &pos), 0);
    /* An open batch the copy must not see. */
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(add_user(st, "carol", 3), 200);

    struct store_pos got = { 0 };
    CHECK_INT(store_dump(src, dst, &got), 0);
    CHECK_INT(got.applied_seq, 2);
    CHECK_INT(got.log_offset, 41);
    CHECK_INT(got.max_epoch, 3);
    store_rollback(st);
    store_close(st);

    struct store *copy = store_open(dst);
    CHECK(copy != NULL);
    if (!copy) return;
    struct store_pos cp = store_position(copy);
    CHECK_INT(cp.applied_seq, 2);
    CHECK_INT(cp.log_offset, 41);
    CHECK_INT(cp.max_epoch, 3);
    int64_t seq = 0;
    int status = 0;
    char *body = NULL;
    CHECK_INT(store_lookup(copy, "rid-bob", &seq, &status, &body), 1);
    CHECK_INT(seq, 2);
    free(body);
    CHECK_INT(store_lookup(copy, "rid-carol", &seq, &status, &body), 0);
    /* It goes on as a store of its own. */
    CHECK_INT(store_begin(copy), 0);
    CHECK_INT(add_user(copy, "dave", 3), 200);
    struct store_pos next = { .applied_seq = 3, .log_offset = 42, .max_epoch = 3 };
    CHECK_INT(store_commit(copy, &next), 0);
    store_close(copy);
    CHECK_INT(storetest_count(dst, "users"), 3);
}

TEST(unreadable_source_leaves_nothing)
{
    char missing[320], out[320];
    snprintf(missing, sizeof missing, "%s/none/x.db", dir);
    snprintf(out, sizeof out, "%s/out.db", dir);
    struct store_pos pos;
    CHECK_INT(store_dump(missing, out, &pos), -1);
    CHECK(access(out, F_OK) != 0);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    snprintf(src, sizeof src, "%s/src.db", dir);
    snprintf(dst, sizeof dst, "%s/dst.db", dir);
    RUN(copy_holds_the_last_commit);
    RUN(unreadable_source_leaves_nothing);
    const char *sfx[] = { "src.db", "src.db-wal", "src.db-shm", "dst.db", "dst.db-wal", "dst.db-shm" };
    char p[340];
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    return test_done();
}
