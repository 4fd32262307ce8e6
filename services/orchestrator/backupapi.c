/*
 * backupapi.c — see backupapi.h.
 *
 * GET /api/v1/backup takes a backup under a hidden temporary name, opens
 * it, removes the name (the open file lives on until it is sent), and
 * streams it from the file: nothing is kept, nothing is held in memory.
 */
#include "backupapi.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backups.h"
#include "http_server.h"
#include "json.h"
#include "log.h"
#include "restorer.h"

struct backupapi {
    struct backupapi_config cfg;
};

static void on_backup(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct backupapi *a = ctx;
    struct backup_taken t;
    char err[300];
    int status = backups_take(a->cfg.backups, 0, &t, err, sizeof err);
    if (status != 200) {
        http_reply_error(res, status, err);
        return;
    }
    int fd = open(t.path, O_RDONLY | O_CLOEXEC);
    remove(t.path);
    if (fd < 0) {
        http_reply_error(res, 500, "the backup file went away");
        return;
    }
    char v[128];
    http_reply_file(res, 200, fd, t.size, "application/vnd.sqlite3");
    snprintf(v, sizeof v, "%lld", (long long)t.meta.seq);
    http_reply_header(res, "X-Rideshare-Seq", v);
    snprintf(v, sizeof v, "%lld", (long long)t.meta.epoch);
    http_reply_header(res, "X-Rideshare-Epoch", v);
    snprintf(v, sizeof v, "crc32c:%08x", t.crc);
    http_reply_header(res, "X-Rideshare-Checksum", v);
    snprintf(v, sizeof v, "attachment; filename=\"backup-seq%lld.db\"", (long long)t.meta.seq);
    http_reply_header(res, "Content-Disposition", v);
}

/* A name as the backup directory holds them: 1-127 of [A-Za-z0-9._-], not
 * starting with a dot (temporary files) — anything else is no backup's name. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 128 && s[0] != '.' &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A backup now, kept in the directory like a scheduled one. */
static void on_take(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct backupapi *a = ctx;
    struct backup_taken t;
    char err[300];
    int status = backups_take(a->cfg.backups, 1, &t, err, sizeof err);
    if (status != 200) {
        http_reply_error(res, status, err);
        return;
    }
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", t.crc);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t.name);
    cJSON_AddStringToObject(o, "dir", backups_dir(a->cfg.backups));
    json_add_int(o, "seq", t.meta.seq);
    json_add_int(o, "epoch", t.meta.epoch);
    json_add_int(o, "size", t.size);
    cJSON_AddStringToObject(o, "crc", crc);
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

/* The backup directory's files, with what their sidecars say. */
static void on_list(const struct http_request *req, struct http_response *res, void *ctx)
{
    (void)req;
    struct backupapi *a = ctx;
    const char *dir = backups_dir(a->cfg.backups);
    cJSON *o = cJSON_CreateObject(), *files = NULL;
    cJSON_AddStringToObject(o, "dir", dir);
    files = cJSON_AddArrayToObject(o, "files");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".db")) continue;
        char path[1400], side[1500], buf[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", e->d_name);
        json_add_int(f, "size", (int64_t)st.st_size);
        snprintf(side, sizeof side, "%s.json", path);
        FILE *sf = fopen(side, "r");
        size_t n = sf ? fread(buf, 1, sizeof buf - 1, sf) : 0;
        if (sf) fclose(sf);
        cJSON *meta = n ? json_parse(buf, n) : NULL;
        if (cJSON_IsObject(meta)) cJSON_AddItemToObject(f, "sidecar", meta);
        else cJSON_Delete(meta);
        cJSON_AddItemToArray(files, f);
    }
    if (d) closedir(d);
    http_reply_json(res, 200, o);
    cJSON_Delete(o);
}

static void on_restore(const struct http_request *req, struct http_response *res, void *ctx)
{
    struct backupapi *a = ctx;
    cJSON *j = json_parse(req->body, req->body_len);
    const char *name = cJSON_IsObject(j) ? json_get_str(j, "name") : NULL;
    if (!name || !valid_name(name)) {
        cJSON_Delete(j);
        http_reply_error(res, 400, "body must be {\"name\": \"<a backup file in the backup directory>\"}");
        return;
    }
    char err[400];
    cJSON *out = NULL;
    int status = restorer_run(a->cfg.restorer, name, &out, err, sizeof err);
    cJSON_Delete(j);
    if (status == 200) http_reply_json(res, 200, out);
    else http_reply_error(res, status, err);
    cJSON_Delete(out);
}

struct backupapi *backupapi_register(struct http_server *srv, const struct backupapi_config *cfg)
{
    struct backupapi *a = calloc(1, sizeof *a);
    if (!a) abort();
    a->cfg = *cfg;
    http_server_route(srv, "GET", "/api/v1/backup", on_backup, a);
    http_server_route(srv, "GET", "/api/v1/backups", on_list, a);
    http_server_route(srv, "POST", "/api/v1/backups", on_take, a);
    http_server_route(srv, "POST", "/api/v1/restore", on_restore, a);
    return a;
}

void backupapi_free(struct backupapi *a) { free(a); }
