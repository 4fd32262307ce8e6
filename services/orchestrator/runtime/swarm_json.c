/*
 * swarm_json.c — see swarm_json.h: the JSON the swarm runtime sends to the
 * Engine API and reads back, with no I/O.
 *
 * A worker's service spec mirrors docker_create_body (docker_json.c) field
 * by field where Swarm has one: ContainerSpec.User, ReadOnly, CapabilityDrop
 * (API 1.41), tmpfs mounts for /data and /tmp, Resources.Limits with
 * MemoryBytes, NanoCPUs and Pids (API 1.41). A Swarm tmpfs mount takes a
 * size and a mode but no owner before API 1.46; of the mode only the
 * permission bits (a sticky bit makes the engine drop the mode), and over a
 * directory of the image the directory's own owner and mode win (the
 * image's /data is 0755, and the tmpfs is root's). So the database's tmpfs
 * is a directory the image does not have, SWARM_DATA_DIR, mode 0777 (the
 * container's only user is the worker's), and the worker's DATA_DIR is
 * made to name it; /tmp keeps the image's 1777. The labels go on the service (so
 * that GET /services finds it by label) and on its container (so that
 * `docker ps` on any node shows what a container is).
 *
 * Task states: Swarm's task moves new → pending → assigned → accepted →
 * preparing → ready → starting → running, then complete, failed, shutdown,
 * rejected, orphaned or remove. A task whose DesiredState is no longer
 * "running" is being stopped (its service removed, or its node declared
 * down, when its observed state may stay "running" for ever): such a task
 * counts as done.
 */
#include "swarm_json.h"

#include "docker_json.h"
#include "runtime_monitor.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_labels(cJSON *o, const char *stack, const char *id)
{
    cJSON *l = cJSON_AddObjectToObject(o, "Labels");
    return l && cJSON_AddStringToObject(l, "rideshare.project", "rideshare") &&
           cJSON_AddStringToObject(l, "rideshare.stack", stack) &&
           cJSON_AddStringToObject(l, "rideshare.role", "worker") &&
           cJSON_AddStringToObject(l, "rideshare.worker-id", id);
}

static int add_tmpfs(cJSON *mounts, const char *target, double bytes, int mode)
{
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(mounts, m)) {
        cJSON_Delete(m);
        return 0;
    }
    cJSON *to = cJSON_AddObjectToObject(m, "TmpfsOptions");
    return cJSON_AddStringToObject(m, "Type", "tmpfs") && cJSON_AddStringToObject(m, "Target", target) &&
           to && cJSON_AddNumberToObject(to, "SizeBytes", bytes) && cJSON_AddNumberToObject(to, "Mode", mode);
}

static int add_container(cJSON *tt, const struct swarm_settings *s, const struct runtime_spec *spec)
{
    const struct docker_limits *l = &s->limits;
    long data = l->data_mb > 0 ? l->data_mb : DOCKER_DEFAULT_DATA_MB;
    cJSON *c = cJSON_AddObjectToObject(tt, "ContainerSpec");
    int ok = c && cJSON_AddStringToObject(c, "Image", s->image) &&
             cJSON_AddStringToObject(c, "User", DOCKER_WORKER_USER) && add_labels(c, s->stack, spec->id);
    cJSON *env = ok ? cJSON_AddArrayToObject(c, "Env") : NULL;
    ok = ok && env;
    for (int i = 0; ok && i < RUNTIME_MAX_ENV && spec->env[i]; i++) {
        if (strncmp(spec->env[i], "DATA_DIR=", 9) == 0) continue; /* its tmpfs is elsewhere here */
        cJSON *v = cJSON_CreateString(spec->env[i]);
        ok = v && cJSON_AddItemToArray(env, v);
    }
    cJSON *dd = ok ? cJSON_CreateString("DATA_DIR=" SWARM_DATA_DIR) : NULL;
    ok = dd && cJSON_AddItemToArray(env, dd);
    const char *drop[] = { "ALL" };
    /* As docker_json.c says: a name the overlay's DNS does not know (a
     * broker's or ZooKeeper server's on a node that is gone) is asked of
     * the host's servers, 10 s with the resolver's defaults, 1 s with these. */
    const char *dns[] = { "timeout:1", "attempts:1" };
    cJSON *dc = ok ? cJSON_AddObjectToObject(c, "DNSConfig") : NULL;
    ok = ok && dc && cJSON_AddItemToObject(dc, "Options", cJSON_CreateStringArray(dns, 2));
    cJSON *mounts = ok ? cJSON_AddArrayToObject(c, "Mounts") : NULL;
    return ok && cJSON_AddTrueToObject(c, "ReadOnly") &&
           cJSON_AddItemToObject(c, "CapabilityDrop", cJSON_CreateStringArray(drop, 1)) &&
           cJSON_AddNumberToObject(c, "StopGracePeriod", SWARM_STOP_GRACE_S * 1e9) && mounts &&
           add_tmpfs(mounts, SWARM_DATA_DIR, (double)data * 1024 * 1024, 0777) &&
           add_tmpfs(mounts, "/tmp", 64.0 * 1024 * 1024, 0777);
}

static int add_resources(cJSON *tt, const struct docker_limits *l)
{
    long mem = l->memory_mb > 0 ? l->memory_mb : DOCKER_DEFAULT_MEMORY_MB;
    long cpus = l->cpus_milli > 0 ? l->cpus_milli : DOCKER_DEFAULT_CPUS_MILLI;
    long pids = l->pids > 0 ? l->pids : DOCKER_DEFAULT_PIDS;
    cJSON *r = cJSON_AddObjectToObject(tt, "Resources");
    cJSON *lim = r ? cJSON_AddObjectToObject(r, "Limits") : NULL;
    return lim && cJSON_AddNumberToObject(lim, "MemoryBytes", (double)mem * 1024 * 1024) &&
           cJSON_AddNumberToObject(lim, "NanoCPUs", (double)cpus * 1000000) &&
           cJSON_AddNumberToObject(lim, "Pids", (double)pids);
}

/* Constraints: the settings' list (comma-separated, blanks trimmed), then
 * node.id==node. */
static int add_placement(cJSON *tt, const char *constraints, const char *node)
{
    cJSON *p = cJSON_AddObjectToObject(tt, "Placement");
    cJSON *ca = p ? cJSON_AddArrayToObject(p, "Constraints") : NULL;
    if (!ca) return 0;
    const char *c = constraints ? constraints : "";
    while (*c) {
        while (*c == ' ' || *c == ',') c++;
        size_t n = strcspn(c, ",");
        size_t k = n;
        while (k && c[k - 1] == ' ') k--;
        if (k) {
            char one[256];
            snprintf(one, sizeof one, "%.*s", (int)(k < sizeof one - 1 ? k : sizeof one - 1), c);
            cJSON *v = cJSON_CreateString(one);
            if (!v || !cJSON_AddItemToArray(ca, v)) return 0;
        }
        c += n;
    }
    if (node && *node) {
        char one[SWARM_SID_MAX + 16];
        snprintf(one, sizeof one, "node.id==%s", node);
        cJSON *v = cJSON_CreateString(one);
        if (!v || !cJSON_AddItemToArray(ca, v)) return 0;
    }
    cJSON *prefs = cJSON_AddArrayToObject(p, "Preferences");
    cJSON *pref = cJSON_CreateObject();
    if (!prefs || !pref || !cJSON_AddItemToArray(prefs, pref)) {
        cJSON_Delete(pref);
        return 0;
    }
    cJSON *spread = cJSON_AddObjectToObject(pref, "Spread");
    return spread && cJSON_AddStringToObject(spread, "SpreadDescriptor", "node.id");
}

char *swarm_service_body(const struct swarm_settings *s, const struct runtime_spec *spec, const char *node)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char name[RUNTIME_ID_MAX + 300];
    docker_container_name(s->stack, spec->id, name, sizeof name);
    int ok = cJSON_AddStringToObject(o, "Name", name) && add_labels(o, s->stack, spec->id);
    cJSON *tt = ok ? cJSON_AddObjectToObject(o, "TaskTemplate") : NULL;
    cJSON *rp = tt ? cJSON_AddObjectToObject(tt, "RestartPolicy") : NULL;
    ok = ok && rp && cJSON_AddStringToObject(rp, "Condition", "none") && add_container(tt, s, spec) &&
         add_resources(tt, &s->limits) && add_placement(tt, s->constraints, node);
    cJSON *nets = ok ? cJSON_AddArrayToObject(tt, "Networks") : NULL;
    cJSON *net = cJSON_CreateObject();
    ok = ok && nets && net && cJSON_AddItemToArray(nets, net);
    if (!ok) cJSON_Delete(net);
    ok = ok && cJSON_AddStringToObject(net, "Target", s->network);
    cJSON *mode = ok ? cJSON_AddObjectToObject(o, "Mode") : NULL;
    cJSON *rep = mode ? cJSON_AddObjectToObject(mode, "Replicated") : NULL;
    /* No virtual IP: nothing connects to a worker. */
    cJSON *ep = rep ? cJSON_AddObjectToObject(o, "EndpointSpec") : NULL;
    ok = ok && rep && cJSON_AddNumberToObject(rep, "Replicas", 1) && ep &&
         cJSON_AddStringToObject(ep, "Mode", "dnsrr");
    char *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return out;
}

/* {"<key>": [values]} printed, or NULL. */
static char *filter_of(const char *key, cJSON *values)
{
    cJSON *o = values ? cJSON_CreateObject() : NULL;
    if (!o || !cJSON_AddItemToObject(o, key, values)) {
        cJSON_Delete(o);
        cJSON_Delete(values);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *swarm_service_filters(const char *stack)
{
    char l1[300];
    snprintf(l1, sizeof l1, "rideshare.stack=%s", stack);
    const char *labels[] = { l1, "rideshare.role=worker" };
    return filter_of("label", cJSON_CreateStringArray(labels, 2));
}

char *swarm_task_filters(const char *const *sids, int n)
{
    return n > 0 ? filter_of("service", cJSON_CreateStringArray(sids, n)) : NULL;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src && strlen(src) < cap ? src : "");
}

int swarm_parse_services(const char *json, struct swarm_service *out, int max)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return -1;
    }
    int n = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, a) {
        if (n >= max) break;
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(s, "Spec");
        const char *sid = str(s, "ID");
        const char *wid = str(cJSON_GetObjectItemCaseSensitive(spec, "Labels"), "rideshare.worker-id");
        if (!sid || !*sid || strlen(sid) >= SWARM_SID_MAX || !rt_valid_id(wid)) continue;
        copy(out[n].sid, sizeof out[n].sid, sid);
        copy(out[n].id, sizeof out[n].id, wid);
        n++;
    }
    cJSON_Delete(a);
    return n;
}

static enum swarm_state state_of(const char *observed, const char *desired)
{
    static const char *const before[] = { "new", "allocated", "pending", "assigned", "accepted",
                                          "preparing", "ready", "starting", NULL };
    if (!observed || !desired || strcmp(desired, "running") != 0) return SWARM_DONE;
    if (strcmp(observed, "running") == 0) return SWARM_RUNNING;
    for (int i = 0; before[i]; i++)
        if (strcmp(observed, before[i]) == 0) return SWARM_STARTING;
    return SWARM_DONE;
}

int swarm_parse_tasks(const char *json, struct swarm_task *out, int max)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return -1;
    }
    int n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, a) {
        if (n >= max) break;
        const char *sid = str(t, "ServiceID");
        if (!sid || !*sid || strlen(sid) >= SWARM_SID_MAX) continue;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "Status");
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(st, "ContainerStatus");
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(cs, "PID");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(cs, "ExitCode");
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "Version"), "Index");
        struct swarm_task *o = &out[n++];
        memset(o, 0, sizeof *o);
        copy(o->sid, sizeof o->sid, sid);
        copy(o->node, sizeof o->node, str(t, "NodeID"));
        copy(o->cid, sizeof o->cid, str(cs, "ContainerID"));
        const char *observed = str(st, "State");
        o->state = state_of(observed, str(t, "DesiredState"));
        o->pid = cJSON_IsNumber(pid) && pid->valuedouble > 0 ? (int)pid->valuedouble : 0;
        /* An exit code means something only once the task itself has
         * stopped, not while a task being shut down still runs. */
        int stopped = state_of(observed, "running") == SWARM_DONE;
        o->exit_code = cJSON_IsNumber(code) && stopped ? (int)code->valuedouble : -1;
        o->index = cJSON_IsNumber(idx) ? idx->valuedouble : 0;
        const char *err = str(st, "Err");
        snprintf(o->err, sizeof o->err, "%s", err ? err : "");
    }
    cJSON_Delete(a);
    return n;
}

int swarm_task_of(const struct swarm_task *t, int n, const char *sid)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(t[i].sid, sid) != 0) continue;
        if (best < 0) { best = i; continue; }
        int live = t[i].state != SWARM_DONE, blive = t[best].state != SWARM_DONE;
        if (live > blive || (live == blive && t[i].index > t[best].index)) best = i;
    }
    return best;
}

int swarm_parse_info(const char *json, char *node, size_t cap, int *manager)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(o, "Swarm");
    const char *state = str(sw, "LocalNodeState");
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(sw, "ControlAvailable");
    int rc = -1;
    if (state) {
        copy(node, cap, str(sw, "NodeID"));
        *manager = strcmp(state, "active") == 0 && cJSON_IsTrue(ctl);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

int swarm_parse_nodes(const char *json, char (*ids)[SWARM_SID_MAX], int max)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return -1;
    }
    int n = 0;
    const cJSON *nd;
    cJSON_ArrayForEach(nd, a) {
        if (n >= max) break;
        const char *id = str(nd, "ID");
        const char *state = str(cJSON_GetObjectItemCaseSensitive(nd, "Status"), "State");
        const char *avail = str(cJSON_GetObjectItemCaseSensitive(nd, "Spec"), "Availability");
        if (!id || !*id || strlen(id) >= SWARM_SID_MAX || !state || strcmp(state, "ready") != 0 || !avail ||
            strcmp(avail, "active") != 0)
            continue;
        copy(ids[n++], SWARM_SID_MAX, id);
    }
    cJSON_Delete(a);
    return n;
}

int swarm_parse_created(const char *json, char *sid, size_t cap)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const char *id = str(o, "ID");
    int rc = id && *id && strlen(id) < cap ? 0 : -1;
    if (rc == 0) copy(sid, cap, id);
    cJSON_Delete(o);
    return rc;
}

int swarm_version_ok(const char *version)
{
    int major, minor;
    char tail;
    if (!version || sscanf(version, "%d.%d%c", &major, &minor, &tail) != 2) return 0;
    return major > 1 || (major == 1 && minor >= SWARM_API_MIN_MINOR);
}
