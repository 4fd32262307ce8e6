/*
 * snapshot.c — starting a new replica from a copy of a live one.
 *
 * Replaying the whole log costs a new slave time in proportion to the log
 * (~12,000 entries/s here). Instead, like a Redis replica's full sync, a new
 * slave can ask a ready slave for a copy of its database and then follow the
 * log from where that copy ends. The copy is a complete store: tables,
 * request ids and the position (applied seq, log offset, max epoch) that was
 * committed with them. A replica's state is a function of the log prefix it
 * consumed (replica.h), so the copy plus the log after its offset is exactly
 * what replaying everything would give. Nothing comes from the
 * orchestrator's memory.
 *
 * Sources. Ready slaves serve snapshotQ. The master serves
 * snapshotQ.master, asked only when no slave is ready (after a failover
 * that took the only slave): its database holds only what is in the log
 * (it commits after the broker's confirms), but its recorded log offset is
 * its own epoch marker's — it does not learn the offsets of what it appends
 * — so the tail after a copy of it is everything it wrote as master, read
 * and skipped by seq. That is still far quicker than applying the log.
 *
 * Asking (snapshot_fetch, before the store is opened, only for a slave with
 * no database file yet):
 *   1. ZooKeeper: if no ready worker has applied min_entries, replaying the
 *      log is as quick: no copy.
 *   2. The queue: snapshotQ if it has a consumer (a ready slave), else
 *      snapshotQ.master if that has one; the consumers, not the znodes, say
 *      who can answer now (a znode outlives its worker by up to a session).
 *   3. A request on that queue (the broker gives it to one consumer) with a
 *      private reply queue, and header "expires" (wall-clock seconds: the
 *      only clock the two processes share), after which a server drops it
 *      unanswered: the asker has given up by then.
 *   4. The parts arrive in order on the reply queue, each with headers
 *      part (from 0), parts, size (of the whole file) and seq; they are
 *      written to <db>.fetch, which is synced and renamed to <db> once
 *      complete. Anything else (a timeout, a gap, a short file, parts = 0,
 *      which is a server's refusal) removes the partial file: the replica
 *      then replays the log from the start, as it would have without a copy.
 *
 * Serving (snapshot_server_start: a thread of slave_run, once caught up, and
 * of master_run, once taking writes): it consumes its queue one request at a
 * time, makes the copy with store_dump into <db>.copy (the writer goes on
 * meanwhile), sends it in parts of SNAPSHOT_PART bytes and removes it.
 */
#include "snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"
#include "worker.h"
#include "zk.h"

#define SNAPSHOT_PART (1024 * 1024)
#define PART_WAIT_MS 5000 /* the first part waits for the copy to be made */

/* ------------------------------------------------------------------ serving */

struct snapshot_server {
    struct worker *w;
    const char *queue;
    int wait_caught_up;
    atomic_int stop;
    pthread_t thread;
};

static int serving_stopped(struct snapshot_server *s)
{
    return s->w->stop || atomic_load(&s->stop);
}

static void send_refusal(struct mq *m, const struct mq_message *req)
{
    struct mq_props props = {
        .correlation_id = req->correlation_id,
        .nheaders = 1,
        .headers = { { "parts", 0 } },
    };
    mq_publish(m, req->reply_to, &props, "", 0);
}

/* Makes the copy and sends it. 0, or -1 when the connection failed. */
static int serve(struct worker *w, struct mq *m, const struct mq_message *req, const char *copy_path)
{
    int64_t expires = 0;
    if (!*req->reply_to || !mq_header(req, "expires", &expires) || (int64_t)time(NULL) > expires) {
        log_info("snapshot request dropped (expired or no reply queue) for=%s", req->correlation_id);
        return 0;
    }
    int64_t t0 = clock_ms();
    struct store_pos pos;
    if (store_dump(w->db_path, copy_path, &pos)) {
        send_refusal(m, req);
        return mq_ok(m) ? 0 : -1;
    }
    FILE *f = fopen(copy_path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (!f || size <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        log_error("snapshot copy unreadable path=%s", copy_path);
        if (f) fclose(f);
        remove(copy_path);
        send_refusal(m, req);
        return mq_ok(m) ? 0 : -1;
    }
    int64_t parts = (size + SNAPSHOT_PART - 1) / SNAPSHOT_PART;
    char *buf = malloc(SNAPSHOT_PART);
    if (!buf) abort();
    int rc = 0;
    for (int64_t i = 0; i < parts && rc == 0; i++) {
        size_t n = fread(buf, 1, SNAPSHOT_PART, f);
        struct mq_props props = {
            .correlation_id = req->correlation_id,
            .nheaders = 4,
            .headers = { { "part", i }, { "parts", parts }, { "size", size }, { "seq", pos.applied_seq } },
        };
        if (n == 0 || mq_publish(m, req->reply_to, &props, buf, n)) rc = -1;
    }
    free(buf);
    fclose(f);
    remove(copy_path);
    if (rc == 0)
        log_info("snapshot sent for=%s seq=%lld offset=%lld bytes=%ld parts=%lld took_ms=%lld",
                 req->correlation_id, (long long)pos.applied_seq, (long long)pos.log_offset, size,
                 (long long)parts, (long long)(clock_ms() - t0));
    return mq_ok(m) ? 0 : -1;
}

static void *server_main(void *arg)
{
    struct snapshot_server *s = arg;
    struct worker *w = s->w;
    pthread_mutex_lock(&w->lock);
    while (s->wait_caught_up && !w->caught_up && !serving_stopped(s)) {
        struct timespec until = clock_deadline(100);
        pthread_cond_timedwait(&w->advanced, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    char copy_path[1100];
    snprintf(copy_path, sizeof copy_path, "%s.copy", w->db_path);
    while (!serving_stopped(s)) {
        struct mq *m = mq_connect_retry(w->amqp_url, &w->stop);
        if (!m) break;
        if (mq_declare(m, s->queue, MQ_CLASSIC) || mq_qos(m, 1) || mq_consume(m, s->queue, NULL, 0)) {
            mq_close(m);
            worker_nap(w, 200);
            continue;
        }
        struct mq_message msg;
        int got;
        while (!serving_stopped(s) && (got = mq_next(m, &msg, 100)) >= 0) {
            if (got == 0) continue;
            int rc = serve(w, m, &msg, copy_path);
            if (rc == 0) mq_ack(m, msg.delivery_tag, 0);
            mq_message_free(&msg);
            if (rc) break;
        }
        mq_close(m);
    }
    return NULL;
}

struct snapshot_server *snapshot_server_start(struct worker *w, const char *queue, int wait_caught_up)
{
    struct snapshot_server *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->w = w;
    s->queue = queue;
    s->wait_caught_up = wait_caught_up;
    if (pthread_create(&s->thread, NULL, server_main, s)) {
        log_error("could not start the snapshot server");
        free(s);
        return NULL;
    }
    return s;
}

void snapshot_server_stop(struct snapshot_server *s)
{
    if (!s) return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    free(s);
}

/* ------------------------------------------------------------------ asking */

/* The highest applied seq of a ready slave in ZooKeeper, and the ready
 * master's; -1 when there is none. */
static void find_sources(const struct snapshot_opts *o, int64_t *slave_seq, int64_t *master_seq)
{
    *slave_seq = *master_seq = -1;
    struct zk *z = zk_open(o->zk_hosts, 4000, 2000, NULL, NULL);
    if (!z) return;
    char dir[300], path[400], data[512];
    snprintf(dir, sizeof dir, "%s/workers", o->zk_root);
    char **names = NULL;
    int n = zk_children(z, dir, &names, NULL, NULL);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int len = zk_get(z, path, data, sizeof data, NULL, NULL);
        cJSON *j = len > 0 ? json_parse(data, (size_t)len) : NULL;
        const char *role = j ? json_get_str(j, "role") : NULL;
        const char *state = j ? json_get_str(j, "state") : NULL;
        int64_t seq = -1;
        if (role && state && !strcmp(state, "ready") && json_get_int(j, "seq", &seq) == 0) {
            int64_t *best = !strcmp(role, "slave") ? slave_seq : !strcmp(role, "master") ? master_seq : NULL;
            if (best && seq > *best) *best = seq;
        }
        cJSON_Delete(j);
    }
    if (n > 0) zk_free_children(names, n);
    zk_close(z);
}

/* The queue to ask: a ZooKeeper znode outlives its worker by up to a
 * session timeout, a consumer does not (the broker drops it with the
 * connection), so the consumers say who can answer now. NULL: nobody. */
static const char *pick_queue(struct mq *m)
{
    static const char *const queues[] = { PROTO_SNAPSHOT_QUEUE, PROTO_SNAPSHOT_MASTER_QUEUE };
    for (size_t i = 0; i < sizeof queues / sizeof *queues; i++) {
        uint32_t messages = 0, consumers = 0;
        if (mq_declare(m, queues[i], MQ_CLASSIC) || mq_queue_depth(m, queues[i], &messages, &consumers))
            return NULL;
        if (consumers > 0) return queues[i];
    }
    return NULL;
}

/* Receives the parts into fd. 0 when complete, -1 otherwise. */
static int receive(struct mq *m, int fd, const struct snapshot_opts *o, int64_t deadline, int64_t *seq)
{
    int64_t next = 0, parts = -1, size = -1, written = 0;
    while (parts < 0 || next < parts) {
        /* Waits in slices, so that a SIGTERM meanwhile is seen at once. */
        int64_t part_deadline = clock_ms() + PART_WAIT_MS;
        if (part_deadline > deadline) part_deadline = deadline;
        struct mq_message msg;
        int got = 0;
        while (got == 0 && !*o->stop && clock_ms() < part_deadline) got = mq_next(m, &msg, 100);
        if (got <= 0) {
            if (!*o->stop) log_warn("snapshot: no part in time part=%lld", (long long)next);
            return -1;
        }
        int64_t part = -1, nparts = -1, sz = -1;
        int ok = strcmp(msg.correlation_id, o->id) == 0 && mq_header(&msg, "parts", &nparts);
        if (ok && nparts == 0) {
            log_warn("snapshot: the source could not make a copy");
            ok = 0;
        } else if (ok) {
            ok = mq_header(&msg, "part", &part) && mq_header(&msg, "size", &sz) &&
                 mq_header(&msg, "seq", seq) && part == next && (parts < 0 || nparts == parts) &&
                 (size < 0 || sz == size) && written + (int64_t)msg.len <= sz &&
                 write(fd, msg.body, msg.len) == (ssize_t)msg.len;
            if (!ok) log_warn("snapshot: bad part part=%lld expected=%lld", (long long)part, (long long)next);
        }
        if (ok) {
            parts = nparts;
            size = sz;
            written += (int64_t)msg.len;
            next++;
        }
        mq_message_free(&msg);
        if (!ok) return -1;
    }
    return written == size ? 0 : -1;
}

int snapshot_fetch(const struct snapshot_opts *o)
{
    if (o->min_entries <= 0 || !*o->zk_hosts) return 0;
    int64_t slave_seq, master_seq;
    find_sources(o, &slave_seq, &master_seq);
    if (slave_seq < o->min_entries && master_seq < o->min_entries) {
        log_info("no snapshot: replaying the log ready_slave_seq=%lld master_seq=%lld min_entries=%lld",
                 (long long)slave_seq, (long long)master_seq, (long long)o->min_entries);
        return 0;
    }
    int64_t t0 = clock_ms(), deadline = t0 + o->timeout_ms;
    struct mq *m = mq_connect(o->amqp_url, 2000);
    char reply[256];
    const char *queue = m ? pick_queue(m) : NULL;
    if (!queue || mq_declare_reply_queue(m, reply, sizeof reply) || mq_consume(m, reply, NULL, 1)) {
        if (m && !queue) log_info("no snapshot: no worker serves copies now; replaying the log");
        mq_close(m);
        return m && !queue ? 0 : -1;
    }
    struct mq_props props = {
        .correlation_id = o->id,
        .reply_to = reply,
        .nheaders = 1,
        .headers = { { "expires", (int64_t)time(NULL) + PART_WAIT_MS / 1000 + 1 } },
    };
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.fetch", o->db_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int64_t seq = 0;
    int rc = fd >= 0 && mq_publish(m, queue, &props, "{}", 2) == 0 &&
                     receive(m, fd, o, deadline, &seq) == 0 && fsync(fd) == 0
                 ? 0 : -1;
    mq_close(m);
    if (fd >= 0) close(fd);
    if (rc == 0 && rename(tmp, o->db_path) != 0) rc = -1;
    if (rc) {
        remove(tmp);
        if (!*o->stop) log_warn("snapshot fetch failed: replaying the log from the start");
        return -1;
    }
    log_info("snapshot received from=%s seq=%lld took_ms=%lld", queue, (long long)seq,
             (long long)(clock_ms() - t0));
    return 1;
}
