/*
 * supervisor_internal.h — the supervisor's state, shared by the files that
 * implement supervisor.h (supervisor.c: the loop, failover, replacement,
 * scaling; supervisor_view.c: the ZooKeeper view of the workers, which the
 * others read; supervisor_switchover.c: the planned
 * switchover of POST /api/v1/promote; supervisor_starts.c: failed starts
 * and the backoff). Calls go one way: supervisor.c calls the other three,
 * and the switchover and starts read the view. Nothing else includes it.
 *
 * Threads: everything but pr, snap, sc_info and starts belongs to the loop
 * thread; pr is guarded by pr.mu (HTTP threads ask, the loop answers); snap,
 * sc_info and starts by snap_mu (the loop and POST /api/v1/scale write,
 * GET /api/v1/status reads). target is atomic: the loop reads it each round.
 */
#ifndef RS_SUPERVISOR_INTERNAL_H
#define RS_SUPERVISOR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "runtime.h"
#include "supervisor.h"
#include "workers.h"

/* The supervisor's watch over one live worker's znode (supervisor_view.c). */
struct zview {
    char id[RUNTIME_ID_MAX];
    int pid;
    struct worker_znode zn;  /* what the znode said last */
    int64_t missing_since;   /* its znode is gone since (0: present or never seen) */
    int64_t broker_down_since; /* from the znode's broker_down_ms: cut off from the broker since (0: not) */
    int64_t broker_seen_at;    /* ... and when this orchestrator first read that */
    int ready_logged;
    int64_t took_over;       /* the epoch in which it was seen taking writes as master */
    int live;                /* scratch: still in the table this round */
};

/* A worker the loop started, watched until it has lasted (supervisor_starts.c). */
struct young {
    char id[RUNTIME_ID_MAX];
    int64_t spawned_at;
    int master;
    int ready;               /* the view saw it ready */
    const char *killed;      /* the health check killed it: why */
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
    struct zview snap[WORKERS_MAX];
    int nsnap;
    struct supervisor_scaling sc_info;  /* target excepted: that is the atomic above */
    struct supervisor_starts starts;    /* what the status shows of failed starts */
    int64_t starts_next_at;             /* next_spawn_at, for the status */
    /* Failed starts (supervisor_starts.c). */
    int64_t next_spawn_at, backoff_ms;
    struct young young[WORKERS_MAX];
    int nyoung;
    int64_t refreshed_at, refreshed_ok_at;
    /* The newest checkpoint, read with the view at most every CKPT_READ_MS
     * (ckpt_at_ms and ckpt_seq under snap_mu; 0: none seen). */
    int64_t ckpt_read_at, ckpt_at_ms, ckpt_seq;
    int64_t failover_since;  /* 0: not failing over */
    struct zview v[WORKERS_MAX];
    int nv;
};

/* The ZooKeeper view (supervisor_view.c), loop thread. sup_view_of: the
 * view of worker id, NULL if it has none. sup_refresh_view: brings the
 * view up to date with ZooKeeper for the live workers w[0..n) (arming the
 * child watch), forgets the dead, and copies it for the status. */
struct zview *sup_view_of(struct supervisor *s, const char *id);
void sup_refresh_view(struct supervisor *s, const struct worker_info *w, int n, int64_t now);

/* One round of the switchover state machine (supervisor_switchover.c):
 * takes a pending request, or advances the one under way. Loop thread. */
void sup_switchover(struct supervisor *s, const struct worker_info *w, int n, int64_t now);

/* Failed starts and the backoff (supervisor_starts.c), all on the loop thread. */
/* Whether starting a worker is allowed now (no backoff running). */
int sup_may_start(struct supervisor *s, int64_t now);
/* A worker the loop started (workers_spawn_*: 0): watched until it lasts. */
void sup_started(struct supervisor *s, const char *id, int master, int64_t now);
/* The runtime could not start one at all (workers_spawn_*: -1). */
void sup_spawn_failed(struct supervisor *s, int master, int64_t now);
/* The health check killed worker id (why: a static string). */
void sup_killed(struct supervisor *s, const char *id, const char *why);
/* One round over the watched workers, w[0..n) the live ones: a death before
 * it lasted is a failed start (backoff); one that lasted resets it. */
void sup_watch_starts(struct supervisor *s, const struct worker_info *w, int n, int64_t now);

#endif
