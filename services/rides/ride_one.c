/*
 * ride_one.c — the handlers on /api/v1/rides/{rideId}: details, join,
 * delete (see rides_api.h for the table). A rideId that is not a plain
 * decimal number (rides_req.h) is a bad request, 400, on all three; a
 * well-formed id that names no ride gives 204 for details (the spec's code)
 * and 400 for join and delete.
 *
 * Details takes two reads, the ride and then its members; a ride deleted
 * between them reads as a ride with no members, which it briefly was.
 *
 * Join checks, in this order: the ride exists (one read), the user is not
 * its creator, the user exists (the one users-list call of a join), then
 * inserts the membership. A 409 on the insert is a conflict the database
 * saw: already a member (primary key), or the ride or user removed since the
 * checks (foreign key). Only then does one more read tell the two apart, so
 * the answer can say which.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiutil.h"
#include "http_server.h"
#include "log.h"
#include "rides_api.h"
#include "rides_req.h"
#include "timestamp.h"

/* The path's ride id; answers 400 and returns -1 when it is not one. */
static int path_ride_id(const struct http_request *req, struct http_response *res, int64_t *id)
{
    if (req->ncaptures < 1 || rides_parse_ride_id(req->captures[0], id) != 0) {
        http_reply_error(res, 400, "rideId must be a ride number (decimal digits)");
        return -1;
    }
    return 0;
}

static cJSON *where_ride(int64_t id)
{
    cJSON *w = cJSON_CreateObject();
    json_add_int(w, "ride_id", id);
    return w;
}

/* Reads the ride's row. 1 found (*row is a new object), 0 none, -1 the
 * database failed (already answered). */
static int read_ride(const struct rides_ctx *ctx, int64_t id, cJSON **row, struct http_response *res)
{
    cJSON *op = dbc_op_select("rides", NULL, where_ride(id), NULL);
    struct dbc_result r;
    int rc = -1;
    *row = NULL;
    if (dbc_read(&ctx->db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else if (!dbc_rows(&r)) {
        r.kind = DBC_UNAVAILABLE;
        snprintf(r.error, sizeof r.error, "select answer without rows");
        dbc_reply_failure(res, &r);
    } else {
        cJSON *first = cJSON_GetArrayItem(dbc_rows(&r), 0);
        if (first) *row = cJSON_Duplicate(first, 1);
        rc = first ? 1 : 0;
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
    return rc;
}

static void on_details(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rides_ctx *ctx = arg;
    int64_t id, ts, source, destination;
    cJSON *ride = NULL;
    if (path_ride_id(req, res, &id) != 0) return;
    int found = read_ride(ctx, id, &ride, res);
    if (found <= 0) {
        if (found == 0) res->status = 204;   /* no such ride: no body */
        return;
    }
    const char *by = json_get_str(ride, "created_by");
    struct dbc_result r;
    memset(&r, 0, sizeof r);
    if (!by || json_get_int(ride, "ts", &ts) || json_get_int(ride, "source", &source) ||
        json_get_int(ride, "destination", &destination)) {
        r.kind = DBC_UNAVAILABLE;
        snprintf(r.error, sizeof r.error, "ride row without its columns");
        dbc_reply_failure(res, &r);
        cJSON_Delete(ride);
        return;
    }
    static const char *const cols[] = { "username", NULL };
    cJSON *op = dbc_op_select("ride_members", cols, where_ride(id), cols);
    if (dbc_read(&ctx->db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else {
        char when[RIDES_TS_LEN + 1];
        rides_ts_format(ts, when, sizeof when);
        cJSON *o = cJSON_CreateObject();
        json_add_int(o, "rideId", id);
        cJSON_AddStringToObject(o, "created_by", by);
        cJSON *users = cJSON_AddArrayToObject(o, "users");
        const cJSON *row;
        cJSON_ArrayForEach(row, dbc_rows(&r)) {
            const char *name = json_get_str(row, "username");
            if (name) cJSON_AddItemToArray(users, cJSON_CreateString(name));
        }
        cJSON_AddStringToObject(o, "timestamp", when);
        json_add_int(o, "source", source);
        json_add_int(o, "destination", destination);
        http_reply_json(res, 200, o);
        cJSON_Delete(o);
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
    cJSON_Delete(ride);
}

/* After a 409 on joining: is username a member of ride id? 1, 0, or -1
 * when the database cannot say. */
static int is_member(const struct rides_ctx *ctx, int64_t id, const char *username)
{
    cJSON *where = where_ride(id);
    cJSON_AddStringToObject(where, "username", username);
    cJSON *op = dbc_op_count("ride_members", where);
    struct dbc_result r;
    int rc = dbc_read(&ctx->db, op, &r) == DBC_OK && dbc_count(&r) >= 0 ? dbc_count(&r) > 0 : -1;
    dbc_result_free(&r);
    cJSON_Delete(op);
    return rc;
}

static void on_join(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rides_ctx *ctx = arg;
    int64_t id;
    const char *username = NULL, *why = NULL;
    if (path_ride_id(req, res, &id) != 0) return;
    cJSON *body = api_parse_object(req, res);
    if (!body) return;
    cJSON *ride = NULL;
    if (rides_parse_join(body, &username, &why) != 0) {
        http_reply_error(res, 400, why);
        goto out;
    }
    int found = read_ride(ctx, id, &ride, res);
    if (found <= 0) {
        if (found == 0) http_reply_error(res, 400, "no such ride");
        goto out;
    }
    const char *creator = json_get_str(ride, "created_by");
    if (creator && strcmp(creator, username) == 0) {
        http_reply_error(res, 400, "the ride's creator cannot join it");
        goto out;
    }
    if (rides_require_user(&ctx->users, username, res, "'username' is not an existing user") != 0) goto out;

    cJSON *values = cJSON_CreateObject();
    json_add_int(values, "ride_id", id);
    cJSON_AddStringToObject(values, "username", username);
    cJSON *op = dbc_op_insert("ride_members", values);
    struct dbc_result r;
    char q[API_QUOTE_SIZE];
    switch (dbc_write(&ctx->db, op, &r)) {
    case DBC_OK:
        api_quote(q, sizeof q, username);
        log_info("ride joined id=%lld username=\"%s\"", (long long)id, q);
        api_reply_empty(res, 200);
        break;
    case DBC_CONFLICT:
        http_reply_error(res, 400, is_member(ctx, id, username) == 1
                                       ? "already joined this ride"
                                       : "the ride or the user no longer exists");
        break;
    default:
        dbc_reply_failure(res, &r);
        break;
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
out:
    cJSON_Delete(ride);
    cJSON_Delete(body);
}

static void on_delete(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rides_ctx *ctx = arg;
    int64_t id;
    if (path_ride_id(req, res, &id) != 0) return;
    cJSON *op = dbc_op_delete("rides", where_ride(id));
    struct dbc_result r;
    if (dbc_write(&ctx->db, op, &r) != DBC_OK) {
        dbc_reply_failure(res, &r);
    } else if (dbc_changes(&r) < 1) {
        http_reply_error(res, 400, "no such ride");
    } else {
        log_info("ride deleted id=%lld", (long long)id);
        api_reply_empty(res, 200);
    }
    dbc_result_free(&r);
    cJSON_Delete(op);
}

int rides_one_register(struct http_server *s, struct rides_ctx *ctx)
{
    if (http_server_route(s, "GET", "/api/v1/rides/{rideId}", on_details, ctx) ||
        http_server_route(s, "POST", "/api/v1/rides/{rideId}", on_join, ctx) ||
        http_server_route(s, "DELETE", "/api/v1/rides/{rideId}", on_delete, ctx))
        return -1;
    return 0;
}
