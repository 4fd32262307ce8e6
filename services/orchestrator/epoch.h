/*
 * epoch.h — the master's epoch as ZooKeeper keeps it.
 *
 * ZK_ROOT/master holds {"id": <worker id>, "epoch": E}: the designated master
 * and its epoch, written only by the orchestrator. ZK_ROOT/log_epoch holds a
 * bare number: the highest epoch a master found in the replication log above
 * the one it was given (ZooKeeper's data can be behind the broker's). A new
 * epoch is above both, and above any the caller already gave out.
 *
 * Two steps, so that the caller can raise its own idea of the epoch between
 * them: from the moment the next epoch is chosen, no reply of the old one is
 * acknowledged, and only then is the new master named.
 */
#ifndef RS_EPOCH_H
#define RS_EPOCH_H

#include <stddef.h>
#include <stdint.h>

struct zk;

/* The next epoch: max(ZK_ROOT/master's, ZK_ROOT/log_epoch, floor) + 1, or -1
 * when ZooKeeper cannot be read. */
int64_t epoch_next(struct zk *zk, const char *root, int64_t floor);

/* Names master_id as master with epoch in ZK_ROOT/master. 0 or -1. */
int epoch_publish(struct zk *zk, const char *root, const char *master_id, int64_t epoch);

/* The first step of a planned switchover: ZK_ROOT/master keeps naming
 * master_id with its epoch and adds "next": next_id, which tells that master
 * to stop taking writes and go on as a slave (membership.c). The second step
 * is an ordinary epoch_publish naming next_id with a new epoch. 0 or -1. */
int epoch_stepdown(struct zk *zk, const char *root, const char *master_id, int64_t epoch, const char *next_id);

/* Reads ZK_ROOT/master: the named id (size n), its epoch, and the "next" of
 * a switchover under way ("" if none; size n). 1 if it exists, 0 if it does
 * not, -1 if it cannot be read. */
int epoch_read(struct zk *zk, const char *root, char *id, int64_t *epoch, char *next, size_t n);

#endif
