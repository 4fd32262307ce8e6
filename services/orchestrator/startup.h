/*
 * startup.h — the first workers: a master and the initial slaves, started
 * and waited for before the orchestrator listens.
 */
#ifndef RS_STARTUP_H
#define RS_STARTUP_H

#include <signal.h>

struct workers;

struct startup_config {
    const char *zk_root;
    int initial_slaves;
    int ready_timeout_ms;        /* for all of them to report "ready" */
};

/* Starts the master and the initial slaves and waits until all are ready
 * (or *stop is set). 0 or -1. */
int startup_run(struct workers *ws, const struct startup_config *cfg, volatile sig_atomic_t *stop);

#endif
