/*
 * docker_json.c — see docker_json.h: the JSON the docker runtime sends to
 * the Docker Engine API and reads back, with no I/O, so that unit tests can
 * check it without an engine.
 */
#include "docker_json.h"

#include "runtime_monitor.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void docker_container_name(const char *stack, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s-worker-%s", stack, id);
}

/* HostConfig's confinement of a worker (runtime.h, struct docker_limits). */
static int add_confinement(cJSON *hc, const struct docker_limits *l)
{
    static const struct docker_limits none;
    if (!l) l = &none;
    long mem = l->memory_mb > 0 ? l->memory_mb : DOCKER_DEFAULT_MEMORY_MB;
    long cpus = l->cpus_milli > 0 ? l->cpus_milli : DOCKER_DEFAULT_CPUS_MILLI;
    long pids = l->pids > 0 ? l->pids : DOCKER_DEFAULT_PIDS;
    long data = l->data_mb > 0 ? l->data_mb : DOCKER_DEFAULT_DATA_MB;
    char opts[128];
    snprintf(opts, sizeof opts, "rw,nosuid,nodev,noexec,size=%ldm,uid=990,gid=990,mode=0700", data);
    const char *drop[] = { "ALL" };
    const char *secopt[] = { "no-new-privileges:true" };
    cJSON *tmpfs = cJSON_AddObjectToObject(hc, "Tmpfs");
    return cJSON_AddNumberToObject(hc, "Memory", (double)mem * 1024 * 1024) &&
           cJSON_AddNumberToObject(hc, "MemorySwap", (double)mem * 1024 * 1024) && /* no swap */
           cJSON_AddNumberToObject(hc, "NanoCpus", (double)cpus * 1000000) &&
           cJSON_AddNumberToObject(hc, "PidsLimit", (double)pids) &&
           cJSON_AddTrueToObject(hc, "ReadonlyRootfs") &&
           cJSON_AddItemToObject(hc, "CapDrop", cJSON_CreateStringArray(drop, 1)) &&
           cJSON_AddItemToObject(hc, "SecurityOpt", cJSON_CreateStringArray(secopt, 1)) &&
           tmpfs && cJSON_AddStringToObject(tmpfs, "/data", opts) &&
           cJSON_AddStringToObject(tmpfs, "/tmp", "rw,nosuid,nodev,noexec,size=64m,mode=1777");
}

char *docker_create_body(const char *image, const char *network, const char *stack,
                         const struct docker_limits *limits, const struct runtime_spec *spec)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "Image", image) != NULL &&
             cJSON_AddStringToObject(o, "User", DOCKER_WORKER_USER) != NULL;
    cJSON *env = cJSON_AddArrayToObject(o, "Env");
    ok = ok && env;
    for (int i = 0; ok && i < RUNTIME_MAX_ENV && spec->env[i]; i++) {
        cJSON *s = cJSON_CreateString(spec->env[i]);
        ok = s && cJSON_AddItemToArray(env, s);
    }
    cJSON *labels = ok ? cJSON_AddObjectToObject(o, "Labels") : NULL;
    ok = ok && labels && cJSON_AddStringToObject(labels, "rideshare.project", "rideshare") &&
         cJSON_AddStringToObject(labels, "rideshare.stack", stack) &&
         cJSON_AddStringToObject(labels, "rideshare.role", "worker") &&
         cJSON_AddStringToObject(labels, "rideshare.worker-id", spec->id);
    cJSON *hc = ok ? cJSON_AddObjectToObject(o, "HostConfig") : NULL;
    ok = ok && hc && cJSON_AddStringToObject(hc, "NetworkMode", network);
    /* The container stays after exit so that its exit code can be read;
     * the monitor removes it once reported. */
    ok = ok && cJSON_AddFalseToObject(hc, "AutoRemove") && add_confinement(hc, limits);
    /* A worker looks up the brokers' names only, on the stack's internal
     * network, where Docker's DNS answers a name it does not know (a
     * broker's container that was killed) only after trying the host's
     * servers, which an internal network cannot reach: 10 s with the
     * resolver's defaults, 1 s with these. */
    const char *dns[] = { "timeout:1", "attempts:1" };
    ok = ok && cJSON_AddItemToObject(hc, "DnsOptions", cJSON_CreateStringArray(dns, 2));
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *docker_worker_filters(const char *stack, int running_only)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char l1[300];
    snprintf(l1, sizeof l1, "rideshare.stack=%s", stack);
    const char *labels[] = { l1, "rideshare.role=worker" };
    cJSON *la = cJSON_CreateStringArray(labels, 2);
    int ok = la && cJSON_AddItemToObject(o, "label", la);
    if (ok && running_only) {
        const char *st[] = { "running" };
        cJSON *sa = cJSON_CreateStringArray(st, 1);
        ok = sa && cJSON_AddItemToObject(o, "status", sa);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static int get_int(const cJSON *o, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return -1;
    *out = (int)v->valuedouble;
    return 0;
}

int docker_parse_inspect(const char *json, int *running, int *pid, int *exit_code)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "State");
    int rc = -1;
    if (cJSON_IsObject(st)) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(st, "Running");
        int p = 0, c = 0;
        if (cJSON_IsBool(r) && get_int(st, "Pid", &p) == 0 && get_int(st, "ExitCode", &c) == 0) {
            *running = cJSON_IsTrue(r);
            *pid = p;
            *exit_code = c;
            rc = 0;
        }
    }
    cJSON_Delete(o);
    return rc;
}

int docker_parse_list(const char *json, struct docker_entry *out, int max)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return -1;
    }
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, a) {
        if (n >= max) break;
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "Id");
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(c, "Labels");
        const cJSON *wid = cJSON_GetObjectItemCaseSensitive(labels, "rideshare.worker-id");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(c, "State");
        if (!cJSON_IsString(cid) || strlen(cid->valuestring) >= sizeof out[n].cid ||
            !cJSON_IsString(wid) || !rt_valid_id(wid->valuestring))
            continue;
        snprintf(out[n].cid, sizeof out[n].cid, "%s", cid->valuestring);
        snprintf(out[n].id, sizeof out[n].id, "%s", wid->valuestring);
        out[n].running = cJSON_IsString(state) && strcmp(state->valuestring, "running") == 0;
        n++;
    }
    cJSON_Delete(a);
    return n;
}

static int parse_version(const char *s, int *major, int *minor)
{
    char tail;
    return s && sscanf(s, "%d.%d%c", major, minor, &tail) == 2 ? 0 : -1;
}

int docker_negotiate_version(const char *server, char *out, size_t cap)
{
    int smaj, smin, xmaj, xmin, nmaj, nmin;
    if (parse_version(server, &smaj, &smin) != 0) return -1;
    parse_version(DOCKER_API_MAX, &xmaj, &xmin);
    parse_version(DOCKER_API_MIN, &nmaj, &nmin);
    if (smaj < nmaj || (smaj == nmaj && smin < nmin)) return -1;
    if (smaj > xmaj || (smaj == xmaj && smin > xmin)) { smaj = xmaj; smin = xmin; }
    snprintf(out, cap, "%d.%d", smaj, smin);
    return 0;
}

int docker_wait_status(int exit_code)
{
    if (exit_code > 128 && exit_code < 128 + 65) return (exit_code - 128) & 0x7f;
    return (exit_code & 0xff) << 8;
}

