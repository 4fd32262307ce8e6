/*
 * test_mq.c — common/mq/mq.c against a real RabbitMQ (RABBITMQ_URL, e.g. from
 * services/infra/localinfra.sh). Without RABBITMQ_URL the suite exits 77,
 * which the runner counts as skipped.
 *
 * Every queue name carries this process's PID, so reruns against the same
 * broker never see an earlier run's messages. Nothing sleeps and hopes:
 * every wait is mq_next with a deadline, and "nothing more arrives" is
 * checked by polling for a bounded time.
 */
#include "test.h"

#include "clock.h"
#include "log.h"
#include "mq.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *url;

static void qname(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "test.%s.%d", what, (int)getpid());
}

/* Next delivery within ms, or 0. */
static int next(struct mq *m, struct mq_message *msg, int ms)
{
    int64_t deadline = clock_ms() + ms;
    int rc;
    do rc = mq_next(m, msg, (int)(deadline - clock_ms()));
    while (rc == 0 && clock_ms() < deadline);
    return rc;
}

TEST(round_trip_with_properties)
{
    char q[64];
    qname(q, sizeof q, "rt");
    struct mq *m = mq_connect(url, 5000);
    CHECK(m);
    CHECK_INT(mq_declare(m, q, MQ_CLASSIC), 0);
    CHECK_INT(mq_consume(m, q, NULL, 0), 0);
    struct mq_message msg;
    int64_t t0 = clock_ms();
    CHECK_INT(mq_next(m, &msg, 0), 0); /* 0 ms polls: empty queue, at once */
    CHECK(clock_ms() - t0 < 100);
    struct mq_props p = { .message_id = "mid-1", .correlation_id = "cid-1", .reply_to = "rq", .persistent = 1 };
    CHECK_INT(mq_publish(m, q, &p, "hello", 5), 0);
    CHECK_INT(next(m, &msg, 5000), 1);
    CHECK_INT(msg.len, 5);
    CHECK_STR(msg.body, "hello");
    CHECK_STR(msg.message_id, "mid-1");
    CHECK_STR(msg.correlation_id, "cid-1");
    CHECK_STR(msg.reply_to, "rq");
    CHECK_INT(msg.stream_offset, -1);
    CHECK_INT(msg.redelivered, 0);
    CHECK_INT(mq_ack(m, msg.delivery_tag, 0), 0);
    mq_message_free(&msg);
    /* No properties at all: every field reads as unset. */
    CHECK_INT(mq_publish(m, q, NULL, "", 0), 0);
    CHECK_INT(next(m, &msg, 5000), 1);
    CHECK_INT(msg.len, 0);
    CHECK_STR(msg.body, "");
    CHECK_STR(msg.message_id, "");
    CHECK_STR(msg.reply_to, "");
    CHECK_INT(mq_ack(m, msg.delivery_tag, 0), 0);
    mq_message_free(&msg);
    CHECK(mq_ok(m));
    mq_close(m);
}

TEST(rpc_via_reply_queue)
{
    char q[64], rq[256];
    qname(q, sizeof q, "rpc");
    struct mq *srv = mq_connect(url, 5000), *cli = mq_connect(url, 5000);
    CHECK(srv && cli);
    CHECK_INT(mq_declare(srv, q, MQ_CLASSIC), 0);
    CHECK_INT(mq_consume(srv, q, NULL, 0), 0);
    CHECK_INT(mq_declare_reply_queue(cli, rq, sizeof rq), 0);
    CHECK(strncmp(rq, "amq.gen-", 8) == 0);
    CHECK_INT(mq_consume(cli, rq, NULL, 1), 0);
    for (int i = 0; i < 20; i++) {
        char cid[32], body[32];
        snprintf(cid, sizeof cid, "c%d", i);
        snprintf(body, sizeof body, "req %d", i);
        struct mq_props p = { .correlation_id = cid, .reply_to = rq };
        CHECK_INT(mq_publish(cli, q, &p, body, strlen(body)), 0);
        struct mq_message req, rep;
        CHECK_INT(next(srv, &req, 5000), 1);
        CHECK_STR(req.reply_to, rq);
        CHECK_STR(req.correlation_id, cid);
        char out[64];
        snprintf(out, sizeof out, "answer to %s", req.body);
        struct mq_props rp = { .correlation_id = req.correlation_id };
        CHECK_INT(mq_publish(srv, req.reply_to, &rp, out, strlen(out)), 0);
        CHECK_INT(mq_ack(srv, req.delivery_tag, 0), 0);
        mq_message_free(&req);
        CHECK_INT(next(cli, &rep, 5000), 1);
        CHECK_STR(rep.correlation_id, cid);
        snprintf(out, sizeof out, "answer to %s", body);
        CHECK_STR(rep.body, out);
        mq_message_free(&rep);
    }
    mq_close(srv);
    mq_close(cli);
}

TEST(confirms_and_depth)
{
    char q[64];
    qname(q, sizeof q, "confirm");
    struct mq *m = mq_connect(url, 5000);
    CHECK(m);
    CHECK_INT(mq_declare(m, q, MQ_CLASSIC), 0);
    CHECK_INT(mq_confirm_select(m), 0);
    CHECK_INT(mq_wait_confirms(m, 0, 0), 0); /* nothing published: nothing to wait for */
    struct mq_props p = { .persistent = 1 };
    for (int i = 0; i < 100; i++) {
        char body[256];
        int n = snprintf(body, sizeof body, "{\"seq\":%d,\"pad\":\"%0200d\"}", i, 0);
        CHECK_INT(mq_publish(m, q, &p, body, (size_t)n), 0);
    }
    CHECK_INT(mq_published(m), 100);
    CHECK_INT(mq_wait_confirms(m, 50, 5000), 0);
    CHECK_INT(mq_wait_confirms(m, 100, 5000), 0);
    uint32_t msgs = 0, cons = 9;
    CHECK_INT(mq_queue_depth(m, q, &msgs, &cons), 0);
    CHECK_INT(msgs, 100);
    CHECK_INT(cons, 0);
    /* A missing queue is -1 and leaves the connection and its confirm mode
     * usable. */
    CHECK_INT(mq_queue_depth(m, "test.no-such-queue", &msgs, &cons), -1);
    CHECK(mq_ok(m));
    CHECK_INT(mq_publish(m, q, &p, "x", 1), 0);
    CHECK_INT(mq_wait_confirms(m, mq_published(m), 5000), 0);
    CHECK_INT(mq_queue_depth(m, q, &msgs, &cons), 0);
    CHECK_INT(msgs, 101);
    /* Waiting for a number never published is a caller error, not a hang. */
    CHECK_INT(mq_wait_confirms(m, 1000, 100), -1);
    mq_close(m);
}

TEST(stream_replay_from_first_and_offset)
{
    char q[64];
    qname(q, sizeof q, "stream");
    struct mq *pub = mq_connect(url, 5000);
    CHECK(pub);
    CHECK_INT(mq_declare(pub, q, MQ_STREAM), 0);
    CHECK_INT(mq_confirm_select(pub), 0);
    for (int i = 0; i < 50; i++) {
        char body[32];
        snprintf(body, sizeof body, "entry-%d", i);
        struct mq_props p = { .persistent = 1 };
        CHECK_INT(mq_publish(pub, q, &p, body, strlen(body)), 0);
    }
    CHECK_INT(mq_wait_confirms(pub, 50, 10000), 0);

    int64_t offsets[50];
    struct mq *c = mq_connect(url, 5000);
    CHECK(c);
    CHECK_INT(mq_qos(c, 20), 0);
    CHECK_INT(mq_consume(c, q, "first", 0), 0);
    for (int i = 0; i < 50; i++) {
        struct mq_message msg;
        CHECK_INT(next(c, &msg, 5000), 1);
        char want[32];
        snprintf(want, sizeof want, "entry-%d", i);
        CHECK_STR(msg.body, want);
        CHECK(msg.stream_offset >= 0);
        CHECK(i == 0 || msg.stream_offset > offsets[i - 1]);
        offsets[i] = msg.stream_offset;
        CHECK_INT(mq_ack(c, msg.delivery_tag, 0), 0);
        mq_message_free(&msg);
    }
    mq_close(c);

    /* From entry 20's offset: exactly entries 20..49, then nothing. */
    char from[32];
    snprintf(from, sizeof from, "%lld", (long long)offsets[20]);
    c = mq_connect(url, 5000);
    CHECK(c);
    CHECK_INT(mq_qos(c, 20), 0);
    CHECK_INT(mq_consume(c, q, from, 0), 0);
    for (int i = 20; i < 50; i++) {
        struct mq_message msg;
        CHECK_INT(next(c, &msg, 5000), 1);
        char want[32];
        snprintf(want, sizeof want, "entry-%d", i);
        CHECK_STR(msg.body, want);
        CHECK_INT(msg.stream_offset, offsets[i]);
        CHECK_INT(mq_ack(c, msg.delivery_tag, 0), 0);
        mq_message_free(&msg);
    }
    struct mq_message extra;
    CHECK_INT(mq_next(c, &extra, 300), 0);
    /* A new entry reaches the live consumer. */
    CHECK_INT(mq_publish(pub, q, NULL, "entry-50", 8), 0);
    CHECK_INT(mq_wait_confirms(pub, 51, 5000), 0);
    CHECK_INT(next(c, &extra, 5000), 1);
    CHECK_STR(extra.body, "entry-50");
    CHECK(extra.stream_offset > offsets[49]);
    CHECK_INT(mq_ack(c, extra.delivery_tag, 0), 0);
    mq_message_free(&extra);
    CHECK_INT(mq_consume(c, q, "bogus", 0), -1); /* refused before it reaches the broker */
    CHECK(mq_ok(c));
    mq_close(c);
    mq_close(pub);
}

TEST(single_active_consumer)
{
    char q[64];
    qname(q, sizeof q, "sac");
    struct mq *a = mq_connect(url, 5000), *b = mq_connect(url, 5000), *pub = mq_connect(url, 5000);
    CHECK(a && b && pub);
    CHECK_INT(mq_declare(a, q, MQ_SINGLE_ACTIVE), 0);
    CHECK_INT(mq_declare(b, q, MQ_SINGLE_ACTIVE), 0);
    CHECK_INT(mq_qos(a, 5), 0);
    CHECK_INT(mq_qos(b, 5), 0);
    CHECK_INT(mq_consume(a, q, NULL, 0), 0);
    CHECK_INT(mq_consume(b, q, NULL, 0), 0);
    uint32_t msgs, cons;
    CHECK_INT(mq_queue_depth(pub, q, &msgs, &cons), 0);
    CHECK_INT(cons, 2);
    for (int i = 0; i < 10; i++) CHECK_INT(mq_publish(pub, q, NULL, "w", 1), 0);
    int got_a = 0, got_b = 0;
    int64_t deadline = clock_ms() + 5000;
    while (got_a + got_b < 10 && clock_ms() < deadline) {
        struct mq_message msg;
        if (mq_next(a, &msg, 20) == 1) { got_a++; mq_ack(a, msg.delivery_tag, 0); mq_message_free(&msg); }
        if (mq_next(b, &msg, 20) == 1) { got_b++; mq_ack(b, msg.delivery_tag, 0); mq_message_free(&msg); }
    }
    CHECK_INT(got_a + got_b, 10);
    CHECK(got_a == 0 || got_b == 0);
    /* The active one goes away: the other takes over. */
    struct mq *active = got_a ? a : b, *standby = got_a ? b : a;
    mq_close(active);
    if (active == a) a = NULL; else b = NULL;
    CHECK_INT(mq_publish(pub, q, NULL, "after", 5), 0);
    struct mq_message msg;
    CHECK_INT(next(standby, &msg, 5000), 1);
    CHECK_STR(msg.body, "after");
    CHECK_INT(mq_ack(standby, msg.delivery_tag, 0), 0);
    mq_message_free(&msg);
    mq_close(a);
    mq_close(b);
    mq_close(pub);
}

TEST(channel_error_fails_connection)
{
    char q[64];
    qname(q, sizeof q, "inequiv");
    struct mq *m = mq_connect(url, 5000);
    CHECK(m);
    CHECK_INT(mq_declare(m, q, MQ_CLASSIC), 0);
    /* Redeclaring with other arguments: the broker closes the channel (406). */
    CHECK_INT(mq_declare(m, q, MQ_SINGLE_ACTIVE), -1);
    CHECK(!mq_ok(m));
    struct mq_message msg;
    CHECK_INT(mq_publish(m, q, NULL, "x", 1), -1);
    CHECK_INT(mq_next(m, &msg, 1000), -1);
    CHECK_INT(mq_ack(m, 1, 0), -1);
    mq_close(m);
}

/* A loopback port with nothing on it. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

TEST(connect_failures_are_fast)
{
    char u[128];
    snprintf(u, sizeof u, "amqp://guest:guest@127.0.0.1:%d/", closed_port());
    int64_t t0 = clock_ms();
    CHECK(mq_connect(u, 2000) == NULL);
    CHECK(clock_ms() - t0 < 1000);
    CHECK(mq_connect("not a url", 2000) == NULL);

    /* A port that accepts TCP but never speaks AMQP: the handshake timeout. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    snprintf(u, sizeof u, "amqp://guest:guest@127.0.0.1:%d/", ntohs(a.sin_port));
    t0 = clock_ms();
    struct mq *m = mq_connect(u, 500);
    int64_t took = clock_ms() - t0;
    close(fd);
    CHECK(m == NULL);
    CHECK(took >= 400 && took < 2000);
}

/* One node is a whole cluster, and so is a list that names it twice (one
 * cluster name); a list with a node that does not answer is not. */
TEST(cluster_whole_of_a_list)
{
    char list[2048], why[256];
    CHECK_INT(mq_cluster_whole(url, 2000, NULL, why, sizeof why), 1);
    snprintf(list, sizeof list, "%s,%s", url, url);
    CHECK_INT(mq_cluster_whole(list, 2000, NULL, why, sizeof why), 1);
    snprintf(list, sizeof list, "%s,amqp://guest:guest@127.0.0.1:%d/", url, closed_port());
    CHECK_INT(mq_cluster_whole(list, 2000, NULL, why, sizeof why), 0);
    CHECK_STR(why, "node 1 does not answer");
    volatile int stop = 1;
    CHECK_INT(mq_cluster_whole(url, 2000, &stop, why, sizeof why), 0);
    CHECK_STR(why, "stopped");
}

static volatile int stop_flag;
static void *set_stop_later(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 300 * 1000000L };
    nanosleep(&ts, NULL);
    stop_flag = 1;
    return NULL;
}

TEST(connect_retry_stops_and_succeeds)
{
    char u[128];
    snprintf(u, sizeof u, "amqp://guest:guest@127.0.0.1:%d/", closed_port());
    stop_flag = 0;
    pthread_t t;
    pthread_create(&t, NULL, set_stop_later, NULL);
    int64_t t0 = clock_ms();
    struct mq *m = mq_connect_retry(u, &stop_flag);
    int64_t took = clock_ms() - t0;
    pthread_join(t, NULL);
    CHECK(m == NULL);
    CHECK(took >= 250 && took < 500);
    stop_flag = 0;
    m = mq_connect_retry(url, &stop_flag);
    CHECK(m && mq_ok(m));
    mq_close(m);
}

/* ---- a broker that stops reading: a proxy that can pause one direction ----
 *
 * Between the client and the broker; while paused it does not read what
 * the client sends (as a broker under a resource alarm does), but still
 * passes on what the broker sends. Its sockets have small buffers, so a
 * client fills them quickly. A pause ends by itself after 5 s, so that a
 * send without a deadline shows up as a slow success, not as a hang. */
struct proxy {
    int listen_fd, port;
    int broker_port;
    _Atomic int64_t paused_until; /* clock_ms() */
    volatile int stop;
    pthread_t thread;
};

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    int c = accept(p->listen_fd, NULL, NULL);
    int b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p->broker_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (c < 0 || connect(b, (struct sockaddr *)&a, sizeof a) != 0) goto out;
    char buf[16384];
    while (!p->stop) {
        short from_client = clock_ms() < p->paused_until ? 0 : POLLIN;
        struct pollfd fds[2] = { { c, from_client, 0 }, { b, POLLIN, 0 } };
        if (poll(fds, 2, 50) <= 0) continue;
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) goto out;
            if (write(i ? c : b, buf, (size_t)n) != n) goto out; /* blocking: small frames both ways */
        }
    }
out:
    if (c >= 0) close(c);
    close(b);
    return NULL;
}

/* Starts a proxy to the broker of url; writes the URL through it into out. */
static int proxy_start(struct proxy *p, char *out, size_t n)
{
    memset(p, 0, sizeof *p);
    const char *at = strrchr(url, '@'), *colon = at ? strchr(at, ':') : NULL;
    const char *path = colon ? strchr(colon, '/') : NULL;
    if (!colon) return -1;
    p->broker_port = atoi(colon + 1);
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16384;
    setsockopt(p->listen_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small); /* inherited by accept */
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) || listen(p->listen_fd, 1) ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &len))
        return -1;
    p->port = ntohs(a.sin_port);
    snprintf(out, n, "%.*s:%d%s", (int)(colon - url), url, p->port, path ? path : "/");
    return pthread_create(&p->thread, NULL, proxy_main, p);
}

static void proxy_stop(struct proxy *p)
{
    p->stop = 1;
    shutdown(p->listen_fd, SHUT_RDWR); /* an accept still waiting returns */
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
}

/* Publishes 64 KB messages until one fails (at most 2000); the time the
 * failing one took, or -1 if none failed. */
static int64_t publish_until_stuck(struct mq *m, const char *q)
{
    static char body[65536];
    memset(body, 'x', sizeof body);
    for (int i = 0; i < 2000; i++) {
        int64_t t0 = clock_ms();
        if (mq_publish(m, q, NULL, body, sizeof body) != 0) return clock_ms() - t0;
    }
    return -1;
}

TEST(publish_to_a_broker_that_stops_reading_fails_in_time)
{
    struct proxy px;
    char u[512], q[64];
    qname(q, sizeof q, "stuck");
    CHECK_INT(proxy_start(&px, u, sizeof u), 0);
    struct mq *m = mq_connect(u, 5000);
    CHECK(m);
    CHECK_INT(mq_declare(m, q, MQ_CLASSIC), 0);
    mq_set_send_timeout(m, 500);
    px.paused_until = clock_ms() + 5000;
    int64_t took = publish_until_stuck(m, q);
    /* The send that could not go out waited its 500 ms, then the watchdog
     * (50 ms ticks) cut it. */
    CHECK(took >= 450 && took < 1500);
    CHECK(!mq_ok(m));
    CHECK_INT(mq_publish(m, q, NULL, "x", 1), -1); /* failed stays failed, at once */
    int64_t t0 = clock_ms();
    mq_close(m);
    CHECK(clock_ms() - t0 < 1500);
    proxy_stop(&px);
}

static volatile int stuck_stop;
static void *set_stuck_stop(void *arg)
{
    (void)arg;
    struct timespec ts = { 1, 0 };
    nanosleep(&ts, NULL);
    stuck_stop = 1;
    return NULL;
}

TEST(stop_flag_ends_a_stuck_publish)
{
    struct proxy px;
    char u[512], q[64];
    qname(q, sizeof q, "stuckstop");
    CHECK_INT(proxy_start(&px, u, sizeof u), 0);
    stuck_stop = 0;
    struct mq *m = mq_connect(u, 5000);
    CHECK(m);
    CHECK_INT(mq_declare(m, q, MQ_CLASSIC), 0);
    mq_set_send_timeout(m, 60000);
    mq_set_stop(m, &stuck_stop);
    px.paused_until = clock_ms() + 5000;
    pthread_t t;
    pthread_create(&t, NULL, set_stuck_stop, NULL);
    int64_t t0 = clock_ms();
    int64_t took = publish_until_stuck(m, q);
    int64_t after_stop = clock_ms() - t0 - 1000;
    pthread_join(t, NULL);
    /* Stuck from well before the flag; cut 300 ms after it (+ a tick). */
    CHECK(took >= 0);
    CHECK(after_stop >= 250 && after_stop < 800);
    t0 = clock_ms();
    mq_close(m);
    CHECK(clock_ms() - t0 < 500);
    proxy_stop(&px);
}

int main(void)
{
    log_init("test_mq");
    test_suite = "test_mq";
    url = getenv("RABBITMQ_URL");
    if (!url || !*url) {
        fprintf(stderr, "test_mq: RABBITMQ_URL is not set (start services/infra/localinfra.sh): skipping\n");
        return 77;
    }
    RUN(round_trip_with_properties);
    RUN(rpc_via_reply_queue);
    RUN(confirms_and_depth);
    RUN(stream_replay_from_first_and_offset);
    RUN(single_active_consumer);
    RUN(channel_error_fails_connection);
    RUN(connect_failures_are_fast);
    RUN(connect_retry_stops_and_succeeds);
    RUN(cluster_whole_of_a_list);
    RUN(publish_to_a_broker_that_stops_reading_fails_in_time);
    RUN(stop_flag_ends_a_stuck_publish);
    return test_done();
}
