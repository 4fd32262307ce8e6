/*
 * test_replica.c — the rules every replica applies the log by
 * (services/worker/replica.h), on a real store in a temporary directory.
 *
 * Each test feeds log messages by hand (their JSON and stream offset) into
 * one batch and looks at the position and the tables: fencing by epoch and
 * by incarnation (whatever the fenced entry's seq), copies (a seq seen twice,
 * with the same entry or another, in one batch or after a reopen, applies
 * once), gaps (lost entries, lost markers; a gap leaves no trace), rejected
 * writes (only their request id), divergence, the log's size, and the
 * request-id horizon.
 */
#include "storetest.h"
#include "test.h"
#include "replica.h"

#include <stdlib.h>
#include <unistd.h>

#define WINDOW_MS 60000

static char dir[] = "/tmp/rs-replica.XXXXXX";
static char path[300]; /* the last fresh store's */
static int n_db;

static struct store *fresh(void)
{
    snprintf(path, sizeof path, "%s/r%d.db", dir, n_db++);
    return store_open(path);
}

static int feed(struct store *st, struct store_pos *pos, int64_t offset, const char *body,
                struct replica_marker *mk)
{
    return replica_apply(st, pos, body, strlen(body), offset, WINDOW_MS, mk);
}

static const char *marker(int64_t epoch, int64_t nonce)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "{\"epoch\":%lld,\"marker\":\"w1\",\"nonce\":%lld}", (long long)epoch,
             (long long)nonce);
    return buf;
}

/* A user insert entry of (epoch, incarnation) with seq and name. */
static const char *entry(int64_t epoch, int64_t inc, int64_t seq, const char *name, int64_t ts)
{
    static char buf[400];
    snprintf(buf, sizeof buf,
             "{\"epoch\":%lld,\"inc\":%lld,\"seq\":%lld,\"rid\":\"rid-%s\",\"ts\":%lld,\"status\":200,"
             "\"op\":{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"%s\",\"password\":"
             "\"%040d\"}},\"result\":{\"changes\":1}}",
             (long long)epoch, (long long)inc, (long long)seq, name, (long long)ts, name, 0);
    return buf;
}

static int known(struct store *st, const char *name)
{
    char rid[64], *body = NULL;
    int64_t seq;
    int status;
    snprintf(rid, sizeof rid, "rid-%s", name);
    int found = store_lookup(st, rid, &seq, &status, &body);
    free(body);
    return found;
}

TEST(markers_start_incarnations_and_entries_apply_in_order)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    struct store_pos pos = store_position(st);
    struct replica_marker mk;
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), &mk), REPLICA_OK);
    CHECK(mk.seen && mk.epoch == 1 && mk.nonce == 1);
    CHECK_INT(pos.max_epoch, 1);
    CHECK_INT(pos.incarnation, 1);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), &mk), REPLICA_OK);
    CHECK(!mk.seen);
    /* Offsets need not be consecutive (the broker's bookkeeping chunks). */
    CHECK_INT(feed(st, &pos, 5, entry(1, 1, 2, "b", 1001), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 2);
    CHECK_INT(pos.log_offset, 5);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK(known(st, "a") == 1 && known(st, "b") == 1);
    store_close(st);
}

TEST(replaced_master_and_abandoned_incarnation_are_fenced)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    /* The master starts over (incarnation 2); its abandoned incarnation's
     * entry for seq 2 lands after the new marker: ignored. */
    CHECK_INT(feed(st, &pos, 2, marker(1, 2), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 3, entry(1, 1, 2, "stale", 1001), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 1);
    CHECK_INT(feed(st, &pos, 4, entry(1, 2, 2, "b", 1002), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 2);
    /* A new master (epoch 2); the old one's marker and entries after it: ignored. */
    CHECK_INT(feed(st, &pos, 5, marker(2, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 6, marker(1, 3), NULL), REPLICA_OK);
    CHECK_INT(pos.max_epoch, 2);
    CHECK_INT(pos.incarnation, 1);
    CHECK_INT(feed(st, &pos, 7, entry(1, 3, 3, "old", 1003), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 8, entry(2, 1, 3, "c", 1004), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 3);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK(known(st, "stale") == 0 && known(st, "old") == 0);
    CHECK(known(st, "a") == 1 && known(st, "b") == 1 && known(st, "c") == 1);
    store_close(st);
}

TEST(copies_are_skipped)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 2, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 1);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(store_request_count(st), 1);
    store_close(st);
}

TEST(lost_entries_or_markers_are_gaps)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    /* A fresh replica whose log starts after seq 1 (retention dropped it). */
    CHECK_INT(feed(st, &pos, 40, entry(1, 1, 7, "g", 1000), NULL), REPLICA_GAP);
    CHECK_INT(feed(st, &pos, 40, marker(1, 2), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 41, entry(1, 2, 7, "g", 1000), NULL), REPLICA_GAP);
    store_rollback(st);
    pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    /* Entries lost within the incarnation. */
    CHECK_INT(feed(st, &pos, 9, entry(1, 1, 3, "c", 1001), NULL), REPLICA_GAP);
    /* A later incarnation's entry whose marker was lost: same epoch, or a later one. */
    CHECK_INT(feed(st, &pos, 9, entry(1, 2, 2, "b", 1001), NULL), REPLICA_GAP);
    CHECK_INT(feed(st, &pos, 9, entry(2, 1, 2, "b", 1001), NULL), REPLICA_GAP);
    CHECK_INT(pos.applied_seq, 1);
    /* Losing only what counts nowhere (an abandoned incarnation's entries) is no gap. */
    CHECK_INT(feed(st, &pos, 12, marker(1, 3), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 13, entry(1, 3, 2, "b", 1001), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 2);
    store_rollback(st);
    store_close(st);
}

TEST(fenced_entries_are_ignored_whatever_their_seq)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    struct replica_marker mk;
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(2, 4), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(2, 4, 1, "a", 1000), NULL), REPLICA_OK);
    struct store_pos before = pos;
    /* A replaced master (epoch 1) and an abandoned incarnation (2, 3) go on
     * writing, far ahead: fenced, not taken for a gap, and their times do not
     * move the request-id horizon. */
    CHECK_INT(feed(st, &pos, 2, entry(1, 9, 2, "old", 999999), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 3, entry(1, 9, 40, "older", 999999), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 4, entry(2, 3, 7, "abandoned", 999999), NULL), REPLICA_OK);
    /* Their markers are reported as seen, and change nothing. */
    CHECK_INT(feed(st, &pos, 5, marker(1, 50), &mk), REPLICA_OK);
    CHECK(mk.seen && mk.epoch == 1 && mk.nonce == 50);
    CHECK_INT(feed(st, &pos, 6, marker(2, 4), &mk), REPLICA_OK); /* the current one again */
    CHECK(mk.seen);
    CHECK_INT(pos.max_epoch, 2);
    CHECK_INT(pos.incarnation, 4);
    CHECK_INT(pos.applied_seq, before.applied_seq);
    CHECK_INT(pos.req_horizon, before.req_horizon);
    CHECK_INT(feed(st, &pos, 7, entry(2, 4, 2, "b", 1001), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 2);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK(known(st, "old") == 0 && known(st, "older") == 0 && known(st, "abandoned") == 0);
    CHECK_INT(storetest_count(path, "users"), 2);
    store_close(st);
}

TEST(a_seq_seen_twice_applies_once)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 2, entry(1, 1, 2, "b", 1001), NULL), REPLICA_OK);
    /* Seqs already applied, as the same entry or another one: both ignored. */
    CHECK_INT(feed(st, &pos, 3, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 4, entry(1, 1, 2, "x", 1002), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 2);
    CHECK_INT(store_commit(st, &pos), 0);
    store_close(st);
    /* After a restart the position comes back from the file: a copy is still a copy. */
    st = store_open(path);
    CHECK(st != NULL);
    pos = store_position(st);
    CHECK_INT(pos.applied_seq, 2);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 5, entry(1, 1, 2, "b", 1001), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 6, entry(1, 1, 3, "c", 1003), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 7, entry(1, 1, 3, "c", 1003), NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 3);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "users"), 3);
    CHECK_INT(store_request_count(st), 3);
    CHECK(known(st, "x") == 0);
    char *body = NULL;
    int64_t seq = 0;
    int status = 0;
    CHECK_INT(store_lookup(st, "rid-b", &seq, &status, &body), 1);
    free(body);
    CHECK_INT(seq, 2);
    store_close(st);
}

TEST(a_gap_leaves_no_trace)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    struct store_pos before = pos;
    /* A later incarnation's entry is a gap even at a seq already applied: its marker was lost. */
    CHECK_INT(feed(st, &pos, 2, entry(2, 1, 1, "late", 500000), NULL), REPLICA_GAP);
    CHECK_INT(feed(st, &pos, 3, entry(1, 1, 5, "far", 500000), NULL), REPLICA_GAP);
    CHECK_INT(pos.applied_seq, before.applied_seq);
    CHECK_INT(pos.max_epoch, before.max_epoch);
    CHECK_INT(pos.incarnation, before.incarnation);
    CHECK_INT(pos.req_horizon, before.req_horizon);
    CHECK(known(st, "late") == 0 && known(st, "far") == 0);
    store_rollback(st);
    store_close(st);
}

TEST(rejected_write_records_only_its_request_id)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1,
                   "{\"epoch\":1,\"inc\":1,\"seq\":1,\"rid\":\"rid-r\",\"ts\":1000,\"status\":409,"
                   "\"op\":{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"r\",\"password\":"
                   "\"0000000000000000000000000000000000000000\"}},\"error\":\"user exists\"}",
                   NULL), REPLICA_OK);
    CHECK_INT(pos.applied_seq, 1);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "users"), 0);
    char *body = NULL;
    int64_t seq = 0;
    int status = 0;
    CHECK_INT(store_lookup(st, "rid-r", &seq, &status, &body), 1);
    CHECK_INT(seq, 1);
    CHECK_INT(status, 409);
    cJSON *b = body ? json_parse(body, strlen(body)) : NULL;
    free(body);
    const char *msg = json_get_str(b, "error");
    int says = msg && strcmp(msg, "user exists") == 0;
    cJSON_Delete(b);
    CHECK(says);
    store_close(st);
}

TEST(an_entry_that_does_not_apply_is_divergence)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 1), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 1, 1, "a", 1000), NULL), REPLICA_OK);
    /* The master applied seq 2; here it fails (the user exists): this replica is not the master's. */
    char twin[400];
    snprintf(twin, sizeof twin, "%s", entry(1, 1, 2, "a", 1001));
    char *rid = strstr(twin, "rid-a");
    CHECK(rid != NULL);
    memcpy(rid, "rid-A", 5); /* another request, the same user */
    CHECK_INT(feed(st, &pos, 2, twin, NULL), REPLICA_FATAL);
    CHECK_INT(pos.applied_seq, 1);
    CHECK(known(st, "A") == 0);
    store_rollback(st);
    store_close(st);
}

TEST(log_bytes_count_every_message)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(pos.log_bytes, 0);
    CHECK_INT(store_begin(st), 0);
    const char *m = marker(1, 5);
    int64_t want = (int64_t)strlen(m) + REPLICA_MSG_OVERHEAD;
    CHECK_INT(feed(st, &pos, 0, m, NULL), REPLICA_OK);
    const char *e = entry(1, 4, 1, "fenced", 1000); /* ignored, still in the log */
    want += (int64_t)strlen(e) + REPLICA_MSG_OVERHEAD;
    CHECK_INT(feed(st, &pos, 1, e, NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 2, "not json", NULL), REPLICA_OK);
    want += 8 + REPLICA_MSG_OVERHEAD;
    CHECK_INT(pos.log_bytes, want);
    CHECK_INT(store_commit(st, &pos), 0);
    store_close(st);
}

TEST(request_ids_are_forgotten_after_the_window)
{
    struct store *st = fresh();
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 0, marker(1, 5), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 1, entry(1, 5, 1, "a", 100000), NULL), REPLICA_OK);
    CHECK_INT(feed(st, &pos, 2, entry(1, 5, 2, "b", 130000), NULL), REPLICA_OK);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(store_request_count(st), 2);
    /* ts 161000: the horizon passes a's time (100000) but not b's. */
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 3, entry(1, 5, 3, "c", 161000), NULL), REPLICA_OK);
    CHECK_INT(pos.req_horizon, 161000 - WINDOW_MS);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(store_request_count(st), 2);
    CHECK(known(st, "a") == 0 && known(st, "b") == 1 && known(st, "c") == 1);
    /* A clock that goes back (another master) never lowers the horizon. */
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(feed(st, &pos, 4, entry(1, 5, 4, "d", 90000), NULL), REPLICA_OK);
    CHECK_INT(pos.req_horizon, 161000 - WINDOW_MS);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK(known(st, "d") == 0); /* older than the horizon: forgotten at once, alike on every replica */
    store_close(st);
}

TEST(position_survives_reopening)
{
    snprintf(path, sizeof path, "%s/reopen.db", dir);
    struct store *st = store_open(path);
    CHECK(st != NULL);
    struct store_pos pos = { .applied_seq = 7, .log_offset = 41, .log_bytes = 9000, .max_epoch = 3,
                             .incarnation = 12345, .req_horizon = 5 };
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(store_commit(st, &pos), 0);
    store_close(st);
    struct store_pos peek;
    CHECK_INT(store_peek(path, &peek), 0);
    CHECK(memcmp(&peek, &pos, sizeof pos) == 0);
    st = store_open(path);
    struct store_pos got = store_position(st);
    CHECK(memcmp(&got, &pos, sizeof pos) == 0);
    store_close(st);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    RUN(markers_start_incarnations_and_entries_apply_in_order);
    RUN(replaced_master_and_abandoned_incarnation_are_fenced);
    RUN(copies_are_skipped);
    RUN(lost_entries_or_markers_are_gaps);
    RUN(fenced_entries_are_ignored_whatever_their_seq);
    RUN(a_seq_seen_twice_applies_once);
    RUN(a_gap_leaves_no_trace);
    RUN(rejected_write_records_only_its_request_id);
    RUN(an_entry_that_does_not_apply_is_divergence);
    RUN(log_bytes_count_every_message);
    RUN(request_ids_are_forgotten_after_the_window);
    RUN(position_survives_reopening);
    test_remove_dir(dir);
    return test_done();
}
