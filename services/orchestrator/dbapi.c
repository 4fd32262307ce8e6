/*
 * dbapi.c — the DB API over RPC.
 *
 * A request is checked against the schema (dbop.c) before anything is
 * published, so an invalid operation costs one parse and a 400. A valid one
 * is wrapped as {"op": ...[, "min_seq": N]} and sent:
 *   - writes to writeQ, persistent, with a request id unique to this
 *     orchestrator run; the reply counts only if it carries the current
 *     epoch (a replaced master's answer becomes a 503, never a 2xx), and its
 *     seq raises acked_seq;
 *   - reads to readQ with min_seq = acked_seq at the moment the read
 *     arrived, which the answering slave must have applied first: a read
 *     never misses a write acknowledged before it began.
 */
#include "dbapi.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbop.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "protocol.h"
#include "rpc.h"
#include "workers.h"

struct dbapi {
    struct dbapi_config cfg;
    struct rpc *rpc;
    struct workers *ws;
    _Atomic int64_t acked_seq;
    _Atomic uint64_t next_rid;
    char rid_prefix[24];
};

static void raise_acked(struct dbapi *api, int64_t seq)
{
    int64_t cur = atomic_load(&api->acked_seq);
    while (seq > cur && !atomic_compare_exchange_weak(&api->acked_seq, &cur, seq)) {}
}

/* Parses the body as one operation; answers 400 and returns NULL if it is not. */
static cJSON *parse_op(const struct http_request *req, struct http_response *res, struct dbop *op)
{
    char err[256];
    cJSON *j = json_parse(req->body, req->body_len);
    if (!j) {
        http_reply_error(res, 400, "body is not valid JSON");
        return NULL;
    }
    if (dbop_parse(j, 0, op, err, sizeof err)) {
        http_reply_error(res, 400, err);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Sends env to queue and turns the worker's reply into the HTTP answer. */
static void call(struct dbapi *api, const char *queue, cJSON *env, int write, struct http_response *res)
{
    char rid[48], *reply = NULL;
    snprintf(rid, sizeof rid, "%s-%llu", api->rid_prefix,
             (unsigned long long)atomic_fetch_add(&api->next_rid, 1));
    char *body = json_print(env);
    int timeout = write ? api->cfg.write_timeout_ms : api->cfg.read_timeout_ms;
    int rc = rpc_call(api->rpc, queue, rid, write, body, strlen(body), timeout, &reply);
    free(body);
    if (rc == RPC_UNAVAILABLE) {
        http_reply_error(res, 503, "message broker unavailable");
        return;
    }
    if (rc == RPC_TIMEOUT) {
        http_reply_error(res, 503, write ? "no answer from the master in time" : "no answer from a replica in time");
        return;
    }
    cJSON *r = json_parse(reply, strlen(reply));
    free(reply);
    int64_t status = 0, seq = 0, epoch = 0;
    if (!r || json_get_int(r, "status", &status) || status < 200 || status > 599) {
        http_reply_error(res, 502, "malformed reply from a worker");
        cJSON_Delete(r);
        return;
    }
    int has_seq = json_get_int(r, "seq", &seq) == 0;
    if (write && status != 400) {
        if (json_get_int(r, "epoch", &epoch) || epoch != workers_epoch(api->ws)) {
            log_warn("ignoring a reply from another epoch rid=%s epoch=%lld", rid, (long long)epoch);
            http_reply_error(res, 503, "the master changed during the write; not acknowledged");
            cJSON_Delete(r);
            return;
        }
        if (has_seq) raise_acked(api, seq);
    }
    cJSON *out = cJSON_DetachItemFromObjectCaseSensitive(r, "result");
    if (status == 200) {
        if (!out) out = cJSON_CreateObject();
        if (write && has_seq) json_add_int(out, "seq", seq);
        http_reply_json(res, 200, out);
    } else {
        const char *err = json_get_str(r, "error");
        http_reply_error(res, (int)status, err ? err : "request failed");
    }
    cJSON_Delete(out);
    cJSON_Delete(r);
}

static void on_write(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct dbop op;
    cJSON *j = parse_op(req, res, &op);
    if (!j) return;
    if (!dbop_is_write(&op)) {
        http_reply_error(res, 400, "db/write takes insert, update or delete; use db/read");
    } else {
        cJSON *env = cJSON_CreateObject();
        cJSON_AddItemToObject(env, "op", j);
        j = NULL;
        call(ctx, PROTO_WRITE_QUEUE, env, 1, res);
        cJSON_Delete(env);
    }
    cJSON_Delete(j);
}

static void on_read(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct dbapi *api = ctx;
    struct dbop op;
    cJSON *j = parse_op(req, res, &op);
    if (!j) return;
    if (dbop_is_write(&op)) {
        http_reply_error(res, 400, "db/read takes select or count; use db/write");
        cJSON_Delete(j);
        return;
    }
    cJSON *env = cJSON_CreateObject();
    cJSON_AddItemToObject(env, "op", j);
    json_add_int(env, "min_seq", atomic_load(&api->acked_seq));
    call(api, PROTO_READ_QUEUE, env, 0, res);
    cJSON_Delete(env);
}

static void on_clear(const struct http_request *req, struct http_response *res, void *ctx)
{
    /* The body may be empty or any JSON object ({} in the spec); it carries nothing. */
    if (req->body_len) {
        cJSON *j = json_parse(req->body, req->body_len);
        int ok = cJSON_IsObject(j);
        cJSON_Delete(j);
        if (!ok) {
            http_reply_error(res, 400, "body must be empty or a JSON object");
            return;
        }
    }
    cJSON *env = cJSON_CreateObject();
    cJSON *op = cJSON_AddObjectToObject(env, "op");
    cJSON_AddStringToObject(op, "op", "clear");
    call(ctx, PROTO_WRITE_QUEUE, env, 1, res);
    cJSON_Delete(env);
}

static void on_worker_list(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct dbapi *api = ctx;
    int pids[64];
    int n = workers_pids(api->ws, pids, 64);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(pids[i]));
    http_reply_json(res, 200, arr);
    cJSON_Delete(arr);
}

struct dbapi *dbapi_register(struct http_server *srv, const struct dbapi_config *cfg,
                             struct rpc *rpc, struct workers *ws)
{
    struct dbapi *api = calloc(1, sizeof *api);
    if (!api) abort();
    api->cfg = *cfg;
    api->rpc = rpc;
    api->ws = ws;
    /* Request ids must differ across orchestrator runs: replicas remember
     * every id they applied. */
    unsigned long long r = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&r, sizeof r, 1, f) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (unsigned long long)ts.tv_sec * 1000000007ULL ^ (unsigned long long)ts.tv_nsec;
    }
    if (f) fclose(f);
    snprintf(api->rid_prefix, sizeof api->rid_prefix, "%016llx", r);
    http_server_route(srv, "POST", "/api/v1/db/write", on_write, api);
    http_server_route(srv, "POST", "/api/v1/db/read", on_read, api);
    http_server_route(srv, "POST", "/api/v1/db/clear", on_clear, api);
    http_server_route(srv, "GET", "/api/v1/worker/list", on_worker_list, api);
    return api;
}

void dbapi_free(struct dbapi *api) { free(api); }
