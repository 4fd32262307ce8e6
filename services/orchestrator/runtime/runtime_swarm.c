/*
 * runtime_swarm.c — the swarm runtime: each worker is a Swarm service of one
 * replica, created and removed through the Engine API of a swarm manager
 * (see runtime.h for the contract; swarm_api.h for the calls, swarm_json.h
 * for what they send and read).
 *
 * Spawn: POST /services/create "<stack>-worker-<id>" (restart policy none:
 * whether and where a worker is replaced is the orchestrator's decision, as
 * with containers), then GET /tasks of that service every SPAWN_POLL_MS until
 * its task runs and reports a container PID (SPAWN_TIMEOUT_MS at most: the
 * node may still be preparing the task). A task that ends first, is refused
 * (no image on the node, a constraint no node meets) or never runs fails the
 * spawn, and its service is removed. Placement: with SWARM_CONSTRAINTS, the
 * constraints and Swarm's scheduler; without, the runtime itself picks the
 * ready, active node that runs the fewest of its workers (a node where a
 * spawn just failed is passed over for BAD_NODE_MS) and pins the service to
 * it. The spread preference a service carries spreads only that service's
 * own tasks, and each worker is a service of one task: the count across
 * services has to be kept here.
 *
 * Kill: DELETE /services/{id}. Swarm stops the task's container with SIGTERM
 * and SIGKILL after SWARM_STOP_GRACE_S, which is what a SIGTERM (retire,
 * shutdown) asks for. A SIGKILL (crash) of a task on the manager's own node
 * is first delivered to its container directly; on another node there is no
 * Engine API to reach the container through, and the service's removal
 * stands for it. Either way the worker is gone from the orchestrator's view
 * when kill returns, as with the other runtimes; a deposed master that still
 * runs for the grace period is fenced by its epoch (docs/design.md).
 *
 * Exit notices (the thread is runtime_monitor.c's): every POLL_MS, GET
 * /services by label, then GET /tasks of the services the table holds. A
 * worker whose service is gone, or whose task is done — finished, failed,
 * or no longer meant to run: when a node goes down, Swarm sets its tasks'
 * desired state to shutdown while their observed state stays "running" —
 * is reported once and its service removed. The status is the container's
 * exit code where the task reported one, else the signal of our own kill,
 * else unknown (-1).
 *
 * The PID. Status.ContainerStatus.PID of the task: a PID in the PID
 * namespace of the node that runs the task, not of the orchestrator's. PIDs
 * of workers on two nodes may be equal; the orchestrator only compares them
 * (lowest-PID election, highest-PID crash), which stays a deterministic
 * choice. Nothing signals a worker by its PID.
 *
 * Adoption: list() finds this stack's services by label, adopts those whose
 * task runs, and reports their exits from then on. A new runtime removes the
 * stack's services whose task is done (their orchestrator stopped before its
 * monitor saw them go).
 */
#include "swarm_api.h"
#include "clock.h"
#include "log.h"
#include "runtime_monitor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 250
#define MAX_LIST 256
#define MAX_TASKS 1024
#define SPAWN_TIMEOUT_MS 45000
#define SPAWN_POLL_MS 100
#define BAD_NODE_MS 60000
#define NODE_CHECK_MS 2000

struct sworker {
    char id[RUNTIME_ID_MAX];
    char sid[SWARM_SID_MAX], node[SWARM_SID_MAX], cid[SWARM_SID_MAX];
    int pid;
    int killed;        /* the signal of our kill, 0 if none */
    unsigned long seq; /* when it was added: a list older than that says nothing of it */
};

struct swarm_runtime {
    struct runtime base;
    struct docker_api api;
    struct swarm_settings s; /* its strings are owned copies */
    char self[SWARM_SID_MAX]; /* this engine's node id */
    runtime_exit_fn on_exit;
    void *ctx;
    struct rt_monitor m;          /* its mu guards the table, seq and bad_node */
    struct swarm_service *svc;    /* the monitor's buffers */
    struct swarm_task *tasks;
    struct sworker *w;
    int n, cap;
    unsigned long seq;
    char bad_node[SWARM_SID_MAX]; /* where a spawn last failed, until bad_until */
    int64_t bad_until;
};

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int find(const struct swarm_runtime *r, const char *id)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->w[i].id, id) == 0) return i;
    return -1;
}

static int add(struct swarm_runtime *r, const char *id, const char *sid, const struct swarm_task *t)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        struct sworker *w = realloc(r->w, (size_t)cap * sizeof *w);
        if (!w) return -1;
        r->w = w;
        r->cap = cap;
    }
    struct sworker *w = &r->w[r->n++];
    memset(w, 0, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->sid, sizeof w->sid, "%s", sid);
    snprintf(w->node, sizeof w->node, "%s", t->node);
    snprintf(w->cid, sizeof w->cid, "%s", t->cid);
    w->pid = t->pid;
    w->seq = ++r->seq;
    return 0;
}

/* The node a new worker goes to when no constraints are set: the ready one
 * running the fewest of the table's workers. 0 with out filled, -1 to leave
 * it to Swarm (no node list). */
static int pick_node(struct swarm_runtime *r, char *out, size_t cap)
{
    char (*ids)[SWARM_SID_MAX] = calloc(SWARM_MAX_NODES, sizeof *ids);
    int n = ids ? swarm_list_nodes(&r->api, ids, SWARM_MAX_NODES) : -1;
    int best = -1, best_count = 0;
    pthread_mutex_lock(&r->m.mu);
    int avoid = r->bad_until > clock_ms() && n > 1;
    for (int i = 0; i < n; i++) {
        if (avoid && strcmp(ids[i], r->bad_node) == 0) continue;
        int c = 0;
        for (int j = 0; j < r->n; j++) c += strcmp(r->w[j].node, ids[i]) == 0;
        if (best < 0 || c < best_count) { best = i; best_count = c; }
    }
    pthread_mutex_unlock(&r->m.mu);
    if (best >= 0) snprintf(out, cap, "%s", ids[best]);
    free(ids);
    return best >= 0 ? 0 : -1;
}

static void mark_bad(struct swarm_runtime *r, const char *node)
{
    if (!node || !*node) return;
    pthread_mutex_lock(&r->m.mu);
    snprintf(r->bad_node, sizeof r->bad_node, "%s", node);
    r->bad_until = clock_ms() + BAD_NODE_MS;
    pthread_mutex_unlock(&r->m.mu);
}

/* Waits for the task of service sid to run; *t its task. 0, or -1 (logged).
 * A service pinned to a node that is no longer ready would wait for ever:
 * that is checked every NODE_CHECK_MS. */
static int wait_running(struct swarm_runtime *r, const char *id, const char *sid, const char *pinned,
                        struct swarm_task *t)
{
    int64_t start = clock_ms(), end = start + SPAWN_TIMEOUT_MS, next_check = start + NODE_CHECK_MS;
    const char *one[] = { sid };
    memset(t, 0, sizeof *t);
    for (;;) {
        if (*pinned && clock_ms() >= next_check) {
            next_check = clock_ms() + NODE_CHECK_MS;
            if (swarm_node_ready(&r->api, pinned) == 0) {
                log_error("spawn: the worker's node is no longer ready id=%s service=%.12s node=%.12s", id, sid,
                          pinned);
                return -1;
            }
        }
        struct swarm_task ts[8];
        int n = swarm_list_tasks(&r->api, one, 1, ts, 8);
        int k = n > 0 ? swarm_task_of(ts, n, sid) : -1;
        if (k >= 0) {
            *t = ts[k];
            if (t->state == SWARM_RUNNING && t->pid > 0) return 0;
            if (t->state == SWARM_DONE) {
                log_error("spawn: worker's task ended before it ran id=%s service=%.12s node=%.12s exit_code=%d err=\"%s\"",
                          id, sid, t->node, t->exit_code, t->err);
                return -1;
            }
        }
        if (clock_ms() >= end) {
            log_error("spawn: worker's task not running in time id=%s service=%.12s node=%.12s timeout_ms=%d err=\"%s\"",
                      id, sid, t->node, SPAWN_TIMEOUT_MS, t->err);
            return -1;
        }
        sleep_ms(SPAWN_POLL_MS);
    }
}

/* A service named for id exists: a leftover whose task is done is removed
 * (0: try again), a live one is not ours to replace (-1). */
static int clear_name(struct swarm_runtime *r, const char *id, const char *name)
{
    struct swarm_service *svc = calloc(MAX_LIST, sizeof *svc);
    int n = svc ? swarm_list_services(&r->api, r->s.stack, svc, MAX_LIST) : -1;
    int rc = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(svc[i].id, id) != 0) continue;
        const char *one[] = { svc[i].sid };
        struct swarm_task ts[8];
        int nt = swarm_list_tasks(&r->api, one, 1, ts, 8);
        int k = nt >= 0 ? swarm_task_of(ts, nt, svc[i].sid) : -2;
        if (k >= 0 && ts[k].state == SWARM_DONE && swarm_remove(&r->api, svc[i].sid) >= 0) {
            log_info("removed leftover service name=%s", name);
            rc = 0;
        } else if (k != -2) {
            log_error("spawn: worker already running id=%s service=%s", id, name);
        }
        break;
    }
    free(svc);
    return rc;
}

static int s_spawn(struct runtime *rt, const struct runtime_spec *spec, struct runtime_worker *out)
{
    struct swarm_runtime *r = (struct swarm_runtime *)rt;
    if (rt_check_spec(spec) != 0) return -1;
    pthread_mutex_lock(&r->m.mu);
    int known = find(r, spec->id) >= 0;
    pthread_mutex_unlock(&r->m.mu);
    if (known) {
        log_error("spawn: worker already running id=%s", spec->id);
        return -1;
    }
    char node[SWARM_SID_MAX] = "", name[RUNTIME_ID_MAX + 300], sid[SWARM_SID_MAX];
    if (!*r->s.constraints && pick_node(r, node, sizeof node) != 0) node[0] = '\0';
    docker_container_name(r->s.stack, spec->id, name, sizeof name);
    char *body = swarm_service_body(&r->s, spec, *node ? node : NULL);
    if (!body) return -1;
    int rc = swarm_create(&r->api, name, body, sid, sizeof sid);
    if (rc == 1 && clear_name(r, spec->id, name) == 0) rc = swarm_create(&r->api, name, body, sid, sizeof sid);
    free(body);
    if (rc != 0) {
        if (rc == 1) log_error("spawn: service name taken name=%s", name);
        return -1;
    }
    struct swarm_task t;
    if (wait_running(r, spec->id, sid, node, &t) != 0) {
        mark_bad(r, *t.node ? t.node : node);
        swarm_remove(&r->api, sid);
        return -1;
    }
    pthread_mutex_lock(&r->m.mu);
    int ok = add(r, spec->id, sid, &t) == 0;
    pthread_mutex_unlock(&r->m.mu);
    if (!ok) {
        swarm_remove(&r->api, sid);
        return -1;
    }
    log_info("spawned worker id=%s pid=%d service=%.12s node=%.12s image=%s network=%s", spec->id, t.pid, sid,
             t.node, r->s.image, r->s.network);
    if (out) {
        snprintf(out->id, sizeof out->id, "%s", spec->id);
        out->pid = t.pid;
    }
    return 0;
}

static int s_kill(struct runtime *rt, const char *id, int sig)
{
    struct swarm_runtime *r = (struct swarm_runtime *)rt;
    if (!rt_valid_id(id)) {
        log_error("kill: invalid worker id id=%s", id ? id : "(null)");
        return -1;
    }
    char ref[RUNTIME_ID_MAX + 300], cid[SWARM_SID_MAX] = "";
    int pid = 0, local = 0;
    pthread_mutex_lock(&r->m.mu);
    int i = find(r, id);
    if (i >= 0) {
        struct sworker *w = &r->w[i];
        snprintf(ref, sizeof ref, "%s", w->sid);
        snprintf(cid, sizeof cid, "%s", w->cid);
        pid = w->pid;
        local = *w->node && strcmp(w->node, r->self) == 0;
        w->killed = sig;
    }
    pthread_mutex_unlock(&r->m.mu);
    if (i < 0) docker_container_name(r->s.stack, id, ref, sizeof ref); /* not adopted yet */
    if (sig == SIGKILL && local && *cid && swarm_kill_local(&r->api, cid, SIGKILL) == 0)
        log_info("killed worker's container id=%s pid=%d container=%.12s", id, pid, cid);
    int rc = swarm_remove(&r->api, ref);
    if (rc == 0) {
        log_info("removed worker service id=%s pid=%d sig=%d service=%.12s", id, pid, sig, ref);
        return 0;
    }
    if (rc == 1) log_warn("kill: unknown worker id=%s", id);
    return -1;
}

/* This stack's services and their tasks into svc and ts; the counts. -1
 * when either list failed. */
static int list_all(struct swarm_runtime *r, struct swarm_service *svc, int *ns, struct swarm_task *ts, int *nt)
{
    *ns = swarm_list_services(&r->api, r->s.stack, svc, MAX_LIST);
    if (*ns < 0) return -1;
    const char *sids[MAX_LIST];
    for (int i = 0; i < *ns; i++) sids[i] = svc[i].sid;
    *nt = *ns ? swarm_list_tasks(&r->api, sids, *ns, ts, MAX_TASKS) : 0;
    return *nt < 0 ? -1 : 0;
}

static int s_list(struct runtime *rt, struct runtime_worker *out, int max)
{
    struct swarm_runtime *r = (struct swarm_runtime *)rt;
    struct swarm_service *svc = calloc(MAX_LIST, sizeof *svc);
    struct swarm_task *ts = calloc(MAX_TASKS, sizeof *ts);
    int ns = 0, nt = 0, k = -1;
    if (svc && ts && list_all(r, svc, &ns, ts, &nt) == 0) {
        k = 0;
        for (int i = 0; i < ns; i++) {
            int t = swarm_task_of(ts, nt, svc[i].sid);
            if (t < 0 || ts[t].state != SWARM_RUNNING || ts[t].pid <= 0) continue;
            pthread_mutex_lock(&r->m.mu);
            int j = find(r, svc[i].id);
            int same = j >= 0 && strcmp(r->w[j].sid, svc[i].sid) == 0;
            int pid = same ? r->w[j].pid : ts[t].pid;
            int added = j < 0 && add(r, svc[i].id, svc[i].sid, &ts[t]) == 0;
            pthread_mutex_unlock(&r->m.mu);
            if (j >= 0 && !same) continue; /* a stranger under a known id: not ours */
            if (j < 0 && !added) continue;
            if (added)
                log_info("adopted worker id=%s pid=%d service=%.12s node=%.12s", svc[i].id, pid, svc[i].sid,
                         ts[t].node);
            if (k < max) {
                snprintf(out[k].id, sizeof out[k].id, "%s", svc[i].id);
                out[k].pid = pid;
                k++;
            }
        }
    }
    free(svc);
    free(ts);
    return k;
}

/* The wait status to report for a worker whose task is t (NULL: gone). */
static int status_of(const struct sworker *w, const struct swarm_task *t)
{
    if (t && t->exit_code >= 0) return docker_wait_status(t->exit_code);
    return w->killed ? w->killed : -1;
}

/* One pass of the monitor thread (runtime_monitor.h). */
static int s_pass(void *arg, struct rt_notices *notes)
{
    struct swarm_runtime *r = arg;
    pthread_mutex_lock(&r->m.mu);
    unsigned long before = r->seq;
    pthread_mutex_unlock(&r->m.mu);
    int ns = 0, nt = 0;
    if (list_all(r, r->svc, &ns, r->tasks, &nt) != 0) return 0; /* nothing is known to have stopped */
    pthread_mutex_lock(&r->m.mu);
    for (int i = 0; i < r->n;) {
        struct sworker *w = &r->w[i];
        int listed = 0;
        for (int j = 0; j < ns && !listed; j++) listed = strcmp(r->svc[j].sid, w->sid) == 0;
        int t = listed ? swarm_task_of(r->tasks, nt, w->sid) : -1;
        int done = !listed || t < 0 || r->tasks[t].state == SWARM_DONE;
        /* Added while the lists were on their way: not in them, yet running. */
        struct rt_notice *nt_ = done && w->seq <= before ? rt_notices_add(notes) : NULL;
        if (!nt_) { i++; continue; }
        snprintf(nt_->id, sizeof nt_->id, "%s", w->id);
        snprintf(nt_->cid, sizeof nt_->cid, "%s", w->sid);
        nt_->pid = w->pid;
        nt_->status = status_of(w, t >= 0 ? &r->tasks[t] : NULL);
        if (t >= 0 && r->tasks[t].exit_code >= 0)
            log_info("worker exited id=%s pid=%d exit_code=%d node=%.12s", w->id, w->pid, r->tasks[t].exit_code,
                     w->node);
        else
            log_info("worker exited id=%s pid=%d node=%.12s (%s)", w->id, w->pid, w->node,
                     listed ? "its task is no longer meant to run" : "its service is gone");
        r->w[i] = r->w[--r->n];
    }
    pthread_mutex_unlock(&r->m.mu);
    for (int i = 0; i < notes->n; i++) {
        struct rt_notice *n = &notes->v[i];
        swarm_remove(&r->api, n->cid);
        if (r->on_exit) r->on_exit(n->id, n->pid, n->status, r->ctx);
    }
    return notes->n;
}

static void free_srt(struct swarm_runtime *r)
{
    docker_api_close(&r->api);
    free(r->svc);
    free(r->tasks);
    free(r->w);
    free((char *)r->s.image);
    free((char *)r->s.network);
    free((char *)r->s.stack);
    free((char *)r->s.constraints);
    free(r);
}

static void s_destroy(struct runtime *rt)
{
    struct swarm_runtime *r = (struct swarm_runtime *)rt;
    if (!r) return;
    rt_monitor_stop(&r->m);
    free_srt(r);
}

static const struct runtime_ops swarm_ops = {
    .spawn = s_spawn,
    .kill = s_kill,
    .list = s_list,
    .destroy = s_destroy,
};

/* Services of this stack whose task is done, that no runtime removed. */
static void remove_leftovers(struct swarm_runtime *r)
{
    int ns = 0, nt = 0;
    if (list_all(r, r->svc, &ns, r->tasks, &nt) != 0) return;
    for (int i = 0; i < ns; i++) {
        int t = swarm_task_of(r->tasks, nt, r->svc[i].sid);
        if (t >= 0 && r->tasks[t].state == SWARM_DONE && swarm_remove(&r->api, r->svc[i].sid) >= 0)
            log_info("removed finished worker service id=%s service=%.12s", r->svc[i].id, r->svc[i].sid);
    }
}

struct runtime *runtime_swarm_new(const struct swarm_settings *s, runtime_exit_fn on_exit, void *ctx)
{
    if (!s || !s->socket || !*s->socket || !s->image || !*s->image || !rt_valid_name(s->network) ||
        !rt_valid_name(s->stack)) {
        log_error("swarm runtime: bad settings (socket, image, network [A-Za-z0-9_.-], stack)");
        return NULL;
    }
    struct swarm_runtime *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base.ops = &swarm_ops;
    r->s = *s;
    r->s.image = strdup(s->image);
    r->s.network = strdup(s->network);
    r->s.stack = strdup(s->stack);
    r->s.constraints = strdup(s->constraints ? s->constraints : "");
    r->s.socket = NULL; /* the api keeps its own copy */
    r->svc = calloc(MAX_LIST, sizeof *r->svc);
    r->tasks = calloc(MAX_TASKS, sizeof *r->tasks);
    r->on_exit = on_exit;
    r->ctx = ctx;
    int manager = 0;
    if (!r->s.image || !r->s.network || !r->s.stack || !r->s.constraints || !r->svc || !r->tasks) goto fail;
    if (docker_api_open(&r->api, s->socket) != 0) goto fail;
    if (!swarm_version_ok(r->api.version)) {
        log_error("swarm runtime: engine API %s is older than 1.%d (capabilities and pids limits of services)",
                  r->api.version, SWARM_API_MIN_MINOR);
        goto fail;
    }
    if (swarm_info(&r->api, r->self, sizeof r->self, &manager) != 0 || !manager) {
        log_error("swarm runtime: the engine at %s is not an active swarm manager", s->socket);
        goto fail;
    }
    remove_leftovers(r);
    if (rt_monitor_start(&r->m, POLL_MS, s_pass, r) != 0) goto fail;
    log_info("swarm runtime socket=%s api=%s node=%.12s image=%s network=%s stack=%s constraints=\"%s\"",
             s->socket, r->api.version, r->self, r->s.image, r->s.network, r->s.stack, r->s.constraints);
    return &r->base;
fail:
    log_error("cannot create swarm runtime socket=%s", s->socket);
    free_srt(r);
    return NULL;
}
