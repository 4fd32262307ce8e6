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
 * The database is read in pages too, whatever the client asked
 * (dbc_read_pages: keyset paging on (ts, ride_id), served in order by the
 * rides_route index (source, destination, ts) of common/db/dbschema.c, whose
 * rows end with the ride id), so no part of the DB service ever holds more
 * than one page, and a page deep into a long list costs what the first one
 * does. The usual list is one page, one call: this is the hot path. The
 * first page filters ts > now; the later ones give only the cursor, whose
 * time is already past now (the DB API's "after" must be the only range on
 * ts, or SQLite starts from the other one and walks every row up to the
 * cursor). A client's cursor from the past reads as the first page. This service holds the answer once, as it
 * writes it, up to LIST_MAX_BYTES (then 503, naming the paged form).
 */
#include "rides_api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apiutil.h"
#include "http_server.h"
#include "jsonout.h"
#include "rides_req.h"
#include "timestamp.h"

/* A string literal into a jsonout, its length counted by the compiler. */
#define JO_LIT(o, lit) jo_raw((o), (lit), sizeof(lit) - 1)

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

/* A list being written: the JSON text so far, the time of the request,
 * and the last ride taken (the next page's cursor; none yet: the first
 * page, ts > now). */
struct listing {
    struct jsonout o;
    int source, destination;
    int64_t now, n;
    int have_cursor;
    struct cursor at;
};

/* One row as the spec's list item, the creator's name copied as the JSON
 * string it is in the answer. Written directly: this is the hot path. */
static int take_row(void *arg, const struct dbc_row *row)
{
    struct listing *l = arg;
    int64_t id, ts;
    size_t by_len;
    const char *by = dbc_row_str(row, "created_by", &by_len);
    char when[RIDES_TS_LEN + 1];
    if (dbc_row_int(row, "ride_id", &id) || dbc_row_int(row, "ts", &ts) || !by) return -1;
    if (l->o.len > LIST_MAX_BYTES) return 1;
    rides_ts_format(ts, when, sizeof when);
    jo_raw(&l->o, l->n ? ",{\"rideId\":" : "{\"rideId\":", l->n ? 11 : 10);
    jo_int(&l->o, id);
    JO_LIT(&l->o, ",\"username\":");
    jo_raw(&l->o, by, by_len);
    JO_LIT(&l->o, ",\"timestamp\":\"");
    jo_raw(&l->o, when, RIDES_TS_LEN);
    JO_LIT(&l->o, "\"}");
    l->n++;
    l->at.ts = ts;
    l->at.id = id;
    l->have_cursor = 1;
    return 0;
}

static void next_page(void *arg, struct jsonout *op)
{
    struct listing *l = arg;
    static const char select[] = "\"op\":\"select\",\"table\":\"rides\","
                                 "\"columns\":[\"ride_id\",\"created_by\",\"ts\"],\"where\":{\"source\":";
    static const char order[] = "},\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}]";
    jo_raw(op, select, sizeof select - 1);
    jo_int(op, l->source);
    JO_LIT(op, ",\"destination\":");
    jo_int(op, l->destination);
    if (!l->have_cursor) {
        JO_LIT(op, ",\"ts\":{\"gt\":");
        jo_int(op, l->now);
        JO_LIT(op, "}");
    }
    jo_raw(op, order, sizeof order - 1);
    if (l->have_cursor) {
        JO_LIT(op, ",\"after\":{\"ts\":");
        jo_int(op, l->at.ts);
        JO_LIT(op, ",\"ride_id\":");
        jo_int(op, l->at.id);
        JO_LIT(op, "}");
    }
}

static void list(const struct rides_ctx *ctx, int source, int destination, const struct cursor *from,
                 int64_t limit, struct http_response *res)
{
    struct listing l = { { 0 }, source, destination, (int64_t)time(NULL), 0, 0, { 0, 0 } };
    if (from && from->ts > l.now) {   /* else everything upcoming is after it */
        l.at = *from;
        l.have_cursor = 1;
    }
    JO_LIT(&l.o, "[");
    int64_t n = dbc_read_pages(&ctx->db, limit, next_page, take_row, &l, res);
    api_reply_list(res, &l.o, n, "the list of rides is too large to send at once: "
                                 "ask for pages with &limit=N&after=TIMESTAMP,RIDEID");
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
