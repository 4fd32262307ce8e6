/*
 * startup.h — the first workers: a master and the initial slaves, started
 * and waited for before the orchestrator listens; or, after an orchestrator
 * restart, the running workers adopted.
 */
#ifndef RS_STARTUP_H
#define RS_STARTUP_H

#include <signal.h>

struct workers;
struct zksession;

struct startup_config {
    struct zksession *zk;        /* the orchestrator's session (zksession.h) */
    const char *zk_root;
    int initial_slaves;
    int ready_timeout_ms;        /* for all of them to report "ready" */
};

/* If ZK_ROOT/master names a master (an earlier orchestrator ran) and the
 * runtime finds workers running, adopts them and returns 1 at once: the
 * supervisor fails over or starts slaves from there as always. Otherwise
 * starts the master and the initial slaves and waits until all are ready
 * (or *stop is set): 0. -1 on failure. */
int startup_run(struct workers *ws, const struct startup_config *cfg, volatile sig_atomic_t *stop);

#endif
