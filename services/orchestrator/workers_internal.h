/*
 * workers_internal.h — the worker table behind workers.h, shared by the files
 * that implement it (workers.c: the table, spawning, killing, stopping;
 * workers_roles.c: who is master — election, switchover, adoption). Nothing
 * else includes it.
 *
 * Locking: ws->lock guards everything in struct workers; functions named
 * *_locked expect it held, the others take it themselves.
 */
#ifndef RS_WORKERS_INTERNAL_H
#define RS_WORKERS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "workers.h"

struct worker_slot {
    struct worker_info info;
    int alive;
    int status;         /* wait status once it exited */
    int killing;        /* picked by workers_kill_picked, its kill under way */
    int exited;         /* an exit notice came while killing (exit_status) */
    int exit_status;
};

struct workers {
    struct workers_config cfg;
    struct runtime *rt;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct worker_slot w[WORKERS_MAX];
    int n;
    int64_t epoch;
    unsigned counter;
    uint64_t gen;
    int stopping;
};

/* Wakes workers_wait callers: the table changed. Caller holds the lock. */
void wt_changed_locked(struct workers *ws);
/* The entry of id (alive or not), or NULL. Caller holds the lock. */
struct worker_slot *wt_find(struct workers *ws, const char *id);
/* A free entry: a new one, else the space of a dead one; NULL when full.
 * Caller holds the lock. */
struct worker_slot *wt_new_entry(struct workers *ws);
/* Raises the epoch in memory, then publishes it naming master_id in
 * ZK_ROOT/master. 0 or -1 (ZooKeeper unreachable). */
int wt_bump_epoch(struct workers *ws, const char *master_id);
/* Logs and records the event of master id being designated. */
void wt_log_designated(struct workers *ws, const char *id);

#endif
