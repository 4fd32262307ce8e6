/*
 * leader.h — which orchestrator is the active one, when several run against
 * the same ZooKeeper and RabbitMQ (LEADER_LOCK=1): a leader lock in
 * ZooKeeper, and the fence that keeps every other orchestrator — a standby,
 * or one that was deposed — from acting.
 *
 * The lock: each orchestrator puts an ephemeral sequential znode
 * ZK_ROOT/orchestrator/lock-<n> (its data: its URL and PID) in a session of
 * its own; the lowest n is the active one. The others stand by and watch
 * (every LEADER_POLL_MS) for the nodes before theirs to go, which happens
 * when the active one's session ends: it stopped, or it died and ZooKeeper
 * expired its session.
 *
 * The fence: the active one may act — start, kill or retire workers, write
 * the epoch, acknowledge a write, answer a read — only while its last
 * successful ZooKeeper call that found it still the lowest was sent less
 * than two thirds of its session timeout ago (leader_may_act). ZooKeeper
 * expires a session at the earliest a whole session timeout after the last
 * request it heard, so an orchestrator that cannot reach ZooKeeper, or was
 * frozen, has stopped acting a third of a session before anyone else can
 * take the lock. The clock is the monotonic one, which runs on through a
 * SIGSTOP: an orchestrator that wakes up finds itself fenced at once.
 * Once ZooKeeper answers again, either the session lives (it never lost the
 * lock: it acts again) or it expired: the orchestrator is deposed, and
 * starts over as a standby by executing itself again (same PID, same
 * settings, nothing of the old run kept: the workers are the active one's
 * to adopt; it never stops them).
 *
 * Without LEADER_LOCK (one orchestrator, the default) there is no lock and
 * leader_may_act is always 1: an orchestrator cut off from ZooKeeper goes
 * on serving writes through the master, as before. It refuses to start
 * while lock nodes exist (a pair with the lock is running).
 *
 * Every thread may call leader_may_act and leader_role; the lock's own
 * thread is the only one that makes ZooKeeper calls here.
 */
#ifndef RS_LEADER_H
#define RS_LEADER_H

#include <signal.h>

struct http_server;

struct leader_config {
    int enabled;            /* LEADER_LOCK */
    const char *zk_hosts;
    const char *zk_root;
    int session_ms;         /* requested; the fence uses the smaller of it and the granted one */
    int connect_ms;         /* for the first connection */
    const char *url;        /* where this orchestrator answers, for the lock node's data */
    char **argv;            /* main's argv: a deposed orchestrator executes itself again */
};

/* Opens the lock's session and takes a place in the queue (enabled), or
 * checks that no pair holds the lock (not enabled). 0, or -1 logged. */
int leader_start(const struct leader_config *cfg);
/* Waits until this orchestrator holds the lock: 1, or 0 when *stop was set. */
int leader_wait_active(volatile sig_atomic_t *stop);
/* Whether this orchestrator may act now (see the top of the file). */
int leader_may_act(void);
/* The orchestrator now serves its API (after adoption and the barrier
 * write): the gate lets requests through from here on. */
void leader_serving(void);
/* "active", "starting" (holds the lock, not serving yet), "standby" or
 * "fenced" (held the lock, cannot tell now whether it still does). */
const char *leader_role(void);
/* Adds GET /api/v1/role (always answered, as is GET /metrics where the
 * server has it) and the gate: every other route
 * answers 503 {"error", "role"} with X-Orchestrator-Role while this
 * orchestrator may not act or does not serve yet. */
void leader_register(struct http_server *srv);
/* Closes the lock's session: a standby takes over at once. */
void leader_stop(void);

#endif
