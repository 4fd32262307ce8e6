/*
 * rides_list.c — GET /api/v1/rides?source=s&destination=d: the upcoming
 * rides between two areas (see rides_api.h for the table), all of them or a
 * page.
 *
 *   ?source=s&destination=d                        every upcoming ride  200 [...] | 204
 *   ...&limit=N[&after=TIMESTAMP,RIDEID]           the first N after    200 [...] | 204
 *
 * Upcoming rides are those with ts > now, now read from the clock (UTC
 * seconds) at the request; they come ordered by time and then id, so rides
 * at the same moment come in a stable order, and a page's `after` is the
 * last ride of the page before: its "timestamp" and "rideId" joined by a
 * comma. Pages put together are the whole list.
 *
 * The database is read in pages too, whatever the client asked (keyset
 * paging on (ts, ride_id), served in order by the rides_route index
 * (source, destination, ts) of common/dbschema.c, whose rows end with the
 * ride id): at most PAGE_ROWS rows and about PAGE_BYTES each, so no part of
 * the DB service ever holds more than one page, and a page deep into a long
 * list costs what the first one does. The usual list is one page, one call:
 * this is the hot path. The first page filters ts > now; the later ones
 * give only the cursor, whose time is already past now (the DB API's
 * "after" must be the only range on ts, or SQLite starts from the other one
 * and walks every row up to the cursor). A client's cursor from the past
 * reads as the first page. This service holds the answer once, as it
 * writes it, up to LIST_MAX_BYTES (then 503, naming the paged form).
 */
#include "rides_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiutil.h"
#include "http_server.h"
#include "jsonout.h"
#include "log.h"
#include "rides_req.h"
#include "timestamp.h"

#define PAGE_ROWS 100000
#define PAGE_BYTES (4 * 1024 * 1024)
#define LIST_MAX_BYTES ((size_t)256 * 1024 * 1024)

struct cursor { int64_t ts, id; };

/* One area query parameter; answers 400 and returns -1 when it is bad. */
static int query_area(const struct rides_ctx *ctx, const struct http_request *req, const char *key,
                      struct http_response *res)
{
    const char *v = http_query(req, key);
    char msg[128];
    if (!v) {
        snprintf(msg, sizeof msg, "query parameter '%s' is required", key);
        http_reply_error(res, 400, msg);
        return -1;
    }
    int area = rides_area_from_text(&ctx->areas, v);
    if (area < 0) {
        snprintf(msg, sizeof msg, "query parameter '%s' must be an area number of AreaNameEnum.csv", key);
        http_reply_error(res, 400, msg);
    }
    return area;
}

/* "DD-MM-YYYY:SS-MM-HH,ID": 0, or -1 when text is not that. */
static int parse_cursor(const char *text, struct cursor *c)
{
    const char *comma = strrchr(text, ',');
    char ts[RIDES_TS_LEN + 1];
    if (!comma || comma - text != RIDES_TS_LEN) return -1;
    memcpy(ts, text, RIDES_TS_LEN);
    ts[RIDES_TS_LEN] = '\0';
    return rides_ts_parse(ts, &c->ts) == RIDES_TS_OK && rides_parse_ride_id(comma + 1, &c->id) == 0 ? 0 : -1;
}

/* Appends a page's rows as the spec's list items; *n counts them, *last is
 * the last one's (ts, id). -1 if a row lacks a column (the answer is then
 * not the DB API's). Written directly: this is the hot path. */
static int append_rows(struct jsonout *o, const cJSON *rows, int64_t *n, struct cursor *last)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        int64_t id, ts;
        const char *by = json_get_str(row, "created_by");
        char when[RIDES_TS_LEN + 1];
        if (json_get_int(row, "ride_id", &id) || json_get_int(row, "ts", &ts) || !by) return -1;
        rides_ts_format(ts, when, sizeof when);
        jo_raw(o, *n ? ",{\"rideId\":" : "{\"rideId\":", *n ? 11 : 10);
        jo_int(o, id);
        jo_raw(o, ",\"username\":", 12);
        jo_str(o, by, strlen(by));
        jo_raw(o, ",\"timestamp\":", 13);
        jo_str(o, when, strlen(when));
        jo_raw(o, "}", 1);
        (*n)++;
        last->ts = ts;
        last->id = id;
    }
    return 0;
}

/* The select of one page: after *from (NULL: the first page, ts > now). */
static cJSON *page_op(int source, int destination, int64_t now, const struct cursor *from, int64_t rows)
{
    static const char *const cols[] = { "ride_id", "created_by", "ts", NULL };
    static const char *const order[] = { "ts", "ride_id", NULL };
    cJSON *where = cJSON_CreateObject(), *after = NULL;
    json_add_int(where, "source", source);
    json_add_int(where, "destination", destination);
    if (from) {
        after = cJSON_CreateObject();
        json_add_int(after, "ts", from->ts);
        json_add_int(after, "ride_id", from->id);
    } else {
        json_add_int(cJSON_AddObjectToObject(where, "ts"), "gt", now);
    }
    cJSON *op = dbc_op_select("rides", cols, where, order);
    dbc_op_page(op, after, rows, PAGE_BYTES);
    return op;
}

static void list(const struct rides_ctx *ctx, int source, int destination, const struct cursor *from,
                 int64_t limit, struct http_response *res)
{
    int64_t now = (int64_t)time(NULL), n = 0;
    struct cursor at;
    struct jsonout o = { 0 };
    if (from && from->ts <= now) from = NULL;   /* everything upcoming is after it */
    if (from) at = *from;
    jo_raw(&o, "[", 1);
    for (;;) {
        int64_t asked = limit < 0 || limit - n > PAGE_ROWS ? PAGE_ROWS : limit - n, before = n;
        cJSON *op = page_op(source, destination, now, from ? &at : NULL, asked);
        struct dbc_result r;
        int failed = 1, more = 0;
        if (dbc_read(&ctx->db, op, &r) != DBC_OK) {
            dbc_reply_failure(res, &r);
        } else if (!dbc_rows(&r) || append_rows(&o, dbc_rows(&r), &n, &at) != 0) {
            r.kind = DBC_UNAVAILABLE;
            snprintf(r.error, sizeof r.error, "select answer without the rows asked for");
            dbc_reply_failure(res, &r);
        } else {
            failed = 0;
            more = n > before && dbc_page_more(&r, asked) && (limit < 0 || n < limit);
            if (more && o.len > LIST_MAX_BYTES) {
                log_warn("rides list too large to answer at once bytes=%zu rides=%lld", o.len, (long long)n);
                http_reply_error(res, 503, "the list of rides is too large to send at once: "
                                           "ask for pages with &limit=N&after=TIMESTAMP,RIDEID");
                failed = 1;
            }
        }
        dbc_result_free(&r);
        cJSON_Delete(op);
        if (failed) {
            free(o.buf);
            return;
        }
        if (!more) break;
        from = &at;
    }
    jo_raw(&o, "]", 1);
    if (n == 0) {
        res->status = 204;
        free(o.buf);
    } else {
        http_reply_raw(res, 200, o.buf);
    }
}

void rides_on_list(const struct http_request *req, struct http_response *res, void *arg)
{
    const struct rides_ctx *ctx = arg;
    int source = query_area(ctx, req, "source", res);
    if (source < 0) return;
    int destination = query_area(ctx, req, "destination", res);
    if (destination < 0) return;
    const char *limit_text = http_query(req, "limit"), *after = http_query(req, "after");
    int64_t limit = -1;
    struct cursor from;
    if (limit_text && api_parse_limit(limit_text, &limit) != 0) {
        http_reply_error(res, 400, "query parameter 'limit' must be an integer from 1 to 100000");
        return;
    }
    if (after && parse_cursor(after, &from) != 0) {
        http_reply_error(res, 400, "query parameter 'after' must be TIMESTAMP,RIDEID: the \"timestamp\" "
                                   "and \"rideId\" of the last ride of the page before");
        return;
    }
    list(ctx, source, destination, after ? &from : NULL, limit, res);
}
