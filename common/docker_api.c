/*
 * docker_api.c — the Docker Engine API layer of the docker runtime: requests
 * over the engine's Unix socket, the version negotiated from /_ping, and the
 * JSON sent and read back (see docker_api.h for the calls, runtime_docker.h
 * for the pure JSON helpers, which are unit-tested without an engine).
 *
 * Transport. libcurl with CURLOPT_UNIX_SOCKET_PATH; URLs are
 * http://docker/v<version>/... . Each call makes its own easy handle (a
 * connection on a local socket costs microseconds), so any thread may call in
 * without locking; every call has a timeout. The version is negotiated once,
 * by docker_api_open: the Api-Version header of GET /_ping, capped at the
 * newest version this code knows (DOCKER_API_MAX).
 *
 * Answers are read whole into memory (capped at 64 MiB: a container list of
 * one stack is a few KiB); errors are logged here with the engine's
 * "message", so the runtime only looks at return values.
 */
#include "docker_api.h"

#include "log.h"
#include "runtime_monitor.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- pure helpers (unit-tested) ---------- */

void docker_container_name(const char *stack, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s-worker-%s", stack, id);
}

char *docker_create_body(const char *image, const char *network, const char *stack,
                         const struct runtime_spec *spec)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "Image", image) != NULL;
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
    ok = ok && cJSON_AddFalseToObject(hc, "AutoRemove");
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

/* ---------- the Engine API ---------- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct docker_resp *r = arg;
    size_t n = size * nmemb;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1) cap *= 2;
        if (cap > (64u << 20)) return 0;
        char *b = realloc(r->body, cap);
        if (!b) return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct docker_resp *r = arg;
    size_t n = size * nmemb;
    static const char name[] = "api-version:";
    if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *v = p + sizeof name - 1;
        size_t vl = n - (sizeof name - 1);
        while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
        if (vl < sizeof r->api_version) {
            memcpy(r->api_version, v, vl);
            r->api_version[vl] = '\0';
        }
    }
    return n;
}

int docker_call(const struct docker_api *a, const char *method, const char *path, const char *body,
                long timeout_ms, struct docker_resp *r)
{
    memset(r, 0, sizeof *r);
    char url[2048];
    if (strcmp(path, "/_ping") == 0) snprintf(url, sizeof url, "http://docker%s", path);
    else snprintf(url, sizeof url, "http://docker/v%s%s", a->version, path);
    CURL *h = curl_easy_init();
    if (!h) return -1;
    char err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        struct curl_slist *h2 = hdr ? curl_slist_append(hdr, "Expect:") : NULL;
        if (!h2) {
            curl_slist_free_all(hdr);
            curl_easy_cleanup(h);
            return -1;
        }
        hdr = h2;
    }
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, a->sock);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (hdr) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (strcmp(method, "POST") == 0) {
        const char *data = body ? body : "";
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(data));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        log_error("docker: call failed method=%s path=%s err=%s", method, path,
                  *err ? err : curl_easy_strerror(cc));
        free(r->body);
        r->body = NULL;
        return -1;
    }
    return 0;
}

void docker_log_error(const char *what, const char *id, const struct docker_resp *r)
{
    cJSON *o = r->body ? cJSON_Parse(r->body) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    log_error("docker: %s failed id=%s status=%ld message=%s", what, id, r->status,
              cJSON_IsString(m) ? m->valuestring : (r->body ? r->body : ""));
    cJSON_Delete(o);
}

int docker_inspect(const struct docker_api *a, const char *ref, int *running, int *pid, int *code)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/json", ref);
    struct docker_resp r;
    if (docker_call(a, "GET", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 404) rc = 1;
    else if (r.status == 200 && docker_parse_inspect(r.body, running, pid, code) == 0) rc = 0;
    else docker_log_error("inspect", ref, &r);
    free(r.body);
    return rc;
}

int docker_remove(const struct docker_api *a, const char *ref)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", ref);
    struct docker_resp r;
    if (docker_call(a, "DELETE", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int ok = r.status == 204 || r.status == 404;
    if (!ok) docker_log_error("remove", ref, &r);
    free(r.body);
    return ok ? 0 : -1;
}

int docker_list_workers(const struct docker_api *a, const char *stack, int running_only,
                        struct docker_entry *out, int max)
{
    char *f = docker_worker_filters(stack, running_only);
    if (!f) return -1;
    CURL *h = curl_easy_init();
    char *enc = h ? curl_easy_escape(h, f, 0) : NULL;
    free(f);
    if (!enc) {
        if (h) curl_easy_cleanup(h);
        return -1;
    }
    char path[1024];
    snprintf(path, sizeof path, "/containers/json?all=%d&filters=%s", running_only ? 0 : 1, enc);
    curl_free(enc);
    curl_easy_cleanup(h);
    struct docker_resp r;
    if (docker_call(a, "GET", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int n = -1;
    if (r.status == 200) n = docker_parse_list(r.body, out, max);
    if (n < 0) docker_log_error("list", stack, &r);
    free(r.body);
    return n;
}

int docker_create(const struct docker_api *a, const char *name, const char *body, char *cid,
                  size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    struct docker_resp r;
    if (docker_call(a, "POST", path, body, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 201) {
        cJSON *o = cJSON_Parse(r.body ? r.body : "");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "Id");
        if (cJSON_IsString(id) && strlen(id->valuestring) < cap) {
            snprintf(cid, cap, "%s", id->valuestring);
            rc = 0;
        } else {
            docker_log_error("create (no Id)", name, &r);
        }
        cJSON_Delete(o);
    } else if (r.status == 409) {
        rc = 1;
    } else {
        docker_log_error("create", name, &r);
    }
    free(r.body);
    return rc;
}

int docker_start(const struct docker_api *a, const char *ref, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/start", ref);
    struct docker_resp r;
    if (docker_call(a, "POST", path, NULL, DOCKER_CALL_TIMEOUT_MS, &r) != 0) return -1;
    int ok = r.status == 204 || r.status == 304;
    if (!ok) docker_log_error("start", id, &r);
    free(r.body);
    return ok ? 0 : -1;
}

int docker_api_open(struct docker_api *a, const char *socket)
{
    memset(a, 0, sizeof *a);
    a->sock = strdup(socket);
    if (!a->sock) return -1;
    struct docker_resp r;
    if (docker_call(a, "GET", "/_ping", NULL, 5000, &r) != 0) return -1;
    free(r.body);
    if (r.status != 200 || docker_negotiate_version(r.api_version, a->version, sizeof a->version) != 0) {
        log_error("docker runtime: engine at %s answered status=%ld api_version=%s (need >= %s)", socket,
                  r.status, *r.api_version ? r.api_version : "(none)", DOCKER_API_MIN);
        return -1;
    }
    return 0;
}

void docker_api_close(struct docker_api *a)
{
    free(a->sock);
    a->sock = NULL;
}
