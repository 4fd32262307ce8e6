/*
 * rideshare-worker — one database replica, master or slave (worker.h).
 *
 * Started by the orchestrator through a runtime (process or container) with
 * its id, role and epoch in the environment. A slave named master in
 * ZooKeeper (membership.c) stops being a slave and runs the master role with
 * the epoch it was given there: the same process, the same database file.
 * A master told to step down (a planned switchover, membership.c) goes on
 * as a slave, again in the same process; it may be promoted again later.
 * Exits 0 on SIGTERM/SIGINT, 1 on a fatal error, 3 when it finds a newer
 * master's epoch in the log or sees another worker named master.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "snapshot.h"
#include "store.h"
#include "worker.h"

static const struct config_var vars[] = {
    { "WORKER_ID", NULL, "this worker's id ([A-Za-z0-9_-], required)" },
    { "WORKER_ROLE", "slave", "master or slave" },
    { "WORKER_EPOCH", "1", "the epoch a master writes with (set by the orchestrator)" },
    { "DATA_DIR", "./data", "directory of the worker's SQLite file <id>.db" },
    { "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ broker" },
    { "ZK_HOSTS", "", "ZooKeeper hosts (host:port,...); empty: no membership znode" },
    { "ZK_ROOT", "/rideshare", "root of the service's znodes" },
    { "ZK_SESSION_MS", "4000", "ZooKeeper session timeout in ms" },
    { "BATCH_MAX", "256", "writes per transaction / log entries per batch" },
    { "READ_WAIT_MS", "2000", "how long a read waits for the replica to reach its min_seq" },
    { "READ_THREADS", "1", "reader threads of a slave" },
    { "SNAPSHOT_MIN_ENTRIES", "5000", "a new slave starts from a copy of a ready worker once one has applied this many log entries (0: always replay the log)" },
    { "SNAPSHOT_TIMEOUT_MS", "20000", "how long a new slave waits for a copy before replaying the log instead" },
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
    pthread_mutex_init(&W.lock, NULL);
    clock_cond_init(&W.advanced);

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A new slave (no file yet; a worker's id is never reused) starts from
     * a copy when that saves replaying a long log. */
    if (strcmp(role, "slave") == 0 && access(path, F_OK) != 0) {
        struct snapshot_opts so = {
            .id = id, .db_path = path, .amqp_url = W.amqp_url,
            .zk_hosts = config_str(vars, "ZK_HOSTS"), .zk_root = config_str(vars, "ZK_ROOT"),
            .min_entries = config_long(vars, "SNAPSHOT_MIN_ENTRIES", 0, 1L << 50),
            .timeout_ms = (int)config_long(vars, "SNAPSHOT_TIMEOUT_MS", 1000, 600000),
            .stop = &W.stop,
        };
        snapshot_fetch(&so);
        if (W.stop) return 0;
    }
    W.store = store_open(path);
    if (!W.store) return 1;
    W.applied_seq = store_position(W.store).applied_seq;
    worker_set_state(&W, role, "starting");
    log_info("worker starting id=%s role=%s epoch=%lld pid=%d db=%s applied_seq=%lld", id, role,
             (long long)W.epoch, (int)getpid(), path, (long long)W.applied_seq);
    if (membership_start(&W, config_str(vars, "ZK_HOSTS"), config_str(vars, "ZK_ROOT"),
                         (int)config_long(vars, "ZK_SESSION_MS", 1000, 60000))) {
        log_error("could not register in ZooKeeper");
        store_close(W.store);
        return 1;
    }
    int rc = strcmp(role, "master") == 0 ? master_run(&W) : slave_run(&W);
    if (rc == 1) {
        /* Promoted: everything the follower applied is committed; the
         * master appends its marker and applies the rest of the log first. */
        pthread_mutex_lock(&W.lock);
        W.epoch = atomic_load(&W.promote_epoch);
        pthread_mutex_unlock(&W.lock);
        log_info("promoted to master id=%s epoch=%lld applied_seq=%lld", id, (long long)W.epoch,
                 (long long)store_position(W.store).applied_seq);
        rc = master_run(&W);
    }
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
        log_info("stepped down; going on as a slave id=%s applied_seq=%lld", id,
                 (long long)store_position(W.store).applied_seq);
        rc = slave_run(&W);
        if (rc == 1) {
            pthread_mutex_lock(&W.lock);
            W.epoch = atomic_load(&W.promote_epoch);
            pthread_mutex_unlock(&W.lock);
            log_info("promoted to master id=%s epoch=%lld applied_seq=%lld", id, (long long)W.epoch,
                     (long long)store_position(W.store).applied_seq);
            rc = master_run(&W);
        }
    }
    W.stop = 1;
    membership_stop(&W);
    store_close(W.store);
    log_info("worker stopped id=%s rc=%d", id, rc);
    return rc == 0 ? 0 : rc == -2 ? 3 : 1;
}
