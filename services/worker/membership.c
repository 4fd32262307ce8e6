/*
 * membership.c — the worker's ephemeral znode, ZK_ROOT/workers/<id>.
 *
 * Its data is {"id", "role", "pid", "state", "seq", "epoch"}; the orchestrator
 * (and the console) read it to know who is alive, in which role and how far
 * it has applied the log. The znode lives as long as the ZooKeeper session,
 * so a worker that dies vanishes from the tree when its session expires.
 *
 * ZK_ROOT/log_epoch is where a master that finds a newer epoch in the log
 * than the one it was given says so before it exits: the orchestrator's
 * epoch in ZooKeeper can be behind the log's (ZooKeeper's data lost while
 * the broker's survived), and the next epoch must be above both.
 *
 * A thread of its own rewrites the znode when something changed, at most
 * every 500 ms: the roles never wait on ZooKeeper.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "worker.h"
#include "zk.h"

static pthread_t thread;
static int running;
static char znode[256];
static char epoch_node[256];

static int describe(struct worker *w, char *buf, size_t n)
{
    pthread_mutex_lock(&w->lock);
    int len = snprintf(buf, n,
                       "{\"id\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"state\":\"%s\",\"seq\":%lld,\"epoch\":%lld}",
                       w->id, w->role ? w->role : "", (int)getpid(), w->state ? w->state : "",
                       (long long)w->applied_seq, (long long)w->epoch);
    pthread_mutex_unlock(&w->lock);
    return len;
}

static void *membership_main(void *arg)
{
    struct worker *w = arg;
    char last[512] = "", now[512];
    const char *role = NULL, *state = NULL;
    int64_t written_at = 0;
    while (!w->stop) {
        pthread_mutex_lock(&w->lock);
        int moved = w->role != role || w->state != state;
        role = w->role;
        state = w->state;
        pthread_mutex_unlock(&w->lock);
        int len = describe(w, now, sizeof now);
        /* A role or state change is written at once; seq progress at most every 500 ms. */
        if (strcmp(now, last) != 0 && (moved || clock_ms() - written_at >= 500) &&
            zk_put(w->zk, znode, now, (size_t)len) == 0) {
            memcpy(last, now, sizeof last);
            written_at = clock_ms();
        }
        struct timespec tick = { 0, 50 * 1000000L };
        nanosleep(&tick, NULL);
    }
    return NULL;
}

int membership_start(struct worker *w, const char *zk_hosts, const char *zk_root, int session_ms)
{
    if (!*zk_hosts) return 0; /* running without ZooKeeper (unit tests, tools) */
    w->zk = zk_open(zk_hosts, session_ms, 5000, NULL, NULL);
    if (!w->zk) return -1;
    char dir[200], data[512];
    snprintf(dir, sizeof dir, "%s/workers", zk_root);
    snprintf(znode, sizeof znode, "%s/%s", dir, w->id);
    snprintf(epoch_node, sizeof epoch_node, "%s/log_epoch", zk_root);
    int len = describe(w, data, sizeof data);
    if (zk_ensure_path(w->zk, dir) || zk_create_ephemeral(w->zk, znode, data, (size_t)len)) {
        zk_close(w->zk);
        w->zk = NULL;
        return -1;
    }
    running = pthread_create(&thread, NULL, membership_main, w) == 0;
    return 0;
}

int membership_note_epoch(struct worker *w, int64_t epoch)
{
    if (!w->zk) return -1;
    char data[32];
    int n = snprintf(data, sizeof data, "%lld", (long long)epoch);
    return zk_put(w->zk, epoch_node, data, (size_t)n);
}

void membership_stop(struct worker *w)
{
    if (running) pthread_join(thread, NULL);
    running = 0;
    if (w->zk) zk_close(w->zk);
    w->zk = NULL;
}
