/*
 * slave.c — the slave role: follow the log, answer reads.
 *
 * One follower thread applies the log (follower.c). Reader threads, each
 * with its own AMQP connection and its own read-only SQLite connection,
 * consume readQ; RabbitMQ spreads reads round-robin over the consumers of
 * every slave. A read carries min_seq, the highest seq the orchestrator had
 * acknowledged when the read arrived; a reader answers only once this
 * replica has applied it, waiting up to read_wait_ms for the follower, and
 * answers 503 otherwise. So a read never misses a write acknowledged before
 * it began.
 *
 * Each reader's connection is one of the worker's links to the broker
 * (worker_link_down/up): a slave that cannot take reads is cut off.
 *
 * Two more threads, once the replica is ready: one makes checkpoints
 * (checkpointer.c), one makes backups on request (backup.c).
 *
 * Stopping (SIGTERM for scale-in, or promotion to master): readers stop
 * taking deliveries, ack what they answered, and close. A read still
 * waiting for its min_seq is left unanswered and unacked, like the
 * deliveries prefetched but not yet taken: the broker requeues them all to
 * the other slaves when the connection closes, so stopping a slave costs no
 * read an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dbop.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "backup.h"
#include "checkpoint.h"
#include "protocol.h"
#include "worker.h"

static int readers_stopping(struct worker *w)
{
    return w->stop || atomic_load(&w->readers_stop);
}

/* Waits until the replica has applied min_seq; returns the applied seq. */
static int64_t wait_applied(struct worker *w, int64_t min_seq)
{
    pthread_mutex_lock(&w->lock);
    if (w->applied_seq < min_seq) {
        struct timespec until = clock_deadline(w->read_wait_ms);
        while (w->applied_seq < min_seq && !readers_stopping(w) &&
               pthread_cond_timedwait(&w->advanced, &w->lock, &until) == 0) {}
    }
    int64_t applied = w->applied_seq;
    pthread_mutex_unlock(&w->lock);
    return applied;
}

/* Answers one read: the reply body, its status and the applied seq; NULL
 * when the reader is stopping before the replica reached the read's
 * min_seq (the read is left for another slave). */
static char *answer(struct worker *w, struct store_reader *rd, const struct mq_message *msg,
                    int *status, int64_t *applied)
{
    char err[256];
    struct dbop op;
    int64_t min_seq = 0;
    cJSON *env = json_parse(msg->body, msg->len);
    cJSON *opj = env ? cJSON_GetObjectItemCaseSensitive(env, "op") : NULL;
    char *reply = NULL;
    *status = 400;
    *applied = 0;
    if (!opj || dbop_parse(opj, 0, &op, err, sizeof err)) {
        reply = json_error_text(opj ? err : "request is not {\"op\": ...}");
    } else if (dbop_is_write(&op)) {
        reply = json_error_text("not a read operation");
    } else {
        json_get_int(env, "min_seq", &min_seq);
        *applied = wait_applied(w, min_seq);
        char *result = NULL;
        if (*applied < min_seq && readers_stopping(w)) {
            reply = NULL;
        } else if (*applied < min_seq) {
            snprintf(err, sizeof err, "replica behind: applied %lld of %lld", (long long)*applied,
                     (long long)min_seq);
            *status = 503;
            reply = json_error_text(err);
        } else if (store_read(rd, &op, &result, err, sizeof err)) {
            *status = 500;
            reply = json_error_text(err);
        } else {
            *status = 200;
            reply = result;
        }
    }
    cJSON_Delete(env);
    return reply;
}

/* A reader thread: the worker, and which of the reader links is its own. */
struct reader {
    struct worker *w;
    int link;
    pthread_t thread;
};

static void *reader_main(void *arg)
{
    struct reader *me = arg;
    struct worker *w = me->w;
    /* A replica far behind would only make reads wait: serve once caught up. */
    pthread_mutex_lock(&w->lock);
    while (!w->caught_up && !readers_stopping(w)) {
        struct timespec until = clock_deadline(100);
        pthread_cond_timedwait(&w->advanced, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    struct store_reader *rd = store_reader_open(w->db_path);
    if (!rd) { w->stop = 1; return NULL; }
    while (!readers_stopping(w)) {
        struct mq *m = mq_connect_retry(w->amqp_url, &w->stop);
        if (!m) break;
        if (mq_declare(m, PROTO_READ_QUEUE, MQ_CLASSIC) || mq_qos(m, 32) ||
            mq_consume(m, PROTO_READ_QUEUE, NULL, 0)) {
            worker_link_down(w, me->link, 0);
            mq_close(m);
            worker_nap(w, 200);
            continue;
        }
        worker_link_up(w, me->link);
        /* Acks go in groups: once the deliveries at hand are answered, or
         * every 16. A slave that dies before acking gets its unanswered
         * reads requeued to another slave by the broker. */
        struct mq_message msg;
        uint64_t last_tag = 0;
        int unacked = 0, got;
        while (!readers_stopping(w) && (got = mq_next(m, &msg, unacked ? 0 : 100)) >= 0) {
            if (got == 1) {
                int status;
                int64_t applied;
                char *reply = answer(w, rd, &msg, &status, &applied);
                if (!reply) { /* stopping: unacked, so requeued when we close */
                    mq_message_free(&msg);
                    break;
                }
                if (*msg.reply_to) {
                    struct mq_props props = {
                        .correlation_id = msg.correlation_id,
                        .nheaders = 2,
                        .headers = { { "status", status }, { "seq", applied } },
                    };
                    mq_publish(m, msg.reply_to, &props, reply, strlen(reply));
                }
                atomic_fetch_add(&w->reads_served, 1);
                last_tag = msg.delivery_tag;
                unacked++;
                free(reply);
                mq_message_free(&msg);
            }
            if (unacked && (got == 0 || unacked >= 16)) {
                mq_ack(m, last_tag, 1);
                unacked = 0;
            }
        }
        /* Acked before closing, or the broker would hand answered reads to
         * another slave, which would answer them a second time. */
        if (unacked) mq_ack(m, last_tag, 1);
        if (!readers_stopping(w)) {
            worker_link_down(w, me->link, worker_lost_at(m, NULL));
            log_warn("read connection lost, reconnecting");
        }
        mq_close(m);
    }
    worker_link_up(w, me->link); /* no longer reading */
    store_reader_close(rd);
    return NULL;
}

int slave_run(struct worker *w)
{
    int n = w->read_threads;
    if (n > WORKER_LINKS - WORKER_LINK_READER) n = WORKER_LINKS - WORKER_LINK_READER;
    struct reader *readers = calloc((size_t)n, sizeof *readers);
    if (!readers) abort();
    worker_set_state(w, "slave", "catching-up");
    for (int i = 0; i < n; i++) {
        readers[i] = (struct reader){ .w = w, .link = WORKER_LINK_READER + i };
        pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]);
    }
    struct checkpointer *ckpt = checkpointer_start(w);
    struct backup_server *backups = backup_server_start(w);
    int rc = follower_run(w, 0);
    /* The follower returns on stop, on promotion, at a gap or on a fatal
     * error: take the readers down in every case (a master answers no
     * reads; at a gap the replica is replaced under them). */
    int promote = rc == 0 && !w->stop && atomic_load(&w->promote_epoch) != 0;
    if (promote || rc == WORKER_GAP) {
        atomic_store(&w->readers_stop, 1);
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->advanced);
        pthread_mutex_unlock(&w->lock);
    } else {
        w->stop = 1;
    }
    for (int i = 0; i < n; i++) pthread_join(readers[i].thread, NULL);
    checkpointer_stop(ckpt);
    backup_server_stop(backups);
    free(readers);
    return promote ? 1 : rc;
}
