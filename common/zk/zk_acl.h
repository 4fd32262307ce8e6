/*
 * zk_acl.h — who may do what under ZK_ROOT: the ZooKeeper identities a
 * process authenticates as, and the ACL every znode gets when it is made.
 *
 * Identities use ZooKeeper's digest scheme: a session authenticates with
 * "user:password"; an ACL names the digest id "user:" +
 * base64(sha1("user:password")), so no password is stored in ZooKeeper.
 * Four kinds of identity:
 *   O  the orchestrator ("orchestrator:..." by default)
 *   W  the workers' shared identity, handed to every worker by the orchestrator
 *   N  one worker's own, "worker.<id>:" + hex(HMAC-SHA1(O's password, <id>)):
 *      the orchestrator derives it for each worker it starts (zk_node_auth)
 *   R  readers: the console; for a worker, the orchestrator as well
 *
 *   znode                     O     W     N(own)  R     made by
 *   ZK_ROOT                   all   r     -       r     the orchestrator, at start
 *   ZK_ROOT/workers           all   rc    -       r     the orchestrator, at start
 *   ZK_ROOT/workers/<id>      r     r     rw      r     worker <id> (ephemeral)
 *   ZK_ROOT/master            all   r     -       r     the orchestrator
 *   ZK_ROOT/log_epoch         all   rw    -       r     the orchestrator, at start
 *   ZK_ROOT/checkpoint        all   rw    -       r     the orchestrator, at start
 *   ZK_ROOT/locks             all   rcd   -       r     the orchestrator, at start
 *   ZK_ROOT/locks/<name>      r     rw    -       r     a worker (ephemeral)
 *   anything else below       all   r     -       r
 *   above ZK_ROOT             anyone: all (created open, as without access control)
 * (r read, w write data, c create children, d delete children, all: also
 * change the ACL; a worker knows O only as one of its readers, so the nodes
 * it makes give O "r" — O deletes them through its rights on the parent).
 * ZooKeeper checks create and delete on the parent, so the
 * workers, which may create their znodes, may create one under any name in
 * ZK_ROOT/workers — only not write or delete one that exists, nor write
 * ZK_ROOT/master (docs/security.md says what that leaves open).
 *
 * A process names its role and identities once (zk_access_init), before its
 * first zk_open; zk.c then authenticates every session and gives every node
 * it creates the ACL of the table above. Without an identity (ZK_AUTH
 * unset), nodes are created open and sessions are anonymous, as before.
 */
#ifndef RS_ZK_ACL_H
#define RS_ZK_ACL_H

#include <stddef.h>
#include <zookeeper/zookeeper.h>

enum zk_role { ZK_ROLE_ORCHESTRATOR, ZK_ROLE_WORKER, ZK_ROLE_READER };

struct zk_access {
    enum zk_role role;
    const char *root;       /* ZK_ROOT */
    const char *auth;       /* "user:password" of this process (ZK_AUTH); NULL or "": no access control */
    const char *node_auth;  /* a worker's own identity (ZK_NODE_AUTH); NULL: its znode is W's to write */
    const char *previous;   /* the orchestrator's former identity, also authenticated (rotation) */
    const char *worker_id;  /* the orchestrator: W's digest id */
    const char *readers;    /* digest ids, separated by commas, that may read what this process makes */
};

#define ZK_AUTH_MAX 256     /* an identity "user:password", with its NUL */
#define ZK_ID_MAX 160       /* a digest id "user:base64", with its NUL */

/* Sets this process's access (once, before the first zk_open): copies what
 * it needs. 0, or -1 with the reason logged (a malformed identity). */
int zk_access_init(const struct zk_access *a);

/* Whether access control is on (an identity was given). */
int zk_access_on(void);

/* The digest id of identity "user:password" into out (ZK_ID_MAX). 0 or -1. */
int zk_digest_id(const char *auth, char *out, size_t n);

/* Worker id's own identity, derived from the orchestrator's "user:password":
 * "worker.<id>:<40 hex digits>" into out (ZK_AUTH_MAX). 0 or -1. */
int zk_node_auth(const char *orchestrator_auth, const char *worker_id, char *out, size_t n);

struct zk;

/* The orchestrator's part, at start: makes ZK_ROOT and the persistent nodes
 * the workers use but may not make (workers, log_epoch, checkpoint, locks),
 * empty; with access control on, gives each of them, and master, the ACL of
 * the table, replacing one set before (by a version without access control,
 * or under a former identity given as previous). 0, or -1 logged. */
int zk_access_prepare(struct zk *z);

/* For zk.c: the identities a new session authenticates as, up to max; the count. */
int zk_access_auths(const char **out, int max);

/* For zk.c: the ACL of a new node at path. */
const struct ACL_vector *zk_acl_for(const char *path);

#endif
