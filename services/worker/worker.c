/*
 * worker.c — the state the roles share with readers and the znode
 * (worker.h), and two things every role needs:
 *
 * Broker links. Each thread that owns a connection the worker cannot do
 * without says when it lost it and when it has it again; the worker counts
 * as cut off from the broker since the earliest loss still unmended — from
 * when the broker was last heard from, where the connection knows it (a
 * heartbeat timeout comes two intervals after the silence began). A
 * reconnect that succeeds at once costs nothing (the orchestrator acts only
 * on a loss that lasts its BROKER_LOST_MS); one that keeps failing grows the
 * figure the znode shows.
 *
 * Busy work beside held connections. rabbitmq-c sends heartbeats only from
 * inside its calls, so a thread that spends seconds in SQLite (a restore) or
 * on another connection (a backup's transfer) would see the broker close the
 * connections it holds. worker_busy runs that work on a helper thread while
 * the owner keeps sending heartbeats on its connections (mq_keepalive reads
 * nothing, so no delivery is taken out of turn); the connections stay the
 * owner's alone.
 */
#include "worker.h"

#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mq.h"
#include "protocol.h"

void worker_advance(struct worker *w, const struct store_pos *pos)
{
    atomic_store(&w->log_bytes, pos->log_bytes);
    pthread_mutex_lock(&w->lock);
    if (pos->applied_seq > w->applied_seq) w->applied_seq = pos->applied_seq;
    pthread_cond_broadcast(&w->advanced);
    pthread_mutex_unlock(&w->lock);
}

void worker_count_applied(struct worker *w, int n, int64_t began_us)
{
    atomic_fetch_add(&w->applied_entries, n);
    atomic_fetch_add(&w->apply_us, clock_us() - began_us);
}

void worker_set_state(struct worker *w, const char *role, const char *state)
{
    pthread_mutex_lock(&w->lock);
    int changed = !w->role || !w->state || strcmp(w->role, role) || strcmp(w->state, state);
    w->role = role;
    w->state = state;
    pthread_cond_broadcast(&w->advanced);
    pthread_mutex_unlock(&w->lock);
    if (changed) log_info("worker state role=%s state=%s", role, state);
}

void worker_caught_up(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    int first = !w->caught_up;
    w->caught_up = 1;
    pthread_cond_broadcast(&w->advanced);
    const char *role = w->role;
    pthread_mutex_unlock(&w->lock);
    if (first && role && role[0] == 's') worker_set_state(w, role, "ready");
}

void worker_background_thread(void)
{
    /* On Linux a nice value belongs to the thread (its task id), not the process. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19))
        log_debug("could not lower a background thread's priority");
}

void worker_nap(struct worker *w, int ms)
{
    pthread_mutex_lock(&w->lock);
    struct timespec until = clock_deadline(ms);
    while (!w->stop && pthread_cond_timedwait(&w->advanced, &w->lock, &until) == 0) {}
    pthread_mutex_unlock(&w->lock);
}

int worker_declare_log(struct worker *w, struct mq *m)
{
    return mq_declare_stream(m, PROTO_LOG_STREAM, w->log_retention_bytes, w->log_segment_bytes);
}

void worker_link_down(struct worker *w, int link, int64_t since)
{
    int64_t none = 0;
    atomic_compare_exchange_strong(&w->link_down[link], &none, since > 0 ? since : clock_ms());
}

int64_t worker_lost_at(struct mq *a, struct mq *b)
{
    int64_t x = mq_lost_at(a), y = mq_lost_at(b);
    return x && (!y || x < y) ? x : y;
}

void worker_link_up(struct worker *w, int link) { atomic_store(&w->link_down[link], 0); }

int64_t worker_broker_down_ms(struct worker *w)
{
    int64_t since = 0;
    for (int i = 0; i < WORKER_LINKS; i++) {
        int64_t t = atomic_load(&w->link_down[i]);
        if (t && (!since || t < since)) since = t;
    }
    if (!since) return 0;
    int64_t ms = clock_ms() - since;
    return ms > 0 ? ms : 1; /* non-zero means cut off */
}

struct busy {
    int (*fn)(void *);
    void *arg;
    int rc;
    atomic_int done;
};

static void *busy_main(void *arg)
{
    struct busy *b = arg;
    b->rc = b->fn(b->arg);
    atomic_store(&b->done, 1);
    return NULL;
}

int worker_busy(int (*fn)(void *), void *arg, struct mq **conns, int n)
{
    struct busy b = { .fn = fn, .arg = arg };
    pthread_t t;
    if (pthread_create(&t, NULL, busy_main, &b)) return fn(arg); /* no thread: as before, unkept */
    while (!atomic_load(&b.done)) {
        for (int i = 0; i < n; i++)
            if (conns[i]) mq_keepalive(conns[i]);
        struct timespec tick = { 0, 50 * 1000000L };
        nanosleep(&tick, NULL);
    }
    pthread_join(t, NULL);
    return b.rc;
}
