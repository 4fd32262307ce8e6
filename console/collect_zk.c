/*
 * collect_zk.c — the ZooKeeper collector thread: the tree under ZK_ROOT,
 * kept current by watches.
 *
 * Every znode read sets a one-shot data watch and every children list a
 * one-shot child watch, unless one is already set on that path: the
 * collector keeps the set of armed (path, kind) pairs, so that re-reading
 * the tree does not pile up watches that will never fire. A watch firing
 * (on the library's thread) only removes its pair from the set, marks the
 * tree dirty and wakes this thread, which walks the tree again and re-arms
 * what fired. A pair is marked before the call that sets it, so a watch
 * firing before the call returns is never lost: it unmarks the pair and
 * makes the tree dirty, and the next walk sets it again.
 *
 * Besides the watches the tree is walked every BACKSTOP_MS, and on a
 * refresh key, in case a watch was lost with a connection.
 *
 * The session: connected/disconnected come from the library's state
 * callback. While disconnected the library reconnects on its own and the
 * backend shows unreachable; an expired session is closed (which frees its
 * pending watches) and a new one opened, with an empty armed set.
 */
#include "collect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "zk.h"

#define BACKSTOP_MS 5000
#define MAX_DEPTH 5

static int armed_find(struct collector *c, const char *key)
{
    for (int i = 0; i < c->narmed; i++)
        if (strcmp(c->armed[i], key) == 0) return i;
    return -1;
}

/* Marks (kind, path) armed; 1 if the caller should set the watch. */
static int arm(struct collector *c, char kind, const char *path)
{
    char key[MODEL_ZNODE_PATH + 2];
    snprintf(key, sizeof key, "%c:%s", kind, path);
    pthread_mutex_lock(&c->mu);
    int set = armed_find(c, key) < 0 && c->narmed < ZK_ARMED_MAX;
    if (set) snprintf(c->armed[c->narmed++], sizeof c->armed[0], "%s", key);
    pthread_mutex_unlock(&c->mu);
    return set;
}

static void disarm_locked(struct collector *c, char kind, const char *path)
{
    char key[MODEL_ZNODE_PATH + 2];
    snprintf(key, sizeof key, "%c:%s", kind, path);
    int i = armed_find(c, key);
    if (i >= 0) memcpy(c->armed[i], c->armed[--c->narmed], sizeof c->armed[0]);
}

static void disarm(struct collector *c, char kind, const char *path)
{
    pthread_mutex_lock(&c->mu);
    disarm_locked(c, kind, path);
    pthread_mutex_unlock(&c->mu);
}

static void on_watch(const char *path, void *ctx)
{
    struct zk_watch_ctx *w = ctx;
    struct collector *c = w->c;
    pthread_mutex_lock(&c->mu);
    disarm_locked(c, w->child ? 'c' : 'd', path);
    c->zk_dirty = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
}

static void on_state(int connected, int expired, void *ctx)
{
    struct collector *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->zk_connected = connected;
    if (expired) c->zk_expired = 1;
    c->zk_dirty = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct walk {
    struct znode_out { struct c_znode *v; int n, truncated; } out;
    int failed;
};

/* Depth-first, children in name order: the order the tree is drawn in. */
static void walk(struct collector *c, struct zk *z, const char *path, int depth, struct walk *w)
{
    if (w->failed) return;
    if (w->out.n >= MODEL_ZNODES_MAX) { w->out.truncated = 1; return; }
    struct c_znode *node = &w->out.v[w->out.n];
    char data[MODEL_ZNODE_DATA];
    int dw = arm(c, 'd', path);
    int len = zk_get(z, path, data, sizeof data, dw ? on_watch : NULL, dw ? &c->data_ctx : NULL);
    if (len < 0 && dw) disarm(c, 'd', path);
    if (len == -2) return;              /* gone since its parent was listed */
    if (len == -1) { w->failed = 1; return; }
    w->out.n++;
    snprintf(node->path, sizeof node->path, "%s", path);
    model_printable(node->data, sizeof node->data, data, (size_t)len < sizeof data ? (size_t)len : sizeof data - 1);
    node->depth = depth;
    if (depth >= MAX_DEPTH) return;
    char **names = NULL;
    int cw = arm(c, 'c', path);
    int n = zk_children(z, path, &names, cw ? on_watch : NULL, cw ? &c->child_ctx : NULL);
    if (n < 0) {
        if (cw) disarm(c, 'c', path);
        if (n == -1) w->failed = 1;
        return;
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        char child[MODEL_ZNODE_PATH];
        int k = snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") ? path : "", names[i]);
        if (k < (int)sizeof child) walk(c, z, child, depth + 1, w);
    }
    zk_free_children(names, n);
}

/* Waits until stop, a dirty tree, a refresh or timeout_ms; mu held. */
static void wait_dirty(struct collector *c, uint64_t *seen, int64_t timeout_ms)
{
    struct timespec until = clock_deadline(timeout_ms);
    while (!c->stop && !c->zk_dirty && c->refresh_gen == *seen)
        if (pthread_cond_timedwait(&c->wake, &c->mu, &until) != 0) break;
    *seen = c->refresh_gen;
}

void *collect_zk_main(void *arg)
{
    struct collector *c = arg;
    static struct c_znode nodes[MODEL_ZNODES_MAX]; /* this thread only */
    char cannot[300];
    snprintf(cannot, sizeof cannot, "cannot connect to %s", c->cfg.zk_hosts);
    struct zk *z = NULL;
    uint64_t seen = 0;
    int64_t next_walk = 0;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int stop = c->stop, expired = c->zk_expired;
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
        if (z && expired) {
            zk_close(z);
            z = NULL;
        }
        if (!z) {
            z = zk_open(c->cfg.zk_hosts, c->cfg.zk_session_ms, c->cfg.timeout_ms, on_state, c);
            pthread_mutex_lock(&c->mu);
            c->narmed = 0;
            c->zk_expired = 0;
            c->zk_connected = z != NULL;
            pthread_mutex_unlock(&c->mu);
            next_walk = 0;
            if (!z) {
                collect_backend(c, B_ZK, cannot);
                pthread_mutex_lock(&c->mu);
                wait_dirty(c, &seen, c->cfg.period_ms > 1000 ? c->cfg.period_ms : 1000);
                pthread_mutex_unlock(&c->mu);
                continue;
            }
        }
        pthread_mutex_lock(&c->mu);
        int connected = c->zk_connected, dirty = c->zk_dirty;
        c->zk_dirty = 0;
        pthread_mutex_unlock(&c->mu);
        int64_t now = clock_ms();
        if (!connected) {
            collect_backend(c, B_ZK, "connection lost; reconnecting");
        } else if (dirty || now >= next_walk) {
            struct walk w = { { nodes, 0, 0 }, 0 };
            walk(c, z, c->cfg.zk_root, 0, &w);
            if (!w.failed) {
                pthread_mutex_lock(&c->mu);
                memcpy(c->snap.znodes, nodes, (size_t)w.out.n * sizeof nodes[0]);
                c->snap.nznodes = w.out.n;
                c->snap.zk_truncated = w.out.truncated;
                if (w.out.n == 0) { /* no root yet: say so rather than show nothing */
                    snprintf(c->snap.znodes[0].path, sizeof c->snap.znodes[0].path, "%s", c->cfg.zk_root);
                    snprintf(c->snap.znodes[0].data, sizeof c->snap.znodes[0].data, "(no such znode)");
                    c->snap.znodes[0].depth = 0;
                    c->snap.nznodes = 1;
                }
                pthread_mutex_unlock(&c->mu);
            }
            collect_backend(c, B_ZK, w.failed ? "reading the tree failed" : NULL);
            next_walk = clock_ms() + (w.failed ? c->cfg.period_ms : BACKSTOP_MS);
        }
        pthread_mutex_lock(&c->mu);
        int64_t left = next_walk - clock_ms();
        if (!connected || left > c->cfg.period_ms) left = c->cfg.period_ms;
        wait_dirty(c, &seen, left > 0 ? left : 0);
        pthread_mutex_unlock(&c->mu);
    }
    zk_close(z);
    return NULL;
}
