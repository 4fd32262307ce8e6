/*
 * metricsview.h — the orchestrator's state as metrics for GET /metrics:
 * workers by role and state, each worker's applied seq, lag, reads served
 * and apply time (from its znode), the epoch, the autoscaler's decision, the
 * read cache and the newest checkpoint's age. Samples are taken from what
 * the supervisor and the other parts already hold, at each scrape, so a
 * scrape never waits on ZooKeeper or RabbitMQ. Counters that code bumps as things happen (events, RPC timeouts,
 * HTTP requests) are registered where they happen.
 */
#ifndef RS_METRICSVIEW_H
#define RS_METRICSVIEW_H

struct readcache;
struct rpc;
struct supervisor;
struct workers;

struct metricsview_config {
    struct workers *ws;
    struct supervisor *sup;
    struct readcache *cache;     /* may be NULL */
    struct rpc *rpc;             /* the broker's state */
};

/* Registers the collector (one per process); stop it after the HTTP server. */
void metricsview_start(const struct metricsview_config *cfg);
void metricsview_stop(void);

#endif
