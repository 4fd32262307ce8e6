/*
 * restorer.h — POST /api/v1/restore: bringing the data back to a backup.
 *
 * A restore is an entry of the log (services/worker/restore.h): every
 * replica, old or new, goes through it, nothing before it survives it, and
 * writes after it apply on top. The orchestrator's part, in order:
 *   1. check the file in BACKUP_DIR: its name (the request's string is only
 *      ever compared with the directory's entries, never made into a path),
 *      SQLite's integrity_check, the schema and format (backupfile_check),
 *      and the CRC its sidecar .json names, if there is one. A file that
 *      fails is refused with a 400 and the reason, and nothing changes;
 *   2. list its stream-to-be in ZK_ROOT/checkpoint as retired "until a
 *      checkpoint past its seq", seq unknown yet, then publish the file as
 *      that stream (common/mq/mq_file.h);
 *   3. send the master {"restore": {stream, size, parts, crc}} through
 *      writeQ (dbapi_send_write: its request id, deadline and epoch check);
 *   4. on success, record the restore's seq in the retire entry and ask for a
 *      checkpoint at or past it ("wanted"): new replicas then start from the
 *      restored data, and the stream is deleted once they no longer need it;
 *   5. move the epoch forward: a planned switchover to the slave with the
 *      lowest PID, so that the master that applied the restore is replaced
 *      like after any change of hands.
 * If the master refuses the restore (the file does not go in), its stream is
 * retired at once and nothing has changed.
 */
#ifndef RS_RESTORER_H
#define RS_RESTORER_H

#include <stddef.h>

struct backups;
struct dbapi;
struct supervisor;
struct workers;
struct cJSON;

struct restorer_config {
    const char *amqp_url;
    const char *zk_hosts;
    const char *zk_root;
    int timeout_ms;              /* the whole restore */
    struct backups *backups;     /* its directory */
    struct dbapi *api;
    struct supervisor *sup;
    struct workers *ws;
};

/* Restores the backup file called name in the backup directory. Returns the
 * HTTP status (200 with *out = {"restored", "seq", "users", "rides",
 * "members", "epoch"}; 400 a file that is not a good backup; 404 no such
 * file; 409 a restore under way; 503 the broker, ZooKeeper or the master)
 * with the reason in err otherwise. */
int restorer_run(const struct restorer_config *cfg, const char *name, struct cJSON **out, char *err, size_t n);

#endif
