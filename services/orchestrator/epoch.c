/*
 * epoch.c — see epoch.h. Both znodes are read with plain gets; a missing
 * node counts as epoch 0, an unreadable one fails the bump (guessing low
 * could hand out an epoch that replicas would then ignore as old).
 */
#include "epoch.h"

#include <stdio.h>

#include "json.h"
#include "zk.h"

/* The epoch in znode root/name: a bare number or {"epoch": N}; 0 if the
 * node does not exist, -1 if it cannot be read. */
static int64_t read_epoch(struct zk *zk, const char *root, const char *name)
{
    char path[300], data[512];
    int64_t epoch = 0;
    snprintf(path, sizeof path, "%s/%s", root, name);
    int n = zk_get(zk, path, data, sizeof data, NULL, NULL);
    if (n == -1) return -1;
    if (n > 0) {
        cJSON *j = json_parse(data, (size_t)n);
        if (cJSON_IsNumber(j)) json_as_int(j, &epoch);
        else if (j) json_get_int(j, "epoch", &epoch);
        cJSON_Delete(j);
    }
    return epoch;
}

int64_t epoch_next(struct zk *zk, const char *root, int64_t floor)
{
    if (!zk) return -1;
    int64_t given = read_epoch(zk, root, "master"), seen = read_epoch(zk, root, "log_epoch");
    if (given < 0 || seen < 0) return -1;
    int64_t top = given > seen ? given : seen;
    return (top > floor ? top : floor) + 1;
}

int epoch_publish(struct zk *zk, const char *root, const char *master_id, int64_t epoch)
{
    if (!zk) return -1;
    char path[300], data[512];
    snprintf(path, sizeof path, "%s/master", root);
    int n = snprintf(data, sizeof data, "{\"id\":\"%s\",\"epoch\":%lld}", master_id, (long long)epoch);
    return zk_put(zk, path, data, (size_t)n);
}

int epoch_stepdown(struct zk *zk, const char *root, const char *master_id, int64_t epoch, const char *next_id)
{
    if (!zk) return -1;
    char path[300], data[512];
    snprintf(path, sizeof path, "%s/master", root);
    int n = snprintf(data, sizeof data, "{\"id\":\"%s\",\"epoch\":%lld,\"next\":\"%s\"}", master_id,
                     (long long)epoch, next_id);
    return zk_put(zk, path, data, (size_t)n);
}

int epoch_read(struct zk *zk, const char *root, char *id, int64_t *epoch, char *next, size_t n)
{
    if (!zk) return -1;
    char path[300], data[512];
    snprintf(path, sizeof path, "%s/master", root);
    *id = *next = 0;
    *epoch = 0;
    int len = zk_get(zk, path, data, sizeof data, NULL, NULL);
    if (len == -1) return -1;
    if (len < 0) return 0;
    cJSON *j = json_parse(data, (size_t)len);
    const char *s = j ? json_get_str(j, "id") : NULL, *x = j ? json_get_str(j, "next") : NULL;
    if (s) snprintf(id, n, "%s", s);
    if (x) snprintf(next, n, "%s", x);
    if (j) json_get_int(j, "epoch", epoch);
    cJSON_Delete(j);
    return 1;
}
