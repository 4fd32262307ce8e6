/*
 * zk.c — see zk.h. How it works:
 *
 * zk_open starts a session with zookeeper_init2 and waits on a condition
 * variable until the global watcher reports ZOO_CONNECTED_STATE (or the
 * session dies, or the deadline passes). The global watcher turns session
 * events into on_state(connected, expired) calls, once per change.
 *
 * One-shot watches: each zk_get / zk_children with a watch allocates a small
 * struct watch {fn, ctx} and registers it as the library watcher's context.
 * The C client calls such a watcher for the node event it was set for (then
 * forgets it), but also for every session event (connecting, connected,
 * expired) while keeping it registered — so session events are ignored here
 * and the struct is freed only when the real event has fired. A watch that
 * never fires (the session expired, or the node never changed) is still on
 * the handle's pending list and is freed by zk_close, after
 * zookeeper_close() has stopped the library's threads.
 *
 * Host names: the library looks its host names up on its own I/O thread at
 * every reconnect attempt, and a lookup that hangs (Docker's DNS, for the
 * name of a server whose node is gone, asks servers it cannot reach) stopped
 * that thread for the resolver's whole timeout, try after try, so sessions
 * expired while two of three servers were up. The library is given
 * addresses only: zk_resolve.h looks the names up on threads of its own,
 * each lookup bounded, at zk_open and then every few seconds (a refresher
 * thread), and a changed list is handed over with zoo_set_servers. A name
 * that stops resolving keeps its last addresses: the library then finds
 * that server down, as it would any dead address.
 *
 * The library's own log lines are routed through our logger (one line, our
 * format, level WARN and up, rate-limited) instead of going to stderr in its
 * format.
 *
 * Access control (zk_acl.h): zk_open adds the process's identities to the
 * session before it is even connected (the library keeps them and sends them
 * first on every connect and reconnect), and every node is created with the
 * ACL of its path. The library refuses an identity (ZINVALIDSTATE) and
 * forgets it while it is between two connection attempts — its state is 0
 * from a refused connect until it tries the next host, as when a server of
 * the ensemble is down — and the session would then run as nobody, its first
 * read of a protected node refused as "not authenticated". So add_auths
 * retries a refusal until it is taken; zk_open waits for the connection only
 * after that. A create that ZooKeeper refuses for want of the right on the
 * parent is no failure where the node already exists (zk_ensure_path,
 * ensure_parents): ZooKeeper checks that right before it looks whether the
 * node is there, and a worker ensures paths the orchestrator made.
 *
 * Callbacks run on the library's completion thread, so zk_close must not be
 * called from inside one (it would free the handle under its own feet).
 */
#include "zk.h"

#include "clock.h"
#include "log.h"
#include "zk_acl.h"
#include "zk_resolve.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

struct watch {
    struct watch *next, *prev;
    struct zk *z;
    zk_watch_fn fn;
    void *ctx;
};

struct zk {
    zhandle_t *zh;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int connected, expired, closing;
    int was_connected;         /* a connect after this one is a reconnect */
    zk_state_fn on_state;
    void *ctx;
    struct watch pending;      /* list head of watches not yet fired */
    struct zk_names *names;    /* the servers' names and their last addresses */
    pthread_t refresher;
    int has_refresher;
    atomic_int stopping;       /* closing, for the refresher's lookups */
};

/* How long zk_open waits for the first lookups once one name has resolved,
 * and how often (and for how long) the refresher looks the names up again. */
enum { FIRST_LOOKUP_MS = 1000, REFRESH_CONNECTED_MS = 10000, REFRESH_DISCONNECTED_MS = 2000,
       REFRESH_WAIT_MS = 2000 };

/* The library logs each failed reconnect (every ~30 ms while a server is
 * down), so its lines are rate-limited: one per 5 s, with a count of those
 * left out. */
static void lib_log(const char *message)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int64_t last;
    static int dropped;
    pthread_mutex_lock(&mu);
    int64_t now = clock_ms();
    int skip = last && now - last < 5000, n_dropped = dropped;
    if (skip) dropped++;
    else { last = now; dropped = 0; }
    pthread_mutex_unlock(&mu);
    if (skip) return;
    /* "<time>:<pid>(<tid>):ZOO_WARN@fn@line: text\n": keep from ZOO_. */
    const char *s = strstr(message, "ZOO_");
    if (!s) s = message;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
    log_warn("zk client: %.*s suppressed=%d", (int)n, s, n_dropped);
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); }

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *wctx)
{
    (void)zh; (void)path;
    struct zk *z = wctx;
    if (type != ZOO_SESSION_EVENT) return; /* our node watches have their own watcher */
    int connected = state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE;
    int expired = state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
    pthread_mutex_lock(&z->mu);
    int changed = connected != z->connected || expired != z->expired;
    z->connected = connected;
    z->expired = expired;
    int closing = z->closing;
    pthread_cond_broadcast(&z->cond);
    pthread_mutex_unlock(&z->mu);
    if (!changed || closing) return;
    if (expired) log_warn("zk session expired state=%d", state);
    else if (!connected) log_warn("zk disconnected, reconnecting state=%d", state);
    else if (z->was_connected) log_info("zk reconnected, session kept");
    z->was_connected |= connected; /* only this thread writes it */
    if (z->on_state) z->on_state(connected, expired, z->ctx);
}

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *wctx)
{
    (void)zh; (void)state;
    struct watch *w = wctx;
    if (type == ZOO_SESSION_EVENT) return; /* still registered: see the top */
    struct zk *z = w->z;
    pthread_mutex_lock(&z->mu);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    int closing = z->closing;
    pthread_mutex_unlock(&z->mu);
    if (!closing) w->fn(path, w->ctx);
    free(w);
}

static struct watch *watch_new(struct zk *z, zk_watch_fn fn, void *ctx)
{
    struct watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->z = z;
    w->fn = fn;
    w->ctx = ctx;
    pthread_mutex_lock(&z->mu);
    w->next = z->pending.next;
    w->prev = &z->pending;
    w->next->prev = w;
    z->pending.next = w;
    pthread_mutex_unlock(&z->mu);
    return w;
}

/* For a call that failed: the library did not register the watcher. */
static void watch_drop(struct zk *z, struct watch *w)
{
    if (!w) return;
    pthread_mutex_lock(&z->mu);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    pthread_mutex_unlock(&z->mu);
    free(w);
}

/* Adds every identity of the process to the session (see the top): a
 * refusal between connection attempts is retried every 2 ms until the
 * deadline. 0, or -1 logged. */
static int add_auths(struct zk *z, int64_t deadline_ms)
{
    const char *auths[3];
    for (int i = 0, n = zk_access_auths(auths, 3); i < n; i++) {
        int rc, tries = 0;
        while ((rc = zoo_add_auth(z->zh, "digest", auths[i], (int)strlen(auths[i]), NULL, NULL)) == ZINVALIDSTATE) {
            pthread_mutex_lock(&z->mu);
            int expired = z->expired;
            pthread_mutex_unlock(&z->mu);
            if (expired || clock_ms() >= deadline_ms) break;
            tries++;
            nanosleep(&(struct timespec){ 0, 2 * 1000000L }, NULL);
        }
        if (rc != ZOK) {
            log_warn("zk add auth failed err=\"%s\" tries=%d", zerror(rc), tries + 1);
            return -1;
        }
        if (tries) log_info("zk identity added between connection attempts tries=%d", tries + 1);
    }
    return 0;
}

/* Looks the names up again now and then (see the top), off the library's
 * threads, and gives the library a list that changed. */
static void *refresher_main(void *arg)
{
    struct zk *z = arg;
    pthread_mutex_lock(&z->mu);
    while (!z->closing) {
        struct timespec next = clock_deadline(z->connected ? REFRESH_CONNECTED_MS : REFRESH_DISCONNECTED_MS);
        int rc = 0;
        while (!z->closing && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&z->cond, &z->mu, &next);
        if (z->closing) break;
        pthread_mutex_unlock(&z->mu);
        if (zk_names_refresh(z->names, REFRESH_WAIT_MS, REFRESH_WAIT_MS, &z->stopping) &&
            !atomic_load(&z->stopping)) {
            const char *addrs = zk_names_list(z->names);
            int set = zoo_set_servers(z->zh, addrs);
            if (set == ZOK) log_info("zk server addresses changed addrs=%s", addrs);
            else log_warn("zk server addresses not taken addrs=%s err=\"%s\"", addrs, zerror(set));
        }
        pthread_mutex_lock(&z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

struct zk *zk_open(const char *hosts, int session_timeout_ms, int connect_timeout_ms,
                   zk_state_fn on_state, void *ctx)
{
    pthread_once(&lib_once, lib_init);
    if (!hosts || !*hosts) {
        log_warn("zk open failed err=\"no hosts given\"");
        return NULL;
    }
    struct zk_names *names = zk_names_new(hosts, NULL);
    if (!names) {
        log_warn("zk open failed hosts=%s err=\"not a list of host:port\"", hosts);
        return NULL;
    }
    struct timespec deadline = clock_deadline(connect_timeout_ms);
    int64_t deadline_ms = clock_ms() + connect_timeout_ms;
    zk_names_refresh(names, FIRST_LOOKUP_MS, connect_timeout_ms, NULL);
    const char *addrs = zk_names_list(names);
    if (!*addrs) {
        log_warn("zk open failed hosts=%s err=\"no server name resolved\" timeout_ms=%d", hosts,
                 connect_timeout_ms);
        zk_names_free(names);
        return NULL;
    }
    struct zk *z = calloc(1, sizeof *z);
    if (!z) {
        zk_names_free(names);
        return NULL;
    }
    pthread_mutex_init(&z->mu, NULL);
    clock_cond_init(&z->cond);
    z->pending.next = z->pending.prev = &z->pending;
    z->on_state = on_state;
    z->ctx = ctx;
    z->names = names;
    z->zh = zookeeper_init2(addrs, session_watcher, session_timeout_ms, NULL, z, 0, lib_log);
    if (!z->zh) {
        log_warn("zk open failed hosts=%s addrs=%s err=\"%s\"", hosts, addrs, strerror(errno));
        zk_close(z);
        return NULL;
    }
    if (add_auths(z, deadline_ms)) {
        zk_close(z);
        return NULL;
    }
    pthread_mutex_lock(&z->mu);
    int rc = 0;
    while (!z->connected && !z->expired && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&z->cond, &z->mu, &deadline);
    int ok = z->connected;
    pthread_mutex_unlock(&z->mu);
    if (!ok) {
        log_warn("zk open failed hosts=%s addrs=%s err=\"%s\" timeout_ms=%d", hosts, addrs,
                 rc == ETIMEDOUT ? "not connected in time" : "session refused", connect_timeout_ms);
        zk_close(z);
        return NULL;
    }
    z->has_refresher = pthread_create(&z->refresher, NULL, refresher_main, z) == 0;
    if (!z->has_refresher) log_warn("zk address refresher not started: names looked up once only");
    log_info("zk connected hosts=%s addrs=%s session=0x%llx session_timeout_ms=%d", hosts, addrs,
             (unsigned long long)zoo_client_id(z->zh)->client_id, zoo_recv_timeout(z->zh));
    return z;
}

void zk_close(struct zk *z)
{
    if (!z) return;
    pthread_mutex_lock(&z->mu);
    z->closing = 1; /* no user callbacks from here on */
    atomic_store(&z->stopping, 1);
    pthread_cond_broadcast(&z->cond);
    pthread_mutex_unlock(&z->mu);
    /* Within a lookup slice (50 ms): its lookups are left to finish alone. */
    if (z->has_refresher) pthread_join(z->refresher, NULL);
    /* Joins the library's threads: no watcher runs after this. */
    if (z->zh) zookeeper_close(z->zh);
    for (struct watch *w = z->pending.next, *next; w != &z->pending; w = next) {
        next = w->next;
        free(w);
    }
    zk_names_free(z->names);
    pthread_cond_destroy(&z->cond);
    pthread_mutex_destroy(&z->mu);
    free(z);
}

int zk_session_timeout(const struct zk *z)
{
    return zoo_recv_timeout(z->zh);
}

static int zfail(const char *op, const char *path, int rc)
{
    log_warn("zk %s failed path=%s err=\"%s\"", op, path, zerror(rc));
    return -1;
}

static int create(struct zk *z, const char *path, const char *data, size_t len, int flags)
{
    /* The library takes the ACL as non-const; it only reads it. */
    struct ACL_vector *acl = (struct ACL_vector *)zk_acl_for(path);
    return zoo_create(z->zh, path, data, data ? (int)len : -1, acl, flags, NULL, 0);
}

/* A persistent create's answer, where an existing node is as good: ZNOAUTH
 * (no right to create here) counts as ZNODEEXISTS if the node is there. */
static int create_or_exists(struct zk *z, const char *path)
{
    int rc = create(z, path, NULL, 0, ZOO_PERSISTENT);
    if (rc == ZNOAUTH && zoo_exists(z->zh, path, 0, NULL) == ZOK) rc = ZNODEEXISTS;
    return rc;
}

/* Creates every missing ancestor of path (not path itself). */
static int ensure_parents(struct zk *z, const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return -1;
    memcpy(p, path, n + 1);
    int res = 0;
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        int rc = create_or_exists(z, p);
        *s = '/';
        if (rc != ZOK && rc != ZNODEEXISTS) {
            res = zfail("create", p, rc);
            break;
        }
    }
    free(p);
    return res;
}

int zk_ensure_path(struct zk *z, const char *path)
{
    if (strcmp(path, "/") == 0) return 0;
    int rc = create_or_exists(z, path);
    if (rc == ZOK || rc == ZNODEEXISTS) return 0;
    if (rc != ZNONODE) return zfail("create", path, rc);
    if (ensure_parents(z, path) != 0) return -1;
    rc = create_or_exists(z, path);
    return rc == ZOK || rc == ZNODEEXISTS ? 0 : zfail("create", path, rc);
}

int zk_create_ephemeral(struct zk *z, const char *path, const char *data, size_t len)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = create(z, path, data, len, ZOO_EPHEMERAL);
        if (rc == ZOK) return 0;
        if (rc == ZNONODE) {
            if (ensure_parents(z, path) != 0) return -1;
            continue;
        }
        if (rc != ZNODEEXISTS) return zfail("create ephemeral", path, rc);
        struct Stat st;
        rc = zoo_exists(z->zh, path, 0, &st);
        if (rc == ZNONODE) continue; /* gone meanwhile */
        if (rc != ZOK) return zfail("exists", path, rc);
        if (st.ephemeralOwner == zoo_client_id(z->zh)->client_id) {
            /* Already ours (this session): only the data changes. */
            rc = zoo_set(z->zh, path, data, data ? (int)len : -1, -1);
            return rc == ZOK ? 0 : zfail("set", path, rc);
        }
        /* Left by an earlier session that has not expired yet. Under access
         * control a worker may not delete it (deleting is a right on the
         * parent, which would cover the others' nodes too): the create
         * fails until that session expires, and the caller tries again. */
        log_info("zk replacing stale node path=%s owner=0x%llx", path,
                 (unsigned long long)st.ephemeralOwner);
        rc = zoo_delete(z->zh, path, st.version);
        if (rc != ZOK && rc != ZNONODE && rc != ZBADVERSION) return zfail("delete", path, rc);
    }
    log_warn("zk create ephemeral failed path=%s err=\"kept racing with another session\"", path);
    return -1;
}

int zk_put(struct zk *z, const char *path, const char *data, size_t len)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = zoo_set(z->zh, path, data, data ? (int)len : -1, -1);
        if (rc == ZOK) return 0;
        if (rc != ZNONODE) return zfail("set", path, rc);
        if (ensure_parents(z, path) != 0) return -1;
        rc = create(z, path, data, len, ZOO_PERSISTENT);
        if (rc == ZOK) return 0;
        if (rc != ZNODEEXISTS) return zfail("create", path, rc);
        /* Created by someone else meanwhile: set it. */
    }
    return zfail("set", path, ZNODEEXISTS);
}

int zk_get(struct zk *z, const char *path, char *buf, size_t n, zk_watch_fn watch, void *ctx)
{
    if (n == 0) return -1;
    struct watch *w = NULL;
    if (watch && !(w = watch_new(z, watch, ctx))) return -1;
    int len = n - 1 > 0x7fffffff ? 0x7fffffff : (int)(n - 1);
    struct Stat st;
    int rc = w ? zoo_wget(z->zh, path, node_watcher, w, buf, &len, &st)
               : zoo_get(z->zh, path, 0, buf, &len, &st);
    if (rc != ZOK) {
        watch_drop(z, w);
        if (rc == ZNONODE) return -2;
        return zfail("get", path, rc);
    }
    if (len < 0) len = 0; /* a node without data */
    buf[len] = '\0';
    return len;
}

int zk_children(struct zk *z, const char *path, char ***names, zk_watch_fn watch, void *ctx)
{
    *names = NULL;
    struct watch *w = NULL;
    if (watch && !(w = watch_new(z, watch, ctx))) return -1;
    struct String_vector sv = { 0, NULL };
    int rc = w ? zoo_wget_children(z->zh, path, node_watcher, w, &sv)
               : zoo_get_children(z->zh, path, 0, &sv);
    if (rc != ZOK) {
        watch_drop(z, w);
        if (rc == ZNONODE) return -2;
        return zfail("get children", path, rc);
    }
    int count = sv.count;
    char **out = calloc((size_t)count + 1, sizeof *out);
    for (int i = 0; out && i < count; i++) {
        out[i] = strdup(sv.data[i]);
        if (!out[i]) {
            zk_free_children(out, i);
            out = NULL;
        }
    }
    deallocate_String_vector(&sv);
    if (!out) return zfail("get children", path, ZSYSTEMERROR);
    *names = out;
    return count;
}

void zk_free_children(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int zk_get_versioned(struct zk *z, const char *path, char *buf, size_t n, int *version)
{
    if (n == 0) return -1;
    int len = n - 1 > 0x7fffffff ? 0x7fffffff : (int)(n - 1);
    struct Stat st;
    int rc = zoo_get(z->zh, path, 0, buf, &len, &st);
    if (rc == ZNONODE) return -2;
    if (rc != ZOK) return zfail("get", path, rc);
    if (len < 0) len = 0;
    buf[len] = '\0';
    *version = st.version;
    return len;
}

int zk_set_versioned(struct zk *z, const char *path, const char *data, size_t len, int version)
{
    if (version >= 0) {
        int rc = zoo_set(z->zh, path, data, data ? (int)len : -1, version);
        if (rc == ZOK) return 0;
        return rc == ZBADVERSION || rc == ZNONODE ? 1 : zfail("set", path, rc);
    }
    int rc = create(z, path, data, len, ZOO_PERSISTENT);
    if (rc == ZNONODE) {
        if (ensure_parents(z, path) != 0) return -1;
        rc = create(z, path, data, len, ZOO_PERSISTENT);
    }
    if (rc == ZOK) return 0;
    return rc == ZNODEEXISTS ? 1 : zfail("create", path, rc);
}

int zk_create_sequential(struct zk *z, const char *prefix, const char *data, size_t len, char *out, size_t n)
{
    struct ACL_vector *acl = (struct ACL_vector *)zk_acl_for(prefix);
    int flags = ZOO_EPHEMERAL | ZOO_SEQUENCE;
    int rc = zoo_create(z->zh, prefix, data, data ? (int)len : -1, acl, flags, out, (int)n);
    if (rc == ZNONODE) {
        if (ensure_parents(z, prefix) != 0) return -1;
        rc = zoo_create(z->zh, prefix, data, data ? (int)len : -1, acl, flags, out, (int)n);
    }
    return rc == ZOK ? 0 : zfail("create sequential", prefix, rc);
}

int zk_try_ephemeral(struct zk *z, const char *path, const char *data, size_t len)
{
    int rc = create(z, path, data, len, ZOO_EPHEMERAL);
    if (rc == ZNONODE) {
        if (ensure_parents(z, path) != 0) return -1;
        rc = create(z, path, data, len, ZOO_EPHEMERAL);
    }
    if (rc == ZOK) return 0;
    return rc == ZNODEEXISTS ? 1 : zfail("create ephemeral", path, rc);
}

int zk_delete(struct zk *z, const char *path)
{
    int rc = zoo_delete(z->zh, path, -1);
    return rc == ZOK || rc == ZNONODE ? 0 : zfail("delete", path, rc);
}

int zk_set_acl(struct zk *z, const char *path)
{
    struct ACL_vector *acl = (struct ACL_vector *)zk_acl_for(path);
    int rc = zoo_set_acl(z->zh, path, -1, acl);
    if (rc == ZOK) return 0;
    if (rc == ZNONODE) return -2;
    zfail("set acl", path, rc);
    return rc == ZNOAUTH ? -3 : -1;
}
