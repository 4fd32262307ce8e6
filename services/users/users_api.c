/*
 * users_api.c — the users service's handlers.
 *
 *   PUT    /api/v1/users             add a user            201 {} | 400
 *   DELETE /api/v1/users/{username}  remove a user         200 {} | 400
 *   GET    /api/v1/users             list usernames        200 [...] | 204
 *                                    (users_list.c: also ?limit&after, ?username)
 *   POST   /api/v1/db/clear          wipe all data         200 {} | 400
 * (GET/DELETE /api/v1/_count come from services/rest/apicount.c; every other
 * method on these paths gets http_server's automatic 405.)
 *
 * Each handler validates first and only then makes one DB API call, so bad
 * input never reaches the database. The database decides what a request
 * cannot decide alone: a duplicate username is the orchestrator's 409 on
 * the insert (there is no check-then-insert race), and "no such user" on a
 * delete is a write that changed 0 rows. Deleting a user cascades in the
 * database to the rides they created and to their memberships.
 *
 * db/clear wipes everything (the orchestrator's db/clear), not only the
 * users table: rides cannot exist without their creators, so emptying
 * users empties rides too, and clearing through the one operation that
 * exists for it keeps the two services' views consistent.
 *
 * Usernames are logged through api_quote (64 bytes at most, non-printable
 * bytes escaped): they are arbitrary client text.
 */
#include "users_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiutil.h"
#include "dbclient.h"
#include "http_server.h"
#include "log.h"
#include "users_valid.h"

static void on_add(const struct http_request *req, struct http_response *res, void *ctx)
{
    const struct dbclient *db = ctx;
    cJSON *body = api_parse_object(req, res);
    if (!body) return;

    const char *username = NULL, *why = NULL;
    char password[USERS_PASSWORD_LEN + 1];
    if (users_parse_new(body, &username, password, &why) != 0) {
        http_reply_error(res, 400, why);
        cJSON_Delete(body);
        return;
    }
    cJSON *values = cJSON_CreateObject();
    cJSON_AddStringToObject(values, "username", username);
    cJSON_AddStringToObject(values, "password", password);
    cJSON *op = dbc_op_insert("users", values);

    struct dbc_result r;
    char q[API_QUOTE_SIZE];
    api_quote(q, sizeof q, username);
    switch (dbc_write(db, op, &r)) {
    case DBC_OK:
        log_info("user created username=\"%s\"", q);
        api_reply_empty(res, 201);
        break;
    case DBC_CONFLICT:
        log_info("user not created, exists username=\"%s\"", q);
        http_reply_error(res, 400, "username already exists");
        break;
    default:
        dbc_reply_failure(res, &r);
        break;
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
    cJSON_Delete(body);
}

static void on_remove(const struct http_request *req, struct http_response *res, void *ctx)
{
    const struct dbclient *db = ctx;
    const char *username = req->captures[0];
    char q[API_QUOTE_SIZE];
    api_quote(q, sizeof q, username);

    cJSON *where = cJSON_CreateObject();
    cJSON_AddStringToObject(where, "username", username);
    cJSON *op = dbc_op_delete("users", where);
    struct dbc_result r;
    if (dbc_write(db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else if (dbc_changes(&r) < 1) {
        http_reply_error(res, 400, "no such user");
    } else {
        log_info("user removed username=\"%s\"", q);
        api_reply_empty(res, 200);
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
}

static void on_clear(const struct http_request *req, struct http_response *res, void *ctx)
{
    const struct dbclient *db = ctx;
    if (api_body_empty_or_object(req, res) != 0) return;
    struct dbc_result r;
    if (dbc_clear(db, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else {
        log_info("database cleared changes=%lld", (long long)dbc_changes(&r));
        api_reply_empty(res, 200);
    }
    dbc_result_free(&r);
}

int users_api_register(struct http_server *s, const struct dbclient *db)
{
    void *ctx = (void *)db;   /* handlers only read it */
    if (http_server_route(s, "PUT", "/api/v1/users", on_add, ctx) ||
        http_server_route(s, "GET", "/api/v1/users", users_on_list, ctx) ||
        http_server_route(s, "DELETE", "/api/v1/users/{username}", on_remove, ctx) ||
        http_server_route(s, "POST", "/api/v1/db/clear", on_clear, ctx))
        return -1;
    return 0;
}
