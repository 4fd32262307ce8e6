/*
 * rides_api.c — the handlers on /api/v1/rides, /api/v1/rides/count and
 * /api/v1/db/clear (see rides_api.h for the table).
 *
 * Create: the body is checked in full first (bad input costs no call at
 * all), then exactly one users-list call checks created_by, then one
 * insert. The database guards the gap between the two: a user deleted in
 * between makes the insert fail its foreign key (409), answered 400 like a
 * user that never existed.
 *
 * The list of upcoming rides is rides_list.c's.
 *
 * Clear deletes every ride (ride ids start at 1, so ride_id >= 0 is all of
 * them: the DB API wants a non-empty where for a delete); memberships go
 * with their rides in the database. Users are left alone: they belong to
 * the users service.
 */
#include "rides_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiutil.h"
#include "http_server.h"
#include "log.h"
#include "rides_req.h"

static void on_create(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rides_ctx *ctx = arg;
    cJSON *body = api_parse_object(req, res);
    if (!body) return;
    struct rides_new ride;
    const char *why = NULL;
    if (rides_parse_create(body, &ctx->areas, &ride, &why) != 0) {
        http_reply_error(res, 400, why);
        cJSON_Delete(body);
        return;
    }
    if (rides_require_user(&ctx->users, ride.created_by, res, "'created_by' is not an existing user") != 0) {
        cJSON_Delete(body);
        return;
    }
    cJSON *values = cJSON_CreateObject();
    cJSON_AddStringToObject(values, "created_by", ride.created_by);
    json_add_int(values, "ts", ride.ts);
    json_add_int(values, "source", ride.source);
    json_add_int(values, "destination", ride.destination);
    cJSON *op = dbc_op_insert("rides", values);
    struct dbc_result r;
    char q[API_QUOTE_SIZE];
    switch (dbc_write(&ctx->db, op, &r)) {
    case DBC_OK:
        api_quote(q, sizeof q, ride.created_by);
        log_info("ride created id=%lld created_by=\"%s\" ts=%lld source=%d destination=%d",
                 (long long)dbc_insert_id(&r), q, (long long)ride.ts, ride.source, ride.destination);
        api_reply_empty(res, 201);
        break;
    case DBC_CONFLICT:
        http_reply_error(res, 400, "'created_by' is not an existing user");
        break;
    default:
        dbc_reply_failure(res, &r);
        break;
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
    cJSON_Delete(body);
}

static void on_count(const struct http_request *req, struct http_response *res, void *arg)
{
    (void)req;
    const struct rides_ctx *ctx = arg;
    cJSON *op = dbc_op_count("rides", NULL);
    struct dbc_result r;
    if (dbc_read(&ctx->db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else if (dbc_count(&r) < 0) {
        r.kind = DBC_UNAVAILABLE;
        snprintf(r.error, sizeof r.error, "count answer without a count");
        dbc_reply_failure(res, &r);
    } else {
        char buf[40];
        snprintf(buf, sizeof buf, "[%lld]", (long long)dbc_count(&r));
        http_reply_raw(res, 200, strdup(buf));
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
}

static void on_clear(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rides_ctx *ctx = arg;
    if (api_body_empty_or_object(req, res) != 0) return;
    cJSON *where = cJSON_CreateObject();
    json_add_int(cJSON_AddObjectToObject(where, "ride_id"), "ge", 0);
    cJSON *op = dbc_op_delete("rides", where);
    struct dbc_result r;
    if (dbc_write(&ctx->db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else {
        log_info("rides cleared deleted=%lld", (long long)dbc_changes(&r));
        api_reply_empty(res, 200);
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
}

int rides_api_register(struct http_server *s, struct rides_ctx *ctx)
{
    if (http_server_route(s, "POST", "/api/v1/rides", on_create, ctx) ||
        http_server_route(s, "GET", "/api/v1/rides", rides_on_list, ctx) ||
        http_server_route(s, "GET", "/api/v1/rides/count", on_count, ctx) ||
        http_server_route(s, "POST", "/api/v1/db/clear", on_clear, ctx))
        return -1;
    return rides_one_register(s, ctx);
}
