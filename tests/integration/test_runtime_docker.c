/*
 * test_runtime_docker.c — the docker runtime (services/orchestrator/runtime/runtime_docker.c)
 * against the Docker engine on /var/run/docker.sock (DOCKER_SOCKET).
 *
 * Without an engine the suite exits 77 (skipped), unless REQUIRE_DOCKER=1:
 * then that is a failure. The workers are containers of a tiny image built
 * here from debian:bookworm-slim (docker/base-image.sh makes it when it
 * cannot be pulled) whose command sleeps and exits on SIGTERM; they run on a network of their own
 * and under a stack name unique to the run, so nothing of a developer's stack
 * is touched. Everything the run made (containers by label, the network) is
 * removed at the end, and stale leftovers of earlier runs (older networks
 * with the test's label) at the start.
 *
 * Checked: spawn gives State.Pid as `docker inspect` reports it, with the
 * labels, name, network and env of the spec; list; a kill through the
 * runtime and a `docker kill` from outside both give one exit notice each
 * (status from the exit code) and the container is removed; a second spawn
 * of a running id fails; a new runtime adopts running workers and reports
 * their exits; a bad socket fails creation.
 */
#include "test.h"

#include "clock.h"
#include "log.h"
#include "runtime.h"
#include "exit_notices.h"

#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IMAGE "rideshare-test-sleeper"

static char sock[256], stack[64], net[96];

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Runs a shell command, its first line of output into out. Exit status. */
static int sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024] = "";
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    char rest[256];
    while (fgets(rest, sizeof rest, p)) {}
    int st = pclose(p);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (out) snprintf(out, cap, "%s", line);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int inspect_pid(const char *id)
{
    char out[64];
    if (sh(out, sizeof out, "docker inspect -f '{{.State.Pid}}' %s-worker-%s 2>/dev/null", stack, id) != 0)
        return -1;
    return atoi(out);
}

static int container_exists(const char *id)
{
    return sh(NULL, 0, "docker inspect %s-worker-%s >/dev/null 2>&1", stack, id) == 0;
}

static struct runtime *rt;

static void spawn_one(const char *id, struct runtime_worker *w, int *rc)
{
    char e_id[64];
    snprintf(e_id, sizeof e_id, "WORKER_ID=%s", id);
    struct runtime_spec spec = { .id = id, .env = { e_id, "RT_CHECK=yes it is", NULL } };
    *rc = runtime_spawn(rt, &spec, w);
}

TEST(bad_socket_fails)
{
    struct runtime *r = runtime_docker_new("/nonexistent/docker.sock", IMAGE, net, stack, NULL, NULL, NULL);
    CHECK(r == NULL);
}

TEST(spawn_inspect_list)
{
    struct runtime_worker w1, w2;
    int rc;
    spawn_one("w1", &w1, &rc);
    CHECK_INT(rc, 0);
    spawn_one("w2", &w2, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(w1.id, "w1");
    CHECK(w1.pid > 0 && w2.pid > 0 && w1.pid != w2.pid);
    CHECK_INT(inspect_pid("w1"), w1.pid);
    CHECK_INT(inspect_pid("w2"), w2.pid);
    char out[512];
    CHECK_INT(sh(out, sizeof out, "docker inspect -f '{{index .Config.Labels \"rideshare.stack\"}} "
                 "{{index .Config.Labels \"rideshare.role\"}} {{index .Config.Labels \"rideshare.worker-id\"}} "
                 "{{.HostConfig.NetworkMode}}' %s-worker-w1", stack), 0);
    char want[512];
    snprintf(want, sizeof want, "%s worker w1 %s", stack, net);
    CHECK_STR(out, want);
    CHECK_INT(sh(out, sizeof out, "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "
                 "%s-worker-w1 | grep '^RT_CHECK='", stack), 0);
    CHECK_STR(out, "RT_CHECK=yes it is");
    struct runtime_worker l[8];
    int n = runtime_list(rt, l, 8);
    CHECK_INT(n, 2);
    int found = 0;
    for (int i = 0; i < n; i++)
        found += (strcmp(l[i].id, "w1") == 0 && l[i].pid == w1.pid) ||
                 (strcmp(l[i].id, "w2") == 0 && l[i].pid == w2.pid);
    CHECK_INT(found, 2);
}

TEST(spawn_twice_fails)
{
    struct runtime_worker w;
    int rc;
    spawn_one("w1", &w, &rc);
    CHECK_INT(rc, -1);
    spawn_one("bad/id", &w, &rc);
    CHECK_INT(rc, -1);
}

TEST(kill_gives_notice_and_removes)
{
    int pid = inspect_pid("w1");
    CHECK(pid > 0);
    CHECK_INT(runtime_kill(rt, "w1", SIGKILL), 0);
    struct seen s;
    CHECK_INT(wait_seen("w1", 5000, &s), 0);
    CHECK_INT(s.pid, pid);
    CHECK(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGKILL);
    for (int i = 0; i < 100 && container_exists("w1"); i++) sleep_ms(50);
    CHECK(!container_exists("w1"));
    sleep_ms(600);
    CHECK_INT(count_seen("w1"), 1);
    CHECK_INT(runtime_kill(rt, "w1", SIGKILL), -1);
}

TEST(docker_kill_from_outside_is_noticed)
{
    int pid = inspect_pid("w2");
    CHECK(pid > 0);
    CHECK_INT(sh(NULL, 0, "docker kill %s-worker-w2 >/dev/null 2>&1", stack), 0);
    struct seen s;
    CHECK_INT(wait_seen("w2", 5000, &s), 0);
    CHECK_INT(s.pid, pid);
    struct runtime_worker l[8];
    CHECK_INT(runtime_list(rt, l, 8), 0);
}

TEST(respawn_same_id_after_exit)
{
    struct runtime_worker w;
    int rc;
    spawn_one("w1", &w, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(inspect_pid("w1"), w.pid);
}

TEST(new_runtime_adopts)
{
    int pid = inspect_pid("w1");
    CHECK(pid > 0);
    runtime_destroy(rt);
    rt = runtime_docker_new(sock, IMAGE, net, stack, NULL, on_exit_cb, NULL);
    CHECK(rt != NULL);
    struct runtime_worker l[8];
    CHECK_INT(runtime_list(rt, l, 8), 1);
    CHECK_STR(l[0].id, "w1");
    CHECK_INT(l[0].pid, pid);
    pthread_mutex_lock(&seen_mu);
    nseen = 0;
    pthread_mutex_unlock(&seen_mu);
    CHECK_INT(runtime_kill(rt, "w1", SIGTERM), 0);
    struct seen s;
    CHECK_INT(wait_seen("w1", 8000, &s), 0);
    CHECK_INT(s.pid, pid);
}

static void cleanup(void)
{
    sh(NULL, 0, "docker ps -aq --filter label=rideshare.stack=%s | xargs -r docker rm -f >/dev/null 2>&1", stack);
    sh(NULL, 0, "docker network rm %s >/dev/null 2>&1", net);
}

int main(void)
{
    log_init("test_runtime_docker");
    const char *s = getenv("DOCKER_SOCKET");
    snprintf(sock, sizeof sock, "%s", s && *s ? s : "/var/run/docker.sock");
    int required = getenv("REQUIRE_DOCKER") && strcmp(getenv("REQUIRE_DOCKER"), "1") == 0;
    struct stat st;
    if (stat(sock, &st) != 0 || sh(NULL, 0, "docker version >/dev/null 2>&1") != 0) {
        if (required) {
            printf("not ok test_runtime_docker: engine (no Docker engine at %s and REQUIRE_DOCKER=1)\n", sock);
            return 1;
        }
        printf("skip: no Docker engine at %s (REQUIRE_DOCKER=1 makes this a failure)\n", sock);
        return 77;
    }
    /* tests/run.sh runs every program from the repository's root. */
    if (sh(NULL, 0, "docker/base-image.sh >&2") != 0) {
        printf("not ok test_runtime_docker: base image (docker/base-image.sh failed)\n");
        return 1;
    }
    /* PID 1 ignores SIGTERM unless it handles it: the shell traps it. */
    char df[] = "/tmp/rideshare-rtd-XXXXXX";
    int dfd = mkstemp(df);
    FILE *f = dfd >= 0 ? fdopen(dfd, "w") : NULL;
    if (f) {
        fputs("FROM debian:bookworm-slim\nLABEL rideshare.project=rideshare\n"
              "CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 600 & wait\"]\n", f);
        fclose(f);
    }
    int built = f && sh(NULL, 0, "docker build -q -t %s - <%s >/dev/null 2>&1", IMAGE, df) == 0;
    if (dfd >= 0) unlink(df);
    if (!built) {
        printf("not ok test_runtime_docker: building the test image %s\n", IMAGE);
        return 1;
    }
    /* Leftovers of earlier runs that died before their cleanup. */
    sh(NULL, 0, "for n in $(docker network ls --format '{{.Name}}' --filter label=rideshare.test=runtime_docker); do "
                "docker ps -aq --filter label=rideshare.stack=${n%%-net} | xargs -r docker rm -f; "
                "docker network rm $n; done >/dev/null 2>&1");
    snprintf(stack, sizeof stack, "rt%d-%ld", (int)getpid(), (long)time(NULL) % 100000);
    snprintf(net, sizeof net, "%s-net", stack);
    if (sh(NULL, 0, "docker network create --label rideshare.project=rideshare "
                    "--label rideshare.test=runtime_docker %s >/dev/null", net) != 0) {
        printf("not ok test_runtime_docker: network create %s\n", net);
        return 1;
    }
    rt = runtime_docker_new(sock, IMAGE, net, stack, NULL, on_exit_cb, NULL);
    if (!rt) {
        printf("not ok test_runtime_docker: runtime_docker_new\n");
        cleanup();
        return 1;
    }
    RUN(bad_socket_fails);
    RUN(spawn_inspect_list);
    RUN(spawn_twice_fails);
    RUN(kill_gives_notice_and_removes);
    RUN(docker_kill_from_outside_is_noticed);
    RUN(respawn_same_id_after_exit);
    RUN(new_runtime_adopts);
    if (rt) runtime_destroy(rt);
    cleanup();
    return test_done();
}
