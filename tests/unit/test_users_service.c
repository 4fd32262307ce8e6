/*
 * test_users_service.c — the users service's routes and its _count
 * (services/users/users_api.c, services/rest/apicount.c) over HTTP on loopback,
 * with a fake orchestrator standing in for the DB service.
 *
 * The fake keeps a users table in memory (a list of names) and answers the
 * DB API operations the service sends: insert (409 for a duplicate), delete
 * by username (changes 0 or 1), select (sorted; by name, after a name,
 * limit; with max_bytes it cuts every answer after FAKE_PAGE rows and says
 * "more", as a slave does once a page passes its size bound), clear. It
 * also counts the calls it receives, so the tests can check that bad input
 * never reaches the database and how many pages a list took.
 */
#include "users_api.h"
#include "apicount.h"
#include "dbclient.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

#define PW "3d725109c7e7c0bfb9d709836735b56d943d263f"
#define MAX_USERS 64
#define FAKE_PAGE 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *names[MAX_USERS];
static int nnames, db_calls;
static int db_down;   /* 1: the fake answers 503 */

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void fake_db(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    db_calls++;
    cJSON *op = json_parse(req->body, req->body_len);
    const char *kind = json_get_str(op, "op");
    cJSON *out = cJSON_CreateObject();
    int status = 200;
    if (db_down) {
        status = 503;
    } else if (strstr(req->path, "clear")) {
        for (int i = 0; i < nnames; i++) free(names[i]);
        json_add_int(out, "changes", nnames);
        nnames = 0;
    } else if (kind && strcmp(kind, "insert") == 0) {
        const char *u = json_get_str(cJSON_GetObjectItem(op, "values"), "username");
        for (int i = 0; i < nnames && status == 200; i++)
            if (strcmp(names[i], u) == 0) status = 409;
        if (status == 200 && nnames < MAX_USERS) names[nnames++] = strdup(u);
        json_add_int(out, "changes", 1);
    } else if (kind && strcmp(kind, "delete") == 0) {
        const char *u = json_get_str(cJSON_GetObjectItem(op, "where"), "username");
        int changes = 0;
        for (int i = 0; i < nnames; i++)
            if (strcmp(names[i], u) == 0) {
                free(names[i]);
                names[i] = names[--nnames];
                changes = 1;
                break;
            }
        json_add_int(out, "changes", changes);
    } else if (kind && strcmp(kind, "select") == 0) {
        qsort(names, (size_t)nnames, sizeof names[0], cmp);
        const char *eq = json_get_str(cJSON_GetObjectItem(op, "where"), "username");
        const char *after = json_get_str(cJSON_GetObjectItem(op, "after"), "username");
        int64_t limit = MAX_USERS, bounded = cJSON_GetObjectItem(op, "max_bytes") != NULL;
        json_get_int(op, "limit", &limit);
        cJSON *rows = cJSON_AddArrayToObject(out, "rows");
        int n = 0, more = 0;
        for (int i = 0; i < nnames && n < limit; i++) {
            if ((eq && strcmp(names[i], eq) != 0) || (after && strcmp(names[i], after) <= 0)) continue;
            if (bounded && n == FAKE_PAGE) { more = 1; break; }
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "username", names[i]);
            cJSON_AddItemToArray(rows, row);
            n++;
        }
        if (bounded) cJSON_AddBoolToObject(out, "more", more);
    } else {
        status = 400;
    }
    pthread_mutex_unlock(&lock);
    if (status == 200) http_reply_json(res, 200, out);
    else http_reply_error(res, status, "fake");
    cJSON_Delete(out);
    cJSON_Delete(op);
}

static char base[64];

/* One call to the users service; returns the status, body in *body (freed by caller). */
static long call(const char *method, const char *path, const char *body, char **out)
{
    static _Thread_local char url[8192];
    struct http_result r;
    snprintf(url, sizeof url, "%s%s", base, path);
    if (http_call(method, url, body, NULL, 3000, &r) != 0) return -1;
    if (out) *out = r.body;
    else http_result_free(&r);
    return r.status;
}

static long count_now(void)
{
    char *b = NULL;
    if (call("GET", "/api/v1/_count", NULL, &b) != 200) return -1;
    long n = -1;
    sscanf(b, "[%ld]", &n);
    free(b);
    return n;
}

TEST(count_starts_at_zero) { CHECK_INT(count_now(), 0); }

TEST(add_list_remove)
{
    char *b = NULL;
    CHECK_INT(call("GET", "/api/v1/users", NULL, &b), 204);
    CHECK_STR(b, "");
    free(b);
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"bob\",\"password\":\"" PW "\"}", &b), 201);
    CHECK_STR(b, "{}");
    free(b);
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"alice\",\"password\":\"" PW "\"}", NULL), 201);
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"alice\",\"password\":\"" PW "\"}", &b), 400);
    CHECK(strstr(b, "already exists") != NULL);
    free(b);
    CHECK_INT(call("GET", "/api/v1/users", NULL, &b), 200);
    CHECK_STR(b, "[\"alice\",\"bob\"]");
    free(b);
    CHECK_INT(call("DELETE", "/api/v1/users/bob", NULL, &b), 200);
    CHECK_STR(b, "{}");
    free(b);
    CHECK_INT(call("DELETE", "/api/v1/users/bob", NULL, &b), 400);
    CHECK(strstr(b, "no such user") != NULL);
    free(b);
    /* a name with a slash and a space, percent-encoded in the path */
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"a/b c\",\"password\":\"" PW "\"}", NULL), 201);
    CHECK_INT(call("DELETE", "/api/v1/users/a%2Fb%20c", NULL, NULL), 200);
}

/* ?username=U answers [U] or 204 from one select by name; names that
 * cannot exist cost no call at all. */
TEST(lookup_by_name)
{
    char *b = NULL;
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"a b/\u00e9\",\"password\":\"" PW "\"}", NULL), 201);
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"zed\",\"password\":\"" PW "\"}", NULL), 201);
    int before = db_calls;
    CHECK_INT(call("GET", "/api/v1/users?username=a%20b%2F%C3%A9", NULL, &b), 200);
    CHECK_STR(b, "[\"a b/\u00e9\"]");
    free(b);
    CHECK_INT(call("GET", "/api/v1/users?username=zed", NULL, &b), 200);
    CHECK_STR(b, "[\"zed\"]");
    free(b);
    CHECK_INT(call("GET", "/api/v1/users?username=nobody", NULL, &b), 204);
    CHECK_STR(b, "");
    free(b);
    CHECK_INT(db_calls, before + 3);
    /* cannot be names: cut at an encoded NUL (it would read "zed"), not UTF-8, empty, too long */
    static const char *const never[] = { "zed%00x", "%FF", "", "%C3" };
    for (size_t i = 0; i < sizeof never / sizeof *never; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/users?username=%s", never[i]);
        CHECK_INT(call("GET", path, NULL, NULL), 204);
    }
    static char path[6000 + 32];
    snprintf(path, sizeof path, "/api/v1/users?username=");
    memset(path + strlen(path), 'x', 5001);
    CHECK_INT(call("GET", path, NULL, NULL), 204);
    CHECK_INT(db_calls, before + 3);
    CHECK_INT(call("GET", "/api/v1/users?username=zed&limit=1", NULL, NULL), 400);
    CHECK_INT(call("DELETE", "/api/v1/users/zed", NULL, NULL), 200);
    CHECK_INT(call("DELETE", "/api/v1/users/a%20b%2F%C3%A9", NULL, NULL), 200);
}

/* The whole list comes in several pages from the database (the fake cuts
 * at FAKE_PAGE rows), and ?limit&after pages put together are that list. */
TEST(paged_and_whole_lists_agree)
{
    CHECK_INT(call("POST", "/api/v1/db/clear", "{}", NULL), 200);
    for (int i = 0; i < 10; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"username\":\"p%d\",\"password\":\"" PW "\"}", 9 - i);
        CHECK_INT(call("PUT", "/api/v1/users", body, NULL), 201);
    }
    char *whole = NULL, *b = NULL;
    int before = db_calls;
    CHECK_INT(call("GET", "/api/v1/users", NULL, &whole), 200);
    CHECK_STR(whole, "[\"p0\",\"p1\",\"p2\",\"p3\",\"p4\",\"p5\",\"p6\",\"p7\",\"p8\",\"p9\"]");
    CHECK_INT(db_calls - before, 4);   /* 3 + 3 + 3 + 1 */
    free(whole);
    char got[256] = "", path[128];
    for (const char *after = NULL;;) {
        char last[16];
        snprintf(path, sizeof path, "/api/v1/users?limit=4%s%s", after ? "&after=" : "", after ? after : "");
        long st = call("GET", path, NULL, &b);
        if (st == 204) { free(b); break; }
        CHECK_INT(st, 200);
        cJSON *page = json_parse(b, strlen(b));
        CHECK(cJSON_GetArraySize(page) >= 1 && cJSON_GetArraySize(page) <= 4);
        const cJSON *e;
        cJSON_ArrayForEach(e, page) {
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s,", e->valuestring);
            snprintf(last, sizeof last, "%s", e->valuestring);
        }
        cJSON_Delete(page);
        free(b);
        after = last;
        CHECK(strlen(got) < 100);
    }
    CHECK_STR(got, "p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,");
    CHECK_INT(call("GET", "/api/v1/users?limit=2&after=p3", NULL, &b), 200);
    CHECK_STR(b, "[\"p4\",\"p5\"]");
    free(b);
    CHECK_INT(call("GET", "/api/v1/users?after=p7", NULL, &b), 200);
    CHECK_STR(b, "[\"p8\",\"p9\"]");
    free(b);
    CHECK_INT(call("GET", "/api/v1/users?after=p9", NULL, NULL), 204);
    before = db_calls;
    static const char *const bad[] = { "limit=0", "limit=100001", "limit=-1", "limit=1.5", "limit=", "limit=x",
                                       "limit=01", "after=%FF", "after=a%00" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "/api/v1/users?%s", bad[i]);
        CHECK_INT(call("GET", path, NULL, NULL), 400);
    }
    CHECK_INT(db_calls, before);
    CHECK_INT(call("POST", "/api/v1/db/clear", "{}", NULL), 200);
}

TEST(bad_input_never_reaches_the_database)
{
    static const char *const bad[] = {
        "", "x", "[]", "{}", "{\"username\":\"u\"}", "{\"username\":\"\",\"password\":\"" PW "\"}",
        "{\"username\":\"u\",\"password\":\"" PW "0\"}", "{\"username\":\"a\\u0000\",\"password\":\"" PW "\"}",
        "{\"username\":\"u\",\"username\":\"v\",\"password\":\"" PW "\"}",
        "{\"username\":\"\xFF\",\"password\":\"" PW "\"}",
        "{\"username\":\"u\",\"password\":\"" PW "\",\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,"
        "\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1}",   /* 17 keys */
    };
    int before = db_calls;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *b = NULL;
        long st = call("PUT", "/api/v1/users", bad[i], &b);
        if (st != 400) printf("# %s -> %ld %s\n", bad[i], st, b ? b : "");
        CHECK_INT(st, 400);
        CHECK(strstr(b, "\"error\"") != NULL);
        free(b);
    }
    CHECK_INT(db_calls, before);
    CHECK_INT(call("POST", "/api/v1/db/clear", "[1]", NULL), 400);
    CHECK_INT(call("POST", "/api/v1/db/clear", " ", NULL), 400); /* whitespace is not JSON */
    CHECK_INT(db_calls, before);
}

TEST(wrong_methods_are_405)
{
    CHECK_INT(call("POST", "/api/v1/users", "{}", NULL), 405);
    CHECK_INT(call("DELETE", "/api/v1/users", NULL, NULL), 405);
    CHECK_INT(call("GET", "/api/v1/users/x", NULL, NULL), 405);
    CHECK_INT(call("PUT", "/api/v1/users/x", "{}", NULL), 405);
    CHECK_INT(call("GET", "/api/v1/db/clear", NULL, NULL), 405);
    CHECK_INT(call("PUT", "/api/v1/_count", "{}", NULL), 405);
}

TEST(database_down_is_503)
{
    db_down = 1;
    char *b = NULL;
    CHECK_INT(call("GET", "/api/v1/users", NULL, &b), 503);
    CHECK(strstr(b, "\"error\"") != NULL);
    free(b);
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"z\",\"password\":\"" PW "\"}", NULL), 503);
    CHECK_INT(call("POST", "/api/v1/db/clear", NULL, NULL), 503);
    db_down = 0;
}

/* The counting rules (docs/api.md, "Counting requests"): every request to a
 * users route counts, 405s included; _count and db/clear never; unknown
 * paths (404) not. */
TEST(count_arithmetic)
{
    CHECK_INT(call("DELETE", "/api/v1/_count", NULL, NULL), 200);
    CHECK_INT(count_now(), 0);
    CHECK_INT(call("POST", "/api/v1/db/clear", "{}", NULL), 200);
    int n1 = 7, n2 = 5, n3 = 4;
    CHECK_INT(call("PUT", "/api/v1/users", "{\"username\":\"userName\",\"password\":\"" PW "\"}", NULL), 201);
    for (int i = 0; i < n1; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"username\":\"u%d\",\"password\":\"" PW "\"}", i);
        CHECK_INT(call("PUT", "/api/v1/users", body, NULL), 201);
    }
    for (int i = 0; i < n2; i++) CHECK_INT(call("POST", "/api/v1/users", "{}", NULL), 405);
    for (int i = 0; i < n3; i++) CHECK_INT(call("GET", "/api/v1/users", NULL, NULL), 200);
    CHECK_INT(call("GET", "/api/v1/nothing", NULL, NULL), 404);
    CHECK_INT(call("GET", "/api/v1/users/a/b", NULL, NULL), 404);
    CHECK_INT(call("GET", "/api/v1/db/clear", NULL, NULL), 405);
    CHECK_INT(call("POST", "/api/v1/_count", NULL, NULL), 405);
    CHECK_INT(call("POST", "/api/v1/db/clear", NULL, NULL), 200);
    CHECK_INT(call("GET", "/metrics", NULL, NULL), 200);   /* a scraper is not a client */
    CHECK_INT(count_now(), n1 + n2 + n3 + 1);
    CHECK_INT(count_now(), n1 + n2 + n3 + 1);   /* reading does not count */
    CHECK_INT(call("DELETE", "/api/v1/_count", NULL, NULL), 200);
    CHECK_INT(count_now(), 0);
}

/* The value of the sample line that starts with prefix in the exposition text, or -1. */
static double sample(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0 && p[strlen(prefix)] == ' ') return atof(p + strlen(prefix) + 1);
    return -1;
}

TEST(metrics_count_requests_by_route_not_by_path)
{
    char *m = NULL;
    CHECK_INT(call("GET", "/metrics", NULL, &m), 200);
    const char *key = "rideshare_http_requests_total{route=\"/api/v1/users/{username}\",method=\"DELETE\",status=\"400\"}";
    double before = sample(m, key);
    free(m);
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/users/nobody%d", i);
        CHECK_INT(call("DELETE", path, NULL, NULL), 400);
    }
    CHECK_INT(call("BREW", "/api/v1/users", NULL, NULL), 405);
    CHECK_INT(call("GET", "/metrics", NULL, &m), 200);
    CHECK(sample(m, key) == (before < 0 ? 0 : before) + 3);   /* one series for every name */
    CHECK(sample(m, "rideshare_http_requests_total{route=\"/api/v1/users\",method=\"other\",status=\"405\"}") >= 1);
    CHECK(strstr(m, "# TYPE rideshare_http_request_duration_seconds histogram\n") != NULL);
    CHECK(sample(m, "rideshare_http_request_duration_seconds_count{route=\"/api/v1/users/{username}\"}") >= 3);
    CHECK(strstr(m, "nobody") == NULL);
    free(m);
}

struct burst { int n; };

static void *hammer(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < b->n; i++) call("POST", "/api/v1/users", "{}", NULL);
    return NULL;
}

TEST(count_is_exact_under_concurrency)
{
    CHECK_INT(call("DELETE", "/api/v1/_count", NULL, NULL), 200);
    pthread_t t[8];
    struct burst b = { 50 };
    for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, hammer, &b);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    CHECK_INT(count_now(), 8 * 50);
}

int main(void)
{
    log_init("test_users_service");
    test_suite = __FILE__;
    http_client_global_init();

    struct http_server *orch = http_server_new(1 << 20);
    if (!orch || http_server_route(orch, "POST", "/api/v1/db/write", fake_db, NULL) ||
        http_server_route(orch, "POST", "/api/v1/db/read", fake_db, NULL) ||
        http_server_route(orch, "POST", "/api/v1/db/clear", fake_db, NULL))
        return 1;
    int oport = http_server_start(orch, "127.0.0.1", 0);
    if (oport <= 0) return 1;
    static struct dbclient db;
    char obase[64];
    snprintf(obase, sizeof obase, "http://127.0.0.1:%d", oport);
    dbc_init(&db, obase, 3000);

    struct http_server *srv = http_server_new(1 << 20);
    struct api_counter *counter = srv ? api_count_register(srv) : NULL;
    if (!counter || users_api_register(srv, &db) != 0 || http_server_serve_metrics(srv, NULL) != 0) return 1;
    int port = http_server_start(srv, "127.0.0.1", 0);
    if (port <= 0) return 1;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);

    RUN(count_starts_at_zero);
    RUN(metrics_count_requests_by_route_not_by_path);
    RUN(add_list_remove);
    RUN(lookup_by_name);
    RUN(paged_and_whole_lists_agree);
    RUN(bad_input_never_reaches_the_database);
    RUN(wrong_methods_are_405);
    RUN(database_down_is_503);
    RUN(count_arithmetic);
    RUN(count_is_exact_under_concurrency);

    http_server_free(srv);
    api_count_free(counter);
    http_server_free(orch);
    for (int i = 0; i < nnames; i++) free(names[i]);
    return test_done();
}
