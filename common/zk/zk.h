/*
 * zk.h — the ZooKeeper client (zookeeper_mt) as this project uses it.
 *
 * The library runs its own I/O and completion threads; every call here is
 * synchronous with the library's own timeouts, and safe from any thread.
 * Watches: the library calls a watcher on its completion thread; the wrapper
 * turns a watch into a plain callback (path, event type) and the caller
 * re-reads and re-arms, because a ZooKeeper watch fires once. Callbacks must
 * not block: hand work to a thread of your own.
 *
 * A handle must never be used in a forked child (fork+exec only).
 *
 * Sessions authenticate, and nodes are created with ACLs, as zk_acl.h says
 * (zk_access_init); without it, anonymously and open.
 */
#ifndef RS_ZK_H
#define RS_ZK_H

#include <stddef.h>

struct zk;

/* Session state changes: connected (1) or not (0); expired sessions are
 * reported as 0 with expired = 1 (the handle is then dead: zk_close it). */
typedef void (*zk_state_fn)(int connected, int expired, void *ctx);
/* A watch fired on path. */
typedef void (*zk_watch_fn)(const char *path, void *ctx);

/* Starts a session with hosts ("127.0.0.1:2181,...") and waits up to
 * connect_timeout_ms for it to connect. NULL on failure, reason logged. */
struct zk *zk_open(const char *hosts, int session_timeout_ms, int connect_timeout_ms,
                   zk_state_fn on_state, void *ctx);
void zk_close(struct zk *z);

/* The session timeout the server granted, in ms. */
int zk_session_timeout(const struct zk *z);

/* Creates path and its missing parents as persistent empty nodes. 0 or -1. */
int zk_ensure_path(struct zk *z, const char *path);

/* Creates an ephemeral node with data; replaces one left by an earlier
 * session of ours if it exists. 0 or -1. */
int zk_create_ephemeral(struct zk *z, const char *path, const char *data, size_t len);

/* Creates an ephemeral sequential node named prefix + a ten-digit counter
 * that ZooKeeper chooses (a place in a queue: a lock's candidates), with
 * data; its full path goes into out (n bytes). Missing parents are made. 0
 * or -1. */
int zk_create_sequential(struct zk *z, const char *prefix, const char *data, size_t len, char *out, size_t n);

/* Sets data, creating the node (persistent) if it does not exist. 0 or -1. */
int zk_put(struct zk *z, const char *path, const char *data, size_t len);

/* Reads up to n-1 bytes of data into buf (NUL-terminated); optionally sets a
 * one-shot watch. Returns the data length, -2 if the node does not exist,
 * -1 on error. */
int zk_get(struct zk *z, const char *path, char *buf, size_t n, zk_watch_fn watch, void *ctx);

/* The children's names of path: a malloc'd array of malloc'd strings
 * (free with zk_free_children); optionally sets a one-shot child watch.
 * Returns the count, -2 if path does not exist, -1 on error. */
int zk_children(struct zk *z, const char *path, char ***names, zk_watch_fn watch, void *ctx);
void zk_free_children(char **names, int n);

/* Compare-and-set, for data that several writers update (read-modify-write):
 * zk_get_versioned reads like zk_get and gives the node's version;
 * zk_set_versioned writes only if the node is still at that version, or,
 * with version -1, creates it only if it does not exist (parents included).
 * 0 when written, 1 when another writer came first (re-read and retry), -1 on
 * error. */
int zk_get_versioned(struct zk *z, const char *path, char *buf, size_t n, int *version);
int zk_set_versioned(struct zk *z, const char *path, const char *data, size_t len, int version);

/* Creates an ephemeral node only if none exists (a lock held for the life of
 * this session, released by zk_delete or the session's end). 0 when
 * created, 1 when it exists (held by another session, or by an earlier one
 * of ours that has not expired yet), -1 on error. */
int zk_try_ephemeral(struct zk *z, const char *path, const char *data, size_t len);

/* Deletes a node (any version); 0, or -1 on error (a missing node is 0). */
int zk_delete(struct zk *z, const char *path);

/* Gives an existing node the ACL of its path (zk_acl.h). 0, -2 if it does
 * not exist, -3 if its ACL does not let us (ZNOAUTH), -1 on another error. */
int zk_set_acl(struct zk *z, const char *path);

#endif
