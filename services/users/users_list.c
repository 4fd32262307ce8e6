/*
 * users_list.c — GET /api/v1/users: every user, a page of them, or one.
 *
 *   GET /api/v1/users                      every username        200 [...] | 204
 *   GET /api/v1/users?limit=N[&after=A]    the first N after A   200 [...] | 204
 *   GET /api/v1/users?username=U           is U a user?          200 [U]   | 204
 * Names come sorted byte-wise (the users table's primary key order), so the
 * pages of a list, each asked with the last name of the one before as
 * `after`, put together are the whole list.
 *
 * The lookup is what the rides service asks on every create and join: one
 * select by the primary key, so its cost does not grow with the number of
 * users. A name that cannot be a user (empty, not UTF-8, a %00 in it, over
 * API_USERNAME_MAX characters) is answered 204 without asking the database.
 *
 * The whole list is read from the database in pages (dbc_read_pages:
 * keyset paging on the name, docs/db-api.md), so the orchestrator, RabbitMQ
 * and the slave each hold one page at a time however many users there are,
 * and every page costs the same. This service
 * holds the answer once, as it writes it; an answer that would pass
 * LIST_MAX_BYTES is refused (503, naming the paged form) rather than let a
 * list of very long names take the service's memory.
 */
#include "users_api.h"

#include <stdio.h>
#include <string.h>

#include "apiutil.h"
#include "dbclient.h"
#include "http_server.h"
#include "jsonout.h"

/* A string literal into a jsonout, its length counted by the compiler. */
#define JO_LIT(o, lit) jo_raw((o), (lit), sizeof(lit) - 1)

#define LIST_MAX_BYTES ((size_t)256 * 1024 * 1024)

static const char *const name_col[] = { "username", NULL };

/* ?username=U: [U] when U is a user, else 204. */
static void lookup(const struct dbclient *db, const char *name, size_t len, struct http_response *res)
{
    if (!api_utf8_valid(name, len) || !api_username_fits(name)) {
        res->status = 204;   /* no user can have this name */
        return;
    }
    cJSON *where = cJSON_CreateObject();
    cJSON_AddStringToObject(where, "username", name);
    cJSON *op = dbc_op_select("users", name_col, where, NULL);
    json_add_int(op, "limit", 1);
    struct dbc_result r;
    if (dbc_read(db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else if (!dbc_rows(&r)) {
        r.kind = DBC_UNAVAILABLE;
        snprintf(r.error, sizeof r.error, "select answer without rows");
        dbc_reply_failure(res, &r);
    } else if (cJSON_GetArraySize(dbc_rows(&r)) == 0) {
        res->status = 204;
    } else {
        struct jsonout o = { 0 };
        JO_LIT(&o, "[");
        jo_str(&o, name, len);
        JO_LIT(&o, "]");
        http_reply_raw(res, 200, o.buf);
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
}

/* A list being written: the JSON text so far, and the next page's cursor:
 * the client's `after`, then the last name taken, as its JSON text in the
 * page's answer (dbc_read_pages keeps it until the next page is asked). */
struct listing {
    struct jsonout o;
    const char *after;
    const char *last;
    size_t last_len;
};

static void next_page(void *arg, struct jsonout *op)
{
    struct listing *l = arg;
    static const char select[] = "\"op\":\"select\",\"table\":\"users\",\"columns\":[\"username\"],"
                                 "\"order\":[{\"column\":\"username\"}]";
    jo_raw(op, select, sizeof select - 1);
    if (!l->last && !l->after) return;
    JO_LIT(op, ",\"after\":{\"username\":");
    if (l->last) jo_raw(op, l->last, l->last_len);   /* a JSON string already */
    else jo_str(op, l->after, strlen(l->after));
    JO_LIT(op, "}");
}

/* One name, copied as the JSON string it is in the answer. */
static int take_row(void *arg, const struct dbc_row *row)
{
    struct listing *l = arg;
    size_t len;
    const char *name = dbc_row_str(row, "username", &len);
    if (!name) return -1;
    if (l->o.len > LIST_MAX_BYTES) return 1;
    if (l->o.len > 1) JO_LIT(&l->o, ",");
    jo_raw(&l->o, name, len);
    l->last = name;
    l->last_len = len;
    return 0;
}

/* The names after `after` (NULL: from the first), at most limit of them
 * (-1: all), page by page into one JSON array. */
static void list(const struct dbclient *db, const char *after, int64_t limit, struct http_response *res)
{
    struct listing l = { { 0 }, after, NULL, 0 };
    JO_LIT(&l.o, "[");
    int64_t n = dbc_read_pages(db, limit, next_page, take_row, &l, res);
    api_reply_list(res, &l.o, n, "the list of users is too large to send at once: "
                                 "ask for pages with ?limit=N&after=NAME");
}

void users_on_list(const struct http_request *req, struct http_response *res, void *ctx)
{
    const struct dbclient *db = ctx;
    size_t name_len, after_len;
    const char *name = http_query_len(req, "username", &name_len);
    const char *limit_text = http_query(req, "limit");
    const char *after = http_query_len(req, "after", &after_len);
    if (name) {
        if (limit_text || after) {
            http_reply_error(res, 400, "query parameter 'username' cannot be combined with 'limit' or 'after'");
            return;
        }
        lookup(db, name, name_len, res);
        return;
    }
    int64_t limit = -1;
    if (limit_text && api_parse_limit(limit_text, &limit) != 0) {
        http_reply_error(res, 400, "query parameter 'limit' must be an integer from 1 to 100000");
        return;
    }
    if (after && !api_utf8_valid(after, after_len)) {
        http_reply_error(res, 400, "query parameter 'after' must be UTF-8 text without %00");
        return;
    }
    list(db, after, limit, res);
}
