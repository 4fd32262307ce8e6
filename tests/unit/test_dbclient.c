/*
 * test_dbclient.c — services/rest/dbclient.c against a fake orchestrator on
 * loopback (an http_server whose handlers answer what the test asks for),
 * so every kind of answer — success, each refusal, 5xx, garbage, silence,
 * nobody listening — is seen to land in the right dbc_kind and the right
 * HTTP answer of the service.
 *
 * The fake's answer is chosen by the operation's "table": "s200", "s409",
 * ... answer with that status; "garbage" with a 200 that is not JSON;
 * "slow" after 1.5 s (longer than the client's timeout); "pages" with the
 * next text of `pages`, for dbc_read_pages. It also keeps the last body it
 * received, to check what the client sent, and counts the requests.
 *
 * A second fake plays a standby orchestrator (503 with a "role": nothing
 * ran), and port 1 one that is down (connection refused), for the client's
 * failover over a list of orchestrators.
 */
#include "clock.h"
#include "dbclient.h"
#include "http_client.h"
#include "http_server.h"
#include "jsonout.h"
#include "log.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct dbclient db;
static char last_path[64];
static char last_body[512];
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;

static int fake_hits, standby_hits;   /* requests each fake received */
static char real_base[64], standby_base[64];

static const char *const *pages;   /* answers to "pages", in turn */
static int npages_sent;

static void fake(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&last_lock);
    snprintf(last_path, sizeof last_path, "%s", req->path);
    snprintf(last_body, sizeof last_body, "%s", req->body);
    fake_hits++;
    pthread_mutex_unlock(&last_lock);
    cJSON *op = json_parse(req->body, req->body_len);
    const char *table = json_get_str(op, "table");
    if (!table) table = "s200";
    if (strcmp(table, "pages") == 0) {
        http_reply_raw(res, 200, strdup(pages[npages_sent++]));
    } else if (strcmp(table, "garbage") == 0) {
        http_reply_raw(res, 200, strdup("not json"));
    } else if (strcmp(table, "array") == 0) {
        http_reply_raw(res, 200, strdup("[1]"));
    } else if (strcmp(table, "slow") == 0) {
        struct timespec t = { 1, 500000000L };
        nanosleep(&t, NULL);
        http_reply_raw(res, 200, strdup("{}"));
    } else if (table[0] == 's') {
        int status = atoi(table + 1);
        if (status == 200)
            http_reply_raw(res, 200, strdup("{\"seq\":7,\"changes\":1,\"id\":42,\"count\":3,\"rows\":[{\"a\":1}]}"));
        else
            http_reply_error(res, status, "fake says no");
    }
    cJSON_Delete(op);
}

static void standby(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    (void)ctx;
    pthread_mutex_lock(&last_lock);
    standby_hits++;
    pthread_mutex_unlock(&last_lock);
    http_reply_raw(res, 503, strdup("{\"error\":\"not the active one\",\"role\":\"standby\"}"));
}

static enum dbc_kind write_to_client(const struct dbclient *c, const char *table, struct dbc_result *r)
{
    cJSON *op = dbc_op_delete(table, cJSON_CreateObject());
    enum dbc_kind k = dbc_write(c, op, r);
    cJSON_Delete(op);
    return k;
}

static enum dbc_kind write_to(const char *table, struct dbc_result *r)
{
    return write_to_client(&db, table, r);
}

TEST(init_trims_and_checks)
{
    struct dbclient c;
    CHECK_INT(dbc_init(&c, "http://h:1///", 0), 0);
    CHECK_STR(c.base, "http://h:1");
    CHECK(c.timeout_ms > 0);
    CHECK_INT(dbc_init(&c, "", 1), -1);
    CHECK_INT(dbc_init(&c, "/", 1), -1);
    CHECK_INT(dbc_init(&c, NULL, 1), -1);
    char huge[700];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    CHECK_INT(dbc_init(&c, huge, 1), -1);
}

TEST(success_and_accessors)
{
    struct dbc_result r;
    CHECK_INT(write_to("s200", &r), DBC_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(dbc_changes(&r), 1);
    CHECK_INT(dbc_insert_id(&r), 42);
    CHECK_INT(dbc_count(&r), 3);
    CHECK(dbc_rows(&r) != NULL);
    CHECK_INT(cJSON_GetArraySize(dbc_rows(&r)), 1);
    dbc_result_free(&r);
    CHECK_STR(last_path, "/api/v1/db/write");
    CHECK_STR(last_body, "{\"op\":\"delete\",\"table\":\"s200\",\"where\":{}}");
}

TEST(each_endpoint)
{
    struct dbc_result r;
    cJSON *op = dbc_op_count("s200", NULL);
    CHECK_INT(dbc_read(&db, op, &r), DBC_OK);
    cJSON_Delete(op);
    dbc_result_free(&r);
    CHECK_STR(last_path, "/api/v1/db/read");
    CHECK_STR(last_body, "{\"op\":\"count\",\"table\":\"s200\"}");
    CHECK_INT(dbc_clear(&db, &r), DBC_OK);
    dbc_result_free(&r);
    CHECK_STR(last_path, "/api/v1/db/clear");
    CHECK_STR(last_body, "{}");
}

TEST(refusals_and_failures)
{
    static const struct { const char *table; enum dbc_kind kind; long status; } cases[] = {
        { "s400", DBC_REJECTED, 400 }, { "s409", DBC_CONFLICT, 409 }, { "s413", DBC_TOO_LARGE, 413 },
        { "s503", DBC_UNAVAILABLE, 503 }, { "s500", DBC_UNAVAILABLE, 500 }, { "s502", DBC_UNAVAILABLE, 502 },
        { "s404", DBC_UNAVAILABLE, 404 }, { "garbage", DBC_UNAVAILABLE, 200 }, { "array", DBC_UNAVAILABLE, 200 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dbc_result r;
        CHECK_INT(write_to(cases[i].table, &r), cases[i].kind);
        CHECK_INT(r.status, cases[i].status);
        CHECK(r.json == NULL);
        CHECK(r.error[0] != '\0');
        CHECK_INT(dbc_changes(&r), -1);
        CHECK(dbc_rows(&r) == NULL);
        if (cases[i].table[0] == 's' && cases[i].status != 404) CHECK_STR(r.error, "fake says no");
        dbc_result_free(&r);
    }
}

TEST(timeout_is_unavailable_and_bounded)
{
    struct dbc_result r;
    int64_t t0 = clock_ms();
    CHECK_INT(write_to("slow", &r), DBC_UNAVAILABLE);
    int64_t took = clock_ms() - t0;
    CHECK_INT(r.status, 0);
    CHECK(took < 1400);
    dbc_result_free(&r);
}

TEST(nobody_listening)
{
    struct dbclient dead;
    CHECK_INT(dbc_init(&dead, "http://127.0.0.1:1", 500), 0);
    struct dbc_result r;
    CHECK_INT(dbc_clear(&dead, &r), DBC_UNAVAILABLE);
    CHECK(strstr(r.error, "unreachable") != NULL);
    dbc_result_free(&r);
}

TEST(list_of_urls)
{
    struct dbclient c;
    CHECK_INT(dbc_init(&c, " http://a:1/ ,http://b:2//,http://c:3", 100), 0);
    CHECK_INT(c.nurls, 3);
    CHECK_STR(c.urls[0], "http://a:1");
    CHECK_STR(c.urls[1], "http://b:2");
    CHECK_STR(c.urls[2], "http://c:3");
    CHECK_STR(c.base, "http://a:1,http://b:2,http://c:3");
    CHECK_INT(dbc_init(&c, "http://a:1,", 100), -1);
    CHECK_INT(dbc_init(&c, "http://a:1,,http://b:2", 100), -1);
    CHECK_INT(dbc_init(&c, "a,b,c,d,e", 100), -1);   /* more than DBC_MAX_URLS */
    CHECK_INT(dbc_init(&c, "a,b,c,d", 100), 0);
}

/* Writes through a client of urls: its kind, and how many requests each fake got. */
static enum dbc_kind write_list(const char *urls, long timeout_ms, const char *table, int *real, int *stby,
                                struct dbclient *c)
{
    if (dbc_init(c, urls, timeout_ms)) return (enum dbc_kind)-1;
    pthread_mutex_lock(&last_lock);
    int r0 = fake_hits, s0 = standby_hits;
    pthread_mutex_unlock(&last_lock);
    struct dbc_result r;
    enum dbc_kind k = write_to_client(c, table, &r);
    dbc_result_free(&r);
    pthread_mutex_lock(&last_lock);
    *real = fake_hits - r0;
    *stby = standby_hits - s0;
    pthread_mutex_unlock(&last_lock);
    return k;
}

TEST(failover_past_standby_and_dead)
{
    struct dbclient c;
    char urls[300];
    int real, stby;
    /* a standby, one that is down, then the active one: the write lands once */
    snprintf(urls, sizeof urls, "%s,http://127.0.0.1:1,%s", standby_base, real_base);
    CHECK_INT(write_list(urls, 2000, "s200", &real, &stby, &c), DBC_OK);
    CHECK_INT(real, 1);
    CHECK_INT(stby, 1);
    CHECK_INT(atomic_load(&c.active), 2);
    /* the next call goes to the one that answered, first */
    struct dbc_result r;
    CHECK_INT(write_to_client(&c, "s200", &r), DBC_OK);
    dbc_result_free(&r);
    CHECK_INT(standby_hits, stby);
    /* an ordinary 503 (not a standby's) is the answer: nothing else is asked */
    snprintf(urls, sizeof urls, "%s,%s", real_base, standby_base);
    CHECK_INT(write_list(urls, 2000, "s503", &real, &stby, &c), DBC_UNAVAILABLE);
    CHECK_INT(real, 1);
    CHECK_INT(stby, 0);
}

TEST(write_sent_is_never_sent_again)
{
    struct dbclient c;
    char urls[300];
    int real, stby;
    /* The first one took the write and did not answer in time: its outcome is
     * unknown, so the next one is not asked (a second request id could apply
     * it twice). */
    snprintf(urls, sizeof urls, "%s,%s", real_base, standby_base);
    int64_t t0 = clock_ms();
    CHECK_INT(write_list(urls, 700, "slow", &real, &stby, &c), DBC_UNAVAILABLE);
    CHECK(clock_ms() - t0 < 1400);
    CHECK_INT(real, 1);
    CHECK_INT(stby, 0);
}

/* An orchestrator that dies holding a write: it answers one request on a
 * keep-alive connection, reads the second and closes everything (listening
 * socket too) without answering. libcurl then retries on a fresh connection
 * and sees it refused — the request was sent all the same. */
static void *dies_holding_a_write(void *arg)
{
    int ls = *(int *)arg, c = accept(ls, NULL, NULL);
    char buf[4096];
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                             "{\"changes\":1}";
    for (int k = 0; c >= 0 && k < 2; k++) {
        ssize_t n, got = 0;
        while ((n = read(c, buf + got, sizeof buf - 1 - (size_t)got)) > 0) {
            got += n;
            buf[got] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (end && strstr(end, "}")) break; /* the body is one small JSON object */
        }
        if (k == 0 && write(c, ok, sizeof ok - 1) < 0) break;
    }
    close(ls);
    if (c >= 0) close(c);
    return NULL;
}

TEST(write_on_a_dying_keepalive_is_not_resent)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0 &&
          getsockname(ls, (struct sockaddr *)&a, &len) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, dies_holding_a_write, &ls) == 0);
    struct dbclient c;
    char urls[300];
    int real, stby;
    snprintf(urls, sizeof urls, "http://127.0.0.1:%d,%s", ntohs(a.sin_port), real_base);
    CHECK_INT(write_list(urls, 3000, "s200", &real, &stby, &c), DBC_OK); /* the first, answered */
    CHECK_INT(real, 0);
    struct dbc_result r;
    pthread_mutex_lock(&last_lock);
    int before = fake_hits;
    pthread_mutex_unlock(&last_lock);
    CHECK_INT(write_to_client(&c, "s200", &r), DBC_UNAVAILABLE); /* sent, never answered */
    dbc_result_free(&r);
    CHECK_INT(fake_hits, before); /* and not sent again elsewhere */
    pthread_join(t, NULL);
}

TEST(no_active_one_is_bounded)
{
    struct dbclient c;
    char urls[300];
    int real, stby;
    /* only a standby and a dead one: a round, a pause, another round... until
     * the timeout; never more than DBC_ROUNDS rounds */
    snprintf(urls, sizeof urls, "%s,http://127.0.0.1:1", standby_base);
    int64_t t0 = clock_ms();
    CHECK_INT(write_list(urls, 1000, "s200", &real, &stby, &c), DBC_UNAVAILABLE);
    int64_t took = clock_ms() - t0;
    CHECK(took < 1500);
    CHECK(stby >= 1000 / DBC_ROUND_PAUSE_MS - 1 && stby <= 1000 / DBC_ROUND_PAUSE_MS + 1);
    CHECK(stby <= DBC_ROUNDS);
    /* a short timeout cuts the rounds short */
    t0 = clock_ms();
    CHECK_INT(write_list(urls, 150, "s200", &real, &stby, &c), DBC_UNAVAILABLE);
    CHECK(clock_ms() - t0 < 600);
    CHECK_INT(stby, 1);
}

TEST(service_answers_for_failures)
{
    struct dbc_result r;
    memset(&r, 0, sizeof r);
    struct http_response res = { 0 };
    r.kind = DBC_UNAVAILABLE;
    snprintf(r.error, sizeof r.error, "down");
    dbc_reply_failure(&res, &r);
    CHECK_INT(res.status, 503);
    CHECK(strstr(res.body, "down") != NULL);
    r.kind = DBC_TOO_LARGE;
    dbc_reply_failure(&res, &r);
    CHECK_INT(res.status, 413);
    r.kind = DBC_REJECTED;
    dbc_reply_failure(&res, &r);
    CHECK_INT(res.status, 500);
    free(res.body);
}

TEST(operation_builders)
{
    static const char *const cols[] = { "ride_id", "ts", NULL };
    static const char *const order[] = { "ts", "ride_id", NULL };
    cJSON *w = cJSON_CreateObject();
    json_add_int(w, "source", 3);
    cJSON *op = dbc_op_select("rides", cols, w, order);
    char *s = json_print(op);
    CHECK_STR(s, "{\"op\":\"select\",\"table\":\"rides\",\"columns\":[\"ride_id\",\"ts\"],"
                 "\"where\":{\"source\":3},\"order\":[{\"column\":\"ts\"},{\"column\":\"ride_id\"}]}");
    free(s);
    cJSON_Delete(op);
    op = dbc_op_select("users", NULL, NULL, NULL);
    s = json_print(op);
    CHECK_STR(s, "{\"op\":\"select\",\"table\":\"users\"}");
    free(s);
    cJSON_Delete(op);
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "username", "a");
    op = dbc_op_insert("users", v);
    s = json_print(op);
    CHECK_STR(s, "{\"op\":\"insert\",\"table\":\"users\",\"values\":{\"username\":\"a\"}}");
    free(s);
    cJSON_Delete(op);
}

/* What a pager's caller sees: the names (as JSON text) and numbers of the
 * rows, and the cursor of the next page. */
struct seen {
    char text[512];
    int rows, stop_at;
    const char *last;
    size_t last_len;
};

static void pages_op(void *arg, struct jsonout *op)
{
    struct seen *s = arg;
    static const char select[] = "\"op\":\"select\",\"table\":\"pages\",\"order\":[{\"column\":\"name\"}]";
    jo_raw(op, select, sizeof select - 1);
    if (!s->last) return;
    jo_raw(op, ",\"after\":{\"name\":", 17);
    jo_raw(op, s->last, s->last_len);
    jo_raw(op, "}", 1);
}

static int pages_row(void *arg, const struct dbc_row *row)
{
    struct seen *s = arg;
    size_t len;
    int64_t v;
    const char *name = dbc_row_str(row, "name", &len);
    if (!name || dbc_row_int(row, "n", &v)) return -1;
    if (s->rows == s->stop_at) return 1;
    size_t k = strlen(s->text);
    snprintf(s->text + k, sizeof s->text - k, "%.*s=%lld;", (int)len, name, (long long)v);
    s->last = name;
    s->last_len = len;
    s->rows++;
    return 0;
}

static int64_t read_pages(const char *const *answers, int64_t limit, struct seen *s, struct http_response *res)
{
    memset(s, 0, sizeof *s);
    s->stop_at = -1;
    pages = answers;
    npages_sent = 0;
    return dbc_read_pages(&db, limit, pages_op, pages_row, s, res);
}

TEST(pages_are_read_in_place)
{
    static const char *const answers[] = {
        "{\"rows\":[{\"name\":\"a\\\"b\",\"n\":1},{\"name\":\"\\u00e9/\\n\",\"n\":-20}],\"more\":true}",
        " { \"more\" : false ,\n \"rows\" : [ { \"n\" : 3 , \"name\" : \"z\xC3\xA9\" } ] } ",
        "{\"rows\":[],\"more\":false}",
    };
    struct seen s;
    struct http_response res = { 0 };
    CHECK_INT(read_pages(answers, -1, &s, &res), 3);
    CHECK_STR(s.text, "\"a\\\"b\"=1;\"\\u00e9/\\n\"=-20;\"z\xC3\xA9\"=3;");   /* strings as they were sent */
    CHECK_INT(npages_sent, 2);     /* the second page was not full and said no more */
    CHECK(strstr(last_body, "\"after\":{\"name\":\"\\u00e9/\\n\"}") != NULL);   /* as the answer had it */
    CHECK(strstr(last_body, "\"limit\":100000,\"max_bytes\":4194304}") != NULL);
    cJSON *sent = json_parse(last_body, strlen(last_body));   /* the select is JSON */
    CHECK(sent != NULL);
    cJSON_Delete(sent);
    CHECK_INT(res.status, 0);
    /* a limit is asked for and ends the reading */
    CHECK_INT(read_pages(answers, 2, &s, &res), 2);
    CHECK(strstr(last_body, "\"limit\":2,") != NULL);
    CHECK_INT(npages_sent, 1);
    /* the caller stops: -2, and nothing answered */
    memset(&s, 0, sizeof s);
    pages = answers;
    npages_sent = 0;
    s.stop_at = 1;
    CHECK_INT(dbc_read_pages(&db, -1, pages_op, pages_row, &s, &res), -2);
    CHECK_INT(res.status, 0);
}

TEST(answers_not_the_db_apis_are_503)
{
    static const char *const bad[] = {
        "not json", "{}", "{\"more\":true}", "{\"rows\":[1]}", "{\"rows\":[{\"name\":{\"x\":1},\"n\":1}]}",
        "{\"rows\":[{\"name\":\"x\\u00\",\"n\":1}]}", "{\"rows\":[{\"name\":\"a\x01\",\"n\":1}]}",
        "{\"rows\":[{\"name\":\"x\",\"n\":1},]}", "{\"rows\":[]} x", "{\"x\":1,\"rows\":[]}",
        "{\"rows\":[{\"name\":\"x\",\"n\":1.5}]}", "{\"rows\":[{\"name\":\"x\",\"n\":007}]}",
        "{\"rows\":[{\"name\":\"x\",\"n\":1234567890123456789}]}", "{\"rows\":[{\"name\":1,\"n\":1}]}",
        "{\"rows\":[{\"name\":\"x\"}]}", "{\"rows\":[],\"rows\":[]}", "{\"rows\":[{\"name\":\"x\",\"n\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *const one[] = { bad[i] };
        struct seen s;
        struct http_response res = { 0 };
        if (read_pages(one, -1, &s, &res) != -1 || res.status != 503) printf("# accepted: %s\n", bad[i]);
        CHECK_INT(read_pages(one, -1, &s, &res), -1);
        CHECK_INT(res.status, 503);
        free(res.body);
    }
}

int main(void)
{
    log_init("test_dbclient");
    test_suite = __FILE__;
    http_client_global_init();
    struct http_server *srv = http_server_new(4096);
    if (!srv || http_server_route(srv, "POST", "/api/v1/db/write", fake, NULL) ||
        http_server_route(srv, "POST", "/api/v1/db/read", fake, NULL) ||
        http_server_route(srv, "POST", "/api/v1/db/clear", fake, NULL))
        return 1;
    int port = http_server_start(srv, "127.0.0.1", 0);
    if (port <= 0) return 1;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", port);
    if (dbc_init(&db, base, 700) != 0) return 1;
    snprintf(real_base, sizeof real_base, "http://127.0.0.1:%d", port);
    struct http_server *stby = http_server_new(4096);
    if (!stby || http_server_route(stby, "POST", "/api/v1/db/write", standby, NULL)) return 1;
    int sport = http_server_start(stby, "127.0.0.1", 0);
    if (sport <= 0) return 1;
    snprintf(standby_base, sizeof standby_base, "http://127.0.0.1:%d", sport);

    RUN(init_trims_and_checks);
    RUN(success_and_accessors);
    RUN(each_endpoint);
    RUN(refusals_and_failures);
    RUN(timeout_is_unavailable_and_bounded);
    RUN(nobody_listening);
    RUN(list_of_urls);
    RUN(failover_past_standby_and_dead);
    RUN(write_sent_is_never_sent_again);
    RUN(write_on_a_dying_keepalive_is_not_resent);
    RUN(no_active_one_is_bounded);
    RUN(service_answers_for_failures);
    RUN(operation_builders);
    RUN(pages_are_read_in_place);
    RUN(answers_not_the_db_apis_are_503);
    http_server_free(srv);
    http_server_free(stby);
    return test_done();
}
