/*
 * test_zk.c — common/zk/zk.c against a real ZooKeeper (ZK_HOSTS, e.g. from
 * services/infra/localinfra.sh). Without ZK_HOSTS the suite exits 77, which
 * the runner counts as skipped.
 *
 * All nodes live under /test-<pid>, so runs never see each other's nodes.
 * Watch callbacks bump a counter under a mutex; tests wait on its condition
 * variable with a deadline. The expiry test needs a session that dies without
 * closing: the suite re-executes itself as a child (--hold-ephemeral) that
 * creates a node and then SIGKILLs itself.
 */
#include "test.h"

#include "clock.h"
#include "log.h"
#include "zk.h"
#include "zk_acl.h"

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *hosts;
static char root[64];

struct events {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int count;
    char path[256];
    int connected, expired;
};

static void events_init(struct events *e)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    clock_cond_init(&e->cond);
}

static void events_destroy(struct events *e)
{
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->mu);
}

static void on_watch(const char *path, void *ctx)
{
    struct events *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->count++;
    snprintf(e->path, sizeof e->path, "%s", path);
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
}

static void on_state(int connected, int expired, void *ctx)
{
    struct events *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->connected = connected;
    e->expired = expired;
    e->count++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
}

/* Waits until e->count >= n or ms pass; returns the count. */
static int wait_count(struct events *e, int n, int ms)
{
    struct timespec deadline = clock_deadline(ms);
    pthread_mutex_lock(&e->mu);
    while (e->count < n && pthread_cond_timedwait(&e->cond, &e->mu, &deadline) == 0) {}
    int c = e->count;
    pthread_mutex_unlock(&e->mu);
    return c;
}

/* Polls zk_get until the node is gone or ms pass; returns ms it took, or -1. */
static int64_t wait_gone(struct zk *z, const char *path, int ms)
{
    int64_t t0 = clock_ms();
    char buf[64];
    while (clock_ms() - t0 < ms) {
        if (zk_get(z, path, buf, sizeof buf, NULL, NULL) == -2) return clock_ms() - t0;
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void node(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", root, rel);
}

TEST(open_reports_state_and_timeout)
{
    struct events e;
    events_init(&e);
    struct zk *z = zk_open(hosts, 2000, 5000, on_state, &e);
    CHECK(z);
    CHECK(wait_count(&e, 1, 1000) >= 1);
    CHECK_INT(e.connected, 1);
    CHECK_INT(e.expired, 0);
    CHECK_INT(zk_session_timeout(z), 2000);
    zk_close(z);
    events_destroy(&e);
}

TEST(ensure_path_put_get_delete)
{
    struct zk *z = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(z);
    char p[128], buf[64];
    node(p, sizeof p, "a/b/c");
    CHECK_INT(zk_ensure_path(z, p), 0);
    CHECK_INT(zk_ensure_path(z, p), 0); /* idempotent */
    CHECK_INT(zk_get(z, p, buf, sizeof buf, NULL, NULL), 0);
    CHECK_STR(buf, "");
    char **names;
    node(p, sizeof p, "a/b");
    CHECK_INT(zk_children(z, p, &names, NULL, NULL), 1);
    CHECK_STR(names[0], "c");
    zk_free_children(names, 1);

    node(p, sizeof p, "x/y/val"); /* zk_put creates the parents */
    CHECK_INT(zk_put(z, p, "hello", 5), 0);
    CHECK_INT(zk_get(z, p, buf, sizeof buf, NULL, NULL), 5);
    CHECK_STR(buf, "hello");
    CHECK_INT(zk_put(z, p, "{\"epoch\":2}", 11), 0);
    CHECK_INT(zk_get(z, p, buf, sizeof buf, NULL, NULL), 11);
    CHECK_STR(buf, "{\"epoch\":2}");
    char small[4];
    CHECK_INT(zk_get(z, p, small, sizeof small, NULL, NULL), 3); /* truncated, terminated */
    CHECK_STR(small, "{\"e");
    CHECK_INT(zk_delete(z, p), 0);
    CHECK_INT(zk_delete(z, p), 0); /* already gone is fine */
    CHECK_INT(zk_get(z, p, buf, sizeof buf, NULL, NULL), -2);
    node(p, sizeof p, "nope");
    CHECK_INT(zk_children(z, p, &names, NULL, NULL), -2);
    CHECK(names == NULL);
    zk_close(z);
}

TEST(ephemeral_goes_with_closed_session)
{
    struct zk *a = zk_open(hosts, 4000, 5000, NULL, NULL), *b = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(a && b);
    char p[128], buf[64];
    node(p, sizeof p, "workers/w1");
    CHECK_INT(zk_create_ephemeral(a, p, "{\"pid\":1}", 9), 0);
    CHECK_INT(zk_get(b, p, buf, sizeof buf, NULL, NULL), 9);
    /* Creating it again from the same session only changes the data. */
    CHECK_INT(zk_create_ephemeral(a, p, "{\"pid\":2}", 9), 0);
    CHECK_INT(zk_get(b, p, buf, sizeof buf, NULL, NULL), 9);
    CHECK_STR(buf, "{\"pid\":2}");
    zk_close(a);
    CHECK(wait_gone(b, p, 3000) >= 0);
    zk_close(b);
}

TEST(ephemeral_of_other_session_is_replaced)
{
    struct zk *old = zk_open(hosts, 4000, 5000, NULL, NULL), *neu = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(old && neu);
    char p[128], buf[64];
    node(p, sizeof p, "workers/w2");
    CHECK_INT(zk_create_ephemeral(old, p, "old", 3), 0);
    CHECK_INT(zk_create_ephemeral(neu, p, "new", 3), 0);
    CHECK_INT(zk_get(old, p, buf, sizeof buf, NULL, NULL), 3);
    CHECK_STR(buf, "new");
    zk_close(old); /* the node now belongs to neu: it stays */
    CHECK_INT(zk_get(neu, p, buf, sizeof buf, NULL, NULL), 3);
    zk_close(neu);
}

TEST(ephemeral_goes_when_owner_is_killed)
{
    char p[128], buf[64];
    node(p, sizeof p, "workers/killed");
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl("/proc/self/exe", "test_zk", "--hold-ephemeral", p, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char ready[8] = "";
    ssize_t n = read(fds[0], ready, sizeof ready - 1); /* the child writes "ready" */
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(n > 0 && strncmp(ready, "ready", 5) == 0);
    CHECK(WIFSIGNALED(status));
    struct zk *z = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(z);
    int64_t t0 = clock_ms();
    int r = zk_get(z, p, buf, sizeof buf, NULL, NULL);
    /* The owner's session (2 s) must expire; allow it twice over. */
    int64_t took = wait_gone(z, p, 5000);
    printf("# killed owner's node gone after %lld ms\n", (long long)(clock_ms() - t0));
    zk_close(z);
    CHECK_INT(r, 5);
    CHECK(took >= 0);
}

TEST(child_watch_fires_on_create)
{
    struct events e;
    events_init(&e);
    struct zk *z = zk_open(hosts, 4000, 5000, NULL, NULL), *o = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(z && o);
    char dir[128], p[160];
    node(dir, sizeof dir, "watched");
    CHECK_INT(zk_ensure_path(z, dir), 0);
    char **names;
    CHECK_INT(zk_children(z, dir, &names, on_watch, &e), 0);
    zk_free_children(names, 0);
    snprintf(p, sizeof p, "%s/n1", dir);
    CHECK_INT(zk_create_ephemeral(o, p, "", 0), 0);
    CHECK_INT(wait_count(&e, 1, 3000), 1);
    CHECK_STR(e.path, dir);
    /* One-shot: re-arm (and re-read) to hear of the next change. */
    CHECK_INT(zk_children(z, dir, &names, on_watch, &e), 1);
    zk_free_children(names, 1);
    zk_close(o); /* its ephemeral n1 goes: a child event */
    CHECK_INT(wait_count(&e, 2, 3000), 2);
    CHECK_INT(zk_children(z, dir, &names, NULL, NULL), 0);
    zk_free_children(names, 0);
    zk_close(z);
    CHECK_INT(e.count, 2);
    events_destroy(&e);
}

TEST(data_watch_fires_on_set)
{
    struct events e;
    events_init(&e);
    struct zk *z = zk_open(hosts, 4000, 5000, NULL, NULL), *o = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(z && o);
    char p[128], buf[64];
    node(p, sizeof p, "master");
    CHECK_INT(zk_put(z, p, "{\"epoch\":1}", 11), 0);
    CHECK_INT(zk_get(z, p, buf, sizeof buf, on_watch, &e), 11);
    CHECK_INT(zk_put(o, p, "{\"epoch\":2}", 11), 0);
    CHECK_INT(wait_count(&e, 1, 3000), 1);
    CHECK_STR(e.path, p);
    CHECK_INT(zk_get(z, p, buf, sizeof buf, NULL, NULL), 11);
    CHECK_STR(buf, "{\"epoch\":2}");
    /* A watch on a missing node is refused, not left dangling. */
    char q[160];
    snprintf(q, sizeof q, "%s-missing", p);
    CHECK_INT(zk_get(z, q, buf, sizeof buf, on_watch, &e), -2);
    /* A watch that never fires is freed by zk_close (LSan checks). */
    CHECK_INT(zk_get(z, p, buf, sizeof buf, on_watch, &e), 11);
    zk_close(z);
    zk_close(o);
    CHECK_INT(e.count, 1);
    events_destroy(&e);
}

/* A loopback port nobody listens on: a connect to it is refused at once. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

TEST(open_dead_port_fails_in_time)
{
    char h[64];
    snprintf(h, sizeof h, "127.0.0.1:%d", dead_port());
    int64_t t0 = clock_ms();
    struct zk *z = zk_open(h, 2000, 1000, NULL, NULL);
    int64_t took = clock_ms() - t0;
    CHECK(z == NULL);
    CHECK(took >= 900 && took < 2500);
}

/* A server name that does not resolve (a server whose node is gone) is
 * left out while it does not, and the session opens on the others. */
TEST(open_with_a_server_name_that_does_not_resolve)
{
    char h[512];
    snprintf(h, sizeof h, "no-such-server.invalid:2181,%s", hosts);
    struct zk *z = zk_open(h, 4000, 5000, NULL, NULL);
    CHECK(z);
    CHECK_INT(zk_ensure_path(z, root), 0);
    zk_close(z);
    CHECK(zk_open("no-such-server.invalid:2181", 4000, 1000, NULL, NULL) == NULL);
    CHECK(zk_open("not a host list", 4000, 1000, NULL, NULL) == NULL);
}

/* A session whose first server refuses the connection (an ensemble with one
 * server down) still authenticates: the library drops an identity added
 * between two connection attempts, and the session then reads as nobody
 * ("not authenticated" on a node with an ACL). The library's host order is
 * made fixed so that the refusing host is always tried first. */
TEST(identity_kept_when_first_server_refuses)
{
    char aroot[96], path[128], h[512], buf[16];
    snprintf(aroot, sizeof aroot, "%s-acl", root);
    snprintf(path, sizeof path, "%s/secret", aroot);
    CHECK_INT(zk_access_init(&(struct zk_access){ .role = ZK_ROLE_ORCHESTRATOR, .root = aroot,
                                                  .auth = "orchestrator:test-password",
                                                  .worker_id = "worker:aWQ=" }), 0);
    struct zk *z = zk_open(hosts, 4000, 5000, NULL, NULL);
    CHECK(z);
    CHECK_INT(zk_put(z, path, "hello", 5), 0);
    snprintf(h, sizeof h, "127.0.0.1:%d,%s", dead_port(), hosts);
    zoo_deterministic_conn_order(1);
    int opened = 0, read = 0;
    for (int i = 0; i < 50; i++) {
        struct zk *y = zk_open(h, 4000, 5000, NULL, NULL);
        if (!y) continue;
        opened++;
        if (zk_get(y, path, buf, sizeof buf, NULL, NULL) == 5) read++;
        zk_close(y);
    }
    zoo_deterministic_conn_order(0);
    CHECK_INT(opened, 50);
    CHECK_INT(read, 50);
    zk_delete(z, path);
    zk_delete(z, aroot);
    zk_close(z);
    CHECK_INT(zk_access_init(&(struct zk_access){ .role = ZK_ROLE_ORCHESTRATOR }), 0);
}

static void cleanup(void)
{
    /* Delete what the tests left under root, deepest first. */
    struct zk *z = zk_open(hosts, 4000, 5000, NULL, NULL);
    if (!z) return;
    const char *rels[] = { "a/b/c", "a/b", "a", "x/y", "x", "workers", "watched", "master" };
    char p[128];
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) {
        node(p, sizeof p, rels[i]);
        zk_delete(z, p);
    }
    zk_delete(z, root);
    zk_close(z);
}

int main(int argc, char **argv)
{
    log_init("test_zk");
    test_suite = "test_zk";
    hosts = getenv("ZK_HOSTS");
    if (!hosts || !*hosts) {
        fprintf(stderr, "test_zk: ZK_HOSTS is not set (start services/infra/localinfra.sh): skipping\n");
        return 77;
    }
    if (argc == 3 && strcmp(argv[1], "--hold-ephemeral") == 0) {
        struct zk *z = zk_open(hosts, 2000, 5000, NULL, NULL);
        if (!z || zk_create_ephemeral(z, argv[2], "alive", 5) != 0) return 1;
        printf("ready\n");
        fflush(stdout);
        raise(SIGKILL); /* no close: the session must expire */
    }
    snprintf(root, sizeof root, "/test-%d", (int)getpid());
    RUN(open_reports_state_and_timeout);
    RUN(ensure_path_put_get_delete);
    RUN(ephemeral_goes_with_closed_session);
    RUN(ephemeral_of_other_session_is_replaced);
    RUN(ephemeral_goes_when_owner_is_killed);
    RUN(child_watch_fires_on_create);
    RUN(data_watch_fires_on_set);
    RUN(open_dead_port_fails_in_time);
    RUN(identity_kept_when_first_server_refuses);
    RUN(open_with_a_server_name_that_does_not_resolve);
    cleanup();
    return test_done();
}
