/*
 * adminapi.c — see adminapi.h.
 *
 * A crash is a SIGKILL through the runtime (workers_kill_picked), exactly what
 * an outside kill would do, and the answer is the killed worker's PID as a
 * one-element array of integers, [pid]. The handler does not wait for the
 * replacement: the supervisor sees the table change and fails over or
 * starts a new slave on its own thread, as for any other death. With
 * nothing to kill (no slave; no master even after a short wait for a
 * failover under way) the answer is 409 with a message, never a hang.
 */
#include "adminapi.h"

#include "http_server.h"
#include "json.h"
#include "workers.h"

/* How long crash/master waits for a master to be named when it finds none:
 * between a master's death and its successor's election there are moments
 * without one. */
#define CRASH_MASTER_WAIT_MS 2000

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
    int pid = workers_kill_picked(ctx, pick_master, NULL, CRASH_MASTER_WAIT_MS, "crash/master");
    if (pid < 0) http_reply_error(res, 409, "no live master to crash");
    else reply_pid(res, pid);
}

static void on_crash_slave(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    int pid = workers_kill_picked(ctx, pick_highest_slave, NULL, 0, "crash/slave");
    if (pid < 0) http_reply_error(res, 409, "no live slave to crash");
    else reply_pid(res, pid);
}

void adminapi_register(struct http_server *srv, struct workers *ws)
{
    http_server_route(srv, "POST", "/api/v1/crash/master", on_crash_master, ws);
    http_server_route(srv, "POST", "/api/v1/crash/slave", on_crash_slave, ws);
}
