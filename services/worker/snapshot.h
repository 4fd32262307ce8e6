/*
 * snapshot.h — a new replica starts from a copy of a ready slave plus the
 * log after it, instead of replaying the whole log (snapshot.c says how).
 */
#ifndef RS_SNAPSHOT_H
#define RS_SNAPSHOT_H

#include <stdint.h>

struct snapshot_opts {
    const char *id;          /* the asking worker's id (the request's correlation id) */
    const char *db_path;     /* where the copy goes; must not exist yet */
    const char *amqp_url;
    const char *zk_hosts;    /* empty: no copy (nowhere to find a source) */
    const char *zk_root;
    int64_t min_entries;     /* ask only when a ready slave has applied this many; 0: never */
    int timeout_ms;          /* for the whole transfer */
};

/* Fetches a copy into o->db_path. 1: done; 0: not worth it (no ready slave
 * far enough ahead); -1: failed, nothing left behind (replay the log). */
int snapshot_fetch(const struct snapshot_opts *o);

/* The serving thread of a slave (arg: struct worker *): answers copy
 * requests once the slave has caught up, until it stops or is promoted. */
void *snapshot_server_main(void *arg);

#endif
