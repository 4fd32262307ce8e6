/*
 * actions.c — see actions.h.
 *
 * The thread sleeps on a condition variable until an action is queued,
 * makes the HTTP call with a timeout, and turns the answer into one line:
 * the crash endpoints answer [pid], scale {"slaves", "was"}, promote
 * {"master", "epoch"}, a backup {"name", "dir", "size", ...}; anything else ({"error": ...}, a failed call) is
 * shown as it came.
 */
#include "actions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "http_client.h"
#include "json.h"

#define PROMOTE_TIMEOUT_MS 15000 /* the orchestrator waits up to 10 s */
#define BACKUP_TIMEOUT_MS 120000 /* the orchestrator's BACKUP_TIMEOUT_MS, by default */

struct actions {
    struct collector *c;
    char url[600];
    const char *const *headers;
    int timeout_ms;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop, busy;
    struct action pending;
};

void actions_request(const struct action *act, char *path, size_t pn, char *body, size_t bn)
{
    body[0] = 0;
    switch (act->kind) {
    case ACT_CRASH_MASTER: snprintf(path, pn, "/api/v1/crash/master"); break;
    case ACT_CRASH_SLAVE: snprintf(path, pn, "/api/v1/crash/slave"); break;
    case ACT_BACKUP: snprintf(path, pn, "/api/v1/backups"); break;
    case ACT_SCALE:
        snprintf(path, pn, "/api/v1/scale");
        snprintf(body, bn, "{\"slaves\":%d}", act->slaves);
        break;
    case ACT_PROMOTE: {
        snprintf(path, pn, "/api/v1/promote");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", act->id);
        char *t = json_print(o);
        snprintf(body, bn, "%s", t);
        free(t);
        cJSON_Delete(o);
        break;
    }
    default: snprintf(path, pn, "/"); break;
    }
}

void actions_describe(const struct action *act, char *out, size_t n)
{
    switch (act->kind) {
    case ACT_CRASH_MASTER: snprintf(out, n, "crash the master %s", act->id); break;
    case ACT_CRASH_SLAVE: snprintf(out, n, "crash the slave with the highest PID (%s)", act->id); break;
    case ACT_PROMOTE: snprintf(out, n, "promote slave %s to master", act->id); break;
    case ACT_SCALE: snprintf(out, n, "scale to %d slave%s", act->slaves, act->slaves == 1 ? "" : "s"); break;
    case ACT_BACKUP: snprintf(out, n, "take a backup into the orchestrator's backup directory"); break;
    default: snprintf(out, n, "nothing"); break;
    }
}

/* One line for the outcome of a call that got an answer. */
static void outcome(const struct action *act, const struct http_result *r, char *out, size_t n)
{
    cJSON *j = r->body ? json_parse(r->body, r->body_len) : NULL;
    const char *err = cJSON_IsObject(j) ? json_get_str(j, "error") : NULL;
    int64_t v = 0;
    if (r->status != 200) {
        snprintf(out, n, "failed (HTTP %ld): %s", r->status, err ? err : "no reason given");
    } else if ((act->kind == ACT_CRASH_MASTER || act->kind == ACT_CRASH_SLAVE) && cJSON_IsArray(j) &&
               json_as_int(cJSON_GetArrayItem(j, 0), &v)) {
        snprintf(out, n, "killed pid %lld", (long long)v);
    } else if (act->kind == ACT_SCALE && json_get_int(j, "was", &v) == 0) {
        snprintf(out, n, "target %d slaves (was %lld)", act->slaves, (long long)v);
    } else if (act->kind == ACT_PROMOTE && json_get_int(j, "epoch", &v) == 0) {
        snprintf(out, n, "%s is master, epoch %lld", act->id, (long long)v);
    } else if (act->kind == ACT_BACKUP && json_get_str(j, "name") && json_get_int(j, "size", &v) == 0) {
        snprintf(out, n, "%s/%s, %lld bytes", json_get_str(j, "dir") ? json_get_str(j, "dir") : "",
                 json_get_str(j, "name"), (long long)v);
    } else {
        snprintf(out, n, "done: %.120s", r->body ? r->body : "");
    }
    cJSON_Delete(j);
}

static void *actions_main(void *arg)
{
    struct actions *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && a->pending.kind == ACT_NONE) pthread_cond_wait(&a->cond, &a->mu);
        if (a->stop) break;
        struct action act = a->pending;
        a->pending.kind = ACT_NONE;
        pthread_mutex_unlock(&a->mu);

        char path[64], body[200], url[700], what[160], text[MODEL_EVENT_TEXT];
        actions_request(&act, path, sizeof path, body, sizeof body);
        actions_describe(&act, what, sizeof what);
        snprintf(url, sizeof url, "%s%s", a->url, path);
        snprintf(text, sizeof text, "%s ...", what);
        collector_message(a->c, 1, text);
        struct http_result r;
        int timeout = act.kind == ACT_PROMOTE ? PROMOTE_TIMEOUT_MS : act.kind == ACT_BACKUP ? BACKUP_TIMEOUT_MS
                                                                                          : a->timeout_ms;
        char result[MODEL_EVENT_TEXT - 40];
        if (http_call("POST", url, body[0] ? body : NULL, a->headers, timeout, &r) != 0)
            snprintf(result, sizeof result, "failed: %s", r.error[0] ? r.error : "no answer");
        else
            outcome(&act, &r, result, sizeof result);
        http_result_free(&r);
        snprintf(text, sizeof text, "%s: %s", what, result);
        collector_event(a->c, "action", "%s", text);
        collector_message(a->c, 0, text);
        collector_refresh(a->c);

        pthread_mutex_lock(&a->mu);
        a->busy = 0;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

struct actions *actions_start(struct collector *c, const char *orch_url, const char *const *headers,
                              int timeout_ms)
{
    struct actions *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->c = c;
    a->headers = headers;
    snprintf(a->url, sizeof a->url, "%s", orch_url);
    a->timeout_ms = timeout_ms;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    if (pthread_create(&a->th, NULL, actions_main, a) != 0) {
        pthread_cond_destroy(&a->cond);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    return a;
}

void actions_stop(struct actions *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int actions_submit(struct actions *a, const struct action *act)
{
    pthread_mutex_lock(&a->mu);
    int ok = !a->busy;
    if (ok) {
        a->busy = 1;
        a->pending = *act;
        pthread_cond_signal(&a->cond);
    }
    pthread_mutex_unlock(&a->mu);
    return ok ? 0 : -1;
}
