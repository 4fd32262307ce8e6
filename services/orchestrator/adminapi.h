/*
 * adminapi.h — the orchestrator's operator endpoints: the crash endpoints
 * POST /api/v1/crash/master and POST /api/v1/crash/slave (docs/api.md,
 * "The crash rules"), and the admin API GET /api/v1/status,
 * POST /api/v1/scale and POST /api/v1/promote (docs/api.md, "Admin API");
 * and the queue depths among the metrics of GET /metrics.
 */
#ifndef RS_ADMINAPI_H
#define RS_ADMINAPI_H

#include <stdint.h>

struct http_server;
struct workers;
struct supervisor;
struct scaler;

struct adminapi_config {
    struct workers *ws;
    struct supervisor *sup;
    struct scaler *sc;            /* may be NULL */
    const char *amqp_url;         /* for the queue depths in the status */
    int64_t window_ms;            /* the scaling window, shown in the status */
    int reads_per_slave;
    int max_slaves;               /* POST /api/v1/scale accepts 1..max_slaves (MAX_SLAVES) */
    struct readcache *cache;      /* its counters in the status (NULL: none) */
};

struct adminapi;

/* Registers the routes and starts the queue-stats thread. */
struct adminapi *adminapi_register(struct http_server *srv, const struct adminapi_config *cfg);
/* Stops the stats thread; after the HTTP server stopped. NULL is fine. */
void adminapi_free(struct adminapi *a);

#endif
