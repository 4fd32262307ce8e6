/*
 * events.c — see events.h. A fixed ring under one mutex: the newest entry
 * overwrites the oldest once EVENTS_MAX are held. Each event is also
 * counted by kind for GET /metrics (rideshare_events_total).
 */
#include "events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "metrics.h"

static struct {
    pthread_mutex_t mu;
    struct event ring[EVENTS_MAX];
    uint64_t added;          /* total ever added: the next slot is added % EVENTS_MAX */
} E = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct metric *counted;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_family(void)
{
    counted = metric_family("rideshare_events_total",
                            "orchestrator events by kind (election: a master replaced; failover, scale, crash, ...)",
                            METRIC_COUNTER);
}

void events_add(const char *kind, const char *fmt, ...)
{
    pthread_once(&once, init_family);
    char labels[64];
    snprintf(labels, sizeof labels, "kind=\"%s\"", kind);
    metric_add(metric_series(counted, labels), 1);
    struct event ev;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ev.at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    snprintf(ev.kind, sizeof ev.kind, "%s", kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.text, sizeof ev.text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&E.mu);
    E.ring[E.added % EVENTS_MAX] = ev;
    E.added++;
    pthread_mutex_unlock(&E.mu);
}

int events_list(struct event *out, int max)
{
    pthread_mutex_lock(&E.mu);
    uint64_t held = E.added < EVENTS_MAX ? E.added : EVENTS_MAX;
    uint64_t first = E.added - held;
    int n = 0;
    for (uint64_t i = first; i < E.added && n < max; i++) out[n++] = E.ring[i % EVENTS_MAX];
    pthread_mutex_unlock(&E.mu);
    return n;
}
