/*
 * worker.h — what the parts of one worker process share.
 *
 * A worker is one replica: it owns one SQLite file and runs in one of two
 * roles. As a slave (slave.c) it follows the replication log and answers
 * reads from readQ. As the master (master.c) it first catches up with the
 * log, then consumes writeQ, applies writes in batches and appends them to
 * the log. membership.c keeps the worker's znode in ZooKeeper current.
 */
#ifndef RS_WORKER_H
#define RS_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "store.h"

struct zk;

struct worker {
    /* Settings, fixed after start. */
    const char *id;
    const char *amqp_url;
    const char *db_path;
    int64_t epoch;           /* the epoch a master writes with */
    int batch_max;           /* writes per transaction and per confirm wait */
    int read_wait_ms;        /* how long a read may wait for min_seq */
    int read_threads;

    struct store *store;     /* the writer connection: one thread uses it at a time */

    /* Applied seq as readers see it: updated after each commit. */
    pthread_mutex_t lock;
    pthread_cond_t advanced;
    int64_t applied_seq;
    const char *role;        /* "master" or "slave" */
    const char *state;       /* "starting", "catching-up", "ready" */
    int caught_up;           /* the follower has once found no more log to apply */

    volatile sig_atomic_t stop; /* set on SIGTERM; every loop checks it at least every 100 ms */
    struct zk *zk;
};

/* Publishes a newly committed applied seq to readers and the znode. */
void worker_advance(struct worker *w, int64_t seq);
void worker_set_state(struct worker *w, const char *role, const char *state);
/* Marks the replica as having reached the log's end once (readers start then). */
void worker_caught_up(struct worker *w);
/* Sleeps up to ms, returning early once w->stop is set (backoff between retries). */
void worker_nap(struct worker *w, int ms);

/* Roles. Each returns when w->stop is set (0) or on a fatal error (-1). */
int master_run(struct worker *w);
int slave_run(struct worker *w);

/* Follows the log from the store's position, applying and committing in
 * batches, until w->stop, or — when until_nonce is given — until the epoch
 * marker carrying that nonce has been applied. Reconnects by itself.
 * 0 when done or stopped, -1 when the replica must stop. */
int follower_run(struct worker *w, const char *until_nonce);

/* Membership: the ephemeral znode ZK_ROOT/workers/<id> with
 * {"id", "role", "pid", "state", "seq", "epoch"}. */
int membership_start(struct worker *w, const char *zk_hosts, const char *zk_root, int session_ms);
void membership_stop(struct worker *w);
/* Records in ZK_ROOT/log_epoch an epoch seen in the log above this master's. */
int membership_note_epoch(struct worker *w, int64_t epoch);

#endif
