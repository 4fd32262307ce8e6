/*
 * worker.h — what the parts of one worker process share.
 *
 * A worker is one replica: it owns one SQLite file and runs in one of two
 * roles. As a slave (slave.c) it follows the replication log and answers
 * reads from readQ. As the master (master.c) it first catches up with the
 * log, then consumes writeQ, applies writes in batches and appends them to
 * the log. membership.c keeps the worker's znode in ZooKeeper current and
 * watches ZK_ROOT/master: a slave named there is promoted (main.c: slave_run
 * returns, master_run follows with the new epoch); a master that sees another
 * worker named with a newer epoch, or that lost ZooKeeper for too long, stops
 * taking writes.
 *
 * Checkpoints (checkpoint.h): a worker that starts with no database file —
 * a new slave, or a master after every worker was lost — starts from the
 * newest checkpoint and the log after it; a ready slave makes checkpoints
 * (checkpointer.c); a replica that finds a gap in the log (its next entries
 * fell out of the log's retention) starts over from a checkpoint (main.c).
 */
#ifndef RS_WORKER_H
#define RS_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "store.h"

struct zk;
struct mq;

struct worker {
    /* Settings, fixed after start. */
    const char *id;
    const char *amqp_url;
    const char *db_path;
    int64_t epoch;           /* the epoch a master writes with */
    int batch_max;           /* writes per transaction and per confirm wait */
    int read_wait_ms;        /* how long a read may wait for min_seq */
    int read_threads;

    /* The log's retention and checkpoints (checkpoint.h, replica.h). */
    const char *zk_hosts;          /* "" : no ZooKeeper, hence no checkpoints */
    const char *zk_root;
    int64_t log_retention_bytes;   /* 0: the log keeps everything */
    int64_t log_segment_bytes;
    int64_t request_window_ms;     /* how long request ids are remembered */
    int64_t ckpt_entries;          /* a checkpoint every so many entries (0: not by count) */
    int64_t ckpt_bytes;            /* ... or so many bytes of log */
    int64_t ckpt_secs;             /* ... or so many seconds, if anything was written */
    int ckpt_timeout_ms;           /* for fetching one */

    struct store *store;     /* the writer connection: one thread uses it at a time */

    /* Applied seq as readers see it: updated after each commit. */
    pthread_mutex_t lock;
    pthread_cond_t advanced;
    int64_t applied_seq;
    const char *role;        /* "master" or "slave" */
    const char *state;       /* "starting", "catching-up", "ready" */
    int caught_up;           /* the follower has once found no more log to apply */

    volatile sig_atomic_t stop; /* set on SIGTERM; every loop checks it at least every 100 ms */
    struct zk *zk;           /* owned by membership.c (replaced when a session expires) */

    /* Role changes, set by the membership thread from ZK_ROOT/master. */
    _Atomic int64_t promote_epoch; /* non-zero: this slave was named master with that epoch */
    _Atomic int deposed;           /* another worker was named master with a newer epoch */
    _Atomic int stepdown;          /* planned switchover: this master was told to hand over and go
                                    * on as a slave (it stops at a batch boundary; main.c demotes) */
    _Atomic int readers_stop;      /* the slave's readers stop consuming (promotion) */
    /* The applied seq the current master last put in its znode: all of it
     * is in the log, so a follower that reached it has caught up with the
     * log as of a moment ago even if writes never pause. 0: unknown. */
    _Atomic int64_t master_seq;
    _Atomic int64_t reads_served;  /* reads answered as a slave, shown in the znode */
    /* Entries (writes or log entries) this worker applied, and the time
     * their transactions took from begin to commit, in µs: shown in the
     * znode, whence the orchestrator's metrics give the mean apply time. */
    _Atomic int64_t applied_entries, apply_us;
    _Atomic int64_t log_bytes;     /* log_bytes of the last commit (replica.h) */
    /* log_bytes of the newest checkpoint, read by the membership thread for
     * the master's retention budget; -1 unknown, 0 none yet. */
    _Atomic int64_t ckpt_log_bytes;

    /* Reaching the broker (worker_link_*): per connection owner, since when
     * it has been without its connection (clock_ms(); 0 while it has it). */
    _Atomic int64_t link_down[18];
};

/* The owners of the connections a worker cannot do its job without: the
 * master's (writeQ and the log it appends to), the follower's and each
 * reader's (WORKER_LINK_READER + its index). Checkpoints and backups are
 * not among them: a worker that cannot make one still serves. */
enum { WORKER_LINK_MASTER, WORKER_LINK_FOLLOWER, WORKER_LINK_READER, WORKER_LINKS = 18 };

/* What the role functions return besides 0 (stopped) and -1 (fatal): the
 * log lost entries this replica still needs; it must start over from a
 * checkpoint (main.c). */
#define WORKER_GAP (-3)

/* Publishes a newly committed position to readers and the znode. */
void worker_advance(struct worker *w, const struct store_pos *pos);
/* n entries were applied in one transaction that began at began_us (clock_us). */
void worker_count_applied(struct worker *w, int n, int64_t began_us);
void worker_set_state(struct worker *w, const char *role, const char *state);
/* Marks the replica as having reached the log's end once (readers start then). */
void worker_caught_up(struct worker *w);
/* Lowers the calling thread's CPU priority to the lowest: for the threads
 * that copy the whole database (checkpoints, backups), so that on a busy
 * host the write and read paths keep their share. */
void worker_background_thread(void);
/* Sleeps up to ms, returning early once w->stop is set (backoff between retries). */
void worker_nap(struct worker *w, int ms);

/* Cut off from the broker: link lost its connection at since (clock_ms; 0:
 * now; the earliest time is kept until it has one again), or has it again.
 * worker_lost_at gives since for connections that failed: the earliest
 * mq_lost_at of a and b (either may be NULL or still fine), 0 if neither
 * failed. The membership thread
 * publishes how long the worker has been cut off (worker_broker_down_ms) in
 * its znode, and the orchestrator replaces a worker cut off for longer than
 * its BROKER_LOST_MS (docs/operations.md, "Partitions"). */
void worker_link_down(struct worker *w, int link, int64_t since);
int64_t worker_lost_at(struct mq *a, struct mq *b);
void worker_link_up(struct worker *w, int link);
/* How long the longest-lost link has been without its connection; 0: none. */
int64_t worker_broker_down_ms(struct worker *w);

/* Runs fn(arg) on a thread of its own while the calling thread keeps its
 * connections conns[0..n) alive (mq_keepalive; NULLs are skipped), and
 * returns fn's result: for local work that may outlast a heartbeat interval
 * (restoring a backup, making one) done by a thread that holds connections
 * it will need afterwards. fn must not touch those connections. */
int worker_busy(int (*fn)(void *), void *arg, struct mq **conns, int n);

/* Roles. Each returns when w->stop is set (0), on a fatal error (-1), or
 * at a gap in the log (WORKER_GAP); master_run returns -2 when a newer master
 * exists (exit status 3); slave_run returns 1 when this slave was promoted
 * (w->promote_epoch). */
int master_run(struct worker *w);
int slave_run(struct worker *w);

/* Follows the log from the store's position, applying and committing in
 * batches, until w->stop, or — when until_nonce is non-zero — until the
 * epoch marker carrying that nonce has been applied; without until_nonce it
 * also stops, at a batch boundary, once w->promote_epoch is set. Reconnects
 * by itself. 0 when done or stopped, -1 when the replica must stop,
 * WORKER_GAP at a gap in the log. */
int follower_run(struct worker *w, int64_t until_nonce);

/* Declares the log stream on m with the configured retention. 0 or -1. */
int worker_declare_log(struct worker *w, struct mq *m);

/* Membership: the ephemeral znode ZK_ROOT/workers/<id> with
 * {"id", "role", "pid", "state", "seq", "epoch", "reads", "broker_down_ms"}. */
int membership_start(struct worker *w, const char *zk_hosts, const char *zk_root, int session_ms);
void membership_stop(struct worker *w);
/* Reads the newest checkpoint's log_bytes into w->ckpt_log_bytes now (a
 * master about to take writes; the membership thread refreshes it every
 * second after that). 0 or -1. */
int membership_read_checkpoint(struct worker *w);
/* Records in ZK_ROOT/log_epoch an epoch seen in the log above this master's. */
int membership_note_epoch(struct worker *w, int64_t epoch);
/* Whether this worker may take writes now: not deposed, and the last
 * ZooKeeper call that succeeded was sent less than 2/3 of the session
 * timeout ago (later, it may be replaced before it hears of it). Always 1
 * without ZooKeeper. */
int membership_writable(struct worker *w);

#endif
