/*
 * replica.c — see replica.h.
 *
 * A log entry is the JSON of protocol.h. The reply stored with a request id
 * is derived from the entry alone (status, seq, result/error), so every
 * replica stores the same reply the master sent; whichever replica becomes
 * master can answer a redelivered request exactly as the first master did.
 */
#include "replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbop.h"
#include "json.h"
#include "log.h"

char *replica_reply_of(const cJSON *entry, int *status)
{
    int64_t st = 0;
    json_get_int(entry, "status", &st);
    *status = (int)st;
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(entry, "result");
    if (st == 200 && result) return json_print(result);
    const char *err = json_get_str(entry, "error");
    return json_error_text(err ? err : "request failed");
}

static void take_marker(const cJSON *e, int64_t epoch, struct replica_marker *m)
{
    if (!m) return;
    m->seen = 1;
    m->epoch = epoch;
    snprintf(m->worker, sizeof m->worker, "%s", json_get_str(e, "marker") ? json_get_str(e, "marker") : "");
    snprintf(m->nonce, sizeof m->nonce, "%s", json_get_str(e, "nonce") ? json_get_str(e, "nonce") : "");
}

int replica_apply(struct store *st, struct store_pos *pos, const char *body, size_t len,
                  int64_t offset, struct replica_marker *marker)
{
    if (marker) marker->seen = 0;
    if (offset >= 0) pos->log_offset = offset;
    cJSON *e = json_parse(body, len);
    int64_t epoch, seq, status;
    if (!e || json_get_int(e, "epoch", &epoch)) {
        /* Not ours: every replica skips it alike, so skipping keeps them equal. */
        log_warn("skipping malformed log entry offset=%lld", (long long)offset);
        cJSON_Delete(e);
        return 0;
    }
    int rc = 0;
    if (json_get_str(e, "marker")) {
        if (epoch > pos->max_epoch) pos->max_epoch = epoch;
        take_marker(e, epoch, marker);
        goto done;
    }
    const char *rid = json_get_str(e, "rid");
    if (json_get_int(e, "seq", &seq) || json_get_int(e, "status", &status) || !rid) {
        log_warn("skipping malformed log entry offset=%lld", (long long)offset);
        goto done;
    }
    if (epoch < pos->max_epoch || seq <= pos->applied_seq) goto done; /* fenced, or a copy */
    if (seq != pos->applied_seq + 1) {
        log_error("log gap: replica cannot continue applied=%lld next=%lld offset=%lld",
                  (long long)pos->applied_seq, (long long)seq, (long long)offset);
        rc = -1;
        goto done;
    }
    if (epoch > pos->max_epoch) pos->max_epoch = epoch;
    if (status == 200) {
        cJSON *opj = cJSON_GetObjectItemCaseSensitive(e, "op");
        struct dbop op;
        cJSON *result = NULL;
        char err[256];
        if (dbop_parse(opj, DBOP_ALLOW_AUTO | DBOP_ALLOW_CLEAR, &op, err, sizeof err) ||
            store_apply(st, &op, opj, &result, err, sizeof err) != 200) {
            log_error("log entry does not apply: replica diverged seq=%lld err=%s", (long long)seq, err);
            rc = -1;
            goto done;
        }
        cJSON_Delete(result);
    }
    int reply_status;
    char *reply = replica_reply_of(e, &reply_status);
    rc = store_record(st, rid, seq, reply_status, reply);
    free(reply);
    if (rc == 0) pos->applied_seq = seq;
done:
    cJSON_Delete(e);
    return rc;
}
