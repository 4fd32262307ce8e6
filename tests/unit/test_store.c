/*
 * test_store.c — a worker's store (services/worker/store.h) taking writes:
 * store_apply, store_record and store_lookup inside a batch, on a real
 * SQLite file in a temporary directory.
 *
 * What must hold: a write applied and its request id recorded are seen by
 * store_lookup at once (in the open batch) and by readers only after the
 * commit; a request id is recorded once, and a second record of it is
 * refused and leaves the first outcome (what a redelivery is answered
 * with); an operation a constraint refuses is 409 and leaves no trace,
 * while the batch goes on; the id a ride insert chose is carried in the
 * operation, so a replica applying it makes the same row, and only once;
 * a rollback forgets the writes and their request ids together.
 */
#include "storetest.h"
#include "test.h"

static char dir[] = "/tmp/rs-store.XXXXXX";
static char path[300];
static int n_db;

/* A store in a new file; its path in path. */
static struct store *fresh(void)
{
    snprintf(path, sizeof path, "%s/s%d.db", dir, n_db++);
    return store_open(path);
}

static const char *user_op(const char *name)
{
    static char buf[200];
    snprintf(buf, sizeof buf,
             "{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"%s\",\"password\":\"%040d\"}}", name, 0);
    return buf;
}

/* store_apply's status for the operation text (-2: not an operation). */
static int apply(struct store *st, const char *text)
{
    char err[200];
    return storetest_apply(st, text, 0, NULL, err, sizeof err);
}

/* The outcome recorded for rid: 1 found (seq, status, body set), 0 unknown, -1 error. */
struct outcome {
    int64_t seq;
    int status;
    char body[200];
};

static int lookup(struct store *st, const char *rid, struct outcome *o)
{
    char *body = NULL;
    int found = store_lookup(st, rid, &o->seq, &o->status, &body);
    snprintf(o->body, sizeof o->body, "%s", body ? body : "");
    free(body);
    return found;
}

TEST(applied_write_is_seen_by_lookup_at_once_and_by_readers_after_commit)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    struct store_pos pos = store_position(st);
    CHECK_INT(pos.applied_seq, 0);
    CHECK_INT(store_begin(st), 0);
    char err[200];
    cJSON *res = NULL;
    CHECK_INT(storetest_apply(st, user_op("alice"), 0, &res, err, sizeof err), 200);
    int64_t changes = -1;
    CHECK(res && json_get_int(res, "changes", &changes) == 0);
    cJSON_Delete(res);
    CHECK_INT(changes, 1);
    CHECK_INT(store_record(st, "rid-1", 1, 1000, 200, "{\"changes\":1}"), 0);
    struct outcome o;
    CHECK_INT(lookup(st, "rid-1", &o), 1);
    CHECK_INT(o.seq, 1);
    CHECK_INT(o.status, 200);
    CHECK_STR(o.body, "{\"changes\":1}");
    CHECK_INT(lookup(st, "rid-other", &o), 0);
    /* A reader sees the last commit, not the open batch. */
    CHECK_INT(storetest_count(path, "users"), 0);
    pos.applied_seq = 1;
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "users"), 1);
    CHECK_INT(store_position(st).applied_seq, 1);
    CHECK_INT(store_request_count(st), 1);
    CHECK_INT(lookup(st, "rid-1", &o), 1);
    CHECK_INT(o.seq, 1);
    store_close(st);
}

TEST(request_id_recorded_twice_keeps_its_first_outcome)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(apply(st, user_op("alice")), 200);
    CHECK_INT(store_record(st, "rid-a", 1, 1000, 200, "{\"changes\":1}"), 0);
    /* The same request again (a redelivery) finds its outcome; recording it anew is refused. */
    struct outcome o;
    CHECK_INT(lookup(st, "rid-a", &o), 1);
    CHECK_INT(store_record(st, "rid-a", 2, 1001, 409, "{\"error\":\"other\"}"), -1);
    CHECK_INT(lookup(st, "rid-a", &o), 1);
    CHECK_INT(o.seq, 1);
    CHECK_INT(o.status, 200);
    CHECK_STR(o.body, "{\"changes\":1}");
    /* The batch is still good: the refused record undid only itself. */
    CHECK_INT(apply(st, user_op("bob")), 200);
    CHECK_INT(store_record(st, "rid-b", 2, 1002, 200, "{\"changes\":1}"), 0);
    pos.applied_seq = 2;
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(store_request_count(st), 2);
    CHECK_INT(storetest_count(path, "users"), 2);
    CHECK_INT(lookup(st, "rid-a", &o), 1);
    CHECK_INT(o.seq, 1);
    store_close(st);
}

TEST(refused_operations_change_nothing_and_the_batch_goes_on)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(apply(st, user_op("alice")), 200);
    char err[200] = "";
    cJSON *res = NULL;
    /* A user that exists, a ride of a user that does not: constraints, 409 with a reason. */
    CHECK_INT(storetest_apply(st, user_op("alice"), 0, &res, err, sizeof err), 409);
    CHECK(res == NULL && err[0] != 0);
    CHECK_INT(apply(st, "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"nobody\",\"ts\":1,"
                        "\"source\":1,\"destination\":2}}"), 409);
    /* Not operations at all: refused before the store. */
    CHECK_INT(apply(st, "{\"op\":\"insert\",\"table\":\"nosuch\",\"values\":{\"a\":1}}"), -2);
    CHECK_INT(apply(st, "{\"op\":\"clear\"}"), -2); /* only with DBOP_ALLOW_CLEAR */
    CHECK_INT(apply(st, "{\"op\":\"delete\",\"table\":\"users\"}"), -2); /* a delete needs a where */
    /* A delete that matches nothing is no error, and changes nothing. */
    CHECK_INT(storetest_apply(st, "{\"op\":\"delete\",\"table\":\"users\",\"where\":{\"username\":\"zed\"}}", 0, &res,
                              err, sizeof err), 200);
    int64_t changes = -1;
    CHECK(res && json_get_int(res, "changes", &changes) == 0);
    cJSON_Delete(res);
    CHECK_INT(changes, 0);
    CHECK_INT(apply(st, user_op("bob")), 200);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "users"), 2);
    CHECK_INT(storetest_count(path, "rides"), 0);
    store_close(st);
}

TEST(ride_id_chosen_is_carried_in_the_operation)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(apply(st, user_op("alice")), 200);
    const char *text = "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"alice\",\"ts\":5,"
                       "\"source\":1,\"destination\":2}}";
    cJSON *j = json_parse(text, strlen(text)), *res = NULL;
    struct dbop op;
    char err[200];
    CHECK(j && dbop_parse(j, 0, &op, err, sizeof err) == 0);
    CHECK_INT(store_apply(st, &op, j, &res, err, sizeof err), 200);
    int64_t id = 0, carried = 0;
    CHECK(json_get_int(res, "id", &id) == 0 && id > 0);
    cJSON_Delete(res);
    CHECK(json_get_int(cJSON_GetObjectItemCaseSensitive(j, "values"), "ride_id", &carried) == 0);
    CHECK_INT(carried, id);
    /* The operation as the log carries it: a replica makes the same row, and a copy is refused. */
    char *logged = json_print(j);
    cJSON_Delete(j);
    CHECK(logged != NULL);
    CHECK_INT(storetest_apply(st, logged, DBOP_ALLOW_AUTO, NULL, err, sizeof err), 409);
    free(logged);
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "rides"), 1);
    store_close(st);
}

TEST(rollback_forgets_writes_and_their_request_ids_together)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(apply(st, user_op("alice")), 200);
    CHECK_INT(store_record(st, "rid-a", 1, 1000, 200, "{\"changes\":1}"), 0);
    store_rollback(st);
    struct outcome o;
    CHECK_INT(lookup(st, "rid-a", &o), 0);
    CHECK_INT(store_request_count(st), 0);
    CHECK_INT(store_position(st).applied_seq, 0);
    /* Delivered again, it applies as new: once. */
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(apply(st, user_op("alice")), 200);
    CHECK_INT(store_record(st, "rid-a", 1, 1000, 200, "{\"changes\":1}"), 0);
    pos.applied_seq = 1;
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "users"), 1);
    CHECK_INT(lookup(st, "rid-a", &o), 1);
    store_close(st);
}

TEST(clear_empties_every_table)
{
    struct store *st = fresh();
    CHECK(st != NULL);
    struct store_pos pos = store_position(st);
    CHECK_INT(store_begin(st), 0);
    CHECK_INT(apply(st, user_op("alice")), 200);
    CHECK_INT(apply(st, user_op("bob")), 200);
    CHECK_INT(apply(st, "{\"op\":\"insert\",\"table\":\"rides\",\"values\":{\"created_by\":\"alice\",\"ts\":5,"
                        "\"source\":1,\"destination\":2}}"), 200);
    char err[200];
    cJSON *res = NULL;
    CHECK_INT(storetest_apply(st, "{\"op\":\"clear\"}", DBOP_ALLOW_CLEAR, &res, err, sizeof err), 200);
    int64_t changes = -1;
    CHECK(res && json_get_int(res, "changes", &changes) == 0);
    cJSON_Delete(res);
    CHECK_INT(changes, 3); /* every row it removed */
    CHECK_INT(store_commit(st, &pos), 0);
    CHECK_INT(storetest_count(path, "users"), 0);
    CHECK_INT(storetest_count(path, "rides"), 0);
    store_close(st);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    RUN(applied_write_is_seen_by_lookup_at_once_and_by_readers_after_commit);
    RUN(request_id_recorded_twice_keeps_its_first_outcome);
    RUN(refused_operations_change_nothing_and_the_batch_goes_on);
    RUN(ride_id_chosen_is_carried_in_the_operation);
    RUN(rollback_forgets_writes_and_their_request_ids_together);
    RUN(clear_empties_every_table);
    test_remove_dir(dir);
    return test_done();
}
