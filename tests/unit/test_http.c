/*
 * test_http.c — the HTTP server and client against each other on loopback.
 *
 * One server (max_body 4096) on 127.0.0.1, port 0, serves every test; the
 * client calls it with http_call. Most routes go to one handler, h_info,
 * which answers with what it saw: the route, the captures, query arguments,
 * headers, the body length and the client's port. The client's port is how
 * keep-alive is checked: one connection, one port. Where http_call cannot
 * show something (response headers, a chunked upload, several requests on
 * one socket) a test speaks HTTP on a raw socket. Waits are on conditions
 * with deadlines; nothing sleeps and hopes.
 */
#include "clock.h"
#include "http_client.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_BODY 4096

static int port;
static char base[64];

/* --- handlers ----------------------------------------------------------- */

static void add_str(cJSON *o, const char *key, const char *val)
{
    if (val) cJSON_AddStringToObject(o, key, val);
}

/* Answers with what the request looked like; ctx names the route. */
static void h_info(const struct http_request *req, struct http_response *res, void *ctx)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "route", ctx);
    json_add_int(o, "ncap", req->ncaptures);
    add_str(o, "cap0", req->ncaptures > 0 ? req->captures[0] : NULL);
    add_str(o, "x", http_query(req, "x"));
    add_str(o, "name", http_query(req, "name"));
    cJSON_AddBoolToObject(o, "missing_is_null", http_query(req, "missing") == NULL);
    add_str(o, "xtest", http_header(req, "X-Test"));
    add_str(o, "expect", http_header(req, "Expect"));
    add_str(o, "ctype", http_header(req, "content-type"));   /* names are case-blind */
    json_add_int(o, "len", (int64_t)req->body_len);
    cJSON_AddBoolToObject(o, "intact", strlen(req->body) == req->body_len);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, ci->client_addr, sizeof sin);
        json_add_int(o, "port", ntohs(sin.sin_port));
    }
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

static void h_nocontent(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req; (void)ctx;
    http_reply_raw(res, 204, strdup("{\"must\":\"not be sent\"}"));
}

static void h_nothing(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req; (void)res; (void)ctx;
}

/* /block waits until the test opens the gate (or 10 s pass). The condition
 * variable measures CLOCK_MONOTONIC (clock_cond_init in main). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, left, open;
} gate = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void gate_set(int open)
{
    pthread_mutex_lock(&gate.mu);
    if (!open) gate.entered = gate.left = 0;
    gate.open = open;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits until *field >= value or ms pass; returns whether it got there. */
static int gate_wait(const int *field, int value, int64_t ms)
{
    struct timespec dl = clock_deadline(ms);
    pthread_mutex_lock(&gate.mu);
    int rc = 0;
    while (*field < value && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&gate.cv, &gate.mu, &dl);
    int ok = *field >= value;
    pthread_mutex_unlock(&gate.mu);
    return ok;
}

static void h_block(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req; (void)ctx;
    pthread_mutex_lock(&gate.mu);
    gate.entered++;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    int opened = gate_wait(&gate.open, 1, 10000);
    pthread_mutex_lock(&gate.mu);
    gate.left++;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    if (opened) http_reply_raw(res, 200, strdup("{\"blocked\":true}"));
    else http_reply_error(res, 503, "gate never opened");
}

/* --- observer: what it saw last ------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    int count, status;
    char pattern[64], path[64];
} seen = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void observer(const struct http_request *req, const char *pattern, int status, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&seen.mu);
    seen.count++;
    snprintf(seen.pattern, sizeof seen.pattern, "%s", pattern ? pattern : "(none)");
    snprintf(seen.path, sizeof seen.path, "%s", req->path);
    seen.status = status;
    pthread_mutex_unlock(&seen.mu);
}

/* --- client helpers ----------------------------------------------------- */

/* The last answer of this thread, parsed, and its length; replaced by the
 * next call. */
static _Thread_local cJSON *last;
static _Thread_local size_t last_len;

/* Calls base+path; returns the status (-1: no response) and keeps the JSON
 * answer in `last` for S() and I(). */
static long call_h(const char *method, const char *path, const char *body, const char *const *hdrs)
{
    static _Thread_local char url[16384];
    struct http_result r;
    snprintf(url, sizeof url, "%s%s", base, path);
    cJSON_Delete(last);
    last = NULL;
    if (http_call(method, url, body, hdrs, 5000, &r) != 0) return -1;
    last = json_parse(r.body, r.body_len);
    last_len = r.body_len;
    http_result_free(&r);
    return r.status;
}

static long call(const char *method, const char *path, const char *body)
{
    return call_h(method, path, body, NULL);
}

static const char *S(const char *key) { return json_get_str(last, key); }

static int64_t I(const char *key)
{
    int64_t v = -1;
    return json_get_int(last, key, &v) == 0 ? v : -1;
}

static int B(const char *key) { return cJSON_IsTrue(cJSON_GetObjectItem(last, key)); }

static int64_t peer_port(void) { return call("GET", "/peer", NULL) == 200 ? I("port") : -1; }

/* The value of header name in a raw header block (static copy), or NULL. */
static const char *header_value(const char *headers, const char *name)
{
    static char out[256];
    size_t n = strlen(name);
    for (const char *line = headers; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
        if (strncasecmp(line, name, n) != 0 || line[n] != ':') continue;
        const char *v = line + n + 1 + strspn(line + n + 1, " ");
        snprintf(out, sizeof out, "%.*s", (int)strcspn(v, "\r\n"), v);
        return out;
    }
    return NULL;
}

/* A socket to the server whose reads and writes give up after 5 s. */
static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    close(fd);
    return -1;
}

/* Sends req on fd and reads one response (headers + Content-Length body)
 * into resp; returns its status or -1. */
static int raw_exchange(int fd, const char *req, size_t reqlen, char *resp, size_t size)
{
    size_t len = 0;
    for (size_t sent = 0; sent < reqlen;) {
        ssize_t w = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        sent += (size_t)w;
    }
    for (;;) {
        resp[len] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        const char *cl = end ? header_value(resp, "Content-Length") : NULL;
        if (end && len >= (size_t)(end + 4 - resp) + (cl ? strtoul(cl, NULL, 10) : 0)) break;
        ssize_t n = len + 1 < size ? recv(fd, resp + len, size - 1 - len, 0) : -1;
        if (n <= 0) return -1;
        len += (size_t)n;
    }
    int status = -1;
    return sscanf(resp, "HTTP/1.1 %d", &status) == 1 ? status : -1;
}

/* One bodiless request on its own connection, to see the response headers. */
static int raw_request(const char *method, const char *path, char *resp, size_t size)
{
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, path);
    int fd = raw_connect();
    int st = fd >= 0 ? raw_exchange(fd, req, (size_t)n, resp, size) : -1;
    if (fd >= 0) close(fd);
    return st;
}

/* --- tests -------------------------------------------------------------- */

TEST(literal_beats_capture)
{
    CHECK_INT(call("GET", "/api/v1/rides/count", NULL), 200);
    CHECK_STR(S("route"), "count");
    CHECK_INT(call("GET", "/api/v1/rides/42", NULL), 200);
    CHECK_STR(S("route"), "ride");
    CHECK_STR(S("cap0"), "42");
    CHECK_INT(I("ncap"), 1);
    /* the literal wins at the first segment where two patterns differ,
     * whatever the registration order */
    CHECK_INT(call("GET", "/a/b/c", NULL), 200);
    CHECK_STR(S("route"), "/a/b/{y}");
    CHECK_INT(call("GET", "/a/z/c", NULL), 200);
    CHECK_STR(S("route"), "/a/{x}/c");
    CHECK_INT(call("GET", "/", NULL), 200);
    CHECK_STR(S("route"), "/");
}

TEST(captures_are_decoded_and_bounded)
{
    CHECK_INT(call("GET", "/api/v1/rides/a%20b%2Fc%25", NULL), 200);
    CHECK_STR(S("cap0"), "a b/c%");
    CHECK_INT(call("GET", "/api/v1/rides/%zz%4", NULL), 200);   /* not escapes: kept */
    CHECK_STR(S("cap0"), "%zz%4");
    CHECK_INT(call("GET", "/api/v1/rides/%63ount", NULL), 200); /* literals match decoded text */
    CHECK_STR(S("route"), "count");

    static char path[7100], want[6001];
    memset(want, 'x', 6000);
    snprintf(path, sizeof path, "/api/v1/rides/%s", want);
    CHECK_INT(call("GET", path, NULL), 200);
    CHECK_STR(S("cap0"), want);

    CHECK_INT(call("GET", "/api/v1/rides/a%00b", NULL), 404);   /* would cut the string */
    CHECK_INT(call("GET", "/api/v1/rides/", NULL), 404);        /* empty capture */
    size_t n = 0;
    for (int i = 0; i < 600; i++) n += (size_t)snprintf(path + n, sizeof path - n, "/s");
    CHECK_INT(call("GET", path, NULL), 404);                     /* too many segments */
}

TEST(unknown_path_is_404_json)
{
    char resp[4096];
    CHECK_INT(raw_request("GET", "/nope/nothing", resp, sizeof resp), 404);
    CHECK_STR(header_value(resp, "Content-Type"), "application/json");
    CHECK_INT(call("POST", "/nope", "{\"a\":1}"), 404);
    CHECK(S("error") != NULL);
}

TEST(wrong_method_is_405_with_allow)
{
    char resp[4096];
    CHECK_INT(raw_request("DELETE", "/api/v1/users", resp, sizeof resp), 405);
    CHECK_STR(header_value(resp, "Allow"), "GET, PUT");
    CHECK_STR(header_value(resp, "Content-Type"), "application/json");
    /* "count" is never a ride id, even for a method only the capture route has */
    CHECK_INT(raw_request("DELETE", "/api/v1/rides/count", resp, sizeof resp), 405);
    CHECK_STR(header_value(resp, "Allow"), "GET");
    CHECK_INT(call("DELETE", "/api/v1/rides/7", NULL), 200);
    CHECK_INT(call("PUT", "/api/v1/users", "{}"), 200);
    CHECK(S("error") == NULL);
}

TEST(body_over_limit_is_413_and_connection_survives)
{
    static char big[MAX_BODY + 2000], exact[MAX_BODY + 1];
    memset(big, 'a', sizeof big - 1);
    memset(exact, 'b', MAX_BODY);
    int64_t before = peer_port();
    CHECK(before > 0);
    CHECK_INT(call("POST", "/echo", big), 413);
    CHECK(S("error") != NULL);
    CHECK_INT(call("POST", "/echo", exact), 200);   /* the limit itself is fine */
    CHECK_INT(I("len"), MAX_BODY);
    CHECK(B("intact"));
    CHECK_INT(peer_port(), before);                 /* the 413 did not cost the connection */
}

TEST(chunked_body_over_limit_is_413_on_a_kept_connection)
{
    static char req[MAX_BODY * 3];
    size_t n = (size_t)snprintf(req, sizeof req,
                                "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 6; i++) {   /* 6 x 1000 bytes > MAX_BODY */
        n += (size_t)snprintf(req + n, sizeof req - n, "3e8\r\n");
        memset(req + n, 'c', 1000);
        n += 1000 + (size_t)snprintf(req + n + 1000, sizeof req - n - 1000, "\r\n");
    }
    n += (size_t)snprintf(req + n, sizeof req - n, "0\r\n\r\n");
    const char *next = "GET /api/v1/rides/count HTTP/1.1\r\nHost: t\r\n\r\n";
    char resp[4096];
    int fd = raw_connect();
    CHECK(fd >= 0);
    int st1 = raw_exchange(fd, req, n, resp, sizeof resp);
    int st2 = raw_exchange(fd, next, strlen(next), resp, sizeof resp);   /* same socket */
    close(fd);
    CHECK_INT(st1, 413);
    CHECK_INT(st2, 200);
}

TEST(huge_declared_body_is_refused_without_reading_it)
{
    const char *req = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000000\r\n\r\n";
    char resp[4096];
    int fd = raw_connect();
    CHECK(fd >= 0);
    int64_t t0 = clock_ms();
    int st = raw_exchange(fd, req, strlen(req), resp, sizeof resp);
    close(fd);
    CHECK_INT(st, 413);
    CHECK(clock_ms() - t0 < 4000);
}

TEST(query_arguments)
{
    CHECK_INT(call("GET", "/query?x=1&name=a%20b%26c", NULL), 200);
    CHECK_STR(S("x"), "1");
    CHECK_STR(S("name"), "a b&c");
    CHECK(B("missing_is_null"));
}

TEST(request_headers)
{
    const char *hdrs[] = { "X-Test: hello there", NULL };
    CHECK_INT(call_h("GET", "/header", NULL, hdrs), 200);
    CHECK_STR(S("xtest"), "hello there");
    CHECK_INT(call("GET", "/header", NULL), 200);
    CHECK(S("xtest") == NULL);
}

TEST(client_sends_json_bodies_without_expect)
{
    static char body[3000];
    memset(body, 'd', sizeof body - 1);
    CHECK_INT(call("POST", "/echo", body), 200);
    CHECK_INT(I("len"), sizeof body - 1);
    CHECK(B("intact"));
    CHECK(S("expect") == NULL);
    CHECK_STR(S("ctype"), "application/json");
    CHECK_INT(call("POST", "/echo", NULL), 200);   /* no body: "" and 0 */
    CHECK_INT(I("len"), 0);
    CHECK(B("intact"));

    /* curl 7.88 asks for 100-continue from 1 MB on: a server with room for
     * such a body shows whether the client suppressed it */
    size_t n = (size_t)3 << 19;   /* 1.5 MB */
    struct http_server *s = http_server_new(2 << 20);
    char *big = malloc(n + 1), url[64];
    struct http_result r = { 0 };
    int rc = -1;
    if (s && big && http_server_route(s, "POST", "/big", h_info, "big") == 0) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/big", http_server_start(s, "127.0.0.1", 0));
        memset(big, 'e', n);
        big[n] = '\0';
        rc = http_call("POST", url, big, NULL, 10000, &r);
    }
    cJSON *j = rc == 0 ? json_parse(r.body, r.body_len) : NULL;
    int64_t len = -1;
    json_get_int(j, "len", &len);
    int expect = json_get_str(j, "expect") != NULL;
    cJSON_Delete(j);
    http_result_free(&r);
    free(big);
    http_server_free(s);
    CHECK_INT(rc, 0);
    CHECK_INT(len, (int64_t)n);
    CHECK(!expect);
}

static void *blocked_caller(void *arg)
{
    *(long *)arg = call("GET", "/block", NULL);
    cJSON_Delete(last);
    return NULL;
}

TEST(blocked_handler_does_not_block_other_connections)
{
    gate_set(0);
    long blocked_status = -2;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_caller, &blocked_status) == 0);
    int entered = gate_wait(&gate.entered, 1, 5000);
    long st = entered ? call("GET", "/api/v1/rides/count", NULL) : -1;
    pthread_mutex_lock(&gate.mu);
    int still_blocked = gate.left == 0;
    pthread_mutex_unlock(&gate.mu);
    gate_set(1);
    pthread_join(t, NULL);
    CHECK(entered);
    CHECK_INT(st, 200);
    CHECK(still_blocked);
    CHECK_INT(blocked_status, 200);
}

static void *parallel_caller(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < 50; i++) {
        char path[64], want[32];
        snprintf(want, sizeof want, "r%p-%d", arg, i);
        snprintf(path, sizeof path, "/api/v1/rides/%s", want);
        if (call("GET", path, NULL) != 200 || !S("cap0") || strcmp(S("cap0"), want) != 0)
            (*failures)++;
    }
    cJSON_Delete(last);
    return NULL;
}

TEST(parallel_clients)
{
    pthread_t t[8];
    int failures[8] = { 0 }, started = 0, total = 0;
    for (int i = 0; i < 8; i++) started += pthread_create(&t[i], NULL, parallel_caller, &failures[i]) == 0;
    CHECK_INT(started, 8);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        total += failures[i];
    }
    CHECK_INT(total, 0);
}

TEST(keep_alive_reuses_one_connection)
{
    int64_t p1 = peer_port();
    CHECK(p1 > 0);
    CHECK_INT(call("POST", "/peer", "{\"with\":\"a body\"}"), 200);
    CHECK_INT(I("port"), p1);
    CHECK_INT(call("GET", "/nope", NULL), 404);
    CHECK_INT(call("PATCH", "/api/v1/users", "{}"), 405);
    CHECK_INT(call("GET", "/nothing", NULL), 500);
    CHECK_INT(call("DELETE", "/nocontent", NULL), 204);
    CHECK_INT(peer_port(), p1);
}

TEST(no_content_has_no_body)
{
    CHECK_INT(call("DELETE", "/nocontent", NULL), 204);
    CHECK_INT(last_len, 0);
    char resp[4096];   /* the handler's body is dropped, not just unread */
    CHECK_INT(raw_request("DELETE", "/nocontent", resp, sizeof resp), 204);
    CHECK(header_value(resp, "Content-Type") == NULL);
}

TEST(handler_that_sets_nothing_is_500)
{
    CHECK_INT(call("GET", "/nothing", NULL), 500);
    CHECK(S("error") != NULL);
}

/* The observer has run by the time the client has the response, so no
 * waiting is needed here: the check is exact. */
#define CHECK_SEEN(n, pat, st) do { \
        pthread_mutex_lock(&seen.mu); \
        int c_ = seen.count, s_ = seen.status; \
        char p_[64]; \
        strcpy(p_, seen.pattern); \
        pthread_mutex_unlock(&seen.mu); \
        CHECK_INT(c_, n); CHECK_STR(p_, pat); CHECK_INT(s_, st); \
    } while (0)

TEST(observer_sees_pattern_and_status)
{
    pthread_mutex_lock(&seen.mu);
    int c0 = seen.count;
    pthread_mutex_unlock(&seen.mu);
    CHECK_INT(call("GET", "/api/v1/rides/7?x=1", NULL), 200);
    CHECK_SEEN(c0 + 1, "/api/v1/rides/{rideId}", 200);
    pthread_mutex_lock(&seen.mu);
    int path_ok = strcmp(seen.path, "/api/v1/rides/7") == 0;
    pthread_mutex_unlock(&seen.mu);
    CHECK(path_ok);
    CHECK_INT(call("GET", "/missing", NULL), 404);
    CHECK_SEEN(c0 + 2, "(none)", 404);
    CHECK_INT(call("POST", "/api/v1/rides/count", NULL), 405);
    CHECK_SEEN(c0 + 3, "/api/v1/rides/count", 405);
    CHECK_INT(call("GET", "/nothing", NULL), 500);
    CHECK_SEEN(c0 + 4, "/nothing", 500);
}

TEST(malformed_patterns_are_refused)
{
    struct http_server *s = http_server_new(100);
    CHECK(s != NULL);
    const char *bad[] = { "no-slash", "/a//b", "/a/", "/a/{b", "/a/{}", "/a/b}", "/x{y}",
                          "/{a}/{b}/{c}/{d}/{e}", "/{a{b}}", "", NULL };
    int refused = 0, nbad = 0;
    for (; bad[nbad]; nbad++) refused += http_server_route(s, "GET", bad[nbad], h_nothing, NULL) == -1;
    refused += http_server_route(s, "", "/ok", h_nothing, NULL) == -1;
    refused += http_server_route(s, "AVERYLONGMETHODNAME", "/ok", h_nothing, NULL) == -1;
    int added = 0;
    char pat[32];
    for (int i = 0; i < 70; i++) {   /* the table holds 64 routes */
        snprintf(pat, sizeof pat, i ? "/r%d" : "/{a}/{b}/{c}/{d}", i);
        added += http_server_route(s, "GET", pat, h_nothing, NULL) == 0;
    }
    http_server_free(s);
    CHECK_INT(refused, nbad + 2);
    CHECK_INT(added, 64);
}

TEST(a_required_token_guards_every_path)
{
    struct http_server *s = http_server_new(100);
    CHECK(s != NULL);
    CHECK_INT(http_server_route(s, "GET", "/p", h_info, "p"), 0);
    CHECK_INT(http_server_require_token(s, "s3cret-token"), 0);
    int tport = http_server_start(s, "127.0.0.1", 0);
    CHECK(tport > 0);
    char url[128], missing[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/p", tport);
    snprintf(missing, sizeof missing, "http://127.0.0.1:%d/nowhere", tport);
    const char *right[] = { "Authorization: Bearer s3cret-token", NULL };
    const char *wrong[] = { "Authorization: Bearer s3cret-tokem", NULL };
    const char *prefix[] = { "Authorization: Bearer s3cret", NULL };
    const char *longer[] = { "Authorization: Bearer s3cret-token2", NULL };
    const char *basic[] = { "Authorization: Basic s3cret-token", NULL };
    struct http_result r;
    long st[7];
    const char *const *hs[7] = { NULL, wrong, prefix, longer, basic, right, NULL };
    const char *urls[7] = { url, url, url, url, url, url, missing };
    int json_errors = 0;
    for (int i = 0; i < 7; i++) {
        st[i] = http_call("GET", urls[i], NULL, hs[i], 5000, &r) == 0 ? r.status : -1;
        cJSON *j = r.body ? json_parse(r.body, r.body_len) : NULL;
        json_errors += st[i] == 401 && json_get_str(j, "error") != NULL;
        cJSON_Delete(j);
        http_result_free(&r);
    }
    /* The challenge header, seen on the wire. */
    int saved = port;
    port = tport;
    char resp[2048];
    int raw = raw_request("GET", "/p", resp, sizeof resp);
    const char *challenge = raw == 401 ? header_value(resp, "WWW-Authenticate") : NULL;
    port = saved;
    http_server_free(s);
    for (int i = 0; i < 5; i++) CHECK_INT(st[i], 401);
    CHECK_INT(st[5], 200);
    CHECK_INT(st[6], 401);   /* no route is revealed without the token */
    CHECK_INT(json_errors, 6);
    CHECK(challenge && strcmp(challenge, "Bearer") == 0);
}

TEST(client_reports_failures)
{
    /* a port nobody listens on: start a server, note its port, stop it */
    struct http_server *s = http_server_new(100);
    CHECK(s != NULL);
    int dead = http_server_start(s, "127.0.0.1", 0);
    http_server_free(s);
    CHECK(dead > 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", dead);
    struct http_result r;
    CHECK_INT(http_call("GET", url, NULL, NULL, 2000, &r), -1);
    CHECK_INT(r.status, 0);
    CHECK(r.body == NULL);
    CHECK(r.error[0] != '\0');

    /* a server that does not answer in time */
    gate_set(0);
    snprintf(url, sizeof url, "%s/block", base);
    int64_t t0 = clock_ms();
    int rc = http_call("GET", url, NULL, NULL, 300, &r);
    int64_t took = clock_ms() - t0;
    gate_set(1);
    int left = gate_wait(&gate.left, 1, 5000);   /* let the handler finish */
    CHECK_INT(rc, -1);
    CHECK_INT(r.status, 0);
    CHECK(strstr(r.error, "imeout") != NULL);
    CHECK(took < 3000);
    CHECK(left);
    CHECK_INT(http_call("GET", NULL, NULL, NULL, 300, &r), -1);
}

TEST(start_failures)
{
    struct http_server *s = http_server_new(100);
    int same = http_server_start(s, "127.0.0.1", port);   /* taken by the main server */
    http_server_free(s);
    s = http_server_new(100);
    int bad_host = http_server_start(s, "no.such.host.invalid", 0);
    http_server_free(s);
    s = http_server_new(100);
    int bad_port = http_server_start(s, "127.0.0.1", 70000);
    http_server_free(s);
    CHECK_INT(same, -1);
    CHECK_INT(bad_host, -1);
    CHECK_INT(bad_port, -1);
}

TEST(free_does_not_wait_for_idle_keep_alive_connections)
{
    struct http_server *s = http_server_new(100);
    CHECK(s != NULL);
    CHECK(http_server_route(s, "GET", "/x", h_info, "x") == 0);
    int p = http_server_start(s, "localhost", 0);   /* a name, resolved */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", p);
    struct http_result r;
    int rc = http_call("GET", url, NULL, NULL, 2000, &r);   /* leaves an idle connection */
    long st = rc == 0 ? r.status : -1;
    http_result_free(&r);
    int64_t t0 = clock_ms();
    http_server_free(s);
    int64_t took = clock_ms() - t0;
    CHECK(p > 0);
    CHECK_INT(st, 200);
    CHECK(took < 5000);
}

int main(void)
{
    log_init("test_http");
    test_suite = __FILE__;   /* test.h's default is its own name */
    http_client_global_init();
    if (clock_cond_init(&gate.cv) != 0) return 1;

    struct http_server *srv = http_server_new(MAX_BODY);
    if (!srv) return 1;
    static const struct { const char *method, *pattern; http_handler fn; const char *name; } routes[] = {
        /* the capture route first: precedence must not depend on order */
        { "GET", "/api/v1/rides/{rideId}", h_info, "ride" },
        { "DELETE", "/api/v1/rides/{rideId}", h_info, "ride" },
        { "GET", "/api/v1/rides/count", h_info, "count" },
        { "GET", "/a/{x}/c", h_info, "/a/{x}/c" },
        { "GET", "/a/b/{y}", h_info, "/a/b/{y}" },
        { "GET", "/", h_info, "/" },
        { "GET", "/api/v1/users", h_info, "users" },
        { "PUT", "/api/v1/users", h_info, "users" },
        { "GET", "/api/v1/users", h_info, "users again" },   /* Allow lists GET once */
        { "POST", "/echo", h_info, "echo" },
        { "GET", "/query", h_info, "query" },
        { "GET", "/header", h_info, "header" },
        { "GET", "/peer", h_info, "peer" },
        { "POST", "/peer", h_info, "peer" },
        { "DELETE", "/nocontent", h_nocontent, NULL },
        { "GET", "/nothing", h_nothing, NULL },
        { "GET", "/block", h_block, NULL },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        rc |= http_server_route(srv, routes[i].method, routes[i].pattern, routes[i].fn,
                                (void *)routes[i].name);
    http_server_observe(srv, observer, NULL);
    port = rc == 0 ? http_server_start(srv, "127.0.0.1", 0) : -1;
    if (port <= 0) {
        printf("not ok %s: setup (routes or start failed)\n", test_suite);
        http_server_free(srv);
        return 1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);

    RUN(literal_beats_capture);
    RUN(captures_are_decoded_and_bounded);
    RUN(unknown_path_is_404_json);
    RUN(wrong_method_is_405_with_allow);
    RUN(body_over_limit_is_413_and_connection_survives);
    RUN(chunked_body_over_limit_is_413_on_a_kept_connection);
    RUN(huge_declared_body_is_refused_without_reading_it);
    RUN(query_arguments);
    RUN(request_headers);
    RUN(client_sends_json_bodies_without_expect);
    RUN(blocked_handler_does_not_block_other_connections);
    RUN(parallel_clients);
    RUN(keep_alive_reuses_one_connection);
    RUN(no_content_has_no_body);
    RUN(handler_that_sets_nothing_is_500);
    RUN(observer_sees_pattern_and_status);
    RUN(malformed_patterns_are_refused);
    RUN(a_required_token_guards_every_path);
    RUN(client_reports_failures);
    RUN(start_failures);
    RUN(free_does_not_wait_for_idle_keep_alive_connections);

    cJSON_Delete(last);
    http_server_free(srv);
    curl_global_cleanup();
    return test_done();
}
