/*
 * dbapi.c — the DB API over RPC.
 *
 * A request is checked against the schema (dbop.c) before anything is
 * published, so an invalid operation costs one parse and a 400. A valid one
 * is wrapped as {"min_seq": N, "op": ...} and sent:
 *   - writes to writeQ, persistent, with a request id unique to this
 *     orchestrator run and a deadline (the client's timeout, in wall-clock
 *     time) after which no master applies it; the reply counts only if it
 *     carries the current epoch (a replaced master's answer is never
 *     acknowledged: the request is asked again of the current master, see
 *     call()), and its seq raises acked_seq;
 *   - reads to readQ with min_seq = acked_seq at the moment the read
 *     arrived, which the answering slave must have applied first: a read
 *     never misses a write acknowledged before it began. The answer is
 *     kept in the read cache with the seq the slave had applied, and a
 *     later read whose min_seq that seq still covers is answered from there
 *     without a replica (readcache.h: the same promise, one hop instead of
 *     three).
 * A reply that arrives when this orchestrator may no longer act (leader.h)
 * is neither acknowledged nor passed on: 503.
 * Every db/read request is counted for the autoscaler as it arrives, valid
 * or not (the rule counts requests: docs/api.md, "The scaling rule");
 * nothing else is.
 */
#include "dbapi.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dbop.h"
#include "http_server.h"
#include "json.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "readcache.h"
#include "rpc.h"
#include "scaler.h"
#include "workers.h"

struct dbapi {
    struct dbapi_config cfg;
    struct rpc *rpc;
    struct workers *ws;
    _Atomic int64_t acked_seq;
    _Atomic uint64_t next_rid;
    char rid_prefix[24];
};

/* RPCs that got no answer, by queue and why, for GET /metrics. */
static struct metric *rpc_timeouts, *rpc_unavailable;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void init_metrics(void)
{
    rpc_timeouts = metric_family("rideshare_rpc_timeouts_total",
                                 "DB API requests no worker answered in time (a 503), by queue", METRIC_COUNTER);
    rpc_unavailable = metric_family("rideshare_rpc_unavailable_total",
                                    "DB API requests refused at once: broker down, blocked or too busy (a 503), "
                                    "by queue", METRIC_COUNTER);
}

static void count_failure(const char *queue, int rc)
{
    pthread_once(&metrics_once, init_metrics);
    char labels[64];
    snprintf(labels, sizeof labels, "queue=\"%s\"", queue);
    metric_add(metric_series(rc == RPC_TIMEOUT ? rpc_timeouts : rpc_unavailable, labels), 1);
}

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

/* The request envelope {"min_seq": N, "op": <op>} as text. op is the
 * client's body, already parsed and validated: it is one JSON value with at
 * most whitespace around it, so it is embedded as it came, unprinted. */
static char *envelope(const char *op, size_t len, int64_t min_seq)
{
    size_t n = len + 64;
    char *env = malloc(n);
    if (!env) abort();
    int k = snprintf(env, n, "{\"min_seq\":%lld,\"op\":", (long long)min_seq);
    memcpy(env + k, op, len);
    memcpy(env + k + len, "}", 2);
    return env;
}

/* Sends the envelope to queue and turns the worker's reply into the HTTP
 * answer. A read's body is passed on untouched; a write's gets its seq.
 *
 * A write answered by a master that has been replaced meanwhile (its
 * epoch is not the current one) is not acknowledged; instead the same
 * request, with the same request id, is sent again within the same
 * deadline. The current master answers it from its store if the old
 * master's log entry came before its epoch marker (it applied it), or
 * applies it now if the entry came after (every replica ignores that one):
 * either way exactly once, and the client sees its write succeed across
 * the failover instead of a 503. A read's 2xx answer that says which seq
 * it was computed at is kept in the read cache under cache_key (NULL: not
 * kept). */
static void call_for(struct dbapi *api, const char *queue, char *env, int write, int timeout_ms,
                     const char *cache_key, size_t klen, struct http_response *res)
{
    char rid[48];
    snprintf(rid, sizeof rid, "%s-%llu", api->rid_prefix,
             (unsigned long long)atomic_fetch_add(&api->next_rid, 1));
    int timeout = write ? api->cfg.write_timeout_ms : api->cfg.read_timeout_ms;
    int64_t deadline = clock_ms() + (timeout_ms > 0 ? timeout_ms : timeout);
    /* A master takes no write after this (protocol.h): by then its client has
     * its 503 — or, for a longer call (a restore), it is being applied. */
    int64_t wall_deadline = write ? clock_wall_ms() + timeout : 0;
    struct rpc_reply r;
    int rc, stale = 0;
    for (;;) {
        int64_t left = deadline - clock_ms();
        rc = rpc_call(api->rpc, queue, rid, write, wall_deadline, env, strlen(env), left < 1 ? 1 : (int)left,
                      &r);
        if (rc != RPC_OK || !write || r.status == 400 || !r.has_epoch || r.epoch == workers_epoch(api->ws))
            break;
        log_warn("reply from a replaced master; asking the current one rid=%s epoch=%lld current=%lld", rid,
                 (long long)r.epoch, (long long)workers_epoch(api->ws));
        rpc_reply_free(&r);
        stale = 1;
        if (clock_ms() + 50 >= deadline) {
            rc = RPC_TIMEOUT;
            break;
        }
        /* A replaced master may still hold writeQ for a moment: do not spin
         * on it while the new one takes over. */
        struct timespec pause = { 0, 50 * 1000000L };
        nanosleep(&pause, NULL);
    }
    free(env);
    if (rc != RPC_OK) count_failure(queue, rc);
    if (rc == RPC_OK && !leader_may_act()) {
        /* Deposed, or cut off from ZooKeeper, while the request was out
         * (leader.h): another orchestrator may be acknowledging writes by
         * now, so this one neither acknowledges nor answers a read. */
        rpc_reply_free(&r);
        http_reply_error(res, 503, "this orchestrator is no longer surely the active one; outcome unknown");
        return;
    }
    if (rc == RPC_UNAVAILABLE) {
        http_reply_error(res, 503, "message broker unavailable");
        return;
    }
    if (rc == RPC_TIMEOUT) {
        http_reply_error(res, 503, stale ? "the master changed during the write; not acknowledged"
                                 : write ? "no answer from the master in time"
                                         : "no answer from a replica in time");
        return;
    }
    if (r.status < 200 || r.status > 599 || (write && r.status != 400 && !r.has_epoch)) {
        http_reply_error(res, 502, "malformed reply from a worker");
    } else if (!write) {
        if (cache_key && r.has_seq && r.status >= 200 && r.status < 300)
            readcache_put(api->cfg.cache, cache_key, klen, r.seq, (int)r.status, r.body, r.len);
        http_reply_raw(res, (int)r.status, r.body);
        r.body = NULL;
    } else {
        if (r.has_seq && r.status != 400) raise_acked(api, r.seq);
        cJSON *out = json_parse(r.body, r.len);
        if (!cJSON_IsObject(out)) {
            http_reply_error(res, 502, "malformed reply from a worker");
        } else {
            if (r.status == 200 && r.has_seq) json_add_int(out, "seq", r.seq);
            if (r.status == 200 && r.has_epoch) json_add_int(out, "epoch", r.epoch); /* the master that applied it */
            http_reply_json(res, (int)r.status, out);
        }
        cJSON_Delete(out);
    }
    rpc_reply_free(&r);
}

static void call(struct dbapi *api, const char *queue, char *env, int write, struct http_response *res)
{
    call_for(api, queue, env, write, 0, NULL, 0, res);
}

void dbapi_send_write(struct dbapi *api, char *envelope, int timeout_ms, struct http_response *res)
{
    call_for(api, PROTO_WRITE_QUEUE, envelope, 1, timeout_ms, NULL, 0, res);
}

static void on_write(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct dbop op;
    cJSON *j = parse_op(req, res, &op);
    if (!j) return;
    int write = dbop_is_write(&op);
    cJSON_Delete(j);
    if (!write) {
        http_reply_error(res, 400, "db/write takes insert, update or delete; use db/read");
        return;
    }
    call(ctx, PROTO_WRITE_QUEUE, envelope(req->body, req->body_len, 0), 1, res);
}

static void on_read(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct dbapi *api = ctx;
    if (api->cfg.scaler) scaler_count(api->cfg.scaler, clock_ms());
    int64_t min_seq = atomic_load(&api->acked_seq);
    /* Only valid reads were ever kept, so a key found is a valid read. */
    char *cached;
    size_t clen;
    int cstatus;
    if (readcache_get(api->cfg.cache, req->body, req->body_len, min_seq, &cached, &clen, &cstatus)) {
        http_reply_raw(res, cstatus, cached);
        return;
    }
    struct dbop op;
    cJSON *j = parse_op(req, res, &op);
    if (!j) return;
    int write = dbop_is_write(&op);
    cJSON_Delete(j);
    if (write) {
        http_reply_error(res, 400, "db/read takes select or count; use db/write");
        return;
    }
    call_for(api, PROTO_READ_QUEUE, envelope(req->body, req->body_len, min_seq), 0, 0, req->body, req->body_len, res);
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
    static const char clear[] = "{\"op\":\"clear\"}";
    call(ctx, PROTO_WRITE_QUEUE, envelope(clear, sizeof clear - 1, 0), 1, res);
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

/* A harmless write: no rides row has ride_id 0 (ids are chosen from 1 up by
 * the master), so it changes nothing, yet it gets a seq in the log. */
int dbapi_barrier(struct dbapi *api, int timeout_ms, volatile sig_atomic_t *stop)
{
    static const char noop[] = "{\"op\":\"delete\",\"table\":\"rides\",\"where\":{\"ride_id\":0}}";
    int64_t deadline = clock_ms() + timeout_ms;
    while (!*stop) {
        struct http_response res = { 0 };
        call(api, PROTO_WRITE_QUEUE, envelope(noop, sizeof noop - 1, 0), 1, &res);
        int status = res.status;
        free(res.body);
        if (status == 200) {
            log_info("reads wait for the log's end as of start-up acked_seq=%lld",
                     (long long)atomic_load(&api->acked_seq));
            return 0;
        }
        if (clock_ms() >= deadline) break;
        log_warn("barrier write not acknowledged yet status=%d; retrying", status);
        struct timespec pause = { 0, 200 * 1000000L };
        nanosleep(&pause, NULL);
    }
    return -1;
}

void dbapi_free(struct dbapi *api) { free(api); }
