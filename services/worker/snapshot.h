/*
 * snapshot.h — a new replica starts from a copy of a ready slave plus the
 * log after it, instead of replaying the whole log (snapshot.c says how).
 */
#ifndef RS_SNAPSHOT_H
#define RS_SNAPSHOT_H

#include <signal.h>
#include <stdint.h>

struct snapshot_opts {
    const char *id;          /* the asking worker's id (the request's correlation id) */
    const char *db_path;     /* where the copy goes; must not exist yet */
    const char *amqp_url;
    const char *zk_hosts;    /* empty: no copy (nowhere to find a source) */
    const char *zk_root;
    int64_t min_entries;     /* ask only when a ready slave has applied this many; 0: never */
    int timeout_ms;          /* for the whole transfer */
    volatile sig_atomic_t *stop; /* set by SIGTERM: give up at once */
};

/* Fetches a copy into o->db_path. 1: done; 0: not worth it (no ready slave
 * far enough ahead); -1: failed, nothing left behind (replay the log). */
int snapshot_fetch(const struct snapshot_opts *o);

/* A thread that answers copy requests from queue (PROTO_SNAPSHOT_QUEUE for
 * slaves, PROTO_SNAPSHOT_MASTER_QUEUE for the master), once w->caught_up if
 * wait_caught_up, until stopped (or w->stop). NULL if it cannot start. */
struct worker;
struct snapshot_server;
struct snapshot_server *snapshot_server_start(struct worker *w, const char *queue, int wait_caught_up);
void snapshot_server_stop(struct snapshot_server *s);

#endif
