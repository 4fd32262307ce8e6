/*
 * backupapi.h — the backup routes of the orchestrator's admin API
 * (docs/api.md, "Backups"):
 *   GET  /api/v1/backup   a consistent backup of the current data, taken
 *                         from a ready slave (backups.h), as the response
 *                         body (application/vnd.sqlite3) with the headers
 *                         X-Rideshare-Seq, X-Rideshare-Epoch and
 *                         X-Rideshare-Checksum (crc32c:<hex>);
 *   GET  /api/v1/backups  the backup directory and the files in it (name,
 *                         size, and the sidecar of a scheduled backup);
 *   POST /api/v1/backups  a backup now, kept in the directory like a
 *                         scheduled one (it counts toward BACKUP_KEEP):
 *                         {"name", "dir", "seq", "epoch", "size", "crc"};
 *   POST /api/v1/restore  {"name": "<file in BACKUP_DIR>"}: the data becomes
 *                         exactly that backup's (restorer.h).
 */
#ifndef RS_BACKUPAPI_H
#define RS_BACKUPAPI_H

struct http_server;
struct backups;
struct restorer_config;

struct backupapi_config {
    struct backups *backups;
    const struct restorer_config *restorer;
};

struct backupapi;
struct backupapi *backupapi_register(struct http_server *srv, const struct backupapi_config *cfg);
void backupapi_free(struct backupapi *a);

#endif
