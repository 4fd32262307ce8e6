/* restore.c — see restore.h. */
#include "restore.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "backupfile.h"
#include "clock.h"
#include "log.h"
#include "mq.h"
#include "mq_file.h"
#include "replica.h"
#include "worker.h"

int restore_fetch(struct worker *w, const struct replica_restore *r, char *path, size_t n, char *err,
                  size_t errlen)
{
    snprintf(path, n, "%s.restore", w->db_path);
    int64_t t0 = clock_ms();
    struct mq *m = mq_connect(w->amqp_url, 2000);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct mq_file_info fi = { .size = r->size, .parts = r->parts, .crc = r->crc };
    int rc = m && fd >= 0 && mq_file_fetch(m, r->stream, fd, &fi, clock_ms() + w->ckpt_timeout_ms, &w->stop) == 0
                 ? 0 : -1;
    if (rc) snprintf(err, errlen, "the backup's stream %s is missing, incomplete or corrupt", r->stream);
    mq_close(m);
    if (fd >= 0) close(fd);
    struct backup_meta meta;
    if (rc == 0 && backupfile_check(path, &meta, err, errlen)) rc = -1;
    if (rc) {
        remove(path);
        log_warn("restore: cannot use the backup stream=%s err=\"%s\"", r->stream, err);
        return -1;
    }
    log_info("restore: backup fetched stream=%s bytes=%lld seq=%lld took_ms=%lld", r->stream, (long long)r->size,
             (long long)meta.seq, (long long)(clock_ms() - t0));
    return 0;
}

void restore_done(const char *path)
{
    remove(path);
}
