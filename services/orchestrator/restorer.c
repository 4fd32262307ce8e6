/*
 * restorer.c — see restorer.h. One restore at a time (a flag, not a lock
 * held across the work); every step has a deadline: the upload by the
 * broker's confirms, the master's answer by cfg->timeout_ms, the switchover
 * by the supervisor's.
 */
#include "restorer.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backupfile.h"
#include "backups.h"
#include "checkpoint_znode.h"
#include "clock.h"
#include "dbapi.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "mq.h"
#include "mq_file.h"
#include "protocol.h"
#include "supervisor.h"
#include "workers.h"
#include "zk.h"

static pthread_mutex_t busy_mu = PTHREAD_MUTEX_INITIALIZER;
static int busy;

/* The path of the regular file called name in dir, taken from the
 * directory's own entry. 0, or -1 when there is none. */
static int find_file(const char *dir, const char *name, char *path, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = -1;
    while (d && found && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, name)) continue;
        snprintf(path, n, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) found = 0;
    }
    if (d) closedir(d);
    return found;
}

/* The CRC a sidecar (<path>.json, written with a scheduled backup) names:
 * 1 with *crc, 0 when there is no sidecar, -1 when it is unreadable. */
static int sidecar_crc(const char *path, uint32_t *crc)
{
    char side[1200], buf[1024];
    snprintf(side, sizeof side, "%s.json", path);
    FILE *f = fopen(side, "r");
    if (!f) return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    cJSON *j = json_parse(buf, len);
    const char *hex = j ? json_get_str(j, "crc") : NULL;
    char *end = NULL;
    unsigned long v = hex ? strtoul(hex, &end, 16) : 0;
    int rc = hex && end && !*end && end != hex ? 1 : -1;
    cJSON_Delete(j);
    *crc = (uint32_t)v;
    return rc;
}

struct retire_change {
    const char *queue;
    int64_t after;               /* CHECKPOINT_AFTER_UNKNOWN, a seq, or -1: drop the entry */
    int64_t wanted;
};

static int change_retire(struct checkpoint_znode *z, void *arg)
{
    struct retire_change *c = arg;
    int i = 0;
    while (i < z->nretire && strcmp(z->retire[i].queue, c->queue)) i++;
    if (c->after < 0) { /* refused: gone at once */
        if (i < z->nretire) z->retire[i] = z->retire[--z->nretire];
        checkpoint_garbage_add(z, c->queue);
        return 0;
    }
    if (i == z->nretire) {
        if (z->nretire == CHECKPOINT_RETIRE_MAX) return 1;
        snprintf(z->retire[z->nretire++].queue, sizeof z->retire[0].queue, "%s", c->queue);
    }
    z->retire[i].after = c->after;
    if (c->wanted > z->wanted) z->wanted = c->wanted;
    return 0;
}

static int retire(struct zk *zk, const char *root, const char *queue, int64_t after, int64_t wanted)
{
    struct retire_change c = { queue, after, wanted };
    return checkpoint_update(zk, root, change_retire, &c);
}

/* Step 5: the slave with the lowest PID becomes master (a new epoch). */
static int64_t switchover(const struct restorer_config *cfg, char *note, size_t n)
{
    struct worker_info w[64];
    int k = workers_list(cfg->ws, w, 64), best = -1;
    for (int i = 0; i < k; i++)
        if (!w[i].master && !w[i].retiring && (best < 0 || w[i].pid < w[best].pid)) best = i;
    int64_t epoch = workers_epoch(cfg->ws);
    if (best < 0) {
        snprintf(note, n, "no slave to hand over to; the epoch stays");
        return epoch;
    }
    char msg[200];
    int st = supervisor_promote(cfg->sup, w[best].id, 10000, &epoch, msg, sizeof msg);
    snprintf(note, n, st == 200 ? "switched over to %s" : "switchover not done: %s", st == 200 ? w[best].id : msg);
    return st == 200 ? epoch : workers_epoch(cfg->ws);
}

/* Steps 2-5, the file checked. */
static int restore(const struct restorer_config *cfg, const char *name, const char *path,
                   const struct backup_meta *meta, const struct mq_file_info *fi, cJSON **out, char *err, size_t n)
{
    char stream[160];
    snprintf(stream, sizeof stream, "%s%lld.%lld", PROTO_RESTORE_STREAM_PREFIX, (long long)meta->seq,
             (long long)clock_wall_ms());
    struct zk *zk = zk_open(cfg->zk_hosts, 4000, 2000, NULL, NULL);
    if (!zk || retire(zk, cfg->zk_root, stream, CHECKPOINT_AFTER_UNKNOWN, 0)) {
        zk_close(zk);
        snprintf(err, n, "ZooKeeper unavailable, or too many restores pending");
        return 503;
    }
    volatile int never = 0;
    struct mq *m = mq_connect(cfg->amqp_url, 2000);
    int published = m && mq_file_publish(m, stream, path, fi, &never) == 0;
    if (!published) {
        if (m && mq_ok(m)) mq_delete_queue(m, stream);
        mq_close(m);
        retire(zk, cfg->zk_root, stream, -1, 0);
        zk_close(zk);
        snprintf(err, n, "could not put the backup into the message broker");
        return 503;
    }
    mq_close(m);
    char env[400];
    snprintf(env, sizeof env, "{\"restore\":{\"stream\":\"%s\",\"size\":%lld,\"parts\":%lld,\"crc\":%lld}}", stream,
             (long long)fi->size, (long long)fi->parts, (long long)fi->crc);
    struct http_response res = { 0 };
    char *copy = strdup(env);
    if (!copy) abort();
    dbapi_send_write(cfg->api, copy, cfg->timeout_ms, &res);
    cJSON *body = res.body ? json_parse(res.body, strlen(res.body)) : NULL;
    int64_t seq = 0;
    int status = res.status;
    if (status == 200 && json_get_int(body, "seq", &seq) == 0) {
        retire(zk, cfg->zk_root, stream, seq, seq);
        char note[240];
        int64_t epoch = switchover(cfg, note, sizeof note);
        cJSON_AddStringToObject(body, "restored", name);
        json_add_int(body, "backup_seq", meta->seq);
        json_add_int(body, "epoch", epoch);
        cJSON_AddStringToObject(body, "switchover", note);
        log_info("restore done file=%s seq=%lld epoch=%lld %s", name, (long long)seq, (long long)epoch, note);
        *out = body;
        body = NULL;
    } else {
        const char *why = body && json_get_str(body, "error") ? json_get_str(body, "error") : "no answer";
        if (status == 400) {
            retire(zk, cfg->zk_root, stream, -1, 0); /* refused: nothing changed, nothing needs the stream */
            snprintf(err, n, "the master refused the backup: %s", why);
        } else {
            /* Unknown: it may yet be applied, and replicas would then read the stream. */
            snprintf(err, n, "restore outcome unknown (%s); its stream %s is kept", why, stream);
            status = 503;
        }
    }
    cJSON_Delete(body);
    free(res.body);
    zk_close(zk);
    return status;
}

int restorer_run(const struct restorer_config *cfg, const char *name, cJSON **out, char *err, size_t n)
{
    char path[1200];
    struct backup_meta meta;
    struct mq_file_info fi;
    uint32_t want;
    if (find_file(backups_dir(cfg->backups), name, path, sizeof path)) {
        snprintf(err, n, "no backup called %s in the backup directory", name);
        return 404;
    }
    if (backupfile_check(path, &meta, err, n)) return 400; /* corrupt, or not ours: nothing changed */
    if (mq_file_measure(path, &fi)) {
        snprintf(err, n, "cannot read the backup file");
        return 400;
    }
    int side = sidecar_crc(path, &want);
    if (side < 0 || (side > 0 && want != fi.crc)) {
        snprintf(err, n, "the backup does not match the checksum beside it (%s.json)", name);
        return 400;
    }
    pthread_mutex_lock(&busy_mu);
    int was = busy;
    busy = 1;
    pthread_mutex_unlock(&busy_mu);
    if (was) {
        snprintf(err, n, "a restore is under way");
        return 409;
    }
    int64_t t0 = clock_ms();
    log_info("restore starting file=%s backup_seq=%lld bytes=%lld", name, (long long)meta.seq, (long long)fi.size);
    int status = restore(cfg, name, path, &meta, &fi, out, err, n);
    if (status == 200) json_add_int(*out, "took_ms", clock_ms() - t0);
    else log_warn("restore failed file=%s status=%d err=\"%s\"", name, status, err);
    pthread_mutex_lock(&busy_mu);
    busy = 0;
    pthread_mutex_unlock(&busy_mu);
    return status;
}
