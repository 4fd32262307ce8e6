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
    m->nonce = 0;
    json_get_int(e, "nonce", &m->nonce);
    snprintf(m->worker, sizeof m->worker, "%s", json_get_str(e, "marker") ? json_get_str(e, "marker") : "");
}

void replica_note_time(struct store_pos *pos, int64_t ts, int64_t window_ms)
{
    if (ts - window_ms > pos->req_horizon) pos->req_horizon = ts - window_ms;
}

/* Incarnations are ordered: by epoch, then by the counter a master
 * process numbers its takeovers with. <0, 0, >0 as (e, i) is before, at,
 * after the replica's current one. */
static int incarnation_cmp(const struct store_pos *pos, int64_t e, int64_t i)
{
    if (e != pos->max_epoch) return e < pos->max_epoch ? -1 : 1;
    return i < pos->incarnation ? -1 : i > pos->incarnation;
}

int replica_restore_parse(const cJSON *o, struct replica_restore *r)
{
    const char *stream = json_get_str(o, "stream");
    int64_t crc;
    if (!stream || strlen(stream) >= sizeof r->stream || json_get_int(o, "size", &r->size) ||
        json_get_int(o, "parts", &r->parts) || json_get_int(o, "crc", &crc) || r->size <= 0 || r->parts <= 0)
        return -1;
    snprintf(r->stream, sizeof r->stream, "%s", stream);
    r->crc = (uint32_t)crc;
    return 0;
}

int replica_restore_needed(const struct store_pos *pos, const char *body, size_t len, struct replica_restore *r)
{
    if (!memmem(body, len, "\"restore\"", 9)) return 0; /* the common case, without parsing */
    cJSON *e = json_parse(body, len);
    int64_t epoch, inc = 0, seq, status;
    int needed = e && json_get_int(e, "epoch", &epoch) == 0 && json_get_int(e, "seq", &seq) == 0 &&
                 json_get_int(e, "status", &status) == 0 && status == 200 && !json_get_str(e, "marker") &&
                 json_get_int(e, "inc", &inc) == 0 && incarnation_cmp(pos, epoch, inc) == 0 &&
                 seq == pos->applied_seq + 1 &&
                 replica_restore_parse(cJSON_GetObjectItemCaseSensitive(e, "restore"), r) == 0;
    cJSON_Delete(e);
    return needed;
}

/* Applies a restore entry's effect; the backup is attached. 0, or -1 when
 * it does not give what the master's did (the replica diverged). */
static int apply_restore(struct store *st, const cJSON *e, int64_t seq)
{
    int64_t users, rides, members, want[3] = { -1, -1, -1 };
    char err[256] = "";
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(e, "result");
    json_get_int(res, "users", &want[0]);
    json_get_int(res, "rides", &want[1]);
    json_get_int(res, "members", &want[2]);
    if (store_restore(st, &users, &rides, &members, err, sizeof err) || users != want[0] || rides != want[1] ||
        members != want[2]) {
        log_error("restore entry does not apply: replica diverged seq=%lld err=\"%s\"", (long long)seq, err);
        return -1;
    }
    log_info("restored a backup seq=%lld users=%lld rides=%lld members=%lld", (long long)seq, (long long)users,
             (long long)rides, (long long)members);
    return 0;
}

int replica_apply(struct store *st, struct store_pos *pos, const char *body, size_t len,
                  int64_t offset, int64_t window_ms, struct replica_marker *marker)
{
    if (marker) marker->seen = 0;
    if (offset >= 0) pos->log_offset = offset;
    pos->log_bytes += (int64_t)len + REPLICA_MSG_OVERHEAD;
    cJSON *e = json_parse(body, len);
    int64_t epoch, seq, status, inc = 0, ts = 0;
    if (!e || json_get_int(e, "epoch", &epoch)) {
        /* Not ours: every replica skips it alike, so skipping keeps them equal. */
        log_warn("skipping malformed log entry offset=%lld", (long long)offset);
        cJSON_Delete(e);
        return REPLICA_OK;
    }
    int rc = REPLICA_OK;
    if (json_get_str(e, "marker")) {
        take_marker(e, epoch, marker);
        json_get_int(e, "nonce", &inc);
        if (incarnation_cmp(pos, epoch, inc) > 0) {
            pos->max_epoch = epoch;
            pos->incarnation = inc;
        }
        goto done;
    }
    const char *rid = json_get_str(e, "rid");
    if (json_get_int(e, "seq", &seq) || json_get_int(e, "status", &status) || !rid) {
        log_warn("skipping malformed log entry offset=%lld", (long long)offset);
        goto done;
    }
    json_get_int(e, "inc", &inc);
    json_get_int(e, "ts", &ts);
    int cmp = incarnation_cmp(pos, epoch, inc);
    if (cmp < 0) goto done; /* fenced: a replaced master's, or an abandoned incarnation's */
    if (cmp > 0 || seq > pos->applied_seq + 1) {
        /* Its marker, or entries before it, never reached us: the log lost
         * them under us (retention), and what this replica holds can no
         * longer be completed from the log. */
        log_warn("log gap: entries this replica needs are gone epoch=%lld inc=%lld seq=%lld max_epoch=%lld "
                 "incarnation=%lld applied_seq=%lld offset=%lld", (long long)epoch, (long long)inc,
                 (long long)seq, (long long)pos->max_epoch, (long long)pos->incarnation,
                 (long long)pos->applied_seq, (long long)offset);
        rc = REPLICA_GAP;
        goto done;
    }
    if (seq <= pos->applied_seq) goto done; /* a copy */
    if (status == 200 && cJSON_GetObjectItemCaseSensitive(e, "restore")) {
        if (apply_restore(st, e, seq)) {
            rc = REPLICA_FATAL;
            goto done;
        }
    } else if (status == 200) {
        cJSON *opj = cJSON_GetObjectItemCaseSensitive(e, "op");
        struct dbop op;
        cJSON *result = NULL;
        char err[256];
        if (dbop_parse(opj, DBOP_ALLOW_AUTO | DBOP_ALLOW_CLEAR, &op, err, sizeof err) ||
            store_apply(st, &op, opj, &result, err, sizeof err) != 200) {
            log_error("log entry does not apply: replica diverged seq=%lld err=%s", (long long)seq, err);
            rc = REPLICA_FATAL;
            goto done;
        }
        cJSON_Delete(result);
    }
    int reply_status;
    char *reply = replica_reply_of(e, &reply_status);
    rc = store_record(st, rid, seq, ts, reply_status, reply) ? REPLICA_FATAL : REPLICA_OK;
    free(reply);
    if (rc == REPLICA_OK) {
        pos->applied_seq = seq;
        replica_note_time(pos, ts, window_ms);
    }
done:
    cJSON_Delete(e);
    return rc;
}
