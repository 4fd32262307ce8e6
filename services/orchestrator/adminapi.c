/*
 * adminapi.c — see adminapi.h.
 *
 * Crashes. A crash is a SIGKILL through the runtime (workers_kill_picked),
 * exactly what an outside kill would do, and the answer is the killed
 * worker's PID as a one-element array of integers, [pid]. The handler does
 * not wait for the replacement: the supervisor sees the table change and
 * fails over or starts a new slave on its own thread, as for any other
 * death. With nothing to kill (no slave; no master even after a short wait
 * for a failover under way) the answer is 409 with a message, never a hang.
 *
 * Status. Assembled from what other threads already keep, never by calling
 * ZooKeeper or RabbitMQ on the HTTP thread: the worker table (workers.c),
 * the supervisor's copy of each worker's znode (role, state, applied seq;
 * the lag is the master's seq minus the worker's), the scaler's counter, the
 * event ring (events.c), and queue depths that a small thread of this file
 * refreshes at most once a second over its own AMQP connection — and only
 * while someone asks for the status (for 30 s after the last request), so an
 * idle orchestrator holds no extra connection. Depths are what the broker
 * reports for a passive declare: ready messages and consumers; for the
 * replog stream that is the broker's message count of the stream.
 *
 * Scale and promote only hand the request to the supervisor, which does the
 * work on its own thread (supervisor.c); promote waits for the outcome.
 * Scale takes 1..MAX_SLAVES, the cap the autoscaler obeys too; a hand-set
 * target is not stepped (the operator asked for exactly that many).
 */
#include "adminapi.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "events.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "mq.h"
#include "protocol.h"
#include "readcache.h"
#include "scaler.h"
#include "supervisor.h"
#include "workers.h"

/* How long crash/master waits for a master to be named when it finds none:
 * between a master's death and its successor's election there are moments
 * without one. */
#define CRASH_MASTER_WAIT_MS 2000
#define PROMOTE_WAIT_MS 10000
#define STATS_EVERY_MS 1000
#define STATS_IDLE_MS 30000

static const char *const QUEUES[3] = { PROTO_WRITE_QUEUE, PROTO_READ_QUEUE, PROTO_LOG_STREAM };

struct adminapi {
    struct adminapi_config cfg;
    pthread_t stats;
    int stats_running;
    volatile int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int64_t asked_at;        /* last status request (clock_ms) */
    int64_t depths_at;       /* when the depths were read (0: never) */
    int ok[3];
    uint32_t messages[3], consumers[3];
};

static int pick_master(const struct worker_info *w, int n, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < n; i++)
        if (w[i].master) return i;
    return -1;
}

/* The slave with the highest PID; retiring ones are leaving anyway, and
 * killing one would not be a crash that gets it replaced. */
static int pick_highest_slave(const struct worker_info *w, int n, void *ctx)
{
    (void)ctx;
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!w[i].master && !w[i].retiring && (best < 0 || w[i].pid > w[best].pid)) best = i;
    return best;
}

static void reply_pid(struct http_response *res, int pid)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(pid));
    http_reply_json(res, 200, arr);
    cJSON_Delete(arr);
}

static void on_crash_master(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct adminapi *a = ctx;
    int pid = workers_kill_picked(a->cfg.ws, pick_master, NULL, CRASH_MASTER_WAIT_MS, "crash/master");
    if (pid < 0) http_reply_error(res, 409, "no live master to crash");
    else reply_pid(res, pid);
}

static void on_crash_slave(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct adminapi *a = ctx;
    int pid = workers_kill_picked(a->cfg.ws, pick_highest_slave, NULL, 0, "crash/slave");
    if (pid < 0) http_reply_error(res, 409, "no live slave to crash");
    else reply_pid(res, pid);
}

/* The stats thread: owns its AMQP connection; reads the depths once a
 * second while the status is being asked for. */
static void *stats_main(void *arg)
{
    struct adminapi *a = arg;
    struct mq *m = NULL;
    int64_t next_connect = 0;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        int64_t now = clock_ms();
        int wanted = a->asked_at && now - a->asked_at < STATS_IDLE_MS;
        if (!wanted && m) {
            pthread_mutex_unlock(&a->mu);
            mq_close(m);
            m = NULL;
            pthread_mutex_lock(&a->mu);
        }
        if (wanted && now - a->depths_at >= STATS_EVERY_MS && now >= next_connect) {
            pthread_mutex_unlock(&a->mu);
            int ok[3] = { 0 };
            uint32_t msgs[3] = { 0 }, cons[3] = { 0 };
            if (!m) m = mq_connect(a->cfg.amqp_url, 1000);
            if (!m) next_connect = clock_ms() + 5000; /* the broker is down: do not log every second */
            for (int i = 0; m && i < 3; i++) {
                ok[i] = mq_queue_depth(m, QUEUES[i], &msgs[i], &cons[i]) == 0;
                if (!ok[i]) { /* a failed passive declare closes the channel */
                    mq_close(m);
                    m = mq_connect(a->cfg.amqp_url, 1000);
                }
            }
            pthread_mutex_lock(&a->mu);
            a->depths_at = clock_ms();
            memcpy(a->ok, ok, sizeof ok);
            memcpy(a->messages, msgs, sizeof msgs);
            memcpy(a->consumers, cons, sizeof cons);
            continue;
        }
        struct timespec until = clock_deadline(wanted ? 200 : 1000);
        pthread_cond_timedwait(&a->wake, &a->mu, &until);
    }
    pthread_mutex_unlock(&a->mu);
    mq_close(m);
    return NULL;
}

/* GET /metrics: the queue depths, as the status shows them. A scrape asks
 * for them like a status request does, so the stats thread keeps them fresh
 * while something scrapes; the first scrape after a quiet spell has none. */
static void collect_queues(struct metrics_out *o, void *ctx)
{
    struct adminapi *a = ctx;
    int64_t now = clock_ms();
    pthread_mutex_lock(&a->mu);
    int first = a->asked_at == 0 || now - a->asked_at >= STATS_IDLE_MS;
    a->asked_at = now;
    if (first) pthread_cond_signal(&a->wake);
    int known = a->depths_at && !first;
    int ok[3];
    uint32_t msgs[3], cons[3];
    memcpy(ok, a->ok, sizeof ok);
    memcpy(msgs, a->messages, sizeof msgs);
    memcpy(cons, a->consumers, sizeof cons);
    pthread_mutex_unlock(&a->mu);
    if (!known) return;
    char labels[64];
    metrics_header(o, "rideshare_queue_messages", "ready messages in the queue (the stream's count for replog)",
                   METRIC_GAUGE);
    for (int i = 0; i < 3; i++) {
        snprintf(labels, sizeof labels, "queue=\"%s\"", QUEUES[i]);
        if (ok[i]) metrics_sample(o, "rideshare_queue_messages", labels, msgs[i]);
    }
    metrics_header(o, "rideshare_queue_consumers", "consumers of the queue", METRIC_GAUGE);
    for (int i = 0; i < 3; i++) {
        snprintf(labels, sizeof labels, "queue=\"%s\"", QUEUES[i]);
        if (ok[i]) metrics_sample(o, "rideshare_queue_consumers", labels, cons[i]);
    }
}

static const char *iso_time(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", (int)(ms % 1000));
    return buf;
}

static void on_status(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct adminapi *a = ctx;
    struct worker_info w[WORKERS_MAX];
    int n = supervisor_workers(a->cfg.sup, w, WORKERS_MAX);
    int64_t now = clock_ms(), epoch = workers_epoch(a->cfg.ws);
    char ts[40];

    cJSON *o = cJSON_CreateObject();
    json_add_int(o, "epoch", epoch);
    /* The master's applied seq: the lag of each worker is measured against it. */
    int64_t master_seq = -1;
    const char *master_id = NULL;
    for (int i = 0; i < n; i++) {
        if (!w[i].master) continue;
        master_id = w[i].id;
        if (w[i].zn.registered && w[i].zn.master_role) master_seq = w[i].zn.seq;
    }
    if (master_id) cJSON_AddStringToObject(o, "master", master_id);
    else cJSON_AddNullToObject(o, "master");
    if (master_seq >= 0) json_add_int(o, "master_seq", master_seq);
    else cJSON_AddNullToObject(o, "master_seq");

    cJSON *arr = cJSON_AddArrayToObject(o, "workers");
    for (int i = 0; i < n; i++) {
        const struct worker_znode *z = &w[i].zn;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", w[i].id);
        cJSON_AddStringToObject(x, "role", w[i].master ? "master" : "slave");
        json_add_int(x, "pid", w[i].pid);
        cJSON_AddStringToObject(x, "state", w[i].retiring ? "retiring" : z->state);
        if (z->registered) {
            json_add_int(x, "seq", z->seq);
            json_add_int(x, "epoch", z->epoch);
            if (master_seq >= 0) json_add_int(x, "lag", master_seq > z->seq ? master_seq - z->seq : 0);
            else cJSON_AddNullToObject(x, "lag");
        } else {
            cJSON_AddNullToObject(x, "seq");
            cJSON_AddNullToObject(x, "epoch");
            cJSON_AddNullToObject(x, "lag");
        }
        cJSON_AddBoolToObject(x, "retiring", w[i].retiring);
        cJSON_AddItemToArray(arr, x);
    }

    pthread_mutex_lock(&a->mu);
    int first = a->asked_at == 0 || now - a->asked_at >= STATS_IDLE_MS;
    a->asked_at = now;
    if (first) pthread_cond_signal(&a->wake);
    cJSON *q = cJSON_AddObjectToObject(o, "queues");
    for (int i = 0; i < 3; i++) {
        if (!a->depths_at || !a->ok[i] || first) {
            cJSON_AddNullToObject(q, QUEUES[i]);
            continue;
        }
        cJSON *d = cJSON_AddObjectToObject(q, QUEUES[i]);
        json_add_int(d, "messages", a->messages[i]);
        json_add_int(d, "consumers", a->consumers[i]);
    }
    if (a->depths_at && !first) json_add_int(o, "queues_age_ms", now - a->depths_at);
    else cJSON_AddNullToObject(o, "queues_age_ms");
    pthread_mutex_unlock(&a->mu);

    struct supervisor_scaling si;
    supervisor_get_scaling(a->cfg.sup, &si);
    cJSON *sc = cJSON_AddObjectToObject(o, "scaling");
    json_add_int(sc, "target_slaves", si.target);
    json_add_int(sc, "window_s", a->cfg.window_ms / 1000);
    json_add_int(sc, "reads_per_slave", a->cfg.reads_per_slave);
    json_add_int(sc, "reads_in_window", a->cfg.sc ? scaler_reads(a->cfg.sc) : 0);
    int64_t left = a->cfg.sc ? scaler_remaining(a->cfg.sc, now) : -1;
    if (left >= 0) cJSON_AddNumberToObject(sc, "seconds_to_decision", (double)left / 1000.0);
    else cJSON_AddNullToObject(sc, "seconds_to_decision"); /* no read yet: no window running */
    if (si.rule_target >= 0) json_add_int(sc, "rule_target", si.rule_target);
    else cJSON_AddNullToObject(sc, "rule_target"); /* no window closed yet */
    json_add_int(sc, "max_slaves", si.max_slaves);
    json_add_int(sc, "scale_up_step", si.scale_up_step);
    cJSON_AddBoolToObject(sc, "capped", si.capped);
    cJSON_AddBoolToObject(sc, "stepped", si.stepped);

    struct readcache_stats rc;
    readcache_stats(a->cfg.cache, &rc);
    cJSON *c = cJSON_AddObjectToObject(o, "read_cache");
    json_add_int(c, "hits", (int64_t)rc.hits);
    json_add_int(c, "misses", (int64_t)rc.misses);
    json_add_int(c, "entries", (int64_t)rc.entries);
    json_add_int(c, "bytes", (int64_t)rc.bytes);
    cJSON_AddStringToObject(sc, "set_by", si.set_by);

    struct supervisor_starts st;
    supervisor_get_starts(a->cfg.sup, &st);
    cJSON *ws = cJSON_AddObjectToObject(o, "worker_starts");
    json_add_int(ws, "failures", st.failures);
    json_add_int(ws, "backoff_ms", st.backoff_ms);
    json_add_int(ws, "next_start_in_ms", st.next_in_ms);
    if (st.last_at_ms) {
        cJSON *lf = cJSON_AddObjectToObject(ws, "last_failure");
        cJSON_AddStringToObject(lf, "at", iso_time(st.last_at_ms, ts, sizeof ts));
        if (st.last_id[0]) cJSON_AddStringToObject(lf, "id", st.last_id);
        else cJSON_AddNullToObject(lf, "id");
        cJSON_AddStringToObject(lf, "why", st.last_why);
        if (st.last_status >= 0) json_add_int(lf, "status", st.last_status);
        else cJSON_AddNullToObject(lf, "status");
    } else {
        cJSON_AddNullToObject(ws, "last_failure");
    }

    struct event ev[EVENTS_MAX];
    int ne = events_list(ev, EVENTS_MAX);
    cJSON *evs = cJSON_AddArrayToObject(o, "events");
    for (int i = ne - 1; i >= 0; i--) { /* newest first */
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "at", iso_time(ev[i].at_ms, ts, sizeof ts));
        cJSON_AddStringToObject(e, "kind", ev[i].kind);
        cJSON_AddStringToObject(e, "text", ev[i].text);
        cJSON_AddItemToArray(evs, e);
    }
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

static void on_scale(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct adminapi *a = ctx;
    cJSON *j = json_parse(req->body, req->body_len);
    const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "slaves") : NULL;
    int64_t n = 0;
    char msg[120];
    if (!cJSON_IsObject(j) || !s || !json_as_int(s, &n) || n < 1 || n > a->cfg.max_slaves) {
        cJSON_Delete(j);
        snprintf(msg, sizeof msg, "body must be {\"slaves\": n} with n an integer in 1..%d (MAX_SLAVES)",
                 a->cfg.max_slaves);
        http_reply_error(res, 400, msg);
        return;
    }
    cJSON_Delete(j);
    int was = supervisor_target(a->cfg.sup);
    supervisor_set_target(a->cfg.sup, (int)n);
    cJSON *o = cJSON_CreateObject();
    json_add_int(o, "slaves", n);
    json_add_int(o, "was", was);
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

static void on_promote(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct adminapi *a = ctx;
    cJSON *j = json_parse(req->body, req->body_len);
    const char *id = cJSON_IsObject(j) ? json_get_str(j, "id") : NULL;
    if (!id || !*id || strlen(id) >= RUNTIME_ID_MAX) {
        cJSON_Delete(j);
        http_reply_error(res, 400, "body must be {\"id\": \"<slave id>\"}");
        return;
    }
    char msg[200], wid[RUNTIME_ID_MAX];
    snprintf(wid, sizeof wid, "%s", id);
    cJSON_Delete(j);
    int64_t epoch = 0;
    int status = supervisor_promote(a->cfg.sup, wid, PROMOTE_WAIT_MS, &epoch, msg, sizeof msg);
    if (status != 200) {
        http_reply_error(res, status, msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "master", wid);
    json_add_int(o, "epoch", epoch);
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

struct adminapi *adminapi_register(struct http_server *srv, const struct adminapi_config *cfg)
{
    struct adminapi *a = calloc(1, sizeof *a);
    if (!a) abort();
    a->cfg = *cfg;
    pthread_mutex_init(&a->mu, NULL);
    clock_cond_init(&a->wake);
    a->stats_running = pthread_create(&a->stats, NULL, stats_main, a) == 0;
    http_server_route(srv, "POST", "/api/v1/crash/master", on_crash_master, a);
    http_server_route(srv, "POST", "/api/v1/crash/slave", on_crash_slave, a);
    http_server_route(srv, "GET", "/api/v1/status", on_status, a);
    http_server_route(srv, "POST", "/api/v1/scale", on_scale, a);
    http_server_route(srv, "POST", "/api/v1/promote", on_promote, a);
    metrics_collector_add(collect_queues, a);
    return a;
}

void adminapi_free(struct adminapi *a)
{
    if (!a) return;
    metrics_collector_remove(collect_queues, a);
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    if (a->stats_running) pthread_join(a->stats, NULL);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
