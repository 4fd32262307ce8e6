/*
 * checkpoint.c — see checkpoint.h: the znode that names the newest
 * checkpoint, and fetching one into a new database file.
 *
 * Fetching. Read ZK_ROOT/checkpoint; read the named stream (mq_file.h) into
 * <db>.fetch, checked against the znode's size and CRC; sync it, check the
 * position stored in the file, and rename it to <db>. The stream may be deleted under a reader
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

#include "clock.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "mq_file.h"
#include "store.h"
#include "worker.h"
#include "zk.h"

#define ATTEMPTS 3

/* ---------------------------------------------------------------- fetching */

/* One attempt at the checkpoint c: 0 when <db> holds it, verified. */
static int fetch_one(struct worker *w, const struct checkpoint_info *c, int64_t deadline)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.fetch", w->db_path);
    struct mq *m = mq_connect(w->amqp_url, 2000);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct mq_file_info fi = { .size = c->size, .parts = c->parts, .crc = c->crc };
    int rc = m && fd >= 0 && mq_file_fetch(m, c->queue, fd, &fi, deadline, &w->stop) == 0 && fsync(fd) == 0
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
