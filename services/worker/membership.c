/*
 * membership.c — the worker's place in ZooKeeper.
 *
 * The znode. ZK_ROOT/workers/<id> is ephemeral; its data is {"id", "role",
 * "pid", "state", "seq", "epoch", "reads", "broker_down_ms"} (reads:
 * answered as a slave, so far; broker_down_ms: how long the worker has been
 * cut off from the broker, 0 while it is not — worker_broker_down_ms). The
 * orchestrator (and the console) read
 * it to know who is alive, in which role and how far it has applied the log.
 * It lives as long as the ZooKeeper session, so a worker that dies vanishes
 * from the tree when its session expires. A thread of its own (the
 * membership thread) rewrites it when something changed, at most every
 * 500 ms for seq progress and for the time cut off from the broker (its
 * start and end are written at once): the roles never wait on ZooKeeper.
 *
 * The master znode. ZK_ROOT/master {"id", "epoch"} is written only by the
 * orchestrator. This worker keeps a data watch on it. The watch callback
 * runs on the ZooKeeper library's thread, so it only sets a flag and wakes
 * the membership thread, which re-reads the node (re-arming the one-shot
 * watch) and decides:
 *   - it names this worker and we are a slave: set w->promote_epoch and wake
 *     the role loop (the follower stops at a batch boundary, slave_run
 *     returns, main.c runs master_run with that epoch);
 *   - it names another worker while we are the master: we were replaced
 *     (the orchestrator took us for dead); set w->deposed, the master stops;
 *   - it names this master, with its own epoch, and a "next" worker: a
 *     planned switchover (POST /api/v1/promote). Set w->stepdown and
 *     w->deposed: the master stops taking writes at its next batch boundary,
 *     closes writeQ, and main.c runs the slave role on the same database. The
 *     orchestrator names the next master (with a new epoch) only once our
 *     znode says role "slave", so nothing we applied comes after its marker.
 *     A slave named with a "next" (a switchover whose master was demoted
 *     already) ignores it.
 * The node is also re-read every second without a watch, in case a watch
 * was lost with a connection. Each time, a slave also reads the named
 * master's znode for its applied seq (w->master_seq): the follower counts as
 * caught up once it has applied that much, which under a steady write load
 * (the log never idle) is the only sign it gets.
 *
 * The session. membership_writable() says no once the last ZooKeeper call
 * that succeeded was sent more than 2/3 of the granted session timeout ago
 * (the thread reads ZK_ROOT/master every second, so a healthy session is
 * never older than that): the server cannot have expired the session
 * before it has heard nothing from us for a whole session timeout, and the
 * orchestrator may name a new master only then, so this one has stopped
 * taking writes a third of a session before that can happen. Counting from
 * the library's disconnect notice instead would be late: behind a silent
 * network the library notices only after 2/3 of the session itself. When
 * the session does expire, the membership
 * thread opens a new one and creates the znode again (a ZooKeeper outage
 * must not cost every worker its life); a master then takes writes again
 * only once ZK_ROOT/master still names it with its epoch.
 *
 * While master, it also reads ZK_ROOT/checkpoint every second: the newest
 * checkpoint's log_bytes bounds what the master may append within the log's
 * retention (master.c).
 *
 * ZK_ROOT/log_epoch is where a master that finds a newer epoch in the log
 * than the one it was given says so before it exits: the orchestrator's
 * epoch in ZooKeeper can be behind the log's (ZooKeeper's data lost while
 * the broker's survived), and the next epoch must be above both.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "worker.h"
#include "zk.h"

#define CONNECT_TIMEOUT_MS 500   /* per attempt while renewing: SIGTERM must still end us within 1 s */
#define MASTER_RECHECK_MS 1000

static struct {
    int enabled;
    pthread_t thread;
    int running;
    char hosts[512];
    int session_ms;              /* requested */
    char znode[256], epoch_node[256], master_node[256];

    /* w->zk is replaced only by the membership thread, under hmu; another
     * thread using the handle holds hmu for the call. Never held by a
     * callback, unlike mu: a ZooKeeper call made under mu could wait for a
     * completion thread that waits for mu. */
    pthread_mutex_t hmu;

    /* Guarded by mu: written from the library's threads and ours. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int granted_ms;              /* the session timeout the server granted */
    int connected, expired;
    int64_t contact_at;          /* when the last ZooKeeper call that succeeded was sent (clock_ms) */
    int master_changed;          /* the master watch fired */
    int watch_armed;
    int need_confirm;            /* a master with a renewed session: not writable until ZK_ROOT/master still names it */
} M = { .hmu = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER };

static int describe(struct worker *w, char *buf, size_t n)
{
    int64_t down = worker_broker_down_ms(w);
    pthread_mutex_lock(&w->lock);
    int len = snprintf(buf, n,
                       "{\"id\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"state\":\"%s\",\"seq\":%lld,\"epoch\":%lld,"
                       "\"reads\":%lld,\"applied\":%lld,\"apply_us\":%lld,\"broker_down_ms\":%lld}",
                       w->id, w->role ? w->role : "", (int)getpid(), w->state ? w->state : "",
                       (long long)w->applied_seq, (long long)w->epoch, (long long)atomic_load(&w->reads_served),
                       (long long)atomic_load(&w->applied_entries), (long long)atomic_load(&w->apply_us),
                       (long long)down);
    pthread_mutex_unlock(&w->lock);
    return len;
}

/* A ZooKeeper call sent at sent (clock_ms) succeeded: the server heard from
 * this session then (membership_writable). */
static void contact(int64_t sent)
{
    pthread_mutex_lock(&M.mu);
    if (sent > M.contact_at) M.contact_at = sent;
    pthread_mutex_unlock(&M.mu);
}

/* Library thread: session state changes. */
static void on_state(int connected, int expired, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&M.mu);
    M.connected = connected;
    if (expired) M.expired = 1;
    pthread_cond_signal(&M.wake);
    pthread_mutex_unlock(&M.mu);
}

/* Library thread: ZK_ROOT/master changed. Only a flag: the read is ours. */
static void on_master_changed(const char *path, void *ctx)
{
    (void)path; (void)ctx;
    pthread_mutex_lock(&M.mu);
    M.master_changed = 1;
    M.watch_armed = 0;
    pthread_cond_signal(&M.wake);
    pthread_mutex_unlock(&M.mu);
}

/* Whether the worker runs as master; its epoch in *epoch if asked. */
static int is_master_at(struct worker *w, int64_t *epoch)
{
    pthread_mutex_lock(&w->lock);
    int m = w->role && strcmp(w->role, "master") == 0;
    if (epoch) *epoch = w->epoch; /* main.c changes it under the lock on promotion */
    pthread_mutex_unlock(&w->lock);
    return m;
}

static int is_master(struct worker *w) { return is_master_at(w, NULL); }

/* Reads ZK_ROOT/master (arming the watch if it is not armed) and acts on it. */
static void check_master(struct worker *w)
{
    pthread_mutex_lock(&M.mu);
    int arm = !M.watch_armed;
    M.master_changed = 0;
    pthread_mutex_unlock(&M.mu);
    char data[512];
    int64_t sent = clock_ms();
    int n = zk_get(w->zk, M.master_node, data, sizeof data, arm ? on_master_changed : NULL, NULL);
    if (n != -1) contact(sent); /* an answer, "no such node" included */
    if (n < 0) return; /* no master node yet (no watch was set), or not connected: later */
    if (arm) {
        pthread_mutex_lock(&M.mu);
        M.watch_armed = 1;
        pthread_mutex_unlock(&M.mu);
    }
    cJSON *j = json_parse(data, (size_t)n);
    const char *id = j ? json_get_str(j, "id") : NULL;
    int64_t epoch = 0;
    if (!id || json_get_int(j, "epoch", &epoch) || epoch <= 0) {
        cJSON_Delete(j);
        return;
    }
    int64_t mine;
    int ours = strcmp(id, w->id) == 0, master = is_master_at(w, &mine);
    const char *next = json_get_str(j, "next");
    if (next && *next) {
        /* A switchover under way: only the named master acts (steps down). */
        if (ours && master && epoch == mine && !atomic_load(&w->deposed)) {
            log_info("told to step down for a switchover next=%s epoch=%lld", next, (long long)epoch);
            atomic_store(&w->stepdown, 1);
            atomic_store(&w->deposed, 1);
            pthread_mutex_lock(&w->lock);
            pthread_cond_broadcast(&w->advanced);
            pthread_mutex_unlock(&w->lock);
        }
        if (ours) {
            cJSON_Delete(j);
            return;
        }
    }
    if (!ours && !master) {
        char path[400], md[512];
        int64_t seq;
        snprintf(path, sizeof path, "%.*s/workers/%s", (int)(strrchr(M.master_node, '/') - M.master_node),
                 M.master_node, id);
        int k = zk_get(w->zk, path, md, sizeof md, NULL, NULL);
        cJSON *mj = k > 0 ? json_parse(md, (size_t)k) : NULL;
        if (mj && json_get_int(mj, "seq", &seq) == 0 && seq > 0) atomic_store(&w->master_seq, seq);
        cJSON_Delete(mj);
    }
    if (ours && !master && atomic_load(&w->promote_epoch) == 0) {
        log_info("named master; promoting epoch=%lld", (long long)epoch);
        atomic_store(&w->promote_epoch, epoch);
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->advanced); /* wakes the role loop and the readers */
        pthread_mutex_unlock(&w->lock);
    } else if (ours && master && epoch == mine) {
        pthread_mutex_lock(&M.mu);
        if (M.need_confirm) log_info("still the master after a new session epoch=%lld", (long long)epoch);
        M.need_confirm = 0;
        pthread_mutex_unlock(&M.mu);
    } else if (master && (!ours || epoch > mine) && !atomic_load(&w->deposed)) {
        log_warn("replaced as master; stopping writes by=%s epoch=%lld ours=%lld", id, (long long)epoch,
                 (long long)mine);
        atomic_store(&w->deposed, 1);
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->advanced);
        pthread_mutex_unlock(&w->lock);
    }
    cJSON_Delete(j);
}

/* The master's retention budget is measured from the newest checkpoint.
 * Caller holds hmu, or is the membership thread (which alone replaces w->zk). */
static int read_checkpoint(struct worker *w)
{
    struct checkpoint_znode z;
    int version;
    if (!w->zk || checkpoint_read(w->zk, w->zk_root, &z, &version)) return -1;
    atomic_store(&w->ckpt_log_bytes, z.present ? z.current.log_bytes : 0);
    return 0;
}

int membership_read_checkpoint(struct worker *w)
{
    if (!M.enabled) return 0;
    pthread_mutex_lock(&M.hmu);
    int rc = read_checkpoint(w);
    pthread_mutex_unlock(&M.hmu);
    return rc;
}

/* Opens a session and creates the znode; the handle, or NULL. */
static struct zk *open_session(struct worker *w, int connect_timeout_ms)
{
    char data[512];
    pthread_mutex_lock(&M.mu);
    M.connected = 0;
    M.expired = 0;
    pthread_mutex_unlock(&M.mu);
    int64_t sent = clock_ms();
    struct zk *z = zk_open(M.hosts, M.session_ms, connect_timeout_ms, on_state, NULL);
    if (!z) return NULL;
    char dir[300];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(M.znode, '/') - M.znode), M.znode);
    int len = describe(w, data, sizeof data);
    if (zk_ensure_path(z, dir) || zk_create_ephemeral(z, M.znode, data, (size_t)len)) {
        zk_close(z);
        return NULL;
    }
    pthread_mutex_lock(&M.mu);
    M.granted_ms = zk_session_timeout(z);
    M.connected = 1; /* zk_open returned connected; a later loss is reported by on_state */
    M.contact_at = sent;
    M.watch_armed = 0;
    M.master_changed = 1;
    pthread_mutex_unlock(&M.mu);
    return z;
}

/* The session expired: the znode is gone and so are the watches. Opens a
 * new session (from this thread, never from a callback). 0 or -1. */
static int renew_session(struct worker *w)
{
    pthread_mutex_lock(&M.hmu);
    struct zk *old = w->zk;
    w->zk = NULL;
    pthread_mutex_unlock(&M.hmu);
    if (old) {
        log_warn("zk session expired; opening a new one");
        zk_close(old);
    }
    struct zk *z = open_session(w, CONNECT_TIMEOUT_MS);
    if (!z) return -1;
    pthread_mutex_lock(&M.hmu);
    w->zk = z;
    pthread_mutex_unlock(&M.hmu);
    log_info("zk session renewed; znode created again");
    return 0;
}

static void *membership_main(void *arg)
{
    struct worker *w = arg;
    char last[512] = "", now[512];
    const char *role = NULL, *state = NULL;
    int was_cut = 0;
    int64_t written_at = 0, master_read_at = 0;
    while (!w->stop) {
        pthread_mutex_lock(&M.mu);
        struct timespec until = clock_deadline(50);
        if (!M.expired && !M.master_changed)
            pthread_cond_timedwait(&M.wake, &M.mu, &until);
        int expired = M.expired || !w->zk, changed = M.master_changed;
        pthread_mutex_unlock(&M.mu);
        if (w->stop) break;
        if (expired) {
            /* A master may have been replaced meanwhile: it takes writes
             * again only once ZK_ROOT/master still names it (check_master). */
            if (is_master(w)) {
                pthread_mutex_lock(&M.mu);
                M.need_confirm = 1;
                pthread_mutex_unlock(&M.mu);
            }
            if (renew_session(w)) worker_nap(w, 200);
            last[0] = 0; /* the new znode holds what open_session wrote: rewrite anyway */
            continue;
        }
        pthread_mutex_lock(&M.mu);
        int connected = M.connected;
        pthread_mutex_unlock(&M.mu);
        /* Disconnected, every call would fail (and log): the library
         * reconnects by itself, and on_state wakes us when it has. */
        if (!connected) continue;
        if (changed || clock_ms() - master_read_at >= MASTER_RECHECK_MS) {
            check_master(w);
            if (is_master(w)) read_checkpoint(w);
            master_read_at = clock_ms();
        }
        int cut = worker_broker_down_ms(w) > 0;
        pthread_mutex_lock(&w->lock);
        int moved = w->role != role || w->state != state || cut != was_cut;
        role = w->role;
        state = w->state;
        pthread_mutex_unlock(&w->lock);
        int len = describe(w, now, sizeof now);
        /* A role or state change, and being cut off from the broker or no
         * longer, are written at once; seq and read progress and the time
         * cut off at most every 500 ms. */
        int64_t sent = clock_ms();
        if (strcmp(now, last) != 0 && (moved || sent - written_at >= 500) &&
            zk_put(w->zk, M.znode, now, (size_t)len) == 0) {
            contact(sent);
            memcpy(last, now, sizeof last);
            written_at = clock_ms();
            was_cut = cut;
        }
    }
    return NULL;
}

int membership_start(struct worker *w, const char *zk_hosts, const char *zk_root, int session_ms)
{
    if (!*zk_hosts) return 0; /* running without ZooKeeper (unit tests, tools) */
    clock_cond_init(&M.wake);
    snprintf(M.hosts, sizeof M.hosts, "%s", zk_hosts);
    M.session_ms = session_ms;
    snprintf(M.znode, sizeof M.znode, "%s/workers/%s", zk_root, w->id);
    snprintf(M.epoch_node, sizeof M.epoch_node, "%s/log_epoch", zk_root);
    snprintf(M.master_node, sizeof M.master_node, "%s/master", zk_root);
    w->zk = open_session(w, 5000);
    if (!w->zk) return -1;
    M.enabled = 1;
    /* Before the role starts: a slave named master while it was starting
     * (the orchestrator may elect a slave that is still catching up) learns
     * it here; the watch covers every later change. */
    check_master(w);
    M.running = pthread_create(&M.thread, NULL, membership_main, w) == 0;
    return 0;
}

int membership_note_epoch(struct worker *w, int64_t epoch)
{
    char data[32];
    int n = snprintf(data, sizeof data, "%lld", (long long)epoch);
    pthread_mutex_lock(&M.hmu); /* the membership thread may be replacing the handle */
    int rc = w->zk ? zk_put(w->zk, M.epoch_node, data, (size_t)n) : -1;
    pthread_mutex_unlock(&M.hmu);
    return rc;
}

int membership_writable(struct worker *w)
{
    if (!M.enabled) return 1;
    if (atomic_load(&w->deposed)) return 0;
    pthread_mutex_lock(&M.mu);
    int ok = !M.expired && !M.need_confirm && clock_ms() - M.contact_at < (int64_t)M.granted_ms * 2 / 3;
    pthread_mutex_unlock(&M.mu);
    return ok;
}

void membership_stop(struct worker *w)
{
    if (M.running) pthread_join(M.thread, NULL);
    M.running = 0;
    pthread_mutex_lock(&M.hmu);
    struct zk *z = w->zk;
    w->zk = NULL;
    pthread_mutex_unlock(&M.hmu);
    if (z) zk_close(z);
}
