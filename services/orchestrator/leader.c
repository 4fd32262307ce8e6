/*
 * leader.c — see leader.h. How it works:
 *
 * One process-wide lock (an orchestrator is one candidate). leader_start
 * opens a ZooKeeper session of the lock's own — the supervisor's session
 * (zksession.c) is renewed when it expires, and a renewed session must never
 * hold the lock again unnoticed — and creates the sequential node. Its
 * thread then polls ZK_ROOT/orchestrator every LEADER_POLL_MS: the children
 * sorted by name (the counter is zero-padded, so names sort as numbers), it
 * is active when its node is first. A poll that finds it first records
 * when that call was sent; leader_may_act compares that time with the
 * fence. Polling rather than a watch on the predecessor: the poll is also
 * the fence's heartbeat, and with two or three candidates it costs nothing.
 *
 * Deposed: the session expired (ZooKeeper says so as soon as the client
 * reaches it again), or the node is gone, or another is first although this
 * one was active. The process then executes itself again, every descriptor
 * marked close-on-exec first (the listening socket, the broker's and
 * ZooKeeper's connections go with the old image): it comes back as a
 * standby, with a new node at the end of the queue. It never stops workers
 * on the way: they are the new active orchestrator's. A process-runtime
 * worker it started stays its child across the exec; while it stands by,
 * the lock's thread reaps such children when they exit (nothing else in a
 * standby starts processes), so they do not linger as zombies.
 */
#include "leader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "zk.h"

#define LEADER_POLL_MS 200
#define LEADER_POLL_FAILING_MS 500 /* while ZooKeeper does not answer: fewer failed calls logged */
#define ROLE_ROUTE "/api/v1/role"

enum { ST_STANDBY, ST_ACTIVE };

static struct {
    int enabled;
    char root[300], dir[320], node[400], name[64];
    char url[300];
    char **argv;
    struct zk *zk;
    int fence_ms;
    pthread_mutex_t mu;          /* guards first_name, first_data */
    char first_name[64], first_data[512];
    pthread_t thread;
    int thread_started;
    _Atomic int state, serving, expired, stop;
    _Atomic int64_t last_ok;     /* clock_ms when the last poll that found us first was sent */
} L = { .mu = PTHREAD_MUTEX_INITIALIZER };

int leader_may_act(void)
{
    if (!L.enabled) return 1;
    return atomic_load(&L.state) == ST_ACTIVE && clock_ms() - atomic_load(&L.last_ok) < L.fence_ms;
}

void leader_serving(void) { atomic_store(&L.serving, 1); }

const char *leader_role(void)
{
    if (L.enabled && atomic_load(&L.state) != ST_ACTIVE) return "standby";
    if (!leader_may_act()) return "fenced";
    return atomic_load(&L.serving) ? "active" : "starting";
}

/* ZooKeeper's thread: only noted. */
static void on_state(int connected, int expired, void *ctx)
{
    (void)connected;
    (void)ctx;
    if (expired) atomic_store(&L.expired, 1);
}

_Noreturn static void deposed(const char *why)
{
    int was_active = atomic_load(&L.state) == ST_ACTIVE;
    atomic_store(&L.state, ST_STANDBY);
    log_warn("%s: %s; starting over as a standby node=%s", was_active ? "deposed" : "lost its place in the queue",
             why, L.name);
    /* Nothing of this run may outlive the exec: sockets above all. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; fd++) close(fd);
        /* stderr and the rest of 0..2 stay: the log goes on */
    }
    execv("/proc/self/exe", L.argv);
    log_error("cannot execute itself again err=%s; exiting", strerror(errno));
    _exit(75);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One poll. 0 when ZooKeeper answered, -1 when it did not. */
static int poll_once(void)
{
    int64_t sent = clock_ms();
    char **names = NULL;
    int n = zk_children(L.zk, L.dir, &names, NULL, NULL);
    if (atomic_load(&L.expired)) deposed("its ZooKeeper session expired");
    if (n < 0) return -1;
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    int mine = -1;
    for (int i = 0; i < n && mine < 0; i++)
        if (strcmp(names[i], L.name) == 0) mine = i;
    char first[64] = "";
    if (n > 0) snprintf(first, sizeof first, "%s", names[0]);
    zk_free_children(names, n);
    if (mine < 0) deposed("its lock node is gone");
    if (mine > 0 && atomic_load(&L.state) == ST_ACTIVE) deposed("another orchestrator is first in the queue");
    pthread_mutex_lock(&L.mu);
    int changed = strcmp(first, L.first_name) != 0;
    pthread_mutex_unlock(&L.mu);
    if (changed) {
        /* Who is active, for the role route: its node's data. */
        char path[400], data[512] = "";
        snprintf(path, sizeof path, "%s/%s", L.dir, first);
        if (zk_get(L.zk, path, data, sizeof data, NULL, NULL) < 0) data[0] = '\0';
        pthread_mutex_lock(&L.mu);
        snprintf(L.first_name, sizeof L.first_name, "%s", first);
        snprintf(L.first_data, sizeof L.first_data, "%s", data);
        pthread_mutex_unlock(&L.mu);
        if (mine > 0) log_info("standing by active=%s data=%s", first, data);
    }
    if (mine == 0) {
        atomic_store(&L.last_ok, sent);
        if (atomic_exchange(&L.state, ST_ACTIVE) != ST_ACTIVE)
            log_info("holds the leader lock: this orchestrator is the active one node=%s", L.name);
    }
    return 0;
}

static void *lock_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&L.stop)) {
        int ok = poll_once() == 0;
        if (atomic_load(&L.state) != ST_ACTIVE)
            while (waitpid(-1, NULL, WNOHANG) > 0) {} /* a former image's workers (see the top) */
        int ms = ok ? LEADER_POLL_MS : LEADER_POLL_FAILING_MS;
        for (int t = 0; t < ms && !atomic_load(&L.stop); t += 50) {
            struct timespec tick = { 0, 50 * 1000000L };
            nanosleep(&tick, NULL);
        }
    }
    return NULL;
}

/* Without the lock: refuses to run beside a pair that holds it. */
static int check_no_pair(const struct leader_config *cfg)
{
    struct zk *zk = zk_open(cfg->zk_hosts, cfg->session_ms, cfg->connect_ms, NULL, NULL);
    if (!zk) return -1;
    char **names = NULL;
    int n = zk_children(zk, L.dir, &names, NULL, NULL);
    zk_free_children(names, n > 0 ? n : 0);
    zk_close(zk);
    if (n > 0) {
        log_error("orchestrators with LEADER_LOCK=1 are running on this ZK_ROOT (%s has %d nodes): start this "
                  "one with LEADER_LOCK=1 too", L.dir, n);
        return -1;
    }
    return n == -1 ? -1 : 0;
}

int leader_start(const struct leader_config *cfg)
{
    L.enabled = cfg->enabled;
    L.argv = cfg->argv;
    snprintf(L.root, sizeof L.root, "%s", cfg->zk_root);
    snprintf(L.dir, sizeof L.dir, "%s/orchestrator", strcmp(cfg->zk_root, "/") == 0 ? "" : cfg->zk_root);
    snprintf(L.url, sizeof L.url, "%s", cfg->url ? cfg->url : "");
    if (!L.enabled) return check_no_pair(cfg);
    L.zk = zk_open(cfg->zk_hosts, cfg->session_ms, cfg->connect_ms, on_state, NULL);
    if (!L.zk) return -1;
    int granted = zk_session_timeout(L.zk);
    int session = granted > 0 && granted < cfg->session_ms ? granted : cfg->session_ms;
    L.fence_ms = session * 2 / 3;
    char prefix[400], data[600];
    snprintf(prefix, sizeof prefix, "%s/lock-", L.dir);
    int len = snprintf(data, sizeof data, "{\"url\":\"%s\",\"pid\":%d}", L.url, (int)getpid());
    if (zk_create_sequential(L.zk, prefix, data, (size_t)len, L.node, sizeof L.node)) {
        zk_close(L.zk);
        L.zk = NULL;
        return -1;
    }
    const char *slash = strrchr(L.node, '/');
    snprintf(L.name, sizeof L.name, "%s", slash ? slash + 1 : L.node);
    log_info("in the queue for the leader lock node=%s session_ms=%d fence_ms=%d", L.name, session, L.fence_ms);
    if (pthread_create(&L.thread, NULL, lock_main, NULL)) {
        log_error("cannot start the leader lock's thread");
        return -1;
    }
    L.thread_started = 1;
    return 0;
}

int leader_wait_active(volatile sig_atomic_t *stop)
{
    while (!*stop) {
        if (leader_may_act()) return 1;
        struct timespec tick = { 0, 20 * 1000000L };
        nanosleep(&tick, NULL);
    }
    return 0;
}

static void on_role(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    (void)ctx;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "role", leader_role());
    json_add_int(out, "pid", getpid());
    cJSON_AddBoolToObject(out, "leader_lock", L.enabled);
    if (L.enabled) {
        cJSON_AddStringToObject(out, "node", L.name);
        pthread_mutex_lock(&L.mu);
        cJSON *first = json_parse(L.first_data, strlen(L.first_data));
        cJSON_AddStringToObject(out, "first", L.first_name);
        pthread_mutex_unlock(&L.mu);
        if (first) cJSON_AddItemToObject(out, "active", first);
    }
    http_reply_json(res, 200, out);
    cJSON_Delete(out);
}

static int gate(const struct http_request *req, const char *pattern, struct http_response *res, void *ctx)
{
    (void)req;
    (void)ctx;
    if (pattern && (strcmp(pattern, ROLE_ROUTE) == 0 || strcmp(pattern, "/metrics") == 0)) return 0;
    if (leader_may_act() && atomic_load(&L.serving)) return 0;
    const char *role = leader_role();
    char msg[200];
    snprintf(msg, sizeof msg, "this orchestrator is not the active one (%s): ask the other", role);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "error", msg);
    cJSON_AddStringToObject(out, "role", role);
    http_reply_json(res, 503, out);
    cJSON_Delete(out);
    http_reply_header(res, "X-Orchestrator-Role", role);
    http_reply_header(res, "Retry-After", "1");
    return 1;
}

void leader_register(struct http_server *srv)
{
    http_server_route(srv, "GET", ROLE_ROUTE, on_role, NULL);
    http_server_gate(srv, gate, NULL);
}

void leader_stop(void)
{
    if (!L.thread_started) return;
    atomic_store(&L.stop, 1);
    pthread_join(L.thread, NULL);
    L.thread_started = 0;
    zk_close(L.zk); /* the node goes with the session: a standby takes over now */
    L.zk = NULL;
}
