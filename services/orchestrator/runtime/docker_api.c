/*
 * docker_api.c — the Docker Engine API layer of the docker runtime: requests
 * over the engine's Unix socket, the version negotiated from /_ping, and the
 * calls the docker runtime makes (the JSON they send and read back is built
 * and parsed by docker_json.c, unit-tested without an engine).
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
