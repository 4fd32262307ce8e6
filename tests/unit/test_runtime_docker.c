/*
 * test_runtime_docker.c — the pure parts of the docker runtime
 * (services/orchestrator/runtime/docker_json.h): the JSON sent to the Engine API and the JSON
 * read back, version negotiation, exit statuses. The live parts are
 * tests/integration/test_runtime_docker.c.
 */
#include "test.h"

#include "docker_json.h"

#include <cJSON.h>
#include <stdlib.h>
#include <sys/wait.h>

TEST(container_name)
{
    char b[128];
    docker_container_name("rs1", "w7", b, sizeof b);
    CHECK_STR(b, "rs1-worker-w7");
}

TEST(create_body)
{
    struct runtime_spec spec = { .id = "w3", .env = { "WORKER_ID=w3", "A=b \"q\"", NULL } };
    struct docker_limits lim = { .memory_mb = 100, .pids = 50 };
    char *s = docker_create_body("rideshare-app:latest", "rs_net", "rs", &lim, &spec);
    CHECK(s != NULL);
    cJSON *o = cJSON_Parse(s);
    free(s);
    CHECK(o != NULL);
    CHECK_STR(cJSON_GetObjectItem(o, "Image")->valuestring, "rideshare-app:latest");
    cJSON *env = cJSON_GetObjectItem(o, "Env");
    CHECK_INT(cJSON_GetArraySize(env), 2);
    CHECK_STR(cJSON_GetArrayItem(env, 0)->valuestring, "WORKER_ID=w3");
    CHECK_STR(cJSON_GetArrayItem(env, 1)->valuestring, "A=b \"q\"");
    cJSON *l = cJSON_GetObjectItem(o, "Labels");
    CHECK_STR(cJSON_GetObjectItem(l, "rideshare.stack")->valuestring, "rs");
    CHECK_STR(cJSON_GetObjectItem(l, "rideshare.role")->valuestring, "worker");
    CHECK_STR(cJSON_GetObjectItem(l, "rideshare.worker-id")->valuestring, "w3");
    CHECK_STR(cJSON_GetObjectItem(l, "rideshare.project")->valuestring, "rideshare");
    cJSON *hc = cJSON_GetObjectItem(o, "HostConfig");
    CHECK_STR(cJSON_GetObjectItem(hc, "NetworkMode")->valuestring, "rs_net");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(hc, "AutoRemove")));
    /* A dead broker's name fails in 1 s, not 10 (docker_json.c). */
    cJSON *dns = cJSON_GetObjectItem(hc, "DnsOptions");
    CHECK_INT(cJSON_GetArraySize(dns), 2);
    CHECK_STR(cJSON_GetArrayItem(dns, 0)->valuestring, "timeout:1");
    CHECK_STR(cJSON_GetArrayItem(dns, 1)->valuestring, "attempts:1");
    /* Confined: the limits given, defaults for the rest, nothing writable but its tmpfs. */
    CHECK_STR(cJSON_GetObjectItem(o, "User")->valuestring, DOCKER_WORKER_USER);
    CHECK(cJSON_GetObjectItem(hc, "Memory")->valuedouble == 100.0 * 1024 * 1024);
    CHECK(cJSON_GetObjectItem(hc, "MemorySwap")->valuedouble == 100.0 * 1024 * 1024);
    CHECK(cJSON_GetObjectItem(hc, "NanoCpus")->valuedouble == DOCKER_DEFAULT_CPUS_MILLI * 1e6);
    CHECK_INT((int)cJSON_GetObjectItem(hc, "PidsLimit")->valuedouble, 50);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(hc, "ReadonlyRootfs")));
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(hc, "CapDrop"), 0)->valuestring, "ALL");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(hc, "SecurityOpt"), 0)->valuestring, "no-new-privileges:true");
    const char *data = cJSON_GetObjectItem(cJSON_GetObjectItem(hc, "Tmpfs"), "/data")->valuestring;
    CHECK(strstr(data, "size=2048m") != NULL && strstr(data, "uid=990") != NULL);
    cJSON_Delete(o);
}

TEST(filters)
{
    char *s = docker_worker_filters("rs", 1);
    CHECK_STR(s, "{\"label\":[\"rideshare.stack=rs\",\"rideshare.role=worker\"],\"status\":[\"running\"]}");
    free(s);
    s = docker_worker_filters("rs", 0);
    CHECK_STR(s, "{\"label\":[\"rideshare.stack=rs\",\"rideshare.role=worker\"]}");
    free(s);
}

TEST(parse_inspect)
{
    int running = -1, pid = -1, code = -1;
    CHECK_INT(docker_parse_inspect("{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Running\":true,"
                                   "\"Pid\":4242,\"ExitCode\":0}}", &running, &pid, &code), 0);
    CHECK_INT(running, 1);
    CHECK_INT(pid, 4242);
    CHECK_INT(code, 0);
    CHECK_INT(docker_parse_inspect("{\"State\":{\"Running\":false,\"Pid\":0,\"ExitCode\":137}}",
                                   &running, &pid, &code), 0);
    CHECK_INT(running, 0);
    CHECK_INT(pid, 0);
    CHECK_INT(code, 137);
    CHECK_INT(docker_parse_inspect("{\"message\":\"No such container: x\"}", &running, &pid, &code), -1);
    CHECK_INT(docker_parse_inspect("{\"State\":{\"Running\":\"yes\",\"Pid\":1,\"ExitCode\":0}}",
                                   &running, &pid, &code), -1);
    CHECK_INT(docker_parse_inspect("not json", &running, &pid, &code), -1);
    CHECK_INT(docker_parse_inspect(NULL, &running, &pid, &code), -1);
}

TEST(parse_list)
{
    const char *j =
        "[{\"Id\":\"c1\",\"Names\":[\"/rs-worker-w1\"],\"State\":\"running\","
        "\"Labels\":{\"rideshare.worker-id\":\"w1\",\"rideshare.stack\":\"rs\"}},"
        "{\"Id\":\"c2\",\"State\":\"exited\",\"Labels\":{\"rideshare.worker-id\":\"w2\"}},"
        "{\"Id\":\"c3\",\"State\":\"running\",\"Labels\":{}},"
        "{\"Id\":\"c4\",\"State\":\"running\",\"Labels\":{\"rideshare.worker-id\":\"../x\"}},"
        "{\"Id\":\"c5\",\"State\":\"running\",\"Labels\":{\"rideshare.worker-id\":\"w5\"}}]";
    struct docker_entry e[8];
    CHECK_INT(docker_parse_list(j, e, 8), 3);
    CHECK_STR(e[0].cid, "c1");
    CHECK_STR(e[0].id, "w1");
    CHECK_INT(e[0].running, 1);
    CHECK_STR(e[1].id, "w2");
    CHECK_INT(e[1].running, 0);
    CHECK_STR(e[2].id, "w5");
    CHECK_INT(docker_parse_list(j, e, 2), 2);
    CHECK_INT(docker_parse_list("[]", e, 8), 0);
    CHECK_INT(docker_parse_list("{\"message\":\"x\"}", e, 8), -1);
    CHECK_INT(docker_parse_list("", e, 8), -1);
}

TEST(negotiate)
{
    char v[16];
    CHECK_INT(docker_negotiate_version("1.41", v, sizeof v), 0);
    CHECK_STR(v, "1.41");
    CHECK_INT(docker_negotiate_version("1.45", v, sizeof v), 0);
    CHECK_STR(v, "1.41");
    CHECK_INT(docker_negotiate_version("1.30", v, sizeof v), 0);
    CHECK_STR(v, "1.30");
    CHECK_INT(docker_negotiate_version("2.0", v, sizeof v), 0);
    CHECK_STR(v, "1.41");
    CHECK_INT(docker_negotiate_version("1.24", v, sizeof v), -1);
    CHECK_INT(docker_negotiate_version("", v, sizeof v), -1);
    CHECK_INT(docker_negotiate_version("1.4x", v, sizeof v), -1);
    CHECK_INT(docker_negotiate_version(NULL, v, sizeof v), -1);
}

TEST(wait_status)
{
    int s = docker_wait_status(137);
    CHECK(WIFSIGNALED(s));
    CHECK_INT(WTERMSIG(s), 9);
    s = docker_wait_status(143);
    CHECK(WIFSIGNALED(s));
    CHECK_INT(WTERMSIG(s), 15);
    s = docker_wait_status(0);
    CHECK(WIFEXITED(s));
    CHECK_INT(WEXITSTATUS(s), 0);
    s = docker_wait_status(3);
    CHECK(WIFEXITED(s));
    CHECK_INT(WEXITSTATUS(s), 3);
    s = docker_wait_status(128);
    CHECK(WIFEXITED(s));
}

int main(void)
{
    RUN(container_name);
    RUN(create_body);
    RUN(filters);
    RUN(parse_inspect);
    RUN(parse_list);
    RUN(negotiate);
    RUN(wait_status);
    return test_done();
}
