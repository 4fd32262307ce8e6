/*
 * collect.c — see collect.h. The core (snapshot, refresh, backend state)
 * and the RabbitMQ and orchestrator threads; ZooKeeper is collect_zk.c.
 *
 * Backend state. Each attempt ends in collect_backend(b, error): the first
 * failure and every change between reachable and unreachable is a console
 * event, and the status line shows how long a backend has been down and
 * why. A backend that comes back is simply reachable again at its next
 * attempt: the threads retry every period, forever.
 *
 * RabbitMQ. A passive declare of a queue that does not exist makes the
 * broker close the channel, so after any failed declare the connection is
 * replaced; if the new one cannot be opened the broker is down, otherwise
 * only that queue is missing. The orchestrator's writes and reads per second
 * come from two successive statuses (model_orch_rates); each poll adds a
 * sample of them and of the worst slave lag to the snapshot's series (a
 * failed poll adds a gap). Queue rates are the change of a queue's message
 * count per second between two successful reads: for writeQ and readQ the
 * growth (or drain) of the backlog, for the replog stream its append rate.
 */
#include "collect_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_client.h"
#include "mq.h"
#include "protocol.h"

static const char *const QUEUES[MODEL_QUEUES] = { PROTO_WRITE_QUEUE, PROTO_READ_QUEUE, PROTO_LOG_STREAM };

void collect_backend(struct collector *c, enum backend b, const char *error)
{
    pthread_mutex_lock(&c->mu);
    struct c_backend *x = &c->snap.be[b];
    int up = error == NULL, first = !x->tried;
    int64_t now = clock_ms();
    char text[MODEL_EVENT_TEXT];
    if (first || up != x->up) {
        x->since_ms = now;
        if (!up) {
            snprintf(text, sizeof text, "%s unreachable: %s", BACKEND_NAMES[b], error);
            model_local_event(&c->snap, "error", text);
        } else if (!first) {
            snprintf(text, sizeof text, "%s reachable again", BACKEND_NAMES[b]);
            model_local_event(&c->snap, "recovered", text);
        }
    }
    x->tried = 1;
    x->up = up;
    if (up) {
        x->updated_ms = now;
        x->error[0] = 0;
    } else {
        snprintf(x->error, sizeof x->error, "%s", error);
    }
    c->snap.version++;
    pthread_mutex_unlock(&c->mu);
}

int collect_wait(struct collector *c, uint64_t *seen, int64_t timeout_ms)
{
    struct timespec until = clock_deadline(timeout_ms);
    while (!c->stop && c->refresh_gen == *seen)
        if (pthread_cond_timedwait(&c->wake, &c->mu, &until) != 0) break;
    *seen = c->refresh_gen;
    return c->stop;
}

/* The wait before the next attempt: the period, but a backend that is
 * down is not retried more than once a second (a short period would only
 * fill the log with failed connects). */
static int64_t retry_ms(const struct collector *c, int down)
{
    return down && c->cfg.period_ms < 1000 ? 1000 : c->cfg.period_ms;
}

/* The orchestrator: GET /api/v1/status every period. */
static void *orch_main(void *arg)
{
    struct collector *c = arg;
    char url[700], why[160];
    snprintf(url, sizeof url, "%s/api/v1/status", c->cfg.orch_url);
    static struct c_worker workers[CW_MAX];  /* this thread only */
    static struct c_event events[MODEL_EVENTS_MAX];
    uint64_t seen = 0;
    struct c_orch prev;
    memset(&prev, 0, sizeof prev);
    int64_t prev_at = 0;
    for (;;) {
        struct http_result r;
        struct c_orch orch;
        int nw = 0, ne = 0;
        const char *err = NULL;
        if (http_call("GET", url, NULL, c->cfg.orch_headers, c->cfg.timeout_ms, &r) != 0) {
            snprintf(why, sizeof why, "%s", r.error[0] ? r.error : "no answer");
            err = why;
        } else if (r.status != 200) {
            snprintf(why, sizeof why, "GET /api/v1/status answered %ld", r.status);
            err = why;
        } else if (model_parse_status(r.body, r.body_len, &orch, workers, &nw, events, &ne, why, sizeof why)) {
            err = why;
        }
        http_result_free(&r);
        double sample[SER_N] = { -1, -1, -1 }; /* a failed poll: a gap */
        if (!err) {
            prev_at = model_orch_rates(&orch, &prev, prev_at, clock_ms());
            series_sample(&orch, workers, nw, sample);
        } else {
            prev_at = 0; /* the next rate spans no outage */
        }
        pthread_mutex_lock(&c->mu);
        if (!err) {
            c->snap.orch = orch;
            c->snap.nworkers = nw;
            memcpy(c->snap.workers, workers, (size_t)nw * sizeof workers[0]);
            c->snap.norch_events = ne;
            memcpy(c->snap.orch_events, events, (size_t)ne * sizeof events[0]);
        }
        series_push(&c->snap.series, sample);
        c->snap.series.interval_ms = c->cfg.period_ms;
        pthread_mutex_unlock(&c->mu);
        collect_backend(c, B_ORCH, err);
        pthread_mutex_lock(&c->mu);
        int stop = collect_wait(c, &seen, retry_ms(c, err != NULL));
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
    }
    return NULL;
}

/* One round of depths: 0, or -1 when the broker cannot be reached (*m is
 * then NULL). */
static int read_depths(struct collector *c, struct mq **m, struct c_queue *q)
{
    if (!*m) *m = mq_connect(c->cfg.amqp_url, c->cfg.timeout_ms);
    if (!*m) return -1;
    for (int i = 0; i < MODEL_QUEUES; i++) {
        uint32_t msgs = 0, cons = 0;
        q[i].ok = mq_queue_depth(*m, QUEUES[i], &msgs, &cons) == 0;
        q[i].messages = msgs;
        q[i].consumers = cons;
        if (!q[i].ok) { /* the channel is closed either way: start over */
            mq_close(*m);
            *m = mq_connect(c->cfg.amqp_url, c->cfg.timeout_ms);
            if (!*m) return -1;
        }
    }
    return 0;
}

static void *mq_main(void *arg)
{
    struct collector *c = arg;
    struct mq *m = NULL;
    char shown[300], why[400];
    model_redact_url(c->cfg.amqp_url, shown, sizeof shown);
    snprintf(why, sizeof why, "cannot connect to %s", shown);
    int64_t prev_at[MODEL_QUEUES] = { 0 }, prev_msgs[MODEL_QUEUES] = { 0 };
    uint64_t seen = 0;
    for (;;) {
        struct c_queue q[MODEL_QUEUES];
        memset(q, 0, sizeof q);
        int rc = read_depths(c, &m, q);
        int64_t now = clock_ms();
        for (int i = 0; i < MODEL_QUEUES; i++) {
            snprintf(q[i].name, sizeof q[i].name, "%s", QUEUES[i]);
            if (rc == 0 && q[i].ok && prev_at[i] && now > prev_at[i]) {
                q[i].rate = (double)(q[i].messages - prev_msgs[i]) * 1000.0 / (double)(now - prev_at[i]);
                q[i].has_rate = 1;
            }
            prev_at[i] = rc == 0 && q[i].ok ? now : 0;
            prev_msgs[i] = q[i].messages;
        }
        pthread_mutex_lock(&c->mu);
        memcpy(c->snap.queues, q, sizeof q);
        pthread_mutex_unlock(&c->mu);
        collect_backend(c, B_MQ, rc == 0 ? NULL : why);
        pthread_mutex_lock(&c->mu);
        int stop = collect_wait(c, &seen, retry_ms(c, rc != 0));
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
    }
    mq_close(m);
    return NULL;
}

struct collector *collector_start(const struct collect_config *cfg)
{
    struct collector *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *cfg;
    pthread_mutex_init(&c->mu, NULL);
    clock_cond_init(&c->wake);
    c->data_ctx = (struct zk_watch_ctx){ c, 0 };
    c->child_ctx = (struct zk_watch_ctx){ c, 1 };
    for (int i = 0; i < MODEL_QUEUES; i++) snprintf(c->snap.queues[i].name, sizeof c->snap.queues[i].name, "%s", QUEUES[i]);
    void *(*mains[B_N])(void *) = { collect_zk_main, mq_main, orch_main };
    for (int b = 0; b < B_N; b++) {
        c->started[b] = pthread_create(&c->th[b], NULL, mains[b], c) == 0;
        if (!c->started[b]) {
            collector_stop(c);
            return NULL;
        }
    }
    return c;
}

void collector_stop(struct collector *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
    for (int b = 0; b < B_N; b++)
        if (c->started[b]) pthread_join(c->th[b], NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void collector_snapshot(struct collector *c, struct snapshot *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->snap;
    pthread_mutex_unlock(&c->mu);
}

uint64_t collector_version(struct collector *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t v = c->snap.version;
    pthread_mutex_unlock(&c->mu);
    return v;
}

void collector_refresh(struct collector *c)
{
    pthread_mutex_lock(&c->mu);
    c->refresh_gen++;
    c->zk_dirty = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
}

int collector_wait_first(struct collector *c, int timeout_ms)
{
    int64_t deadline = clock_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    int all;
    for (;;) {
        all = 1;
        for (int b = 0; b < B_N; b++) all &= c->snap.be[b].tried;
        if (all || clock_ms() >= deadline) break;
        /* collect_backend does not signal: poll briefly, this is batch mode only */
        pthread_mutex_unlock(&c->mu);
        struct timespec t = { 0, 20 * 1000000L };
        nanosleep(&t, NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return all;
}

void collector_event(struct collector *c, const char *kind, const char *fmt, ...)
{
    char text[MODEL_EVENT_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->mu);
    model_local_event(&c->snap, kind, text);
    pthread_mutex_unlock(&c->mu);
}

void collector_message(struct collector *c, int busy, const char *text)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->snap.message, sizeof c->snap.message, "%s", text);
    c->snap.action_busy = busy;
    c->snap.version++;
    pthread_mutex_unlock(&c->mu);
}
