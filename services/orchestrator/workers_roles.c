/*
 * workers_roles.c — who is master, in the worker table (workers.h): electing
 * a slave after a crash, the planned switchover, and adopting the workers an
 * earlier orchestrator left running.
 *
 * Every change of master raises the epoch first (wt_bump_epoch), in memory
 * and then in ZK_ROOT/master: from that moment no reply of the old master is
 * acknowledged, and the new master learns its epoch from the znode.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "epoch.h"
#include "events.h"
#include "leader.h"
#include "log.h"
#include "runtime.h"
#include "zksession.h"

#include "workers_internal.h"

int workers_elect(struct workers *ws, const char *id)
{
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = wt_find(ws, id);
    int ok = e && e->alive && !e->info.master && !e->info.retiring;
    for (int i = 0; ok && i < ws->n; i++)
        if (ws->w[i].alive && ws->w[i].info.master) ok = 0; /* there is a master */
    if (ok) {
        e->info.master = 1;
        e->info.designated_at = clock_ms();
        wt_changed_locked(ws);
    }
    pthread_mutex_unlock(&ws->lock);
    if (!ok) return -1;
    if (wt_bump_epoch(ws, id)) {
        /* ZooKeeper unreachable: it stays a slave; the supervisor tries again. */
        pthread_mutex_lock(&ws->lock);
        if ((e = wt_find(ws, id)) != NULL) e->info.master = 0;
        pthread_mutex_unlock(&ws->lock);
        return -1;
    }
    wt_log_designated(ws, id);
    return 0;
}

void workers_set_epoch(struct workers *ws, int64_t epoch)
{
    pthread_mutex_lock(&ws->lock);
    if (epoch > ws->epoch) ws->epoch = epoch;
    pthread_mutex_unlock(&ws->lock);
}

/* Adds the running workers in rw[0..n) that the table does not hold yet. */
static int adopt_into_table(struct workers *ws, const struct runtime_worker *rw, int n, const char *master_id)
{
    int added = 0;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < n; i++) {
        if (wt_find(ws, rw[i].id)) continue;
        struct worker_slot *e = wt_new_entry(ws);
        if (!e) break;
        memset(e, 0, sizeof *e);
        snprintf(e->info.id, sizeof e->info.id, "%s", rw[i].id);
        e->info.pid = rw[i].pid;
        e->info.master = strcmp(rw[i].id, master_id) == 0;
        e->info.spawned_at = e->info.designated_at = clock_ms();
        e->alive = 1;
        added++;
        log_info("adopted running worker id=%s pid=%d role=%s", rw[i].id, rw[i].pid,
                 e->info.master ? "master" : "slave");
        events_add("adopt", "adopted running %s %s pid=%d", e->info.master ? "master" : "slave", rw[i].id,
                   rw[i].pid);
    }
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
    return added;
}

int workers_adopt(struct workers *ws, const char *master_id)
{
    struct runtime_worker rw[WORKERS_MAX];
    int n = runtime_list(ws->rt, rw, WORKERS_MAX);
    if (n < 0) return -1;
    int added = adopt_into_table(ws, rw, n, master_id);
    /* One that stopped between the list and the table was reported to a
     * table that did not hold it yet: look again, and forget it. */
    n = runtime_list(ws->rt, rw, WORKERS_MAX);
    if (n < 0) return -1;
    pthread_mutex_lock(&ws->lock);
    for (int i = 0; i < ws->n; i++) {
        int running = 0;
        for (int k = 0; k < n && !running; k++) running = strcmp(rw[k].id, ws->w[i].info.id) == 0;
        if (ws->w[i].alive && !running) {
            log_warn("adopted worker stopped meanwhile id=%s pid=%d", ws->w[i].info.id, ws->w[i].info.pid);
            ws->w[i].alive = 0;
            ws->w[i].status = -1;
            added--;
        }
    }
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
    return added;
}

int workers_stepdown(struct workers *ws, const char *master_id, const char *next_id)
{
    if (!leader_may_act()) return -1; /* not the active orchestrator (leader.h) */
    return epoch_stepdown(zksession_handle(ws->cfg.zk), ws->cfg.zk_root, master_id, workers_epoch(ws), next_id);
}

int workers_switch(struct workers *ws, const char *old_id, const char *new_id)
{
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *o = wt_find(ws, old_id), *e = wt_find(ws, new_id);
    int ok = o && e && o->alive && e->alive && o->info.master && !e->info.master && !e->info.retiring;
    if (ok) {
        o->info.master = 0;
        e->info.master = 1;
        e->info.designated_at = clock_ms();
        wt_changed_locked(ws);
    }
    pthread_mutex_unlock(&ws->lock);
    if (!ok) return -1;
    if (wt_bump_epoch(ws, new_id)) {
        /* The old master is a slave now either way: leave no master in the
         * table, and the supervisor fails over as after a crash. */
        pthread_mutex_lock(&ws->lock);
        if ((e = wt_find(ws, new_id)) != NULL) e->info.master = 0;
        wt_changed_locked(ws);
        pthread_mutex_unlock(&ws->lock);
        return -1;
    }
    wt_log_designated(ws, new_id);
    return 0;
}

void workers_demote(struct workers *ws, const char *id)
{
    pthread_mutex_lock(&ws->lock);
    struct worker_slot *e = wt_find(ws, id);
    if (e && e->alive) e->info.master = 0;
    wt_changed_locked(ws);
    pthread_mutex_unlock(&ws->lock);
}
