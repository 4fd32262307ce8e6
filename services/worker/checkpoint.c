/*
 * checkpoint.c — see checkpoint.h: the znode that names the newest
 * checkpoint, and fetching one into a new database file.
 *
 * Fetching. Read ZK_ROOT/checkpoint; consume the named stream from its first
 * message, writing each part to <db>.fetch while the CRC runs over it; then
 * check size and CRC against the znode, sync, check the position stored in
 * the file, and rename it to <db>. The stream may be deleted under a reader
 * (a newer checkpoint was completed meanwhile): the broker cancels the
 * consumer and the fetch starts over from the znode, up to a few times,
 * within w->ckpt_timeout_ms. Every wait is sliced so that SIGTERM ends it at
 * once.
 */
#include "checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checksum.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "store.h"
#include "worker.h"
#include "zk.h"

#define PART_WAIT_MS 5000
#define ATTEMPTS 3

/* ------------------------------------------------------------------ znode */

static void node_path(const char *zk_root, char *path, size_t n)
{
    snprintf(path, n, "%s/checkpoint", zk_root);
}

static int parse_info(const cJSON *j, struct checkpoint_info *c)
{
    const char *q = json_get_str(j, "queue"), *by = json_get_str(j, "by");
    int64_t crc = 0;
    if (!q || json_get_int(j, "seq", &c->seq) || json_get_int(j, "offset", &c->offset) ||
        json_get_int(j, "log_bytes", &c->log_bytes) || json_get_int(j, "epoch", &c->epoch) ||
        json_get_int(j, "size", &c->size) || json_get_int(j, "parts", &c->parts) ||
        json_get_int(j, "crc", &crc) || json_get_int(j, "at_ms", &c->at_ms))
        return -1;
    snprintf(c->queue, sizeof c->queue, "%s", q);
    snprintf(c->by, sizeof c->by, "%s", by ? by : "");
    c->crc = (uint32_t)crc;
    return 0;
}

int checkpoint_read(struct zk *zk, const char *zk_root, struct checkpoint_znode *z, int *version)
{
    char path[300], data[8192];
    memset(z, 0, sizeof *z);
    node_path(zk_root, path, sizeof path);
    int n = zk_get_versioned(zk, path, data, sizeof data, version);
    if (n == -2) {
        *version = -1;
        return 0;
    }
    if (n < 0) return -1;
    cJSON *j = json_parse(data, (size_t)n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        log_error("checkpoint znode unreadable path=%s", path);
        return -1;
    }
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(j, "current");
    int rc = 0;
    if (cJSON_IsObject(cur)) {
        rc = parse_info(cur, &z->current);
        z->present = rc == 0;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(j, "garbage"))
        if (cJSON_IsString(g) && z->ngarbage < CHECKPOINT_GARBAGE_MAX)
            snprintf(z->garbage[z->ngarbage++], sizeof z->garbage[0], "%s", g->valuestring);
    cJSON_Delete(j);
    if (rc) log_error("checkpoint znode unreadable path=%s", path);
    return rc;
}

int checkpoint_write(struct zk *zk, const char *zk_root, const struct checkpoint_znode *z, int version)
{
    char path[300];
    node_path(zk_root, path, sizeof path);
    cJSON *j = cJSON_CreateObject();
    if (z->present) {
        const struct checkpoint_info *c = &z->current;
        cJSON *o = cJSON_AddObjectToObject(j, "current");
        cJSON_AddStringToObject(o, "queue", c->queue);
        json_add_int(o, "seq", c->seq);
        json_add_int(o, "offset", c->offset);
        json_add_int(o, "log_bytes", c->log_bytes);
        json_add_int(o, "epoch", c->epoch);
        json_add_int(o, "size", c->size);
        json_add_int(o, "parts", c->parts);
        json_add_int(o, "crc", c->crc);
        cJSON_AddStringToObject(o, "by", c->by);
        json_add_int(o, "at_ms", c->at_ms);
    } else {
        cJSON_AddNullToObject(j, "current");
    }
    cJSON *g = cJSON_AddArrayToObject(j, "garbage");
    for (int i = 0; i < z->ngarbage; i++) cJSON_AddItemToArray(g, cJSON_CreateString(z->garbage[i]));
    char *text = json_print(j);
    cJSON_Delete(j);
    int rc = zk_set_versioned(zk, path, text, strlen(text), version);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- fetching */

/* Receives the parts of c into fd. 0 when all came and match c. */
static int receive(struct worker *w, struct mq *m, int fd, const struct checkpoint_info *c, int64_t deadline)
{
    int64_t next = 0, written = 0;
    uint32_t crc = 0;
    while (next < c->parts) {
        int64_t part_deadline = clock_ms() + PART_WAIT_MS;
        if (part_deadline > deadline) part_deadline = deadline;
        struct mq_message msg;
        int got = 0;
        while (got == 0 && !w->stop && clock_ms() < part_deadline) got = mq_next(m, &msg, 100);
        if (got <= 0) {
            if (!w->stop) log_warn("checkpoint: no part in time part=%lld queue=%s", (long long)next, c->queue);
            return -1;
        }
        int64_t part = -1, parts = -1, size = -1, seq = -1;
        int ok = mq_header(&msg, "part", &part) && mq_header(&msg, "parts", &parts) &&
                 mq_header(&msg, "size", &size) && mq_header(&msg, "seq", &seq) && part == next &&
                 parts == c->parts && size == c->size && seq == c->seq &&
                 written + (int64_t)msg.len <= c->size && write(fd, msg.body, msg.len) == (ssize_t)msg.len;
        if (ok) {
            crc = crc32c(crc, msg.body, msg.len);
            written += (int64_t)msg.len;
            next++;
            mq_ack(m, msg.delivery_tag, 0); /* flow control on a stream, nothing more */
        } else {
            log_warn("checkpoint: bad part part=%lld expected=%lld queue=%s", (long long)part,
                     (long long)next, c->queue);
        }
        mq_message_free(&msg);
        if (!ok) return -1;
    }
    if (written != c->size || crc != c->crc) {
        log_warn("checkpoint: copy does not match its checksum queue=%s size=%lld/%lld crc=%08x/%08x", c->queue,
                 (long long)written, (long long)c->size, crc, c->crc);
        return -1;
    }
    return 0;
}

/* One attempt at the checkpoint c: 0 when <db> holds it, verified. */
static int fetch_one(struct worker *w, const struct checkpoint_info *c, int64_t deadline)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.fetch", w->db_path);
    struct mq *m = mq_connect(w->amqp_url, 2000);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = m && fd >= 0 && mq_qos(m, 4) == 0 && mq_consume(m, c->queue, "first", 0) == 0 &&
                     receive(w, m, fd, c, deadline) == 0 && fsync(fd) == 0
                 ? 0 : -1;
    mq_close(m);
    if (fd >= 0) close(fd);
    struct store_pos pos;
    if (rc == 0 && (store_peek(tmp, &pos) || pos.applied_seq != c->seq || pos.log_offset != c->offset ||
                    pos.max_epoch != c->epoch || pos.log_bytes != c->log_bytes)) {
        log_warn("checkpoint: position inside the copy is not the znode's queue=%s", c->queue);
        rc = -1;
    }
    if (rc == 0 && rename(tmp, w->db_path) != 0) rc = -1;
    if (rc) remove(tmp);
    return rc;
}

int checkpoint_fetch(struct worker *w, int64_t min_seq, struct checkpoint_info *got)
{
    if (!*w->zk_hosts) return 0;
    int64_t t0 = clock_ms(), deadline = t0 + w->ckpt_timeout_ms;
    struct zk *zk = zk_open(w->zk_hosts, 4000, 2000, NULL, NULL);
    if (!zk) return -1;
    int rc = -1;
    for (int attempt = 0; attempt < ATTEMPTS && !w->stop && clock_ms() < deadline; attempt++) {
        struct checkpoint_znode z;
        int version;
        if (checkpoint_read(zk, w->zk_root, &z, &version)) break;
        if (!z.present || z.current.seq <= min_seq) {
            log_info("no checkpoint to start from newest_seq=%lld applied_seq=%lld",
                     (long long)(z.present ? z.current.seq : 0), (long long)min_seq);
            rc = 0;
            break;
        }
        if (fetch_one(w, &z.current, deadline) == 0) {
            *got = z.current;
            log_info("started from checkpoint queue=%s seq=%lld offset=%lld bytes=%lld took_ms=%lld",
                     z.current.queue, (long long)z.current.seq, (long long)z.current.offset,
                     (long long)z.current.size, (long long)(clock_ms() - t0));
            rc = 1;
            break;
        }
        if (!w->stop) log_warn("checkpoint fetch failed; reading the znode again attempt=%d", attempt + 1);
    }
    zk_close(zk);
    return rc;
}
