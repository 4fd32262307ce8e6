/*
 * zk_acl.c — see zk_acl.h. How it works:
 *
 * zk_access_init keeps copies of the identities, computes the digest ids the
 * table needs (O, W and N from "user:password", the readers as given), and
 * builds one ACL vector per kind of node, in static storage that never
 * changes after start-up: zk.c hands them to zoo_create from any thread
 * without a lock. An identity missing from a vector (a worker does not know
 * O as such, only as a reader) is simply left out; a vector never ends up
 * empty, because the process's own identity is in the ones it may create.
 *
 * A path is classified by its place relative to ZK_ROOT; a path outside the
 * root (one of its ancestors, or another application's) keeps ZooKeeper's
 * open ACL, as every node got before access control existed.
 */
#include "zk_acl.h"

#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "log.h"
#include "zk.h"

#define READERS_MAX 8

enum kind { K_OPEN, K_OTHER, K_WORKERS, K_WORKER, K_SHARED, K_LOCKS, K_LOCK, K_N };

static struct {
    int on;
    enum zk_role role;
    char root[256];
    size_t root_len;
    char auth[ZK_AUTH_MAX], node_auth[ZK_AUTH_MAX], previous[ZK_AUTH_MAX];
    char o[ZK_ID_MAX], w[ZK_ID_MAX], n[ZK_ID_MAX]; /* digest ids; "" when unknown */
    char readers[READERS_MAX][ZK_ID_MAX];
    int nreaders;
    struct ACL entries[K_N][3 + READERS_MAX];
    struct ACL_vector acl[K_N];
} A;

static char DIGEST[] = "digest";

/* "user:password" with a user of at least one character. */
static int well_formed(const char *auth)
{
    const char *colon = strchr(auth, ':');
    return colon && colon > auth && strlen(auth) < ZK_AUTH_MAX;
}

int zk_digest_id(const char *auth, char *out, size_t n)
{
    if (!well_formed(auth)) return -1;
    uint8_t d[SHA1_SIZE];
    char b64[32];
    sha1(auth, strlen(auth), d);
    base64_encode(d, SHA1_SIZE, b64, sizeof b64);
    size_t user = (size_t)(strchr(auth, ':') - auth);
    return snprintf(out, n, "%.*s:%s", (int)user, auth, b64) < (int)n ? 0 : -1;
}

int zk_node_auth(const char *orchestrator_auth, const char *worker_id, char *out, size_t n)
{
    if (!well_formed(orchestrator_auth) || !*worker_id || strchr(worker_id, ':')) return -1;
    const char *key = strchr(orchestrator_auth, ':') + 1;
    uint8_t d[SHA1_SIZE];
    char hex[2 * SHA1_SIZE + 1];
    hmac_sha1(key, strlen(key), worker_id, strlen(worker_id), d);
    hex_encode(d, SHA1_SIZE, hex, sizeof hex);
    return snprintf(out, n, "worker.%s:%s", worker_id, hex) < (int)n ? 0 : -1;
}

static void add(enum kind k, const char *id, int perms)
{
    struct ACL_vector *v = &A.acl[k];
    if (!*id) return;
    for (int i = 0; i < v->count; i++)
        if (strcmp(v->data[i].id.id, id) == 0) { /* the same identity twice: the union */
            v->data[i].perms |= perms;
            return;
        }
    v->data[v->count++] = (struct ACL){ .perms = perms, .id = { .scheme = DIGEST, .id = (char *)id } };
}

static void build(void)
{
    const int R = ZOO_PERM_READ, W = ZOO_PERM_WRITE, C = ZOO_PERM_CREATE, D = ZOO_PERM_DELETE;
    for (int k = 0; k < K_N; k++) A.acl[k] = (struct ACL_vector){ 0, A.entries[k] };
    add(K_OTHER, A.o, ZOO_PERM_ALL);
    add(K_OTHER, A.w, R);
    add(K_WORKERS, A.o, ZOO_PERM_ALL);
    add(K_WORKERS, A.w, R | C);
    add(K_WORKER, *A.n ? A.n : A.w, R | W);
    add(K_WORKER, A.w, R);
    add(K_WORKER, A.o, R);
    add(K_SHARED, A.o, ZOO_PERM_ALL);
    add(K_SHARED, A.w, R | W);
    add(K_LOCKS, A.o, ZOO_PERM_ALL);
    add(K_LOCKS, A.w, R | C | D);
    add(K_LOCK, A.w, R | W);
    add(K_LOCK, A.o, R);
    for (int k = K_OTHER; k < K_N; k++) {
        for (int i = 0; i < A.nreaders; i++) add(k, A.readers[i], R);
        if (A.acl[k].count == 0) add(k, A.role == ZK_ROLE_ORCHESTRATOR ? A.o : A.w, ZOO_PERM_ALL);
    }
}

int zk_access_init(const struct zk_access *a)
{
    memset(&A, 0, sizeof A);
    A.role = a->role;
    snprintf(A.root, sizeof A.root, "%s", a->root ? a->root : "");
    A.root_len = strlen(A.root);
    while (A.root_len > 0 && A.root[A.root_len - 1] == '/') A.root[--A.root_len] = '\0';
    if (!a->auth || !*a->auth) return 0;
    const char *bad = NULL;
    if (!well_formed(a->auth)) bad = "ZK_AUTH";
    else if (a->node_auth && *a->node_auth && !well_formed(a->node_auth)) bad = "ZK_NODE_AUTH";
    else if (a->previous && *a->previous && !well_formed(a->previous)) bad = "ZK_AUTH_PREVIOUS";
    if (bad) {
        log_error("malformed ZooKeeper identity name=%s (want user:password)", bad);
        return -1;
    }
    snprintf(A.auth, sizeof A.auth, "%s", a->auth);
    snprintf(A.node_auth, sizeof A.node_auth, "%s", a->node_auth ? a->node_auth : "");
    snprintf(A.previous, sizeof A.previous, "%s", a->previous ? a->previous : "");
    char self[ZK_ID_MAX];
    zk_digest_id(A.auth, self, sizeof self);
    if (a->role == ZK_ROLE_ORCHESTRATOR) {
        memcpy(A.o, self, sizeof A.o);
        if (!a->worker_id || !strchr(a->worker_id, ':')) {
            log_error("the orchestrator's ZooKeeper access needs the workers' identity (WORKER_ZK_AUTH)");
            return -1;
        }
        snprintf(A.w, sizeof A.w, "%s", a->worker_id);
    } else if (a->role == ZK_ROLE_WORKER) {
        memcpy(A.w, self, sizeof A.w);
        if (*A.node_auth) zk_digest_id(A.node_auth, A.n, sizeof A.n);
    }
    char list[READERS_MAX * ZK_ID_MAX];
    snprintf(list, sizeof list, "%s", a->readers ? a->readers : "");
    for (char *save = NULL, *r = strtok_r(list, ", ", &save); r; r = strtok_r(NULL, ", ", &save)) {
        if (!strchr(r, ':') || strlen(r) >= ZK_ID_MAX || A.nreaders == READERS_MAX) {
            log_error("bad ZooKeeper reader id=\"%.40s\" (want user:base64, at most %d)", r, READERS_MAX);
            return -1;
        }
        snprintf(A.readers[A.nreaders++], ZK_ID_MAX, "%s", r);
    }
    build();
    A.on = 1;
    return 0;
}

int zk_access_on(void) { return A.on; }

int zk_access_auths(const char **out, int max)
{
    int n = 0;
    const char *all[] = { A.auth, A.node_auth, A.previous };
    for (int i = 0; A.on && i < 3 && n < max; i++)
        if (*all[i]) out[n++] = all[i];
    return n;
}

static enum kind kind_of(const char *path)
{
    if (!A.on || strncmp(path, A.root, A.root_len) != 0) return K_OPEN;
    const char *rel = path + A.root_len; /* "" (the root), "/...", or another name that merely starts alike */
    if (*rel && *rel != '/') return K_OPEN;
    if (strcmp(rel, "/workers") == 0) return K_WORKERS;
    if (strncmp(rel, "/workers/", 9) == 0 && rel[9] && !strchr(rel + 9, '/')) return K_WORKER;
    if (strcmp(rel, "/log_epoch") == 0 || strcmp(rel, "/checkpoint") == 0) return K_SHARED;
    if (strcmp(rel, "/locks") == 0) return K_LOCKS;
    if (strncmp(rel, "/locks/", 7) == 0 && rel[7] && !strchr(rel + 7, '/')) return K_LOCK;
    return K_OTHER;
}

const struct ACL_vector *zk_acl_for(const char *path)
{
    enum kind k = kind_of(path);
    return k == K_OPEN ? &ZOO_OPEN_ACL_UNSAFE : &A.acl[k];
}

int zk_access_prepare(struct zk *z)
{
    static const char *const persistent[] = { "", "/workers", "/log_epoch", "/checkpoint", "/locks", "/master" };
    char path[300];
    for (size_t i = 0; i < sizeof persistent / sizeof *persistent; i++) {
        snprintf(path, sizeof path, "%s%s", A.root_len || *persistent[i] ? A.root : "/", persistent[i]);
        /* master is the orchestrator's to make when it first names one. */
        if (strcmp(persistent[i], "/master") != 0 && zk_ensure_path(z, path)) return -1;
        if (!A.on || strcmp(path, "/") == 0) continue; /* ZooKeeper's own root is not ours to close */
        int rc = zk_set_acl(z, path);
        if (rc == -3)
            log_error("cannot set the ACL of a znode path=%s: it was made under another identity (ZK_AUTH "
                      "changed while ZooKeeper kept its data? give the former one in ZK_AUTH_PREVIOUS: "
                      "docs/security.md)", path);
        if (rc == -1 || rc == -3) return -1;
    }
    return 0;
}
