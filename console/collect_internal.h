/*
 * collect_internal.h — what collect.c and collect_zk.c share: the collector's
 * state and the helpers that update the snapshot under its mutex. Not an
 * interface for anything else.
 */
#ifndef RS_CONSOLE_COLLECT_INTERNAL_H
#define RS_CONSOLE_COLLECT_INTERNAL_H

#include <pthread.h>

#include "collect.h"

#define ZK_ARMED_MAX (2 * MODEL_ZNODES_MAX)

struct zk_watch_ctx {
    struct collector *c;
    int child;                  /* 1: a child watch, 0: a data watch */
};

struct collector {
    struct collect_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* monotonic clock */
    int stop;
    uint64_t refresh_gen;       /* bumped by collector_refresh */
    struct snapshot snap;
    pthread_t th[B_N];
    int started[B_N];

    /* ZooKeeper thread state, under mu: set from the library's callbacks. */
    int zk_dirty;               /* a watch fired, or the session changed */
    int zk_connected, zk_expired;
    int narmed;                 /* paths with a watch set and not yet fired */
    char armed[ZK_ARMED_MAX][MODEL_ZNODE_PATH + 2]; /* "d:<path>" or "c:<path>" */
    struct zk_watch_ctx data_ctx, child_ctx;
};

/* Records the outcome of one attempt at backend b (error NULL: it worked);
 * a change of state becomes a console event. Takes mu. */
void collect_backend(struct collector *c, enum backend b, const char *error);

/* Waits on wake (mu held) until stop, a refresh newer than *seen, or
 * timeout_ms; updates *seen. Returns c->stop. */
int collect_wait(struct collector *c, uint64_t *seen, int64_t timeout_ms);

void *collect_zk_main(void *arg);

#endif
