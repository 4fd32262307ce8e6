/*
 * model.c — see model.h.
 *
 * Workers. The orchestrator's table is the truth about who runs (it started
 * them and knows their PIDs and roles the moment they change); a znode is
 * what a worker says of itself (state, applied seq, and reads served if it
 * publishes them). So the list is the orchestrator's, completed from the
 * znodes; only when the orchestrator cannot be reached is it rebuilt from
 * ZooKeeper alone, which still shows who is registered and how far each one
 * has applied the log.
 *
 * Events. Two sources, each ordered by time already: the orchestrator's ring
 * (newest first, as the status gives it) and the console's own ring (oldest
 * first). Their times are ISO-8601 UTC texts of equal length, so a merge by
 * string comparison is a merge by time.
 */
#include "model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

const char *const BACKEND_NAMES[B_N] = { "ZooKeeper", "RabbitMQ", "orchestrator" };

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static int64_t int_or(const cJSON *o, const char *key, int64_t def)
{
    int64_t v;
    return json_get_int(o, key, &v) == 0 ? v : def;
}

/* The status's worker_starts into o; absent (an older orchestrator): none. */
static void parse_starts(const cJSON *ws, struct c_orch *o)
{
    o->start_failures = (int)int_or(ws, "failures", 0);
    o->start_backoff_ms = int_or(ws, "backoff_ms", 0);
    o->start_next_in_ms = int_or(ws, "next_start_in_ms", 0);
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(ws, "last_failure");
    if (!cJSON_IsObject(lf)) return;
    const char *id = json_get_str(lf, "id");
    int64_t status = int_or(lf, "status", -1);
    char st[32] = "";
    if (status >= 0) snprintf(st, sizeof st, " (status %lld)", (long long)status);
    snprintf(o->start_last, sizeof o->start_last, "%s: %s%s", id ? id : "(not spawned)",
             json_get_str(lf, "why") ? json_get_str(lf, "why") : "?", st);
}

int model_parse_status(const char *body, size_t len, struct c_orch *orch, struct c_worker *workers,
                       int *nworkers, struct c_event *events, int *nevents, char *why, size_t n)
{
    cJSON *o = body ? json_parse(body, len) : NULL;
    const cJSON *ws = o ? cJSON_GetObjectItemCaseSensitive(o, "workers") : NULL;
    if (!cJSON_IsObject(o) || !cJSON_IsArray(ws)) {
        snprintf(why, n, "status is not the expected JSON object");
        cJSON_Delete(o);
        return -1;
    }
    memset(orch, 0, sizeof *orch);
    orch->epoch = int_or(o, "epoch", 0);
    copy(orch->master, sizeof orch->master, json_get_str(o, "master"));
    orch->master_seq = int_or(o, "master_seq", -1);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scaling");
    orch->target_slaves = (int)int_or(sc, "target_slaves", 0);
    orch->window_s = (int)int_or(sc, "window_s", 0);
    orch->reads_per_slave = (int)int_or(sc, "reads_per_slave", 0);
    orch->reads_in_window = int_or(sc, "reads_in_window", 0);
    const cJSON *left = cJSON_GetObjectItemCaseSensitive(sc, "seconds_to_decision");
    orch->seconds_to_decision = cJSON_IsNumber(left) ? left->valuedouble : -1;
    orch->rule_target = (int)int_or(sc, "rule_target", -1);
    orch->max_slaves = (int)int_or(sc, "max_slaves", 0);
    orch->scale_up_step = (int)int_or(sc, "scale_up_step", 0);
    orch->capped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sc, "capped"));
    orch->stepped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sc, "stepped"));
    copy(orch->set_by, sizeof orch->set_by, json_get_str(sc, "set_by"));
    parse_starts(cJSON_GetObjectItemCaseSensitive(o, "worker_starts"), orch);
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(o, "read_cache");
    int64_t hits, misses;
    orch->reads_total = json_get_int(rc, "hits", &hits) == 0 && json_get_int(rc, "misses", &misses) == 0
                        ? hits + misses : -1;

    int k = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, ws) {
        if (k >= CW_MAX) break;
        const char *id = json_get_str(w, "id");
        if (!cJSON_IsObject(w) || !id) continue;
        struct c_worker *x = &workers[k++];
        memset(x, 0, sizeof *x);
        copy(x->id, sizeof x->id, id);
        copy(x->role, sizeof x->role, json_get_str(w, "role"));
        x->pid = (int)int_or(w, "pid", 0);
        copy(x->state, sizeof x->state, json_get_str(w, "state"));
        x->seq = int_or(w, "seq", -1);
        x->lag = int_or(w, "lag", -1);
        x->reads = int_or(w, "reads", -1);
    }
    *nworkers = k;

    k = 0;
    const cJSON *e, *evs = cJSON_GetObjectItemCaseSensitive(o, "events");
    cJSON_ArrayForEach(e, evs) {
        if (k >= MODEL_EVENTS_MAX) break;
        if (!cJSON_IsObject(e)) continue;
        struct c_event *x = &events[k++];
        copy(x->at, sizeof x->at, json_get_str(e, "at"));
        copy(x->kind, sizeof x->kind, json_get_str(e, "kind"));
        copy(x->text, sizeof x->text, json_get_str(e, "text"));
    }
    *nevents = k;
    cJSON_Delete(o);
    return 0;
}

/* The db/reads taken since prev, at least; -1 when unknown. */
static int64_t reads_between(const struct c_orch *o, const struct c_orch *prev)
{
    int64_t n = -1;
    if (prev->reads_total >= 0 && o->reads_total >= prev->reads_total) n = o->reads_total - prev->reads_total;
    /* A window closed: the count went down, or the time to the decision went up. */
    int closed = o->reads_in_window < prev->reads_in_window ||
                 (prev->seconds_to_decision >= 0 && o->seconds_to_decision > prev->seconds_to_decision);
    int64_t w = closed ? o->reads_in_window : o->reads_in_window - prev->reads_in_window;
    return w > n ? w : n;
}

int64_t model_orch_rates(struct c_orch *o, struct c_orch *prev, int64_t prev_at_ms, int64_t now_ms)
{
    o->has_write_rate = o->has_read_rate = 0;
    if (prev_at_ms && now_ms > prev_at_ms) {
        double dt = (double)(now_ms - prev_at_ms) / 1000.0;
        if (prev->master_seq >= 0 && o->master_seq >= prev->master_seq) {
            o->write_rate = (double)(o->master_seq - prev->master_seq) / dt;
            o->has_write_rate = 1;
        }
        int64_t reads = reads_between(o, prev);
        if (reads >= 0) {
            o->read_rate = (double)reads / dt;
            o->has_read_rate = 1;
        }
    }
    *prev = *o;
    return now_ms;
}

/* The worker znode path/<id> of a znode under zk_root/workers, or NULL. */
static const char *worker_znode_id(const char *path, const char *zk_root)
{
    size_t r = strlen(zk_root);
    if (strncmp(path, zk_root, r) != 0 || strncmp(path + r, "/workers/", 9) != 0) return NULL;
    const char *id = path + r + 9;
    return *id && !strchr(id, '/') ? id : NULL;
}

/* Fills x from a worker znode's JSON; 0, or -1 if it is not one. */
static int parse_znode_worker(const char *id, const char *data, struct c_worker *x)
{
    cJSON *o = json_parse(data, strlen(data));
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return -1; }
    memset(x, 0, sizeof *x);
    copy(x->id, sizeof x->id, id);
    copy(x->role, sizeof x->role, json_get_str(o, "role"));
    x->pid = (int)int_or(o, "pid", 0);
    copy(x->state, sizeof x->state, json_get_str(o, "state"));
    x->seq = int_or(o, "seq", -1);
    x->lag = -1;
    x->reads = int_or(o, "reads", -1);
    cJSON_Delete(o);
    return 0;
}

int model_workers(const struct snapshot *s, const char *zk_root, struct c_worker *out, int max)
{
    struct c_worker zw[MODEL_ZNODES_MAX];
    int nz = 0;
    for (int i = 0; i < s->nznodes && nz < MODEL_ZNODES_MAX; i++) {
        const char *id = worker_znode_id(s->znodes[i].path, zk_root);
        if (id && parse_znode_worker(id, s->znodes[i].data, &zw[nz]) == 0) nz++;
    }
    int n = 0;
    if (s->be[B_ORCH].up) {
        for (int i = 0; i < s->nworkers && n < max; i++) {
            out[n] = s->workers[i];
            for (int k = 0; k < nz; k++) {
                if (strcmp(zw[k].id, out[n].id) != 0) continue;
                if (out[n].reads < 0) out[n].reads = zw[k].reads;
                if (out[n].seq < 0) out[n].seq = zw[k].seq;
            }
            n++;
        }
        return n;
    }
    int64_t master_seq = -1;
    for (int k = 0; k < nz; k++)
        if (strcmp(zw[k].role, "master") == 0 && zw[k].seq > master_seq) master_seq = zw[k].seq;
    for (int k = 0; k < nz && n < max; k++) {
        out[n] = zw[k];
        if (master_seq >= 0 && zw[k].seq >= 0) out[n].lag = master_seq > zw[k].seq ? master_seq - zw[k].seq : 0;
        n++;
    }
    return n;
}

int model_crash_slave_pick(const struct c_worker *w, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].role, "slave") == 0 && strcmp(w[i].state, "retiring") != 0 &&
            (best < 0 || w[i].pid > w[best].pid))
            best = i;
    return best;
}

int model_master(const struct c_worker *w, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].role, "master") == 0) return i;
    return -1;
}

int model_slave_count(const struct c_worker *w, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += strcmp(w[i].role, "slave") == 0 && strcmp(w[i].state, "retiring") != 0;
    return k;
}

/* Case-insensitive search of the n bytes at word in hay. */
static int contains_ci(const char *hay, const char *word, size_t n)
{
    if (n == 0) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)word[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

int model_event_match(const struct c_event *e, const char *filter)
{
    char hay[sizeof e->kind + sizeof e->text + 2];
    snprintf(hay, sizeof hay, "%s %s", e->kind, e->text);
    const char *p = filter ? filter : "";
    while (*p) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, " ");
        if (n && !contains_ci(hay, p, n)) return 0;
        p += n;
    }
    return 1;
}

int model_events(const struct snapshot *s, const char *filter, struct c_event *out, int max)
{
    int i = 0, j = s->nlocal - 1, n = 0; /* i: orchestrator, newest first; j: local, newest last */
    while (n < max && (i < s->norch_events || j >= 0)) {
        const struct c_event *e;
        if (j < 0 || (i < s->norch_events && strcmp(s->orch_events[i].at, s->local_events[j].at) >= 0))
            e = &s->orch_events[i++];
        else
            e = &s->local_events[j--];
        if (model_event_match(e, filter)) out[n++] = *e;
    }
    return n;
}

void model_local_event(struct snapshot *s, const char *kind, const char *text)
{
    if (s->nlocal == MODEL_EVENTS_MAX) {
        memmove(&s->local_events[0], &s->local_events[1], (MODEL_EVENTS_MAX - 1) * sizeof s->local_events[0]);
        s->nlocal--;
    }
    struct c_event *e = &s->local_events[s->nlocal++];
    model_now_iso(e->at, sizeof e->at);
    copy(e->kind, sizeof e->kind, kind);
    model_printable(e->text, sizeof e->text, text, strlen(text));
    s->version++;
}

void model_redact_url(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *start = scheme ? scheme + 3 : url;
    const char *at = strchr(start, '@');
    const char *slash = strchr(start, '/');
    if (at && (!slash || at < slash))
        snprintf(out, n, "%.*s%s", (int)(start - url), url, at + 1);
    else
        snprintf(out, n, "%s", url);
}

void model_printable(char *dst, size_t n, const char *src, size_t len)
{
    if (!n) return;
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[k++] = c >= 32 && c < 127 ? (char)c : '.';
    }
    dst[k] = 0;
}

void model_fmt_age(int64_t ms, char *out, size_t n)
{
    if (ms < 0) ms = 0;
    int64_t s = ms / 1000;
    if (s < 60) snprintf(out, n, "%llds", (long long)s);
    else if (s < 3600) snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

void model_now_iso(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}
