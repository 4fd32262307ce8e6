/*
 * store.h — a worker's SQLite database: the replicated tables plus the
 * replication bookkeeping, kept in the same file so that they commit
 * together.
 *
 * Invariants (each holds at every commit):
 *   - applied_seq is the seq of the last log entry whose effect is in the
 *     tables; entries are applied in seq order, each exactly once.
 *   - every request id applied (or rejected) up to applied_seq whose time
 *     (the ts of its log entry) is not below req_horizon is in the request
 *     table with its seq and its reply, so a redelivered request is answered
 *     from there instead of being applied again; older ones are forgotten
 *     at the commit (replica.h says why none of them can come back).
 *   - log_offset is the stream offset of the last log message consumed (-1:
 *     none) and log_bytes the log's size up to and including it (replica.h);
 *     max_epoch is the highest epoch of a marker seen in the log and
 *     incarnation that marker's nonce.
 *
 * Writes happen in batches: store_begin, then any number of store_apply
 * (each in a savepoint, so a rejected operation leaves no trace), then
 * store_commit with the new position. One writer connection per store; reads
 * use their own connections (store_reader), which WAL lets run concurrently
 * with the writer.
 */
#ifndef RS_STORE_H
#define RS_STORE_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct dbop;

struct store_pos {
    int64_t applied_seq;
    int64_t log_offset;
    int64_t log_bytes;
    int64_t max_epoch;
    int64_t incarnation;
    int64_t req_horizon;     /* ms: request ids recorded with a ts below it are forgotten */
};

struct store;

/* Opens (creating if needed) the database file and its schema. NULL on error. */
struct store *store_open(const char *path);
void store_close(struct store *st);

/* The position as of the last commit. */
struct store_pos store_position(const struct store *st);

int store_begin(struct store *st);
/* Commits the batch and records pos; request ids with a ts below
 * pos->req_horizon are deleted with it. 0 or -1. */
int store_commit(struct store *st, const struct store_pos *pos);
void store_rollback(struct store *st);

/* Applies a write operation inside the open batch. op_json is the
 * operation's JSON: for an insert with a master-chosen id (rides.ride_id)
 * the id is added to it, so the log entry carries it. Returns the status:
 * 200 with *result ({"changes": n[, "id": n]}) or 409 with a message in err
 * (a constraint failed; nothing changed). -1: a database error (the batch
 * must be rolled back). */
int store_apply(struct store *st, const struct dbop *op, struct cJSON *op_json,
                struct cJSON **result, char *err, size_t errlen);

/* Records a request id's outcome inside the open batch: its seq, the time
 * of its log entry (ms), and the status and JSON body to answer a
 * redelivery with. 0 or -1. */
int store_record(struct store *st, const char *rid, int64_t seq, int64_t ts, int status, const char *body);

/* Request ids remembered now (committed), for tests and status. -1 on error. */
int64_t store_request_count(struct store *st);

/* Looks a request id up (committed or in the open batch). 1: found, *seq,
 * *status and *body (malloc'd) set; 0: unknown; -1: error. */
int store_lookup(struct store *st, const char *rid, int64_t *seq, int *status, char **body);

/* A read-only connection to the same file, for one reader thread. */
struct store_reader;
struct store_reader *store_reader_open(const char *path);
void store_reader_close(struct store_reader *r);
/* Runs a select or count; *result is the JSON text {"rows": [...]} (with
 * "more": true|false when the select has max_bytes) or {"count": n}
 * (malloc'd). 0, or -1 with err set. */
int store_read(struct store_reader *r, const struct dbop *op, char **result,
               char *err, size_t errlen);

/* Copies the committed state of the database at src_path — tables and
 * bookkeeping, one consistent read snapshot — into a new file dst_path
 * (replaced if it exists), and returns its position in *pos. The copy is a
 * complete store: store_open on it resumes from *pos. Runs on its own
 * read-only connection, so the writer goes on meanwhile. 0 or -1. */
int store_dump(const char *src_path, const char *dst_path, struct store_pos *pos);

/* The position committed in the database file at path, without opening it
 * as a store (a copy being checked before use). 0 or -1. */
int store_peek(const char *path, struct store_pos *pos);

/* Restoring a backup (backupfile.h) replaces every replicated table's rows
 * with the backup's, as one write of the batch. SQLite attaches a file only
 * outside a transaction, so it goes: store_restore_attach (before
 * store_begin), store_restore (inside the batch; counts in *users, *rides,
 * *members), then store_restore_detach (after the commit or rollback).
 * Ride ids are never reused: the next one stays above both the store's and
 * the backup's. Each 0, or -1 with err set (store_restore: the batch must be
 * rolled back). */
struct backup_meta;
int store_restore_attach(struct store *st, const char *backup_path, char *err, size_t errlen);
int store_restore(struct store *st, int64_t *users, int64_t *rides, int64_t *members, char *err, size_t errlen);
void store_restore_detach(struct store *st);

/* Makes a backup (backupfile.h) of the committed state of the database at
 * src_path into the new file out_path: the replicated tables of one read
 * transaction (the writer goes on meanwhile) and rs_backup with meta's
 * made_at_ms and made_by, and the seq and epoch of that state (set in
 * *meta). 0, or -1 with err set and no file left. */
int store_backup(const char *src_path, const char *out_path, struct backup_meta *meta, char *err, size_t errlen);

#endif
