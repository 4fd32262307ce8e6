/*
 * follower.c — consuming the replication log into the store.
 *
 * The log is a RabbitMQ stream. A follower consumes it from one past the
 * offset its store last committed (or from the first entry, for a new
 * replica), applies what arrives in batches of up to batch_max entries in one
 * transaction, commits the new position with the data, and only then acks.
 * Acks on a stream are flow control, not deletion: nothing is lost if the
 * follower dies between commit and ack, and a restart resumes at the
 * committed offset, so each entry is applied once.
 *
 * On a broken connection the open batch is rolled back and the follower
 * reconnects and resumes from the committed offset. At a gap (replica.h:
 * the next offset is gone) the batch is rolled back too and the follower
 * returns WORKER_GAP: what this replica holds can no longer be brought up to
 * date from the log, and main.c replaces it with a checkpoint.
 *
 * Caught up (readers start, the znode says "ready") means: the replica
 * reached the seq the master last reported (w->master_seq) — with writes
 * that never pause, only that ever happens — or a wait for the next entry
 * came back empty after the log had delivered something on this consumer,
 * or after SILENT_LOG_MS of nothing at all. A new consumer's first entry
 * may take a while on a busy broker, and until it has come the replica
 * cannot know whether it is behind, or even behind a gap: an empty first
 * wait proves nothing.
 *
 * A restore entry (restore.h) is applied in a batch of its own, the
 * backup fetched and attached before it — on a helper thread
 * (worker_busy), while this one keeps the log connection alive: that takes
 * as long as the backup is big, and the broker closes a connection it hears
 * nothing from (heartbeats, mq.h).
 *
 * The connection is this role's link to the broker (worker_link_down/up):
 * lost from the moment it fails until the follower consumes again.
 *
 * A slave's follower (no until_nonce) also stops when the slave is named
 * master: it checks between batches, so it stops with everything it applied
 * committed, and master_run resumes from exactly there.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"
#include "replica.h"
#include "restore.h"
#include "worker.h"

static struct mq *open_log(struct worker *w)
{
    struct mq *m = mq_connect_retry(w->amqp_url, &w->stop);
    if (!m) return NULL;
    struct store_pos pos = store_position(w->store);
    char from[32];
    if (pos.log_offset >= 0) snprintf(from, sizeof from, "%lld", (long long)pos.log_offset + 1);
    else snprintf(from, sizeof from, "first");
    if (worker_declare_log(w, m) || mq_qos(m, w->batch_max * 2) ||
        mq_consume(m, PROTO_LOG_STREAM, from, 0)) {
        mq_close(m);
        return NULL;
    }
    log_info("following log from=%s applied_seq=%lld", from, (long long)pos.applied_seq);
    return m;
}

/* The consumer, and a message taken from it but held back for the next
 * batch (a restore entry met inside a batch starts a batch of its own). */
struct feed {
    struct mq *m;
    struct mq_message held;
    int has_held;
};

static int feed_next(struct feed *f, struct mq_message *msg, int timeout_ms)
{
    if (!f->has_held) return mq_next(f->m, msg, timeout_ms);
    *msg = f->held;
    f->has_held = 0;
    return 1;
}

/* A restore entry, alone in its batch (restore.h). 0, or -2: the replica
 * cannot go on (it is replaced, and its replacement starts from a
 * checkpoint). */
static int apply_restore_entry(struct worker *w, struct store_pos *pos, const struct mq_message *msg,
                               const struct replica_restore *r)
{
    char path[1100], err[256] = "";
    if (restore_fetch(w, r, path, sizeof path, err, sizeof err)) return -2;
    int rc = store_restore_attach(w->store, path, err, sizeof err) ? -2 : 0;
    if (rc == 0) {
        if (store_begin(w->store) ||
            replica_apply(w->store, pos, msg->body, msg->len, msg->stream_offset, w->request_window_ms, NULL) ||
            store_commit(w->store, pos)) {
            store_rollback(w->store);
            rc = -2;
        }
        store_restore_detach(w->store);
    }
    restore_done(path);
    return rc;
}

struct restore_entry {
    struct worker *w;
    struct store_pos *pos;
    const struct mq_message *msg;
    const struct replica_restore *r;
};

static int restore_entry(void *arg)
{
    struct restore_entry *x = arg;
    return apply_restore_entry(x->w, x->pos, x->msg, x->r);
}

/* Whether the replica holds the seq the master last reported. */
static int at_master_seq(struct worker *w)
{
    int64_t master_seq = atomic_load(&w->master_seq);
    return master_seq > 0 && store_position(w->store).applied_seq >= master_seq;
}

/* One batch: what is available now, up to batch_max. 1 if the marker with
 * until_nonce was applied, 0 to go on, 2 if nothing came (caught up with the
 * log's end for now), -1 connection lost, -2 fatal, WORKER_GAP. */
static int apply_batch(struct worker *w, struct feed *f, int64_t until_nonce)
{
    struct mq_message msg;
    int got = feed_next(f, &msg, 100);
    if (got <= 0) return got < 0 ? -1 : 2;

    struct store_pos pos = store_position(w->store);
    uint64_t last_tag = 0;
    int n = 0, reached = 0, rc = 0;
    struct replica_restore restore;
    if (replica_restore_needed(&pos, msg.body, msg.len, &restore)) {
        rc = worker_busy(restore_entry, &(struct restore_entry){ w, &pos, &msg, &restore }, &f->m, 1);
        last_tag = msg.delivery_tag;
        mq_message_free(&msg);
        if (rc) return rc;
        n = 1;
        goto applied;
    }
    int64_t began = clock_us();
    if (store_begin(w->store)) { mq_message_free(&msg); return -2; }
    do {
        if (n > 0 && replica_restore_needed(&pos, msg.body, msg.len, &restore)) {
            f->held = msg; /* after this batch, in one of its own */
            f->has_held = 1;
            break;
        }
        struct replica_marker mk;
        last_tag = msg.delivery_tag;
        int r = replica_apply(w->store, &pos, msg.body, msg.len, msg.stream_offset, w->request_window_ms, &mk);
        if (r != REPLICA_OK) rc = r == REPLICA_GAP ? WORKER_GAP : -2;
        if (mk.seen && until_nonce && mk.nonce == until_nonce && mk.epoch == w->epoch && !strcmp(mk.worker, w->id))
            reached = 1;
        mq_message_free(&msg);
        n++;
    } while (rc == 0 && !reached && n < w->batch_max && (got = feed_next(f, &msg, 0)) == 1);
    if (got < 0 && rc == 0) rc = -1;
    if (rc) {
        store_rollback(w->store);
        return rc;
    }
    if (store_commit(w->store, &pos)) return -2;
    worker_count_applied(w, n, began);
applied:
    worker_advance(w, &pos);
    if (at_master_seq(w)) worker_caught_up(w);
    if (mq_ack(f->m, last_tag, 1)) return -1;
    log_debug("applied log batch n=%d applied_seq=%lld offset=%lld", n,
              (long long)pos.applied_seq, (long long)pos.log_offset);
    return reached;
}

/* Whether a slave's follower should hand over to master_run. */
static int promoted(struct worker *w, int64_t until_nonce)
{
    return !until_nonce && atomic_load(&w->promote_epoch) != 0;
}

/* A log that has delivered nothing at all for this long, on a fresh
 * consumer, is taken for one with nothing past this replica. */
#define SILENT_LOG_MS 2000

int follower_run(struct worker *w, int64_t until_nonce)
{
    int out = 0;
    while (!w->stop && !promoted(w, until_nonce)) {
        struct feed f = { .m = open_log(w) };
        if (!f.m) { /* stopped, or the declare failed */
            worker_link_down(w, WORKER_LINK_FOLLOWER, 0);
            worker_nap(w, 200);
            continue;
        }
        worker_link_up(w, WORKER_LINK_FOLLOWER);
        int rc = 0, heard = 0;
        int64_t opened_at = clock_ms();
        while (!w->stop && !promoted(w, until_nonce) &&
               ((rc = apply_batch(w, &f, until_nonce)) == 0 || rc == 2)) {
            if (rc == 0) heard = 1;
            else if (heard || at_master_seq(w) || clock_ms() - opened_at >= SILENT_LOG_MS)
                worker_caught_up(w);
        }
        if (f.has_held) mq_message_free(&f.held); /* the next consumer starts at the committed offset */
        if (rc == -1 && !w->stop) /* before a close that may take a while */
            worker_link_down(w, WORKER_LINK_FOLLOWER, worker_lost_at(f.m, NULL));
        mq_close(f.m);
        if (w->stop || promoted(w, until_nonce) || rc == 1) break;
        if (rc == -2 || rc == WORKER_GAP) {
            out = rc == -2 ? -1 : WORKER_GAP;
            break;
        }
        log_warn("log connection lost, reconnecting");
    }
    worker_link_up(w, WORKER_LINK_FOLLOWER); /* no longer following */
    return out;
}
