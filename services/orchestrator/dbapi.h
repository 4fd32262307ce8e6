/*
 * dbapi.h — the orchestrator's HTTP API: the DB API (db/write, db/read,
 * db/clear) and worker/list.
 */
#ifndef RS_DBAPI_H
#define RS_DBAPI_H

#include <signal.h>

struct http_server;
struct rpc;
struct scaler;
struct workers;

struct dbapi_config {
    int write_timeout_ms;
    int read_timeout_ms;
    struct scaler *scaler;   /* counts every db/read request (NULL: none) */
    struct readcache *cache; /* answers kept for repeated reads (NULL: none) */
};

/* Registers the routes on srv. The returned context lives until dbapi_free. */
struct dbapi *dbapi_register(struct http_server *srv, const struct dbapi_config *cfg,
                             struct rpc *rpc, struct workers *ws);
/* After an orchestrator restart, before serving: reads must not miss a
 * write the previous orchestrator acknowledged, but acked_seq died with it.
 * The master's znode seq is not enough (written at most every 500 ms), so
 * this sends a write that changes nothing through writeQ: the master gives
 * it the next seq, above every write acknowledged before, and its reply
 * raises acked_seq to it. Retries until timeout_ms (a failover may be under
 * way) or *stop. 0 or -1. */
int dbapi_barrier(struct dbapi *api, int timeout_ms, volatile sig_atomic_t *stop);
/* Sends a write request's envelope (protocol.h; taken over) to the master
 * as db/write sends an operation — a request id, the write timeout as its
 * deadline to be taken, the epoch check, acked_seq raised by its seq — but
 * waits for the answer up to timeout_ms (a restore takes longer than a
 * write). *res is the answer db/write would give. */
struct http_response;
void dbapi_send_write(struct dbapi *api, char *envelope, int timeout_ms, struct http_response *res);
void dbapi_free(struct dbapi *api);

#endif
