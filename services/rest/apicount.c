/*
 * apicount.c — see apicount.h.
 *
 * The counter is one atomic integer. The decision to count is made on the
 * pattern the request matched, not on its raw path, so "/api/v1//_count" or
 * a percent-encoded spelling cannot slip past the exclusions: the router has
 * already reduced every path to the route it reaches. Reading and resetting
 * are not atomic with each other (a request counted between a GET and a
 * DELETE is lost by the DELETE), which is what a reset means.
 */
#include "apicount.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiutil.h"
#include "http_server.h"
#include "log.h"

#define COUNT_PATH "/api/v1/_count"
#define CLEAR_PATH "/api/v1/db/clear"

struct api_counter {
    _Atomic uint64_t n;
};

int api_count_counts(const char *pattern)
{
    return pattern && strncmp(pattern, "/api/", 5) == 0 && strcmp(pattern, COUNT_PATH) != 0 &&
           strcmp(pattern, CLEAR_PATH) != 0;
}

static void observe(const struct http_request *req, const char *pattern, int status, void *ctx)
{
    (void)req;
    (void)status;
    struct api_counter *c = ctx;
    if (api_count_counts(pattern)) atomic_fetch_add(&c->n, 1);
}

static void on_get(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct api_counter *c = ctx;
    char buf[32];
    snprintf(buf, sizeof buf, "[%llu]", (unsigned long long)atomic_load(&c->n));
    http_reply_raw(res, 200, strdup(buf));
}

static void on_delete(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct api_counter *c = ctx;
    uint64_t was = atomic_exchange(&c->n, 0);
    log_info("request counter reset was=%llu", (unsigned long long)was);
    api_reply_empty(res, 200);
}

struct api_counter *api_count_register(struct http_server *s)
{
    struct api_counter *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->n, 0);
    if (http_server_route(s, "GET", COUNT_PATH, on_get, c) != 0 ||
        http_server_route(s, "DELETE", COUNT_PATH, on_delete, c) != 0) {
        free(c);
        return NULL;
    }
    http_server_observe(s, observe, c);
    return c;
}

void api_count_free(struct api_counter *c) { free(c); }

uint64_t api_count_get(const struct api_counter *c) { return atomic_load(&c->n); }
