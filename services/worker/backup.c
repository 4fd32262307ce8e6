/*
 * backup.c — a ready slave makes backups on request (backup.h).
 *
 * The orchestrator (GET /api/v1/backup, scheduled backups) sends a request
 * to backupQ, which every ready slave consumes with a prefetch of 1, so one
 * slave takes it and the master is never asked: a backup costs the write
 * path nothing. The slave copies its committed state into a backup file
 * (store_backup: one read transaction, the follower goes on), measures it,
 * lists the stream it is about to fill as garbage in ZK_ROOT/checkpoint (so
 * that the next checkpointer deletes it even if the orchestrator never gets
 * to), publishes the file as a stream of its own (mq_file.h) and answers
 * the request with status 200 and
 *   {"stream", "size", "parts", "crc", "seq", "epoch", "made_at_ms", "made_by"};
 * the orchestrator reads the stream and deletes it. Anything failing is
 * answered 503 with {"error"}, and nothing is left but the garbage entry.
 * A request whose deadline header has passed is dropped unanswered: its
 * asker gave up.
 */
#include "backup.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupfile.h"
#include "checkpoint.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "mq_file.h"
#include "protocol.h"
#include "store.h"
#include "worker.h"
#include "zk.h"

struct backup_server {
    struct worker *w;
    volatile int stop;
    pthread_t thread;
};

static int stopped(struct backup_server *b) { return b->w->stop || b->stop; }

/* Makes the backup and fills its stream; the reply body (malloc'd) and its status. */
static char *make(struct backup_server *b, int *status)
{
    struct worker *w = b->w;
    char path[1100], stream[200], err[300] = "";
    snprintf(path, sizeof path, "%s.backup", w->db_path);
    struct backup_meta meta = { .made_at_ms = clock_wall_ms() };
    snprintf(meta.made_by, sizeof meta.made_by, "%s", w->id);
    struct mq_file_info fi;
    struct zk *zk = NULL;
    struct mq *m = NULL;
    int64_t t0 = clock_ms();
    *status = 503;
    if (store_backup(w->db_path, path, &meta, err, sizeof err) || mq_file_measure(path, &fi)) {
        if (!*err) snprintf(err, sizeof err, "could not read the backup file");
        goto out;
    }
    snprintf(stream, sizeof stream, "%s%lld.%s.%lld", PROTO_BACKUP_STREAM_PREFIX, (long long)meta.seq, w->id,
             (long long)meta.made_at_ms);
    zk = zk_open(w->zk_hosts, 4000, 2000, NULL, NULL);
    if (!zk || checkpoint_list_garbage(zk, w->zk_root, stream)) {
        snprintf(err, sizeof err, "ZooKeeper unavailable");
        goto out;
    }
    m = mq_connect(w->amqp_url, 2000);
    if (!m || mq_file_publish(m, stream, path, &fi, &b->stop)) {
        snprintf(err, sizeof err, "could not publish the backup");
        if (m && mq_ok(m)) mq_delete_queue(m, stream);
        goto out;
    }
    *status = 200;
    log_info("backup made stream=%s seq=%lld bytes=%lld crc=%08x took_ms=%lld", stream, (long long)meta.seq,
             (long long)fi.size, fi.crc, (long long)(clock_ms() - t0));
out:
    mq_close(m);
    zk_close(zk);
    remove(path);
    if (*status != 200) {
        log_warn("backup failed err=\"%s\"", err);
        return json_error_text(err);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "stream", stream);
    json_add_int(o, "size", fi.size);
    json_add_int(o, "parts", fi.parts);
    json_add_int(o, "crc", fi.crc);
    json_add_int(o, "seq", meta.seq);
    json_add_int(o, "epoch", meta.epoch);
    json_add_int(o, "made_at_ms", meta.made_at_ms);
    cJSON_AddStringToObject(o, "made_by", meta.made_by);
    char *text = json_print(o);
    cJSON_Delete(o);
    return text;
}

/* make(), on a helper thread (worker_busy). */
struct making {
    struct backup_server *b;
    int status;
    char *body;
};

static int making(void *arg)
{
    struct making *x = arg;
    x->body = make(x->b, &x->status);
    return 0;
}

static void serve(struct backup_server *b, struct mq *m, const struct mq_message *req)
{
    int64_t deadline;
    if (!*req->reply_to || (mq_header(req, "deadline", &deadline) && clock_wall_ms() > deadline)) {
        log_info("backup request dropped (expired or no reply queue) corr=%s", req->correlation_id);
        return;
    }
    /* The request stays unacked on m while the backup is made (a slave that
     * dies meanwhile leaves it to another): m is kept alive beside it. */
    struct making x = { .b = b };
    worker_busy(making, &x, &m, 1);
    int status = x.status;
    char *body = x.body;
    struct mq_props props = {
        .correlation_id = req->correlation_id,
        .nheaders = 1,
        .headers = { { "status", status } },
    };
    mq_publish(m, req->reply_to, &props, body, strlen(body));
    free(body);
}

static void *server_main(void *arg)
{
    worker_background_thread();
    struct backup_server *b = arg;
    struct worker *w = b->w;
    pthread_mutex_lock(&w->lock);
    while (!w->caught_up && !stopped(b)) { /* a replica far behind would back up old data */
        struct timespec until = clock_deadline(100);
        pthread_cond_timedwait(&w->advanced, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    while (!stopped(b)) {
        struct mq *m = mq_connect_retry(w->amqp_url, &b->stop);
        if (!m) break;
        if (mq_declare(m, PROTO_BACKUP_QUEUE, MQ_CLASSIC) || mq_qos(m, 1) ||
            mq_consume(m, PROTO_BACKUP_QUEUE, NULL, 0)) {
            mq_close(m);
            worker_nap(w, 200);
            continue;
        }
        struct mq_message msg;
        int got;
        while (!stopped(b) && (got = mq_next(m, &msg, 100)) >= 0) {
            if (got == 0) continue;
            serve(b, m, &msg);
            mq_ack(m, msg.delivery_tag, 0);
            mq_message_free(&msg);
        }
        mq_close(m);
    }
    return NULL;
}

struct backup_server *backup_server_start(struct worker *w)
{
    if (!*w->zk_hosts) return NULL;
    struct backup_server *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->w = w;
    if (pthread_create(&b->thread, NULL, server_main, b)) {
        log_error("could not start the backup server");
        free(b);
        return NULL;
    }
    return b;
}

void backup_server_stop(struct backup_server *b)
{
    if (!b) return;
    b->stop = 1;
    pthread_join(b->thread, NULL);
    free(b);
}
