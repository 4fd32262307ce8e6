/*
 * rideshare-orchestrator — the DB service's front: DB API over RabbitMQ,
 * worker lifecycle through a runtime, membership through ZooKeeper. It never
 * touches a database.
 *
 * Start-up: connect to ZooKeeper, start the master and a slave and wait
 * until they are ready — or, after a restart, adopt the running workers —
 * then send one barrier write so that acked_seq starts at the log's end
 * (startup.c, dbapi_barrier), start the supervisor (failover, replacement,
 * scaling: supervisor.c), then listen. SIGTERM/SIGINT: stop listening, stop
 * the supervisor, stop the workers, exit — within a second.
 *
 * With LEADER_LOCK=1 (leader.h) all of that waits until this orchestrator
 * holds the leader lock. Meanwhile it stands by: it listens already, with a
 * server that answers GET /api/v1/role and 503 to everything else, and
 * touches neither the runtime nor the workers. Once it holds the lock it
 * takes over exactly as a restarted orchestrator does — adopts the running
 * workers, sends the barrier write — and only then replaces the standby's
 * server with the real one on the same port.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adminapi.h"
#include "backupapi.h"
#include "backups.h"
#include "clock.h"
#include "config.h"
#include "configapi.h"
#include "dbapi.h"
#include "http_server.h"
#include "leader.h"
#include "restorer.h"
#include "log.h"
#include "metricsview.h"
#include "mq.h"
#include "mq_nodes.h"
#include "protocol.h"
#include "readcache.h"
#include "rpc.h"
#include "runtime.h"
#include "scaler.h"
#include "service.h"
#include "startup.h"
#include "supervisor.h"
#include "workers.h"
#include "zk_acl.h"
#include "zksession.h"

/* The first connection to ZooKeeper may wait for a server still starting. */
#define ZK_CONNECT_MS 10000

static const struct config_var vars[] = {
    { "ORCH_HOST", "127.0.0.1", "address to listen on" },
    { "ORCH_PORT", "8083", "port to listen on (0: any free port, printed at start)" },
    { "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ broker, with the orchestrator's user; the nodes "
                                                           "of a cluster comma-separated (tried in turn, failing over)" },
    { "MQ_REPLICAS", "1", "nodes the queues and streams are replicated on, orchestrator and workers: 1 classic "
                          "queues, more quorum queues and replicated streams (a cluster)" },
    { "MQ_CLUSTER_WAIT_S", "180", "with MQ_REPLICAS > 1 and several nodes: how long to wait at start for every node "
                                 "to be in one cluster before the first declare of the queues (then declared anyway)" },
    { "WORKER_RABBITMQ_URL", "", "the broker as its workers reach it, with their user (empty: RABBITMQ_URL)" },
    { "AMQP_HEARTBEAT_S", "2", "AMQP heartbeat interval in seconds, orchestrator and workers (0: none)" },
    { "BROKER_LOST_MS", "2500", "a worker cut off from the broker this long is replaced, as a crashed one (0: never)" },
    { "ZK_HOSTS", "127.0.0.1:2181", "ZooKeeper hosts" },
    { "ZK_ROOT", "/rideshare", "root of the service's znodes" },
    { "ZK_AUTH", "", "its ZooKeeper identity user:password: the znodes under ZK_ROOT get ACLs (docs/security.md); "
                     "empty: open to anyone" },
    { "WORKER_ZK_AUTH", "", "the workers' shared ZooKeeper identity user:password (needed with ZK_AUTH)" },
    { "ZK_READERS", "", "ZooKeeper digest ids user:base64(sha1(user:password)), comma-separated, that may read "
                        "every znode (the console's)" },
    { "ZK_AUTH_PREVIOUS", "", "a former ZK_AUTH, to take over the znodes made under it (rotation)" },
    { "ZK_SESSION_MS", "4000", "ZooKeeper session timeout in ms (orchestrator and workers)" },
    { "LEADER_LOCK", "0", "1: several orchestrators may run on one ZK_ROOT; the one holding the leader lock in "
                          "ZooKeeper acts, the others stand by (503 but GET /api/v1/role); an active one cut off "
                          "from ZooKeeper for 2/3 of its session stops acting" },
    { "DATA_DIR", "./data", "where workers keep their SQLite files (process runtime)" },
    { "WORKER_BIN", "", "worker binary (default: rideshare-worker next to this binary)" },
    { "WRITE_TIMEOUT_MS", "10000", "how long a write waits for the master (a master never applies a write after it)" },
    { "REQUEST_WINDOW_S", "120", "how long workers remember request ids: at least the write timeout plus 10 s of clock skew" },
    { "READ_TIMEOUT_MS", "5000", "how long a read waits for a slave" },
    { "READ_CACHE_ENTRIES", "1024", "db/read answers kept for repeated reads, each valid while no later write is "
                                    "acknowledged (0: no cache)" },
    { "READ_CACHE_MB", "16", "most memory the read cache holds, keys and answers (an answer over an eighth of it "
                             "is not kept)" },
    { "INITIAL_SLAVES", "1", "slaves started with the master (at most MAX_SLAVES)" },
    { "READY_TIMEOUT_MS", "30000", "how long a new worker may take to register, and a new master to take writes" },
    { "SCALE_WINDOW_S", "120", "autoscaling window in seconds, from the first db/read" },
    { "READS_PER_SLAVE", "20", "db/read requests per window that one slave serves" },
    { "MAX_SLAVES", "8", "most slaves ever kept (autoscaler and POST /api/v1/scale), 1..48; sized for one host" },
    { "SCALE_UP_STEP", "2", "most slaves a scaling window's decision adds (scale-in is not stepped)" },
    { "MAX_BODY", "1048576", "largest request body in bytes (413 beyond)" },
    { "BACKUP_DIR", "", "where backups are kept and restored from (default: DATA_DIR/backups)" },
    { "BACKUP_INTERVAL_S", "0", "take a backup into BACKUP_DIR every so many seconds (0: never)" },
    { "BACKUP_KEEP", "7", "scheduled backups kept; the oldest go once a newer one is verified" },
    { "BACKUP_TIMEOUT_MS", "120000", "how long one backup, or one restore, may take" },
    { "LOG_LEVEL", "info", "debug, info, warn or error" },
    { "ADMIN_TOKEN", "", "every route needs Authorization: Bearer <it> (empty: every route open, with a warning)" },
    { "ADMIN_TOKEN_FILE", "", "a file whose first line is the admin token (instead of ADMIN_TOKEN)" },
    { "RUNTIME", "process", "where workers run: process (on this host), docker (containers) or swarm (a Swarm "
                            "service each, through a manager's socket)" },
    { "DOCKER_SOCKET", "/var/run/docker.sock", "Docker Engine API socket (docker and swarm runtimes)" },
    { "WORKER_IMAGE", "rideshare-app", "image of the worker containers (docker and swarm runtimes)" },
    { "DOCKER_NETWORK", "rideshare_net", "network of the worker containers (docker and swarm runtimes)" },
    { "DOCKER_STACK", "rideshare", "stack name: labels and names of the worker containers (docker and swarm runtimes)" },
    { "SWARM_CONSTRAINTS", "", "placement constraints of worker services, comma-separated, e.g. "
                               "node.labels.db==yes (swarm runtime; empty: the node with the fewest workers)" },
    { "WORKER_MEMORY_MB", "3072", "a worker container's memory limit, its database's tmpfs included (docker and swarm runtimes)" },
    { "WORKER_MILLICPUS", "1000", "a worker container's CPU limit in thousandths of a CPU (docker and swarm runtimes)" },
    { "WORKER_PIDS", "256", "a worker container's limit on processes and threads (docker and swarm runtimes)" },
    { "WORKER_DATA_MB", "2048", "the size of a worker container's /data tmpfs, where its database lives (docker and swarm runtimes)" },
    { 0 },
};

/* Worker settings passed on to every worker when they are set here, so the
 * orchestrator's environment configures the whole stack: a container gets
 * only the environment it is given (rideshare-worker --help says what each
 * one does). */
static const char *const worker_settings[] = {
    "BATCH_MAX", "READ_WAIT_MS", "READ_THREADS", "LOG_RETENTION_BYTES", "LOG_SEGMENT_BYTES",
    "CHECKPOINT_ENTRIES", "CHECKPOINT_S", "CHECKPOINT_TIMEOUT_MS", "MQ_REPLICAS", NULL,
};

/* Adds "NAME=value" of each worker setting that is set to env[*k...]. */
static void pass_worker_settings(const char **env, int *k, int max)
{
    static char buf[sizeof worker_settings / sizeof *worker_settings][160];
    for (int i = 0; worker_settings[i] && *k < max; i++) {
        const char *v = getenv(worker_settings[i]);
        if (!v) continue;
        snprintf(buf[i], sizeof buf[i], "%s=%s", worker_settings[i], v);
        env[(*k)++] = buf[i];
    }
}

/* What the orchestrator holds that a worker started as a process must not
 * inherit: the admin token, its own broker identities, the workers' before
 * they are given (the spawn sets the worker's own values where it has one). */
static const char *const withheld[] = {
    "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", "RABBITMQ_URL", "WORKER_RABBITMQ_URL", "ZK_AUTH", "ZK_AUTH_PREVIOUS",
    "WORKER_ZK_AUTH", "ZK_READERS", "ZK_NODE_AUTH", NULL,
};

/* ZooKeeper access control (zk_acl.h) from ZK_AUTH and the others; with it,
 * the workers' identity and readers into their env entries. 0 or -1. */
static int zk_access(char *e_auth, size_t auth_n, char *e_readers, size_t readers_n)
{
    const char *self = config_str(vars, "ZK_AUTH"), *workers = config_str(vars, "WORKER_ZK_AUTH");
    const char *readers = config_str(vars, "ZK_READERS");
    char worker_id[ZK_ID_MAX] = "", own_id[ZK_ID_MAX];
    if (*self && zk_digest_id(workers, worker_id, sizeof worker_id)) {
        log_error("ZK_AUTH needs WORKER_ZK_AUTH, the workers' identity user:password");
        return -1;
    }
    struct zk_access a = {
        .role = ZK_ROLE_ORCHESTRATOR, .root = config_str(vars, "ZK_ROOT"), .auth = self,
        .previous = config_str(vars, "ZK_AUTH_PREVIOUS"), .worker_id = worker_id, .readers = readers,
    };
    if (zk_access_init(&a)) return -1;
    if (!zk_access_on()) {
        log_warn("no ZooKeeper identity (ZK_AUTH): the znodes under ZK_ROOT are open to anyone who reaches "
                 "ZooKeeper, the master znode included (docs/security.md)");
        return 0;
    }
    zk_digest_id(self, own_id, sizeof own_id);
    snprintf(e_auth, auth_n, "ZK_AUTH=%s", workers);
    /* The workers' readers: this orchestrator, and whoever reads here. */
    snprintf(e_readers, readers_n, "ZK_READERS=%s%s%s", own_id, *readers ? "," : "", readers);
    int nreaders = *readers != '\0'; /* names only: digest ids stay out of the log */
    for (const char *c = readers; *c; c++) nreaders += *c == ',';
    log_info("zookeeper access control on identity=%.*s readers=%d", (int)strcspn(self, ":"), self, nreaders);
    return 0;
}

/* Queues declared on a cluster still forming get fewer replicas than
 * MQ_REPLICAS (RabbitMQ places them on the nodes there are), and a stream
 * whose only replica is on one node is gone with it: on a stack without
 * start-up order (a Swarm stack), the first declares wait until every node
 * of the list is in one cluster, or wait_s has passed. Once writeQ exists
 * the queues are made and their replicas placed: a standby taking over, or
 * a restart, does not wait for a node that is down. */
static void await_broker_cluster(const char *url, int wait_s, volatile sig_atomic_t *stop)
{
    if (mq_replicas() <= 1 || mq_node_count(url) <= 1) return;
    struct mq *m = mq_connect(url, 2000);
    int made = m && mq_queue_depth(m, PROTO_WRITE_QUEUE, NULL, NULL) == 0;
    mq_close(m);
    if (made) return;
    int64_t start = clock_ms(), last_log = 0;
    char why[512];
    while (!*stop) {
        if (mq_cluster_whole(url, 2000, stop, why, sizeof why)) {
            if (last_log) log_info("the RabbitMQ cluster is whole waited_ms=%lld", (long long)(clock_ms() - start));
            return;
        }
        if (clock_ms() - start >= (int64_t)wait_s * 1000) {
            log_warn("declaring queues on an incomplete RabbitMQ cluster: fewer replicas than MQ_REPLICAS "
                     "err=\"%s\" waited_s=%d", why, wait_s);
            return;
        }
        if (!last_log || clock_ms() - last_log >= 10000) {
            log_info("waiting for every RabbitMQ node to be in one cluster before declaring queues err=\"%s\"", why);
            last_log = clock_ms();
        }
        for (int i = 0; i < 10 && !*stop; i++) nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
    }
}

static void worker_bin_default(char *buf, size_t n)
{
    char self[900];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) { snprintf(buf, n, "rideshare-worker"); return; }
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(buf, n, "%s/rideshare-worker", self);
}

int main(int argc, char **argv)
{
    /* SIGTERM/SIGINT are taken by service.c's signal thread, so that no
     * library call is interrupted and shutdown runs in ordinary code. */
    service_start(argc, argv, "rideshare-orchestrator",
                  "The Rideshare DB service's orchestrator: DB API, workers, failover.", vars,
                  "orchestrator");
    volatile sig_atomic_t *stop = service_stop_flag();
    static char admin_token[256];
    config_secret(vars, "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", admin_token, sizeof admin_token);
    if (!*admin_token)
        log_warn("no admin token: every route (DB API, crash, scale, promote, restore) is open to anyone who "
                 "reaches this port; set ADMIN_TOKEN or ADMIN_TOKEN_FILE (docs/security.md)");

    const char *data_dir = config_str(vars, "DATA_DIR");
    char worker_bin[1024], state_dir[1100], e_url[2100], e_zk[600], e_root[300], e_sess[64], e_lvl[64], e_win[64],
        e_hb[64];
    int heartbeat_s = (int)config_long(vars, "AMQP_HEARTBEAT_S", 0, 60);
    mq_set_heartbeat(heartbeat_s);
    mq_set_replicas((int)config_long(vars, "MQ_REPLICAS", 1, 9));
    snprintf(e_hb, sizeof e_hb, "AMQP_HEARTBEAT_S=%d", heartbeat_s);
    if (*config_str(vars, "WORKER_BIN")) snprintf(worker_bin, sizeof worker_bin, "%s", config_str(vars, "WORKER_BIN"));
    else worker_bin_default(worker_bin, sizeof worker_bin);
    snprintf(state_dir, sizeof state_dir, "%s/run", data_dir);
    char mk[1200];
    snprintf(mk, sizeof mk, "%s", state_dir);
    for (char *p = mk + 1; *p; p++) if (*p == '/') { *p = 0; mkdir(mk, 0755); *p = '/'; }
    mkdir(mk, 0755);

    int session_ms = (int)config_long(vars, "ZK_SESSION_MS", 1000, 60000);
    const char *worker_url = config_str(vars, "WORKER_RABBITMQ_URL");
    snprintf(e_url, sizeof e_url, "RABBITMQ_URL=%s", *worker_url ? worker_url : config_str(vars, "RABBITMQ_URL"));
    static char e_zkauth[ZK_AUTH_MAX + 16], e_readers[1400];
    if (zk_access(e_zkauth, sizeof e_zkauth, e_readers, sizeof e_readers)) return 2;
    snprintf(e_zk, sizeof e_zk, "ZK_HOSTS=%s", config_str(vars, "ZK_HOSTS"));
    snprintf(e_root, sizeof e_root, "ZK_ROOT=%s", config_str(vars, "ZK_ROOT"));
    snprintf(e_sess, sizeof e_sess, "ZK_SESSION_MS=%d", session_ms);
    snprintf(e_lvl, sizeof e_lvl, "LOG_LEVEL=%s", config_str(vars, "LOG_LEVEL"));
    int write_timeout_ms = (int)config_long(vars, "WRITE_TIMEOUT_MS", 100, 600000);
    int64_t window_s = config_long(vars, "REQUEST_WINDOW_S", 10, 86400 * 30);
    if (window_s * 1000 < write_timeout_ms + 10000) {
        /* Exactly-once needs every id remembered past its write's deadline
         * (services/worker/replica.h), with room for the clocks of two hosts
         * to differ by up to 10 s. */
        log_error("REQUEST_WINDOW_S must be at least WRITE_TIMEOUT_MS plus 10 s window_s=%lld write_timeout_ms=%d",
                  (long long)window_s, write_timeout_ms);
        return 2;
    }
    snprintf(e_win, sizeof e_win, "REQUEST_WINDOW_S=%lld", (long long)window_s);

    struct workers_config wcfg = {
        .zk_root = config_str(vars, "ZK_ROOT"),
        .data_dir = data_dir,
        .env = { e_url, e_zk, e_root, e_sess, e_lvl, e_win, e_hb, NULL },
        .withhold = withheld,
        .zk_auth = config_str(vars, "ZK_AUTH"),
    };
    int nenv = 7;
    if (*e_zkauth) {
        wcfg.env[nenv++] = e_zkauth;
        wcfg.env[nenv++] = e_readers;
    }
    pass_worker_settings(wcfg.env, &nenv, (int)(sizeof wcfg.env / sizeof *wcfg.env) - 1);
    wcfg.env[nenv] = NULL;
    int ready_ms = (int)config_long(vars, "READY_TIMEOUT_MS", 1000, 600000);
    /* 48: the worker table (64) keeps room for the master and for slaves
     * that are leaving or dead but not yet reported. */
    int max_slaves = (int)config_long(vars, "MAX_SLAVES", 1, 48);
    int initial_slaves = (int)config_long(vars, "INITIAL_SLAVES", 1, max_slaves);
    /* The leader lock: stand by until this orchestrator holds it. */
    const char *orch_host = config_str(vars, "ORCH_HOST");
    int orch_port = (int)config_long(vars, "ORCH_PORT", 0, 65535);
    int leader_lock = (int)config_long(vars, "LEADER_LOCK", 0, 1);
    struct http_server *standby = NULL;
    char self_url[300];
    snprintf(self_url, sizeof self_url, "http://%s:%d", orch_host, orch_port);
    if (leader_lock) {
        standby = http_server_new(4096);
        if (http_server_require_token(standby, admin_token)) abort();
        leader_register(standby);
        if (http_server_serve_metrics(standby, NULL)) abort(); /* a standby is watched too */
        int port = http_server_start(standby, orch_host, orch_port);
        if (port < 0) return 1;
        orch_port = port; /* the real server takes the same port */
        snprintf(self_url, sizeof self_url, "http://%s:%d", orch_host, orch_port);
        log_info("orchestrator standing by url=%s/ pid=%d", self_url, (int)getpid());
    }
    struct leader_config lcfg = {
        .enabled = leader_lock, .zk_hosts = config_str(vars, "ZK_HOSTS"), .zk_root = config_str(vars, "ZK_ROOT"),
        .session_ms = session_ms, .connect_ms = ZK_CONNECT_MS, .url = self_url, .argv = argv,
    };
    if (leader_start(&lcfg) || (leader_lock && !leader_wait_active(stop))) {
        http_server_free(standby);
        leader_stop();
        return *stop ? 0 : 1;
    }
    struct zksession *zs = zksession_open(config_str(vars, "ZK_HOSTS"), session_ms, ZK_CONNECT_MS);
    if (!zs) return 1;
    wcfg.zk = zs;
    struct workers *ws = workers_new(&wcfg);
    struct runtime *rt = NULL;
    struct docker_limits lim = {
        .memory_mb = config_long(vars, "WORKER_MEMORY_MB", 64, 1 << 20),
        .cpus_milli = config_long(vars, "WORKER_MILLICPUS", 10, 1 << 20),
        .pids = config_long(vars, "WORKER_PIDS", 32, 1 << 20),
        .data_mb = config_long(vars, "WORKER_DATA_MB", 16, 1 << 20),
    };
    if (strcmp(config_str(vars, "RUNTIME"), "docker") == 0) {
        rt = runtime_docker_new(config_str(vars, "DOCKER_SOCKET"), config_str(vars, "WORKER_IMAGE"),
                                config_str(vars, "DOCKER_NETWORK"), config_str(vars, "DOCKER_STACK"), &lim,
                                workers_on_exit, ws);
    } else if (strcmp(config_str(vars, "RUNTIME"), "swarm") == 0) {
        struct swarm_settings sw = {
            .socket = config_str(vars, "DOCKER_SOCKET"), .image = config_str(vars, "WORKER_IMAGE"),
            .network = config_str(vars, "DOCKER_NETWORK"), .stack = config_str(vars, "DOCKER_STACK"),
            .constraints = config_str(vars, "SWARM_CONSTRAINTS"), .limits = lim,
        };
        rt = runtime_swarm_new(&sw, workers_on_exit, ws);
    } else if (strcmp(config_str(vars, "RUNTIME"), "process") == 0) {
        rt = runtime_process_new(worker_bin, state_dir, workers_on_exit, ws);
    } else {
        log_error("invalid setting name=RUNTIME value=%s (process, docker or swarm)", config_str(vars, "RUNTIME"));
    }
    if (!rt) return 1;
    workers_attach(ws, rt);
    await_broker_cluster(config_str(vars, "RABBITMQ_URL"), (int)config_long(vars, "MQ_CLUSTER_WAIT_S", 0, 86400), stop);
    struct rpc *rpc = rpc_start(config_str(vars, "RABBITMQ_URL"));
    struct scaler *sc = scaler_new(config_long(vars, "SCALE_WINDOW_S", 1, 86400) * 1000,
                                   (int)config_long(vars, "READS_PER_SLAVE", 1, 1000000));
    struct supervisor *sup = NULL;
    struct readcache *cache = readcache_new((size_t)config_long(vars, "READ_CACHE_ENTRIES", 0, 1000000),
                                            (size_t)config_long(vars, "READ_CACHE_MB", 0, 65536) << 20);

    int rc = 1;
    struct http_server *srv = NULL;
    struct dbapi *api = NULL;
    struct adminapi *admin = NULL;
    struct backupapi *bapi = NULL;
    char backup_dir[1100];
    if (*config_str(vars, "BACKUP_DIR")) snprintf(backup_dir, sizeof backup_dir, "%s", config_str(vars, "BACKUP_DIR"));
    else snprintf(backup_dir, sizeof backup_dir, "%s/backups", data_dir);
    int backup_timeout_ms = (int)config_long(vars, "BACKUP_TIMEOUT_MS", 1000, 3600000);
    struct backups_config bcfg = {
        .amqp_url = config_str(vars, "RABBITMQ_URL"),
        .dir = backup_dir,
        .interval_s = (int)config_long(vars, "BACKUP_INTERVAL_S", 0, 86400 * 365),
        .keep = (int)config_long(vars, "BACKUP_KEEP", 1, 100000),
        .timeout_ms = backup_timeout_ms,
        .rpc = rpc,
    };
    struct backups *backups = NULL;
    static struct restorer_config rcfg;
    struct supervisor_config scfg = {
        .zk = zs,
        .zk_root = wcfg.zk_root,
        .initial_slaves = initial_slaves,
        .ready_timeout_ms = ready_ms,
        /* The znode goes when the session expires; a worker whose session
         * merely expired opens a new one and registers again within this. */
        .lost_grace_ms = 1000,
        .retire_timeout_ms = 3000,
        .max_slaves = max_slaves,
        .scale_up_step = (int)config_long(vars, "SCALE_UP_STEP", 1, 48),
        .broker_lost_ms = (int)config_long(vars, "BROKER_LOST_MS", 0, 600000),
        .rpc = rpc,
    };
    struct startup_config start = {
        .zk = zs,
        .zk_root = wcfg.zk_root,
        .initial_slaves = initial_slaves,
        .ready_timeout_ms = ready_ms,
    };
    int started = startup_run(ws, &start, stop);
    if (started == 1) {
        /* Adopted workers: keep the slaves that run (the windows start over),
         * up to MAX_SLAVES (the supervisor retires any beyond). */
        struct worker_info wi[64];
        int n = workers_list(ws, wi, 64), slaves = 0;
        for (int i = 0; i < n; i++) slaves += !wi[i].master && !wi[i].retiring;
        if (slaves > scfg.initial_slaves) scfg.initial_slaves = slaves;
    }
    if (started >= 0 && (sup = supervisor_start(ws, sc, &scfg)) != NULL) {
        srv = http_server_new((size_t)config_long(vars, "MAX_BODY", 1024, 64L << 20));
        if (http_server_require_token(srv, admin_token)) abort();
        leader_register(srv);
        struct dbapi_config dcfg = {
            .write_timeout_ms = write_timeout_ms,
            .read_timeout_ms = (int)config_long(vars, "READ_TIMEOUT_MS", 100, 600000),
            .scaler = sc,
            .cache = cache,
        };
        api = dbapi_register(srv, &dcfg, rpc, ws);
        struct adminapi_config acfg = {
            .ws = ws, .sup = sup, .sc = sc, .amqp_url = config_str(vars, "RABBITMQ_URL"),
            .window_ms = config_long(vars, "SCALE_WINDOW_S", 1, 86400) * 1000,
            .reads_per_slave = (int)config_long(vars, "READS_PER_SLAVE", 1, 1000000),
            .max_slaves = max_slaves,
            .cache = cache,
        };
        admin = adminapi_register(srv, &acfg);
        if (http_server_serve_metrics(srv, NULL)) abort(); /* the server's token covers it */
        metricsview_start(&(struct metricsview_config){ .ws = ws, .sup = sup, .cache = cache, .rpc = rpc });
        configapi_register(srv, config_str(vars, "ZK_HOSTS"), wcfg.zk_root, config_str(vars, "RABBITMQ_URL"));
        backups = backups_start(&bcfg);
        if (backups) {
            rcfg = (struct restorer_config){
                .amqp_url = config_str(vars, "RABBITMQ_URL"), .zk_hosts = config_str(vars, "ZK_HOSTS"), .zk_root = wcfg.zk_root,
                .timeout_ms = backup_timeout_ms, .backups = backups, .api = api, .sup = sup, .ws = ws,
            };
            struct backupapi_config bacfg = { .backups = backups, .restorer = &rcfg };
            bapi = backupapi_register(srv, &bacfg);
        }
        int port = -1;
        /* acked_seq starts at the log's end, whether the workers were
         * adopted or started over an existing log: a read then never misses
         * a write an earlier orchestrator acknowledged. */
        if (dbapi_barrier(api, ready_ms, stop)) {
            log_error("no barrier write acknowledged at start-up; not serving");
        } else {
            http_server_free(standby); /* frees the port for the real server */
            standby = NULL;
            leader_serving();
            port = http_server_start(srv, orch_host, orch_port);
        }
        if (port > 0) {
            log_info("orchestrator listening url=http://%s:%d/ pid=%d role=%s", orch_host, port, (int)getpid(),
                     leader_role());
            rc = 0;
            service_wait_stop();
        }
    }
    http_server_free(standby);
    http_server_free(srv);
    metricsview_stop();
    adminapi_free(admin);
    backupapi_free(bapi);
    backups_stop(backups); /* its scheduler's calls end with the RPC's shutdown */
    supervisor_stop(sup); /* before the workers stop: it would replace them */
    workers_stop_all(ws, 700);
    rpc_stop(rpc);
    dbapi_free(api);
    readcache_free(cache);
    runtime_destroy(rt);
    zksession_close(zs);  /* no supervisor watch or listener call fires after it */
    leader_stop();        /* after the workers stopped: a standby then starts afresh */
    workers_free(ws);
    supervisor_free(sup);
    scaler_free(sc);
    log_info("orchestrator stopped");
    return rc;
}
