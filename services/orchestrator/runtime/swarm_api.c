/*
 * swarm_api.c — see swarm_api.h: the swarm runtime's Engine API calls, each
 * one docker_call (docker_api.c) with its JSON built and read by
 * swarm_json.c.
 *
 * Task lists. GET /tasks?filters={"service":[...]} names services by id, in
 * groups of TASK_GROUP so that a URL stays short. The engine resolves each
 * id and refuses the call (404) when one is gone: a service removed between
 * the service list and the task list makes that list fail, and the caller
 * learns nothing from that poll (the next one lists the services again).
 */
#include "swarm_api.h"

#include "log.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_GROUP 16

int swarm_info(const struct docker_api *a, char *node, size_t cap, int *manager)
{
    struct docker_resp r;
    if (docker_call(a, "GET", "/info", NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = r.status == 200 ? swarm_parse_info(r.body, node, cap, manager) : -1;
    if (rc) docker_log_error("info", "-", &r);
    free(r.body);
    return rc;
}

int swarm_create(const struct docker_api *a, const char *name, const char *body, char *sid, size_t cap)
{
    struct docker_resp r;
    if (docker_call(a, "POST", "/services/create", body, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 201 || r.status == 200) {
        rc = swarm_parse_created(r.body, sid, cap);
        if (rc) docker_log_error("service create (no ID)", name, &r);
    } else if (r.status == 409) {
        rc = 1;
    } else {
        docker_log_error("service create", name, &r);
    }
    free(r.body);
    return rc;
}

int swarm_remove(const struct docker_api *a, const char *ref)
{
    char path[256];
    snprintf(path, sizeof path, "/services/%s", ref);
    struct docker_resp r;
    if (docker_call(a, "DELETE", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = r.status == 200 || r.status == 204 ? 0 : r.status == 404 ? 1 : -1;
    if (rc < 0) docker_log_error("service remove", ref, &r);
    free(r.body);
    return rc;
}

/* GET base?filters=<f, URL-encoded>; the answer's body (caller frees) or
 * NULL; *status its HTTP status. */
static char *get_filtered(const struct docker_api *a, const char *base, const char *f, long *status)
{
    CURL *h = curl_easy_init();
    char *enc = h && f ? curl_easy_escape(h, f, 0) : NULL;
    if (h) curl_easy_cleanup(h);
    if (!enc) return NULL;
    size_t cap = strlen(base) + strlen(enc) + 16;
    char *path = malloc(cap);
    if (path) snprintf(path, cap, "%s?filters=%s", base, enc);
    curl_free(enc);
    struct docker_resp r;
    int rc = path ? docker_call(a, "GET", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) : -1;
    free(path);
    if (rc != 0) return NULL;
    *status = r.status;
    if (r.status != 200) {
        if (r.status != 404) docker_log_error("list", base, &r);
        free(r.body);
        return NULL;
    }
    return r.body ? r.body : strdup("");
}

int swarm_list_services(const struct docker_api *a, const char *stack, struct swarm_service *out, int max)
{
    char *f = swarm_service_filters(stack);
    long status = 0;
    char *body = f ? get_filtered(a, "/services", f, &status) : NULL;
    free(f);
    int n = body ? swarm_parse_services(body, out, max) : -1;
    free(body);
    return n;
}

int swarm_list_tasks(const struct docker_api *a, const char *const *sids, int n, struct swarm_task *out, int max)
{
    int k = 0;
    for (int i = 0; i < n; i += TASK_GROUP) {
        char *f = swarm_task_filters(sids + i, n - i < TASK_GROUP ? n - i : TASK_GROUP);
        long status = 0;
        char *body = f ? get_filtered(a, "/tasks", f, &status) : NULL;
        free(f);
        int got = body ? swarm_parse_tasks(body, out + k, max - k) : -1;
        free(body);
        if (got < 0) return -1;
        k += got;
    }
    return k;
}

int swarm_list_nodes(const struct docker_api *a, char (*ids)[SWARM_SID_MAX], int max)
{
    struct docker_resp r;
    if (docker_call(a, "GET", "/nodes", NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int n = r.status == 200 ? swarm_parse_nodes(r.body, ids, max) : -1;
    if (n < 0) docker_log_error("node list", "-", &r);
    free(r.body);
    return n;
}

int swarm_node_ready(const struct docker_api *a, const char *node)
{
    char (*ids)[SWARM_SID_MAX] = calloc(SWARM_MAX_NODES, sizeof *ids);
    int n = ids ? swarm_list_nodes(a, ids, SWARM_MAX_NODES) : -1;
    int found = 0;
    for (int i = 0; i < n && !found; i++) found = strcmp(ids[i], node) == 0;
    free(ids);
    return n < 0 ? -1 : found;
}

int swarm_kill_local(const struct docker_api *a, const char *cid, int sig)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/kill?signal=%d", cid, sig);
    struct docker_resp r;
    if (docker_call(a, "POST", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int ok = r.status == 204;
    if (!ok && r.status != 404 && r.status != 409) docker_log_error("kill", cid, &r);
    free(r.body);
    return ok ? 0 : -1;
}
