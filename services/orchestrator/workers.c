/*
 * workers.c — see workers.h: the table itself, spawning, killing, stopping.
 * Changes of master (election, switchover, adoption) are in
 * workers_roles.c; the table's layout in workers_internal.h.
 *
 * The table of workers here is a cache of what the runtime and ZooKeeper
 * say; the epoch lives in the znode ZK_ROOT/master ({"id", "epoch"}, see
 * epoch.h), which only the orchestrator writes. Each new master gets a
 * higher epoch than any before it, so the log can tell its entries from a
 * replaced master's.
 *
 * The epoch in memory is raised before ZK_ROOT/master is written, and the
 * DB API reads it when a write's reply arrives: from the moment a failover
 * begins, no reply of the old master is acknowledged. The new master learns
 * its epoch from the znode, so its replies can only come after.
 *
 * Locking: one mutex guards the table, the epoch and the generation, and
 * it is never held across a runtime call (a Docker Engine call may take
 * seconds) or a ZooKeeper call. The crash endpoints pick their victim and
 * mark it "killing" under the lock, so two concurrent crashes never pick
 * the same worker, then kill it with the lock released, then record the
 * result (a failed kill takes the mark back). A worker killed with SIGKILL
 * is taken for dead once the kill returns; an exit notice that comes while
 * the kill is under way is only noted, and one that comes after finds it
 * gone: either way the notice changes nothing. Dead entries stay in the
 * table (start-up looks at their exit status) until the space is needed.
 *
 * The fence (leader.h): every call that changes the workers — a spawn, a
 * kill, a retirement, a new epoch — is made only while leader_may_act says
 * this orchestrator is the active one, checked right before the call, so
 * an orchestrator that was frozen and wakes up deposed changes nothing
 * whatever its threads were doing when it stopped.
 */
#include "workers.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "epoch.h"
#include "events.h"
#include "json.h"
#include "leader.h"
#include "log.h"
#include "runtime.h"
#include "zk_acl.h"
#include "zksession.h"

#include "workers_internal.h"

/* 1 (logged) when this orchestrator may not act now: the caller does nothing. */
static int fenced(const char *what, const char *id)
{
    if (leader_may_act()) return 0;
    log_warn("not the active orchestrator (%s): not acting action=%s id=%s", leader_role(), what, id);
    return 1;
}

void wt_changed_locked(struct workers *ws)
{
    ws->gen++;
    pthread_cond_broadcast(&ws->changed);
}

void workers_poke(struct workers *ws)
{
    pthread_mutex_lock(&ws->lock);
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
}

uint64_t workers_wait(struct workers *ws, uint64_t seen, int timeout_ms)
{
    struct timespec until = clock_deadline(timeout_ms);
    pthread_mutex_lock(&ws->lock);
    while (ws->gen == seen && pthread_cond_timedwait(&ws->changed, &ws->lock, &until) == 0) {}
    uint64_t gen = ws->gen;
    pthread_mutex_unlock(&ws->lock);
    return gen;
}

/* ZooKeeper's library thread (zksession_listen): wake the supervisor. */
static void on_session_change(void *ctx) { workers_poke(ctx); }

struct workers *workers_new(const struct workers_config *cfg)
{
    struct workers *ws = calloc(1, sizeof *ws);
    if (!ws) abort();
    ws->cfg = *cfg;
    pthread_mutex_init(&ws->lock, NULL);
    clock_cond_init(&ws->changed);
    zksession_listen(cfg->zk, on_session_change, ws);
    return ws;
}

void workers_attach(struct workers *ws, struct runtime *rt) { ws->rt = rt; }

struct worker_slot *wt_find(struct workers *ws, const char *id)
{
    for (int i = 0; i < ws->n; i++)
        if (strcmp(ws->w[i].info.id, id) == 0) return &ws->w[i];
    return NULL;
}

/* A worker that stopped is never started again (docs/design.md, "A crashed
 * worker is never reused": its replacement starts from the newest checkpoint
 * and the log), so its database file is garbage: the
 * process runtime's files go with it. (A container's go with the container;
 * there the names below do not exist on this side.) */
static void remove_files(struct workers *ws, const char *id)
{
    static const char *const suffixes[] = { ".db", ".db-wal", ".db-shm", ".db.ckpt", ".db.fetch" };
    char path[700];
    if (!*id || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(id))
        return; /* not one of our ids (a runtime reports what it finds): no path from it */
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(path, sizeof path, "%s/%s%s", ws->cfg.data_dir, id, suffixes[i]);
        unlink(path);
    }
}

void workers_on_exit(const char *id, int pid, int status, void *ctx)
{
    struct workers *ws = ctx;
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = wt_find(ws, id);
    if (e && e->alive && e->killing) {
        e->exited = 1; /* workers_kill_picked records it */
        e->exit_status = status;
    } else if (e && e->alive) {
        e->alive = 0;
        e->status = status;
        if (e->info.retiring || ws->stopping)
            log_info("worker stopped id=%s pid=%d status=%d", id, pid, status);
        else
            log_warn("worker exited id=%s pid=%d role=%s status=%d", id, pid,
                     e->info.master ? "master" : "slave", status);
        events_add(e->info.retiring || ws->stopping ? "stop" : "exit", "%s %s pid=%d exited status=%d",
                   e->info.master ? "master" : "slave", id, pid, status);
    }
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
    remove_files(ws, id);
}

/* A fresh worker id: start time in ms and a counter, unique across restarts. */
static void new_id(struct workers *ws, char *id)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&ws->lock);
    unsigned k = ++ws->counter & 0xff;
    pthread_mutex_unlock(&ws->lock);
    snprintf(id, RUNTIME_ID_MAX, "w%llx%02x",
             (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000, k);
}

/* A free entry: a new one, else the space of a dead one. Caller holds lock. */
struct worker_slot *wt_new_entry(struct workers *ws)
{
    if (ws->n < WORKERS_MAX) return &ws->w[ws->n++];
    for (int i = 0; i < ws->n; i++)
        if (!ws->w[i].alive) return &ws->w[i];
    return NULL;
}

static int spawn(struct workers *ws, const char *id, int master)
{
    char e_id[80], e_role[40], e_epoch[48], e_dir[600], e_node[ZK_AUTH_MAX + 16], node[ZK_AUTH_MAX];
    snprintf(e_id, sizeof e_id, "WORKER_ID=%s", id);
    snprintf(e_role, sizeof e_role, "WORKER_ROLE=%s", master ? "master" : "slave");
    snprintf(e_epoch, sizeof e_epoch, "WORKER_EPOCH=%lld", (long long)workers_epoch(ws));
    snprintf(e_dir, sizeof e_dir, "DATA_DIR=%s", ws->cfg.data_dir);
    struct runtime_spec spec = { .id = id };
    int k = 0;
    spec.env[k++] = e_id;
    spec.env[k++] = e_role;
    spec.env[k++] = e_epoch;
    spec.env[k++] = e_dir;
    if (ws->cfg.zk_auth && *ws->cfg.zk_auth) {
        /* Its own ZooKeeper identity: the only one that may write its znode. */
        if (zk_node_auth(ws->cfg.zk_auth, id, node, sizeof node)) return -1;
        snprintf(e_node, sizeof e_node, "ZK_NODE_AUTH=%s", node);
        spec.env[k++] = e_node;
    }
    for (int i = 0; ws->cfg.env[i] && k < RUNTIME_MAX_ENV; i++) spec.env[k++] = ws->cfg.env[i];
    spec.env[k] = NULL;
    spec.withhold = ws->cfg.withhold;

    /* The entry exists before the process does: a worker that dies at once
     * is reported by the runtime's monitor, maybe before runtime_spawn has
     * even returned here, and its notice must find it. PID 0 means
     * "spawning": no list shows it, no crash picks it. */
    if (fenced("spawn", id)) return -1;
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = ws->stopping ? NULL : wt_new_entry(ws);
    if (e) {
        memset(e, 0, sizeof *e);
        snprintf(e->info.id, sizeof e->info.id, "%s", id);
        e->info.master = master;
        e->info.spawned_at = e->info.designated_at = clock_ms();
        e->alive = 1;
    } else if (!ws->stopping) {
        log_error("worker table full; not starting id=%s", id);
    }
    pthread_mutex_unlock(&ws->lock);
    if (!e) return -1;
    struct runtime_worker out;
    int rc = runtime_spawn(ws->rt, &spec, &out);
    pthread_mutex_lock(&ws->lock);
    int stopping = ws->stopping, dead = !e->alive;
    if (rc) {
        e->alive = 0;
        e->status = -1;
    } else {
        e->info.pid = out.pid;
    }
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
    if (rc) return -1;
    log_info("started worker id=%s pid=%d role=%s", out.id, out.pid, master ? "master" : "slave");
    events_add("spawn", "started %s %s pid=%d", master ? "master" : "slave", out.id, out.pid);
    if (stopping && !dead) {
        /* Shutdown began meanwhile: nothing may outlive it. */
        workers_kill(ws, id, "started during shutdown");
        return -1;
    }
    return 0;
}

/* Records a new epoch (see epoch.h): raised here first, so that from now on
 * no reply of the old one is acknowledged, then published naming the master. */
int wt_bump_epoch(struct workers *ws, const char *master_id)
{
    if (fenced("epoch", master_id)) return -1;
    int64_t floor = workers_epoch(ws); /* above an earlier bump whose write failed, too */
    struct zk *zk = zksession_handle(ws->cfg.zk);
    int64_t epoch = epoch_next(zk, ws->cfg.zk_root, floor);
    if (epoch < 0) return -1;
    pthread_mutex_lock(&ws->lock);
    ws->epoch = epoch;
    pthread_mutex_unlock(&ws->lock);
    return epoch_publish(zk, ws->cfg.zk_root, master_id, epoch);
}

int workers_exit_status(struct workers *ws, const char *id, int *status)
{
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = wt_find(ws, id);
    int gone = e && !e->alive;
    if (gone) *status = e->status;
    pthread_mutex_unlock(&ws->lock);
    return gone;
}

void wt_log_designated(struct workers *ws, const char *id)
{
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = wt_find(ws, id);
    int pid = e ? e->info.pid : 0;
    long long epoch = (long long)ws->epoch;
    pthread_mutex_unlock(&ws->lock);
    log_info("master designated id=%s pid=%d epoch=%lld", id, pid, epoch);
    events_add("election", "master %s pid=%d epoch=%lld", id, pid, epoch);
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
        if (ws->w[i].alive && ws->w[i].info.pid > 0) pids[n++] = ws->w[i].info.pid;
    pthread_mutex_unlock(&ws->lock);
    qsort(pids, (size_t)n, sizeof *pids, cmp_int);
    return n;
}

int workers_list(struct workers *ws, struct worker_info *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n && n < max; i++)
        if (ws->w[i].alive && ws->w[i].info.pid > 0) out[n++] = ws->w[i].info;
    pthread_mutex_unlock(&ws->lock);
    return n;
}

/* The result of killing e (caller holds lock): taken for dead if the kill
 * worked; else unmarked, and dead after all if its exit came meanwhile. */
static void kill_done(struct workers *ws, struct worker_slot *e, int killed, const char *why)
{
    const char *role = e->info.master ? "master" : "slave";
    e->killing = 0;
    if (killed) {
        e->alive = 0;
        e->status = SIGKILL; /* as a wait status: killed by SIGKILL */
        log_warn("killed worker id=%s pid=%d role=%s why=\"%s\"", e->info.id, e->info.pid, role, why);
        events_add("crash", "killed %s %s pid=%d: %s", role, e->info.id, e->info.pid, why);
    } else if (e->exited) {
        e->alive = 0;
        e->status = e->exit_status;
        log_warn("worker exited id=%s pid=%d role=%s status=%d (its kill failed)", e->info.id, e->info.pid,
                 role, e->status);
        events_add("exit", "%s %s pid=%d exited status=%d", role, e->info.id, e->info.pid, e->status);
    }
    wt_changed_locked(ws);
}

int workers_kill_picked(struct workers *ws, workers_pick_fn pick, void *ctx, int wait_ms, const char *why)
{
    struct timespec until = clock_deadline(wait_ms);
    struct worker_info live[WORKERS_MAX];
    struct worker_slot *entry[WORKERS_MAX];
    char id[RUNTIME_ID_MAX] = "";
    int pid = -1;
    pthread_mutex_lock(&ws->lock);
    for (;;) {
        int n = 0;
        for (int i = 0; i < ws->n; i++)
            if (ws->w[i].alive && ws->w[i].info.pid > 0 && !ws->w[i].killing) {
                entry[n] = &ws->w[i];
                live[n++] = ws->w[i].info;
            }
        int k = pick(live, n, ctx);
        if (k >= 0 && k < n) {
            entry[k]->killing = 1;
            entry[k]->exited = 0;
            memcpy(id, entry[k]->info.id, sizeof id);
            pid = entry[k]->info.pid;
            break;
        }
        if (ws->stopping || wait_ms <= 0 || pthread_cond_timedwait(&ws->changed, &ws->lock, &until)) break;
    }
    pthread_mutex_unlock(&ws->lock);
    if (!id[0]) return -1;
    /* Unlocked: the runtime may take seconds (the Docker Engine), and its
     * exit notice must be able to come meanwhile. */
    int killed = !fenced("kill", id) && runtime_kill(ws->rt, id, SIGKILL) == 0;
    pthread_mutex_lock(&ws->lock);
    /* Ids are never reused, and a marked entry is alive, so never recycled. */
    struct worker_slot *e = wt_find(ws, id);
    if (e) kill_done(ws, e, killed, why);
    pthread_mutex_unlock(&ws->lock);
    return killed ? pid : -1;
}

static int pick_id(const struct worker_info *w, int n, void *ctx)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].id, ctx) == 0) return i;
    return -1;
}

int workers_kill(struct workers *ws, const char *id, const char *why)
{
    return workers_kill_picked(ws, pick_id, (void *)id, 0, why) > 0 ? 0 : -1;
}

int workers_retire(struct workers *ws, const char *id)
{
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = wt_find(ws, id);
    int ok = e && e->alive && !e->info.master && !fenced("retire", id);
    if (ok) {
        e->info.retiring = 1;
        e->info.retired_at = clock_ms();
        wt_changed_locked(ws);
    }
    pthread_mutex_unlock(&ws->lock);
    if (!ok) return -1;
    log_info("retiring slave id=%s", id);
    events_add("retire", "retiring slave %s", id);
    /* The flag is set before the signal, so the exit can never look like a crash. */
    return runtime_kill(ws->rt, id, SIGTERM);
}

int workers_spawn_slave(struct workers *ws, char *id)
{
    char own[RUNTIME_ID_MAX];
    if (!id) id = own;
    new_id(ws, id);
    return spawn(ws, id, 0);
}

int workers_spawn_master(struct workers *ws, char *id)
{
    char own[RUNTIME_ID_MAX];
    if (!id) id = own;
    new_id(ws, id);
    /* The new epoch is recorded before its master exists, so no later
     * master can be given the same one. */
    if (wt_bump_epoch(ws, id) || spawn(ws, id, 1)) return -1;
    wt_log_designated(ws, id);
    return 0;
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
    char ids[WORKERS_MAX][RUNTIME_ID_MAX];
    int n = 0;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].alive) memcpy(ids[n++], ws->w[i].info.id, RUNTIME_ID_MAX);
    pthread_mutex_unlock(&ws->lock);
    /* Outside the lock: the runtime may report an exit (taking it) meanwhile. */
    for (int i = 0; i < n; i++)
        if (!fenced("stop", ids[i])) runtime_kill(ws->rt, ids[i], sig);
}

void workers_stop_all(struct workers *ws, int grace_ms)
{
    pthread_mutex_lock(&ws->lock);
    ws->stopping = 1;
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
    if (!leader_may_act()) {
        /* Not (or no longer surely) the active one: the workers are the
         * active orchestrator's, which adopts them. */
        log_warn("not the active orchestrator (%s): leaving the workers running", leader_role());
        return;
    }
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
