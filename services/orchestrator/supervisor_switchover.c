/*
 * supervisor_switchover.c — the planned switchover (POST /api/v1/promote):
 * the HTTP thread's request (supervisor_promote) handed to the supervisor's
 * loop, and the state machine the loop advances each round (switchover).
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "log.h"
#include "workers.h"
#include "workers_roles.h"
#include "zksession.h"

#include "supervisor_internal.h"

static const struct worker_info *find_live(const struct worker_info *w, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].id, id) == 0) return &w[i];
    return NULL;
}

/* Hands the result of the switchover request back to the HTTP thread. */
static void promote_done(struct supervisor *s, int status, int64_t epoch, const char *fmt, const char *a,
                         const char *b)
{
    pthread_mutex_lock(&s->pr.mu);
    s->pr.status = status;
    s->pr.epoch = epoch;
    snprintf(s->pr.msg, sizeof s->pr.msg, fmt, a, b);
    s->pr.busy = 0;
    s->pr.pending = 0;
    pthread_cond_broadcast(&s->pr.done);
    pthread_mutex_unlock(&s->pr.mu);
}

/* A planned switchover, as a small state machine advanced each round:
 *   start: the request names a ready, non-retiring slave; the master is
 *          ready and no failover is under way. ZK_ROOT/master gets "next"
 *          (workers_stepdown): the master stops at a batch boundary, closes
 *          writeQ and goes on as a slave; writes wait in writeQ meanwhile.
 *   wait:  until the old master's znode says role "slave": nothing it
 *          applied can come after the new master's epoch marker. Then the
 *          table swaps the roles and the epoch is bumped naming the slave
 *          (workers_switch), which promotes exactly as in a failover:
 *          marker, catch-up, writeQ.
 *   give up: the old master did not step down within STEPDOWN_MS (frozen,
 *          cut off): it is killed, and the ordinary failover follows. A
 *          worker of the pair that dies meanwhile ends it the same way. */
#define STEPDOWN_MS 5000
void sup_switchover(struct supervisor *s, const struct worker_info *w, int n, int64_t now)
{
    if (!s->sw.active) {
        char id[RUNTIME_ID_MAX];
        pthread_mutex_lock(&s->pr.mu);
        int pending = s->pr.pending;
        s->pr.pending = 0;
        memcpy(id, s->pr.id, sizeof id);
        pthread_mutex_unlock(&s->pr.mu);
        if (!pending) return;
        const struct worker_info *x = find_live(w, n, id), *m = NULL;
        for (int i = 0; i < n; i++)
            if (w[i].master) m = &w[i];
        struct zview *xv = x ? sup_view_of(s, x->id) : NULL, *mv = m ? sup_view_of(s, m->id) : NULL;
        if (!x) { promote_done(s, 404, 0, "no live worker with id %s%s", id, ""); return; }
        if (x->master) { promote_done(s, 409, 0, "%s is the master already%s", id, ""); return; }
        if (x->retiring) { promote_done(s, 409, 0, "%s is retiring%s", id, ""); return; }
        /* A master that took writes in the current epoch: a failover that
         * named it is over, even if its end is logged only later this round. */
        if (!m || !mv || !mv->zn.ready || !mv->zn.master_role || mv->took_over != workers_epoch(s->ws)) {
            promote_done(s, 409, 0, "no ready master to hand over from (failover under way?)%s%s", "", "");
            return;
        }
        if (!xv || !xv->zn.ready) { promote_done(s, 409, 0, "slave %s is not ready%s", id, ""); return; }
        if (!zksession_connected(s->cfg.zk) || workers_stepdown(s->ws, m->id, x->id)) {
            promote_done(s, 503, 0, "ZooKeeper unavailable%s%s", "", "");
            return;
        }
        s->sw.active = 1;
        s->sw.since = now;
        snprintf(s->sw.old_id, sizeof s->sw.old_id, "%s", m->id);
        snprintf(s->sw.new_id, sizeof s->sw.new_id, "%s", x->id);
        log_info("switchover: asked the master to step down id=%s next=%s", m->id, x->id);
        events_add("switchover", "asked master %s to step down for %s", m->id, x->id);
        return;
    }
    const struct worker_info *m = find_live(w, n, s->sw.old_id), *x = find_live(w, n, s->sw.new_id);
    struct zview *mv = m ? sup_view_of(s, m->id) : NULL;
    if (!m || !x || !m->master) {
        /* The old master, if it lives, is (becoming) a slave: failover. */
        if (m) workers_demote(s->ws, m->id);
        s->sw.active = 0;
        events_add("switchover", "given up: a worker died; failing over old=%s", s->sw.old_id);
        promote_done(s, 409, 0, "a worker died during the switchover (%s, %s); failing over", s->sw.old_id,
                     s->sw.new_id);
        return;
    }
    if (mv && mv->zn.registered && !mv->zn.master_role) {
        s->sw.active = 0;
        if (workers_switch(s->ws, m->id, x->id)) {
            events_add("switchover", "could not name %s; failing over", x->id);
            promote_done(s, 503, 0, "could not name %s master (ZooKeeper); failing over%s", x->id, "");
            return;
        }
        int64_t epoch = workers_epoch(s->ws);
        log_info("switchover: old master stepped down id=%s; named id=%s epoch=%lld took_ms=%lld", m->id,
                 x->id, (long long)epoch, (long long)(now - s->sw.since));
        events_add("switchover", "%s stepped down; %s named master epoch=%lld", m->id, x->id, (long long)epoch);
        s->failover_since = now; /* logs "failover done" when the new master takes writes */
        promote_done(s, 200, epoch, "%s%s", "", "");
        return;
    }
    if (now - s->sw.since > STEPDOWN_MS) {
        s->sw.active = 0;
        workers_kill(s->ws, m->id, "did not step down for a switchover");
        promote_done(s, 503, 0, "master %s did not step down in time; it was killed and a failover follows%s",
                     m->id, "");
    }
}

int supervisor_promote(struct supervisor *s, const char *id, int timeout_ms, int64_t *epoch, char *msg, size_t n)
{
    struct timespec until = clock_deadline(timeout_ms);
    pthread_mutex_lock(&s->pr.mu);
    if (s->pr.busy) {
        pthread_mutex_unlock(&s->pr.mu);
        snprintf(msg, n, "a switchover is under way");
        return 409;
    }
    uint64_t ticket = ++s->pr.ticket;
    s->pr.busy = s->pr.pending = 1;
    s->pr.status = 0;
    snprintf(s->pr.id, sizeof s->pr.id, "%s", id);
    pthread_mutex_unlock(&s->pr.mu);
    workers_poke(s->ws);
    pthread_mutex_lock(&s->pr.mu);
    while (s->pr.ticket == ticket && s->pr.status == 0 &&
           pthread_cond_timedwait(&s->pr.done, &s->pr.mu, &until) == 0) {}
    int status = s->pr.ticket == ticket ? s->pr.status : 0;
    if (status) {
        *epoch = s->pr.epoch;
        snprintf(msg, n, "%s", s->pr.msg);
    } else {
        snprintf(msg, n, "the switchover is still under way");
        status = 503;
    }
    pthread_mutex_unlock(&s->pr.mu);
    return status;
}
