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
 * ZK_ROOT/locks/checkpoint (the others skip this round; under locks/, whose
 * children the workers may create and delete, because that right on ZK_ROOT
 * itself would let them delete ZK_ROOT/master: common/zk/zk_acl.h):
 *   1. read the znode (data and version); delete the streams it lists as
 *      garbage;
 *   2. copy the database with store_dump (SQLite's online backup in one read
 *      transaction: tables, request ids and position of one commit, while
 *      the follower goes on) into <db>.ckpt, and measure it (size, CRC);
 *   3. list the new stream as garbage (compare-and-set), so that a crash
 *      from here on leaves it findable;
 *   4. publish the file as the new stream (mq_file.h), confirmed;
 *   5. compare-and-set the znode: the new checkpoint is current, the old
 *      one's stream is garbage, and so is every stream retired until a
 *      checkpoint past a seq this one passes (a restored backup); then
 *      delete the garbage. A checkpoint asked for ("wanted": a restore
 *      wants its replicas to start after it) is due as soon as this replica
 *      has applied that seq.
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
#include "clock.h"
#include "log.h"
#include "mq.h"
#include "mq_file.h"
#include "protocol.h"
#include "store.h"
#include "worker.h"
#include "zk.h"

#define TICK_MS 100
#define REREAD_MS 3000

struct checkpointer {
    struct worker *w;
    volatile int stop;
    pthread_t thread;
    int64_t started_at;          /* wall ms: the time trigger's base before any checkpoint */
};

static int stopped(struct checkpointer *c) { return c->w->stop || c->stop; }

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
    return (z->wanted > base_seq && seq >= z->wanted) ||
           (w->ckpt_entries > 0 && seq - base_seq >= w->ckpt_entries) ||
           (w->ckpt_bytes > 0 && atomic_load(&w->log_bytes) - base_bytes >= w->ckpt_bytes) ||
           (w->ckpt_secs > 0 && clock_wall_ms() - base_at >= w->ckpt_secs * 1000);
}

/* Retire entries whose seq a checkpoint at seq has passed become garbage. */
static void retire_passed(struct checkpoint_znode *z, int64_t seq)
{
    int kept = 0;
    for (int i = 0; i < z->nretire; i++) {
        if (z->retire[i].after <= seq) {
            checkpoint_garbage_add(z, z->retire[i].queue);
            continue;
        }
        z->retire[kept++] = z->retire[i];
    }
    z->nretire = kept;
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
    struct checkpoint_info c = { 0 };
    struct mq_file_info fi;
    struct store_pos pos;
    /* The copy before the connection: the copy takes as long as the
     * database is big, and the broker closes a connection that says nothing
     * for two heartbeat intervals (mq.h). */
    struct mq *m = NULL;
    if (store_dump(w->db_path, path, &pos)) goto close;
    int64_t dumped = clock_ms();
    if (!(m = mq_connect(w->amqp_url, 2000))) goto close;
    if (z.ngarbage) {
        collect_garbage(m, &z);
        if (checkpoint_write(zk, w->zk_root, &z, version)) goto close;
        version++;
    }
    if (mq_file_measure(path, &fi)) {
        log_error("checkpoint copy unreadable path=%s", path);
        goto close;
    }
    c.size = fi.size;
    c.parts = fi.parts;
    c.crc = fi.crc;
    snprintf(c.queue, sizeof c.queue, "%s%lld.%s", PROTO_CHECKPOINT_PREFIX, (long long)pos.applied_seq, w->id);
    c.seq = pos.applied_seq;
    c.offset = pos.log_offset;
    c.log_bytes = pos.log_bytes;
    c.epoch = pos.max_epoch;
    c.at_ms = clock_wall_ms();
    snprintf(c.by, sizeof c.by, "%s", w->id);
    checkpoint_garbage_add(&z, c.queue);
    if (checkpoint_write(zk, w->zk_root, &z, version)) goto close;
    version++;
    if (mq_file_publish(m, c.queue, path, &fi, &cp->stop)) {
        if (!stopped(cp)) log_warn("checkpoint not published; its stream stays listed as garbage queue=%s", c.queue);
        goto close;
    }
    checkpoint_garbage_drop(&z, c.queue);
    if (z.present) checkpoint_garbage_add(&z, z.current.queue);
    retire_passed(&z, c.seq);
    if (z.wanted && c.seq >= z.wanted) z.wanted = 0;
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
    int before = z.ngarbage;
    collect_garbage(m, &z);
    if (z.ngarbage != before) checkpoint_write(zk, w->zk_root, &z, version); /* else the next one deletes them */
close:
    remove(path);
    mq_close(m);
}

static void *checkpointer_main(void *arg)
{
    worker_background_thread();
    struct checkpointer *cp = arg;
    struct worker *w = cp->w;
    struct zk *zk = NULL;
    char lock[300], me[128];
    snprintf(lock, sizeof lock, "%s/locks/checkpoint", w->zk_root);
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
    c->stop = 1;
    pthread_mutex_lock(&c->w->lock);
    pthread_cond_broadcast(&c->w->advanced);
    pthread_mutex_unlock(&c->w->lock);
    pthread_join(c->thread, NULL);
    free(c);
}
