/*
 * startup.c — see startup.h.
 *
 * The master is started first (workers_spawn_master bumps the epoch naming
 * it before it exists), so it has the lowest PID, as the spec's crash/slave
 * arithmetic expects; then the slaves. Each is ready when its znode's state
 * says so.
 *
 * A master that exits with status 3 found a newer epoch in the log than
 * ZooKeeper remembered (ZooKeeper's data lost while the broker's survived);
 * it noted that epoch in ZK_ROOT/log_epoch, so a new master started now gets
 * an epoch above it. That is retried a few times; any other exit during
 * start-up is fatal.
 *
 * Restart. Nothing the orchestrator needs lives only in its memory: the
 * epoch and the designated master are in ZK_ROOT/master, the workers are in
 * the runtime (the process runtime's PID files, which runtime_list adopts)
 * and in ZooKeeper. So a restarted orchestrator reads ZK_ROOT/master, takes
 * its epoch, and adopts every running worker — the named one as master,
 * unless a switchover was under way ("next" set: that master may have
 * stepped down already, so it counts as a slave and the supervisor fails
 * over, bumping the epoch). It starts none: the supervisor replaces what is
 * missing, and kills (health check) an adopted worker that never shows up
 * in ZooKeeper, exactly as for its own.
 */
#include "startup.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "epoch.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "runtime.h"
#include "workers.h"
#include "workers_roles.h"
#include "zk.h"
#include "zk_acl.h"
#include "zksession.h"

#define MAX_START 32

/* Whether worker id's znode says it is ready. */
static int is_ready(struct zk *zk, const char *root, const char *id)
{
    char path[300], data[512];
    snprintf(path, sizeof path, "%s/workers/%s", root, id);
    int n = zk_get(zk, path, data, sizeof data, NULL, NULL);
    if (n <= 0) return 0;
    cJSON *j = json_parse(data, (size_t)n);
    const char *state = j ? json_get_str(j, "state") : NULL;
    int ready = state && strcmp(state, "ready") == 0;
    cJSON_Delete(j);
    return ready;
}

int startup_run(struct workers *ws, const struct startup_config *cfg, volatile sig_atomic_t *stop)
{
    char ids[MAX_START][RUNTIME_ID_MAX];
    struct zk *zk = zksession_handle(cfg->zk);
    int n = 1 + cfg->initial_slaves;
    if (n > MAX_START) n = MAX_START;
    /* ZK_ROOT and the nodes the workers use but may not make, with their ACLs. */
    if (zk_access_prepare(zk)) return -1;
    char mid[RUNTIME_ID_MAX], next[RUNTIME_ID_MAX];
    int64_t epoch = 0;
    int named = epoch_read(zk, cfg->zk_root, mid, &epoch, next, sizeof mid);
    if (named < 0) return -1;
    if (named == 1 && epoch > 0) {
        workers_set_epoch(ws, epoch);
        int adopted = workers_adopt(ws, *next ? "" : mid);
        if (adopted < 0) return -1;
        if (adopted > 0) {
            log_info("adopted running workers n=%d master=%s epoch=%lld%s", adopted, mid, (long long)epoch,
                     *next ? " (a switchover was under way: failing over)" : "");
            return 1;
        }
    }
    if (workers_spawn_master(ws, ids[0])) return -1;
    for (int i = 1; i < n; i++)
        if (workers_spawn_slave(ws, ids[i])) return -1;
    int64_t deadline = clock_ms() + cfg->ready_timeout_ms;
    int retries = 3, status;
    for (int i = 0; i < n; i++) {
        while (!is_ready(zk, cfg->zk_root, ids[i])) {
            if (*stop) return -1;
            if (workers_exit_status(ws, ids[i], &status)) {
                if (i > 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 3 || retries-- == 0) {
                    log_error("worker exited during start-up id=%s status=%d", ids[i], status);
                    return -1;
                }
                if (workers_spawn_master(ws, ids[0])) return -1;
                log_warn("restarted the master above the log's epoch id=%s epoch=%lld", ids[0],
                         (long long)workers_epoch(ws));
                continue;
            }
            if (clock_ms() > deadline) {
                log_error("worker did not become ready id=%s timeout_ms=%d", ids[i], cfg->ready_timeout_ms);
                return -1;
            }
            struct timespec tick = { 0, 50 * 1000000L };
            nanosleep(&tick, NULL);
        }
    }
    log_info("workers ready master=%s slaves=%d epoch=%lld", ids[0], n - 1, (long long)workers_epoch(ws));
    return 0;
}
