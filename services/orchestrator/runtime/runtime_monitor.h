/*
 * runtime_monitor.h — what the two runtimes (runtime_process.c,
 * runtime_docker.c) share; internal to them, not for other callers.
 *
 * Both keep a table of workers under one mutex and run one exit-monitor
 * thread that polls on a fixed period: each pass finds the workers that
 * stopped, takes them out of the table (so each is reported exactly once)
 * and reports them through on_exit with the lock dropped, so that the
 * callback may call back into the runtime (e.g. to spawn a replacement).
 * How a pass finds stopped workers differs (waitpid and /proc, or the
 * Engine API); the thread, its wake-up on destroy and the list of notices
 * are here.
 */
#ifndef RS_RUNTIME_MONITOR_H
#define RS_RUNTIME_MONITOR_H

#include "runtime.h"

#include <pthread.h>

/* A worker id is [A-Za-z0-9_-]{1,RUNTIME_ID_MAX-1}: it goes into file and
 * container names unescaped. */
int rt_valid_id(const char *id);

/* A network or stack name: [A-Za-z0-9_.-]{1,200}; it goes into URLs and
 * container or service names unescaped. */
int rt_valid_name(const char *s);

/* The spawn precondition of both runtimes: a valid id and env entries of the
 * form NAME=value. 0, or -1 with the reason logged. */
int rt_check_spec(const struct runtime_spec *spec);

/* One stopped worker to report. */
struct rt_notice {
    char id[RUNTIME_ID_MAX];
    char cid[72]; /* the docker runtime's container id; unused by the process runtime */
    int pid;
    int status;   /* wait(2)-style, or -1 when unknown */
};

/* A growing list of notices, reused from pass to pass. */
struct rt_notices {
    struct rt_notice *v;
    int n, cap;
};

/* Appends a zeroed entry and returns it; NULL when memory is short (the
 * caller leaves that worker in its table for the next pass). */
struct rt_notice *rt_notices_add(struct rt_notices *ns);

/*
 * The monitor thread. mu guards the runtime's table as well as `stopping`.
 * The thread calls pass(arg, notes) with mu NOT held, every poll_ms, at once
 * again after a pass that reported something (the callback may have changed
 * things), and not after rt_monitor_stop has begun. pass returns how many
 * workers it reported.
 */
typedef int (*rt_pass_fn)(void *arg, struct rt_notices *notes);

struct rt_monitor {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on stop */
    pthread_t thread;
    int stopping;        /* guarded by mu */
    int poll_ms;
    rt_pass_fn pass;
    void *arg;
};

/* Initialises mu and cond and starts the thread. 0, or -1 (nothing to undo). */
int rt_monitor_start(struct rt_monitor *m, int poll_ms, rt_pass_fn pass, void *arg);

/* Wakes the thread, waits for it to finish its pass and end, and destroys
 * mu and cond. */
void rt_monitor_stop(struct rt_monitor *m);

#endif
