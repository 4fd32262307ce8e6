/*
 * supervisor.h — the orchestrator's lifecycle loop: keeps one master and
 * the target number of slaves running, whatever dies.
 *
 * One thread of its own does every start, election, retirement and planned
 * switchover, so the runtime's exit monitor, ZooKeeper's callback thread and
 * the HTTP handlers only note what happened and wake it (workers_poke); none
 * of them ever waits for a spawn or for ZooKeeper (POST /api/v1/promote
 * waits for the loop's answer, with a deadline).
 */
#ifndef RS_SUPERVISOR_H
#define RS_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

struct workers;
struct scaler;
struct zksession;
struct rpc;

struct supervisor_config {
    struct zksession *zk;    /* the orchestrator's session (zksession.h) */
    const char *zk_root;
    int initial_slaves;      /* the target until the first scaling window closes */
    int ready_timeout_ms;    /* a worker not registered, or a new master not taking writes, by then is killed */
    int lost_grace_ms;       /* a registered worker whose znode stays gone this long is killed */
    int retire_timeout_ms;   /* a retiring slave still running after this is killed */
    int max_slaves;          /* no target above it: the scaler's, a hand-set one, or adopted slaves */
    int scale_up_step;       /* a window's decision adds at most this many slaves */
    int broker_lost_ms;      /* a worker cut off from the broker this long is killed (0: never) */
    struct rpc *rpc;         /* ... but only while this orchestrator reaches the broker itself */
};

struct supervisor;

/* Starts the loop (after startup_run). scaler may be NULL (no autoscaling). */
struct supervisor *supervisor_start(struct workers *ws, struct scaler *sc, const struct supervisor_config *cfg);
/* Stops the loop and joins it: no worker is started or elected after it. */
void supervisor_stop(struct supervisor *s);
/* Frees it; only after the ZooKeeper handle is closed (workers_free), since a
 * watch set by the supervisor may fire until then. */
void supervisor_free(struct supervisor *s);

/* The slave count it keeps now; setting it by hand (POST /api/v1/scale)
 * holds until the next scaling window decides. A hand-set target is an
 * operator's explicit choice: it is not stepped, but it is kept within
 * 1..max_slaves (the admin API refuses anything else with a 400). */
int supervisor_target(struct supervisor *s);
void supervisor_set_target(struct supervisor *s, int slaves);

/* How the target came about (GET /api/v1/status). */
struct supervisor_scaling {
    int target;              /* the slave count kept now */
    int rule_target;         /* the spec's rule at the last window's close, uncapped; -1 before one closed */
    int capped;              /* that decision was held down by max_slaves */
    int stepped;             /* ... or by scale_up_step (it goes on growing next window) */
    const char *set_by;      /* "start", "window" or "operator" */
    int max_slaves, scale_up_step;
};
void supervisor_get_scaling(struct supervisor *s, struct supervisor_scaling *out);

/* Workers that could not start (GET /api/v1/status): see supervisor_starts.c. */
struct supervisor_starts {
    int failures;            /* failed starts since a started worker last lasted */
    int64_t backoff_ms;      /* the current pause after a failure (0: none) */
    int64_t next_in_ms;      /* until starts are allowed again (0: now) */
    int64_t last_at_ms;      /* wall clock of the last failure, ms since the epoch (0: none yet) */
    char last_id[48];        /* "" when the runtime could not even spawn it */
    char last_why[96];
    int last_status;         /* its wait status; -1 when unknown or never spawned */
};
void supervisor_get_starts(struct supervisor *s, struct supervisor_starts *out);

/* The live workers (workers_list), each with what its znode said at the
 * supervisor's last refresh (zn; state "starting" until it registered).
 * At most max; the count. */
struct worker_info;
int supervisor_workers(struct supervisor *s, struct worker_info *out, int max);

/* The newest checkpoint as last read from ZooKeeper (every few seconds):
 * 1 with its wall-clock time and seq, 0 when none has been seen. */
int supervisor_checkpoint(struct supervisor *s, int64_t *at_ms, int64_t *seq);

/* Planned switchover to slave id (POST /api/v1/promote), done by the loop:
 * the master steps down at a batch boundary and goes on as a slave, then
 * the slave is named master with a new epoch. Waits up to timeout_ms for the
 * outcome: an HTTP status (200 with *epoch the new epoch; 404 no such
 * worker; 409 not possible now; 503 ZooKeeper, a master that did not step
 * down, or still under way) with a message in msg. */
int supervisor_promote(struct supervisor *s, const char *id, int timeout_ms, int64_t *epoch, char *msg, size_t n);

#endif
