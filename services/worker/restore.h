/*
 * restore.h — a backup restored through the log.
 *
 * POST /api/v1/restore (the orchestrator) puts a verified backup file into a
 * stream of its own and sends the master a write {"restore": {stream, size,
 * parts, crc}}. The master fetches the file, checks it (checksum, then
 * backupfile_check), replaces every replicated table's rows with the
 * backup's in one transaction and appends a restore entry (protocol.h);
 * every replica applies that entry the same way, fetching the same file. So
 * a restore is one entry of the log like any write: a replica that replays
 * the log, or starts from a checkpoint taken before it, goes through it and
 * ends with exactly the backup's data; nothing before it can come back, and
 * whatever is written after it applies on top of it.
 *
 * Both sides apply it in a batch of its own (SQLite attaches the file only
 * outside a transaction): restore_fetch, store_restore_attach, a batch with
 * the entry alone, store_restore_detach, restore_done.
 */
#ifndef RS_RESTORE_H
#define RS_RESTORE_H

#include <stddef.h>

struct worker;
struct replica_restore;

/* Fetches the backup r names into <db>.restore (its path in path) and
 * checks it. 0, or -1 with the reason in err and no file left. */
int restore_fetch(struct worker *w, const struct replica_restore *r, char *path, size_t n, char *err,
                  size_t errlen);

/* Removes the fetched file. */
void restore_done(const char *path);

#endif
