/*
 * checkpoint_znode.h — ZK_ROOT/checkpoint: which checkpoint is the newest,
 * and which streams are to be deleted. Written by the workers that make
 * checkpoints and backups (services/worker/checkpoint.h says how
 * checkpoints work) and by the orchestrator when it restores a backup;
 * every change by compare-and-set.
 *
 *   {"current": {"queue", "seq", "offset", "log_bytes", "epoch", "size",
 *                "parts", "crc", "by", "at_ms"} or null,
 *    "garbage": [streams to delete now],
 *    "retire":  [{"queue", "after"}: streams to delete once a checkpoint at
 *                or past seq "after" is complete (a restored backup, which
 *                replicas behind it still read)],
 *    "wanted":  seq: a checkpoint at or past it is wanted now (0: none)}
 */
#ifndef RS_CHECKPOINT_ZNODE_H
#define RS_CHECKPOINT_ZNODE_H

#include <stdint.h>

#define CHECKPOINT_GARBAGE_MAX 16
#define CHECKPOINT_RETIRE_MAX 4
#define CHECKPOINT_AFTER_UNKNOWN INT64_MAX /* a retire entry whose seq is not known yet */

struct zk;

struct checkpoint_info {
    char queue[128];
    int64_t seq, offset, log_bytes, epoch, size, parts, at_ms;
    uint32_t crc;
    char by[64];
};

struct checkpoint_znode {
    int present;                 /* 0: no checkpoint yet */
    struct checkpoint_info current;
    int ngarbage;
    char garbage[CHECKPOINT_GARBAGE_MAX][128];
    int nretire;
    struct { char queue[128]; int64_t after; } retire[CHECKPOINT_RETIRE_MAX];
    int64_t wanted;
};

/* Reads the znode with its version (-1 when it does not exist; an empty
 * node, as the orchestrator makes it, holds nothing yet). 0
 * (z->present says whether a checkpoint exists), or -1 on error. */
int checkpoint_read(struct zk *zk, const char *zk_root, struct checkpoint_znode *z, int *version);
/* Writes it if it is still at version (-1: creates it). 0 written, 1 another
 * writer came first, -1 error. */
int checkpoint_write(struct zk *zk, const char *zk_root, const struct checkpoint_znode *z, int version);

/* Lists queue in z's garbage (the oldest entry is forgotten, logged, when
 * the list is full) / takes it off. */
void checkpoint_garbage_add(struct checkpoint_znode *z, const char *queue);
void checkpoint_garbage_drop(struct checkpoint_znode *z, const char *queue);

/* Read-modify-write of the znode by compare-and-set, retried a few times
 * when another writer comes first: change() edits z and returns 0, or
 * non-zero to write nothing. 0 when written (or nothing to write), -1 on
 * error. */
int checkpoint_update(struct zk *zk, const char *zk_root, int (*change)(struct checkpoint_znode *z, void *ctx),
                      void *ctx);

/* Adds queue to the garbage (checkpoint_update): a stream made for a moment
 * (a backup on its way) is deleted by the next checkpointer even if its
 * maker dies before it can. 0 or -1. */
int checkpoint_list_garbage(struct zk *zk, const char *zk_root, const char *queue);

#endif
