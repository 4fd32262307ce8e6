/*
 * backups.h — taking backups (common/db/backupfile.h) and keeping scheduled
 * ones; restoring one is restore.h.
 *
 * Taking one: a request on backupQ, answered by one ready slave
 * (services/worker/backup.c) with the stream it filled; the file is read
 * from the stream into BACKUP_DIR under a hidden temporary name, checked
 * (the stream's CRC-32C as it arrives, then backupfile_check: SQLite's
 * integrity_check, the schema, the format), and the stream is deleted. The
 * master is never involved: a backup costs the write path nothing.
 *
 * Scheduled ones: with BACKUP_INTERVAL_S, a thread takes one every interval
 * into BACKUP_DIR/backup-<UTC time>-seq<N>.db with a sidecar .json
 * {seq, epoch, crc, size, made_at_ms, made_by}, and only once the new one is
 * complete and verified deletes the oldest beyond BACKUP_KEEP. A backup
 * that fails leaves the kept ones as they were.
 */
#ifndef RS_BACKUPS_H
#define RS_BACKUPS_H

#include <stddef.h>
#include <stdint.h>

#include "backupfile.h"

struct rpc;

struct backups_config {
    const char *amqp_url;
    const char *dir;             /* BACKUP_DIR: created if missing */
    int interval_s;              /* 0: no scheduled backups */
    int keep;                    /* scheduled backups kept, at least 1 */
    int timeout_ms;              /* one backup, request to verified file */
    struct rpc *rpc;
};

/* A backup taken: its file and what describes it. */
struct backup_taken {
    char path[1024];
    char name[128];              /* the file's name in the directory */
    struct backup_meta meta;
    int64_t size;
    uint32_t crc;
};

struct backups;

/* Creates the directory and starts the scheduler (if an interval is set).
 * NULL if the directory cannot be made. */
struct backups *backups_start(const struct backups_config *cfg);
void backups_stop(struct backups *b);

/* Takes a backup into the directory: as a scheduled one (kept = 1: its
 * final name and sidecar) or under a hidden temporary name for the caller
 * to serve and remove (kept = 0). Returns 200, or 503 (no ready slave, the
 * broker, a timeout) / 500 (a file that does not check out) with the
 * reason in err. */
int backups_take(struct backups *b, int kept, struct backup_taken *out, char *err, size_t n);

/* The directory, for restore.h. */
const char *backups_dir(const struct backups *b);

#endif
