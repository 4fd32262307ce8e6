/*
 * runtime_docker.c — the docker runtime: workers are containers started and
 * stopped through the Docker Engine API on its Unix socket (see runtime.h for
 * the contract; docker_api.h for the calls, which any thread may make without
 * locking, and the version negotiated at creation from GET /_ping).
 *
 * Spawn: POST /containers/create?name=<stack>-worker-<id> (image, the spec's
 * env and nothing else, the three labels, HostConfig.NetworkMode = the
 * stack's network), POST /containers/{cid}/start, GET /containers/{cid}/json
 * for State.Pid. A leftover container of that name that is not running (a
 * worker that died while no orchestrator watched) is removed and the create
 * retried; a running one makes the spawn fail, as in the process runtime.
 *
 * Kill: POST /containers/{cid}/kill?signal=N. The worker is PID 1 of its
 * container; SIGKILL from outside the container's PID namespace always
 * works, SIGTERM works because the worker handles it.
 *
 * Exit notices: polling, not the events stream (the thread is
 * runtime_monitor.c's). Every POLL_MS one
 * GET /containers/json?all=1&filters={label: stack, role=worker} lists this
 * stack's workers with their states; a worker in the table whose container is
 * no longer running (or is gone) is inspected for its exit code, removed from
 * the table, reported through on_exit (after the lock is dropped, so the
 * callback may spawn), and its container deleted. Polling was chosen over
 * /events because it needs no long-lived streaming connection to re-establish
 * after an engine restart and cannot miss an event across such a gap: the
 * state is read again each time. 200 ms of delay is small next to a worker's
 * ZooKeeper session.
 *
 * Adoption: list() asks for this stack's running workers; one not in the
 * table (started by an earlier orchestrator) is inspected for its PID and
 * added, and from then on its exit is reported too.
 *
 * destroy() stops the monitor; containers keep running (a later orchestrator
 * adopts them), as with the process runtime. Stopped worker containers that
 * no monitor removed (their orchestrator went first) are removed when a new
 * runtime starts.
 */
#include "docker_api.h"
#include "log.h"
#include "runtime_monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 200
#define MAX_LIST 256

struct dworker {
    char id[RUNTIME_ID_MAX];
    char cid[72];
    int pid;
    unsigned long seq; /* when it was added: a list older than that says nothing of it */
};

struct docker_runtime {
    struct runtime base;
    struct docker_api api;
    char *image, *network, *stack;
    struct docker_limits limits;
    runtime_exit_fn on_exit;
    void *ctx;
    struct rt_monitor m;     /* its mu guards the table and seq */
    struct docker_entry *e;  /* the monitor's list buffer, MAX_LIST entries */
    struct dworker *w;
    int n, cap;
    unsigned long seq; /* of the last add */
};

static int find(const struct docker_runtime *d, const char *id)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->w[i].id, id) == 0) return i;
    return -1;
}

static int add(struct docker_runtime *d, const char *id, const char *cid, int pid)
{
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        struct dworker *w = realloc(d->w, (size_t)cap * sizeof *w);
        if (!w) return -1;
        d->w = w;
        d->cap = cap;
    }
    struct dworker *w = &d->w[d->n++];
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->cid, sizeof w->cid, "%s", cid);
    w->pid = pid;
    w->seq = ++d->seq;
    return 0;
}

static int d_spawn(struct runtime *rt, const struct runtime_spec *spec, struct runtime_worker *out)
{
    struct docker_runtime *d = (struct docker_runtime *)rt;
    if (rt_check_spec(spec) != 0) return -1;
    pthread_mutex_lock(&d->m.mu);
    int known = find(d, spec->id) >= 0;
    pthread_mutex_unlock(&d->m.mu);
    if (known) {
        log_error("spawn: worker already running id=%s", spec->id);
        return -1;
    }
    char name[RUNTIME_ID_MAX + 300], cid[72];
    docker_container_name(d->stack, spec->id, name, sizeof name);
    char *body = docker_create_body(d->image, d->network, d->stack, &d->limits, spec);
    if (!body) return -1;
    int rc = docker_create(&d->api, name, body, cid, sizeof cid);
    if (rc == 1) {
        /* A container of that name exists: a leftover is removed, a running
         * worker (of an earlier orchestrator) is not ours to replace. */
        int running = 0, pid = 0, code = 0;
        int ir = docker_inspect(&d->api, name, &running, &pid, &code);
        if (ir == 0 && running) {
            log_error("spawn: worker already running id=%s container=%s", spec->id, name);
            rc = -1;
        } else if (ir >= 0 && docker_remove(&d->api, name) == 0) {
            log_info("removed leftover container name=%s", name);
            rc = docker_create(&d->api, name, body, cid, sizeof cid);
        } else {
            rc = -1;
        }
    }
    free(body);
    if (rc != 0) {
        if (rc == 1) log_error("spawn: container name still taken name=%s", name);
        return -1;
    }
    if (docker_start(&d->api, cid, spec->id) != 0) {
        docker_remove(&d->api, cid);
        return -1;
    }
    int running = 0, pid = 0, code = 0;
    if (docker_inspect(&d->api, cid, &running, &pid, &code) != 0 || pid <= 0) {
        /* Exited already (PID 0) or cannot be read: a spawn that did not
         * take, like an exec failure of the process runtime. */
        log_error("spawn: container is not running id=%s container=%.12s exit_code=%d", spec->id, cid,
                  code);
        docker_remove(&d->api, cid);
        return -1;
    }
    pthread_mutex_lock(&d->m.mu);
    int ok = add(d, spec->id, cid, pid) == 0;
    pthread_mutex_unlock(&d->m.mu);
    if (!ok) {
        docker_remove(&d->api, cid);
        return -1;
    }
    log_info("spawned worker id=%s pid=%d container=%.12s image=%s network=%s", spec->id, pid, cid,
             d->image, d->network);
    if (out) {
        snprintf(out->id, sizeof out->id, "%s", spec->id);
        out->pid = pid;
    }
    return 0;
}

static int d_kill(struct runtime *rt, const char *id, int sig)
{
    struct docker_runtime *d = (struct docker_runtime *)rt;
    if (!rt_valid_id(id)) {
        log_error("kill: invalid worker id id=%s", id ? id : "(null)");
        return -1;
    }
    char ref[RUNTIME_ID_MAX + 300];
    int pid = 0;
    pthread_mutex_lock(&d->m.mu);
    int i = find(d, id);
    if (i >= 0) {
        snprintf(ref, sizeof ref, "%s", d->w[i].cid);
        pid = d->w[i].pid;
    }
    pthread_mutex_unlock(&d->m.mu);
    if (i < 0) docker_container_name(d->stack, id, ref, sizeof ref); /* not adopted yet */
    char path[512];
    snprintf(path, sizeof path, "/containers/%s/kill?signal=%d", ref, sig);
    struct docker_resp r;
    if (docker_call(&d->api, "POST", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 204) {
        log_info("signalled worker id=%s pid=%d sig=%d", id, pid, sig);
        rc = 0;
    } else if (r.status == 404) {
        log_warn("kill: unknown worker id=%s", id);
    } else if (r.status == 409) {
        log_warn("kill: worker already gone id=%s pid=%d", id, pid);
    } else {
        docker_log_error("kill", id, &r);
    }
    free(r.body);
    return rc;
}

static int d_list(struct runtime *rt, struct runtime_worker *out, int max)
{
    struct docker_runtime *d = (struct docker_runtime *)rt;
    struct docker_entry *e = calloc(MAX_LIST, sizeof *e);
    if (!e) return -1;
    int n = docker_list_workers(&d->api, d->stack, 1, e, MAX_LIST);
    if (n < 0) {
        free(e);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!e[i].running) continue;
        pthread_mutex_lock(&d->m.mu);
        int j = find(d, e[i].id);
        int pid = j >= 0 ? d->w[j].pid : 0;
        int same = j >= 0 && strcmp(d->w[j].cid, e[i].cid) == 0;
        pthread_mutex_unlock(&d->m.mu);
        if (j >= 0 && !same) continue; /* a stranger under a known id: not ours */
        if (j < 0) {
            int running = 0, code = 0;
            if (docker_inspect(&d->api, e[i].cid, &running, &pid, &code) != 0 || !running || pid <= 0)
                continue;
            pthread_mutex_lock(&d->m.mu);
            int added = find(d, e[i].id) < 0 && add(d, e[i].id, e[i].cid, pid) == 0;
            pthread_mutex_unlock(&d->m.mu);
            if (added) log_info("adopted worker id=%s pid=%d container=%.12s", e[i].id, pid, e[i].cid);
        }
        if (k < max) {
            snprintf(out[k].id, sizeof out[k].id, "%s", e[i].id);
            out[k].pid = pid;
            k++;
        }
    }
    free(e);
    return k;
}

/* Takes the workers of the table whose containers stopped or vanished out
 * of it and appends them to notes; e is the buffer for the list. */
static void collect(struct docker_runtime *d, struct docker_entry *e, struct rt_notices *notes)
{
    pthread_mutex_lock(&d->m.mu);
    unsigned long before = d->seq;
    pthread_mutex_unlock(&d->m.mu);
    int n = docker_list_workers(&d->api, d->stack, 0, e, MAX_LIST);
    if (n < 0) return; /* engine unreachable: nothing is known to have stopped */
    pthread_mutex_lock(&d->m.mu);
    for (int i = 0; i < d->n;) {
        struct dworker *w = &d->w[i];
        int alive = 0;
        for (int j = 0; j < n && !alive; j++)
            alive = strcmp(e[j].cid, w->cid) == 0 && e[j].running;
        /* Added while the list was on its way: not in it, yet running. */
        if (alive || w->seq > before) { i++; continue; }
        struct rt_notice *nt = rt_notices_add(notes);
        if (!nt) { i++; continue; }
        snprintf(nt->id, sizeof nt->id, "%s", w->id);
        snprintf(nt->cid, sizeof nt->cid, "%s", w->cid);
        nt->pid = w->pid;
        nt->status = -1;
        d->w[i] = d->w[--d->n];
    }
    pthread_mutex_unlock(&d->m.mu);
}

/* One pass of the monitor thread (runtime_monitor.h): the exit code of each
 * stopped worker is read before its container is removed. */
static int d_pass(void *arg, struct rt_notices *notes)
{
    struct docker_runtime *d = arg;
    collect(d, d->e, notes);
    for (int i = 0; i < notes->n; i++) {
        struct rt_notice *nt = &notes->v[i];
        int running = 0, pid = 0, code = 0;
        if (docker_inspect(&d->api, nt->cid, &running, &pid, &code) == 0) {
            nt->status = docker_wait_status(code);
            log_info("worker exited id=%s pid=%d exit_code=%d", nt->id, nt->pid, code);
        } else {
            log_info("worker exited id=%s pid=%d (container gone)", nt->id, nt->pid);
        }
        docker_remove(&d->api, nt->cid);
        if (d->on_exit) d->on_exit(nt->id, nt->pid, nt->status, d->ctx);
    }
    return notes->n;
}

static void free_drt(struct docker_runtime *d)
{
    docker_api_close(&d->api);
    free(d->e);
    free(d->w);
    free(d->image);
    free(d->network);
    free(d->stack);
    free(d);
}

static void d_destroy(struct runtime *rt)
{
    struct docker_runtime *d = (struct docker_runtime *)rt;
    if (!d) return;
    rt_monitor_stop(&d->m);
    free_drt(d);
}

static const struct runtime_ops docker_ops = {
    .spawn = d_spawn,
    .kill = d_kill,
    .list = d_list,
    .destroy = d_destroy,
};

/* Stopped workers of this stack that no runtime removed (their orchestrator
 * stopped before its monitor saw them go): nobody will report them now. */
static void remove_leftovers(struct docker_runtime *d)
{
    struct docker_entry *e = calloc(MAX_LIST, sizeof *e);
    int n = e ? docker_list_workers(&d->api, d->stack, 0, e, MAX_LIST) : -1;
    for (int i = 0; i < n; i++)
        if (!e[i].running && docker_remove(&d->api, e[i].cid) == 0)
            log_info("removed stopped worker container id=%s container=%.12s", e[i].id, e[i].cid);
    free(e);
}

struct runtime *runtime_docker_new(const char *socket, const char *image, const char *network,
                                   const char *stack, const struct docker_limits *limits,
                                   runtime_exit_fn on_exit, void *ctx)
{
    if (!socket || !*socket || !image || !*image || !rt_valid_name(network) || !rt_valid_name(stack)) {
        log_error("docker runtime: bad settings (socket, image, network [A-Za-z0-9_.-], stack)");
        return NULL;
    }
    struct docker_runtime *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->base.ops = &docker_ops;
    d->image = strdup(image);
    d->network = strdup(network);
    d->stack = strdup(stack);
    if (limits) d->limits = *limits;
    d->e = calloc(MAX_LIST, sizeof *d->e);
    d->on_exit = on_exit;
    d->ctx = ctx;
    if (!d->image || !d->network || !d->stack || !d->e) goto fail;
    if (docker_api_open(&d->api, socket) != 0) goto fail;
    remove_leftovers(d);
    if (rt_monitor_start(&d->m, POLL_MS, d_pass, d) != 0) goto fail;
    log_info("docker runtime socket=%s api=%s image=%s network=%s stack=%s", socket, d->api.version,
             image, network, stack);
    return &d->base;
fail:
    log_error("cannot create docker runtime socket=%s", socket);
    free_drt(d);
    return NULL;
}
