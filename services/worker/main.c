/*
 * rideshare-worker — one database replica, master or slave (worker.h).
 *
 * Started by the orchestrator through a runtime (process or container) with
 * its id, role and epoch in the environment. A slave named master in
 * ZooKeeper (membership.c) stops being a slave and runs the master role with
 * the epoch it was given there: the same process, the same database file.
 * A master told to step down (a planned switchover, membership.c) goes on
 * as a slave, again in the same process; it may be promoted again later.
 * A worker with no database file starts from the newest checkpoint
 * (checkpoint.h); one that meets a gap in the log (its next entries fell out
 * of the retention) closes its database and starts over from a checkpoint
 * newer than what it holds, in the same role, without ever answering from
 * the stale copy.
 * Exits 0 on SIGTERM/SIGINT, 1 on a fatal error, 3 when it finds a newer
 * master's epoch in the log or sees another worker named master.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "mq.h"
#include "store.h"
#include "worker.h"
#include "zk_acl.h"

static const struct config_var vars[] = {
    { "WORKER_ID", NULL, "this worker's id ([A-Za-z0-9_-], required)" },
    { "WORKER_ROLE", "slave", "master or slave" },
    { "WORKER_EPOCH", "1", "the epoch a master writes with (set by the orchestrator)" },
    { "DATA_DIR", "./data", "directory of the worker's SQLite file <id>.db" },
    { "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ broker; the nodes of a cluster comma-separated "
                                                           "(tried in turn, failing over to the next)" },
    { "MQ_REPLICAS", "1", "nodes the queues and streams are replicated on: 1 classic queues, more quorum queues "
                          "and replicated streams (a cluster; the same in every process of the stack)" },
    { "AMQP_HEARTBEAT_S", "2", "AMQP heartbeat interval in seconds (0: none): a broker cut off is noticed within twice that" },
    { "ZK_HOSTS", "", "ZooKeeper hosts (host:port,...); empty: no membership znode" },
    { "ZK_ROOT", "/rideshare", "root of the service's znodes" },
    { "ZK_SESSION_MS", "4000", "ZooKeeper session timeout in ms" },
    { "ZK_AUTH", "", "the workers' ZooKeeper identity user:password (set by the orchestrator; empty: none)" },
    { "ZK_NODE_AUTH", "", "this worker's own ZooKeeper identity, the only one that may write its znode" },
    { "ZK_READERS", "", "ZooKeeper digest ids, comma-separated, that may read the znodes this worker makes" },
    { "BATCH_MAX", "256", "writes per transaction / log entries per batch" },
    { "READ_WAIT_MS", "2000", "how long a read waits for the replica to reach its min_seq" },
    { "READ_THREADS", "1", "reader threads of a slave" },
    { "LOG_RETENTION_BYTES", "268435456", "the log's retention in bytes (0: keep everything); fixed when the log is first declared" },
    { "LOG_SEGMENT_BYTES", "16777216", "the log's segment size, the unit the retention drops (at most a quarter of the retention)" },
    { "CHECKPOINT_ENTRIES", "20000", "a ready slave makes a checkpoint every so many log entries (also every quarter of the retention in bytes)" },
    { "CHECKPOINT_S", "300", "... and after so many seconds if anything was written (0: not by time)" },
    { "CHECKPOINT_TIMEOUT_MS", "60000", "how long fetching a checkpoint may take" },
    { "REQUEST_WINDOW_S", "120", "how long request ids are remembered (must exceed the orchestrator's write timeout)" },
    { "LOG_LEVEL", "info", "debug, info, warn or error" },
    { 0 },
};

static struct worker W;

static void on_signal(int sig)
{
    (void)sig;
    W.stop = 1;
}

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 47) return 0;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A slave named master: everything its follower applied is committed; the
 * master appends its marker and applies the rest of the log first. */
static int run_promoted(void)
{
    pthread_mutex_lock(&W.lock);
    W.epoch = atomic_load(&W.promote_epoch);
    pthread_mutex_unlock(&W.lock);
    log_info("promoted to master id=%s epoch=%lld applied_seq=%lld", W.id, (long long)W.epoch,
             (long long)store_position(W.store).applied_seq);
    return master_run(&W);
}

/* Runs role (and whatever it turns into: promotion, step-down) until the
 * worker stops. The last role's result. */
static int run_roles(const char *role)
{
    int rc = strcmp(role, "master") == 0 ? master_run(&W) : slave_run(&W);
    if (rc == 1) rc = run_promoted();
    while (rc == -2 && atomic_load(&W.stepdown) && !W.stop) {
        /* Planned switchover: master_run stopped at a batch boundary and
         * closed writeQ; everything applied is committed and in the log.
         * The role changes first (the znode says "slave", which is what the
         * orchestrator waits for), then the flags are cleared, so the
         * membership thread cannot take us for a deposed master again. */
        pthread_mutex_lock(&W.lock);
        W.caught_up = 0; /* "ready" again once the follower reaches the log's end */
        pthread_mutex_unlock(&W.lock);
        worker_set_state(&W, "slave", "catching-up");
        atomic_store(&W.promote_epoch, 0);
        atomic_store(&W.readers_stop, 0);
        atomic_store(&W.stepdown, 0);
        atomic_store(&W.deposed, 0);
        log_info("stepped down; going on as a slave id=%s applied_seq=%lld", W.id,
                 (long long)store_position(W.store).applied_seq);
        rc = slave_run(&W);
        if (rc == 1) rc = run_promoted();
    }
    return rc;
}

/* After a gap: replaces the database with a checkpoint newer than it. The
 * roles have stopped (readers included), so nothing reads the old file. 0,
 * or -1 when there is no such checkpoint: the replica cannot go on. */
static int restart_from_checkpoint(void)
{
    int64_t applied = store_position(W.store).applied_seq;
    store_close(W.store); /* checkpoints its WAL into the file and removes it */
    W.store = NULL;
    char side[1100];
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", W.db_path, i ? "-shm" : "-wal");
        remove(side);
    }
    struct checkpoint_info got;
    if (checkpoint_fetch(&W, applied, &got) != 1 || !(W.store = store_open(W.db_path))) {
        if (!W.stop)
            log_error("gap in the log and no checkpoint past it: this replica cannot go on applied_seq=%lld",
                      (long long)applied);
        return -1;
    }
    pthread_mutex_lock(&W.lock);
    W.caught_up = 0;
    pthread_mutex_unlock(&W.lock);
    atomic_store(&W.readers_stop, 0);
    struct store_pos pos = store_position(W.store);
    worker_advance(&W, &pos);
    worker_set_state(&W, W.role, "catching-up");
    log_info("restarted from a checkpoint after a gap applied_seq=%lld was=%lld", (long long)pos.applied_seq,
             (long long)applied);
    return 0;
}

int main(int argc, char **argv)
{
    config_args(argc, argv, "rideshare-worker", "One database replica of the Rideshare DB service.", vars);
    const char *id = config_str(vars, "WORKER_ID");
    char component[64];
    snprintf(component, sizeof component, "worker-%.40s", id);
    log_init(component); /* every line says which worker wrote it */
    const char *role = config_str(vars, "WORKER_ROLE");
    if (!valid_id(id)) { log_error("WORKER_ID must be 1-47 of [A-Za-z0-9_-] id=%s", id); return 2; }
    if (strcmp(role, "master") && strcmp(role, "slave")) { log_error("bad WORKER_ROLE role=%s", role); return 2; }

    static char path[1024];
    snprintf(path, sizeof path, "%s/%s.db", config_str(vars, "DATA_DIR"), id);
    W.id = id;
    W.amqp_url = config_str(vars, "RABBITMQ_URL");
    W.db_path = path;
    W.epoch = config_long(vars, "WORKER_EPOCH", 1, 1L << 40);
    W.batch_max = (int)config_long(vars, "BATCH_MAX", 1, 4096);
    W.read_wait_ms = (int)config_long(vars, "READ_WAIT_MS", 0, 60000);
    W.read_threads = (int)config_long(vars, "READ_THREADS", 1, 16);
    W.zk_hosts = config_str(vars, "ZK_HOSTS");
    W.zk_root = config_str(vars, "ZK_ROOT");
    W.log_retention_bytes = config_long(vars, "LOG_RETENTION_BYTES", 0, 1L << 50);
    W.log_segment_bytes = config_long(vars, "LOG_SEGMENT_BYTES", 4096, 1L << 40);
    W.request_window_ms = config_long(vars, "REQUEST_WINDOW_S", 10, 86400 * 30) * 1000;
    W.ckpt_entries = config_long(vars, "CHECKPOINT_ENTRIES", 0, 1L << 50);
    W.ckpt_bytes = W.log_retention_bytes / 4;
    W.ckpt_secs = config_long(vars, "CHECKPOINT_S", 0, 86400 * 365);
    W.ckpt_timeout_ms = (int)config_long(vars, "CHECKPOINT_TIMEOUT_MS", 1000, 3600000);
    atomic_store(&W.ckpt_log_bytes, -1);
    if (W.log_retention_bytes > 0 && W.log_segment_bytes * 4 > W.log_retention_bytes) {
        log_error("LOG_SEGMENT_BYTES must be at most a quarter of LOG_RETENTION_BYTES segment=%lld retention=%lld",
                  (long long)W.log_segment_bytes, (long long)W.log_retention_bytes);
        return 2;
    }
    struct zk_access za = {
        .role = ZK_ROLE_WORKER, .root = W.zk_root, .auth = config_str(vars, "ZK_AUTH"),
        .node_auth = config_str(vars, "ZK_NODE_AUTH"), .readers = config_str(vars, "ZK_READERS"),
    };
    if (zk_access_init(&za)) return 2;
    pthread_mutex_init(&W.lock, NULL);
    clock_cond_init(&W.advanced);

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A call stuck on the broker's socket (a checkpoint's transfer, a
     * blocked publish) is cut soon after SIGTERM (mq.h). */
    mq_set_process_stop(&W.stop);
    mq_set_heartbeat((int)config_long(vars, "AMQP_HEARTBEAT_S", 0, 60));
    mq_set_replicas((int)config_long(vars, "MQ_REPLICAS", 1, 9));

    /* No file yet (a worker's id is never reused): the newest checkpoint,
     * then the log after it. */
    if (access(path, F_OK) != 0 && checkpoint_fetch(&W, 0, &(struct checkpoint_info){ 0 }) < 0) {
        if (W.stop) return 0;
        log_error("could not fetch the newest checkpoint; not starting");
        return 1;
    }
    if (W.stop) return 0;
    W.store = store_open(path);
    if (!W.store) return 1;
    W.applied_seq = store_position(W.store).applied_seq;
    worker_set_state(&W, role, "starting");
    log_info("worker starting id=%s role=%s epoch=%lld pid=%d db=%s applied_seq=%lld", id, role,
             (long long)W.epoch, (int)getpid(), path, (long long)W.applied_seq);
    if (membership_start(&W, W.zk_hosts, W.zk_root, (int)config_long(vars, "ZK_SESSION_MS", 1000, 60000))) {
        log_error("could not register in ZooKeeper");
        store_close(W.store);
        return 1;
    }
    int rc = run_roles(role);
    while (rc == WORKER_GAP && !W.stop) rc = restart_from_checkpoint() ? -1 : run_roles(W.role);
    W.stop = 1;
    membership_stop(&W);
    store_close(W.store);
    log_info("worker stopped id=%s rc=%d", id, rc);
    return rc == 0 ? 0 : rc == -2 ? 3 : 1;
}
