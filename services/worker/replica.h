/*
 * replica.h — applying the replication log (the replog stream).
 *
 * Every replica, and a master catching up before it takes writes, applies
 * the log with the same rules, so replicas that consumed the same prefix hold
 * the same data:
 *   - an epoch marker raises max_epoch;
 *   - an entry whose epoch is below max_epoch is ignored (it comes from a
 *     master that was replaced: fencing);
 *   - an entry whose seq is at or below applied_seq is ignored (a copy);
 *   - otherwise its seq must be applied_seq + 1 (anything else means the log
 *     lost an entry: the replica stops rather than diverge), and it is
 *     applied — a rejected write only records its request id.
 */
#ifndef RS_REPLICA_H
#define RS_REPLICA_H

#include <stdint.h>
#include "store.h"

struct cJSON;

/* What replica_apply saw, when it was an epoch marker. */
struct replica_marker {
    int seen;
    int64_t epoch;
    char worker[64];
    char nonce[32];
};

/* Applies one log entry (its JSON text and stream offset) inside the store's
 * open batch, advancing *pos. Returns 0 (applied or ignored by the rules) or
 * -1 when the replica must stop (divergence or a database error). */
int replica_apply(struct store *st, struct store_pos *pos, const char *body, size_t len,
                  int64_t offset, struct replica_marker *marker);

/* The reply body a request id is answered with, stored with it: the entry's
 * result, or {"error": ...}, as JSON text (malloc'd); its status in *status. */
char *replica_reply_of(const struct cJSON *entry, int *status);

#endif
