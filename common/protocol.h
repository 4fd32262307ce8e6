/*
 * protocol.h — what travels through RabbitMQ between the orchestrator and
 * the workers. Both sides include this; nothing else does.
 *
 * Queues:
 *   writeQ  durable, single-active-consumer: write requests, consumed by the master
 *   readQ   durable: read requests, consumed round-robin by the slaves
 *   replog  durable stream: the replication log, appended by the master,
 *           replayed by every replica (the spec's syncQ, made durable)
 *   snapshotQ durable: a new slave's request for a copy of a ready slave's
 *           database, answered in parts on the requester's reply queue
 *           (services/worker/snapshot.c); snapshotQ.master the same, served
 *           by the master, asked only when no slave is ready
 *
 * Request (orchestrator -> worker), published persistent with
 * message_id = request id (unique per client request), correlation_id and
 * reply_to set:
 *   {"op": <operation, see dbop.h>, "min_seq": N}
 * min_seq is for reads: the highest seq acknowledged before the read began.
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
 *   {"epoch": E, "seq": N, "rid": "...", "status": 200, "op": {...}, "result": {...}}
 *   {"epoch": E, "seq": N, "rid": "...", "status": 409, "error": "..."}
 * The op of an insert carries the id the master chose (rides.ride_id).
 * Epoch marker, appended by a master before it takes writeQ:
 *   {"epoch": E, "marker": "<worker id>"}
 * Replicas ignore entries whose epoch is below the highest they have seen.
 */
#ifndef RS_PROTOCOL_H
#define RS_PROTOCOL_H

#define PROTO_WRITE_QUEUE "writeQ"
#define PROTO_READ_QUEUE  "readQ"
#define PROTO_LOG_STREAM  "replog"
#define PROTO_SNAPSHOT_QUEUE "snapshotQ"
#define PROTO_SNAPSHOT_MASTER_QUEUE "snapshotQ.master"

#endif
