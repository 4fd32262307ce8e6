/*
 * rides_api.h — the rides service's routes (docs/api.md, "Rides") and what their
 * handlers share. The service keeps no data of its own: rides and
 * memberships live behind the orchestrator's DB API; users are checked
 * through the gateway (userscheck.h).
 *
 *   POST   /api/v1/rides                           create        201 {} | 400
 *   GET    /api/v1/rides?source=s&destination=d    upcoming      200 [...] | 204 | 400
 *          [&limit=N&after=TIMESTAMP,RIDEID]        (a page of them)
 *   GET    /api/v1/rides/count                     rides stored  200 [N]
 *   POST   /api/v1/db/clear                        delete rides  200 {} | 400
 *   GET    /api/v1/rides/{rideId}                  details       200 {...} | 204 | 400
 *   POST   /api/v1/rides/{rideId}                  join          200 {} | 400
 *   DELETE /api/v1/rides/{rideId}                  delete        200 {} | 400
 * (rides_api.c has the first four, the list being rides_list.c's; ride_one.c
 * the last three.) Failures of
 * the database or of the users service give 503.
 */
#ifndef RS_RIDES_API_H
#define RS_RIDES_API_H

#include "areas.h"
#include "dbclient.h"
#include "userscheck.h"

struct http_server;
struct http_response;

struct rides_ctx {
    struct dbclient db;
    struct rides_users users;
    struct rides_areas areas;
};

/* Registers every rides route; ctx must outlive the server. 0 or -1.
 * rides_api_register registers the collection's routes and calls
 * rides_one_register (ride_one.c) for the routes of one ride. */
int rides_api_register(struct http_server *s, struct rides_ctx *ctx);
int rides_one_register(struct http_server *s, struct rides_ctx *ctx);

struct http_request;
/* GET /api/v1/rides (rides_list.c); arg is the rides_ctx. */
void rides_on_list(const struct http_request *req, struct http_response *res, void *arg);

#endif
