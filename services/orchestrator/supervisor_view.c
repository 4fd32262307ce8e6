/*
 * supervisor_view.c — the supervisor's view of the workers' znodes
 * (ZK_ROOT/workers/<id>: registered, gone since, role, state, epoch, seq).
 *
 * Refreshed on the loop thread when the child watch fires and every round
 * (250 ms, 50 ms while failing over); it tells when a new master is ready
 * (the failover's end) and when a new slave is. Nothing in it is needed to
 * rebuild state: it is re-read from ZooKeeper. Each refresh copies it under
 * snap_mu for GET /api/v1/status (supervisor_workers), which HTTP threads
 * call.
 */
#include "supervisor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint_znode.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "workers.h"
#include "zk.h"
#include "zksession.h"

#include "supervisor_internal.h"

#define CKPT_READ_MS 5000   /* a checkpoint is taken every minutes, not seconds */

/* ZooKeeper's library thread: a child of ZK_ROOT/workers came or went. */
static void on_children(const char *path, void *ctx)
{
    (void)path;
    struct supervisor *s = ctx;
    atomic_store(&s->children_fired, 1);
    workers_poke(s->ws);
}

struct zview *sup_view_of(struct supervisor *s, const char *id)
{
    for (int i = 0; i < s->nv; i++)
        if (strcmp(s->v[i].id, id) == 0) return &s->v[i];
    return NULL;
}

/* Reads one znode's data into v. */
static void read_znode(struct supervisor *s, struct zk *zk, struct zview *v)
{
    char path[300], data[512];
    snprintf(path, sizeof path, "%s/workers/%s", s->cfg.zk_root, v->id);
    int n = zk_get(zk, path, data, sizeof data, NULL, NULL);
    if (n <= 0) return;
    cJSON *j = json_parse(data, (size_t)n);
    const char *state = j ? json_get_str(j, "state") : NULL, *role = j ? json_get_str(j, "role") : NULL;
    v->zn.ready = state && strcmp(state, "ready") == 0;
    snprintf(v->zn.state, sizeof v->zn.state, "%s", state ? state : "");
    v->zn.master_role = role && strcmp(role, "master") == 0;
    if (j) {
        json_get_int(j, "epoch", &v->zn.epoch);
        json_get_int(j, "seq", &v->zn.seq);
        json_get_int(j, "reads", &v->zn.reads);
        json_get_int(j, "applied", &v->zn.applied);
        json_get_int(j, "apply_us", &v->zn.apply_us);
        int64_t down = 0;
        json_get_int(j, "broker_down_ms", &down);
        if (down <= 0) {
            v->broker_down_since = 0;
        } else if (!v->broker_down_since) {
            v->broker_seen_at = clock_ms();
            v->broker_down_since = v->broker_seen_at - down;
        }
    }
    if (v->zn.ready && v->zn.master_role) v->took_over = v->zn.epoch;
    if (v->zn.ready && !v->ready_logged) {
        v->ready_logged = 1;
        log_info("worker ready id=%s pid=%d role=%s seq=%lld", v->id, v->pid, role, (long long)v->zn.seq);
    }
    cJSON_Delete(j);
}

void sup_refresh_view(struct supervisor *s, const struct worker_info *w, int n, int64_t now)
{
    s->refreshed_at = now;
    struct zk *zk = zksession_handle(s->cfg.zk);
    if (!zk || !zksession_connected(s->cfg.zk)) return; /* the view keeps what it knew */
    char dir[300], **names = NULL;
    snprintf(dir, sizeof dir, "%s/workers", s->cfg.zk_root);
    int k = zk_children(zk, dir, &names, s->watch_armed ? NULL : on_children, s);
    if (k == -1) return; /* not connected: the view keeps what it knew */
    if (k >= 0) s->watch_armed = 1;
    if (k < 0) k = 0;
    for (int i = 0; i < s->nv; i++) s->v[i].live = 0;
    for (int i = 0; i < n; i++) {
        struct zview *v = sup_view_of(s, w[i].id);
        if (!v && s->nv < WORKERS_MAX) {
            v = &s->v[s->nv++];
            memset(v, 0, sizeof *v);
            snprintf(v->id, sizeof v->id, "%s", w[i].id);
            v->pid = w[i].pid;
        }
        if (!v) continue;
        v->live = 1;
        int present = 0;
        for (int j = 0; j < k && !present; j++) present = strcmp(names[j], w[i].id) == 0;
        if (present) {
            if (v->missing_since) log_info("worker znode is back id=%s pid=%d", v->id, v->pid);
            v->zn.registered = 1;
            v->missing_since = 0;
            read_znode(s, zk, v);
        } else if (v->zn.registered && !v->missing_since) {
            v->missing_since = now;
            log_warn("worker znode vanished id=%s pid=%d", v->id, v->pid);
        }
    }
    zk_free_children(names, k);
    /* Forget the dead (a failed start is told by sup_watch_starts). */
    for (int i = 0; i < s->nv;) {
        if (s->v[i].live) { i++; continue; }
        s->v[i] = s->v[--s->nv];
    }
    s->refreshed_ok_at = now;
    struct checkpoint_znode cz;
    int version, ckpt = 0;
    if (now - s->ckpt_read_at >= CKPT_READ_MS) {
        s->ckpt_read_at = now;
        ckpt = checkpoint_read(zk, s->cfg.zk_root, &cz, &version) == 0 && cz.present;
    }
    pthread_mutex_lock(&s->snap_mu);
    s->nsnap = 0;
    for (int i = 0; i < s->nv; i++) s->snap[s->nsnap++] = s->v[i];
    if (ckpt) {
        s->ckpt_at_ms = cz.current.at_ms;
        s->ckpt_seq = cz.current.seq;
    }
    pthread_mutex_unlock(&s->snap_mu);
}

int supervisor_checkpoint(struct supervisor *s, int64_t *at_ms, int64_t *seq)
{
    pthread_mutex_lock(&s->snap_mu);
    *at_ms = s->ckpt_at_ms;
    *seq = s->ckpt_seq;
    pthread_mutex_unlock(&s->snap_mu);
    return *at_ms > 0;
}

int supervisor_workers(struct supervisor *s, struct worker_info *out, int max)
{
    int n = workers_list(s->ws, out, max);
    pthread_mutex_lock(&s->snap_mu);
    for (int i = 0; i < n; i++) {
        struct worker_znode *zn = &out[i].zn;
        for (int k = 0; k < s->nsnap; k++)
            if (strcmp(s->snap[k].id, out[i].id) == 0) *zn = s->snap[k].zn;
        if (!zn->registered) snprintf(zn->state, sizeof zn->state, "starting");
    }
    pthread_mutex_unlock(&s->snap_mu);
    return n;
}
