/*
 * dbclient.c — see dbclient.h.
 *
 * How it works. Each call prints the operation, POSTs it with http_call
 * (per-thread keep-alive connection, bounded by the client's timeout) and
 * sorts the answer into a dbc_kind. Only a 200 whose body is a JSON object
 * counts as success; anything else that is not one of the DB API's
 * documented refusals (400, 409, 413) means the database cannot serve right
 * now, so the caller answers 503 rather than guess. The orchestrator's own
 * error message is kept for the log and for the 503/413 body: it is short
 * and quotes no more than 64 printable bytes of client text (docs/db-api.md).
 *
 * With several orchestrators (an active one and standbys) each call goes
 * through call_active, which says when trying another one is safe, and
 * first through follow_takeover, which moves the client to another one
 * when the active one has gone silent and another says it took over
 * (dbclient.h).
 */
#include "dbclient.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"

int dbc_init(struct dbclient *c, const char *base, long timeout_ms)
{
    memset(c, 0, sizeof *c);
    if (!base) return -1;
    size_t used = 0;
    for (const char *p = base;;) {
        size_t n = strcspn(p, ",");
        const char *s = p;
        while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '/')) n--;
        if (n == 0 || n >= sizeof c->urls[0] || c->nurls == DBC_MAX_URLS ||
            used + n + 2 > sizeof c->base)
            return -1;
        memcpy(c->urls[c->nurls++], s, n);
        used += (size_t)snprintf(c->base + used, sizeof c->base - used, "%s%.*s", used ? "," : "", (int)n, s);
        p += strcspn(p, ",");
        if (!*p) break;
        p++;
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    atomic_store(&c->answered_ms, clock_ms());
    return 0;
}

int dbc_set_token(struct dbclient *c, const char *token)
{
    c->auth[0] = '\0';
    if (!token || !*token) return 0;
    for (const char *p = token; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return -1; /* it becomes a header line */
    int n = snprintf(c->auth, sizeof c->auth, "Authorization: Bearer %s", token);
    if (n < 0 || (size_t)n >= sizeof c->auth) {
        c->auth[0] = '\0';
        return -1;
    }
    return 0;
}

/* The orchestrator's {"error": ...} text, or a fallback. */
static void copy_error(struct dbc_result *out, const char *body, const char *fallback)
{
    cJSON *j = body ? json_parse(body, strlen(body)) : NULL;
    const char *msg = json_get_str(j, "error");
    snprintf(out->error, sizeof out->error, "%s", msg && *msg ? msg : fallback);
    cJSON_Delete(j);
}

/* Whether a 503's body is a standby's (leader.h in the orchestrator): it
 * names the orchestrator's "role", and nothing of the request ran. */
static int from_standby(const struct http_result *hr)
{
    if (hr->status != 503 || !hr->body) return 0;
    cJSON *j = json_parse(hr->body, hr->body_len);
    int standby = json_get_str(j, "role") != NULL;
    cJSON_Delete(j);
    return standby;
}

/* Whether the orchestrator at url says it is the active one. */
static int says_active(const struct dbclient *c, const char *base)
{
    char url[600];
    const char *headers[] = { c->auth, NULL };
    struct http_result hr;
    snprintf(url, sizeof url, "%s/api/v1/role", base);
    if (http_call("GET", url, NULL, c->auth[0] ? headers : NULL, DBC_PROBE_TIMEOUT_MS, &hr) != 0) {
        http_result_free(&hr);
        return 0;
    }
    cJSON *j = hr.status == 200 && hr.body ? json_parse(hr.body, hr.body_len) : NULL;
    const char *role = json_get_str(j, "role");
    int active = role && strcmp(role, "active") == 0;
    cJSON_Delete(j);
    http_result_free(&hr);
    return active;
}

/* Calls are waiting and nothing has answered for DBC_SILENT_MS: one thread at
 * a time (the others go on as before) asks the other orchestrators whether
 * one of them is now the active one, and moves the client there. */
static void follow_takeover(const struct dbclient *c)
{
    struct dbclient *m = (struct dbclient *)c; /* the shared state is atomic (see call_active) */
    int64_t now = clock_ms(), next = atomic_load(&m->next_probe_ms);
    if (c->nurls == 1 || atomic_load(&m->waiting) == 0 || now - atomic_load(&m->answered_ms) < DBC_SILENT_MS ||
        now < next || !atomic_compare_exchange_strong(&m->next_probe_ms, &next, now + DBC_PROBE_EVERY_MS))
        return;
    int cur = atomic_load(&m->active);
    for (int k = 1; k < c->nurls; k++) {
        int j = (cur + k) % c->nurls;
        if (!says_active(c, c->urls[j])) continue;
        if (atomic_compare_exchange_strong(&m->active, &cur, j))
            log_warn("orchestrator silent for %lld ms with calls waiting; another says it is active url=%s",
                     (long long)(now - atomic_load(&m->answered_ms)), c->urls[j]);
        return;
    }
}

/* One call, to the active orchestrator or the next ones (dbclient.h): 0 with
 * an answer in *hr, -1 without one. */
static int call_active(const struct dbclient *c, const char *what, const char *body, struct http_result *hr)
{
    /* The index is the one thing a call changes in the client, shared by
     * every thread: atomic, behind the const the callers hold. */
    _Atomic int *active = (_Atomic int *)&c->active;
    const char *headers[] = { c->auth, NULL };
    int idempotent = strcmp(what, "read") == 0;
    follow_takeover(c);
    int first = atomic_load(active), i = first, rc;
    int64_t deadline = clock_ms() + c->timeout_ms;
    for (int tries = 1;; tries++) {
        char url[600];
        snprintf(url, sizeof url, "%s/api/v1/db/%s", c->urls[i], what);
        int64_t left = deadline - clock_ms();
        atomic_fetch_add((_Atomic int *)&c->waiting, 1);
        rc = http_call("POST", url, body, c->auth[0] ? headers : NULL, left < 1 ? 1 : (long)left, hr);
        atomic_fetch_sub((_Atomic int *)&c->waiting, 1);
        if (rc == 0 && !from_standby(hr)) atomic_store((_Atomic int64_t *)&c->answered_ms, clock_ms());
        int elsewhere = rc == 0 ? from_standby(hr) : hr->unsent || idempotent;
        if (!elsewhere || c->nurls == 1 || tries >= DBC_ROUNDS * c->nurls) break;
        i = (i + 1) % c->nurls;
        int64_t pause = i == first ? DBC_ROUND_PAUSE_MS : 0;
        if (clock_ms() + pause >= deadline) break;
        http_result_free(hr);
        if (pause) {
            struct timespec t = { 0, pause * 1000000L };
            nanosleep(&t, NULL);
        }
    }
    if (rc == 0 && !from_standby(hr) && atomic_exchange(active, i) != i)
        log_info("orchestrator answering url=%s (of %d)", c->urls[i], c->nurls);
    return rc;
}

/* raw: a 200's body is kept as text (out->text) rather than parsed. */
static enum dbc_kind post(const struct dbclient *c, const char *what, const char *body, int raw,
                          struct dbc_result *out)
{
    struct http_result hr;

    memset(out, 0, sizeof *out);
    if (call_active(c, what, body, &hr) != 0) {
        out->kind = DBC_UNAVAILABLE;
        snprintf(out->error, sizeof out->error, "database unreachable (%s)", hr.error);
        return out->kind;
    }
    out->status = hr.status;
    switch (hr.status) {
    case 200:
        if (raw) {
            out->kind = DBC_OK;
            out->text = hr.body;
            out->text_len = hr.body_len;
            hr.body = NULL;
            break;
        }
        out->json = json_parse(hr.body, hr.body_len);
        if (cJSON_IsObject(out->json)) {
            out->kind = DBC_OK;
        } else {
            cJSON_Delete(out->json);
            out->json = NULL;
            out->kind = DBC_UNAVAILABLE;
            snprintf(out->error, sizeof out->error, "database answered 200 with no JSON object");
        }
        break;
    case 400:
        out->kind = DBC_REJECTED;
        copy_error(out, hr.body, "operation rejected");
        break;
    case 409:
        out->kind = DBC_CONFLICT;
        copy_error(out, hr.body, "constraint conflict");
        break;
    case 413:
        out->kind = DBC_TOO_LARGE;
        copy_error(out, hr.body, "too large for the database");
        break;
    case 401: /* a deployment error, not the client's: said plainly in our log */
        out->kind = DBC_UNAVAILABLE;
        snprintf(out->error, sizeof out->error, "the orchestrator wants the admin token (401): check ADMIN_TOKEN");
        /* Once per process: every request would say the same, and logs stay bounded. */
        static atomic_int told;
        if (!atomic_exchange(&told, 1))
            log_error("the orchestrator refused this service's calls status=401 (ADMIN_TOKEN or ADMIN_TOKEN_FILE)");
        break;
    default:
        out->kind = DBC_UNAVAILABLE;
        copy_error(out, hr.body, "database unavailable");
        break;
    }
    http_result_free(&hr);
    return out->kind;
}

static enum dbc_kind call_op(const struct dbclient *c, const char *what, const cJSON *op,
                             struct dbc_result *out)
{
    char *body = json_print(op);
    enum dbc_kind k = post(c, what, body, 0, out);
    free(body);
    return k;
}

enum dbc_kind dbc_write(const struct dbclient *c, const cJSON *op, struct dbc_result *out)
{
    return call_op(c, "write", op, out);
}

enum dbc_kind dbc_read(const struct dbclient *c, const cJSON *op, struct dbc_result *out)
{
    return call_op(c, "read", op, out);
}

enum dbc_kind dbc_read_text(const struct dbclient *c, const char *op, struct dbc_result *out)
{
    return post(c, "read", op, 1, out);
}

enum dbc_kind dbc_clear(const struct dbclient *c, struct dbc_result *out)
{
    return post(c, "clear", "{}", 0, out);
}

void dbc_result_free(struct dbc_result *r)
{
    if (!r) return;
    cJSON_Delete(r->json);
    r->json = NULL;
    free(r->text);
    r->text = NULL;
}

static int64_t int_member(const struct dbc_result *r, const char *key)
{
    int64_t v;
    return r && r->json && json_get_int(r->json, key, &v) == 0 ? v : -1;
}

int64_t dbc_changes(const struct dbc_result *r) { return int_member(r, "changes"); }
int64_t dbc_insert_id(const struct dbc_result *r) { return int_member(r, "id"); }
int64_t dbc_count(const struct dbc_result *r) { return int_member(r, "count"); }

const cJSON *dbc_rows(const struct dbc_result *r)
{
    const cJSON *rows = r && r->json ? cJSON_GetObjectItemCaseSensitive(r->json, "rows") : NULL;
    return cJSON_IsArray(rows) ? rows : NULL;
}

void dbc_reply_failure(struct http_response *res, const struct dbc_result *r)
{
    char msg[320];
    switch (r->kind) {
    case DBC_UNAVAILABLE:
        log_warn("database unavailable status=%ld error=%s", r->status, r->error);
        snprintf(msg, sizeof msg, "database unavailable: %s", r->error);
        http_reply_error(res, 503, msg);
        break;
    case DBC_TOO_LARGE:
        log_warn("operation too large for the database error=%s", r->error);
        http_reply_error(res, 413, "request too large to store");
        break;
    default:
        /* The service built an operation the DB API refused, or a caller
         * passed a success or a conflict here: a bug either way. */
        log_error("database call failed unexpectedly kind=%d status=%ld error=%s", (int)r->kind,
                  r->status, r->error);
        http_reply_error(res, 500, "internal error");
        break;
    }
}

cJSON *dbc_op_insert(const char *table, cJSON *values)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "insert");
    cJSON_AddStringToObject(op, "table", table);
    cJSON_AddItemToObject(op, "values", values);
    return op;
}

cJSON *dbc_op_delete(const char *table, cJSON *where)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "delete");
    cJSON_AddStringToObject(op, "table", table);
    cJSON_AddItemToObject(op, "where", where);
    return op;
}

cJSON *dbc_op_count(const char *table, cJSON *where)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "count");
    cJSON_AddStringToObject(op, "table", table);
    if (where) cJSON_AddItemToObject(op, "where", where);
    return op;
}

cJSON *dbc_op_select(const char *table, const char *const *columns, cJSON *where,
                     const char *const *order_by)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "select");
    cJSON_AddStringToObject(op, "table", table);
    if (columns) {
        cJSON *cols = cJSON_AddArrayToObject(op, "columns");
        for (; *columns; columns++) cJSON_AddItemToArray(cols, cJSON_CreateString(*columns));
    }
    if (where) cJSON_AddItemToObject(op, "where", where);
    if (order_by) {
        cJSON *order = cJSON_AddArrayToObject(op, "order");
        for (; *order_by; order_by++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "column", *order_by);
            cJSON_AddItemToArray(order, o);
        }
    }
    return op;
}
