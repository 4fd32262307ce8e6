/*
 * replica.h — applying the replication log (the replog stream).
 *
 * Every replica, and a master catching up before it takes writes, applies
 * the log with the same rules, so replicas that consumed the same prefix hold
 * the same data. Incarnations are ordered pairs (epoch, counter): a master
 * appends an epoch marker {epoch, marker, nonce: counter} each time it takes
 * over (the counter goes up within its process; every master has an epoch
 * of its own), and stamps its entries with both.
 *   - a marker of a later incarnation than the replica's current one
 *     becomes current; any other changes nothing (a replaced master that
 *     started over);
 *   - an entry of an earlier incarnation is ignored: a replaced master's
 *     (fencing), or what a master published on a connection it gave up on
 *     (its confirms timed out) that reached the log after the marker of its
 *     next incarnation — by then the master has reused those seqs;
 *   - an entry of the current incarnation whose seq is at or below
 *     applied_seq is ignored (a copy); one at applied_seq + 1 is applied — a
 *     rejected write only records its request id;
 *   - an entry of a later incarnation (its marker never reached us), or of
 *     the current one with a seq beyond applied_seq + 1, means the log lost
 *     messages under this replica: retention dropped them. REPLICA_GAP: the
 *     replica must restart from a checkpoint (checkpoint.h) and never serves
 *     what it has. Losing only messages that count nowhere is no gap.
 * Stream offsets are not consecutive (the broker keeps bookkeeping chunks
 * among the messages), so offsets are only recorded, never checked: the
 * rules above are what finds a gap.
 *
 * The log's size. Every consumed message adds its body's length plus
 * REPLICA_MSG_OVERHEAD to log_bytes, so log_bytes is the same function of
 * the offset on every replica: the size of the log up to that message, as
 * the broker's retention (which counts bytes) sees it, near enough. A
 * checkpoint carries it, and the master compares the log written since the
 * newest checkpoint with the retention (master.c).
 *
 * Request ids. Each entry carries ts, the master's clock when it applied it;
 * req_horizon = max(ts) - window. A request id is remembered while its ts
 * is not below the horizon. The orchestrator stamps every write with a
 * deadline (its own write timeout), the master refuses a request past its
 * deadline unless it already knows the id, and the window is far longer
 * than any deadline plus clock skew: a redelivery, or a retry with the same
 * id, either finds the id or is refused — never applied twice.
 */
#ifndef RS_REPLICA_H
#define RS_REPLICA_H

#include <stdint.h>
#include "store.h"

struct cJSON;

/* What the broker stores per stream message beyond its body (properties,
 * headers, chunk framing), counted into log_bytes: about 136 bytes measured
 * on RabbitMQ 3.10 (a stream's segment file against the bodies of its
 * 10,052 messages), rounded up. */
#define REPLICA_MSG_OVERHEAD 160

enum { REPLICA_OK = 0, REPLICA_FATAL = -1, REPLICA_GAP = -2 };

/* A restore entry (protocol.h) names a backup file held in a stream of its
 * own; its rows replace every replicated table's (store_restore). */
struct replica_restore {
    char stream[128];
    int64_t size, parts;
    uint32_t crc;
};

/* Whether body is a restore entry that replica_apply would apply now; then
 * *r says which backup it needs, fetched and attached (store_restore_attach)
 * before replica_apply is called for it, in a batch of its own. */
int replica_restore_needed(const struct store_pos *pos, const char *body, size_t len, struct replica_restore *r);

/* Reads a {"stream", "size", "parts", "crc"} object. 0 or -1. */
int replica_restore_parse(const struct cJSON *o, struct replica_restore *r);

/* What replica_apply saw, when it was an epoch marker. */
struct replica_marker {
    int seen;
    int64_t epoch;
    int64_t nonce;               /* the incarnation counter */
    char worker[64];
};

/* Applies one log message (its JSON text and stream offset; -1: not from a
 * stream) inside the store's open batch, advancing *pos.
 * window_ms: how long request ids are remembered. REPLICA_OK (applied or
 * ignored by the rules), REPLICA_GAP, or REPLICA_FATAL (divergence or a
 * database error). */
int replica_apply(struct store *st, struct store_pos *pos, const char *body, size_t len,
                  int64_t offset, int64_t window_ms, struct replica_marker *marker);

/* Moves the request-id horizon for an entry of time ts (ms). */
void replica_note_time(struct store_pos *pos, int64_t ts, int64_t window_ms);

/* The reply body a request id is answered with, stored with it: the entry's
 * result, or {"error": ...}, as JSON text (malloc'd); its status in *status. */
char *replica_reply_of(const struct cJSON *entry, int *status);

#endif
