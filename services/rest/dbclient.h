/*
 * dbclient.h — the users and rides services' client for the orchestrator's
 * DB API (docs/db-api.md): POST {base}/api/v1/db/write | read | clear with
 * one structured operation, over common/http/http_client.h.
 *
 * Every call has a timeout, and every outcome falls into one of a few kinds
 * that a handler can act on without knowing HTTP:
 *   DBC_OK           200; out->json holds the parsed answer
 *   DBC_CONFLICT     409: a constraint said no (duplicate key, missing
 *                    foreign key); nothing was changed
 *   DBC_TOO_LARGE    413: the operation is over the orchestrator's body limit
 *   DBC_REJECTED     400: the orchestrator refused the operation as invalid —
 *                    the service built a bad operation, i.e. a bug
 *   DBC_UNAVAILABLE  no answer (refused, timed out), a 5xx, or an answer
 *                    that is not the DB API's: the database cannot serve now
 * dbc_reply_failure turns the last four into the service's HTTP answer
 * (409 is left to the caller, who knows what the conflict means).
 *
 * Operations are built as cJSON objects with the dbc_op_* helpers; a
 * handler then owns and deletes them.
 */
#ifndef RS_DBCLIENT_H
#define RS_DBCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct http_response;

enum dbc_kind { DBC_OK = 0, DBC_CONFLICT, DBC_TOO_LARGE, DBC_REJECTED, DBC_UNAVAILABLE };

/* Orchestrators. ORCH_URL may list several, separated by commas (an active
 * one and its standbys, docs/operations.md, "The orchestrator pair"). A
 * call goes to the one that last answered as the active one; it moves on to
 * the next one when the call cannot have reached it — no connection could be
 * made, or it answered 503 as a standby (its body names a "role": it ran
 * nothing) — and, for a read, after any failure without an answer (a read
 * may be asked twice). A write whose request went out is never sent again:
 * its outcome is unknown, and a second request id could apply it twice.
 * At most DBC_ROUNDS rounds of the list, all within the call's timeout,
 * with a pause after each round that found no active one (a takeover is
 * under way: a call waits it out rather than fail, if its timeout allows). With one URL nothing is retried, as before.
 *
 * An active one that stops answering without refusing anything — frozen, or
 * cut off from the network — would hold every call until its timeout, and
 * the next calls would go to it again. So when calls are waiting on it and
 * none has been answered for DBC_SILENT_MS, a new call first asks the others
 * GET /api/v1/role (DBC_PROBE_TIMEOUT_MS each, at most one such round per
 * DBC_PROBE_EVERY_MS over all threads) and goes to one that says it is the
 * active one: the standby that took over once the silent one's ZooKeeper
 * session expired. The calls already sent stay where they are (their
 * outcome is unknown). */
#define DBC_MAX_URLS 4
#define DBC_ROUNDS 25          /* with the pause: a takeover of a few seconds is waited out */
#define DBC_ROUND_PAUSE_MS 200
#define DBC_SILENT_MS 1000
#define DBC_PROBE_EVERY_MS 500
#define DBC_PROBE_TIMEOUT_MS 500

struct dbclient {
    char base[1024];     /* the URLs as given, each without its trailing '/', joined by commas */
    char urls[DBC_MAX_URLS][512];
    int nurls;
    _Atomic int active;  /* index into urls of the last one that answered as the active one */
    _Atomic int waiting; /* calls waiting for an answer */
    _Atomic int64_t answered_ms;   /* clock_ms of the last answer (not a standby's) */
    _Atomic int64_t next_probe_ms; /* the earliest time of the next GET /api/v1/role round */
    long timeout_ms;     /* per call, all tries included */
    char auth[300];      /* "Authorization: Bearer <admin token>", or "" */
};

struct dbc_result {
    enum dbc_kind kind;
    long status;         /* HTTP status, 0 when no answer came */
    cJSON *json;         /* DBC_OK: the answer (an object); else NULL */
    char *text;          /* DBC_OK from dbc_read_text: the answer's text, unparsed */
    size_t text_len;
    char error[256];     /* otherwise: why, for the log and the error body */
};

/* Sets the URLs from base (one, or several separated by commas; spaces
 * around each and trailing slashes dropped) and the timeout; -1 if one is
 * empty or too long, or there are more than DBC_MAX_URLS. */
int dbc_init(struct dbclient *c, const char *base, long timeout_ms);
/* Every call then carries the admin token (the orchestrator's ADMIN_TOKEN);
 * "" for none. -1 if it is too long or holds a control character. */
int dbc_set_token(struct dbclient *c, const char *token);

/* Each returns out->kind. op is only read. */
enum dbc_kind dbc_write(const struct dbclient *c, const cJSON *op, struct dbc_result *out);
enum dbc_kind dbc_read(const struct dbclient *c, const cJSON *op, struct dbc_result *out);
/* dbc_read of an operation given as JSON text, with the answer left as
 * text (out->text): for a reader that builds no tree (dbc_read_pages). */
enum dbc_kind dbc_read_text(const struct dbclient *c, const char *op, struct dbc_result *out);
/* Empties every table (the orchestrator's db/clear). */
enum dbc_kind dbc_clear(const struct dbclient *c, struct dbc_result *out);

void dbc_result_free(struct dbc_result *r);

/* From a DBC_OK answer: the write's "changes", the insert's "id", the
 * count's "count" (-1 when absent), and a select's "rows" (NULL when absent). */
int64_t dbc_changes(const struct dbc_result *r);
int64_t dbc_insert_id(const struct dbc_result *r);
int64_t dbc_count(const struct dbc_result *r);
const cJSON *dbc_rows(const struct dbc_result *r);

/* Reading a long select page by page (dbclient_pages.c), the way the
 * lists of users and rides are read: keyset paging (the DB API's "after",
 * with "limit" and "max_bytes"), so that no message between the services
 * holds more than one page (at most DBC_PAGE_ROWS rows, about
 * DBC_PAGE_BYTES) and every page costs the same, however deep. A page's
 * rows are read in place from the answer's text, no tree built: a row is
 * its members' names and the JSON text of their values.
 *   next_page  writes the next page's select into op as the JSON text of
 *              its members, without the braces (the pager adds "limit" and
 *              "max_bytes"), its cursor, the "after" object, among them
 *              from the second page on: text, not a tree, as this is the
 *              hot path — the rows' strings go back into it as they came;
 *   take_row   takes one row, remembering what the next cursor needs (its
 *              pointers into the row stay valid until next_page has run):
 *              0; -1 when the row is not one of this select (the answer is
 *              then not the DB API's); 1 to stop there (the caller's answer
 *              has grown too large, say).
 * Pages are read until limit rows (-1: all) were taken, or no row is left:
 * a page that says "more" or holds as many rows as asked is followed by
 * another. Returns the rows taken; -1 when the database failed (res is
 * answered); -2 when take_row stopped (the caller answers). */
#define DBC_PAGE_ROWS 100000
#define DBC_PAGE_BYTES (4 * 1024 * 1024)
#define DBC_ROW_MAX 8
struct dbc_row {
    int n;
    struct { const char *name, *value; size_t name_len, value_len; } m[DBC_ROW_MAX];
};
struct jsonout;
int64_t dbc_read_pages(const struct dbclient *db, int64_t limit, void (*next_page)(void *ctx, struct jsonout *op),
                       int (*take_row)(void *ctx, const struct dbc_row *row), void *ctx,
                       struct http_response *res);
/* A member of a row that is a string: its JSON text, quotes and escapes
 * included (to be copied into JSON as it is), or NULL. */
const char *dbc_row_str(const struct dbc_row *row, const char *name, size_t *len);
/* A member of a row that is an integer: 0, or -1. */
int dbc_row_int(const struct dbc_row *row, const char *name, int64_t *out);

/* The HTTP answer for a failed call: 503 for DBC_UNAVAILABLE, 413 for
 * DBC_TOO_LARGE, 500 for DBC_REJECTED and anything else (logged as a bug). */
void dbc_reply_failure(struct http_response *res, const struct dbc_result *r);

/* Operation builders. Each returns a new object the caller deletes; the
 * where/values/set objects passed in are taken over. */
cJSON *dbc_op_insert(const char *table, cJSON *values);
cJSON *dbc_op_delete(const char *table, cJSON *where);
cJSON *dbc_op_count(const char *table, cJSON *where /* may be NULL */);
/* columns: a NULL-terminated list, or NULL for all; order_by: a
 * NULL-terminated list of columns sorted ascending, or NULL. */
cJSON *dbc_op_select(const char *table, const char *const *columns, cJSON *where,
                     const char *const *order_by);

#endif
