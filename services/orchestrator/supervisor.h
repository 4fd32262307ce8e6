/*
 * supervisor.h — the orchestrator's lifecycle loop: keeps one master and
 * the target number of slaves running, whatever dies.
 *
 * One thread of its own does every start, election and retirement, so the
 * runtime's exit monitor, ZooKeeper's callback thread and the HTTP handlers
 * only note what happened and wake it (workers_poke); none of them ever
 * waits for a spawn or for ZooKeeper.
 */
#ifndef RS_SUPERVISOR_H
#define RS_SUPERVISOR_H

struct workers;
struct scaler;

struct supervisor_config {
    const char *zk_root;
    int initial_slaves;      /* the target until the first scaling window closes */
    int ready_timeout_ms;    /* a worker not registered, or a new master not taking writes, by then is killed */
    int lost_grace_ms;       /* a registered worker whose znode stays gone this long is killed */
    int retire_timeout_ms;   /* a retiring slave still running after this is killed */
};

struct supervisor;

/* Starts the loop (after startup_run). scaler may be NULL (no autoscaling). */
struct supervisor *supervisor_start(struct workers *ws, struct scaler *sc, const struct supervisor_config *cfg);
/* Stops the loop and joins it: no worker is started or elected after it. */
void supervisor_stop(struct supervisor *s);
/* Frees it; only after the ZooKeeper handle is closed (workers_free), since a
 * watch set by the supervisor may fire until then. */
void supervisor_free(struct supervisor *s);

#endif
