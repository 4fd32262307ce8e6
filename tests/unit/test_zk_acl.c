/*
 * test_zk_acl.c — the ACL each znode gets (common/zk/zk_acl.h), for the
 * orchestrator and for a worker, without a ZooKeeper: the table by path,
 * the identities it names, a worker's own derived identity, and the
 * refusals of malformed identities. Digest ids are checked against values
 * computed with Python's hashlib and hmac.
 */
#include "test.h"

#include "log.h"
#include "zk_acl.h"

/* The perms the ACL of path gives id ("digest" scheme), -1 if it names no such id. */
static int perms_of(const char *path, const char *id)
{
    const struct ACL_vector *v = zk_acl_for(path);
    for (int i = 0; i < v->count; i++)
        if (strcmp(v->data[i].id.scheme, "digest") == 0 && strcmp(v->data[i].id.id, id) == 0)
            return v->data[i].perms;
    return -1;
}

static int count(const char *path) { return zk_acl_for(path)->count; }

static const char *O = "orchestrator:/ZMxz6+WU5YjGMSxhQMjaPLlRQk=";   /* orchestrator:secret */
static const char *W = "worker:gRP7CVy1CDzrvElp8d7tC9Faqiw=";          /* worker:wpass */
static const char *C = "console:3j63/wKbwuSZdguLfAS5xgcq7Uk=";          /* console:cpass */

TEST(digest_ids_and_node_identities)
{
    char id[ZK_ID_MAX], auth[ZK_AUTH_MAX];
    CHECK_INT(zk_digest_id("orchestrator:secret", id, sizeof id), 0);
    CHECK_STR(id, O);
    CHECK_INT(zk_digest_id("worker:wpass", id, sizeof id), 0);
    CHECK_STR(id, W);
    CHECK_INT(zk_digest_id("nocolon", id, sizeof id), -1);
    CHECK_INT(zk_digest_id(":nouser", id, sizeof id), -1);
    CHECK_INT(zk_node_auth("orchestrator:secret", "w1", auth, sizeof auth), 0);
    CHECK_STR(auth, "worker.w1:645ae2876d5b3ca563f73000ce04f645657f8801");
    CHECK_INT(zk_node_auth("orchestrator:secret", "w:1", auth, sizeof auth), -1);
}

TEST(the_orchestrators_table)
{
    struct zk_access a = { .role = ZK_ROLE_ORCHESTRATOR, .root = "/rs/", .auth = "orchestrator:secret",
                           .worker_id = W, .readers = C };
    CHECK_INT(zk_access_init(&a), 0);
    CHECK(zk_access_on());
    const int R = ZOO_PERM_READ, WR = ZOO_PERM_WRITE, CR = ZOO_PERM_CREATE, D = ZOO_PERM_DELETE, ALL = ZOO_PERM_ALL;
    CHECK_INT(perms_of("/rs", O), ALL);
    CHECK_INT(perms_of("/rs", W), R);
    CHECK_INT(perms_of("/rs", C), R);
    CHECK_INT(count("/rs"), 3);
    CHECK_INT(perms_of("/rs/master", O), ALL);
    CHECK_INT(perms_of("/rs/master", W), R);
    CHECK_INT(perms_of("/rs/workers", W), R | CR);
    CHECK_INT(perms_of("/rs/log_epoch", W), R | WR);
    CHECK_INT(perms_of("/rs/checkpoint", W), R | WR);
    CHECK_INT(perms_of("/rs/locks", W), R | CR | D);
    CHECK_INT(perms_of("/rs/anything/else", W), R);
    /* A worker's znode, were the orchestrator to make one: W writes it (no node identity here). */
    CHECK_INT(perms_of("/rs/workers/w1", O), R);
    CHECK_INT(perms_of("/rs/workers/w1", W), R | WR);
    /* Outside the root, as before access control: open. */
    CHECK(zk_acl_for("/") == &ZOO_OPEN_ACL_UNSAFE);
    CHECK(zk_acl_for("/rsx") == &ZOO_OPEN_ACL_UNSAFE);
    CHECK(zk_acl_for("/other/rs") == &ZOO_OPEN_ACL_UNSAFE);
    const char *auths[4];
    CHECK_INT(zk_access_auths(auths, 4), 1);
    CHECK_STR(auths[0], "orchestrator:secret");
}

TEST(a_workers_table)
{
    char node[ZK_AUTH_MAX], n_id[ZK_ID_MAX], readers[400];
    zk_node_auth("orchestrator:secret", "w1", node, sizeof node);
    zk_digest_id(node, n_id, sizeof n_id);
    snprintf(readers, sizeof readers, "%s, %s", O, C);
    struct zk_access a = { .role = ZK_ROLE_WORKER, .root = "/rs", .auth = "worker:wpass", .node_auth = node,
                           .readers = readers };
    CHECK_INT(zk_access_init(&a), 0);
    const int R = ZOO_PERM_READ, WR = ZOO_PERM_WRITE;
    /* Its own znode: its own identity alone writes it. */
    CHECK_INT(perms_of("/rs/workers/w1", n_id), R | WR);
    CHECK_INT(perms_of("/rs/workers/w1", W), R);
    CHECK_INT(perms_of("/rs/workers/w1", O), R);
    CHECK_INT(perms_of("/rs/workers/w1", C), R);
    CHECK_INT(count("/rs/workers/w1"), 4);
    CHECK_INT(perms_of("/rs/locks/checkpoint", W), R | WR);
    CHECK_INT(perms_of("/rs/locks/checkpoint", O), R);
    const char *auths[4];
    CHECK_INT(zk_access_auths(auths, 4), 2);
    CHECK_STR(auths[1], node);
}

TEST(no_identity_no_access_control)
{
    struct zk_access a = { .role = ZK_ROLE_ORCHESTRATOR, .root = "/rs", .auth = "" };
    CHECK_INT(zk_access_init(&a), 0);
    CHECK(!zk_access_on());
    CHECK(zk_acl_for("/rs/master") == &ZOO_OPEN_ACL_UNSAFE);
    const char *auths[4];
    CHECK_INT(zk_access_auths(auths, 4), 0);
}

TEST(malformed_identities_are_refused)
{
    struct zk_access a = { .role = ZK_ROLE_ORCHESTRATOR, .root = "/rs", .auth = "nopassword", .worker_id = W };
    CHECK_INT(zk_access_init(&a), -1);
    a.auth = "orchestrator:secret";
    a.worker_id = "";
    CHECK_INT(zk_access_init(&a), -1); /* the orchestrator needs the workers' id */
    a.worker_id = W;
    a.readers = "not-a-digest-id";
    CHECK_INT(zk_access_init(&a), -1);
    a.readers = C;
    a.previous = "bad";
    CHECK_INT(zk_access_init(&a), -1);
}

int main(void)
{
    log_init("test_zk_acl");
    RUN(digest_ids_and_node_identities);
    RUN(the_orchestrators_table);
    RUN(a_workers_table);
    RUN(no_identity_no_access_control);
    RUN(malformed_identities_are_refused);
    return test_done();
}
