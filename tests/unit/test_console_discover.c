/* test_console_discover.c — the console's reading of GET /api/v1/config:
 * the answer checked field by field, and the broker URL built from it with
 * the console's own credentials (encoded; the default vhost as "/"); and the
 * choice of the active orchestrator from a list (two fakes answering
 * GET /api/v1/role, one standing by, one active). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "http_client.h"
#include "http_server.h"
#include "test.h"

static void role(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    char body[64];
    snprintf(body, sizeof body, "{\"role\":\"%s\"}", (const char *)ctx);
    http_reply_raw(res, 200, strdup(body));
}

static int fake(const char *r, struct http_server **srv)
{
    *srv = http_server_new(1024);
    if (!*srv || http_server_route(*srv, "GET", "/api/v1/role", role, (void *)r)) return -1;
    return http_server_start(*srv, "127.0.0.1", 0);
}

TEST(picks_the_active_orchestrator)
{
    struct http_server *a, *b;
    int pa = fake("standby", &a), pb = fake("active", &b);
    CHECK(pa > 0 && pb > 0);
    char list[300], out[600];
    snprintf(list, sizeof list, "http://127.0.0.1:1, http://127.0.0.1:%d/ ,http://127.0.0.1:%d//", pa, pb);
    CHECK_INT(discover_active(list, NULL, 1000, out, sizeof out), 0);
    snprintf(list, sizeof list, "http://127.0.0.1:%d", pb);
    CHECK_STR(out, list);
    /* none active: the first */
    snprintf(list, sizeof list, "http://127.0.0.1:1/,http://127.0.0.1:%d", pa);
    CHECK_INT(discover_active(list, NULL, 1000, out, sizeof out), 0);
    CHECK_STR(out, "http://127.0.0.1:1");
    /* one: as it is, trimmed */
    CHECK_INT(discover_active("http://h:9//", NULL, 1000, out, sizeof out), 0);
    CHECK_STR(out, "http://h:9");
    CHECK_INT(discover_active("", NULL, 1000, out, sizeof out), -1);
    CHECK_INT(discover_active(" , ", NULL, 1000, out, sizeof out), -1);
    http_server_free(a);
    http_server_free(b);
}

static int parse(const char *body, struct discovered *d, char *why, size_t n)
{
    return discover_parse(body, strlen(body), d, why, n);
}

TEST(parses_the_config)
{
    struct discovered d;
    char why[160] = "";
    CHECK(parse("{\"zk_hosts\":\"127.0.0.1:41234,127.0.0.1:41235\",\"zk_root\":\"/rideshare\","
                "\"amqp\":{\"host\":\"127.0.0.1\",\"port\":45551,\"vhost\":\"/\"}}", &d, why, sizeof why) == 0);
    CHECK_STR(d.zk_hosts, "127.0.0.1:41234,127.0.0.1:41235");
    CHECK_STR(d.zk_root, "/rideshare");
    CHECK_STR(d.amqp_host, "127.0.0.1");
    CHECK_INT(d.amqp_port, 45551);
    CHECK_STR(d.amqp_vhost, "/");
}

TEST(rejects_a_bad_config)
{
    static const struct { const char *body, *why; } bad[] = {
        { "[]", "not a JSON object" },
        { "{\"zk_root\":\"/r\",\"amqp\":{\"host\":\"h\",\"port\":1,\"vhost\":\"/\"}}", "'zk_hosts' is missing" },
        { "{\"zk_hosts\":\"\",\"zk_root\":\"/r\",\"amqp\":{\"host\":\"h\",\"port\":1,\"vhost\":\"/\"}}", "'zk_hosts' is empty" },
        { "{\"zk_hosts\":\"h:1\",\"zk_root\":\"r\",\"amqp\":{\"host\":\"h\",\"port\":1,\"vhost\":\"/\"}}", "start with /" },
        { "{\"zk_hosts\":\"h:1\",\"zk_root\":\"/r\"}", "'amqp' is missing" },
        { "{\"zk_hosts\":\"h:1\",\"zk_root\":\"/r\",\"amqp\":{\"host\":\"h\",\"port\":0,\"vhost\":\"/\"}}", "port number" },
        { "{\"zk_hosts\":\"h:1\",\"zk_root\":\"/r\",\"amqp\":{\"host\":\"h\",\"port\":\"5672\",\"vhost\":\"/\"}}", "port number" },
        { "{\"zk_hosts\":\"h:1\",\"zk_root\":\"/r\",\"amqp\":{\"host\":\"h\\u001b[2J\",\"port\":1,\"vhost\":\"/\"}}", "control characters" },
        { "{\"zk_hosts\":\"h:1\",\"zk_root\":\"/r\",\"amqp\":{\"host\":\"h\",\"port\":1}}", "'vhost' is missing" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct discovered d;
        char why[160] = "";
        CHECK(parse(bad[i].body, &d, why, sizeof why) == -1);
        if (!strstr(why, bad[i].why)) printf("# %s: %s\n", bad[i].body, why);
        CHECK(strstr(why, bad[i].why) != NULL);
    }
    char big[600];
    snprintf(big, sizeof big, "{\"zk_hosts\":\"h:1\",\"zk_root\":\"/%0300d\",\"amqp\":{}}", 0);
    struct discovered d;
    char why[160] = "";
    CHECK(parse(big, &d, why, sizeof why) == -1 && strstr(why, "'zk_root' is too long"));
}

TEST(builds_the_broker_url)
{
    struct discovered d = { .amqp_host = "127.0.0.1", .amqp_port = 5672, .amqp_vhost = "/" };
    char url[400];
    discover_amqp_url(&d, "guest", "guest", url, sizeof url);
    CHECK_STR(url, "amqp://guest:guest@127.0.0.1:5672/");
    snprintf(d.amqp_vhost, sizeof d.amqp_vhost, "team a/b");
    snprintf(d.amqp_host, sizeof d.amqp_host, "rabbitmq");
    discover_amqp_url(&d, "ops@x", "p:w/d%", url, sizeof url);
    CHECK_STR(url, "amqp://ops%40x:p%3Aw%2Fd%25@rabbitmq:5672/team%20a%2Fb");
    snprintf(d.amqp_host, sizeof d.amqp_host, "::1");
    snprintf(d.amqp_vhost, sizeof d.amqp_vhost, "v-1.x_y~");
    discover_amqp_url(&d, "u", "p", url, sizeof url);
    CHECK_STR(url, "amqp://u:p@[::1]:5672/v-1.x_y~");
    char small[20];
    discover_amqp_url(&d, "u", "p", small, sizeof small);
    CHECK(strlen(small) < sizeof small);
}

int main(void)
{
    RUN(parses_the_config);
    RUN(rejects_a_bad_config);
    RUN(builds_the_broker_url);
    http_client_global_init();
    RUN(picks_the_active_orchestrator);
    return test_done();
}
