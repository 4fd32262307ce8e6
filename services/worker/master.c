/*
 * master.c — the master role: the only worker that applies client writes.
 *
 * Taking over (also after any broken connection):
 *   1. append an epoch marker {epoch, marker: id, nonce} to the log, confirmed;
 *      the nonce numbers this process's takeovers, and every entry it
 *      appends carries it (replica.h: entries of an abandoned incarnation
 *      that reach the log late count nowhere);
 *   2. follow the log up to that marker (follower.c), so every entry that any
 *      earlier master got into the log is applied here first — the log's
 *      order is the truth;
 *   3. only then consume writeQ.
 *
 * Serving, one batch at a time (up to batch_max requests that are ready):
 *   - a request id already in the store is answered from its stored reply
 *     (a redelivery: never applied twice);
 *   - a request past its deadline (the orchestrator's header) is refused
 *     with a 503 and not applied: its client has had its answer, and its id
 *     may be older than the window of remembered ids (replica.h);
 *   - a restore ({"restore": ...}, restore.h) is served alone, in a batch of
 *     its own;
 *   - otherwise the write gets seq = applied_seq + 1, is applied in the open
 *     transaction (savepoint each, so a rejected one leaves no trace), and its
 *     log entry is published;
 *   - the batch waits for the broker's confirms of all its entries, commits,
 *     then replies to every request and acks writeQ.
 * A reply therefore means the entry is in the durable log: no acknowledged
 * write can be lost. If confirms fail the batch is rolled back and the
 * master starts over at step 1: whatever did reach the log is applied from
 * there, and the unacked requests come back from writeQ and are answered
 * from the store.
 *
 * The log's retention. The broker drops the oldest segments of the log
 * beyond LOG_RETENTION_BYTES. Entries after the newest checkpoint's offset
 * are still needed (a replica that starts from it applies them), so before
 * each batch the master compares the log written since that checkpoint
 * (log_bytes at its marker, plus what it appended since) with the
 * retention, less two segments and a tenth for what others may have
 * appended; beyond it, it takes no writes ("throttled") until a newer
 * checkpoint is made. Writes then wait in writeQ and their clients get 503s:
 * the log never drops what is needed.
 *
 * The broker. With heartbeats on (mq.h) the connections must be called
 * into while idle: between batches the master polls the log connection
 * (writeQ's is read by the wait for the next request), while it is
 * throttled it polls the one and keeps the other alive, and the long parts
 * of a takeover (the catch-up) and of a restore (fetching and loading the
 * backup) run beside it on a helper thread (worker_busy) while it keeps
 * both alive. A connection lost is a link lost (worker_link_down) until the
 * master has one again: the orchestrator replaces a master cut off from the
 * broker for longer than its bound, as it would a crashed one.
 *
 * Fencing. Between batches the master asks membership_writable(): once it
 * has not heard from ZooKeeper for 2/3 of its session timeout, or sees another worker
 * named master, it closes its writeQ consumer (the unacked requests go back
 * to the queue for whoever is master) and takes writes again only when it is
 * sure it still is the master; a deposed master exits (status 3). The other
 * two guards are writeQ's single active consumer and the orchestrator's
 * epoch check of every reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dbop.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"
#include "replica.h"
#include "restore.h"
#include "store.h"
#include "worker.h"

#define CONFIRM_TIMEOUT_MS 5000

/* This master's current incarnation: its marker's nonce and the bytes it has
 * appended to the log since that marker. */
struct incarnation {
    int64_t nonce;
    int64_t appended;
};

struct pending {
    struct mq_message msg;
    char *reply;          /* the reply body; NULL: nothing to send */
    int status;
    int64_t seq;          /* 0: none */
};

/* This process's takeovers, numbered: with the epoch (one per master
 * process) they order every incarnation (replica.h). */
static int64_t takeovers;

static int publish_marker(struct worker *w, struct mq *log, int64_t nonce)
{
    cJSON *m = cJSON_CreateObject();
    json_add_int(m, "epoch", w->epoch);
    cJSON_AddStringToObject(m, "marker", w->id);
    json_add_int(m, "nonce", nonce);
    char *text = json_print(m);
    cJSON_Delete(m);
    struct mq_props props = { .persistent = 1 };
    int rc = mq_publish(log, PROTO_LOG_STREAM, &props, text, strlen(text));
    free(text);
    if (rc == 0) rc = mq_wait_confirms(log, mq_published(log), CONFIRM_TIMEOUT_MS);
    return rc;
}

/* The checks before a request is applied: 1 when it must be answered as
 * it is (p->reply set: no message id, a redelivery answered from the
 * store, past its deadline), 0 when it is to be applied, -1 on a database
 * error. *now: the wall-clock time its entry will carry. */
static int admit(struct worker *w, struct pending *p, int64_t *now)
{
    const char *rid = p->msg.message_id;
    p->status = 400;
    p->seq = 0;
    if (!*rid) {
        p->reply = json_error_text("request has no message id");
        return 1;
    }
    int found = store_lookup(w->store, rid, &p->seq, &p->status, &p->reply);
    if (found < 0) return -1;
    if (found) {
        log_info("answering redelivered request from the store rid=%s seq=%lld", rid, (long long)p->seq);
        return 1;
    }
    int64_t deadline;
    *now = clock_wall_ms();
    if (mq_header(&p->msg, "deadline", &deadline) && *now > deadline) {
        log_info("refusing a request past its deadline rid=%s late_ms=%lld", rid, (long long)(*now - deadline));
        p->status = 503;
        p->reply = json_error_text("request expired before the master took it; not applied");
        return 1;
    }
    return 0;
}

/* The fields every log entry has; the caller adds what it applied. */
static cJSON *entry_new(struct worker *w, const struct incarnation *inc, const struct store_pos *pos,
                        const char *rid, int64_t now, int status)
{
    cJSON *e = cJSON_CreateObject();
    json_add_int(e, "epoch", w->epoch);
    json_add_int(e, "inc", inc->nonce);
    json_add_int(e, "seq", pos->applied_seq + 1);
    cJSON_AddStringToObject(e, "rid", rid);
    json_add_int(e, "ts", now);
    json_add_int(e, "status", status);
    return e;
}

/* Publishes entry e (taken) and records its request id and reply inside the
 * open batch; sets p's reply and advances *pos. 0 or -1. */
static int append(struct worker *w, struct mq *log, struct incarnation *inc, struct store_pos *pos,
                  struct pending *p, cJSON *e, int64_t now)
{
    int64_t seq = pos->applied_seq + 1;
    char *text = json_print(e);
    int reply_status;
    char *reply = replica_reply_of(e, &reply_status);
    cJSON_Delete(e);
    struct mq_props props = { .persistent = 1 };
    size_t len = strlen(text);
    int rc = mq_publish(log, PROTO_LOG_STREAM, &props, text, len);
    free(text);
    if (rc == 0) rc = store_record(w->store, p->msg.message_id, seq, now, reply_status, reply);
    if (rc) {
        free(reply);
        return -1;
    }
    inc->appended += (int64_t)len + REPLICA_MSG_OVERHEAD;
    pos->applied_seq = seq;
    replica_note_time(pos, now, w->request_window_ms);
    p->reply = reply;
    p->status = reply_status;
    p->seq = seq;
    return 0;
}

/* Handles one request inside the open batch; sets p->reply. Returns the
 * number of log entries published (0 or 1), or -1 on a database error. */
static int handle(struct worker *w, struct mq *log, struct incarnation *inc, struct store_pos *pos,
                  struct pending *p)
{
    int64_t now = 0;
    int a = admit(w, p, &now);
    if (a) return a < 0 ? -1 : 0;
    char err[256];
    struct dbop op;
    cJSON *env = json_parse(p->msg.body, p->msg.len);
    cJSON *opj = env ? cJSON_GetObjectItemCaseSensitive(env, "op") : NULL;
    if (!opj || dbop_parse(opj, DBOP_ALLOW_CLEAR, &op, err, sizeof err) || !dbop_is_write(&op)) {
        if (!opj) snprintf(err, sizeof err, "request is not {\"op\": ...}");
        else if (!dbop_is_write(&op)) snprintf(err, sizeof err, "not a write operation");
        p->reply = json_error_text(err);
        cJSON_Delete(env);
        return 0;
    }
    cJSON *result = NULL;
    int status = store_apply(w->store, &op, opj, &result, err, sizeof err);
    if (status < 0) {
        log_error("write failed in the database rid=%s err=%s", p->msg.message_id, err);
        cJSON_Delete(env);
        return -1;
    }
    cJSON *e = entry_new(w, inc, pos, p->msg.message_id, now, status);
    if (status == 200) {
        cJSON_AddItemReferenceToObject(e, "op", opj);
        cJSON_AddItemToObject(e, "result", result);
    } else {
        cJSON_AddStringToObject(e, "error", err);
    }
    int rc = append(w, log, inc, pos, p, e, now);
    cJSON_Delete(env);
    return rc ? -1 : 1;
}

static void free_batch(struct pending *batch, int n)
{
    for (int i = 0; i < n; i++) {
        mq_message_free(&batch[i].msg);
        free(batch[i].reply);
        batch[i].reply = NULL;
    }
}

/* Sends the replies of requests [from, to) that have one and a reply_to. */
static void reply_all(struct worker *w, struct mq *in, struct pending *batch, int from, int to)
{
    for (int i = from; i < to; i++) {
        struct mq_message *m = &batch[i].msg;
        if (!batch[i].reply || !*m->reply_to) continue;
        struct mq_props props = {
            .correlation_id = m->correlation_id,
            .nheaders = 3,
            .headers = { { "status", batch[i].status }, { "seq", batch[i].seq }, { "epoch", w->epoch } },
        };
        mq_publish(in, m->reply_to, &props, batch[i].reply, strlen(batch[i].reply));
    }
}

/* Whether a request is a restore ({"restore": ...}) rather than an op. */
static int is_restore(const struct mq_message *m)
{
    if (!memmem(m->body, m->len, "\"restore\"", 9)) return 0; /* the common case, without parsing */
    cJSON *env = json_parse(m->body, m->len);
    int yes = cJSON_IsObject(env) && cJSON_GetObjectItemCaseSensitive(env, "restore") &&
              !cJSON_GetObjectItemCaseSensitive(env, "op");
    cJSON_Delete(env);
    return yes;
}

/* Requests [from, to), none a restore, in one transaction: apply, append,
 * wait for the confirms, commit, reply, ack. 0: done; 1: start over (the
 * log connection failed); -1: fatal. */
static int serve_run(struct worker *w, struct mq *in, struct mq *log, struct incarnation *inc,
                     struct pending *batch, int from, int to)
{
    struct store_pos pos = store_position(w->store);
    int published = 0, rc = 0;
    int64_t began = clock_us();
    if (store_begin(w->store)) rc = -1;
    for (int i = from; i < to && rc == 0; i++) {
        int r = handle(w, log, inc, &pos, &batch[i]);
        if (r < 0) rc = mq_ok(log) ? -1 : 1;
        else published += r;
    }
    if (rc == 0 && published && mq_wait_confirms(log, mq_published(log), CONFIRM_TIMEOUT_MS)) {
        log_warn("log confirms failed; starting over n=%d", published);
        rc = 1;
    }
    if (rc == 0 && store_commit(w->store, &pos)) rc = -1;
    if (rc != 0) {
        store_rollback(w->store);
        return rc;
    }
    worker_advance(w, &pos);
    worker_count_applied(w, to - from, began);
    reply_all(w, in, batch, from, to);
    /* A failed ack is harmless: the requests come back and are answered from the store. */
    mq_ack(in, batch[to - 1].msg.delivery_tag, 1);
    return mq_ok(in) ? 0 : 1;
}

/* A restore under way: what its two halves share. */
struct restoring {
    struct worker *w;
    struct pending *p;
    const struct replica_restore *r;
    char path[1100];
    int fetched;                 /* path holds the fetched file (restore_done) */
    int64_t users, rides, members;
};

/* The long half of a restore, on a helper thread (worker_busy): fetch the
 * backup, attach it, and put its rows in place of the tables' in an open
 * transaction. 0: the transaction holds them; 1: refused (p's reply set,
 * nothing changed, nothing open); -1: fatal. */
static int restore_load(void *arg)
{
    struct restoring *x = arg;
    struct store *st = x->w->store;
    char err[256] = "";
    if (restore_fetch(x->w, x->r, x->path, sizeof x->path, err, sizeof err)) {
        x->p->reply = json_error_text(err);
        return 1;
    }
    x->fetched = 1;
    if (store_restore_attach(st, x->path, err, sizeof err)) {
        x->p->reply = json_error_text(err);
        return 1;
    }
    if (store_begin(st)) {
        store_restore_detach(st);
        return -1;
    }
    if (store_restore(st, &x->users, &x->rides, &x->members, err, sizeof err)) {
        /* The backup's rows do not go in (say a ride of a missing user): refused, nothing changed. */
        char msg[320];
        snprintf(msg, sizeof msg, "the backup does not apply: %s", err);
        x->p->reply = json_error_text(msg);
        store_rollback(st);
        store_restore_detach(st);
        return 1;
    }
    return 0;
}

/* The rest, on the master's thread: append the restore entry, wait for its
 * confirm, commit. 0 done; 1 start over; -1 fatal. */
static int restore_commit(struct worker *w, struct mq *log, struct incarnation *inc, struct restoring *x,
                          struct store_pos pos, int64_t now)
{
    const struct replica_restore *r = x->r;
    cJSON *e = entry_new(w, inc, &pos, x->p->msg.message_id, now, 200);
    cJSON *o = cJSON_AddObjectToObject(e, "restore");
    cJSON_AddStringToObject(o, "stream", r->stream);
    json_add_int(o, "size", r->size);
    json_add_int(o, "parts", r->parts);
    json_add_int(o, "crc", r->crc);
    cJSON *res = cJSON_AddObjectToObject(e, "result");
    json_add_int(res, "users", x->users);
    json_add_int(res, "rides", x->rides);
    json_add_int(res, "members", x->members);
    int rc = 0;
    if (append(w, log, inc, &pos, x->p, e, now)) rc = mq_ok(log) ? -1 : 1;
    if (rc == 0 && mq_wait_confirms(log, mq_published(log), CONFIRM_TIMEOUT_MS)) rc = 1;
    if (rc == 0 && store_commit(w->store, &pos)) rc = -1;
    if (rc) store_rollback(w->store);
    store_restore_detach(w->store);
    if (rc) return rc;
    worker_advance(w, &pos);
    log_info("restored a backup seq=%lld stream=%s users=%lld rides=%lld members=%lld", (long long)pos.applied_seq,
             r->stream, (long long)x->users, (long long)x->rides, (long long)x->members);
    return 0;
}

/* A restore request, alone in its batch. 0, 1 (start over) or -1. */
static int serve_restore(struct worker *w, struct mq *in, struct mq *log, struct incarnation *inc,
                         struct pending *p)
{
    int64_t now = 0;
    int a = admit(w, p, &now);
    if (a < 0) return -1;
    if (a == 0) {
        struct replica_restore r;
        cJSON *env = json_parse(p->msg.body, p->msg.len);
        int ok = replica_restore_parse(cJSON_GetObjectItemCaseSensitive(env, "restore"), &r) == 0;
        cJSON_Delete(env);
        if (!ok) {
            p->reply = json_error_text("request is not {\"restore\": {\"stream\", \"size\", \"parts\", \"crc\"}}");
        } else {
            struct restoring x = { .w = w, .p = p, .r = &r };
            struct store_pos pos = store_position(w->store);
            struct mq *held[2] = { in, log };
            int rc = worker_busy(restore_load, &x, held, 2);
            if (rc == 0) rc = restore_commit(w, log, inc, &x, pos, now);
            else if (rc == 1) rc = 0; /* refused: answered below */
            if (x.fetched) restore_done(x.path);
            if (rc) return rc;
        }
    }
    reply_all(w, in, p, 0, 1);
    mq_ack(in, p->msg.delivery_tag, 1);
    return mq_ok(in) ? 0 : 1;
}

/* Serves one batch: up to batch_max requests that are ready, restores in
 * batches of their own. 0: done (or nothing to do); 1: start over (the log
 * connection failed); -1: fatal. */
static int serve_batch(struct worker *w, struct mq *in, struct mq *log, struct incarnation *inc,
                       struct pending *batch)
{
    int n = 0, got = mq_next(in, &batch[0].msg, 100);
    /* Idle: the log connection is called into too (heartbeats, and a broker
     * gone silent is noticed here rather than at the next write). */
    if (got == 0) return mq_poll(log) ? 1 : 0;
    if (got < 0) return 1;
    n = 1;
    while (n < w->batch_max && (got = mq_next(in, &batch[n].msg, 0)) == 1) n++;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n;) {
        int j = i + 1;
        if (is_restore(&batch[i].msg)) {
            rc = serve_restore(w, in, log, inc, &batch[i]);
        } else {
            while (j < n && !is_restore(&batch[j].msg)) j++;
            rc = serve_run(w, in, log, inc, batch, i, j);
        }
        i = j;
    }
    free_batch(batch, n);
    return rc;
}

/* Whether the log since the newest checkpoint (its log_bytes) still fits
 * the retention with room for one more batch (see the top of this file). */
static int within_retention(struct worker *w, const struct incarnation *inc)
{
    if (w->log_retention_bytes <= 0 || !*w->zk_hosts) return 1;
    int64_t ckpt = atomic_load(&w->ckpt_log_bytes);
    if (ckpt < 0) return 0; /* not read yet: the membership thread reads it every second */
    int64_t budget = w->log_retention_bytes - 2 * w->log_segment_bytes - w->log_retention_bytes / 10;
    return store_position(w->store).log_bytes + inc->appended - ckpt <= budget;
}

/* Takes no writes while the log has no room (within_retention), keeping
 * both connections alive meanwhile. 0 to go on, 1 when stopping, no longer
 * writable, or a connection was lost. */
static int wait_for_room(struct worker *w, const struct incarnation *inc, struct mq *in, struct mq *log)
{
    if (within_retention(w, inc)) return 0;
    if (atomic_load(&w->ckpt_log_bytes) < 0) log_warn("newest checkpoint unknown (ZooKeeper); taking no writes");
    else log_warn("log retention budget reached; taking no writes until a newer checkpoint since_ckpt_bytes=%lld "
             "retention=%lld", (long long)(store_position(w->store).log_bytes + inc->appended -
                                            atomic_load(&w->ckpt_log_bytes)),
             (long long)w->log_retention_bytes);
    worker_set_state(w, "master", "throttled");
    while (!w->stop && membership_writable(w) && !within_retention(w, inc) && mq_keepalive(in) == 0 &&
           mq_poll(log) == 0)
        worker_nap(w, 100);
    if (w->stop || !membership_writable(w) || !mq_ok(in) || !mq_ok(log)) return 1;
    log_info("log has room again; taking writes");
    worker_set_state(w, "master", "ready");
    return 0;
}

/* Waits until this worker may take writes again. 0: it may; -2: it was
 * replaced; 1: stopping. */
static int wait_writable(struct worker *w)
{
    if (membership_writable(w)) return 0;
    log_warn("not taking writes: ZooKeeper lost for too long, or replaced epoch=%lld", (long long)w->epoch);
    worker_set_state(w, "master", "fenced");
    while (!w->stop && !atomic_load(&w->deposed) && !membership_writable(w)) worker_nap(w, 100);
    if (w->stop) return 1;
    if (atomic_load(&w->deposed)) return -2;
    log_info("taking writes again epoch=%lld", (long long)w->epoch);
    return 0;
}

/* The catch-up of a takeover, on a helper thread (worker_busy). */
struct catch_up {
    struct worker *w;
    int64_t nonce;
};

static int catch_up(void *arg)
{
    struct catch_up *c = arg;
    return follower_run(c->w, c->nonce);
}

int master_run(struct worker *w)
{
    struct pending *batch = calloc((size_t)w->batch_max, sizeof *batch);
    if (!batch) abort();
    int rc = 0;
    while (!w->stop && rc == 0) {
        int ww = wait_writable(w);
        if (ww) { rc = ww < 0 ? -2 : 0; break; }
        worker_set_state(w, "master", "catching-up");
        struct mq *log = mq_connect_retry(w->amqp_url, &w->stop), *in = NULL;
        struct incarnation inc = { .nonce = ++takeovers };
        if (!log) break;
        /* Connected: not cut off, whatever the broker then does (under a
         * resource alarm it takes no marker, yet it is there). */
        worker_link_up(w, WORKER_LINK_MASTER);
        if (worker_declare_log(w, log) || mq_confirm_select(log) || publish_marker(w, log, inc.nonce)) {
            log_warn("could not append the epoch marker; retrying epoch=%lld", (long long)w->epoch);
            if (!mq_ok(log)) worker_link_down(w, WORKER_LINK_MASTER, worker_lost_at(log, NULL));
            mq_close(log);
            worker_nap(w, 200);
            continue;
        }
        /* The catch-up takes as long as the log behind the marker: beside
         * it, the log connection is kept alive. */
        int f = worker_busy(catch_up, &(struct catch_up){ w, inc.nonce }, &log, 1);
        if (f) { rc = f == WORKER_GAP ? WORKER_GAP : -1; mq_close(log); break; }
        if (mq_poll(log)) { /* lost meanwhile: the next takeover's catch-up is short */
            worker_link_down(w, WORKER_LINK_MASTER, worker_lost_at(log, NULL));
            mq_close(log);
            continue;
        }
        struct store_pos pos = store_position(w->store);
        if (pos.max_epoch != w->epoch || pos.incarnation != inc.nonce) {
            /* A newer master's marker came first; or (ZooKeeper's data lost,
             * the broker's not) this epoch was handed out before. */
            log_error("a newer master exists; refusing writes epoch=%lld log_epoch=%lld",
                      (long long)w->epoch, (long long)pos.max_epoch);
            membership_note_epoch(w, pos.max_epoch > w->epoch ? pos.max_epoch : w->epoch);
            mq_close(log);
            rc = -2;
            break;
        }
        membership_read_checkpoint(w); /* the retention budget's base, before the first batch */
        in = w->stop ? NULL : mq_connect_retry(w->amqp_url, &w->stop);
        if (in && (mq_declare(in, PROTO_WRITE_QUEUE, MQ_SINGLE_ACTIVE) ||
                   mq_qos(in, w->batch_max * 2) || mq_consume(in, PROTO_WRITE_QUEUE, NULL, 0))) {
            mq_close(in);
            in = NULL;
        }
        if (in) {
            log_info("master taking writes epoch=%lld applied_seq=%lld", (long long)w->epoch,
                     (long long)pos.applied_seq);
            worker_set_state(w, "master", "ready");
            int r = 0;
            while (!w->stop && membership_writable(w) && !wait_for_room(w, &inc, in, log) &&
                   (r = serve_batch(w, in, log, &inc, batch)) == 0) {}
            if (r < 0) rc = -1;
            else if (!w->stop && (r > 0 || !mq_ok(in) || !mq_ok(log))) {
                /* Marked before the connections are closed: closing one the
                 * broker no longer answers takes a while. */
                worker_link_down(w, WORKER_LINK_MASTER, worker_lost_at(in, log));
                log_warn("master connection lost; taking over again");
            }
        }
        mq_close(in);
        mq_close(log);
    }
    worker_link_up(w, WORKER_LINK_MASTER); /* no longer this role's connections */
    free(batch);
    return rc;
}
