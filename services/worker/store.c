/*
 * store.c — see store.h.
 *
 * The file is in WAL mode with synchronous=NORMAL: a commit is durable
 * against a process crash (the WAL is written before commit returns) but may
 * lose the last transactions on power loss. That is enough here because the
 * replication log, not a replica's file, is the truth: a worker that crashed
 * is never reused, its replacement rebuilds from the log.
 *
 * Bookkeeping tables (names a client cannot reach: the schema in dbschema.c
 * does not list them, so no operation can name them):
 *   rs_meta(k, v)                           the position (struct store_pos)
 *   rs_requests(rid, seq, ts, status, body) outcome of each request id of
 *                                           the window (ts: its entry's time)
 * Forgetting old request ids costs one range delete on the ts index per
 * commit, proportional to the rows it removes: the table holds the window,
 * never the history.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupfile.h"
#include "dbop.h"
#include "dbschema.h"
#include "jsonout.h"
#include "json.h"
#include "log.h"
#include "sqlgen.h"

struct store {
    sqlite3 *db;
    struct store_pos pos;
    sqlite3_stmt *lookup, *record, *setmeta, *forget;
};

static const char bookkeeping_sql[] =
    "CREATE TABLE IF NOT EXISTS rs_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rs_requests (rid TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS rs_requests_ts ON rs_requests (ts);"
    "INSERT OR IGNORE INTO rs_meta VALUES ('applied_seq', 0), ('log_offset', -1), ('log_bytes', 0),"
    " ('max_epoch', 0), ('incarnation', 0), ('req_horizon', 0);";

/* The position's fields by their rs_meta key: one list for reading and writing. */
#define POS_FIELDS(X) X(applied_seq) X(log_offset) X(log_bytes) X(max_epoch) X(incarnation) X(req_horizon)
#define POS_COUNT 6

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite exec failed err=%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("sqlite prepare failed err=%s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Reads the position from rs_meta of schema ("main", or an attached
 * database's name); 0, or -1 if a key is missing. */
static int read_pos_of(sqlite3 *db, const char *schema, struct store_pos *pos)
{
    sqlite3_stmt *st;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT k, v FROM %s.rs_meta", schema);
    if (prepare(db, sql, &st)) return -1;
    int found = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (!k) continue;
#define READ_FIELD(f) if (strcmp(k, #f) == 0) { pos->f = v; found++; continue; }
        POS_FIELDS(READ_FIELD)
#undef READ_FIELD
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE && found == POS_COUNT ? 0 : -1;
}

static int read_pos(sqlite3 *db, struct store_pos *pos) { return read_pos_of(db, "main", pos); }

/* SQLITE_OPEN_URI lets ATTACH take "file:...?mode=ro" names (backups);
 * the paths opened here are plain paths, which it reads as they are. */
static sqlite3 *open_db(const char *path, int flags)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        log_error("sqlite open failed path=%s err=%s", path, db ? sqlite3_errmsg(db) : "oom");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

struct store *store_open(const char *path)
{
    sqlite3 *db = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!db) return NULL;
    struct store *st = calloc(1, sizeof *st);
    if (!st) abort();
    st->db = db;
    /* journal_size_limit: the WAL is truncated back to this after a checkpoint, so a burst (or a
     * long read holding one back) does not leave a large file behind for good. */
    if (exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                 " PRAGMA journal_size_limit=16777216;") ||
        exec(db, db_schema_sql) || exec(db, bookkeeping_sql) ||
        prepare(db, "SELECT seq, status, body FROM rs_requests WHERE rid = ?", &st->lookup) ||
        prepare(db, "INSERT INTO rs_requests (rid, seq, ts, status, body) VALUES (?, ?, ?, ?, ?)",
                &st->record) ||
        prepare(db, "UPDATE rs_meta SET v = ? WHERE k = ?", &st->setmeta) ||
        prepare(db, "DELETE FROM rs_requests WHERE ts < ?", &st->forget) || read_pos(db, &st->pos)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st) return;
    sqlite3_finalize(st->lookup);
    sqlite3_finalize(st->record);
    sqlite3_finalize(st->setmeta);
    sqlite3_finalize(st->forget);
    sqlite3_close(st->db);
    free(st);
}

struct store_pos store_position(const struct store *st) { return st->pos; }

int store_begin(struct store *st) { return exec(st->db, "BEGIN IMMEDIATE"); }

void store_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db)) exec(st->db, "ROLLBACK");
}

static int set_meta(struct store *st, const char *k, int64_t v)
{
    sqlite3_reset(st->setmeta);
    sqlite3_bind_int64(st->setmeta, 1, v);
    sqlite3_bind_text(st->setmeta, 2, k, -1, SQLITE_STATIC);
    return sqlite3_step(st->setmeta) == SQLITE_DONE ? 0 : -1;
}

/* Deletes the request ids older than the horizon — at every commit, also
 * when the horizon did not move: an entry may carry a time already below it
 * (another master's clock), and every replica must forget it alike whatever
 * its batch boundaries. Without such rows it is one index probe. */
static int forget_requests(struct store *st, int64_t horizon)
{
    sqlite3_reset(st->forget);
    sqlite3_bind_int64(st->forget, 1, horizon);
    return sqlite3_step(st->forget) == SQLITE_DONE ? 0 : -1;
}

int store_commit(struct store *st, const struct store_pos *pos)
{
    int rc = forget_requests(st, pos->req_horizon);
#define WRITE_FIELD(f) if (rc == 0) rc = set_meta(st, #f, pos->f);
    POS_FIELDS(WRITE_FIELD)
#undef WRITE_FIELD
    if (rc || exec(st->db, "COMMIT")) {
        log_error("commit failed err=%s", sqlite3_errmsg(st->db));
        store_rollback(st);
        return -1;
    }
    st->pos = *pos;
    return 0;
}

/* Runs one write statement and counts the rows it changed: the rows named
 * by the operation, not those a cascade took with them (a clear counts every
 * row it removed). On a constraint failure returns 409 with the message; the
 * caller's savepoint undoes any partial effect. */
static int run_write(struct store *st, const struct dbop *op, int *changes, char *err, size_t errlen)
{
    if (op->kind == DBOP_CLEAR) {
        char *msg = NULL;
        int before = sqlite3_total_changes(st->db);
        if (sqlite3_exec(st->db, sqlgen_clear_sql(), NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "%s", msg ? msg : "clear failed");
            sqlite3_free(msg);
            return -1;
        }
        *changes = sqlite3_total_changes(st->db) - before;
        return 200;
    }
    char sql[2048];
    sqlite3_stmt *stmt;
    if (sqlgen_build(op, sql, sizeof sql)) {
        snprintf(err, errlen, "operation too large");
        return -1;
    }
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
        return -1;
    }
    int rc = sqlgen_bind(stmt, op);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    *changes = sqlite3_changes(st->db);
    if (rc == SQLITE_DONE) return 200;
    snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
    return (rc & 0xff) == SQLITE_CONSTRAINT ? 409 : -1;
}

int store_apply(struct store *st, const struct dbop *op, cJSON *op_json,
                cJSON **result, char *err, size_t errlen)
{
    *result = NULL;
    if (exec(st->db, "SAVEPOINT op")) return -1;
    int changes = 0;
    int status = run_write(st, op, &changes, err, errlen);
    if (status != 200) {
        exec(st->db, "ROLLBACK TO op; RELEASE op");
        return status;
    }
    exec(st->db, "RELEASE op");
    cJSON *res = cJSON_CreateObject();
    json_add_int(res, "changes", changes);
    const struct db_table *t = op->table;
    if (op->kind == DBOP_INSERT && t->auto_col >= 0) {
        int64_t id = sqlite3_last_insert_rowid(st->db);
        json_add_int(res, "id", id);
        /* Carry the chosen id in the operation, so replicas insert the same row. */
        cJSON *values = cJSON_GetObjectItemCaseSensitive(op_json, "values");
        const char *col = t->cols[t->auto_col].name;
        if (values && !cJSON_GetObjectItemCaseSensitive(values, col)) json_add_int(values, col, id);
    }
    *result = res;
    return 200;
}

int store_record(struct store *st, const char *rid, int64_t seq, int64_t ts, int status, const char *body)
{
    sqlite3_reset(st->record);
    sqlite3_bind_text(st->record, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->record, 2, seq);
    sqlite3_bind_int64(st->record, 3, ts);
    sqlite3_bind_int(st->record, 4, status);
    sqlite3_bind_text(st->record, 5, body, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st->record);
    sqlite3_clear_bindings(st->record);
    if (rc != SQLITE_DONE) {
        log_error("recording request failed rid=%s err=%s", rid, sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

int store_lookup(struct store *st, const char *rid, int64_t *seq, int *status, char **body)
{
    sqlite3_reset(st->lookup);
    sqlite3_bind_text(st->lookup, 1, rid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st->lookup), found = 0;
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st->lookup, 0);
        *status = sqlite3_column_int(st->lookup, 1);
        *body = strdup((const char *)sqlite3_column_text(st->lookup, 2));
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_reset(st->lookup);
    sqlite3_clear_bindings(st->lookup);
    return found;
}

int64_t store_request_count(struct store *st)
{
    sqlite3_stmt *q;
    int64_t n = -1;
    if (prepare(st->db, "SELECT COUNT(*) FROM rs_requests", &q)) return -1;
    if (sqlite3_step(q) == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* Prepared statements of a reader, by SQL text: reads come in a few shapes
 * (sqlgen makes the same text for the same shape), so preparing each once
 * saves most of a small query's cost. */
#define READER_CACHE 16

struct store_reader {
    sqlite3 *db;
    struct { char *sql; sqlite3_stmt *stmt; } cache[READER_CACHE];
    unsigned next;   /* round-robin eviction */
};

struct store_reader *store_reader_open(const char *path)
{
    sqlite3 *db = open_db(path, SQLITE_OPEN_READONLY);
    if (!db) return NULL;
    struct store_reader *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->db = db;
    return r;
}

void store_reader_close(struct store_reader *r)
{
    if (!r) return;
    for (int i = 0; i < READER_CACHE; i++) {
        sqlite3_finalize(r->cache[i].stmt);
        free(r->cache[i].sql);
    }
    sqlite3_close(r->db);
    free(r);
}

static sqlite3_stmt *reader_stmt(struct store_reader *r, const char *sql)
{
    for (int i = 0; i < READER_CACHE; i++)
        if (r->cache[i].sql && strcmp(r->cache[i].sql, sql) == 0) {
            sqlite3_reset(r->cache[i].stmt);
            sqlite3_clear_bindings(r->cache[i].stmt);
            return r->cache[i].stmt;
        }
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) return NULL;
    unsigned i = r->next++ % READER_CACHE;
    sqlite3_finalize(r->cache[i].stmt);
    free(r->cache[i].sql);
    r->cache[i].sql = strdup(sql);
    r->cache[i].stmt = stmt;
    return stmt;
}

static void column_json(struct jsonout *o, sqlite3_stmt *stmt, int i)
{
    if (sqlite3_column_type(stmt, i) == SQLITE_INTEGER) {
        jo_int(o, sqlite3_column_int64(stmt, i));
    } else {
        const char *s = (const char *)sqlite3_column_text(stmt, i);
        jo_str(o, s ? s : "", (size_t)sqlite3_column_bytes(stmt, i));
    }
}

int store_read(struct store_reader *r, const struct dbop *op, char **result,
               char *err, size_t errlen)
{
    char sql[2048];
    *result = NULL;
    if (sqlgen_build(op, sql, sizeof sql)) {
        snprintf(err, errlen, "operation too large");
        return -1;
    }
    sqlite3_stmt *stmt = reader_stmt(r, sql);
    if (!stmt) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(r->db));
        return -1;
    }
    int rc = sqlgen_bind(stmt, op);
    struct jsonout o = { 0 };
    if (op->kind == DBOP_COUNT) {
        if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            jo_raw(&o, "{\"count\":", 9);
            jo_int(&o, sqlite3_column_int64(stmt, 0));
            jo_raw(&o, "}", 1);
            rc = SQLITE_DONE;
        }
    } else if (rc == SQLITE_OK) {
        /* max_bytes: the row that takes the text past it is the last; one
         * more step says whether any was left out ("more"). */
        jo_raw(&o, "{\"rows\":[", 9);
        int n = sqlite3_column_count(stmt), rows = 0, more = 0;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (rows && op->max_bytes > 0 && o.len > (size_t)op->max_bytes) {
                more = 1;
                rc = SQLITE_DONE;
                break;
            }
            if (rows++) jo_raw(&o, ",", 1);
            jo_raw(&o, "{", 1);
            for (int i = 0; i < n; i++) {
                const char *name = sqlite3_column_name(stmt, i);
                if (i) jo_raw(&o, ",", 1);
                jo_str(&o, name, strlen(name));
                jo_raw(&o, ":", 1);
                column_json(&o, stmt, i);
            }
            jo_raw(&o, "}", 1);
        }
        jo_raw(&o, "]", 1);
        if (op->max_bytes > 0) jo_raw(&o, more ? ",\"more\":true" : ",\"more\":false", more ? 12 : 13);
        jo_raw(&o, "}", 1);
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(r->db));
        free(o.buf);
        sqlite3_reset(stmt);
        return -1;
    }
    sqlite3_reset(stmt);
    *result = o.buf;
    return 0;
}

/* ------------------------------------------------------------------ copies */

/*
 * A checkpoint (checkpointer.c) uses SQLite's online backup from a
 * read-only connection: one backup step over every page runs inside one read
 * transaction, and WAL lets that see the last commit while the writer goes
 * on. The destination is written without a journal or syncs: it is a new
 * file that nobody opens until it is complete, read back at once through
 * the page cache; the replica that receives it makes its own copy durable.
 */
int store_dump(const char *src_path, const char *dst_path, struct store_pos *pos)
{
    remove(dst_path);
    sqlite3 *src = open_db(src_path, SQLITE_OPEN_READONLY);
    sqlite3 *dst = src ? open_db(dst_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : NULL;
    int rc = -1;
    if (dst && exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") == 0) {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        int step = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        if (b) sqlite3_backup_finish(b);
        if (step != SQLITE_DONE)
            log_error("sqlite backup failed err=%s", sqlite3_errmsg(dst));
        else
            rc = read_pos(dst, pos);
    }
    sqlite3_close(dst);
    sqlite3_close(src);
    if (rc) remove(dst_path);
    return rc;
}

int store_peek(const char *path, struct store_pos *pos)
{
    sqlite3 *db = open_db(path, SQLITE_OPEN_READWRITE);
    int rc = db ? read_pos(db, pos) : -1;
    sqlite3_close(db);
    return rc;
}

/* ---------------------------------------------------------------- backups */

/*
 * Both directions move rows table by table with INSERT ... SELECT between
 * this database and an attached one; every name in the SQL comes from the
 * schema (dbschema.h), never from a file or the network, and the attached
 * file's own name is a bound parameter.
 */

/* "a, b, c": the columns of t. */
static void column_list(const struct db_table *t, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ncols && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", t->cols[i].name);
}

/* Copies every table's rows from schema `from` into `into` ("main", "src"
 * or "bk"); adds the row counts to counts[] (one per table) if given. */
static int copy_tables(sqlite3 *db, const char *from, const char *into, int64_t *counts, char *err, size_t n)
{
    char cols[256], sql[700];
    for (int i = 0; i < db_ntables; i++) {
        const struct db_table *t = &db_tables[i];
        column_list(t, cols, sizeof cols);
        snprintf(sql, sizeof sql, "INSERT INTO %s.%s (%s) SELECT %s FROM %s.%s", into, t->name, cols, cols, from,
                 t->name);
        char *msg = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, n, "copying %s: %s", t->name, msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            return -1;
        }
        if (counts) counts[i] = sqlite3_changes(db);
    }
    return 0;
}

static int attach(sqlite3 *db, const char *path, const char *as, char *err, size_t n)
{
    char *uri = sqlite3_mprintf("file:%s?mode=ro", path);
    char sql[64];
    snprintf(sql, sizeof sql, "ATTACH DATABASE ? AS %s", as);
    sqlite3_stmt *st = NULL;
    int rc = uri && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
                     sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE
                 ? 0 : -1;
    if (rc) snprintf(err, n, "cannot attach %s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_free(uri);
    return rc;
}

int store_backup(const char *src_path, const char *out_path, struct backup_meta *meta, char *err, size_t errlen)
{
    remove(out_path);
    sqlite3 *db = open_db(out_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    struct store_pos pos = { 0 };
    int rc = db && exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") == 0 &&
                     exec(db, db_schema_sql) == 0 &&
                     exec(db, "CREATE TABLE rs_backup (k TEXT PRIMARY KEY, v NOT NULL);") == 0
                 ? 0 : -1;
    if (rc) snprintf(err, errlen, "cannot create %s", out_path);
    if (rc == 0) rc = attach(db, src_path, "src", err, errlen);
    /* One read transaction over the source: the rows and the position of one commit. */
    if (rc == 0 && (exec(db, "BEGIN") || copy_tables(db, "src", "main", NULL, err, errlen) ||
                    exec(db, "INSERT INTO main.sqlite_sequence SELECT * FROM src.sqlite_sequence") ||
                    read_pos_of(db, "src", &pos))) {
        if (!*err) snprintf(err, errlen, "reading %s: %s", src_path, sqlite3_errmsg(db));
        rc = -1;
    }
    if (rc == 0) {
        meta->seq = pos.applied_seq;
        meta->epoch = pos.max_epoch;
        sqlite3_stmt *st;
        rc = prepare(db, "INSERT INTO rs_backup VALUES ('format', ?), ('seq', ?), ('epoch', ?), "
                         "('made_at_ms', ?), ('made_by', ?)", &st);
        if (rc == 0) {
            sqlite3_bind_text(st, 1, BACKUP_FORMAT, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, meta->seq);
            sqlite3_bind_int64(st, 3, meta->epoch);
            sqlite3_bind_int64(st, 4, meta->made_at_ms);
            sqlite3_bind_text(st, 5, meta->made_by, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            sqlite3_finalize(st);
        }
        if (rc == 0) rc = exec(db, "COMMIT");
        if (rc) snprintf(err, errlen, "writing the backup: %s", sqlite3_errmsg(db));
    }
    if (db && !sqlite3_get_autocommit(db)) exec(db, "ROLLBACK");
    if (db) exec(db, "DETACH DATABASE src");
    /* A plain file: no journal or WAL beside it once closed. */
    if (rc == 0 && exec(db, "PRAGMA journal_mode=DELETE")) rc = -1;
    sqlite3_close(db);
    if (rc) remove(out_path);
    return rc;
}

int store_restore_attach(struct store *st, const char *backup_path, char *err, size_t errlen)
{
    return attach(st->db, backup_path, "bk", err, errlen);
}

void store_restore_detach(struct store *st)
{
    exec(st->db, "DETACH DATABASE bk");
}

int store_restore(struct store *st, int64_t *users, int64_t *rides, int64_t *members, char *err, size_t errlen)
{
    if (exec(st->db, "SAVEPOINT restore")) return -1;
    char sql[800];
    int rc = 0;
    for (int i = db_ntables - 1; i >= 0 && rc == 0; i--) { /* children first: every row by its own statement */
        snprintf(sql, sizeof sql, "DELETE FROM main.%s", db_tables[i].name);
        rc = exec(st->db, sql);
    }
    int64_t counts[8] = { 0 }; /* one per table */
    if (rc == 0) rc = copy_tables(st->db, "bk", "main", counts, err, errlen);
    for (int i = 0; i < db_ntables && rc == 0; i++) {
        if (db_tables[i].auto_col < 0) continue;
        /* The next id stays above every id either side ever gave out. */
        const char *t = db_tables[i].name;
        snprintf(sql, sizeof sql,
                 "UPDATE main.sqlite_sequence SET seq = MAX(seq, IFNULL((SELECT seq FROM bk.sqlite_sequence "
                 "WHERE name = '%s'), 0)) WHERE name = '%s'; INSERT INTO main.sqlite_sequence (name, seq) "
                 "SELECT name, seq FROM bk.sqlite_sequence WHERE name = '%s' AND NOT EXISTS "
                 "(SELECT 1 FROM main.sqlite_sequence WHERE name = '%s')", t, t, t, t);
        rc = exec(st->db, sql);
    }
    if (rc) {
        if (!*err) snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
        exec(st->db, "ROLLBACK TO restore; RELEASE restore");
        return -1;
    }
    exec(st->db, "RELEASE restore");
    *users = *rides = *members = 0;
    for (int i = 0; i < db_ntables; i++) {
        const char *t = db_tables[i].name;
        *(!strcmp(t, "users") ? users : !strcmp(t, "rides") ? rides : members) += counts[i];
    }
    return 0;
}
