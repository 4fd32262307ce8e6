/*
 * runtime_docker.c — the docker runtime: workers are containers started and
 * stopped through the Docker Engine API on its Unix socket (see runtime.h for
 * the contract, runtime_docker.h for the JSON helpers).
 *
 * Transport. libcurl with CURLOPT_UNIX_SOCKET_PATH; URLs are
 * http://docker/v<version>/... . Each call makes its own easy handle (a
 * connection on a local socket costs microseconds), so any thread may call in
 * without locking; every call has a timeout. The version is negotiated once,
 * at creation: the Api-Version header of GET /_ping, capped at the newest
 * version this code knows (DOCKER_API_MAX).
 *
 * Spawn: POST /containers/create?name=<stack>-worker-<id> (image, the spec's
 * env and nothing else, the three labels, HostConfig.NetworkMode = the
 * stack's network), POST /containers/{cid}/start, GET /containers/{cid}/json
 * for State.Pid. A leftover container of that name that is not running (a
 * worker that died while no orchestrator watched) is removed and the create
 * retried; a running one makes the spawn fail, as in the process runtime.
 *
 * Kill: POST /containers/{cid}/kill?signal=N. The worker is PID 1 of its
 * container; SIGKILL from outside the container's PID namespace always
 * works, SIGTERM works because the worker handles it.
 *
 * Exit notices: polling, not the events stream. Every POLL_MS one
 * GET /containers/json?all=1&filters={label: stack, role=worker} lists this
 * stack's workers with their states; a worker in the table whose container is
 * no longer running (or is gone) is inspected for its exit code, removed from
 * the table, reported through on_exit (after the lock is dropped, so the
 * callback may spawn), and its container deleted. Polling was chosen over
 * /events because it needs no long-lived streaming connection to re-establish
 * after an engine restart and cannot miss an event across such a gap: the
 * state is read again each time. 200 ms of delay is small next to a worker's
 * ZooKeeper session.
 *
 * Adoption: list() asks for this stack's running workers; one not in the
 * table (started by an earlier orchestrator) is inspected for its PID and
 * added, and from then on its exit is reported too.
 *
 * destroy() stops the monitor; containers keep running (a later orchestrator
 * adopts them), as with the process runtime. Stopped worker containers that
 * no monitor removed (their orchestrator went first) are removed when a new
 * runtime starts.
 */
#include "runtime_docker.h"

#include "clock.h"
#include "log.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 200
#define CALL_TIMEOUT_MS 15000
#define MAX_LIST 256

/* ---------- pure helpers (unit-tested) ---------- */

static int valid_id(const char *id)
{
    if (!id) return 0;
    size_t len = strlen(id);
    if (len < 1 || len >= RUNTIME_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

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
            !cJSON_IsString(wid) || !valid_id(wid->valuestring))
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

struct dworker {
    char id[RUNTIME_ID_MAX];
    char cid[72];
    int pid;
    unsigned long seq; /* when it was added: a list older than that says nothing of it */
};

struct notice {
    char id[RUNTIME_ID_MAX];
    char cid[72];
    int pid, status;
};

struct drt {
    struct runtime base;
    char *sock, *image, *network, *stack;
    char version[16];
    runtime_exit_fn on_exit;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t monitor;
    int stopping;
    struct dworker *w; /* guarded by mu */
    int n, cap;
    unsigned long seq; /* of the last add, guarded by mu */
};

struct resp {
    long status;
    char *body;
    size_t len, cap;
    char api_version[16];
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct resp *r = arg;
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
    struct resp *r = arg;
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

/* One API call. path starts with '/' and is already URL-encoded; versioned
 * unless it is /_ping. Fills *r (body NUL-terminated or NULL). 0 when a
 * response arrived (any status), -1 otherwise (logged). */
static int call(struct drt *d, const char *method, const char *path, const char *body,
                long timeout_ms, struct resp *r)
{
    memset(r, 0, sizeof *r);
    char url[2048];
    if (strcmp(path, "/_ping") == 0) snprintf(url, sizeof url, "http://docker%s", path);
    else snprintf(url, sizeof url, "http://docker/v%s%s", d->version, path);
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
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->sock);
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

/* The "message" of an error answer, for logs. */
static void log_api_error(const char *what, const char *id, const struct resp *r)
{
    cJSON *o = r->body ? cJSON_Parse(r->body) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    log_error("docker: %s failed id=%s status=%ld message=%s", what, id, r->status,
              cJSON_IsString(m) ? m->valuestring : (r->body ? r->body : ""));
    cJSON_Delete(o);
}

/* GET /containers/{ref}/json. 0 (fields filled), 1 no such container, -1 error. */
static int inspect(struct drt *d, const char *ref, int *running, int *pid, int *code)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/json", ref);
    struct resp r;
    if (call(d, "GET", path, NULL, CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 404) rc = 1;
    else if (r.status == 200 && docker_parse_inspect(r.body, running, pid, code) == 0) rc = 0;
    else log_api_error("inspect", ref, &r);
    free(r.body);
    return rc;
}

/* DELETE /containers/{ref}?force=1&v=1 (anonymous volumes go too). */
static int remove_container(struct drt *d, const char *ref)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", ref);
    struct resp r;
    if (call(d, "DELETE", path, NULL, CALL_TIMEOUT_MS, &r) != 0) return -1;
    int ok = r.status == 204 || r.status == 404;
    if (!ok) log_api_error("remove", ref, &r);
    free(r.body);
    return ok ? 0 : -1;
}

/* The stack's workers (all states, or running only). Count, or -1. */
static int list_workers(struct drt *d, int running_only, struct docker_entry *out, int max)
{
    char *f = docker_worker_filters(d->stack, running_only);
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
    struct resp r;
    if (call(d, "GET", path, NULL, CALL_TIMEOUT_MS, &r) != 0) return -1;
    int n = -1;
    if (r.status == 200) n = docker_parse_list(r.body, out, max);
    if (n < 0) log_api_error("list", d->stack, &r);
    free(r.body);
    return n;
}

static int find(const struct drt *d, const char *id)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->w[i].id, id) == 0) return i;
    return -1;
}

static int add(struct drt *d, const char *id, const char *cid, int pid)
{
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        struct dworker *w = realloc(d->w, (size_t)cap * sizeof *w);
        if (!w) return -1;
        d->w = w;
        d->cap = cap;
    }
    struct dworker *w = &d->w[d->n++];
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->cid, sizeof w->cid, "%s", cid);
    w->pid = pid;
    w->seq = ++d->seq;
    return 0;
}

/* POST /containers/create; the new container's id into cid. 0, 1 name taken, -1. */
static int create(struct drt *d, const char *name, const char *body, char *cid, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    struct resp r;
    if (call(d, "POST", path, body, CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 201) {
        cJSON *o = cJSON_Parse(r.body ? r.body : "");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "Id");
        if (cJSON_IsString(id) && strlen(id->valuestring) < cap) {
            snprintf(cid, cap, "%s", id->valuestring);
            rc = 0;
        } else {
            log_api_error("create (no Id)", name, &r);
        }
        cJSON_Delete(o);
    } else if (r.status == 409) {
        rc = 1;
    } else {
        log_api_error("create", name, &r);
    }
    free(r.body);
    return rc;
}

static int d_spawn(struct runtime *rt, const struct runtime_spec *spec, struct runtime_worker *out)
{
    struct drt *d = (struct drt *)rt;
    if (!spec || !valid_id(spec->id)) {
        log_error("spawn: invalid worker id id=%s", spec && spec->id ? spec->id : "(null)");
        return -1;
    }
    for (int j = 0; j < RUNTIME_MAX_ENV && spec->env[j]; j++) {
        const char *eq = strchr(spec->env[j], '=');
        if (!eq || eq == spec->env[j]) {
            log_error("spawn: env entry is not NAME=value id=%s entry=%s", spec->id, spec->env[j]);
            return -1;
        }
    }
    pthread_mutex_lock(&d->mu);
    int known = find(d, spec->id) >= 0;
    pthread_mutex_unlock(&d->mu);
    if (known) {
        log_error("spawn: worker already running id=%s", spec->id);
        return -1;
    }
    char name[RUNTIME_ID_MAX + 300], cid[72];
    docker_container_name(d->stack, spec->id, name, sizeof name);
    char *body = docker_create_body(d->image, d->network, d->stack, spec);
    if (!body) return -1;
    int rc = create(d, name, body, cid, sizeof cid);
    if (rc == 1) {
        /* A container of that name exists: a leftover is removed, a running
         * worker (of an earlier orchestrator) is not ours to replace. */
        int running = 0, pid = 0, code = 0;
        int ir = inspect(d, name, &running, &pid, &code);
        if (ir == 0 && running) {
            log_error("spawn: worker already running id=%s container=%s", spec->id, name);
            rc = -1;
        } else if (ir >= 0 && remove_container(d, name) == 0) {
            log_info("removed leftover container name=%s", name);
            rc = create(d, name, body, cid, sizeof cid);
        } else {
            rc = -1;
        }
    }
    free(body);
    if (rc != 0) {
        if (rc == 1) log_error("spawn: container name still taken name=%s", name);
        return -1;
    }
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/start", cid);
    struct resp r;
    if (call(d, "POST", path, NULL, CALL_TIMEOUT_MS, &r) != 0 || (r.status != 204 && r.status != 304)) {
        if (r.status) log_api_error("start", spec->id, &r);
        free(r.body);
        remove_container(d, cid);
        return -1;
    }
    free(r.body);
    int running = 0, pid = 0, code = 0;
    if (inspect(d, cid, &running, &pid, &code) != 0 || pid <= 0) {
        /* Exited already (PID 0) or cannot be read: a spawn that did not
         * take, like an exec failure of the process runtime. */
        log_error("spawn: container is not running id=%s container=%.12s exit_code=%d", spec->id, cid,
                  code);
        remove_container(d, cid);
        return -1;
    }
    pthread_mutex_lock(&d->mu);
    int ok = add(d, spec->id, cid, pid) == 0;
    pthread_mutex_unlock(&d->mu);
    if (!ok) {
        remove_container(d, cid);
        return -1;
    }
    log_info("spawned worker id=%s pid=%d container=%.12s image=%s network=%s", spec->id, pid, cid,
             d->image, d->network);
    if (out) {
        snprintf(out->id, sizeof out->id, "%s", spec->id);
        out->pid = pid;
    }
    return 0;
}

static int d_kill(struct runtime *rt, const char *id, int sig)
{
    struct drt *d = (struct drt *)rt;
    if (!valid_id(id)) {
        log_error("kill: invalid worker id id=%s", id ? id : "(null)");
        return -1;
    }
    char ref[RUNTIME_ID_MAX + 300];
    int pid = 0;
    pthread_mutex_lock(&d->mu);
    int i = find(d, id);
    if (i >= 0) {
        snprintf(ref, sizeof ref, "%s", d->w[i].cid);
        pid = d->w[i].pid;
    }
    pthread_mutex_unlock(&d->mu);
    if (i < 0) docker_container_name(d->stack, id, ref, sizeof ref); /* not adopted yet */
    char path[512];
    snprintf(path, sizeof path, "/containers/%s/kill?signal=%d", ref, sig);
    struct resp r;
    if (call(d, "POST", path, NULL, CALL_TIMEOUT_MS, &r) != 0) return -1;
    int rc = -1;
    if (r.status == 204) {
        log_info("signalled worker id=%s pid=%d sig=%d", id, pid, sig);
        rc = 0;
    } else if (r.status == 404) {
        log_warn("kill: unknown worker id=%s", id);
    } else if (r.status == 409) {
        log_warn("kill: worker already gone id=%s pid=%d", id, pid);
    } else {
        log_api_error("kill", id, &r);
    }
    free(r.body);
    return rc;
}

static int d_list(struct runtime *rt, struct runtime_worker *out, int max)
{
    struct drt *d = (struct drt *)rt;
    struct docker_entry *e = calloc(MAX_LIST, sizeof *e);
    if (!e) return -1;
    int n = list_workers(d, 1, e, MAX_LIST);
    if (n < 0) {
        free(e);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!e[i].running) continue;
        pthread_mutex_lock(&d->mu);
        int j = find(d, e[i].id);
        int pid = j >= 0 ? d->w[j].pid : 0;
        int same = j >= 0 && strcmp(d->w[j].cid, e[i].cid) == 0;
        pthread_mutex_unlock(&d->mu);
        if (j >= 0 && !same) continue; /* a stranger under a known id: not ours */
        if (j < 0) {
            int running = 0, code = 0;
            if (inspect(d, e[i].cid, &running, &pid, &code) != 0 || !running || pid <= 0) continue;
            pthread_mutex_lock(&d->mu);
            int added = find(d, e[i].id) < 0 && add(d, e[i].id, e[i].cid, pid) == 0;
            pthread_mutex_unlock(&d->mu);
            if (added) log_info("adopted worker id=%s pid=%d container=%.12s", e[i].id, pid, e[i].cid);
        }
        if (k < max) {
            snprintf(out[k].id, sizeof out[k].id, "%s", e[i].id);
            out[k].pid = pid;
            k++;
        }
    }
    free(e);
    return k;
}

/* One poll: workers of the table whose containers stopped or vanished are
 * taken out of it and returned in *notes (count in *nn). */
static void collect(struct drt *d, struct docker_entry *e, struct notice **notes, int *nn, int *ncap)
{
    *nn = 0;
    pthread_mutex_lock(&d->mu);
    unsigned long before = d->seq;
    pthread_mutex_unlock(&d->mu);
    int n = list_workers(d, 0, e, MAX_LIST);
    if (n < 0) return; /* engine unreachable: nothing is known to have stopped */
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < d->n;) {
        struct dworker *w = &d->w[i];
        int alive = 0;
        for (int j = 0; j < n && !alive; j++)
            alive = strcmp(e[j].cid, w->cid) == 0 && e[j].running;
        /* Added while the list was on its way: not in it, yet running. */
        if (alive || w->seq > before) { i++; continue; }
        if (*nn == *ncap) {
            int cap = *ncap ? *ncap * 2 : 8;
            struct notice *nt = realloc(*notes, (size_t)cap * sizeof *nt);
            if (!nt) { i++; continue; }
            *notes = nt;
            *ncap = cap;
        }
        struct notice *nt = &(*notes)[(*nn)++];
        snprintf(nt->id, sizeof nt->id, "%s", w->id);
        snprintf(nt->cid, sizeof nt->cid, "%s", w->cid);
        nt->pid = w->pid;
        nt->status = -1;
        d->w[i] = d->w[--d->n];
    }
    pthread_mutex_unlock(&d->mu);
}

static void *monitor_main(void *arg)
{
    struct drt *d = arg;
    struct notice *notes = NULL;
    int ncap = 0;
    struct docker_entry *e = calloc(MAX_LIST, sizeof *e);
    pthread_mutex_lock(&d->mu);
    while (!d->stopping && e) {
        pthread_mutex_unlock(&d->mu);
        int nn = 0;
        collect(d, e, &notes, &nn, &ncap);
        for (int i = 0; i < nn; i++) {
            struct notice *nt = &notes[i];
            int running = 0, pid = 0, code = 0;
            if (inspect(d, nt->cid, &running, &pid, &code) == 0) {
                nt->status = docker_wait_status(code);
                log_info("worker exited id=%s pid=%d exit_code=%d", nt->id, nt->pid, code);
            } else {
                log_info("worker exited id=%s pid=%d (container gone)", nt->id, nt->pid);
            }
            remove_container(d, nt->cid);
            if (d->on_exit) d->on_exit(nt->id, nt->pid, nt->status, d->ctx);
        }
        pthread_mutex_lock(&d->mu);
        if (nn) continue;
        struct timespec dl = clock_deadline(POLL_MS);
        while (!d->stopping && pthread_cond_timedwait(&d->cond, &d->mu, &dl) == 0) {}
    }
    pthread_mutex_unlock(&d->mu);
    free(e);
    free(notes);
    return NULL;
}

static void d_destroy(struct runtime *rt)
{
    struct drt *d = (struct drt *)rt;
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = 1;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->monitor, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mu);
    free(d->w);
    free(d->sock);
    free(d->image);
    free(d->network);
    free(d->stack);
    free(d);
}

static const struct runtime_ops docker_ops = {
    .spawn = d_spawn,
    .kill = d_kill,
    .list = d_list,
    .destroy = d_destroy,
};

/* Stopped workers of this stack that no runtime removed (their orchestrator
 * stopped before its monitor saw them go): nobody will report them now. */
static void remove_leftovers(struct drt *d)
{
    struct docker_entry *e = calloc(MAX_LIST, sizeof *e);
    int n = e ? list_workers(d, 0, e, MAX_LIST) : -1;
    for (int i = 0; i < n; i++)
        if (!e[i].running && remove_container(d, e[i].cid) == 0)
            log_info("removed stopped worker container id=%s container=%.12s", e[i].id, e[i].cid);
    free(e);
}

/* Names that go into URLs and container names unescaped. */
static int valid_ref(const char *s)
{
    if (!s || !*s || strlen(s) > 200) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

struct runtime *runtime_docker_new(const char *socket, const char *image, const char *network,
                                   const char *stack, runtime_exit_fn on_exit, void *ctx)
{
    if (!socket || !*socket || !image || !*image || !valid_ref(network) || !valid_ref(stack)) {
        log_error("docker runtime: bad settings (socket, image, network [A-Za-z0-9_.-], stack)");
        return NULL;
    }
    struct drt *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->base.ops = &docker_ops;
    d->sock = strdup(socket);
    d->image = strdup(image);
    d->network = strdup(network);
    d->stack = strdup(stack);
    d->on_exit = on_exit;
    d->ctx = ctx;
    if (!d->sock || !d->image || !d->network || !d->stack) goto fail;
    struct resp r;
    if (call(d, "GET", "/_ping", NULL, 5000, &r) != 0) goto fail;
    free(r.body);
    if (r.status != 200 || docker_negotiate_version(r.api_version, d->version, sizeof d->version) != 0) {
        log_error("docker runtime: engine at %s answered status=%ld api_version=%s (need >= %s)", socket,
                  r.status, *r.api_version ? r.api_version : "(none)", DOCKER_API_MIN);
        goto fail;
    }
    remove_leftovers(d);
    if (pthread_mutex_init(&d->mu, NULL) != 0) goto fail;
    if (clock_cond_init(&d->cond) != 0) {
        pthread_mutex_destroy(&d->mu);
        goto fail;
    }
    if (pthread_create(&d->monitor, NULL, monitor_main, d) != 0) {
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->mu);
        goto fail;
    }
    log_info("docker runtime socket=%s api=%s image=%s network=%s stack=%s", socket, d->version, image,
             network, stack);
    return &d->base;
fail:
    log_error("cannot create docker runtime socket=%s", socket);
    free(d->sock);
    free(d->image);
    free(d->network);
    free(d->stack);
    free(d);
    return NULL;
}
