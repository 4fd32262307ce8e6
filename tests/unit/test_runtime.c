/*
 * test_runtime.c — the process runtime (services/orchestrator/runtime/runtime_process.c) against
 * real processes.
 *
 * The worker is a tiny shell script written into a mkdtemp directory: it
 * writes "$WORKER_ID $RT_OVERRIDE $RT_INHERITED ${RT_SECRET:-withheld} $RT_SECRETS" to the
 * file named by $OUT (proving the spec's env reached it, on top of and over
 * the parent's, less what the spec withholds) and
 * then execs `sleep 30`, a quiet process to signal, inspect in /proc and
 * adopt. Exit notices land in a table guarded by a mutex and a
 * CLOCK_MONOTONIC condvar, and every wait has a deadline, so a broken
 * runtime fails a check instead of hanging the suite.
 *
 * Every PID a test sees is remembered; at the end each one that is still our
 * unreaped child is killed and reaped (a PID that is not our child any more
 * is never signalled: it may have been recycled), and the temp dirs are
 * removed — whether the checks passed or not.
 */
#include "test.h"

#include "clock.h"
#include "log.h"
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256], bin[300], state[300];

/* ---- exit notices ---- */

struct seen { char id[RUNTIME_ID_MAX]; int pid, status; void *rt; };
static struct seen seen[64];
static int nseen;
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seen_cond;

static void on_exit_cb(const char *id, int pid, int status, void *ctx)
{
    pthread_mutex_lock(&seen_mu);
    if (nseen < 64) {
        snprintf(seen[nseen].id, sizeof seen[nseen].id, "%s", id);
        seen[nseen].pid = pid;
        seen[nseen].status = status;
        seen[nseen].rt = ctx;
        nseen++;
    }
    pthread_cond_broadcast(&seen_cond);
    pthread_mutex_unlock(&seen_mu);
}

static int count_seen(const char *id)
{
    int c = 0;
    for (int i = 0; i < nseen; i++) c += strcmp(seen[i].id, id) == 0;
    return c;
}

/* Waits up to ms for a notice about id; returns its index or -1. */
static int wait_seen(const char *id, int64_t ms)
{
    struct timespec dl = clock_deadline(ms);
    pthread_mutex_lock(&seen_mu);
    int idx = -1;
    for (;;) {
        for (int i = 0; i < nseen && idx < 0; i++)
            if (strcmp(seen[i].id, id) == 0) idx = i;
        if (idx >= 0 || pthread_cond_timedwait(&seen_cond, &seen_mu, &dl) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&seen_mu);
    return idx;
}

static int seen_count_locked(const char *id)
{
    pthread_mutex_lock(&seen_mu);
    int c = count_seen(id);
    pthread_mutex_unlock(&seen_mu);
    return c;
}

/* ---- processes and files ---- */

static int pids[64], npids;
static void remember(int pid) { if (npids < 64) pids[npids++] = pid; }

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Running and not a zombie? */
static int running(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n && out[n - 1] == '\n') out[--n] = '\0';
    return (int)n;
}

/* Waits until path has content (the script wrote it), up to ms. */
static int wait_file(const char *path, char *out, size_t cap, int ms)
{
    for (int64_t end = clock_ms() + ms; clock_ms() < end; sleep_ms(10))
        if (read_file(path, out, cap) > 0) return 0;
    return -1;
}

/* Waits until /proc/<pid>/comm is want (the script has exec'd sleep). */
static int wait_comm(int pid, const char *want, int ms)
{
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    for (int64_t end = clock_ms() + ms; clock_ms() < end; sleep_ms(10))
        if (read_file(path, buf, sizeof buf) > 0 && strcmp(buf, want) == 0) return 0;
    return -1;
}

/* Reads "Name:\t<hex>" of /proc/<pid>/status. */
static unsigned long long status_mask(int pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    unsigned long long v = ~0ULL;
    if (!f) return v;
    size_t len = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, len) == 0 && line[len] == ':') v = strtoull(line + len + 1, NULL, 16);
    fclose(f);
    return v;
}

/* The kernel names the new program (comm) a moment before it closes the
 * close-on-exec descriptors, so the caller polls for the final count. */
static int count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int exists(const char *path) { struct stat st; return stat(path, &st) == 0; }

static int in_list(struct runtime *rt, const char *id, int pid)
{
    struct runtime_worker w[16];
    int n = runtime_list(rt, w, 16);
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].id, id) == 0 && w[i].pid == pid) return 1;
    return 0;
}

static int spawn(struct runtime *rt, const char *id, struct runtime_worker *w)
{
    char o[512], wid[64];
    snprintf(o, sizeof o, "OUT=%s/out.%s", tmpdir, id);
    snprintf(wid, sizeof wid, "WORKER_ID=%s", id);
    static const char *const withhold[] = { "RT_SECRET", NULL };
    struct runtime_spec spec = { .id = id, .env = { wid, "RT_OVERRIDE=child", o, NULL }, .withhold = withhold };
    int rc = runtime_spawn(rt, &spec, w);
    if (rc == 0) remember(w->pid);
    return rc;
}

/* ---- tests ---- */

TEST(rejects_bad_ids)
{
    struct runtime *rt = runtime_process_new(bin, state, on_exit_cb, NULL);
    CHECK(rt != NULL);
    const char *bad[] = { "", "a/b", "..", ".hidden", "a b", "w1\n", "é",
                          "012345678901234567890123456789012345678901234567" /* 48 */ };
    struct runtime_worker w;
    int ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct runtime_spec spec = { .id = bad[i], .env = { NULL } };
        ok &= runtime_spawn(rt, &spec, &w) == -1;
        ok &= runtime_kill(rt, bad[i], SIGTERM) == -1;
    }
    struct runtime_spec nul = { .id = NULL, .env = { NULL } };
    ok &= runtime_spawn(rt, &nul, &w) == -1;
    struct runtime_spec badenv = { .id = "w0", .env = { "NOEQUALS", NULL } };
    ok &= runtime_spawn(rt, &badenv, &w) == -1;
    ok &= runtime_kill(rt, "nosuchworker", SIGTERM) == -1;
    int n = runtime_list(rt, &w, 1);
    runtime_destroy(rt);
    CHECK(ok);
    CHECK_INT(n, 0);
}

TEST(spawn_list_kill_reports_once)
{
    struct runtime *rt = runtime_process_new(bin, state, on_exit_cb, NULL);
    CHECK(rt != NULL);
    /* An inherited descriptor the worker must not keep. */
    int leak = open("/dev/null", O_RDONLY);
    struct runtime_worker w = { "", 0 };
    int rc = spawn(rt, "w1", &w);
    close(leak);
    char pidpath[512], path[512], got[256];
    snprintf(path, sizeof path, "%s/out.w1", tmpdir);
    int wrote = rc == 0 ? wait_file(path, got, sizeof got, 5000) : -1;
    int execd = rc == 0 ? wait_comm(w.pid, "sleep", 5000) : -1;
    int listed = rc == 0 && in_list(rt, "w1", w.pid);
    snprintf(pidpath, sizeof pidpath, "%s/w1.pid", state);
    int pidfile = exists(pidpath);
    int pgid = rc == 0 ? (int)getpgid(w.pid) : -1;
    int fds = -1;
    for (int64_t end = clock_ms() + 2000; rc == 0 && clock_ms() < end; sleep_ms(10))
        if ((fds = count_fds(w.pid)) == 3) break;
    unsigned long long ign = rc == 0 ? status_mask(w.pid, "SigIgn") : 1;
    unsigned long long blk = rc == 0 ? status_mask(w.pid, "SigBlk") : 1;
    int killed = rc == 0 ? runtime_kill(rt, "w1", SIGKILL) : -1;
    int idx = wait_seen("w1", 5000);
    sleep_ms(300); /* a second notice would come within a few polls */
    int times = seen_count_locked("w1");
    int after = in_list(rt, "w1", w.pid);
    int pidfile_after = exists(pidpath);
    int kill_again = runtime_kill(rt, "w1", SIGKILL);
    runtime_destroy(rt);

    CHECK_INT(rc, 0);
    CHECK_STR(w.id, "w1");
    CHECK(w.pid > 0);
    CHECK_INT(wrote, 0);
    CHECK_STR(got, "w1 child inherited withheld a longer name");
    CHECK_INT(execd, 0);
    CHECK(listed);
    CHECK(pidfile);
    CHECK_INT(pgid, w.pid);          /* its own process group */
    CHECK_INT(fds, 3);               /* stdin, stdout, stderr only */
    /* SIGUSR1's SIG_IGN was reset. Signals 32 and 33 are glibc's own and
     * cannot be set through sigaction; what our caller did to them is
     * inherited, so only the classic signals 1-31 are checked. */
    CHECK_INT(ign & 0x7fffffffULL, 0);
    CHECK_INT(blk, 0);
    CHECK_INT(killed, 0);
    CHECK(idx >= 0);
    CHECK_INT(times, 1);
    CHECK_INT(seen[idx].pid, w.pid);
    CHECK(WIFSIGNALED(seen[idx].status) && WTERMSIG(seen[idx].status) == SIGKILL);
    CHECK(!after);
    CHECK(!pidfile_after);
    CHECK_INT(kill_again, -1);
}

TEST(exec_failure_fails_spawn)
{
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no-such-worker", tmpdir);
    struct runtime *rt = runtime_process_new(missing, state, on_exit_cb, NULL);
    CHECK(rt != NULL);
    struct runtime_worker w = { "", 0 };
    struct runtime_spec spec = { .id = "wx", .env = { NULL } };
    int rc = runtime_spawn(rt, &spec, &w);
    char path[512];
    snprintf(path, sizeof path, "%s/wx.pid", state);
    int pidfile = exists(path);
    sleep_ms(150);
    int notices = seen_count_locked("wx");
    runtime_destroy(rt);
    CHECK_INT(rc, -1);
    CHECK(!pidfile);
    CHECK_INT(notices, 0);
}

TEST(duplicate_id_refused)
{
    struct runtime *rt = runtime_process_new(bin, state, on_exit_cb, NULL);
    CHECK(rt != NULL);
    struct runtime_worker a = { "", 0 }, b = { "", 0 };
    int rc1 = spawn(rt, "dup", &a);
    int rc2 = spawn(rt, "dup", &b);
    int killed = rc1 == 0 ? runtime_kill(rt, "dup", SIGKILL) : -1;
    int idx = wait_seen("dup", 5000);
    runtime_destroy(rt);
    CHECK_INT(rc1, 0);
    CHECK_INT(rc2, -1);
    CHECK_INT(killed, 0);
    CHECK(idx >= 0);
}

/* An orchestrator restart: the first runtime goes away leaving its workers
 * running, a second one on the same state_dir adopts them and reports their
 * exits, whoever causes them. */
TEST(destroy_leaves_workers_and_second_runtime_adopts)
{
    struct runtime *rt1 = runtime_process_new(bin, state, on_exit_cb, NULL);
    CHECK(rt1 != NULL);
    struct runtime_worker a = { "", 0 }, b = { "", 0 };
    int rc_a = spawn(rt1, "wa", &a);
    int rc_b = spawn(rt1, "wb", &b);
    runtime_destroy(rt1);
    CHECK_INT(rc_a, 0);
    CHECK_INT(rc_b, 0);
    sleep_ms(100);
    CHECK(running(a.pid));
    CHECK(running(b.pid));

    /* Files list() must handle: a stale worker, and strangers. */
    char path[512];
    snprintf(path, sizeof path, "%s/stale.pid", state);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "999999999 1\n");
    fclose(f);
    char junk[512];
    snprintf(junk, sizeof junk, "%s/notes.txt", state);
    f = fopen(junk, "w");
    CHECK(f != NULL);
    fclose(f);

    int tag = 2;
    struct runtime *rt2 = runtime_process_new(bin, state, on_exit_cb, &tag);
    CHECK(rt2 != NULL);
    struct runtime_worker w[8];
    int n = runtime_list(rt2, w, 8);
    int has_a = in_list(rt2, "wa", a.pid), has_b = in_list(rt2, "wb", b.pid);
    int stale_left = exists(path), junk_left = exists(junk);
    /* From outside: kill(2) by PID, as a crash would. */
    kill(a.pid, SIGKILL);
    int ia = wait_seen("wa", 5000);
    /* Through the runtime, by id. */
    int kb = runtime_kill(rt2, "wb", SIGTERM);
    int ib = wait_seen("wb", 5000);
    sleep_ms(200);
    int times_a = seen_count_locked("wa"), times_b = seen_count_locked("wb");
    int left = runtime_list(rt2, w, 8);
    runtime_destroy(rt2);
    unlink(junk);
    /* They are still children of this process: reap them. */
    waitpid(a.pid, NULL, 0);
    waitpid(b.pid, NULL, 0);

    CHECK_INT(n, 2);
    CHECK(has_a && has_b);
    CHECK(!stale_left);
    CHECK(junk_left);
    CHECK(ia >= 0);
    CHECK(seen[ia].rt == &tag);
    CHECK_INT(seen[ia].pid, a.pid);
    CHECK_INT(seen[ia].status, -1);
    CHECK_INT(kb, 0);
    CHECK(ib >= 0);
    CHECK_INT(seen[ib].status, -1);
    CHECK_INT(times_a, 1);
    CHECK_INT(times_b, 1);
    CHECK_INT(left, 0);
}

/* A worker that exits on its own is reported with its exit code. */
TEST(reports_exit_code)
{
    char path[512];
    snprintf(path, sizeof path, "%s/exit3.sh", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "#!/bin/sh\nexit 3\n");
    fclose(f);
    chmod(path, 0755);
    struct runtime *rt = runtime_process_new(path, state, on_exit_cb, NULL);
    CHECK(rt != NULL);
    struct runtime_worker w = { "", 0 };
    int rc = spawn(rt, "w3", &w);
    int idx = wait_seen("w3", 5000);
    runtime_destroy(rt);
    CHECK_INT(rc, 0);
    CHECK(idx >= 0);
    CHECK(WIFEXITED(seen[idx].status));
    CHECK_INT(WEXITSTATUS(seen[idx].status), 3);
}

static void cleanup(void)
{
    for (int i = 0; i < npids; i++) {
        /* Only a PID that is still our unreaped child is surely ours. */
        if (waitpid(pids[i], NULL, WNOHANG) == 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int main(void)
{
    test_suite = "test_runtime"; /* test.h's default names the header */
    log_init("test_runtime");
    clock_cond_init(&seen_cond);
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/rt-test.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    snprintf(bin, sizeof bin, "%s/worker.sh", tmpdir);
    snprintf(state, sizeof state, "%s/state", tmpdir);
    FILE *f = fopen(bin, "w");
    if (!f) { perror(bin); return 1; }
    fprintf(f, "#!/bin/sh\necho \"$WORKER_ID $RT_OVERRIDE $RT_INHERITED ${RT_SECRET:-withheld} $RT_SECRETS\" > \"$OUT\"\n"
               "exec sleep 30\n");
    fclose(f);
    chmod(bin, 0755);
    /* What the workers get from us: inherited, overridden by the spec, and a
     * disposition the child must not keep. */
    setenv("RT_INHERITED", "inherited", 1);
    setenv("RT_OVERRIDE", "parent", 1);
    setenv("RT_SECRET", "the orchestrator's own", 1); /* withheld by the spec */
    setenv("RT_SECRETS", "a longer name", 1);         /* not withheld: only the exact name is */
    signal(SIGUSR1, SIG_IGN);

    RUN(rejects_bad_ids);
    RUN(spawn_list_kill_reports_once);
    RUN(exec_failure_fails_spawn);
    RUN(duplicate_id_refused);
    RUN(destroy_leaves_workers_and_second_runtime_adopts);
    RUN(reports_exit_code);
    cleanup();
    pthread_cond_destroy(&seen_cond);
    return test_done();
}
