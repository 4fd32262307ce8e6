/*
 * supervisor.c — see supervisor.h. How it works:
 *
 * The loop sleeps in workers_wait until the table changes (an exit notice,
 * a kill, a spawn), ZooKeeper reports something (a child watch on
 * ZK_ROOT/workers, a session event), or 250 ms pass, or the scaling window
 * closes. Each round it looks at the live workers and does the first thing
 * that is needed, in this order, then looks again:
 *
 *   1. health: kill (SIGKILL, through the runtime) a worker that
 *      - registered in ZooKeeper and whose znode has been gone for
 *        lost_grace_ms: its session expired, so it is dead or cut off — the
 *        backstop for deaths the runtime does not report;
 *      - says in its znode that it has been cut off from the broker
 *        (broker_down_ms: since it last heard from it) for broker_lost_ms,
 *        counted from no earlier than when this orchestrator last reached
 *        the broker itself, and has said so for BROKER_SEEN_MS (a worker
 *        that only stalled, and is back a moment later, is let be): a
 *        master that cannot reach the log or writeQ acknowledges nothing
 *        and keeps its ZooKeeper session, so nothing else would ever
 *        replace it; a slave that cannot follow the log serves no read.
 *        Never while this
 *        orchestrator is cut off too, nor when every worker is (the broker
 *        is down, or the fault is common to all: killing them would not
 *        bring it back, and their replacements start from the broker);
 *      - never registered within ready_timeout_ms of its start;
 *      - was made master and did not take writes within ready_timeout_ms;
 *      - was retired and is still running after retire_timeout_ms.
 *   2. master: with no live master, elect the live slave with the lowest
 *      PID (workers_elect bumps the epoch in ZK_ROOT/master naming it; the
 *      slave sees it by its watch, catches up with the log past its own
 *      epoch marker and takes writeQ), or, with no slave left, start a new
 *      master. Writes sent meanwhile wait in writeQ.
 *   3. slaves: start slaves while fewer than the target run; retire (SIGTERM)
 *      the highest-PID slaves while more do. A retired slave's exit is
 *      expected, so scale-in is never taken for a crash; a crashed slave
 *      simply leaves the count short and is replaced.
 * The target is INITIAL_SLAVES until the scaler closes its first window, or
 * until POST /api/v1/scale sets it by hand (it holds until the next window).
 * It never exceeds max_slaves: a window's decision is the rule's target
 * bounded by scaler_bounded (at most max_slaves, at most scale_up_step
 * above the current target; scale-in in one go); a hand-set target is the
 * operator's explicit choice, capped (the admin API checks) but not
 * stepped. The rule's own figure and whether the cap or the step held it
 * down are kept for GET /api/v1/status (supervisor_get_scaling).
 *
 * Before those steps, each round advances a planned switchover
 * (POST /api/v1/promote) if one was asked for: see supervisor_switchover.c. The
 * HTTP thread only posts the request and waits for the outcome; every
 * ZooKeeper call stays on this thread.
 *
 * Each round starts by refreshing the ZooKeeper view of the workers'
 * znodes (supervisor_view.c), which the steps read.
 *
 * A worker that cannot start (the runtime refuses it, or it dies young)
 * pauses all starts, 500 ms doubling up to 30 s, until a started worker
 * lasts: supervisor_starts.c. Electing a slave never waits for that.
 */
#include "supervisor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "leader.h"
#include "log.h"
#include "rpc.h"
#include "scaler.h"
#include "workers.h"
#include "workers_roles.h"
#include "zksession.h"

#include "supervisor_internal.h"

#define REFRESH_MS 250
#define REFRESH_FAILOVER_MS 50  /* while failing over: to see (and log) the new master ready early */
#define BROKER_SEEN_MS 500      /* a worker cut off from the broker is read so for this long before it is killed */

/* Whether worker v has been cut off from the broker for broker_lost_ms
 * while this orchestrator reached it, and some worker of w[0..n) reaches it
 * (see the top of the file). */
static int broker_lost(struct supervisor *s, const struct zview *v, const struct worker_info *w, int n,
                       int64_t now)
{
    if (!s->cfg.broker_lost_ms || !s->cfg.rpc || !v || !v->broker_down_since) return 0;
    if (now - v->broker_seen_at < BROKER_SEEN_MS) return 0;
    int64_t up = rpc_broker_up_since(s->cfg.rpc);
    if (!up) return 0;
    int64_t since = v->broker_down_since > up ? v->broker_down_since : up;
    if (now - since < s->cfg.broker_lost_ms) return 0;
    for (int i = 0; i < n; i++) {
        const struct zview *o = sup_view_of(s, w[i].id);
        if (o && o->zn.registered && !o->missing_since && !o->broker_down_since) return 1;
    }
    return 0;
}

/* Step 1. 1 when it killed something. */
static int check_health(struct supervisor *s, const struct worker_info *w, int n, int64_t now)
{
    /* Without a recent view, silence from ZooKeeper proves nothing. */
    int view_fresh = now - s->refreshed_ok_at < 4 * REFRESH_MS;
    int64_t epoch = workers_epoch(s->ws);
    for (int i = 0; i < n; i++) {
        const struct worker_info *x = &w[i];
        struct zview *v = sup_view_of(s, x->id);
        const char *why = NULL;
        if (x->retiring && now - x->retired_at > s->cfg.retire_timeout_ms)
            why = "did not stop after SIGTERM";
        else if (view_fresh && v && v->missing_since && now - v->missing_since >= s->cfg.lost_grace_ms)
            why = "its ZooKeeper znode vanished";
        else if (view_fresh && broker_lost(s, v, w, n, now))
            why = "cut off from the message broker";
        else if (view_fresh && (!v || !v->zn.registered) && now - x->spawned_at > s->cfg.ready_timeout_ms)
            why = "never registered in ZooKeeper";
        else if (view_fresh && x->master && now - x->designated_at > s->cfg.ready_timeout_ms &&
                 !(v && v->took_over == epoch))
            why = "did not take over as master in time";
        if (why && workers_kill(s->ws, x->id, why) == 0) {
            sup_killed(s, x->id, why);
            return 1;
        }
    }
    return 0;
}

/* Step 2. 1 when it acted (or tried to). */
static int handle_master(struct supervisor *s, const struct worker_info *w, int n, int64_t now)
{
    const struct worker_info *m = NULL, *best = NULL;
    for (int i = 0; i < n; i++) {
        if (w[i].master) m = &w[i];
        else if (!w[i].retiring && (!best || w[i].pid < best->pid)) best = &w[i];
    }
    if (m) {
        struct zview *v = sup_view_of(s, m->id);
        if (s->failover_since && v && v->zn.master_role && v->zn.ready && v->zn.epoch == workers_epoch(s->ws)) {
            log_info("failover done: master ready id=%s pid=%d epoch=%lld took_ms=%lld", m->id, m->pid,
                     (long long)v->zn.epoch, (long long)(now - s->failover_since));
            events_add("failover", "master %s pid=%d ready epoch=%lld took_ms=%lld", m->id, m->pid,
                       (long long)v->zn.epoch, (long long)(now - s->failover_since));
            s->failover_since = 0;
        }
        return 0;
    }
    if (!s->failover_since) {
        s->failover_since = now;
        log_warn("no live master; failing over slaves=%d", n);
        events_add("failover", "no live master; failing over slaves=%d", n);
    }
    if (!zksession_connected(s->cfg.zk)) return 0; /* the epoch lives there: wait for it */
    if (best) {
        if (workers_elect(s->ws, best->id) == 0)
            log_info("elected the slave with the lowest PID id=%s pid=%d", best->id, best->pid);
        return 1;
    }
    if (!sup_may_start(s, now)) return 0;
    char id[RUNTIME_ID_MAX];
    if (workers_spawn_master(s->ws, id)) sup_spawn_failed(s, 1, now);
    else sup_started(s, id, 1, now);
    return 1;
}

static int by_pid_desc(const void *a, const void *b)
{
    int x = ((const struct worker_info *)a)->pid, y = ((const struct worker_info *)b)->pid;
    return (x < y) - (x > y);
}

/* Step 3. 1 when it acted. */
static int handle_slaves(struct supervisor *s, const struct worker_info *w, int n, int64_t now)
{
    struct worker_info slaves[WORKERS_MAX];
    int live = 0;
    for (int i = 0; i < n; i++)
        if (!w[i].master && !w[i].retiring) slaves[live++] = w[i];
    int target = atomic_load(&s->target);
    if (live < target) {
        if (!sup_may_start(s, now)) return 0;
        char id[RUNTIME_ID_MAX];
        for (int k = live; k < target; k++) {
            if (workers_spawn_slave(s->ws, id)) {
                sup_spawn_failed(s, 0, now);
                break;
            }
            sup_started(s, id, 0, now);
        }
        return 1;
    }
    if (live > target) {
        qsort(slaves, (size_t)live, sizeof *slaves, by_pid_desc);
        for (int k = 0; k < live - target; k++) workers_retire(s->ws, slaves[k].id);
        return 1;
    }
    return 0;
}

static void scale(struct supervisor *s, int64_t now)
{
    if (!s->sc) return;
    int64_t reads;
    int rule;
    while (scaler_tick(s->sc, now, &reads, &rule)) {
        int was = atomic_load(&s->target), max = s->cfg.max_slaves;
        int target = scaler_bounded(rule, was, max, s->cfg.scale_up_step);
        int bound = rule < max ? rule : max;
        const char *held = rule > max ? (target < bound ? ", capped and stepped" : ", capped")
                         : target < bound ? ", stepped" : "";
        log_info("scale window closed reads=%lld target=%d was=%d rule=%d max_slaves=%d%s", (long long)reads,
                 target, was, rule, max, held);
        events_add("scale", "window closed reads=%lld target=%d was=%d rule=%d%s", (long long)reads, target,
                   was, rule, held);
        pthread_mutex_lock(&s->snap_mu);
        atomic_store(&s->target, target);
        s->sc_info.rule_target = rule;
        s->sc_info.capped = rule > max;
        s->sc_info.stepped = target < bound;
        s->sc_info.set_by = "window";
        pthread_mutex_unlock(&s->snap_mu);
    }
}

static void *supervisor_main(void *arg)
{
    struct supervisor *s = arg;
    uint64_t seen = 0;
    int wait_ms = 0;
    while (!atomic_load(&s->stop)) {
        seen = workers_wait(s->ws, seen, wait_ms);
        if (atomic_load(&s->stop)) break;
        if (!leader_may_act()) {
            /* Not surely the active orchestrator (leader.h): act on nothing;
             * either the lock is confirmed again or the process starts over. */
            wait_ms = REFRESH_MS;
            continue;
        }
        int64_t now = clock_ms();
        if (zksession_renew(s->cfg.zk) == 1) s->watch_armed = 0; /* watches died with the old session */
        scale(s, now);
        struct worker_info w[WORKERS_MAX];
        int n = workers_list(s->ws, w, WORKERS_MAX);
        if (atomic_exchange(&s->children_fired, 0)) s->watch_armed = 0;
        int every = s->failover_since ? REFRESH_FAILOVER_MS : REFRESH_MS;
        if (s->sw.active) every = REFRESH_FAILOVER_MS;
        if (!s->watch_armed || now - s->refreshed_at >= every) sup_refresh_view(s, w, n, now);
        sup_switchover(s, w, n, now);
        /* Read the table again: the switchover may just have swapped the
         * roles, and the old master, seen as master in a copy from before,
         * would be taken for one that never took over in this epoch. */
        n = workers_list(s->ws, w, WORKERS_MAX);
        sup_watch_starts(s, w, n, now);
        if (!check_health(s, w, n, now) && !handle_master(s, w, n, now)) handle_slaves(s, w, n, now);
        /* Actions change the table, which ends the next wait at once. */
        wait_ms = s->failover_since || s->sw.active ? REFRESH_FAILOVER_MS : REFRESH_MS;
        int64_t left = s->sc ? scaler_remaining(s->sc, clock_ms()) : -1;
        if (left >= 0 && left < wait_ms) wait_ms = (int)left;
        left = s->next_spawn_at - clock_ms(); /* a pause ends: start at once */
        if (left > 0 && left < wait_ms) wait_ms = (int)left;
    }
    return NULL;
}

struct supervisor *supervisor_start(struct workers *ws, struct scaler *sc, const struct supervisor_config *cfg)
{
    struct supervisor *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->ws = ws;
    s->sc = sc;
    s->cfg = *cfg;
    if (s->cfg.max_slaves < 1) s->cfg.max_slaves = 1;
    if (s->cfg.scale_up_step < 1) s->cfg.scale_up_step = 1;
    int target = cfg->initial_slaves < s->cfg.max_slaves ? cfg->initial_slaves : s->cfg.max_slaves;
    atomic_store(&s->target, target < 1 ? 1 : target);
    s->sc_info = (struct supervisor_scaling){
        .rule_target = -1, .set_by = "start", .max_slaves = s->cfg.max_slaves,
        .scale_up_step = s->cfg.scale_up_step,
    };
    s->starts.last_status = -1;
    s->refreshed_ok_at = clock_ms();
    pthread_mutex_init(&s->snap_mu, NULL);
    pthread_mutex_init(&s->pr.mu, NULL);
    clock_cond_init(&s->pr.done);
    if (pthread_create(&s->thread, NULL, supervisor_main, s)) {
        log_error("cannot start the supervisor thread");
        free(s);
        return NULL;
    }
    return s;
}

void supervisor_stop(struct supervisor *s)
{
    if (!s) return;
    atomic_store(&s->stop, 1);
    workers_poke(s->ws);
    pthread_join(s->thread, NULL);
}

void supervisor_free(struct supervisor *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->snap_mu);
    pthread_mutex_destroy(&s->pr.mu);
    pthread_cond_destroy(&s->pr.done);
    free(s);
}

int supervisor_target(struct supervisor *s) { return atomic_load(&s->target); }

void supervisor_set_target(struct supervisor *s, int slaves)
{
    if (slaves < 1) slaves = 1;
    if (slaves > s->cfg.max_slaves) slaves = s->cfg.max_slaves;
    pthread_mutex_lock(&s->snap_mu);
    int was = atomic_exchange(&s->target, slaves);
    s->sc_info.set_by = "operator";
    pthread_mutex_unlock(&s->snap_mu);
    log_info("slave target set by hand target=%d was=%d", slaves, was);
    events_add("scale", "target set by hand target=%d was=%d", slaves, was);
    workers_poke(s->ws);
}

void supervisor_get_scaling(struct supervisor *s, struct supervisor_scaling *out)
{
    pthread_mutex_lock(&s->snap_mu);
    *out = s->sc_info;
    out->target = atomic_load(&s->target);
    pthread_mutex_unlock(&s->snap_mu);
}
