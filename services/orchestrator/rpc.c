/*
 * rpc.c — see rpc.h.
 *
 * Two AMQP connections, because a rabbitmq-c connection belongs to one
 * thread at a time:
 *   - the reply connection, owned by a consumer thread, holds the exclusive
 *     reply queue and hands each reply to its waiting caller;
 *   - the publish connection, shared by the calling threads under a mutex
 *     (a publish is one socket write, so the lock is held for microseconds).
 *
 * Waiting callers live in a table of slots. A correlation id is
 * "<slot>.<generation>": a reply for a caller that already timed out finds a
 * newer generation (or a free slot) and is dropped, so a late reply can
 * never be handed to the wrong request. If the reply connection breaks,
 * every waiting caller fails at once (their replies went to a queue that no
 * longer exists) instead of sitting out its timeout.
 *
 * The publish connection declares writeQ and readQ when it connects: a
 * message published to a queue that does not exist yet would be dropped.
 */
#include "rpc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"

#define RPC_SLOTS 4096

struct slot {
    unsigned gen;
    int busy, failed, answered;
    struct rpc_reply reply;
    pthread_cond_t done;
};

struct rpc {
    char *url;
    volatile int stop;
    pthread_t consumer;

    pthread_mutex_t lock;          /* guards slots, free list, reply queue name */
    struct slot slots[RPC_SLOTS];
    int free_list[RPC_SLOTS], nfree;
    char reply_queue[256];         /* "" while the reply connection is down */

    pthread_mutex_t pub_lock;      /* guards pub */
    struct mq *pub;
    int64_t pub_retry_at;
};

static void fail_waiting(struct rpc *r)
{
    for (int i = 0; i < RPC_SLOTS; i++) {
        if (r->slots[i].busy && !r->slots[i].answered) {
            r->slots[i].failed = 1;
            pthread_cond_signal(&r->slots[i].done);
        }
    }
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
    while (!r->stop) {
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
        log_info("rpc reply queue ready queue=%s", name);
        struct mq_message msg;
        int got;
        while (!r->stop && (got = mq_next(m, &msg, 100)) >= 0) {
            if (got == 0) continue;
            deliver(r, &msg);
            mq_message_free(&msg);
        }
        pthread_mutex_lock(&r->lock);
        r->reply_queue[0] = 0;
        fail_waiting(r);
        pthread_mutex_unlock(&r->lock);
        if (!r->stop) log_warn("rpc reply connection lost, reconnecting");
        mq_close(m);
    }
    return NULL;
}

struct rpc *rpc_start(const char *amqp_url)
{
    struct rpc *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->url = strdup(amqp_url);
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->pub_lock, NULL);
    for (int i = 0; i < RPC_SLOTS; i++) {
        clock_cond_init(&r->slots[i].done);
        r->free_list[i] = RPC_SLOTS - 1 - i;
    }
    r->nfree = RPC_SLOTS;
    pthread_create(&r->consumer, NULL, consumer_main, r);
    return r;
}

void rpc_stop(struct rpc *r)
{
    if (!r) return;
    r->stop = 1;
    pthread_join(r->consumer, NULL);
    mq_close(r->pub);
    for (int i = 0; i < RPC_SLOTS; i++) {
        rpc_reply_free(&r->slots[i].reply);
        pthread_cond_destroy(&r->slots[i].done);
    }
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->pub_lock);
    free(r->url);
    free(r);
}

/* Publishes under pub_lock, (re)connecting at most every 500 ms. */
static int publish(struct rpc *r, const char *queue, const struct mq_props *props,
                   const char *body, size_t len)
{
    int rc = -1;
    pthread_mutex_lock(&r->pub_lock);
    if ((!r->pub || !mq_ok(r->pub)) && clock_ms() >= r->pub_retry_at) {
        mq_close(r->pub);
        r->pub = mq_connect(r->url, 1000);
        if (r->pub && (mq_declare(r->pub, PROTO_WRITE_QUEUE, MQ_SINGLE_ACTIVE) ||
                       mq_declare(r->pub, PROTO_READ_QUEUE, MQ_CLASSIC))) {
            mq_close(r->pub);
            r->pub = NULL;
        }
        if (!r->pub) r->pub_retry_at = clock_ms() + 500;
    }
    if (r->pub && mq_ok(r->pub)) rc = mq_publish(r->pub, queue, props, body, len);
    pthread_mutex_unlock(&r->pub_lock);
    return rc;
}

void rpc_reply_free(struct rpc_reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

int rpc_call(struct rpc *r, const char *queue, const char *rid, int persistent,
             const char *body, size_t len, int timeout_ms, struct rpc_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    char reply_to[256], corr[32];
    pthread_mutex_lock(&r->lock);
    if (!r->reply_queue[0] || r->nfree == 0) {
        pthread_mutex_unlock(&r->lock);
        return RPC_UNAVAILABLE;
    }
    int idx = r->free_list[--r->nfree];
    struct slot *s = &r->slots[idx];
    s->busy = 1;
    s->failed = 0;
    s->answered = 0;
    s->gen++;
    snprintf(corr, sizeof corr, "%d.%u", idx, s->gen);
    snprintf(reply_to, sizeof reply_to, "%s", r->reply_queue);
    pthread_mutex_unlock(&r->lock);

    struct mq_props props = { .message_id = rid, .correlation_id = corr, .reply_to = reply_to,
                              .persistent = persistent };
    int rc = publish(r, queue, &props, body, len) ? RPC_UNAVAILABLE : RPC_OK;

    pthread_mutex_lock(&r->lock);
    if (rc == RPC_OK) {
        struct timespec until = clock_deadline(timeout_ms);
        while (!s->answered && !s->failed &&
               pthread_cond_timedwait(&s->done, &r->lock, &until) == 0) {}
        if (s->answered) *reply = s->reply; /* taken over */
        else rc = s->failed ? RPC_UNAVAILABLE : RPC_TIMEOUT;
    }
    memset(&s->reply, 0, sizeof s->reply);
    s->answered = 0;
    s->busy = 0;
    r->free_list[r->nfree++] = idx;
    pthread_mutex_unlock(&r->lock);
    return rc;
}
