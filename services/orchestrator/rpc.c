/*
 * rpc.c — see rpc.h.
 *
 * Two AMQP connections, each owned by one thread (a rabbitmq-c connection
 * belongs to one thread at a time):
 *   - the reply connection, owned by the consumer thread, holds the
 *     exclusive reply queue and hands each reply to its waiting caller;
 *   - the publish connection, owned by the publisher thread, which sends the
 *     requests the callers hand it.
 *
 * No caller ever touches a socket, and no lock is held across network I/O:
 * a caller puts its request in a bounded queue (RPC_QUEUE; full:
 * RPC_UNAVAILABLE at once) and waits for its reply with its own deadline.
 * So a publish that does not go out (a broker under a resource alarm stops
 * reading; a broker gone quiet) costs the callers their timeout, never a
 * hang, and never holds up anyone's lock. The publisher takes the queued
 * requests in batches: under the lock it copies each out (so a caller may
 * leave at any moment) and skips those whose caller already gave up; it
 * publishes with the lock released. A publish has a send deadline
 * (PUB_SEND_TIMEOUT_MS, enforced by the mq wrapper's watchdog); one that
 * passes it fails the connection, and the publisher reconnects.
 *
 * What a queued request meets: a publish connection that is down and not
 * due for a retry (one try per 500 ms), or one the broker has said is
 * blocked (connection.blocked: a memory or disk alarm), fails it at once
 * (RPC_UNAVAILABLE, a 503). While blocked the publisher only reads the
 * connection, waiting for connection.unblocked; nothing piles up in the
 * socket meanwhile.
 *
 * Waiting callers live in a table of slots. A correlation id is
 * "<slot>.<generation>": a reply for a caller that already timed out finds a
 * newer generation (or a free slot) and is dropped, so a late reply can
 * never be handed to the wrong request; a queued request whose slot moved
 * on is skipped the same way. If the reply connection breaks, every waiting
 * caller fails at once (their replies went to a queue that no longer
 * exists) instead of sitting out its timeout.
 *
 * Shutdown: STOP_GRACE_MS after SIGTERM (service_stop_flag) every waiting
 * caller fails and new calls are refused, so the HTTP server, which waits
 * for its requests in flight, stops within a second even when the broker
 * does not answer.
 *
 * The publish connection declares writeQ and readQ when it connects: a
 * message published to a queue that does not exist yet would be dropped.
 *
 * Heartbeats (AMQP_HEARTBEAT_S, mq.h) need nothing more: the consumer waits
 * on its connection in slices of 100 ms and the publisher reads its own
 * every 20 ms, so each connection's owner calls into it often enough, and a
 * broker gone silent fails both within two intervals. Each thread records
 * since when its connection has been up (rpc_broker_up_since).
 */
#include "rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"
#include "service.h"

#define RPC_SLOTS 4096
#define RPC_QUEUE 1024          /* requests waiting for the publisher */
#define PUB_BATCH 64            /* requests the publisher takes at once */
#define PUB_SEND_TIMEOUT_MS 2000
#define PUB_RETRY_MS 500
#define STOP_GRACE_MS 200

struct slot {
    unsigned gen;
    int busy, failed, answered;
    int queued;                    /* in the queue, not yet taken by the publisher */
    /* The request, in the caller's memory: read only under lock, while queued. */
    const char *queue, *rid, *body;
    size_t len;
    int persistent;
    int64_t deadline_wall_ms;      /* 0: no deadline header */
    struct rpc_reply reply;
    pthread_cond_t done;
};

struct rpc {
    char *url;
    volatile int stop;             /* rpc_stop */
    volatile sig_atomic_t *sigstop; /* SIGTERM/SIGINT arrived */
    _Atomic int64_t stop_seen;     /* when *sigstop was first seen set */
    pthread_t consumer, publisher;
    _Atomic int64_t consumer_up, publisher_up; /* clock_ms() since the connection is up; 0: down */
    _Atomic int blocked;           /* the broker said connection.blocked (a resource alarm) */

    pthread_mutex_t lock;          /* guards everything below */
    struct slot slots[RPC_SLOTS];
    int free_list[RPC_SLOTS], nfree;
    char reply_queue[256];         /* "" while the reply connection is down */
    int queue[RPC_QUEUE];          /* slot indexes, FIFO */
    unsigned queue_gen[RPC_QUEUE]; /* ... and their generations then */
    int qhead, qlen;
    pthread_cond_t work;           /* the publisher waits here for requests */
    int publisher_waiting;
};

/* One request taken by the publisher: offsets into its copy buffer. */
struct outgoing {
    int idx;
    unsigned gen;
    int persistent;
    int64_t deadline_wall_ms;
    size_t queue, rid, body, len;
};

/* Whether SIGTERM has been in for STOP_GRACE_MS: then calls fail. */
static int shutting_down(struct rpc *r)
{
    if (!*r->sigstop) return 0;
    int64_t now = clock_ms(), seen = 0;
    if (atomic_compare_exchange_strong(&r->stop_seen, &seen, now)) return 0;
    return now - seen >= STOP_GRACE_MS;
}

/* Fails every waiting caller (queued or sent). Caller holds lock. */
static void fail_waiting(struct rpc *r)
{
    for (int i = 0; i < RPC_SLOTS; i++) {
        if (r->slots[i].busy && !r->slots[i].answered) {
            r->slots[i].failed = 1;
            r->slots[i].queued = 0;
            pthread_cond_signal(&r->slots[i].done);
        }
    }
    r->qlen = 0;
}

static void deliver(struct rpc *r, struct mq_message *msg)
{
    unsigned idx, gen;
    if (sscanf(msg->correlation_id, "%u.%u", &idx, &gen) != 2 || idx >= RPC_SLOTS) return;
    pthread_mutex_lock(&r->lock);
    struct slot *s = &r->slots[idx];
    if (s->busy && s->gen == gen && !s->answered) {
        struct rpc_reply *rp = &s->reply;
        rp->body = msg->body; /* taken over */
        rp->len = msg->len;
        msg->body = NULL;
        if (!mq_header(msg, "status", &rp->status)) rp->status = 502;
        rp->has_seq = mq_header(msg, "seq", &rp->seq);
        rp->has_epoch = mq_header(msg, "epoch", &rp->epoch);
        s->answered = 1;
        pthread_cond_signal(&s->done);
    }
    pthread_mutex_unlock(&r->lock);
}

static void *consumer_main(void *arg)
{
    struct rpc *r = arg;
    while (!r->stop && !shutting_down(r)) {
        struct mq *m = mq_connect_retry(r->url, &r->stop);
        if (!m) break;
        char name[256];
        if (mq_declare_reply_queue(m, name, sizeof name) || mq_consume(m, name, NULL, 1)) {
            mq_close(m);
            struct timespec backoff = { 0, 200 * 1000000L };
            nanosleep(&backoff, NULL);
            continue;
        }
        pthread_mutex_lock(&r->lock);
        snprintf(r->reply_queue, sizeof r->reply_queue, "%s", name);
        pthread_mutex_unlock(&r->lock);
        atomic_store(&r->consumer_up, clock_ms());
        log_info("rpc reply queue ready queue=%s", name);
        struct mq_message msg;
        int got;
        while (!r->stop && !shutting_down(r) && (got = mq_next(m, &msg, 100)) >= 0) {
            if (got == 0) continue;
            deliver(r, &msg);
            mq_message_free(&msg);
        }
        atomic_store(&r->consumer_up, 0);
        pthread_mutex_lock(&r->lock);
        r->reply_queue[0] = 0;
        fail_waiting(r);
        pthread_mutex_unlock(&r->lock);
        if (!r->stop && !shutting_down(r)) log_warn("rpc reply connection lost, reconnecting");
        mq_close(m);
    }
    return NULL;
}

/* ------------------------------------------------------------ publisher */

static struct mq *pub_connect(struct rpc *r)
{
    struct mq *m = mq_connect(r->url, 1000);
    if (!m) return NULL;
    mq_set_send_timeout(m, PUB_SEND_TIMEOUT_MS);
    if (mq_declare(m, PROTO_WRITE_QUEUE, MQ_SINGLE_ACTIVE) || mq_declare(m, PROTO_READ_QUEUE, MQ_CLASSIC)) {
        mq_close(m);
        return NULL;
    }
    return m;
}

/* Appends a copy of s (NUL included) to the buffer; its offset. */
static size_t put(char **buf, size_t *used, size_t *cap, const char *s, size_t n)
{
    if (*used + n + 1 > *cap) {
        size_t ncap = (*used + n + 1) * 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) abort();
        *buf = nb;
        *cap = ncap;
    }
    size_t at = *used;
    if (n) memcpy(*buf + at, s, n);
    (*buf)[at + n] = '\0';
    *used += n + 1;
    return at;
}

/* Takes up to PUB_BATCH queued requests whose callers still wait, copying
 * them into buf; if !up, fails them instead. Caller holds lock. */
static int take_batch(struct rpc *r, int up, struct outgoing *batch, char **buf, size_t *cap, char *reply_to)
{
    int n = 0;
    size_t used = 0;
    snprintf(reply_to, 256, "%s", r->reply_queue);
    while (r->qlen > 0 && n < PUB_BATCH) {
        int idx = r->queue[r->qhead];
        unsigned gen = r->queue_gen[r->qhead];
        r->qhead = (r->qhead + 1) % RPC_QUEUE;
        r->qlen--;
        struct slot *s = &r->slots[idx];
        if (!s->busy || s->gen != gen || !s->queued) continue; /* its caller gave up */
        s->queued = 0;
        if (!up || !reply_to[0]) {
            s->failed = 1;
            pthread_cond_signal(&s->done);
            continue;
        }
        struct outgoing *o = &batch[n++];
        o->idx = idx;
        o->gen = gen;
        o->persistent = s->persistent;
        o->deadline_wall_ms = s->deadline_wall_ms;
        o->queue = put(buf, &used, cap, s->queue, strlen(s->queue));
        o->rid = put(buf, &used, cap, s->rid, strlen(s->rid));
        o->body = put(buf, &used, cap, s->body, s->len);
        o->len = s->len;
    }
    return n;
}

/* Marks the batch's requests whose publish failed. */
static void batch_done(struct rpc *r, const struct outgoing *batch, const int *failed, int n)
{
    int any = 0;
    for (int i = 0; i < n; i++) any |= failed[i];
    if (!any) return;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < n; i++) {
        struct slot *s = &r->slots[batch[i].idx];
        if (failed[i] && s->busy && s->gen == batch[i].gen && !s->answered) {
            s->failed = 1;
            pthread_cond_signal(&s->done);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

/* The publisher's connection is up since at (clock_ms), or down (0), or
 * blocked by a resource alarm (0 too: a broker that takes no publishes
 * cuts every worker's work short, and killing them would not help). */
static void note_publisher(struct rpc *r, struct mq *m)
{
    atomic_store(&r->blocked, mq_ok(m) && mq_blocked(m));
    if (!mq_ok(m) || mq_blocked(m)) atomic_store(&r->publisher_up, 0);
    else if (!atomic_load(&r->publisher_up)) atomic_store(&r->publisher_up, clock_ms());
}

static void *publisher_main(void *arg)
{
    struct rpc *r = arg;
    struct mq *m = NULL;
    int64_t retry_at = 0, read_at = 0;
    struct outgoing batch[PUB_BATCH];
    int failed[PUB_BATCH];
    char *buf = NULL, reply_to[256];
    size_t cap = 0;
    while (!r->stop) {
        if (!mq_ok(m) && clock_ms() >= retry_at && !shutting_down(r)) {
            mq_close(m);
            m = pub_connect(r);
            if (!m) retry_at = clock_ms() + PUB_RETRY_MS;
        }
        /* Frames the broker sent (connection.blocked/unblocked, a close):
         * looked at every 20 ms; while blocked, waited for here instead of
         * for work. */
        struct mq_message msg;
        if (mq_ok(m) && (mq_blocked(m) || clock_ms() - read_at >= 20)) {
            if (mq_next(m, &msg, mq_blocked(m) ? 50 : 0) > 0) mq_message_free(&msg);
            read_at = clock_ms();
        }
        note_publisher(r, m);
        int up = mq_ok(m) && !mq_blocked(m);
        pthread_mutex_lock(&r->lock);
        if (r->qlen == 0 && up && !r->stop) {
            r->publisher_waiting = 1;
            struct timespec until = clock_deadline(100);
            pthread_cond_timedwait(&r->work, &r->lock, &until);
            r->publisher_waiting = 0;
        }
        int n = take_batch(r, up, batch, &buf, &cap, reply_to);
        pthread_mutex_unlock(&r->lock);
        if (n == 0) {
            if (!up && !mq_ok(m)) { /* down, waiting for the next try */
                struct timespec tick = { 0, 20 * 1000000L };
                nanosleep(&tick, NULL);
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            char corr[32];
            snprintf(corr, sizeof corr, "%d.%u", batch[i].idx, batch[i].gen);
            struct mq_props props = { .message_id = buf + batch[i].rid, .correlation_id = corr,
                                      .reply_to = reply_to, .persistent = batch[i].persistent };
            if (batch[i].deadline_wall_ms) {
                props.nheaders = 1;
                props.headers[0] = (struct mq_header){ "deadline", batch[i].deadline_wall_ms };
            }
            failed[i] = !mq_ok(m) || mq_publish(m, buf + batch[i].queue, &props, buf + batch[i].body,
                                                batch[i].len) != 0;
        }
        batch_done(r, batch, failed, n);
    }
    mq_close(m);
    free(buf);
    return NULL;
}

/* ------------------------------------------------------------------ API */

struct rpc *rpc_start(const char *amqp_url)
{
    struct rpc *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->url = strdup(amqp_url);
    r->sigstop = service_stop_flag();
    pthread_mutex_init(&r->lock, NULL);
    clock_cond_init(&r->work);
    for (int i = 0; i < RPC_SLOTS; i++) {
        clock_cond_init(&r->slots[i].done);
        r->free_list[i] = RPC_SLOTS - 1 - i;
    }
    r->nfree = RPC_SLOTS;
    pthread_create(&r->consumer, NULL, consumer_main, r);
    pthread_create(&r->publisher, NULL, publisher_main, r);
    return r;
}

void rpc_stop(struct rpc *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->publisher, NULL);
    pthread_join(r->consumer, NULL);
    for (int i = 0; i < RPC_SLOTS; i++) {
        rpc_reply_free(&r->slots[i].reply);
        pthread_cond_destroy(&r->slots[i].done);
    }
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->lock);
    free(r->url);
    free(r);
}

int64_t rpc_broker_up_since(struct rpc *r)
{
    int64_t c = atomic_load(&r->consumer_up), p = atomic_load(&r->publisher_up);
    return c && p ? (c > p ? c : p) : 0;
}

int rpc_broker_blocked(struct rpc *r) { return atomic_load(&r->blocked); }

void rpc_reply_free(struct rpc_reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

int rpc_call(struct rpc *r, const char *queue, const char *rid, int persistent, int64_t deadline_wall_ms,
             const char *body, size_t len, int timeout_ms, struct rpc_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    int64_t deadline = clock_ms() + timeout_ms;
    pthread_mutex_lock(&r->lock);
    if (!r->reply_queue[0] || r->nfree == 0 || r->qlen == RPC_QUEUE || r->stop || shutting_down(r)) {
        pthread_mutex_unlock(&r->lock);
        return RPC_UNAVAILABLE;
    }
    int idx = r->free_list[--r->nfree];
    struct slot *s = &r->slots[idx];
    s->busy = 1;
    s->failed = 0;
    s->answered = 0;
    s->gen++;
    s->queued = 1;
    s->queue = queue;
    s->rid = rid;
    s->body = body;
    s->len = len;
    s->persistent = persistent;
    s->deadline_wall_ms = deadline_wall_ms;
    int tail = (r->qhead + r->qlen++) % RPC_QUEUE;
    r->queue[tail] = idx;
    r->queue_gen[tail] = s->gen;
    if (r->publisher_waiting) pthread_cond_signal(&r->work);

    /* In slices of at most 100 ms, to see a shutdown. */
    while (!s->answered && !s->failed && !shutting_down(r)) {
        int64_t left = deadline - clock_ms();
        if (left <= 0) break;
        struct timespec slice = clock_deadline(left > 100 ? 100 : left);
        pthread_cond_timedwait(&s->done, &r->lock, &slice);
    }
    int rc = s->answered ? RPC_OK : s->failed || shutting_down(r) ? RPC_UNAVAILABLE : RPC_TIMEOUT;
    if (s->answered) *reply = s->reply; /* taken over */
    /* Still queued: the publisher skips it (its generation moves on). */
    memset(&s->reply, 0, sizeof s->reply);
    s->queued = s->answered = s->busy = 0;
    s->queue = s->rid = s->body = NULL;
    r->free_list[r->nfree++] = idx;
    pthread_mutex_unlock(&r->lock);
    return rc;
}
