/*
 * test_rides_req.c — the rides service's request checks
 * (services/rides/rides_req.c) and the pure parts of the users check
 * (services/rides/userscheck.c): searching a list-users answer, and the
 * gateway URL / Origin header set-up.
 */
#include "rides_req.h"
#include "userscheck.h"
#include "test.h"

#include <stdlib.h>

static struct rides_areas areas;

static int create(const char *json, struct rides_new *out, const char **why)
{
    cJSON *body = cJSON_Parse(json);
    if (!body) return -2;
    int rc = rides_parse_create(body, &areas, out, why);
    /* out->created_by points into body: copy what the tests look at */
    static char by[64];
    if (rc == 0) {
        snprintf(by, sizeof by, "%s", out->created_by);
        out->created_by = by;
    }
    cJSON_Delete(body);
    return rc;
}

TEST(valid_create_bodies)
{
    struct rides_new r;
    const char *why = NULL;
    CHECK_INT(create("{\"created_by\":\"userName\",\"timestamp\":\"21-08-2021:00-00-00\","
                     "\"source\":\"1\",\"destination\":\"2\"}", &r, &why), 0);
    CHECK_STR(r.created_by, "userName");
    CHECK_INT(r.ts, 1629504000);
    CHECK_INT(r.source, 1);
    CHECK_INT(r.destination, 2);
    /* integers, the same area twice, extra keys, a past date: all fine */
    CHECK_INT(create("{\"created_by\":\"x\",\"timestamp\":\"01-01-2001:00-00-00\","
                     "\"source\":198,\"destination\":198,\"seats\":3}", &r, &why), 0);
    CHECK_INT(r.source, 198);
    CHECK_INT(r.destination, 198);
}

TEST(invalid_create_bodies)
{
    static const struct { const char *json, *why_has; } cases[] = {
        { "{}", "created_by" },
        { "{\"created_by\":\"\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":1,\"destination\":2}", "created_by" },
        { "{\"created_by\":7,\"timestamp\":\"21-08-2021:00-00-00\",\"source\":1,\"destination\":2}", "created_by" },
        { "{\"created_by\":null,\"timestamp\":\"21-08-2021:00-00-00\",\"source\":1,\"destination\":2}", "created_by" },
        { "{\"created_by\":\"u\",\"source\":1,\"destination\":2}", "missing field 'timestamp'" },
        { "{\"created_by\":\"u\",\"timestamp\":1629504000,\"source\":1,\"destination\":2}", "timestamp" },
        { "{\"created_by\":\"u\",\"timestamp\":\"2021-08-21 00:00:00\",\"source\":1,\"destination\":2}", "form" },
        { "{\"created_by\":\"u\",\"timestamp\":\"29-02-2023:00-00-00\",\"source\":1,\"destination\":2}", "real date" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"destination\":2}", "missing field 'source'" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":0,\"destination\":2}", "'source'" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":\"199\",\"destination\":2}", "'source'" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":\"1.0\",\"destination\":2}", "'source'" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":1}", "missing field 'destination'" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":1,\"destination\":\"x\"}", "'destination'" },
        { "{\"created_by\":\"u\",\"timestamp\":\"21-08-2021:00-00-00\",\"source\":1,\"destination\":false}", "'destination'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rides_new r;
        const char *why = NULL;
        int rc = create(cases[i].json, &r, &why);
        if (rc != -1 || !why || !strstr(why, cases[i].why_has))
            printf("# %s -> %d %s\n", cases[i].json, rc, why ? why : "(none)");
        CHECK_INT(rc, -1);
        CHECK(why && strstr(why, cases[i].why_has));
    }
}

TEST(join_bodies)
{
    const char *name = NULL, *why = NULL;
    cJSON *b = cJSON_Parse("{\"username\":\"Robert'); DROP TABLE users;--\"}");
    CHECK_INT(rides_parse_join(b, &name, &why), 0);
    CHECK_STR(name, "Robert'); DROP TABLE users;--");
    cJSON_Delete(b);
    static const char *const bad[] = { "{}", "{\"username\":\"\"}", "{\"username\":1}", "{\"user\":\"a\"}",
                                       "{\"username\":[\"a\"]}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = cJSON_Parse(bad[i]);
        CHECK_INT(rides_parse_join(b, &name, &why), -1);
        cJSON_Delete(b);
    }
}

TEST(ride_ids)
{
    int64_t id = -1;
    CHECK_INT(rides_parse_ride_id("1", &id), 0);
    CHECK_INT(id, 1);
    CHECK_INT(rides_parse_ride_id("0", &id), 0);
    CHECK_INT(id, 0);
    CHECK_INT(rides_parse_ride_id("123456789012345", &id), 0);
    static const char *const bad[] = { "", "abc", "-1", "+1", "1.0", "007", " 1", "1 ", "0x10",
                                       "1234567890123456", "count" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_INT(rides_parse_ride_id(bad[i], &id), -1);
}

TEST(searching_the_users_list)
{
    const char *list = "[\"alice\",\"Bob\",\"名前 ü \\\"q\\\"\",\"Robert'); DROP TABLE users;--\"]";
    CHECK_INT(rides_users_list_has(list, strlen(list), "alice"), 1);
    CHECK_INT(rides_users_list_has(list, strlen(list), "bob"), 0);        /* case matters */
    CHECK_INT(rides_users_list_has(list, strlen(list), "Bob"), 1);
    CHECK_INT(rides_users_list_has(list, strlen(list), "名前 ü \"q\""), 1);
    CHECK_INT(rides_users_list_has(list, strlen(list), "Robert'); DROP TABLE users;--"), 1);
    CHECK_INT(rides_users_list_has(list, strlen(list), "alic"), 0);
    CHECK_INT(rides_users_list_has("[]", 2, "a"), 0);
    CHECK_INT(rides_users_list_has("", 0, "a"), -1);
    CHECK_INT(rides_users_list_has("{}", 2, "a"), -1);
    CHECK_INT(rides_users_list_has("[\"a\",1]", 7, "a"), -1);
    CHECK_INT(rides_users_list_has("[\"a\"] x", 7, "a"), -1);
}

TEST(gateway_and_origin)
{
    struct rides_users u;
    CHECK_INT(rides_users_init(&u, "http://127.0.0.1:8080/", "rides.example", 500), 0);
    CHECK_STR(u.url, "http://127.0.0.1:8080/api/v1/users");
    CHECK_STR(u.origin, "Origin: rides.example");
    CHECK_INT(u.timeout_ms, 500);
    CHECK_INT(rides_users_init(&u, "http://gw", "10.0.0.7", 0), 0);
    CHECK_STR(u.url, "http://gw/api/v1/users");
    CHECK_INT(rides_users_init(&u, "", "x", 1), -1);
    CHECK_INT(rides_users_init(&u, "http://gw", "", 1), -1);
    CHECK_INT(rides_users_init(&u, "http://gw", "a\r\nX-Evil: 1", 1), -1);
}

int main(void)
{
    test_suite = __FILE__;
    char err[200];
    const char *csv = "Area No,Area Name\r\n";
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", csv);
    for (int i = 1; i <= 198; i++) n += (size_t)snprintf(text + n, sizeof text - n, "%d,Area %d\r\n", i, i);
    if (rides_areas_parse(&areas, text, n, err, sizeof err) != 0) {
        printf("not ok %s: setup (%s)\n", __FILE__, err);
        return 1;
    }
    RUN(valid_create_bodies);
    RUN(invalid_create_bodies);
    RUN(join_bodies);
    RUN(ride_ids);
    RUN(searching_the_users_list);
    RUN(gateway_and_origin);
    return test_done();
}
