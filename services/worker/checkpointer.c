/*
 * checkpointer.c — making checkpoints (checkpoint.h): a thread of every
 * ready slave.
 *
 * Every TICK_MS it compares its replica's position with the newest
 * checkpoint's: a new one is due once this replica has applied
 * w->ckpt_entries entries past it, or w->ckpt_bytes of log, or
 * w->ckpt_secs have passed and anything was written. The znode is read
 * again only when the copy of it at hand says a checkpoint is due, and every
 * REREAD_MS (another slave may have made one), so the check is cheap. The master never makes
 * one: it does not learn the offsets of what it appends, and its time
 * belongs to writes.
 *
 * Making one, by the slave that takes the ephemeral lock
 * ZK_ROOT/checkpoint_lock (the others skip this round):
 *   1. read the znode (data and version); delete the streams it lists as
 *      garbage;
 *   2. copy the database with store_dump (SQLite's online backup in one read
 *      transaction: tables, request ids and position of one commit, while
 *      the follower goes on) into <db>.ckpt, and run the CRC over it;
 *   3. list the new stream as garbage (compare-and-set), so that a crash
 *      from here on leaves it findable;
 *   4. declare the stream and publish the parts with publisher confirms;
 *   5. compare-and-set the znode: the new checkpoint is current, the old
 *      one's stream is garbage; then delete it and clear the list.
 * The compare-and-sets make the lock a courtesy rather than a guarantee: a
 * holder whose session expired midway (so another could take the lock)
 * finds the version moved and gives up. The lock's holder never blocks
 * anyone else for longer than one checkpoint takes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "checksum.h"
#include "clock.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"
#include "store.h"
#include "worker.h"
#include "zk.h"

#define TICK_MS 100
#define REREAD_MS 3000
#define CONFIRM_TIMEOUT_MS 10000
#define CONFIRM_EVERY 8          /* parts in flight before waiting for confirms */

struct checkpointer {
    struct worker *w;
    atomic_int stop;
    pthread_t thread;
    int64_t started_at;          /* wall ms: the time trigger's base before any checkpoint */
};

static int stopped(struct checkpointer *c) { return c->w->stop || atomic_load(&c->stop); }

static int due(struct checkpointer *c, const struct checkpoint_znode *z)
{
    struct worker *w = c->w;
    pthread_mutex_lock(&w->lock);
    int64_t seq = w->applied_seq;
    pthread_mutex_unlock(&w->lock);
    int64_t base_seq = z->present ? z->current.seq : 0;
    int64_t base_bytes = z->present ? z->current.log_bytes : 0;
    int64_t base_at = z->present ? z->current.at_ms : c->started_at;
    if (seq <= base_seq) return 0;
    return (w->ckpt_entries > 0 && seq - base_seq >= w->ckpt_entries) ||
           (w->ckpt_bytes > 0 && atomic_load(&w->log_bytes) - base_bytes >= w->ckpt_bytes) ||
           (w->ckpt_secs > 0 && clock_wall_ms() - base_at >= w->ckpt_secs * 1000);
}

/* Deletes the garbage streams; those deleted leave the list. */
static void collect_garbage(struct mq *m, struct checkpoint_znode *z)
{
    int kept = 0;
    for (int i = 0; i < z->ngarbage; i++) {
        if (mq_delete_queue(m, z->garbage[i]) == 0) {
            log_info("checkpoint stream deleted queue=%s", z->garbage[i]);
            continue;
        }
        if (kept != i) memcpy(z->garbage[kept], z->garbage[i], sizeof z->garbage[0]);
        kept++;
    }
    z->ngarbage = kept;
}

static void add_garbage(struct checkpoint_znode *z, const char *queue)
{
    if (z->ngarbage == CHECKPOINT_GARBAGE_MAX) {
        log_error("checkpoint garbage list full; forgetting a stream queue=%s", z->garbage[0]);
        memmove(z->garbage[0], z->garbage[1], sizeof z->garbage[0] * (CHECKPOINT_GARBAGE_MAX - 1));
        z->ngarbage--;
    }
    snprintf(z->garbage[z->ngarbage++], sizeof z->garbage[0], "%s", queue);
}

static void drop_garbage(struct checkpoint_znode *z, const char *queue)
{
    for (int i = 0; i < z->ngarbage; i++)
        if (strcmp(z->garbage[i], queue) == 0) {
            memmove(z->garbage[i], z->garbage[i + 1], sizeof z->garbage[0] * (size_t)(z->ngarbage - i - 1));
            z->ngarbage--;
            return;
        }
}

/* The file's size and CRC. 0 or -1. */
static int measure(FILE *f, int64_t *size, uint32_t *crc, char *buf)
{
    size_t n;
    *size = 0;
    *crc = 0;
    while ((n = fread(buf, 1, CHECKPOINT_PART, f)) > 0) {
        *crc = crc32c(*crc, buf, n);
        *size += (int64_t)n;
    }
    return ferror(f) || fseek(f, 0, SEEK_SET) ? -1 : 0;
}

/* Publishes the file as c's parts, confirmed. 0 or -1. */
static int publish(struct checkpointer *cp, struct mq *m, FILE *f, const struct checkpoint_info *c, char *buf)
{
    if (mq_declare_stream(m, c->queue, 0, 0) || mq_confirm_select(m)) return -1;
    for (int64_t i = 0; i < c->parts; i++) {
        size_t n = fread(buf, 1, CHECKPOINT_PART, f);
        struct mq_props props = {
            .persistent = 1,
            .nheaders = 4,
            .headers = { { "part", i }, { "parts", c->parts }, { "size", c->size }, { "seq", c->seq } },
        };
        if (n == 0 || stopped(cp) || mq_publish(m, c->queue, &props, buf, n)) return -1;
        if ((i + 1) % CONFIRM_EVERY == 0 && mq_wait_confirms(m, mq_published(m), CONFIRM_TIMEOUT_MS)) return -1;
    }
    return mq_wait_confirms(m, mq_published(m), CONFIRM_TIMEOUT_MS);
}

/* Steps 1-5 (see the top of the file), holding the lock. */
static void make(struct checkpointer *cp, struct zk *zk)
{
    struct worker *w = cp->w;
    int64_t t0 = clock_ms();
    struct checkpoint_znode z;
    int version;
    char path[1100];
    snprintf(path, sizeof path, "%s.ckpt", w->db_path);
    if (checkpoint_read(zk, w->zk_root, &z, &version) || !due(cp, &z)) return;
    struct mq *m = mq_connect(w->amqp_url, 2000);
    if (!m) return;
    if (z.ngarbage) {
        collect_garbage(m, &z);
        if (checkpoint_write(zk, w->zk_root, &z, version)) goto out;
        version++;
    }
    struct checkpoint_info c = { 0 };
    struct store_pos pos;
    if (store_dump(w->db_path, path, &pos)) goto out;
    int64_t dumped = clock_ms();
    FILE *f = fopen(path, "rb");
    char *buf = malloc(CHECKPOINT_PART);
    if (!buf) abort();
    if (!f || measure(f, &c.size, &c.crc, buf) || c.size <= 0) {
        log_error("checkpoint copy unreadable path=%s", path);
        goto close;
    }
    snprintf(c.queue, sizeof c.queue, "%s%lld.%s", PROTO_CHECKPOINT_PREFIX, (long long)pos.applied_seq, w->id);
    c.seq = pos.applied_seq;
    c.offset = pos.log_offset;
    c.log_bytes = pos.log_bytes;
    c.epoch = pos.max_epoch;
    c.parts = (c.size + CHECKPOINT_PART - 1) / CHECKPOINT_PART;
    c.at_ms = clock_wall_ms();
    snprintf(c.by, sizeof c.by, "%s", w->id);
    add_garbage(&z, c.queue);
    if (checkpoint_write(zk, w->zk_root, &z, version)) goto close;
    version++;
    if (publish(cp, m, f, &c, buf)) {
        if (!stopped(cp)) log_warn("checkpoint not published; its stream stays listed as garbage queue=%s", c.queue);
        goto close;
    }
    char old[128] = "";
    if (z.present) snprintf(old, sizeof old, "%s", z.current.queue);
    drop_garbage(&z, c.queue);
    if (*old) add_garbage(&z, old);
    z.present = 1;
    z.current = c;
    if (checkpoint_write(zk, w->zk_root, &z, version)) {
        log_warn("checkpoint znode changed meanwhile; this one is not used queue=%s", c.queue);
        goto close;
    }
    version++;
    log_info("checkpoint made queue=%s seq=%lld offset=%lld log_bytes=%lld bytes=%lld parts=%lld crc=%08x "
             "dump_ms=%lld took_ms=%lld", c.queue, (long long)c.seq, (long long)c.offset,
             (long long)c.log_bytes, (long long)c.size, (long long)c.parts, c.crc, (long long)(dumped - t0),
             (long long)(clock_ms() - t0));
    if (*old && mq_delete_queue(m, old) == 0) {
        log_info("checkpoint stream deleted queue=%s", old);
        drop_garbage(&z, old);
        checkpoint_write(zk, w->zk_root, &z, version); /* else the next checkpointer deletes it */
    }
close:
    if (f) fclose(f);
    free(buf);
    remove(path);
out:
    mq_close(m);
}

static void *checkpointer_main(void *arg)
{
    struct checkpointer *cp = arg;
    struct worker *w = cp->w;
    struct zk *zk = NULL;
    char lock[300], me[128];
    snprintf(lock, sizeof lock, "%s/checkpoint_lock", w->zk_root);
    int me_len = snprintf(me, sizeof me, "{\"id\":\"%s\"}", w->id);
    struct checkpoint_znode z = { 0 };
    int64_t read_at = 0; /* 0: z is not known yet */
    while (!stopped(cp)) {
        pthread_mutex_lock(&w->lock);
        struct timespec until = clock_deadline(TICK_MS);
        while (!stopped(cp) && pthread_cond_timedwait(&w->advanced, &w->lock, &until) == 0) {}
        int ready = w->caught_up;
        pthread_mutex_unlock(&w->lock);
        if (stopped(cp) || !ready) continue;
        if (read_at && !due(cp, &z) && clock_ms() - read_at < REREAD_MS) continue;
        if (!zk && !(zk = zk_open(w->zk_hosts, 4000, 2000, NULL, NULL))) continue;
        int version;
        if (checkpoint_read(zk, w->zk_root, &z, &version)) {
            zk_close(zk); /* maybe expired: a new session next time */
            zk = NULL;
            read_at = 0;
            continue;
        }
        read_at = clock_ms();
        if (!due(cp, &z) || zk_try_ephemeral(zk, lock, me, (size_t)me_len) != 0) continue;
        make(cp, zk);
        zk_delete(zk, lock);
        read_at = 0;
    }
    zk_close(zk);
    return NULL;
}

struct checkpointer *checkpointer_start(struct worker *w)
{
    if (!*w->zk_hosts || (w->ckpt_entries <= 0 && w->ckpt_bytes <= 0 && w->ckpt_secs <= 0)) return NULL;
    struct checkpointer *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->w = w;
    c->started_at = clock_wall_ms();
    if (pthread_create(&c->thread, NULL, checkpointer_main, c)) {
        log_error("could not start the checkpointer");
        free(c);
        return NULL;
    }
    return c;
}

void checkpointer_stop(struct checkpointer *c)
{
    if (!c) return;
    atomic_store(&c->stop, 1);
    pthread_mutex_lock(&c->w->lock);
    pthread_cond_broadcast(&c->w->advanced);
    pthread_mutex_unlock(&c->w->lock);
    pthread_join(c->thread, NULL);
    free(c);
}
