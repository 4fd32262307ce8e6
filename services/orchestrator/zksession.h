/*
 * zksession.h — the orchestrator's ZooKeeper session: one handle, renewed
 * when the server expires it.
 *
 * What lives in ZooKeeper for the orchestrator: the epoch (ZK_ROOT/master,
 * epoch.h) and the workers' znodes (ZK_ROOT/workers/<id>). main.c opens
 * the session before anything else and closes it after the supervisor has
 * stopped; the worker table (workers.c, the epoch), start-up (startup.c)
 * and the supervisor (supervisor*.c) use it.
 *
 * Threads: the handle is used by start-up, then by the supervisor's thread
 * only, which is also the thread that renews it (zksession_renew closes the
 * old handle, so no other thread may hold it). zksession_connected may be
 * asked from any thread. State changes arrive on the ZooKeeper library's
 * thread: they are noted and passed to the listener (zksession_listen),
 * which must only note them too (the worker table wakes the supervisor).
 */
#ifndef RS_ZKSESSION_H
#define RS_ZKSESSION_H

struct zk;
struct zksession;

/* Connects within connect_ms: NULL if it cannot. */
struct zksession *zksession_open(const char *hosts, int session_ms, int connect_ms);
/* Closes the handle; no listener call comes after it returns. */
void zksession_close(struct zksession *z);

/* fn(ctx) is called on every change of the session's state (connected,
 * disconnected, expired), from ZooKeeper's thread. One listener. */
void zksession_listen(struct zksession *z, void (*fn)(void *ctx), void *ctx);

/* The handle: NULL after a renewal failed, until one succeeds. */
struct zk *zksession_handle(struct zksession *z);
/* Whether the session is connected now (calls would not fail at once). */
int zksession_connected(struct zksession *z);
/* If the session expired (or a renewal failed), opens a new one: 1 when it
 * did (watches set on the old session are gone), 0 when nothing was to do,
 * -1 when it failed. Supervisor thread. */
int zksession_renew(struct zksession *z);

#endif
