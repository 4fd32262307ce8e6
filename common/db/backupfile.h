/*
 * backupfile.h — the backup format: what GET /api/v1/backup gives, what the
 * scheduled backups keep, what POST /api/v1/restore takes.
 *
 * A backup is a SQLite database file in rollback-journal mode holding the
 * replicated tables of dbschema.h with their rows — users, rides, ride
 * memberships — plus one table of its own, rs_backup(k, v), with the rows
 * format (BACKUP_FORMAT), seq (the log position its data is at), epoch,
 * made_at_ms and made_by (the worker that made it). Nothing else: request
 * ids matter only for a window of seconds and no replica's position is
 * worth restoring; the services' _count counters are not data at all.
 *
 * A file is a backup only if backupfile_check says so: SQLite's
 * integrity_check passes, the format row is ours, every table of the schema
 * is there with exactly its columns, and there is no other table (SQLite's
 * own sqlite_sequence aside). Its checksum travels beside it (the HTTP
 * header X-Rideshare-Checksum, the ".json" file next to a scheduled backup):
 * CRC-32C of the whole file, as checksum.h computes it.
 */
#ifndef RS_BACKUPFILE_H
#define RS_BACKUPFILE_H

#include <stddef.h>
#include <stdint.h>

#define BACKUP_FORMAT "rideshare-backup-1"

struct backup_meta {
    int64_t seq, epoch, made_at_ms;
    char made_by[64];
};

/* Checks the file at path (read-only: it is left exactly as it was). 0 with
 * *meta filled; -1 with a message for the operator in err. */
int backupfile_check(const char *path, struct backup_meta *meta, char *err, size_t n);

#endif
