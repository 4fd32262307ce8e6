/*
 * checkpoint.h — copies of a replica's database at a log offset, kept where
 * they outlive every worker: in RabbitMQ, beside the log.
 *
 * Why. Replaying the log costs time in proportion to its history (~12,000
 * entries/s here), and the log's retention drops its oldest entries. A
 * replica's state is a function of the log prefix it consumed (replica.h),
 * so a copy of one replica at offset O plus the log after O is exactly what
 * replaying everything would give. Every worker that starts with no
 * database file — a new slave, a master after every worker was lost — and
 * every replica that finds a gap in the log starts from the newest
 * checkpoint and applies only the log after it: recovery time depends on the
 * database's size, not its history.
 *
 * Where. Each checkpoint is a stream of its own, PROTO_CHECKPOINT_PREFIX
 * "<seq>.<worker>", holding the SQLite file (mq_file.h). A stream is replicated
 * wherever the log is, survives the loss of every worker, and is deleted as
 * a whole once a newer checkpoint is complete, so the broker holds one
 * checkpoint (two while the next is written). The znode ZK_ROOT/checkpoint
 * (checkpoint_znode.h) names the newest complete one; a stream is listed
 * there as garbage before its first part is sent, so a checkpointer that
 * dies midway leaves nothing the next one cannot find and delete.
 *
 * Verified before use: the parts must come in order with their headers
 * consistent, the file must have the znode's size and CRC-32C, and the
 * position stored inside it (applied seq, offset, epoch) must be the znode's.
 * Anything else: the fetch fails and leaves no file.
 *
 * Making them: checkpointer.c, a thread of every ready slave; one at a time
 * holds the ephemeral lock ZK_ROOT/locks/checkpoint.
 */
#ifndef RS_CHECKPOINT_H
#define RS_CHECKPOINT_H

#include <stdint.h>

#include "checkpoint_znode.h"

struct worker;

/* Fetches the newest checkpoint into w->db_path (which must not exist),
 * verified, if its seq is above min_seq. 1 with *got set; 0 when there is
 * none newer (or no ZooKeeper); -1 when it failed (nothing left behind). */
int checkpoint_fetch(struct worker *w, int64_t min_seq, struct checkpoint_info *got);

/* The thread of a slave that makes checkpoints (checkpointer.c). */
struct checkpointer;
struct checkpointer *checkpointer_start(struct worker *w);
void checkpointer_stop(struct checkpointer *c);

#endif
