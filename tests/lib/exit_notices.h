/*
 * exit_notices.h — the exit notices a runtime under test gives (its
 * runtime_exit_fn), recorded for the tests of the container runtimes
 * (test_runtime_docker.c, test_runtime_swarm.c) to wait on. Static: one
 * table per test program. Include after runtime.h and clock.h.
 */
#ifndef RS_TEST_EXIT_NOTICES_H
#define RS_TEST_EXIT_NOTICES_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct seen { char id[RUNTIME_ID_MAX]; int pid, status; };
static struct seen seen[64];
static int nseen;
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;

/* The runtime's exit callback: one notice recorded (the first 64). */
static void on_exit_cb(const char *id, int pid, int status, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&seen_mu);
    if (nseen < 64) {
        snprintf(seen[nseen].id, sizeof seen[nseen].id, "%s", id);
        seen[nseen].pid = pid;
        seen[nseen].status = status;
        nseen++;
    }
    pthread_mutex_unlock(&seen_mu);
}

/* Waits up to ms for a notice about id; its copy into *out. 0 or -1. */
static int wait_seen(const char *id, int ms, struct seen *out)
{
    for (int64_t end = clock_ms() + ms; clock_ms() < end;) {
        pthread_mutex_lock(&seen_mu);
        int found = -1;
        for (int i = 0; i < nseen; i++)
            if (strcmp(seen[i].id, id) == 0) found = i;
        if (found >= 0 && out) *out = seen[found];
        pthread_mutex_unlock(&seen_mu);
        if (found >= 0) return 0;
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* How many notices about id came (a worker is reported once). */
static int count_seen(const char *id)
{
    pthread_mutex_lock(&seen_mu);
    int c = 0;
    for (int i = 0; i < nseen; i++) c += strcmp(seen[i].id, id) == 0;
    pthread_mutex_unlock(&seen_mu);
    return c;
}

#endif
