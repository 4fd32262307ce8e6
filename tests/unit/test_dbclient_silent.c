/*
 * test_dbclient_silent.c — services/rest/dbclient.c when the active
 * orchestrator goes silent: frozen (SIGSTOP) or cut off, it takes requests
 * into its socket's backlog and never answers. The pair's standby takes over
 * once the silent one's ZooKeeper session expires; a new call must then go to
 * it rather than wait on the silent one again (follow_takeover), while the
 * call already sent stays unanswered and is not sent twice.
 *
 * The silent orchestrator is a listening socket nobody accepts on (the
 * kernel completes the connections, the request is sent, nothing comes
 * back). The other is a fake on loopback whose GET /api/v1/role says what
 * the test sets ("standby", then "active") and whose writes answer 200 as
 * the active one, or 503 with a "role" as a standby.
 */
#include "clock.h"
#include "dbclient.h"
#include "http_client.h"
#include "http_server.h"
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

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *role = "standby";
static int writes, role_asks;

static void on_role(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    (void)ctx;
    char body[64];
    pthread_mutex_lock(&mu);
    role_asks++;
    snprintf(body, sizeof body, "{\"role\":\"%s\"}", role);
    pthread_mutex_unlock(&mu);
    http_reply_raw(res, 200, strdup(body));
}

static void on_write(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    (void)ctx;
    pthread_mutex_lock(&mu);
    int active = strcmp(role, "active") == 0;
    writes += active;
    pthread_mutex_unlock(&mu);
    if (active)
        http_reply_raw(res, 200, strdup("{\"changes\":1,\"seq\":1}"));
    else
        http_reply_raw(res, 503, strdup("{\"error\":\"not the active one\",\"role\":\"standby\"}"));
}

static void set_role(const char *r)
{
    pthread_mutex_lock(&mu);
    role = r;
    pthread_mutex_unlock(&mu);
}

static int counted(int *n)
{
    pthread_mutex_lock(&mu);
    int v = *n;
    pthread_mutex_unlock(&mu);
    return v;
}

static struct dbclient db;
static int64_t stuck_took;

static enum dbc_kind write_once(void)
{
    struct dbc_result r;
    cJSON *op = dbc_op_delete("t", cJSON_CreateObject());
    enum dbc_kind k = dbc_write(&db, op, &r);
    cJSON_Delete(op);
    dbc_result_free(&r);
    return k;
}

/* The call sent to the silent one: unanswered until its timeout. */
static void *stuck_write(void *arg)
{
    (void)arg;
    int64_t t0 = clock_ms();
    enum dbc_kind k = write_once();
    stuck_took = clock_ms() - t0;
    return (void *)(long)k;
}

/* Until the first call has waited DBC_SILENT_MS with no answer (the client's
 * condition for asking the others), bounded. */
static void wait_silent(int64_t since)
{
    while (clock_ms() - since < DBC_SILENT_MS + 100) {
        struct timespec t = { 0, 20 * 1000000L };
        nanosleep(&t, NULL);
    }
}

static int silent_port;
static char other_base[64];

TEST(silent_active_is_left_for_the_one_that_took_over)
{
    char urls[200];
    snprintf(urls, sizeof urls, "http://127.0.0.1:%d,%s", silent_port, other_base);
    CHECK_INT(dbc_init(&db, urls, 2500), 0);

    /* The other one still stands by: a new call asks it, stays with the
     * silent one and waits its timeout too. */
    set_role("standby");
    pthread_t t;
    int64_t t0 = clock_ms();
    CHECK(pthread_create(&t, NULL, stuck_write, NULL) == 0);
    wait_silent(t0);
    int asks = counted(&role_asks);
    CHECK_INT(write_once(), DBC_UNAVAILABLE);
    CHECK(counted(&role_asks) > asks);
    CHECK_INT(counted(&writes), 0);
    CHECK_INT(atomic_load(&db.active), 0);
    void *k;
    pthread_join(t, &k);
    CHECK_INT((int)(long)k, DBC_UNAVAILABLE);

    /* It took over: the next call goes to it, answered at once, while the
     * first one still waits on the silent one and is not sent again. */
    CHECK_INT(dbc_init(&db, urls, 2500), 0);
    set_role("active");
    t0 = clock_ms();
    CHECK(pthread_create(&t, NULL, stuck_write, NULL) == 0);
    wait_silent(t0);
    int64_t t1 = clock_ms();
    CHECK_INT(write_once(), DBC_OK);
    CHECK(clock_ms() - t1 < 1000);
    CHECK_INT(atomic_load(&db.active), 1);
    CHECK_INT(counted(&writes), 1);
    pthread_join(t, &k);
    CHECK_INT((int)(long)k, DBC_UNAVAILABLE); /* its outcome unknown */
    CHECK(stuck_took >= 2400);
    CHECK_INT(counted(&writes), 1);           /* never sent to the other */
    CHECK_INT(write_once(), DBC_OK);          /* and the client stays there */
    CHECK_INT(counted(&writes), 2);
}

TEST(no_asking_while_answers_come)
{
    /* The active one answers: nothing is asked of the other, however many calls. */
    char urls[200];
    snprintf(urls, sizeof urls, "%s,http://127.0.0.1:%d", other_base, silent_port);
    set_role("active");
    CHECK_INT(dbc_init(&db, urls, 2000), 0);
    int asks = counted(&role_asks);
    for (int i = 0; i < 20; i++) CHECK_INT(write_once(), DBC_OK);
    CHECK_INT(counted(&role_asks), asks);
}

int main(void)
{
    log_init("test_dbclient_silent");
    test_suite = __FILE__;
    http_client_global_init();
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16) ||
        getsockname(ls, (struct sockaddr *)&a, &len))
        return 1;
    silent_port = ntohs(a.sin_port);
    struct http_server *srv = http_server_new(4096);
    if (!srv || http_server_route(srv, "GET", "/api/v1/role", on_role, NULL) ||
        http_server_route(srv, "POST", "/api/v1/db/write", on_write, NULL))
        return 1;
    int port = http_server_start(srv, "127.0.0.1", 0);
    if (port <= 0) return 1;
    snprintf(other_base, sizeof other_base, "http://127.0.0.1:%d", port);

    RUN(silent_active_is_left_for_the_one_that_took_over);
    RUN(no_asking_while_answers_come);
    http_server_free(srv);
    close(ls);
    return test_done();
}
