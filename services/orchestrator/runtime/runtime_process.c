/*
 * runtime_process.c — the process runtime: workers are fork+exec'd children
 * of the orchestrator on this host (see runtime.h for the contract).
 *
 * Spawning. Everything the child needs (argv, envp: the parent's environment
 * less what the spec withholds, with the spec's "NAME=value" entries
 * replacing or adding variables) is
 * built before fork, because between fork and execve a child of a threaded
 * process may only make async-signal-safe calls: another thread may have
 * held malloc's or the logger's lock at the moment of fork. The parent blocks
 * every signal around fork so no handler of the orchestrator can run in the
 * child; the child then puts itself in a process group of its own (a Ctrl-C
 * on the orchestrator's terminal must not reach the workers directly: the
 * orchestrator decides how they stop), resets every disposition to the
 * default (SIG_IGN survives execve), unblocks all signals, marks every
 * inherited descriptor above 2 close-on-exec (the orchestrator holds sockets
 * a worker must not keep open) and execs. A close-on-exec pipe tells the
 * parent whether execve succeeded: EOF means yes, an errno means no, so a bad
 * worker_bin fails the spawn instead of looking like an instant crash.
 *
 * PID files. state_dir/<id>.pid holds "<pid> <starttime>", the start time
 * being field 22 of /proc/<pid>/stat (clock ticks since boot). A PID alone
 * could be recycled by an unrelated process after our worker died; PID plus
 * start time names one process for the machine's uptime. Files are written to
 * a temporary name and renamed, so a reader never sees half a file. list()
 * reads the directory: live workers that this runtime does not know yet
 * (started by an earlier orchestrator) are adopted, stale files are removed.
 *
 * Exit monitor (the thread is runtime_monitor.c's). Every ~50 ms, or at once
 * after a pass that found something, own children are reaped by PID with
 * waitpid(pid, WNOHANG) — never waitpid(-1), which would steal the exit
 * status of children that other parts of the program start — and adopted
 * workers, which are not our children, are checked in /proc (alive, same
 * start time, not a zombie). A worker that stopped is removed from the table
 * and its PID file under the lock, so it is reported exactly once; on_exit is
 * called after the lock is dropped so that it may call back into the runtime
 * (e.g. to spawn a replacement).
 */
#include "runtime.h"

#include "log.h"
#include "runtime_monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define POLL_MS 50

struct pworker {
    char id[RUNTIME_ID_MAX];
    int pid;
    unsigned long long start; /* /proc/<pid>/stat field 22 */
    int child;                /* 1: ours to waitpid; 0: adopted */
};

struct process_runtime {
    struct runtime base;
    char *bin, *dir;
    runtime_exit_fn on_exit;
    void *ctx;
    struct rt_monitor m; /* its mu guards the table */
    struct pworker *w;
    int n, cap;
};

/* Reads state and start time of a process from /proc/<pid>/stat. The comm
 * field may hold spaces and parentheses, so parsing starts after the last
 * ')'. 0, or -1 when there is no such process. */
static int proc_stat(int pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* p + 1: " S ppid ..." — field 3 is the state, field 22 the start time. */
    char st = 0, *save = NULL;
    int field = 2;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 3) st = tok[0];
        if (field == 22) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(tok, &end, 10);
            if (errno || *end) return -1;
            *state = st;
            *start = v;
            return 0;
        }
    }
    return -1;
}

/* Is pid still the process that started at start? A zombie or dead process
 * is not alive: it may be waiting for a parent that is not us to reap it. */
static int proc_alive(int pid, unsigned long long start)
{
    if (pid <= 0) return 0;
    if (kill(pid, 0) != 0 && errno != EPERM) return 0;
    char st;
    unsigned long long s;
    if (proc_stat(pid, &st, &s) != 0) return 0;
    return s == start && st != 'Z' && st != 'X' && st != 'x';
}

static void pidfile_path(const struct process_runtime *r, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.pid", r->dir, id);
}

/* Reads "<pid> <start>" from a PID file. 0 or -1. */
static int pidfile_read(const char *path, int *pid, unsigned long long *start)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    int p;
    unsigned long long s;
    int ok = fscanf(f, "%d %llu", &p, &s) == 2 && p > 0;
    fclose(f);
    if (!ok) return -1;
    *pid = p;
    *start = s;
    return 0;
}

static int pidfile_write(const struct process_runtime *r, const char *id, int pid, unsigned long long start)
{
    char path[4096], tmp[4096 + 32];
    pidfile_path(r, id, path, sizeof path);
    /* A dot name is never taken for a worker's file by list(). */
    snprintf(tmp, sizeof tmp, "%s/.%s.pid.%d.tmp", r->dir, id, (int)getpid());
    FILE *f = fopen(tmp, "we");
    if (!f) {
        log_error("cannot write pid file path=%s err=%s", tmp, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "%d %llu\n", pid, start) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        log_error("cannot write pid file path=%s err=%s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int find(const struct process_runtime *r, const char *id)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->w[i].id, id) == 0) return i;
    return -1;
}

static int add(struct process_runtime *r, const char *id, int pid, unsigned long long start, int child)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        struct pworker *w = realloc(r->w, (size_t)cap * sizeof *w);
        if (!w) return -1;
        r->w = w;
        r->cap = cap;
    }
    struct pworker *w = &r->w[r->n++];
    snprintf(w->id, sizeof w->id, "%s", id);
    w->pid = pid;
    w->start = start;
    w->child = child;
    return 0;
}

/* Adopts the worker of an existing, live PID file (caller holds mu).
 * Returns its index, or -1 if there is none; a stale file is removed. */
static int adopt(struct process_runtime *r, const char *id)
{
    char path[4096];
    int pid;
    unsigned long long start;
    pidfile_path(r, id, path, sizeof path);
    if (pidfile_read(path, &pid, &start) != 0) return -1;
    if (!proc_alive(pid, start)) {
        log_info("removed stale pid file id=%s pid=%d", id, pid);
        unlink(path);
        return -1;
    }
    if (add(r, id, pid, start, 0) != 0) return -1;
    log_info("adopted worker id=%s pid=%d", id, pid);
    return r->n - 1;
}

/* Builds envp: the parent's environment less the names the spec sets or
 * withholds, then the spec's entries. Only the pointer array is allocated. */
static char **build_env(const struct runtime_spec *spec)
{
    size_t ne = 0, ns = 0;
    while (environ && environ[ne]) ne++;
    while (ns < RUNTIME_MAX_ENV && spec->env[ns]) ns++;
    char **envp = calloc(ne + ns + 1, sizeof *envp);
    if (!envp) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int overridden = 0;
        for (size_t j = 0; j < ns && !overridden; j++)
            overridden = strncmp(spec->env[j], environ[i], len) == 0 && spec->env[j][len] == '=';
        for (size_t j = 0; spec->withhold && spec->withhold[j] && !overridden; j++)
            overridden = strncmp(spec->withhold[j], environ[i], len) == 0 && spec->withhold[j][len] == '\0';
        if (!overridden) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < ns; j++) envp[k++] = (char *)spec->env[j];
    envp[k] = NULL;
    return envp;
}

/* The child between fork and execve: async-signal-safe calls only. */
_Noreturn static void child_exec(char *const argv[], char *const envp[], int errfd, int maxfd)
{
    setpgid(0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    /* EINVAL for KILL/STOP and glibc's internal 32/33: nothing to do there. */
    for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* errfd is close-on-exec already, so marking the whole range is safe. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < maxfd; fd++) /* kernels before 5.11 */
            if (fd != errfd) close(fd);
    }
    execve(argv[0], argv, envp);
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

static int p_spawn(struct runtime *rt, const struct runtime_spec *spec, struct runtime_worker *out)
{
    struct process_runtime *r = (struct process_runtime *)rt;
    if (rt_check_spec(spec) != 0) return -1;
    char *argv[] = { r->bin, NULL };
    long maxfd = sysconf(_SC_OPEN_MAX); /* not async-signal-safe: ask before fork */
    if (maxfd < 0 || maxfd > 1 << 20) maxfd = 1 << 20;
    char **envp = build_env(spec);
    if (!envp) return -1;
    int rc = -1;
    pthread_mutex_lock(&r->m.mu);
    /* Taken or still running (maybe from an earlier orchestrator): refuse,
     * two processes must never share an id and a PID file. */
    if (find(r, spec->id) >= 0 || adopt(r, spec->id) >= 0) {
        log_error("spawn: worker already running id=%s", spec->id);
        goto out;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        log_error("spawn: pipe failed err=%s", strerror(errno));
        goto out;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) child_exec(argv, envp, pfd[1], (int)maxfd);
    int fork_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        log_error("spawn: fork failed id=%s err=%s", spec->id, strerror(fork_err));
        goto out;
    }
    int child_err = 0;
    ssize_t n;
    do n = read(pfd[0], &child_err, sizeof child_err);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        log_error("spawn: exec failed id=%s bin=%s err=%s", spec->id, r->bin, strerror(child_err));
        goto out;
    }
    /* The child is ours and not reaped yet, so its /proc entry exists even
     * if it has already exited (as a zombie). */
    char st;
    unsigned long long start;
    if (proc_stat(pid, &st, &start) != 0 || pidfile_write(r, spec->id, pid, start) != 0 ||
        add(r, spec->id, pid, start, 1) != 0) {
        log_error("spawn: cannot record worker id=%s pid=%d; killing it", spec->id, (int)pid);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        char path[4096];
        pidfile_path(r, spec->id, path, sizeof path);
        unlink(path);
        goto out;
    }
    log_info("spawned worker id=%s pid=%d bin=%s", spec->id, (int)pid, r->bin);
    if (out) {
        snprintf(out->id, sizeof out->id, "%s", spec->id);
        out->pid = (int)pid;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&r->m.mu);
    free(envp);
    return rc;
}

static int p_kill(struct runtime *rt, const char *id, int sig)
{
    struct process_runtime *r = (struct process_runtime *)rt;
    if (!rt_valid_id(id)) {
        log_error("kill: invalid worker id id=%s", id ? id : "(null)");
        return -1;
    }
    int rc = -1;
    pthread_mutex_lock(&r->m.mu);
    int i = find(r, id);
    if (i < 0) i = adopt(r, id);
    if (i < 0) {
        log_warn("kill: unknown worker id=%s", id);
    } else if (!r->w[i].child && !proc_alive(r->w[i].pid, r->w[i].start)) {
        /* The PID may belong to someone else by now; the monitor reports it. */
        log_warn("kill: worker already gone id=%s pid=%d", id, r->w[i].pid);
    } else if (kill(r->w[i].pid, sig) != 0) {
        log_error("kill: failed id=%s pid=%d sig=%d err=%s", id, r->w[i].pid, sig, strerror(errno));
    } else {
        /* An unreaped child cannot have been recycled, so no check there. */
        log_info("signalled worker id=%s pid=%d sig=%d", id, r->w[i].pid, sig);
        rc = 0;
    }
    pthread_mutex_unlock(&r->m.mu);
    return rc;
}

static int p_list(struct runtime *rt, struct runtime_worker *out, int max)
{
    struct process_runtime *r = (struct process_runtime *)rt;
    pthread_mutex_lock(&r->m.mu);
    DIR *d = opendir(r->dir);
    if (!d) {
        log_error("list: cannot read state dir path=%s err=%s", r->dir, strerror(errno));
        pthread_mutex_unlock(&r->m.mu);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || len - 4 >= RUNTIME_ID_MAX || strcmp(e->d_name + len - 4, ".pid") != 0)
            continue;
        char id[RUNTIME_ID_MAX];
        snprintf(id, sizeof id, "%.*s", (int)(len - 4), e->d_name);
        /* Workers we know are the monitor's business, files of other
         * shapes (temporaries, strangers) are not ours to touch. */
        if (!rt_valid_id(id) || find(r, id) >= 0) continue;
        adopt(r, id);
    }
    closedir(d);
    int k = 0;
    for (int i = 0; i < r->n && k < max; i++) {
        if (!proc_alive(r->w[i].pid, r->w[i].start)) continue; /* exited: the monitor reports it */
        snprintf(out[k].id, sizeof out[k].id, "%s", r->w[i].id);
        out[k].pid = r->w[i].pid;
        k++;
    }
    pthread_mutex_unlock(&r->m.mu);
    return k;
}

/* Takes the workers that stopped out of the table (caller holds mu), with
 * their PID files, and appends them to notes. */
static void collect(struct process_runtime *r, struct rt_notices *notes)
{
    for (int i = 0; i < r->n;) {
        struct pworker *w = &r->w[i];
        int status = -1, gone = 0;
        if (w->child) {
            int st;
            pid_t p = waitpid(w->pid, &st, WNOHANG);
            if (p == w->pid) {
                status = st;
                gone = 1;
            } else if (p < 0 && errno == ECHILD) {
                /* Someone else reaped it (a waitpid(-1) elsewhere). */
                gone = !proc_alive(w->pid, w->start);
            }
        } else {
            gone = !proc_alive(w->pid, w->start);
        }
        if (!gone) { i++; continue; }
        struct rt_notice *nt = rt_notices_add(notes);
        if (!nt) { i++; continue; } /* try again next pass */
        snprintf(nt->id, sizeof nt->id, "%s", w->id);
        nt->pid = w->pid;
        nt->status = status;
        char path[4096];
        pidfile_path(r, w->id, path, sizeof path);
        unlink(path);
        r->w[i] = r->w[--r->n];
    }
}

/* One pass of the monitor thread (runtime_monitor.h). */
static int p_pass(void *arg, struct rt_notices *notes)
{
    struct process_runtime *r = arg;
    pthread_mutex_lock(&r->m.mu);
    collect(r, notes);
    pthread_mutex_unlock(&r->m.mu);
    for (int i = 0; i < notes->n; i++) {
        struct rt_notice *nt = &notes->v[i];
        if (nt->status == -1)
            log_info("worker exited id=%s pid=%d (adopted)", nt->id, nt->pid);
        else if (WIFSIGNALED(nt->status))
            log_info("worker exited id=%s pid=%d signal=%d", nt->id, nt->pid, WTERMSIG(nt->status));
        else
            log_info("worker exited id=%s pid=%d code=%d", nt->id, nt->pid, WEXITSTATUS(nt->status));
        if (r->on_exit) r->on_exit(nt->id, nt->pid, nt->status, r->ctx);
    }
    return notes->n;
}

static void p_destroy(struct runtime *rt)
{
    struct process_runtime *r = (struct process_runtime *)rt;
    if (!r) return;
    rt_monitor_stop(&r->m);
    /* Workers keep running: whether they stop is the orchestrator's call,
     * and a later runtime on the same state_dir adopts them. */
    free(r->w);
    free(r->bin);
    free(r->dir);
    free(r);
}

static const struct runtime_ops process_ops = {
    .spawn = p_spawn,
    .kill = p_kill,
    .list = p_list,
    .destroy = p_destroy,
};

struct runtime *runtime_process_new(const char *worker_bin, const char *state_dir,
                                    runtime_exit_fn on_exit, void *ctx)
{
    if (!worker_bin || !state_dir) return NULL;
    if (mkdir(state_dir, 0755) != 0 && errno != EEXIST) {
        log_error("cannot create state dir path=%s err=%s", state_dir, strerror(errno));
        return NULL;
    }
    struct process_runtime *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base.ops = &process_ops;
    r->bin = strdup(worker_bin);
    r->dir = strdup(state_dir);
    r->on_exit = on_exit;
    r->ctx = ctx;
    if (!r->bin || !r->dir) goto fail;
    if (rt_monitor_start(&r->m, POLL_MS, p_pass, r) != 0) goto fail;
    return &r->base;
fail:
    log_error("cannot create process runtime");
    free(r->bin);
    free(r->dir);
    free(r);
    return NULL;
}
