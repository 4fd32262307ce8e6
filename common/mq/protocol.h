/*
 * protocol.h — what travels through RabbitMQ between the orchestrator and
 * the workers. Both sides include this; nothing else does.
 *
 * Queues:
 *   writeQ  durable, single-active-consumer: write requests, consumed by the master
 *   readQ   durable: read requests, consumed round-robin by the slaves
 *   replog  durable stream: the replication log, appended by the master,
 *           replayed by every replica (the spec's syncQ, made durable), with
 *           a retention in bytes (LOG_RETENTION_BYTES)
 *   replog.ckpt.<seq>.<worker>  durable streams, one per checkpoint: a copy
 *           of a replica's database at a log offset, in parts
 *           (services/worker/checkpoint.h); the newest is named in
 *           ZK_ROOT/checkpoint, older ones are deleted
 *   backupQ durable: requests for a backup (common/db/backupfile.h), served by
 *           one ready slave (services/worker/backup.c), answered like any
 *           request with {"stream", "size", "parts", "crc", "seq", ...}
 *   replog.backup.*, replog.restore.*  a backup on its way, in parts
 *
 * Request (orchestrator -> worker), published persistent with
 * message_id = request id (unique per client request), correlation_id and
 * reply_to set:
 *   {"op": <operation, see dbop.h>, "min_seq": N}
 * min_seq is for reads: the highest seq acknowledged before the read began.
 * A write carries the integer header "deadline": wall-clock ms after which
 * the client has had its answer (a 503); a master applies no request past
 * its deadline unless it already knows its id (services/worker/replica.h:
 * why request ids need only be remembered for a window).
 *
 * Reply (worker -> reply_to, same correlation_id): integer headers
 *   status  the HTTP status the orchestrator answers with: 200, 400, 409, 503
 *   seq     writes: the write's seq; reads: the replica's applied seq
 *   epoch   writes: the epoch of the master that answered
 * and a JSON body, passed on to the client as it is: the result on 200, else
 * {"error": "..."}. Results: insert {"changes": n, "id": rideId};
 * update/delete/clear {"changes": n}; select {"rows": [{col: value, ...}, ...]};
 * count {"count": n}. Keeping status and seq out of the body lets the
 * orchestrator answer a read without parsing or re-printing its rows.
 *
 * Log entry (master -> replog), one per consumed write, rejected ones too,
 * so that a redelivered request id is always found in the log:
 *   {"epoch": E, "inc": I, "seq": N, "rid": "...", "ts": T, "status": 200, "op": {...}, "result": {...}}
 *   {"epoch": E, "inc": I, "seq": N, "rid": "...", "ts": T, "status": 409, "error": "..."}
 * The op of an insert carries the id the master chose (rides.ride_id); ts is
 * the master's wall clock (ms) when it applied the write.
 * Epoch marker, appended by a master each time it takes over (also after a
 * broken connection), before it takes writeQ; nonce is random:
 *   {"epoch": E, "marker": "<worker id>", "nonce": I}
 * An entry counts only if it carries the epoch and nonce (as inc) of the
 * newest marker of the highest epoch (services/worker/replica.h).
 *
 * Restore (orchestrator -> writeQ, like a write, with its deadline):
 *   {"restore": {"stream": "...", "size": N, "parts": N, "crc": N}}
 * and its log entry, which replaces every replicated table's rows with the
 * backup's on every replica (services/worker/restore.h):
 *   {"epoch", "inc", "seq", "rid", "ts", "status": 200, "restore": {...},
 *    "result": {"users": N, "rides": N, "members": N}}
 */
#ifndef RS_PROTOCOL_H
#define RS_PROTOCOL_H

#define PROTO_WRITE_QUEUE "writeQ"
#define PROTO_READ_QUEUE  "readQ"
#define PROTO_LOG_STREAM  "replog"
#define PROTO_BACKUP_QUEUE "backupQ"

/* Streams holding one file each (common/mq/mq_file.h): a checkpoint
 * (".ckpt.<seq>.<worker>"), a backup on its way to the orchestrator
 * (".backup.<seq>.<worker>.<ms>"), a backup being restored
 * (".restore.<seq>.<ms>"). */
#define PROTO_CHECKPOINT_PREFIX PROTO_LOG_STREAM ".ckpt."
#define PROTO_BACKUP_STREAM_PREFIX PROTO_LOG_STREAM ".backup."
#define PROTO_RESTORE_STREAM_PREFIX PROTO_LOG_STREAM ".restore."

#endif
