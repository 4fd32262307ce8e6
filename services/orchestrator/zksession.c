/*
 * zksession.c — see zksession.h. A mutex guards the state the library's
 * thread writes (connected, expired) and the handle's replacement; no
 * ZooKeeper call is made under it.
 */
#include "zksession.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "zk.h"

/* A renewal waits this long for the new session: the supervisor's loop
 * tries again next round rather than stall. */
#define RENEW_CONNECT_MS 1000

struct zksession {
    char *hosts;
    int session_ms;
    pthread_mutex_t mu;
    struct zk *zk;
    int connected, expired;
    void (*listener)(void *);
    void *listener_ctx;
};

/* ZooKeeper's library thread. */
static void on_state(int connected, int expired, void *ctx)
{
    struct zksession *z = ctx;
    pthread_mutex_lock(&z->mu);
    if (expired) z->expired = 1;
    z->connected = connected;
    void (*fn)(void *) = z->listener;
    void *fn_ctx = z->listener_ctx;
    pthread_mutex_unlock(&z->mu);
    if (fn) fn(fn_ctx);
}

struct zksession *zksession_open(const char *hosts, int session_ms, int connect_ms)
{
    struct zksession *z = calloc(1, sizeof *z);
    if (!z || !(z->hosts = strdup(hosts))) abort();
    z->session_ms = session_ms;
    pthread_mutex_init(&z->mu, NULL);
    struct zk *h = zk_open(hosts, session_ms, connect_ms, on_state, z);
    if (!h) {
        zksession_close(z);
        return NULL;
    }
    pthread_mutex_lock(&z->mu);
    z->zk = h;
    z->connected = 1;
    pthread_mutex_unlock(&z->mu);
    return z;
}

void zksession_close(struct zksession *z)
{
    if (!z) return;
    zk_close(z->zk); /* joins the library's threads: no on_state after it */
    pthread_mutex_destroy(&z->mu);
    free(z->hosts);
    free(z);
}

void zksession_listen(struct zksession *z, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&z->mu);
    z->listener = fn;
    z->listener_ctx = ctx;
    pthread_mutex_unlock(&z->mu);
}

struct zk *zksession_handle(struct zksession *z) { return z->zk; }

int zksession_connected(struct zksession *z)
{
    pthread_mutex_lock(&z->mu);
    int c = z->zk && z->connected;
    pthread_mutex_unlock(&z->mu);
    return c;
}

int zksession_renew(struct zksession *z)
{
    pthread_mutex_lock(&z->mu);
    int expired = z->expired || !z->zk;
    z->expired = 0;
    struct zk *old = z->zk;
    pthread_mutex_unlock(&z->mu);
    if (!expired) return 0;
    if (old) {
        log_warn("zk session expired; opening a new one");
        zk_close(old);
        pthread_mutex_lock(&z->mu);
        z->zk = NULL;
        pthread_mutex_unlock(&z->mu);
    }
    struct zk *h = zk_open(z->hosts, z->session_ms, RENEW_CONNECT_MS, on_state, z);
    pthread_mutex_lock(&z->mu);
    z->zk = h;
    z->connected = h != NULL;
    pthread_mutex_unlock(&z->mu);
    return h ? 1 : -1;
}
