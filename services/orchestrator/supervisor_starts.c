/*
 * supervisor_starts.c — workers that cannot start, and the backoff that
 * keeps them from turning into a fork storm (see supervisor_internal.h).
 *
 * A start fails in one of two ways: the runtime cannot spawn the worker
 * at all (workers_spawn_* returns -1: no free table entry, fork or Docker
 * refused), or the worker dies young — before it got ready, or within
 * YOUNG_MS of its start even if it got ready. Both were seen: a ZooKeeper
 * that refuses connections (maxClientCnxns) makes every new worker exit
 * with status 1 within a second. So the loop watches each worker it starts
 * (sup_started) until the worker has lasted: ready and YOUNG_MS old. Every
 * round, a watched worker no longer among the live ones died: unless it
 * was retiring (scale-in) or killed with SIGKILL by someone else (the crash
 * endpoints, an operator: its start was fine), that is a failed start. A
 * watched worker the health check killed (never registered) failed too.
 *
 * A failure is logged, recorded as a "start-failed" event, shown in the
 * status, and pauses every start: 500 ms, doubling with each failure up to
 * BACKOFF_MAX_MS. Failures seen while a pause runs do not double it again:
 * the workers of one batch that all fail count once. Deaths are only seen
 * after the worker ran for a while, so starts are always spaced by at
 * least that plus the pause — never a tight loop. The pause ends, and the
 * count goes back to 0, when a worker started after the failures has
 * lasted: whatever was wrong is mended.
 *
 * Only starts wait. Electing a live slave after the master's death never
 * does (handle_master in supervisor.c), so failover stays prompt; only a
 * new master started because no slave was left waits for the pause.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "events.h"
#include "log.h"

#include "supervisor_internal.h"

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000
#define YOUNG_MS 5000

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* What the status shows of the pause; after every change of it. */
static void publish(struct supervisor *s)
{
    pthread_mutex_lock(&s->snap_mu);
    s->starts.backoff_ms = s->backoff_ms;
    s->starts_next_at = s->next_spawn_at;
    pthread_mutex_unlock(&s->snap_mu);
}

static void failed(struct supervisor *s, int64_t now, const char *id, int master, int status, const char *why)
{
    int again = now < s->next_spawn_at; /* a pause runs: same batch, no doubling */
    if (!again) {
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_FIRST_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS) s->backoff_ms = BACKOFF_MAX_MS;
        s->next_spawn_at = now + s->backoff_ms;
    }
    pthread_mutex_lock(&s->snap_mu);
    int n = ++s->starts.failures;
    s->starts.last_at_ms = wall_ms();
    snprintf(s->starts.last_id, sizeof s->starts.last_id, "%s", id);
    snprintf(s->starts.last_why, sizeof s->starts.last_why, "%s", why);
    s->starts.last_status = status;
    pthread_mutex_unlock(&s->snap_mu);
    publish(s);
    const char *role = master ? "master" : "slave";
    log_warn("worker start failed id=%s role=%s why=\"%s\" status=%d failures=%d next_start_in_ms=%lld",
             *id ? id : "-", role, why, status, n, (long long)(s->next_spawn_at - now));
    events_add("start-failed", "%s %s: %s (status %d); %d in a row, starts paused %lld ms", role,
               *id ? id : "(none)", why, status, n, (long long)(s->next_spawn_at - now));
}

int sup_may_start(struct supervisor *s, int64_t now) { return now >= s->next_spawn_at; }

void sup_started(struct supervisor *s, const char *id, int master, int64_t now)
{
    if (s->nyoung >= WORKERS_MAX) return; /* more than the table holds: cannot happen */
    struct young *y = &s->young[s->nyoung++];
    memset(y, 0, sizeof *y);
    snprintf(y->id, sizeof y->id, "%s", id);
    y->spawned_at = now;
    y->master = master;
}

void sup_spawn_failed(struct supervisor *s, int master, int64_t now)
{
    failed(s, now, "", master, -1, "the runtime could not start it");
}

void sup_killed(struct supervisor *s, const char *id, const char *why)
{
    for (int i = 0; i < s->nyoung; i++)
        if (strcmp(s->young[i].id, id) == 0) s->young[i].killed = why;
}

/* What became of watched worker y, gone from the live list: a failed start
 * or not. */
static void died(struct supervisor *s, const struct young *y, int64_t now)
{
    int status = -1;
    if (!workers_exit_status(s->ws, y->id, &status)) status = -1;
    char why[96];
    if (y->killed) {
        snprintf(why, sizeof why, "killed: %s", y->killed);
    } else if (status == SIGKILL) {
        return; /* killed by a crash endpoint or from outside: not its start's fault */
    } else if (!y->ready) {
        snprintf(why, sizeof why, "exited before it was ready");
    } else {
        snprintf(why, sizeof why, "exited %lld ms after its start", (long long)(now - y->spawned_at));
    }
    failed(s, now, y->id, y->master, status, why);
}

void sup_watch_starts(struct supervisor *s, const struct worker_info *w, int n, int64_t now)
{
    for (int i = 0; i < s->nyoung;) {
        struct young *y = &s->young[i];
        const struct worker_info *x = NULL;
        for (int k = 0; k < n && !x; k++)
            if (strcmp(w[k].id, y->id) == 0) x = &w[k];
        const struct zview *v = sup_view_of(s, y->id);
        if (x && v && v->ready_logged) y->ready = 1;
        int lasted = x && y->ready && now - y->spawned_at >= YOUNG_MS;
        if (x && !lasted && !x->retiring) {
            i++;
            continue;
        }
        if (lasted && s->backoff_ms) {
            log_info("worker starts work again id=%s failures=%d", y->id, s->starts.failures);
            s->backoff_ms = 0;
            s->next_spawn_at = 0;
            pthread_mutex_lock(&s->snap_mu);
            s->starts.failures = 0;
            pthread_mutex_unlock(&s->snap_mu);
            publish(s);
        }
        if (!x) died(s, y, now);
        s->young[i] = s->young[--s->nyoung];
    }
}

void supervisor_get_starts(struct supervisor *s, struct supervisor_starts *out)
{
    int64_t now = clock_ms();
    pthread_mutex_lock(&s->snap_mu);
    *out = s->starts;
    int64_t left = s->starts_next_at - now;
    pthread_mutex_unlock(&s->snap_mu);
    out->next_in_ms = out->backoff_ms && left > 0 ? left : 0;
}
