/*
 * workers.h — the orchestrator's picture of its workers and their lifecycle.
 *
 * Workers are started and killed only through the runtime interface
 * (runtime.h). At start: the epoch in ZK_ROOT/master is bumped, a master is
 * started with it, then the slaves, and workers_start waits until all report
 * "ready" in their znodes.
 */
#ifndef RS_WORKERS_H
#define RS_WORKERS_H

#include <signal.h>
#include <stdint.h>

struct runtime;
struct zk;

struct workers_config {
    const char *zk_root;
    const char *data_dir;        /* where workers keep their SQLite files */
    const char *env[12];         /* "NAME=value" passed to every worker, NULL-terminated */
    int ready_timeout_ms;
    int initial_slaves;
};

struct workers;

/* Creating the pair: ws = workers_new(...); rt = runtime_*_new(...,
 * workers_on_exit, ws); workers_attach(ws, rt). */
struct workers *workers_new(const struct workers_config *cfg, struct zk *zk);
void workers_attach(struct workers *ws, struct runtime *rt);
void workers_on_exit(const char *id, int pid, int status, void *ctx);

/* Starts the master and the initial slaves and waits until both are ready (or *stop
 * is set). 0 or -1. */
int workers_start(struct workers *ws, volatile sig_atomic_t *stop);

/* The current epoch: replies from any other epoch are not acknowledged. */
int64_t workers_epoch(struct workers *ws);

/* PIDs of all live workers, ascending; returns the count (at most max). */
int workers_pids(struct workers *ws, int *pids, int max);

/* Stops every worker (SIGTERM, then SIGKILL after grace_ms). */
void workers_stop_all(struct workers *ws, int grace_ms);
void workers_free(struct workers *ws);

#endif
