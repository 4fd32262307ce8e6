/*
 * test_runtime_swarm.c — the swarm runtime (services/orchestrator/runtime/runtime_swarm.c,
 * swarm_api.c, swarm_json.c): first the pure parts (the service spec, the filters, the
 * parsing of tasks, nodes and info), then the whole runtime against a fake Engine API.
 *
 * The fake engine is a thread serving HTTP/1.1 on a Unix socket of its own, one request per
 * connection: /_ping, /info, /nodes, POST /services/create (the new service gets one task
 * on the node its node.id constraint names, else on node A, in the state the test chose),
 * GET /services, GET /tasks?filters={"service":[...]} (404 for a service that is gone, as
 * the engine does), DELETE /services/{id or name} and POST /containers/{id}/kill. A test
 * changes a task's state under the fake's lock, as a node would, and waits for the
 * runtime's notice with a deadline.
 *
 * Checked: the spec (labels, one replica, restart none, read-only, capabilities dropped,
 * tmpfs mounts, limits with pids, constraints and the node pin, spread, network);
 * workers go to the nodes running the fewest (A then B, not the down node C); a task
 * that fails gives one notice with its exit code and its service is removed; a kill
 * removes the service (a SIGKILL on the manager's node goes to the container first) and
 * gives one notice; a task whose node went down (desired shutdown, still "running")
 * gives a notice; a task refused at start fails the spawn and leaves no service; a new
 * runtime adopts running services and removes finished ones; an old API or an engine
 * that is no manager is refused.
 */
#include "test.h"

#include "clock.h"
#include "runtime.h"
#include "swarm_json.h"
#include "exit_notices.h"

#include <cJSON.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* ---- the pure parts ---------------------------------------------------------------------- */

static struct swarm_settings settings(const char *constraints)
{
    struct swarm_settings s = { .socket = "/nonexistent", .image = "rideshare-app", .network = "rs_data",
                                .stack = "rs", .constraints = constraints };
    s.limits.memory_mb = 100;
    s.limits.pids = 50;
    return s;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "(none)";
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

TEST(service_body)
{
    struct swarm_settings s = settings(" node.labels.db==yes , node.role!=manager,");
    struct runtime_spec spec = { .id = "w3", .env = { "WORKER_ID=w3", "DATA_DIR=/data", "A=b", NULL } };
    char *b = swarm_service_body(&s, &spec, "nodeB");
    CHECK(b != NULL);
    cJSON *o = cJSON_Parse(b);
    free(b);
    CHECK(o != NULL);
    CHECK_STR(jstr(o, "Name"), "rs-worker-w3");
    const cJSON *l = cJSON_GetObjectItem(o, "Labels");
    CHECK_STR(jstr(l, "rideshare.stack"), "rs");
    CHECK_STR(jstr(l, "rideshare.role"), "worker");
    CHECK_STR(jstr(l, "rideshare.worker-id"), "w3");
    CHECK_INT((int)jnum(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "Mode"), "Replicated"), "Replicas"), 1);
    const cJSON *tt = cJSON_GetObjectItem(o, "TaskTemplate");
    CHECK_STR(jstr(cJSON_GetObjectItem(tt, "RestartPolicy"), "Condition"), "none");
    const cJSON *c = cJSON_GetObjectItem(tt, "ContainerSpec");
    CHECK_STR(jstr(c, "Image"), "rideshare-app");
    CHECK_STR(jstr(c, "User"), DOCKER_WORKER_USER);
    CHECK_STR(jstr(cJSON_GetObjectItem(c, "Labels"), "rideshare.worker-id"), "w3");
    const cJSON *env = cJSON_GetObjectItem(c, "Env");
    CHECK_INT(cJSON_GetArraySize(env), 3);
    CHECK_STR(cJSON_GetArrayItem(env, 1)->valuestring, "A=b");
    CHECK_STR(cJSON_GetArrayItem(env, 2)->valuestring, "DATA_DIR=" SWARM_DATA_DIR); /* where its tmpfs is */
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(c, "ReadOnly")));
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "CapabilityDrop"), 0)->valuestring, "ALL");
    cJSON *dns = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "DNSConfig"), "Options");
    CHECK_INT(cJSON_GetArraySize(dns), 2);
    CHECK_STR(cJSON_GetArrayItem(dns, 0)->valuestring, "timeout:1");
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "Mounts"), 0);
    CHECK_STR(jstr(m, "Type"), "tmpfs");
    CHECK_STR(jstr(m, "Target"), SWARM_DATA_DIR);
    CHECK(jnum(cJSON_GetObjectItem(m, "TmpfsOptions"), "SizeBytes") == DOCKER_DEFAULT_DATA_MB * 1048576.0);
    CHECK_INT((int)jnum(cJSON_GetObjectItem(m, "TmpfsOptions"), "Mode"), 0777); /* no sticky bit: dropped */
    CHECK_STR(jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "Mounts"), 1), "Target"), "/tmp");
    const cJSON *lim = cJSON_GetObjectItem(cJSON_GetObjectItem(tt, "Resources"), "Limits");
    CHECK(jnum(lim, "MemoryBytes") == 100 * 1048576.0);
    CHECK(jnum(lim, "NanoCPUs") == DOCKER_DEFAULT_CPUS_MILLI * 1e6);
    CHECK_INT((int)jnum(lim, "Pids"), 50);
    const cJSON *p = cJSON_GetObjectItem(tt, "Placement");
    const cJSON *cons = cJSON_GetObjectItem(p, "Constraints");
    CHECK_INT(cJSON_GetArraySize(cons), 3);
    CHECK_STR(cJSON_GetArrayItem(cons, 0)->valuestring, "node.labels.db==yes");
    CHECK_STR(cJSON_GetArrayItem(cons, 1)->valuestring, "node.role!=manager");
    CHECK_STR(cJSON_GetArrayItem(cons, 2)->valuestring, "node.id==nodeB");
    const cJSON *pref = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "Preferences"), 0);
    CHECK_STR(jstr(cJSON_GetObjectItem(pref, "Spread"), "SpreadDescriptor"), "node.id");
    CHECK_STR(jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(tt, "Networks"), 0), "Target"), "rs_data");
    cJSON_Delete(o);
    s = settings(NULL);
    b = swarm_service_body(&s, &spec, NULL);
    o = cJSON_Parse(b);
    free(b);
    cons = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "TaskTemplate"), "Placement"),
                               "Constraints");
    CHECK_INT(cJSON_GetArraySize(cons), 0);
    cJSON_Delete(o);
}

TEST(filters)
{
    char *f = swarm_service_filters("rs");
    CHECK_STR(f, "{\"label\":[\"rideshare.stack=rs\",\"rideshare.role=worker\"]}");
    free(f);
    const char *sids[] = { "a", "b" };
    f = swarm_task_filters(sids, 2);
    CHECK_STR(f, "{\"service\":[\"a\",\"b\"]}");
    free(f);
    CHECK(swarm_task_filters(sids, 0) == NULL);
}

TEST(parse_tasks)
{
    const char *j =
        "[{\"ServiceID\":\"s1\",\"NodeID\":\"n1\",\"DesiredState\":\"running\",\"Version\":{\"Index\":5},"
        "\"Status\":{\"State\":\"running\",\"ContainerStatus\":{\"ContainerID\":\"c1\",\"PID\":77,\"ExitCode\":0}}},"
        "{\"ServiceID\":\"s2\",\"DesiredState\":\"shutdown\",\"Version\":{\"Index\":6},"
        "\"Status\":{\"State\":\"running\",\"ContainerStatus\":{\"ContainerID\":\"c2\",\"PID\":78,\"ExitCode\":0}}},"
        "{\"ServiceID\":\"s3\",\"DesiredState\":\"running\",\"Version\":{\"Index\":7},"
        "\"Status\":{\"State\":\"failed\",\"Err\":\"task: non-zero exit (3)\",\"ContainerStatus\":{\"ExitCode\":3}}},"
        "{\"ServiceID\":\"s4\",\"DesiredState\":\"running\",\"Status\":{\"State\":\"preparing\"}},"
        "{\"NodeID\":\"no service\"},"
        "{\"ServiceID\":\"s1\",\"DesiredState\":\"shutdown\",\"Version\":{\"Index\":2},"
        "\"Status\":{\"State\":\"complete\",\"ContainerStatus\":{\"ExitCode\":0}}}]";
    struct swarm_task t[8];
    CHECK_INT(swarm_parse_tasks(j, t, 8), 5);
    CHECK_INT(t[0].state, SWARM_RUNNING);
    CHECK_INT(t[0].pid, 77);
    CHECK_STR(t[0].cid, "c1");
    CHECK_STR(t[0].node, "n1");
    CHECK_INT(t[0].exit_code, -1);
    CHECK_INT(t[1].state, SWARM_DONE); /* its node is down: meant to stop, still "running" */
    CHECK_INT(t[1].exit_code, -1);
    CHECK_INT(t[2].state, SWARM_DONE);
    CHECK_INT(t[2].exit_code, 3);
    CHECK_STR(t[2].err, "task: non-zero exit (3)");
    CHECK_INT(t[3].state, SWARM_STARTING);
    CHECK_INT(t[4].exit_code, 0);
    CHECK_INT(swarm_task_of(t, 5, "s1"), 0); /* the live one, though the other is... older here */
    CHECK_INT(swarm_task_of(t, 5, "s9"), -1);
    t[0].state = SWARM_DONE;
    t[4].index = 9;
    CHECK_INT(swarm_task_of(t, 5, "s1"), 4); /* both done: the newest */
    CHECK_INT(swarm_parse_tasks("{}", t, 8), -1);
    CHECK_INT(swarm_parse_tasks(NULL, t, 8), -1);
}

TEST(parse_misc)
{
    char node[SWARM_SID_MAX];
    int mgr = -1;
    CHECK_INT(swarm_parse_info("{\"Swarm\":{\"NodeID\":\"n1\",\"LocalNodeState\":\"active\","
                               "\"ControlAvailable\":true}}", node, sizeof node, &mgr), 0);
    CHECK_STR(node, "n1");
    CHECK_INT(mgr, 1);
    CHECK_INT(swarm_parse_info("{\"Swarm\":{\"NodeID\":\"\",\"LocalNodeState\":\"inactive\"}}", node,
                               sizeof node, &mgr), 0);
    CHECK_INT(mgr, 0);
    CHECK_INT(swarm_parse_info("[]", node, sizeof node, &mgr), -1);
    char ids[4][SWARM_SID_MAX];
    CHECK_INT(swarm_parse_nodes("[{\"ID\":\"a\",\"Status\":{\"State\":\"ready\"},\"Spec\":{\"Availability\":\"active\"}},"
                                "{\"ID\":\"b\",\"Status\":{\"State\":\"down\"},\"Spec\":{\"Availability\":\"active\"}},"
                                "{\"ID\":\"c\",\"Status\":{\"State\":\"ready\"},\"Spec\":{\"Availability\":\"drain\"}},"
                                "{\"ID\":\"d\",\"Status\":{\"State\":\"ready\"},\"Spec\":{\"Availability\":\"active\"}}]",
                                ids, 4), 2);
    CHECK_STR(ids[0], "a");
    CHECK_STR(ids[1], "d");
    struct swarm_service sv[4];
    CHECK_INT(swarm_parse_services("[{\"ID\":\"s1\",\"Spec\":{\"Labels\":{\"rideshare.worker-id\":\"w1\"}}},"
                                   "{\"ID\":\"s2\",\"Spec\":{\"Labels\":{\"rideshare.worker-id\":\"../x\"}}},"
                                   "{\"ID\":\"s3\",\"Spec\":{}}]", sv, 4), 1);
    CHECK_STR(sv[0].sid, "s1");
    CHECK_STR(sv[0].id, "w1");
    char sid[SWARM_SID_MAX];
    CHECK_INT(swarm_parse_created("{\"ID\":\"abc\",\"Warnings\":null}", sid, sizeof sid), 0);
    CHECK_STR(sid, "abc");
    CHECK_INT(swarm_parse_created("{\"message\":\"x\"}", sid, sizeof sid), -1);
    CHECK(swarm_version_ok("1.41") && swarm_version_ok("1.43") && !swarm_version_ok("1.40") &&
          !swarm_version_ok("x"));
}

/* ---- the fake engine --------------------------------------------------------------------- */

struct fsvc {
    char sid[16], name[128], wid[RUNTIME_ID_MAX], node[16], cid[16];
    char state[16], desired[16];
    int pid, exit_code, removed;
};

static struct {
    pthread_mutex_t mu;
    pthread_t thread;
    int fd, stop;
    char path[108];
    char version[8];
    int manager;
    char start_state[16]; /* what a new task becomes */
    struct fsvc s[32];
    int n;
    int kills, deletes;
} fk = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void fk_svc_json(cJSON *a, const struct fsvc *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ID", s->sid);
    cJSON *spec = cJSON_AddObjectToObject(o, "Spec");
    cJSON_AddStringToObject(spec, "Name", s->name);
    cJSON *l = cJSON_AddObjectToObject(spec, "Labels");
    cJSON_AddStringToObject(l, "rideshare.worker-id", s->wid);
    cJSON_AddItemToArray(a, o);
}

static void fk_task_json(cJSON *a, const struct fsvc *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ServiceID", s->sid);
    cJSON_AddStringToObject(o, "NodeID", s->node);
    cJSON_AddStringToObject(o, "DesiredState", s->desired);
    cJSON *st = cJSON_AddObjectToObject(o, "Status");
    cJSON_AddStringToObject(st, "State", s->state);
    cJSON *cs = cJSON_AddObjectToObject(st, "ContainerStatus");
    cJSON_AddStringToObject(cs, "ContainerID", s->cid);
    cJSON_AddNumberToObject(cs, "PID", strcmp(s->state, "running") == 0 ? s->pid : 0);
    cJSON_AddNumberToObject(cs, "ExitCode", s->exit_code);
    cJSON_AddItemToArray(a, o);
}

static struct fsvc *fk_find(const char *ref)
{
    for (int i = 0; i < fk.n; i++)
        if (!fk.s[i].removed && (strcmp(fk.s[i].sid, ref) == 0 || strcmp(fk.s[i].name, ref) == 0)) return &fk.s[i];
    return NULL;
}

/* A service the fake holds as if created by someone else (an earlier orchestrator). */
static void fk_add(const char *wid, const char *node, const char *state, const char *desired, int exit_code)
{
    struct fsvc *s = &fk.s[fk.n];
    memset(s, 0, sizeof *s);
    snprintf(s->sid, sizeof s->sid, "svc%d", fk.n);
    snprintf(s->name, sizeof s->name, "rs-worker-%s", wid);
    snprintf(s->wid, sizeof s->wid, "%s", wid);
    snprintf(s->node, sizeof s->node, "%s", node);
    snprintf(s->cid, sizeof s->cid, "ctr%d", fk.n);
    snprintf(s->state, sizeof s->state, "%s", state);
    snprintf(s->desired, sizeof s->desired, "%s", desired);
    s->pid = 1000 + fk.n;
    s->exit_code = exit_code;
    fk.n++;
}

static void url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char h[3] = { s[1], s[2], 0 };
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Answers one request; the status and the body (malloc'd) into *body. */
static int fk_handle(const char *method, char *path, const char *body, char **out)
{
    char *q = strchr(path, '?');
    if (q) *q++ = '\0';
    *out = NULL;
    if (strcmp(path, "/_ping") == 0) { *out = strdup("OK"); return 200; }
    if (strncmp(path, "/v1.41/", 7) != 0 && strncmp(path, "/v1.40/", 7) != 0) return 400;
    const char *p = path + 6;
    cJSON *a = NULL;
    int st = 200;
    if (strcmp(p, "/info") == 0) {
        a = cJSON_CreateObject();
        cJSON *sw = cJSON_AddObjectToObject(a, "Swarm");
        cJSON_AddStringToObject(sw, "NodeID", "nodeA");
        cJSON_AddStringToObject(sw, "LocalNodeState", fk.manager ? "active" : "inactive");
        cJSON_AddBoolToObject(sw, "ControlAvailable", fk.manager);
    } else if (strcmp(p, "/nodes") == 0) {
        const char *j = "[{\"ID\":\"nodeA\",\"Status\":{\"State\":\"ready\"},\"Spec\":{\"Availability\":\"active\"}},"
                        "{\"ID\":\"nodeC\",\"Status\":{\"State\":\"down\"},\"Spec\":{\"Availability\":\"active\"}},"
                        "{\"ID\":\"nodeB\",\"Status\":{\"State\":\"ready\"},\"Spec\":{\"Availability\":\"active\"}}]";
        a = cJSON_Parse(j);
    } else if (strcmp(method, "POST") == 0 && strcmp(p, "/services/create") == 0) {
        cJSON *b = cJSON_Parse(body);
        const char *name = jstr(b, "Name");
        if (fk_find(name)) {
            st = 409;
        } else {
            const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "TaskTemplate"),
                                                                     "Placement"), "Constraints");
            const char *node = "nodeA";
            const cJSON *e;
            cJSON_ArrayForEach(e, c)
                if (strncmp(e->valuestring, "node.id==", 9) == 0) node = e->valuestring + 9;
            fk_add(jstr(cJSON_GetObjectItem(b, "Labels"), "rideshare.worker-id"), node, fk.start_state,
                   "running", 0);
            a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "ID", fk.s[fk.n - 1].sid);
            st = 201;
        }
        cJSON_Delete(b);
    } else if (strcmp(method, "GET") == 0 && strcmp(p, "/services") == 0) {
        a = cJSON_CreateArray();
        for (int i = 0; i < fk.n; i++)
            if (!fk.s[i].removed) fk_svc_json(a, &fk.s[i]);
    } else if (strcmp(p, "/tasks") == 0 && q && strncmp(q, "filters=", 8) == 0) {
        url_decode(q + 8);
        cJSON *f = cJSON_Parse(q + 8);
        a = cJSON_CreateArray();
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(f, "service")) {
            struct fsvc *s = fk_find(e->valuestring);
            if (!s) st = 404;
            else fk_task_json(a, s);
        }
        cJSON_Delete(f);
    } else if (strcmp(method, "DELETE") == 0 && strncmp(p, "/services/", 10) == 0) {
        struct fsvc *s = fk_find(p + 10);
        fk.deletes++;
        if (s) s->removed = 1;
        else st = 404;
    } else if (strcmp(method, "POST") == 0 && strncmp(p, "/containers/", 12) == 0 && strstr(p, "/kill")) {
        fk.kills++;
        st = 204;
    } else {
        st = 404;
    }
    if (st == 404 && !a) *out = strdup("{\"message\":\"not found\"}");
    else if (st == 404) { cJSON_Delete(a); a = NULL; *out = strdup("{\"message\":\"service not found\"}"); }
    if (a) *out = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return st;
}

static void fk_serve(int c)
{
    char buf[65536];
    size_t len = 0;
    char *hdr_end = NULL;
    while (!hdr_end && len < sizeof buf - 1) {
        struct pollfd pf = { c, POLLIN, 0 };
        if (poll(&pf, 1, 2000) <= 0) return;
        ssize_t k = read(c, buf + len, sizeof buf - 1 - len);
        if (k <= 0) return;
        len += (size_t)k;
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    if (!hdr_end) return;
    const char *cl = strcasestr(buf, "content-length:");
    size_t want = cl && cl < hdr_end ? (size_t)atol(cl + 15) : 0;
    size_t have = len - (size_t)(hdr_end + 4 - buf);
    while (have < want && len < sizeof buf - 1) {
        ssize_t k = read(c, buf + len, sizeof buf - 1 - len);
        if (k <= 0) return;
        len += (size_t)k;
        have += (size_t)k;
        buf[len] = '\0';
    }
    char method[8], path[4096];
    if (sscanf(buf, "%7s %4095s", method, path) != 2) return;
    char *out;
    pthread_mutex_lock(&fk.mu);
    int st = fk_handle(method, path, hdr_end + 4, &out);
    char head[256];
    size_t blen = out ? strlen(out) : 0;
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nApi-Version: %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n", st, fk.version, blen);
    pthread_mutex_unlock(&fk.mu);
    if (write(c, head, strlen(head)) < 0 || (blen && write(c, out, blen) < 0)) {}
    free(out);
}

static void *fk_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&fk.mu);
        int stop = fk.stop;
        pthread_mutex_unlock(&fk.mu);
        if (stop) return NULL;
        struct pollfd pf = { fk.fd, POLLIN, 0 };
        if (poll(&pf, 1, 50) <= 0) continue;
        int c = accept(fk.fd, NULL, NULL);
        if (c < 0) continue;
        fk_serve(c);
        close(c);
    }
}

static int fk_start(void)
{
    snprintf(fk.path, sizeof fk.path, "/tmp/rs-fake-engine-%d.sock", (int)getpid());
    unlink(fk.path);
    snprintf(fk.version, sizeof fk.version, "1.41");
    fk.manager = 1;
    snprintf(fk.start_state, sizeof fk.start_state, "running");
    fk.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", fk.path);
    if (fk.fd < 0 || bind(fk.fd, (struct sockaddr *)&sa, sizeof sa) || listen(fk.fd, 16)) return -1;
    return pthread_create(&fk.thread, NULL, fk_main, NULL);
}

static void fk_stop(void)
{
    pthread_mutex_lock(&fk.mu);
    fk.stop = 1;
    pthread_mutex_unlock(&fk.mu);
    pthread_join(fk.thread, NULL);
    close(fk.fd);
    unlink(fk.path);
}

/* ---- the runtime against it -------------------------------------------------------------- */

static struct runtime *new_rt(void)
{
    struct swarm_settings s = settings(NULL);
    s.socket = fk.path;
    return runtime_swarm_new(&s, on_exit_cb, NULL);
}

static struct fsvc *svc_of(const char *wid)
{
    for (int i = fk.n - 1; i >= 0; i--)
        if (strcmp(fk.s[i].wid, wid) == 0) return &fk.s[i];
    return NULL;
}

static void set_task(const char *wid, const char *state, const char *desired, int code)
{
    pthread_mutex_lock(&fk.mu);
    struct fsvc *s = svc_of(wid);
    snprintf(s->state, sizeof s->state, "%s", state);
    snprintf(s->desired, sizeof s->desired, "%s", desired);
    s->exit_code = code;
    pthread_mutex_unlock(&fk.mu);
}

static int removed(const char *wid)
{
    pthread_mutex_lock(&fk.mu);
    struct fsvc *s = svc_of(wid);
    int r = s && s->removed;
    pthread_mutex_unlock(&fk.mu);
    return r;
}

static struct runtime *rt;

TEST(refuses_old_or_not_manager)
{
    pthread_mutex_lock(&fk.mu);
    snprintf(fk.version, sizeof fk.version, "1.40");
    pthread_mutex_unlock(&fk.mu);
    CHECK(new_rt() == NULL);
    pthread_mutex_lock(&fk.mu);
    snprintf(fk.version, sizeof fk.version, "1.41");
    fk.manager = 0;
    pthread_mutex_unlock(&fk.mu);
    CHECK(new_rt() == NULL);
    pthread_mutex_lock(&fk.mu);
    fk.manager = 1;
    pthread_mutex_unlock(&fk.mu);
}

TEST(spawn_spreads_and_lists)
{
    rt = new_rt();
    CHECK(rt != NULL);
    struct runtime_spec a = { .id = "w1", .env = { "WORKER_ID=w1", NULL } };
    struct runtime_spec b = { .id = "w2", .env = { "WORKER_ID=w2", NULL } };
    struct runtime_worker out;
    CHECK_INT(runtime_spawn(rt, &a, &out), 0);
    CHECK_STR(out.id, "w1");
    CHECK(out.pid >= 1000);
    CHECK_INT(runtime_spawn(rt, &b, &out), 0);
    CHECK_INT(runtime_spawn(rt, &a, &out), -1); /* running already */
    pthread_mutex_lock(&fk.mu);
    CHECK_STR(svc_of("w1")->node, "nodeA");
    CHECK_STR(svc_of("w2")->node, "nodeB"); /* the ready node with fewer workers; C is down */
    pthread_mutex_unlock(&fk.mu);
    struct runtime_worker l[8];
    CHECK_INT(runtime_list(rt, l, 8), 2);
    CHECK_INT(nseen, 0);
}

TEST(failed_task_is_reported_once)
{
    set_task("w2", "failed", "running", 3);
    struct seen s;
    CHECK_INT(wait_seen("w2", 3000, &s), 0);
    CHECK(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 3);
    CHECK(removed("w2"));
    struct timespec ts = { 0, 600 * 1000000L };
    nanosleep(&ts, NULL);
    CHECK_INT(count_seen("w2"), 1);
}

TEST(kill_removes_the_service)
{
    pthread_mutex_lock(&fk.mu);
    int kills = fk.kills;
    pthread_mutex_unlock(&fk.mu);
    CHECK_INT(runtime_kill(rt, "w1", SIGKILL), 0);
    CHECK(removed("w1"));
    pthread_mutex_lock(&fk.mu);
    CHECK_INT(fk.kills, kills + 1); /* w1 runs on the manager's node A: its container killed first */
    pthread_mutex_unlock(&fk.mu);
    struct seen s;
    CHECK_INT(wait_seen("w1", 3000, &s), 0);
    CHECK(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGKILL);
    CHECK_INT(runtime_kill(rt, "w1", SIGKILL), -1); /* gone */
}

TEST(node_down_is_an_exit)
{
    struct runtime_spec c = { .id = "w3", .env = { NULL } };
    CHECK_INT(runtime_spawn(rt, &c, NULL), 0);
    set_task("w3", "running", "shutdown", 0);
    struct seen s;
    CHECK_INT(wait_seen("w3", 3000, &s), 0);
    CHECK_INT(s.status, -1);
    CHECK(removed("w3"));
}

TEST(refused_task_fails_the_spawn)
{
    pthread_mutex_lock(&fk.mu);
    snprintf(fk.start_state, sizeof fk.start_state, "rejected");
    pthread_mutex_unlock(&fk.mu);
    struct runtime_spec d = { .id = "w4", .env = { NULL } };
    CHECK_INT(runtime_spawn(rt, &d, NULL), -1);
    CHECK(removed("w4"));
    pthread_mutex_lock(&fk.mu);
    snprintf(fk.start_state, sizeof fk.start_state, "running");
    pthread_mutex_unlock(&fk.mu);
    CHECK_INT(count_seen("w4"), 0);
}

TEST(new_runtime_adopts_and_cleans)
{
    runtime_destroy(rt);
    pthread_mutex_lock(&fk.mu);
    fk_add("w7", "nodeB", "running", "running", 0);
    fk_add("w8", "nodeB", "complete", "shutdown", 0);
    pthread_mutex_unlock(&fk.mu);
    rt = new_rt();
    CHECK(rt != NULL);
    CHECK(removed("w8"));
    struct runtime_worker l[8];
    CHECK_INT(runtime_list(rt, l, 8), 1);
    CHECK_STR(l[0].id, "w7");
    set_task("w7", "failed", "running", 137);
    struct seen s;
    CHECK_INT(wait_seen("w7", 3000, &s), 0);
    CHECK(WIFSIGNALED(s.status) && WTERMSIG(s.status) == 9);
    runtime_destroy(rt);
    rt = NULL;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(service_body);
    RUN(filters);
    RUN(parse_tasks);
    RUN(parse_misc);
    if (fk_start() != 0) {
        printf("not ok %s: fake engine (cannot listen)\n", TEST_SUITE_NAME);
        return 1;
    }
    RUN(refuses_old_or_not_manager);
    RUN(spawn_spreads_and_lists);
    if (rt) {
        RUN(failed_task_is_reported_once);
        RUN(kill_removes_the_service);
        RUN(node_down_is_an_exit);
        RUN(refused_task_fails_the_spawn);
        RUN(new_runtime_adopts_and_cleans);
    }
    if (rt) runtime_destroy(rt);
    fk_stop();
    return test_done();
}
