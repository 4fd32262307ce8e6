/*
 * runtime_monitor.c — the exit-monitor thread and the small checks both
 * runtimes share (see runtime_monitor.h).
 *
 * The thread sleeps on a CLOCK_MONOTONIC condvar with a deadline poll_ms
 * ahead, so a wall-clock step neither stalls nor hurries it, and stop wakes
 * it at once instead of after a full period. The pass runs with mu dropped:
 * the docker runtime's pass makes HTTP calls that must not block spawn, kill
 * or list, and the process runtime's takes mu itself only around its table.
 */
#include "runtime_monitor.h"

#include "clock.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int rt_valid_id(const char *id)
{
    if (!id) return 0;
    size_t len = strlen(id);
    if (len < 1 || len >= RUNTIME_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int rt_valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 200) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

int rt_check_spec(const struct runtime_spec *spec)
{
    if (!spec || !rt_valid_id(spec->id)) {
        log_error("spawn: invalid worker id id=%s", spec && spec->id ? spec->id : "(null)");
        return -1;
    }
    for (int j = 0; j < RUNTIME_MAX_ENV && spec->env[j]; j++) {
        const char *eq = strchr(spec->env[j], '=');
        if (!eq || eq == spec->env[j]) {
            log_error("spawn: env entry is not NAME=value id=%s entry=%s", spec->id, spec->env[j]);
            return -1;
        }
    }
    return 0;
}

struct rt_notice *rt_notices_add(struct rt_notices *ns)
{
    if (ns->n == ns->cap) {
        int cap = ns->cap ? ns->cap * 2 : 8;
        struct rt_notice *v = realloc(ns->v, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        ns->v = v;
        ns->cap = cap;
    }
    struct rt_notice *nt = &ns->v[ns->n++];
    memset(nt, 0, sizeof *nt);
    return nt;
}

static void *monitor_main(void *arg)
{
    struct rt_monitor *m = arg;
    struct rt_notices notes = { 0 };
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        pthread_mutex_unlock(&m->mu);
        notes.n = 0;
        int reported = m->pass(m->arg, &notes);
        pthread_mutex_lock(&m->mu);
        if (reported > 0) continue; /* look again at once: the callback may have changed things */
        struct timespec dl = clock_deadline(m->poll_ms);
        while (!m->stopping && pthread_cond_timedwait(&m->cond, &m->mu, &dl) == 0) {}
    }
    pthread_mutex_unlock(&m->mu);
    free(notes.v);
    return NULL;
}

int rt_monitor_start(struct rt_monitor *m, int poll_ms, rt_pass_fn pass, void *arg)
{
    m->stopping = 0;
    m->poll_ms = poll_ms;
    m->pass = pass;
    m->arg = arg;
    if (pthread_mutex_init(&m->mu, NULL) != 0) return -1;
    if (clock_cond_init(&m->cond) != 0) {
        pthread_mutex_destroy(&m->mu);
        return -1;
    }
    if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->mu);
        return -1;
    }
    return 0;
}

void rt_monitor_stop(struct rt_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
}
