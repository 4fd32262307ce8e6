/*
 * workers.c — see workers.h.
 *
 * The table of workers here is a cache of what the runtime and ZooKeeper
 * say; the epoch lives in the znode ZK_ROOT/master ({"id", "epoch"}), which
 * only the orchestrator writes. Each new master gets a higher epoch than any
 * before it, so the log can tell its entries from a replaced master's.
 */
#include "workers.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "runtime.h"
#include "zk.h"

#define MAX_WORKERS 64

struct wentry {
    char id[RUNTIME_ID_MAX];
    int pid;
    int master;
    int alive;
    int status;         /* wait status once it exited */
};

struct workers {
    struct workers_config cfg;
    struct zk *zk;
    struct runtime *rt;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct wentry w[MAX_WORKERS];
    int n;
    int64_t epoch;
    unsigned counter;
};

struct workers *workers_new(const struct workers_config *cfg, struct zk *zk)
{
    struct workers *ws = calloc(1, sizeof *ws);
    if (!ws) abort();
    ws->cfg = *cfg;
    ws->zk = zk;
    pthread_mutex_init(&ws->lock, NULL);
    clock_cond_init(&ws->changed);
    return ws;
}

void workers_attach(struct workers *ws, struct runtime *rt) { ws->rt = rt; }

void workers_on_exit(const char *id, int pid, int status, void *ctx)
{
    struct workers *ws = ctx;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n; i++) {
        if (strcmp(ws->w[i].id, id) == 0 && ws->w[i].alive) {
            ws->w[i].alive = 0;
            ws->w[i].status = status;
            log_warn("worker exited id=%s pid=%d role=%s status=%d", id, pid,
                     ws->w[i].master ? "master" : "slave", status);
        }
    }
    pthread_cond_broadcast(&ws->changed);
    pthread_mutex_unlock(&ws->lock);
}

/* A fresh worker id: start time in ms and a counter, unique across restarts. */
static void new_id(struct workers *ws, char *id)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(id, RUNTIME_ID_MAX, "w%llx%02x",
             (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000,
             ++ws->counter & 0xff);
}

static int spawn(struct workers *ws, const char *id, int master)
{
    char e_id[80], e_role[40], e_epoch[48], e_dir[600];
    snprintf(e_id, sizeof e_id, "WORKER_ID=%s", id);
    snprintf(e_role, sizeof e_role, "WORKER_ROLE=%s", master ? "master" : "slave");
    snprintf(e_epoch, sizeof e_epoch, "WORKER_EPOCH=%lld", (long long)ws->epoch);
    snprintf(e_dir, sizeof e_dir, "DATA_DIR=%s", ws->cfg.data_dir);
    struct runtime_spec spec = { .id = id };
    int k = 0;
    spec.env[k++] = e_id;
    spec.env[k++] = e_role;
    spec.env[k++] = e_epoch;
    spec.env[k++] = e_dir;
    for (int i = 0; ws->cfg.env[i] && k < RUNTIME_MAX_ENV; i++) spec.env[k++] = ws->cfg.env[i];
    spec.env[k] = NULL;

    struct runtime_worker out;
    if (runtime_spawn(ws->rt, &spec, &out)) return -1;
    pthread_mutex_lock(&ws->lock);
    if (ws->n < MAX_WORKERS) {
        struct wentry *e = &ws->w[ws->n++];
        snprintf(e->id, sizeof e->id, "%s", out.id);
        e->pid = out.pid;
        e->master = master;
        e->alive = 1;
    }
    pthread_mutex_unlock(&ws->lock);
    log_info("started worker id=%s pid=%d role=%s", out.id, out.pid, master ? "master" : "slave");
    return 0;
}

/* Whether worker id's znode says it is ready. */
static int is_ready(struct workers *ws, const char *id)
{
    char path[256], data[512];
    snprintf(path, sizeof path, "%s/workers/%s", ws->cfg.zk_root, id);
    int n = zk_get(ws->zk, path, data, sizeof data, NULL, NULL);
    if (n <= 0) return 0;
    cJSON *j = json_parse(data, (size_t)n);
    const char *state = j ? json_get_str(j, "state") : NULL;
    int ready = state && strcmp(state, "ready") == 0;
    cJSON_Delete(j);
    return ready;
}

/* The epoch number in znode name under the root, 0 if none. */
static int64_t read_epoch(struct workers *ws, const char *name)
{
    char path[256], data[512];
    int64_t epoch = 0;
    snprintf(path, sizeof path, "%s/%s", ws->cfg.zk_root, name);
    int n = zk_get(ws->zk, path, data, sizeof data, NULL, NULL);
    if (n == -1) return -1;
    if (n > 0) {
        cJSON *j = json_parse(data, (size_t)n);
        if (cJSON_IsNumber(j)) json_as_int(j, &epoch);
        else if (j) json_get_int(j, "epoch", &epoch);
        cJSON_Delete(j);
    }
    return epoch;
}

/* Records a new epoch, above the last one given out and above any a master
 * found in the log (ZK_ROOT/log_epoch), in ZK_ROOT/master. */
static int bump_epoch(struct workers *ws, const char *master_id)
{
    char path[256], data[512];
    int64_t given = read_epoch(ws, "master"), seen = read_epoch(ws, "log_epoch");
    if (given < 0 || seen < 0) return -1;
    pthread_mutex_lock(&ws->lock);
    ws->epoch = (given > seen ? given : seen) + 1;
    pthread_mutex_unlock(&ws->lock);
    snprintf(path, sizeof path, "%s/master", ws->cfg.zk_root);
    int n = snprintf(data, sizeof data, "{\"id\":\"%s\",\"epoch\":%lld}", master_id, (long long)ws->epoch);
    return zk_put(ws->zk, path, data, (size_t)n);
}

/* Whether worker id has exited; its wait status in *status. */
static int exited(struct workers *ws, const char *id, int *status)
{
    int gone = 0;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n; i++)
        if (strcmp(ws->w[i].id, id) == 0 && !ws->w[i].alive) {
            gone = 1;
            *status = ws->w[i].status;
        }
    pthread_mutex_unlock(&ws->lock);
    return gone;
}

int workers_start(struct workers *ws, volatile sig_atomic_t *stop)
{
    char dir[256], ids[MAX_WORKERS][RUNTIME_ID_MAX];
    int n = 1 + ws->cfg.initial_slaves;
    if (n > MAX_WORKERS) n = MAX_WORKERS;
    snprintf(dir, sizeof dir, "%s/workers", ws->cfg.zk_root);
    if (zk_ensure_path(ws->zk, dir)) return -1;
    for (int i = 0; i < n; i++) new_id(ws, ids[i]);
    /* The new epoch is recorded before its master exists, so no later master
     * can be given the same one. The master starts first: it has the lowest
     * PID, as the spec's crash/slave arithmetic expects. */
    if (bump_epoch(ws, ids[0])) return -1;
    for (int i = 0; i < n; i++)
        if (spawn(ws, ids[i], i == 0)) return -1;
    int64_t deadline = clock_ms() + ws->cfg.ready_timeout_ms;
    int retries = 3, status;
    for (int i = 0; i < n; i++) {
        while (!is_ready(ws, ids[i])) {
            if (*stop) return -1;
            if (exited(ws, ids[i], &status)) {
                /* Exit 3: the master found a newer epoch in the log than
                 * ZooKeeper remembered. It noted that epoch; go above it. */
                if (i > 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 3 || retries-- == 0) {
                    log_error("worker exited during start-up id=%s status=%d", ids[i], status);
                    return -1;
                }
                new_id(ws, ids[0]);
                if (bump_epoch(ws, ids[0]) || spawn(ws, ids[0], 1)) return -1;
                log_warn("restarted the master above the log's epoch id=%s epoch=%lld", ids[0],
                         (long long)ws->epoch);
                continue;
            }
            if (clock_ms() > deadline) {
                log_error("worker did not become ready id=%s timeout_ms=%d", ids[i],
                          ws->cfg.ready_timeout_ms);
                return -1;
            }
            struct timespec tick = { 0, 50 * 1000000L };
            nanosleep(&tick, NULL);
        }
    }
    log_info("workers ready master=%s slaves=%d epoch=%lld", ids[0], n - 1, (long long)ws->epoch);
    return 0;
}

int64_t workers_epoch(struct workers *ws)
{
    pthread_mutex_lock(&ws->lock);
    int64_t e = ws->epoch;
    pthread_mutex_unlock(&ws->lock);
    return e;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int workers_pids(struct workers *ws, int *pids, int max)
{
    int n = 0;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n && n < max; i++)
        if (ws->w[i].alive) pids[n++] = ws->w[i].pid;
    pthread_mutex_unlock(&ws->lock);
    qsort(pids, (size_t)n, sizeof *pids, cmp_int);
    return n;
}

static int wait_all_gone(struct workers *ws, int ms)
{
    struct timespec until = clock_deadline(ms);
    pthread_mutex_lock(&ws->lock);
    int alive;
    for (;;) {
        alive = 0;
        for (int i = 0; i < ws->n; i++) alive += ws->w[i].alive;
        if (!alive || pthread_cond_timedwait(&ws->changed, &ws->lock, &until)) break;
    }
    pthread_mutex_unlock(&ws->lock);
    return alive;
}

static void signal_all(struct workers *ws, int sig)
{
    char ids[MAX_WORKERS][RUNTIME_ID_MAX];
    int n = 0;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].alive) memcpy(ids[n++], ws->w[i].id, RUNTIME_ID_MAX);
    pthread_mutex_unlock(&ws->lock);
    /* Outside the lock: the runtime may report an exit (taking it) meanwhile. */
    for (int i = 0; i < n; i++) runtime_kill(ws->rt, ids[i], sig);
}

void workers_stop_all(struct workers *ws, int grace_ms)
{
    signal_all(ws, SIGTERM);
    if (wait_all_gone(ws, grace_ms)) {
        log_warn("workers did not stop in time; killing");
        signal_all(ws, SIGKILL);
        wait_all_gone(ws, 1000);
    }
}

void workers_free(struct workers *ws)
{
    if (!ws) return;
    pthread_cond_destroy(&ws->changed);
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}
