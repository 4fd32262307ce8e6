/*
 * workers.h — the orchestrator's table of its workers and the primitive
 * actions on them.
 *
 * Workers are started and killed only through the runtime interface
 * (runtime.h). startup.c starts the first master and slaves; from then on
 * the supervisor (supervisor.c) is the only one that starts workers, elects
 * masters and retires slaves; the HTTP
 * handlers only read the table or crash a worker (workers_kill_picked).
 *
 * Every change to the table (an exit notice, a kill, a spawn, a ZooKeeper
 * event reported with workers_poke) bumps a generation counter and wakes
 * workers_wait, which is how the supervisor learns that it has work.
 */
#ifndef RS_WORKERS_H
#define RS_WORKERS_H

#include <stdint.h>

#include "runtime.h"

struct zksession;

/* The most workers the table holds (live, exiting and retiring together);
 * MAX_SLAVES is kept well below it. */
#define WORKERS_MAX 64

struct workers_config {
    struct zksession *zk;        /* the orchestrator's session (zksession.h): the epoch */
    const char *zk_root;
    const char *data_dir;        /* where workers keep their SQLite files */
    const char *env[20];         /* "NAME=value" passed to every worker, NULL-terminated */
    const char *const *withhold; /* the orchestrator's variables no worker may inherit (runtime.h) */
    /* The orchestrator's ZooKeeper identity, from which each worker's own is
     * derived and passed to it as ZK_NODE_AUTH (zk_acl.h); "" or NULL: none. */
    const char *zk_auth;
};

/* What a worker's znode (ZK_ROOT/workers/<id>) said when the supervisor
 * last read it. */
struct worker_znode {
    int registered;              /* the znode was seen at least once */
    char state[16];              /* "" before it registered */
    int ready, master_role;      /* state "ready"; role "master" */
    int64_t epoch, seq;
    int64_t reads, applied, apply_us; /* the worker's counters: reads served, entries applied, their µs */
};

/* One worker as the orchestrator knows it: the one description of a worker
 * (the table's private slot and the supervisor's watch wrap it with their
 * bookkeeping). workers_list fills the table's part and zeroes zn;
 * supervisor_workers fills both. */
struct worker_info {
    char id[RUNTIME_ID_MAX];
    int pid;
    int master;                  /* the designated master (maybe still taking over) */
    int retiring;                /* told to stop by scale-in: its exit is not a crash */
    int64_t spawned_at;          /* clock_ms() times */
    int64_t retired_at;
    int64_t designated_at;       /* when it was made master */
    struct worker_znode zn;
};

struct workers;

/* Creating the pair: ws = workers_new(...) (it listens to the ZooKeeper
 * session's changes: zksession_close before workers_free);
 * rt = runtime_*_new(..., workers_on_exit, ws); workers_attach(ws, rt). */
struct workers *workers_new(const struct workers_config *cfg);
void workers_attach(struct workers *ws, struct runtime *rt);
void workers_on_exit(const char *id, int pid, int status, void *ctx);

/* The current epoch: replies from any other epoch are not acknowledged. */
int64_t workers_epoch(struct workers *ws);

/* PIDs of all live workers, ascending; returns the count (at most max). */
int workers_pids(struct workers *ws, int *pids, int max);

/* Live workers, in table order; returns the count (at most max). */
int workers_list(struct workers *ws, struct worker_info *out, int max);

/* Chooses one of the live workers w[0..n): its index, or -1 for none. */
typedef int (*workers_pick_fn)(const struct worker_info *w, int n, void *ctx);
/* SIGKILLs the worker pick chooses. The choice is made, and the worker
 * marked, under the table's lock, so that two concurrent callers never
 * choose the same one; the kill itself runs with the lock released (the
 * runtime may take seconds); the worker is taken for dead once it returns,
 * and the runtime's exit notice changes nothing. While pick finds none,
 * waits up to wait_ms for the table to change (e.g. a master to be
 * elected). Its PID, or -1. The crash endpoints (adminapi.c) are pickers;
 * the supervisor replaces the dead as always. */
int workers_kill_picked(struct workers *ws, workers_pick_fn pick, void *ctx, int wait_ms, const char *why);

/* Whether worker id (known to the table) has exited: 1 with its wait status. */
int workers_exit_status(struct workers *ws, const char *id, int *status);

/* Start-up and supervisor actions; each 0 or -1. The spawns write the new
 * worker's id into id (RUNTIME_ID_MAX bytes) unless it is NULL. Changes of
 * master are in workers_roles.h. */
int workers_spawn_slave(struct workers *ws, char *id);
/* A new master (at start, or when no slave is left to promote): bump the
 * epoch naming it, then spawn it. */
int workers_spawn_master(struct workers *ws, char *id);

/* Scale-in: SIGTERM, and the exit that follows is no crash. */
int workers_retire(struct workers *ws, const char *id);
/* SIGKILL, taking the worker for dead at once. */
int workers_kill(struct workers *ws, const char *id, const char *why);

/* Waits up to timeout_ms for the generation to differ from seen; returns
 * the current one. workers_poke bumps it (from any thread, callbacks too). */
uint64_t workers_wait(struct workers *ws, uint64_t seen, int timeout_ms);
void workers_poke(struct workers *ws);

/* Stops every worker (SIGTERM, then SIGKILL after grace_ms); no worker is
 * started after it began. */
void workers_stop_all(struct workers *ws, int grace_ms);
void workers_free(struct workers *ws);

#endif
