/* worker.c — the state the roles share with readers and the znode (worker.h). */
#include "worker.h"

#include <string.h>
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
