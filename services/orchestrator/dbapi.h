/*
 * dbapi.h — the orchestrator's HTTP API: the DB API (db/write, db/read,
 * db/clear) and worker/list.
 */
#ifndef RS_DBAPI_H
#define RS_DBAPI_H

struct http_server;
struct rpc;
struct scaler;
struct workers;

struct dbapi_config {
    int write_timeout_ms;
    int read_timeout_ms;
    struct scaler *scaler;   /* counts every db/read request (NULL: none) */
};

/* Registers the routes on srv. The returned context lives until dbapi_free. */
struct dbapi *dbapi_register(struct http_server *srv, const struct dbapi_config *cfg,
                             struct rpc *rpc, struct workers *ws);
void dbapi_free(struct dbapi *api);

#endif
