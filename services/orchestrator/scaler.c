/*
 * scaler.c — see scaler.h.
 *
 * State: the read counter and the end of the current window (0 until the
 * first read). A tick that finds the window over hands out the counter,
 * zeroes it and moves the end on by exactly one window, so windows keep
 * their cadence from the first read instead of drifting by the caller's
 * lateness. A read counted after the end but before the tick goes to the
 * window that is closing: the boundary is only as sharp as the tick, and
 * the supervisor ticks at the window's end.
 */
#include "scaler.h"

#include <pthread.h>
#include <stdlib.h>

struct scaler {
    pthread_mutex_t mu;
    int64_t window_ms;
    int per_slave;
    int64_t reads;
    int64_t ends_at;     /* 0: no read yet */
};

int scaler_target(int64_t reads, int per_slave)
{
    if (per_slave < 1) per_slave = 1;
    int64_t n = reads <= 0 ? 0 : (reads + per_slave - 1) / per_slave;
    if (n < 1) n = 1;
    return n > 1000000 ? 1000000 : (int)n;
}

int scaler_bounded(int rule, int current, int max_slaves, int up_step)
{
    if (max_slaves < 1) max_slaves = 1;
    if (up_step < 1) up_step = 1;
    if (current < 1) current = 1;
    int to = rule < max_slaves ? rule : max_slaves;
    /* int64_t: current + up_step must not overflow for any int inputs. */
    if (to > current && (int64_t)to - current > up_step) to = current + up_step;
    return to < 1 ? 1 : to;
}

struct scaler *scaler_new(int64_t window_ms, int reads_per_slave)
{
    struct scaler *s = calloc(1, sizeof *s);
    if (!s) abort();
    pthread_mutex_init(&s->mu, NULL);
    s->window_ms = window_ms > 0 ? window_ms : 1;
    s->per_slave = reads_per_slave > 0 ? reads_per_slave : 1;
    return s;
}

void scaler_free(struct scaler *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void scaler_count(struct scaler *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    if (!s->ends_at) s->ends_at = now_ms + s->window_ms;
    s->reads++;
    pthread_mutex_unlock(&s->mu);
}

int scaler_tick(struct scaler *s, int64_t now_ms, int64_t *reads, int *target)
{
    int closed = 0;
    pthread_mutex_lock(&s->mu);
    if (s->ends_at && now_ms >= s->ends_at) {
        closed = 1;
        *reads = s->reads;
        *target = scaler_target(s->reads, s->per_slave);
        s->reads = 0;
        s->ends_at += s->window_ms;
    }
    pthread_mutex_unlock(&s->mu);
    return closed;
}

int64_t scaler_remaining(struct scaler *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    int64_t left = s->ends_at ? s->ends_at - now_ms : -1;
    pthread_mutex_unlock(&s->mu);
    return left < -1 ? 0 : left;
}

int64_t scaler_reads(struct scaler *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t n = s->reads;
    pthread_mutex_unlock(&s->mu);
    return n;
}
