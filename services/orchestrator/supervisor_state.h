/*
 * supervisor_state.h — the supervisor's state, shared by the files that
 * implement supervisor.h (supervisor.c: the loop, the ZooKeeper view,
 * failover, replacement, scaling; supervisor_switchover.c: the planned
 * switchover of POST /api/v1/promote). Nothing else includes it.
 *
 * Threads: everything but pr and snap belongs to the loop thread; pr is
 * guarded by pr.mu (HTTP threads ask, the loop answers), snap by snap_mu.
 */
#ifndef RS_SUPERVISOR_STATE_H
#define RS_SUPERVISOR_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "runtime.h"
#include "supervisor.h"
#include "workers.h"

#define MAXW 64

struct zview {
    char id[RUNTIME_ID_MAX];
    int pid;
    int registered;          /* its znode was seen */
    int64_t missing_since;   /* its znode is gone since (0: present or never seen) */
    int64_t first_seen;
    int ready, master_role;  /* from the znode: state "ready", role "master" */
    char state[16];          /* from the znode: its state ("" before it registered) */
    int64_t epoch, seq;
    int ready_logged;
    int64_t took_over;       /* the epoch in which it was seen taking writes as master */
    int live;                /* scratch: still in the table this round */
};

/* A switchover asked for by POST /api/v1/promote (supervisor_promote). */
struct promote_req {
    pthread_mutex_t mu;
    pthread_cond_t done;
    int pending;             /* asked, not yet taken by the loop */
    int busy;                /* asked or under way: a second request is refused */
    uint64_t ticket;         /* which request the result is for */
    char id[RUNTIME_ID_MAX];
    int status;              /* 0 while under way; then an HTTP status */
    int64_t epoch;
    char msg[200];
};

struct supervisor {
    struct workers *ws;
    struct scaler *sc;
    struct supervisor_config cfg;
    pthread_t thread;
    atomic_int stop;
    atomic_int children_fired;
    int watch_armed;
    atomic_int target;
    /* The switchover under way (loop thread only). */
    struct {
        int active;
        char old_id[RUNTIME_ID_MAX], new_id[RUNTIME_ID_MAX];
        int64_t since;
    } sw;
    struct promote_req pr;
    /* What GET /api/v1/status shows of the ZooKeeper view, copied each refresh. */
    pthread_mutex_t snap_mu;
    struct supervisor_wview snap[MAXW];
    int nsnap;
    int64_t next_spawn_at, backoff_ms;
    int64_t refreshed_at, refreshed_ok_at;
    int64_t failover_since;  /* 0: not failing over */
    struct zview v[MAXW];
    int nv;
};

/* The view of worker id, created if new. Loop thread. */
struct zview *sup_view_of(struct supervisor *s, const char *id);

/* One round of the switchover state machine (supervisor_switchover.c):
 * takes a pending request, or advances the one under way. Loop thread. */
void sup_switchover(struct supervisor *s, const struct worker_info *w, int n, int64_t now);

#endif
