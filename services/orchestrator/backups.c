/*
 * backups.c — see backups.h.
 *
 * One backup at a time: a second request while one is being taken gets a
 * 503 at once (a flag, not a lock held across the transfer). Every wait is
 * bounded: the slave's answer by the request's timeout, each part of the
 * stream by mq_file_fetch's, the scheduler's sleep by its stop flag.
 */
#include "backups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "mq_file.h"
#include "protocol.h"
#include "rpc.h"

#define NAME_PREFIX "backup-"

struct backups {
    struct backups_config cfg;
    char dir[1024];
    volatile int stop;
    pthread_t thread;
    int running;
    pthread_mutex_t mu;          /* guards busy, stop's wake-up */
    pthread_cond_t wake;
    int busy;                    /* a backup is being taken */
    unsigned counter;
};

const char *backups_dir(const struct backups *b) { return b->dir; }

/* The slave's answer: which stream holds the file, and what it is. */
static int parse_answer(const char *body, size_t len, char *stream, size_t n, struct mq_file_info *fi,
                        struct backup_taken *out)
{
    cJSON *j = json_parse(body, len);
    const char *s = j ? json_get_str(j, "stream") : NULL, *by = j ? json_get_str(j, "made_by") : NULL;
    int64_t crc = 0;
    int ok = s && strlen(s) < n && json_get_int(j, "size", &fi->size) == 0 &&
             json_get_int(j, "parts", &fi->parts) == 0 && json_get_int(j, "crc", &crc) == 0 &&
             json_get_int(j, "seq", &out->meta.seq) == 0 && json_get_int(j, "epoch", &out->meta.epoch) == 0 &&
             json_get_int(j, "made_at_ms", &out->meta.made_at_ms) == 0;
    if (ok) {
        snprintf(stream, n, "%s", s);
        snprintf(out->meta.made_by, sizeof out->meta.made_by, "%s", by ? by : "");
        fi->crc = (uint32_t)crc;
    }
    cJSON_Delete(j);
    return ok ? 0 : -1;
}

/* Asks a ready slave for a backup: 200 with the stream filled in, or an error status. */
static int ask(struct backups *b, struct mq *m, char *stream, size_t n, struct mq_file_info *fi,
               struct backup_taken *out, char *err, size_t errlen)
{
    uint32_t messages = 0, consumers = 0;
    if (mq_queue_depth(m, PROTO_BACKUP_QUEUE, &messages, &consumers) || consumers == 0) {
        snprintf(err, errlen, "no ready slave to take a backup from");
        return 503;
    }
    char rid[64];
    pthread_mutex_lock(&b->mu);
    snprintf(rid, sizeof rid, "backup-%lld-%u", (long long)clock_wall_ms(), ++b->counter);
    pthread_mutex_unlock(&b->mu);
    struct rpc_reply r;
    int rc = rpc_call(b->cfg.rpc, PROTO_BACKUP_QUEUE, rid, 0, clock_wall_ms() + b->cfg.timeout_ms, "{}", 2,
                      b->cfg.timeout_ms, &r);
    int status = 503;
    if (rc != RPC_OK) {
        snprintf(err, errlen, rc == RPC_TIMEOUT ? "no backup from a slave in time" : "message broker unavailable");
    } else if (r.status != 200) {
        cJSON *j = json_parse(r.body, r.len);
        snprintf(err, errlen, "the slave could not make a backup: %s",
                 j && json_get_str(j, "error") ? json_get_str(j, "error") : "?");
        cJSON_Delete(j);
    } else if (parse_answer(r.body, r.len, stream, n, fi, out)) {
        snprintf(err, errlen, "malformed answer from the slave");
        status = 502;
    } else {
        status = 200;
    }
    if (rc == RPC_OK) rpc_reply_free(&r);
    return status;
}

static int write_sidecar(const struct backup_taken *t)
{
    char path[1100];
    snprintf(path, sizeof path, "%s.json", t->path);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"seq\":%lld,\"epoch\":%lld,\"crc\":\"%08x\",\"size\":%lld,\"made_at_ms\":%lld,\"made_by\":\"%s\"}\n",
            (long long)t->meta.seq, (long long)t->meta.epoch, t->crc, (long long)t->size,
            (long long)t->meta.made_at_ms, t->meta.made_by);
    return fclose(f) == 0 ? 0 : -1;
}

/* The whole take, once it is ours to do. */
static int take(struct backups *b, int kept, struct backup_taken *out, char *err, size_t n)
{
    int64_t t0 = clock_ms(), deadline = t0 + b->cfg.timeout_ms;
    char stream[160];
    struct mq_file_info fi = { 0 };
    memset(out, 0, sizeof *out);
    struct mq *m = mq_connect(b->cfg.amqp_url, 2000);
    if (!m) {
        snprintf(err, n, "message broker unavailable");
        return 503;
    }
    int status = ask(b, m, stream, sizeof stream, &fi, out, err, n);
    /* A fresh connection for the transfer: this one sat idle while the slave
     * made the backup, for longer than the broker waits for a heartbeat. */
    mq_close(m);
    if (status != 200) return status;
    if (!(m = mq_connect(b->cfg.amqp_url, 2000))) {
        snprintf(err, n, "message broker unavailable");
        return 503;
    }
    snprintf(out->name, sizeof out->name, ".backup-%lld.tmp", (long long)out->meta.made_at_ms);
    snprintf(out->path, sizeof out->path, "%s/%s", b->dir, out->name);
    int fd = open(out->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && mq_file_fetch(m, stream, fd, &fi, deadline, &b->stop) == 0 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    /* The stream has done its job either way (else the next checkpointer deletes it). */
    struct mq *d = mq_ok(m) ? m : mq_connect(b->cfg.amqp_url, 2000);
    if (d) mq_delete_queue(d, stream);
    if (d != m) mq_close(d);
    mq_close(m);
    struct backup_meta meta;
    char why[256];
    if (!ok) {
        snprintf(err, n, "the backup's stream could not be read");
        status = 503;
    } else if (backupfile_check(out->path, &meta, why, sizeof why)) {
        snprintf(err, n, "the backup does not check out: %s", why);
        status = 500;
    }
    if (status != 200) {
        remove(out->path);
        return status;
    }
    out->size = fi.size;
    out->crc = fi.crc;
    if (kept) {
        char stamp[32];
        time_t secs = (time_t)(out->meta.made_at_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", out->path);
        snprintf(out->name, sizeof out->name, NAME_PREFIX "%s-seq%lld.db", stamp, (long long)out->meta.seq);
        snprintf(out->path, sizeof out->path, "%s/%s", b->dir, out->name);
        if (rename(tmp, out->path) || write_sidecar(out)) {
            snprintf(err, n, "cannot write into %s: %s", b->dir, strerror(errno));
            remove(tmp);
            remove(out->path);
            return 500;
        }
    }
    log_info("backup taken file=%s seq=%lld epoch=%lld bytes=%lld crc=%08x by=%s took_ms=%lld", out->name,
             (long long)out->meta.seq, (long long)out->meta.epoch, (long long)out->size, out->crc,
             out->meta.made_by, (long long)(clock_ms() - t0));
    return 200;
}

int backups_take(struct backups *b, int kept, struct backup_taken *out, char *err, size_t n)
{
    pthread_mutex_lock(&b->mu);
    int busy = b->busy;
    b->busy = 1;
    pthread_mutex_unlock(&b->mu);
    if (busy) {
        snprintf(err, n, "a backup is being taken; try again when it is done");
        return 503;
    }
    int status = take(b, kept, out, err, n);
    pthread_mutex_lock(&b->mu);
    b->busy = 0;
    pthread_mutex_unlock(&b->mu);
    if (status != 200) log_warn("backup failed status=%d err=\"%s\"", status, err);
    return status;
}

/* ------------------------------------------------------------------ keeping */

static int is_kept_name(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, NAME_PREFIX, strlen(NAME_PREFIX)) == 0 && len > 3 && strcmp(name + len - 3, ".db") == 0;
}

static int by_name_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Deletes the oldest kept backups beyond cfg.keep (names sort by time). */
static void prune(struct backups *b)
{
    DIR *d = opendir(b->dir);
    if (!d) return;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_kept_name(e->d_name)) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        if (!(names[count] = strdup(e->d_name))) break;
        count++;
    }
    closedir(d);
    qsort(names, count, sizeof *names, by_name_desc);
    char path[1400];
    for (size_t i = 0; i < count; i++) {
        if (i >= (size_t)b->cfg.keep) {
            snprintf(path, sizeof path, "%s/%s", b->dir, names[i]);
            remove(path);
            snprintf(path, sizeof path, "%s/%s.json", b->dir, names[i]);
            remove(path);
            log_info("backup pruned file=%s keep=%d", names[i], b->cfg.keep);
        }
        free(names[i]);
    }
    free(names);
}

static void *scheduler_main(void *arg)
{
    struct backups *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        struct timespec until = clock_deadline((int64_t)b->cfg.interval_s * 1000);
        while (!b->stop && pthread_cond_timedwait(&b->wake, &b->mu, &until) == 0) {}
        int stop = b->stop;
        pthread_mutex_unlock(&b->mu);
        if (stop) break;
        struct backup_taken t;
        char err[300];
        if (backups_take(b, 1, &t, err, sizeof err) == 200) prune(b); /* only once the new one is verified */
    }
    return NULL;
}

struct backups *backups_start(const struct backups_config *cfg)
{
    struct backups *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->cfg = *cfg;
    if (b->cfg.keep < 1) b->cfg.keep = 1;
    snprintf(b->dir, sizeof b->dir, "%s", cfg->dir);
    if (mkdir(b->dir, 0700) && errno != EEXIST) {
        log_error("cannot create the backup directory dir=%s err=\"%s\"", b->dir, strerror(errno));
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    clock_cond_init(&b->wake);
    if (cfg->interval_s > 0) {
        b->running = pthread_create(&b->thread, NULL, scheduler_main, b) == 0;
        log_info("scheduled backups dir=%s interval_s=%d keep=%d", b->dir, cfg->interval_s, b->cfg.keep);
    }
    return b;
}

void backups_stop(struct backups *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->mu);
    if (b->running) pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->mu);
    free(b);
}
