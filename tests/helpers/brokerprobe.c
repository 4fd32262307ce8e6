/*
 * brokerprobe — one operation on RabbitMQ or ZooKeeper with given
 * credentials, to see whether the broker allows it: a test's hands on the
 * brokers' permissions (docs/security.md, "The brokers' users").
 *
 *   brokerprobe amqp login                  connect and log in
 *   brokerprobe amqp publish QUEUE          one persistent message to QUEUE
 *                                           through the default exchange, confirmed
 *   brokerprobe amqp consume QUEUE          basic.consume (a stream from "first")
 *   brokerprobe amqp declare QUEUE          queue.declare, durable classic
 *   brokerprobe amqp depth QUEUE            passive queue.declare
 *   brokerprobe amqp delete QUEUE           queue.delete
 *   brokerprobe amqp reply                  a server-named reply queue, consumed
 *   brokerprobe zk get|children PATH
 *   brokerprobe zk set PATH DATA
 *   brokerprobe zk create PATH DATA         persistent, open ACL
 *   brokerprobe zk delete PATH
 *   brokerprobe zk acl PATH                 the node's ACL, one "scheme:id perms" a line
 *
 * RABBITMQ_URL says where RabbitMQ is and as whom; ZK_HOSTS where ZooKeeper
 * is, and ZK_AUTH ("user:password", several separated by spaces) as whom.
 * The ZooKeeper calls are the library's own, not common/zk's, so that the
 * answer printed is exactly the server's. Prints "ok" (and what was read)
 * and exits 0 when the broker did it. ZooKeeper: prints the error and exits
 * 3 for a refusal (NOAUTH, AUTHFAILED), 1 for anything else. RabbitMQ: exits
 * 1 on any failure, whose reason — "403 ACCESS_REFUSED" for a refusal — is
 * in mq's log line on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#include "log.h"
#include "mq.h"

static int usage(void)
{
    fprintf(stderr, "usage: brokerprobe amqp login|publish|consume|declare|depth|delete|reply [QUEUE]\n"
                    "       brokerprobe zk get|children|set|create|delete|acl PATH [DATA]\n");
    return 2;
}

static int amqp(int argc, char **argv)
{
    const char *op = argv[0], *q = argc > 1 ? argv[1] : "";
    const char *url = getenv("RABBITMQ_URL");
    struct mq *m = mq_connect(url ? url : "", 5000);
    if (!m) return 1;
    int rc = 0;
    if (strcmp(op, "login") == 0) {
    } else if (strcmp(op, "publish") == 0) {
        struct mq_props p = { .message_id = "brokerprobe", .persistent = 1 };
        rc = mq_confirm_select(m) || mq_publish(m, q, &p, "{}", 2) ||
             mq_wait_confirms(m, mq_published(m), 5000);
    } else if (strcmp(op, "consume") == 0) {
        rc = mq_qos(m, 1) || mq_consume(m, q, strncmp(q, "replog", 6) == 0 ? "first" : NULL, 0);
    } else if (strcmp(op, "declare") == 0) {
        rc = mq_declare(m, q, MQ_CLASSIC);
    } else if (strcmp(op, "depth") == 0) {
        uint32_t n = 0, c = 0;
        rc = mq_queue_depth(m, q, &n, &c);
        if (rc == 0) printf("messages=%u consumers=%u\n", n, c);
    } else if (strcmp(op, "delete") == 0) {
        rc = mq_delete_queue(m, q);
    } else if (strcmp(op, "reply") == 0) {
        char name[256];
        rc = mq_declare_reply_queue(m, name, sizeof name) || mq_consume(m, name, NULL, 1);
        if (rc == 0) printf("queue=%s\n", name);
    } else {
        mq_close(m);
        return usage();
    }
    /* A refused publish closes the channel instead of confirming it. */
    rc = rc || !mq_ok(m);
    mq_close(m);
    printf("%s\n", rc ? "failed (the reason is on stderr)" : "ok");
    return rc ? 1 : 0;
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh; (void)type; (void)state; (void)path; (void)ctx;
}

static int zk(int argc, char **argv)
{
    const char *op = argv[0];
    if (argc < 2) return usage();
    const char *path = argv[1], *data = argc > 2 ? argv[2] : "";
    const char *hosts = getenv("ZK_HOSTS");
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zhandle_t *zh = zookeeper_init(hosts ? hosts : "", watcher, 4000, NULL, NULL, 0);
    if (!zh) return 1;
    int rc = ZOK;
    for (int i = 0; i < 100 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++) {
        struct timespec t = { 0, 50 * 1000000L };
        nanosleep(&t, NULL);
    }
    if (zoo_state(zh) != ZOO_CONNECTED_STATE) rc = ZCONNECTIONLOSS;
    /* Each identity is added, and waited for, before the operation. */
    char auth[1024];
    snprintf(auth, sizeof auth, "%s", getenv("ZK_AUTH") ? getenv("ZK_AUTH") : "");
    for (char *save = NULL, *id = strtok_r(auth, " ", &save); rc == ZOK && id; id = strtok_r(NULL, " ", &save))
        if ((rc = zoo_add_auth(zh, "digest", id, (int)strlen(id), NULL, NULL)) == ZOK)
            rc = zoo_exists(zh, "/", 0, NULL); /* served after the auth packet: its failure shows */
    char buf[8192];
    int len = sizeof buf - 1;
    if (rc != ZOK) {
    } else if (strcmp(op, "get") == 0) {
        rc = zoo_get(zh, path, 0, buf, &len, NULL);
        if (rc == ZOK) printf("%.*s\n", len < 0 ? 0 : len, buf);
    } else if (strcmp(op, "children") == 0) {
        struct String_vector sv = { 0, NULL };
        rc = zoo_get_children(zh, path, 0, &sv);
        for (int i = 0; rc == ZOK && i < sv.count; i++) printf("%s\n", sv.data[i]);
        deallocate_String_vector(&sv);
    } else if (strcmp(op, "set") == 0) {
        rc = zoo_set(zh, path, data, (int)strlen(data), -1);
    } else if (strcmp(op, "create") == 0) {
        rc = zoo_create(zh, path, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    } else if (strcmp(op, "delete") == 0) {
        rc = zoo_delete(zh, path, -1);
    } else if (strcmp(op, "acl") == 0) {
        struct ACL_vector acl = { 0, NULL };
        struct Stat st;
        rc = zoo_get_acl(zh, path, &acl, &st);
        for (int i = 0; rc == ZOK && i < acl.count; i++) {
            int p = acl.data[i].perms;
            printf("%s:%s %s%s%s%s%s\n", acl.data[i].id.scheme, acl.data[i].id.id, p & ZOO_PERM_READ ? "r" : "",
                   p & ZOO_PERM_WRITE ? "w" : "", p & ZOO_PERM_CREATE ? "c" : "", p & ZOO_PERM_DELETE ? "d" : "",
                   p & ZOO_PERM_ADMIN ? "a" : "");
        }
        deallocate_ACL_vector(&acl);
    } else {
        zookeeper_close(zh);
        return usage();
    }
    zookeeper_close(zh);
    printf("%s\n", rc == ZOK ? "ok" : zerror(rc));
    return rc == ZOK ? 0 : rc == ZNOAUTH || rc == ZAUTHFAILED ? 3 : 1;
}

int main(int argc, char **argv)
{
    log_init("brokerprobe");
    if (argc < 3) return usage();
    if (strcmp(argv[1], "amqp") == 0) return amqp(argc - 2, argv + 2);
    if (strcmp(argv[1], "zk") == 0) return zk(argc - 2, argv + 2);
    return usage();
}
