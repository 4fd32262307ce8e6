/*
 * apicount.h — the _count counter (docs/api.md, "Counting requests"), shared by users and rides.
 *
 * api_count_register adds GET /api/v1/_count (answers [N]) and
 * DELETE /api/v1/_count (sets N to 0, answers {}) to a server and installs
 * the server's observer, which adds one to N for every answered request
 * whose path matched one of the service's routes — success, 4xx, 405 and 413
 * alike — except requests to /api/v1/_count and /api/v1/db/clear (any
 * method, 405s included: the spec does not count them). A path that matches
 * no route (404) is not an API call and is not counted, and neither is a
 * route outside /api/ (GET /metrics: a scraper is not a client). N starts at 0 and is
 * atomic, so concurrent requests are each counted once.
 *
 * The observer runs before the response reaches the client, so a client
 * that reads the counter after its own requests sees all of them.
 */
#ifndef RS_APICOUNT_H
#define RS_APICOUNT_H

#include <stdint.h>

struct http_server;
struct api_counter;

/* Registers the routes and the observer; call before http_server_start.
 * NULL if a route could not be added. Free after http_server_free. */
struct api_counter *api_count_register(struct http_server *s);
void api_count_free(struct api_counter *c);

/* Whether a request that matched pattern (NULL: none) is counted. */
int api_count_counts(const char *pattern);

uint64_t api_count_get(const struct api_counter *c);

#endif
